"""Curation, part 2: the select rules (see select.py)."""

from thinkforge.selection.select import STAGE, SelectReport, SelectSettings, parse_judgement, select

__all__ = ["STAGE", "SelectReport", "SelectSettings", "parse_judgement", "select"]
