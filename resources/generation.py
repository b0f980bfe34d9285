"""Model roles: one generation resource per role (teacher, judge, evaluators, reviser, completer, policy).

Every role goes through the same runtime (batching, request cache, retries) and defaults to
the `base_model` folder on CPU. Each is configured from the launchpad or by environment:
`THINKFORGE_<ROLE>_MODEL`, `THINKFORGE_<ROLE>_BACKEND`, `THINKFORGE_<ROLE>_BASE_URL`, falling back to
`THINKFORGE_MODEL`, `THINKFORGE_BACKEND`, `THINKFORGE_OPENAI_BASE_URL`. Evaluators are a list: comma
separated values in `THINKFORGE_EVALUATORS_MODEL` (and optionally `_BACKEND` / `_BASE_URL`, one or one per model).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dagster import Config, ConfigurableResource, get_dagster_logger
from pydantic import Field

from thinkforge import paths
from thinkforge.generation import Generator, OpenAIBackend, TransformersBackend, VLLMBackend, open_cache
from thinkforge.generation.backends import device

ROLES = ("teacher", "judge", "evaluators", "reviser", "completer", "policy")


def base_model_path() -> str:
    path = paths.checkpoint_dir("base_model")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no model configured and {path} is empty: materialize the base_model asset first")
    return str(path)


class ModelSpec(Config):
    """Which model answers: a local HF folder, a hub id, or a model served behind an OpenAI-compatible endpoint."""

    backend: str = Field(
        "auto",
        description="auto (openai when base_url is set, vllm on cuda, else transformers) | vllm | openai | transformers",
    )
    model: str = Field(
        "", description="HF folder or hub id (the served model name for openai); empty: the base_model asset's folder"
    )
    revision: str = Field("", description="model revision for hub ids (part of the request-cache key)")
    base_url: str = Field("", description="OpenAI-compatible endpoint, e.g. http://vllm-fleet:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's key")
    served_model_name: str = Field("", description="model name the endpoint serves (default: model)")


class _Runtime(ConfigurableResource):
    """Settings of the generation runtime shared by every role."""

    batch_size: int = Field(64, description="samples per engine call (vLLM / transformers batch)")
    concurrency: int = Field(16, description="concurrent HTTP requests for the openai backend")
    max_retries: int = Field(
        4, description="openai backend: retries of a transient failure (connection, timeout, 408/409/429/5xx)"
    )
    max_failed_fraction: float = Field(0.1, description="fail the step when more than this share of requests failed")
    tensor_parallel_size: int = Field(1, description="GPUs per vLLM engine (tensor parallel)")
    max_model_len: int = Field(4096, description="context length of a vLLM engine (tokens)")
    dtype: str = Field(
        "auto", description="weights dtype: auto (bf16 on cuda, fp32 on cpu) | float32 | bfloat16 | float16"
    )
    cache_dir: str = Field(
        "",
        description="request cache folder (SQLite; the cache is in PostgreSQL when THINKFORGE_POSTGRES_URL is set); "
        "empty: THINKFORGE_HOME/cache",
    )

    def _open(self, spec: ModelSpec, model: str | None, log, role: str) -> Generator:
        name = spec.backend
        if name == "auto":
            name = "openai" if spec.base_url else ("vllm" if device() == "cuda" else "transformers")
        if name == "openai":
            if not spec.base_url:
                raise ValueError("the openai backend needs base_url (THINKFORGE_<ROLE>_BASE_URL)")
            backend = OpenAIBackend(
                spec.served_model_name or model or spec.model or "default",
                spec.base_url,
                api_key=os.environ.get(spec.api_key_env, "EMPTY"),
                revision=spec.revision or None,
                concurrency=self.concurrency,
                max_retries=self.max_retries,
            )
        elif name == "vllm":
            backend = VLLMBackend(
                model or spec.model or base_model_path(),
                revision=spec.revision or None,
                dtype=self.dtype,
                tensor_parallel_size=self.tensor_parallel_size,
                max_model_len=self.max_model_len,
            )
        elif name == "transformers":
            backend = TransformersBackend(
                model or spec.model or base_model_path(), revision=spec.revision or None, dtype=self.dtype
            )
        else:
            raise ValueError(f"unknown backend {name!r}: use auto, vllm, openai or transformers")
        # The instance's PostgreSQL where there is one (nodes share no file system safe for SQLite), else SQLite.
        cache = open_cache(Path(self.cache_dir or paths.home() / "cache"), os.environ.get("THINKFORGE_POSTGRES_URL"))
        return Generator(
            backend,
            cache,
            batch_size=self.batch_size,
            max_failed_fraction=self.max_failed_fraction,
            log=log,
            role=role,
        )


def _close(generator: Generator) -> None:
    generator.backend.close()
    generator.cache.close()


class ModelResource(_Runtime):
    """One model role (teacher, judge, reviser, completer, policy) over vllm | openai | transformers."""

    role: str = Field("teacher", description="the role this model plays (shown in logs and metadata)")
    backend: str = Field("auto", description=ModelSpec.model_fields["backend"].description)
    model: str = Field("", description=ModelSpec.model_fields["model"].description)
    revision: str = Field("", description=ModelSpec.model_fields["revision"].description)
    base_url: str = Field("", description=ModelSpec.model_fields["base_url"].description)
    api_key_env: str = Field("OPENAI_API_KEY", description=ModelSpec.model_fields["api_key_env"].description)
    served_model_name: str = Field("", description=ModelSpec.model_fields["served_model_name"].description)

    def spec(self) -> ModelSpec:
        return ModelSpec(
            backend=self.backend,
            model=self.model,
            revision=self.revision,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            served_model_name=self.served_model_name,
        )

    def model_path(self) -> str:
        return self.model or base_model_path()

    @contextmanager
    def generator(self, log=None, model: str | None = None) -> Iterator[Generator]:
        """A Generator with the model loaded (released on exit). `model` overrides the folder (e.g. a trained checkpoint)."""
        generator = self._open(self.spec(), model, log or get_dagster_logger().info, self.role)
        try:
            yield generator
        finally:
            _close(generator)


class EvaluatorsResource(_Runtime):
    """The multi-model evaluator: a list of models, each scoring every candidate."""

    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec()],
        description="one entry per evaluator model (default: one, the base_model folder)",
    )

    @contextmanager
    def generators(self, log=None) -> Iterator[list[Generator]]:
        log = log or get_dagster_logger().info
        with ExitStack() as stack:
            opened = []
            for spec in self.models:
                generator = self._open(
                    spec, None, log, f"evaluator {spec.served_model_name or spec.model or 'base_model'}"
                )
                stack.callback(_close, generator)
                opened.append(generator)
            yield opened


def _env(role: str, key: str, default: str = "") -> str:
    return os.environ.get(f"THINKFORGE_{role.upper()}_{key}") or default


def role_resource(role: str, model: str = "") -> ModelResource:
    """A role's resource from the environment (THINKFORGE_<ROLE>_*, else the global THINKFORGE_* settings)."""
    return ModelResource(
        role=role,
        backend=_env(role, "BACKEND", os.environ.get("THINKFORGE_BACKEND", "auto")),
        model=model or _env(role, "MODEL", os.environ.get("THINKFORGE_MODEL", "")),
        base_url=_env(role, "BASE_URL", os.environ.get("THINKFORGE_OPENAI_BASE_URL", "")),
        served_model_name=_env(role, "SERVED_MODEL_NAME"),
    )


def evaluators_resource(models: list[str] | None = None) -> EvaluatorsResource:
    """Evaluators from THINKFORGE_EVALUATORS_MODEL (comma separated); one entry by default."""
    split = lambda value: [v.strip() for v in value.split(",")] if value else []  # noqa: E731
    models = models or split(_env("evaluators", "MODEL")) or [os.environ.get("THINKFORGE_MODEL", "")]
    backends = split(_env("evaluators", "BACKEND")) or [os.environ.get("THINKFORGE_BACKEND", "auto")]
    urls = split(_env("evaluators", "BASE_URL")) or [os.environ.get("THINKFORGE_OPENAI_BASE_URL", "")]
    pick = lambda values, i: values[i] if len(values) > 1 else values[0]  # noqa: E731
    return EvaluatorsResource(
        models=[ModelSpec(model=m, backend=pick(backends, i), base_url=pick(urls, i)) for i, m in enumerate(models)]
    )


def role_resources(model: str = "") -> dict:
    """Resource key → resource for every model role (`model`: one folder for every role, e.g. in tests)."""
    return {
        role: evaluators_resource([model] if model else None) if role == "evaluators" else role_resource(role, model)
        for role in ROLES
    }
