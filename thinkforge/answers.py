"""Pull final answers out of solution text."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def last_boxed(text: str | None) -> str | None:
    """Content of the last \\boxed{...} (nested braces allowed), or None."""
    if not text:
        return None
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            content = text[start : i - 1].strip()
            if content:
                return content
    return None


def final_number(text: str | None) -> str | None:
    """The last number in a worked solution (orca-math style answers), commas removed."""
    if not text:
        return None
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


# --- the answer a worked solution states -------------------------------------------------------------------------

_ANSWER_PHRASE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=|would be|will be)\s*:?\s*(.+?)\s*(?:\.\s|\.?$|\n|;)", re.I
)
_GSM_MARK = re.compile(r"^####\s*(.+?)\s*$", re.M)
_KEYWORD = re.compile(
    r"\b(?:is|are|equals|was|were|be|exist|exists|has|have|get|gets|obtain|find|gives|yields|appears|occurs)\b\s*(?:equal to\s+|exactly\s+|precisely\s+)?",
    re.I,
)
_THERE = re.compile(
    r"\bthere\s+(?:are|is|exist|exists|were|will be)\s+(?:exactly|precisely|a total of|only)?\s*", re.I
)
_LEAD = re.compile(
    r"^(?:(?:since|because|as)\b[^,]*,\s*)?(?:thus|so|hence|therefore|finally|then|in total|in conclusion)?,?\s*"
    r"(?:we\s+(?:have|get|obtain|find|end up with)\s+)?(?:a total of\s+)?",
    re.I,
)
_CLAUSE = re.compile(
    r",?\s*\b(?:which means(?: that)?|which gives|so that|and so|so)\s+|,\s+and\s+(?=[A-Za-z]{2,})", re.I
)
_WORDS = re.compile(r"[A-Za-z]{2,}")
_MATH_WORDS = {
    "pi",
    "ln",
    "sqrt",
    "frac",
    "dfrac",
    "tfrac",
    "log",
    "sin",
    "cos",
    "tan",
    "exp",
    "cdot",
    "pm",
    "infty",
    "binom",
    "choose",
    "left",
    "right",
    "text",
    "boxed",
    "mod",
    "min",
    "max",
    "cup",
    "cap",
    "gcd",
    "lcm",
}
_SIMPLE_LHS = re.compile(r"^\s*\\?[A-Za-z](?:_\w+|_\{[^}]*\})?\s*$")


def _closing_sentence(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", lines[-1]) if s.strip()]
    return (sentences[-1] if sentences else lines[-1]).strip().rstrip(".")


def _is_math_word(text: str, m: re.Match) -> bool:
    return text[m.start() - 1 : m.start()] == "\\" or m.group(0).lower() in _MATH_WORDS  # \times, sqrt


def _leading_math(text: str) -> str | None:
    """The expression at the start of `text`, up to the first plain word ("144 ways to …" → "144"); for a chain
    "A=B=C" (or "f(1)=7") the last right-hand side, while "x=6, y=5" stays whole."""
    text = re.sub(r"\$|\\[()\[\]]", " ", text).strip()  # math delimiters: $…$, \(…\), \[…\]
    text = re.sub(r"\s+and\s+", ", ", text)
    word = next((m for m in _WORDS.finditer(text) if not _is_math_word(text, m)), None)
    expr = (text[: word.start()] if word else text).strip().rstrip(",;:([{ ").strip()
    if not expr or not re.search(r"[\d\w]", expr):
        return None
    parts = _top_level(expr, ",")
    if all("=" in p for p in parts) and len(parts) > 1 and all(_SIMPLE_LHS.match(p.split("=")[0]) for p in parts):
        return expr  # a solution tuple: x=6, y=5
    if len(parts) > 1 and all("=" in p and not p.startswith("(") for p in parts):
        expr = parts[-1]  # a run of values "T(5)=26, T(6)=76": the last one
        parts = [expr]
    chain = _top_level(expr, "=")
    if len(parts) == 1 and len(chain) > 1 and not _SIMPLE_LHS.match(chain[0]):
        expr = chain[-1]
    return expr or None


def _top_level(expr: str, sep: str) -> list[str]:
    """`expr` split at `sep` outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in expr:
        depth += (ch in "([{") - (ch in ")]}")
        if ch == sep and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [*parts, current.strip()]


def stated_answer(text: str | None) -> tuple[str | None, str]:
    """The final answer a solution states, and how it was found: "boxed" (\\boxed{}), "phrase" ("the answer is …",
    "#### …"), "conclusion" (the closing sentence: "there are N …", "… is X"), or (None, "none") when it states none.

    Unboxed text is never reduced to its last number (math-verify's fallback): "There are 76 involutions on the set
    {1, ..., 6}" states 76, not 6."""
    if not text:
        return None, "none"
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed, "boxed"
    phrases = _ANSWER_PHRASE.findall(text) or _GSM_MARK.findall(text)
    if phrases:
        phrase = phrases[-1].strip().rstrip(".")
        value = _leading_math(phrase) or _value_of(phrase)
        return (value, "phrase") if value else (None, "none")
    value = _value_of(_closing_sentence(text))
    return (value, "conclusion") if value else (None, "none")


def _value_of(sentence: str) -> str | None:
    """The value a concluding sentence states: after "there are", else after the last "is / are / equals / has"
    that is followed by an expression, else the expression the sentence opens with ("So 11 is the smallest …"),
    else what follows its last "="."""
    for clause in reversed(_CLAUSE.split(sentence)):  # the last clause that states a value
        there = list(_THERE.finditer(clause))
        candidates = [clause[m.end() :] for m in reversed(there)]
        candidates += [clause[m.end() :] for m in reversed(list(_KEYWORD.finditer(clause)))]
        candidates.append(_LEAD.sub("", clause, count=1))
        sides = _top_level(clause, "=")
        if len(sides) > 1:  # "Tom reads 25 * 14 = 350 pages"
            candidates.append(sides[-1])
        for rest in candidates:
            value = _leading_math(rest)
            if value and value not in ("I", "a", "A") and re.search(r"\d|=|^[A-Za-z]$|\\", value):
                return re.sub(r"^(\d{1,3}(?:,\d{3})+)$", lambda m: m.group(1).replace(",", ""), value)
    return None


def reference_forms(reference: str) -> list[str] | None:
    """The math forms of a reference answer that count as right (CHAMP style: "k-2 (i.e., all of them)",
    "C(10, 5), or equivalently 252", "-3 is the only possible value", "376 and 625"); None when the reference is
    text ("No", "It is not possible"), which math-verify cannot decide."""
    ref = re.sub(r"\s*\((?:i\.e\.|e\.g\.|that is|or)[^)]*\)", "", reference.strip())
    ref = re.sub(
        r"\s+(?:is|are) the only (?:possible )?(?:value|values|solution|solutions|answer)s?\.?$", "", ref, flags=re.I
    )
    forms = [f.strip().strip(",").strip() for f in re.split(r",?\s+or equivalently\s+|,?\s+or\s+", ref) if f.strip()]
    forms = [re.sub(r"\s+and\s+", ", ", f) for f in forms]
    math = [f for f in forms if not any(w.lower() not in _MATH_WORDS for w in _WORDS.findall(f))]
    math = [f for f in math if not re.fullmatch(r"(?:yes|no)\.?", f, re.I)]
    return math or None
