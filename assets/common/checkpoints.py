"""The checkpoint assets and the checkpoint each one is trained from, read off the asset graph.

A checkpoint is an asset of kind `huggingface` in the groups that train (models, train, stepwise); its parent is the
checkpoint among its dependencies. A new iteration or trainer is picked up by evaluation and `no_regression` from
its asset definition alone (e.g. THINKFORGE_STEPWISE_ITERATIONS=3 adds step_dpo_model_3 after step_dpo_model_2).
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import AssetsDefinition, load_assets_from_package_module

from assets import models, stepwise, train

CHECKPOINT_KIND = "huggingface"


def checkpoint_parents(assets: Iterable[AssetsDefinition]) -> dict[str, str | None]:
    """Checkpoint asset → the checkpoint it is trained from (None: the starting one), in training order (every
    checkpoint after its parent; otherwise in the order given)."""
    specs = [spec for a in assets for spec in a.specs if CHECKPOINT_KIND in spec.kinds]
    names = {spec.key.to_user_string() for spec in specs}
    parents: dict[str, str | None] = {}
    for spec in specs:
        found = [d.asset_key.to_user_string() for d in spec.deps if d.asset_key.to_user_string() in names]
        if len(found) > 1:
            raise ValueError(f"{spec.key.to_user_string()} depends on several checkpoints: {found}")
        parents[spec.key.to_user_string()] = found[0] if found else None
    ordered: dict[str, str | None] = {}
    while len(ordered) < len(parents):
        name = next(n for n, p in parents.items() if n not in ordered and (p is None or p in ordered))
        ordered[name] = parents[name]
    return ordered


PARENTS_OF = checkpoint_parents(
    asset for package in (models, train, stepwise) for asset in load_assets_from_package_module(package)
)
# The checkpoint assets in training order, and the model each trained one starts from.
CHECKPOINTS = list(PARENTS_OF)
PARENTS = {name: parent for name, parent in PARENTS_OF.items() if parent is not None}
