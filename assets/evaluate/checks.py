"""no_regression: a trained checkpoint should not score below the checkpoint it was trained from."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from assets.common.checkpoints import CHECKPOINTS, PARENTS
from assets.common.partitions import domain_partitions
from resources.warehouse import WarehouseResource
from thinkforge.evaluation import compare
from thinkforge.evaluation.metrics import fmt, regressions

PAIRS = ", ".join(f"{child} vs {parent}" for child, parent in PARENTS.items())


@asset_check(
    asset="model_eval",
    name="no_regression",
    partitions_def=domain_partitions,
    blocking=False,
    description=f"Warns when a trained checkpoint's accuracy on the eval problems is below the accuracy of the "
    f"checkpoint it was trained from ({PAIRS}) asked in the same prompt format (the child's); pairs with a model "
    "not evaluated yet are skipped.",
)
def no_regression(context: AssetCheckExecutionContext, warehouse_store: WarehouseResource) -> AssetCheckResult:
    rows = warehouse_store.read("model_eval", context.partition_key)
    pairs = regressions(compare(rows, CHECKPOINTS), PARENTS)
    below = [p for p in pairs if p["below"]]
    table = [
        "| prompt format | model | trained from | its accuracy | parent's accuracy | change | |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in pairs:
        delta = None if p["model_score"] is None or p["parent_score"] is None else p["model_score"] - p["parent_score"]
        table.append(
            f"| {p['prompt_format'] or '–'} | {p['model']} | {p['trained_from']} | {fmt(p['model_score'])} | "
            f"{fmt(p['parent_score'])} | {'–' if delta is None else f'{delta:+.3f}'} | "
            f"{'**below**' if p['below'] else 'ok'} |"
        )
    summary = "; ".join(
        f"{p['model']} {p['model_score']:.3f} < {p['trained_from']} {p['parent_score']:.3f}"
        + (f" ({p['prompt_format']} prompts)" if p["prompt_format"] else "")
        for p in below
    )
    domain = context.partition_key
    return AssetCheckResult(
        passed=not below,
        severity=AssetCheckSeverity.WARN,
        description=f"{domain}: below the model it was trained from: {summary}"
        if below
        else f"{domain}: no trained model scores below its parent ({len(pairs)} pairs compared)",
        metadata={
            "partition": domain,
            "comparisons": MetadataValue.md(
                "\n".join(table) if pairs else "no trained model with an evaluated parent"
            ),
            "pairs_compared": len(pairs),
            "regressions": len(below),
        },
    )
