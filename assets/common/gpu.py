"""How model-running assets ask for a GPU: the `gpu` pool (see dagster.yaml), a k8s resource request and, on Celery
workers, the `gpu` queue (only workers started with `-q gpu` take these steps; see deploy/celery/README.md)."""

GPU_POOL = "gpu"
GPU_QUEUE = "gpu"
GPU_OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}},
    },
    "dagster-celery/queue": GPU_QUEUE,
}
