"""`make bench`: every benchmark in turn; each appends its table to docs/benchmarks.md."""

from __future__ import annotations

import sys
import tempfile

from benchmarks import api, headroom, linkage, pipeline, scale, scoring, synth, training


def main() -> None:
    synth.main()
    sys.argv = [sys.argv[0], "--profile", "demo"]
    linkage.main()
    sys.argv = [sys.argv[0]]
    pipeline.main()
    # The trained demo in ./var (or MIMAMORI_DATA_DIR), as `make demo` leaves it.
    sys.argv = [sys.argv[0]]
    scoring.main()
    # The same demo served over loopback, beside `mlflow models serve` on the same champions.
    api.main([])
    # The Dask paths against the in-process ones on the same demo folder.
    sys.argv = [sys.argv[0]]
    scale.main()
    # Generates and prepares a default population (synth, ingest, link, features) first, then
    # the headroom tables reuse it with the true risk training mapped to pipeline ids.
    default = tempfile.mkdtemp(prefix="mimamori-bench-default-")
    sys.argv = [sys.argv[0], "--profile", "default", "--data-dir", default]
    training.main()
    sys.argv = [sys.argv[0], "--data-dir", default]
    headroom.main()


if __name__ == "__main__":
    main()
