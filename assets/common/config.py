"""Run config → library settings: every config field that the settings dataclass also has."""

from dataclasses import fields


def settings_from(config, settings_cls):
    names = {f.name for f in fields(settings_cls)}
    return settings_cls(**{k: v for k, v in config.model_dump().items() if k in names})
