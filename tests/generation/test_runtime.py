"""The generation runtime on a tiny local model: cache keys, batching, incremental runs, resume, retries."""

import json
import multiprocessing as mp
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assets.common.metadata import generation_metadata
from tests.conftest import REPO
from tests.generation.cache_writer import write_rows
from thinkforge.generation import (
    Generator,
    OpenAIBackend,
    RequestCache,
    SamplingParams,
    TooManyFailures,
    TransformersBackend,
)
from thinkforge.generation.types import request_key

PARAMS = SamplingParams(temperature=0.0, max_tokens=8)


def convs(n: int, offset: int = 0):
    return [[{"role": "user", "content": f"Question number {i + offset}: what is two plus two?"}] for i in range(n)]


@pytest.fixture(scope="module")
def tiny_backend(tiny_model):
    return TransformersBackend(str(tiny_model))


def test_request_key_covers_model_prompt_params_and_sample_index():
    base = request_key("m@1", "p", PARAMS, 0)
    assert base == request_key("m@1", "p", SamplingParams(temperature=0.0, max_tokens=8), 0)
    assert (
        len(
            {
                base,
                request_key("m@2", "p", PARAMS, 0),
                request_key("m@1", "q", PARAMS, 0),
                request_key("m@1", "p", SamplingParams(temperature=0.5, max_tokens=8), 0),
                request_key("m@1", "p", PARAMS, 1),
            }
        )
        == 5
    )


def test_cache_is_shared_safely_by_processes(tmp_path):
    path = str(tmp_path / "requests.sqlite")
    procs = [mp.get_context("spawn").Process(target=write_rows, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = RequestCache(Path(path))
    assert len(cache) == 600
    assert cache.get_many(["2-199"])["2-199"].text == "t199"


def test_left_padded_batches_match_one_at_a_time(tiny_backend):
    prompts = tiny_backend.render(
        [*convs(1), [{"role": "user", "content": "A much longer question about the electron charge and the sky?"}]]
    )
    batched = tiny_backend.generate(prompts, PARAMS, [0, 0])
    single = [tiny_backend.generate([p], PARAMS, [0])[0] for p in prompts]
    assert [c.text for c in batched] == [c.text for c in single]
    assert batched[0].prompt_tokens < batched[1].prompt_tokens and all(c.completion_tokens == 8 for c in batched)


def test_rematerialization_calls_the_model_only_for_new_rows(tiny_backend, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    first = Generator(tiny_backend, cache, batch_size=4)
    out = first.generate(convs(5), SamplingParams(temperature=0.8, max_tokens=6, seed=3), n=2)
    assert first.stats.calls == 10 and first.stats.cache_hits == 0 and all(len(r) == 2 for r in out)
    again = Generator(tiny_backend, cache, batch_size=4)
    out2 = again.generate(convs(7), SamplingParams(temperature=0.8, max_tokens=6, seed=3), n=2)  # 2 new rows
    assert again.stats.calls == 4 and again.stats.cache_hits == 10
    assert [[c.text for c in r] for r in out2[:5]] == [[c.text for c in r] for r in out]
    assert all(c.cached for r in out2[:5] for c in r) and not any(c.cached for r in out2[5:] for c in r)


def test_the_figures_of_every_role_add_up_in_the_metadata(tiny_backend, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    teacher = Generator(tiny_backend, cache, role="teacher")
    reviser = Generator(tiny_backend, cache, role="reviser")
    teacher.generate(convs(2), PARAMS)
    reviser.generate(convs(3, offset=2), PARAMS)
    reviser.generate(convs(1), PARAMS)  # the teacher's prompt: served from the cache
    total = teacher.stats + reviser.stats
    assert (total.calls, total.cache_hits, total.requested) == (5, 1, 6)
    assert total.completion_tokens == teacher.stats.completion_tokens + reviser.stats.completion_tokens
    assert total.prompt_tokens > reviser.stats.prompt_tokens > 0 and teacher.stats.completion_tokens > 0
    assert total.wall_s == teacher.stats.wall_s + reviser.stats.wall_s
    meta = generation_metadata({"teacher": teacher.stats, "reviser": reviser.stats})
    assert (meta["model_calls"], meta["cache_hits"]) == (5, 1)
    assert (meta["prompt_tokens"], meta["completion_tokens"]) == (total.prompt_tokens, total.completion_tokens)
    rows = meta["calls_per_role"].value.splitlines()[2:]
    assert rows == [
        f"| {role} | {s.calls} | {s.cache_hits} | {s.prompt_tokens} | {s.completion_tokens} |"
        for role, s in (("teacher", teacher.stats), ("reviser", reviser.stats))
    ]
    assert "calls_per_role" not in generation_metadata({"teacher": teacher.stats})


RESUMABLE = """
import sys
from thinkforge.generation import Generator, RequestCache, SamplingParams, TransformersBackend
backend = TransformersBackend(sys.argv[1])
g = Generator(backend, RequestCache(sys.argv[2]), batch_size=2, log=lambda m: print(m, flush=True))
g.generate([[{"role": "user", "content": f"Question number {i}: what is two plus two?"}] for i in range(12)],
           SamplingParams(temperature=0.0, max_tokens=64))
"""


def test_killed_run_resumes_without_repeating_a_call(tiny_model, tiny_backend, tmp_path):
    cache_path = tmp_path / "c.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", RESUMABLE, str(tiny_model), str(cache_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("generated 4/12"):
            proc.kill()  # killed halfway: two batches done
            break
    proc.wait(30)
    cached = len(RequestCache(cache_path))
    assert 4 <= cached < 12
    resumed = Generator(tiny_backend, RequestCache(cache_path), batch_size=2)
    out = resumed.generate(convs(12), SamplingParams(temperature=0.0, max_tokens=64))
    assert resumed.stats.cache_hits == cached and resumed.stats.calls == 12 - cached
    assert len(RequestCache(cache_path)) == 12 and all(r[0].ok for r in out)


class FlakyChatServer(BaseHTTPRequestHandler):
    """A minimal OpenAI-style endpoint that answers 503 and 429 before succeeding (failure injection)."""

    failures: list[int] = []
    calls = 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        if self.failures:
            status = self.failures.pop(0)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"busy")
            return
        reply = {
            "choices": [
                {
                    "message": {"role": "assistant", "content": f"echo: {body['messages'][-1]['content']}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_transient_http_errors_are_retried_with_backoff(flaky_server, tmp_path):
    FlakyChatServer.failures, FlakyChatServer.calls = [503, 429], 0
    backend = OpenAIBackend("m", f"http://127.0.0.1:{flaky_server.server_port}/v1", concurrency=1, max_retries=3)
    g = Generator(backend, RequestCache(tmp_path / "c.sqlite"))
    started = time.monotonic()
    out = g.generate(convs(2), PARAMS)
    assert all(r[0].ok for r in out) and out[0][0].text.startswith("echo: Question number 0")
    assert g.stats.retries == 2 and FlakyChatServer.calls == 4
    assert time.monotonic() - started > 1.0  # backoff: ≥ 0.375 s, then ≥ 0.75 s (the client's 0.5 s × 2^n, jittered)


def test_requests_that_keep_failing_become_failed_rows_not_a_crash(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend("m", f"http://127.0.0.1:{port}/v1", concurrency=2, max_retries=1)
    cache = RequestCache(tmp_path / "c.sqlite")
    g = Generator(backend, cache, max_failed_fraction=1.0)
    out = g.generate(convs(3), PARAMS)
    assert all(not r[0].ok and "APIConnectionError" in r[0].error for r in out)
    assert g.stats.failed == 3 and len(cache) == 0  # failures are never cached: a later run retries them
    assert g.stats.retries == 3  # one retry each, counted also when the request failed in the end
    strict = Generator(
        OpenAIBackend("m", f"http://127.0.0.1:{port}/v1", max_retries=0), cache, max_failed_fraction=0.5
    )
    with pytest.raises(TooManyFailures, match="3 of 3 requests to m@served at http.* failed after 0 retries"):
        strict.generate(convs(3), PARAMS)
