"""The response rules: format, repetition, length, language and safety, each a "pass" / "fail: why" verdict.

verified_responses applies all of them, cot_sft_data to its reconstructed chains, model_eval reads the format rule.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from thinkforge.selection.language import detect
from thinkforge.stage import StageSettings
from thinkforge.thinking import OPEN, after_thinking, has_closed_thinking
from thinkforge.verify.code import extract_program

DEFAULT_SAFETY = [
    r"\b(synthesi[sz]e|make|build)\b.{0,40}\b(nerve agent|sarin|ricin|pipe bomb|explosive device)\b",
    r"\b(ransomware|keylogger)\b.{0,40}\b(code|source|build)\b",
    r"\bchild sexual\b",
]


class RuleSettings(StageSettings):
    """The thresholds of the repetition, length and safety rules."""

    ngram: int = Field(20, description="n-gram length (tokens) of the repetition rule")
    max_repeats: int = Field(20, description="a long output fails when one n-gram repeats more than this many times")
    long_tokens: int = Field(
        2000, description="below this many tokens the allowed repeats scale down (never under min_repeats)"
    )
    min_repeats: int = Field(3, description="floor of the allowed repeats in short outputs")
    max_chars: dict[str, int] = Field(
        default_factory=lambda: {"math": 32000, "code": 32000, "science": 16000, "chat": 16000},
        description="per domain: maximum response length in characters",
    )
    min_chars: int = Field(1, description="minimum response length in characters")
    safety_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SAFETY), description="regexes that fail the safety rule"
    )


def check_format(row: dict) -> str:
    text, domain = row["response"] or "", row["domain"]
    if row["finish_reason"] == "length":
        return "fail: truncated (finish_reason=length)"
    if row["origin"] == "teacher" or OPEN in text:
        if not has_closed_thinking(text):
            return "fail: no closed <think>…</think> block"
    answer = after_thinking(text).strip()
    if not answer:
        return "fail: nothing after the reasoning"
    if domain == "math" and "\\boxed" not in answer and row["origin"] == "teacher":
        return "fail: no \\boxed{} final answer"
    if domain == "code" and extract_program(text) is None and not (row["origin"] == "source" and "```" not in text):
        return "fail: no ```python code block"  # human solutions in the sources are bare code
    return "pass"


# CJK scripts are written without spaces: every character is its own token; other text splits on whitespace.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def repetition_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def check_repetition(text: str, s: RuleSettings) -> str:
    tokens = repetition_tokens(text)
    n = s.ngram
    limit = (
        s.max_repeats
        if len(tokens) >= s.long_tokens
        else max(s.min_repeats, round(s.max_repeats * len(tokens) / s.long_tokens))
    )
    if len(tokens) < n:
        return "pass"
    gram, count = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)).most_common(1)[0]
    return (
        f"fail: a {n}-token n-gram repeats {count} times (> {limit}): {' '.join(gram)[:80]!r}"
        if count > limit
        else "pass"
    )


def check_length(row: dict, s: RuleSettings) -> str:
    size, top = len(row["response"] or ""), s.max_chars.get(row["domain"], 32000)
    return "pass" if s.min_chars <= size <= top else f"fail: {size} chars outside [{s.min_chars}, {top}]"


def check_language(row: dict) -> str:
    asked, _ = detect(row["problem"])
    answered, prob = detect(after_thinking(row["response"]))
    if "und" in (asked, answered) or asked == answered or prob < 0.9:
        return "pass"
    return f"fail: problem in {asked}, answer in {answered}"


def check_safety(text: str, patterns: list[str]) -> str:
    hit = next((p for p in patterns if re.search(p, text, re.I | re.S)), None)
    return f"fail: matches safety rule {hit!r}" if hit else "pass"
