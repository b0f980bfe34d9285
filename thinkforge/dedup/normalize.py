"""Text normalization for exact dedup, and the constants a template guard compares."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter

_LATEX_NOISE = re.compile(r"\\[,;:! ]|\\q?quad\b|\\left\b|\\right\b|~")
_FRAC = re.compile(r"\\[dt]frac\b")
_PUNCT = re.compile(r"[;:!?'\"`$]|(?<!\d)[.,]|[.,](?!\d)")  # keeps 3.5 and 1,000
_OPERATOR = re.compile(r"([=+\-*/^<>(){}\[\]])")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?")
_CONSTANT = re.compile(r"\\(?:pi|alpha|beta|gamma|theta|lambda|mu|sigma|omega|phi|infty)\b")


# Signs NFKC leaves alone but that mean the same thing in a problem statement.
_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "*", "\u00f7": "/", "\u2215": "/"})


def normalize(text: str) -> str:
    """NFKC (full-width digits, ligatures) and sign folding; lowercase; drop LaTeX spacing, $ and sentence
    punctuation; collapse whitespace (operators stay)."""
    text = unicodedata.normalize("NFKC", text).translate(_SIGNS)
    text = _FRAC.sub(r"\\frac", text.lower())
    text = _LATEX_NOISE.sub(" ", text)
    text = _PUNCT.sub(" ", text)
    text = _OPERATOR.sub(r" \1 ", text)  # "2x=4" and "2x = 4" alike
    return " ".join(text.split())


def exact_key(problem: str, test_cases: str | None = None) -> str:
    """Hash of the normalized statement, plus the tests: same statement with other tests is another problem."""
    payload = normalize(problem) + "\x00" + (tests_signature(test_cases) or "")
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


def tests_signature(test_cases: str | None) -> str | None:
    if not test_cases:
        return None
    spec = json.loads(test_cases)
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def constants(text: str) -> Counter:
    """Numbers and named constants in a problem: two problems of one template differ here."""
    numbers = [n.rstrip("0").rstrip(".") if "." in n else n.lstrip("0") or "0" for n in _NUMBER.findall(text)]
    return Counter(numbers + _CONSTANT.findall(text))


def constants_key(text: str) -> int:
    """A stable 64-bit key of `constants(text)`: rows with equal constants share it (the guard's blocks)."""
    payload = json.dumps(sorted(constants(text).items()), separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(payload.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams (letters and digits only, lowercased), as open-r1's decontamination uses."""
    return set(ordered_ngrams(text, n))


def ordered_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """The word n-grams of `text` in the order they occur (a set's order changes with each process's hash seed)."""
    words = re.findall(r"\w+", text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
