"""m1_model: SFT of the initial policy on step_sft_data (IFT + EFT) → M1."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.common.checks import rows_fit_metadata
from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.partitions import domain_partitions
from assets.common.training import trained_metadata
from assets.common.versions import code_version
from assets.stepwise.domains import applies
from resources.generation import base_model_path
from thinkforge import paths
from thinkforge.training.runner import fit, trainer_dir
from thinkforge.training.sft import SftSettings, masked_sft_trainer, training_rows

M1Config = run_config(SftSettings)


@asset(
    partitions_def=domain_partitions,
    kinds={"pytorch", "huggingface"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="M1: TRL SFT of base_model on step_sft_data (IFT solutions in steps + EFT step judgments); HF folder "
    "at `$THINKFORGE_HOME/models/m1_model/<domain>/`.",
)
def m1_model(context: AssetExecutionContext, config: M1Config, step_sft_data: pl.DataFrame) -> MaterializeResult:
    from transformers import AutoTokenizer

    settings = SftSettings.from_config(config)
    domain = context.partition_key
    if not applies(domain) or step_sft_data.is_empty():
        reason = "domain not step-wise" if not applies(domain) else "no step_sft_data rows"
        context.log.warning(f"{domain}: {reason}; no M1")
        return MaterializeResult(metadata={"trained": False, "reason": reason})
    start, final = base_model_path(), paths.checkpoint_dir("m1_model", domain)
    rows, report = training_rows(step_sft_data, step_sft_data.head(0), AutoTokenizer.from_pretrained(start), settings)
    if not rows:
        context.log.warning(f"{domain}: every step_sft_data row is too_long; no M1")
        return MaterializeResult(
            metadata={"trained": False, "reason": "every row is too_long", **rows_fit_metadata(report)}
        )
    trainer = masked_sft_trainer(start, rows, settings, str(trainer_dir(final)))
    card = {
        "asset": "m1_model",
        "domain": domain,
        "initial_model": start,
        "data_ids": [r["id"] for r in rows],
        **report,
    }
    out = fit(trainer, final, card, settings, prompt_format="stepwise", log=context.log.info)
    return MaterializeResult(
        metadata={**trained_metadata(out, final, f"m1_model · {domain}", ("loss",)), **rows_fit_metadata(report)}
    )
