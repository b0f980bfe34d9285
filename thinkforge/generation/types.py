"""Sampling parameters, completions and the request-cache key."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields

from thinkforge.ids import canonical_json

Messages = list[dict]  # [{"role": "system"|"user"|"assistant", "content": str}, ...]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0  # sample i of a prompt uses seed + i

    def key_fields(self) -> dict:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


@dataclass
class Completion:
    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None  # "stop" | "length" | None when failed
    error: str | None = None  # set when every retry failed; never cached
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class GenerationStats:
    requested: int = 0  # samples asked for
    cache_hits: int = 0
    calls: int = 0  # samples sent to the backend
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def __add__(self, other: GenerationStats) -> GenerationStats:
        """The figures of both runs together (wall times add: the roles of a stage run one after another)."""
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "extra"}
        return GenerationStats(**summed, extra={**self.extra, **other.extra})

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            **{k: v for k, v in asdict(self).items() if k != "extra"},
            "tokens_per_s": round(self.tokens_per_s, 2),
            **self.extra,
        }


def request_key(model_id: str, rendered_prompt: str, params: SamplingParams, sample_index: int) -> str:
    """Cache key: hash of (model id and revision, rendered prompt, sampling params, sample index)."""
    payload = canonical_json([model_id, rendered_prompt, params.key_fields(), sample_index])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
