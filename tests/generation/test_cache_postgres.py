"""The request cache in PostgreSQL (the Celery and Kubernetes profiles) on a real server started here: processes
writing at once lose nothing, completions read back as written, and a killed run resumes from the shared table."""

import subprocess
import sys
import uuid

import psycopg2
import pytest

from scripts.postgres import temporary_postgres
from tests.conftest import REPO
from tests.generation.test_runtime import convs
from thinkforge.generation import (
    Completion,
    Generator,
    PostgresRequestCache,
    RequestCache,
    SamplingParams,
    TransformersBackend,
    open_cache,
)
from thinkforge.generation.cache import PG_BATCH, PG_TABLE, libpq_url


@pytest.fixture(scope="module")
def pg_server():
    with temporary_postgres() as url:
        yield url


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh database on the module's server (SQLAlchemy form, as THINKFORGE_POSTGRES_URL carries it)."""
    name = f"cache_{uuid.uuid4().hex[:8]}"
    con = psycopg2.connect(libpq_url(pg_server))
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    con.close()
    return pg_server.rsplit("/", 1)[0] + f"/{name}"


WRITER = """
import sys
from thinkforge.generation.cache import PostgresRequestCache
from thinkforge.generation.types import Completion
url, worker = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # every writer creates the table and writes at the same moment
cache = PostgresRequestCache(url)
for batch in range(40):
    keys = [f"shared-{batch * 50 + i}" if batch < 10 else f"{worker}-{batch * 50 + i}" for i in range(50)]
    cache.put_many("m", [(k, Completion(text=f"w{worker} t{k.split('-')[1]} é", finish_reason="stop")) for k in keys])
cache.close()
"""


def test_processes_writing_at_once_lose_nothing(pg_url):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, str(w)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 3
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        assert [p.wait(120) for p in procs] == [0, 0, 0]
    finally:
        for p in procs:
            p.kill()
            p.wait(30)

    cache = PostgresRequestCache(pg_url)
    assert len(cache) == 500 + 3 * 1500  # 500 keys every writer wrote, 1,500 of each writer's own
    own = cache.get_many([f"{w}-{i}" for w in range(3) for i in range(500, 2000)])
    assert len(own) == 4500 and all(c.text == f"w{k[0]} t{k.split('-')[1]} é" for k, c in own.items())
    shared = cache.get_many([f"shared-{i}" for i in range(500)])
    assert len(shared) == 500 and all(c.text.endswith(f" t{k.split('-')[1]} é") for k, c in shared.items())
    con = psycopg2.connect(libpq_url(pg_url))
    with con.cursor() as cur:
        cur.execute(f"SELECT count(DISTINCT created_by) FROM {PG_TABLE}")
        assert cur.fetchone()[0] == 3  # one row per key, each written by one of the three processes
    con.close()
    cache.close()


def test_completions_read_back_as_written(pg_url, tmp_path):
    cache = open_cache(tmp_path / "unused", pg_url)
    assert isinstance(cache, PostgresRequestCache) and not (tmp_path / "unused").exists()
    written = {
        f"k{i}": Completion(
            text=f"answer {i}\n<think>ü\x00</think>",  # a NUL, as a random model emits
            prompt_tokens=i,
            completion_tokens=2 * i,
            finish_reason="length" if i % 2 else "stop",
        )
        for i in range(PG_BATCH + 7)  # more keys than one batch
    }
    failed = Completion(text=None, error="APIConnectionError: refused")
    cache.put_many("m@1", [*written.items(), ("failed", failed)])
    cache.put_many("m@1", [("k0", Completion(text="a later answer", finish_reason="stop"))])  # first answer kept
    found = cache.get_many([*written, "failed", "never asked"])
    assert set(found) == set(written) and len(cache) == len(written)  # failures are never cached
    for key, completion in written.items():
        assert found[key] == Completion(
            text=completion.text,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
            cached=True,
        )
    cache.close()
    local = open_cache(tmp_path / "local")
    assert isinstance(local, RequestCache) and local.path == tmp_path / "local" / "requests.sqlite"
    local.close()


RESUMABLE = """
import sys
from pathlib import Path
from thinkforge.generation import Generator, SamplingParams, TransformersBackend, open_cache
g = Generator(TransformersBackend(sys.argv[1]), open_cache(Path(sys.argv[3]), sys.argv[2]), batch_size=2,
              log=lambda m: print(m, flush=True))
g.generate([[{"role": "user", "content": f"Question number {i}: what is two plus two?"}] for i in range(12)],
           SamplingParams(temperature=0.0, max_tokens=64))
"""


def test_a_killed_run_resumes_from_the_shared_table_asking_only_for_what_is_missing(tiny_model, pg_url, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", RESUMABLE, str(tiny_model), pg_url, str(tmp_path / "unused")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("generated 4/12"):
                proc.kill()  # killed halfway: two batches done
                break
    finally:
        proc.kill()
        proc.wait(30)
    cache = PostgresRequestCache(pg_url)
    cached = len(cache)
    assert 4 <= cached < 12

    backend = TransformersBackend(str(tiny_model))
    resumed = Generator(backend, cache, batch_size=2)
    out = resumed.generate(convs(12), SamplingParams(temperature=0.0, max_tokens=64))
    assert resumed.stats.cache_hits == cached and resumed.stats.calls == 12 - cached
    assert len(cache) == 12 and all(r[0].ok for r in out)
    assert [r[0].cached for r in out].count(True) == cached

    again = Generator(backend, cache, batch_size=2)  # a second run: every sample from PostgreSQL, no model call
    out2 = again.generate(convs(14), SamplingParams(temperature=0.0, max_tokens=64))  # and two new prompts
    assert again.stats.cache_hits == 12 and again.stats.calls == 2
    assert [r[0].text for r in out2[:12]] == [r[0].text for r in out] and len(cache) == 14
    assert not (tmp_path / "unused").exists()  # nothing went to SQLite
    cache.close()


def test_model_roles_use_the_instance_postgresql_when_there_is_one(tiny_model, pg_url, tmp_path, monkeypatch):
    from resources.generation import role_resource

    monkeypatch.setenv("THINKFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("THINKFORGE_POSTGRES_URL", pg_url)
    with role_resource("teacher", str(tiny_model)).generator(log=lambda _: None) as generator:
        assert isinstance(generator.cache, PostgresRequestCache)
        generator.generate(convs(2), SamplingParams(temperature=0.0, max_tokens=4))
    assert len(PostgresRequestCache(pg_url)) == 2 and not (tmp_path / "home" / "cache").exists()
    monkeypatch.delenv("THINKFORGE_POSTGRES_URL")
    with role_resource("teacher", str(tiny_model)).generator(log=lambda _: None) as generator:
        assert isinstance(generator.cache, RequestCache)
        assert generator.cache.path == tmp_path / "home" / "cache" / "requests.sqlite"
