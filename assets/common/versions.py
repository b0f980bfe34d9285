"""code_version for an asset: a hash of the library files (code, prompt templates) it runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import thinkforge

LIB = Path(thinkforge.__file__).resolve().parent


def code_version(*relative: str) -> str:
    """Hash of the given library files/folders (relative to thinkforge/), sorted and read in full."""
    digest = hashlib.sha256()
    for rel in relative:
        target = LIB / rel
        files = (
            sorted(p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if target.is_dir()
            else [target]
        )
        for path in files:
            digest.update(path.relative_to(LIB).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
