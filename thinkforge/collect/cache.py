"""Parsed rows of source files kept between runs: a file read before is parsed again only past where that read ended.

An unchanged file costs one hash of its bytes; a JSON-lines file that only grew at its end (its old bytes hash as
before) costs that hash and the parse of the appended lines; any other change (an edited or removed line, a
rewritten file) parses the whole file again, as does another format, column mapping or row size limit (they are
part of the cache key). A last line without its newline is parsed but not cached: a writer may still be appending
to it. THINKFORGE_HOME/cache/collect/<key>/ holds state.json and the rows as Parquet parts, one per read that added
rows (merged into one past MAX_PARTS).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from thinkforge import paths
from thinkforge.collect.readers import Item, json_lines_from, read_records, unit

Frames = tuple[pl.DataFrame, pl.DataFrame]  # (kept rows, rejected rows) of one file, every domain
MAX_PARTS = 16
HASH_BLOCK = 1 << 22


def cached_frames(
    path: Path, entry: str, max_row_bytes: int, frames_of: Callable[[Iterator[Item]], Frames]
) -> tuple[Frames, int]:
    """The file's parsed rows (from the cache where it still holds) and how many lines or rows were parsed now;
    `entry` names the source settings the rows were parsed with, `frames_of` parses records into frames."""
    folder = paths.home() / "cache" / "collect" / hashlib.sha1(f"{entry}\0{path.resolve()}".encode()).hexdigest()[:24]
    size = path.stat().st_size
    appendable = unit(path) == "line" and not path.name.lower().endswith(".gz")
    digest, state = hashlib.sha1(), _state(folder)
    if state is not None and state["offset"] <= size and (appendable or state["offset"] == size):
        if _hash(path, 0, state["offset"], digest) == state["sha1"]:
            cached = _read_parts(folder, state["parts"])
            if state["offset"] == size:
                return cached, 0
            new, complete, parsed = _parse_tail(path, max_row_bytes, state, digest, frames_of)
            _write(folder, state["parts"], complete, digest, _cut(new, complete["lines"]))
            return _concat(cached, new), parsed
        digest = hashlib.sha1()
    shutil.rmtree(folder, ignore_errors=True)
    if appendable:
        new, complete, parsed = _parse_tail(path, max_row_bytes, {"offset": 0, "lines": 0}, digest, frames_of)
        _write(folder, [], complete, digest, _cut(new, complete["lines"]))
        return new, parsed
    new = frames_of(read_records(path, max_row_bytes))
    _hash(path, 0, size, digest)
    _write(folder, [], {"offset": size, "lines": 0}, digest, new)
    return new, new[0].height + new[1].height


def _parse_tail(path, max_row_bytes, state, digest, frames_of) -> tuple[Frames, dict, int]:
    """Parse the lines from the state's offset on; the returned state covers the newline-terminated ones."""
    complete = {"offset": state["offset"], "lines": state["lines"]}
    parsed = 0

    def records() -> Iterator[Item]:
        nonlocal parsed
        for number, item, line in json_lines_from(path, max_row_bytes, state["offset"], state["lines"]):
            if line.endswith(b"\n"):
                digest.update(line)
                complete["offset"] += len(line)
                complete["lines"] = number
            if item is not None:
                parsed += 1
                yield item

    return frames_of(records()), complete, parsed


def _cut(frames: Frames, lines: int) -> Frames:
    """Rows of lines up to `lines` (a last line still without its newline is not cached)."""
    return tuple(f.filter(pl.col("source_row") <= lines) for f in frames)


def _concat(a: Frames, b: Frames) -> Frames:
    return pl.concat([a[0], b[0]]), pl.concat([a[1], b[1]])


def _hash(path: Path, start: int, end: int, digest) -> str:
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            block = fh.read(min(HASH_BLOCK, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.copy().hexdigest()


def _state(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


_KINDS = ("kept", "rejects")


def _read_parts(folder: Path, parts: list[int]) -> Frames:
    return tuple(pl.concat([pl.read_parquet(folder / f"{i}.{kind}.parquet") for i in parts]) for kind in _KINDS)


def _write(folder: Path, parts: list[int], complete: dict, digest, frames: Frames) -> None:
    """Add the frames as a new part (past MAX_PARTS: one part holding every row), then the state that names the
    parts: the state is written last, so an interrupted write leaves the old state and its parts."""
    folder.mkdir(parents=True, exist_ok=True)
    number = max(parts, default=-1) + 1
    merged = len(parts) + 1 > MAX_PARTS
    if merged:
        frames = _concat(_read_parts(folder, parts), frames)
    for kind, frame in zip(_KINDS, frames):
        tmp = folder / f".{number}.{kind}.{os.getpid()}.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, folder / f"{number}.{kind}.parquet")
    state = {**complete, "sha1": digest.hexdigest(), "parts": [number] if merged else [*parts, number]}
    tmp = folder / f".state.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, folder / "state.json")
    if merged:
        for old in parts:
            for kind in _KINDS:
                (folder / f"{old}.{kind}.parquet").unlink(missing_ok=True)
