"""New files under THINKFORGE_HOME/inbox/<format>/ trigger a refresh of the domains they feed."""

import hashlib
import json
from collections import defaultdict

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from jobs import refresh_domain
from thinkforge import paths
from thinkforge.collect import domains_of
from thinkforge.collect.inbox import inbox_files, inbox_spec


@sensor(
    job=refresh_domain,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 30 s: new or changed files under `$THINKFORGE_HOME/inbox/<format>/` start one refresh_domain "
    "run per domain they feed (each file version once).",
)
def inbox_sensor(context: SensorEvaluationContext):
    """Cursor: {file: "mtime_ns-size"}; a file version is processed once (run key per domain)."""
    inbox = paths.inbox_dir()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    files, warnings = inbox_files(inbox)
    for warning in warnings:
        context.log.warning(warning)
    changed = {}
    for path in files:
        stat = path.stat()
        key, version = path.relative_to(inbox).as_posix(), f"{stat.st_mtime_ns}-{stat.st_size}"
        if seen.get(key) != version:
            changed[key] = (path, version)
    if not changed:
        return SkipReason(f"no new files under {inbox}")
    by_domain: dict[str, list[str]] = defaultdict(list)
    for key, (path, version) in changed.items():
        for domain in domains_of(inbox_spec(inbox, path)):
            by_domain[domain].append(f"{key}@{version}")
    requests = [
        RunRequest(
            run_key=f"inbox-{domain}-{hashlib.sha256(json.dumps(sorted(items)).encode()).hexdigest()[:16]}",
            partition_key=domain,
            tags={"thinkforge/trigger": "inbox", "thinkforge/files": ",".join(sorted(items))[:1000]},
        )
        for domain, items in sorted(by_domain.items())
    ]
    cursor = {**seen, **{key: version for key, (_, version) in changed.items()}}
    return SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
