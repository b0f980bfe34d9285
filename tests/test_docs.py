"""Docs and declarations that cannot drift from the code: the run-config reference and the declared dependencies."""

import ast
import importlib.metadata
import re
import sys
import tomllib

import pytest
from dagster import Config, asset
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pydantic import Field

from scripts import config_reference
from tests.conftest import REPO

# The project's own code (tests and benchmarks have their own tools).
CODE = ["thinkforge", "assets", "resources", "jobs", "sensors", "scripts", "definitions.py"]
LOCAL = {"thinkforge", "assets", "resources", "jobs", "sensors", "scripts", "definitions", "tests", "benchmarks"}
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_config_reference_is_current():
    written = (REPO / "docs" / "CONFIG.md").read_text()
    assert written == config_reference.reference(), "docs/CONFIG.md is out of date: run `make docs`"


def test_the_readme_links_the_reference_and_no_longer_lists_run_config_by_hand():
    readme = (REPO / "README.md").read_text()
    assert "(docs/CONFIG.md)" in readme
    assert not re.search(r"^\| `\w+` run config \|", readme, re.M), "a hand-written run-config row in the README"


def test_the_reference_shows_each_field_with_its_default_demo_value_and_description():
    class TinyConfig(Config):
        rounds: int = Field(3, description="rounds | per problem")
        prompt: str = Field("", description="system prompt, read from <dir>/`<name>.txt`")

    @asset(group_name="g")
    def tiny(config: TinyConfig) -> None: ...

    @asset(group_name="g")
    def plain() -> None: ...

    text = config_reference.render([tiny, plain], {"demo": {"tiny": {"rounds": 1}}, "proof": {"tiny": {"rounds": 9}}})
    assert "| field | default | `make demo` | `make proof` | description |" in text
    assert "| `rounds` | `3` | `1` | `9` | rounds \\| per problem |" in text
    assert '| `prompt` | `""` |  |  | system prompt, read from &lt;dir>/`<name>.txt` |' in text
    assert "## g" in text and "### `tiny`" in text and "without run config: `plain`" in text
    with pytest.raises(ValueError, match=r"sets fields \['round'\]"):
        config_reference.render([tiny], {"demo": {}, "proof": {"tiny": {"round": 1}}})
    with pytest.raises(ValueError, match="do not exist"):
        config_reference.render([tiny], {"demo": {"gone": {}}})


def _imports() -> dict[str, set[str]]:
    """Top-level name of every absolute import in the project's code (module level and inside functions) → files."""
    found: dict[str, set[str]] = {}
    for root in CODE:
        path = REPO / root
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL:
                        found.setdefault(top, set()).add(str(file.relative_to(REPO)))
    return found


def _declared() -> list[Requirement]:
    extras = [r for group in PYPROJECT["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in PYPROJECT["dependencies"] + extras]


def _locked() -> dict[str, Version]:
    """Versions the tests run: requirements.lock, and torch as the Makefile installs it (before the lock)."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)$", (REPO / "requirements.lock").read_text(), re.M)
    locked = {canonicalize_name(name): Version(version) for name, version in pins}
    (torch,) = re.findall(r"pip install -q torch==(\S+)", (REPO / "Makefile").read_text())
    return {**locked, "torch": Version(torch)}


def test_every_third_party_import_is_a_declared_dependency():
    declared = {canonicalize_name(r.name) for r in _declared()}
    distributions = importlib.metadata.packages_distributions()
    imports = _imports()
    assert {"scipy", "torch", "dagster", "openai"} <= set(imports)  # the walk sees lazy imports too
    missing = {
        name: sorted(files)
        for name, files in imports.items()
        if not {canonicalize_name(d) for d in distributions.get(name, [])} & declared
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_declared_versions_admit_the_locked_ones_and_start_in_their_series():
    """The lock satisfies every declared requirement, and each floor lies in the locked major series (the minor series
    for 0.x): a floor below that claims versions no test ran (openai>=1.60 against a locked 3.x)."""
    locked = _locked()
    problems = []
    for req in _declared():
        name = canonicalize_name(req.name)
        if name not in locked:
            assert req in [Requirement(r) for r in PYPROJECT["optional-dependencies"]["gpu"]], f"{req} is not locked"
            continue
        version = locked[name]
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req}: locked {version}")
        for spec in req.specifier:
            if spec.operator in (">=", "==", "~="):
                floor = Version(spec.version.removesuffix(".*"))
                series = 1 if floor.major else 2
                if floor.release[:series] != (version.release + (0,))[:series]:
                    problems.append(f"{req}: floor {floor} below the locked {version}'s series")
    assert not problems, problems
    for req in map(Requirement, PYPROJECT["dependencies"]):
        assert req.specifier, f"{req} has no floor"
    (torch,) = [Requirement(r) for r in PYPROJECT["dependencies"] if r.startswith("torch")]
    assert any(s.operator == "<" for s in torch.specifier), (
        "torch needs an upper bound (a new major pulls CUDA builds)"
    )
