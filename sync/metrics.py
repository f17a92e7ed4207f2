"""One daemon's metrics, in Prometheus' text format (``GET /metrics``).

Counters and histograms are fed by the work as it happens (``sync/events.py``, and every
vendor call through the adapters' sessions); what is state (queues, the oldest waiting
item, route state, budgets, token expiry, the month's reads) is read from the state store
and the routes at each scrape by ``StateCollector``, so it is right after a restart and the
same from every replica. Each daemon has its own registry: tests run many in one process.

Labels are names from the mapping (route, helpdesk and network entries), service kinds
and small fixed sets of words: never an id, a handle, a text or an error message.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from adapters.base import SocialdeskError
from sync.keeper import LEASE_TTL, sharing

# Seconds: a mention or a reply that takes a minute is normal, one that takes hours is not.
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 86400.0)
QUEUES = ("inbox", "outbox", "pushes")
STATES = ("active", "waiting", "parked")
READ_KINDS = ("posts", "dm_events")


def status_class(status: int | None) -> str:
    """A vendor answer's status as a label: 2xx, 3xx, 4xx, 5xx, 429 on its own, or no_answer."""
    if status is None:
        return "no_answer"
    return "429" if status == 429 else f"{status // 100}xx"


class Metrics:
    """The counters and histograms one daemon's work feeds, in the daemon's registry."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.mentions_read = Counter("socialdesk_mentions_read", "Mentions, comments and messages read into the "
                                     "inbox (new ones only)", ("route", "network", "stream"), registry=r)
        self.tickets_written = Counter("socialdesk_tickets_written", "Mentions written into the helpdesk: a new "
                                       "ticket (created) or a comment or note on one (updated)",
                                       ("route", "helpdesk", "action"), registry=r)
        self.replies = Counter("socialdesk_replies", "Agents' replies that were posted, held (with why) or failed",
                               ("route", "network", "outcome", "reason"), registry=r)
        self.quarantined = Counter("socialdesk_quarantined", "Items set aside for 'socialdesk failed' (ingest: "
                                   "mentions; mirror: replies)", ("route", "flow"), registry=r)
        self.mention_to_ticket = Histogram("socialdesk_mention_to_ticket_seconds", "From the post on the network "
                                           "to its ticket written", ("route", "network"),
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.reply_to_post = Histogram("socialdesk_reply_to_post_seconds", "From an agent's reply seen by "
                                       "socialdesk to its post on the network", ("route", "network"),
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.route_changes = Counter("socialdesk_route_transitions", "Route state changes (to: waiting, parked, "
                                     "resumed)", ("route", "to"), registry=r)
        self.pauses = Counter("socialdesk_rate_limit_pauses", "Times a side of a route paused because a rate limit "
                              "asked it to", ("route", "side"), registry=r)
        self.vendor_calls = Counter("socialdesk_vendor_calls", "HTTP calls to each vendor, by answer (429: rate "
                                    "limited; no_answer: timed out or unreachable)",
                                    ("service", "account", "status"), registry=r)
        self.rate_remaining = Gauge("socialdesk_vendor_rate_remaining", "Calls left in a vendor's rate window, as "
                                    "its last answer said", ("service", "account", "bucket"), registry=r)
        self.rate_limit = Gauge("socialdesk_vendor_rate_limit", "Calls a vendor's rate window allows, as its last "
                                "answer said", ("service", "account", "bucket"), registry=r)

    def call_watcher(self, service: str, account: str) -> Callable[[Any], None]:
        """What counts one adapter's vendor calls (``adapters.http.CallSeen`` each)."""
        calls = {cls: self.vendor_calls.labels(service, account, cls)
                 for cls in ("2xx", "3xx", "4xx", "429", "5xx", "no_answer")}

        def seen(call: Any) -> None:
            calls.get(status_class(call.status), calls["4xx"]).inc()
            if call.window is not None:
                bucket, limit, remaining = call.window
                self.rate_limit.labels(service, account, bucket).set(limit)
                self.rate_remaining.labels(service, account, bucket).set(remaining)
        return seen

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class StateCollector:
    """Gauges read at each scrape: from the store (queues, oldest waiting, replies held,
    API allocations, OAuth access expiry, the month's network reads, the leases each
    replica holds) and from the routes (state and why). A store that cannot be read gives
    ``socialdesk_state_store_up 0`` and nothing else from it, never a failed scrape."""

    def __init__(self, store: Any, clock: Callable[[], float], routes: Mapping[str, Any],
                 read_budgets: Callable[[], Mapping[str, Any]], held: tuple[str, ...],
                 lease_ttl: float = LEASE_TTL) -> None:
        self.store, self.clock, self.routes = store, clock, routes
        self.read_budgets, self.held, self.lease_ttl = read_budgets, held, lease_ttl

    def describe(self) -> Iterable[Metric]:
        return []   # nothing is read at registration; names are checked at scrape

    def collect(self) -> Iterable[Metric]:
        yield from self._routes()
        up = GaugeMetricFamily("socialdesk_state_store_up", "Whether the state store could be read at this scrape")
        try:
            families = list(self._store(self.clock()))
        except sa.exc.SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _routes(self) -> Iterable[Metric]:
        state = GaugeMetricFamily("socialdesk_route_state", "1 for a route's current state (active, waiting, "
                                  "parked) with why (reason), 0 for the others", labels=("route", "state", "reason"))
        paused = GaugeMetricFamily("socialdesk_route_paused_seconds", "Seconds a side of the route still waits "
                                   "because a rate limit asked", labels=("route", "side"))
        now = self.clock()
        for name, route in list(self.routes.items()):
            health = route.health
            current, why = health.state, health.reason_class() or "none"
            for one in STATES:
                state.add_metric([name, one, why if one == current else "none"], 1 if one == current else 0)
            for side, until in dict(health.paused_until).items():
                paused.add_metric([name, side], max(0.0, until - now))
        yield state
        yield paused

    def _store(self, now: float) -> Iterable[Metric]:
        store = self.store
        yield from self._queues(store.counts(), store.oldest_waiting(self.held), now)
        yield from self._budgets(store.budgets())
        try:
            grants = store.grant_status()
        except SocialdeskError:     # the state key cannot be read: 'socialdesk status' says why
            grants = {}
        yield from self._grants(grants, now)
        yield from self._reads(store.reads())
        yield self._leases(sharing(store, now, self.lease_ttl)["replicas"])

    def _queues(self, counts: Mapping[str, Any], oldest: Mapping[str, Any], now: float) -> Iterable[Metric]:
        items = GaugeMetricFamily("socialdesk_queue_items", "Rows in each route's queues by state",
                                  labels=("route", "queue", "state"))
        age = GaugeMetricFamily("socialdesk_queue_oldest_waiting_seconds", "Age of the oldest row waiting in each "
                                "queue (0: none; replies kept for a lead or the customer are not counted)",
                                labels=("route", "queue"))
        linked = GaugeMetricFamily("socialdesk_conversations_linked", "Conversations linked to a ticket",
                                   labels=("route",))
        for route in sorted(set(counts) | set(self.routes)):
            c = counts.get(route, {})
            for queue in QUEUES:
                for state, n in sorted(c.get(queue, {}).items()):
                    items.add_metric([route, queue, state], n)
                since = oldest.get(route, {}).get(queue)
                age.add_metric([route, queue], max(0.0, now - since) if since is not None else 0.0)
            linked.add_metric([route], c.get("tickets", 0))
        return items, age, linked

    def _budgets(self, budgets: Mapping[str, Any]) -> Iterable[Metric]:
        used = GaugeMetricFamily("socialdesk_api_allocation_used", "A helpdesk org's daily API allocation used "
                                 "(all its integrations), as it last said", labels=("helpdesk",))
        limit = GaugeMetricFamily("socialdesk_api_allocation_limit", "A helpdesk org's daily API allocation",
                                  labels=("helpdesk",))
        ours = GaugeMetricFamily("socialdesk_api_calls_24h", "socialdesk's own calls to a metered helpdesk in the "
                                 "last 24 hours", labels=("helpdesk",))
        for name, report in sorted(budgets.items()):
            usage = report.get("org_usage")
            if isinstance(usage, (list, tuple)) and len(usage) == 2:
                used.add_metric([name], usage[0])
                limit.add_metric([name], usage[1])
            if isinstance(report.get("socialdesk_calls_24h"), (int, float)):
                ours.add_metric([name], report["socialdesk_calls_24h"])
        return used, limit, ours

    def _grants(self, grants: Mapping[str, Any], now: float) -> Iterable[Metric]:
        expiry = GaugeMetricFamily("socialdesk_oauth_access_expires_in_seconds", "Seconds until the stored OAuth "
                                   "access token expires (renewed before; negative: expired)", labels=("account",))
        refused = GaugeMetricFamily("socialdesk_oauth_grant_refused", "1 when the vendor refused the stored grant: "
                                    "run 'socialdesk connect' for it", labels=("account",))
        for name, grant in sorted(grants.items()):
            if grant.get("access_expires_at") is not None:
                expiry.add_metric([name], float(grant["access_expires_at"]) - now)
            refused.add_metric([name], 1 if grant.get("refused") else 0)
        return expiry, refused

    def _leases(self, replicas: Mapping[str, Mapping[str, Any]]) -> Metric:
        held = GaugeMetricFamily("socialdesk_leases_held", "Leases each live replica sharing the state holds (its "
                                 "share of the one-at-a-time work: pollers, replies readers, watches)",
                                 labels=("replica",))
        for replica, seen in sorted(replicas.items()):
            if seen["live"]:
                held.add_metric([replica], seen["leases"])
        return held

    def _reads(self, reads: Mapping[str, Mapping[str, int]]) -> Iterable[Metric]:
        done = GaugeMetricFamily("socialdesk_network_reads_month", "Items the network's reads returned this UTC "
                                 "month (X bills each)", labels=("route", "kind"))
        budget = GaugeMetricFamily("socialdesk_network_read_budget_month", "The route's monthly read budget",
                                   labels=("route", "kind"))
        budgets = self.read_budgets()
        for route in sorted(set(reads) | set(budgets)):
            for kind in READ_KINDS:
                done.add_metric([route, kind], reads.get(route, {}).get(kind, 0))
                allowed = budgets[route].for_kind(kind) if route in budgets else None
                if allowed is not None:
                    budget.add_metric([route, kind], allowed)
        return done, budget
