"""Parquet per asset partition, plus a DuckDB catalog of views over them.

Layout under THINKFORGE_HOME:
  warehouse/<asset>/<partition>.parquet           kept rows
  warehouse/<asset>_rejects/<partition>.parquet   rejected rows with reason/detail
  warehouse/<asset>/<partition>.meta.json         run id, counts, write time
  warehouse.duckdb                                one view per asset and per rejects table

Writes are atomic (temp file + rename), so parallel partition runs never see half a file;
the catalog is touched only under an exclusive file lock (DuckDB allows one writer).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from thinkforge import paths
from thinkforge.stage import StageOutput, reason_counts

UNPARTITIONED = "_all"


def rejects_name(asset: str) -> str:
    return f"{asset}_rejects"


def partition_path(root: Path, asset: str, partition: str | None) -> Path:
    return paths.warehouse_dir(root) / asset / f"{partition or UNPARTITIONED}.parquet"


def info_path(root: Path, asset: str, partition: str | None) -> Path:
    return paths.warehouse_dir(root) / asset / f"{partition or UNPARTITIONED}.meta.json"


def _atomic_write_parquet(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.write_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, path)


def _atomic_write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_partition(
    root: Path,
    asset: str,
    partition: str | None,
    out: StageOutput,
    run_id: str,
    extra: dict | None = None,
    catalog_timeout_s: float = 10.0,
    log=lambda _: None,
) -> dict:
    """Write kept rows, rejects and the partition's info file; add missing catalog views (never fails on a busy catalog)."""
    _atomic_write_parquet(out.kept, partition_path(root, asset, partition))
    _atomic_write_parquet(out.rejects, partition_path(root, rejects_name(asset), partition))
    info = {
        "asset": asset,
        "partition": partition or UNPARTITIONED,
        "run_id": run_id,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **out.counts(),
        "reject_reasons": reason_counts(out.rejects),
        **(extra or {}),
    }
    _atomic_write_text(json.dumps(info, indent=2), info_path(root, asset, partition))
    refresh_catalog(root, [asset, rejects_name(asset)], timeout_s=catalog_timeout_s, log=log)
    return info


def _stored(root: Path, asset: str, partition: str | None) -> Path:
    path = partition_path(root, asset, partition)
    if not path.exists():
        raise FileNotFoundError(
            f"{asset} partition {partition or UNPARTITIONED} has not been materialized ({path} is missing)"
        )
    return path


def read_partition(root: Path, asset: str, partition: str | None) -> pl.DataFrame:
    return pl.read_parquet(_stored(root, asset, partition))


def count_rows(root: Path, asset: str, partition: str | None) -> int:
    """Rows of a stored partition, from the Parquet footer (the file is not read)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(_stored(root, asset, partition)).metadata.num_rows


def read_info(root: Path, asset: str, partition: str | None) -> dict | None:
    path = info_path(root, asset, partition)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def asset_names(root: Path) -> list[str]:
    base = paths.warehouse_dir(root)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and any(p.glob("*.parquet"))) if base.exists() else []


@contextmanager
def catalog(root: Path, read_only: bool = False, timeout_s: float = 60.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to warehouse.duckdb, serialized across processes by a file lock."""
    path = paths.catalog_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if read_only else fcntl.LOCK_EX)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only and path.exists())
                break
            except duckdb.IOException:  # an outside reader holds DuckDB's own lock: wait for it
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            yield con
        finally:
            con.close()


def _views_file(root: Path) -> Path:
    return paths.warehouse_dir(root) / ".catalog_views.json"


def refresh_catalog(root: Path, assets: list[str], timeout_s: float = 10.0, log=lambda _: None) -> bool:
    """Create the views an asset still lacks (one per asset over all its partition files).

    The catalog is opened only when a view is missing, so a notebook holding warehouse.duckdb never
    blocks a materialization whose views exist. When it is busy for longer than `timeout_s`, the data
    stays written and the view is created by the next write of that asset: returns False.
    """
    known_file = _views_file(root)
    known = set(json.loads(known_file.read_text())) if known_file.exists() else set()
    todo = [a for a in assets if a not in known]
    if not todo:
        return True
    try:
        with catalog(root, timeout_s=timeout_s) as con:
            existing = dict(con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
            for asset in todo:
                pattern = paths.warehouse_dir(root) / asset / "*.parquet"
                if str(pattern) not in (existing.get(asset) or ""):
                    con.execute(
                        f"CREATE OR REPLACE VIEW \"{asset}\" AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)"
                    )
            known |= set(todo)
    except duckdb.IOException as exc:
        log(
            f"warehouse.duckdb is busy ({exc}); the data is written, views for {todo} will be created by the next write"
        )
        return False
    _atomic_write_text(json.dumps(sorted(known)), known_file)
    return True
