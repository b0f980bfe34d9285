"""Domain for sources configured with `domain: auto`: a transparent keyword heuristic.

Scores code, math and science cues; the highest score wins, ties and no cues fall back
to `chat` (general instruction data), as a curation pass would file them.
"""

from __future__ import annotations

import re

_CUES = {
    "code": re.compile(
        r"```|\bdef \w+\(|\bfunction\b|\bprogram\b|\bimplement\b|\bpython\b|\bjava(script)?\b|c\+\+|\bstdin\b"
        r"|\binput format\b|\bsql\b|\balgorithm\b|\bcompile\b|\bcode\b|\barray\b|\bregex\b",
        re.I,
    ),
    "math": re.compile(
        r"\$|\\frac|\\sqrt|\\boxed|\bsolve\b|\bequation\b|\binteger\b|\bprove\b|\bhow many\b|\bprobability\b"
        r"|\bfind the (value|sum|number|area|remainder)\b|\d+\s*[-+*/^=]\s*\d+|\bpolynomial\b|\btriangle\b|\bcalculate\b",
        re.I,
    ),
    "science": re.compile(
        r"\b(physics|chemistry|biology|force|velocity|acceleration|energy|molecule|atom|electron|cell|protein|"
        r"reaction|enzyme|gene|dna|photosynthesis|gravity|momentum|newton|joule|kelvin|wavelength|quantum|"
        r"thermodynamic\w*|oxidation|species|evolution|circuit|voltage|magnetic|planet|orbit)\b",
        re.I,
    ),
}


def classify_domain(problem: str, has_tests: bool = False) -> str:
    if has_tests:
        return "code"
    scores = {domain: len(rx.findall(problem)) for domain, rx in _CUES.items()}
    best = max(scores, key=lambda d: scores[d])
    top = scores[best]
    if top == 0 or list(scores.values()).count(top) > 1:
        return "chat"
    return best
