"""The spike watch: a route's mention rate far above its usual.

During a spike one problem ticket (on a helpdesk that links incidents) gathers every
social ticket of the spike as an incident, so solving the problem solves them; elsewhere
the route raises an alert on its status.
"""
from __future__ import annotations

import logging

from adapters.base import LinksIncidents, NewTicket, SocialdeskError
from sync.context import RouteContext
from sync.failures import settle
from sync.ingest.batch import chunks
from sync.settings import SOCIALDESK_TAG

log = logging.getLogger("socialdesk.engine")


class SpikeWatch:
    """Compares the last window's posts with the route's usual rate."""

    # The usual rate is measured over this much history; no spike is called before it exists.
    baseline = 86400.0

    def __init__(self, ctx: RouteContext) -> None:
        self.ctx = ctx

    def run(self) -> str | None:
        """Returns the problem ticket's id (or "alert") while a spike lasts."""
        ctx = self.ctx
        spike = ctx.settings.viral.spike
        if not spike.enabled or not ctx.health.ready("helpdesk"):
            return None
        now = ctx.clock()
        first = ctx.store.first_received(ctx.name)
        if first is None or now - first < self.baseline:
            return None  # no usual rate to compare with yet
        recent = ctx.store.posts_between(ctx.name, now - spike.window, now)
        usual = ctx.store.posts_between(ctx.name, now - spike.window - self.baseline, now - spike.window)
        usual_per_window = usual * spike.window / self.baseline
        state = ctx.store.get_cursor(ctx.name, "spike")
        if recent < spike.min_mentions or recent <= spike.factor * usual_per_window:
            if state:
                ctx.store.record_page(ctx.name, "spike", [], None, move_cursor=True)
                log.info("route %s: the mention spike is over", ctx.name)
            return None
        problem, _, since = (state or "").partition("@")
        figures = (f"{recent} posts in the last {spike.window / 60:g} min against a usual "
                   f"{usual_per_window:.1f}")
        try:
            if not problem:
                problem = self._open_problem(figures, now)
                since = str(now - spike.window)
                ctx.store.record_page(ctx.name, "spike", [], f"{problem}@{since}", move_cursor=True)
            desk = ctx.helpdesk
            if problem != "alert" and isinstance(desk, LinksIncidents):
                incidents = [t for t in ctx.store.tickets_linked_since(ctx.name, float(since)) if t != problem]
                for part in chunks(incidents, 100):
                    ctx.desk(lambda: desk.link_incidents(problem, part), write=True)
                ctx.store.record_page(ctx.name, "spike", [], f"{problem}@{now}", move_cursor=True)
        except SocialdeskError as err:
            settle(ctx, err, "watch", "spike handling", pause_side="helpdesk")
        return problem or None

    def _open_problem(self, figures: str, now: float) -> str:
        ctx = self.ctx
        if not isinstance(ctx.helpdesk, LinksIncidents):
            if ctx.health.running:   # a note on an active route; a waiting one keeps saying why it waits
                ctx.store.set_health(ctx.name, "active", f"mention spike: {figures}")
            log.error("route %s: mention spike: %s", ctx.name, figures)
            return "alert"
        key = f"socialdesk:spike:{ctx.name}:{int(now)}"
        problem = NewTicket(
            external_id=key, subject=f"Mention spike on {ctx.name}: {figures}"[:150],
            body=(f"socialdesk saw {figures}. The social tickets of this spike are linked here as "
                  f"incidents; solving this problem solves them."),
            requester_id=ctx.desk(ctx.helpdesk.whoami), public=False, tags=(SOCIALDESK_TAG, "social_spike"),
            priority="high", type="problem")
        ref = ctx.desk(lambda: ctx.helpdesk.create_ticket(problem, idempotency_key=key), write=True)
        log.error("route %s: mention spike (%s): problem ticket %s", ctx.name, figures, ref.id)
        return ref.id
