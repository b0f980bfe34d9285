"""Each model role on its own served model: two real vLLM servers on 127.0.0.1 serving two different models, the
teacher pointed at one and the judge and evaluators at the other through configuration (environment) only."""

import sqlite3

import pytest

from resources.generation import role_resources
from tests.generation.vllm_server import finished_requests, serve_vllm
from thinkforge.generation import SamplingParams

QUESTIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Name a primary color."}],
]
GREEDY = SamplingParams(temperature=0.0, max_tokens=12)


pytestmark = pytest.mark.xdist_group("smollm2-server")  # shares the session's smollm2 server


@pytest.fixture(scope="module")
def two_servers(smollm2_server, tiny_model):
    with serve_vllm(tiny_model, "judge-tiny", max_model_len=512) as judge_url:
        yield smollm2_server, judge_url


@pytest.mark.heavy(95)  # the server setup of its group
def test_each_role_reaches_its_own_server_and_caches_apart(two_servers, home, monkeypatch):
    teacher_url, judge_url = two_servers
    for key, value in {
        "THINKFORGE_TEACHER_BASE_URL": teacher_url,
        "THINKFORGE_TEACHER_SERVED_MODEL_NAME": "teacher-smollm2",
        "THINKFORGE_JUDGE_BASE_URL": judge_url,
        "THINKFORGE_JUDGE_SERVED_MODEL_NAME": "judge-tiny",
        "THINKFORGE_EVALUATORS_MODEL": "judge-tiny",
        "THINKFORGE_EVALUATORS_BASE_URL": judge_url,
    }.items():
        monkeypatch.setenv(key, value)
    before = {url: sum(finished_requests(url).values()) for url in two_servers}
    roles = role_resources()
    with roles["teacher"].generator(log=lambda _: None) as g:
        teacher = g.generate(QUESTIONS, GREEDY, n=1)
    with roles["judge"].generator(log=lambda _: None) as g:
        judge = g.generate(QUESTIONS, GREEDY, n=1)
    with roles["evaluators"].generators(log=lambda _: None) as (evaluator,):
        evaluator.generate(QUESTIONS, GREEDY, n=1)  # same model and prompts as the judge: served from the cache
        assert evaluator.stats.calls == 0 and evaluator.stats.cache_hits == 2
    assert "Paris" in teacher[0][0].text and all(c.ok for r in judge for c in r)

    teacher_counts, judge_counts = finished_requests(teacher_url), finished_requests(judge_url)
    assert teacher_counts.get("teacher-smollm2", 0) - before[teacher_url] == 2  # the server's own count
    assert judge_counts.get("judge-tiny", 0) - before[judge_url] == 2
    assert "judge-tiny" not in teacher_counts and "teacher-smollm2" not in judge_counts

    with sqlite3.connect(home / "cache" / "requests.sqlite") as db:
        by_model = dict(db.execute("SELECT model, COUNT(*) FROM completions GROUP BY model").fetchall())
    assert by_model == {"teacher-smollm2@served": 2, "judge-tiny@served": 2}  # same prompts, keys apart by model


def test_a_dead_server_fails_the_role_with_a_clear_error(home, monkeypatch):
    from scripts.postgres import free_port
    from thinkforge.generation.runtime import TooManyFailures

    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    monkeypatch.setenv("THINKFORGE_TEACHER_BASE_URL", dead)
    monkeypatch.setenv("THINKFORGE_TEACHER_SERVED_MODEL_NAME", "teacher-smollm2")
    teacher = role_resources()["teacher"].model_copy(update={"max_retries": 1})
    with teacher.generator(log=lambda _: None) as g, pytest.raises(TooManyFailures) as failure:
        g.generate(QUESTIONS, GREEDY, n=1)
    message = str(failure.value)
    assert message.startswith("teacher: 2 of 2 requests to teacher-smollm2@served at " + dead)
    assert "after 1 retries" in message and "Connection" in message
    with sqlite3.connect(home / "cache" / "requests.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM completions").fetchone() == (0,)  # failures are never cached
