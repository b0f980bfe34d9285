"""PSRLM's next step continues the model's own answer in the format M1 learned; EFT pairs from checked rollouts."""

from types import SimpleNamespace

import polars as pl
import pytest

from tests.conftest import SMOLLM2_SERVED
from tests.stepwise.test_stepwise import judge_by_score, sampler, steps_so_far
from thinkforge.generation import Completion, OpenAIBackend, SamplingParams, TransformersBackend, VLLMBackend
from thinkforge.generation.backends import render_chat
from thinkforge.stepwise import PreferenceSettings, StepDataSettings, build_step_data, run_tournament
from thinkforge.stepwise.dpo import tokenize_pairs
from thinkforge.stepwise.steps import next_step_prompt
from thinkforge.training.data import encode
from thinkforge.verify import AnswerChecker, MathVerifier

STEPS = ["3 * 4 = 12.", "2 + 12 = 14.", "So the answer is \\boxed{14}."]
SFT_ROW = {
    "id": "s1",
    "domain": "math",
    "source": "s",
    "problem": "What is 2 + 3 * 4?",
    "reference_answer": "14",
    "messages": [
        {"role": "user", "content": "What is 2 + 3 * 4?"},
        {"role": "assistant", "content": "\n".join(f"Step {n}: {s}" for n, s in enumerate(STEPS, 1))},
    ],
}


def test_the_tournament_prompt_of_a_step_prefix_has_the_ids_of_the_ift_answer_that_starts_with_it(tiny_model):
    """M1 trains on IFT rows; the tournament samples step k + 1 after the first k steps of such an answer and step-DPO
    trains on that prompt: all three must be the same token ids, the chosen step's ids those it has in the answer."""
    ift = build_step_data(pl.DataFrame([SFT_ROW]), None, None, "", StepDataSettings()).kept.row(0, named=True)
    assert ift["steps"] == STEPS
    backend = TransformersBackend(str(tiny_model))
    tokenizer = backend.tokenizer
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731 - as the backends tokenize
    answer_ids = encode(tokenizer, ift["messages"])["input_ids"]  # the IFT row as m1_model trains on it

    seen = []
    candidates = {n + 1: [step, "I like numbers.", "hm"] for n, step in enumerate(STEPS)}
    out = run_tournament(
        [{**SFT_ROW, "id": "p1"}],
        sampler(candidates, seen),
        judge_by_score(lambda step: step in STEPS),
        PreferenceSettings(candidates=3),
        1,
        "m",
        log=lambda _: None,
    )
    assert [steps_so_far(c) for c in seen] == [0, 1, 2]  # one sampling call per step, after the steps so far
    prompt_ids = []
    for conversation in seen:
        (rendered,) = backend.render([conversation])
        prompt_ids.append(ids(rendered))
        assert prompt_ids[-1] == answer_ids[: len(prompt_ids[-1])]
        # the vLLM engine renders and tokenizes the same way (`token_prompts` hands it these ids)
        (engine,) = VLLMBackend.token_prompts(SimpleNamespace(tokenizer=tokenizer), backend.render([conversation]))
        assert engine["prompt_token_ids"] == prompt_ids[-1]
    assert len(set(map(len, prompt_ids))) == 3 and prompt_ids[0] == ids(render_chat(tokenizer, seen[0][:1]))

    assert out.kept["chosen"].to_list() == STEPS
    rows, report = tokenize_pairs(out.kept, tokenizer, max_length=10_000)
    assert report["pairs_trained"] == 3 and report["prompts_shortened"] == 0
    for row, prompt in zip(rows, prompt_ids):
        assert row["prompt_ids"] == prompt  # step-DPO's prompt is the prompt the step was sampled from
        end = len(prompt) + len(row["chosen_ids"])
        assert row["chosen_ids"] == answer_ids[len(prompt) : end]  # "Step n: <step>" as inside the answer


def rollout_script(step_prompts: dict, rollouts: dict, seen: list):
    """Next-step calls (stop at "\\nStep ") answer from `step_prompts`; rollouts (no stop) continue the answer after
    its last step with `rollouts[last step]`."""

    def generate(conversations, params, n):
        out = []
        for c in conversations:
            seen.append((c, params))
            if params.stop:
                out.append([Completion(f"Step {steps_so_far(c) + 1}: {s}") for s in step_prompts[steps_so_far(c)][:n]])
            else:
                last = c[-1]["content"].rstrip("\n").rsplit("\n", 1)[-1].split(": ", 1)[1]
                out.append([Completion(rollouts[last], finish_reason="stop")] * n)
        return out

    return generate


@pytest.mark.parametrize("mode", ["reference_vs_policy", "policy_vs_policy"])
def test_eft_pairs_reference_vs_policy_or_two_policy_steps_checked_by_their_rollouts(mode):
    right, wrong, stuck = "Multiply first: 3 * 4 = 12.", "Add first: 2 + 3 = 5.", "Think about it."
    candidates = {k: [right, wrong, stuck] for k in range(3)}
    rollouts = {
        right: "Step 3: 2 + 12 = 14, so \\boxed{14}.",
        wrong: "Step 3: 5 * 4 = 20, so \\boxed{20}.",
        stuck: "Step 3: I am not sure.",  # no answer: unscorable, makes no pair
    }
    seen = []
    # the judge: the step that multiplies first is better; the reference's steps rank above any sampled step
    quality = lambda step: 2 if step in STEPS else 1 if step == right else 0  # noqa: E731
    settings = StepDataSettings(eft_problems=1, eft_candidates=3, eft_pairs=mode, rollout_max_tokens=64, seed=1)
    with MathVerifier(workers=1) as math:
        out = build_step_data(
            pl.DataFrame([SFT_ROW]),
            rollout_script(candidates, rollouts, seen),
            judge_by_score(quality),
            "m",
            settings,
            log=lambda _: None,
            check=AnswerChecker(math).check,
        )
    eft = out.kept.filter(pl.col("kind") == "eft").to_dicts()
    prefix_len = len(eft[0]["steps"]) - 2
    better, worse = zip(*[r["steps"][-2:] for r in eft])
    if mode == "reference_vs_policy":
        assert set(better) == {STEPS[prefix_len]} and set(worse) == {right, wrong, stuck}
        assert out.report.eft_rollouts == {} and all(p.stop for _, p in seen)  # no rollouts
    else:
        assert (better, worse) == ((right,), (wrong,))  # two policy steps; the reference's step is in no pair
        verdicts = out.report.eft_rollouts
        assert verdicts["correct"] == verdicts["wrong"] == 1 and sum(verdicts.values()) == 3
        rolled = [c for c, p in seen if not p.stop]
        assert len(rolled) == 3 and all(p.max_tokens == 64 for c, p in seen if not p.stop)
        # a rollout continues the answer: the reference's first steps, then the candidate as the next step
        assert rolled[0] == next_step_prompt(SFT_ROW["problem"], [*STEPS[:prefix_len], right])
    assert out.report.eft_pairs == mode and out.conserved


@pytest.mark.xdist_group("smollm2-server")
def test_the_openai_backend_continues_the_final_assistant_message_on_a_real_vllm_server(smollm2_server, smollm2):
    """A vLLM server continues the partial answer: it counts exactly the prompt ids the local backends render."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    conversation = next_step_prompt("What is 2 + 3 * 4?", ["3 * 4 = 12."])
    backend = OpenAIBackend(SMOLLM2_SERVED, smollm2_server, concurrency=1)
    try:
        (completion,) = backend.generate(
            backend.render([conversation]), SamplingParams(temperature=0.0, max_tokens=8), [0]
        )
    finally:
        backend.close()
    assert completion.ok, completion.error
    continued = tokenizer(render_chat(tokenizer, conversation), add_special_tokens=False)["input_ids"]
    new_turn = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert (
        completion.prompt_tokens == len(continued) != len(tokenizer(new_turn, add_special_tokens=False)["input_ids"])
    )
