"""Run a `mimamori` command in a child process that stops at a chosen point, to be SIGKILLed.

    python -m tests.mimamori.faults score --as-of 2026-03 --data-dir ...

with MIMAMORI_FAULT_TARGET="service.batch:_insert_chunk" (a module, then an attribute path),
MIMAMORI_FAULT_WHEN="after" (or "before") and MIMAMORI_FAULT_CALL=1 (which call), and
MIMAMORI_FAULT_MARKER=<file>. At that call the child writes the marker and waits; the test sees
the marker and kills it. The command otherwise runs exactly as `mimamori` does, so the kill
lands where a real one could: inside an open transaction, between two registry writes.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any


def _install_stop() -> None:
    module_name, _, attributes = os.environ["MIMAMORI_FAULT_TARGET"].partition(":")
    when = os.environ.get("MIMAMORI_FAULT_WHEN", "after")
    stop_at = int(os.environ.get("MIMAMORI_FAULT_CALL", "1"))
    marker = Path(os.environ["MIMAMORI_FAULT_MARKER"])
    *path, name = attributes.split(".")
    owner: Any = importlib.import_module(module_name)
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = 0

    def stop() -> None:
        marker.write_text(f"{when} call {calls} of {attributes}\n")
        time.sleep(600)  # the test kills us here
        raise SystemExit("the fault test did not kill this process")

    def hooked(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if when == "before" and calls == stop_at:
            stop()
        result = original(*args, **kwargs)
        if when == "after" and calls == stop_at:
            stop()
        return result

    setattr(owner, name, hooked)


if __name__ == "__main__":
    _install_stop()
    from mimamori.cli import app

    app(args=sys.argv[1:], prog_name="mimamori")
