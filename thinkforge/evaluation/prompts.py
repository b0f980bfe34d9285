"""The prompt formats a checkpoint is trained in, and the prompt of each, built by the trainer's own builder.

- `distill`: the distillation prompt (`rows.conversation`: the configured system prompt, the domain's template);
  the teacher's format and the default of a model with no recorded format (`extra_models`).
- `s2r`: S²R's system prompt and the bare problem (`s2r.actions.conversation`), as `sft_model`'s trajectories and
  `rl_model`'s prompts are built.
- `stepwise`: PSRLM's "Step n" reasoning prompt (`stepwise.data.reasoning_prompt`), as `m1_model`'s IFT rows and
  the step-DPO iterations are built.

A checkpoint's card names its format (`prompt_format`, written by `training.runner.fit`).
"""

from __future__ import annotations

import hashlib
import json

from thinkforge.rows import conversation
from thinkforge.rows import prompt_id as distill_prompt_id
from thinkforge.s2r.actions import conversation as s2r_conversation
from thinkforge.stepwise.steps import reasoning_prompt

PROMPT_FORMATS = ("distill", "s2r", "stepwise")


def known_format(prompt_format: str) -> str:
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"unknown prompt format {prompt_format!r}: one of {', '.join(PROMPT_FORMATS)}")
    return prompt_format


def prompt(prompt_format: str, domain: str, problem: str, system_prompt: str) -> list[dict]:
    """The conversation a model trained in `prompt_format` is asked (`system_prompt`: the distill format's only)."""
    if known_format(prompt_format) == "s2r":
        return s2r_conversation(domain, problem)
    if prompt_format == "stepwise":
        return reasoning_prompt(problem, domain)
    return conversation(domain, problem, system_prompt)


def prompt_id(prompt_format: str, domain: str, system_prompt: str) -> str:
    """Names the prompt: the distill stage's id for `distill`, else `<format>_<domain>@<hash of the prompt>`."""
    if prompt_format == "distill":
        return distill_prompt_id(domain, system_prompt)
    shape = json.dumps(prompt(prompt_format, domain, "{problem}", system_prompt))
    return f"{prompt_format}_{domain}@{hashlib.sha1(shape.encode()).hexdigest()[:8]}"
