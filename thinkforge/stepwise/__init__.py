"""Step-wise self-rewarding preference data and step-DPO (PSRLM arXiv 2503.03746; Step-DPO arXiv 2406.18629)."""

from thinkforge.stepwise.data import StepDataSettings, build_step_data
from thinkforge.stepwise.dpo import StepDpoSettings, step_dpo_trainer
from thinkforge.stepwise.tournament import PreferenceSettings, run_tournament

__all__ = [
    "PreferenceSettings",
    "StepDataSettings",
    "StepDpoSettings",
    "build_step_data",
    "run_tournament",
    "step_dpo_trainer",
]
