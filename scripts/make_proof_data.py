"""Write `make proof`'s bundled source: data/proof/{math,code}_train.jsonl and math_heldout.jsonl from the seeded generator.

`python -m scripts.make_proof_data` rewrites the files (the same bytes for the same sizes and seed; a test checks
that the bundled files are the generator's output). Sizes and seed are the PROOF_DATA defaults below.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from thinkforge.collect.synthetic import proof_splits
from thinkforge.paths import REPO_ROOT

OUT = REPO_ROOT / "data" / "proof"
# Rows per split and domain (held-out math: model_eval's ≥ 200 problems; code is training only); seed 0.
PROOF_DATA = {"train_math": 1500, "heldout_math": 300, "train_code": 200, "seed": 0}


def files(out: Path = OUT, **sizes: int) -> dict[Path, list[dict]]:
    """{file: rows} of the proof source for these sizes (PROOF_DATA's by default)."""
    splits = proof_splits(**{**PROOF_DATA, **sizes})
    return {
        out / f"{domain}_{split}.jsonl": [r for r in rows if r["domain"] == domain]
        for split, rows in splits.items()
        for domain in ("math", "code")
        if any(r["domain"] == domain for r in rows)
    }


def write(out: Path = OUT) -> list[Path]:
    written = []
    for path, rows in files(out).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write into (default data/proof/)")
    for path in write(parser.parse_args().out):
        print(f"{path}: {sum(1 for _ in path.open())} rows")


if __name__ == "__main__":
    main()
