"""Fuzzing (hypothesis) of everything that reaches socialdesk from outside: network
payloads, webhook bodies and mapping.yaml.

Invariant 3 says nothing is dropped silently: an item that cannot be processed is
quarantined with its reason. These properties hold the edges to it whatever arrives:

1. X API v2 pages (``adapters/social/x.py``). Bodies start from the shapes X really sends
   (the tweepy recordings in ../shared/contracts/x plus the fields our adapter asks for)
   and are mutated: keys dropped, wrong types, nulls, huge and odd unicode text, bad
   dates, missing ``includes.users``, duplicate ids, non-dict items, bodies that are not
   JSON at all, error statuses. They reach the adapter the way production bytes do: a
   ``requests`` transport adapter (``CannedX``) mounted on the adapter's own session
   answers the request, so the whole path - request, rate budget, status mapping, JSON
   decoding, parsing - runs. Properties: a page is read item by item (one Mention or one
   Unparseable with a reason per item; the only items legitimately left out are the
   brand's own DM events and DM events at or below the cursor, i.e. already read) or
   refused whole with an error of the adapter taxonomy (``adapters.base``); mentions are
   well typed; the DM cursor never hides later DMs; rate-limit waits are finite.
   End to end, ``Route.poll`` over a real SQLite ``Store`` puts every Unparseable in
   quarantine with its reason (``Store.failed()``).
2. Webhooks (``sync/web.py`` through Flask's test client): arbitrary bytes, JSON and
   headers on the Zendesk route, signed and unsigned, and arbitrary XML on the
   Salesforce outbound-message route: never a 500; a bad body gets a 4xx with a message.
3. mapping.yaml (``sync.config.parse_config``): generated documents around the real keys
   and random text: the only exception is ConfigError, every problem is located
   ``FILE:LINE:COL:`` (file-level only for text the YAML reader cannot read), a secret's
   value never shows; and what is accepted works: templates render, adapters build.

Every test runs with a fixed seed and no example database (``derandomize=True``), so CI
sees the same examples every run. Inputs that once broke a property stay as explicit
``@example`` cases, so a fixed bug cannot come back unnoticed.
"""
from __future__ import annotations

import io
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote
from xml.sax.saxutils import escape

import pytest
from werkzeug.test import Client
import requests
import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from adapters.base import Cursor, Mention, Page, RateLimited, Secret, SocialdeskError, Unparseable
from adapters.social.x import XNetwork, XSettings
from openapi_check import CONTRACTS
from sync.config import PLACEHOLDERS, ConfigError, parse_config, render_template
from sync.route import Route
from sync.settings import RouteSettings
from sync.store import Store
from adapters.helpdesk.zendesk.webhook import MAX_AGE, zendesk_signature
from sync.web import create_app

REPO = Path(__file__).resolve().parents[2]


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Reproducible settings: a fixed seed, no example database, no per-example deadline."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# =========================================================================== shared junk

WEIRD_STRINGS = (
    "", " ", "|", "a|b|3", "None", "?", "0", "-1", " 42", "4.2", "1e3", "١٢", "²", "\x00", "\ud800",
    "😀👍🏽", "\u202eevil", "e\u0301", "\u200b", "null", "<b>&amp;</b>", "https://t.co/W5GxALkkZd",
)
# Many items share these, so big texts cost one allocation each.
HUGE_STRINGS = ("x" * 100_000, "é" * 30_000, "😀" * 25_000, "@brand " * 15_000)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.text(max_size=12), st.sampled_from(WEIRD_STRINGS))
json_junk = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=6) | st.sampled_from(("id", "text", "data", "users", "username")), inner, max_size=3),
    max_leaves=6)


@st.composite
def mutated(draw: Any, value: Any, keep: int = 5, junk: Any = json_junk) -> Any:
    """``value`` with some parts kept, some dropped, nulled, replaced by junk or mutated in
    turn. "keep" is the first choice, so a failing example shrinks towards the original."""
    actions = ["keep"] * keep + ["drop", "null", "junk", "deeper"]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            action = draw(st.sampled_from(actions))
            if action == "keep":
                out[key] = item
            elif action == "null":
                out[key] = None
            elif action == "junk":
                out[key] = draw(junk)
            elif action == "deeper":
                out[key] = draw(mutated(item, keep, junk))
        if draw(st.integers(0, 7)) == 0:
            out[draw(st.text(max_size=8))] = draw(junk)
        return out
    if isinstance(value, list):
        items = []
        for item in value:
            action = draw(st.sampled_from(actions))
            if action == "keep":
                items.append(item)
            elif action == "null":
                items.append(None)
            elif action == "junk":
                items.append(draw(junk))
            elif action == "deeper":
                items.append(draw(mutated(item, keep, junk)))
        if items and draw(st.integers(0, 5)) == 0:
            items.append(draw(st.sampled_from(items)))   # delivered twice
        return items
    if draw(st.sampled_from(actions[:2] + ["junk"])) == "junk":
        return draw(junk)
    return value


# =========================================================================== 1. X pages

X_BASE = "https://api.x.test"
X_TOKEN = "fuzz-bearer-token"
BRAND_ID = "1072250532645998596"            # @TweepyDev, the recordings' own account
CUSTOMER_IDS = ("783214", "2244994945", "750362064426721281", "12")
ID_POOL = ("1578516295611748353", "1578516273537118209", "1578516249856077825",
           "1585800613752881156", "1585800613253812228", "99", "1")
LANGS = ("en", "fr", "pt-BR", "und", "zxx")
REF_TYPES = ("replied_to", "quoted", "retweeted")
METRIC_NAMES = ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count",
                "impression_count")
TOKENS = ("7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i", "18LAA5G1SL0NR5OG0G00ZZZZ", "b26v89c19zqg8o3fpzbmqr",
          "a|b", "|", "")
BAD_DATES = ("", "yesterday", "2024-13-01T00:00:00Z", "2024-02-30T10:00:00.000Z", "0001-01-01T00:00:00",
             "0001-01-01T00:00:00Z", "9999-12-31T23:59:59", "9999-12-31T23:59:59-23:59",
             "2024-01-01T00:00:00+25:00", "2024-01-01", "20240101T000000Z", "2024-06-01T12:00:00.123456789Z",
             "\ud800")


def _recorded_bodies(cassette: str, path_part: str) -> list[Any]:
    """Response bodies tweepy recorded for requests whose path contains ``path_part``."""
    try:
        data = json.loads((CONTRACTS / "x" / "decoded" / f"{cassette}.decoded.json").read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [it["response"]["body"] for it in data["interactions"]
            if path_part in it["request"]["uri"] and isinstance(it["response"]["body"], dict)]


RECORDED_POSTS = [t for body in _recorded_bodies("test_client_get_users_mentions", "/mentions")
                  + _recorded_bodies("test_client_search_recent_tweets", "/search/recent")
                  for t in body.get("data", [])][:20]
RECORDED_DM_EVENTS = [e for body in _recorded_bodies("test_manage_and_lookup_direct_messages", "/dm_events")
                      for e in body.get("data", [])]

x_ids = st.one_of(st.sampled_from(ID_POOL), st.integers(1, 2**63).map(str))
x_texts = st.one_of(st.text(max_size=60), st.sampled_from(WEIRD_STRINGS + HUGE_STRINGS),
                    st.sampled_from([t["text"] for t in RECORDED_POSTS] or ["hello"]))
x_dates = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(
        lambda d: d.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
    st.sampled_from(BAD_DATES))


@st.composite
def x_posts(draw: Any) -> Any:
    """A post as the mentions timeline and recent search return it, often mangled."""
    if RECORDED_POSTS and draw(st.integers(0, 5)) == 0:
        return draw(mutated(draw(st.sampled_from(RECORDED_POSTS))))   # tweepy's: no author_id
    post_id = draw(x_ids)
    post = {
        "id": post_id, "text": draw(x_texts), "author_id": draw(st.sampled_from(CUSTOMER_IDS + (BRAND_ID,))),
        "edit_history_tweet_ids": [post_id], "conversation_id": draw(x_ids), "created_at": draw(x_dates),
        "lang": draw(st.sampled_from(LANGS)), "in_reply_to_user_id": draw(st.sampled_from((BRAND_ID,) + CUSTOMER_IDS)),
        "referenced_tweets": draw(st.lists(st.fixed_dictionaries(
            {"type": st.sampled_from(REF_TYPES), "id": x_ids}), max_size=2)),
        "public_metrics": draw(st.fixed_dictionaries({k: st.integers(0, 10**7) for k in METRIC_NAMES})),
        "entities": {"urls": [{"start": 0, "end": 23, "url": "https://t.co/W5GxALkkZd",
                               "expanded_url": "https://example.com/order/77"}]},
    }
    return post if draw(st.booleans()) else draw(mutated(post))


@st.composite
def x_users(draw: Any) -> Any:
    user_id = draw(st.sampled_from(CUSTOMER_IDS + (BRAND_ID,)))
    user = {"id": user_id, "username": draw(st.sampled_from(("ada", "TweepyDev", "b" * 15)) | st.text(max_size=15)),
            "name": draw(st.text(max_size=20)), "verified": draw(st.booleans()),
            "profile_image_url": "https://pbs.twimg.com/profile_images/1/a_normal.jpg",
            "public_metrics": draw(st.fixed_dictionaries(
                {k: st.integers(0, 10**8) for k in ("followers_count", "following_count", "tweet_count")}))}
    return user if draw(st.booleans()) else draw(mutated(user))


@st.composite
def dm_events(draw: Any) -> Any:
    """A MessageCreate event as GET /2/dm_events returns it, often mangled."""
    if RECORDED_DM_EVENTS and draw(st.integers(0, 7)) == 0:
        return draw(mutated(draw(st.sampled_from(RECORDED_DM_EVENTS))))  # tweepy's: no sender_id
    sender = draw(st.sampled_from(CUSTOMER_IDS + (BRAND_ID,)))
    event = {"id": draw(x_ids), "event_type": "MessageCreate", "text": draw(x_texts), "sender_id": sender,
             "dm_conversation_id": f"{sender}-{BRAND_ID}", "created_at": draw(x_dates),
             "participant_ids": [sender, BRAND_ID]}
    return event if draw(st.booleans()) else draw(mutated(event))


@st.composite
def x_pages(draw: Any, items: Any, *, framed: bool = False) -> dict[str, Any]:
    """A page body: ``data``, ``includes.users``, ``meta``. ``framed``: only the items vary."""
    data = draw(st.lists(st.one_of(items, items, items, json_junk), max_size=7))
    if data and draw(st.integers(0, 4)) == 0:
        data.insert(draw(st.integers(0, len(data))), draw(st.sampled_from(data)))   # a duplicate id
    meta: dict[str, Any] = {"result_count": len(data)}
    if draw(st.booleans()):
        meta["newest_id"] = draw(x_ids)
        meta["oldest_id"] = draw(x_ids)
    if draw(st.integers(0, 3)) == 0:
        meta["next_token"] = draw(st.sampled_from(TOKENS[:3] if framed else TOKENS))
    body = {"data": data, "includes": {"users": draw(st.lists(x_users(), max_size=4))}, "meta": meta}
    if framed or draw(st.booleans()):
        return body
    return draw(mutated(body, keep=6))


@dataclass(frozen=True)
class Canned:
    """One HTTP response as X would send it."""

    status: int = 200
    body: bytes = b'{"meta": {"result_count": 0}}'
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:   # short enough to read in a falsifying example
        shown = self.body if len(self.body) < 400 else self.body[:400] + b"..."
        return f"Canned({self.status}, {shown!r}, {self.headers!r})"


def page(body: Any, **headers: str) -> Canned:
    return Canned(200, json.dumps(body).encode(), dict(headers))


class CannedX(HTTPAdapter):
    """A transport answering each request with the next canned response (then empty pages)."""

    def __init__(self, responses: list[Canned]) -> None:
        super().__init__(max_retries=0)
        self.responses = list(responses)
        self.sent: list[str] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        self.sent.append(request.url or "")
        canned = self.responses.pop(0) if self.responses else Canned()
        response = requests.Response()
        response.status_code = canned.status
        response.reason = "canned"
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json; charset=utf-8",
                                                **canned.headers})
        response.raw = io.BytesIO(canned.body)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response


def x_network(responses: list[Canned], user_id: str | None = BRAND_ID) -> tuple[XNetwork, CannedX]:
    net = XNetwork(XSettings(token=Secret(X_TOKEN, "token"), base_url=X_BASE, user_id=user_id))
    wire = CannedX(responses)
    net.session.mount("https://", wire)
    return net, wire


RAW_BODIES = (b"", b"null", b"[]", b'"data"', b"NaN", b"1e999", b'{"data": [', b"<html>502 Bad Gateway</html>",
              b"\xef\xbb\xbf{}", b'{"data": []}\x00', b"\xff\xfe{\x00}\x00", b"[" * 50_000,
              b'{"data": ' + b"[" * 50_000)
ERROR_STATUSES = (204, 301, 304, 400, 401, 403, 404, 408, 409, 413, 418, 422, 429, 500, 502, 503)
RATE_HEADER_NAMES = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "retry-after")
HEADER_NUMBERS = ("0", "1", "15", "450", "-1", "abc", "", "nan", "inf", "-inf", "1e999", "99999999999",
                  "1.5", " 7 ", "１２")
rate_headers = st.dictionaries(st.sampled_from(RATE_HEADER_NAMES),
                               st.sampled_from(HEADER_NUMBERS) | st.integers(-10**12, 10**12).map(str),
                               max_size=4)


def x_responses(pages: Any) -> Any:
    """What the wire may carry: mostly pages, also non-JSON bodies and error statuses."""
    errors = st.tuples(st.sampled_from(ERROR_STATUSES),
                       st.one_of(json_junk.map(lambda j: json.dumps(j).encode()), st.sampled_from(RAW_BODIES)),
                       rate_headers).map(lambda t: Canned(*t))
    raw = st.one_of(st.sampled_from(RAW_BODIES), st.binary(max_size=40)).map(lambda b: Canned(200, b))
    return st.one_of(pages.map(page), pages.map(page), pages.map(page), raw, errors)


def decoded(canned: Canned) -> Any:
    return json.loads(canned.body)


def well_framed(canned: Canned) -> bool:
    """A 200 whose page structure is sound, whatever its items hold: items alone may fail."""
    if canned.status != 200:
        return False
    try:
        body = decoded(canned)
    except (ValueError, RecursionError):
        return False
    if not isinstance(body, dict):
        return False
    includes, meta = body.get("includes"), body.get("meta")
    return (isinstance(body.get("data"), (list, type(None)))
            and (includes is None or (isinstance(includes, dict)
                                      and isinstance(includes.get("users"), (list, type(None)))))
            and (meta is None or (isinstance(meta, dict) and all(
                isinstance(meta.get(k), (str, type(None))) for k in ("next_token", "newest_id")))))


def assert_item(item: Any, kind: str) -> None:
    """One Mention, or one Unparseable that says why."""
    prefix = "x:dm:" if kind == "dm" else "x:post:"
    if isinstance(item, Unparseable):
        assert item.network == "x" and isinstance(item.key, str) and item.key.startswith(prefix), item
        assert isinstance(item.reason, str) and item.reason.strip(), f"no reason given: {item!r}"
        return
    assert isinstance(item, Mention), f"neither a Mention nor an Unparseable: {item!r}"
    assert item.network == "x" and item.key == prefix + str(item.id), item
    assert (item.kind == "dm") == (kind == "dm"), item


def expected_posts(canned: Canned) -> int | None:
    """How many items a read page must hold: one per element of ``data`` (None: not a list)."""
    data = decoded(canned).get("data")
    return len(data) if isinstance(data, list) else (0 if not data else None)


def _decimal_id(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else None


def expected_dms(canned: Canned, cursor: str | None, me: str) -> tuple[int, int] | None:
    """How many events of a DM page must come out as items, at least and at most.

    Legitimately left out: the brand's own messages (invariant 4) and events whose id (a
    well-formed X id) is at or below the cursor, i.e. already read. X lists newest first,
    so a read may stop at the first of those (at least) or skip each (at most). An event
    without a usable id never stops a read. None: ``data`` is not a list."""
    data = decoded(canned).get("data")
    if not isinstance(data, list):
        return (0, 0) if not data else None
    least = most = 0
    stopped = False
    for event in data:
        event_id = _decimal_id(event.get("id")) if isinstance(event, dict) else None
        if cursor and event_id is not None and event_id <= int(cursor):
            stopped = True
            continue
        if isinstance(event, dict) and str(event.get("sender_id")) == me:
            continue
        most += 1
        least += not stopped
    return least, most


def read_all(fetch: Callable[[Cursor, str | None], Page], cursor: Cursor,
             responses: list[Canned]) -> Iterator[tuple[Canned, Page | SocialdeskError]]:
    """Read page after page as the engine does; each canned response with what came of it."""
    token: str | None = None
    for canned in responses:
        try:
            result: Page | SocialdeskError = fetch(cursor, token)
        except SocialdeskError as err:
            result = err
        yield canned, result
        if not isinstance(result, Page) or result.next_page is None:
            return
        token = result.next_page


def _refusal(canned: Canned, result: SocialdeskError) -> None:
    assert str(result).strip(), f"{type(result).__name__} without a message"
    assert not well_framed(canned), (
        f"a page with a sound structure was refused whole ({type(result).__name__}: {result}); "
        f"a bad item must become an Unparseable instead")


cursors = st.one_of(st.none(), st.sampled_from(ID_POOL))

INF_METRIC = Canned(200, b'{"data": [{"id": "1", "text": "hi", "author_id": "12", '
                         b'"public_metrics": {"like_count": 1e999}}]}')
PIPE_TOKEN = page({"data": [], "meta": {"next_token": "a|b", "newest_id": "5"}})


@fuzz(250)
@given(read=st.sampled_from(["mentions", "search"]), cursor=cursors,
       first=x_responses(x_pages(x_posts())), second=x_responses(x_pages(x_posts())))
@example(read="mentions", cursor=None, first=page({"data": [], "includes": [1]}), second=Canned())
@example(read="mentions", cursor=None, first=page({"data": [], "includes": {"users": None}}), second=Canned())
@example(read="search", cursor=None, first=page({"data": 5}), second=Canned())
@example(read="mentions", cursor=None, first=INF_METRIC, second=Canned())
@example(read="mentions", cursor=None, first=PIPE_TOKEN, second=Canned())
@example(read="mentions", cursor=None, first=Canned(200, b"[" * 50_000), second=Canned())
def test_x_post_pages_are_read_item_by_item_or_refused_whole(read: str, cursor: str | None, first: Canned,
                                                             second: Canned) -> None:
    """Mentions timeline and recent search: each page is a Page holding one item per
    element of ``data`` (a Mention, or an Unparseable with its reason), or is refused
    whole with a taxonomy error - and only when the page itself is unsound."""
    net, _ = x_network([first, second])
    fetch = net.fetch_mentions if read == "mentions" else partial(net.search_recent, "@TweepyDev")
    for canned, result in read_all(fetch, Cursor(cursor), [first, second]):
        if isinstance(result, SocialdeskError):
            _refusal(canned, result)
            continue
        expected = expected_posts(canned)
        if expected is None:   # data is neither a list nor empty: the page is not what X sends
            assert result.items, "a non-empty data that is not a list vanished without a trace"
        else:
            assert len(result.items) == expected, (
                f"{expected} posts in data, {len(result.items)} items out: some were dropped silently")
        for item in result.items:
            assert_item(item, "post")


@fuzz(250)
@given(cursor=cursors, first=x_responses(x_pages(dm_events())), second=x_responses(x_pages(dm_events())))
@example(cursor=None, first=page({"data": [], "meta": [1]}), second=Canned())
@example(cursor=None, first=page({"data": [{"id": "5", "text": "hi", "sender_id": "12"}],
                                  "includes": {"users": [{"id": "12", "username": "ada", "public_metrics": [1]}]}}),
         second=Canned())
@example(cursor="99", first=page({"data": [{"id": "", "text": "?", "sender_id": "12"},
                                           {"id": "150", "text": "new DM", "sender_id": "12"}]}), second=Canned())
def test_x_dm_pages_are_read_item_by_item_or_refused_whole(cursor: str | None, first: Canned,
                                                           second: Canned) -> None:
    """DM events: every event newer than the cursor that the brand did not send itself
    becomes a Mention (kind dm) or an Unparseable with its reason; or the page is refused
    whole with a taxonomy error, only when the page itself is unsound."""
    net, _ = x_network([first, second])
    for canned, result in read_all(net.fetch_dms, Cursor(cursor), [first, second]):
        if isinstance(result, SocialdeskError):
            _refusal(canned, result)
            continue
        expected = expected_dms(canned, cursor, BRAND_ID)
        if expected is None:
            assert result.items, "a non-empty data that is not a list vanished without a trace"
        else:
            least, most = expected
            assert least <= len(result.items) <= most, (
                f"{least} to {most} events to read, {len(result.items)} items out: some were dropped "
                f"silently\n  page: {canned!r}\n  items: {result.items!r}")
        for item in result.items:
            assert_item(item, "dm")


def _type_problems(m: Mention) -> list[str]:
    """Where a Mention breaks the types adapters.base declares (what sync/ relies on)."""
    def optional(value: Any, *types: type) -> bool:
        return value is None or (isinstance(value, types) and not (bool not in types and isinstance(value, bool)))

    a = m.author
    checks = {
        "id": (m.id, isinstance(m.id, str) and m.id != ""), "text": (m.text, isinstance(m.text, str)),
        "conversation_id": (m.conversation_id, isinstance(m.conversation_id, str)),
        "url": (m.url, optional(m.url, str)), "in_reply_to": (m.in_reply_to, optional(m.in_reply_to, str)),
        "lang": (m.lang, optional(m.lang, str)), "created_at": (m.created_at, optional(m.created_at, datetime)),
        "metrics": (m.metrics, all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                   for k, v in m.metrics.items())),
        "author.id": (a.id, isinstance(a.id, str)), "author.handle": (a.handle, isinstance(a.handle, str)),
        "author.name": (a.name, optional(a.name, str)),
        "author.followers": (a.followers, optional(a.followers, int)),
        "author.verified": (a.verified, optional(a.verified, bool)),
        "author.profile_url": (a.profile_url, optional(a.profile_url, str)),
    }
    return [f"{name}={value!r}" for name, (value, ok) in checks.items() if not ok]


def _page_type_problems(p: Page) -> list[str]:
    problems = []
    if not (p.cursor.value is None or isinstance(p.cursor.value, str)):
        problems.append(f"cursor={p.cursor.value!r}")
    if not (p.next_page is None or isinstance(p.next_page, str)):
        problems.append(f"next_page={p.next_page!r}")
    return problems


@fuzz(200)
@given(first=x_pages(x_posts(), framed=True), dms=x_pages(dm_events(), framed=True),
       meta=st.dictionaries(st.sampled_from(("newest_id", "next_token")), json_scalars, max_size=2))
@example(first={"data": [{"id": "7", "text": "hi", "author_id": "12", "lang": 5}],
                "includes": {"users": [{"id": "12", "username": "ada", "name": [],
                                        "public_metrics": {"followers_count": "12"}, "verified": "yes"}]}},
         dms={"data": []}, meta={"newest_id": {}})
def test_x_items_and_pages_are_well_typed(first: dict, dms: dict, meta: dict) -> None:
    """What the adapter hands the engine has the types adapters.base declares."""
    first = {**first, "meta": {**first.get("meta", {}), **meta}}
    net, _ = x_network([page(first), page(dms)])
    problems = []
    for read in (net.fetch_mentions, net.fetch_dms):
        try:
            result = read(Cursor(), None)
        except SocialdeskError:
            continue
        problems += _page_type_problems(result)
        problems += [f"{m.key}: {p}" for m in result.items if isinstance(m, Mention) for p in _type_problems(m)]
    assert not problems, "ill-typed values cross into sync/: " + "; ".join(problems)


@fuzz(150)
@given(cursor=cursors, first=x_pages(dm_events(), framed=True))
@example(cursor=None, first={"data": [{"text": "no id", "sender_id": "12"}]})
@example(cursor=None, first={"data": ["not an event"]})
def test_x_dm_cursor_never_hides_later_dms(cursor: str | None, first: dict) -> None:
    """Whatever a DM page held, a DM sent after it is read by the next poll."""
    first = {**first, "meta": {}}                    # one page: its cursor is the read's cursor
    ids = [_decimal_id(e.get("id")) for e in first["data"] if isinstance(e, dict)]
    newer = str(max([i for i in ids if i is not None] + [int(cursor or 0), 10**18]) + 1)
    later = {"data": [{"id": newer, "event_type": "MessageCreate", "text": "a DM sent later",
                       "sender_id": "12", "dm_conversation_id": f"12-{BRAND_ID}"}]}
    net, _ = x_network([page(first), page(later)])
    try:
        moved = net.fetch_dms(Cursor(cursor)).cursor
    except SocialdeskError:
        moved = Cursor(cursor)       # a refused page leaves the cursor where it was
    items = net.fetch_dms(moved).items
    assert [i.id for i in items if isinstance(i, Mention)] == [newer], (
        f"after a page moved the cursor to {moved.value!r}, a newer DM ({newer}) was not read: {items!r}")


@fuzz(120)
@given(first=st.tuples(st.sampled_from((200, 429)), st.just(b"{}"), rate_headers).map(lambda t: Canned(*t)),
       second=st.tuples(st.sampled_from((200, 429)), st.just(b"{}"), rate_headers).map(lambda t: Canned(*t)))
@example(first=Canned(429, b"{}", {"x-rate-limit-reset": "inf"}), second=Canned())
@example(first=Canned(200, b"{}", {"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0",
                                   "x-rate-limit-reset": "nan"}), second=Canned())
def test_x_rate_limit_waits_are_finite(first: Canned, second: Canned) -> None:
    """Whatever rate-limit headers say, a RateLimited asks for a finite, positive wait of at
    most a day (X's longest window, the 24-hour post cap)."""
    net, _ = x_network([first, second, Canned()])
    for _ in range(3):
        try:
            net.fetch_mentions(Cursor())
        except RateLimited as err:
            assert 0 < err.retry_after <= 86_400, f"retry_after={err.retry_after!r} from {first!r}, {second!r}"
        except SocialdeskError:
            pass


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'state.sqlite'}")
    store.migrate()
    yield store
    store.close()


_route_names = (f"fuzz-{n}" for n in itertools.count())


def _identity(element: Any) -> tuple[str, str]:
    """Which source item an element of ``data`` is: its id when it names one, else its content."""
    if isinstance(element, dict) and element.get("id") is not None and str(element["id"]) != "":
        return "id", str(element["id"])
    return "raw", json.dumps(element, sort_keys=True, default=repr)


@fuzz(100)
@given(first=x_pages(x_posts(), framed=True), second=x_pages(x_posts(), framed=True))
@example(first={"data": [1, "two", None]}, second={})
@example(first={"data": [{"text": "a"}, {"text": "b"}]}, second={})
@example(first={"data": [{"id": "1", "text": "hi", "author_id": "12", "created_at": "0001-01-01T00:00:00"}]},
         second={})
@example(first={"data": [{"id": "\ud800", "text": "hi", "author_id": "12"}]}, second={})
def test_route_poll_quarantines_every_unparseable_with_its_reason(fuzz_store: Store, first: dict,
                                                                  second: dict) -> None:
    """Route.poll over a real Store: every item read is recorded - pending in the inbox, or
    quarantined with the adapter's reason - and the poll itself never fails on an item."""
    responses = [page(first), page(second)]
    twin, _ = x_network(list(responses))    # the same adapter on the same bytes: what poll reads
    read = [(canned, result) for canned, result in read_all(twin.fetch_mentions, Cursor(), responses)
            if isinstance(result, Page)]
    elements = [e for canned, _ in read for e in decoded(canned).get("data") or []]
    items = [i for _, result in read for i in result.items]
    assert len(items) == len(elements)

    name = next(_route_names)
    net, _ = x_network(list(responses))
    route = Route(RouteSettings(name=name, helpdesk_name="zd", streams=("mentions",)), net,
                  None, fuzz_store)  # type: ignore[arg-type]  # poll never calls the helpdesk
    route.poll("mentions")

    failed = fuzz_store.failed(name)
    rows = sum(fuzz_store.counts().get(name, {}).get("inbox", {}).values())
    identities = [_identity(e) for e in elements]
    assert len(set(identities)) <= rows <= len(elements), (
        f"{len(elements)} items ({len(set(identities))} distinct) read, {rows} recorded; "
        f"quarantined: {[(f['key'], f['reason']) for f in failed]}")
    assert all(isinstance(f["reason"], str) and f["reason"].strip() for f in failed)
    recorded = {(f["key"], f["reason"]) for f in failed}
    for item, identity in zip(items, identities):
        if isinstance(item, Unparseable) and identities.count(identity) == 1:
            assert (item.key, item.reason) in recorded, f"{item!r} is not in quarantine: {recorded!r}"


# =========================================================================== 2. webhooks

ZD_SECRET = "fuzz-zendesk-signing-secret"
ORG_ID = "00D1I000003qqqEUAQ"
NOW = 1_750_000_000.0
SIGNATURE = "X-Zendesk-Webhook-Signature"
STAMP = "X-Zendesk-Webhook-Signature-Timestamp"


def webhook_app(hints: list[tuple[str, str]]) -> Any:
    app = create_app({"zd": ZD_SECRET}.get, lambda helpdesk, ticket: hints.append((helpdesk, ticket)),
                     lambda: {"status": "ok"}, clock=lambda: NOW, org_ids={"org": ORG_ID}.get)
    return Client(app)


def stamp_of(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_headers(body: bytes, stamp: str | None = None, content_type: str = "application/json") -> dict[str, str]:
    stamp = stamp or stamp_of(NOW)
    return {SIGNATURE: zendesk_signature(ZD_SECRET, stamp, body), STAMP: stamp, "Content-Type": content_type}


def assert_refusal(response: Any) -> None:
    """A 4xx saying what is wrong (Flask's own 413 page for an oversized body)."""
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.data[:300]!r}"
    if response.status_code != 413:
        assert response.is_json and str(response.get_json().get("error", "")).strip(), response.data[:300]


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=60)
names = st.one_of(st.just("zd"), st.just("org"),
                  st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-_."),
                          min_size=1, max_size=12).filter(lambda s: s not in (".", "..")))
big_bodies = st.sampled_from((b"{" * 100_000, b"[" * 50_000, b'{"ticket_id": 1}' + b" " * 300_000, b"\x00" * 1000))
any_bytes = st.one_of(st.binary(max_size=200), json_junk.map(lambda j: json.dumps(j).encode()), big_bodies)


@fuzz(200)
@given(helpdesk=names, body=any_bytes,
       headers=st.dictionaries(st.sampled_from((SIGNATURE, STAMP, "Content-Type", "Content-Encoding")),
                               header_text, max_size=4))
@example(helpdesk="zd", body=b"{}", headers={SIGNATURE: "\xe9", STAMP: stamp_of(NOW)})
def test_zendesk_webhook_refuses_what_it_cannot_verify(helpdesk: str, body: bytes, headers: dict) -> None:
    """Unsigned or wrongly signed deliveries, whatever their bytes and headers: a 4xx with
    a message, and no hint reaches the engine."""
    hints: list[tuple[str, str]] = []
    response = webhook_app(hints).post(f"/hooks/zendesk/{quote(helpdesk)}", data=body, headers=headers)
    assert_refusal(response)
    assert hints == []


ticket_ids = st.one_of(st.integers(min_value=-5, max_value=10**20), st.integers(0, 10**12).map(str),
                       st.sampled_from(("42", "0042", " 42", "42 ", "4.2", "²", "١٢", "42\n", "+42")),
                       st.sampled_from(WEIRD_STRINGS), json_scalars)
zendesk_payloads = st.one_of(
    st.fixed_dictionaries({"ticket_id": ticket_ids}, optional={"event": json_junk, "comment_id": json_junk}),
    json_junk)


@fuzz(200)
@given(body=st.one_of(zendesk_payloads.map(lambda p: json.dumps(p).encode()),
                      zendesk_payloads.map(lambda p: json.dumps(p, ensure_ascii=False).encode("utf-8", "surrogatepass")),
                      any_bytes),
       content_type=st.sampled_from(("application/json", "application/json; charset=utf-8", "text/plain", "")))
@example(body=b"[" * 50_000, content_type="application/json")
@example(body=json.dumps({"ticket_id": "²"}).encode(), content_type="application/json")
def test_signed_zendesk_webhook_with_any_body_never_crashes(body: bytes, content_type: str) -> None:
    """A genuine, fresh delivery with any body: 202 and one hint for a JSON object whose
    ticket_id is a number, else a 400 that says so; never a 500."""
    hints: list[tuple[str, str]] = []
    response = webhook_app(hints).post("/hooks/zendesk/zd", data=body,
                                       headers=signed_headers(body, content_type=content_type))
    if response.status_code == 202:
        assert len(hints) == 1 and hints[0][0] == "zd"
        assert re.fullmatch(r"[0-9]+", hints[0][1]), f"hinted ticket id {hints[0][1]!r} is not a number"
        return
    assert_refusal(response)
    assert hints == []
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return
    ticket = payload.get("ticket_id") if isinstance(payload, dict) else None
    numeric = (isinstance(ticket, int) and not isinstance(ticket, bool) and ticket >= 0) or (
        isinstance(ticket, str) and re.fullmatch(r"[0-9]+", ticket) is not None)
    fits = len(body) <= 256 * 1024     # the app's MAX_CONTENT_LENGTH: beyond it, 413
    assert not (numeric and fits and content_type.startswith("application/json")), (
        f"a genuine hint for ticket {ticket!r} was refused: {response.status_code} {response.data!r}")


@fuzz(150)
@given(stamp=st.one_of(header_text.filter(lambda s: s.strip() != ""),
                       st.floats(-10 * MAX_AGE, 10 * MAX_AGE).map(lambda d: stamp_of(NOW + d)),
                       st.datetimes(timezones=st.sampled_from([timezone.utc, None])).map(str),
                       st.sampled_from(("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2025-06-15",
                                        "2025-06-15T15:06:40.000000001Z", "Z", "nan"))))
def test_zendesk_webhook_timestamps_never_crash(stamp: str) -> None:
    """A correctly signed timestamp of any shape: accepted only when it is fresh."""
    hints: list[tuple[str, str]] = []
    body = b'{"ticket_id": "42"}'
    response = webhook_app(hints).post("/hooks/zendesk/zd", data=body, headers=signed_headers(body, stamp))
    if response.status_code != 202:
        assert_refusal(response)
        assert hints == []
        return
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    assert abs(when.timestamp() - NOW) <= MAX_AGE and hints == [("zd", "42")]


OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
xml_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
org_ids = st.one_of(st.sampled_from((ORG_ID, ORG_ID[:15], f"  {ORG_ID}\n", ORG_ID[:15] + "zzz", "00D000000000001AAA",
                                     "", ORG_ID.lower())), xml_text)
record_ids = st.one_of(st.sampled_from(("0031I0000081tbPQAQ", "5003000000D8cuI", " 500xx ", "")), xml_text)


@st.composite
def outbound_messages(draw: Any) -> tuple[bytes, list[str] | None]:
    """A Salesforce outbound message (SOAP), often broken; with the record ids it names
    when the document is left intact (None when its bytes were mangled)."""
    org = draw(org_ids)
    notes = draw(st.lists(st.tuples(record_ids, st.booleans()), max_size=4))
    notifications = "".join(
        "<Notification><Id>04l1I000000fztEQAQ</Id>"
        + (f'<sObject xmlns:sf="{SOBJECT}"><sf:Id>{escape(rid)}</sf:Id><sf:Name>{escape(draw(xml_text))}</sf:Name>'
           "</sObject>" if has_id else '<sObject xmlns:sf="urn:other"><sf:Id>x</sf:Id></sObject>')
        + "</Notification>" for rid, has_id in notes)
    inner = (f'<notifications xmlns="{OUTBOUND}"><OrganizationId>{escape(org)}</OrganizationId>'
             f"<ActionId>04k1I000000bmsHQAQ</ActionId>{notifications}</notifications>")
    if draw(st.integers(0, 5)) == 0:
        inner = inner.replace(OUTBOUND, draw(st.sampled_from(("urn:other", "", OUTBOUND + "/x"))))
        notes = []
        org = None
    doctype = draw(st.sampled_from(("", '<!DOCTYPE e [<!ENTITY x "y">]>',
                                    '<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                                    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>',
                                    '<!DOCTYPE e SYSTEM "http://127.0.0.1:9/evil.dtd">')))
    encoding = draw(st.sampled_from(("UTF-8", None, "utf-8", "ISO-8859-1", "UTF-16", "ascii", "x-unknown", "cp037")))
    declaration = "" if encoding is None else f'<?xml version="1.0" encoding="{encoding}"?>'
    text = (f"{declaration}{doctype}<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
            f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>")
    data = text.encode("utf-8")
    expected: list[str] | None = [rid.strip() for rid, has_id in notes if has_id and rid.strip()]
    if org is None or encoding not in (None, "UTF-8", "utf-8"):
        expected = None
    if draw(st.integers(0, 4)) == 0:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut + draw(st.integers(0, 8)):]
        expected = None
    return data, expected


SAMPLE = CONTRACTS / "salesforce" / "samples" / "aspnet-webhooks" / "RequestBodies__Salesforce.xml"


@fuzz(200)
@given(helpdesk=st.one_of(st.just("org"), names),
       message=st.one_of(outbound_messages(), any_bytes.map(lambda b: (b, None))))
@example(helpdesk="org", message=(b'<?xml version="1.0" encoding="x-unknown"?><a/>', None))
def test_salesforce_outbound_message_with_any_body_never_crashes(helpdesk: str,
                                                                  message: tuple[bytes, list[str] | None]) -> None:
    """Any body on the outbound-message route: the SOAP acknowledgement and one hint per
    named record for this org's message, else a 4xx with a message; never a 500."""
    body, expected = message
    hints: list[tuple[str, str]] = []
    response = webhook_app(hints).post(f"/hooks/salesforce/{quote(helpdesk)}", data=body,
                                       headers={"Content-Type": "text/xml; charset=utf-8"})
    if response.status_code != 200:
        assert_refusal(response)
        assert hints == []
        return
    assert helpdesk == "org" and b"<Ack>true</Ack>" in response.data
    assert all(h == "org" and t and t == t.strip() for h, t in hints) and len(set(hints)) == len(hints)
    if expected is not None:
        assert hints == [("org", i) for i in dict.fromkeys(expected)]


def test_salesforce_recorded_sample_still_acknowledged() -> None:
    """The fuzzed route still does its job on the recorded sample (a sanity anchor)."""
    hints: list[tuple[str, str]] = []
    # The recorded message is of Contacts; socialdesk's definition sends Cases with their post id.
    sample = (SAMPLE.read_bytes().replace(b"012345678901234", ORG_ID[:15].encode())
              .replace(b"sf:Contact", b"sf:Case").replace(b"0031I", b"5001I")
              .replace(b"<sf:FirstName>", b"<sf:Social_Post_Id__c>x:1</sf:Social_Post_Id__c><sf:FirstName>"))
    response = webhook_app(hints).post("/hooks/salesforce/org", data=sample)
    assert response.status_code == 200 and hints == [("org", "5001I0000081tbPQAQ"), ("org", "5001I0000081tb0QAA")]


# =========================================================================== 3. mapping.yaml

SOURCE = "fuzz/mapping.yaml"
SECRET_VALUE = "fz-S3CRET-9f2c1b7e5a"
SECRET_PATH = "~fz-no-such-user/S3CRET-ca.pem"
SECRET_MARK = "S3CRET"
ENV = {"FUZZ_SECRET": SECRET_VALUE, "FUZZ_SECRET_PATH": SECRET_PATH, "FUZZ_EMPTY": "",
       "FUZZ_URL": "https://acme.zendesk.com", "FUZZ_DB": "postgresql+psycopg://u:pw@db/sd"}
ENV_REFS = ({"env": "FUZZ_SECRET"}, {"env": "FUZZ_SECRET_PATH"}, {"env": "FUZZ_UNSET"}, {"env": "FUZZ_EMPTY"},
            {"env": "FUZZ_URL"}, {"env": "FUZZ_DB"}, {"env": "1BAD"}, {"env": ""}, {"env": None},
            {"env": ["FUZZ_SECRET"]}, {"env": "FUZZ_SECRET", "default": "x"}, {"ENV": "FUZZ_SECRET"})
CONFIG_STRINGS = ("{env: FUZZ_SECRET}", "~", "~/ca.pem", "~fz-nobody/ca.pem", "rel/ca.pem", "{text!z}", "{text:d}",
                  "{nope}", "}{", "{text:{url}}", "30s", "-1s", "1e9h", "0", ".inf", "sqlite:///x.db",
                  "postgresql://u:pw@h/db", "https://", "http://x", "https://[::1", "[a, b", "&a", "*a", "@",
                  "yes", "null", "2001-13-45", "1:2:3", "0.5", "abc", "7", "Social care", "x-support",
                  "127.0.0.1:8787", "[::1]:99999", "\\bORD-\\d{6}\\b", "(", "a*", "social vip", "approved")
config_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(),
                           st.text(max_size=12), st.sampled_from(CONFIG_STRINGS), st.sampled_from(ENV_REFS))
config_junk = st.one_of(
    st.sampled_from(CONFIG_STRINGS), st.sampled_from(ENV_REFS), config_scalars,
    st.recursive(config_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(("kind", "env", "name", "when", "then", "<<")), inner, max_size=3),
        max_leaves=6))

ROUTE = {
    "name": "x-support", "network": "brand_x", "helpdesk": "acme", "streams": ["mentions", "dms"],
    "search_query": None, "poll": {"mentions": "30s", "dms": "60s", "replies": "30s"},
    "include": {"own_posts": False, "reposts": False, "quotes": True}, "blocklist": ["acme_status"],
    "history": "1h",
    "ticket": {"subject": "{network} {kind} from @{author}", "tags": ["social", "x"], "priority": "normal",
               "group": "Social care", "brand": None, "form": None, "type": "question", "include_metrics": True,
               "custom_fields": {"Social network": "x", "Social post URL": "{url}"}},
    "rules_match": "all",
    "rules": [{"name": "outage", "when": {"public": True, "keywords": ["outage", "down"], "language": ["en"]},
               "then": {"priority": "high", "type": "incident", "tags": ["social_outage"]}},
              {"name": "influencer", "when": {"followers_min": 10000, "metrics_min": {"like_count": 5}},
               "then": {"priority": "urgent", "custom_fields": {"VIP": "{author_name}"}}, "stop": True}],
    "mirror": {"enabled": True, "dm_tag": "social_dm", "dm_public_note": "We've sent you a direct message.",
               "thread_long_replies": True, "sign_off": None, "max_age": "72h",
               "approval": {"required": False, "tag": "approved"},
               "pii_patterns": [{"name": "order number", "regex": "\\bORD-\\d{6}\\b"}]},
    "viral": {"enabled": True, "refresh": "10m", "thresholds": {"like_count": 500},
              "velocity": {"per_hour": {"like_count": 200}}, "priority": "urgent", "tag": "social_viral",
              "spike": {"enabled": False, "window": "15m", "factor": 3.0, "min_mentions": 20}},
}
MAPPING = {
    "version": 1,
    "state": "sqlite:///socialdesk.sqlite",
    "helpdesks": {"acme": {"kind": "zendesk", "url": "https://acme.zendesk.com", "email": "sd@acme.example",
                           "token": {"env": "FUZZ_SECRET"}, "ca_bundle": "/etc/ssl/certs/ca.pem"},
                  "sf": {"kind": "salesforce", "login_url": "https://acme.my.salesforce.com", "auth": "jwt",
                         "client_id": "3MVG9", "username": "sd@acme.example",
                         "private_key": {"env": "FUZZ_SECRET"}},
                  "sandbox_zendesk": {"kind": "zendesk", "sandbox": True}},
    "networks": {"brand_x": {"kind": "x", "token": {"env": "FUZZ_SECRET"}, "user_id": "1072250532645998596"},
                 "sandbox_x": {"kind": "x", "sandbox": True}},
    "routes": [ROUTE, {**ROUTE, "name": "sf-route", "network": "sandbox_x", "helpdesk": "sf",
                       "ticket": {"origin": "Social", "record_type": "Social_Care", "entitlement": "Gold",
                                  "assignment_rule": True, "group": "Social queue"}}],
    "webhook": {"listen": "127.0.0.1:8787", "public_url": "https://sd.acme.example/hooks",
                "secret": {"env": "FUZZ_SECRET"}},
}


def _seed_texts() -> list[str]:
    """The mappings the project ships: the documents admins start from."""
    out = []
    for path in (REPO / "mapping.yaml", REPO / "examples" / "salesforce.yaml"):
        try:
            out.append(path.read_text("utf-8"))
        except OSError:
            pass
    return out or [yaml.safe_dump(MAPPING, sort_keys=False)]


SEED_TEXTS = _seed_texts()


@st.composite
def edited(draw: Any, text: str) -> str:
    """``text`` after a few careless edits: typed text, deletions, tabs, moved indentation."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(("type", "delete", "tab", "indent", "duplicate", "swap")))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        line = lines[i] if lines else ""
        at = draw(st.integers(0, len(line)))
        if op == "type":
            typed = draw(st.one_of(st.text(max_size=8), st.sampled_from(
                (":", "- ", "{", "[", "}", "'", '"', "&a ", "*a", "!!binary ", "<<: *a", "#", "|", ">", "\\", "%"))))
            lines[i] = line[:at] + typed + line[at:]
        elif op == "delete":
            lines[i] = line[:at] + line[at + draw(st.integers(1, 6)):]
        elif op == "tab":
            lines[i] = "\t" + line
        elif op == "indent":
            lines[i] = " " * draw(st.integers(1, 5)) + line
        elif op == "duplicate":
            lines.insert(i, line)
        elif lines:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


# Values an admin may well write where a setting of that sort goes, good and bad.
URLS = ("https://acme.zendesk.com", "https://acme.zendesk.com/", "http://acme.zendesk.com", "acme.zendesk.com",
        "https://", "https://[::1", "https://[::1]:8443", "https://a b", {"env": "FUZZ_URL"}, {"env": "FUZZ_SECRET"})
PATHS = ("/etc/ssl/certs/ca.pem", "ca.pem", "~/ca.pem", "~fz-nobody/ca.pem", "", "\x00", {"env": "FUZZ_SECRET_PATH"})
STATES = ("sqlite:///socialdesk.sqlite", "postgresql+psycopg://db/sd", "postgresql://u:pw@db/sd", "mysql://db/sd",
          "postgresql://[db/sd", "", {"env": "FUZZ_DB"}, {"env": "FUZZ_SECRET"}, {"env": "FUZZ_UNSET"})
SLOTS = {("helpdesks", "acme", "url"): URLS, ("helpdesks", "acme", "ca_bundle"): PATHS,
         ("helpdesks", "acme", "rate_share"): ("0.5", 0.5, "abc", "7", 1, True),
         ("helpdesks", "sf", "login_url"): URLS, ("networks", "brand_x", "base_url"): URLS,
         ("networks", "brand_x", "ca_bundle"): PATHS, ("state",): STATES, ("webhook", "public_url"): URLS,
         ("webhook", "listen"): ("127.0.0.1:8787", "[::1]:8787", "[::1", ":0", "host:99999", "8787")}


@st.composite
def mapping_docs(draw: Any) -> Any:
    """MAPPING with settings drawn from SLOTS, then mutated; version kept (another version
    is reported alone, which would end most documents before their settings are read)."""
    doc = json.loads(json.dumps(MAPPING))
    for path, values in SLOTS.items():
        if draw(st.integers(0, 2)) == 0:
            *parents, leaf = path
            target = doc
            for key in parents:
                target = target[key]
            target[leaf] = draw(st.sampled_from(values))
    doc = draw(mutated(doc, keep=10, junk=config_junk))
    return {"version": 1, **doc} if draw(st.integers(0, 9)) else doc


@st.composite
def mapping_texts(draw: Any) -> str:
    """mapping.yaml as an admin might write it: around the real keys, more or less wrong."""
    choice = draw(st.integers(0, 9))
    if choice <= 5:
        doc = draw(mapping_docs())
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=draw(st.booleans()),
                              default_flow_style=draw(st.sampled_from((False, None, True))))
        return draw(edited(text)) if choice == 5 else text
    if choice <= 7:
        return draw(edited(draw(st.sampled_from(SEED_TEXTS))))
    if choice == 8:
        return draw(st.text(max_size=200))
    return draw(st.sampled_from(("", "---", "version: 1", "[]", "version: 2\nroutes: []", "version: [1]",
                                 "\ufeffversion: 1", "version: 1\nroutes: \x00", "a: &a [*a]",
                                 "version: 1\n" + "- " * 200, "version: 1\nroutes: " + "[" * 2000,
                                 "version: 1\nroutes:\n" + "".join("  " * i + "- a:\n" for i in range(600)))))


LOCATED = re.compile(rf"{re.escape(SOURCE)}:(\d+):(\d+): \S")
FILE_LEVEL = re.compile(rf"{re.escape(SOURCE)}: YAML (?:syntax )?error: \S")


@fuzz(300)
@given(text=mapping_texts(), allow_missing_env=st.booleans())
@example(text="[" * 3000, allow_missing_env=False)
@example(text="version: 1\nnetworks: {b: {kind: x, token: {env: FUZZ_SECRET}, ca_bundle: '~fz-nobody/ca.pem'}}\n"
              "helpdesks: {}\nroutes: []\n", allow_missing_env=False)
@example(text="version: 1\nstate: 'postgresql://[db/sd'\nroutes: []\n", allow_missing_env=False)
def test_mapping_problems_are_located_and_never_show_a_secret(text: str, allow_missing_env: bool) -> None:
    """parse_config on any text: a Config, or ConfigError whose every problem starts
    FILE:LINE:COL pointing into the text (file-level FILE: only for YAML the reader cannot
    read at all) and never shows a secret's value."""
    try:
        parse_config(text, SOURCE, env=ENV, allow_missing_env=allow_missing_env, base_dir=REPO)
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) for p in err.problems)
        last_line = text.count("\n") + 2
        for problem in err.problems:
            located = LOCATED.match(problem)
            assert located or FILE_LEVEL.match(problem), f"problem without FILE:LINE:COL: {problem!r}"
            if located:
                assert 1 <= int(located.group(1)) <= last_line and int(located.group(2)) >= 1, problem
        assert SECRET_MARK not in str(err) and SECRET_VALUE not in str(err), f"a secret shows: {err}"


templates = st.one_of(
    st.lists(st.sampled_from(("{text}", "{author}", "{url}", "{id}", "{kind}", "{network}", "{author_name}",
                              "{text!r}", "{text!s}", "{text!z}", "{text:d}", "{text:>10}", "{text:.5}",
                              "{id:,}", "{text:{url}}", "{text[0]}", "{text.upper}", "{0}", "{}", "{{", "}}",
                              "{", "}", "X ", " from @", "é ")), max_size=5).map("".join),
    st.text(st.sampled_from("{}!:.[]0rsz>,dtexauhor_ "), max_size=14))


@fuzz(150)
@given(subject=templates, field_value=templates, rule_value=templates)
@example(subject="{text!z}", field_value="x", rule_value="x")
@example(subject="{text:d}", field_value="x", rule_value="x")
@example(subject="x", field_value="{text:{nope}}", rule_value="x")
def test_accepted_ticket_templates_render(subject: str, field_value: str, rule_value: str) -> None:
    """A subject or custom field template that parse_config accepts renders for any mention."""
    route = {"name": "t", "network": "brand_x", "helpdesk": "acme",
             "ticket": {"subject": subject, "custom_fields": {"Social post URL": field_value}},
             "rules": [{"name": "r", "when": {"public": True}, "then": {"custom_fields": {"VIP": rule_value}}}]}
    doc = {**MAPPING, "routes": [route]}
    try:
        config = parse_config(yaml.safe_dump(doc, sort_keys=False), SOURCE, env=ENV)
    except ConfigError:
        return
    values = {p: f"sample {p} ✓" for p in PLACEHOLDERS}
    [parsed] = config.routes
    rendered = [parsed.ticket.subject, *parsed.ticket.custom_fields.values(),
                *(v for rule in parsed.rules for v in rule.then.custom_fields.values())]
    for template in rendered:
        if isinstance(template, str):
            render_template(template, **values)


setting_values = st.one_of(st.sampled_from(("0.5", 0.5, "abc", "7", "0", 1, "1e-3", ".nan", "", "~/ca.pem",
                                            "~fz-nobody/ca.pem", "/etc/ssl/certs/ca.pem", "https://api.x.com",
                                            "https://[::1", "1072250532645998596")), config_scalars)


@fuzz(120)
@given(x_settings=st.dictionaries(st.sampled_from(("base_url", "ca_bundle", "user_id", "rate_share")),
                                  setting_values, max_size=3),
       zd_settings=st.dictionaries(st.sampled_from(("ca_bundle", "rate_share", "url", "email")),
                                   setting_values, max_size=2))
@example(x_settings={"rate_share": "abc"}, zd_settings={})
@example(x_settings={}, zd_settings={"rate_share": "7"})
def test_an_accepted_mapping_builds_its_adapters(x_settings: dict, zd_settings: dict) -> None:
    """What parse_config accepts, the daemon can build (no I/O: X and Zendesk adapters)."""
    from sync.daemon import build_adapter

    doc = {"version": 1,
           "helpdesks": {"acme": {**MAPPING["helpdesks"]["acme"], **zd_settings}},
           "networks": {"brand_x": {"kind": "x", "token": {"env": "FUZZ_SECRET"}, **x_settings}},
           "routes": [{"name": "t", "network": "brand_x", "helpdesk": "acme"}]}
    try:
        config = parse_config(yaml.safe_dump(doc, sort_keys=False), SOURCE, env=ENV, base_dir=REPO)
    except ConfigError:
        return
    build_adapter("helpdesk", config.helpdesks["acme"], None)
    build_adapter("social", config.networks["brand_x"], None)
