"""The generation runtime: cache look-up, batched backend calls, failure accounting."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from thinkforge.generation.backends import Backend
from thinkforge.generation.cache import PostgresRequestCache, RequestCache
from thinkforge.generation.types import Completion, GenerationStats, Messages, SamplingParams, request_key


class TooManyFailures(RuntimeError):
    """More than the allowed fraction of requests failed after all retries."""


class Generator:
    """Chat messages in, `n` completions per prompt out; completed samples come from the cache."""

    def __init__(
        self,
        backend: Backend,
        cache: RequestCache | PostgresRequestCache,
        batch_size: int = 32,
        max_failed_fraction: float = 0.1,
        log: Callable[[str], None] = lambda _: None,
        role: str = "",
    ):
        self.backend, self.cache, self.batch_size, self.role = backend, cache, batch_size, role
        self.max_failed_fraction = max_failed_fraction
        self.log = log
        self.stats = GenerationStats()

    def generate(self, conversations: list[Messages], params: SamplingParams, n: int = 1) -> list[list[Completion]]:
        """completions[i][s] is sample s of conversation i (seed = params.seed + s).

        All pending samples go to the backend at once (up to its `max_inflight`; transformers: `batch_size`),
        and each completion is written to the cache as soon as it arrives, so a killed run resumes exactly.
        """
        started = time.monotonic()
        prompts = self.backend.render(conversations)
        keys = [[request_key(self.backend.model_id, p, params, s) for s in range(n)] for p in prompts]
        flat = [k for row in keys for k in row]
        hits = self.cache.get_many(flat)
        results: dict[str, Completion] = dict(hits)
        todo = [
            (keys[i][s], prompts[i], params.seed + s)
            for i in range(len(prompts))
            for s in range(n)
            if keys[i][s] not in hits
        ]
        todo = list({item[0]: item for item in todo}.values())  # one call per distinct key
        todo.sort(key=lambda item: len(item[1]))  # similar lengths side by side: less padding
        self.stats.requested += len(flat)
        self.stats.cache_hits += len(flat) - len(todo)
        self.log(
            f"{len(flat)} samples: {len(flat) - len(todo)} cached, {len(todo)} to generate with {self.backend.name}"
        )
        step = self.backend.chunk_size(len(todo), self.batch_size)
        retries_before = self.backend.retries
        done = 0
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            pending: list[tuple[str, Completion]] = []
            last_flush = time.monotonic()
            stream = self.backend.stream([p for _, p, _ in chunk], params, [s for _, _, s in chunk])
            for index, completion in stream:
                key = chunk[index][0]
                results[key] = completion
                pending.append((key, completion))
                self._count(completion)
                done += 1
                if len(pending) >= 32 or time.monotonic() - last_flush > 2.0:
                    self._flush(pending, done, len(todo))
                    pending, last_flush = [], time.monotonic()
            self._flush(pending, done, len(todo))
        self.stats.retries += self.backend.retries - retries_before
        self.stats.wall_s += time.monotonic() - started
        if todo and self.stats.failed / max(1, self.stats.calls) > self.max_failed_fraction:
            errors = Counter(c.error for row in keys for k in row if not (c := results[k]).ok)
            raise TooManyFailures(
                f"{self.role or 'generation'}: {self.stats.failed} of {self.stats.calls} requests to "
                f"{self.backend.model_id} at {self.backend.endpoint} failed after {self.backend.max_retries} retries "
                f"(> {self.max_failed_fraction:.0%}); most common error: {errors.most_common(1)[0][0]}"
            )
        return [[results[k] for k in row] for row in keys]

    def _flush(self, pending: list[tuple[str, Completion]], done: int, total: int) -> None:
        """Cache what arrived since the last flush and report progress."""
        self.cache.put_many(self.backend.model_id, pending)
        self.log(f"generated {done}/{total} ({self.stats.completion_tokens} tokens, {self.stats.failed} failed)")

    def _count(self, completion: Completion) -> None:
        self.stats.calls += 1
        self.stats.failed += not completion.ok
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.completion_tokens
