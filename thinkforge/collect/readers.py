"""Read records from .jsonl(.gz) / .json / .parquet / .csv files, quarantining bad rows.

Every yielded item is (row_number, record) where record is a dict, or a BadRow that says
why the row could not be read. Row numbers are 1-based lines (JSON lines) or data rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


@dataclass(frozen=True)
class BadRow:
    reason: str  # bad_json | bad_encoding | oversized | not_an_object
    detail: str
    raw: str


Item = tuple[int, "dict[str, Any] | BadRow"]


def unit(path: Path) -> str:
    """What a row number counts in this file: 'line' or 'row'."""
    return "line" if path.name.lower().endswith((".jsonl", ".jsonl.gz")) else "row"


def read_records(path: Path, max_row_bytes: int) -> Iterator[Item]:
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        yield from _json_lines(path, max_row_bytes)
    elif name.endswith(".json"):
        yield from _json_file(path, max_row_bytes)
    elif name.endswith(".parquet"):
        yield from _parquet(path, max_row_bytes)
    elif name.endswith(".csv"):
        yield from _csv(path, max_row_bytes)
    else:
        raise ValueError(f"{path}: unsupported file type (use .jsonl, .jsonl.gz, .json, .parquet or .csv)")


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _json_lines(path: Path, max_row_bytes: int) -> Iterator[Item]:
    with _open_binary(path) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            yield number, _parse_json_line(line.rstrip(b"\r\n"), max_row_bytes)


def json_lines_from(
    path: Path, max_row_bytes: int, offset: int, lines: int
) -> Iterator[tuple[int, Item | None, bytes]]:
    """(line number, item or None for a blank line, the line's bytes) of an uncompressed JSON-lines file from byte
    `offset` on, where `lines` lines precede it."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        for number, line in enumerate(fh, start=lines + 1):
            item = (number, _parse_json_line(line.rstrip(b"\r\n"), max_row_bytes)) if line.strip() else None
            yield number, item, line


def _parse_json_line(line: bytes, max_row_bytes: int) -> dict[str, Any] | BadRow:
    if len(line) > max_row_bytes:
        return BadRow(
            "oversized", f"{len(line)} bytes > max_row_bytes={max_row_bytes}", line.decode("utf-8", "backslashreplace")
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRow(
            "bad_encoding", f"not UTF-8 at byte {exc.start}: {exc.reason}", line.decode("utf-8", "backslashreplace")
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return BadRow("bad_json", f"not JSON: {exc.msg} at column {exc.colno}", text)
    if not isinstance(value, dict):
        return BadRow("not_an_object", f"expected a JSON object, got {type(value).__name__}", text)
    return value


def _json_file(path: Path, max_row_bytes: int) -> Iterator[Item]:
    data = path.read_bytes()
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        yield from _json_lines(path, max_row_bytes)  # many ".json" dataset files are JSON lines
        return
    rows = doc.get("data", doc.get("rows")) if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        rows = [doc]
    for number, value in enumerate(rows, start=1):
        yield number, _check_value(value, max_row_bytes)


def _check_value(value: Any, max_row_bytes: int) -> dict[str, Any] | BadRow:
    raw = json.dumps(value, ensure_ascii=False, default=str)
    if len(raw.encode("utf-8", "surrogatepass")) > max_row_bytes:
        return BadRow("oversized", f"{len(raw)} chars > max_row_bytes={max_row_bytes}", raw)
    if not isinstance(value, dict):
        return BadRow("not_an_object", f"expected an object, got {type(value).__name__}", raw)
    return value


def _parquet(path: Path, max_row_bytes: int) -> Iterator[Item]:
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for value in batch.to_pylist():
            number += 1
            yield number, _check_value(value, max_row_bytes)


def _csv(path: Path, max_row_bytes: int) -> Iterator[Item]:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for number, row in enumerate(reader, start=1):
        joined = "\x1f".join(str(v) for v in row.values())
        if any("\udc80" <= ch <= "\udcff" for ch in joined):
            raw = joined.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            bad = next(k for k, v in row.items() if any("\udc80" <= ch <= "\udcff" for ch in str(v)))
            yield number, BadRow("bad_encoding", f"field {bad!r} is not UTF-8", raw)
            continue
        yield number, _check_value(dict(row), max_row_bytes)
