"""The executor of every job, chosen by THINKFORGE_EXECUTOR: Dagster's default (steps as processes of one machine),
celery (each step a task for dagster-celery workers over a broker) or k8s (each step a pod)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster import ExecutorDefinition

from thinkforge.paths import REPO_ROOT

K8S_CONFIG = REPO_ROOT / "deploy" / "k8s" / "executor.yaml"
CELERY_CONFIG = REPO_ROOT / "deploy" / "celery" / "executor.yaml"


def k8s_executor_config(path: Path | None = None) -> dict:
    """The k8s_job_executor's config: deploy/k8s/executor.yaml, or the file THINKFORGE_K8S_EXECUTOR_CONFIG names."""
    path = path or Path(os.environ.get("THINKFORGE_K8S_EXECUTOR_CONFIG") or K8S_CONFIG)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def celery_executor_config(path: Path | None = None) -> dict:
    """The celery_executor's config: `execution.config` of deploy/celery/executor.yaml (or of the file
    THINKFORGE_CELERY_EXECUTOR_CONFIG names) — the same file the workers start from (`dagster-celery worker start -y`),
    so the run and its workers agree on the broker."""
    path = path or Path(os.environ.get("THINKFORGE_CELERY_EXECUTOR_CONFIG") or CELERY_CONFIG)
    return yaml.safe_load(path.read_text(encoding="utf-8"))["execution"]["config"]


def executor_from_env() -> ExecutorDefinition | None:
    """None (unset or `default`: Dagster's multiprocess executor) | celery (dagster-celery's celery_executor) |
    k8s (dagster-k8s' k8s_job_executor)."""
    kind = os.environ.get("THINKFORGE_EXECUTOR") or "default"
    if kind == "default":
        return None
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(), name="celery")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(k8s_executor_config(), name="k8s")
    raise ValueError(f"THINKFORGE_EXECUTOR={kind!r}: use default, celery or k8s")
