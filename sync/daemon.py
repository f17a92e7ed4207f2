"""The daemon: routes built from the config, scheduled with APScheduler, webhooks served.

Adapters are built from the registry with the settings of their config entry; the
application layer may supply the settings instead (``sandbox: true`` entries, wired by ``cli``).
"""
from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

from apscheduler.schedulers.background import BackgroundScheduler

import adapters
from adapters.base import (
    FatalError, KeepsRateBudget, MetersApiBudget, ReceivesOutboundMessages, ReceivesPushes, ReceivesWebhooks,
    ResolvesMedia, Secret, SignsInWithOAuth, SocialdeskError,
)
from sync.failures import settle
from sync.keeper import LEASE_TTL, LeaseKeeper, default_replica_id, webhook_lease
from sync.metrics import Metrics, StateCollector
from sync.mirror.poster import KEPT_FOR_PEOPLE
from sync.policy import RECHECK_CAP
from sync.resolve import route_settings
from sync.route import Route
from sync.scheduler import schedule
from sync.settings import SOCIALDESK_TAG, RouteSettings
from sync.store import Fence, StaleLease, Store, fenced

if TYPE_CHECKING:
    from sync.agent_view import AgentView

log = logging.getLogger("socialdesk.daemon")

WEBHOOK_NAME = "socialdesk"
PUSH_SETUP_RETRY = 60.0   # seconds before a webhook setup that failed is tried again


class StateMismatch(FatalError):
    """The state store was made against other helpdesk or network accounts."""


EndpointSettings = Callable[[Any], Mapping[str, Any]]
"""Settings for one mapping entry; the application layer supplies it for sandbox entries.
It may also have ``consent(endpoint, adapter, store)``: the OAuth consent for the entries it
wires, given when the adapter is built."""


def endpoint_values(endpoint: Any, endpoint_settings: EndpointSettings | None = None) -> dict[str, Any]:
    """A mapping entry's settings as its adapter is built with them."""
    if endpoint_settings is not None:
        values = dict(endpoint_settings(endpoint))
    elif endpoint.sandbox:
        raise FatalError(f"{endpoint.name!r} points at the sandbox: run with --sandbox "
                         f"(or 'socialdesk demo'), or give it real settings")
    else:
        values = dict(endpoint.settings)
    values.setdefault("name", endpoint.name)
    return values


def build_adapter(role: str, endpoint: Any, endpoint_settings: EndpointSettings | None = None,
                  store: Store | None = None) -> Any:
    """The adapter for a mapping entry, built with its settings; an OAuth grant is kept
    in ``store``, under the entry's name (where ``socialdesk connect`` puts it)."""
    cls = adapters.resolve(endpoint.kind, role)
    adapter = cls.from_config(endpoint_values(endpoint, endpoint_settings))
    if isinstance(adapter, SignsInWithOAuth) and adapter.oauth is not None:
        if store is not None:
            adapter.use_vault(store.vault(endpoint.name))
        # The application layer may give the consent for the entries it wires (the sandbox's).
        consent = getattr(endpoint_settings, "consent", None)
        if consent is not None:
            consent(endpoint, adapter)
    return adapter


CallWatch = Callable[[Any, Callable[[Any], None]], Any]
"""``adapters.http.watch_calls``: tells a watcher of each HTTP call an adapter makes (the
application layer hands it in: the engine does not reach into the adapters' plumbing)."""

BudgetShare = Callable[[Any, Any, str], int]
"""``adapters.http.share_budgets``: has an adapter's rate budgets take their calls from the
store's buckets, shared by every replica (the application layer hands it in)."""


class Daemon:
    """Every configured route, sharing one store."""

    def __init__(self, config: Any, store: Store, endpoint_settings: EndpointSettings | None = None,
                 clock: Callable[[], float] = time.time, recheck_cap: float = RECHECK_CAP,
                 watch_calls: CallWatch | None = None, replica_id: str | None = None,
                 lease_ttl: float = LEASE_TTL, share_budgets: BudgetShare | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.recheck_cap = recheck_cap  # the longest a waiting route goes between re-checks
        self.share_budgets = share_budgets if store.shared else None   # one process alone keeps its own
        # This daemon as one of the replicas sharing the store, and its share of their work.
        self.replica_id = replica_id or default_replica_id()
        self.keeper = LeaseKeeper(store, self.replica_id, clock, lease_ttl)
        self.helpdesks = {name: build_adapter("helpdesk", ep, endpoint_settings, store)
                          for name, ep in config.helpdesks.items()}
        self.networks = {name: build_adapter("social", ep, endpoint_settings, store)
                         for name, ep in config.networks.items()}
        self.routes: dict[str, Route] = {}
        # This daemon's metrics (GET /metrics): its own registry, as tests run many daemons at once.
        self.metrics = Metrics()
        self.metrics.registry.register(StateCollector(store, clock, self.routes, self.read_budgets, KEPT_FOR_PEOPLE,
                                                      lease_ttl))
        if watch_calls is not None:
            for name, adapter in (*self.helpdesks.items(), *self.networks.items()):
                watch_calls(adapter, self.metrics.call_watcher(adapter.kind, name))
        # The token a network's subscription check must name (Meta's verify token), by network.
        self.verify_tokens: dict[str, Secret] = {}
        for name, ep in config.networks.items():
            if isinstance(self.networks[name], ReceivesPushes):
                token = endpoint_values(ep, endpoint_settings).get("verify_token")
                if token:
                    self.verify_tokens[name] = token if isinstance(token, Secret) else Secret(str(token), "verify_token")
        for adapter in (*self.helpdesks.values(), *self.networks.values()):
            if isinstance(adapter, KeepsRateBudget):
                # Rate windows pass on the daemon's time (a simulation may compress it), and
                # an adapter's waits go through the daemon's sleep.
                adapter.use_clock(clock, time.sleep)
        self.hints: "queue.Queue[tuple[str, str]]" = queue.Queue()
        self.webhook_secrets: dict[str, Secret] = {}
        self.scheduler: BackgroundScheduler | None = None
        # What calls this daemon, set up by the replica holding its lease (``register_push``):
        # lease -> the setup; lease -> (token it was last tried with, when to try again; None: done).
        self.push_setups: dict[str, Callable[[], str]] = {}
        self._push_tried: dict[str, tuple[int, float | None]] = {}
        self._web: Any = None
        self.media: Any = None   # sync/media.py MediaLinks, once the daemon's address is known

    def prepare(self) -> None:
        """Resolve names and check credentials. A route refused or unreachable waits and
        re-checks by itself; one whose mapping is wrong is parked; the others run."""
        hook = self.config.webhook
        if hook is not None and isinstance(hook.secret, Secret):
            # A webhook made by hand in the helpdesk: its secret comes from the config.
            self.webhook_secrets = {name: hook.secret for name in self.helpdesks}
        freed = self.store.release_leases()
        if freed:
            log.info("resumed %d item(s) left in flight by the previous run", freed)
        if not self.store.shared:
            self.store.free_all_leases()   # one daemon owns an SQLite state: its last run's leases are void
        saved = self.store.budgets()
        for name, desk in self.helpdesks.items():
            if name in saved and isinstance(desk, MetersApiBudget):
                # The daily allocation is counted over 24 hours, not per process.
                restored = desk.restore_budget(saved[name])
                log.info("helpdesk %s: %d API call(s) of the last 24 hours counted from the previous run",
                         name, restored)
        for route_cfg in self.config.routes:
            self.routes[route_cfg.name] = route = self._route(route_cfg)
            # Names resolved, the network account read. Refused or unreachable: the route
            # waits and re-checks; a name the helpdesk does not have: parked until fixed.
            if route.check():
                route.healthy()

    def _route(self, route_cfg: Any) -> Route:
        """A route whose mapping names are still to be resolved (its first check does it).

        Until then it has the mapping's streams (the scheduler's poll jobs) and no ticket
        settings: it does no work before its names resolve."""
        helpdesk = self.helpdesks[route_cfg.helpdesk]
        unresolved = RouteSettings(name=route_cfg.name, helpdesk_name=route_cfg.helpdesk,
                                   streams=tuple(route_cfg.streams))
        return Route(unresolved, self.networks[route_cfg.network], helpdesk, self.store, self.clock,
                     resolve=lambda: route_settings(route_cfg, helpdesk), recheck_cap=self.recheck_cap,
                     metrics=self.metrics)

    def bind_accounts(self) -> None:
        """Refuse a state made against other accounts (StateMismatch); the first run binds it.

        A state's links and outbox name tickets and posts of the accounts it was made with:
        used with others it would reply to posts that are not theirs."""
        endpoints = [*(("helpdesk", n, a) for n, a in self.helpdesks.items()),
                     *(("network", n, a) for n, a in self.networks.items())]
        for role, name, adapter in endpoints:
            try:
                account = adapter.account_key()
            except SocialdeskError as err:
                log.warning("%s %s: could not tell which account it is yet (%s); its binding is checked at the "
                            "next start", role, name, err)
                continue
            before = self.store.bind_account(name, adapter.kind, account)
            if before is not None:
                raise StateMismatch(f"this state belongs to {before} for {role} {name!r}, not to {adapter.kind} "
                                    f"{account}: point 'state:' at a new database, or move this one aside")
            if self.share_budgets is not None:
                self.share_budgets(adapter, self.store, account)

    def setup_push(self, public_url: str) -> dict[str, list[str]]:
        """Create the helpdesk webhooks and triggers that call us (idempotent); with the mapping's
        webhook.secret, made with it, and FatalError for a webhook that signs with another.

        What ``socialdesk setup`` does; a running daemon uses ``register_push`` instead."""
        return {name: self._setup_webhook(name, helpdesk, public_url)
                for name, helpdesk in self.helpdesks.items() if isinstance(helpdesk, ReceivesWebhooks)}

    def _setup_webhook(self, name: str, helpdesk: Any, public_url: str) -> list[str]:
        hook = self.config.webhook
        # The mapping's webhook.secret: the webhook is made with it, and one that signs with
        # another is refused (FatalError) rather than its secret silently taking over.
        configured = hook.secret if hook is not None and isinstance(hook.secret, Secret) else None
        endpoint = f"{public_url.rstrip('/')}/hooks/{helpdesk.kind}/{name}"
        if configured is not None:
            self.webhook_secrets[name] = configured  # deliveries are checked with it, whatever follows
        _, secret, created = helpdesk.setup_push(f"{WEBHOOK_NAME}-{name}", endpoint, SOCIALDESK_TAG,
                                                 secret=configured)
        self.webhook_secrets[name] = secret
        return created

    def register_push(self, public_url: str,
                      subscriptions: Mapping[str, Callable[[], str]] | None = None) -> dict[str, str]:
        """Set up what calls this daemon once per account, not once per replica: each
        helpdesk's webhook (lease ``webhooks:<helpdesk>``) and each subscription the application
        layer hands in (by lease name; the sandbox's Meta app). The replica that takes a lease
        does the setup, pointing it at ``public_url``, and keeps the lease while it lives; the
        others leave it alone. One that takes a lease over later (its holder died) does it again
        (``keep_push_setup``). Per lease: what was done, or which replica holds it.

        Replicas behind one public URL all receive deliveries: give them the mapping's
        webhook.secret, as only the replica that set a webhook up reads its secret."""
        self.push_setups = {webhook_lease(name): functools.partial(self._said_webhook, name, helpdesk, public_url)
                            for name, helpdesk in self.helpdesks.items() if isinstance(helpdesk, ReceivesWebhooks)}
        self.push_setups.update(subscriptions or {})
        said: dict[str, str] = {}
        for lease in self.push_setups:
            self.keeper.want(lease, sticky=True)
            fence = self.keeper.take(lease)
            if fence is not None:
                said[lease] = self._push_setup(lease, fence)
            else:
                said[lease] = f"set up by replica {self.store.lease_holders().get(lease, {}).get('holder')}"
        hook = self.config.webhook
        unchecked = [name for name, desk in self.helpdesks.items()
                     if isinstance(desk, ReceivesWebhooks) and name not in self.webhook_secrets]
        if unchecked and hook is not None and hook.public_url:
            log.warning("helpdesk webhooks of %s were set up by another replica: deliveries reaching this one "
                        "through %s cannot be checked without webhook.secret in the mapping",
                        ", ".join(unchecked), hook.public_url)
        return said

    def _said_webhook(self, name: str, helpdesk: Any, public_url: str) -> str:
        created = self._setup_webhook(name, helpdesk, public_url)
        return ", ".join(created) + " created" if created else "already set up"

    def _push_setup(self, lease: str, fence: Fence) -> str:
        """One setup under its lease's fence: what it did, or why it failed (tried again later)."""
        try:
            with fenced(fence):
                self.store.check_fence(fence)
                done = self.push_setups[lease]()
        except StaleLease as err:
            return str(err)
        except Exception as err:  # polling still mirrors; say why push is off, try again later
            self._push_tried[lease] = (fence.token, self.clock() + PUSH_SETUP_RETRY)
            log.warning("%s: setup failed, agents' replies are read by polling until it works (tried again in "
                        "%gs): %s", lease, PUSH_SETUP_RETRY, err)
            return f"failed: {err}"
        self._push_tried[lease] = (fence.token, None)
        return done

    def keep_push_setup(self) -> None:
        """The scheduler's job: a push setup whose lease this replica took over (or whose last
        try failed and is due again) is done now, pointing at this replica."""
        for lease in list(self.push_setups):
            fence = self.keeper.fence(lease)
            if fence is None:
                continue
            token, retry_at = self._push_tried.get(lease, (None, 0.0))
            if token == fence.token and (retry_at is None or self.clock() < retry_at):
                continue
            log.info("replica %s set up %s: %s", self.replica_id, lease, self._push_setup(lease, fence))

    # ------------------------------------------------------------------ work

    def webhook_secret(self, helpdesk: str) -> str | None:
        """The signing secret of ``helpdesk``'s webhook, for the receiver only."""
        secret = self.webhook_secrets.get(helpdesk)
        return secret.reveal() if secret is not None else None

    def web_app(self) -> Any:
        """The daemon's HTTP app: helpdesk webhooks and outbound messages, the agent view,
        health and readiness, metrics, and the status endpoint and page for the holder of
        the token in SOCIALDESK_STATUS_TOKEN."""
        from sync.ops_web import status_token
        from sync.web import create_app

        self._web = create_app(self.webhook_secret, self.hint, self.status_snapshot, org_ids=self.org_id,
                               helpdesks=self.helpdesks.get, networks=self, agent_view=self.agent_view(),
                               readiness=self.readiness, metrics=self.metrics.exposition,
                               status_token=status_token())
        return self._web

    def agent_view(self) -> "AgentView":
        """What the Zendesk ticket sidebar reads (sync/agent_view.py), from the store alone:
        the tickets of this daemon's Zendesk accounts in REST mode, for the holder of the token
        in SOCIALDESK_AGENT_VIEW_TOKEN."""
        from sync.agent_view import AgentView, sources, token_from_env
        from sync.channel import HostsChannel

        rest = {name: desk for name, desk in self.helpdesks.items() if not isinstance(desk, HostsChannel)}
        return AgentView(self.store, self.clock, token_from_env(),
                         lambda account: sources(account, self.config.routes, rest, self.networks))

    # What the receiver asks of the networks that push (sync/web.py ``Networks``).

    def account(self, name: str) -> Any:
        return self.networks.get(name)

    def verify_token(self, name: str) -> str | None:
        token = self.verify_tokens.get(name)
        return token.reveal() if token is not None else None

    def serve_media(self, public_url: str) -> None:
        """Tickets link a post's attachments through the daemon at ``public_url``."""
        from sync.media import MediaLinks

        self.media = MediaLinks(self.store, public_url)
        for route_cfg in self.config.routes:
            route = self.routes.get(route_cfg.name)
            if route is not None and isinstance(route.network, ResolvesMedia):
                route.ctx.media_url = lambda media, network=route_cfg.network: self.media.link(network, media)

    def media_link(self, token: str) -> str | None:
        """A fresh link to the attachment a ticket's media link names; None when it names none."""
        opened = self.media.open(token) if self.media is not None else None
        network = self.networks.get(opened[0]) if opened is not None else None
        if opened is None or not isinstance(network, ResolvesMedia):
            return None
        return network.media_link(opened[1])

    def keep(self, name: str, body: bytes) -> int:
        """A verified delivery, kept for each route that reads network ``name``."""
        return self.store.put_push([r.name for r in self.config.routes if r.network == name], body)

    def org_id(self, helpdesk: str) -> str | None:
        """The Salesforce org id outbound messages for ``helpdesk`` must carry."""
        desk = self.helpdesks.get(helpdesk)
        return desk.org_id if isinstance(desk, ReceivesOutboundMessages) else None

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
                if route.settings.helpdesk_name == helpdesk and not route.health.stopped("helpdesk"):
                    try:
                        route.hint(ticket_id)
                        route.drain_outbox()
                    except SocialdeskError as err:
                        # The export reads the ticket's replies later; refused credentials or
                        # a helpdesk that keeps failing make the route wait, as anywhere else.
                        settle(route.ctx, err, "read", f"webhook hint for ticket {ticket_id}")
            if self._web is not None:
                # The receiver coalesces a record's repeated notifications while its hint is
                # pending: this one is handled, the next is news again.
                self._web.outbound_settled(helpdesk, ticket_id)
            handled += 1

    def run_once(self) -> None:
        """Every route's steps once; a waiting route re-checks first when its time has come."""
        for route in self.routes.values():
            if route.state != "parked":
                route.run_once()
        self.drain_hints()
        self.record_budgets()

    def record_budgets(self) -> None:
        """Write each helpdesk's API budget where ``socialdesk status`` reads it (the scheduler
        runs it on the replica holding ``daemon:budgets``)."""
        for name, desk in self.helpdesks.items():
            report = desk.budget() if isinstance(desk, MetersApiBudget) else None
            if report:
                route = next((r for r in self.routes.values() if r.settings.helpdesk_name == name), None)
                pacing = ({"slowdown": route.budget_slowdown(), "batch_from": route.batch_threshold()}
                          if route is not None else {"slowdown": 1.0})
                self.store.put_budget(name, {**report, **pacing})

    def status(self) -> dict[str, Any]:
        """Per route: state (active, waiting, parked), the reason, since when, the next
        re-check of a waiting route, the sides paused; and the store's counts."""
        return {"routes": {name: r.health.report() for name, r in self.routes.items()},
                "counts": self.store.counts()}

    def read_budgets(self) -> dict[str, Any]:
        """Each route's monthly read budget (the mapping's ``read_budget``)."""
        return {r.name: r.read_budget for r in self.config.routes}

    def readiness(self) -> list[str]:
        """Why the daemon is not ready, one short line a reason (empty: ready): a route
        parked or waiting on a service, a state store that cannot be read. No errors, queue
        names or cursors: whoever can reach ``/readyz`` reads it."""
        reasons = [] if self.store.reachable() else ["the state store cannot be read"]
        for name, route in self.routes.items():
            services = {"helpdesk": route.helpdesk.kind, "network": route.network.kind}
            why = route.health.not_ready(services)
            if why:
                reasons.append(f"route {name} {why}")
        return reasons

    def status_snapshot(self) -> dict[str, Any]:
        """What ``GET /api/status`` answers and the status page shows (sync/snapshot.py):

        - ``at``: when it was taken (the daemon's clock, epoch seconds).
        - ``routes``: per route, ``state`` (active, waiting, parked), ``why`` (the reason in
          words), ``reason`` (the same in a word or two: configuration, helpdesk_refused,
          network_unreachable, ...), ``since``, ``next_check`` (a waiting route's re-check),
          ``waiting`` (per side: reason, since, next_check), ``paused_until`` (per side a rate
          limit paused), ``network`` and ``helpdesk`` (their kinds).
        - ``queues``: per route, rows by state of ``inbox``, ``outbox`` and ``pushes``,
          ``oldest_waiting_seconds`` per queue, ``tickets`` (conversations linked).
        - ``cursors``: per route, each stream's cursor.
        - ``last_errors``: rows being retried, newest first: id (in-12, out-3), route, error,
          attempts, next_attempt_at.
        - ``held_replies``: replies kept for a lead's approval, the messaging window or a guard;
          ``failed_replies``: replies that failed. Each: id, route, ticket_id, comment_id,
          state (held, failed), hold (approval, messaging_window, guard; None), why, attempts,
          queued_at (never the reply's text).
        - ``quarantined``: mentions set aside, as ``socialdesk failed list`` shows them.
        - ``last_hour``: per route (sync/store/history.py ``last_hour``), ``buckets`` (twelve
          five-minute starts) and ``bucket_seconds``; per bucket ``mentions`` read, ``tickets``
          written, ``replies`` posted; ``latency`` over the hour of ``mention_to_ticket`` (read
          to written) and ``reply_to_post`` (queued to posted): count, p50, p90, max seconds;
          ``latency_buckets``: each one's median per bucket.
        - ``budgets``: per metered helpdesk, its API allocation; ``reads``: per route, the
          network's reads this month and the monthly budget; ``credentials``: per OAuth
          grant, when stored, when access expires, whether refused (never a token).
        - ``replica``: this daemon's replica id; ``replicas``: every replica sharing the state
          (started_at, seen_at, live, leases held); ``leases``: per lease (poll:<route>:<stream>,
          replies:<route>, watch:<route>, daemon:budgets, webhooks:<helpdesk>), its holder
          (None: free), token, acquired_at, expires_at (sync/keeper.py ``sharing``).
        """
        from sync.snapshot import snapshot

        return snapshot(self.routes, self.store, self.clock(), KEPT_FOR_PEOPLE, self.read_budgets(),
                        replica=self.replica_id, lease_ttl=self.keeper.ttl)

    def start(self) -> BackgroundScheduler:
        """Schedule every route's jobs (sync/scheduler.py), this replica's first share of the
        leases taken before any runs."""
        self.scheduler = schedule(self)
        return self.scheduler

    def stop(self) -> None:
        """Stop the jobs, then hand this replica's leases back so the others take them at once."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self.keeper.leave()


def run_forever(daemon: Daemon, stop: threading.Event) -> None:
    daemon.start()
    try:
        stop.wait()
    finally:
        daemon.stop()
