"""Each group declares its assets' checks and automation beside them; assets/__init__.py only gathers; every asset
page links to its source file."""

import re

from dagster import LocalFileCodeReference, UrlCodeReference

from assets import ALL_ASSETS, ALL_CHECKS, STAGE_ASSETS
from assets.common.code_references import with_code_references
from assets.distill.verified_responses import verified_responses
from tests.conftest import REPO


def _names():
    return {spec.key.to_user_string() for a in ALL_ASSETS for spec in a.specs}


def test_the_gathering_module_names_no_asset():
    source = (REPO / "assets" / "__init__.py").read_text()
    named = {name for name in _names() if re.search(rf"\b{name}\b", source)}
    assert not named, f"assets/__init__.py names {sorted(named)}: declare it in its group's __init__.py"
    assert not re.search(r"\bstep_(preferences|dpo_model)_", source)


def test_checks_declared_by_the_groups_are_the_checks_of_the_code_location():
    keys = {f"{k.asset_key.to_user_string()}:{k.name}" for c in ALL_CHECKS for k in c.check_keys}
    assert {k for k in keys if not k.endswith(":rows_conserved")} == {
        "m1_model:rows_fit",
        "model_eval:no_regression",
        "s2r_trajectories:enough_training_rows",
        "s2r_trajectories:training_format",
        "sft_dataset:enough_training_rows",
        "sft_dataset:training_format",
        "sft_model:rows_fit",
        "step_dpo_model_1:rows_fit",
        "step_dpo_model_2:rows_fit",
        "step_preferences_1:enough_training_rows",
        "step_preferences_1:training_format",
        "step_preferences_2:enough_training_rows",
        "step_preferences_2:training_format",
        "step_sft_data:enough_training_rows",
        "step_sft_data:training_format",
    }
    assert {k for k in keys if k.endswith(":rows_conserved")} == {
        f"{a.key.to_user_string()}:rows_conserved" for a in STAGE_ASSETS
    }


def test_every_asset_page_links_to_the_file_that_defines_it():
    for asset in ALL_ASSETS:
        for spec in asset.specs:
            name, group = spec.key.to_user_string(), spec.group_name
            (ref,) = spec.metadata["dagster/code_references"].code_references
            assert isinstance(ref, LocalFileCodeReference)
            path = REPO / "assets" / group / ref.file_path.rsplit(f"/assets/{group}/", 1)[-1]
            assert ref.file_path == str(path) and path.is_file(), (name, ref.file_path)
            assert "@asset(" in path.read_text().splitlines()[ref.line_number - 1], (name, ref.line_number)


def test_with_a_repository_address_the_link_is_the_file_in_the_repository():
    verified = next(a for a in ALL_ASSETS if a.key.to_user_string() == "verified_responses")
    local = verified.specs_by_key[verified.key].metadata["dagster/code_references"].code_references[0]
    (linked,) = with_code_references(
        [verified_responses], git_url="https://github.com/example/thinkforge", git_branch="dev"
    )
    (ref,) = linked.specs_by_key[linked.key].metadata["dagster/code_references"].code_references
    assert isinstance(ref, UrlCodeReference)
    assert ref.url == (
        f"https://github.com/example/thinkforge/tree/dev/assets/distill/verified_responses.py#L{local.line_number}"
    )
