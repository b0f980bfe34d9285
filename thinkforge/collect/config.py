"""The raw-source YAML: which files to read, in which format, for which domain."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
        raise ConfigError(f"{where}: path {raw_path!r} does not exist (resolved to {path}); fix the path or remove the entry")
    if not files:
        raise ConfigError(f"{where}: path {raw_path!r} matched no files (resolved to {path})")
    return tuple(files)


def _readable_suffix(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv"))


def parse_entry(entry: Any, index: int, base: Path, formats: set[str], default_max_bytes: int) -> SourceSpec:
    where = f"sources[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with name/format/path/domain, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: 'name' is required (a non-empty string)")
    where = f"sources[{index}] ({name})"
    fmt = entry.get("format")
    if fmt not in formats:
        raise ConfigError(f"{where}: unknown format {fmt!r}; use one of: {', '.join(sorted(formats))}")
    domain = entry.get("domain", "auto")
    if domain not in DOMAIN_CHOICES:
        raise ConfigError(f"{where}: domain {domain!r} is not one of {', '.join(DOMAIN_CHOICES)}")
    limit = entry.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"{where}: 'limit' must be a non-negative integer, got {limit!r}")
    columns = entry.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
        raise ConfigError(f"{where}: 'columns' must map pool fields to file columns, e.g. {{problem: question}}")
    if fmt in ("jsonl", "parquet", "csv") and "problem" not in columns:
        columns = {"problem": "problem", **columns}
    path = entry.get("path")
    if path is None and fmt not in PACKAGED_FORMATS:
        raise ConfigError(f"{where}: 'path' is required for format {fmt!r}")
    files = _resolve_files(str(path), base, where) if path is not None else ()
    max_bytes = entry.get("max_row_bytes", default_max_bytes)
    return SourceSpec(name=name, format=fmt, files=files, domain=domain, limit=limit, columns=dict(columns), max_row_bytes=int(max_bytes))


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
    max_bytes = int(doc.get("max_row_bytes", DEFAULT_MAX_ROW_BYTES))
    specs = [parse_entry(e, i, path.parent, formats, max_bytes) for i, e in enumerate(doc["sources"])]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"sources file {path}: source names must be unique, repeated: {', '.join(dupes)}")
    return specs
