"""Where thinkforge keeps what it writes: THINKFORGE_HOME and its sub-folders."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def home() -> Path:
    """THINKFORGE_HOME, default `.thinkforge/` in the repo root."""
    return Path(os.environ.get("THINKFORGE_HOME") or REPO_ROOT / ".thinkforge").resolve()


def warehouse_dir(root: Path | None = None) -> Path:
    return (root or home()) / "warehouse"


def catalog_path(root: Path | None = None) -> Path:
    return (root or home()) / "warehouse.duckdb"


def inbox_dir(root: Path | None = None) -> Path:
    return (root or home()) / "inbox"


def reports_dir(root: Path | None = None) -> Path:
    return (root or home()) / "reports"


def dagster_home(root: Path | None = None) -> Path:
    return (root or home()) / "dagster"


def sources_file() -> Path:
    """The raw-source YAML: THINKFORGE_SOURCES or the bundled sample sources."""
    return Path(os.environ.get("THINKFORGE_SOURCES") or REPO_ROOT / "data" / "sources.yaml").resolve()


def checkpoint_dir(asset: str, domain: str | None = None, root: Path | None = None) -> Path:
    """The folder of a checkpoint asset: models/base_model/ (one for every domain), else models/<asset>/<domain>/."""
    models = (root or home()) / "models"
    return models / "base_model" if asset == "base_model" else models / asset / str(domain)
