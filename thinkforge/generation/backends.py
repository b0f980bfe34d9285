"""Generation backends: transformers (CPU/GPU), vLLM's offline engine, an OpenAI-compatible server.

Every backend renders chat messages to a prompt (the cache key uses it) and generates one
completion per (prompt, seed).
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from thinkforge.generation.retry import TransientError
from thinkforge.generation.types import Completion, Messages, SamplingParams

Retry = Callable[[Callable[[], Completion]], Completion]


def model_revision(model: str, revision: str | None = None) -> str:
    """A revision string for the cache key: given, else a fingerprint of a local folder's weights and configs.

    Two checkpoints of one architecture have the same file names and sizes, so the weights' bytes are
    hashed (`thinkforge.checkpoints.weights_fingerprint`, stored next to them and reused while unchanged).
    """
    if revision:
        return revision
    path = Path(model)
    if not path.is_dir():
        return "main"
    from thinkforge.checkpoints import weights_fingerprint

    digest = hashlib.sha256(weights_fingerprint(path).encode())
    for item in sorted(path.iterdir()):
        if item.is_file() and item.suffix in {".jinja", ".txt"}:
            digest.update(item.name.encode() + item.read_bytes())
    return digest.hexdigest()[:12]


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class Backend(ABC):
    name: str
    model_id: str  # model and revision, part of every cache key

    @abstractmethod
    def render(self, conversations: list[Messages]) -> list[str]:
        """Prompts as the model sees them (chat template applied)."""

    @abstractmethod
    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int], retry: Retry) -> list[Completion]:
        """One completion per prompt; prompts[i] is sampled with seeds[i].

        Engine backends raise on failure (the caller retries the batch); a server backend
        retries each request with `retry` and returns a failed Completion when it gives up.
        """

    def close(self) -> None:
        """Release the model."""


class _ChatTemplateMixin:
    tokenizer = None

    def render(self, conversations: list[Messages]) -> list[str]:
        return [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in conversations]


class TransformersBackend(_ChatTemplateMixin, Backend):
    """`generate` with left padding, real batches, on cuda when present."""

    name = "transformers"

    def __init__(self, model: str, revision: str | None = None, dtype: str = "auto", threads: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.device = device()
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = {"auto": torch.bfloat16 if self.device == "cuda" else torch.float32, "float32": torch.float32,
                       "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.model = AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=torch_dtype).to(self.device).eval()
        self.model_id = f"{model}@{model_revision(model, revision)}"

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int], retry: Retry) -> list[Completion]:
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        torch.manual_seed(seeds[0] if seeds else params.seed)
        sample = params.temperature > 0
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                max_new_tokens=params.max_tokens,
                do_sample=sample,
                temperature=params.temperature if sample else None,
                top_p=params.top_p if sample else None,
                top_k=None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1]:]
        eos = {self.tokenizer.eos_token_id, *([self.model.generation_config.eos_token_id] if isinstance(self.model.generation_config.eos_token_id, int) else self.model.generation_config.eos_token_id or [])}
        results = []
        for row, mask in zip(new.tolist(), enc["attention_mask"]):
            end = next((i for i, t in enumerate(row) if t in eos), None)
            tokens = row if end is None else row[:end]
            text, stopped = _cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), params.stop)
            results.append(Completion(text=text, prompt_tokens=int(mask.sum()), completion_tokens=len(tokens) + (end is not None),
                                      finish_reason="stop" if end is not None or stopped else "length"))
        return results

    def close(self) -> None:
        del self.model


class VLLMBackend(_ChatTemplateMixin, Backend):
    """vLLM's offline engine (`vllm.LLM`): continuous batching; tensor parallel over GPUs."""

    name = "vllm"

    def __init__(self, model: str, revision: str | None = None, dtype: str = "auto", tensor_parallel_size: int = 1,
                 max_model_len: int | None = 4096, gpu_memory_utilization: float = 0.85, enforce_eager: bool = True,
                 cpu_kv_cache_gib: int = 4):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cpu_kv_cache_gib))
        from vllm import LLM

        kwargs = dict(model=model, revision=revision, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                      max_model_len=max_model_len, enforce_eager=enforce_eager, seed=0)
        if device() == "cuda":
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.model_id = f"{model}@{model_revision(model, revision)}"

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int], retry: Retry) -> list[Completion]:
        from vllm import SamplingParams as VP

        sampling = [VP(n=1, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
                       stop=list(params.stop) or None, seed=seed) for seed in seeds]
        outputs = self.llm.generate(prompts, sampling, use_tqdm=False)
        results = []
        for out in outputs:
            best = out.outputs[0]
            results.append(Completion(text=best.text, prompt_tokens=len(out.prompt_token_ids or []),
                                      completion_tokens=len(best.token_ids), finish_reason=best.finish_reason))
        return results

    def close(self) -> None:
        del self.llm


class OpenAIBackend(Backend):
    """Any OpenAI-compatible chat endpoint (a `vllm serve` fleet behind a load balancer); concurrent requests."""

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str = "EMPTY", revision: str | None = None,
                 concurrency: int = 16, timeout_s: float = 300.0):
        import httpx

        self.model = model
        self.model_id = f"{model}@{revision or 'served'}"
        self.concurrency = concurrency
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                   headers={"Authorization": f"Bearer {api_key}"},
                                   limits=httpx.Limits(max_connections=concurrency))

    def render(self, conversations: list[Messages]) -> list[str]:
        return [json.dumps(m, ensure_ascii=False, sort_keys=True) for m in conversations]

    def _one(self, prompt: str, params: SamplingParams, seed: int) -> Completion:
        body = {"model": self.model, "messages": json.loads(prompt), "temperature": params.temperature, "top_p": params.top_p,
                "max_tokens": params.max_tokens, "seed": seed, "n": 1}
        if params.stop:
            body["stop"] = list(params.stop)
        response = self.client.post("/chat/completions", json=body)
        if response.status_code in (408, 409, 425, 429) or response.status_code >= 500:
            raise TransientError(f"HTTP {response.status_code}: {response.text[:200]}")
        response.raise_for_status()
        data = response.json()
        choice, usage = data["choices"][0], data.get("usage") or {}
        return Completion(text=choice["message"]["content"] or "", prompt_tokens=usage.get("prompt_tokens", 0),
                          completion_tokens=usage.get("completion_tokens", 0), finish_reason=choice.get("finish_reason"))

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int], retry: Retry) -> list[Completion]:
        def one(prompt: str, seed: int) -> Completion:
            try:
                return retry(lambda: self._one(prompt, params, seed))
            except Exception as exc:  # noqa: BLE001 - recorded on the row, never dropped
                return Completion(text=None, error=f"{type(exc).__name__}: {exc}"[:500])

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, prompts, seeds))

    def close(self) -> None:
        self.client.close()
