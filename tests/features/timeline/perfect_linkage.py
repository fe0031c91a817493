"""Test helpers: linked records of a synthetic population with perfect linkage.

The identity map comes from the ground truth (`id_map.parquet`), so feature and label logic is
tested apart from linkage quality. Extracts are read with the ingest reader (no database).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Final

import pandas as pd

from features.ingest.catalogue import load_catalogue
from features.ingest.reader import LoadedRow, SourceFileReader
from features.ingest.run import plan_files
from features.timeline.adapters import OPTIONAL_ELEMENTS, linked_records_from_rows
from features.timeline.records import LinkedRecords

# The generator's ID book names kinds by department; the catalogue by numbering.
_BOSHI_PREFIX: Final = {"M": "maternal_record", "C": "child_record"}
RUN_DATE: Final = dt.date(2026, 11, 1)


def identity_map_from_ground_truth(ground_truth: Path) -> pd.DataFrame:
    """(municipality, id_kind, local_id) -> person_id, as a perfect linkage would give it."""
    raw = pd.read_parquet(ground_truth / "id_map.parquet")
    raw = raw[raw["id_kind"] != "setai"]  # household numbers name households, not people
    kind = raw["id_kind"].astype("str")
    boshi = kind == "boshi"
    kind = kind.where(~boshi, raw["id_value"].astype("str").str[0].map(_BOSHI_PREFIX))
    return pd.DataFrame(
        {
            "municipality": raw["municipality"].astype("str").to_numpy(),
            "id_kind": kind.to_numpy(),
            "local_id": raw["id_value"].astype("str").to_numpy(),
            "person_id": raw["person_id"].astype("str").to_numpy(),
        }
    )


def rows_from_extracts(extracts: Path, today: dt.date = RUN_DATE) -> pd.DataFrame:
    """Every loadable row of every extract, in the ingest store's long form."""
    planned, _ = plan_files(extracts, load_catalogue())
    records: list[tuple[object, ...]] = []
    for item in planned:
        reader = SourceFileReader(
            item.path.read_bytes(),
            item.spec,
            source=item.source,
            relative_path=item.relative_path,
            today=today,
        )
        for row in reader.rows():
            if isinstance(row, LoadedRow):
                records.append(
                    (
                        item.municipality,
                        item.source,
                        row.id_kind,
                        row.local_id,
                        row.event_date,
                        row.known_date,
                        row.payload,
                    )
                )
    return pd.DataFrame(
        records,
        columns=[
            "municipality",
            "source",
            "id_kind",
            "local_id",
            "event_date",
            "known_date",
            "payload",
        ],
    )


def holdings_from_manifest(extracts: Path) -> dict[str, frozenset[str]]:
    """What each town holds: every catalogued source with a file, minus its missing_sources."""
    manifest = json.loads((extracts / "manifest.json").read_text(encoding="utf-8"))
    catalogue = load_catalogue()
    holdings = {}
    for town in manifest["municipalities"]:
        code = str(town["code"])
        present = {
            source
            for source, spec in catalogue.sources.items()
            if any((extracts / code).glob(spec.pattern))
        }
        present |= {e for e, (source, _) in OPTIONAL_ELEMENTS.items() if source in present}
        holdings[code] = frozenset(present - set(town["missing_sources"]))
    return holdings


def perfectly_linked_records(data_dir: Path) -> LinkedRecords:
    extracts = data_dir / "extracts"
    return linked_records_from_rows(
        rows_from_extracts(extracts),
        identity_map_from_ground_truth(data_dir / "ground_truth"),
        holdings=holdings_from_manifest(extracts),
    )


TINY_CHILDREN: Final = 400
TINY_SEED: Final = 5


def tiny_population(base: Path) -> Path:
    """A 400-child synthetic population under `base`, generated on first use."""
    from synthetic.generator import generate
    from synthetic.profiles import resolve_profile

    root = base / f"tiny-{TINY_CHILDREN}-{TINY_SEED}"
    if not (root / "extracts").is_dir():
        generate(resolve_profile("tiny", children=TINY_CHILDREN, seed=TINY_SEED), root)
    return root


@functools.cache
def tiny_records(root: Path) -> LinkedRecords:
    """Perfectly linked records of the population at `root`, read once per process."""
    return perfectly_linked_records(root)
