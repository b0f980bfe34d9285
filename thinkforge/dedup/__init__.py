"""Curation, part 1: decontamination and exact + embedding dedup (see dedup.py)."""

from thinkforge.dedup.dedup import STAGE, DedupReport, DedupSettings, dedup
from thinkforge.dedup.store import DedupStore

__all__ = ["STAGE", "DedupReport", "DedupSettings", "DedupStore", "dedup"]
