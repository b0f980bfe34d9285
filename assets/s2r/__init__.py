"""s2r: policy samples and S²R self-verification trajectories."""
