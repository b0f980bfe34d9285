"""The k8s deployment, checked without a cluster: definitions load with the k8s_job_executor from deploy/k8s/, and
the pod spec Dagster renders for a step asks for a GPU exactly on model-running assets."""

import importlib
import sys
from types import SimpleNamespace

import pytest
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from jobs.executors import k8s_executor_config


@pytest.fixture
def k8s_defs(monkeypatch):
    monkeypatch.setenv("THINKFORGE_EXECUTOR", "k8s")
    sys.modules.pop("definitions", None)
    defs = importlib.import_module("definitions").defs
    yield defs
    sys.modules.pop("definitions", None)


# What the K8sRunLauncher of Dagster's Helm chart contributes to every step job (its defaults)
HELM_RUN_LAUNCHER = SimpleNamespace(
    job_image=None,
    dagster_home="/opt/dagster/dagster_home",
    instance_config_map="dagster-instance",
    postgres_password_secret="dagster-postgresql-secret",
)


def step_job(defs, asset: str):
    """The V1Job the k8s_job_executor launches for `asset`'s step, merged as K8sStepHandler merges it."""
    config = k8s_executor_config()
    executor_context = K8sContainerContext(
        image_pull_policy=config.get("image_pull_policy"),
        env_secrets=config.get("env_secrets"),
        env_vars=config.get("env_vars"),
        volume_mounts=config.get("volume_mounts"),
        volumes=config.get("volumes"),
        namespace=config.get("job_namespace"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config.get("step_k8s_config", {})),
    )
    tags = defs.get_assets_def(asset).op.tags
    context = executor_context.merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags)))
    job_config = context.get_k8s_job_config("thinkforge:test", HELM_RUN_LAUNCHER)
    return construct_dagster_k8s_job(
        job_config, ["dagster", "api", "execute_step"], f"dagster-step-{asset}", context.run_k8s_config
    )


def test_definitions_use_the_k8s_executor_from_deploy(k8s_defs):
    assert k8s_defs.executor.name == "k8s"
    assert k8s_executor_config()["job_namespace"] == "thinkforge"


@pytest.mark.parametrize(
    ("asset", "gpu"),
    [("distilled_responses", True), ("sft_model", True), ("raw_problems", False), ("deduped_problems", False)],
)
def test_model_running_steps_request_a_gpu_and_data_steps_do_not(k8s_defs, asset, gpu):
    job = step_job(k8s_defs, asset)
    (container,) = job.spec.template.spec.containers
    requests, limits = container.resources.requests or {}, container.resources.limits or {}
    assert ("nvidia.com/gpu" in requests and limits.get("nvidia.com/gpu") == "1") is gpu
    assert requests["cpu"] == "2" and requests["memory"] == "8Gi"  # every step: the executor's step_k8s_config
    env = {e.name: e.value for e in container.env}
    assert env["THINKFORGE_HOME"] == "/data/thinkforge" and env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    secrets = {source.secret_ref.name for source in container.env_from}
    assert {"thinkforge-model-endpoints", "thinkforge-request-cache"} <= secrets  # endpoints; the PostgreSQL cache URL
    (mount,) = container.volume_mounts
    assert mount.mount_path == "/data/thinkforge"
    assert job.spec.template.spec.volumes[0].persistent_volume_claim.claim_name == "thinkforge-home"
    assert job.metadata.namespace is None or job.metadata.namespace == "thinkforge"
