"""Run config declared once: a stage's library settings (a pydantic model with described fields) become its Dagster Config.

    class DistillSettings(StageSettings):          # thinkforge/distill.py, no Dagster import
        samples: int = Field(4, description="K teacher samples per problem")

    DistillConfig = run_config(DistillSettings)    # assets/distill/distilled_responses.py
    settings = DistillSettings.from_config(config) # in the asset body

The launchpad shows every field with its description and default.
"""

from __future__ import annotations

from dagster import Config
from pydantic import create_model

from thinkforge.stage import StageSettings


def run_config(settings_cls: type[StageSettings], name: str | None = None) -> type[Config]:
    """A Dagster Config class with exactly the settings' fields (types, defaults, descriptions)."""
    fields = {key: (field.annotation, field) for key, field in settings_cls.model_fields.items()}
    name = name or settings_cls.__name__.removesuffix("Settings") + "Config"
    return create_model(
        name, __base__=Config, __doc__=settings_cls.__doc__, __module__=settings_cls.__module__, **fields
    )
