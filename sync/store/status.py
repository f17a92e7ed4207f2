"""Failures, route health, API budgets and counts: what status and failed read."""
from __future__ import annotations

import json
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.store.schema import (
    _insert_ignore, cursors, helpdesk_budget, inbox, links, outbox, pushes, routes_health,
)


class Status:
    """Part of ``Store``; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]

    def failed(self, route: str | None = None) -> list[dict[str, Any]]:
        """Quarantined inbox rows and failed replies, for ``socialdesk failed list``."""
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            q = sa.select(inbox).where(inbox.c.state == "quarantined")
            if route:
                q = q.where(inbox.c.route == route)
            for r in conn.execute(q.order_by(inbox.c.id)):
                out.append({"id": f"in-{r.id}", "route": r.route, "flow": "ingest", "key": r.source_key,
                            "reason": r.last_error, "attempts": r.attempts})
            q = sa.select(outbox).where(outbox.c.state == "failed")
            if route:
                q = q.where(outbox.c.route == route)
            for r in conn.execute(q.order_by(outbox.c.id)):
                out.append({"id": f"out-{r.id}", "route": r.route, "flow": "mirror",
                            "key": f"comment:{r.comment_id}", "reason": r.last_error, "attempts": r.attempts})
        return out

    def retry_failed(self, ident: str) -> bool:
        """Put a quarantined / failed row back in the queue."""
        kind, _, number = ident.partition("-")
        if kind not in ("in", "out") or not number.isdigit():
            raise ValueError(f"{ident!r}: expected an id like in-12 or out-3 (see 'socialdesk failed list')")
        target, state = (inbox, "quarantined") if kind == "in" else (outbox, "failed")
        with self.engine.begin() as conn:
            done = conn.execute(target.update().where(target.c.id == int(number), target.c.state == state)
                                .values(state="pending", next_attempt_at=0.0, lease_until=0.0))
        return done.rowcount == 1

    def set_health(self, route: str, state: str, reason: str | None = None, *,
                   next_check: float | None = None) -> bool:
        """Record a route's health; True when its state or reason changed (log once per
        transition). ``since`` moves only when the state changes, so a waiting route's row
        says since when it waits while each re-check moves ``next_check``."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(routes_health).where(routes_health.c.route == route)).first()
            if row and row.state == state and row.reason == reason and row.next_check == next_check:
                return False
            # Replicas starting together each record the route: the first row in wins, the
            # others update it (one statement each, so none fails on the key).
            if row is None and _insert_ignore(conn, routes_health, ("route",), route=route, state=state,
                                              reason=reason, since=self.clock(), next_check=next_check):
                return True
            since = row.since if row is not None and row.state == state else self.clock()
            conn.execute(routes_health.update().where(routes_health.c.route == route)
                         .values(state=state, reason=reason, since=since, next_check=next_check))
        return not (row and row.state == state and row.reason == reason)

    def put_budget(self, helpdesk: str, report: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(helpdesk_budget.update().where(helpdesk_budget.c.helpdesk == helpdesk)
                                .values(report=json.dumps(report), updated_at=self.clock()))
            if done.rowcount == 0:
                _insert_ignore(conn, helpdesk_budget, ("helpdesk",), helpdesk=helpdesk,
                               report=json.dumps(report), updated_at=self.clock())

    def budgets(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.helpdesk: {**json.loads(r.report), "updated_at": r.updated_at}
                    for r in conn.execute(sa.select(helpdesk_budget))}

    def health(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.route: {"state": r.state, "reason": r.reason, "since": r.since, "next_check": r.next_check}
                    for r in conn.execute(sa.select(routes_health))}

    def counts(self) -> dict[str, Any]:
        """Per-route totals for ``socialdesk status`` and the demo summary."""
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for table, name in ((inbox, "inbox"), (outbox, "outbox"), (pushes, "pushes")):
                for r in conn.execute(sa.select(table.c.route, table.c.state, sa.func.count())
                                      .group_by(table.c.route, table.c.state)):
                    out.setdefault(r[0], {}).setdefault(name, {})[r[1]] = r[2]
            for r in conn.execute(sa.select(links.c.route, sa.func.count()).group_by(links.c.route)):
                out.setdefault(r[0], {})["tickets"] = r[1]
            for r in conn.execute(sa.select(cursors)):
                out.setdefault(r.route, {}).setdefault("cursors", {})[r.stream] = r.value
        return out

    # ------------------------------------------------------------------ what operators watch

    def reachable(self) -> bool:
        """Whether the state answers a trivial read now (readiness, the metrics' store gauge)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1))).scalar()
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def known_keys(self, route: str, keys: list[str]) -> set[str]:
        """Which of ``keys`` the route's inbox already holds (a re-read post is not news)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                found.update(conn.execute(sa.select(inbox.c.source_key).where(
                    inbox.c.route == route, inbox.c.source_key.in_(keys[i:i + 500]))).scalars())
        return found

    def queued_at(self, table: str, row_id: int) -> float | None:
        """When an inbox row was read or an outbox row queued."""
        target, column = (inbox, inbox.c.received_at) if table == "inbox" else (outbox, outbox.c.created_at)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(column).where(target.c.id == row_id)).scalar()

    def oldest_waiting(self, held: tuple[str, ...] = ()) -> dict[str, dict[str, float]]:
        """Per route and queue (inbox, outbox, pushes), when its oldest pending row came in;
        outbox rows whose last error starts with one of ``held`` (kept for a lead's approval,
        for the customer to write again) wait on people, not on socialdesk, and are left out."""
        out: dict[str, dict[str, float]] = {}
        waiting = sa.and_(*(sa.not_(sa.func.coalesce(outbox.c.last_error, "").startswith(h)) for h in held))
        queries = (("inbox", inbox.c.route, inbox.c.received_at, inbox.c.state == "pending"),
                   ("outbox", outbox.c.route, outbox.c.created_at, sa.and_(outbox.c.state == "pending", waiting)),
                   ("pushes", pushes.c.route, pushes.c.received_at, pushes.c.state == "pending"))
        with self.engine.connect() as conn:
            for name, route, at, pending in queries:
                for r in conn.execute(sa.select(route, sa.func.min(at)).where(pending).group_by(route)):
                    out.setdefault(r[0], {})[name] = float(r[1])
        return out

    def outbox_attention(self, held: tuple[str, ...], limit: int = 50) -> list[dict[str, Any]]:
        """Replies people should know about, newest first: failed ones, and pending ones kept
        for a reason in ``held``; ids, state and reason, never the reply's text."""
        kept = sa.or_(*(sa.func.coalesce(outbox.c.last_error, "").startswith(h) for h in held)) if held else sa.false()
        query = (sa.select(outbox.c.id, outbox.c.route, outbox.c.ticket_id, outbox.c.comment_id, outbox.c.state,
                           outbox.c.last_error, outbox.c.attempts, outbox.c.created_at)
                 .where(sa.or_(outbox.c.state == "failed", sa.and_(outbox.c.state == "pending", kept)))
                 .order_by(outbox.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [{"id": f"out-{r.id}", "route": r.route, "ticket_id": r.ticket_id, "comment_id": r.comment_id,
                     "state": r.state, "last_error": r.last_error, "attempts": r.attempts, "queued_at": r.created_at}
                    for r in conn.execute(query)]

    def retrying(self, held: tuple[str, ...] = (), limit: int = 20) -> list[dict[str, Any]]:
        """The last errors of rows still to be tried again (inbox and outbox), newest first;
        replies kept for a reason in ``held`` are not errors and are left out."""
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for table, prefix in ((inbox, "in"), (outbox, "out")):
                kept = [sa.not_(table.c.last_error.startswith(h)) for h in held] if table is outbox else []
                query = (sa.select(table.c.id, table.c.route, table.c.last_error, table.c.attempts,
                                   table.c.next_attempt_at)
                         .where(table.c.state == "pending", table.c.last_error.is_not(None), table.c.attempts > 0,
                                *kept)
                         .order_by(table.c.id.desc()).limit(limit))
                out.extend({"id": f"{prefix}-{r.id}", "route": r.route, "error": r.last_error, "attempts": r.attempts,
                            "next_attempt_at": r.next_attempt_at} for r in conn.execute(query))
        return out[:limit]
