"""`thinkforge` command line: row lineage, warehouse summaries and the model evaluation table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from thinkforge import lineage, paths, warehouse


def _lineage(args: argparse.Namespace) -> int:
    chain = lineage.trace(args.home, args.row_id)
    if not chain:
        print(f"row {args.row_id} not found under {paths.warehouse_dir(args.home)}", file=sys.stderr)
        return 1
    print(lineage.render(chain))
    return 0


def summary_table(root: Path) -> str:
    """Rows in / out / rejected per asset and partition, from the partitions' info files."""
    lines = [f"{'asset':<28}{'partition':<12}{'in':>8}{'out':>8}{'rejected':>10}  run"]
    for asset in warehouse.asset_names(root):
        for meta in sorted((paths.warehouse_dir(root) / asset).glob("*.meta.json")):
            info = warehouse.read_info(root, asset, meta.name.removesuffix(".meta.json")) or {}
            lines.append(
                f"{asset:<28}{info.get('partition', '?'):<12}{info.get('rows_in', 0):>8}{info.get('rows_out', 0):>8}"
                f"{info.get('rows_rejected', 0):>10}  {info.get('run_id', '')[:8]}"
            )
    return "\n".join(lines)


def _summary(args: argparse.Namespace) -> int:
    print(summary_table(args.home))
    return 0


def eval_table(root: Path) -> str:
    """model_eval's comparison (models × metrics) for every evaluated domain, from the warehouse."""
    from thinkforge import DOMAINS
    from thinkforge.evaluation import compare, markdown

    parts = []
    for domain in DOMAINS:
        path = warehouse.partition_path(root, "model_eval", domain)
        if not path.exists():
            continue
        rows = warehouse.read_partition(root, "model_eval", domain)
        k = int(rows["sample_index"].max()) + 1 if rows.height else 1
        table = (
            markdown(compare(rows, rows["model"].unique(maintain_order=True).to_list(), k), k=k)
            if rows.height
            else "(no model evaluated)"
        )
        parts.append(f"model_eval · {domain}\n{table}")
    return "\n\n".join(parts) or "model_eval has not been materialized"


def _eval(args: argparse.Namespace) -> int:
    print(eval_table(args.home))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thinkforge", description=__doc__)
    parser.add_argument("--home", type=Path, default=None, help="THINKFORGE_HOME (default: env or .thinkforge/)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "lineage",
        help="print a row's ancestry back to its raw source row with every judgment on the way (markdown; "
        "the trace_row job shows the same in the web UI)",
    )
    p.add_argument("row_id")
    p.set_defaults(func=_lineage)
    p = sub.add_parser("summary", help="rows in / out / rejected per asset partition")
    p.set_defaults(func=_summary)
    p = sub.add_parser("eval", help="model_eval's comparison of the checkpoints (models × metrics) per domain")
    p.set_defaults(func=_eval)
    args = parser.parse_args(argv)
    args.home = (args.home or paths.home()).resolve()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
