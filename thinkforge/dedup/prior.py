"""The decisions of the last dedup run, per raw row, and the features a later row is compared on.

Earlier decisions stand: rows kept before stay the representatives (later runs visit them first anyway), rows
rejected before stay rejected. So a re-run decides only the rows it has not seen, and searches only the blocks of
equal constants (or the exact keys) that those rows share with earlier ones. The decisions are reused while the
settings, the embed mode and the eval set are those they were made under and every row they cover is still in
the pool; otherwise every row is decided again (the vectors and the kept ids still carry over).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from thinkforge.dedup.store import DedupStore

DECISIONS_SCHEMA = {
    "raw_id": pl.String,
    "key": pl.String,  # exact key (normalized text + tests)
    "block": pl.Int64,  # constants key: the template guard's block
    "tests": pl.String,  # tests signature, null without tests
    "status": pl.String,  # kept | exact_duplicate | near_duplicate | contaminated
    "out_id": pl.String,  # the row's id in deduped_problems or in its rejects
    "detail": pl.String,
    "of_raw": pl.String,  # raw id of the kept row a duplicate joined
    "similarity": pl.Float64,
}
IGNORED_SETTINGS = {"near_miss_margin"}  # settings that change only what metadata shows


def fingerprint(settings, mode: str, eval_keys: list[str]) -> str:
    """What the decisions depend on besides the rows: the deciding settings, the embed mode and the eval set."""
    deciding = {k: v for k, v in settings.model_dump().items() if k not in IGNORED_SETTINGS}
    payload = json.dumps([deciding, mode, sorted(eval_keys)], sort_keys=True, default=str)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]


@dataclass
class Prior:
    """Earlier decisions aligned to this run's rows (null / -1 where a row is new)."""

    seen: np.ndarray  # bool per row
    table: pl.DataFrame  # DECISIONS_SCHEMA columns per row
    of_row: np.ndarray  # row position of the kept row a duplicate joined, -1 if none

    def status_counts(self) -> dict[str, int]:
        counts = self.table["status"].drop_nulls().value_counts()
        return dict(zip(counts["status"].to_list(), counts["count"].to_list()))


def load_prior(store: DedupStore, fp: str, ids: pl.Series, log: Callable[[str], None]) -> Prior | None:
    table = store.decisions(fp)
    if table is None:
        return None
    rows = pl.DataFrame({"raw_id": ids}).with_row_index("row")
    aligned = rows.join(table, on="raw_id", how="left", maintain_order="left")
    seen = aligned["status"].is_not_null().to_numpy()
    if int(seen.sum()) < table.height:
        log(f"{table.height - int(seen.sum())} rows decided before left the pool: every row is decided again")
        return None
    of_row = aligned.join(
        rows.rename({"raw_id": "of_raw", "row": "of_row"}), on="of_raw", how="left", maintain_order="left"
    )["of_row"]
    log(f"reusing {int(seen.sum())} earlier decisions; {ids.len() - int(seen.sum())} new rows to decide")
    return Prior(
        seen=seen,
        table=aligned.select(list(DECISIONS_SCHEMA)),
        of_row=of_row.fill_null(-1).cast(pl.Int64).to_numpy(),
    )
