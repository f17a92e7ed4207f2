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
            if row:
                since = row.since if row.state == state else self.clock()
                conn.execute(routes_health.update().where(routes_health.c.route == route)
                             .values(state=state, reason=reason, since=since, next_check=next_check))
            else:
                conn.execute(routes_health.insert().values(route=route, state=state, reason=reason,
                                                           since=self.clock(), next_check=next_check))
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
