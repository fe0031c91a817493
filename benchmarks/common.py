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
    # The command's exit status when it failed (a negative number: killed by that signal, as the
    # kernel's out-of-memory killer does); None when every run succeeded.
    failed: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_measured(
    label: str, command: list[str], repeats: int = 1, *, allow_failure: bool = False
) -> Measurement:
    """Run a command `repeats` times in fresh processes; wall time and the largest peak RSS.

    With `allow_failure`, a failed run ends the repeats and is returned with its exit status
    (time and memory up to the failure) instead of raising, so a size that does not fit the
    machine is recorded as such.
    """
    seconds = []
    peak = 0.0
    for _ in range(repeats):
        # Each run is a fresh grandchild so RUSAGE_CHILDREN's max RSS is this command's own.
        wrapper = [
            sys.executable,
            "-c",
            "import resource, subprocess, sys, time;"
            "t = time.perf_counter(); done = subprocess.run(sys.argv[1:],"
            " stdout=subprocess.DEVNULL);"
            "usage = resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(time.perf_counter() - t, usage.ru_maxrss, done.returncode)",
            *command,
        ]
        output = subprocess.run(wrapper, check=True, capture_output=True, text=True).stdout
        elapsed, rss_kib, status = output.split()
        seconds.append(float(elapsed))
        peak = max(peak, int(rss_kib) / 1024)
        if int(status) != 0:
            if not allow_failure:
                raise subprocess.CalledProcessError(int(status), command)
            return Measurement(label, seconds, peak, failed=int(status))
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


def interval_text(bounds: tuple[float, float] | list[float] | None) -> str:
    """' (low-high)' after a ratio in a table, or nothing when there is no interval."""
    if not bounds or bounds[0] != bounds[0]:  # NaN: the bootstrap had nothing to resample
        return ""
    return f" ({bounds[0]:.3f}-{bounds[1]:.3f})"
