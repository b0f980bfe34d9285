"""code_version is derived from what an asset's module imports within thinkforge/ and the templates that code reads."""

import ast
import shutil

import pytest

from assets import ALL_ASSETS
from assets.common.versions import LIB, code_files, code_version
from tests.conftest import REPO

VERIFIED = REPO / "assets" / "distill" / "verified_responses.py"
DISTILLED = REPO / "assets" / "distill" / "distilled_responses.py"


@pytest.fixture
def lib(tmp_path):
    """A copy of thinkforge/ to edit."""
    return shutil.copytree(LIB, tmp_path / "thinkforge", ignore=shutil.ignore_patterns("__pycache__"))


def test_verified_responses_runs_language_detection_and_the_row_contract_not_the_distill_stage():
    files = {p.relative_to(LIB).as_posix() for p in code_files(VERIFIED)}
    assert {"selection/language.py", "rows.py", "verification.py", "verify/mathcheck.py"} <= files
    assert "distill.py" not in files  # the response schema comes from rows.py
    # the teacher prompts rows.py reads (one per domain, named by an f-string), not another stage's templates
    assert {f"templates/distill_{d}.txt" for d in ("math", "code", "science", "chat")} <= files
    assert not any(f.startswith(("templates/refine/", "refinement/", "training/")) for f in files)
    assert "verify/check_harness.py" in files  # read as text beside verify/code.py and run in the sandbox


def test_library_code_called_through_an_asset_side_helper_counts():
    # sft_model fits through assets/common/training.py, which imports thinkforge.training.runner
    files = {p.relative_to(LIB).as_posix() for p in code_files(REPO / "assets" / "train" / "sft_model.py")}
    assert {"training/runner.py", "training/sft.py", "checkpoints.py"} <= files
    assert all(p.is_relative_to(LIB) for p in code_files(REPO / "assets" / "train" / "sft_model.py"))


def test_verified_responses_version_changes_with_language_py_and_not_with_unrelated_code(lib):
    before = code_version(VERIFIED, lib)
    assert code_version(VERIFIED, lib) == before
    (lib / "refinement" / "loop.py").write_text((lib / "refinement" / "loop.py").read_text() + "\n# unrelated\n")
    assert code_version(VERIFIED, lib) == before
    language = lib / "selection" / "language.py"
    language.write_text(language.read_text() + "\n# changed\n")
    assert code_version(VERIFIED, lib) != before


def test_a_teacher_template_changes_the_version_of_the_stage_that_reads_it(lib):
    before = code_version(DISTILLED, lib)
    (lib / "templates" / "distill_code.txt").write_text("another prompt {problem}")
    assert code_version(DISTILLED, lib) != before


def test_every_asset_has_a_derived_code_version():
    versions = {spec.key.to_user_string(): spec.code_version for a in ALL_ASSETS for spec in a.specs}
    assert all(versions.values())
    assert versions["verified_responses"] == code_version(VERIFIED)


def test_a_template_named_through_the_row_contracts_folder_counts_and_only_where_read(lib):
    # refinement/loop.py reads `TEMPLATES / "refine"` (thinkforge.rows.TEMPLATES); the S²R trainer never does
    refined, sft = REPO / "assets" / "refine" / "refined_solutions.py", REPO / "assets" / "train" / "sft_model.py"
    before = code_version(refined, lib), code_version(sft, lib)
    (lib / "templates" / "refine" / "revise.txt").write_text("another revision prompt")
    assert code_version(refined, lib) != before[0] and code_version(sft, lib) == before[1]


def test_only_the_row_contract_builds_the_templates_path():
    # every other library module reads its templates through thinkforge.rows.TEMPLATES
    own = [
        f"{path.relative_to(LIB)}:{node.lineno}"
        for path in sorted(LIB.rglob("*.py"))
        if path != LIB / "rows.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and isinstance(node.right, ast.Constant)
        and node.right.value == "templates"
    ]
    assert own == []
