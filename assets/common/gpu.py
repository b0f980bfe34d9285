"""How model-running assets ask for a GPU: the `gpu` pool (see dagster.yaml) and a k8s resource request."""

GPU_POOL = "gpu"
GPU_OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}},
    },
}
