"""sft_model: the initial policy fine-tuned on the domain's SFT dataset and / or S²R trajectories (action-masked loss)."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.common.checks import rows_fit_metadata
from assets.common.config import run_config
from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.metadata import tables
from assets.common.partitions import domain_partitions
from assets.common.training import Training
from assets.common.versions import code_version
from resources.generation import base_model_path
from thinkforge.training.sft import S2rSftSettings, masked_sft_trainer, training_rows

SftConfig = run_config(S2rSftSettings)


@asset(
    partitions_def=domain_partitions,
    kinds={"pytorch", "huggingface"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    deps=["base_model"],
    code_version=code_version(__file__),
    description="TRL SFT of the initial policy (base_model) on sft_dataset and s2r_trajectories.\n\n"
    "- run config `training_sets`: both, or either alone (s2r_trajectories alone is S²R's behaviour initialization)\n"
    "- trajectory tokens of earlier attempts and every prompt token get no loss; KL to the initial model (`kl_coef`)\n"
    "- HF folder at `$THINKFORGE_HOME/models/sft_model/<domain>/`, written atomically; a killed run resumes",
)
def sft_model(
    context: AssetExecutionContext, config: SftConfig, sft_dataset: pl.DataFrame, s2r_trajectories: pl.DataFrame
) -> MaterializeResult:
    from transformers import AutoTokenizer

    settings = S2rSftSettings.from_config(config)
    run, start = Training(context), base_model_path()
    rows, report = training_rows(sft_dataset, s2r_trajectories, AutoTokenizer.from_pretrained(start), settings)
    if not rows:
        reason = (
            "every row is too_long" if report["rows_dropped"] else f"no rows in training_sets={settings.training_sets}"
        )
        return run.skip(reason, training_sets=settings.training_sets, **rows_fit_metadata(report))
    context.log.info(
        f"{report['rows']} rows, {report['trained_tokens']} of {report['tokens']} tokens with loss; "
        f"{report['rows_dropped']} rows too_long left out"
    )
    trainer = masked_sft_trainer(start, rows, settings, run.trainer_dir)
    out, trained = run.fit(
        trainer,
        start,
        settings,
        "s2r",
        training_sets=settings.training_sets,
        data_ids=[r["id"] for r in rows],
        **report,
    )
    tokens_seen = int(max((h.get("num_tokens", 0) for h in out["history"]), default=0))  # TRL's running count
    metadata = {
        **trained,
        "training_sets": settings.training_sets,
        **tables(rows=(report["rows_by_kind"], "kind")),
        "tokens": report["tokens"],
        "tokens_with_loss": report["trained_tokens"],
        "tokens_masked": report["masked_tokens"],
        "tokens_seen": tokens_seen,
        "tokens_per_s": round(tokens_seen / out["wall_s"], 1) if out["wall_s"] else None,
        **rows_fit_metadata(report),
    }
    return MaterializeResult(metadata=metadata)
