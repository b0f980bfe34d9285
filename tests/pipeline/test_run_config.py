"""Run config is declared once (library settings → Dagster Config) and every field is described in the launchpad."""

import pytest

import definitions
from assets.common.config import run_config
from thinkforge.distill import DistillSettings
from thinkforge.stage import StageSettings


def _fields(config_type, prefix=""):
    for name, field in (getattr(config_type, "fields", None) or {}).items():
        yield f"{prefix}{name}", field
        yield from _fields(field.config_type, f"{prefix}{name}.")


def test_every_run_config_field_of_every_asset_has_a_description():
    missing = []
    for asset in definitions.defs.assets:
        schema = asset.op.config_schema
        if schema is None:
            continue
        for name, field in _fields(schema.config_type):
            if not (field.description or "").strip():
                missing.append(f"{asset.key.to_user_string()}.{name}")
    assert not missing, f"run-config fields without a description: {missing}"


def test_every_resource_field_has_a_description():
    missing = []
    for key, resource in definitions.defs.resources.items():
        for name, field in type(resource).model_fields.items():
            if not (field.description or "").strip():
                missing.append(f"{key}.{name}")
    assert not missing, missing


def test_config_and_settings_share_one_declaration():
    config_cls = run_config(DistillSettings)
    assert set(config_cls.model_fields) == set(DistillSettings.model_fields)
    config = config_cls(samples=2)
    settings = DistillSettings.from_config(config)
    assert settings.samples == 2 and settings.max_tokens == DistillSettings().max_tokens


def test_settings_reject_unknown_keys():
    class Tiny(StageSettings):
        a: int = 1

    with pytest.raises(ValueError):
        Tiny(b=2)
