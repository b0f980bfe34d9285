"""The thinkforge code location: assets, checks, jobs, schedules, sensors and resources."""

import os
import warnings

from dagster import BetaWarning, Definitions, PreviewWarning

warnings.filterwarnings("ignore", category=PreviewWarning)  # partitioned asset checks are a preview API
warnings.filterwarnings("ignore", category=BetaWarning)

from assets import ALL_ASSETS, ALL_CHECKS  # noqa: E402
from jobs import ALL_JOBS, ALL_SCHEDULES  # noqa: E402
from jobs.executors import executor_from_env  # noqa: E402
from resources import EmbedderResource, WarehouseIOManager, WarehouseResource, role_resources  # noqa: E402
from sensors import ALL_SENSORS  # noqa: E402

defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=ALL_JOBS,
    schedules=ALL_SCHEDULES,
    sensors=ALL_SENSORS,
    executor=executor_from_env(),
    resources={
        "warehouse_io": WarehouseIOManager(),
        "warehouse_store": WarehouseResource(),
        **role_resources(),  # teacher, judge, evaluators, reviser, completer, policy
        "embedder": EmbedderResource(
            model=os.environ.get("THINKFORGE_EMBEDDER", ""),
            backend=os.environ.get("THINKFORGE_EMBEDDER_BACKEND", "auto"),
        ),
    },
)
