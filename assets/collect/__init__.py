"""collect: the raw problem pool from every configured source."""

# Files, not upstream assets, feed raw_problems: the inbox sensor, the nightly schedule or a person starts it.
AUTOMATION = {"raw_problems": None}
