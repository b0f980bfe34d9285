"""`make ui`: dagster dev (webserver + daemon) serves the graph and launches a partition run."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from scripts.process_groups import stop_group
from tests.conftest import REPO
from thinkforge import warehouse

ASSETS_QUERY = "{ assetNodes { assetKey { path } isPartitioned partitionKeys groupName hasAssetChecks } }"
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_ui_shows_the_graph_and_launches_a_partition(dagster_dev, home):
    port = dagster_dev
    deadline = time.monotonic() + 60
    while not (nodes := graphql(port, ASSETS_QUERY)["assetNodes"]):  # code location still loading
        assert time.monotonic() < deadline
        time.sleep(1)
    raw = next(n for n in nodes if n["assetKey"]["path"] == ["raw_problems"])
    assert (
        raw["isPartitioned"] and raw["partitionKeys"] == ["math", "code", "science", "chat"] and raw["hasAssetChecks"]
    )
    params = {
        "selector": {
            "repositoryLocationName": "thinkforge",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw_problems"]}],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "science"}]},
    }
    launched = graphql(port, LAUNCH, {"p": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 240  # queued → dequeued by the daemon → run
    while (status := graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]) not in (
        "SUCCESS",
        "FAILURE",
        "CANCELED",
    ):
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert status == "SUCCESS"
    assert warehouse.read_info(home, "raw_problems", "science")["run_id"] == run_id
