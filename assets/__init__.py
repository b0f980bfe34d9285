"""Software-defined assets, one module per stage; thin wrappers over the thinkforge library."""

from assets.base_model import base_model
from assets.checks import rows_conserved_check
from assets.deduped_problems import deduped_problems
from assets.distilled_responses import distilled_responses
from assets.raw_problems import raw_problems
from assets.selected_problems import selected_problems
from assets.verified_responses import verified_responses

STAGE_ASSETS = [raw_problems, deduped_problems, selected_problems, distilled_responses, verified_responses]  # stored in the warehouse with rejects
ALL_ASSETS = [base_model, *STAGE_ASSETS]
ALL_CHECKS = [rows_conserved_check(a) for a in STAGE_ASSETS]
