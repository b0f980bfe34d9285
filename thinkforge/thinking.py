"""The thinking format of a response: `<think>` reasoning `</think>`, then the final answer."""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def after_thinking(text: str | None) -> str:
    """What follows the last `</think>`: the final answer (the whole text when there is no `</think>`)."""
    return (text or "").split(CLOSE)[-1]


def has_closed_thinking(text: str | None) -> bool:
    """A `<think>` block closed after it opens."""
    return bool(text) and OPEN in text and CLOSE in text.split(OPEN, 1)[1]


def with_thinking(reasoning: str, answer: str) -> str:
    """An assistant turn in the thinking format."""
    return f"{OPEN}\n{reasoning.strip()}\n{CLOSE}\n\n{answer.strip()}"
