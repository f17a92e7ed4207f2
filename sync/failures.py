"""Carrying out the policy table's decisions: the one place a route's parts hand errors to.

``work_rows`` works claimed store rows in order and settles each failure; ``settle``
settles a failure of work that has no row (a read, a watch, a check of the route). Neither
decides anything: ``sync.policy.decide`` does. A passing fault that keeps coming from one
side is followed by a probe of that side (``sync.policy.probe_after``): a service that
cannot be reached makes the route wait, not retry each item on its own for ever.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from adapters.base import AuthFailed, RateLimited, RetriableError, SocialdeskError
from sync.context import RouteContext
from sync.policy import Action, Work, backoff, decide, probe_after, quick_retry

log = logging.getLogger("socialdesk.engine")

FIX = "fix the mapping or the service's setup, then restart socialdesk"


def side_of(err: BaseException) -> str:
    """The side of the route whose call raised ``err`` (unmarked errors are the network's)."""
    return "helpdesk" if getattr(err, "side", "network") == "helpdesk" else "network"


def _service(ctx: RouteContext, side: str) -> str:
    return ctx.helpdesk.kind if side == "helpdesk" else ctx.network.kind


def wait_reason(ctx: RouteContext, err: BaseException) -> tuple[str, str]:
    """(kind of failure, what a waiting route says): whose credentials were refused, or
    which service could not be reached."""
    service = _service(ctx, side_of(err))
    if isinstance(err, AuthFailed):
        return "refused", f"{service} refused the credentials: {err}"
    if isinstance(err, RateLimited):
        return "limited", f"{service} asked to be left alone: {err}"
    return "unreachable", f"{service} cannot be reached: {err}"


def park_reason(ctx: RouteContext, err: BaseException, doing: str | None = None) -> str:
    """What a parked route says: the configuration problem, and what to do about it."""
    return f"{doing}: {err} ({FIX})" if doing else f"{err} ({FIX})"


def halt(ctx: RouteContext, err: BaseException, action: Action, doing: str | None = None,
         checking: bool = False) -> None:
    """Carry out ``wait`` or ``park``: the route stops; a waiting one re-checks, and a
    failed re-check puts the next one off twice as long."""
    if action is Action.WAIT:
        kind, reason = wait_reason(ctx, err)
        after = err.retry_after if isinstance(err, RateLimited) else 0.0
        record = ctx.health.check_failed if checking else ctx.health.wait
        record(side_of(err), kind, reason, after)  # type: ignore[arg-type]
    else:
        ctx.health.park(park_reason(ctx, err, doing))


def settle(ctx: RouteContext, err: BaseException, work: Work, doing: str, *,
           pause_side: str | None = None, park_doing: str | None = None) -> None:
    """Settle a failure of work that holds no row: pause, wait, park, or try again next time."""
    action = decide(err, work)
    if action is Action.STOP:
        stopped(ctx, err, doing)
    elif action is Action.PAUSE and isinstance(err, RateLimited):
        ctx.health.pause(pause_side or err.side, err)
    elif action in (Action.WAIT, Action.PARK):
        halt(ctx, err, action, park_doing, checking=work == "check")
    elif action is Action.RAISE:
        raise err
    elif not outage(ctx, err):
        log.warning("route %s: %s failed, will retry: %s", ctx.name, doing, err)


def stopped(ctx: RouteContext, err: BaseException, doing: str) -> None:
    """Carry out ``stop``: the job ends; nothing about the route changes (it is not failing:
    another replica does this work now)."""
    log.info("route %s: stopped %s: %s", ctx.name, doing, err)


def outage(ctx: RouteContext, err: BaseException) -> bool:
    """Count a passing fault against its side; when the table says a run of them calls for
    a probe, probe that side. True when the route now waits (or is parked) instead."""
    after = probe_after(err)
    if after is None:
        return False
    side = side_of(err)
    if ctx.health.fault(side) < after:
        return False
    try:
        probe(ctx, side)
    except SocialdeskError as probe_err:
        settle(ctx, probe_err, "check", f"checking the {side}", park_doing=f"checking the {side}")
        return ctx.health.stopped(side)
    log.debug("route %s: the %s answers; its last faults were passing ones", ctx.name, side)
    return False


def probe(ctx: RouteContext, side: str) -> None:
    """One cheap authenticated call to ``side`` (a few quick tries); raises what it met."""
    if side == "helpdesk":
        ctx.desk(ctx.helpdesk.probe)
    else:
        quick_retry(ctx.network.probe)
        ctx.health.answered("network")


def work_rows(ctx: RouteContext, table: str, rows: Sequence[Any], handle: Callable[[Any], None],
              set_aside: Callable[[Any, Exception], None], work: Work) -> int:
    """Work claimed rows in order; the policy table decides each failed row's fate.

    Pause: that side waits, the row is retried when allowed, the rest handed back.
    Wait or park: the route stops, every row not yet worked is handed back.
    Retry: the row is tried again after a backoff (unless its side is found down: wait).
    Quarantine or hold: ``set_aside``.
    Stop: this replica lost the work's lease; every row not yet worked is handed back.
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
            if action is Action.STOP:
                stopped(ctx, err, f"working {table} rows")
                ctx.store.release(table, [r.id for r in rows[index:]])
                break
            if action in (Action.QUARANTINE, Action.HOLD):
                set_aside(row, err)
            elif action in (Action.WAIT, Action.PARK):
                halt(ctx, err, action)
                ctx.store.release(table, [r.id for r in rows[index:]])
                break
            elif action is Action.RETRY:
                if isinstance(err, RetriableError) and outage(ctx, err):
                    ctx.store.release(table, [r.id for r in rows[index:]])
                    break
                ctx.store.retry_later(table, row.id, str(err), backoff(row.attempts + 1))
            else:
                raise
    return done
