"""Sensors."""

from sensors.inbox import inbox_sensor

ALL_SENSORS = [inbox_sensor]
