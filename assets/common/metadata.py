"""Materialization metadata every stage shows: counts, reject reasons, a schema, sample rows."""

from __future__ import annotations

import json

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from thinkforge.stage import StageOutput, reason_counts


def _cell(value, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= width else text[: width - 1] + "…"


def markdown_table(df: pl.DataFrame, columns: list[str], n: int = 5) -> str:
    cols = [c for c in columns if c in df.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for record in df.head(n).select(cols).to_dicts():
        rows.append("| " + " | ".join(_cell(record[c]) for c in cols) + " |")
    return "\n".join(rows)


def reasons_table(counts: dict[str, int]) -> str:
    """Reject reasons as a markdown table (a person reads it in the UI; the counts are also in the info file)."""
    if not counts:
        return "no rows rejected"
    return "\n".join(["| reason | rows |", "|---|---|"] + [f"| {_cell(k)} | {v} |" for k, v in counts.items()])


def counts_table(df: pl.DataFrame, column: str) -> dict[str, int]:
    if df.is_empty():
        return {}
    counts = df.group_by(column).len().sort("len", descending=True)
    return {str(k): int(v) for k, v in zip(counts[column].to_list(), counts["len"].to_list())}


def stage_metadata(out: StageOutput, sample_columns: list[str]) -> dict:
    kept = out.kept
    meta = {
        "rows_in": out.rows_in,
        "rows_out": kept.height,
        "rows_rejected": out.rejects.height,
        "dagster/partition_row_count": kept.height,
        "reject_reasons": MetadataValue.md(reasons_table(reason_counts(out.rejects))),
        "dagster/column_schema": TableSchema(
            columns=[TableColumn(name, str(dtype)) for name, dtype in kept.schema.items()]
        ),
        "sample_rows": MetadataValue.md(markdown_table(kept, sample_columns)),
    }
    if out.rejects.height:
        meta["sample_rejects"] = MetadataValue.md(markdown_table(out.rejects, ["id", "source", "reason", "detail"]))
    return meta


def generation_metadata(stats) -> dict:
    """Model-call figures of a materialization: calls, cache hits, tokens, wall time, tokens/s."""
    data = stats.as_dict()
    return {
        "model_calls": data["calls"],
        "cache_hits": data["cache_hits"],
        "failed_requests": data["failed"],
        "retries": data["retries"],
        "prompt_tokens": data["prompt_tokens"],
        "completion_tokens": data["completion_tokens"],
        "generation_wall_s": round(data["wall_s"], 2),
        "tokens_per_s": data["tokens_per_s"],
    }
