"""distill: teacher responses and their verification (rejection sampling)."""

# `make demo` keeps the teacher cheap on CPU: 2 samples of at most 192 tokens (the asset defaults are 4 and 1024).
DEMO_RUN_CONFIG = {"distilled_responses": {"samples": 2, "max_tokens": 192}}
