"""Data sets shipped inside PyPI packages, read once per package version.

Loading CHAMP parses its whole 72 MB file (3.7 s) even when a source takes 20 rows; the records are kept as JSON
lines in THINKFORGE_HOME/cache/packaged/<format>-<package version>.jsonl (written atomically) and read from there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from importlib.metadata import version

from thinkforge import paths


def cached_records(
    fmt: str, package: str, read: Callable[[], Iterator[tuple[int, dict]]]
) -> Iterator[tuple[int, dict]]:
    """(row number, record) of a packaged data set: from the cache of this package version, else read and cached."""
    path = paths.home() / "cache" / "packaged" / f"{fmt}-{version(package)}.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            for line in f:
                number, record = json.loads(line)
                yield number, record
        return
    rows = list(read())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for number, record in rows:
            f.write(json.dumps([number, record], ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    yield from rows
