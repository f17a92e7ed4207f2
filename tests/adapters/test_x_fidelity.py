"""X behaviours the sandbox once spared the adapter (issue 14), through the real adapter
over HTTPS: HTML-escaped text, 24-hour caps, t.co links in DMs, and an empty last page
after a ``next_token``.

Each test checks the wire as well as the adapter, so it fails against the sandbox as it
was before (which sent text as typed, no 24-hour caps, DM links as typed and no
``next_token`` on a last page).
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest
import requests

from adapters.base import Cursor, Mention, OutboundPost, RateLimited, Secret
from adapters.social.x import XNetwork, XSettings, _next_token
from harness import XHarness

TRICKY = "a & b < c > d, I typed &amp; and &lt;3 literally"


@pytest.fixture
def h(sandbox_info: dict) -> XHarness:
    return XHarness(sandbox_info)


@pytest.fixture
def raw(h: XHarness) -> requests.Session:
    """A plain client with the brand's token, to see the wire itself."""
    session = requests.Session()
    session.verify = h.info["ca_bundle"]
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {h.service['token']}"
    return session


def _handle() -> str:
    return "fid_" + uuid.uuid4().hex[:10]


def _settle(h: XHarness) -> None:
    """Move the sandbox clock past any indexing delay of timelines and search."""
    h.control.post("clock", {"advance": 30})


def _latest(net: XNetwork, read: Any) -> Cursor:
    page = read(Cursor(), None)
    while page.next_page:
        page = read(Cursor(), page.next_page)
    return page.cursor


def _read(read: Any, cursor: Cursor) -> tuple[list[Any], Any, int]:
    """Every page of one read: (items, last page, pages read)."""
    page, pages = read(cursor, None), 1
    items = list(page.items)
    while page.next_page:
        page, pages = read(cursor, page.next_page), pages + 1
        items.extend(page.items)
    return items, page, pages


# -- 1. HTML-escaped text ------------------------------------------------------------------


def test_post_and_dm_text_is_escaped_on_the_wire_and_unescaped_once(h: XHarness,
                                                                    raw: requests.Session) -> None:
    """Old sandbox: text went out as typed, so the wire assertions fail (and an adapter
    that unescaped twice would turn the customer's literal ``&amp;`` into ``&``)."""
    net = h.adapter()
    me = net.whoami()
    mentions_cursor = _latest(net, net.fetch_mentions)
    dms_cursor = _latest(net, net.fetch_dms)
    who = _handle()
    text = h.mention_text(f"{TRICKY} {who}")
    post_id = h.customer_posts(who, text)
    h.customer_posts(who, f"{TRICKY} {who}", dm=True)
    _settle(h)

    wire = raw.get(f"{h.service['url']}/2/tweets/{post_id}").json()["data"]["text"]
    assert "a &amp; b &lt; c &gt; d" in wire and "&amp;amp;" in wire and "&amp;lt;3" in wire
    events = raw.get(f"{h.service['url']}/2/dm_events").json()["data"]
    assert any(e["text"] == f"a &amp; b &lt; c &gt; d, I typed &amp;amp; and &amp;lt;3 literally {who}"
               for e in events)

    mentions, _, _ = _read(net.fetch_mentions, mentions_cursor)
    mine = [m for m in mentions if isinstance(m, Mention) and m.id == post_id]
    assert [m.text for m in mine] == [text]
    dms, _, _ = _read(net.fetch_dms, dms_cursor)
    assert [m.text for m in dms if isinstance(m, Mention) and who in m.text] == [f"{TRICKY} {who}"]
    found, _, _ = _read(lambda c, p: net.search_recent(f"from:{who}", c, p), Cursor())
    assert [m.text for m in found] == [text]
    assert me.handle == h.brand


def test_reply_weighs_the_unescaped_text_and_is_found_again(h: XHarness, raw: requests.Session) -> None:
    """A 280-character reply full of ``&`` is accepted (escaped it would be far longer),
    is found again by its text, and a post of ``x & y`` is not taken for one of
    ``x &amp; y`` (the old adapter compared the raw text too, a false "already sent"
    against the escaping sandbox)."""
    net = h.adapter()
    who = _handle()
    parent = h.customer_posts(who, h.mention_text(f"help {who}"))
    _settle(h)
    tag = uuid.uuid4().hex[:8]
    text = f"{tag} " + "&" * (280 - len(tag) - 1)
    assert net.weighted_length(text) == 280
    posted = net.post(OutboundPost(text=text, in_reply_to=parent))
    assert posted.text == text
    wire = raw.get(f"{h.service['url']}/2/tweets/{posted.id}").json()["data"]["text"]
    assert wire.count("&amp;") == 280 - len(tag) - 1
    found = net.find_own_post(OutboundPost(text=text, in_reply_to=parent))
    assert found is not None and found.id == posted.id

    plain = net.post(OutboundPost(text=f"x & y {tag}", in_reply_to=parent))
    assert net.find_own_post(OutboundPost(text=f"x & y {tag}", in_reply_to=parent)).id == plain.id
    assert net.find_own_post(OutboundPost(text=f"x &amp; y {tag}", in_reply_to=parent)) is None


# -- 2. 24-hour caps -----------------------------------------------------------------------


@pytest.fixture
def post_cap(h: XHarness) -> Iterator[Any]:
    def cap(limit: int) -> None:
        h.control.post("daily_limits", {"family": "create_tweet", "scope": "user", "limit": limit})
    yield cap
    cap(2400)


def test_spent_24_hour_cap_is_a_429_whose_wait_is_the_cap_reset(h: XHarness, raw: requests.Session,
                                                                  post_cap: Any) -> None:
    """Old sandbox: no 24-hour cap and no ``x-user-limit-24hour-*`` headers, so the
    third post went through."""
    post_cap(2)
    tag = uuid.uuid4().hex[:8]
    h.adapter().post(OutboundPost(text=f"one {tag}"))
    h.adapter().post(OutboundPost(text=f"two {tag}"))
    # A fresh adapter has seen no headers yet (as after a restart): it meets the 429.
    net = XNetwork(XSettings(token=Secret(h.service["token"], "token"), base_url=h.service["url"],
                             ca_bundle=h.info["ca_bundle"], rate_share=1.0))
    with pytest.raises(RateLimited) as refused:
        net.post(OutboundPost(text=f"three {tag}"))
    assert 15 * 60 < refused.value.retry_after <= 86_400
    assert "24-hour" in str(refused.value)

    answer = raw.post(f"{h.service['url']}/2/tweets", json={"text": f"four {tag}"})
    assert answer.status_code == 429
    assert answer.headers["x-user-limit-24hour-limit"] == "2"
    assert answer.headers["x-user-limit-24hour-remaining"] == "0"
    assert int(answer.headers["x-user-limit-24hour-reset"]) > time.time() + 15 * 60
    assert int(answer.headers["x-rate-limit-remaining"]) > 0          # the 15-minute window is not spent
    assert int(answer.headers["x-app-limit-24hour-remaining"]) > 0
    assert f"three {tag}" not in {p.get("submitted_text") for p in h.posts_by(h.brand)}


def test_rate_budget_keeps_within_its_share_of_the_24_hour_cap(h: XHarness, post_cap: Any) -> None:
    """With half of a 4-post cap used, the budget refuses the next post before sending it
    and waits for the 24-hour reset, not 15 minutes (old sandbox: no cap headers, so the
    budget let it through)."""
    post_cap(4)
    net = h.adapter()
    tag = uuid.uuid4().hex[:8]
    net.post(OutboundPost(text=f"one {tag}"))
    net.post(OutboundPost(text=f"two {tag}"))
    calls = len(h.control.get("requests")["requests"])
    with pytest.raises(RateLimited) as refused:
        net.post(OutboundPost(text=f"three {tag}"))
    assert refused.value.retry_after > 15 * 60 and "24hour" in str(refused.value)
    assert len(h.control.get("requests")["requests"]) == calls          # never sent
    assert f"three {tag}" not in {p.get("submitted_text") for p in h.posts_by(h.brand)}


# -- 3. t.co links in DMs ------------------------------------------------------------------


def test_dm_links_are_wrapped_on_the_wire_and_expanded_in_the_mention(h: XHarness,
                                                                      raw: requests.Session) -> None:
    """Old sandbox: DM links went out as typed, with no entities."""
    net = h.adapter()
    cursor = _latest(net, net.fetch_dms)
    who = _handle()
    link = "https://example.com/orders/123?x=1&y=2"
    text = f"order {link} & still nothing {who}"
    h.customer_posts(who, text, dm=True)

    events = raw.get(f"{h.service['url']}/2/dm_events",
                     params={"dm_event.fields": "text,entities"}).json()["data"]
    event = next(e for e in events if who in e["text"])
    assert link not in event["text"] and "https://t.co/" in event["text"]
    assert [u["expanded_url"] for u in event["entities"]["urls"]] == [link]
    assert event["entities"]["urls"][0]["url"] in event["text"]

    dms, _, _ = _read(net.fetch_dms, cursor)
    assert [m.text for m in dms if isinstance(m, Mention) and who in m.text] == [text]


# -- 4. next_token on a last page ----------------------------------------------------------


@pytest.fixture
def trailing(h: XHarness) -> Iterator[None]:
    h.control.post("pagination", {"trailing_empty_page": 1})
    yield
    h.control.post("pagination", {"trailing_empty_page": 0})


def test_empty_page_after_a_last_next_token_ends_the_read_without_a_gap(
        h: XHarness, raw: requests.Session, trailing: None) -> None:
    """Old sandbox: a last page never had a next_token, so only one page was read."""
    net = h.adapter()
    cursor = _latest(net, net.fetch_mentions)
    dm_cursor = _latest(net, net.fetch_dms)
    who = _handle()
    ids = [h.customer_posts(who, h.mention_text(f"number {n} {who}")) for n in range(3)]
    h.customer_posts(who, f"a DM {who}", dm=True)
    _settle(h)

    first = raw.get(f"{h.service['url']}/2/users/{h.service['brand_user_id']}/mentions",
                    params={"since_id": cursor.value, "max_results": 100}).json()
    assert first["meta"]["result_count"] == 3 and "next_token" in first["meta"]
    empty = raw.get(f"{h.service['url']}/2/users/{h.service['brand_user_id']}/mentions",
                    params={"since_id": cursor.value, "max_results": 100,
                            "pagination_token": first["meta"]["next_token"]}).json()
    assert empty == {"meta": {"result_count": 0}}

    items, last, pages = _read(net.fetch_mentions, cursor)
    assert sorted(m.id for m in items) == sorted(ids)
    assert pages == 2 and not last.gap and last.next_page is None
    assert last.cursor.value == max(ids, key=int)

    # From the start (no cursor to stop at), DMs read to their last page and the empty one.
    dms, last_dm, dm_pages = _read(net.fetch_dms, Cursor())
    assert [m.text for m in dms if who in m.text] == [f"a DM {who}"]
    assert dm_pages >= 2 and last_dm.next_page is None
    assert int(last_dm.cursor.value) > int(dm_cursor.value or 0)


def test_an_empty_page_naming_its_own_token_again_ends_the_read() -> None:
    """The loop guard: an empty page that names the token it was read with is the end
    (a last page's token that leads somewhere new is still followed)."""
    assert _next_token({"result_count": 0, "next_token": "abc"}, "abc", []) is None
    assert _next_token({"result_count": 0}, "abc", None) is None
    assert _next_token({"result_count": 2, "next_token": "abc"}, "abc", [{}, {}]) == "abc"
    assert _next_token({"result_count": 1, "next_token": "def"}, "abc", [{}]) == "def"
