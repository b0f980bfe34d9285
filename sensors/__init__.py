"""Sensors."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from sensors.inbox import inbox_sensor

# Evaluates every asset's automation condition (assets/__init__.py) while the daemon runs.
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds assets whose dependencies were updated, once their blocking checks passed (eager).",
)

ALL_SENSORS = [inbox_sensor, automation_sensor]
