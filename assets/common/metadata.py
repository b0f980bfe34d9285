"""Materialization metadata every stage shows: counts, reject reasons, a described schema, whole sample rows."""

from __future__ import annotations

import json
import re

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from thinkforge.columns import describe
from thinkforge.generation import GenerationStats
from thinkforge.stage import StageOutput, reason_counts

SAMPLES = 3  # sample rows shown whole on the asset page
INLINE = 80  # a value up to this many characters on one line sits in the sample's field table; longer ones get a block


def _cell(value, width: int | None = INLINE) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def markdown_table(df: pl.DataFrame, columns: list[str], n: int = 5) -> str:
    cols = [c for c in columns if c in df.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for record in df.head(n).select(cols).to_dicts():
        rows.append("| " + " | ".join(_cell(record[c]) for c in cols) + " |")
    return "\n".join(rows)


def _block(text: str, indent: str = "") -> list[str]:
    """Text verbatim in a fenced block (`<think>` and markdown characters shown as written), fenced longer than any
    backtick run inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [indent + fence + "text", *(indent + line for line in text.splitlines()), indent + fence]


def _is_conversation(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _is_actions(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(a, dict) and "mask" in a for a in value)


def _long(value) -> bool:
    if isinstance(value, str):
        return len(value) > INLINE or "\n" in value
    return isinstance(value, list | dict) and len(json.dumps(value, default=str)) > INLINE


def sample_markdown(record: dict, title: str, stage: str | None = None) -> str:
    """One row whole: short fields in a table with their meaning, long text verbatim, a conversation turn by turn
    under its role, a trajectory's actions as a numbered list with their loss mask."""
    short = {c: v for c, v in record.items() if v is not None and not _long(v)}
    lines = [f"#### {title}", ""]
    if short:
        lines += ["| field | value | meaning |", "|---|---|---|"]
        lines += [f"| {c} | {_cell(v, None)} | {_cell(describe(c, stage) or '', None)} |" for c, v in short.items()]
    for column, value in record.items():
        if value is None or column in short:
            continue
        lines += ["", f"**{column}**", ""]
        if _is_conversation(value):
            for message in value:
                lines += [f"*{message['role']}*", "", *_block(str(message.get("content") or "")), ""]
        elif _is_actions(value):
            for number, action in enumerate(value, start=1):
                trained = "trained" if action["mask"] else "not trained"
                facts = [f"mask {action['mask']} ({trained})"] + [
                    f"{k}: {action[k]}" for k in ("correct", "verdict", "origin") if action.get(k) is not None
                ]
                lines += [f"{number}. **{action.get('kind')}** · {' · '.join(facts)}", ""]
                lines += [*_block(str(action.get("text") or ""), indent="   "), ""]
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False, indent=1)
            lines += _block(text)
    return "\n".join(lines)


def pick_samples(df: pl.DataFrame, n: int = SAMPLES, first: pl.Expr | None = None) -> pl.DataFrame:
    """`n` rows to show: one per origin (else source) before a second of any, and within each the rows where
    `first` holds (a response in the thinking format) before the others."""
    flag = pl.lit(True) if first is None else first.fill_null(False)
    ordered = df.with_columns(_first=flag, _row=pl.int_range(pl.len())).sort([~pl.col("_first"), "_row"])
    group = next((c for c in ("origin", "source") if c in df.columns), None)
    if group:
        ordered = ordered.with_columns(_rank=pl.col(group).cum_count().over(group)).sort(["_rank", "_row"])
    return ordered.head(n).drop("_first", "_row", "_rank", strict=False)


def samples_markdown(
    df: pl.DataFrame, columns: list[str], n: int = SAMPLES, stage: str | None = None, first: pl.Expr | None = None
) -> str:
    """`n` rows whole (`pick_samples`), one section each (the columns that exist, in the order given)."""
    if df.is_empty():
        return "no rows"
    cols = [c for c in columns if c in df.columns]
    return "\n\n".join(
        sample_markdown(record, f"sample {number} of {df.height}", stage)
        for number, record in enumerate(pick_samples(df, n, first).select(cols).to_dicts(), start=1)
    )


def table_markdown(data: dict | list, key: str, value: str = "rows") -> str | None:
    """A dict as a table: {k: scalar} → two columns (`key`, `value`), {k: {column: v}} → a row per k with a column per
    inner key; a list as bullets. None when empty (an empty table says nothing)."""
    if not data:
        return None
    if isinstance(data, list):
        return "\n".join(f"- {_cell(item, None)}" for item in data)
    if all(isinstance(v, dict) for v in data.values()):
        inner = list(dict.fromkeys(c for v in data.values() for c in v))
        rows = ["| " + " | ".join([key, *map(_cell, inner)]) + " |", "|" + "---|" * (len(inner) + 1)]
        rows += ["| " + " | ".join([_cell(k), *(_cell(v.get(c, "")) for c in inner)]) + " |" for k, v in data.items()]
        return "\n".join(rows)
    rows = [f"| {key} | {value} |", "|---|---|"]
    return "\n".join(rows + [f"| {_cell(k)} | {_cell(v, None)} |" for k, v in data.items()])


def tables(**named: tuple) -> dict:
    """name=(data, key header[, value header]) → markdown table metadata, leaving out the empty ones."""
    out = {}
    for name, (data, *headers) in named.items():
        text = table_markdown(data, *headers)
        if text is not None:
            out[name] = MetadataValue.md(text)
    return out


def reasons_table(counts: dict[str, int]) -> str:
    """Reject reasons as a markdown table (a person reads it in the UI; the counts are also in the info file)."""
    return table_markdown(counts, "reason") or "no rows rejected"


def counts_table(df: pl.DataFrame, column: str) -> dict[str, int]:
    if df.is_empty():
        return {}
    counts = df.group_by(column).len().sort("len", descending=True)
    return {str(k): int(v) for k, v in zip(counts[column].to_list(), counts["len"].to_list())}


def column_schema(df: pl.DataFrame, stage: str | None = None) -> TableSchema:
    """The table's columns with their types and meanings (the UI's column schema)."""
    return TableSchema(
        columns=[TableColumn(name, str(dtype), description=describe(name, stage)) for name, dtype in df.schema.items()]
    )


def stage_metadata(
    out: StageOutput, sample_columns: list[str], stage: str | None = None, first: pl.Expr | None = None
) -> dict:
    """`stage`: the asset, where a column means something of its own there (model_eval's `model`); `first`: the
    sample rows to show before others (a response in the thinking format)."""
    kept = out.kept
    meta = {
        "rows_in": out.rows_in,
        "rows_out": kept.height,
        "rows_rejected": out.rejects.height,
        "dagster/partition_row_count": kept.height,
        "reject_reasons": MetadataValue.md(reasons_table(reason_counts(out.rejects))),
        "dagster/column_schema": column_schema(kept, stage),
        "sample_rows": MetadataValue.md(samples_markdown(kept, sample_columns, stage=stage, first=first)),
    }
    if out.rejects.height:
        meta["sample_rejects"] = MetadataValue.md(markdown_table(out.rejects, ["id", "source", "reason", "detail"]))
    return meta


def generation_metadata(roles: dict[str, GenerationStats]) -> dict:
    """Model-call figures of a materialization: calls, cache hits, tokens, wall time and tokens/s of all its model
    roles together, and (with more than one role) calls, cache hits and tokens per role."""
    data = sum(roles.values(), GenerationStats()).as_dict()
    meta = {
        "model_calls": data["calls"],
        "cache_hits": data["cache_hits"],
        "failed_requests": data["failed"],
        "retries": data["retries"],
        "prompt_tokens": data["prompt_tokens"],
        "completion_tokens": data["completion_tokens"],
        "generation_wall_s": round(data["wall_s"], 2),
        "tokens_per_s": data["tokens_per_s"],
    }
    if len(roles) > 1:
        meta["calls_per_role"] = MetadataValue.md(
            "| role | calls | cache hits | prompt tokens | completion tokens |\n|---|---|---|---|---|\n"
            + "\n".join(
                f"| {_cell(role)} | {s.calls} | {s.cache_hits} | {s.prompt_tokens} | {s.completion_tokens} |"
                for role, s in roles.items()
            )
        )
    return meta
