"""The daemon: routes built from the config, scheduled with APScheduler, webhooks served.

Adapters are built from the registry with the settings of their config entry; the
application layer may supply the settings instead (``sandbox: true`` entries, wired by ``cli``).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Mapping

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

import adapters
from adapters.base import AuthFailed, FatalError, Secret, SocialdeskError
from sync.engine import (
    SOCIALDESK_TAG, MirrorSettings, Route, RouteSettings, SpikeSettings, TicketSettings, ViralSettings,
)
from sync.store import Store

log = logging.getLogger("socialdesk.daemon")

WEBHOOK_NAME = "socialdesk"


EndpointSettings = Callable[[Any], Mapping[str, Any]]
"""Settings for one mapping entry; the application layer supplies it for sandbox entries."""


def build_adapter(role: str, endpoint: Any, endpoint_settings: EndpointSettings | None = None) -> Any:
    """The adapter for a mapping entry, built with its settings."""
    cls = adapters.resolve(endpoint.kind, role)
    if endpoint_settings is not None:
        values = dict(endpoint_settings(endpoint))
    elif endpoint.sandbox:
        raise FatalError(f"{endpoint.name!r} points at the sandbox: run with --sandbox "
                         f"(or 'socialdesk demo'), or give it real settings")
    else:
        values = dict(endpoint.settings)
    return cls.from_config(values)


def ticket_settings(t: Any, helpdesk: Any) -> TicketSettings:
    """A ticket template of the mapping -> engine settings, helpdesk names resolved to ids."""
    def resolve(kind: str, name: Any) -> Any:
        return helpdesk.lookup(kind, name) if name is not None else None

    return TicketSettings(
        subject=t.subject, tags=tuple(t.tags), priority=t.priority,
        group_id=resolve("group", t.group), brand_id=resolve("brand", t.brand), form_id=resolve("form", t.form),
        entitlement_id=resolve("entitlement", t.entitlement),
        custom_fields={helpdesk.lookup("field", name): value for name, value in dict(t.custom_fields).items()},
        include_metrics=t.include_metrics, type=t.type, origin=t.origin,
        record_type_id=resolve("form", t.record_type), assignment_rule=t.assignment_rule)


def rules_resolver(route: Any, helpdesk: Any) -> Callable[[Any], tuple[tuple[str, ...], TicketSettings]] | None:
    """The route's rules as the engine uses them: mention -> (rules fired, ticket settings).

    Every rule's names are resolved now, so a rule naming a group the helpdesk lacks
    stops the route at start, not at the first mention it fires on.
    """
    from sync import rules

    if not len(route.rules):
        return None
    for rule in route.rules:
        ticket_settings(rules.apply(route.ticket, rule.then), helpdesk)
    resolved: dict[tuple[str, ...], TicketSettings] = {}

    def ticket_for(mention: Any) -> tuple[tuple[str, ...], TicketSettings]:
        evaluation = rules.evaluate(route, mention)
        if evaluation.fired not in resolved:
            resolved[evaluation.fired] = ticket_settings(evaluation.ticket, helpdesk)
        return evaluation.fired, resolved[evaluation.fired]

    return ticket_for


def route_settings(route: Any, helpdesk: Any) -> RouteSettings:
    """Config route -> engine settings, with helpdesk names resolved to ids."""
    m = route.mirror
    mirror = MirrorSettings(
        enabled=m.enabled, dm_public_note=m.dm_public_note, dm_tag=m.dm_tag,
        thread_long_replies=m.thread_long_replies, sign_off=m.sign_off, max_age=m.max_age,
        approval_tag=m.approval.tag if m.approval.required else None,
        pii_patterns=tuple((p.name, p.regex) for p in m.pii_patterns))
    v = route.viral
    viral = ViralSettings(enabled=v.enabled, refresh=v.refresh, thresholds=dict(v.thresholds),
                          velocity={k: float(n) for k, n in dict(v.velocity_per_hour).items()},
                          priority=v.priority, tag=v.tag)
    spike = SpikeSettings(enabled=v.spike.enabled, window=v.spike.window, factor=v.spike.factor,
                          min_mentions=v.spike.min_mentions)
    include = route.include
    return RouteSettings(
        name=route.name, helpdesk_name=route.helpdesk, streams=tuple(route.streams),
        include_own_posts=include.own_posts, include_reposts=include.reposts,
        include_quotes=include.quotes, blocklist=frozenset(h.lower().lstrip("@") for h in route.blocklist),
        search_query=route.search_query, history=route.history, ticket=ticket_settings(route.ticket, helpdesk),
        mirror=mirror, viral=viral, spike=spike, ticket_for=rules_resolver(route, helpdesk))


class Daemon:
    """Every configured route, sharing one store."""

    def __init__(self, config: Any, store: Store, endpoint_settings: EndpointSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.helpdesks = {name: build_adapter("helpdesk", ep, endpoint_settings)
                          for name, ep in config.helpdesks.items()}
        self.networks = {name: build_adapter("social", ep, endpoint_settings) for name, ep in config.networks.items()}
        for adapter in (*self.helpdesks.values(), *self.networks.values()):
            budget = getattr(getattr(adapter, "session", None), "rate_budget", None)
            if budget is not None:
                budget.clock = clock  # rate windows pass on the daemon's time (a simulation may compress it)
        self.routes: dict[str, Route] = {}
        self.hints: "queue.Queue[tuple[str, str]]" = queue.Queue()
        self.webhook_secrets: dict[str, Secret] = {}
        self.scheduler: BackgroundScheduler | None = None

    def prepare(self) -> None:
        """Resolve names and check credentials; a failing route is parked, the others run."""
        hook = getattr(self.config, "webhook", None)
        if hook is not None and isinstance(hook.secret, Secret):
            # A webhook made by hand in the helpdesk: its secret comes from the config.
            self.webhook_secrets = {name: hook.secret for name in self.helpdesks}
        freed = self.store.release_leases()
        if freed:
            log.info("resumed %d item(s) left in flight by the previous run", freed)
        saved = self.store.budgets()
        for name, desk in self.helpdesks.items():
            if name in saved and hasattr(desk, "restore_budget"):
                # The daily allocation is counted over 24 hours, not per process.
                restored = desk.restore_budget(saved[name])
                log.info("helpdesk %s: %d API call(s) of the last 24 hours counted from the previous run",
                         name, restored)
        for route_cfg in self.config.routes:
            helpdesk = self.helpdesks[route_cfg.helpdesk]
            network = self.networks[route_cfg.network]
            try:
                settings = route_settings(route_cfg, helpdesk)
            except SocialdeskError as err:
                # Without its groups and fields a route would open tickets the helpdesk's
                # rules do not recognise: it waits, parked, until the mapping is fixed.
                settings = RouteSettings(name=route_cfg.name, helpdesk_name=route_cfg.helpdesk)
                route = Route(settings, network, helpdesk, self.store, self.clock)
                route.park(f"the mapping's names could not be resolved: {err}")
                self.routes[route_cfg.name] = route
                continue
            route = Route(settings, network, helpdesk, self.store, self.clock)
            self.routes[route_cfg.name] = route
            try:
                route.me()
                route.healthy()
            except AuthFailed as err:
                route.park(f"{network.kind} refused the credentials: {err}")
            except SocialdeskError as err:
                log.warning("route %s: %s", route.name, err)

    def setup_push(self, public_url: str) -> dict[str, list[str]]:
        """Create the helpdesk webhooks and triggers that call us (idempotent)."""
        done: dict[str, list[str]] = {}
        for name, helpdesk in self.helpdesks.items():
            if not hasattr(helpdesk, "setup_push"):
                continue
            endpoint = f"{public_url.rstrip('/')}/hooks/{helpdesk.kind}/{name}"
            _, secret, created = helpdesk.setup_push(f"{WEBHOOK_NAME}-{name}", endpoint, SOCIALDESK_TAG)
            self.webhook_secrets[name] = secret
            done[name] = created
        return done

    # ------------------------------------------------------------------ work

    def webhook_secret(self, helpdesk: str) -> str | None:
        """The signing secret of ``helpdesk``'s webhook, for the receiver only."""
        secret = self.webhook_secrets.get(helpdesk)
        return secret.reveal() if secret is not None else None

    def web_app(self) -> Any:
        """The daemon's HTTP app: helpdesk webhooks and outbound messages, health."""
        from sync.web import create_app

        return create_app(self.webhook_secret, self.hint, self.status, org_ids=self.org_id)

    def org_id(self, helpdesk: str) -> str | None:
        """The Salesforce org id outbound messages for ``helpdesk`` must carry."""
        desk = self.helpdesks.get(helpdesk)
        return getattr(desk, "org_id", None) if desk is not None and desk.kind == "salesforce" else None

    def hint(self, helpdesk: str, ticket_id: str) -> None:
        self.hints.put((helpdesk, ticket_id))

    def drain_hints(self) -> int:
        handled = 0
        while True:
            try:
                helpdesk, ticket_id = self.hints.get_nowait()
            except queue.Empty:
                return handled
            for route in self.routes.values():
                if route.settings.helpdesk_name == helpdesk and route.parked is None:
                    try:
                        route.hint(ticket_id)
                        route.drain_outbox()
                    except SocialdeskError as err:
                        log.warning("route %s: webhook hint for ticket %s failed: %s", route.name, ticket_id, err)
            handled += 1

    def run_once(self) -> None:
        for route in self.routes.values():
            if route.parked is None:
                route.run_once()
        self.drain_hints()
        self.record_budgets()

    def record_budgets(self) -> None:
        """Write each helpdesk's API budget where ``socialdesk status`` reads it."""
        for name, desk in self.helpdesks.items():
            report = getattr(desk, "budget", lambda: None)()
            if report:
                route = next((r for r in self.routes.values() if r.settings.helpdesk_name == name), None)
                pacing = ({"slowdown": route.budget_slowdown(), "batch_from": route.batch_threshold()}
                          if route is not None else {"slowdown": 1.0})
                self.store.put_budget(name, {**report, **pacing})

    def status(self) -> dict[str, Any]:
        return {"routes": {name: {"parked": r.parked, "paused_until": r.paused_until}
                           for name, r in self.routes.items()},
                "counts": self.store.counts()}

    def start(self) -> BackgroundScheduler:
        """Schedule every route's jobs; polling is the safety net under the webhooks."""
        scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(4)},
                                        job_defaults={"coalesce": True, "max_instances": 1,
                                                      "misfire_grace_time": 30})
        for route_cfg in self.config.routes:
            route = self.routes[route_cfg.name]
            for stream in route.settings.streams:
                every = max(getattr(route_cfg.poll, stream, None) or 0, route.network.min_poll_interval)

                def poll(r: Route = route, s: str = stream, e: float = every) -> None:
                    if r.poll_due(s, e):
                        r.poll(s)

                # Ticks at the network's fastest allowed pace; the route decides whether
                # the configured interval or the observed arrival rate calls for a read.
                scheduler.add_job(self._guard(route, poll), "interval",
                                  seconds=route.network.min_poll_interval,
                                  id=f"{route.name}:poll:{stream}", next_run_time=_now())
            scheduler.add_job(self._guard(route, self._work(route)), "interval", seconds=1,
                              id=f"{route.name}:work", next_run_time=_now())
            scheduler.add_job(self._guard(route, route.poll_replies), "interval",
                              seconds=getattr(route_cfg.poll, "replies", None) or 30,
                              id=f"{route.name}:replies", next_run_time=_now())
            # Viral and spike watch pace themselves (refresh interval, API budget).
            scheduler.add_job(self._guard(route, route.viral_watch), "interval", seconds=30,
                              id=f"{route.name}:viral")
            scheduler.add_job(self._guard(route, route.spike_watch), "interval", seconds=60,
                              id=f"{route.name}:spike")
        scheduler.add_job(self.drain_hints, "interval", seconds=0.5, id="hints")
        scheduler.add_job(self.record_budgets, "interval", seconds=60, id="budgets")
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    @staticmethod
    def _work(route: Route) -> Callable[[], None]:
        def work() -> None:
            # A batch of each in turn: a long run of replies never holds up new mentions,
            # nor a backlog of mentions the replies.
            while route.process_inbox() + route.drain_outbox():
                pass
        return work

    @staticmethod
    def _guard(route: Route, job: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            if route.parked is not None:
                return
            try:
                job()
            except SocialdeskError as err:
                log.warning("route %s: %s", route.name, err)
            except Exception:  # a bug must not stop the scheduler; it is logged with its trace
                log.exception("route %s: unexpected error", route.name)
        return run

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def run_forever(daemon: Daemon, stop: threading.Event) -> None:
    daemon.start()
    try:
        stop.wait()
    finally:
        daemon.stop()
