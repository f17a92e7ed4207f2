"""Channel Framework mode's state: tenants, threads, resources handed to Zendesk, channelbacks.

A tenant is one integration instance an admin added in one Zendesk account (one helpdesk
entry of the mapping): its push token, sealed with the state key, its pull cursor and its
push budget are its own. Every resource and thread is keyed by the helpdesk entry whose
routes read it, so a tenant reaches only its own account's.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.store.schema import (
    _insert_ignore, channel_backs, channel_resources, channel_tenants, channel_threads, inbox,
)

TENANT_STATES = ("pending", "active", "replaced", "destroyed")


@dataclass(frozen=True)
class TenantRow:
    id: str
    helpdesk: str
    subdomain: str
    name: str
    instance_push_id: str
    sealed_token: str | None
    state: str
    pull_state: str | None
    pulls: int
    pushes: int
    pushed: int
    channelbacks: int
    push_blocked_until: float
    last_error: str | None

    def __repr__(self) -> str:  # the sealed token stays out of every repr
        return f"TenantRow({self.id!r}, helpdesk={self.helpdesk!r}, state={self.state!r})"


@dataclass(frozen=True)
class ThreadRow:
    ref: str
    helpdesk: str
    route: str
    thread_id: str
    conversation: str
    ticket_id: str | None


@dataclass(frozen=True)
class ResourceRow:
    seq: int
    helpdesk: str
    route: str
    external_id: str
    thread_ref: str
    kind: str
    resource: dict[str, Any]
    after_creation: dict[str, Any] | None
    post_id: str | None
    post_url: str | None
    author_id: str | None
    author_handle: str | None
    dm: bool
    pushed_at: float | None
    pulled_at: float | None
    push_status: str | None
    ticket_id: str | None
    applied_at: float | None
    created_at: float = 0.0


@dataclass(frozen=True)
class ChannelbackRow:
    id: int
    tenant: str
    request_key: str
    thread_ref: str | None
    external_id: str | None
    posted: list[dict[str, Any]]
    state: str
    error: str | None


def _tenant(row: Any) -> TenantRow:
    return TenantRow(row.id, row.helpdesk, row.subdomain, row.name, row.instance_push_id, row.push_token, row.state,
                     row.pull_state, row.pulls, row.pushes, row.pushed, row.channelbacks, row.push_blocked_until,
                     row.last_error)


def _resource(row: Any) -> ResourceRow:
    return ResourceRow(row.seq, row.helpdesk, row.route, row.external_id, row.thread_ref, row.kind,
                       json.loads(row.resource), json.loads(row.after_creation) if row.after_creation else None,
                       row.post_id, row.post_url, row.author_id, row.author_handle, bool(row.dm), row.pushed_at,
                       row.pulled_at, row.push_status, row.ticket_id, row.applied_at, row.created_at)


class Tenants:
    """Part of ``Store``; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]

    # ------------------------------------------------------------------ tenants

    def create_tenant(self, helpdesk: str, subdomain: str, name: str, instance_push_id: str,
                      sealed_token: str | None, locale: str | None = None) -> str:
        """A new integration instance, pending until Zendesk makes it (or first uses it)."""
        tenant_id = uuid.uuid4().hex
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(channel_tenants.insert().values(
                id=tenant_id, helpdesk=helpdesk, subdomain=subdomain, name=name[:255],
                instance_push_id=instance_push_id, push_token=sealed_token, locale=locale, state="pending",
                pulls=0, pushes=0, pushed=0, channelbacks=0, push_blocked_until=0.0, created_at=now,
                updated_at=now))
        return tenant_id

    def tenant(self, tenant_id: str) -> TenantRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(channel_tenants).where(channel_tenants.c.id == tenant_id)).first()
        return _tenant(row) if row is not None else None

    def tenants(self, helpdesk: str | None = None, states: Sequence[str] = ("pending", "active")) -> list[TenantRow]:
        query = sa.select(channel_tenants).where(channel_tenants.c.state.in_(list(states)))
        if helpdesk is not None:
            query = query.where(channel_tenants.c.helpdesk == helpdesk)
        with self.engine.connect() as conn:
            return [_tenant(r) for r in conn.execute(query.order_by(channel_tenants.c.created_at))]

    def update_tenant(self, tenant_id: str, **values: Any) -> None:
        allowed = {"name", "push_token", "pull_state", "push_blocked_until", "last_error", "instance_push_id"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not a tenant setting: {', '.join(sorted(unknown))}")
        with self.engine.begin() as conn:
            conn.execute(channel_tenants.update().where(channel_tenants.c.id == tenant_id)
                         .values(updated_at=self.clock(), **values))

    def activate_tenant(self, tenant_id: str) -> bool:
        """Zendesk made (or used) this instance: it becomes its account's one active
        instance, and any earlier one of the same account stops answering. False when the
        tenant is gone (destroyed or replaced)."""
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(channel_tenants.c.helpdesk, channel_tenants.c.state)
                               .where(channel_tenants.c.id == tenant_id)).first()
            if row is None or row.state not in ("pending", "active"):
                return False
            if row.state == "pending":
                conn.execute(channel_tenants.update().where(
                    channel_tenants.c.helpdesk == row.helpdesk, channel_tenants.c.id != tenant_id,
                    channel_tenants.c.state.in_(("pending", "active"))).values(state="replaced", updated_at=now))
                conn.execute(channel_tenants.update().where(channel_tenants.c.id == tenant_id)
                             .values(state="active", updated_at=now))
        return True

    def destroy_tenant(self, tenant_id: str) -> None:
        """The admin deleted the instance: its token is dropped, its metadata no longer opens."""
        with self.engine.begin() as conn:
            conn.execute(channel_tenants.update().where(channel_tenants.c.id == tenant_id).values(
                state="destroyed", push_token=None, updated_at=self.clock()))

    def count_tenant(self, tenant_id: str, **counts: int) -> None:
        """Add to a tenant's counters (pulls, pushes, pushed, channelbacks)."""
        with self.engine.begin() as conn:
            conn.execute(channel_tenants.update().where(channel_tenants.c.id == tenant_id).values(
                **{k: getattr(channel_tenants.c, k) + v for k, v in counts.items()}))

    # ------------------------------------------------------------------ threads

    def put_thread(self, ref: str, helpdesk: str, route: str, thread_id: str, conversation: str) -> None:
        with self.engine.begin() as conn:
            _insert_ignore(conn, channel_threads, ("ref",), ref=ref, helpdesk=helpdesk, route=route,
                           thread_id=thread_id, conversation=conversation, created_at=self.clock())

    def channel_threads(self, refs: Sequence[str], helpdesk: str) -> dict[str, ThreadRow]:
        """The threads of ``helpdesk`` among ``refs``, by reference."""
        out: dict[str, ThreadRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(refs), 500):
                for row in conn.execute(sa.select(channel_threads).where(
                        channel_threads.c.helpdesk == helpdesk, channel_threads.c.ref.in_(list(refs[start:start + 500])))):
                    out[row.ref] = ThreadRow(row.ref, row.helpdesk, row.route, row.thread_id, row.conversation,
                                             row.ticket_id)
        return out

    def channel_thread(self, ref: str, helpdesk: str | None = None) -> ThreadRow | None:
        """A thread by reference (only within ``helpdesk`` when given)."""
        query = sa.select(channel_threads).where(channel_threads.c.ref == ref)
        if helpdesk is not None:
            query = query.where(channel_threads.c.helpdesk == helpdesk)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return ThreadRow(row.ref, row.helpdesk, row.route, row.thread_id, row.conversation, row.ticket_id) \
            if row is not None else None

    def thread_by_id(self, helpdesk: str, thread_id: str) -> ThreadRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(channel_threads.c.ref).where(
                channel_threads.c.helpdesk == helpdesk, channel_threads.c.thread_id == thread_id)).first()
        return self.channel_thread(row.ref) if row is not None else None

    def thread_ticket(self, ref: str, ticket_id: str) -> None:
        """The ticket Zendesk made of a thread (a follow-up replaces the closed one)."""
        with self.engine.begin() as conn:
            conn.execute(channel_threads.update().where(channel_threads.c.ref == ref).values(ticket_id=ticket_id))

    # ------------------------------------------------------------------ resources

    def put_resource(self, *, helpdesk: str, route: str, external_id: str, thread_ref: str, kind: str,
                     resource: Mapping[str, Any], after_creation: Mapping[str, Any] | None = None,
                     post_id: str | None = None, post_url: str | None = None, author_id: str | None = None,
                     author_handle: str | None = None, dm: bool = False) -> bool:
        """Keep a resource for Zendesk (once per external id); True when it is new."""
        with self.engine.begin() as conn:
            return self._put_resource(conn, self.clock(), helpdesk=helpdesk, route=route, external_id=external_id,
                                      thread_ref=thread_ref, kind=kind, resource=resource,
                                      after_creation=after_creation, post_id=post_id, post_url=post_url,
                                      author_id=author_id, author_handle=author_handle, dm=dm)

    @staticmethod
    def _put_resource(conn: Any, now: float, *, resource: Mapping[str, Any],
                      after_creation: Mapping[str, Any] | None = None, **values: Any) -> bool:
        return _insert_ignore(conn, channel_resources, ("helpdesk", "external_id"), resource=json.dumps(resource),
                              after_creation=json.dumps(after_creation) if after_creation else None,
                              push_attempts=0, created_at=now, **values)

    def put_handed(self, items: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> list[bool]:
        """Keep many (thread, resource) pairs for Zendesk in one transaction: each thread
        (``put_thread``'s values) once, each resource (``put_resource``'s) once per external
        id. True for each resource that is new."""
        now = self.clock()
        out: list[bool] = []
        with self.engine.begin() as conn:
            for thread, resource in items:
                _insert_ignore(conn, channel_threads, ("ref",), created_at=now, **thread)
                out.append(self._put_resource(conn, now, **resource))
        return out

    def channel_resource(self, helpdesk: str | None, external_id: str) -> ResourceRow | None:
        query = sa.select(channel_resources).where(channel_resources.c.external_id == external_id)
        if helpdesk is not None:
            query = query.where(channel_resources.c.helpdesk == helpdesk)
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(channel_resources.c.seq).limit(1)).first()
        return _resource(row) if row is not None else None

    def thread_resources(self, ref: str) -> list[ResourceRow]:
        with self.engine.connect() as conn:
            return [_resource(r) for r in conn.execute(sa.select(channel_resources).where(
                channel_resources.c.thread_ref == ref).order_by(channel_resources.c.seq))]

    def unpushed(self, helpdesk: str, limit: int, max_attempts: int = 5) -> list[ResourceRow]:
        """Resources neither imported by a push nor handed to a pull, oldest first (a
        thread's first one first). A pulled one Zendesk failed to take comes back in its
        next pull, which starts from the state Zendesk kept."""
        with self.engine.connect() as conn:
            return [_resource(r) for r in conn.execute(sa.select(channel_resources).where(
                channel_resources.c.helpdesk == helpdesk, channel_resources.c.pushed_at.is_(None),
                channel_resources.c.pulled_at.is_(None),
                channel_resources.c.push_attempts < max_attempts).order_by(channel_resources.c.seq).limit(limit))]

    def record_push(self, tenant_id: str, outcomes: Sequence[tuple[int, str, bool]], *, counted: bool = False) -> None:
        """Each pushed resource's status (seq, status, imported); imported ones are done.
        ``counted``: the push is added to the tenant's counters in the same transaction."""
        now = self.clock()
        if not outcomes:
            return
        statement = channel_resources.update().where(channel_resources.c.seq == sa.bindparam("b_seq")).values(
            push_status=sa.bindparam("b_status"), push_attempts=channel_resources.c.push_attempts + 1,
            push_tenant=tenant_id, pushed_at=sa.bindparam("b_at"))
        with self.engine.begin() as conn:
            conn.execute(statement, [{"b_seq": seq, "b_status": status[:60], "b_at": now if imported else None}
                                     for seq, status, imported in outcomes])
            if counted:
                conn.execute(channel_tenants.update().where(channel_tenants.c.id == tenant_id).values(
                    pushes=channel_tenants.c.pushes + 1,
                    pushed=channel_tenants.c.pushed + sum(1 for *_, ok in outcomes if ok)))

    def pullable(self, helpdesk: str, after: int, limit: int, settled_before: float) -> tuple[list[ResourceRow], int]:
        """Resources after cursor ``after`` a push has not imported, oldest first, up to
        ``limit``, and the cursor past what was looked at. Rows newer than
        ``settled_before`` wait for the next pull: a transaction still open on PostgreSQL
        may commit a lower sequence number later."""
        with self.engine.connect() as conn:
            rows = [_resource(r) for r in conn.execute(sa.select(channel_resources).where(
                channel_resources.c.helpdesk == helpdesk, channel_resources.c.seq > after,
                channel_resources.c.created_at <= settled_before).order_by(channel_resources.c.seq).limit(limit * 4))]
        out: list[ResourceRow] = []
        cursor = after
        for row in rows:
            if len(out) == limit:
                break
            cursor = row.seq
            if row.pushed_at is None:
                out.append(row)
        return out, cursor

    def mark_pulled(self, seqs: Sequence[int]) -> None:
        if seqs:
            with self.engine.begin() as conn:
                conn.execute(channel_resources.update().where(channel_resources.c.seq.in_(list(seqs)))
                             .values(pulled_at=self.clock()))

    def resources_by_id(self, helpdesk: str, external_ids: Sequence[str]) -> dict[str, ResourceRow]:
        """``helpdesk``'s resources among ``external_ids``, by external id."""
        out: dict[str, ResourceRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(external_ids), 500):
                for row in conn.execute(sa.select(channel_resources).where(
                        channel_resources.c.helpdesk == helpdesk,
                        channel_resources.c.external_id.in_(list(external_ids[start:start + 500])))):
                    out[row.external_id] = _resource(row)
        return out

    def tickets_made(self, threads: Sequence[tuple[str, str]], resources: Sequence[tuple[int, str]]) -> None:
        """What Zendesk made, in one transaction: each thread's ticket (ref, ticket id; a
        follow-up replaces the closed one) and each resource's (seq, ticket id; the first
        one said stays)."""
        with self.engine.begin() as conn:
            if threads:
                conn.execute(channel_threads.update().where(channel_threads.c.ref == sa.bindparam("b_ref"))
                             .values(ticket_id=sa.bindparam("b_ticket")),
                             [{"b_ref": ref, "b_ticket": ticket} for ref, ticket in threads])
            if resources:
                conn.execute(channel_resources.update().where(
                    channel_resources.c.seq == sa.bindparam("b_seq"), channel_resources.c.ticket_id.is_(None))
                    .values(ticket_id=sa.bindparam("b_ticket")),
                    [{"b_seq": seq, "b_ticket": ticket} for seq, ticket in resources])

    def resource_ticket(self, seq: int, ticket_id: str) -> bool:
        """The ticket Zendesk made of (or put) a resource in; the first one said stays. True when recorded."""
        with self.engine.begin() as conn:
            done = conn.execute(channel_resources.update().where(
                channel_resources.c.seq == seq, channel_resources.c.ticket_id.is_(None)).values(ticket_id=ticket_id))
            return done.rowcount == 1

    def due_after_creation(self, helpdesk: str, limit: int = 50) -> list[ResourceRow]:
        """Resources that made a ticket whose settings are still to be set through REST."""
        with self.engine.connect() as conn:
            return [_resource(r) for r in conn.execute(sa.select(channel_resources).where(
                channel_resources.c.helpdesk == helpdesk, channel_resources.c.after_creation.is_not(None),
                channel_resources.c.ticket_id.is_not(None), channel_resources.c.applied_at.is_(None),
                channel_resources.c.apply_error.is_(None)).order_by(channel_resources.c.seq).limit(limit))]

    def applied(self, seq: int, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(channel_resources.update().where(channel_resources.c.seq == seq).values(
                applied_at=None if error else self.clock(), apply_error=error[:2000] if error else None))

    # ------------------------------------------------------------------ the inbox rows being written

    def inflight_post(self, routes: Sequence[str], source_key: str) -> tuple[str, dict[str, Any]] | None:
        """(route, payload) of the pending inbox row of post ``source_key`` a writer holds
        now (of several routes, the one leased last)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(inbox.c.route, inbox.c.payload).where(
                inbox.c.route.in_(list(routes)), inbox.c.source_key == source_key, inbox.c.state == "pending")
                .order_by(inbox.c.lease_until.desc()).limit(1)).first()
        return (row.route, json.loads(row.payload)) if row is not None else None

    def inflight_posts(self, routes: Sequence[str], source_keys: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``inflight_post`` for many posts at once: (route, payload) by source key."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(source_keys), 500):
                for row in conn.execute(sa.select(inbox.c.route, inbox.c.payload, inbox.c.source_key).where(
                        inbox.c.route.in_(list(routes)), inbox.c.source_key.in_(list(source_keys[start:start + 500])),
                        inbox.c.state == "pending").order_by(inbox.c.lease_until)):
                    out[row.source_key] = (row.route, json.loads(row.payload))   # the one leased last wins
        return out

    def conversation_heads(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """``conversation_head`` for many (route, conversation) pairs at once."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(pairs), 500):
                wanted = list(pairs[start:start + 500])
                rows = conn.execute(sa.select(inbox.c.route, inbox.c.conversation, inbox.c.payload).where(
                    inbox.c.route.in_(sorted({r for r, _ in wanted})),
                    inbox.c.conversation.in_(sorted({c for _, c in wanted})), inbox.c.state == "pending")
                    .order_by(inbox.c.sort_key.desc(), inbox.c.id.desc()))
                keep = set(wanted)
                for row in rows:
                    if (row.route, row.conversation) in keep:
                        out[(row.route, row.conversation)] = json.loads(row.payload)   # the earliest is last
        return out

    def conversation_head(self, route: str, conversation: str) -> dict[str, Any] | None:
        """The payload of a conversation's earliest pending post: the one being written
        (a conversation's later posts wait while an earlier one is pending)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(inbox.c.payload).where(
                inbox.c.route == route, inbox.c.conversation == conversation, inbox.c.state == "pending")
                .order_by(inbox.c.sort_key, inbox.c.id).limit(1)).first()
        return json.loads(row.payload) if row is not None else None

    # ------------------------------------------------------------------ channelbacks

    def begin_channelback(self, tenant_id: str, request_key: str, thread_ref: str) -> ChannelbackRow:
        """The channelback of one Zendesk request: made now, or as an earlier attempt left it."""
        with self.engine.begin() as conn:
            _insert_ignore(conn, channel_backs, ("tenant", "request_key"), tenant=tenant_id, request_key=request_key,
                           thread_ref=thread_ref, posted="[]", state="posting", created_at=self.clock())
            row = conn.execute(sa.select(channel_backs).where(
                channel_backs.c.tenant == tenant_id, channel_backs.c.request_key == request_key)).first()
        return ChannelbackRow(row.id, row.tenant, row.request_key, row.thread_ref, row.external_id,
                              json.loads(row.posted), row.state, row.error)

    def channelback_part(self, row_id: int, part: Mapping[str, Any]) -> None:
        """One post of a channelback made: recorded at once, so a retry never makes it twice."""
        with self.engine.begin() as conn:
            posted = json.loads(conn.execute(sa.select(channel_backs.c.posted)
                                             .where(channel_backs.c.id == row_id)).scalar() or "[]")
            posted.append(dict(part))
            conn.execute(channel_backs.update().where(channel_backs.c.id == row_id).values(posted=json.dumps(posted)))

    def finish_channelback(self, row_id: int, external_id: str | None, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(channel_backs.update().where(channel_backs.c.id == row_id).values(
                state="failed" if error else "posted", external_id=external_id, error=error[:2000] if error else None,
                done_at=self.clock()))

    def channelback_by_external_id(self, external_id: str) -> ChannelbackRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(channel_backs).where(channel_backs.c.external_id == external_id)).first()
        if row is None:
            return None
        return ChannelbackRow(row.id, row.tenant, row.request_key, row.thread_ref, row.external_id,
                              json.loads(row.posted), row.state, row.error)
