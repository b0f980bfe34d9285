"""Verification: math answers with math-verify, programs in a bubblewrap sandbox."""

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
