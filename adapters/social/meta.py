"""What the Facebook Page and Instagram adapters share: Meta's Graph API over requests.

One session on a versioned base (``{base_url}/{version}/``) carries the Page token; every
response's usage headers feed a budget that slows socialdesk down before Meta throttles
it; Meta's error envelope is translated here into the taxonomy of ``adapters.base``;
batch calls carry up to 50 reads each. Webhooks (Pages ``feed``/``mention``, Messenger
``messaging``, Instagram ``comments``/``mentions``/messaging) are checked and read here
too. Nothing of the wire format leaves this package.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlencode

import requests

from adapters.base import (
    AuthFailed, Author, Change, Cursor, DuplicateContent, FatalError, Media, MediaKind, Mention, NotFound,
    OutboundPost, Page, PostedReply, RateLimited, RetriableError, Secret, SkippableError, SocialdeskError,
    Unparseable, WindowClosed, post_key,
)
from adapters.http import build_session, transport_errors

GRAPH_URL = "https://graph.facebook.com"
# The Graph API version socialdesk is written against (Meta keeps each for about two years).
GRAPH_VERSION = "v25.0"
# Meta's batch requests: "up to 50 requests" per call, each counted on its own against
# the rate limits (Graph API docs, "Making Multiple Requests").
BATCH_MAX = 50
USAGE_HEADERS = ("X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage")
# The usage figures Meta reports, each a percentage of a budget (rate limiting docs).
USAGE_FIGURES = ("call_count", "total_cputime", "total_time")
# The usage figures are this app's own, so socialdesk may use most of them; above this
# share of any figure it waits rather than meet Meta's throttle at 100 %.
DEFAULT_RATE_SHARE = 0.8
PACE_WAIT = 300.0          # a figure above the share, no estimate given: read again in 5 minutes
THROTTLE_WAIT = 900.0      # throttled without an estimate
MAX_WAIT = 24 * 3600.0     # Pages' business use case window is 24 hours
# Meta's throttling codes: 4 app, 17 user, 32 Page, 613 custom, 341 application limit,
# 80001-80014 business use case (Pages 80001, Instagram 80002, Messenger 80006...).
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613} | set(range(80001, 80015)))
AUTH_CODES = frozenset({102, 190})
TOKEN_SUBCODES = {458: "the app is no longer installed for this Page", 459: "the account is checkpointed",
                  460: "the password changed", 463: "the token has expired", 464: "the account is unconfirmed",
                  467: "the token is no longer valid", 492: "the session is no longer valid"}
# Messenger and Instagram messaging: "This message is sent outside of allowed window".
WINDOW_SUBCODES = frozenset({2018278, 2018065, 2018108, 2534022})
PRIVATE_REPLY_USED = 10900       # "(#10900) Activity already replied to"
# Codes integrations report for a Private Reply too late or to an object that takes none
# (not in Meta's Messenger error table; a window error 10/2018278 is read the same way).
PRIVATE_REPLY_LATE = frozenset({10901, 10903})
DUPLICATE_POST = 506
TRANSIENT_CODES = frozenset({1, 2, 1200})
TIME_CURSOR = "t:"
DEFAULT_LOOKBACK_DAYS = 7
MAX_LOOKBACK_DAYS = 30
PAGE_SIZE = 25
COMMENT_PAGE_SIZE = 100
MAX_EXTRA_PAGES = 5        # more pages of one post's comments or one conversation, per read
FIND_PAGES = 5             # how far crash recovery reads back for the brand's own answer
ITEM_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError, IndexError)
_VERSION_RE = re.compile(r"^v\d+\.\d+$")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MetaSettings:
    """A Facebook Page (and the Instagram professional account linked to it), reached with a
    long-lived Page token or a system user token."""

    page_id: str
    page_token: Secret
    app_id: str | None = None
    app_secret: Secret | None = None
    verify_token: Secret | None = None
    base_url: str = GRAPH_URL
    version: str = GRAPH_VERSION
    ca_bundle: str | None = None
    rate_share: float = DEFAULT_RATE_SHARE
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    ig_user_id: str | None = None
    name: str = "meta"

    def __repr__(self) -> str:
        return (f"MetaSettings(page_id={self.page_id!r}, ig_user_id={self.ig_user_id!r}, "
                f"base_url={self.base_url!r}, version={self.version!r})")


SETTINGS_SCHEMA: Mapping[str, str] = {
    "page_id": "string", "page_token": "secret", "app_id": "string", "app_secret": "secret",
    "verify_token": "secret", "base_url": "url", "version": "string", "ca_bundle": "path",
    "rate_share": "share", "lookback_days": "string"}


def settings_problems(values: Mapping[str, Any], *, instagram: bool = False) -> list[str]:
    """What a mapping entry gets wrong for a Meta account (checked with the mapping)."""
    problems = []
    for key in ("page_id",) + (("ig_user_id",) if instagram else ()):
        value = values.get(key)
        if value is not None and not isinstance(value, dict) and not str(value).isdigit():
            problems.append(f"{key} is Meta's numeric id (Page settings > Page transparency, or Graph API "
                            f"Explorer 'me?fields=id'), not a name")
    version = values.get("version")
    if isinstance(version, str) and not _VERSION_RE.match(version):
        problems.append(f"version {version!r}: write it as Meta does, like {GRAPH_VERSION}")
    lookback = values.get("lookback_days")
    if lookback is not None and not isinstance(lookback, dict) and _lookback(lookback) is None:
        problems.append(f"lookback_days: a whole number of days from 1 to {MAX_LOOKBACK_DAYS}")
    return problems


def _lookback(value: Any) -> int | None:
    try:
        days = int(str(value))
    except ValueError:
        return None
    return days if 1 <= days <= MAX_LOOKBACK_DAYS else None


def meta_settings(values: Mapping[str, Any], name: str) -> MetaSettings:
    """Settings from a mapping entry's values (secrets as ``Secret`` or plain text)."""
    def secret(key: str) -> Secret | None:
        value = values.get(key)
        return value if isinstance(value, Secret) or value is None else Secret(str(value), key)

    token = secret("page_token")
    if token is None or not values.get("page_id"):
        raise FatalError(f"{name} needs page_id and page_token (a long-lived Page token or a system user token)")
    lookback = values.get("lookback_days")
    days = DEFAULT_LOOKBACK_DAYS if lookback is None else _lookback(lookback)
    if days is None:
        raise FatalError(f"{name} lookback_days: a whole number of days from 1 to {MAX_LOOKBACK_DAYS}")
    return MetaSettings(
        page_id=str(values["page_id"]), page_token=token, app_id=_str_or_none(values.get("app_id")),
        app_secret=secret("app_secret"), verify_token=secret("verify_token"),
        base_url=str(values.get("base_url") or GRAPH_URL).rstrip("/"),
        version=str(values.get("version") or GRAPH_VERSION),
        ca_bundle=values.get("ca_bundle"), rate_share=float(values.get("rate_share") or DEFAULT_RATE_SHARE),
        lookback_days=days, ig_user_id=_str_or_none(values.get("ig_user_id")), name=name)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class GraphErrorInfo:
    """Meta's error envelope: ``{"error": {"message", "type", "code", "error_subcode", ...}}``."""

    status: int
    code: int | None
    subcode: int | None
    message: str
    kind: str
    transient: bool

    @classmethod
    def read(cls, status: int, body: Any) -> "GraphErrorInfo":
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(status, None, None, "", "", False)
        message = error.get("error_user_msg") or error.get("message") or ""
        return cls(status, _int(error.get("code")), _int(error.get("error_subcode")), str(message),
                   str(error.get("type") or ""), error.get("is_transient") is True)

    def label(self) -> str:
        code = f"code {self.code}" + (f"/{self.subcode}" if self.subcode else "") if self.code is not None \
            else f"HTTP {self.status}"
        return f"{code}" + (f": {self.message}" if self.message else "")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def graph_error(status: int, body: Any, what: str, *, write: bool, retry_after: float | None = None,
                redact: Iterable[str] = ()) -> SocialdeskError:
    """Translate a Graph API error response into the taxonomy (Meta's code table).

    ``retry_after`` is the wait the usage headers named (throttled calls); ``redact`` are
    values that must never appear in the message (the token, the app secret).
    """
    info = GraphErrorInfo.read(status, body)
    text = info.label()
    for value in redact:
        if value:
            text = text.replace(value, "****")
    message = f"{what}: {text}"
    code, subcode = info.code, info.subcode
    if code in AUTH_CODES or (code is None and status == 401):
        why = TOKEN_SUBCODES.get(subcode or 0, "Meta refused the token")
        return AuthFailed(f"{message} ({why}): make a new long-lived Page token or a system user token "
                          f"(Business settings > System users) with this Page's tasks, and set page_token")
    if code in THROTTLE_CODES or status == 429:
        wait = retry_after if retry_after else THROTTLE_WAIT
        return RateLimited(f"{message} (Meta is throttling this app or Page)", min(wait, MAX_WAIT))
    if info.transient or code in TRANSIENT_CODES or status >= 500 or (code is None and status in (408, 409)):
        return RetriableError(message)
    if code == 10 and subcode in WINDOW_SUBCODES or "outside of allowed window" in info.message.lower():
        return WindowClosed(f"{message}: the messaging window has closed")
    if code == PRIVATE_REPLY_USED:
        return DuplicateContent(f"{message}: Meta allows one private reply per comment, and this comment has one")
    if code in PRIVATE_REPLY_LATE:
        return WindowClosed(f"{message}: a private reply is allowed only within 7 days of the comment")
    if code == DUPLICATE_POST:
        return DuplicateContent(message)
    if code == 551 or (code == 200 and subcode == 1545041):
        return SkippableError(f"{message}: this person does not take messages from the Page now")
    if code == 803 or (code == 100 and subcode == 33) or status == 404:
        return NotFound(message)
    if code == 10 or (code is not None and 200 <= code <= 299):
        why = (f"{message}: the token lacks a permission this call needs (pages_read_engagement, "
               f"pages_read_user_content, pages_manage_engagement, pages_messaging; for Instagram instagram_basic, "
               f"instagram_manage_comments, instagram_manage_messages): grant it and make a new token")
        # A refused write may concern this post alone (a post the Page may not comment on):
        # it is held with the reason rather than parking the route.
        return SkippableError(why) if write else AuthFailed(why)
    if code == 368:
        return SkippableError(message) if write else RetriableError(message)
    if write:
        return SkippableError(message)
    if code is None and 400 <= status < 500:
        return RetriableError(message)
    return FatalError(message)


# --------------------------------------------------------------------------- rate budget


class UsageBudget:
    """Meta's usage headers, read after every call, keep socialdesk below a share of each
    figure: past it (or when Meta names ``estimated_time_to_regain_access``, in minutes),
    the next call raises ``RateLimited`` with the wait instead of meeting a throttle.

    It plugs into ``adapters.http``'s session as its ``rate_budget`` (``before``/``after``).
    """

    def __init__(self, share: float = DEFAULT_RATE_SHARE, clock: Callable[[], float] = time.time) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"rate share must be in (0, 1], not {share}")
        self.share, self.clock = share, clock
        self.hold_until = 0.0
        self.reason = ""
        self.calls = 0
        self.figures: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.share * 100.0

    def before(self, method: str, url: str) -> None:
        now = self.clock()
        with self._lock:
            if now < self.hold_until:
                raise RateLimited(f"Meta: {self.reason}", max(self.hold_until - now, 1.0))

    def left(self, method: str, url: str) -> tuple[str, int, int] | None:
        """(figure, 100, percent left) of the usage figure nearest its limit, as Meta last
        told it (Meta counts in percent of each budget, for any call); None before it has told."""
        with self._lock:
            figures = [(value, f"{label} {name}") for label, read in self.figures.items()
                       for name, value in read.items() if name in USAGE_FIGURES]
        if not figures:
            return None
        used, label = max(figures)
        return label, 100, max(0, 100 - math.ceil(used))

    def count(self, calls: int) -> None:
        """Calls made (a batch counts each of its requests, as Meta does)."""
        with self._lock:
            self.calls += calls

    def after(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        self.count(1)
        self.observe(headers)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the usage headers of an answer (a batch's requests each carry their own)."""
        read = usage_figures(headers)
        if not read:
            return
        worst_label, worst, eta = "", 0.0, 0.0
        for label, figures in read.items():
            for name in USAGE_FIGURES:
                value = figures.get(name)
                if value is not None and value > worst:
                    worst_label, worst = f"{label} {name}", value
            eta = max(eta, figures.get("estimated_time_to_regain_access") or 0.0)
        now = self.clock()
        with self._lock:
            self.figures = read
            if eta > 0:
                self._hold(now + min(eta * 60.0, MAX_WAIT),
                           f"Meta asks for {eta:g} minutes before this app or Page calls again")
            elif worst >= self.threshold:
                self._hold(now + PACE_WAIT, f"{worst_label} is at {worst:g}% of its limit; socialdesk keeps "
                                            f"below {self.threshold:g}%")
            else:
                self.hold_until = 0.0

    def throttled(self, wait: float, reason: str) -> None:
        with self._lock:
            self._hold(self.clock() + wait, reason)

    def _hold(self, until: float, reason: str) -> None:
        self.hold_until, self.reason = until, reason

    def eta(self) -> float | None:
        """Seconds Meta named before access returns (``estimated_time_to_regain_access``), if any."""
        minutes = max((f.get("estimated_time_to_regain_access") or 0.0 for f in self.figures.values()), default=0.0)
        return minutes * 60.0 if minutes > 0 else None


def usage_figures(headers: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """The usage headers' figures by label. ``X-App-Usage`` (and ``X-Page-Usage``) are one
    object of percentages; ``X-Business-Use-Case-Usage`` maps an id to a list of them, each
    with its ``type`` and ``estimated_time_to_regain_access`` (minutes)."""
    found: dict[str, dict[str, float]] = {}
    for header in USAGE_HEADERS:
        raw = headers.get(header)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        for label, entry in _usage_entries(header, data):
            figures = {k: float(v) for k, v in entry.items()
                       if k in USAGE_FIGURES + ("estimated_time_to_regain_access",)
                       and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
            if figures:
                found[label] = figures
    return found


def _usage_entries(header: str, data: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(data, dict):
        return
    if any(k in data for k in USAGE_FIGURES):
        yield header, data
        return
    for key, value in data.items():
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, dict):
                kind = entry.get("type")
                yield f"{header} {key}" + (f" {kind}" if kind else ""), entry


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class BatchCall:
    """One request of a batch: a Graph path relative to the version, and its query."""

    path: str
    params: Mapping[str, Any]
    method: str = "GET"

    def relative_url(self) -> str:
        query = urlencode({k: v for k, v in self.params.items() if v is not None})
        return self.path.lstrip("/") + (f"?{query}" if query else "")


class GraphClient:
    """The Graph API as the Page: one session, the token in the Authorization header (never
    in a URL), ``appsecret_proof`` when the app secret is known."""

    def __init__(self, settings: MetaSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.root = f"{settings.base_url.rstrip('/')}/{settings.version}/"
        self.session = session or build_session(settings.ca_bundle)
        self.budget = UsageBudget(settings.rate_share)
        self.session.rate_budget = self.budget  # type: ignore[attr-defined]
        token = settings.page_token.reveal()

        def bearer(request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["Authorization"] = f"Bearer {token}"
            return request

        self.session.auth = bearer
        self._proof: dict[str, str] = {}
        if settings.app_secret is not None:
            # Meta's "Require App Secret" setting: each call proves it knows the app secret.
            self._proof["appsecret_proof"] = hmac.new(settings.app_secret.reveal().encode(), token.encode(),
                                                      hashlib.sha256).hexdigest()
        self._redact = tuple(s.reveal() for s in (settings.page_token, settings.app_secret) if s is not None)

    def __repr__(self) -> str:
        return f"GraphClient({self.root!r})"

    def call(self, method: str, path: str, what: str, *, params: Mapping[str, Any] | None = None,
             json_body: Any = None, data: Mapping[str, Any] | None = None, write: bool = False) -> dict[str, Any]:
        query = {**self._proof, **{k: v for k, v in (params or {}).items() if v is not None}}
        response = transport_errors(what, lambda: self.session.request(
            method, self.root + path.lstrip("/"), params=query, json=json_body, data=data))
        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        if not 200 <= response.status_code < 300 or (isinstance(body, dict) and "error" in body):
            raise self._error(response.status_code, body, what, write)
        if not isinstance(body, dict):
            raise RetriableError(f"{what}: Meta's answer was not a JSON object")
        return body

    def get(self, path: str, what: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", path, what, params=params)

    def _error(self, status: int, body: Any, what: str, write: bool) -> SocialdeskError:
        err = graph_error(status, body, what, write=write, retry_after=self.budget.eta(), redact=self._redact)
        if isinstance(err, RateLimited):
            self.budget.throttled(err.retry_after, f"throttled by Meta ({what})")
        return err

    def batch(self, calls: Sequence[BatchCall], what: str) -> list[dict[str, Any] | SocialdeskError]:
        """Each call's answer (or its error, for that call alone), in order; up to BATCH_MAX
        per HTTP request, each counted as Meta counts it."""
        results: list[dict[str, Any] | SocialdeskError] = []
        for start in range(0, len(calls), BATCH_MAX):
            chunk = calls[start:start + BATCH_MAX]
            payload = json.dumps([{"method": c.method, "relative_url": c.relative_url()} for c in chunk])
            # Each request's answer carries its own usage headers (include_headers defaults on).
            answer = transport_errors(what, lambda: self.session.request(
                "POST", self.root, params=self._proof, data={"batch": payload}))
            self.budget.count(len(chunk) - 1)
            try:
                body = answer.json()
            except (ValueError, RecursionError):
                body = None
            if not 200 <= answer.status_code < 300 or not isinstance(body, list):
                raise self._error(answer.status_code, body, what, False)
            for index, call in enumerate(chunk):
                item = body[index] if index < len(body) else None
                results.append(self._batch_item(item, f"{what} ({call.path})"))
        return results

    def _batch_item(self, item: Any, what: str) -> dict[str, Any] | SocialdeskError:
        # Meta answers null for a request of a batch that did not complete in time.
        if not isinstance(item, dict):
            return RetriableError(f"{what}: this request of the batch did not complete")
        headers = {str(h.get("name")): str(h.get("value")) for h in item.get("headers") or []
                   if isinstance(h, dict) and h.get("name") and h.get("value") is not None}
        self.budget.observe(_Caseless(headers))
        try:
            body = json.loads(item.get("body") or "null")
        except (TypeError, ValueError, RecursionError):
            body = None
        status = _int(item.get("code")) or 0
        if not 200 <= status < 300 or (isinstance(body, dict) and "error" in body):
            return self._error(status, body, what, False)
        if not isinstance(body, dict):
            return RetriableError(f"{what}: Meta's answer was not a JSON object")
        return body

    def pages(self, path: str, what: str, params: Mapping[str, Any], *, most: int = FIND_PAGES,
              write: bool = False) -> Iterator[dict[str, Any]]:
        """The objects of a paged edge, page after page through ``paging.cursors.after``
        (at most ``most`` pages)."""
        after: str | None = None
        for _ in range(most):
            body = self.call("GET", path, what, params={**params, "after": after}, write=write)
            for item in body.get("data") or []:
                if isinstance(item, dict):
                    yield item
            after = next_after(body)
            if after is None:
                return


class _Caseless(dict):  # type: ignore[type-arg]
    """Header names as a batch spells them, looked up without regard to case."""

    def get(self, key: Any, default: Any = None) -> Any:
        lowered = str(key).lower()
        return next((v for k, v in self.items() if k.lower() == lowered), default)


def next_after(body: Mapping[str, Any]) -> str | None:
    """The cursor of the page after this one: Meta names ``paging.next`` only when there is one."""
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


# --------------------------------------------------------------------------- values


def graph_time(value: Any) -> datetime | None:
    """Graph's times: ``2021-08-10T18:45:03+0000`` in reads, epoch seconds (or
    milliseconds, in messaging events) in webhooks."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, timezone.utc)
    if isinstance(value, str):
        if value.isdigit():
            return graph_time(int(value))
        text = value.replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        stamp = datetime.fromisoformat(text)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    raise TypeError(f"not a time: {type(value).__name__}")


def epoch(value: Any) -> float | None:
    stamp = graph_time(value)
    return stamp.timestamp() if stamp else None


def cursor_time(cursor: Cursor) -> float | None:
    """The moment a time cursor (``t:<epoch seconds>``) names; None for anything else."""
    value = cursor.value
    if not value or not value.startswith(TIME_CURSOR):
        return None
    try:
        moment = float(value[len(TIME_CURSOR):])
    except ValueError:
        return None
    return moment if math.isfinite(moment) else None


def time_cursor(moment: float) -> Cursor:
    return Cursor(f"{TIME_CURSOR}{int(moment)}")


def encode_state(state: Mapping[str, Any]) -> str:
    """A page token of ours: the read's state, opaque to the engine."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_state(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError) as err:
        raise FatalError("a Meta page token socialdesk did not make") from err
    if not isinstance(state, dict):
        raise FatalError("a Meta page token socialdesk did not make")
    return state


def item_key(network: str, item: Any, *, dm: bool = False) -> str:
    """The source key of an item, or of a digest of it when it names no usable id."""
    item_id = item.get("id") or item.get("mid") if isinstance(item, dict) else None
    if isinstance(item_id, (str, int)) and not isinstance(item_id, bool) and str(item_id):
        return post_key(network, str(item_id), dm=dm)
    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=repr).encode("utf-8", "backslashreplace"))
    return f"{network}:{'dm' if dm else 'post'}:?{digest.hexdigest()[:16]}"


def sid(value: Any) -> str:
    """An id as a string (Meta's are strings; some recorded payloads carry numbers)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ValueError(f"not an id: {value!r}")
    return str(value)


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("text is not a string")
    return value


def media_kind(kind: Any, mime: Any = None) -> MediaKind:
    """Our kind for Meta's attachment types (image, video, audio, file, photo, sticker...)."""
    word = f"{kind or ''} {mime or ''}".lower()
    if any(w in word for w in ("image", "photo", "sticker", "animated", "gif", "carousel")):
        return "image"
    if "video" in word or "reel" in word:
        return "video"
    if "audio" in word:
        return "audio"
    return "file"


def message_media(mid: str, attachments: Any) -> tuple[Media, ...]:
    """A message's attachments: webhook ``[{type, payload: {url}}]`` or the read's
    ``{data: [{mime_type, image_data{url}, video_data{url}, file_url}]}``."""
    rows = attachments.get("data") if isinstance(attachments, dict) else attachments
    found = []
    for index, row in enumerate(rows or []):
        if not isinstance(row, dict):
            continue
        payload = row.get("payload") if isinstance(row.get("payload"), dict) else {}
        url = (payload.get("url") or nested(row, "image_data", "url") or nested(row, "video_data", "url")
               or row.get("file_url") or row.get("url"))
        kind = row.get("type") or ("image" if row.get("image_data") else "video" if row.get("video_data") else None)
        found.append(Media(media_kind(kind, row.get("mime_type")), f"message:{mid}#{index}",
                           url if isinstance(url, str) else None))
    return tuple(found)


def nested(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def same_text(shown: Any, text: str) -> bool:
    """Whether a post Meta shows is the one we sent (Meta may trim surrounding blanks)."""
    return isinstance(shown, str) and (shown == text or shown.strip() == text.strip())


# --------------------------------------------------------------------------- webhooks


def answer_subscription(params: Mapping[str, str], verify_token: str | None) -> str | None:
    """``hub.challenge`` when Meta's subscription check names our verify token, else None."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    challenge = params.get("hub.challenge")
    return challenge if isinstance(challenge, str) and challenge else None


def verify_signature(headers: Mapping[str, str], body: bytes, app_secret: Secret | None) -> str | None:
    """None when ``X-Hub-Signature-256`` is ``sha256=`` + the hex HMAC-SHA256 of the raw
    body keyed with the app secret (Meta's webhooks guide), else why the delivery is refused."""
    if app_secret is None:
        return "app_secret is not set, so Meta's signature cannot be checked: set app_secret"
    header = next((v for k, v in headers.items() if k.lower() == "x-hub-signature-256"), None)
    if not header:
        return "no X-Hub-Signature-256 header: not a delivery signed by Meta"
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return "X-Hub-Signature-256 is not sha256=<hex digest>"
    expected = hmac.new(app_secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        return "X-Hub-Signature-256 does not match the body: signed with another app secret, or changed on the way"
    return None


def load_delivery(body: bytes) -> dict[str, Any]:
    """A webhook delivery as JSON; ValueError saying what one must be when it is not."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        raise ValueError("a Meta webhook delivery is a JSON object with 'object' and 'entry'") from err
    if not isinstance(data, dict) or not isinstance(data.get("object"), str) or not isinstance(data.get("entry"), list):
        raise ValueError("a Meta webhook delivery is a JSON object with 'object' and 'entry' (a list)")
    return data


# Dashboard "Test" deliveries name entry id "0" (Meta's webhook test tool).
TEST_ENTRY = "0"


# --------------------------------------------------------------------------- the shared account


class MetaAccount:
    """What a Facebook Page and an Instagram account do alike: identity, the budget, DMs
    through the Page's conversations and Send API, media links, and webhook checks.
    Subclasses name the network (``kind``), the own account's id and the Graph fields."""

    kind: ClassVar[str] = "meta"
    platform: ClassVar[str] = "messenger"
    webhook_object: ClassVar[str] = "page"
    max_dm_len: ClassVar[int] = 2000
    settings_schema: ClassVar[Mapping[str, str]] = SETTINGS_SCHEMA
    required_settings: ClassVar[tuple[str, ...]] = ("page_id", "page_token")

    def __init__(self, settings: MetaSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.graph = GraphClient(settings, session)
        self.session = self.graph.session
        self._me: Author | None = None
        self._names: dict[str, tuple[str | None, str | None]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings.base_url!r}, page_id={self.settings.page_id!r})"

    # ------------------------------------------------------------------ identity and pace

    @property
    def own_id(self) -> str:
        return self.settings.page_id

    def clock(self) -> float:
        return self.graph.budget.clock()

    def use_clock(self, clock: Callable[[], float], sleep: Callable[[float], None] | None = None) -> None:
        """The budget's holds pass on ``clock``; Meta is never waited on here, so ``sleep`` is not kept."""
        self.graph.budget.clock = clock

    def remember_account(self, me: Author) -> None:
        if self._me is None:
            self._me = me

    def cursor_at(self, moment: float) -> Cursor:
        return time_cursor(moment)

    def weighted_length(self, text: str) -> int:
        return len(text)

    def usage(self) -> dict[str, Any]:
        """Meta's last usage figures and the calls made, as ``socialdesk status`` may show them."""
        budget = self.graph.budget
        return {"calls": budget.calls, "figures": budget.figures,
                "held_for": max(budget.hold_until - budget.clock(), 0.0)}

    def _since(self, cursor: Cursor) -> tuple[int, int, int]:
        """(read start, the window's floor, where the read starts): a read never reaches back
        past ``lookback_days``."""
        now = int(self.clock())
        floor = now - self.settings.lookback_days * 86400
        moment = cursor_time(cursor)
        return now, floor, max(int(moment), floor) if moment is not None else floor

    def phased_read(self, cursor: Cursor, page: str | None, first: tuple[str, Callable[..., Any]],
                    then: tuple[str, Callable[..., Any]]) -> Page:
        """A reconciliation read in two phases, each paged by Meta's cursors: the account's
        own posts with their comments (``first``: read(since, floor, after)), then the posts
        that tag it (``then``: read(since, after)). The read's state rides in the page token;
        its cursor is the moment the read started."""
        (first_phase, read_first), (then_phase, read_then) = first, then
        if page:
            state = decode_state(page)
        else:
            start, floor, since = self._since(cursor)
            state = {"phase": first_phase, "start": start, "floor": floor, "since": since}
        following: dict[str, Any] | None
        if state["phase"] == first_phase:
            items, after = read_first(int(state["since"]), int(state["floor"]), state.get("after"))
            following = {"phase": first_phase, "after": after} if after else {"phase": then_phase, "after": None}
        else:
            items, after = read_then(int(state["since"]), state.get("after"))
            following = {"phase": then_phase, "after": after} if after else None
        return Page(items=newest_first(items), next_page=encode_state({**state, **following}) if following else None,
                    cursor=time_cursor(state["start"]))

    # ------------------------------------------------------------------ webhooks

    def answer_subscription(self, params: Mapping[str, str], verify_token: str) -> str | None:
        return answer_subscription(params, verify_token)

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return verify_signature(headers, body, self.settings.app_secret)

    def read_push(self, body: bytes) -> list[Mention | Change | Unparseable]:
        delivery = load_delivery(body)
        if delivery["object"] != self.webhook_object:
            return []
        found: list[Mention | Change | Unparseable] = []
        for entry in delivery["entry"]:
            if not isinstance(entry, dict) or str(entry.get("id")) not in (self.own_id, TEST_ENTRY):
                continue
            for change in entry.get("changes") or []:
                found.extend(self._guarded(change, lambda c=change: self._change_items(entry, c)))
            for event in (entry.get("messaging") or []) + (entry.get("standby") or []):
                found.extend(self._guarded(event, lambda e=event: self._messaging_items(e), dm=True))
        return found

    def _guarded(self, raw: Any, read: Callable[[], list[Mention | Change]], *, dm: bool = False
                 ) -> list[Mention | Change | Unparseable]:
        try:
            return list(read())
        except ITEM_ERRORS as err:
            # Keyed by the whole item: an id it does carry may be another object's (a
            # comment's post), and a redelivery of the same item meets the same key.
            key = item_key(self.kind, {"webhook": raw}, dm=dm)
            return [Unparseable(self.kind, key, f"unreadable webhook item: {type(err).__name__}: {err}", raw)]

    def _change_items(self, entry: Mapping[str, Any], change: Any) -> list[Mention | Change]:
        raise NotImplementedError

    def _messaging_items(self, event: Any) -> list[Mention | Change]:
        """One Messenger or Instagram messaging event: a message (not our echo), an edit or
        an unsend; reads, deliveries, postbacks and reactions carry nothing for a ticket."""
        if not isinstance(event, dict):
            raise TypeError("a messaging event is an object")
        sender = sid(nested(event, "sender", "id"))
        at = graph_time(event.get("timestamp"))
        message, edit = event.get("message"), event.get("message_edit")
        if isinstance(edit, dict):
            target = post_key(self.kind, sid(edit["mid"]), dm=True)
            return [Change(self.kind, target, "edited", text=text_of(edit.get("text")), at=at, by=sender)]
        if not isinstance(message, dict):
            return []
        if message.get("is_echo") or sender == self.own_id:
            return []
        mid = sid(message["mid"])
        if message.get("is_deleted"):
            return [Change(self.kind, post_key(self.kind, mid, dm=True), "unsent", at=at, by=sender)]
        reply_to = nested(message, "reply_to", "mid")
        return [Mention(network=self.kind, id=mid, kind="dm", author=self._person(sender), created_at=at,
                        text=text_of(message.get("text")), url=None, conversation_id=sender,
                        in_reply_to=reply_to if isinstance(reply_to, str) else None,
                        media=message_media(mid, message.get("attachments")))]

    # ------------------------------------------------------------------ people

    def _person(self, scoped_id: str, name: str | None = None, username: str | None = None) -> Author:
        """A customer by their page-scoped (PSID) or Instagram-scoped (IGSID) id; a webhook
        carries only the id, so the name is read once (best effort: the id stands in)."""
        if name is None and username is None:
            name, username = self._profile(scoped_id)
        return self._author(scoped_id, name, username)

    def _author(self, scoped_id: str, name: str | None, username: str | None) -> Author:
        raise NotImplementedError

    def _participant(self, scoped_id: str) -> tuple[str | None, str | None]:
        body = self.graph.get(f"{self.settings.page_id}/conversations", "read a customer's conversation",
                              platform=self.platform, user_id=scoped_id, fields="participants")
        for thread in body.get("data") or []:
            for person in nested(thread, "participants", "data") or []:
                if isinstance(person, dict) and str(person.get("id")) == scoped_id:
                    return opt_str(person.get("name")), opt_str(person.get("username"))
        return None, None

    def _profile_fields(self) -> str:
        return "name"

    def _profile(self, scoped_id: str) -> tuple[str | None, str | None]:
        """(name, username): as the conversation with the Page names its participant, else
        from the User Profile API."""
        if scoped_id in self._names:
            return self._names[scoped_id]
        try:
            found = self._participant(scoped_id)
            if found == (None, None):
                body = self.graph.get(scoped_id, "read a customer's profile", fields=self._profile_fields())
                found = (opt_str(body.get("name")), opt_str(body.get("username")))
        except RetriableError:
            return None, None           # not remembered: read again next time
        except SocialdeskError:
            found = (None, None)
        if len(self._names) > 4096:
            self._names.clear()
        self._names[scoped_id] = found
        return found

    # ------------------------------------------------------------------ direct messages

    DM_FIELDS: ClassVar[str] = "id,message,created_time,from,to,attachments"
    # What names the conversation a Private Reply opened: the comment's own field on
    # Facebook; on Instagram, the commenter (an Instagram-scoped id).
    PRIVATE_REPLY_FIELDS: ClassVar[str] = "private_reply_conversation,from"

    def fetch_dms(self, cursor: Cursor, page: str | None = None) -> Page:
        """Messages received in conversations updated since ``cursor``, newest first within a
        page; the Page's own messages are left out."""
        state = decode_state(page) if page else None
        if state is None:
            start, _, since = self._since(cursor)
            state = {"start": start, "since": since}
        since = int(state["since"])
        body = self.graph.get(f"{self.settings.page_id}/conversations", "read conversations",
                              platform=self.platform, fields="id,updated_time", limit=PAGE_SIZE,
                              after=state.get("after"))
        threads = [t for t in body.get("data") or [] if isinstance(t, dict)]
        fresh = [t for t in threads if (_updated(t) or since) >= since]
        items = self._thread_messages([str(t.get("id")) for t in fresh if t.get("id")], since)
        after = next_after(body) if len(fresh) == len(threads) else None
        next_page = encode_state({**state, "after": after}) if after else None
        return Page(items=newest_first(items), next_page=next_page, cursor=time_cursor(state["start"]))

    def _thread_messages(self, thread_ids: list[str], since: int) -> list[Mention | Unparseable]:
        calls = [BatchCall(f"{tid}/messages", {"fields": self.DM_FIELDS, "limit": 50}) for tid in thread_ids]
        items: list[Mention | Unparseable] = []
        pending = list(zip(thread_ids, self.graph.batch(calls, "read conversation messages"))) if calls else []
        rounds = 0
        while pending:
            more: list[tuple[str, BatchCall]] = []
            for tid, answer in pending:
                if isinstance(answer, NotFound):
                    continue
                if isinstance(answer, SocialdeskError):
                    raise answer
                rows = [m for m in answer.get("data") or [] if isinstance(m, dict)]
                reached = False
                for row in rows:
                    stamp = epoch_or_none(row.get("created_time"))
                    if stamp is not None and stamp < since:
                        reached = True
                        continue
                    item = self._dm_item(row)
                    if item is not None:
                        items.append(item)
                after = next_after(answer)
                if after and not reached:
                    more.append((tid, BatchCall(f"{tid}/messages", {"fields": self.DM_FIELDS, "limit": 50,
                                                                     "after": after})))
            rounds += 1
            if not more or rounds > MAX_EXTRA_PAGES:
                break
            pending = list(zip([t for t, _ in more], self.graph.batch([c for _, c in more],
                                                                       "read conversation messages")))
        return items

    def _dm_item(self, row: Mapping[str, Any]) -> Mention | Unparseable | None:
        try:
            sender = row.get("from")
            sender_id = sid(sender["id"]) if isinstance(sender, dict) else None
            if sender_id is None:
                raise KeyError("from")
            if sender_id == self.own_id:
                return None
            mid = sid(row["id"])
            author = self._author(sender_id, opt_str(sender.get("name")), opt_str(sender.get("username")))
            return Mention(network=self.kind, id=mid, kind="dm", author=author, text=text_of(row.get("message")),
                           created_at=graph_time(row.get("created_time")), url=None, conversation_id=sender_id,
                           media=message_media(mid, row.get("attachments")))
        except ITEM_ERRORS as err:
            return Unparseable(self.kind, item_key(self.kind, row, dm=True),
                               f"malformed message: {type(err).__name__}: {err}", dict(row))

    def private_recipient(self, target: str) -> dict[str, str]:
        """The Send API's recipient for a Private Reply to ``target`` (a comment here)."""
        return {"comment_id": target}

    def _send(self, recipient: Mapping[str, str], text: str, tag: str | None, what: str) -> dict[str, Any]:
        # The Send API asks for messaging_type on every message, Private Replies included.
        body: dict[str, Any] = {"recipient": dict(recipient), "message": {"text": text},
                                "messaging_type": "MESSAGE_TAG" if tag else "RESPONSE"}
        if tag:
            body["tag"] = tag
        return self.graph.call("POST", f"{self.settings.page_id}/messages", what, json_body=body, write=True)

    def _post_message(self, post: OutboundPost) -> PostedReply | None:
        """A DM or a Private Reply, when ``post`` asks for one."""
        if not (post.dm_recipient_id or post.private_reply_to):
            return None
        if self.weighted_length(post.text) > self.max_dm_len:
            raise SkippableError(f"message is {len(post.text)} characters; {self.kind} allows {self.max_dm_len}")
        try:
            if post.private_reply_to:
                answer = self._send(self.private_recipient(post.private_reply_to), post.text, None,
                                    "send private reply")
            else:
                answer = self._send({"id": str(post.dm_recipient_id)}, post.text, post.tag, "send direct message")
        except WindowClosed as err:
            raise WindowClosed(f"{err} ({_window_rule(post)})") from err
        message_id = answer.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise RetriableError("send message: Meta's answer names no message_id")
        return PostedReply(self.kind, message_id, None, post.text, in_reply_to=post.private_reply_to, dm=True,
                           conversation_id=opt_str(answer.get("recipient_id")) or post.dm_recipient_id)

    def _find_message(self, post: OutboundPost) -> PostedReply | None:
        """Our earlier identical message in the conversation ``post`` goes to (crash recovery)."""
        threads: list[str] = []
        if post.private_reply_to:
            fields = (self.PRIVATE_REPLY_FIELDS if "comment_id" in self.private_recipient(post.private_reply_to)
                      else "from")   # only a comment has private_reply_conversation
            comment = self.graph.call("GET", post.private_reply_to, "read the post answered privately",
                                      params={"fields": fields}, write=True)
            thread = nested(comment, "private_reply_conversation", "id")
            if isinstance(thread, str):
                threads.append(thread)
            person = nested(comment, "from", "id")
        else:
            person = post.dm_recipient_id
        if not threads and person:
            for row in self.graph.pages(f"{self.settings.page_id}/conversations", "find the conversation",
                                        {"platform": self.platform, "user_id": str(person),
                                         "fields": "id,participants", "limit": PAGE_SIZE}, most=1, write=True):
                people = {str(p.get("id")) for p in nested(row, "participants", "data") or [] if isinstance(p, dict)}
                if not people or str(person) in people:
                    threads.append(str(row.get("id")))
        for thread in threads:
            for row in self.graph.pages(f"{thread}/messages", "read the conversation",
                                        {"fields": "id,message,from,created_time", "limit": 50}, write=True):
                if str(nested(row, "from", "id")) == self.own_id and same_text(row.get("message"), post.text):
                    return PostedReply(self.kind, str(row["id"]), None, post.text, in_reply_to=post.private_reply_to,
                                       dm=True, conversation_id=opt_str(person))
        return None

    # ------------------------------------------------------------------ media

    MEDIA_FIELDS: ClassVar[Mapping[str, str]] = {
        "comment": "attachment", "post": "full_picture,attachments", "message": "attachments",
        "igmedia": "media_url,thumbnail_url", "igcomment": "id"}

    def media_link(self, ref: str) -> str:
        """A fresh link for ``Media.ref`` (``comment:<id>``, ``post:<id>``, ``message:<mid>#<n>``,
        ``igmedia:<id>``): Meta's CDN links expire, the object's own read does not."""
        kind, _, rest = ref.partition(":")
        object_id, _, index = rest.partition("#")
        fields = self.MEDIA_FIELDS.get(kind)
        if fields is None or not object_id:
            raise NotFound(f"{ref!r} is not a Meta attachment reference")
        body = self.graph.call("GET", object_id, "read an attachment", params={"fields": fields}, write=True)
        url = _media_url(kind, body, index)
        if not url:
            raise NotFound(f"read an attachment: {ref} has no attachment any more")
        return url


def _window_rule(post: OutboundPost) -> str:
    """Meta's rule that closed the window on ``post`` (Messenger Platform policy)."""
    if post.private_reply_to:
        return "a Private Reply goes within 7 days of the comment"
    if post.tag:
        return f"the {post.tag} tag allows 7 days after the customer's last message"
    return ("a reply goes within 24 hours of the customer's last message; a person may still answer "
            "within 7 days with the HUMAN_AGENT tag")


def _media_url(kind: str, body: Mapping[str, Any], index: str) -> str | None:
    if kind == "comment":
        attachment = body.get("attachment")
        url = (nested(attachment, "media", "source") or nested(attachment, "media", "image", "src")
               or nested(attachment, "url"))
    elif kind == "post":
        url = body.get("full_picture")
        if not isinstance(url, str):
            rows = nested(body, "attachments", "data") or []
            url = nested(rows[0], "media", "image", "src") if rows and isinstance(rows[0], dict) else None
    elif kind == "message":
        rows = nested(body, "attachments", "data") or []
        try:
            row = rows[int(index or 0)]
        except (ValueError, IndexError, TypeError):
            return None
        url = (nested(row, "image_data", "url") or nested(row, "video_data", "url") or nested(row, "file_url")
               or nested(row, "payload", "url")) if isinstance(row, dict) else None
    else:
        url = body.get("media_url") or body.get("thumbnail_url")
    return url if isinstance(url, str) and url else None


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _updated(thread: Mapping[str, Any]) -> float | None:
    return epoch_or_none(thread.get("updated_time"))


def epoch_or_none(value: Any) -> float | None:
    try:
        return epoch(value)
    except ITEM_ERRORS:
        return None


def newest_first(items: Iterable[Mention | Unparseable]) -> tuple[Mention | Unparseable, ...]:
    """Newest first; unreadable items (no time) last, in the order read."""
    def key(item: Mention | Unparseable) -> float:
        created = getattr(item, "created_at", None)
        return -created.timestamp() if created is not None else math.inf
    return tuple(sorted(items, key=key))

