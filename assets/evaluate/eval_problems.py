"""eval_problems: the held-out problems of the eval-sets YAML, one domain per partition."""

import hashlib
import warnings

from dagster import AssetExecutionContext, BetaWarning, DataVersion, MetadataValue, Output, asset

from assets.common.metadata import stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from thinkforge.evalsets import eval_problems as load_eval_problems
from thinkforge.evalsets import eval_sets_file
from thinkforge.stage import StageOutput


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet"},
    code_version=code_version(__file__),
    description="Held-out problems every checkpoint is evaluated on, with `eval_set` and `item`.\n\n"
    "- from the eval-sets YAML (THINKFORGE_EVAL_SETS, default `data/eval/eval_sets.yaml`)\n"
    "- the same sets deduped_problems decontaminates against",
)
def eval_problems(context: AssetExecutionContext) -> Output[StageOutput]:
    path = eval_sets_file()
    out = load_eval_problems(context.partition_key, path, log=context.log.info)  # a ConfigError names what to fix
    metadata = stage_metadata(out, ["id", "eval_set", "item", "reference_answer", "problem"], "eval_problems")
    metadata.update(
        {
            "eval_sets_file": MetadataValue.path(str(path)),
            **tables(problems_per_set=(out.report.sets, "eval set", "problems")),
        }
    )
    # the data version follows the problems themselves (ids hash their content): editing the YAML or a set's file
    # makes model_eval stale in the UI
    digest = hashlib.sha256("\n".join(sorted(out.kept["id"].to_list() + out.rejects["id"].to_list())).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # Output(data_version=...) is a beta parameter
        return Output(out, metadata=metadata, data_version=DataVersion(digest.hexdigest()[:16]))
