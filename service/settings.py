"""The scoring service's typed settings. Built by `get_service_settings()`, never at import time.

They extend the pipeline's settings (data folder, database, MLflow tracking) with what only the
service needs, read from the same MIMAMORI_ environment variables, for example
MIMAMORI_MAX_BODY_BYTES=4000000 or MIMAMORI_RELOAD_INTERVAL_SECONDS=60.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator

from features.settings import Settings

__all__ = ["DEFAULT_PURPOSES", "DISCLOSURE_PURPOSE", "ServiceSettings", "get_service_settings"]

DISCLOSURE_PURPOSE = "disclosure_request"

# Why a caller looks at a child (利用目的). Recorded with every audit entry, so a purpose is
# a statement the caller is accountable for; the disclosure export accepts only its own.
DEFAULT_PURPOSES: tuple[str, ...] = (
    "child_welfare_screening",
    "case_conference",
    "model_monitoring",
    DISCLOSURE_PURPOSE,
)


class ServiceSettings(Settings):
    """Settings of `mimamori serve`: the pipeline's, plus limits and housekeeping intervals."""

    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on; loopback unless a reverse proxy fronts it.",
    )
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(
        default=2_000_000,
        ge=1,
        description="Largest request body accepted; larger ones get 413 before being read.",
    )
    max_children_per_request: int = Field(default=1000, ge=1)
    over_influence_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="A feature carrying more than this share of a model's influence is flagged.",
    )
    reload_interval_seconds: float = Field(
        default=30.0,
        gt=0.0,
        description="How often the service checks the registry for new champions.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0.0,
        description="How long a verified API key is trusted without asking the database again: "
        "a key revoked from another process (`mimamori keys revoke`) stops working within this "
        "time. 0 asks the database on every request.",
    )
    database_connect_timeout_seconds: int = Field(
        default=5,
        ge=1,
        description="PostgreSQL connect timeout, so a database outage answers 503 quickly.",
    )
    purposes: tuple[str, ...] = Field(
        default=DEFAULT_PURPOSES,
        description="Purposes a caller may declare in X-Purpose.",
    )

    @field_validator("purposes")
    @classmethod
    def _at_least_one_purpose(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one purpose must be registered")
        return value

    @property
    def features_dir(self) -> Path:
        """The feature store written by `mimamori features`."""
        return self.data_dir / "features"


@lru_cache(maxsize=1)
def get_service_settings() -> ServiceSettings:
    """The process's service settings, read from the environment once.

    Routes do not call this: they read the settings the app was built with (`SettingsDep`).
    """
    return ServiceSettings()
