"""Stable row ids: a hash of the stage, the parent ids and the row's content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def row_id(stage: str, parent_ids: Iterable[str], content: Any) -> str:
    """16 hex chars of sha256(stage, sorted parents, canonical content)."""
    payload = canonical_json([stage, sorted(parent_ids), content])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
