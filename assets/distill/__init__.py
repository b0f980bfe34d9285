"""distill: teacher responses and their verification (rejection sampling)."""

# `make demo` keeps the teacher cheap on CPU: 1 sample of at most 160 tokens (the asset defaults are 4 and 1024);
# the sources' own responses are candidates too.
DEMO_RUN_CONFIG = {"distilled_responses": {"samples": 1, "max_tokens": 160}}
