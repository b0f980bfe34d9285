"""Sensors."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from assets import TRAINING_ASSETS
from sensors.inbox import inbox_sensor

TRAINING = AssetSelection.assets(*TRAINING_ASSETS)

# Evaluates the data assets' automation conditions (assets/__init__.py) while the daemon runs; never training.
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all() - TRAINING,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds data assets whose dependencies were updated, once their blocking checks passed (eager); "
    "never a training asset.",
)
# Training's own conditions (enough new rows, a new start checkpoint): off until switched on in the UI. Evaluated in
# the code server, where the new-rows condition reads the warehouse and the checkpoint cards.
training_automation_sensor = AutomationConditionSensorDefinition(
    "training_automation_sensor",
    target=TRAINING,
    default_status=DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=300,
    use_user_code_server=True,
    description="Retrains a checkpoint when its training tables hold THINKFORGE_RETRAIN_MIN_ROWS rows it was not "
    "trained on; the models trained from it follow (off by default).",
)

ALL_SENSORS = [inbox_sensor, automation_sensor, training_automation_sensor]
