"""When assets run by themselves: data on every update, training only on purpose.

Data assets are `eager`: the `automation_sensor` (on while the daemon runs) rebuilds them when a dependency was
updated. Training assets (and the step-DPO preference data, sampled from a trained model) are never rebuilt by an
upstream update alone: a person or a job materializes them; meanwhile the UI shows those whose inputs were rebuilt
as unsynced (a dependency has a new data version).
Their own conditions below are evaluated only by the `training_automation_sensor`, off until switched on.
"""

import os

import polars as pl
from dagster import AssetSelection, AutomationCondition, AutomationContext, AutomationResult

from thinkforge import paths, warehouse
from thinkforge.checkpoints import read_card

# The opt-in retraining threshold: rows of a checkpoint's training tables that its card does not list.
RETRAIN_MIN_ROWS = int(os.environ.get("THINKFORGE_RETRAIN_MIN_ROWS", "1000"))

# Rebuilt when a dependency was updated, once every blocking check of its dependencies passed (never on data that
# fails rows_conserved or the training-data checks).
DATA = AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()


def _ready(trigger: AutomationCondition) -> AutomationCondition:
    """`trigger` happened since the asset last ran or was requested, and its inputs are there and checked."""
    return (
        trigger.since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & AutomationCondition.all_deps_blocking_checks_passed()
    )


def after_update_of(*deps: str) -> AutomationCondition:
    """Rebuilt when one of `deps` (the model it starts from, or the data that model made) was updated; updates of
    its other dependencies (new problems) wait for that."""
    updated = AutomationCondition.any_deps_updated().allow(AssetSelection.assets(*deps))
    return _ready(updated).with_label(f"after an update of {', '.join(deps)}")


class NewTrainingRows(AutomationCondition):
    """True for a domain whose training tables hold at least `threshold` row ids that the checkpoint's card does not
    list as `data_ids` (every row when there is no checkpoint yet); only the tables the checkpoint was trained on,
    when its card names them (`training_sets`)."""

    def __init__(self, checkpoint: str, tables: tuple[str, ...], threshold: int):
        self.checkpoint, self.tables, self.threshold = checkpoint, tables, threshold

    @property
    def name(self) -> str:
        return "new_training_rows"

    @property
    def description(self) -> str:
        return f"≥ {self.threshold} rows of {' + '.join(self.tables)} not in the {self.checkpoint} checkpoint"

    def new_rows(self, domain: str) -> int:
        root = paths.home()
        card = read_card(paths.checkpoint_dir(self.checkpoint, domain, root)) or {}
        trained = set(card.get("data_ids") or [])
        # a checkpoint trained on one of its tables (sft_model's `training_sets`) counts only that table's rows
        tables = [t for t in self.tables if card.get("training_sets", "both") in ("both", t)]
        files = [warehouse.partition_path(root, t, domain) for t in tables]
        ids = [pl.read_parquet(f, columns=["id"])["id"] for f in files if f.exists()]
        return len(set(pl.concat(ids).to_list()) - trained) if ids else 0

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        domains = context.candidate_subset.expensively_compute_partition_keys()
        counts = {d: self.new_rows(d) for d in domains}
        for domain, n in sorted(counts.items()):
            context.log.info(f"{self.checkpoint} {domain}: {n} new training rows (threshold {self.threshold})")
        ready = {d for d, n in counts.items() if n >= self.threshold}
        return AutomationResult(context, context.candidate_subset.compute_intersection_with_partition_keys(ready))


def on_new_rows(checkpoint: str, *tables: str) -> AutomationCondition:
    """Retrain when a dependency was updated and its training tables gained RETRAIN_MIN_ROWS rows since the
    checkpoint was trained (counted last, on the partitions that pass the cheaper conditions)."""
    new_rows = NewTrainingRows(checkpoint, tables, RETRAIN_MIN_ROWS)
    return (_ready(AutomationCondition.any_deps_updated()) & new_rows).with_label(
        f"≥ {RETRAIN_MIN_ROWS} new training rows"
    )
