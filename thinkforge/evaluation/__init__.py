"""Evaluation of checkpoints on held-out problems: generation, verification, S²R behaviour metrics, comparison."""

from thinkforge.evaluation.evaluate import (
    STAGE,
    EvalSettings,
    base_formats,
    first_problems_per_eval_set,
    generate_rows,
    grade,
    parse_extra,
    report,
)
from thinkforge.evaluation.metrics import METRICS, compare, markdown, summarize
from thinkforge.evaluation.prompts import PROMPT_FORMATS, prompt
from thinkforge.s2r.actions import RETRY, VERIFY, Behaviour, parse_actions, verification_verdict

__all__ = [
    "RETRY",
    "VERIFY",
    "Behaviour",
    "parse_actions",
    "verification_verdict",
    "STAGE",
    "EvalSettings",
    "base_formats",
    "generate_rows",
    "grade",
    "parse_extra",
    "first_problems_per_eval_set",
    "report",
    "METRICS",
    "compare",
    "markdown",
    "summarize",
    "PROMPT_FORMATS",
    "prompt",
]
