"""The SocialNetwork contract: every registered social adapter, against the sandbox.

Each test speaks only the protocol in adapters/base.py; what a customer does on the
network goes through the harness (the sandbox's control API), and what differs between
networks by nature (what an opening post is read as, how replies nest, how length is
counted, what is refused twice) is asked of the harness. A test skips only where a
network truly lacks what it checks, and says why.
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
    """A cursor past everything posted so far."""
    h.tick()
    _, cursor = _read_all(h.adapter().fetch_mentions, Cursor())
    return cursor


def _addressed(net: Any, handle: str, text: str) -> str:
    """A public answer as the engine writes it: opening with @handle where the network does."""
    return f"@{handle} {text}" if net.addresses_author else text


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
    assert mention.author.handle == h.shown_handle(handle)
    assert mention.kind == h.mention_kind and not mention.is_repost
    # The link names the post (Facebook's ids are {owner}_{number}, its links .../posts/{number}).
    assert mention.url and post_id.rpartition("_")[2] in mention.url
    assert mention.created_at is not None
    assert mention.conversation_id == h.conversation_of(post_id)
    assert isinstance(mention.metrics, dict)


def test_cursor_reads_only_newer_items_and_rereads_are_stable(h: Any) -> None:
    net = h.adapter()
    before = _latest_cursor(h)
    first = h.customer_posts(_handle(), h.mention_text("first"))
    h.tick()
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
    h.tick()
    items, new_cursor = _read_all(net.fetch_mentions, cursor)
    ids = [m.id for m in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == posted
    assert new_cursor.value is not None
    assert _read_all(net.fetch_mentions, new_cursor)[0] == []


def test_reply_to_brand_is_classified(h: Any) -> None:
    net = h.adapter()
    cursor = _latest_cursor(h)
    customer = _handle()
    root = h.customer_posts(customer, h.mention_text("where is my parcel?"))
    brand_reply = net.post(OutboundPost(text=_addressed(net, customer, "looking into it"), in_reply_to=root))
    follow_up = h.customer_posts(customer, "still nothing", in_reply_to=brand_reply.id)
    items, _ = _read_all(net.fetch_mentions, cursor)
    by_id = {m.id: m for m in items}
    assert brand_reply.id not in by_id, "the brand's own answer must not come back in"
    assert by_id[follow_up].kind == h.reply_kind
    assert by_id[follow_up].author.handle == h.shown_handle(customer)
    # Where one level of replies is kept (Instagram), the answer is filed under the
    # top-level comment the brand's reply sits in.
    assert by_id[follow_up].in_reply_to == (root if h.flat_replies else brand_reply.id)
    assert by_id[follow_up].conversation_id == h.conversation_of(root)


def test_repost_is_classified(h: Any) -> None:
    if not h.supports_reposts:
        pytest.skip(f"{h.kind} shows the brand no reposts of a post as items, only counts")
    net = h.adapter()
    cursor = _latest_cursor(h)
    root = h.customer_posts(_handle(), h.mention_text("where is my parcel?"))
    repost = h.customer_posts(_handle(), "", repost_of=root)
    items, _ = _read_all(net.fetch_mentions, cursor)
    by_id = {m.id: m for m in items}
    assert by_id[repost].is_repost
    assert not by_id[root].is_repost


def test_reply_lands_in_the_thread(h: Any) -> None:
    net = h.adapter()
    customer = _handle()
    root = h.customer_posts(customer, h.mention_text("help"))
    text = _addressed(net, customer, f"sorry about that, we are on it {uuid.uuid4().hex[:6]}")
    posted = net.post(OutboundPost(text=text, in_reply_to=root))
    assert posted.id and posted.text == text and posted.in_reply_to == root
    seen = [p for p in h.posts_by(h.brand) if p["id"] == posted.id]
    assert seen and seen[0]["in_reply_to"] == root and seen[0]["text"] == text


def test_duplicate_post_is_refused_as_duplicate(h: Any) -> None:
    net = h.adapter()
    root = h.customer_posts(_handle(), h.mention_text("dup"))
    post = h.refused_twice(f"same words {uuid.uuid4().hex[:6]}", root)
    net.post(post)
    with pytest.raises(DuplicateContent):
        net.post(post)


def test_private_reply_reaches_the_author_once(h: Any) -> None:
    net = h.adapter()
    if not net.private_replies:
        pytest.skip(f"{h.kind} has no Private Replies: a commenter is reached by a DM to their account")
    customer = _handle()
    root = h.customer_posts(customer, h.mention_text("what is my order status?"))
    post = OutboundPost(text=f"Let's take this to messages {uuid.uuid4().hex[:6]}", private_reply_to=root)
    assert net.find_own_post(post) is None
    sent = net.post(post)
    assert sent.dm and sent.in_reply_to == root
    [record] = [p for p in h.posts_by(h.brand) if p["id"] == sent.id]
    assert record["dm"] and record["in_reply_to"] == root and record["text"] == post.text
    found = net.find_own_post(post)
    assert found is not None and found.id == sent.id


def test_find_own_post_recovers_an_earlier_post(h: Any) -> None:
    net = h.adapter()
    root = h.customer_posts(_handle(), h.mention_text("recover"))
    post = OutboundPost(text=f"we replied {uuid.uuid4().hex[:6]}", in_reply_to=root)
    assert net.find_own_post(post) is None
    posted = net.post(post)
    found = net.find_own_post(post)
    assert found is not None and found.id == posted.id


def test_too_long_reply_is_refused_before_any_call(h: Any) -> None:
    # A refused token: any call the adapter made would fail as AuthFailed instead.
    net = h.adapter(token="not-a-valid-token-Zq9")
    with pytest.raises(SkippableError):
        net.post(OutboundPost(text="x" * (net.max_reply_len + 1), in_reply_to="1"))
    with pytest.raises(SkippableError):
        net.post(OutboundPost(text="x" * (net.max_dm_len + 1), dm_recipient_id="1"))


def test_direct_messages_in_and_out(h: Any) -> None:
    net = h.adapter()
    if not isinstance(net, ReadsDMs):
        pytest.skip(f"{h.kind} does not declare ReadsDMs: it has no direct messages")
    _, cursor = _read_all(net.fetch_dms, Cursor())
    customer = _handle()
    dm_id = h.customer_posts(customer, "my account number is 12345, please check", dm=True)
    items, new_cursor = _read_all(net.fetch_dms, cursor)
    dms = [m for m in items if m.id == dm_id]
    assert len(dms) == 1 and dms[0].kind == "dm" and dms[0].author.handle == h.shown_handle(customer)
    answer = net.post(OutboundPost(text="Thanks, checking now", dm_recipient_id=dms[0].author.id))
    assert answer.dm
    mine, _ = _read_all(net.fetch_dms, new_cursor)
    assert answer.id not in {m.id for m in mine}, "our own DMs must not come back in"
    found = net.find_own_post(OutboundPost(text="Thanks, checking now", dm_recipient_id=dms[0].author.id))
    assert found is not None and found.id == answer.id


def test_longest_dm_the_adapter_allows_is_sent(h: Any) -> None:
    net = h.adapter()
    if not isinstance(net, ReadsDMs):
        pytest.skip(f"{h.kind} does not declare ReadsDMs: it has no direct messages")
    customer = _handle()
    dm_id = h.customer_posts(customer, "a question about my order", dm=True)
    [dm] = [m for m in _read_all(net.fetch_dms, Cursor())[0] if m.id == dm_id]
    # Accented letters: one character each, two bytes in UTF-8; as many as the adapter allows.
    text = "é" * net.max_dm_len
    while net.weighted_length(text) > net.max_dm_len:
        text = text[:-1]
    assert len(text) >= net.max_dm_len // 2
    sent = net.post(OutboundPost(text=text, dm_recipient_id=dm.author.id))
    assert sent.dm
    assert [p["text"] for p in h.posts_by(h.brand) if p["id"] == sent.id] == [text]


def test_weighted_length_counts_as_the_network(h: Any) -> None:
    net = h.adapter()
    assert h.length_cases
    for text, length in h.length_cases.items():
        assert net.weighted_length(text) == length, text


def test_rate_limit_becomes_rate_limited(h: Any) -> None:
    net = h.adapter()
    net.whoami()
    h.throttle()
    try:
        with pytest.raises(RateLimited) as caught:
            for _ in range(3):
                net.fetch_mentions(Cursor())
        assert caught.value.retry_after > 0
    finally:
        h.unthrottle()


def test_bad_token_is_auth_failed_and_token_is_never_shown(h: Any) -> None:
    net = h.adapter(token="not-a-valid-token-Zq9")
    with pytest.raises(AuthFailed) as caught:
        net.whoami()
    assert "Zq9" not in str(caught.value) and "Zq9" not in repr(net)
    assert "Zq9" not in repr(net.settings)


def test_server_error_is_retriable(h: Any) -> None:
    net = h.adapter()
    net.whoami()
    h.fail_next_read(503)
    with pytest.raises(RetriableError):
        net.fetch_mentions(Cursor())
    net.fetch_mentions(Cursor())
