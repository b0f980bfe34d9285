"""models: the checkpoint every model stage starts from."""

# Converted when a person (or the build_base_model job) asks: every training starts from it.
AUTOMATION = {"base_model": None}
