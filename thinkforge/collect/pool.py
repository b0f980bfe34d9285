"""Build one domain's raw problem pool from the configured sources.

Every row read is accounted for: it lands in the pool or in the rejects with a reason
naming the source, the line/row and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from thinkforge import DOMAINS
from thinkforge.collect.adapters import FORMATS, Parsed
from thinkforge.collect.config import SourceSpec
from thinkforge.collect.domains import classify_domain
from thinkforge.collect.fields import FieldError
from thinkforge.collect.packaged import cached_records
from thinkforge.collect.readers import BadRow, read_records, unit
from thinkforge.ids import canonical_json, row_id
from thinkforge.stage import REJECT_SCHEMA, StageOutput, frame

STAGE = "raw_problems"
CHUNK = 50_000  # kept rows turned into a frame at a time

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
        where = f"source {spec.name!r} file {file_label} {row_unit} {number}"
        base = {"parent_ids": [], "source": spec.name, "source_file": file_label, "source_row": number}
        if isinstance(record, BadRow):
            yield (
                _fallback_domain(spec),
                False,
                {
                    **base,
                    "domain": _fallback_domain(spec),
                    "reason": record.reason,
                    "detail": f"{where}: {record.detail}",
                    "raw": record.raw,
                },
            )
            continue
        raw = json.dumps(record, ensure_ascii=False, default=str)
        try:
            parsed = _parse(spec, record)
            domain = _row_domain(spec, parsed)
        except FieldError as exc:
            yield (
                _fallback_domain(spec),
                False,
                {
                    **base,
                    "domain": _fallback_domain(spec),
                    "reason": exc.reason,
                    "detail": f"{where}: {exc}",
                    "raw": raw,
                },
            )
            continue
        if not parsed.problem.strip():
            field = spec.columns.get("problem", "problem") if FORMATS[spec.format].generic else "problem"
            yield (
                domain,
                False,
                {
                    **base,
                    "domain": domain,
                    "reason": "empty_problem",
                    "detail": f"{where}: field {field!r}: problem text is empty",
                    "raw": raw,
                },
            )
            continue
        yield (
            domain,
            True,
            {
                **base,
                "domain": domain,
                "problem": parsed.problem,
                "info_type": parsed.info_type,
                "reference_answer": parsed.reference_answer,
                "test_cases": json.dumps(parsed.test_cases, ensure_ascii=False) if parsed.test_cases else None,
                "responses": parsed.responses,
                "meta": canonical_json(parsed.meta),
            },
        )


def collect(specs: list[SourceSpec], domain: str, log: Callable[[str], None] = lambda _: None) -> StageOutput:
    """The `domain` partition of the raw pool: kept rows, rejects, and the rows-in count. Rows become columnar
    frames every CHUNK rows (a million rows never live as Python dicts at once)."""
    kept, kept_frames, rejects = [], [], []
    occurrences: Counter[bytes] = Counter()  # by digest of the row's content: the same content again is a new id
    for spec in specs:
        if not spec.may_yield(domain):
            continue
        n_kept = n_rejected = 0
        for row_domain, ok, row in iter_rows(spec):
            if row_domain != domain:
                continue
            if ok:
                content = {k: row[k] for k in ("source", "problem", "reference_answer", "test_cases")}
                key = hashlib.sha1(canonical_json(content).encode("utf-8")).digest()
                occurrences[key] += 1
                row["id"] = row_id(STAGE, [], {**content, "occurrence": occurrences[key]})
                kept.append(row)
                n_kept += 1
                if len(kept) == CHUNK:
                    kept_frames.append(frame(kept, POOL_SCHEMA))
                    kept = []
                    log(f"source {spec.name}: {n_kept} rows kept so far")
            else:
                row["id"] = row_id(
                    f"{STAGE}_rejects", [], [row["source"], row["source_file"], row["source_row"], row["raw"]]
                )
                rejects.append(row)
                n_rejected += 1
        log(f"source {spec.name} ({spec.format}) → {domain}: {n_kept} kept, {n_rejected} rejected")
    kept_frame = pl.concat([*kept_frames, frame(kept, POOL_SCHEMA)], rechunk=True)
    return StageOutput(
        kept=kept_frame, rejects=frame(rejects, REJECTS_SCHEMA), rows_in=kept_frame.height + len(rejects)
    )


def domains_of(spec: SourceSpec) -> set[str]:
    """The domain partitions a source contributes rows to (for the inbox sensor)."""
    if spec.domain != "auto":
        return {spec.domain}
    return {domain for domain, _, _ in iter_rows(spec)}
