"""Math answers checked with math-verify in worker processes.

math-verify times out with signal.alarm, which only works in a main thread: each pair runs in
the main thread of a pool process, with math-verify's own limits, and a hard limit per chunk
on top (a stuck chunk's pairs become `timeout` verdicts and the pool is replaced).
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from thinkforge.answers import reference_forms, stated_answer
from thinkforge.thinking import after_thinking


@dataclass(frozen=True)
class MathVerdict:
    verdict: str  # correct | wrong | no_answer | text_reference | unparsed | timeout
    detail: str

    @property
    def passed(self) -> bool:
        return self.verdict == "correct"


def _gold_text(answer: str) -> str:
    answer = answer.strip()
    return answer if "\\boxed" in answer or answer.startswith("$") else f"\\boxed{{{answer}}}"


def check_pair(gold: str, response: str, timeout_s: int = 5) -> MathVerdict:
    """One pair, in the calling (main) thread. Only an answer the response states is compared (`stated_answer`:
    boxed, an answer phrase, or the closing sentence's value), never the last number it happens to contain; a
    response that states none is `no_answer` and a reference that is text ("No", "It is not possible") is
    `text_reference`: neither is a wrong answer."""
    from math_verify import parse, verify
    from math_verify.errors import TimeoutException  # a BaseException: `except Exception` misses it

    forms = reference_forms(gold)
    if forms is None:
        return MathVerdict("text_reference", f"the reference {gold[:80]!r} is text: math-verify cannot decide")
    answer_part = after_thinking(response)
    stated, basis = stated_answer(answer_part)
    if stated is None:
        return MathVerdict("no_answer", "no final answer stated (no \\boxed{}, answer phrase or concluding value)")
    try:
        parsed_answer = parse(answer_part if basis == "boxed" else _gold_text(stated), parsing_timeout=timeout_s)
        if not parsed_answer:
            return MathVerdict("unparsed", f"no parsable answer in the stated {stated[:80]!r} ({basis})")
        parsed = [parse(_gold_text(f), parsing_timeout=timeout_s, raise_on_error=True) for f in forms]
        parsed = [p for p in parsed if p]
        if not parsed:
            return MathVerdict("unparsed", "no parsable answer in reference")
        ok = any(verify(p, parsed_answer, timeout_seconds=timeout_s, raise_on_error=True) for p in parsed)
        detail = f"{parsed_answer[-1]} vs reference {parsed[0][-1]} (answer: {basis})"
        return MathVerdict("correct" if ok else "wrong", detail)
    except (TimeoutError, TimeoutException) as exc:
        return MathVerdict("timeout", f"math-verify timed out: {exc}")
    except Exception as exc:  # noqa: BLE001 - a verdict, never a crash
        kind = "timeout" if "timeout" in type(exc).__name__.lower() else "unparsed"
        return MathVerdict(kind, f"{type(exc).__name__}: {str(exc)[:200]}")


def _check_chunk(pairs: list[tuple[str, str]], timeout_s: int) -> list[MathVerdict]:
    return [check_pair(g, r, timeout_s) for g, r in pairs]


class MathVerifier:
    """Verifies (reference, response) pairs in parallel worker processes."""

    def __init__(self, workers: int = 2, timeout_s: int = 5, chunk: int = 32):
        self.workers, self.timeout_s, self.chunk = workers, timeout_s, chunk
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"))

    def verify(self, pairs: list[tuple[str, str]]) -> list[MathVerdict]:
        chunks = [pairs[i : i + self.chunk] for i in range(0, len(pairs), self.chunk)]
        futures = [self._pool.submit(_check_chunk, c, self.timeout_s) for c in chunks]
        out: list[MathVerdict] = []
        for chunk, future in zip(chunks, futures):
            try:
                out += future.result(timeout=self.timeout_s * 3 * len(chunk) + 30)
            except FutureTimeout:
                out += [MathVerdict("timeout", "hard limit: the worker did not answer") for _ in chunk]
                self._restart()
        return out

    def _restart(self) -> None:
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            proc.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
