"""HTTP plumbing shared by the adapters: one way to build a session, one way to fail.

Sessions never retry on their own (urllib3 retries are off): tenacity in the engine is
the one retry mechanism, and a blind retry of a POST could post a reply twice.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Protocol, TypeVar, runtime_checkable

import requests
from requests.adapters import HTTPAdapter

from adapters.base import RateLimited, RetriableError, SharedRateBuckets
from adapters.shared_budget import SharedBudget, account_label

log = logging.getLogger("socialdesk.http")

USER_AGENT = "socialdesk/0.1 (+https://socialdesk.example)"
DEFAULT_TIMEOUT = (5.0, 30.0)

T = TypeVar("T")


# By default socialdesk uses at most half of each vendor rate limit, so the brand's other
# integrations keep the rest and a steady state never meets a 429. The share is of the
# vendor account: replicas sharing a state share it (``share_budgets``).
DEFAULT_RATE_SHARE = 0.5


Window = tuple[str, int, int]
"""(bucket, limit, remaining) of a rate window, as the vendor last told it."""


@runtime_checkable
class PacesCalls(Protocol):
    """A session's ``rate_budget``: asked before each call (raising ``RateLimited`` to hold
    it back), told every answer's headers, and asked what is left for the metrics."""

    def before(self, method: str, url: str) -> None:
        raise NotImplementedError

    def after(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def left(self, method: str, url: str) -> Window | None:
        raise NotImplementedError


@dataclass
class _Bucket:
    limit: int
    remaining: int
    reset_at: float


class RateBudget:
    """Stay within a share of a vendor's rate limits, read from the headers it sends.

    Each response tells a bucket's limit, what is left and when it resets; before the
    next call to that bucket, a budget already spent down to the others' share raises
    ``RateLimited`` with the wait, so the engine schedules instead of meeting a 429.
    ``names`` are the vendor's (limit, remaining, reset) header names; ``reset_epoch``
    says whether reset is a Unix time (X) or seconds from now (Zendesk). ``caps`` are
    more such header triples for longer caps some endpoints also have (X's 24-hour
    caps), each kept as a bucket of its own whose wait may reach ``cap_wait``.

    Given a ``SharedBudget`` (``share_with``), each call is also taken from the account's
    bucket in the state, which every replica takes from: together they keep within
    ``share`` of each window of ``window`` seconds (``max_wait`` unless told).
    """

    def __init__(self, vendor: str, names: tuple[str, str, str], *, reset_epoch: bool,
                 bucket_of: Callable[[str, str], str] = lambda method, url: "account",
                 share: float = DEFAULT_RATE_SHARE, max_wait: float = 900.0,
                 clock: Callable[[], float] = time.time,
                 caps: tuple[tuple[str, str, str], ...] = (), cap_wait: float | None = None,
                 window: float | None = None) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"rate share must be in (0, 1], not {share}")
        self.vendor, self.names, self.reset_epoch = vendor, names, reset_epoch
        self.bucket_of, self.share, self.max_wait, self.clock = bucket_of, share, max_wait, clock
        self.caps, self.cap_wait = caps, max_wait if cap_wait is None else cap_wait
        self.window = max_wait if window is None else window
        self.buckets: dict[str, _Bucket] = {}
        self.shared: SharedBudget | None = None
        self._lock = threading.Lock()

    def share_with(self, buckets: SharedRateBuckets, account: str) -> None:
        """Take every call from ``account``'s buckets in ``buckets`` too (shared by replicas)."""
        self.shared = SharedBudget(buckets, account)

    def _kinds(self) -> list[tuple[str, tuple[str, str, str], float]]:
        """(bucket key suffix, header names, longest wait) of the window and each cap."""
        return [("", self.names, self.max_wait)] + [(f" {cap[0].rsplit('-', 1)[0]}", cap, self.cap_wait)
                                                    for cap in self.caps]

    def before(self, method: str, url: str) -> None:
        base = self.bucket_of(method, url)
        now = self.clock()
        with self._lock:
            for suffix, _, max_wait in self._kinds():
                key = base + suffix
                bucket = self.buckets.get(key)
                if bucket is None or now >= bucket.reset_at:
                    continue
                if bucket.remaining <= bucket.limit * (1 - self.share):
                    used = bucket.limit - bucket.remaining
                    wait = min(max(bucket.reset_at - now, 1.0), max_wait)
                    bucket.reset_at = min(bucket.reset_at, now + max_wait)   # a far reset is not believed
                    raise RateLimited(f"{self.vendor}: keeping within {self.share:.0%} of the {key} rate limit "
                                      f"({used} of {bucket.limit} used)", wait)
        if self.shared is not None:
            wait = self.shared.admit(base, now)
            if wait > 0:
                raise RateLimited(f"{self.vendor}: keeping within {self.share:.0%} of the {base} rate limit, "
                                  f"shared by every replica", min(max(wait, 0.1), self.max_wait))

    def left(self, method: str, url: str) -> Window | None:
        """(bucket, limit, remaining) of the window the call to ``url`` counts against, as
        the vendor last told it; None before it has told."""
        key = self.bucket_of(method, url)
        with self._lock:
            bucket = self.buckets.get(key)
        return (key, bucket.limit, bucket.remaining) if bucket is not None else None

    def after(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        base = self.bucket_of(method, url)
        for suffix, names, _ in self._kinds():
            limit, remaining, reset = (headers.get(name) for name in names)
            try:
                bucket = _Bucket(int(limit), int(remaining), float(reset))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if not math.isfinite(bucket.reset_at):
                continue
            if not self.reset_epoch:
                bucket.reset_at += self.clock()
            with self._lock:
                self.buckets[base + suffix] = bucket
            if not suffix and self.shared is not None:
                self.shared.observe(base, bucket.limit, bucket.remaining, self.share, self.window, self.clock())


_ID_PART = re.compile(r"/\d{3,}(?=/|$)")  # ids, not the API version


def endpoint_bucket(method: str, url: str) -> str:
    """A bucket per endpoint: ids in the path do not make a new one."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return f"{method.upper()} /{_ID_PART.sub('/:id', '/' + path).lstrip('/')}"


@dataclass(frozen=True)
class CallSeen:
    """One HTTP call to a vendor as a watcher sees it: never a URL's query, a header or a body."""

    method: str
    endpoint: str                 # the path with ids masked: GET /2/users/:id/mentions
    status: int | None            # None: no answer (timed out, connection failed)
    seconds: float
    window: tuple[str, int, int] | None = None   # (bucket, limit, remaining) when the vendor said


CallWatcher = Callable[[CallSeen], None]


class _TimeoutSession(requests.Session):
    """A session whose every request has a timeout unless the caller sets one, which keeps
    within its ``rate_budget`` when it has one, and tells its ``watchers`` of each call."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._default_timeout = timeout
        self.rate_budget: PacesCalls | None = None
        self.watchers: list[CallWatcher] = []
        # First among the response hooks: a later one may raise on a 429 (Zendesk's), and
        # the answer is counted and its rate headers read all the same.
        self.hooks["response"].insert(0, self._answered)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        budget = self.rate_budget
        if budget is not None:
            budget.before(method, url)
        kwargs.setdefault("timeout", self._default_timeout)
        if isinstance(self.verify, str):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
            # verify; a CA the admin configured for this endpoint must win.
            kwargs.setdefault("verify", self.verify)
        started = time.monotonic()
        try:
            return super().request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            self._tell(CallSeen(method.upper(), call_endpoint(url), None, time.monotonic() - started))
            raise

    def _answered(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        method, url = str(request.method or "GET"), str(request.url or "")
        budget = self.rate_budget
        window = None
        if budget is not None:
            budget.after(method, url, response.headers)
            window = budget.left(method, url)
        self._tell(CallSeen(method.upper(), call_endpoint(url), response.status_code,
                            response.elapsed.total_seconds(), window))

    def _tell(self, call: CallSeen) -> None:
        log.debug("%s %s -> %s (%.0f ms)", call.method, call.endpoint,
                  call.status if call.status is not None else "no answer", call.seconds * 1000)
        for watcher in self.watchers:
            watcher(call)


def call_endpoint(url: str) -> str:
    """A call's path without its query, ids masked (what a log line or a metric may name)."""
    return endpoint_bucket("", url).strip()


def _sessions(obj: Any, depth: int = 2) -> Iterator[_TimeoutSession]:
    """The sessions an adapter speaks through: its own, and those of the clients it holds."""
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if isinstance(value, _TimeoutSession):
            yield value
        elif depth > 0 and not isinstance(value, (str, bytes, int, float, dict, list, tuple, requests.Session)):
            yield from _sessions(value, depth - 1)


def watch_calls(adapter: Any, watcher: CallWatcher) -> int:
    """Tell ``watcher`` of every HTTP call ``adapter`` makes from now on (the daemon counts
    them); how many sessions it watches."""
    found = {id(session): session for session in _sessions(adapter)}
    for session in found.values():
        session.watchers.append(watcher)
    return len(found)


def share_budgets(adapter: Any, buckets: SharedRateBuckets, account: str) -> int:
    """Have ``adapter``'s rate budgets take their calls from ``buckets`` as well, the
    buckets every replica shares, under the adapter's ``account`` (what its
    ``account_key()`` says); how many budgets now share (0: it keeps no such budget)."""
    label = account_label(adapter.kind, account)
    budgets = {id(session.rate_budget): session.rate_budget for session in _sessions(adapter)
               if isinstance(session.rate_budget, RateBudget)}
    for budget in budgets.values():
        budget.share_with(buckets, label)
    return len(budgets)


def build_session(ca_bundle: str | None = None,
                  timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> requests.Session:
    """A session that trusts ``ca_bundle`` (the sandbox CA) or the system store."""
    session = _TimeoutSession(timeout)
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    if ca_bundle:
        session.verify = ca_bundle
    return session


def transport_errors(what: str, call: Callable[[], T]) -> T:
    """Run ``call``; a connection-level failure becomes RetriableError naming ``what``."""
    try:
        return call()
    except requests.Timeout as err:
        raise RetriableError(f"{what}: timed out") from err
    except requests.ConnectionError as err:
        raise RetriableError(f"{what}: connection failed ({type(err).__name__})") from err
    except requests.RequestException as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
