"""deduped_problems: decontaminated, exact- and near-duplicate-free problems, incremental across runs."""

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MetadataValue, Output, asset

from assets.common.metadata import markdown_table, stage_metadata
from assets.common.partitions import domain_partitions
from assets.common.config import settings_from
from assets.common.versions import code_version
from resources.embedding import EmbedderResource
from thinkforge import paths
from thinkforge.dedup import DedupSettings, DedupStore, dedup
from thinkforge.evalsets import DEFAULT_EVAL_SETS, load_eval_set
from thinkforge.stage import StageOutput


class DedupConfig(Config):
    threshold: float = 0.9  # cosine for near duplicates (the AM team used > 0.9)
    index: str = "flat"  # flat | ivf
    nprobe: int = 8
    template_guard: bool = True  # same template, other numbers/tests: not a duplicate
    source_preference: list[str] = []
    eval_sets: list[str] = list(DEFAULT_EVAL_SETS)  # "humaneval" or JSONL files with `problem`
    ngram: int = 8
    contamination_threshold: float = 0.95


def _histogram(values: list[float]) -> str:
    edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0001]
    counts, _ = np.histogram(values, bins=edges)
    rows = ["| nearest-neighbour cosine | rows |", "|---|---|"]
    rows += [f"| {lo:.2f}–{min(hi, 1.0):.2f} | {c} |" for lo, hi, c in zip(edges, edges[1:], counts)]
    return "\n".join(rows)


@asset(partitions_def=domain_partitions, io_manager_key="warehouse_io", kinds={"parquet", "faiss"},
       code_version=code_version("dedup", "evalsets.py"),
       description="Problems after decontamination against eval sets, exact dedup and template-aware embedding dedup (FAISS).")
def deduped_problems(context: AssetExecutionContext, config: DedupConfig, embedder: EmbedderResource,
                     raw_problems: pl.DataFrame) -> Output[StageOutput]:
    domain = context.partition_key
    eval_items: dict[str, str] = {}
    for name in config.eval_sets:
        eval_items.update(load_eval_set(name))
    dedup_settings = settings_from(config, DedupSettings)
    store = DedupStore(paths.home() / "index" / "dedup" / domain)
    eval_store = DedupStore(paths.home() / "index" / "eval")  # eval-set embeddings, shared by the domains
    out, report = dedup(raw_problems, embedder.embed, store, dedup_settings, eval_items, eval_store, log=context.log.info)
    metadata = stage_metadata(out, ["id", "source", "cluster_size", "problem"])
    merged = [{"problem": a, "kept": b, "cosine": round(s, 3)} for a, b, s in report.pairs_merged]
    apart = [{"problem": a, "other": b, "cosine": round(s, 3), "why": why} for a, b, s, why in report.pairs_kept_apart]
    metadata.update({
        "exact_duplicates": report.exact_duplicates,
        "near_duplicates": report.near_duplicates,
        "contaminated": report.contaminated,
        "template_guard_blocked": report.guard_blocked,
        "clusters_merged": report.clusters,
        "embedded_new": report.embedded,
        "embeddings_reused": report.embeddings_reused,
        "similarity_histogram": MetadataValue.md(_histogram(report.max_similarity)),
        "pairs_merged": MetadataValue.md(markdown_table(pl.DataFrame(merged), ["cosine", "problem", "kept"]) if merged else "none"),
        "pairs_kept_apart": MetadataValue.md(markdown_table(pl.DataFrame(apart), ["cosine", "why", "problem", "other"]) if apart else "none"),
        "eval_items": len(eval_items),
    })
    return Output(out, metadata=metadata)
