"""curate: decontamination, dedup and selection of problems."""

# `make proof` (data/proof/: seeded arithmetic and function tasks): difficulty and quality from the heuristic prior,
# not the 135M judge (a judge call per problem, and its ratings are noise).
PROOF_RUN_CONFIG = {"selected_problems": {"judge": False}}
