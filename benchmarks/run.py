"""`make bench`: every benchmark in turn; each appends its table to docs/benchmarks.md."""

from __future__ import annotations

import sys

from benchmarks import linkage, pipeline, synth


def main() -> None:
    synth.main()
    sys.argv = [sys.argv[0], "--profile", "demo"]
    linkage.main()
    sys.argv = [sys.argv[0]]
    pipeline.main()


if __name__ == "__main__":
    main()
