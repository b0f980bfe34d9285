"""Reference solutions are ground truth: every packaged code source's own solutions, read through the real readers,
pass their own tests in the sandbox; solutions the source marks wrong fail; other languages are never run."""

import dataclasses
import json
from pathlib import Path

import pytest

from thinkforge.collect.adapters import FORMATS
from thinkforge.collect.config import load_sources
from thinkforge.collect.pool import collect
from thinkforge.verify import Limits, Sandbox, check_code, source_language

SOURCES = Path(__file__).parents[2] / "data" / "sources.yaml"


@pytest.fixture(scope="module")
def verdicts():
    """source -> [(declared language, source says correct, verdict, detail)] for every source solution."""
    specs = [s for s in load_sources(SOURCES, set(FORMATS)) if s.domain == "code"]
    specs = [dataclasses.replace(s, limit=None) if s.format == "humaneval" else s for s in specs]  # all 164 tasks
    rows = collect(specs, "code").kept.to_dicts()
    jobs, owners = [], []
    for row in rows:
        for solution in row["responses"] or []:
            language = source_language("source", solution["model"])
            jobs.append((solution["text"], json.loads(row["test_cases"]), language))
            owners.append((row["source"], language, solution["correct"]))
    sandbox = Sandbox(limits=Limits(timeout_s=10, memory_mb=512))
    out: dict[str, list] = {}
    for (source, language, correct), (verdict, detail) in zip(owners, check_code(jobs, sandbox)):
        out.setdefault(source, []).append((language, correct, verdict, detail))
    return out


def test_every_humaneval_canonical_solution_passes_as_read(verdicts):
    got = verdicts["humaneval"]
    assert len(got) == 164
    assert [d for _, _, v, d in got if v != "correct"] == []


def test_apps_and_code_contests_python_solutions_pass_and_known_wrong_ones_fail(verdicts):
    for source in ("apps", "code-contests"):
        python = [(c, v, d) for lang, c, v, d in verdicts[source] if lang == "python3"]
        assert python, source
        assert [d for c, v, d in python if c is not False and v != "correct"] == [], source
        assert all(v == "wrong" for c, v, _ in python if c is False), source
    assert any(c is False for _, c, _, _ in verdicts["code-contests"])  # the sample carries a known-wrong one


def test_other_languages_are_unsupported_never_wrong(verdicts):
    other = [(lang, v, d) for lang, _, v, d in verdicts["code-contests"] if lang != "python3"]
    assert other and {lang for lang, _, _ in other} >= {"cpp"}
    for lang, verdict, detail in other:
        assert verdict == "unsupported_language" and f"a {lang} solution" in detail


def test_a_model_response_in_another_language_is_unsupported_not_wrong():
    from thinkforge.verify import program_of

    cpp = "<think>loop</think>\n```cpp\nint main() { return 0; }\n```"
    assert program_of(cpp)[1:] == ("unsupported_language", "a ```cpp block: the sandbox runs Python 3 only")
    assert program_of("no code at all")[1] == "no_program"
    assert program_of("```python\nprint(1)\n```\n```cpp\nint x;\n```")[0] == "print(1)\n"
    assert program_of("print(2)", language="python3")[0] == "print(2)"
    assert program_of("print 2", language="python2")[1] == "unsupported_language"
