"""Channel Framework mode's state: tenants (one active instance per account), the pull
cursor past what pushes imported, push outcomes, channelbacks recorded once per request."""
from __future__ import annotations

from typing import Any

from sync.store import Store


def put(store: Store, n: int, helpdesk: str = "acme", route: str = "x-support") -> None:
    store.put_thread("t1", helpdesk, route, f"{route}:x:conv:1:2", "x:conv:1:2")
    store.put_resource(helpdesk=helpdesk, route=route, external_id=f"{route}:x:post:{n}", thread_ref="t1",
                       kind="ticket", resource={"external_id": f"{route}:x:post:{n}"}, post_id=str(n))


def ids(rows: list[Any]) -> list[str]:
    return [r.external_id for r in rows]


def test_a_new_instance_replaces_its_accounts_earlier_one_once_active(store: Store) -> None:
    first = store.create_tenant("acme", "acme", "first", "push-1", None)
    assert store.activate_tenant(first)
    second = store.create_tenant("acme", "acme", "second", "push-2", None)
    other = store.create_tenant("globex", "globex", "theirs", "push-3", None)
    assert store.tenant(first).state == "active"            # a pending one replaces nothing
    assert store.activate_tenant(other) and store.activate_tenant(second)
    assert (store.tenant(first).state, store.tenant(second).state, store.tenant(other).state) == (
        "replaced", "active", "active")
    assert not store.activate_tenant(first)                  # replaced stays replaced
    store.destroy_tenant(second)
    assert store.tenant(second).state == "destroyed" and store.tenant(second).sealed_token is None
    assert [t.id for t in store.tenants("acme")] == []
    assert "push" not in repr(store.tenant(other))


def test_pulls_move_past_what_a_push_imported(store: Store) -> None:
    for n in range(1, 6):
        put(store, n)
    put(store, 9, helpdesk="globex", route="x-globex")
    store.record_push("tenant", [(2, "success", True), (3, "processing_error", False)])
    rows, cursor = store.pullable("acme", 0, limit=2, settled_before=store.clock())
    assert ids(rows) == ["x-support:x:post:1", "x-support:x:post:3"] and cursor == 3
    rows, cursor = store.pullable("acme", cursor, limit=10, settled_before=store.clock())
    assert ids(rows) == ["x-support:x:post:4", "x-support:x:post:5"] and cursor == 5
    assert store.pullable("acme", cursor, limit=10, settled_before=store.clock()) == ([], 5)
    # Another account's resource is never in this account's pulls.
    assert ids(store.pullable("globex", 0, 10, store.clock())[0]) == ["x-globex:x:post:9"]
    # Rows made after the settle moment wait for the next pull.
    assert store.pullable("acme", 3, 10, settled_before=0.0) == ([], 3)


def test_push_outcomes_and_tickets_are_kept_per_resource(store: Store) -> None:
    for n in range(1, 4):
        put(store, n)
    assert not store.put_resource(helpdesk="acme", route="x-support", external_id="x-support:x:post:1",
                                  thread_ref="t1", kind="ticket", resource={})   # once per external id
    store.record_push("tenant", [(1, "success", True), (2, "halted", False)])
    assert ids(store.unpushed("acme", 10)) == ["x-support:x:post:2", "x-support:x:post:3"]
    for _ in range(4):
        store.record_push("tenant", [(2, "processing_error", False)])
    assert ids(store.unpushed("acme", 10, max_attempts=5)) == ["x-support:x:post:3"]   # left to the pulls
    assert store.resource_ticket(1, "41") and not store.resource_ticket(1, "42")        # the first one said stays
    assert store.channel_resource("acme", "x-support:x:post:1").ticket_id == "41"


def test_a_channelback_is_recorded_once_per_request(store: Store) -> None:
    first = store.begin_channelback("tenant-a", "req-1", "t1")
    store.channelback_part(first.id, {"index": 0, "id": "900", "url": "https://x.com/b/900"})
    again = store.begin_channelback("tenant-a", "req-1", "t1")
    assert again.id == first.id and again.posted == [{"index": 0, "id": "900", "url": "https://x.com/b/900"}]
    store.finish_channelback(first.id, "x-support:x:post:900")
    assert store.begin_channelback("tenant-a", "req-1", "t1").state == "posted"
    assert store.channelback_by_external_id("x-support:x:post:900").tenant == "tenant-a"
    assert store.begin_channelback("tenant-b", "req-1", "t1").id != first.id   # another tenant's request


def test_many_resources_are_kept_in_one_step_each_once(store: Store) -> None:
    def pair(n: int, thread: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"ref": thread, "helpdesk": "acme", "route": "x-support", "thread_id": f"x-support:{thread}",
                 "conversation": thread},
                {"helpdesk": "acme", "route": "x-support", "external_id": f"x-support:x:post:{n}", "thread_ref": thread,
                 "kind": "ticket", "resource": {"external_id": f"x-support:x:post:{n}"}, "post_id": str(n)})

    assert store.put_handed([pair(1, "t1"), pair(2, "t2"), pair(3, "t1")]) == [True, True, True]
    assert store.put_handed([pair(2, "t2"), pair(4, "t3")]) == [False, True]    # once per external id
    assert sorted(store.channel_threads(["t1", "t2", "t3", "t9"], "acme")) == ["t1", "t2", "t3"]
    assert store.channel_threads(["t1"], "globex") == {}                          # another account's
    assert ids(store.unpushed("acme", 10)) == [f"x-support:x:post:{n}" for n in (1, 2, 3, 4)]
    assert all(r.created_at > 0 and r.push_status is None for r in store.unpushed("acme", 10))


def test_a_push_is_recorded_with_its_counters_in_one_step(store: Store) -> None:
    tenant = store.create_tenant("acme", "acme", "one", "push-1", None)
    for n in range(1, 4):
        put(store, n)
    store.record_push(tenant, [(1, "success", True), (2, "already_imported", True), (3, "halted", False)],
                      counted=True)
    row = store.tenant(tenant)
    assert (row.pushes, row.pushed) == (1, 2)
    assert ids(store.unpushed("acme", 10)) == ["x-support:x:post:3"]
    assert store.unpushed("acme", 10)[0].push_status == "halted"


def test_tickets_zendesk_made_are_kept_in_one_step_the_first_one_said_stays(store: Store) -> None:
    for n in (1, 2):
        put(store, n)
    rows = store.resources_by_id("acme", ["x-support:x:post:1", "x-support:x:post:2", "x-support:x:post:9"])
    assert sorted(rows) == ["x-support:x:post:1", "x-support:x:post:2"]
    assert store.resources_by_id("globex", ["x-support:x:post:1"]) == {}
    first, second = rows["x-support:x:post:1"].seq, rows["x-support:x:post:2"].seq
    store.tickets_made([("t1", "41")], [(first, "41")])
    store.tickets_made([("t1", "42")], [(first, "42"), (second, "42")])     # a follow-up of the thread
    assert store.channel_thread("t1").ticket_id == "42"
    assert store.channel_resource("acme", "x-support:x:post:1").ticket_id == "41"
    assert store.channel_resource("acme", "x-support:x:post:2").ticket_id == "42"
    store.tickets_made([], [])
