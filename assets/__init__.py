"""Software-defined assets, one module per stage; thin wrappers over the thinkforge library."""

from assets.checks import rows_conserved_check
from assets.raw_problems import raw_problems

ALL_ASSETS = [raw_problems]
ALL_CHECKS = [rows_conserved_check(a) for a in ALL_ASSETS]
