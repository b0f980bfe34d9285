"""S²R data: policy samples, teacher verifications and self-verify / self-correct trajectories (arXiv 2502.12853)."""

from thinkforge.s2r.samples import PolicySampleSettings, sample_policy
from thinkforge.s2r.trajectories import TrajectorySettings, build_trajectories

__all__ = ["PolicySampleSettings", "TrajectorySettings", "build_trajectories", "sample_policy"]
