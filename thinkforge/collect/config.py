"""The raw-source YAML: which files to read, in which format, for which domain."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt, ValidationError

from thinkforge import DOMAINS

DOMAIN_CHOICES = (*DOMAINS, "auto")
PACKAGED_FORMATS = ("humaneval", "champ")  # data ships inside a PyPI package: path optional
DEFAULT_MAX_ROW_BYTES = 1_000_000


class ConfigError(ValueError):
    """The sources configuration is wrong; the message says what to fix."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    format: str
    files: tuple[Path, ...]  # resolved files; empty for packaged formats read from their package
    domain: str  # math|code|science|chat|auto
    limit: int | None = None
    columns: dict[str, str] = field(default_factory=dict)
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES

    def may_yield(self, domain: str) -> bool:
        return self.domain in (domain, "auto")


def _resolve_files(raw_path: str, base: Path, where: str) -> tuple[Path, ...]:
    path = Path(raw_path).expanduser()
    if not path.is_absolute():
        path = base / path
    if any(ch in raw_path for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _readable_suffix(p))
    elif path.is_file():
        files = [path]
    else:
        raise ConfigError(
            f"{where}: path {raw_path!r} does not exist (resolved to {path}); fix the path or remove the entry"
        )
    if not files:
        raise ConfigError(f"{where}: path {raw_path!r} matched no files (resolved to {path})")
    return tuple(files)


def _readable_suffix(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv"))


class SourceEntry(BaseModel):
    """One entry of `sources:`; unknown keys (a misspelled `limt:`) are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    format: str
    path: str | None = None
    domain: str = "auto"
    limit: NonNegativeInt | None = None
    columns: dict[str, str] = {}
    max_row_bytes: PositiveInt | None = None


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    max_row_bytes: PositiveInt = DEFAULT_MAX_ROW_BYTES
    sources: list[Any]


def _validation_message(exc: ValidationError, where: str) -> str:
    problems = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        got = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err["input"], dict) else ""
        problems.append(f"{where}{loc}: {err['msg'].lower()}{got}")
    return "; ".join(problems)


def parse_entry(entry: Any, index: int, base: Path, formats: set[str], default_max_bytes: int) -> SourceSpec:
    where = f"sources[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with name/format/path/domain, got {type(entry).__name__}")
    try:
        spec = SourceEntry.model_validate(entry)
    except ValidationError as exc:
        raise ConfigError(_validation_message(exc, where)) from None
    if not spec.name.strip():
        raise ConfigError(f"{where}.name: a non-empty string is required")
    where = f"sources[{index}] ({spec.name})"
    if spec.format not in formats:
        raise ConfigError(f"{where}.format: unknown format {spec.format!r}; use one of: {', '.join(sorted(formats))}")
    if spec.domain not in DOMAIN_CHOICES:
        raise ConfigError(f"{where}.domain: {spec.domain!r} is not one of {', '.join(DOMAIN_CHOICES)}")
    columns = dict(spec.columns)
    if spec.format in ("jsonl", "parquet", "csv") and "problem" not in columns:
        columns = {"problem": "problem", **columns}
    if spec.path is None and spec.format not in PACKAGED_FORMATS:
        raise ConfigError(f"{where}.path: required for format {spec.format!r}")
    files = _resolve_files(spec.path, base, where) if spec.path is not None else ()
    return SourceSpec(
        name=spec.name,
        format=spec.format,
        files=files,
        domain=spec.domain,
        limit=spec.limit,
        columns=columns,
        max_row_bytes=spec.max_row_bytes or default_max_bytes,
    )


def load_sources(path: Path, formats: set[str]) -> list[SourceSpec]:
    """Read and validate the sources YAML; raise ConfigError naming what to fix."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sources file {path} does not exist; set THINKFORGE_SOURCES to an existing YAML file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"sources file {path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise ConfigError(f"sources file {path}: expected a top-level key 'sources' holding a list of entries")
    try:
        top = SourcesFile.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"sources file {path}: {_validation_message(exc, '')}".replace(": .", ": ")) from None
    specs = [parse_entry(e, i, path.parent, formats, top.max_row_bytes) for i, e in enumerate(top.sources)]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"sources file {path}: source names must be unique, repeated: {', '.join(dupes)}")
    return specs
