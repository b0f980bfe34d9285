"""The int8 ONNX embedder against the PyTorch sentence-transformers one (the packaged all-MiniLM-L6-v2)."""

import random
import re

import numpy as np
import pytest

from thinkforge import embedding_onnx
from thinkforge.embedding_onnx import OnnxEmbedder, default_model_path, onnx_model

MATH = [
    "{n} has {a} apples and buys {b} more. How many apples does {n} have now?",
    "A train travels {a} km in {b} hours. What is its average speed in km per hour?",
    "Find the greatest common divisor of {a} and {b}.",
    "Solve for x: {a}x + {b} = {c}.",
    "A rectangle has length {a} cm and width {b} cm. What is its area, and what is its perimeter?",
    "What is the probability of drawing one of {a} red balls from a bag of {c} balls?",
]
OTHER = [
    "Read an integer n and print the sum of the digits of n.",
    "Write a function that returns the longest palindromic substring of a string s.",
    "def f(x):\n    return [i * i for i in range(x) if i % 2 == 0]",
    "Explain why the sky is blue in two sentences.",
    "What is the capital of France?",
    "Describe photosynthesis to a ten-year-old.",
    "Quelle est la dérivée de sin(x) ?",
    "Wie viele Primzahlen gibt es zwischen 1 und 100?",
    "证明：对于所有正整数 n，n^3 - n 能被 6 整除。",
    "∫_0^1 x² dx = ? Give the exact value.",
    "hi",
    "?",
    "",
    "   leading and trailing spaces   ",
    "Newton's second law: F = m·a. A 3 kg mass accelerates at 4 m/s². What is the force?",
]


def varied_texts(n: int = 200, seed: int = 0) -> list[str]:
    """Templated math, code, chat, multilingual, very short and very long (truncated) texts, shuffled."""
    rng = random.Random(seed)
    texts = list(OTHER)
    texts += [" ".join(rng.choice(OTHER[:6]) for _ in range(40)) for _ in range(3)]  # past 256 tokens: truncated
    while len(texts) < n:
        fill = {"n": rng.choice(["Ava", "Ben", "Mei"]), "a": rng.randint(2, 999), "b": rng.randint(2, 99)}
        texts.append(rng.choice(MATH).format(c=rng.randint(100, 2000), **fill))
    rng.shuffle(texts)
    return texts


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache folder with the int8 model exported into it (once for this module)."""
    root = tmp_path_factory.mktemp("onnx-cache")
    return root, onnx_model(root)


@pytest.fixture(scope="module")
def embedder(cache) -> OnnxEmbedder:
    """The embedder on the exported model, both cores."""
    return OnnxEmbedder(cache[1], default_model_path(), threads=2)


@pytest.fixture(scope="module")
def texts_and_reference():
    """Varied texts and their PyTorch sentence-transformers embeddings (today's embedder)."""
    import torch
    from sentence_transformers import SentenceTransformer

    threads, texts = torch.get_num_threads(), varied_texts()
    torch.set_num_threads(2)
    try:
        model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
        return texts, model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    finally:
        torch.set_num_threads(threads)


def test_export_layout(cache):
    root, path = cache
    assert path.name == "model_int8.onnx" and path.parent.parent == root and path.stat().st_size > 10_000_000
    assert [p.name for p in root.iterdir()] == [path.parent.name]  # no temporary folder left behind


def test_agrees_with_pytorch(embedder, texts_and_reference):
    texts, reference = texts_and_reference
    vectors = embedder.embed(texts)
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * reference).sum(axis=1)
    # measured here: mean 0.996, min 0.975 (the text "?"); templated math alone: min 0.99
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.97, (cosine.mean(), cosine.min())


def test_order_preserved_with_mixed_lengths(cache, embedder):
    rng = random.Random(1)
    texts = [" ".join([t] * rng.randint(1, 30)) for t in OTHER if len(t) > 2]  # distinct topics, 1 to 30 times
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    vectors = OnnxEmbedder(cache[1], default_model_path(), threads=2, batch_size=3).embed(texts)
    assert ((vectors @ alone.T).argmax(axis=1) == np.arange(len(texts))).all()  # sorted by length, scattered back
    assert ((vectors * alone).sum(axis=1) > 0.99).all()  # batch mates barely matter (activation scales)


def test_empty_input(embedder):
    out = embedder.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_cached_model_is_reused(cache, monkeypatch):
    root, path = cache
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(embedding_onnx, "export_fp32", lambda *a: pytest.fail("exported again"))
    assert onnx_model(root) == path and path.stat().st_mtime_ns == mtime


def test_progress_lines(cache, monkeypatch):
    lines = []
    small = OnnxEmbedder(cache[1], default_model_path(), threads=2, batch_size=16)
    monkeypatch.setattr(small, "log_every", 50)
    small.embed([f"problem {i}: add {i} and {i + 1}" for i in range(130)], log=lines.append)
    assert len(lines) == 2, lines
    for line, done in zip(lines, (64, 112)):
        assert re.fullmatch(rf"embedded {done}/130 texts \(\d+ texts/s, ETA (\d+ min )?\d+ s\)", line), line
    assert embedding_onnx.format_eta(77) == "1 min 17 s" and embedding_onnx.format_eta(4.2) == "4 s"
