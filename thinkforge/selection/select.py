"""selected_problems: the AM-style select rules.

In order, each with its reject reason: a reference answer / tests where the domain needs one
(`no_reference`), an allowed language (`language`), quality (`low_quality`), then difficulty
rebalancing (`rebalanced`). Difficulty and category come from source metadata where it tells;
only rows still missing one go to the LLM judge (which also rates their quality).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from pydantic import Field

from thinkforge.ids import row_id
from thinkforge.rows import TEMPLATES
from thinkforge.selection.language import detect
from thinkforge.selection.taxonomy import TAXONOMY, category_of, from_metadata
from thinkforge.stage import REJECT_SCHEMA, StageOutput, StageReport, StageSettings, frame

STAGE = "selected_problems"
PROMPT = (TEMPLATES / "select_judge.txt").read_text()
EXTRA_COLUMNS = {
    "language": pl.String,
    "language_prob": pl.Float64,
    "difficulty": pl.Int64,
    "difficulty_source": pl.String,
    "quality": pl.Int64,
    "quality_source": pl.String,
    "category": pl.String,
    "judge_status": pl.String,
    "pass_rate_difficulty": pl.Float64,  # filled by rejection sampling later (pass rate over K responses)
}
REJECTS_SCHEMA = {**REJECT_SCHEMA, "problem": pl.String, **EXTRA_COLUMNS}
Judge = Callable[[list[list[dict]]], list[str | None]]


class SelectSettings(StageSettings):
    """Select rules: reference answer / tests, language, quality, difficulty and category, then rebalancing."""

    required_info: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "math": ["reference_answer"],
            "code": ["test_cases"],
            "science": ["reference_answer", "ground_truth"],
            "chat": [],
        },
        description="per domain: info types a problem needs (any of them); empty list: none required",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["en", "zh"], description="allowed languages (py3langid codes)"
    )
    language_min_prob: float = Field(
        0.9, description="reject for language only when this sure (0-1) of another language"
    )
    min_quality: int = Field(
        4, description="minimum quality (1-10) from source metadata, the judge or the heuristic prior"
    )
    easy_max: int = Field(3, description="difficulty (1-10) at or below which a problem counts as easy")
    easy_max_fraction: float = Field(0.5, description="easy problems may be at most this share of the kept rows (0-1)")
    judge: bool = Field(
        True, description="rate problems that source metadata leaves unrated with the LLM judge (judge role)"
    )
    judge_max_tokens: int = Field(48, description="maximum tokens of a judge rating reply")


@dataclass
class SelectReport(StageReport):
    judged: int = 0
    judge_parsed: int = 0
    from_metadata: int = 0


def heuristic_quality(problem: str, info_type: str) -> int:
    """Cheap quality prior: short or symbol-soup statements score low; checkable ones higher."""
    prose = re.sub(r"\\[a-zA-Z]+", " ", problem)  # LaTeX commands are not words
    content = len(re.findall(r"[^\W\d_]{2,}", prose)) + 2 * len(re.findall(r"\$[^$]+\$", problem))
    score = 6 + (2 if info_type in ("reference_answer", "test_cases") else 0)
    if content < 3:
        score -= 5
    if sum(ch.isalnum() or ch.isspace() for ch in problem) < 0.5 * len(problem):
        score -= 2
    return max(1, min(10, score))


def judge_prompt(domain: str, problem: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": PROMPT.format(domain=domain, problem=problem[:4000], categories=", ".join(TAXONOMY[domain])),
        }
    ]


def parse_judgement(domain: str, text: str | None) -> dict:
    """{"difficulty", "quality", "category"} from the judge's three lines; None for what it did not give."""
    out: dict = {"difficulty": None, "quality": None, "category": None}
    if not text:
        return out
    for key in ("difficulty", "quality"):
        m = re.search(rf"{key}\s*[:=]\s*(\d+)", text, re.I)
        if m and 1 <= int(m.group(1)) <= 10:
            out[key] = int(m.group(1))
    m = re.search(r"category\s*[:=]\s*([^\n]+)", text, re.I)
    if m:
        name = m.group(1).strip().strip(".*`\"'").lower()
        out["category"] = name if name in TAXONOMY[domain] else category_of(domain, name)
    return out


def _stable_rank(row_id_: str) -> str:
    return hashlib.sha1(row_id_.encode()).hexdigest()


def select(
    rows: pl.DataFrame,
    domain: str,
    judge: Judge | None,
    settings: SelectSettings,
    log: Callable[[str], None] = lambda _: None,
) -> StageOutput:
    """Four phases: screen (reference, language, ratings from source metadata and the heuristic prior), rate (the
    judge rates the rows metadata leaves unrated), gate (minimum quality), rebalance (cap the share of easy rows)."""
    report = SelectReport()
    records = rows.to_dicts()
    candidates, screened_out = _screen(records, domain, settings, report)
    _rate(candidates, domain, judge, report, log)
    survivors, low_quality = _gate(candidates, settings)
    kept, rebalanced = _rebalance(survivors, settings)
    rejects = screened_out + low_quality + rebalanced
    for rej in rejects:
        rej["id"] = row_id(f"{STAGE}_rejects", rej["parent_ids"], [rej["reason"], rej["detail"]])
    log(f"kept {len(kept)} of {len(records)}; rejected {dict(Counter(r['reason'] for r in rejects))}")
    schema = {**rows.schema, **EXTRA_COLUMNS}
    return StageOutput(
        kept=frame(kept, schema), rejects=frame(rejects, REJECTS_SCHEMA), rows_in=len(records), report=report
    )


def _reject(r: dict, reason: str, detail: str) -> dict:
    return {
        **{k: r.get(k) for k in EXTRA_COLUMNS},
        "parent_ids": [r["id"]],
        "domain": r["domain"],
        "source": r["source"],
        "problem": r["problem"],
        "reason": reason,
        "detail": detail,
    }


def _screen(
    records: list[dict], domain: str, settings: SelectSettings, report: SelectReport
) -> tuple[list[dict], list[dict]]:
    """Rows with the reference the domain needs and an allowed language, rated from source metadata where it tells
    (the heuristic prior rates quality); the rest as rejects."""
    candidates, rejects = [], []
    required = settings.required_info.get(domain, [])
    for r in records:
        r = {**r, **{k: None for k in EXTRA_COLUMNS}}
        if required and r["info_type"] not in required:
            rejects.append(
                _reject(
                    r,
                    "no_reference",
                    f"{domain} rows need one of {', '.join(required)}; info_type is {r['info_type']}",
                )
            )
            continue
        r["language"], r["language_prob"] = detect(r["problem"])
        if (
            r["language"] not in settings.languages
            and r["language"] != "und"
            and r["language_prob"] >= settings.language_min_prob
        ):
            rejects.append(
                _reject(
                    r,
                    "language",
                    f"detected {r['language']} (p={r['language_prob']:.2f}); keeping {', '.join(settings.languages)}",
                )
            )
            continue
        difficulty, category = from_metadata(domain, r["meta"])
        r["difficulty"], r["category"] = difficulty, category
        r["difficulty_source"] = "metadata" if difficulty is not None else None
        r["quality"], r["quality_source"] = heuristic_quality(r["problem"], r["info_type"]), "heuristic"
        r["judge_status"] = "not_needed"
        report.from_metadata += difficulty is not None and category is not None
        candidates.append(r)
    return candidates, rejects


def _rate(
    candidates: list[dict], domain: str, judge: Judge | None, report: SelectReport, log: Callable[[str], None]
) -> None:
    """The judge's difficulty, category and quality for the rows source metadata leaves unrated (in place)."""
    to_judge = [r for r in candidates if r["difficulty"] is None or r["category"] is None]
    if not to_judge or judge is None:
        return
    log(f"judging {len(to_judge)} of {len(candidates)} rows (the rest are rated from source metadata)")
    replies = judge([judge_prompt(domain, r["problem"]) for r in to_judge])
    for r, reply in zip(to_judge, replies):
        report.judged += 1
        if reply is None:
            r["judge_status"] = "failed"
            continue
        verdict = parse_judgement(domain, reply)
        r["judge_status"] = (
            "parsed"
            if all(v is not None for v in verdict.values())
            else ("partial" if any(verdict.values()) else "unparsed")
        )
        report.judge_parsed += r["judge_status"] == "parsed"
        if r["difficulty"] is None and verdict["difficulty"] is not None:
            r["difficulty"], r["difficulty_source"] = verdict["difficulty"], "judge"
        r["category"] = r["category"] or verdict["category"]
        if verdict["quality"] is not None:
            r["quality"], r["quality_source"] = verdict["quality"], "judge"


def _gate(candidates: list[dict], settings: SelectSettings) -> tuple[list[dict], list[dict]]:
    """The rows of at least the minimum quality, and the rest as `low_quality` rejects."""
    survivors, rejects = [], []
    for r in candidates:
        if r["quality"] < settings.min_quality:
            rejects.append(
                _reject(r, "low_quality", f"quality {r['quality']} ({r['quality_source']}) < {settings.min_quality}")
            )
        else:
            survivors.append(r)
    return survivors, rejects


def _rebalance(survivors: list[dict], settings: SelectSettings) -> tuple[list[dict], list[dict]]:
    """Kept rows (with their selected_problems ids) once easy rows are capped at their share, and the easy rows over
    the cap (a stable hash order picks them) as `rebalanced` rejects."""
    easy = sorted(
        (r for r in survivors if r["difficulty"] is not None and r["difficulty"] <= settings.easy_max),
        key=lambda r: _stable_rank(r["id"]),
    )
    others = len(survivors) - len(easy)
    allowed = (
        len(easy)
        if settings.easy_max_fraction >= 1
        else int(settings.easy_max_fraction / (1 - settings.easy_max_fraction) * others)
    )
    dropped = {r["id"] for r in easy[allowed:]}
    kept, rejects = [], []
    for r in survivors:
        if r["id"] in dropped:
            rejects.append(
                _reject(
                    r,
                    "rebalanced",
                    f"difficulty {r['difficulty']} ≤ {settings.easy_max}: easy rows capped at {settings.easy_max_fraction:.0%} of the kept rows",
                )
            )
        else:
            kept.append({**r, "parent_ids": [r["id"]], "id": row_id(STAGE, [r["id"]], {"problem": r["problem"]})})
    return kept, rejects
