"""Model runtime: one way to generate, over transformers, vLLM and OpenAI-compatible servers."""

from thinkforge.generation.backends import Backend, OpenAIBackend, TransformersBackend, VLLMBackend
from thinkforge.generation.cache import PostgresRequestCache, RequestCache, open_cache
from thinkforge.generation.runtime import Generator, TooManyFailures
from thinkforge.generation.types import Completion, GenerationStats, SamplingParams

__all__ = [
    "Backend",
    "OpenAIBackend",
    "TransformersBackend",
    "VLLMBackend",
    "RequestCache",
    "PostgresRequestCache",
    "open_cache",
    "Generator",
    "TooManyFailures",
    "Completion",
    "GenerationStats",
    "SamplingParams",
]
