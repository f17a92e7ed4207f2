"""Zendesk bulk jobs wait through the sleep the adapter is given, never a sleep of its own.

The adapter's HTTP goes to a stand-in transport mounted on its session, so every request
takes the real path (rate budget, 429 hook) and the job's status is scripted.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from adapters.base import Author, JobPending, KeepsRateBudget
from adapters.helpdesk.zendesk import ZendeskHelpdesk


class ScriptedZendesk(BaseAdapter):
    """Answers bulk-job submissions with a queued job, then reads its status as
    ``working`` ``working_reads`` times before it completes (never, when None)."""

    def __init__(self, working_reads: int | None) -> None:
        super().__init__()
        self.working_reads = working_reads
        self.status_reads = 0
        self.requests: list[tuple[str, str]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        self.requests.append((str(request.method), url.split("/api/v2/", 1)[1]))
        if "job_statuses" in url:
            self.status_reads += 1
            done = self.working_reads is not None and self.status_reads > self.working_reads
            status = {"id": "job-1", "status": "completed" if done else "working",
                      "results": [{"index": 0, "id": 501, "status": "Created"}] if done else None}
            body: dict[str, Any] = {"job_statuses": [status]}
        else:
            body = {"job_status": {"id": "job-1", "status": "queued"}}
        response = requests.Response()
        response.status_code, response.url, response.request = 200, url, request
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self) -> None:
        pass


def adapter(working_reads: int | None, **kwargs: Any) -> tuple[ZendeskHelpdesk, ScriptedZendesk]:
    desk = ZendeskHelpdesk.from_config({"url": "https://acme.zendesk.example", "email": "bot@acme.example",
                                        "token": "token"}, **kwargs)
    transport = ScriptedZendesk(working_reads)
    desk.session.mount("https://", transport)
    return desk, transport


@pytest.fixture
def no_wall_clock_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter, called in the test's thread, never sleeps on the wall clock (other
    threads still alive in the process, such as a sandbox's schedulers, sleep as usual)."""
    test_thread, sleep = threading.current_thread(), time.sleep

    def refuse(seconds: float) -> None:
        if threading.current_thread() is not test_thread:
            return sleep(seconds)
        raise AssertionError(f"the adapter slept {seconds}s on the wall clock")

    monkeypatch.setattr(time, "sleep", refuse)


AUTHOR = Author(network="x", id="1", handle="ada", name="Ada")


def test_a_working_job_is_awaited_through_the_injected_sleep(no_wall_clock_sleep: None) -> None:
    waits: list[float] = []
    desk, transport = adapter(3, sleep=waits.append)
    assert desk.upsert_requesters([AUTHOR]) == ["501"]
    assert waits == [0.2, 0.4, 0.8]               # one wait after each "working" read, doubling
    assert transport.status_reads == 4


def test_the_daemon_gives_its_sleep_with_its_clock(no_wall_clock_sleep: None) -> None:
    desk, _ = adapter(2)
    waits: list[float] = []
    assert isinstance(desk, KeepsRateBudget)
    desk.use_clock(time.time, sleep=waits.append)
    assert desk.upsert_requesters([AUTHOR]) == ["501"] and waits == [0.2, 0.4]
    desk.use_clock(time.time)                     # a clock alone keeps the sleep it has
    assert desk._sleep == waits.append


def test_a_job_that_never_finishes_is_handed_back_after_the_job_wait(no_wall_clock_sleep: None) -> None:
    waits: list[float] = []
    desk, transport = adapter(None, sleep=waits.append)
    with pytest.raises(JobPending) as raised:
        desk.upsert_requesters([AUTHOR])
    assert raised.value.job_id == "job-1"
    # A fake sleep lets no time pass: the waits it was asked for bound the polling.
    assert sum(waits[:-1]) < desk.job_wait <= sum(waits) and max(waits) == 2.0
    assert transport.status_reads == len(waits) + 1


def test_without_a_sleep_a_running_job_is_handed_to_the_caller(no_wall_clock_sleep: None) -> None:
    """An adapter nobody gave a way to wait never waits: the job's id goes back to the caller."""
    desk, transport = adapter(3)
    with pytest.raises(JobPending) as raised:
        desk.upsert_requesters([AUTHOR])
    assert raised.value.job_id == "job-1"
    assert transport.status_reads == 1
