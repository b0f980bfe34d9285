"""Build one domain's raw problem pool from the configured sources.

Every row read is accounted for: it lands in the pool or in the rejects with a reason
naming the source, the line/row and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import polars as pl

from thinkforge import DOMAINS
from thinkforge.collect.adapters import FORMATS, Parsed
from thinkforge.collect.cache import cached_frames
from thinkforge.collect.config import SourceSpec
from thinkforge.collect.domains import classify_domain
from thinkforge.collect.fields import FieldError
from thinkforge.collect.packaged import cached_records
from thinkforge.collect.readers import BadRow, read_records, unit
from thinkforge.ids import canonical_json, row_id
from thinkforge.stage import REJECT_SCHEMA, StageOutput, frame

STAGE = "raw_problems"
CHUNK = 50_000  # kept rows turned into a frame at a time (a million rows never live as Python dicts at once)

RESPONSE = pl.Struct({"model": pl.String, "text": pl.String, "correct": pl.Boolean, "finish_reason": pl.String})
POOL_SCHEMA = {
    "id": pl.String,
    "parent_ids": pl.List(pl.String),
    "domain": pl.String,
    "source": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    "problem": pl.String,
    "info_type": pl.String,
    "reference_answer": pl.String,
    "test_cases": pl.String,  # JSON: {"kind": "stdio"|"call"|"program", "cases": [{input, output}], ...}
    "responses": pl.List(RESPONSE),
    "meta": pl.String,  # JSON object of source-specific fields
}
REJECTS_SCHEMA = {**REJECT_SCHEMA, "source_file": pl.String, "source_row": pl.Int64, "raw": pl.String}
PARSED_SCHEMA = {**POOL_SCHEMA, "_digest": pl.Binary}  # as parsed: the id of a first occurrence, the content digest
CONTENT = ("source", "problem", "reference_answer", "test_cases")  # what a kept row's id hashes
CACHE_VERSION = 1  # bump when parsing changes what a row holds: cached rows are then parsed again
Frames = tuple[pl.DataFrame, pl.DataFrame]


def _records(spec: SourceSpec) -> Iterator[tuple[str, str, int, Any]]:
    """(file label, unit, row number, record or BadRow) for every row of a source, up to its limit."""
    adapter = FORMATS[spec.format]
    if adapter.packaged and not spec.files:
        records = cached_records(spec.format, adapter.package, adapter.packaged)
        rows = ((f"package:{spec.format}", "row", n, rec) for n, rec in records)
    else:
        rows = (
            (str(path), unit(path), n, rec) for path in spec.files for n, rec in read_records(path, spec.max_row_bytes)
        )
    for count, item in enumerate(rows):
        if spec.limit is not None and count >= spec.limit:
            return
        yield item


def _fallback_domain(spec: SourceSpec) -> str:
    """Domain of a row that could not be parsed: the source's, the format's, else chat."""
    if spec.domain != "auto":
        return spec.domain
    return FORMATS[spec.format].domain or "chat"


def _row_domain(spec: SourceSpec, parsed: Parsed) -> str:
    if spec.domain != "auto":
        return spec.domain
    if parsed.domain is not None:
        if parsed.domain not in DOMAINS:
            raise FieldError(
                spec.columns.get("domain", "domain"), f"{parsed.domain!r} is not one of {', '.join(DOMAINS)}"
            )
        return parsed.domain
    return FORMATS[spec.format].domain or classify_domain(parsed.problem, bool(parsed.test_cases))


def _parse(spec: SourceSpec, record: dict) -> Parsed:
    adapter = FORMATS[spec.format]
    return adapter.convert(record, spec.columns) if adapter.generic else adapter.convert(record)


def iter_rows(spec: SourceSpec) -> Iterator[tuple[str, bool, dict]]:
    """(domain, kept?, row) for every row of a source; ids are assigned by `collect`."""
    for file_label, row_unit, number, record in _records(spec):
        yield _convert(spec, file_label, row_unit, number, record)


def _convert(spec: SourceSpec, file_label: str, row_unit: str, number: int, record) -> tuple[str, bool, dict]:
    """One record as (domain, kept?, row): a pool row, or a reject naming the source, the line/row and the field."""
    where = f"source {spec.name!r} file {file_label} {row_unit} {number}"
    base = {"parent_ids": [], "source": spec.name, "source_file": file_label, "source_row": number}
    if isinstance(record, BadRow):
        domain = _fallback_domain(spec)
        return (
            domain,
            False,
            {
                **base,
                "domain": domain,
                "reason": record.reason,
                "detail": f"{where}: {record.detail}",
                "raw": record.raw,
            },
        )
    raw = json.dumps(record, ensure_ascii=False, default=str)
    try:
        parsed = _parse(spec, record)
        domain = _row_domain(spec, parsed)
    except FieldError as exc:
        domain = _fallback_domain(spec)
        return domain, False, {**base, "domain": domain, "reason": exc.reason, "detail": f"{where}: {exc}", "raw": raw}
    if not parsed.problem.strip():
        field = spec.columns.get("problem", "problem") if FORMATS[spec.format].generic else "problem"
        detail = f"{where}: field {field!r}: problem text is empty"
        return domain, False, {**base, "domain": domain, "reason": "empty_problem", "detail": detail, "raw": raw}
    row = {
        **base,
        "domain": domain,
        "problem": parsed.problem,
        "info_type": parsed.info_type,
        "reference_answer": parsed.reference_answer,
        "test_cases": json.dumps(parsed.test_cases, ensure_ascii=False) if parsed.test_cases else None,
        "responses": parsed.responses,
        "meta": canonical_json(parsed.meta),
    }
    return domain, True, row


def _identified(ok: bool, row: dict) -> dict:
    """The row with its id: a reject's from where it was read; a kept row's from its content as its first
    occurrence (`collect` renumbers repeats), with that content's digest."""
    if ok:
        content = {k: row[k] for k in CONTENT}
        row["_digest"] = hashlib.sha1(canonical_json(content).encode("utf-8")).digest()
        row["id"] = row_id(STAGE, [], {**content, "occurrence": 1})
    else:
        row["id"] = row_id(f"{STAGE}_rejects", [], [row["source"], row["source_file"], row["source_row"], row["raw"]])
    return row


def _frames(rows: Iterable[tuple[str, bool, dict]], label: str, log: Callable[[str], None]) -> Frames:
    """Rows as (kept, rejects) frames, kept rows turned into a frame every CHUNK rows."""
    kept, frames, rejects = [], [], []
    for _, ok, row in rows:
        if ok:
            kept.append(_identified(True, row))
            if len(kept) == CHUNK:
                frames.append(frame(kept, PARSED_SCHEMA))
                kept = []
                log(f"{label}: {CHUNK * len(frames)} rows parsed")
        else:
            rejects.append(_identified(False, row))
    return pl.concat([*frames, frame(kept, PARSED_SCHEMA)], rechunk=True), frame(rejects, REJECTS_SCHEMA)


def _source_frames(spec: SourceSpec, log: Callable[[str], None]) -> Iterator[Frames]:
    """(kept, rejects) of each file of a source, every domain: files through the parse cache; a packaged data set
    (cached by package version) or a source with a row limit (which stops reading early) parsed directly."""
    if spec.limit is not None or not spec.files:
        yield _frames(iter_rows(spec), f"source {spec.name}", log)
        return
    entry = canonical_json([spec.name, spec.format, spec.domain, spec.columns, spec.max_row_bytes, CACHE_VERSION])
    for path in spec.files:
        label, row_unit = str(path), unit(path)

        def frames_of(records, label=label, row_unit=row_unit) -> Frames:
            rows = (_convert(spec, label, row_unit, number, record) for number, record in records)
            return _frames(rows, f"source {spec.name} file {label}", log)

        frames, parsed = cached_frames(path, entry, spec.max_row_bytes, frames_of)
        log(f"source {spec.name} file {path.name}: {frames[0].height + frames[1].height} rows, {parsed} parsed now")
        yield frames


def collect(specs: list[SourceSpec], domain: str, log: Callable[[str], None] = lambda _: None) -> StageOutput:
    """The `domain` partition of the raw pool: kept rows, rejects, and the rows-in count. Files read before are
    parsed only past where that read ended (collect/cache.py)."""
    kept, rejects = [], []
    for spec in specs:
        if not spec.may_yield(domain):
            continue
        n_kept = n_rejected = 0
        for spec_kept, spec_rejects in _source_frames(spec, log):
            kept.append(spec_kept.filter(pl.col("domain") == domain))
            rejects.append(spec_rejects.filter(pl.col("domain") == domain))
            n_kept, n_rejected = n_kept + kept[-1].height, n_rejected + rejects[-1].height
        log(f"source {spec.name} ({spec.format}) → {domain}: {n_kept} kept, {n_rejected} rejected")
    kept_frame = _renumber_repeats(pl.concat([frame([], PARSED_SCHEMA), *kept], rechunk=True))
    rejects_frame = pl.concat([frame([], REJECTS_SCHEMA), *rejects], rechunk=True)
    return StageOutput(kept=kept_frame, rejects=rejects_frame, rows_in=kept_frame.height + rejects_frame.height)


def _renumber_repeats(kept: pl.DataFrame) -> pl.DataFrame:
    """Ids of repeated content: the same content again is a new id (its occurrence counted in pool order)."""
    occurrence = kept.select((pl.int_range(pl.len()).over("_digest") + 1).alias("n"))["n"]
    if (occurrence > 1).any():
        repeats = (occurrence > 1).arg_true().to_list()
        ids = kept["id"].to_list()
        for i, n, row in zip(repeats, occurrence.gather(repeats).to_list(), kept[repeats].iter_rows(named=True)):
            ids[i] = row_id(STAGE, [], {**{k: row[k] for k in CONTENT}, "occurrence": n})
        kept = kept.with_columns(pl.Series("id", ids, pl.String))
    return kept.drop("_digest")


def domains_of(spec: SourceSpec) -> set[str]:
    """The domain partitions a source contributes rows to (for the inbox sensor)."""
    if spec.domain != "auto":
        return {spec.domain}
    return {domain for domain, _, _ in iter_rows(spec)}
