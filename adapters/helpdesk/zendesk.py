"""Zendesk Support over zenpy, with our own requests session.

zenpy sleeps on HTTP 429 by itself; the engine must schedule instead. Our session's
response hook raises on 429 before zenpy sees the response, so the library never sleeps
and the engine gets ``RateLimited(retry_after)``. Every zenpy, requests and HTTP error is
translated into the adapter error taxonomy here.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket, User
from zenpy.lib.exception import (
    APIException, RecordNotFoundException, TooManyValuesException, ZenpyException,
)

from adapters.base import (
    AgentReply, AuthFailed, Author, Cursor, FatalError, JobPending, NewTicket, NotFound, Page,
    RateLimited, RetriableError, Secret, SkippableError, SocialdeskError, TicketRef,
    BatchesWrites, Helpdesk, KeepsRateBudget, LinksIncidents, ReceivesWebhooks, WritesSideBySide,
)
from adapters.http import DEFAULT_RATE_SHARE, DEFAULT_TIMEOUT, RateBudget, _TimeoutSession

AGENT_ROLES = frozenset({"agent", "admin"})


class _Throttled(requests.RequestException):
    """Raised from the response hook so zenpy never reaches its sleeping 429 loop."""

    def __init__(self, retry_after: float, text: str) -> None:
        super().__init__(f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after
        self.text = text


def _raise_on_429(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", "60"))
        except ValueError:
            retry_after = 60.0
        raise _Throttled(max(retry_after, 1.0), response.text[:200])


class _ZendeskSession(_TimeoutSession):
    """A session that adds per-call headers (``Idempotency-Key``) zenpy cannot pass."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__(timeout)
        self._local = threading.local()

    @contextlib.contextmanager
    def extra_headers(self, headers: Mapping[str, str]) -> Iterator[None]:
        self._local.headers = dict(headers)
        try:
            yield
        finally:
            self._local.headers = {}

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        extra = getattr(self._local, "headers", None)
        if extra:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), **extra}
        return super().request(method, url, **kwargs)


@dataclass(frozen=True)
class ZendeskSettings:
    url: str
    email: str
    token: Secret
    ca_bundle: str | None = None
    rate_share: float = DEFAULT_RATE_SHARE

    def __repr__(self) -> str:
        return f"ZendeskSettings(url={self.url!r}, email={self.email!r}, token={self.token!r})"


def _status_of(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Map every zenpy / requests / HTTP failure onto the adapter taxonomy."""
    try:
        yield
    except _Throttled as err:
        raise RateLimited(f"{what}: Zendesk rate limit", err.retry_after) from err
    except RecordNotFoundException as err:
        raise NotFound(f"{what}: not found") from err
    except TooManyValuesException as err:
        raise FatalError(f"{what}: more than 100 values in one call") from err
    except APIException as err:
        status = _status_of(err)
        detail = str(err)[:300]
        if status in (401, 403):
            raise AuthFailed(f"{what}: HTTP {status} {detail}") from err
        if status is not None and status >= 500:
            raise RetriableError(f"{what}: HTTP {status}") from err
        if status == 409:
            raise RetriableError(f"{what}: HTTP 409 (update conflict)") from err
        if status == 404:
            raise NotFound(f"{what}: not found") from err
        if status in (400, 422):
            raise SkippableError(f"{what}: HTTP {status} {detail}") from err
        raise FatalError(f"{what}: HTTP {status} {detail}") from err
    except requests.HTTPError as err:
        status = _status_of(err)
        if status in (401, 403):
            raise AuthFailed(f"{what}: HTTP {status}") from err
        if status is None or status >= 500 or status in (408, 409):
            raise RetriableError(f"{what}: HTTP {status}") from err
        if status == 404:
            raise NotFound(f"{what}: not found") from err
        raise SkippableError(f"{what}: HTTP {status}") from err
    except (requests.Timeout, requests.ConnectionError) as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
    except requests.RequestException as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
    except ZenpyException as err:
        raise FatalError(f"{what}: {err}") from err


def _iso(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


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


class ZendeskHelpdesk(Helpdesk, BatchesWrites, WritesSideBySide, LinksIncidents, ReceivesWebhooks,
                      KeepsRateBudget):
    """A Zendesk Support account: ``Helpdesk`` through zenpy."""

    kind: ClassVar[str] = "zendesk"
    ticket_keys: ClassVar[frozenset[str]] = frozenset({"type", "brand", "form"})
    settings_schema: ClassVar[Mapping[str, str]] = {
        "url": "url", "email": "string", "token": "secret", "ca_bundle": "path", "rate_share": "share"}
    required_settings: ClassVar[tuple[str, ...]] = ("url", "email", "token")
    # Incremental exports allow 10 requests a minute.
    export_min_interval: ClassVar[float] = 6.0
    # create_many, update_many and create_or_update_many take up to 100 items a job; a
    # backlog goes out as several jobs at once. Zendesk allows an account 30 queued or
    # running jobs; socialdesk keeps to its rate share of them (15 at the default half).
    batch_max: ClassVar[int] = 100
    max_inflight_jobs: ClassVar[int] = 30
    # How long a batch waits for its background job before handing the rows back.
    job_wait: ClassVar[float] = 30.0

    def __init__(self, settings: ZendeskSettings) -> None:
        self.settings = settings
        parts = urlsplit(settings.url)
        if parts.scheme != "https" or not parts.netloc or "." not in parts.netloc:
            raise FatalError(f"zendesk url {settings.url!r}: expected https://<subdomain>.zendesk.com")
        self.base_url = f"https://{parts.netloc}"
        self.session = _ZendeskSession(DEFAULT_TIMEOUT)
        adapter = requests.adapters.HTTPAdapter(max_retries=0)
        self.session.mount("https://", adapter)
        if settings.ca_bundle:
            self.session.verify = settings.ca_bundle
        self.session.hooks["response"].append(_raise_on_429)
        self.batch_jobs = max(1, int(self.max_inflight_jobs * settings.rate_share))
        self._slots = _JobSlots(self.batch_jobs)
        # One account-wide requests-per-minute limit; socialdesk keeps to its share of it.
        self.session.rate_budget = RateBudget(
            "Zendesk", ("x-rate-limit", "x-rate-limit-remaining", "ratelimit-reset"), reset_epoch=False,
            share=settings.rate_share, max_wait=60)
        # zenpy joins subdomain and domain with a dot; splitting the host at its first
        # dot gives back any host, production (acme.zendesk.com) or the sandbox's.
        subdomain, domain = parts.netloc.split(".", 1)
        self.client = Zenpy(subdomain=subdomain, domain=domain, email=settings.email,
                            token=settings.token.reveal(), session=self.session,
                            timeout=DEFAULT_TIMEOUT[1], disable_cache=True)
        self._roles: dict[str, str] = {}
        self._me: str | None = None
        self._names: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> "ZendeskHelpdesk":
        token = values["token"]
        return cls(ZendeskSettings(url=values["url"], email=values["email"],
                                   token=token if isinstance(token, Secret) else Secret(token, "token"),
                                   ca_bundle=values.get("ca_bundle"),
                                   rate_share=float(values.get("rate_share", DEFAULT_RATE_SHARE))))

    def __repr__(self) -> str:
        return f"ZendeskHelpdesk({self.base_url!r})"

    # ------------------------------------------------------------------ users

    def use_clock(self, clock: Callable[[], float]) -> None:
        self.session.rate_budget.clock = clock

    def whoami(self) -> str:
        if self._me is None:
            with _translated("read own user"):
                me = self.client.users.me()
            self._me = str(me.id)
            self._roles[self._me] = me.role
        return self._me

    def upsert_requester(self, author: Author) -> str:
        """Create-or-update keyed on ``<network>:<author id>``: safe to repeat after a crash."""
        identities = [{"type": "twitter", "value": author.handle}] if author.network == "x" else []
        user = User(name=author.name or f"@{author.handle}", external_id=f"{author.network}:{author.id}",
                    role="end-user")
        if identities:
            user.identities = identities
        with _translated("create or update requester"):
            result = self.client.users.create_or_update(user)
        self._roles[str(result.id)] = result.role or "end-user"
        return str(result.id)

    def _learn_roles(self, user_ids: set[str]) -> None:
        """Read the roles of a page's unknown comment authors: one call per 100 of them."""
        unknown = sorted(u for u in user_ids if u.isdigit() and u not in self._roles)
        for start in range(0, len(unknown), 100):
            chunk = unknown[start:start + 100]
            with _translated("read comment authors"):
                users = list(self.client.users(ids=[int(u) for u in chunk]))
            for user in users:
                self._roles[str(user.id)] = user.role or "end-user"
            for missing in set(chunk) - {str(u.id) for u in users}:
                self._roles[missing] = "end-user"  # deleted: never an agent speaking for the brand

    def _role(self, user_id: str) -> str:
        """A comment author's role; a deleted or unreadable user counts as an end user,
        so one odd comment never stops the reading of all the others."""
        if user_id not in self._roles:
            if not user_id.isdigit():
                return "end-user"
            try:
                with _translated("read user"):
                    self._roles[user_id] = self.client.users(id=int(user_id)).role or "end-user"
            except (NotFound, SkippableError):
                self._roles[user_id] = "end-user"
        return self._roles[user_id]

    # ------------------------------------------------------------------ tickets

    def _ref(self, ticket: Any) -> TicketRef:
        """A zenpy ticket, or the ticket's JSON object, as a TicketRef."""
        get = ticket.get if isinstance(ticket, Mapping) else lambda name: getattr(ticket, name)
        return TicketRef(helpdesk=self.kind, id=str(get("id")), status=get("status"),
                         external_id=get("external_id"),
                         url=f"{self.base_url}/agent/tickets/{get('id')}",
                         requester_id=str(get("requester_id")) if get("requester_id") else None,
                         tags=tuple(get("tags") or ()), priority=get("priority"))

    def find_tickets(self, external_id: str) -> list[TicketRef]:
        with _translated("find tickets by external id"):
            found = list(self.client.tickets(external_id=external_id))
        return sorted((self._ref(t) for t in found), key=lambda ref: int(ref.id))

    @staticmethod
    def _ticket_fields(ticket: NewTicket) -> dict[str, Any]:
        """The ticket as the API takes it, for one create or a ``create_many`` batch."""
        fields: dict[str, Any] = dict(
            subject=ticket.subject, external_id=ticket.external_id,
            requester_id=int(ticket.requester_id),
            comment={"body": ticket.body, "public": ticket.public, "author_id": int(ticket.requester_id)},
            tags=list(ticket.tags))
        if ticket.priority is not None:
            fields["priority"] = ticket.priority
        if ticket.type is not None:
            fields["type"] = ticket.type
        for name in ("group_id", "brand_id", "ticket_form_id"):
            value = getattr(ticket, name)
            if value is not None:
                fields[name] = int(value)  # Zendesk ids are JSON integers
        if ticket.custom_fields:
            fields["custom_fields"] = [{"id": int(k), "value": v} for k, v in ticket.custom_fields.items()]
        if ticket.followup_of:
            fields["via_followup_source_id"] = int(ticket.followup_of)
        return fields

    def create_ticket(self, ticket: NewTicket, idempotency_key: str) -> TicketRef:
        fields = self._ticket_fields(ticket)
        fields["comment"] = Comment(**fields["comment"])
        with _translated("create ticket"), self.session.extra_headers({"Idempotency-Key": idempotency_key}):
            audit = self.client.tickets.create(Ticket(**fields))
        return self._ref(audit.ticket)

    # ------------------------------------------------------------------ batches (background jobs)

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
        ``job_statuses/show_many`` read per round for up to 100 of them."""
        deadline = time.monotonic() + self.job_wait
        delay = 0.2
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
            if time.monotonic() >= deadline:
                raise JobPending(f"{what}: {len(pending)} job(s) still running, first {pending[0]}", pending[0])
            time.sleep(delay)
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

    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, TicketRef]:
        """Up to 100 tickets in one call; a deleted ticket is simply absent. The JSON is
        read as it comes: building zenpy objects for a backlog's tickets costs more CPU
        than the call itself."""
        if not ticket_ids:
            return {}
        ids = ",".join(str(int(t)) for t in ticket_ids)
        found = self._api("GET", f"tickets/show_many.json?ids={ids}", "read tickets").get("tickets") or []
        return {str(t["id"]): self._ref(t) for t in found if isinstance(t, dict) and "id" in t}

    def get_ticket(self, ticket_id: str) -> TicketRef:
        with _translated("read ticket"):
            return self._ref(self.client.tickets(id=int(ticket_id)))

    def add_comment(self, ticket_id: str, body: str, *, public: bool,
                    author_id: str | None = None) -> None:
        comment = Comment(body=body, public=public)
        if author_id is not None:
            comment.author_id = int(author_id)
        with _translated("add comment" if public else "add internal note"):
            self.client.tickets.update(Ticket(id=int(ticket_id), comment=comment))

    def update_ticket(self, ticket_id: str, *, priority: str | None = None, add_tags: tuple[str, ...] = (),
                      custom_fields: Mapping[str, Any] | None = None) -> TicketRef:
        """Raise priority, add tags or set fields (rules keyed on them fire in the helpdesk)."""
        with _translated("update ticket"):
            changes: dict[str, Any] = {"id": int(ticket_id)}
            if priority is not None:
                changes["priority"] = priority
            if add_tags:
                changes["additional_tags"] = list(add_tags)  # added to the ticket's, no read needed
            if custom_fields:
                changes["custom_fields"] = [{"id": int(k), "value": v} for k, v in custom_fields.items()]
            audit = self.client.tickets.update(Ticket(**changes))
        return self._ref(audit.ticket)

    def list_comments(self, ticket_id: str) -> list[AgentReply]:
        with _translated("list comments"):
            comments = list(self.client.tickets.comments(int(ticket_id)))
        return [self._reply(ticket_id, c.id, c.author_id, c.body, c.public, c.created_at)
                for c in comments]

    def _reply(self, ticket_id: Any, comment_id: Any, author_id: Any, body: Any, public: Any,
               created_at: Any) -> AgentReply:
        author = str(author_id)
        return AgentReply(helpdesk=self.kind, ticket_id=str(ticket_id), comment_id=str(comment_id),
                          author_id=author, body=str(body or ""), public=bool(public),
                          by_agent=self._role(author) in AGENT_ROLES, created_at=_iso(created_at))

    def fetch_agent_replies(self, cursor: Cursor, page: str | None = None) -> Page:
        """Comments from the incremental ticket-events export since ``cursor`` (epoch s).

        The export leaves out the most recent minute; the cursor is the export's own
        ``end_time``, so nothing between two reads is skipped.
        """
        # No cursor yet: from two minutes ago (the export leaves out the last minute).
        start = page or cursor.value or str(int(time.time()) - 120)
        url = f"{self.base_url}/api/v2/incremental/ticket_events.json"
        with _translated("read ticket events"):
            response = self.session.get(url, params={"start_time": start, "include": "comment_events"})
            if response.status_code in (400, 422) and "start_time" in response.text:
                # The export refuses a start inside its last minute: nothing new yet.
                return Page(items=(), next_page=None, cursor=cursor)
            response.raise_for_status()
        try:
            body = response.json()
            events = body["ticket_events"]
        except (ValueError, KeyError, TypeError) as err:
            raise RetriableError("read ticket events: unexpected response shape") from err
        comments = [(event, child) for event in events if isinstance(event, dict)
                    for child in event.get("child_events") or []
                    if isinstance(child, dict) and "Comment" in (child.get("event_type"), child.get("type"))]
        self._learn_roles({str(child.get("author_id")) for _, child in comments})
        items = [self._reply(event.get("ticket_id"), child.get("id"), child.get("author_id"), child.get("body"),
                             child.get("public"), child.get("created_at")) for event, child in comments]
        end_time = body.get("end_time")
        more = not body.get("end_of_stream", True) and end_time is not None
        next_cursor = Cursor(str(end_time)) if end_time is not None else cursor
        return Page(items=tuple(items), next_page=str(end_time) if more else None, cursor=next_cursor)

    # ------------------------------------------------------------------ names -> ids

    _LOOKUPS: ClassVar[dict[str, tuple[str, str, str]]] = {
        # kind: (path, collection key, name attribute)
        "group": ("groups", "groups", "name"),
        "field": ("ticket_fields", "ticket_fields", "title"),
        "brand": ("brands", "brands", "name"),
        "form": ("ticket_forms", "ticket_forms", "name"),
    }

    def lookup(self, kind: str, name: str | int) -> str:
        """The id of the group / ticket field / brand / form called ``name`` (ids pass through)."""
        if isinstance(name, int) or str(name).isdigit():
            return str(name)
        if kind not in self._LOOKUPS:
            raise FatalError(f"Zendesk has no {kind} setting; use one of: {', '.join(self._LOOKUPS)}")
        path, key, attr = self._LOOKUPS[kind]
        if kind not in self._names:
            # Names change rarely; one read per kind serves every rule a route resolves.
            self._names[kind] = self._list_all(path, key, f"list {path}")
        found = self._names[kind]
        for item in found:
            if str(item.get(attr, "")).casefold() == str(name).casefold():
                return str(item["id"])
        known = ", ".join(sorted(str(item.get(attr)) for item in found)) or "none"
        raise FatalError(f"no Zendesk {kind} named {name!r}; this account has: {known}")

    # ------------------------------------------------------------------ push setup

    def _api(self, method: str, path: str, what: str, body: Any = None) -> Any:
        with _translated(what):
            response = self.session.request(method, f"{self.base_url}/api/v2/{path}", json=body)
            response.raise_for_status()
        return response.json() if response.content else None

    def _list_all(self, path: str, key: str, what: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following its pages (cursor or offset)."""
        items: list[dict[str, Any]] = []
        url: str | None = f"{self.base_url}/api/v2/{path}?page[size]=100"
        while url:
            with _translated(what):
                response = self.session.get(url)
                response.raise_for_status()
            body = response.json()
            items.extend(body.get(key, []))
            meta, links = body.get("meta") or {}, body.get("links") or {}
            # A last cursor page still carries links.next; has_more is what says "more".
            url = links.get("next") if meta.get("has_more") else body.get("next_page")
        return items

    def setup_push(self, name: str, endpoint: str, tag: str) -> tuple[str, Secret, list[str]]:
        """Make sure a webhook to ``endpoint`` and the trigger calling it exist (idempotent).

        The trigger fires on public comments by agents on tickets tagged ``tag``. Returns
        the webhook id, its signing secret and what was created (empty when all existed).
        """
        created: list[str] = []
        hooks = self._list_all("webhooks", "webhooks", "list webhooks")
        hook = next((h for h in hooks if h.get("name") == name), None)
        if hook is None:
            hook = self._api("POST", "webhooks", "create webhook", {"webhook": {
                "name": name, "endpoint": endpoint, "http_method": "POST", "request_format": "json",
                "status": "active", "subscriptions": ["conditional_ticket_events"]}})["webhook"]
            created.append(f"webhook {name!r}")
        elif hook.get("endpoint") != endpoint:
            self._api("PUT", f"webhooks/{hook['id']}", "update webhook",
                      {"webhook": {**{k: hook[k] for k in ("name", "http_method", "request_format",
                                                           "status", "subscriptions") if k in hook},
                                   "endpoint": endpoint}})
            created.append(f"webhook {name!r} endpoint")
        secret = self._api("GET", f"webhooks/{hook['id']}/signing_secret", "read webhook secret")
        title = f"{name}: agent replied"
        triggers = self._list_all("triggers", "triggers", "list triggers")
        # The comment's author and the requester let the receiver drop, without a single
        # API call, the customer's own words socialdesk itself just wrote to the ticket.
        payload = ('{"ticket_id": "{{ticket.id}}", "comment_id": "{{ticket.latest_comment.id}}", '
                   '"author_id": "{{ticket.latest_comment.author.id}}", "requester_id": "{{ticket.requester.id}}"}')
        trigger = {"title": title, "active": True,
                   "conditions": {"all": [
                       {"field": "update_type", "operator": "is", "value": "Change"},
                       {"field": "comment_is_public", "operator": "is", "value": "true"},
                       {"field": "role", "operator": "is", "value": "agent"},
                       {"field": "current_tags", "operator": "includes", "value": tag}], "any": []},
                   "actions": [{"field": "notification_webhook", "value": [hook["id"], payload]}]}
        existing = next((t for t in triggers if t.get("title") == title), None)
        if existing is None:
            self._api("POST", "triggers", "create trigger", {"trigger": trigger})
            created.append(f"trigger {title!r}")
        elif existing.get("actions") != trigger["actions"]:
            self._api("PUT", f"triggers/{existing['id']}", "update trigger", {"trigger": trigger})
            created.append(f"trigger {title!r} payload")
        return str(hook["id"]), Secret(secret["signing_secret"]["secret"], "webhook signing secret"), created

    # ---- service levels (read only)

    @staticmethod
    def _conditions(raw: Any) -> dict[str, list[dict[str, Any]]]:
        """A filter / conditions object as ``{"all": [...], "any": [...]}`` of plain dicts."""
        raw = raw if isinstance(raw, Mapping) else {}
        return {part: [dict(c) for c in (raw.get(part) or []) if isinstance(c, Mapping)]
                for part in ("all", "any")}

    def sla_policies(self) -> list[dict[str, Any]]:
        """The account's SLA policies in ``position`` order (Zendesk applies the first that
        matches): title, position, filter {all, any}, policy_metrics [{priority, metric,
        target (minutes), business_hours}]. Needs an admin's credentials."""
        found = self._list_all("slas/policies", "sla_policies", "list SLA policies")
        policies = []
        for p in found:
            metrics = []
            for m in p.get("policy_metrics") or []:
                if not isinstance(m, Mapping):
                    continue
                target = m.get("target")
                if target is None and isinstance(m.get("target_in_seconds"), (int, float)):
                    target = int(m["target_in_seconds"]) // 60
                metrics.append({"priority": m.get("priority"), "metric": m.get("metric"),
                                "target": target, "business_hours": bool(m.get("business_hours"))})
            policies.append({"id": p.get("id"), "title": str(p.get("title") or ""),
                             "position": p.get("position"), "description": p.get("description"),
                             "filter": self._conditions(p.get("filter")), "policy_metrics": metrics})
        return sorted(policies, key=lambda p: (p["position"] if isinstance(p["position"], int) else 1 << 30,
                                               str(p["id"])))

    def triggers(self) -> list[dict[str, Any]]:
        """The active triggers in ``position`` order: id, title, position, conditions
        {all, any} and actions [{field, value}]."""
        found = self._list_all("triggers/active", "triggers", "list active triggers")
        out = [{"id": t.get("id"), "title": str(t.get("title") or ""), "position": t.get("position"),
                "conditions": self._conditions(t.get("conditions")),
                "actions": [dict(a) for a in t.get("actions") or [] if isinstance(a, Mapping)]}
               for t in found if t.get("active", True)]
        return sorted(out, key=lambda t: (t["position"] if isinstance(t["position"], int) else 1 << 30,
                                          str(t["id"])))
