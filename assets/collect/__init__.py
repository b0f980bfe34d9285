"""collect: the raw problem pool from every configured source."""
