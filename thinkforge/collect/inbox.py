"""The inbox folder: drop `inbox/<format>/<file>` (or `inbox/<format>/<domain>/<file>`) to add a source."""

from __future__ import annotations

from pathlib import Path

from thinkforge import DOMAINS
from thinkforge.collect.adapters import FORMATS
from thinkforge.collect.config import DEFAULT_MAX_ROW_BYTES, SourceSpec, _readable_suffix


def inbox_files(inbox: Path) -> tuple[list[Path], list[str]]:
    """Readable files under the inbox, and warnings for files that will be ignored."""
    files, warnings = [], []
    if not inbox.exists():
        return files, warnings
    for path in sorted(p for p in inbox.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(inbox)
        if len(rel.parts) < 2 or rel.parts[0] not in FORMATS or not _readable_suffix(path):
            warnings.append(
                f"inbox file {rel} ignored: put it under inbox/<format>/ with a .jsonl/.jsonl.gz/.json/.parquet/.csv name; "
                f"formats: {', '.join(sorted(FORMATS))}"
            )
            continue
        files.append(path)
    return files, warnings


def inbox_spec(inbox: Path, path: Path) -> SourceSpec:
    rel = path.relative_to(inbox)
    domain = rel.parts[1] if len(rel.parts) > 2 and rel.parts[1] in DOMAINS else "auto"
    columns = {"problem": "problem"} if FORMATS[rel.parts[0]].generic else {}
    return SourceSpec(
        name=f"inbox/{rel.as_posix()}",
        format=rel.parts[0],
        files=(path,),
        domain=domain,
        columns=columns,
        max_row_bytes=DEFAULT_MAX_ROW_BYTES,
    )


def inbox_sources(inbox: Path) -> tuple[list[SourceSpec], list[str]]:
    files, warnings = inbox_files(inbox)
    return [inbox_spec(inbox, p) for p in files], warnings
