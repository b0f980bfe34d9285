"""Jobs and schedules. A data refresh selects the data groups only: it never starts training."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from assets import DATA_GROUPS
from jobs.trace import TRACE_JOBS
from thinkforge import DOMAINS

refresh_domain = define_asset_job(
    "refresh_domain",
    selection=AssetSelection.groups(*DATA_GROUPS),
    description="Re-collect one domain's raw pool and rebuild the data assets built on it (no training).",
)

build_base_model = define_asset_job(
    "build_base_model",
    selection=AssetSelection.assets("base_model"),
    description="Convert the packaged (or configured) base model into an HF folder: the start of every training.",
)

build_domain = define_asset_job(
    "build_domain",
    selection=AssetSelection.all() - AssetSelection.assets("base_model"),
    description="The whole graph for one domain partition, raw pool to evaluated models (needs base_model).",
)


@schedule(
    job=refresh_domain,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description=f"Every night at 02:00 UTC: one refresh_domain run per domain partition ({', '.join(DOMAINS)}); "
    "off until switched on.",
    metadata={"partitions": ", ".join(DOMAINS), "runs_per_tick": len(DOMAINS)},
)
def nightly_refresh(context: ScheduleEvaluationContext):
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for domain in DOMAINS:
        yield RunRequest(
            run_key=f"nightly-{day}-{domain}", partition_key=domain, tags={"thinkforge/trigger": "nightly"}
        )


ALL_JOBS = [refresh_domain, build_base_model, build_domain, *TRACE_JOBS]
ALL_SCHEDULES = [nightly_refresh]
