"""Software-defined assets: one package per Dagster asset group, one module per stage.

The group name, the folder under `assets/` and the package under `thinkforge/` are one name, so a group
seen in the UI leads to its asset module and its library code.
"""

from dagster import AssetsDefinition, load_assets_from_package_module

from assets import collect, curate, distill, evaluate, models, refine, s2r, stepwise, train
from assets.common.automation import DATA
from assets.common.checks import rows_conserved_check
from assets.common.code_references import with_code_references

MODELS, COLLECT, CURATE, DISTILL = "models", "collect", "curate", "distill"
REFINE, S2R, TRAIN, STEPWISE, EVALUATE = "refine", "s2r", "train", "stepwise", "evaluate"
# Groups of the data refresh (never the training groups): raw data → verified responses.
DATA_GROUPS = [COLLECT, CURATE, DISTILL]
GROUP_PACKAGES = {
    MODELS: models,
    COLLECT: collect,
    CURATE: curate,
    DISTILL: distill,
    REFINE: refine,
    S2R: s2r,
    TRAIN: train,
    STEPWISE: stepwise,
    EVALUATE: evaluate,
}

# Declarative automation, declared by each group (assets/common/automation.py): AUTOMATION maps an asset to its
# condition (None: not automated), TRAINING_AUTOMATION to its training condition (evaluated only by the
# training_automation_sensor, off by default); every other asset is data, rebuilt on update (DATA).
AUTOMATION = {
    name: condition
    for package in GROUP_PACKAGES.values()
    for name, condition in {
        **getattr(package, "AUTOMATION", {}),
        **getattr(package, "TRAINING_AUTOMATION", {}),
    }.items()
}
TRAINING_ASSETS = sorted(
    name for package in GROUP_PACKAGES.values() for name in getattr(package, "TRAINING_AUTOMATION", {})
)


def _automated(asset: AssetsDefinition) -> AssetsDefinition:
    condition = AUTOMATION.get(asset.key.to_user_string(), DATA)
    if condition is None:
        return asset
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition))


# Each asset page in the UI links to its source file (assets/common/code_references.py).
ALL_ASSETS: list[AssetsDefinition] = with_code_references(
    [
        _automated(asset)
        for name, package in GROUP_PACKAGES.items()
        for asset in load_assets_from_package_module(package, group_name=name)
    ]
)


def is_warehouse_asset(asset: AssetsDefinition) -> bool:
    """Stored as Parquet with a rejects table (the rows-conserved check applies)."""
    return all(out.io_manager_key == "warehouse_io" for out in asset.node_def.output_defs)


def assets_in_groups(*groups: str) -> list[AssetsDefinition]:
    return [a for a in ALL_ASSETS if set(a.group_names_by_key.values()) & set(groups)]


STAGE_ASSETS = [a for a in ALL_ASSETS if is_warehouse_asset(a)]
# Each group declares the checks of its assets (CHECKS); every warehouse asset also gets rows_conserved.
ALL_CHECKS = [rows_conserved_check(a) for a in STAGE_ASSETS] + [
    check for package in GROUP_PACKAGES.values() for check in getattr(package, "CHECKS", [])
]
# `make demo`'s run config: each group's DEMO_RUN_CONFIG (asset name → config), small CPU defaults.
DEMO_RUN_CONFIG = {
    name: cfg for package in GROUP_PACKAGES.values() for name, cfg in getattr(package, "DEMO_RUN_CONFIG", {}).items()
}
# `make proof`'s run config (the proof profile: data/proof/, long enough training to change behaviour on CPU): each
# group's PROOF_RUN_CONFIG, declared next to its DEMO_RUN_CONFIG.
PROOF_RUN_CONFIG = {
    name: cfg for package in GROUP_PACKAGES.values() for name, cfg in getattr(package, "PROOF_RUN_CONFIG", {}).items()
}
