"""The source catalogue: what each departmental extract looks like, as validated data.

The catalogue itself lives in `catalogue.yaml` next to this module. A municipality whose files
differ (another encoding, another file name, renamed headers) puts a `catalogue.yaml` of its own
in its extract folder (`extracts/<code>/catalogue.yaml`); see `MunicipalityOverride`. Nothing is
read at import time: `load_catalogue()` reads and validates the packaged file when called.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "CATALOGUE_RESOURCE",
    "MUNICIPALITY_OVERRIDE_FILE",
    "Catalogue",
    "CatalogueError",
    "ColumnSpec",
    "ColumnType",
    "Encoding",
    "IdKind",
    "IdSpec",
    "KnownDateSpec",
    "LegalBasis",
    "MunicipalityOverride",
    "PurposeTag",
    "SourceOverride",
    "SourceSpec",
    "header_key",
    "load_catalogue",
    "load_municipality_override",
    "parse_catalogue",
]

CATALOGUE_RESOURCE: Final = "catalogue.yaml"
# A municipality's own overrides sit in its extract folder, next to the files they describe.
MUNICIPALITY_OVERRIDE_FILE: Final = "catalogue.yaml"

ColumnType = Literal["str", "int", "float", "date", "year_month", "sex", "enum"]
IdKind = Literal["atena", "pupil", "maternal_record", "child_record", "household"]
Encoding = Literal["cp932", "utf-8", "detect"]
# Purpose the data was collected for, and the legal basis on which the linkage uses it
# (個人情報保護法 69条: within the purpose, outside it on a legal basis, temporary use).
PurposeTag = Literal["registry", "tax", "welfare", "school", "maternal_health"]
LegalBasis = Literal["within_purpose", "outside_purpose_legal_basis", "temporary_use"]

_CANONICAL_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_SOURCE_ID: Final = re.compile(r"[a-z][a-z0-9_]*")


class CatalogueError(ValueError):
    """The catalogue or a municipality override is invalid; the message says where."""


def header_key(header: str) -> str:
    """The form in which headers are compared: width-folded (NFKC), without spaces or BOM.

    Vendors differ in full-width brackets and stray spaces (氏名（カナ） / 氏名(カナ)); those are
    not different columns.
    """
    folded = unicodedata.normalize("NFKC", header.replace("\ufeff", ""))
    return "".join(folded.split())


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnSpec(_Model):
    """One column: its canonical English name, how to read it, and whether it must be filled."""

    name: str
    type: ColumnType
    required: bool = False
    personal: bool = Field(
        default=False,
        description="Name, kana, address or other identifying text: redacted in quarantine.",
    )
    values: dict[str, str] | None = Field(
        default=None, description="enum only: value as written -> canonical code."
    )
    fallback: str | None = Field(
        default=None,
        description="enum only: code for values not listed (else the row is quarantined).",
    )
    minimum: float | None = None
    maximum: float | None = None
    allow_future: bool = Field(
        default=False, description="Dates that may lie after the run date (出産予定日)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not _CANONICAL_NAME.fullmatch(self.name):
            raise ValueError(f"canonical name {self.name!r} must be snake_case ASCII")
        if (self.type == "enum") != (self.values is not None):
            raise ValueError(f"{self.name}: values are required for enum columns and only there")
        if self.fallback is not None and self.type != "enum":
            raise ValueError(f"{self.name}: fallback applies to enum columns only")
        if self.personal and self.type != "str":
            raise ValueError(f"{self.name}: personal columns are free text (type str)")
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and self.type not in ("int", "float"):
            raise ValueError(f"{self.name}: minimum/maximum apply to int and float columns only")
        if self.allow_future and self.type not in ("date", "year_month"):
            raise ValueError(f"{self.name}: allow_future applies to date columns only")
        return self


class IdSpec(_Model):
    """A column holding a department's own identifier, and which numbering it belongs to."""

    column: str
    kind: IdKind


class KnownDateSpec(_Model):
    """When the municipality learned of a row: a column, or the event date plus a fixed lag.

    The lag rule is for sources whose extract carries no 届出日/把握日: it is the longest
    delay with which such a row reaches the extract (a monthly extract: about a month), so a
    point-in-time feature never sees a row before it could have been known.
    """

    column: str | None = None
    lag_days: int | None = Field(default=None, ge=0)
    note: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if (self.column is None) == (self.lag_days is None):
            raise ValueError("known_date needs exactly one of column or lag_days")
        return self


class SourceSpec(_Model):
    """One kind of departmental extract file."""

    pattern: str = Field(description="Glob relative to the municipality folder.")
    encoding: Encoding = "detect"
    department: str
    system: str | None = None
    description: str
    purpose: PurposeTag
    legal_basis: LegalBasis
    ids: tuple[IdSpec, ...] = Field(
        min_length=1,
        description="In order of preference: a row's subject is its first non-empty ID.",
    )
    event_date: str
    known_date: KnownDateSpec
    columns: dict[str, ColumnSpec] = Field(description="Japanese header -> column spec.")

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        by_name: dict[str, ColumnSpec] = {}
        headers: set[str] = set()
        for header, spec in self.columns.items():
            if spec.name in by_name:
                raise ValueError(f"canonical column {spec.name!r} is mapped twice")
            key = header_key(header)
            if key in headers:
                raise ValueError(f"header {header!r} is listed twice")
            headers.add(key)
            by_name[spec.name] = spec
        for id_spec in self.ids:
            id_column = by_name.get(id_spec.column)
            if id_column is None or id_column.type != "str":
                raise ValueError(f"ID column {id_spec.column!r} must be a str column")
        event = by_name.get(self.event_date)
        if event is None or event.type not in ("date", "year_month") or not event.required:
            raise ValueError(
                f"event_date {self.event_date!r} must be a required date or year_month column"
            )
        if self.known_date.column is not None:
            known = by_name.get(self.known_date.column)
            if known is None or known.type != "date" or not known.required:
                raise ValueError(
                    f"known_date {self.known_date.column!r} must be a required date column"
                )
        return self

    def header_of(self, name: str) -> str:
        for header, spec in self.columns.items():
            if spec.name == name:
                return header
        raise KeyError(name)


class SourceOverride(_Model):
    """What one municipality changes about one source. Anything not given stays as catalogued."""

    pattern: str | None = None
    encoding: Encoding | None = None
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Header as written in this municipality's file -> the catalogue's header.",
    )


class MunicipalityOverride(_Model):
    """The contents of `extracts/<code>/catalogue.yaml`.

    Example (a municipality whose registry is exported in CP932 under another name, with the
    kana column called カナ氏名):

        sources:
          registry:
            encoding: cp932
            pattern: registry/JUKI_*.csv
            headers:
              カナ氏名: 氏名カナ
    """

    sources: dict[str, SourceOverride] = Field(default_factory=dict)


class Catalogue(_Model):
    """Every source the ingest knows, keyed by source id."""

    version: int = Field(ge=1)
    ignore: tuple[str, ...] = Field(
        default=(),
        description="Globs (relative to the municipality folder) of files that are not extracts.",
    )
    sources: dict[str, SourceSpec]
    sha256: str = Field(
        default="", description="Hash of the catalogue text (and any override) it came from."
    )

    @model_validator(mode="after")
    def _source_ids(self) -> Self:
        for source_id in self.sources:
            if not _SOURCE_ID.fullmatch(source_id):
                raise ValueError(f"source id {source_id!r} must be snake_case ASCII")
        return self

    def with_override(self, override: MunicipalityOverride, override_text: bytes) -> Catalogue:
        """This catalogue as one municipality sees it; its hash covers the override too."""
        sources = dict(self.sources)
        for source_id, change in override.sources.items():
            base = sources.get(source_id)
            if base is None:
                raise CatalogueError(f"override names unknown source {source_id!r}")
            columns = dict(base.columns)
            known = {header_key(h): h for h in columns}
            for file_header, catalogue_header in change.headers.items():
                original = known.get(header_key(catalogue_header))
                if original is None:
                    raise CatalogueError(
                        f"override for {source_id!r} maps {file_header!r} to "
                        f"{catalogue_header!r}, which is not a header of that source"
                    )
                columns[file_header] = columns.pop(original)
                known.pop(header_key(catalogue_header))
            updates: dict[str, object] = {"columns": columns}
            if change.pattern is not None:
                updates["pattern"] = change.pattern
            if change.encoding is not None:
                updates["encoding"] = change.encoding
            try:
                # Validated again: a renamed header may now collide with another one.
                sources[source_id] = SourceSpec.model_validate({**base.model_dump(), **updates})
            except ValidationError as error:
                raise CatalogueError(f"override for {source_id!r}: {error}") from error
        digest = hashlib.sha256(self.sha256.encode() + b"\0" + override_text).hexdigest()
        return self.model_copy(update={"sources": sources, "sha256": digest})


def _load_yaml(text: bytes) -> object:
    # libyaml's loader is ten times faster than the pure-Python one on the catalogue.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # a safe loader either way


def parse_catalogue(text: bytes) -> Catalogue:
    """Validate catalogue YAML; raise CatalogueError with the failing path on any problem."""
    try:
        raw = _load_yaml(text)
        catalogue = Catalogue.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as error:
        raise CatalogueError(f"invalid source catalogue: {error}") from error
    return catalogue.model_copy(update={"sha256": hashlib.sha256(text).hexdigest()})


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The packaged catalogue, validated (read once per process, on first use)."""
    text = resources.files("features.ingest").joinpath(CATALOGUE_RESOURCE).read_bytes()
    return parse_catalogue(text)


def load_municipality_override(path: Path) -> tuple[MunicipalityOverride, bytes] | None:
    """A municipality's override file and its bytes (for the hash), or None if it has none."""
    if not path.is_file():
        return None
    text = path.read_bytes()
    try:
        raw = _load_yaml(text) or {}
        return MunicipalityOverride.model_validate(raw), text
    except (yaml.YAMLError, ValidationError) as error:
        raise CatalogueError(f"invalid municipality catalogue {path}: {error}") from error
