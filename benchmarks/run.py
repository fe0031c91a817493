"""`make bench`: every benchmark in turn; each appends its table to docs/benchmarks.md."""

from __future__ import annotations

from benchmarks import synth


def main() -> None:
    synth.main()


if __name__ == "__main__":
    main()
