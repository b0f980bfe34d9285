"""Step-wise preferences: the tournament on scripted verdicts, step splitting, step-DPO batches and training."""

import re

import polars as pl
import pytest
import torch

from thinkforge.generation import Completion, SamplingParams
from thinkforge.stepwise import PreferenceSettings, StepDpoSettings, run_tournament, step_dpo_trainer
from thinkforge.stepwise.steps import (
    VERDICT_CUE,
    clean_step,
    judge_prompt,
    judge_replies,
    parse_verdict,
    reasoning_prompt,
    split_lines,
    split_marked,
    template,
)
from thinkforge.stepwise.tournament import tally

PROBLEM = {"id": "p1", "domain": "math", "source": "s", "problem": "What is 2 + 3 * 4?", "reference_answer": "14"}


def steps_so_far(conversation) -> int:
    """The steps of the partial answer a next-step conversation continues: the reasoning prompt, then the
    assistant's own "Step 1: …" lines."""
    user, answer = conversation
    assert user["role"] == "user" and answer["role"] == "assistant"
    return len(re.findall(r"^Step \d+: ", answer["content"], re.M))


def sampler(steps_by_index, seen=None):
    """Candidates for step n (n = len(prefix) + 1) from a script; `seen` collects the conversations."""

    def generate(conversations, params, n):
        out = []
        for c in conversations:
            if seen is not None:
                seen.append(c)
            number = steps_so_far(c) + 1
            out.append([Completion(f"Step {number}: {s}", finish_reason="stop") for s in steps_by_index[number][:n]])
        return out

    return generate


def judge_by_score(score):
    """[[A]] when step A scores higher, [[B]] when lower, no verdict on a tie (asked again for the verdict alone, it
    still gives none)."""

    def generate(conversations, params, n):
        out = []
        for c in conversations:
            if c[-1]["role"] == "assistant":
                out.append([Completion("?", finish_reason="stop")])
                continue
            text = c[-1]["content"]
            a = text.split("[Step A]\n", 1)[1].split("\n\n[Step B]", 1)[0]
            b = text.split("[Step B]\n", 1)[1].split("\n\nAfter", 1)[0]
            verdict = "[[A]]" if score(a) > score(b) else "[[B]]" if score(a) < score(b) else "no idea"
            out.append([Completion(verdict, finish_reason="stop")])
        return out

    return generate


def test_tally_best_worst_and_consistency():
    verdicts = {(0, 1): "A", (1, 0): "B", (0, 2): "A", (2, 0): "B", (1, 2): "A", (2, 1): "A"}
    wins, consistency = tally(3, verdicts)
    assert wins == [4, 1, 1] and consistency == pytest.approx(2 / 3)  # (1, 2) flips with the order


def test_tournament_appends_the_best_records_best_vs_worst_and_stops_at_the_final_answer():
    steps = {
        1: ["3 * 4 = 12.", "2 + 3 = 5.", "I like numbers."],
        2: ["2 + 12 = 14, so \\boxed{14}.", "12 + 2 = 15.", "hm"],
    }
    quality = {
        "3 * 4 = 12.": 3,
        "2 + 3 = 5.": 1,
        "I like numbers.": 0,
        "2 + 12 = 14, so \\boxed{14}.": 3,
        "12 + 2 = 15.": 2,
        "hm": 0,
    }
    s = PreferenceSettings(candidates=3)
    out = run_tournament(
        [PROBLEM], sampler(steps), judge_by_score(lambda x: quality[x]), s, 1, "m", log=lambda _: None
    )
    pairs = out.kept.to_dicts()
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [
        ("3 * 4 = 12.", "I like numbers."),
        ("2 + 12 = 14, so \\boxed{14}.", "hm"),
    ]
    assert pairs[1]["prefix"] == ["3 * 4 = 12."] and pairs[0]["wins"] == [4, 2, 0] and pairs[0]["consistency"] == 1.0
    assert out.report.stops == {"final_answer": 1} and out.conserved


def test_a_chosen_step_cut_at_step_max_tokens_keeps_its_pair_and_ends_the_solution():
    """`make demo`'s SmolLM2 M1: after a previous step cut mid-sentence it opens the next step with a blank line, and
    the stop string "\nStep " leaves every candidate empty (a tie: the roll-back dropped the only pair)."""
    seen = []

    def generate(conversations, params, n):
        out = []
        for c in conversations:
            seen.append(c)
            if steps_so_far(c) == 0:
                out.append(
                    [
                        Completion("Step 1: 3 * 4 = 12, which we then add to", finish_reason="length"),
                        Completion("Step 1: 2 + 3 = 5.", finish_reason="stop"),
                        Completion("Step 1: I like numbers.", finish_reason="stop"),
                    ]
                )
            else:
                out.append([Completion("", finish_reason="stop")] * n)  # "\nStep 2: …" cut before it begins
        return out

    quality = {"3 * 4 = 12, which we then add to": 2, "2 + 3 = 5.": 1, "I like numbers.": 0}
    s = PreferenceSettings(candidates=3, max_rollbacks=1)
    out = run_tournament([PROBLEM], generate, judge_by_score(lambda x: quality[x]), s, 1, "m", log=lambda _: None)
    assert [(p["chosen"], p["rejected"]) for p in out.kept.to_dicts()] == [
        ("3 * 4 = 12, which we then add to", "I like numbers.")
    ]
    assert out.report.stops == {"step_cut": 1} and len(seen) == 1 and out.conserved


def test_all_ties_roll_back_one_step_and_the_step_cap_holds():
    steps = {n: ["same step", "same step!", "same step?"] for n in range(1, 30)}
    tie_at_2 = lambda x: 0  # noqa: E731 - every pair tied
    s = PreferenceSettings(candidates=3, max_rollbacks=2)
    out = run_tournament([PROBLEM], sampler(steps), judge_by_score(tie_at_2), s, 1, "m", log=lambda _: None)
    assert out.kept.is_empty() and out.rejects["reason"].to_list() == ["no_pair"] and out.report.rollbacks == 3

    # step 2 ties → its prefix rolls back to step 1 and the step-1 pair is dropped (kept in the rejects as rolled back)
    steps = {1: ["good", "bad", "ugly"], 2: ["x", "y", "z"], 3: ["good", "bad", "ugly"]}
    rank = {"good": 2, "bad": 1, "ugly": 0, "x": 0, "y": 0, "z": 0}
    out = run_tournament(
        [PROBLEM],
        sampler(steps),
        judge_by_score(lambda x: rank[x]),
        PreferenceSettings(candidates=3, max_steps=20, max_rollbacks=1),
        1,
        "m",
        log=lambda _: None,
    )
    assert "rolled_back" in out.rejects["reason"].to_list()

    endless = {n: ["a", "bb", "ccc"] for n in range(1, 30)}
    out = run_tournament(
        [PROBLEM],
        sampler(endless),
        judge_by_score(len),
        PreferenceSettings(candidates=3, max_steps=20),
        1,
        "m",
        log=lambda _: None,
    )
    assert out.kept.height == 20 and out.report.stops == {"max_steps": 1}  # never a final answer: capped at 20 steps


def test_step_parsing():
    assert split_marked("Step 1: a\nStep 2: b\n**Step 3:** c") == ["a", "b", "c"]
    assert split_marked("no steps") is None and split_lines("x\ny") == ["x", "y"]
    assert clean_step("Step 4: do it\nStep 5: more", 4) == "do it"
    assert (
        parse_verdict("... [[B]]") == "B"
        and parse_verdict("Step B is not right") == "A"
        and parse_verdict("hm") is None
    )


def test_a_reply_without_a_verdict_is_continued_after_its_own_reasoning_for_the_verdict():
    seen = []

    def judge(conversations, params, n):
        seen.append((conversations, params))
        if conversations[0][-1]["role"] == "user":  # the judgment: reasoning, cut before the verdict
            return [[Completion("Step B multiplies first, as it must", completion_tokens=8)] for _ in conversations]
        return [[Completion("B]]", completion_tokens=2)] for _ in conversations]

    prompts = [judge_prompt("What is 2 + 3 * 4?", [], "2 + 3 = 5.", "3 * 4 = 12.")]
    (reply,) = judge_replies(judge, prompts, SamplingParams(temperature=0.0, max_tokens=8))
    assert (
        reply.text == "Step B multiplies first, as it must" + VERDICT_CUE + "B]]" and parse_verdict(reply.text) == "B"
    )
    assert reply.completion_tokens == 10
    (cued,), params = seen[1]
    assert cued[:-1] == prompts[0] and cued[-1] == {
        "role": "assistant",
        "content": "Step B multiplies first, as it must" + VERDICT_CUE,
    }
    assert params.max_tokens == 2 and len(seen) == 2
    (plain,) = judge_replies(judge, prompts, SamplingParams(temperature=0.0, max_tokens=8), cue=False)
    assert parse_verdict(plain.text) is None and len(seen) == 3  # off: no verdict, no second call


def test_the_step_judge_reasons_first_ends_with_its_verdict_and_is_told_to_ignore_position_and_length():
    prompt = template("judge_pair.txt")
    verdict_asked = prompt.index('"[[A]]" if step A is better')
    assert verdict_asked > prompt.index("[Step B]") and prompt.rstrip().endswith('"[[B]]" if step B is better.')
    assert "Avoid any position biases" in prompt and "Do not allow the length of the steps" in prompt
    # the conclusion counts, not a remark on the way to it
    reply = "At first sight step B is better, but step A is not wrong and B drops a sign, so step A is better."
    assert parse_verdict(reply) == "A"
    assert parse_verdict("Step A is wrong: it adds first. Step B is correct. [[B]]") == "B"


@pytest.fixture
def pairs():
    return pl.DataFrame(
        [
            {
                "prompt": reasoning_prompt("What is 2 + 3 * 4?")[0]["content"],
                "prefix": [],
                "step_index": 1,
                "chosen": "3 * 4 = 12.",
                "rejected": "2 + 3 = 5.",
            },
            {
                "prompt": reasoning_prompt("What is 1 + 1 + 1?")[0]["content"],
                "prefix": ["1 + 1 = 2."],
                "step_index": 2,
                "chosen": "2 + 1 = 3.",
                "rejected": "2 + 1 = 4.",
            },
        ]
    )


def test_step_dpo_batches_have_no_eos_after_the_step_and_no_loss_on_the_prompt(tmp_path, tiny_model, pairs):
    settings = StepDpoSettings(
        max_steps=1, batch_size=2, gradient_accumulation_steps=1, learning_rate=1e-2, max_length=400
    )
    trainer = step_dpo_trainer(str(tiny_model), pairs, settings, str(tmp_path / "run"))
    batch = next(iter(trainer.get_train_dataloader()))
    eos = trainer.processing_class.eos_token_id
    row = trainer.train_dataset[0]
    assert row["chosen_ids"][-1] != eos and eos not in row["chosen_ids"] and eos not in row["rejected_ids"]
    tok = trainer.processing_class
    assert tok.decode(row["chosen_ids"]) == "Step 1: 3 * 4 = 12."
    n_prompt = len(row["prompt_ids"])
    mask = batch["completion_mask"][0].tolist()
    assert sum(mask[:n_prompt]) == 0 and sum(mask) == len(row["chosen_ids"])  # loss only on the step's tokens
    ids = batch["input_ids"][0].tolist()
    last = max(i for i, m in enumerate(mask) if m)
    assert ids[last] != eos  # the completion ends with the step itself
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    ref_equal = all(torch.equal(p, q) for p, q in zip(trainer.model.parameters(), trainer.ref_model.parameters()))
    assert ref_equal  # the reference is the starting model M_i
    trainer.train()
    assert any(not torch.equal(before[n], p.detach()) for n, p in trainer.model.named_parameters())


def test_an_interrupted_iteration_resumes_from_the_request_cache(home, tiny_model):
    """Every sampling and judging call of a tournament is cached: a re-run after a kill calls no model again."""
    from resources.generation import role_resource

    problems = [{**PROBLEM, "id": f"p{i}", "problem": f"What is {i} + {i}?"} for i in range(2)]
    settings = PreferenceSettings(candidates=2, step_max_tokens=8, judge_max_tokens=8, max_steps=2, max_rollbacks=1)
    outputs, stats = [], []
    for _ in range(2):
        with role_resource("policy", str(tiny_model)).generator(log=lambda _: None) as gen:
            outputs.append(
                run_tournament(problems, gen.generate, gen.generate, settings, 1, "tiny", log=lambda _: None)
            )
            stats.append(gen.stats)
    assert (
        stats[0].calls > 0 and stats[1].calls == 0 and stats[1].cache_hits == stats[1].requested == stats[0].requested
    )
    assert outputs[0].rejects.equals(outputs[1].rejects) and outputs[0].kept.equals(outputs[1].kept)
