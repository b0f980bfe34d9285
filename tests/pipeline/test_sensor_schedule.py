"""The inbox sensor (cursor + run keys) and the nightly schedule."""

import datetime as dt
import os

from dagster import (
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)

from jobs import nightly_refresh, refresh_domain
from sensors.inbox import inbox_sensor
from tests.conftest import write_jsonl
from thinkforge import DOMAINS


def tick(cursor=None):
    return inbox_sensor(build_sensor_context(cursor=cursor, instance=DagsterInstance.ephemeral()))


def test_inbox_sensor_requests_affected_partitions_once(home):
    assert isinstance(tick(), SkipReason)
    write_jsonl(home / "inbox" / "orca_math" / "b1.jsonl", [{"question": "2+2?", "answer": "4"}])
    write_jsonl(
        home / "inbox" / "orca" / "b2.jsonl",
        [
            {"id": "x", "system_prompt": "", "question": "Write a limerick about cats.", "response": "..."},
            {
                "id": "y",
                "system_prompt": "",
                "question": "Implement a Python function to sort a list.",
                "response": "...",
            },
        ],
    )
    (home / "inbox" / "notes.txt").write_text("ignored: not under inbox/<format>/")
    first = tick()
    assert sorted(r.partition_key for r in first.run_requests) == ["chat", "code", "math"]
    assert all(r.run_key.startswith(f"inbox-{r.partition_key}-") for r in first.run_requests)
    assert isinstance(tick(first.cursor), SkipReason)  # processed once
    path = home / "inbox" / "orca_math" / "b1.jsonl"
    write_jsonl(path, [{"question": "3+3?", "answer": "6"}, {"question": "4+4?", "answer": "8"}])
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    again = tick(first.cursor)
    assert [r.partition_key for r in again.run_requests] == ["math"]
    assert again.run_requests[0].run_key not in {r.run_key for r in first.run_requests}


def test_sensor_targets_refresh_job_and_runs_by_default():
    assert inbox_sensor.job_name == "refresh_domain"
    assert inbox_sensor.default_status == DefaultSensorStatus.RUNNING


def test_nightly_schedule_is_off_by_default_and_refreshes_every_domain():
    assert nightly_refresh.cron_schedule == "0 2 * * *"
    assert nightly_refresh.default_status == DefaultScheduleStatus.STOPPED
    assert nightly_refresh.job_name == refresh_domain.name
    ctx = build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC))
    requests = list(nightly_refresh(ctx))
    assert [r.partition_key for r in requests] == list(DOMAINS)
    assert requests[0].run_key == "nightly-2026-11-24-math"
