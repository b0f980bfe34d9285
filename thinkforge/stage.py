"""What every stage returns: kept rows, rejected rows with reasons, and the input count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

# Columns every rejects table has (stage-specific columns may follow).
REJECT_SCHEMA = {
    "id": pl.String,
    "parent_ids": pl.List(pl.String),
    "domain": pl.String,
    "source": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}


class StageSettings(BaseModel):
    """Base of every stage's settings: fields carry `Field(default, description=...)`; unknown keys are errors.

    The asset's Dagster run config is built from the same class (`assets.common.config.run_config`).
    """

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_config(cls, config: BaseModel):
        return cls.model_validate(config.model_dump())


@dataclass
class StageReport:
    """Base of a stage's own figures (counts, distributions, sample pairs): each stage declares its report as a
    dataclass subclass, and its asset reads the fields as attributes into materialization metadata."""


@dataclass
class StageOutput:
    """A stage's result for one partition: kept rows, rejects (with `reason`, `detail`), the input count and a report.

    rows_in must equal kept + rejected. `report` holds the stage's own figures (its `StageReport`; None for a stage
    without figures of its own) that the asset turns into materialization metadata.
    """

    kept: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int
    report: StageReport | None = None

    @property
    def conserved(self) -> bool:
        return self.rows_in == self.kept.height + self.rejects.height

    def counts(self) -> dict[str, int]:
        return {"rows_in": self.rows_in, "rows_out": self.kept.height, "rows_rejected": self.rejects.height}


def frame(rows: Iterable[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame with an exact schema (also when there are no rows)."""
    rows = list(rows)
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema, orient="row")


def reason_counts(rejects: pl.DataFrame) -> dict[str, int]:
    if rejects.is_empty():
        return {}
    counts = rejects.group_by("reason").len().sort("len", descending=True)
    return dict(zip(counts["reason"].to_list(), counts["len"].to_list()))
