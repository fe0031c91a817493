"""Shared helpers: run a command in a child process, time it, read its peak memory."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: list[float]
    peak_rss_mib: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_measured(label: str, command: list[str], repeats: int = 1) -> Measurement:
    """Run a command `repeats` times in fresh processes; wall time and the largest peak RSS."""
    seconds = []
    peak = 0.0
    for _ in range(repeats):
        # Each run is a fresh grandchild so RUSAGE_CHILDREN's max RSS is this command's own.
        wrapper = [
            sys.executable,
            "-c",
            "import resource, subprocess, sys, time;"
            "t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True,"
            " stdout=subprocess.DEVNULL);"
            "usage = resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(time.perf_counter() - t, usage.ru_maxrss)",
            *command,
        ]
        output = subprocess.run(wrapper, check=True, capture_output=True, text=True).stdout
        elapsed, rss_kib = output.split()
        seconds.append(float(elapsed))
        peak = max(peak, int(rss_kib) / 1024)
    return Measurement(label, seconds, peak)


def machine_line() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def append_results(title: str, lines: list[str], module: str) -> None:
    """Append a dated table, with the command that regenerates it, to docs/benchmarks.md."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    command = " ".join(["python -m", module, *sys.argv[1:]])
    block = "\n".join(
        [f"\n## {title}", f"Machine: {machine_line()}", f"Command: `{command}`", "", *lines, ""]
    )
    RESULTS.write_text(existing.rstrip("\n") + "\n" + block)


def mimamori() -> str:
    return str(Path(sys.executable).parent / "mimamori")
