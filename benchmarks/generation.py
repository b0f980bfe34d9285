"""Generation throughput: one request at a time vs the runtime's batched path, and a fully cached re-run;
and, with --uneven, long uneven outputs: the old fixed chunks (wait for the slowest of 32 before the next)
against handing the engine all pending work (what the runtime does now).

    .venv/bin/python benchmarks/generation.py [--backends vllm,transformers] [--prompts 16] [--samples 2]
    .venv/bin/python benchmarks/generation.py --uneven --backends vllm --prompts 64 --max-tokens 384

Uses the default model (THINKFORGE_HOME/models/base_model, converted from the packaged GGUF if missing).
Prints one JSON line per backend; the last line is the default backend on this machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from thinkforge import paths
from thinkforge.checkpoints import convert_gguf, default_gguf
from thinkforge.generation import (
    Generator,
    OpenAIBackend,
    RequestCache,
    SamplingParams,
    TransformersBackend,
    VLLMBackend,
)
from thinkforge.generation.backends import device

TOPICS = [
    "prime numbers",
    "photosynthesis",
    "binary search",
    "the French revolution",
    "black holes",
    "recursion",
    "supply and demand",
    "the water cycle",
    "hash tables",
    "plate tectonics",
    "vaccines",
    "sorting algorithms",
    "Pythagoras' theorem",
    "electric circuits",
    "climate",
    "compilers",
]


def prompts(n: int):
    return [
        [{"role": "user", "content": f"Explain {TOPICS[i % len(TOPICS)]} to a student in a few sentences. ({i})"}]
        for i in range(n)
    ]


def build(name: str, model: str, url: str):
    if name == "vllm":
        return VLLMBackend(model, dtype="bfloat16", max_model_len=1024)
    if name == "transformers":
        return TransformersBackend(model)
    return OpenAIBackend("smollm2", url, concurrency=32)


def bench(name: str, model: str, url: str, n: int, k: int, params: SamplingParams, batch_size: int) -> dict:
    backend = build(name, model, url)
    conversations = prompts(n)
    rendered = backend.render(conversations)
    backend.generate(rendered[:1], SamplingParams(max_tokens=4), [0])  # warm-up

    started, seq_tokens = time.monotonic(), 0
    for prompt in rendered:
        for s in range(k):
            seq_tokens += backend.generate([prompt], params, [params.seed + s])[0].completion_tokens
    seq_s = time.monotonic() - started

    with tempfile.TemporaryDirectory() as tmp:
        gen = Generator(backend, RequestCache(Path(tmp) / "c.sqlite"), batch_size=batch_size)
        started = time.monotonic()
        gen.generate(conversations, params, n=k)
        batched_s = time.monotonic() - started
        rerun = Generator(backend, RequestCache(Path(tmp) / "c.sqlite"), batch_size=batch_size)
        started = time.monotonic()
        rerun.generate(conversations, params, n=k)
        cached_s = time.monotonic() - started
        assert rerun.stats.calls == 0
    backend.close()
    result = {
        "backend": name,
        "device": device(),
        "samples": n * k,
        "max_tokens": params.max_tokens,
        "sequential_tok_s": round(seq_tokens / seq_s, 1),
        "batched_tok_s": round(gen.stats.completion_tokens / batched_s, 1),
        "ratio": round((gen.stats.completion_tokens / batched_s) / (seq_tokens / seq_s), 2),
        "first_run_s": round(batched_s, 3),
        "cached_rerun_s": round(cached_s, 4),
        "cached_rerun_speedup": round(batched_s / cached_s, 1),
    }
    print(
        f"{name}: sequential {result['sequential_tok_s']} tok/s ({seq_s:.1f}s), batched {result['batched_tok_s']} tok/s "
        f"({batched_s:.1f}s) → {result['ratio']}x; cached re-run {cached_s * 1000:.1f} ms → {result['cached_rerun_speedup']}x",
        flush=True,
    )
    return result


UNEVEN = [
    "Answer in one word: what is the capital of {t}?",
    "Write a long, detailed essay about {t}, with many sections.",
]


def bench_uneven(name: str, model: str, url: str, n: int, params: SamplingParams, chunk: int) -> dict:
    """Same samples two ways: fixed chunks of `chunk` (the old runtime) vs the streaming runtime (one hand-over)."""
    backend = build(name, model, url)
    conversations = [
        [{"role": "user", "content": UNEVEN[i % 2].format(t=TOPICS[i % len(TOPICS)]) + f" ({i})"}] for i in range(n)
    ]
    rendered = backend.render(conversations)
    backend.generate(rendered[:1], SamplingParams(max_tokens=4), [0])  # warm-up
    started, chunk_tokens = time.monotonic(), 0
    for start in range(0, n, chunk):
        part = rendered[start : start + chunk]
        chunk_tokens += sum(c.completion_tokens for c in backend.generate(part, params, [params.seed] * len(part)))
    chunked_s = time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        gen = Generator(backend, RequestCache(Path(tmp) / "c.sqlite"), batch_size=chunk)
        started = time.monotonic()
        gen.generate(conversations, params)
        streamed_s = time.monotonic() - started
    backend.close()
    result = {
        "backend": name,
        "device": device(),
        "mode": "uneven",
        "samples": n,
        "max_tokens": params.max_tokens,
        "chunk": chunk,
        "chunked_tok_s": round(chunk_tokens / chunked_s, 1),
        "streamed_tok_s": round(gen.stats.completion_tokens / streamed_s, 1),
        "ratio": round((gen.stats.completion_tokens / streamed_s) / (chunk_tokens / chunked_s), 2),
    }
    print(
        f"{name} uneven: chunks of {chunk} {result['chunked_tok_s']} tok/s ({chunked_s:.1f}s), all pending "
        f"{result['streamed_tok_s']} tok/s ({streamed_s:.1f}s) → {result['ratio']}x",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backends", default="vllm,transformers", help="comma list of vllm, transformers, openai; last = default"
    )
    parser.add_argument("--model", default="", help="HF folder (default: the base_model folder)")
    parser.add_argument(
        "--openai-url", default="", help="an OpenAI-compatible endpoint serving the model as 'smollm2'"
    )
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--uneven", action="store_true", help="long uneven outputs: old fixed chunks vs all pending work"
    )
    parser.add_argument("--chunk", type=int, default=32, help="the old runtime's chunk size (--uneven)")
    args = parser.parse_args()
    model = args.model or str(paths.home() / "models" / "base_model")
    if not args.model:
        convert_gguf(default_gguf(), Path(model), log=lambda m: print(m, flush=True))
    params = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=args.max_tokens, seed=1)
    if args.uneven:
        results = [
            bench_uneven(name, model, args.openai_url, args.prompts, params, args.chunk)
            for name in args.backends.split(",")
        ]
    else:
        results = [
            bench(name, model, args.openai_url, args.prompts, args.samples, params, args.batch_size)
            for name in args.backends.split(",")
        ]
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
