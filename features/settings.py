"""Typed settings shared by every stage. Built by `get_settings()`, never at import time."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A placeholder key is fine for synthetic data; a real deployment must set its own.
DEVELOPMENT_PSEUDONYM_KEY = "mimamori-development-key-not-for-real-data"


class Settings(BaseSettings):
    """Where Mimamori keeps its working data and how it reaches its stores.

    Every field can be set from the environment with the MIMAMORI_ prefix, for example
    MIMAMORI_DATA_DIR=/srv/mimamori or MIMAMORI_DATABASE_URL=postgresql+psycopg://...
    """

    model_config = SettingsConfigDict(env_prefix="MIMAMORI_", env_file=None, extra="ignore")

    environment: str = Field(
        default="development",
        description="development or production; production refuses placeholder secrets.",
    )
    data_dir: Path = Field(default=Path("var"), description="Working data folder.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file in the data folder.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; defaults to a SQLite store in the data folder.",
    )
    link_memory_limit: str | None = Field(
        default=None,
        description=(
            "Memory DuckDB may use while linkage scores pairs, as DuckDB reads it ('8GB'); "
            "default: 40 % of the machine's memory. Beyond it DuckDB spills to the temporary "
            "folder instead of growing until the operating system kills the run."
        ),
    )
    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_PSEUDONYM_KEY),
        description="Key for the keyed hash that turns source IDs into pseudonymous child_ids.",
    )

    @field_validator("link_memory_limit")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        # Checked here, not by DuckDB mid-run: the value is spliced into a SET statement.
        if value is not None and not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", value.strip()):
            raise ValueError("link_memory_limit must be a size such as 8GB or 8192MiB")
        return value

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        if value not in {"development", "production", "test"}:
            raise ValueError("environment must be development, production or test")
        return value

    def model_post_init(self, __context: object) -> None:
        if (
            self.environment == "production"
            and self.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY
        ):
            raise ValueError(
                "MIMAMORI_PSEUDONYM_KEY must be set to a secret of your own in production"
            )

    @property
    def extracts_dir(self) -> Path:
        """Departmental extracts as received (raw, never modified)."""
        return self.data_dir / "extracts"

    @property
    def ground_truth_dir(self) -> Path:
        """Synthetic ground truth; only evaluation code reads it."""
        return self.data_dir / "ground_truth"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mimamori.db').resolve()}"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
