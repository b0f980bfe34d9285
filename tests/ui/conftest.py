"""`make ui`'s processes for the UI tests: dagster dev (webserver + daemon) on a free port, and its GraphQL API."""

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from scripts.postgres import free_port
from scripts.process_groups import stop_group
from tests.conftest import REPO

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        payload = json.load(resp)
    assert "errors" not in payload, payload
    return payload["data"]


@pytest.fixture
def dagster_dev(home):
    """`dagster dev -w workspace.yaml` on the test's home, as `make ui` starts it; its port once it answers."""
    port = free_port()
    env = {**os.environ, "THINKFORGE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    proc = subprocess.Popen(
        [str(REPO / ".venv/bin/dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, "dagster dev exited"
                assert time.monotonic() < deadline, "dagster dev did not come up"
                time.sleep(1)
        yield port
    finally:
        # the webserver, the daemon and the code servers they started; a throwaway instance: SIGKILL after 5 s (its
        # graceful stop takes ~18 s here)
        stop_group(proc, signal.SIGTERM, grace=5)
