"""Held-out evaluation sets: one YAML that model_eval evaluates on and dedup decontaminates against.

The file has the shape of the raw-source YAML (`sources:` entries with `name, format, path, domain, limit,
columns`) and is read with the same adapters (`thinkforge.collect`). It is `THINKFORGE_EVAL_SETS`, default
`data/eval/eval_sets.yaml` (the bundled held-out split and HumanEval).

An eval item is named `<set name>/<item id>`: the item id is the source's own id (HumanEval's `task_id`, a
generic file's column mapped as `id`, CHAMP's `identifier`), else the row number in the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from thinkforge.collect import POOL_SCHEMA, REJECTS_SCHEMA, ConfigError, SourceSpec, collect, load
from thinkforge.collect.pool import iter_rows
from thinkforge.ids import row_id
from thinkforge.paths import REPO_ROOT
from thinkforge.stage import StageOutput, StageReport, frame

STAGE = "eval_problems"
DEFAULT_FILE = REPO_ROOT / "data" / "eval" / "eval_sets.yaml"
# Set names of the default file (kept for callers that name sets; the YAML is the one list).
DEFAULT_EVAL_SETS = ("humaneval", "heldout")
ID_KEYS = ("task_id", "id", "identifier", "uuid")  # the source's own item id, found in the row's meta
SCHEMA = {**POOL_SCHEMA, "eval_set": pl.String, "item": pl.String}


@dataclass
class EvalSetsReport(StageReport):
    sets: dict[str, int]  # eval set → problems of the domain


def eval_sets_file() -> Path:
    """THINKFORGE_EVAL_SETS, else data/eval/eval_sets.yaml."""
    return Path(os.environ.get("THINKFORGE_EVAL_SETS") or DEFAULT_FILE).resolve()


def load_specs(path: str | Path | None = None) -> list[SourceSpec]:
    """The eval sets declared in the YAML (raises collect.ConfigError saying what to fix)."""
    path = Path(path) if path else eval_sets_file()
    if not path.is_file():
        raise ConfigError(f"eval-sets file {path} does not exist; set THINKFORGE_EVAL_SETS to an existing YAML file")
    try:
        return load(path)
    except ConfigError as exc:
        text = str(exc)
        text = (
            text.replace("sources file", "eval-sets file", 1)
            if text.startswith("sources file")
            else f"eval-sets file {path}: {text}"
        )
        raise ConfigError(text) from None


def item_id(row: dict) -> str:
    """The item's own id from the source (task_id, id, identifier, uuid), else its row number in the file."""
    meta = json.loads(row["meta"]) if isinstance(row.get("meta"), str) else row.get("meta") or {}
    for key in ID_KEYS:
        if meta.get(key) not in (None, ""):
            return str(meta[key])
    return str(row["source_row"])


def item_text(row: dict) -> str:
    """The text an eval item is known by: the source's own prompt where an adapter wrapped it (HumanEval), else the problem."""
    meta = json.loads(row["meta"]) if isinstance(row.get("meta"), str) else row.get("meta") or {}
    prompt = meta.get("prompt")
    return prompt if isinstance(prompt, str) and prompt.strip() else row["problem"]


def eval_problems(
    domain: str, path: str | Path | None = None, log: Callable[[str], None] = lambda _: None
) -> StageOutput:
    """The eval sets' problems of one domain, with `eval_set` (the set name) and `item` (its id in the set).

    Ids are `row_id("eval_problems", [], raw id)`: an eval problem never shares an id with a training row,
    even where the same source (HumanEval) also feeds raw_problems.
    """
    out = collect(load_specs(path), domain, log=log)
    kept = [
        {**r, "id": row_id(STAGE, [], r["id"]), "eval_set": r["source"], "item": item_id(r)}
        for r in out.kept.to_dicts()
    ]
    rejects = [{**r, "id": row_id(f"{STAGE}_rejects", [], r["id"])} for r in out.rejects.to_dicts()]
    return StageOutput(
        frame(kept, SCHEMA), frame(rejects, REJECTS_SCHEMA), out.rows_in, report=EvalSetsReport(sets=_counts(kept))
    )


def _counts(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["eval_set"]] = counts.get(r["eval_set"], 0) + 1
    return counts


def load_eval_items(path: str | Path | None = None) -> dict[str, str]:
    """{"<set>/<item id>": text} of every set in the YAML, all domains (what dedup decontaminates against)."""
    items: dict[str, str] = {}
    for spec in load_specs(path):
        items.update(_spec_items(spec))
    return items


def _spec_items(spec: SourceSpec) -> dict[str, str]:
    return {f"{spec.name}/{item_id(row)}": item_text(row) for _, ok, row in iter_rows(spec) if ok}


def load_eval_set(name: str) -> dict[str, str]:
    """{"<set>/<item id>": text} of one set: a set name of the eval-sets YAML, `humaneval`, or a JSONL file with `problem`."""
    path = Path(name)
    if path.suffix in (".jsonl", ".json") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"eval set {name!r}: no such file")
        return _jsonl_items(path)
    specs = {s.name: s for s in load_specs()}
    if name in specs:
        return _spec_items(specs[name])
    if name == "humaneval":  # packaged: available even when the YAML leaves it out
        return _spec_items(SourceSpec(name="humaneval", format="humaneval", files=(), domain="code"))
    raise FileNotFoundError(
        f"eval set {name!r}: not a set of {eval_sets_file()} ({', '.join(specs) or 'none'}), "
        "nor humaneval, nor a JSONL file"
    )


def _jsonl_items(path: Path) -> dict[str, str]:
    items = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                row = json.loads(line)
                items[f"{path.stem}/{row.get('id', number)}"] = row["problem"]
    return items
