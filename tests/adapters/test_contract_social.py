"""The SocialNetwork contract: every registered social adapter, against the sandbox.

Each test speaks only the protocol in adapters/base.py; what a customer does on the
network goes through the harness (the sandbox's control API).
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest

import adapters
from adapters.base import (
    AuthFailed, Cursor, DuplicateContent, Mention, OutboundPost, RateLimited, RetriableError,
    ReadsDMs, SkippableError, SocialNetwork,
)
from harness import HARNESSES

KINDS = adapters.kinds("social")


def test_every_social_adapter_has_a_harness() -> None:
    assert set(KINDS) <= set(HARNESSES), "add a harness in tests/harness.py for each new adapter"


@pytest.fixture(params=KINDS)
def h(request: pytest.FixtureRequest, sandbox_info: dict) -> Any:
    return HARNESSES[request.param](sandbox_info)


def _handle() -> str:
    return "cust_" + uuid.uuid4().hex[:10]


def _read_all(read, cursor: Cursor) -> tuple[list[Any], Cursor]:
    items: list[Any] = []
    page = read(cursor, None)
    items.extend(page.items)
    while page.next_page:
        page = read(cursor, page.next_page)
        items.extend(page.items)
    return items, page.cursor


def _latest_cursor(h: Any) -> Cursor:
    _, cursor = _read_all(h.adapter().fetch_mentions, Cursor())
    return cursor


def test_adapter_satisfies_protocol(h: Any) -> None:
    net = h.adapter()
    assert isinstance(net, SocialNetwork)
    assert net.max_reply_len > 0 and net.min_poll_interval > 0
    me = net.whoami()
    assert me.network == h.kind and me.handle == h.brand


def test_mention_arrives_with_exact_text_author_and_link(h: Any) -> None:
    cursor = _latest_cursor(h)
    handle = _handle()
    text = h.mention_text("my order #1234 never arrived 😡 — can you help? https://example.com/o/1")
    post_id = h.customer_posts(handle, text)
    items, _ = _read_all(h.adapter().fetch_mentions, cursor)
    mine = [m for m in items if isinstance(m, Mention) and m.id == post_id]
    assert len(mine) == 1
    mention = mine[0]
    assert mention.text == text
    assert mention.author.handle == handle
    assert mention.kind == "mention" and not mention.is_repost
    assert mention.url and post_id in mention.url
    assert mention.created_at is not None
    assert mention.conversation_id == post_id
    assert isinstance(mention.metrics, dict)


def test_cursor_reads_only_newer_items_and_rereads_are_stable(h: Any) -> None:
    net = h.adapter()
    before = _latest_cursor(h)
    first = h.customer_posts(_handle(), h.mention_text("first"))
    items1, after_first = _read_all(net.fetch_mentions, before)
    assert first in {m.id for m in items1}
    again, _ = _read_all(net.fetch_mentions, before)
    assert [m.id for m in again] == [m.id for m in items1]
    second = h.customer_posts(_handle(), h.mention_text("second"))
    items2, _ = _read_all(net.fetch_mentions, after_first)
    assert [m.id for m in items2] == [second]


def test_paging_returns_every_item_once(h: Any) -> None:
    net = h.adapter()
    cursor = _latest_cursor(h)
    posted = {h.customer_posts(_handle(), h.mention_text(f"bulk {i}")) for i in range(130)}
    items, new_cursor = _read_all(net.fetch_mentions, cursor)
    ids = [m.id for m in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == posted
    assert new_cursor.value is not None
    assert _read_all(net.fetch_mentions, new_cursor)[0] == []


def test_reply_to_brand_and_repost_are_classified(h: Any) -> None:
    net = h.adapter()
    cursor = _latest_cursor(h)
    customer = _handle()
    root = h.customer_posts(customer, h.mention_text("where is my parcel?"))
    brand_reply = net.post(OutboundPost(text=f"@{customer} looking into it", in_reply_to=root))
    follow_up = h.customer_posts(customer, "still nothing", in_reply_to=brand_reply.id)
    repost = h.customer_posts(_handle(), "", repost_of=root)
    items, _ = _read_all(net.fetch_mentions, cursor)
    by_id = {m.id: m for m in items}
    assert by_id[follow_up].kind == "reply"
    assert by_id[follow_up].in_reply_to == brand_reply.id
    assert by_id[follow_up].conversation_id == root
    assert by_id[repost].is_repost


def test_reply_lands_in_the_thread(h: Any) -> None:
    net = h.adapter()
    customer = _handle()
    root = h.customer_posts(customer, h.mention_text("help"))
    text = f"@{customer} sorry about that, we are on it {uuid.uuid4().hex[:6]}"
    posted = net.post(OutboundPost(text=text, in_reply_to=root))
    assert posted.id and posted.text == text and posted.in_reply_to == root
    seen = [p for p in h.posts_by(h.brand) if p["id"] == posted.id]
    assert seen and seen[0]["in_reply_to"] == root and seen[0]["text"] == text


def test_duplicate_post_is_refused_as_duplicate(h: Any) -> None:
    net = h.adapter()
    root = h.customer_posts(_handle(), h.mention_text("dup"))
    text = f"same words {uuid.uuid4().hex[:6]}"
    net.post(OutboundPost(text=text, in_reply_to=root))
    with pytest.raises(DuplicateContent):
        net.post(OutboundPost(text=text, in_reply_to=root))


def test_find_own_post_recovers_an_earlier_post(h: Any) -> None:
    net = h.adapter()
    root = h.customer_posts(_handle(), h.mention_text("recover"))
    post = OutboundPost(text=f"we replied {uuid.uuid4().hex[:6]}", in_reply_to=root)
    assert net.find_own_post(post) is None
    posted = net.post(post)
    found = net.find_own_post(post)
    assert found is not None and found.id == posted.id


def test_too_long_reply_is_refused_before_any_call(h: Any) -> None:
    net = h.adapter()
    with pytest.raises(SkippableError):
        net.post(OutboundPost(text="x" * (net.max_reply_len + 1), in_reply_to="1"))


def test_direct_messages_in_and_out(h: Any) -> None:
    net = h.adapter()
    if not isinstance(net, ReadsDMs):
        pytest.skip(f"{h.kind} does not declare ReadsDMs: it has no direct messages")
    _, cursor = _read_all(net.fetch_dms, Cursor())
    customer = _handle()
    dm_id = h.customer_posts(customer, "my account number is 12345, please check", dm=True)
    items, new_cursor = _read_all(net.fetch_dms, cursor)
    dms = [m for m in items if m.id == dm_id]
    assert len(dms) == 1 and dms[0].kind == "dm" and dms[0].author.handle == customer
    answer = net.post(OutboundPost(text="Thanks, checking now", dm_recipient_id=dms[0].author.id))
    assert answer.dm
    mine, _ = _read_all(net.fetch_dms, new_cursor)
    assert answer.id not in {m.id for m in mine}, "our own DMs must not come back in"
    found = net.find_own_post(OutboundPost(text="Thanks, checking now", dm_recipient_id=dms[0].author.id))
    assert found is not None and found.id == answer.id


def test_weighted_length_counts_as_the_network(h: Any) -> None:
    net = h.adapter()
    assert net.weighted_length("abc") == 3
    if h.kind == "x":
        assert net.weighted_length("see https://example.com/a/very/long/path/indeed") == 4 + 23
        assert net.weighted_length("日本") == 4
        assert net.weighted_length("😀") == 2


def test_rate_limit_becomes_rate_limited(h: Any) -> None:
    net = h.adapter()
    net.whoami()
    h.limit("mentions", 1)
    try:
        with pytest.raises(RateLimited) as caught:
            for _ in range(3):
                net.fetch_mentions(Cursor())
        assert caught.value.retry_after > 0
    finally:
        h.limit("mentions", 10_000)


def test_bad_token_is_auth_failed_and_token_is_never_shown(h: Any) -> None:
    net = h.adapter(token="not-a-valid-token-Zq9")
    with pytest.raises(AuthFailed) as caught:
        net.whoami()
    assert "Zq9" not in str(caught.value) and "Zq9" not in repr(net)
    assert "Zq9" not in repr(net.settings)


def test_server_error_is_retriable(h: Any) -> None:
    net = h.adapter()
    net.whoami()
    h.fault(path_prefix="/2/users", method="GET", status=503, count=1)
    with pytest.raises(RetriableError):
        net.fetch_mentions(Cursor())
    net.fetch_mentions(Cursor())
