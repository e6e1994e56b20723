"""Real applications on ``wireproto serve`` as their Redis: an RQ worker and a Celery chord.

Each runs its own worker process (``python -P``) against the server over loopback and
checks what the application promises: RQ runs enqueued jobs, records results and
failures, retries and runs scheduled jobs; Celery (Redis broker and result backend)
runs a chord to its callback. ``SERVER=redis-server`` in the environment runs the same
tests against a real redis-server instead (how these tests themselves were checked).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from _serve import HOST, redis_server, serve, stop
from rq import Queue, Retry
from rq.job import JobStatus

TIMEOUT = 60.0

TASKS = textwrap.dedent(
    """
    import os
    from pathlib import Path


    def add(a, b):
        return a + b


    def fail(message):
        raise ValueError(message)


    def flaky(marker):
        # Fails on the first call, succeeds on the retry.
        path = Path(marker)
        if not path.exists():
            path.write_text("tried")
            raise RuntimeError("first try fails")
        return "second try works"
    """
)

CELERY_APP = textwrap.dedent(
    """
    import os

    from celery import Celery

    url = os.environ["BROKER_URL"]
    app = Celery("celery_tasks", broker=url, backend=url)
    app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)


    @app.task
    def add(a, b):
        return a + b


    @app.task
    def total(numbers):
        return sum(numbers)
    """
)


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``wireproto serve`` (or redis-server with ``SERVER=redis-server``); its port."""
    workdir = tmp_path_factory.mktemp("applications")
    if os.environ.get("SERVER") == "redis-server":
        with redis_server(workdir) as port:
            yield port
        return
    with serve(workdir / "serve.log", formats={"resp"}) as running:
        yield running.port


def _python(*args: str, cwd: Path, url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "BROKER_URL": url}
    return subprocess.Popen(
        [sys.executable, "-P", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_an_rq_worker_runs_jobs_records_failures_retries_and_schedules(
    server_port: int, tmp_path: Path
) -> None:
    (tmp_path / "rq_tasks.py").write_text(TASKS)
    sys.path.insert(0, str(tmp_path))
    try:
        rq_tasks = importlib.import_module("rq_tasks")
    finally:
        sys.path.remove(str(tmp_path))
    url = f"redis://{HOST}:{server_port}/2"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    queue = Queue("jobs", connection=connection)
    done = queue.enqueue(rq_tasks.add, 2, 3)
    failed = queue.enqueue(rq_tasks.fail, "boom")
    retried = queue.enqueue(rq_tasks.flaky, str(tmp_path / "marker"), retry=Retry(max=2))
    scheduled = queue.enqueue_in(timedelta(seconds=1), rq_tasks.add, 20, 22)
    assert scheduled.get_status() == JobStatus.SCHEDULED
    time.sleep(1.5)  # the scheduled job is due when the worker starts
    worker = _python(
        "-m", "rq.cli", "worker", "--burst", "--with-scheduler", "--url", url, "jobs",
        cwd=tmp_path, url=url,
    )  # fmt: skip
    try:
        output, _ = worker.communicate(timeout=TIMEOUT)
    finally:
        stop(worker)
    assert worker.returncode == 0, output.decode(errors="replace")
    done.refresh()
    assert done.get_status() == JobStatus.FINISHED and done.return_value() == 5
    failed.refresh()
    assert failed.get_status() == JobStatus.FAILED
    outcome = failed.latest_result()
    assert outcome is not None and "ValueError: boom" in (outcome.exc_string or "")
    assert failed.id in queue.failed_job_registry
    retried.refresh()
    assert retried.get_status() == JobStatus.FINISHED
    assert retried.return_value() == "second try works"
    scheduled.refresh()
    assert scheduled.get_status() == JobStatus.FINISHED and scheduled.return_value() == 42
    assert len(queue) == 0 and queue.finished_job_registry.count == 3


def test_a_celery_chord_runs_to_its_callback(server_port: int, tmp_path: Path) -> None:
    (tmp_path / "celery_tasks.py").write_text(CELERY_APP)
    url = f"redis://{HOST}:{server_port}/3"
    redis.Redis.from_url(url).flushdb()
    worker = _python(
        "-m", "celery", "-A", "celery_tasks", "worker", "--pool=solo", "--concurrency=1",
        "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        cwd=tmp_path, url=url,
    )  # fmt: skip
    client = _python(
        "-c",
        textwrap.dedent(
            """
            from celery import chord
            from celery_tasks import add, total

            result = chord(add.s(i, i) for i in range(10))(total.s())
            print("chord result", result.get(timeout=45))
            """
        ),
        cwd=tmp_path,
        url=url,
    )
    try:
        output, _ = client.communicate(timeout=TIMEOUT)
    finally:
        stop(client)
        stop(worker)
        assert worker.stdout is not None
        worker_log = worker.stdout.read().decode(errors="replace")
        worker.stdout.close()
    assert client.returncode == 0, output.decode(errors="replace") + worker_log
    assert b"chord result 90" in output, output.decode(errors="replace") + worker_log
