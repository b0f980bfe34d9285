"""Evaluation of checkpoints on held-out problems: generation, verification, S²R behaviour metrics, comparison."""

from thinkforge.evaluation.behaviour import RETRY, VERIFY, Behaviour, parse_actions, verification_verdict
from thinkforge.evaluation.evaluate import (
    STAGE,
    EvalSettings,
    base_formats,
    generate_rows,
    grade,
    parse_extra,
    pick_problems,
    report,
)
from thinkforge.evaluation.metrics import METRICS, compare, markdown, summarize
from thinkforge.evaluation.prompts import PROMPT_FORMATS, prompt

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
    "pick_problems",
    "report",
    "METRICS",
    "compare",
    "markdown",
    "summarize",
    "PROMPT_FORMATS",
    "prompt",
]
