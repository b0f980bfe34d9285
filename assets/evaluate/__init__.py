"""evaluate: every checkpoint on held-out problems."""
