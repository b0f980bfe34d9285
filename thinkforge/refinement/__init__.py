"""Solution refinement and CoT reconstruction: checklists, critique and revision, CoT, the SFT dataset."""

from thinkforge.refinement.checklist import ChecklistSettings, build_checklists
from thinkforge.refinement.cot import CotSettings, reconstruct
from thinkforge.refinement.loop import RefineSettings, refine
from thinkforge.refinement.sft_dataset import build_sft_dataset, export

__all__ = [
    "ChecklistSettings",
    "CotSettings",
    "RefineSettings",
    "build_checklists",
    "build_sft_dataset",
    "export",
    "reconstruct",
    "refine",
]
