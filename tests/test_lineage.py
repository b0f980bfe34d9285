"""Row lineage: the trace_row job on a materialized first half, the shared renderer, every judgment labelled."""

import html
import io
import shutil
from contextlib import redirect_stdout

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

import definitions
from assets import DATA_GROUPS, assets_in_groups, is_warehouse_asset
from jobs.trace import TRACE_JOBS, trace_row
from resources.generation import role_resources
from resources.warehouse import WarehouseResource
from thinkforge import cli, lineage, warehouse
from thinkforge.stage import StageOutput

FIRST_HALF = [a for a in assets_in_groups(*DATA_GROUPS) if is_warehouse_asset(a)]


def _tiny_reward_model(tiny_model, out):
    """A tiny one-head sequence-classification model (a real reward model's shape) on the tiny model's tokenizer."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(tiny_model)
    config.num_labels = 1
    torch.manual_seed(1)
    LlamaForSequenceClassification(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(out)
    return out


def _trace_job(row_id: str) -> str:
    instance = DagsterInstance.get()
    result = trace_row.execute_in_process(
        run_config={"ops": {"trace_lineage": {"config": {"row_id": row_id}}}},
        resources={"warehouse_store": WarehouseResource()},
        instance=instance,
    )
    assert result.success
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    markdown = output.event_specific_data.metadata["trace"].value
    assert result.output_for_node("trace_lineage") == markdown
    # the event log's text is plain: what the markdown view shows, without HTML entities
    [log] = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("# Lineage of row")]
    assert log == html.unescape(markdown) and "&lt;" not in log and "&amp;" not in log
    return markdown


@pytest.fixture
def first_half(home, tiny_model, tmp_path):
    """raw → verified_responses for math with the tiny model as every role and a tiny reward model."""
    reward = _tiny_reward_model(tiny_model, tmp_path / "reward")
    config = {
        "ops": {
            "distilled_responses": {"config": {"samples": 2, "max_tokens": 16}},
            "verified_responses": {"config": {"reward_model": str(reward)}},
        }
    }
    with DagsterInstance.get() as instance:
        result = materialize(
            FIRST_HALF,
            partition_key="math",
            instance=instance,
            resources={**definitions.defs.resources, **role_resources(str(tiny_model))},
            run_config=config,
        )
    assert result.success
    return home


def test_trace_row_job_shows_every_judgment_from_a_training_row_back_to_its_raw_row(first_half):
    home = first_half
    selected = warehouse.read_partition(home, "selected_problems", "math").filter(pl.col("category").is_not_null())
    verified = warehouse.read_partition(home, "verified_responses", "math")
    rejected = warehouse.read_partition(home, "verified_responses_rejects", "math")
    distilled = warehouse.read_partition(home, "distilled_responses", "math")
    # a correct source solution of a problem that has a category, and one of the teacher's samples of a problem
    parent_problem = dict(zip(distilled["id"], distilled["parent_ids"].list.first()))
    kept = next(
        r
        for r in verified.filter(pl.col("origin") == "source").to_dicts()
        if parent_problem[r["parent_ids"][0]] in set(selected["id"])
    )
    teacher = rejected.filter(pl.col("origin") == "teacher").row(0, named=True)

    md = _trace_job(kept["id"])
    for stage in (
        "verified_responses",
        "distilled_responses",
        "selected_problems",
        "deduped_problems",
        "raw_problems",
    ):
        assert f"{stage} [kept]" in md
    sections = {s.split(" [")[0].split(". ", 1)[1]: s for s in md.split("\n## ")[1:]}
    sel = sections["selected_problems"]  # the selection judgments, each with where it came from
    for column in ("difficulty", "difficulty_source", "quality", "quality_source", "language", "category"):
        assert f"- {column}: " in sel, column
    assert "where the quality came from" in sel and "- judge_status: " in sel
    ver = sections["verified_responses"]
    for column in ("verdict_format", "verdict_repetition", "verdict_length", "verdict_language", "verdict_safety"):
        assert f"- {column}: pass — rule: " in ver
    assert "- verdict_correct: correct — correctness: math-verify" in ver
    assert "- score_reward: " in ver and "reward model score" in ver  # the reward model's score of this response
    assert "teacher pass rate over K=2 samples of this problem" in ver
    assert "this response came with the source" in ver  # whose pass rate it is, not this response's
    assert "- cluster_size: " in sections["deduped_problems"]
    raw = sections["raw_problems"]
    assert f"raw source: {kept['source']}" in raw and "- info_type: reference_answer" in raw
    assert "<think>" not in md  # escaped for the web UI
    # carried fields are shown once, at the stage that set them
    assert "- difficulty_source" not in sections["verified_responses"]

    md = _trace_job(teacher["id"])
    assert "verified_responses [REJECTED]" in md and f"- reason: {teacher['reason']} — why the stage rejected" in md
    assert "this response is one of them" in md and "- origin: teacher" in md and "- finish_reason: " in md

    # the command line prints the same trace (unescaped for a terminal)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["--home", str(home), "lineage", teacher["id"]]) == 0
    chain = lineage.trace(home, teacher["id"])
    assert out.getvalue().strip() == lineage.render(chain) and md == lineage.render(chain, escape=True)


def test_a_row_that_is_not_stored_fails_the_run(home):
    result = trace_row.execute_in_process(
        run_config={"ops": {"trace_lineage": {"config": {"row_id": "0000000000000000"}}}},
        resources={"warehouse_store": WarehouseResource()},
        instance=DagsterInstance.get(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "row 0000000000000000 not found" in str(failure.event_specific_data.error.message)
    assert TRACE_JOBS == [trace_row]


def _write(home, asset, rows, rejects=()):
    kept = (
        pl.DataFrame(rows)
        if rows
        else pl.DataFrame({"id": [], "parent_ids": []}, schema={"id": pl.String, "parent_ids": pl.List(pl.String)})
    )
    rej = pl.DataFrame(list(rejects)) if rejects else kept.clear()
    warehouse.write_partition(home, asset, "science", StageOutput(kept, rej, kept.height + rej.height), f"run-{asset}")


def test_renderer_labels_judge_scores_and_unknown_stages_columns(home):
    """Hand-built rows for what the tiny model cannot produce: an LLM-judge rubric and a later stage's own columns."""
    _write(
        home,
        "raw_problems",
        [
            {
                "id": "r1",
                "parent_ids": [],
                "domain": "science",
                "source": "qa",
                "source_file": "qa.csv",
                "source_row": 4,
                "problem": "Why is the sky blue?",
                "info_type": "reference_answer",
                "reference_answer": "Rayleigh scattering",
            }
        ],
    )
    _write(
        home,
        "verified_responses",
        [
            {
                "id": "v1",
                "parent_ids": ["r1"],
                "domain": "science",
                "source": "qa",
                "response": "<think>light</think> Rayleigh scattering",
                "verdict_correct": "correct",
                "score_judge_correctness": 5,
                "score_judge_helpfulness": 4,
                "judge_verdict": "correct",
                "judge_safe": True,
                "score_reward_helpfulness": 1.25,
            }
        ],
    )
    _write(
        home,
        "sft_dataset",
        [
            {
                "id": "s1",
                "parent_ids": ["v1", "gone"],
                "domain": "science",
                "source": "qa",
                "origin": "verified_response",
                "checklist_score": 0.9,
                "verdict_consistency": "pass",
            }
        ],
    )
    md = lineage.render(lineage.trace(home, "s1"), escape=True)
    assert "## 1. sft_dataset [kept]" in md and "a training example of the SFT dataset" in md
    assert "not in the warehouse any more: gone" in md
    assert "- score_judge_correctness: 5 — LLM judge rubric: correctness, 1-5" in md
    assert "- judge_verdict: correct — LLM judge: the answer compared with the reference" in md
    assert "- judge_safe: true — LLM judge: the answer is safe" in md
    assert "- score_reward_helpfulness: 1.25 — reward model: helpfulness" in md
    assert "- verdict_consistency: pass — verdict: consistency" in md  # a later stage's verdict column
    assert "- checklist_score: 0.9" in md  # and any other field it stored
    assert "&lt;think&gt;light&lt;/think&gt;" in md
    assert "raw source: qa  file=qa.csv  row=4" in md
    shutil.rmtree(home / "warehouse" / "verified_responses")
    assert [h.stage for _, h in lineage.trace(home, "s1")] == ["sft_dataset"]


def test_id_index_is_rebuilt_when_a_partition_is_rewritten_and_optional(home):
    _write(
        home, "raw_problems", [{"id": "r1", "parent_ids": [], "domain": "science", "source": "qa", "problem": "A?"}]
    )
    _write(home, "deduped_problems", [{"id": "d1", "parent_ids": ["r1"], "domain": "science", "source": "qa"}])
    assert [h.stage for _, h in lineage.trace(home, "d1")] == ["deduped_problems", "raw_problems"]
    for asset in ("raw_problems", "raw_problems_rejects", "deduped_problems", "deduped_problems_rejects"):
        [index] = (lineage.index_dir(home) / asset).glob("*.parquet")  # one id index per stored file
        assert index.name.startswith("science.")
    _write(
        home, "raw_problems", [{"id": "r1", "parent_ids": [], "domain": "science", "source": "qa", "problem": "B?"}]
    )
    [raw] = [h for _, h in lineage.trace(home, "d1") if h.stage == "raw_problems"]
    assert raw.row["problem"] == "B?"  # the index of the rewritten file was rebuilt, the stale one removed
    assert len(list((lineage.index_dir(home) / "raw_problems").glob("science.*.parquet"))) == 1
    shutil.rmtree(lineage.index_dir(home))
    lineage.index_dir(home).parent.mkdir(parents=True, exist_ok=True)
    lineage.index_dir(home).write_text("not a folder")  # no index can be written: the data files are searched
    assert [h.row["id"] for _, h in lineage.trace(home, "d1")] == ["d1", "r1"]
    assert [h.asset for h in lineage.find(home, "r1")] == ["raw_problems"]


def test_trace_lists_ancestors_level_by_level_with_every_judgment_whole(home):
    """Two parents with a raw row each: both parents before either raw row; a long judgment is not cut."""
    detail = "the checker compared the stated answer with the reference " * 8
    raw = [
        {"id": f"r{i}", "parent_ids": [], "domain": "science", "source": "qa", "problem": f"Q{i}", "source_row": i}
        for i in (1, 2)
    ]
    _write(home, "raw_problems", raw)
    verified = [
        {"id": f"v{i}", "parent_ids": [f"r{i}"], "domain": "science", "source": "qa", "verdict_detail": detail}
        for i in (1, 2)
    ]
    _write(home, "verified_responses", verified)
    _write(home, "sft_dataset", [{"id": "s1", "parent_ids": ["v1", "v2"], "domain": "science", "source": "qa"}])
    chain = lineage.trace(home, "s1")
    assert [(depth, h.row["id"]) for depth, h in chain] == [(0, "s1"), (1, "v1"), (1, "v2"), (2, "r1"), (2, "r2")]
    md = lineage.render(chain, escape=True)
    assert f"- verdict_detail: {' '.join(detail.split())} — what the correctness check found" in md
    assert "…" not in md and not any(line.endswith("— why") for line in md.splitlines())
