"""deduped_problems: decontaminated, exact- and near-duplicate-free problems, incremental across runs."""

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.common.config import run_config
from assets.common.metadata import markdown_table, stage_metadata
from assets.common.partitions import domain_partitions
from assets.common.versions import code_version
from resources.embedding import EmbedderResource
from thinkforge import paths
from thinkforge.dedup import DedupSettings, DedupStore, dedup
from thinkforge.evalsets import eval_sets_file, load_eval_items
from thinkforge.plots import histogram_png, markdown_image
from thinkforge.stage import StageOutput

DedupConfig = run_config(DedupSettings)


def _histogram(values: list[float]) -> str:
    edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0001]
    counts, _ = np.histogram(values, bins=edges)
    rows = ["| nearest-neighbour cosine | rows |", "|---|---|"]
    rows += [f"| {lo:.2f}–{min(hi, 1.0):.2f} | {c} |" for lo, hi, c in zip(edges, edges[1:], counts)]
    return "\n".join(rows)


def _similarity_chart(values: list[float], threshold: float) -> str:
    if not values:
        return "no rows"
    title = f"nearest-neighbour cosine of each row (merge threshold {threshold})"
    return markdown_image(histogram_png(values, title=title, xlabel="cosine to the nearest other row"), title)


def _embedded_rows(report, rows: int) -> str:
    if report.decisions_reused:
        return (
            f"{report.embedded} new vectors: {rows - report.decisions_reused} new rows were decided against the rows "
            f"of their constants blocks; the {report.decisions_reused} rows decided before keep their decision "
            "(the histogram covers the rows searched now)"
        )
    if report.mode == "all":
        return f"all {rows} rows (the similarity histogram covers every row)"
    return (
        f"{report.prefilter_candidates} of {rows} rows: those static vectors paired with another row of equal "
        "constants or with an eval item (the histogram covers these rows)"
    )


@asset(
    partitions_def=domain_partitions,
    io_manager_key="warehouse_io",
    kinds={"parquet", "faiss"},
    code_version=code_version(__file__),
    description="Problems after decontamination against eval sets, exact dedup and template-aware embedding dedup (FAISS).",
)
def deduped_problems(
    context: AssetExecutionContext, config: DedupConfig, embedder: EmbedderResource, raw_problems: pl.DataFrame
) -> Output[StageOutput]:
    domain = context.partition_key
    dedup_settings = DedupSettings.from_config(config)
    eval_items = load_eval_items()  # the sets of the eval-sets YAML, the same ones model_eval scores on
    store = DedupStore(paths.home() / "index" / "dedup" / domain)
    eval_store = DedupStore(paths.home() / "index" / "eval")  # eval-set embeddings, shared by the domains
    out = dedup(
        raw_problems,
        embedder.embed,
        store,
        dedup_settings,
        eval_items,
        eval_store,
        log=context.log.info,
        prefilter=embedder.static_embed,
    )
    metadata = stage_metadata(out, ["id", "source", "cluster_size", "problem"])
    merged = [{"problem": a, "kept": b, "cosine": round(s, 3)} for a, b, s in out.report.pairs_merged]
    apart = [
        {"problem": a, "other": b, "cosine": round(s, 3), "why": why} for a, b, s, why in out.report.pairs_kept_apart
    ]
    metadata.update(
        {
            "exact_duplicates": out.report.exact_duplicates,
            "near_duplicates": out.report.near_duplicates,
            "contaminated": out.report.contaminated,
            "embedded_rows": MetadataValue.md(_embedded_rows(out.report, raw_problems.height)),
            "clusters_merged": out.report.clusters,
            "embedded_new": out.report.embedded,
            "embeddings_reused": out.report.embeddings_reused,
            "decided_now": raw_problems.height - out.report.decisions_reused,
            "decisions_reused": out.report.decisions_reused,
            "similarity_histogram": MetadataValue.md(_histogram(out.report.max_similarity)),
            "similarity_chart": MetadataValue.md(
                _similarity_chart(out.report.max_similarity, dedup_settings.threshold)
            ),
            "pairs_merged": MetadataValue.md(
                markdown_table(pl.DataFrame(merged), ["cosine", "problem", "kept"]) if merged else "none"
            ),
            "pairs_kept_apart": MetadataValue.md(
                markdown_table(pl.DataFrame(apart), ["cosine", "why", "problem", "other"]) if apart else "none"
            ),
            "eval_items": len(eval_items),
            "eval_sets_file": MetadataValue.path(str(eval_sets_file())),
        }
    )
    if out.report.guard_blocked is not None:  # searched only when every row has a sentence vector
        metadata["template_guard_blocked"] = out.report.guard_blocked
    return Output(out, metadata=metadata)
