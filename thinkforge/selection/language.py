"""Language of a problem with py3langid (offline, model inside the package), ignoring math and code."""

from __future__ import annotations

import re
from functools import lru_cache

_NOISE = re.compile(r"```.*?```|\$[^$]*\$|\\[a-zA-Z]+|[{}_^\\]|\d+", re.S)


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str, min_words: int = 3) -> tuple[str, float]:
    """(ISO 639-1 code, probability); ("und", 0.0) when too little prose is left to tell."""
    prose = _NOISE.sub(" ", text)
    if len(re.findall(r"\w{2,}", prose)) < min_words and not re.search(
        r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", prose
    ):
        return "und", 0.0
    lang, prob = _identifier().classify(prose)
    return lang, float(prob)
