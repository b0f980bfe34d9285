"""The executor of every job, chosen by THINKFORGE_EXECUTOR: Dagster's default (steps as processes of one machine)
or k8s (each step a pod)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster import ExecutorDefinition

from thinkforge.paths import REPO_ROOT

K8S_CONFIG = REPO_ROOT / "deploy" / "k8s" / "executor.yaml"


def k8s_executor_config(path: Path | None = None) -> dict:
    """The k8s_job_executor's config: deploy/k8s/executor.yaml, or the file THINKFORGE_K8S_EXECUTOR_CONFIG names."""
    path = path or Path(os.environ.get("THINKFORGE_K8S_EXECUTOR_CONFIG") or K8S_CONFIG)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def executor_from_env() -> ExecutorDefinition | None:
    """None (unset or `default`: Dagster's multiprocess executor) | k8s (dagster-k8s' k8s_job_executor)."""
    kind = os.environ.get("THINKFORGE_EXECUTOR") or "default"
    if kind == "default":
        return None
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(k8s_executor_config(), name="k8s")
    raise ValueError(f"THINKFORGE_EXECUTOR={kind!r}: use default or k8s")
