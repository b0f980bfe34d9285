"""No stage module imports another stage: stages share only the contract modules below (walked with `ast`)."""

import ast
import shutil

from tests.conftest import REPO

LIB = REPO / "thinkforge"
# The stages: a subpackage or module of thinkforge/ each (verification.py writes verified_responses).
STAGES = {
    "collect",
    "dedup",
    "selection",
    "distill",
    "verification",
    "refinement",
    "s2r",
    "stepwise",
    "training",
    "evaluation",
}
# Modules inside a stage that other stages may import, each a contract of its own (and importing no stage itself).
CONTRACTS = {
    "thinkforge.s2r.actions": "the S²R action format and prompt: trajectories, SFT masks, RL rewards and eval read it",
    "thinkforge.stepwise.steps": "the step format and its prompts: model_eval asks stepwise-trained models in it",
    "thinkforge.evaluation.prompts": "the prompt format a checkpoint is asked in: training records it on the card",
    "thinkforge.evaluation.metrics": "rates, Wilson intervals and paired differences: held-out step pairs report them",
    "thinkforge.training.settings": "the trainer settings: step-DPO rounds train with them",
    "thinkforge.training.data": "the training-length filter and its report: step-DPO rounds drop long pairs with it",
    "thinkforge.selection.language": "language detection: the language rule (verify/rules.py) uses it",
    "thinkforge.dedup.normalize": "word n-grams: the synthetic sources keep their problems apart with them",
}


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "thinkforge":  # `from thinkforge import distill`
                found |= {f"thinkforge.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("thinkforge.")}


def _stage(module: str) -> str | None:
    part = module.split(".")[1]
    return part if part in STAGES else None


def _module(path, lib) -> str:
    parts = ("thinkforge", *path.relative_to(lib).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sideways(lib=LIB) -> list[str]:
    found = []
    for path in sorted(lib.rglob("*.py")):
        module = _module(path, lib)
        own = _stage(module) if module != "thinkforge" else None
        if own is None and module not in CONTRACTS:
            continue
        for imported in sorted(_imports(path)):
            other = _stage(imported)
            if other is None or other == own:
                continue
            if imported in CONTRACTS:
                continue
            found.append(f"{module} imports {imported}")
    return found


def test_no_stage_imports_another_stage():
    assert sideways() == []


def test_the_walk_sees_a_sideways_import(tmp_path):
    """The walk is not blind: a stage module that imports another stage's module is reported, a contract is not."""
    lib = shutil.copytree(LIB, tmp_path / "thinkforge", ignore=shutil.ignore_patterns("__pycache__"))
    (lib / "refinement" / "probe.py").write_text(
        "from thinkforge import distill\nfrom thinkforge.s2r.actions import parse\n"
        "from thinkforge.s2r.samples import sample_policy\n"
    )
    assert sideways(lib) == [
        "thinkforge.refinement.probe imports thinkforge.distill",
        "thinkforge.refinement.probe imports thinkforge.s2r.samples",
    ]
