"""sft_dataset: the SFT training set of a domain in TRL's conversational format, also saved as a `datasets` folder.

The union of (a) verified responses that carry a thinking trace (the distillation output) and (b) cot_sft_data,
exact duplicates removed (the first occurrence stays; the others go to the rejects naming it), each row's origin
kept. The Hugging Face folder `$THINKFORGE_HOME/datasets/sft_dataset/<domain>/` is written next to a generated
dataset card and swapped in whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from thinkforge.ids import row_id
from thinkforge.rows import MESSAGE, row_schema
from thinkforge.stage import StageOutput, StageReport, frame
from thinkforge.thinking import has_closed_thinking

STAGE = "sft_dataset"
SCHEMA = row_schema(
    "reference_answer",
    "test_cases",
    messages=pl.List(MESSAGE),
    origin=pl.String,
    model=pl.String,
)
REJECTS_SCHEMA = {**SCHEMA, "reason": pl.String, "detail": pl.String}
CARRY = ("domain", "source", "problem", "reference_answer", "test_cases", "model")


@dataclass
class SftDatasetReport(StageReport):
    origins: dict[str, int]  # kept rows per origin (verified_response, cot_sft_data)
    assistant_chars: list[int]  # length of each kept row's assistant turn


def _key(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def build_sft_dataset(verified: pl.DataFrame, cot: pl.DataFrame) -> StageOutput:
    candidates, rejects = [], []
    for r in verified.to_dicts():
        row = {k: r.get(k) for k in CARRY} | {"parent_ids": [r["id"]], "origin": "verified_response"}
        row["messages"] = [{"role": "user", "content": r["problem"]}, {"role": "assistant", "content": r["response"]}]
        row["id"] = row_id(STAGE, [r["id"]], row["messages"])
        if has_closed_thinking(r["response"]):
            candidates.append(row)
        else:
            rejects.append(
                {**row, "reason": "no_thinking_trace", "detail": f"{r['origin']} response has no closed <think> block"}
            )
    for r in cot.to_dicts():
        row = {k: r.get(k) for k in CARRY} | {
            "parent_ids": [r["id"]],
            "origin": "cot_sft_data",
            "messages": r["messages"],
        }
        row["id"] = row_id(STAGE, [r["id"]], row["messages"])
        candidates.append(row)
    seen: dict[str, str] = {}
    kept = []
    for row in candidates:
        key = _key(row["messages"])
        if key in seen:
            rejects.append({**row, "reason": "duplicate", "detail": f"same messages as {seen[key]}"})
        else:
            seen[key] = row["id"]
            kept.append(row)
    report = SftDatasetReport(
        origins=dict(Counter(r["origin"] for r in kept)),
        assistant_chars=[len(r["messages"][-1]["content"]) for r in kept],
    )
    return StageOutput(frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), verified.height + cot.height, report)


def _feature(dtype: pl.DataType):
    """The `datasets` feature of a polars type of SCHEMA (strings, lists, structs)."""
    from datasets import List, Value

    if isinstance(dtype, pl.List):
        return List(_feature(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return {f.name: _feature(f.dtype) for f in dtype.fields}
    if dtype == pl.String:
        return Value("string")
    raise TypeError(f"no datasets feature for {dtype}")


def features():
    """The exported columns' types, declared from SCHEMA: the same for every domain, also one with no rows."""
    from datasets import Features

    return Features({name: _feature(dtype) for name, dtype in SCHEMA.items()})


def _table(counts: Counter) -> str:
    return "\n".join(["| value | rows |", "|---|---|"] + [f"| {k} | {v} |" for k, v in counts.most_common()])


def dataset_card(kept: pl.DataFrame, domain: str, folder: Path) -> str:
    rows = kept.to_dicts()
    return f"""---
task_categories: [text-generation]
tags: [thinkforge, sft, reasoning]
---
# sft_dataset · {domain}

Supervised fine-tuning data built by thinkforge (asset `sft_dataset`, partition `{domain}`): {len(rows)} conversations in
TRL's conversational format (`messages` = [system?, user, assistant]); the assistant turn is
`<think>\\n{{reasoning}}\\n</think>\\n\\n{{solution}}`.

{_statistics(rows, folder)}

## Use
```python
from datasets import load_from_disk
from trl import SFTConfig, SFTTrainer

dataset = load_from_disk("{folder}")
trainer = SFTTrainer(model="path/to/model", train_dataset=dataset, args=SFTConfig(output_dir="out"))
trainer.train()
```
Columns besides `messages` (`id`, `parent_ids`, `origin`, `source`, ...) trace every row back to its raw problem:
`thinkforge lineage <id>`.
"""


def _statistics(rows: list[dict], folder: Path) -> str:
    if not rows:
        return f"""## No rows
This domain has no SFT rows in this run (no verified response with a thinking trace and no cot_sft_data row):
`load_from_disk("{folder}")` returns an empty dataset (0 rows) with the same columns as any other domain's."""
    lengths = [len(r["messages"][-1]["content"]) for r in rows]
    return f"""## Rows per origin
{_table(Counter(r["origin"] for r in rows))}

- `verified_response`: a distilled response that passed rejection sampling and carries its own thinking trace.
- `cot_sft_data`: a refined solution with a reconstructed chain of thought that passed the consistency checks.

## Rows per source
{_table(Counter(r["source"] for r in rows))}

## Models
{_table(Counter(f"{r['origin']}: {r['model']}" for r in rows))}

## Assistant turn length (characters)
min {min(lengths)}, median {statistics.median(lengths):.0f}, mean {statistics.fmean(lengths):.0f}, max {max(lengths)}."""


def export(kept: pl.DataFrame, folder: Path, domain: str) -> Path:
    """save_to_disk into a staging folder with the card, then swap it into `folder` (never half-written).

    The columns are typed from SCHEMA and a domain with no rows gets one empty shard, so it loads (0 rows)."""
    from datasets import Dataset

    folder = Path(folder)
    staging = folder.with_name(folder.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    data = Dataset.from_dict({name: kept[name].to_list() for name in SCHEMA}, features=features())
    data.save_to_disk(str(staging), num_shards=None if len(data) else 1)  # datasets writes 0 shards for 0 rows
    (staging / "README.md").write_text(dataset_card(kept, domain, folder))
    old = folder.with_name(folder.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return folder
