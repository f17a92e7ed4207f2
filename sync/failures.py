"""Carrying out the policy table's decisions: the one place a route's parts hand errors to.

``work_rows`` works claimed store rows in order and settles each failure; ``settle``
settles a failure of work that has no row (a read, a watch). Neither decides anything:
``sync.policy.decide`` does.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from adapters.base import AuthFailed, RateLimited
from sync.context import RouteContext
from sync.policy import Action, Work, backoff, decide

log = logging.getLogger("socialdesk.engine")


def park_reason(ctx: RouteContext, err: BaseException, doing: str | None = None) -> str:
    """What a parked route says: whose credentials were refused, or the problem itself."""
    if isinstance(err, AuthFailed):
        side = ctx.helpdesk.kind if err.side == "helpdesk" else ctx.network.kind
        return f"{side} refused the credentials: {err}"
    return f"{doing}: {err}" if doing else str(err)


def settle(ctx: RouteContext, err: BaseException, work: Work, doing: str, *,
           pause_side: str | None = None, park_doing: str | None = None) -> None:
    """Settle a failure of work that holds no row: pause, park, or try again next time."""
    action = decide(err, work)
    if action is Action.PAUSE and isinstance(err, RateLimited):
        ctx.health.pause(pause_side or err.side, err)
    elif action is Action.PARK:
        ctx.health.park(park_reason(ctx, err, park_doing))
    elif action is Action.RAISE:
        raise err
    else:
        log.warning("route %s: %s failed, will retry: %s", ctx.name, doing, err)


def work_rows(ctx: RouteContext, table: str, rows: Sequence[Any], handle: Callable[[Any], None],
              set_aside: Callable[[Any, Exception], None], work: Work) -> int:
    """Work claimed rows in order; the policy table decides each failed row's fate.

    Pause: that side waits, the row is retried when allowed, the rest handed back.
    Park: the route stops, every row not yet worked is handed back.
    Retry: the row is tried again after a backoff. Quarantine or hold: ``set_aside``.
    """
    done = 0
    for index, row in enumerate(rows):
        try:
            handle(row)
            done += 1
        except Exception as err:
            action = decide(err, work)
            if action is Action.PAUSE and isinstance(err, RateLimited):
                ctx.health.pause(err.side, err)
                ctx.store.retry_later(table, row.id, str(err), err.retry_after)
                ctx.store.release(table, [r.id for r in rows[index + 1:]])
                break
            if action in (Action.QUARANTINE, Action.HOLD):
                set_aside(row, err)
            elif action is Action.PARK:
                ctx.health.park(park_reason(ctx, err))
                ctx.store.release(table, [r.id for r in rows[index:]])
                break
            elif action is Action.RETRY:
                ctx.store.retry_later(table, row.id, str(err), backoff(row.attempts + 1))
            else:
                raise
    return done
