"""CoT reconstruction's consistency checks, the SFT dataset union and its `datasets` export trained by TRL."""

import polars as pl

from thinkforge.generation import Completion
from thinkforge.refinement import CotSettings, build_sft_dataset, export, reconstruct
from thinkforge.refinement.cot import code_consistency, parse_consistency
from thinkforge.verify import MathVerifier


def refined(pid, domain, solution, reference=None):
    return {
        "id": pid,
        "parent_ids": ["c"],
        "domain": domain,
        "source": "s",
        "problem": f"Problem {pid}?",
        "reference_answer": reference,
        "test_cases": None,
        "solution": solution,
    }


def completer(cots: dict):
    """Summary calls get a summary; CoT calls get the scripted CoT of the problem named in the prompt."""

    def generate(conversations, params, n):
        out = []
        for c in conversations:
            text = c[-1]["content"]
            if "summarize" in text:
                out.append([Completion("Add the numbers.", finish_reason="stop")])
            else:
                pid = text.split("Problem ", 1)[1].split("?", 1)[0]
                out.append([Completion(cots[pid], finish_reason="length" if pid == "t" else "stop")])
        return out

    return generate


def test_cot_kept_only_when_it_concludes_the_solution_and_passes_the_rules():
    rows = [
        refined("a", "math", "So the answer is \\boxed{12}.", "12"),
        refined("b", "math", "So the answer is \\boxed{12}.", "12"),
        refined("t", "chat", "Sure."),
    ]
    cots = {"a": "7 + 5 = 12, so 12.", "b": "7 + 5 = 13, so the result is 13.", "t": "thinking that never ends"}
    with MathVerifier(workers=1) as math:
        out = reconstruct(pl.DataFrame(rows), completer(cots), "m", math, CotSettings(), log=lambda _: None)
    assert out.conserved and out.kept["parent_ids"].to_list() == [["a"]]
    kept = out.kept.to_dicts()[0]
    assert kept["messages"] == [
        {"role": "user", "content": "Problem a?"},
        {"role": "assistant", "content": "<think>\n7 + 5 = 12, so 12.\n</think>\n\nSo the answer is \\boxed{12}."},
    ]
    reasons = dict(zip([p[0] for p in out.rejects["parent_ids"].to_list()], out.rejects["reason"].to_list()))
    assert reasons == {"b": "consistency", "t": "format"}  # 13 ≠ 12; the chat CoT was truncated


def consistency_judge(prompts: list):
    """A judge that reads the CoT and the solution from the prompt: INCONSISTENT when the CoT's last number is not in
    the solution, no verdict for a CoT that hedges, CONSISTENT otherwise."""
    import re

    def judge(conversations):
        replies = []
        for c in conversations:
            text = c[-1]["content"]
            prompts.append(text)
            cot = text.split("Chain of thought:\n", 1)[1].split("\n\nFinal solution:", 1)[0]
            solution = text.split("Final solution:\n", 1)[1].split("\n\nDoes the chain", 1)[0]
            numbers = re.findall(r"\d+", cot)
            if "maybe" in cot:
                replies.append("Hard to say.")
            elif numbers and numbers[-1] not in solution:
                replies.append(
                    f"The reasoning ends on {numbers[-1]} m/s, the solution says otherwise.\nVERDICT: INCONSISTENT"
                )
            else:
                replies.append("Both say the same.\nVERDICT: CONSISTENT")
        return replies

    return judge


def test_science_and_chat_cots_are_checked_against_their_solution_by_the_judge():
    rows = [
        refined("s1", "science", "The 1 kg block leaves at 4 m/s.", "4 m/s"),
        refined("s2", "science", "The 1 kg block leaves at 4 m/s.", "4 m/s"),
        refined("s3", "science", "The 1 kg block leaves at 4 m/s.", "4 m/s"),
        refined("c", "chat", "Hello! How can I help?"),
        refined("t", "chat", "Sure."),
        refined("m", "math", "So the answer is \\boxed{12}.", "12"),
    ]
    cots = {
        "s1": "Momentum and energy are conserved, so the light block gets 4 m/s.",
        "s2": "Momentum is conserved, so the light block gets 9 m/s.",
        "s3": "The light block is faster, maybe.",
        "c": "The user greets me; greet back and offer help.",
        "t": "thinking that never ends",
        "m": "7 + 5 = 12.",
    }
    prompts = []
    with MathVerifier(workers=1) as math:
        out = reconstruct(
            pl.DataFrame(rows),
            completer(cots),
            "m",
            math,
            CotSettings(),
            log=lambda _: None,
            judge=consistency_judge(prompts),
        )
    assert out.conserved
    # only science and chat CoTs that passed the other rules reach the judge (not the truncated chat one, not math)
    assert len(prompts) == 4 and all("Chain of thought:" in p for p in prompts)
    reasons = dict(zip([p[0] for p in out.rejects["parent_ids"].to_list()], out.rejects["reason"].to_list()))
    assert reasons == {"s2": "consistency", "t": "format"}
    detail = out.rejects.filter(pl.col("reason") == "consistency")["detail"][0]
    assert detail.startswith("the judge finds it inconsistent with the solution") and "9 m/s" in detail
    assert sorted(p[0] for p in out.kept["parent_ids"].to_list()) == ["c", "m", "s1", "s3"]
    verdict = dict(zip([p[0] for p in out.kept["parent_ids"].to_list()], out.kept["verdict_consistency"].to_list()))
    assert verdict["s1"] == "pass" and verdict["s3"].startswith("skip")  # no verdict: kept, counted
    assert out.report.judge_consistency == {"consistent": 2, "inconsistent": 1, "no_verdict": 1}
    off = reconstruct(
        pl.DataFrame(rows[:2]),
        completer(cots),
        "m",
        None,
        CotSettings(judge_consistency=False),
        log=lambda _: None,
        judge=consistency_judge(prompts),
    )
    assert len(prompts) == 4 and off.kept.height == 2  # switched off: not asked


def test_a_reply_naming_both_verdicts_is_no_verdict():
    assert parse_consistency("VERDICT: CONSISTENT or VERDICT: INCONSISTENT") == (None, "")
    assert parse_consistency("It drifts.\n**Verdict:** inconsistent") == ("inconsistent", "It drifts.")


def test_code_cot_must_end_on_the_solution_program():
    solution = "Here:\n```python\ndef f(x):\n    return x + 1\n```"
    assert code_consistency("I will write f.", solution) == "pass"
    assert (
        code_consistency(
            "Draft:\n```python\ndef f(x):\n    return x+2\n```\nFinal:\n```python\ndef f(x):\n    return x + 1\n```",
            solution,
        )
        == "pass"
    )
    assert code_consistency("```python\ndef g(x):\n    return 0\n```", solution).startswith("fail")


def verified(pid, response, origin="teacher"):
    return {
        "id": pid,
        "parent_ids": ["d"],
        "domain": "math",
        "source": "s",
        "problem": "What is 2+2?",
        "reference_answer": "4",
        "test_cases": None,
        "model": "m",
        "response": response,
        "origin": origin,
    }


def cot_row(pid, cot, solution):
    return {
        "id": pid,
        "parent_ids": ["r"],
        "domain": "math",
        "source": "s",
        "problem": "What is 2+2?",
        "reference_answer": "4",
        "test_cases": None,
        "model": "c",
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": f"<think>\n{cot}\n</think>\n\n{solution}"},
        ],
    }


def test_sft_dataset_union_dedup_and_origins():
    v = pl.DataFrame(
        [
            verified("v1", "<think>\n2+2=4\n</think>\n\n\\boxed{4}"),
            verified("v2", "4", origin="source"),
        ]
    )
    c = pl.DataFrame([cot_row("c1", "2+2=4", "\\boxed{4}"), cot_row("c2", "two and two", "\\boxed{4}")])
    out = build_sft_dataset(v, c)
    assert out.conserved and out.rows_in == 4
    assert out.kept["origin"].to_list() == ["verified_response", "cot_sft_data"]
    reasons = dict(zip(out.rejects["reason"].to_list(), out.rejects["detail"].to_list()))
    assert set(reasons) == {"no_thinking_trace", "duplicate"} and out.kept["id"][0] in reasons["duplicate"]


def test_export_loads_with_datasets_and_one_sft_step_runs(tmp_path, tiny_model, monkeypatch):
    from datasets import load_from_disk
    from trl import SFTConfig, SFTTrainer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    c = pl.DataFrame([cot_row(f"c{i}", f"step {i}", "\\boxed{4}") for i in range(4)])
    out = build_sft_dataset(pl.DataFrame(schema={"id": pl.String, "problem": pl.String, "response": pl.String}), c)
    folder = export(out.kept, tmp_path / "sft_dataset" / "math", "math")
    card = (folder / "README.md").read_text()
    assert "| cot_sft_data | 4 |" in card and "load_from_disk" in card
    data = load_from_disk(str(folder))
    assert data.num_rows == 4 and data[0]["messages"][1]["role"] == "assistant"
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2,
        bf16=False,
        gradient_checkpointing=False,
        report_to=[],
        use_cpu=True,
        max_length=64,
        save_strategy="no",
    )
    trainer = SFTTrainer(model=str(tiny_model), train_dataset=data, args=args)
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def test_a_domain_with_no_rows_exports_an_empty_dataset_that_loads_and_a_card_that_says_so(tmp_path):
    from datasets import load_from_disk

    no_verified = pl.DataFrame(schema={"id": pl.String, "problem": pl.String, "response": pl.String})
    empty = build_sft_dataset(no_verified, pl.DataFrame([cot_row("c1", "2+2=4", "\\boxed{4}")]).head(0))
    assert empty.kept.height == 0
    folder = export(empty.kept, tmp_path / "sft_dataset" / "code", "code")
    data = load_from_disk(str(folder))
    assert data.num_rows == 0
    full = build_sft_dataset(no_verified, pl.DataFrame([cot_row("c1", "2+2=4", "\\boxed{4}")]))
    other = load_from_disk(str(export(full.kept, tmp_path / "sft_dataset" / "math", "math")))
    assert data.features == other.features and "messages" in data.column_names  # same columns, same types
    card = (folder / "README.md").read_text()
    assert "0 conversations" in card and "## No rows" in card and "returns an empty dataset (0 rows)" in card
