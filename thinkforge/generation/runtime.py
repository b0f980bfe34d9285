"""The generation runtime: cache look-up, batched backend calls, retries, failure accounting."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from thinkforge.generation.backends import Backend
from thinkforge.generation.cache import RequestCache
from thinkforge.generation.retry import with_retries
from thinkforge.generation.types import Completion, GenerationStats, Messages, SamplingParams, request_key


class TooManyFailures(RuntimeError):
    """More than the allowed fraction of requests failed after all retries."""


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0


class Generator:
    """Chat messages in, `n` completions per prompt out; completed samples come from the cache."""

    def __init__(self, backend: Backend, cache: RequestCache, batch_size: int = 32, retry: RetryPolicy | None = None,
                 max_failed_fraction: float = 0.1, log: Callable[[str], None] = lambda _: None):
        self.backend, self.cache, self.batch_size = backend, cache, batch_size
        self.retry = retry or RetryPolicy()
        self.max_failed_fraction = max_failed_fraction
        self.log = log
        self.stats = GenerationStats()

    def _with_retries(self, fn):
        def on_retry(attempt, exc, delay):
            self.stats.retries += 1
            self.log(f"transient error ({type(exc).__name__}: {str(exc)[:120]}); retry {attempt}/{self.retry.max_retries} in {delay:.1f}s")

        return with_retries(fn, self.retry.max_retries, self.retry.base_delay_s, self.retry.max_delay_s, on_retry)

    def generate(self, conversations: list[Messages], params: SamplingParams, n: int = 1) -> list[list[Completion]]:
        """completions[i][s] is sample s of conversation i (seed = params.seed + s)."""
        started = time.monotonic()
        prompts = self.backend.render(conversations)
        keys = [[request_key(self.backend.model_id, p, params, s) for s in range(n)] for p in prompts]
        flat = [k for row in keys for k in row]
        hits = self.cache.get_many(flat)
        results: dict[str, Completion] = dict(hits)
        todo = [(keys[i][s], prompts[i], params.seed + s) for i in range(len(prompts)) for s in range(n) if keys[i][s] not in hits]
        todo.sort(key=lambda item: len(item[1]))  # similar lengths share a batch: less padding
        self.stats.requested += len(flat)
        self.stats.cache_hits += len(flat) - len(todo)
        self.log(f"{len(flat)} samples: {len(flat) - len(todo)} cached, {len(todo)} to generate with {self.backend.name}")
        done = 0
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            completions = self._run_batch(batch, params)
            self.cache.put_many(self.backend.model_id, [(key, c) for (key, _, _), c in zip(batch, completions)])
            for (key, _, _), c in zip(batch, completions):
                results[key] = c
                self.stats.calls += 1
                self.stats.failed += not c.ok
                self.stats.prompt_tokens += c.prompt_tokens
                self.stats.completion_tokens += c.completion_tokens
            done += len(batch)
            self.log(f"generated {done}/{len(todo)} ({self.stats.completion_tokens} tokens, {self.stats.failed} failed)")
        self.stats.wall_s += time.monotonic() - started
        if todo and self.stats.failed / max(1, self.stats.calls) > self.max_failed_fraction:
            raise TooManyFailures(f"{self.stats.failed} of {self.stats.calls} requests failed (> {self.max_failed_fraction:.0%})")
        return [[results[k] for k in row] for row in keys]

    def _run_batch(self, batch, params: SamplingParams) -> list[Completion]:
        prompts, seeds = [p for _, p, _ in batch], [s for _, _, s in batch]
        try:
            return self._with_retries(lambda: self.backend.generate(prompts, params, seeds, self._with_retries))
        except Exception as exc:  # noqa: BLE001 - the batch becomes failed rows, recorded downstream
            self.log(f"batch of {len(batch)} failed: {type(exc).__name__}: {str(exc)[:200]}")
            return [Completion(text=None, error=f"{type(exc).__name__}: {exc}"[:500]) for _ in batch]
