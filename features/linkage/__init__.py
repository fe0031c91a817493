"""Record linkage (名寄せ): one pseudonymous person per child or parent across departments.

Input is a plain frame of identity records (records.py), from the extracts (extract_adapter.py)
or from the ingestion database; `link_records` returns the person master, the record-to-person
mapping, households, mother links, the clerical review queue and a run report.
"""

from features.linkage.clustering import DecisionConflictError
from features.linkage.config import LinkageSettings, Thresholds, load_linkage_settings
from features.linkage.evaluate import PairwiseMetrics, pairwise_metrics
from features.linkage.extract_adapter import (
    ExtractIdentities,
    gaiji_maps_from_extracts,
    identity_records_from_extracts,
    read_extract_identities,
)
from features.linkage.link import DECISION_COLUMNS, LinkageReport, LinkageResult, link_records
from features.linkage.records import (
    IDENTITY_RECORD_COLUMNS,
    IdentityRecordsError,
    record_key,
    validate_identity_records,
)

__all__ = [
    "DECISION_COLUMNS",
    "IDENTITY_RECORD_COLUMNS",
    "DecisionConflictError",
    "ExtractIdentities",
    "IdentityRecordsError",
    "LinkageReport",
    "LinkageResult",
    "LinkageSettings",
    "PairwiseMetrics",
    "Thresholds",
    "gaiji_maps_from_extracts",
    "identity_records_from_extracts",
    "link_records",
    "load_linkage_settings",
    "pairwise_metrics",
    "read_extract_identities",
    "record_key",
    "validate_identity_records",
]
