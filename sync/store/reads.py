"""What network reads returned, per route and UTC calendar month: X bills each post and DM
event a read returns, against a monthly cap."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from sync.store.schema import _insert_ignoring, network_reads

READ_KINDS = ("posts", "dm_events")


def month_of(moment: float) -> str:
    """The UTC calendar month of a moment, as ``YYYY-MM``."""
    return time.strftime("%Y-%m", time.gmtime(moment))


def next_month(moment: float) -> str:
    """When the UTC calendar month after ``moment``'s begins, as text."""
    year, month = (int(p) for p in month_of(moment).split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}-01 00:00 UTC"


class Reads:
    """Counting read items (a mixin of ``Store``)."""

    engine: Any
    clock: Any

    def count_reads(self, route: str, kind: str, items: int, moment: float | None = None) -> None:
        """Add ``items`` read of ``kind`` to ``route``'s month of ``moment`` (default: now)."""
        if kind not in READ_KINDS:
            raise ValueError(f"read kind is one of {READ_KINDS}, not {kind!r}")
        if items <= 0:
            return
        now = self.clock()
        month = month_of(now if moment is None else moment)
        with self.engine.begin() as conn:   # one statement: replicas add without losing counts
            statement = _insert_ignoring(conn, network_reads, ()).values(
                route=route, month=month, kind=kind, read_count=items, updated_at=now)
            conn.execute(statement.on_conflict_do_update(
                index_elements=["route", "month", "kind"],
                set_={"read_count": network_reads.c.read_count + items, "updated_at": now}))

    def reads(self, month: str | None = None) -> dict[str, dict[str, int]]:
        """Per route, items read in ``month`` (default: this UTC month) by kind."""
        month = month or month_of(self.clock())
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(network_reads).where(network_reads.c.month == month)):
                out.setdefault(r.route, dict.fromkeys(READ_KINDS, 0))[r.kind] = r.read_count
        return out
