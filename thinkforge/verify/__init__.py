"""Verification: math answers with math-verify, programs in a bubblewrap sandbox, and the one answer checker."""

from thinkforge.verify.checker import AnswerChecker, Judge, Verdict, judge_prompt, parse_judgement
from thinkforge.verify.code import (
    CodeVerdict,
    check_code,
    extract_program,
    program_of,
    source_language,
    verify_program,
    verify_programs,
)
from thinkforge.verify.mathcheck import MathVerdict, MathVerifier, check_pair
from thinkforge.verify.sandbox import Limits, RunResult, Sandbox, SandboxUnavailable

__all__ = [
    "AnswerChecker",
    "Judge",
    "Verdict",
    "judge_prompt",
    "parse_judgement",
    "CodeVerdict",
    "check_code",
    "extract_program",
    "program_of",
    "source_language",
    "verify_program",
    "verify_programs",
    "MathVerdict",
    "MathVerifier",
    "check_pair",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxUnavailable",
]
