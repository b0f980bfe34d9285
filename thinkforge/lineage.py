"""Row-level lineage: find a row anywhere in the warehouse and walk its parents to the raw source.

Verdicts are the columns a stage records about a row: `reason` and `detail` on rejects,
`info_type`, and any column named `verdict_*`, `score_*` or `pass_rate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from thinkforge import paths, warehouse

VERDICT_PREFIXES = ("verdict_", "score_")
VERDICT_COLUMNS = ("reason", "detail", "info_type", "duplicate_of", "similarity", "cluster_size", "pass_rate")


@dataclass
class Hit:
    asset: str
    partition: str
    run_id: str | None
    row: dict

    @property
    def rejected(self) -> bool:
        return self.asset.endswith("_rejects")

    @property
    def stage(self) -> str:
        return self.asset.removesuffix("_rejects")

    def verdicts(self) -> dict:
        return {
            k: v
            for k, v in self.row.items()
            if v is not None and (k in VERDICT_COLUMNS or k.startswith(VERDICT_PREFIXES))
        }


def find(root: Path, row_id: str) -> list[Hit]:
    """Every place a row id is stored (an asset partition or its rejects)."""
    hits = []
    con = duckdb.connect()
    try:
        for asset in warehouse.asset_names(root):
            pattern = paths.warehouse_dir(root) / asset / "*.parquet"
            cur = con.execute(
                f"SELECT * FROM read_parquet('{pattern}', union_by_name = true, filename = true) WHERE id = ?",
                [row_id],
            )
            names = [d[0] for d in cur.description]
            for values in cur.fetchall():
                row = dict(zip(names, values))
                partition = Path(row.pop("filename")).name.removesuffix(".parquet")
                info = warehouse.read_info(root, asset.removesuffix("_rejects"), partition) or {}
                hits.append(Hit(asset, partition, info.get("run_id"), row))
    finally:
        con.close()
    return hits


def trace(root: Path, row_id: str) -> list[tuple[int, Hit]]:
    """(depth, hit) for the row and all its ancestors, depth-first from the row."""
    out: list[tuple[int, Hit]] = []
    seen: set[str] = set()

    def visit(rid: str, depth: int) -> None:
        if rid in seen:
            return
        seen.add(rid)
        for hit in find(root, rid):
            out.append((depth, hit))
            for parent in hit.row.get("parent_ids") or []:
                visit(parent, depth + 1)

    visit(row_id, 0)
    return out


def _short(value, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(chain: list[tuple[int, Hit]]) -> str:
    lines = []
    for depth, hit in chain:
        pad = "  " * depth
        status = "REJECTED" if hit.rejected else "kept"
        lines.append(
            f"{pad}{'└─ ' if depth else ''}{hit.row['id']}  stage={hit.stage}  asset={hit.asset}  partition={hit.partition}  run={hit.run_id}  [{status}]"
        )
        row = hit.row
        if not row.get("parent_ids"):
            lines.append(
                f"{pad}   raw source: {row.get('source')}  file={row.get('source_file')}  row={row.get('source_row')}"
            )
        if row.get("problem"):
            lines.append(f"{pad}   problem: {_short(row['problem'])}")
        for key, value in hit.verdicts().items():
            lines.append(f"{pad}   {key}: {_short(value, 160)}")
    return "\n".join(lines)
