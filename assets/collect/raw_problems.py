"""raw_problems: the problem pool collected from the configured sources, one partition per domain."""

import hashlib
from pathlib import Path

from dagster import AssetExecutionContext, Config, DataVersion, Failure, MetadataValue, Output, asset
from pydantic import Field

from assets.common.metadata import counts_table, stage_metadata, tables
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from thinkforge import collect, paths
from thinkforge.collect.inbox import inbox_sources
from thinkforge.plots import bar_png, markdown_image
from thinkforge.stage import StageOutput


class RawProblemsConfig(Config):
    sources_file: str = Field(
        "", description="the sources YAML for this run; empty: THINKFORGE_SOURCES, else data/sources.yaml"
    )
    include_inbox: bool = Field(
        True, description="also read files dropped under THINKFORGE_HOME/inbox/<format>/[<domain>/]"
    )


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet", "duckdb"},
    code_version=code_version(__file__),
    description="Raw problems from real source formats with domain, info type, reference answer / tests and existing responses.",
)
def raw_problems(context: AssetExecutionContext, config: RawProblemsConfig) -> Output[StageOutput]:
    domain = context.partition_key
    path = Path(config.sources_file).resolve() if config.sources_file else paths.sources_file()
    try:
        specs = collect.load(path)
    except collect.ConfigError as exc:
        raise Failure(description=f"Fix the sources configuration: {exc}") from exc
    if config.include_inbox:
        inbox, warnings = inbox_sources(paths.inbox_dir())
        for warning in warnings:
            context.log.warning(warning)
        specs += inbox
    context.log.info(f"collecting {domain} from {sum(s.may_yield(domain) for s in specs)} sources in {path}")
    out = collect.collect(specs, domain, log=context.log.info)
    metadata = stage_metadata(out, ["id", "source", "info_type", "problem", "reference_answer"])
    metadata.update(
        {
            "sources_file": str(path),
            "with_existing_responses": int((out.kept["responses"].list.len() > 0).sum()) if out.kept.height else 0,
        }
    )
    metadata.update(
        tables(
            rows_by_source=(counts_table(out.kept, "source"), "source"),
            info_types=(counts_table(out.kept, "info_type"), "info type"),
        )
    )
    if out.kept.height:
        png = bar_png(counts_table(out.kept, "source"), f"raw_problems · {domain} · rows per source")
        metadata["rows_by_source_chart"] = MetadataValue.md(markdown_image(png, "rows per source"))
    # The pool's version is its rows (ids hash each row's content): a changed pool gives what is rebuilt on it new
    # versions in turn, and what is not rebuilt (the models) shows as unsynced in the UI.
    version = hashlib.sha256("\n".join(sorted(out.kept["id"].to_list())).encode()).hexdigest()[:16]
    return Output(out, metadata=metadata, data_version=DataVersion(version))
