"""Recorded real traffic, replayed through the real adapters, agrees with the sandbox.

Every recorded real response in ``../shared/contracts`` that answers an endpoint the
adapters use is replayed to the adapter's own code path: a ``requests`` transport adapter
(``Replay``) mounted on the adapter instance's session answers from the cassette, so the
request is built, sent, hooked (Zendesk's 429 hook), parsed and normalized exactly as in
production. The same operation then runs against the live sandbox, and the normalized
values must agree in everything that does not depend on ids and clocks: the type of every
field, which fields are populated and which are None, kinds, flags, and the texts the test
controls.

The replay is strict both ways: a request with no recorded answer fails the test (it
raises ``UnrecordedRequest``, an AssertionError no adapter translates), and every recorded
interaction a test requires must have been requested (``Replay.verify``).

Tests are parametrised by ``recordings(endpoint)``, a scan of the decoded cassettes, so a
recording added later joins its endpoint's test by itself; ``test_recording_inventory``
pins which endpoints have no recording and which recordings cannot be replayed.

The recorded requests were made by tweepy and zenpy, not by us. Where they asked for less
than our adapters ask (X field selection), the sandbox is also sent the recorded request
itself (``SendAsRecorded`` drops the query parameters the recording did not send) and
must then give the recording's normalized values field for field.

Endpoints we use that have NO recording, hence not validated here (the sandbox contract
suites cover them), see ``NO_RECORDING``:
  GET  /api/v2/incremental/ticket_events   fetch_agent_replies (zenpy only recorded
                                           /incremental/tickets, which we do not use)
  GET  /api/v2/tickets/{id}                get_ticket and the read inside update_ticket
  GET  /api/v2/webhooks                    setup_push's first read: answered by a declared,
                                           unrecorded empty list so the recorded rest runs
  PUT  /api/v2/webhooks/{id}               setup_push when a webhook's endpoint changed
  GET  /api/v2/{groups,ticket_fields,brands,ticket_forms}   lookup
  POST /api/v2/users/create_or_update      replayed from the recorded POST /api/v2/users
                                           (a declared stand-in: same {"user": ...} answer)
"""
from __future__ import annotations

import io
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict

from adapters.base import (
    AgentReply, Author, FatalError, Cursor, Mention, NewTicket, NotFound, OutboundPost, Page, PostedReply,
    Secret, TicketRef, Unparseable,
)
from adapters.helpdesk.zendesk import ZendeskHelpdesk, ZendeskSettings
from adapters.social.x import XNetwork, XSettings
from harness import XHarness, ZendeskHarness
from openapi_check import CONTRACTS  # the one place that knows where ../shared/contracts is

DECODED = ("x/decoded", "zendesk/decoded", "zendesk/samples/zenpy-betamax/decoded")
X_URL = "https://api.twitter.com"                 # where tweepy recorded
ZENDESK_URL = "https://d3v-zenpydev.zendesk.com"  # where zenpy recorded

Rec = tuple[str, int]  # (cassette name relative to CONTRACTS, interaction index)

X_ENDPOINTS = (
    "GET /2/users/me",
    "GET /2/users/{id}/mentions",
    "GET /2/tweets/search/recent",
    "GET /2/users/{id}/tweets",
    "POST /2/tweets",
    "GET /2/dm_events",
    "GET /2/dm_conversations/with/{id}/dm_events",
    "POST /2/dm_conversations/with/{id}/messages",
)
ZENDESK_ENDPOINTS = (
    "GET /api/v2/users/me",
    "POST /api/v2/users/create_or_update",
    "GET /api/v2/users/{id}",
    "GET /api/v2/tickets",
    "POST /api/v2/tickets",
    "GET /api/v2/tickets/{id}",
    "PUT /api/v2/tickets/{id}",
    "GET /api/v2/tickets/{id}/comments",
    "GET /api/v2/incremental/ticket_events",
    "GET /api/v2/webhooks",
    "POST /api/v2/webhooks",
    "PUT /api/v2/webhooks/{key}",
    "GET /api/v2/webhooks/{key}/signing_secret",
    "GET /api/v2/triggers",
    "POST /api/v2/triggers",
    "GET /api/v2/groups",
    "GET /api/v2/ticket_fields",
    "GET /api/v2/brands",
    "GET /api/v2/ticket_forms",
)
NO_RECORDING = {
    "POST /api/v2/users/create_or_update": "stand-in: the recorded POST /api/v2/users",
    "GET /api/v2/tickets/{id}": "no single-ticket read recorded",
    "GET /api/v2/incremental/ticket_events": "only /incremental/tickets was recorded",
    "GET /api/v2/webhooks": "no webhook list recorded: a declared, unrecorded empty list",
    "PUT /api/v2/webhooks/{key}": "no webhook update recorded",
    "GET /api/v2/groups": "lookup: no list recorded",
    "GET /api/v2/ticket_fields": "lookup: no list recorded",
    "GET /api/v2/brands": "lookup: no list recorded",
    "GET /api/v2/ticket_forms": "lookup: no list recorded",
}
_TCUD = "zendesk/decoded/TestTicketCreateUpdateDelete."
_TRIGGERS = "zendesk/samples/zenpy-betamax/decoded/TestTriggers.test_values"
_CBP_ONLY = ("recorded with page[size] (cursor pagination); setup_push reads /api/v2/triggers "
             "without it, so this answer never matches the adapter's request")
NOT_REPLAYED: dict[Rec, str] = {
    ("zendesk/decoded/TestTicketsPagination.test_values", 4):
        "page[size]=1 with has_more: the adapter asks page[size]=100 and the next page "
        "was not recorded",
    (_TRIGGERS, 5): _CBP_ONLY,
    (_TRIGGERS, 6): _CBP_ONLY,
    (_TRIGGERS, 7): _CBP_ONLY,
}

# The accounts the recordings were made with.
TWEEPY_DEV = "1072250532645998596"  # @TweepyDev: users/me, posts, DMs
ME = ("x/decoded/test_client_get_me", 0)

# Bodies are stored decoded: these headers described the original bytes, not ours.
_STALE_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


# =========================================================================== recordings


@cache
def interactions(name: str) -> tuple[dict[str, Any], ...]:
    """The interactions of ``<name>.decoded.json`` (name relative to the contracts folder)."""
    data = json.loads((CONTRACTS / f"{name}.decoded.json").read_text(encoding="utf-8"))
    return tuple(data["interactions"])


def request_of(rec: Rec) -> dict[str, Any]:
    return interactions(rec[0])[rec[1]]["request"]


def body_of(rec: Rec) -> Any:
    return interactions(rec[0])[rec[1]]["response"]["body"]


def _norm_path(path: str) -> str:
    """Zendesk paths with or without zenpy's ``.json`` suffix are the same endpoint."""
    path = path.rstrip("/") or "/"
    return path[:-5] if path.endswith(".json") else path


def _norm_host(netloc: str) -> str:
    return netloc.lower().removesuffix(":443")


def _key(request: Mapping[str, Any]) -> str:
    return f"{request['method'].upper()} {_norm_path(urlsplit(request['uri']).path)}"


def _endpoint_re(endpoint: str) -> re.Pattern[str]:
    """``"GET /2/users/{id}/mentions"`` -> a pattern over ``"METHOD /path"``; ``{id}`` is
    numeric (X and Zendesk ids), ``{key}`` any one segment (webhook ULIDs)."""
    method, _, path = endpoint.partition(" ")
    segments = {"{id}": r"[0-9]+", "{key}": r"[^/]+"}
    parts = (segments.get(p, re.escape(p)) for p in _norm_path(path).split("/"))
    return re.compile(rf"{method.upper()} " + "/".join(parts))


@cache
def _all_names() -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(CONTRACTS)).removesuffix(".decoded.json")
                        for folder in DECODED for p in (CONTRACTS / folder).glob("*.decoded.json")))


@cache
def all_recordings(endpoint: str) -> tuple[Rec, ...]:
    """Every recorded interaction that hit ``endpoint``, in cassette order."""
    rx = _endpoint_re(endpoint)
    return tuple((name, i) for name in _all_names()
                 for i, it in enumerate(interactions(name)) if rx.fullmatch(_key(it["request"])))


def recordings(endpoint: str) -> list[Rec]:
    """What a test replays for ``endpoint``: every recording but the ``NOT_REPLAYED`` ones."""
    return [r for r in all_recordings(endpoint) if r not in NOT_REPLAYED]


def label(rec: Rec) -> str:
    return f"{rec[0].rsplit('/', 1)[-1]}#{rec[1]}"


def each(endpoint: str) -> Any:
    """``@each("GET /2/users/me")``: parametrise ``rec`` over that endpoint's recordings."""
    return pytest.mark.parametrize("rec", recordings(endpoint), ids=label)


# =========================================================================== replay


class UnrecordedRequest(AssertionError):
    """The adapter sent a request no loaded recording answers (never translated by adapters)."""


@dataclass
class Answer:
    """One recorded response, served at most once."""

    label: str
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    status: int
    reason: str
    headers: dict[str, str]
    content: bytes
    required: bool
    note: str = ""
    served: bool = False

    def matches(self, method: str, host: str, path: str, query: Mapping[str, list[str]]) -> bool:
        """Same method, host and path, and every query parameter the recorded client sent
        was sent again with the same value (in any order; our adapters may ask for more)."""
        return (not self.served and self.method == method and self.host == host
                and self.path == path and all(query.get(k) == v for k, v in self.query.items()))


@dataclass
class Sent:
    """One request the adapter made, as it went on the wire."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    answered_by: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)


class Replay(BaseAdapter):
    """A transport adapter answering from recorded interactions, like airbyte's HttpMocker.

    ``use`` adds a recorded interaction the test requires; ``optional`` endpoints name
    incidental reads a client library may make (zenpy's custom_roles), served from the
    same cassette if asked for. ``stand_in`` and ``unrecorded`` are declared exceptions,
    listed by ``notes``.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.host = _norm_host(urlsplit(base_url).netloc)
        self.answers: list[Answer] = []
        self.sent: list[Sent] = []
        self.unanswered: list[str] = []

    # ------------------------------------------------------------------ declaring

    def _add(self, rec: Rec, *, required: bool, endpoint: str | None = None,
             note: str = "") -> None:
        recorded = interactions(rec[0])[rec[1]]
        request, response = recorded["request"], recorded["response"]
        uri = urlsplit(request["uri"])
        method, _, path = (endpoint or f"{request['method']} {uri.path}").partition(" ")
        body = response["body"]
        content = json.dumps(body).encode() if isinstance(body, (dict, list)) \
            else (body or "").encode()
        headers = {k: ", ".join(v) if isinstance(v, list) else str(v)
                   for k, v in response["headers"].items() if k.lower() not in _STALE_HEADERS}
        headers["Content-Length"] = str(len(content))
        self.answers.append(Answer(
            label=label(rec), method=method.upper(), host=_norm_host(uri.netloc),
            path=_norm_path(path), query={} if endpoint else parse_qs(uri.query, True),
            status=int(response["status"]["code"]), reason=response["status"]["message"],
            headers=headers, content=content, required=required, note=note))

    def use(self, *recs: Rec, optional: Iterable[str] = ()) -> "Replay":
        for rec in recs:
            self._add(rec, required=True)
            for pattern in map(_endpoint_re, optional):
                for i, it in enumerate(interactions(rec[0])):
                    if pattern.fullmatch(_key(it["request"])):
                        self._add((rec[0], i), required=False)
        return self

    def stand_in(self, endpoint: str, rec: Rec, why: str) -> "Replay":
        """Answer ``endpoint`` (an exact path) with a recording of another path."""
        self._add(rec, required=True, endpoint=endpoint, note=f"stand-in: {why}")
        return self

    def unrecorded(self, endpoint: str, body: Any, why: str) -> "Replay":
        """A declared answer that is NOT recorded traffic."""
        method, _, path = endpoint.partition(" ")
        content = json.dumps(body).encode()
        self.answers.append(Answer(
            label=f"unrecorded {endpoint}", method=method.upper(), host=self.host,
            path=_norm_path(path), query={}, status=200, reason="OK",
            headers={"Content-Type": "application/json; charset=utf-8",
                     "Content-Length": str(len(content))},
            content=content, required=True, note=f"NOT RECORDED: {why}"))
        return self

    def mount(self, session: requests.Session) -> "Replay":
        session.mount("https://", self)
        session.mount("http://", self)
        return self

    # ------------------------------------------------------------------ transport

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        url = urlsplit(request.url or "")
        method = (request.method or "GET").upper()
        path, host = _norm_path(url.path), _norm_host(url.netloc)
        query = parse_qs(url.query, keep_blank_values=True)
        answer = next((a for a in self.answers if a.matches(method, host, path, query)), None)
        if answer is None:
            what = f"{method} {request.url}"
            self.unanswered.append(what)
            same_path = [f"{a.label} ({'served' if a.served else f'query {a.query}'})"
                         for a in self.answers if a.path == path and a.method == method]
            raise UnrecordedRequest(f"no recorded answer for {what}; "
                                    f"recordings of this path: {same_path or 'none'}")
        answer.served = True
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append(Sent(method, request.url or "", dict(request.headers), body, answer.label))
        response = requests.Response()
        response.status_code = answer.status
        response.reason = answer.reason
        response.headers = CaseInsensitiveDict(answer.headers)
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(answer.content)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ checking

    def verify(self) -> None:
        """Fail on any unanswered request and on required recordings never requested."""
        problems = []
        if self.unanswered:
            problems.append(f"requests with no recorded answer: {self.unanswered}")
        never = [a.label for a in self.answers if a.required and not a.served]
        if never:
            problems.append(f"recorded interactions never requested: {never}")
        assert not problems, "; ".join(problems)

    def notes(self) -> list[str]:
        return [f"{a.label}: {a.note}" for a in self.answers if a.note and a.served]


class SendAsRecorded(HTTPAdapter):
    """Sends the sandbox the request the recorded client sent: only the query parameters
    named in ``keep`` survive (tweepy asked for no fields at all)."""

    def __init__(self, keep: Iterable[str] = ()) -> None:
        super().__init__(max_retries=0)
        self.keep = frozenset(keep)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        query = [(k, v) for k, v in parse_qs(url.query, keep_blank_values=True).items()
                 if k in self.keep]
        request.url = urlunsplit(url._replace(query=urlencode(query, doseq=True)))
        return super().send(request, **kwargs)


# =========================================================================== comparing


def shape(value: Any) -> Any:
    """What must agree between a recording and the sandbox: every field's type, None-ness
    included, recursively; a sequence by the set of its elements' shapes."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: shape(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        inner = sorted({json.dumps(shape(v), sort_keys=True) for v in value})
        return f"{type(value).__name__}[{'|'.join(inner)}]"
    if isinstance(value, Mapping):
        return f"mapping[{'|'.join(sorted({type(v).__name__ for v in value.values()}))}]"
    return type(value).__name__


def shape_diff(a: Any, b: Any, path: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in a.keys() | b.keys():
            out |= shape_diff(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return out
    return set() if a == b else {path or "<value>"}


def assert_same_shape(recorded: Any, sandboxed: Any, *,
                      except_for: Mapping[str, str] | None = None) -> None:
    """Equal shapes, except exactly the fields named in ``except_for`` (field -> why)."""
    expected = set(except_for or {})
    diff = shape_diff(shape(recorded), shape(sandboxed))
    assert diff == expected, (
        f"shape differs in {sorted(diff)} (documented: {sorted(expected)})\n"
        f"  recorded: {recorded!r}\n  sandbox:  {sandboxed!r}")


def digits(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit()


# =========================================================================== fixtures


@pytest.fixture
def xh(sandbox_info: dict) -> XHarness:
    return XHarness(sandbox_info)


@pytest.fixture
def zh(sandbox_info: dict) -> ZendeskHarness:
    return ZendeskHarness(sandbox_info)


def x_replay(*recs: Rec, user_id: str | None = None) -> tuple[XNetwork, Replay]:
    net = XNetwork(XSettings(token=Secret("recorded-bearer-token", "token"), base_url=X_URL,
                             user_id=user_id))
    return net, Replay(X_URL).mount(net.session).use(*recs)


def zendesk_replay() -> tuple[ZendeskHelpdesk, Replay]:
    desk = ZendeskHelpdesk(ZendeskSettings(url=ZENDESK_URL, email="zenpy@example.com",
                                           token=Secret("recorded-api-token", "token")), sleep=time.sleep)
    return desk, Replay(ZENDESK_URL).mount(desk.session)


def sandbox_as_recorded(xh: XHarness, keep: Iterable[str] = ()) -> XNetwork:
    """The sandbox adapter, sending the query the recording sent instead of its own."""
    net = xh.adapter()
    net.session.mount("https://", SendAsRecorded(keep))
    return net


def path_id(rec: Rec, position: int) -> str:
    """The id at path segment ``position`` of the recorded request (``/2/users/{id}/...``)."""
    return urlsplit(request_of(rec)["uri"]).path.split("/")[position]


def _handle() -> str:
    return "rec_" + uuid.uuid4().hex[:10]


def _read_all(read: Any, cursor: Cursor) -> tuple[list[Any], Cursor]:
    page = read(cursor, None)
    items = list(page.items)
    while page.next_page:
        page = read(cursor, page.next_page)
        items.extend(page.items)
    return items, page.cursor


def test_recording_inventory() -> None:
    """Which endpoints we use have recordings; which recordings are not replayed, and why."""
    unrecorded = {e for e in X_ENDPOINTS + ZENDESK_ENDPOINTS if not all_recordings(e)}
    assert unrecorded == set(NO_RECORDING), "update NO_RECORDING (and add a replay test)"
    ours = {r for e in X_ENDPOINTS + ZENDESK_ENDPOINTS for r in all_recordings(e)}
    assert set(NOT_REPLAYED) <= ours, "NOT_REPLAYED names a recording of no endpoint we use"


# =========================================================================== X


@each("GET /2/users/me")
def test_x_users_me(rec: Rec, xh: XHarness) -> None:
    """GET /2/users/me -> Author."""
    user = body_of(rec)["data"]
    net, replay = x_replay(rec)
    recorded = net.whoami()
    replay.verify()
    assert recorded == Author(network="x", id=user["id"], handle=user["username"],
                              name=user["name"], followers=None, verified=None,
                              profile_url=f"https://x.com/{user['username']}")
    assert digits(recorded.id) and "user.fields" in replay.sent[0].query  # we ask for more

    # The sandbox asked what tweepy asked (default fields only) answers field for field alike.
    as_recorded = sandbox_as_recorded(xh).whoami()
    assert as_recorded.handle == xh.brand and digits(as_recorded.id)
    assert_same_shape(recorded, as_recorded)

    # Asked what the adapter asks, exactly the opt-in fields the recording lacks fill in.
    ours = xh.adapter().whoami()
    assert_same_shape(recorded, ours, except_for={
        "followers": "public_metrics not requested by the recorded client",
        "verified": "verified not requested by the recorded client"})
    assert isinstance(ours.followers, int) and isinstance(ours.verified, bool)


def _assert_quarantined(page: Page, tweets: list[dict[str, Any]]) -> None:
    """Every tweet without author_id becomes one Unparseable naming it: none dropped."""
    assert [i.key for i in page.items] == [f"x:post:{t['id']}" for t in tweets]
    for item, tweet in zip(page.items, tweets):
        assert isinstance(item, Unparseable) and item.network == "x"
        assert "author_id" in item.reason and item.raw == tweet


@each("GET /2/users/{id}/mentions")
def test_x_mentions(rec: Rec, xh: XHarness) -> None:
    """GET /2/users/{id}/mentions -> Page of Unparseable.

    tweepy asked without tweet.fields, so the recorded tweets carry no author_id. The
    adapter always requests author_id (TWEET_FIELDS): replaying these responses exercises
    the quarantine path, one Unparseable per tweet and nothing dropped.
    """
    body = body_of(rec)
    net, replay = x_replay(rec, user_id=path_id(rec, 3))
    recorded = net.fetch_mentions(Cursor())
    replay.verify()
    assert len(recorded.items) == body["meta"]["result_count"]
    _assert_quarantined(recorded, body["data"])
    assert recorded.cursor == Cursor(body["meta"]["newest_id"]) and recorded.gap is False
    assert recorded.next_page and recorded.next_page.startswith(body["meta"]["next_token"] + "|")

    # The sandbox, asked the recorded request, must answer as X did: the same quarantine.
    handle = _handle()
    for n in range(11):  # more than one default page, so a next_token comes back as recorded
        xh.customer_posts(handle, xh.mention_text(f"recorded-shape mention {n}"))
    sandboxed = sandbox_as_recorded(xh).fetch_mentions(Cursor())
    assert sandboxed.items and all(isinstance(i, Unparseable) for i in sandboxed.items)
    assert all("author_id" in i.reason for i in sandboxed.items)
    assert {frozenset(i.raw) for i in sandboxed.items} == {frozenset(t) for t in body["data"]}
    assert_same_shape(recorded, sandboxed)

    # The same posts, asked for as the adapter asks, are Mentions: only field selection differs.
    keys = {i.key for i in sandboxed.items}
    ours = [m for m in xh.adapter().fetch_mentions(Cursor()).items if m.key in keys]
    assert len(ours) == len(keys)
    assert all(isinstance(m, Mention) and m.author.handle == handle for m in ours)


@each("GET /2/tweets/search/recent")
def test_x_search_recent(rec: Rec, xh: XHarness) -> None:
    """GET /2/tweets/search/recent -> Page of Unparseable (recorded without tweet.fields)."""
    body = body_of(rec)
    [query] = parse_qs(urlsplit(request_of(rec)["uri"]).query)["query"]
    net, replay = x_replay(rec, user_id=TWEEPY_DEV)
    recorded = net.search_recent(query, Cursor())
    replay.verify()
    assert len(recorded.items) == body["meta"]["result_count"]
    _assert_quarantined(recorded, body["data"])
    assert recorded.cursor == Cursor(body["meta"]["newest_id"]) and recorded.next_page

    word = "recw" + uuid.uuid4().hex[:8]
    handle = _handle()
    for n in range(11):
        xh.customer_posts(handle, f"{word} number {n}")
    sandboxed = sandbox_as_recorded(xh, keep={"query"}).search_recent(word, Cursor())
    assert len(sandboxed.items) == 10
    assert all(isinstance(i, Unparseable) and "author_id" in i.reason for i in sandboxed.items)
    assert {frozenset(i.raw) for i in sandboxed.items} == {frozenset(t) for t in body["data"]}
    assert_same_shape(recorded, sandboxed)


@each("GET /2/users/{id}/tweets")
def test_x_own_timeline(rec: Rec, xh: XHarness) -> None:
    """GET /2/users/{id}/tweets -> find_own_post's PostedReply (crash recovery).

    The timeline was recorded for @Twitter, users/me for @TweepyDev: the url's handle is
    whichever account users/me names, as in production.
    """
    own = body_of(rec)["data"][-1]
    handle = body_of(ME)["data"]["username"]
    net, replay = x_replay(rec, ME, user_id=path_id(rec, 3))
    recorded = net.find_own_post(OutboundPost(own["text"]))
    replay.verify()
    assert recorded == PostedReply(network="x", id=own["id"], text=own["text"],
                                   url=f"https://x.com/{handle}/status/{own['id']}")
    # Not on the recorded page: the search reads on, to the next page X offers.
    token = body_of(rec)["meta"]["next_token"]
    net, replay = x_replay(rec, user_id=path_id(rec, 3))
    with pytest.raises(UnrecordedRequest, match=f"pagination_token={token}"):
        net.find_own_post(OutboundPost("never posted by this account"))

    text = f"Thanks, we are on it ({uuid.uuid4().hex[:8]})"
    posted = xh.adapter().post(OutboundPost(text))
    sandboxed = sandbox_as_recorded(xh).find_own_post(OutboundPost(text))
    assert sandboxed == posted
    assert_same_shape(recorded, sandboxed)
    assert sandbox_as_recorded(xh).find_own_post(OutboundPost(text + " (never posted)")) is None


@each("POST /2/tweets")
def test_x_create_post(rec: Rec, xh: XHarness) -> None:
    """POST /2/tweets (201) -> PostedReply."""
    data, sent_text = body_of(rec)["data"], request_of(rec)["body"]["text"]
    net, replay = x_replay(rec, ME)  # users/me: the url's handle
    recorded = net.post(OutboundPost(sent_text))
    replay.verify()
    handle = body_of(ME)["data"]["username"]
    assert recorded == PostedReply(network="x", id=data["id"], text=data["text"],
                                   url=f"https://x.com/{handle}/status/{data['id']}")
    assert replay.sent[0].json == request_of(rec)["body"]  # what X accepted from tweepy

    text = f"Test Tweet {uuid.uuid4().hex[:8]}"
    sandboxed = xh.adapter().post(OutboundPost(text))
    assert sandboxed.text == text and not sandboxed.dm
    assert sandboxed.url == f"https://x.com/{xh.brand}/status/{sandboxed.id}"
    assert_same_shape(recorded, sandboxed)


@each("POST /2/dm_conversations/with/{id}/messages")
def test_x_send_dm(rec: Rec, xh: XHarness) -> None:
    """POST /2/dm_conversations/with/{id}/messages (201) -> PostedReply(dm=True)."""
    data, peer = body_of(rec)["data"], path_id(rec, 4)
    net, replay = x_replay(rec)
    recorded = net.post(OutboundPost(request_of(rec)["body"]["text"], dm_recipient_id=peer))
    replay.verify()
    assert recorded == PostedReply(network="x", id=data["dm_event_id"], url=None,
                                   text=request_of(rec)["body"]["text"], dm=True,
                                   conversation_id=data["dm_conversation_id"])
    assert sorted(recorded.conversation_id.split("-")) == sorted([peer, TWEEPY_DEV])
    assert replay.sent[0].json == request_of(rec)["body"]

    peer = xh.control.post("users", {"handle": _handle()})["id"]
    text = f"Testing {uuid.uuid4().hex[:8]}"
    sandboxed = xh.adapter().post(OutboundPost(text, dm_recipient_id=peer))
    assert sandboxed.dm and sandboxed.text == text
    assert re.fullmatch(r"\d+-\d+", sandboxed.conversation_id or "")
    assert peer in sandboxed.conversation_id.split("-")
    assert_same_shape(recorded, sandboxed)


@each("GET /2/dm_events")
def test_x_dm_events(rec: Rec, xh: XHarness) -> None:
    """GET /2/dm_events answered ``{"meta": {"result_count": 0}}`` -> an empty Page."""
    assert body_of(rec) == {"meta": {"result_count": 0}}
    net, replay = x_replay(rec, ME)  # users/me: the adapter's own id, to skip its own DMs
    assert net.fetch_dms(Cursor()) == Page(items=(), next_page=None, cursor=Cursor(None))
    replay.verify()

    since = Cursor("1585800613253812228")  # a recorded DM event id
    net, replay = x_replay(rec, user_id=TWEEPY_DEV)
    recorded = net.fetch_dms(since)
    replay.verify()
    assert recorded == Page(items=(), next_page=None, cursor=since)

    # The sandbox has DMs from other tests; nothing newer than its latest cursor is empty too.
    xh.customer_posts(_handle(), "a DM so the brand's inbox is not empty", dm=True)
    net = xh.adapter()
    _, latest = _read_all(net.fetch_dms, Cursor())
    sandboxed = net.fetch_dms(latest)
    assert sandboxed == Page(items=(), next_page=None, cursor=latest)
    assert_same_shape(recorded, sandboxed)


@each("GET /2/dm_conversations/with/{id}/dm_events")
def test_x_dm_conversation(rec: Rec, xh: XHarness) -> None:
    """GET /2/dm_conversations/with/{id}/dm_events -> find_own_post for a DM.

    tweepy asked without dm_event.fields, so the recorded events carry no sender_id and
    the adapter cannot tell its own message (sent in the same recording) from the peer's.
    Guessing "not sent" could send a DM twice, so it refuses with FatalError instead. The
    adapter always asks for sender_id; the sandbox shows both sides.
    """
    events = body_of(rec)["data"]
    assert events and not any("sender_id" in e for e in events)
    net, replay = x_replay(rec, ME)
    with pytest.raises(FatalError, match="no sender_id"):
        net.find_own_post(OutboundPost(events[-1]["text"], dm_recipient_id=path_id(rec, 4)))
    replay.verify()
    asked = next(sent for sent in replay.sent if "dm_event.fields" in sent.query)
    assert "sender_id" in asked.query["dm_event.fields"][0]

    peer = xh.control.post("users", {"handle": _handle()})["id"]
    out = OutboundPost(f"Testing {uuid.uuid4().hex[:8]}", dm_recipient_id=peer)
    sent = xh.adapter().post(out)
    with pytest.raises(FatalError, match="no sender_id"):  # as recorded
        sandbox_as_recorded(xh).find_own_post(out)
    assert xh.adapter().find_own_post(out) == sent


# =========================================================================== Zendesk

# The tickets zenpy's tests created carry no external id; every ticket we open has one.
NO_EXTERNAL_ID = {"external_id": "the recorded tickets were created without an external id"}
USER_CREATE = ("zendesk/decoded/TestUserCreateUpdateDelete.test_single_object_creation-"
               "create-single", 0)
EMPTY_WEBHOOK_LIST = {"webhooks": [], "meta": {"has_more": False}, "links": {}}


def _author() -> Author:
    uid = str(uuid.uuid4().int % 10**18)
    return Author(network="x", id=uid, handle=f"rec_{uid[:8]}", name="Recorded Shape")


def _new_ticket(requester: str, **extra: Any) -> NewTicket:
    return NewTicket(external_id=f"x:post:{uuid.uuid4().int % 10**18}", subject="test",
                     body="test", requester_id=requester, **extra)


@each("GET /api/v2/users/me")
def test_zendesk_users_me(rec: Rec, zh: ZendeskHarness) -> None:
    """GET /api/v2/users/me -> whoami id."""
    desk, replay = zendesk_replay()
    replay.use(rec)
    recorded = desk.whoami()
    replay.verify()
    assert recorded == str(body_of(rec)["user"]["id"])
    sandboxed = zh.adapter().whoami()
    assert digits(sandboxed)
    assert_same_shape(recorded, sandboxed)


def test_zendesk_create_or_update_user(zh: ZendeskHarness) -> None:
    """POST /api/v2/users/create_or_update -> requester id.

    Stand-in: only POST /api/v2/users (create) was recorded; Zendesk answers
    create_or_update with the same ``{"user": ...}`` body (201 created, 200 updated).
    """
    desk, replay = zendesk_replay()
    replay.stand_in("POST /api/v2/users/create_or_update", USER_CREATE,
                    "create answers with the same user object")
    author = Author(network="x", id=TWEEPY_DEV, handle="TweepyDev", name="Tweepy Testing")
    recorded = desk.upsert_requester(author)
    replay.verify()
    assert recorded == str(body_of(USER_CREATE)["user"]["id"])
    sent = replay.sent[0].json["user"]
    assert sent["external_id"] == f"x:{TWEEPY_DEV}" and sent["role"] == "end-user"
    assert sent["identities"] == [{"type": "twitter", "value": "TweepyDev"}]

    sandboxed = zh.adapter().upsert_requester(_author())
    assert digits(sandboxed)
    assert_same_shape(recorded, sandboxed)


@each("POST /api/v2/tickets")
def test_zendesk_create_ticket(rec: Rec, zh: ZendeskHarness) -> None:
    """POST /api/v2/tickets (201) -> TicketRef."""
    ticket = body_of(rec)["ticket"]
    desk, replay = zendesk_replay()
    replay.use(rec, optional=["GET /api/v2/custom_roles/{id}"])
    new = _new_ticket(str(ticket["requester_id"]))
    recorded = desk.create_ticket(new, idempotency_key=new.external_id)
    replay.verify()
    assert recorded == TicketRef(
        helpdesk="zendesk", id=str(ticket["id"]), status="new", external_id=None,
        url=f"{ZENDESK_URL}/agent/tickets/{ticket['id']}",
        requester_id=str(ticket["requester_id"]), tags=(), priority=None)
    assert replay.sent[0].headers["Idempotency-Key"] == new.external_id

    desk = zh.adapter()
    new = _new_ticket(desk.upsert_requester(_author()))
    sandboxed = desk.create_ticket(new, idempotency_key=new.external_id)
    assert sandboxed.external_id == new.external_id and sandboxed.status in ("new", "open")
    assert_same_shape(recorded, sandboxed, except_for=NO_EXTERNAL_ID)


@each("GET /api/v2/tickets")
def test_zendesk_find_tickets(rec: Rec, zh: ZendeskHarness) -> None:
    """GET /api/v2/tickets?external_id= -> TicketRefs, oldest first.

    The recordings are the unfiltered ticket list, the same list body Zendesk gives for
    ``?external_id=``; every query parameter they were requested with is one we send.
    """
    desk, replay = zendesk_replay()
    replay.use(rec)
    recorded = desk.find_tickets("x:post:1578516295611748353")
    replay.verify()
    assert replay.sent[0].query["external_id"] == ["x:post:1578516295611748353"]
    assert [r.id for r in recorded] == sorted((str(t["id"]) for t in body_of(rec)["tickets"]),
                                              key=int)
    assert {r.status for r in recorded} <= {"new", "open", "pending", "hold", "solved", "closed"}
    assert all(isinstance(r, TicketRef) and digits(r.id) and digits(r.requester_id)
               for r in recorded)

    desk = zh.adapter()
    new = _new_ticket(desk.upsert_requester(_author()), tags=("social", "x"), priority="normal")
    desk.create_ticket(new, idempotency_key=new.external_id)
    [sandboxed] = desk.find_tickets(new.external_id)
    # The sandbox ticket is shaped like some recorded ticket, but for the external id.
    like = [r for r in recorded if shape_diff(shape(r), shape(sandboxed)) <= set(NO_EXTERNAL_ID)]
    assert like, f"no recorded ticket shaped like {sandboxed!r}"
    assert_same_shape(like[0], sandboxed, except_for=NO_EXTERNAL_ID)


@each("PUT /api/v2/tickets/{id}")
def test_zendesk_update_ticket(rec: Rec, zh: ZendeskHarness) -> None:
    """PUT /api/v2/tickets/{id}: 200 -> the comment is added; the recorded 404 -> NotFound."""
    status = interactions(rec[0])[rec[1]]["response"]["status"]["code"]
    ticket_id = path_id(rec, 4).removesuffix(".json")
    desk, replay = zendesk_replay()
    replay.use(rec)
    if status == 404:
        with pytest.raises(NotFound):
            desk.add_comment(ticket_id, "note", public=False)
    else:
        assert status == 200 and desk.add_comment(ticket_id, "We are on it.", public=True) is None
        assert replay.sent[0].json == {"ticket": {"id": int(ticket_id), "comment": {
            "body": "We are on it.", "public": True}}}
    replay.verify()

    desk = zh.adapter()
    if status == 404:
        with pytest.raises(NotFound):
            desk.add_comment(ticket_id, "note", public=False)
    else:
        new = _new_ticket(desk.upsert_requester(_author()))
        ref = desk.create_ticket(new, idempotency_key=new.external_id)
        assert desk.add_comment(ref.id, "We are on it.", public=True) is None
        assert [c.body for c in desk.list_comments(ref.id)] == ["test", "We are on it."]


@pytest.mark.parametrize(
    "rec,user", list(itertools.product(recordings("GET /api/v2/tickets/{id}/comments"),
                                       recordings("GET /api/v2/users/{id}"))),
    ids=label)
def test_zendesk_list_comments(rec: Rec, user: Rec, zh: ZendeskHarness) -> None:
    """GET /api/v2/tickets/{id}/comments -> AgentReply list, with GET /api/v2/users/{id}.

    The comment's author (zenpy's API user on the account that recorded the comments) was
    never read in that recording; the role lookup is a declared stand-in answered by the
    recorded read of zenpy's API user on the other recording account.
    """
    comments = body_of(rec)["comments"]
    author = str(comments[0]["author_id"])
    role = body_of(user)["user"]["role"]
    desk, replay = zendesk_replay()
    replay.use(rec)
    replay.stand_in(f"GET /api/v2/users/{author}", user, "zenpy's API user, other account")
    recorded = desk.list_comments(path_id(rec, 4))
    replay.verify()
    assert [(r.comment_id, r.author_id, r.body, r.public) for r in recorded] == [
        (str(c["id"]), str(c["author_id"]), c["body"], c["public"]) for c in comments]
    assert all(r.by_agent == (role in ("agent", "admin")) for r in recorded)
    assert all(r.created_at is not None and r.created_at.tzinfo is not None for r in recorded)

    desk = zh.adapter()
    new = _new_ticket(desk.upsert_requester(_author()))
    ref = desk.create_ticket(new, idempotency_key=new.external_id)
    zh.agent_comment(ref.id, "Hi, a new parcel is on its way.", public=True)
    zh.agent_comment(ref.id, "internal: refund approved", public=False)
    sandboxed = desk.list_comments(ref.id)
    assert [(c.body, c.public, c.by_agent) for c in sandboxed] == [
        ("test", True, False), ("Hi, a new parcel is on its way.", True, True),
        ("internal: refund approved", False, True)]
    for one in sandboxed:
        assert isinstance(one, AgentReply)
        assert_same_shape(recorded[0], one)


def _replay_setup_push(webhook: Rec, triggers: Rec,
                       trigger: Rec) -> tuple[tuple[str, Secret, list[str]], Replay]:
    """setup_push on recordings: the webhook list (never recorded) is a declared empty list;
    a webhook recorded without its signing secret gets another recorded webhook's."""
    hook_id = body_of(webhook)["webhook"]["id"]
    desk, replay = zendesk_replay()
    replay.unrecorded("GET /api/v2/webhooks", EMPTY_WEBHOOK_LIST, "no webhook list recorded")
    replay.use(webhook)
    secrets = recordings("GET /api/v2/webhooks/{key}/signing_secret")
    same = [s for s in secrets if path_id(s, 4) == hook_id]
    if same:
        replay.use(same[0])
    else:
        replay.stand_in(f"GET /api/v2/webhooks/{hook_id}/signing_secret", secrets[0],
                        "the signing secret of another recorded webhook")
    replay.use(triggers, trigger)
    result = desk.setup_push("socialdesk", "https://example.com/hook", "social")
    replay.verify()
    assert result[0] == hook_id
    assert result[2] == ["webhook 'socialdesk'", "trigger 'socialdesk: agent replied'"]
    assert isinstance(result[1], Secret)
    sent_trigger = replay.sent[-1].json["trigger"]
    assert sent_trigger["actions"][0]["value"][0] == hook_id
    return result, replay


def _assert_setup_push_like_sandbox(recorded: tuple[str, Secret, list[str]],
                                    zh: ZendeskHarness) -> None:
    name = f"socialdesk-{uuid.uuid4().hex[:6]}"
    tag = f"rec_{uuid.uuid4().hex[:8]}"  # tagged on no ticket: the trigger never fires
    sandboxed = zh.adapter().setup_push(name, "https://127.0.0.1:9/hook", tag)
    assert sandboxed[2] == [f"webhook {name!r}", f"trigger '{name}: agent replied'"]
    ulid = r"[0-9A-HJKMNP-TV-Z]{26}"
    assert re.fullmatch(ulid, recorded[0]) and re.fullmatch(ulid, sandboxed[0])
    assert len(sandboxed[1].reveal()) == len(recorded[1].reveal())  # 32 bytes, base64
    assert_same_shape(recorded, sandboxed)


@each("POST /api/v2/webhooks")
def test_zendesk_webhook_setup(rec: Rec, zh: ZendeskHarness) -> None:
    """setup_push over each recorded POST /api/v2/webhooks (+ GET .../signing_secret)."""
    triggers = recordings("GET /api/v2/triggers")[0]
    trigger = recordings("POST /api/v2/triggers")[0]
    recorded, replay = _replay_setup_push(rec, triggers, trigger)
    assert replay.notes()[0].endswith("NOT RECORDED: no webhook list recorded")
    if not any(s[0] == rec[0] for s in recordings("GET /api/v2/webhooks/{key}/signing_secret")):
        assert "stand-in" in replay.notes()[1]
    else:
        assert len(replay.notes()) == 1
        secret = next(body_of(s) for s in recordings("GET /api/v2/webhooks/{key}/signing_secret")
                      if s[0] == rec[0])
        assert recorded[1].reveal() == secret["signing_secret"]["secret"]
    _assert_setup_push_like_sandbox(recorded, zh)


@pytest.mark.parametrize(
    "triggers,rec", list(itertools.product(recordings("GET /api/v2/triggers"),
                                           recordings("POST /api/v2/triggers"))), ids=label)
def test_zendesk_trigger_setup(triggers: Rec, rec: Rec, zh: ZendeskHarness) -> None:
    """setup_push over each recorded GET and POST /api/v2/triggers."""
    webhook = next(w for w in recordings("POST /api/v2/webhooks")
                   if any(s[0] == w[0] for s in
                          recordings("GET /api/v2/webhooks/{key}/signing_secret")))
    recorded, replay = _replay_setup_push(webhook, triggers, rec)
    assert len(replay.notes()) == 1  # only the webhook list is not recorded
    _assert_setup_push_like_sandbox(recorded, zh)
