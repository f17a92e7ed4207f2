"""Zendesk bulk jobs: socialdesk's share of the jobs in flight, queueing items as jobs of
up to 100, and polling their statuses until they finish.

The wait between two status reads goes through the ``sleep`` the adapter was given
(the daemon's; a test's or a simulation's fake), never through a sleep of its own.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, ClassVar, Iterator, Sequence
from urllib.parse import quote, urlencode

from adapters.base import (
    Author, JobPending, NewTicket, NotFound, RetriableError, SkippableError, SocialdeskError, TicketRef,
)

Sleep = Callable[[float], None]


class _JobSlots:
    """socialdesk's share of the account's jobs in flight, shared by every route that
    writes through one adapter: a call holds a slot per job from queueing to done."""

    def __init__(self, size: int) -> None:
        self.size, self.used = size, 0
        self._free = threading.Condition()

    @contextlib.contextmanager
    def hold(self, jobs: int, wait: float) -> Iterator[None]:
        jobs = max(1, min(jobs, self.size))  # all at once: two calls never each hold half
        with self._free:
            if not self._free.wait_for(lambda: self.used + jobs <= self.size, wait):
                raise RetriableError(f"Zendesk: socialdesk's {self.size} jobs in flight are all busy")
            self.used += jobs
        try:
            yield
        finally:
            with self._free:
                self.used -= jobs
                self._free.notify_all()


class ZendeskJobs:
    """The batch writes of ``ZendeskHelpdesk`` (``BatchesWrites``, ``WritesSideBySide``,
    ``LinksIncidents``): each goes out as bulk jobs, awaited through the injected sleep."""

    kind: ClassVar[str]
    batch_max: ClassVar[int]
    job_wait: ClassVar[float]
    base_url: str
    _slots: _JobSlots
    _sleep: Sleep | None
    _roles: dict[str, str]
    _api: Callable[..., Any]
    _ticket_fields: Callable[[NewTicket], dict[str, Any]]

    def _jobs(self, method: str, path: str, key: str, items: list[dict[str, Any]], what: str,
              on_submitted: Callable[[str, int, int], None] | None) -> list[tuple[int, int, list[dict[str, Any]]]]:
        """Queue ``items`` as bulk jobs of up to 100 (all in flight at once), say each job's
        id with the slice of items it holds, then wait for them together.

        Returns (start, count, results) per job, in order."""
        with self._slots.hold(-(-len(items) // self.batch_max), self.job_wait):
            queued = self._submit(method, path, key, items, what, on_submitted)
            results = self._wait_jobs([job_id for job_id, *_ in queued], what)
        return [(start, count, results[job_id]) for job_id, start, count in queued]

    def _submit(self, method: str, path: str, key: str, items: list[dict[str, Any]], what: str,
                on_submitted: Callable[[str, int, int], None] | None, offset: int = 0) -> list[tuple[str, int, int]]:
        """Queue ``items`` as bulk jobs of up to 100 without waiting; ``on_submitted`` hears
        each job's slice shifted by ``offset``. Returns (job id, start, count) per job."""
        queued: list[tuple[str, int, int]] = []
        for start in range(0, len(items), self.batch_max):
            chunk = items[start:start + self.batch_max]
            job = self._api(method, path, what, {key: chunk})["job_status"]
            job_id = str(job["id"])
            if on_submitted is not None:
                on_submitted(job_id, offset + start, offset + start + len(chunk))
            queued.append((job_id, start, len(chunk)))
        return queued

    def _wait_jobs(self, job_ids: list[str], what: str) -> dict[str, list[dict[str, Any]]]:
        """Poll the jobs until all have finished (bounded by ``job_wait``): one
        ``job_statuses/show_many`` read per round for up to 100 of them. The waits between
        reads go through the injected sleep; their sum bounds the polling too, so a fake
        sleep that lets no time pass still ends it."""
        deadline = time.monotonic() + self.job_wait
        delay, waited = 0.2, 0.0
        pending = list(job_ids)
        done: dict[str, list[dict[str, Any]]] = {}
        while True:
            for status in self._job_statuses(pending, f"{what} (job statuses)"):
                job_id = str(status.get("id"))
                if status.get("status") == "completed":
                    results = status.get("results")
                    done[job_id] = results if isinstance(results, list) else []
                elif status.get("status") in ("failed", "killed"):
                    raise RetriableError(f"{what}: job {job_id} {status.get('status')}: {status.get('message')}")
            pending = [job_id for job_id in pending if job_id not in done]
            if not pending:
                return done
            if self._sleep is None or time.monotonic() >= deadline or waited >= self.job_wait:
                raise JobPending(f"{what}: {len(pending)} job(s) still running, first {pending[0]}", pending[0])
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def _job_statuses(self, job_ids: list[str], what: str) -> list[dict[str, Any]]:
        """The statuses of ``job_ids``, 100 a read. A job the answer leaves out (expired,
        or unknown) is read by itself, so its absence comes back as NotFound."""
        statuses: list[dict[str, Any]] = []
        for start in range(0, len(job_ids), self.batch_max):
            chunk = job_ids[start:start + self.batch_max]
            query = urlencode({"ids": ",".join(chunk)}, safe=",")
            found = self._api("GET", f"job_statuses/show_many.json?{query}", what).get("job_statuses") or []
            statuses.extend(s for s in found if isinstance(s, dict))
        seen = {str(s.get("id")) for s in statuses}
        for job_id in job_ids:
            if job_id not in seen:
                statuses.append(self._api("GET", f"job_statuses/{quote(job_id, safe='')}.json", what)["job_status"])
        return statuses

    def job_settled(self, job_id: str) -> bool:
        """True once a bulk job has finished (or is too old to be known any more)."""
        try:
            status = self._api("GET", f"job_statuses/{job_id}.json", "read job status")["job_status"]
        except NotFound:
            return True
        return status.get("status") in ("completed", "failed", "killed")

    @staticmethod
    def _by_index(results: list[dict[str, Any]], count: int) -> list[dict[str, Any] | None]:
        ordered: list[dict[str, Any] | None] = [None] * count
        for position, result in enumerate(results):
            index = result.get("index", position)
            if isinstance(index, int) and 0 <= index < count:
                ordered[index] = result
        return ordered

    def _outcome(self, result: dict[str, Any] | None, what: str) -> Any:
        if result is None:
            return RetriableError(f"{what}: the job reported nothing for this item")
        if result.get("error") or result.get("success") is False:
            return SkippableError(f"{what}: {result.get('error')} {result.get('details') or ''}".strip())
        return None

    def upsert_requesters(self, authors: Sequence[Author],
                          on_submitted: Callable[[str, int, int], None] | None = None) -> list[str | SocialdeskError]:
        """Create-or-update up to 100 requesters in one background job."""
        users = []
        for author in authors:
            user: dict[str, Any] = {"name": author.name or f"@{author.handle}", "role": "end-user",
                                    "external_id": f"{author.network}:{author.id}"}
            if author.network == "x":
                user["identities"] = [{"type": "twitter", "value": author.handle}]
            users.append(user)
        out: list[str | SocialdeskError] = [RetriableError("create or update requester: no result")] * len(authors)
        for start, count, results in self._jobs("POST", "users/create_or_update_many", "users", users,
                                                "create or update requesters", on_submitted):
            for offset, result in enumerate(self._by_index(results, count)):
                failed = self._outcome(result, "create or update requester")
                if failed is None:
                    assert result is not None
                    self._roles[str(result["id"])] = "end-user"
                out[start + offset] = failed or str(result["id"])  # type: ignore[index]
        return out

    def create_tickets(self, tickets: Sequence[NewTicket],
                       on_submitted: Callable[[str, int, int], None] | None = None) -> list[TicketRef | SocialdeskError]:
        """Open up to 100 tickets in one ``create_many`` job; per-ticket results in order."""
        return self._created(tickets, self._jobs("POST", "tickets/create_many", "tickets",
                                                 [self._ticket_fields(t) for t in tickets], "create tickets",
                                                 on_submitted))

    def _created(self, tickets: Sequence[NewTicket],
                 jobs: list[tuple[int, int, list[dict[str, Any]]]]) -> list[TicketRef | SocialdeskError]:
        out: list[TicketRef | SocialdeskError] = [RetriableError("create ticket: no result")] * len(tickets)
        for start, count, results in jobs:
            for offset, result in enumerate(self._by_index(results, count)):
                ticket = tickets[start + offset]
                failed = self._outcome(result, "create ticket")
                out[start + offset] = failed or TicketRef(
                    helpdesk=self.kind, id=str(result["id"]), status="new",  # type: ignore[index]
                    external_id=ticket.external_id, url=f"{self.base_url}/agent/tickets/{result['id']}",  # type: ignore[index]
                    requester_id=ticket.requester_id, tags=ticket.tags, priority=ticket.priority)
        return out

    def add_comments(self, comments: Sequence[tuple[str, str, bool, str | None]],
                     on_submitted: Callable[[str, int, int], None] | None = None) -> list[None | SocialdeskError]:
        """(ticket id, body, public, author id) for up to 100 distinct tickets, in one job."""
        return self._commented(comments, self._jobs("PUT", "tickets/update_many", "tickets",
                                                    self._comment_items(comments), "add comments", on_submitted))

    @staticmethod
    def _comment_items(comments: Sequence[tuple[str, str, bool, str | None]]) -> list[dict[str, Any]]:
        tickets = []
        for ticket_id, body, public, author_id in comments:
            comment: dict[str, Any] = {"body": body, "public": public}
            if author_id is not None:
                comment["author_id"] = int(author_id)
            tickets.append({"id": int(ticket_id), "comment": comment})
        return tickets

    def _commented(self, comments: Sequence[tuple[str, str, bool, str | None]],
                   jobs: list[tuple[int, int, list[dict[str, Any]]]]) -> list[None | SocialdeskError]:
        by_id = {str(r.get("id")): r for _, _, results in jobs for r in results}
        return [self._outcome(by_id.get(str(ticket_id)), f"add comment to ticket {ticket_id}")
                for ticket_id, *_ in comments]

    def write_tickets(self, comments: Sequence[tuple[str, str, bool, str | None]], tickets: Sequence[NewTicket],
                      on_submitted: Callable[[str, int, int], None] | None = None,
                      ) -> tuple[list[None | SocialdeskError], list[TicketRef | SocialdeskError]]:
        """``add_comments`` and ``create_tickets`` with all their jobs in flight together,
        awaited in one round of status reads. ``on_submitted`` slices run over the comments,
        then the tickets."""
        jobs = -(-len(comments) // self.batch_max) + -(-len(tickets) // self.batch_max)
        with self._slots.hold(jobs, self.job_wait):
            queued_comments = self._submit("PUT", "tickets/update_many", "tickets", self._comment_items(comments),
                                           "add comments", on_submitted)
            queued_tickets = self._submit("POST", "tickets/create_many", "tickets",
                                          [self._ticket_fields(t) for t in tickets], "create tickets", on_submitted,
                                          offset=len(comments))
            results = self._wait_jobs([job_id for job_id, *_ in queued_comments + queued_tickets],
                                      "add comments and create tickets")
        return (self._commented(comments, [(start, n, results[job]) for job, start, n in queued_comments]),
                self._created(tickets, [(start, n, results[job]) for job, start, n in queued_tickets]))

    def link_incidents(self, problem_id: str, ticket_ids: Sequence[str]) -> None:
        """Make up to 100 tickets incidents of a problem ticket (one bulk job)."""
        if ticket_ids:
            self._jobs("PUT", "tickets/update_many", "tickets", [
                {"id": int(t), "type": "incident", "problem_id": int(problem_id)} for t in ticket_ids],
                "link incidents", None)
