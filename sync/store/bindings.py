"""Which helpdesk and network accounts a state belongs to.

A state's links, cursors and outbox name tickets and posts of particular accounts; used
against other accounts it would send replies to posts that are not theirs. The first run
binds each endpoint to the account it met; a later run that meets another is refused.
"""
from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.store.schema import _insert_ignore, bindings


class Bindings:
    """Part of ``Store``; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]

    def bind_account(self, endpoint: str, kind: str, account: str) -> str | None:
        """Bind ``endpoint`` to ``account`` unless already bound; the account it was bound
        to before when that is another one, else None."""
        with self.engine.begin() as conn:
            if _insert_ignore(conn, bindings, ("endpoint",), endpoint=endpoint, kind=kind, account=account,
                              bound_at=self.clock()):
                return None
            bound = conn.execute(sa.select(bindings.c.kind, bindings.c.account)
                                 .where(bindings.c.endpoint == endpoint)).first()
        if bound is None or (bound.kind, bound.account) == (kind, account):
            return None
        return f"{bound.kind} {bound.account}"

    def bound_accounts(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {row.endpoint: f"{row.kind} {row.account}" for row in conn.execute(sa.select(bindings))}
