"""sft_dataset: verified thinking responses + reconstructed CoT rows, deduplicated, exported for TRL."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.metadata import counts_table, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from thinkforge import paths
from thinkforge.plots import histogram_png, markdown_image
from thinkforge.refinement import build_sft_dataset, export


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet", "huggingface"},
    code_version=code_version(__file__),
    description="The SFT training set of the domain: verified responses that carry a thinking trace plus "
    "cot_sft_data.\n\n"
    "- exact duplicates removed, origin kept\n"
    "- also saved with `datasets.save_to_disk` at `$THINKFORGE_HOME/datasets/sft_dataset/<domain>/` with a dataset "
    "card",
)
def sft_dataset(
    context: AssetExecutionContext, verified_responses: pl.DataFrame, cot_sft_data: pl.DataFrame
) -> Output:
    domain = context.partition_key
    out = build_sft_dataset(verified_responses, cot_sft_data)
    folder = export(out.kept, paths.home() / "datasets" / "sft_dataset" / domain, domain)
    context.log.info(f"saved {out.kept.height} rows to {folder}")
    metadata = stage_metadata(out, ["id", "origin", "source", "messages"])
    metadata.update(
        tables(
            origins=(counts_table(out.kept, "origin"), "origin"), sources=(counts_table(out.kept, "source"), "source")
        )
    )
    metadata["dataset_path"] = MetadataValue.path(str(folder))
    if out.report.assistant_chars:
        png = histogram_png(out.report.assistant_chars, "assistant turn length", "characters")
        metadata["length"] = MetadataValue.md(markdown_image(png, "assistant turn length"))
    return Output(out, metadata=metadata)
