"""Read the stored linkage output back for later stages (features, scoring, disclosure)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from features.store.models import PersonRecord

IDENTITY_MAP_COLUMNS = ("municipality", "id_kind", "local_id", "person_id")


def load_identity_map(engine: Engine) -> pd.DataFrame:
    """(municipality, id_kind, local_id) -> person_id for every linked identity record.

    One local identity may appear in several sources (a 子記録番号 in the birth and checkup
    extracts); linkage puts those on one person, so duplicates collapse here.
    """
    query = select(
        PersonRecord.municipality,
        PersonRecord.id_kind,
        PersonRecord.local_id,
        PersonRecord.person_id,
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=list(IDENTITY_MAP_COLUMNS))
    return frame.drop_duplicates().reset_index(drop=True)
