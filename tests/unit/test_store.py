"""The state store on SQLite, and on PostgreSQL when a server is reachable."""
from __future__ import annotations

import dataclasses
from typing import Iterator

import pytest
import sqlalchemy as sa

import throwaway_pg
from sync.store import SCHEMA_VERSION, Finished, InboxItem, Store, inbox


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
        s.migrate()
        yield s
        s.close()
        return
    for url in throwaway_pg.database():
        s = Store(url)
        s.migrate()
        try:
            yield s
        finally:
            s.close()


def _items(*keys: str) -> list[InboxItem]:
    return [InboxItem(k, "mentions", {"id": k}, f"2026-01-01|{k:0>20}") for k in keys]


def test_migrate_is_versioned_and_repeatable(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION


def test_cursor_moves_only_with_the_page_that_finishes_the_read(store: Store) -> None:
    assert store.record_page("r", "mentions", _items("1", "2"), "9", move_cursor=False) == 2
    assert store.get_cursor("r", "mentions") is None
    assert store.record_page("r", "mentions", _items("3"), "9", move_cursor=True) == 1
    assert store.get_cursor("r", "mentions") == "9"


def test_a_page_goes_in_whole_counting_only_new_posts_and_the_first_of_a_repeated_one(store: Store) -> None:
    store.record_page("r", "mentions", _items("1"), None)
    first = InboxItem("2", "mentions", {"id": "2", "copy": "first"}, "2026-01-01|2")
    again = InboxItem("2", "mentions", {"id": "2", "copy": "again"}, "2026-01-01|2")
    many = _items(*(str(n) for n in range(3, 503)))  # more than one multi-row insert
    assert store.record_page("r", "mentions", [*_items("1"), first, again, *many], "x", move_cursor=True) == 501
    rows = store.claim_inbox("r", 1000)
    assert len(rows) == 502 and [r.payload.get("copy") for r in rows if r.source_key == "2"] == ["first"]
    assert store.get_cursor("r", "mentions") == "x"


def test_inbox_ignores_duplicates_across_reads(store: Store) -> None:
    store.record_page("r", "mentions", _items("1", "2"), "2", move_cursor=True)
    assert store.record_page("r", "mentions", _items("2", "3"), "3", move_cursor=True) == 1
    keys = [row.source_key for row in store.claim_inbox("r")]
    assert keys == ["1", "2", "3"]


def test_rows_are_per_route(store: Store) -> None:
    store.record_page("a", "mentions", _items("1"), "1", move_cursor=True)
    store.record_page("b", "mentions", _items("1"), "1", move_cursor=True)
    assert len(store.claim_inbox("a")) == 1 and len(store.claim_inbox("b")) == 1


def test_claim_leases_rows_and_an_expired_lease_hands_them_back(store: Store) -> None:
    now = [1000.0]
    store.clock = lambda: now[0]
    store.record_page("r", "mentions", _items("1"), "1", move_cursor=True)
    first = store.claim_inbox("r", lease=60)
    assert len(first) == 1 and store.claim_inbox("r") == []
    now[0] += 61
    again = store.claim_inbox("r")
    assert [r.id for r in again] == [first[0].id]


def test_attempts_are_counted_before_effects_by_the_owner_only(store: Store) -> None:
    now = [1000.0]
    store.clock = lambda: now[0]
    store.record_page("r", "mentions", _items("1"), "1", move_cursor=True)
    row = store.claim_inbox("r", lease=10)[0]
    assert row.attempts == 0
    assert store.begin_attempt(row.id, row.owner) == 1
    now[0] += 500  # the lease ran out; another worker claims the row
    other = store.claim_inbox("r")[0]
    assert other.attempts == 1 and other.owner != row.owner
    assert store.begin_attempt(row.id, row.owner) is None, "the first worker lost the row"
    assert store.begin_attempt(other.id, other.owner) == 2


def test_concurrent_claims_never_share_a_row(store: Store) -> None:
    import threading

    for i in range(20):
        store.enqueue_reply("r", f"c{i}", "42", "hello")
    won: list[list[int]] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        won.append([row.id for row in store.claim_outbox("r", limit=20)])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [row_id for rows in won for row_id in rows]
    assert len(claimed) == len(set(claimed)) == 20


def test_finish_writes_the_link_in_the_same_step(store: Store) -> None:
    store.record_page("r", "mentions", _items("1"), "1", move_cursor=True)
    row = store.claim_inbox("r")[0]
    store.finish_inbox(row.id, "done", ticket_id="42", link={
        "route": "r", "conversation_key": "x:conv:1", "ticket_id": "42", "source_key": "1",
        "author_id": "7", "author_handle": "ada", "dm": False, "last_post_id": "1"})
    link = store.latest_link("r", "x:conv:1")
    assert link is not None and link.ticket_id == "42"
    assert store.link_by_ticket("r", "42") == link
    store.finish_inbox(row.id, "done", ticket_id="42", link_post=(link.id, "5"))
    assert store.latest_link("r", "x:conv:1").last_post_id == "5"
    assert store.claim_inbox("r") == []


def _link(key: str, ticket: str, post: str) -> dict[str, object]:
    return {"route": "r", "conversation_key": key, "ticket_id": ticket, "source_key": post,
            "author_id": "7", "author_handle": "ada", "dm": False, "last_post_id": post}


def test_a_batch_of_rows_finishes_with_its_links_in_one_step(store: Store) -> None:
    store.record_page("r", "mentions", _items("1", "2", "3", "4"), "4", move_cursor=True)
    rows = store.claim_inbox("r")
    assert len(rows) == 4
    store.finish_inbox_many([Finished(rows[0].id, "done", "41", link=_link("x:conv:a", "41", "1")),
                             Finished(rows[1].id, "done", "42", link=_link("x:conv:b", "42", "2")),
                             Finished(rows[2].id, "filtered", note="retweet")])
    a, b = store.latest_link("r", "x:conv:a"), store.latest_link("r", "x:conv:b")
    assert a is not None and b is not None and (a.ticket_id, b.ticket_id) == ("41", "42")
    # a link already written (a retried batch) is kept, not doubled, and the rest still lands
    store.finish_inbox_many([Finished(rows[0].id, "done", "41", link=_link("x:conv:a", "41", "1")),
                             Finished(rows[3].id, "done", "41", link_post=(a.id, "4"))])
    assert store.latest_links("r", ["x:conv:a", "x:conv:b", "x:conv:none"]) == {
        "x:conv:a": dataclasses.replace(a, last_post_id="4"), "x:conv:b": b}
    assert store.claim_inbox("r") == []
    with store.engine.connect() as conn:
        states = conn.execute(sa.select(inbox.c.state, inbox.c.ticket_id).order_by(inbox.c.id)).all()
    assert [tuple(r) for r in states] == [("done", "41"), ("done", "42"), ("filtered", None), ("done", "41")]


def test_requesters_are_read_and_written_many_at_a_time(store: Store) -> None:
    ids = {str(n): f"u{n}" for n in range(1200)}  # more than one IN (...) chunk
    store.put_requesters("zd", "x", ids)
    store.put_requesters("zd", "x", {"5": "other"})  # the first id stored stays
    assert store.get_requesters("zd", "x", list(ids) + ["none"]) == ids
    assert store.get_requesters("zd", "instagram", ["5"]) == {}
    assert store.get_requester("zd", "x", "5") == "u5"


def test_outbox_is_unique_per_comment_and_parts_are_remembered(store: Store) -> None:
    assert store.enqueue_reply("r", "c1", "42", "hello") is True
    assert store.enqueue_reply("r", "c1", "42", "hello") is False
    row = store.claim_outbox("r")[0]
    store.record_posted_part(row.id, {"index": 0, "id": "p0", "url": None})
    store.record_posted_part(row.id, {"index": 0, "id": "p0", "url": None})
    store.release("outbox", [row.id])
    assert store.claim_outbox("r")[0].posted == [{"index": 0, "id": "p0", "url": None}]


def test_quarantine_is_listed_and_retryable(store: Store) -> None:
    store.quarantine_item("r", "mentions", "x:post:bad", "malformed post: no text", {"id": "bad"})
    store.enqueue_reply("r", "c9", "42", "hi")
    out = store.claim_outbox("r")[0]
    store.quarantine("outbox", out.id, "DuplicateContent: refused")
    failed = store.failed()
    assert [(f["flow"], f["key"]) for f in failed] == [("ingest", "x:post:bad"), ("mirror", "comment:c9")]
    assert "malformed" in failed[0]["reason"]
    assert store.retry_failed(failed[1]["id"]) is True
    assert store.retry_failed(failed[1]["id"]) is False
    assert [r.comment_id for r in store.claim_outbox("r")] == ["c9"]
    with pytest.raises(ValueError, match="expected an id like"):
        store.retry_failed("nonsense")


def test_health_transitions_are_reported_once(store: Store) -> None:
    assert store.set_health("r", "parked", "token expired") is True
    assert store.set_health("r", "parked", "token expired") is False
    assert store.health()["r"]["state"] == "parked"
    assert store.set_health("r", "active") is True


def test_repr_hides_the_database_password(tmp_path) -> None:
    s = Store("postgresql+psycopg://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in repr(s)


def test_an_owned_store_frees_leases_at_start_a_shared_one_does_not(store: Store) -> None:
    store.record_page("r", "mentions", _items("1"), "1", move_cursor=True)
    assert len(store.claim_inbox("r", lease=600)) == 1
    freed = store.release_leases()
    if store.shared:
        assert freed == 0 and store.claim_inbox("r") == []
    else:
        assert freed == 1 and len(store.claim_inbox("r")) == 1


def test_the_brand_account_is_remembered_per_route_and_replaced(store: Store) -> None:
    assert store.get_account("r", "x") is None
    store.put_account("r", "x", {"id": "1", "handle": "acme"})
    store.put_account("r", "x", {"id": "2", "handle": "acme_care"})  # new credentials, new account
    assert store.get_account("r", "x") == {"id": "2", "handle": "acme_care"}
    assert store.get_account("r", "instagram") is None and store.get_account("other", "x") is None


def test_a_meta_message_id_fits_the_inbox_sort_key(store: Store) -> None:
    """Meta's message ids run past 100 characters; PostgreSQL holds VARCHAR lengths (the
    old 64-character sort key refused every Messenger DM there)."""
    mid = "m_" + "A1b2C3d4" * 16                                  # 130 characters, Meta's shape
    assert store.record_page("fb", "dms", [InboxItem(f"dm:{mid}", "dms", {"id": mid}, mid)]) == 1
    (row,) = store.claim_inbox("fb")
    assert row.source_key == f"dm:{mid}"


@pytest.mark.postgres
def test_replicas_migrating_a_new_database_at_once_all_succeed() -> None:
    """Replicas started together on one new PostgreSQL database: the migrations run one after
    another (without the lock two of three died on a duplicate type or table)."""
    import threading

    databases = throwaway_pg.database()
    url = next(databases)
    replicas = [Store(url) for _ in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(replicas))

    def migrate(s: Store) -> None:
        start.wait()
        try:
            s.migrate()
        except BaseException as err:   # noqa: BLE001 - a failure is what this test looks for
            errors.append(err)

    try:
        threads = [threading.Thread(target=migrate, args=(s,)) for s in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and all(s.schema_version() == SCHEMA_VERSION for s in replicas), errors
    finally:
        for s in replicas:
            s.close()
        databases.close()                # drops the database


def test_replicas_recording_a_routes_health_at_once_all_succeed(store: Store) -> None:
    """Replicas starting together each record every route's health (one died on the key)."""
    import threading

    others = [Store(store.url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(others))

    def record(s: Store, n: int) -> None:
        start.wait()
        try:
            for i in range(20):
                s.set_health(f"t{i:03d}", "active" if n % 2 else "waiting", None)
        except BaseException as err:   # noqa: BLE001 - a failure is what this test looks for
            errors.append(err)

    threads = [threading.Thread(target=record, args=(s, n)) for n, s in enumerate(others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in others:
        s.close()
    assert errors == [] and len(store.health()) == 20
