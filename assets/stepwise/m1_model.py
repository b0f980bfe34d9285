"""m1_model: SFT of the initial policy on step_sft_data (IFT + EFT) → M1."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.common.checks import rows_fit_metadata
from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.partitions import domain_partitions
from assets.common.training import Training
from assets.common.versions import code_version
from assets.stepwise.domains import applies
from resources.generation import base_model_path
from thinkforge.training.sft import SftSettings, masked_sft_trainer, training_rows

M1Config = run_config(SftSettings)


@asset(
    partitions_def=domain_partitions,
    kinds={"pytorch", "huggingface"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="M1: TRL SFT of base_model on step_sft_data.\n\n"
    "- step_sft_data: IFT solutions in steps + EFT step judgments\n"
    "- HF folder at `$THINKFORGE_HOME/models/m1_model/<domain>/`",
)
def m1_model(context: AssetExecutionContext, config: M1Config, step_sft_data: pl.DataFrame) -> MaterializeResult:
    from transformers import AutoTokenizer

    settings = SftSettings.from_config(config)
    run = Training(context)
    if not applies(run.domain) or step_sft_data.is_empty():
        return run.skip("domain not step-wise" if not applies(run.domain) else "no step_sft_data rows")
    start = base_model_path()
    rows, report = training_rows(step_sft_data, step_sft_data.head(0), AutoTokenizer.from_pretrained(start), settings)
    if not rows:
        return run.skip("every row is too_long", **rows_fit_metadata(report))
    trainer = masked_sft_trainer(start, rows, settings, run.trainer_dir)
    _, trained = run.fit(trainer, start, settings, "stepwise", data_ids=[r["id"] for r in rows], **report)
    return MaterializeResult(metadata={**trained, **rows_fit_metadata(report)})
