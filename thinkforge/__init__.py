"""thinkforge: the library behind the Dagster assets (no Dagster imports here)."""

DOMAINS = ("math", "code", "science", "chat")
