"""curate: decontamination, dedup and selection of problems."""
