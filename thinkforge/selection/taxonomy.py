"""Categories per domain, and what source metadata already says about difficulty and category."""

from __future__ import annotations

import json

TAXONOMY = {
    "math": [
        "algebra",
        "geometry",
        "number theory",
        "combinatorics",
        "probability",
        "calculus",
        "arithmetic",
        "other",
    ],
    "code": [
        "implementation",
        "strings",
        "math",
        "greedy",
        "dynamic programming",
        "graphs",
        "data structures",
        "sorting",
        "other",
    ],
    "science": ["physics", "chemistry", "biology", "earth science", "engineering", "other"],
    "chat": [
        "writing",
        "brainstorming",
        "classification",
        "summarization",
        "translation",
        "open qa",
        "reasoning",
        "other",
    ],
}
_APPS = {"introductory": 2, "interview": 5, "competition": 8}
_NUMINA_SOURCE = {
    "gsm8k": 2,
    "orca_math": 2,
    "synthetic_math": 4,
    "cn_k12": 4,
    "math": 5,
    "amc_aime": 6,
    "aops_forum": 7,
    "olympiads": 7,
}
_ALIASES = {
    "number theory": "number theory",
    "combinatorics": "combinatorics",
    "algebra": "algebra",
    "geometry": "geometry",
    "calculus": "calculus",
    "probability": "probability",
    "inequalities": "algebra",
    "logic and puzzles": "other",
    "dp": "dynamic programming",
    "strings": "strings",
    "greedy": "greedy",
    "graphs": "graphs",
    "sortings": "sorting",
    "implementation": "implementation",
    "data structures": "data structures",
    "math": "math",
    "brainstorming": "brainstorming",
    "general_qa": "open qa",
    "classification": "classification",
    "physics": "physics",
    "chemistry": "chemistry",
    "biology": "biology",
    "intermediate algebra": "algebra",
    "prealgebra": "arithmetic",
    "precalculus": "algebra",
    "counting & probability": "probability",
}


def rating_to_difficulty(rating: float) -> int:
    """Codeforces rating 800..3500 onto 2..10."""
    return int(min(10, max(1, round(2 + (rating - 800) / 340))))


def category_of(domain: str, value) -> str | None:
    if not isinstance(value, str):
        return None
    name = _ALIASES.get(value.strip().lower())
    return name if name in TAXONOMY[domain] else None


def from_metadata(domain: str, source_format_meta: str) -> tuple[int | None, str | None]:
    """(difficulty 1-10, category) that the source already tells, else None."""
    meta = json.loads(source_format_meta or "{}")
    difficulty = None
    if meta.get("difficulty") in _APPS:
        difficulty = _APPS[meta["difficulty"]]
    for key in ("rating", "cf_rating"):
        if isinstance(meta.get(key), (int, float)) and meta[key] > 0:
            difficulty = rating_to_difficulty(meta[key])
    if meta.get("source") in _NUMINA_SOURCE:
        difficulty = _NUMINA_SOURCE[meta["source"]]
    if "identifier" in meta and "category" in meta:  # CHAMP: competition problems
        difficulty = 7
    category = None
    for key in ("problem_type", "category", "subject"):
        category = category or category_of(domain, meta.get(key))
    for tag in meta.get("tags") or meta.get("cf_tags") or []:
        category = category or category_of(domain, tag)
    return difficulty, category
