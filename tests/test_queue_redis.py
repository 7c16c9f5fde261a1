"""The Redis backend with two consumer processes: the schedule fires once, locks hold across
consumers, each task runs once. The test starts its own ``redis-server`` (Debian package,
installed by scripts/test.sh) on a free port in a temp dir."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest
import redis

import tasks
from nkdash.demo import Faults
from nkdash.jobs import backend, locks, schedule, worker
from nkdash.jobs import requests as jobs_requests
from nkdash.settings import Secret, Settings
from tests.support.consumers import SPRING_NIGHT, fired_at, history, make_settings, runs, settled, wait_for
from tests.support.demo import DATES

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[str]:
    """A private redis-server; yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (scripts/test.sh installs the Debian package)")
    directory, port = tmp_path_factory.mktemp("redis"), free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(directory / "redis.log"),
        ]
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def up() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return proc.poll() is not None

    wait_for(up, 20, "redis-server")
    assert proc.poll() is None, (directory / "redis.log").read_text()
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_settings(redis_server, slow_demo, tmp_path) -> Settings:
    redis.Redis.from_url(redis_server).flushdb()
    return make_settings(slow_demo, tmp_path, queue="redis", redis_url=Secret(redis_server))


def test_backend_is_redis(redis_settings):
    assert backend.backend(redis_settings) == f"redis 127.0.0.1:{redis_settings.redis_url.get().split(':')[2]}"
    assert type(backend.huey_for(redis_settings).storage).__name__ == "PriorityRedisStorage"


def test_two_consumers_fire_each_slot_once(redis_settings, clock, consumers):
    tasks.huey.revoke_all(tasks.daily)
    clock.set(SPRING_NIGHT[0][0])
    pids = {consumers(redis_settings, periodic=True).pid for _ in range(2)}
    for at, expected in SPRING_NIGHT:
        clock.step(redis_settings, at)
        assert fired_at(redis_settings, at) == expected, at
    daily = history(redis_settings, "daily")
    assert len(daily) == len({(r["dataset"], r["date"]) for r in daily}) == 2 * len(schedule.SCHEDULE)
    log = worker.log_file(redis_settings).read_text().splitlines()
    ticks = [line for line in log if "Enqueueing periodic task nkdash.jobs.tasks.tick" in line]
    assert len(ticks) == len(SPRING_NIGHT)  # exactly one consumer per minute
    assert {int(line.split(":")[4]) for line in ticks} <= pids


def test_lock_holds_across_two_consumers(redis_settings, slow_demo, consumers):
    slow_demo.faults = Faults(latency=0.02)
    day = DATES[1]
    for _ in range(2):
        consumers(redis_settings)  # both wait on the queue: each takes one request
    requests = [jobs_requests.enqueue_refresh("pos", day, day, settings=redis_settings) for _ in range(2)]
    wait_for(lambda: settled(redis_settings), 60, "both requests")
    assert runs(redis_settings, "pos", day) == ["skipped", "success"]
    rows = [
        backend.huey_for(redis_settings).history.get(s.task_id)
        for r in requests
        for s in jobs_requests.request_status(r, redis_settings)
    ]
    assert {row["state"] for row in rows} == {"done"}
    assert len({row["params"]["owner"]["pid"] for row in rows}) == 2  # one task per consumer
    assert locks.locks(redis_settings) == {}


def test_each_task_runs_once_across_two_consumers(redis_settings, consumers):
    for _ in range(2):
        consumers(redis_settings, workers=2)
    request = jobs_requests.enqueue_refresh("purchases", "2024-03-27", "2024-04-02", settings=redis_settings)
    wait_for(
        lambda: {s.state for s in jobs_requests.request_status(request, redis_settings)} == {"done"}, 60, "7 dates"
    )
    statuses = jobs_requests.request_status(request, redis_settings)
    assert all(runs(redis_settings, "purchases", s.date) == ["success"] for s in statuses)
    owners = {backend.huey_for(redis_settings).history.get(s.task_id)["params"]["owner"]["pid"] for s in statuses}
    assert len(owners) == 2
