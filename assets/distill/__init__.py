"""distill: teacher responses and their verification (rejection sampling)."""

# `make demo` keeps the teacher cheap on CPU: 1 sample of at most 160 tokens (the asset defaults are 4 and 1024);
# the sources' own responses are candidates too.
DEMO_RUN_CONFIG = {"distilled_responses": {"samples": 1, "max_tokens": 160}}

# `make proof`: the sources' worked solutions are the candidates; no teacher samples (the 135M teacher answers these
# right about 1 time in 4, and every selected problem would cost K samples).
PROOF_RUN_CONFIG = {"distilled_responses": {"samples": 0}}
