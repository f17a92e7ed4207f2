"""socialdesk's side of Zendesk's Channel Framework, for every helpdesk entry in that mode.

One deployment serves many Zendesk accounts. Each integration instance an admin adds is a
tenant: Zendesk gives it a push token, socialdesk gives Zendesk its metadata - a token
sealed with the state key that names the tenant and nothing else - and every later call
Zendesk makes (pull, channelback, health check) carries it back. A request is answered
only with its own tenant's threads; a forged, deleted or replaced tenant's metadata is
refused. Anyone can post to the admin UI, so the instance it starts stays pending (its
metadata opens nothing) until Zendesk confirms, through its ``validate_token`` endpoint,
that the push token posted with it is that account's own: Zendesk makes the instance only
once the admin saves, so the check is made on the instance's first use or on Zendesk's
event that it was made.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Mapping

from adapters.base import AuthFailed, FatalError, NotFound, Secret, SocialdeskError
from sync.channel.ledger import ChannelLedger
from sync.channel.pacing import DEFAULT_WAIT
from sync.channel.ports import HostsChannel
from sync.channel.push import Pusher
from sync.channel.replies import Refused, Replies
from sync.store import Store
from sync.store.tenants import TenantRow
from sync.web import TokenBucket

log = logging.getLogger("socialdesk.channel")

# Zendesk pulls about every 2 minutes; a tenant pulling far more often is answered 429.
PULL_RATE, PULL_BURST = 1 / 10.0, 12.0
# Resources made in the last second wait for the next pull (see ``Tenants.pullable``).
PULL_SETTLE = 1.0
# Resource events that say a resource made a new ticket (event_callback_resources_created...).
NEW_TICKET_EVENTS = ("comment_on_new_ticket", "comment_on_follow_up_ticket")


class ChannelService:
    """Tenants, the ledger of threads, the pusher and the channelbacks, for one daemon."""

    def __init__(self, store: Store, clock: Callable[[], float], desks: Mapping[str, Any],
                 routes: Mapping[str, list[str]], route_of: Callable[[str], Any],
                 identity: Mapping[str, str], push_wait: float = DEFAULT_WAIT) -> None:
        self.store, self.clock = store, clock
        self.desks = {name: desk for name, desk in desks.items() if isinstance(desk, HostsChannel)}
        self.routes = {name: list(routes.get(name, ())) for name in self.desks}
        self.route_of = route_of
        self.identity = dict(identity)     # name, id, version, author, push_client_id
        self.pusher = Pusher(store, self.desks.get, clock, wait=push_wait)
        self.ledger = ChannelLedger(store, lambda h: self.routes.get(h, []), self.desks.__getitem__,
                                    self._composer, self.pusher.wake)
        self.replies = Replies(store, route_of, self.desks.get, clock)
        self.pull_budget = TokenBucket(rate=PULL_RATE, burst=PULL_BURST)
        # The admin UI makes a pending instance per visit: a handful a minute per account.
        self.admin_budget = TokenBucket(rate=1 / 6.0, burst=10.0)
        for desk in self.desks.values():
            desk.use_ledger(self.ledger)

    def _composer(self, route: str) -> Any:
        running = self.route_of(route)
        return getattr(running, "composer", None)

    def desk(self, helpdesk: str) -> Any:
        return self.desks[helpdesk]

    def any_desk(self) -> Any:
        """A channel adapter, for the framework's wire (the same for every account)."""
        return next(iter(self.desks.values()))

    # ------------------------------------------------------------------ metadata

    def metadata(self, tenant_id: str, helpdesk: str) -> str:
        """What Zendesk keeps for the instance: sealed, it names the tenant and its account."""
        return self.store.sealer.seal({"tenant": tenant_id, "helpdesk": helpdesk})

    def tenant_for(self, metadata: str | None, *, activate: bool = True) -> TenantRow:
        """The tenant ``metadata`` names; Refused (401) when it is not ours, or names an
        instance deleted or replaced since."""
        if not metadata:
            raise Refused(401, "metadata is required")
        try:
            opened = self.store.sealer.open(metadata, "channel metadata")
        except (FatalError, ValueError, TypeError):
            raise Refused(401, "the metadata is not one this socialdesk issued") from None
        tenant = self.store.tenant(str(opened.get("tenant", "")))
        if tenant is None or tenant.helpdesk != opened.get("helpdesk") or tenant.helpdesk not in self.desks:
            raise Refused(401, "the metadata names no account of this socialdesk")
        if tenant.state in ("replaced", "destroyed"):
            what = "replaced by a newer one" if tenant.state == "replaced" else "deleted"
            raise Refused(401, f"this integration account was {what} in Zendesk")
        if activate and tenant.state == "pending":
            tenant = self.confirm(tenant)
        return tenant

    def confirm(self, tenant: TenantRow) -> TenantRow:
        """A pending instance becomes its account's active one once Zendesk confirms its push
        token; Refused while it does not."""
        desk = self.desks[tenant.helpdesk]
        if tenant.sealed_token is None:
            raise Refused(401, "this integration account has no access token from Zendesk")
        token = Secret(str(self.store.sealer.open(tenant.sealed_token, f"channel tenant {tenant.id}")["token"]),
                       "zendesk_access_token")
        try:
            desk.validate_push(tenant.instance_push_id, token)
        except (AuthFailed, NotFound):
            raise Refused(401, "Zendesk does not confirm this integration account's access token") from None
        except SocialdeskError as err:
            raise Refused(503, f"Zendesk could not confirm the account now ({type(err).__name__}); try again shortly",
                          retry_after=30.0) from None
        if not self.store.activate_tenant(tenant.id):
            raise Refused(401, "this integration account was deleted or replaced in Zendesk")
        log.info("helpdesk %s: Channel Framework account %s is active (tenant %s)", tenant.helpdesk, tenant.name,
                 tenant.id)
        return self.store.tenant(tenant.id) or tenant

    # ------------------------------------------------------------------ admin UI

    def helpdesk_of_subdomain(self, subdomain: str) -> str | None:
        for name, desk in self.desks.items():
            try:
                if desk.subdomain() == subdomain:
                    return name
            except SocialdeskError as err:
                log.warning("helpdesk %s: its subdomain could not be read: %s", name, err)
        return None

    def admin(self, request: Any) -> tuple[str, str, str]:
        """An admin adds (or edits) an account: (tenant id, metadata, helpdesk). Refused
        when the account is not one this socialdesk serves, the return URL is not on it,
        or Zendesk does not confirm the push token."""
        helpdesk = self.helpdesk_of_subdomain(request.subdomain)
        if helpdesk is None:
            raise Refused(404, f"this socialdesk serves no Zendesk account {request.subdomain!r}: ask its operator "
                               "to add it to the mapping with mode: channel")
        desk = self.desks[helpdesk]
        if not desk.owns_url(request.return_url):
            raise Refused(400, "return_url is not on the Zendesk account")
        wait = self.admin_budget.take(helpdesk, self.clock())
        if wait > 0:
            raise Refused(429, "too many accounts are being added; try again in a minute", retry_after=wait)
        sealed = None
        if request.push_token is not None and request.instance_push_id:
            sealed = self.store.sealer.seal({"token": request.push_token.reveal()})
        if request.metadata:
            # An edit: Zendesk has the instance, so a new token is confirmed before it is kept.
            tenant = self.tenant_for(request.metadata)
            if tenant.helpdesk != helpdesk:
                raise Refused(401, "the metadata belongs to another account")
            if sealed is not None and request.push_token is not None and request.instance_push_id:
                try:
                    desk.validate_push(request.instance_push_id, request.push_token)
                except SocialdeskError:
                    raise Refused(401, "Zendesk does not confirm the access token it posted") from None
                self.store.update_tenant(tenant.id, push_token=sealed, instance_push_id=request.instance_push_id)
            return tenant.id, request.metadata, helpdesk
        if sealed is None:
            raise Refused(401, "Zendesk posted no access token: socialdesk's manifest names a push_client_id, so "
                               "Zendesk sends one with every account it adds")
        tenant_id = self.store.create_tenant(helpdesk, request.subdomain, request.name or self.default_name(helpdesk),
                                             request.instance_push_id, sealed, request.locale)
        log.info("helpdesk %s: an admin of %s is adding a Channel Framework account (tenant %s)", helpdesk,
                 request.subdomain, tenant_id)
        return tenant_id, self.metadata(tenant_id, helpdesk), helpdesk

    def covered(self, helpdesk: str) -> list[tuple[str, str]]:
        """(route, network kind) of each route an account of ``helpdesk`` receives."""
        out = []
        for name in self.routes.get(helpdesk, []):
            route = self.route_of(name)
            out.append((name, route.network.kind if route is not None else "?"))
        return out

    def default_name(self, helpdesk: str) -> str:
        kinds = sorted({kind for _, kind in self.covered(helpdesk)})
        return f"socialdesk ({', '.join(kinds)})" if kinds else "socialdesk"

    # ------------------------------------------------------------------ pull

    def pull(self, metadata: str, state: str | None) -> dict[str, Any]:
        """New resources of the tenant's account since ``state``, and the state past them."""
        tenant = self.tenant_for(metadata)
        wait = self.pull_budget.take(tenant.id, self.clock())
        if wait > 0:
            raise Refused(429, "pulls of this account come too often", retry_after=wait)
        after = 0
        if state:
            try:
                after = int(json.loads(state).get("after", 0))
            except (ValueError, TypeError, AttributeError):
                log.warning("channel tenant %s: a pull's state %r is not socialdesk's; pulling from the start",
                            tenant.id, state[:40])
        desk = self.desks[tenant.helpdesk]
        settle = PULL_SETTLE if self.store.shared else 0.0   # one SQLite writer commits in order
        rows, cursor = self.store.pullable(tenant.helpdesk, after, desk.max_resources, self.clock() - settle)
        self.store.mark_pulled([r.seq for r in rows])
        new_state = json.dumps({"after": cursor})
        self.store.update_tenant(tenant.id, pull_state=new_state)
        self.store.count_tenant(tenant.id, pulls=1)
        self.pusher.pulled(tenant.id)
        return desk.pull_payload([r.resource for r in rows], new_state)

    # ------------------------------------------------------------------ channelback

    def channelback(self, request: Any) -> dict[str, Any]:
        tenant = self.tenant_for(request.metadata)
        external_id = self.replies.post(tenant, request.message, request.thread_id, request.parent_id,
                                        request.request_key)
        return self.desks[tenant.helpdesk].channelback_payload(external_id)

    # ------------------------------------------------------------------ clickthrough, health

    def clickthrough(self, external_id: str) -> str:
        """Where an agent's click on a comment goes: the post on the network. Zendesk sends
        nothing but the external id: only a public post's own address is given out."""
        row = self.store.channel_resource(None, external_id)
        if row is not None:
            if row.dm:
                raise Refused(404, "a direct message has no public page: read it in the ticket")
            url = row.post_url
        else:
            ours = self.store.channelback_by_external_id(external_id)
            url = ours.posted[0].get("url") if ours is not None and ours.posted and ":dm:" not in external_id else None
        if not url or not url.startswith(("https://", "http://")):
            raise Refused(404, "socialdesk has no public page for this comment")
        return url

    def health(self, metadata: str | None) -> tuple[int, dict[str, Any]]:
        """The service (no metadata), or one tenant's routes."""
        if not metadata:
            return 200, {"status": "ok"}
        tenant = self.tenant_for(metadata, activate=False)
        states = {}
        for name in self.routes.get(tenant.helpdesk, []):
            route = self.route_of(name)
            states[name] = route.state if route is not None else "not running"
        working = any(s == "active" for s in states.values())
        return (200 if working else 503), {"status": "ok" if working else "degraded", "routes": states}

    # ------------------------------------------------------------------ event callbacks

    def events(self, events: list[Any]) -> int:
        """Apply what Zendesk reports; returns events taken. Only a tenant's own account's
        resources are touched: an event names its subdomain, each resource its account."""
        taken = 0
        for event in events:
            helpdesks = {t.helpdesk for t in self.store.tenants(states=("pending", "active"))
                         if t.subdomain == event.subdomain}
            if not helpdesks:
                log.debug("channel event %s for subdomain %s: no account of ours", event.type_id, event.subdomain)
                continue
            taken += 1
            self._event(event, helpdesks)
        if taken:
            self.pusher.wake()
        return taken

    def _event(self, event: Any, helpdesks: set[str]) -> None:
        data = event.data
        kind = event.type_id
        if kind in ("create_integration_instance", "activate_integration_instance", "destroy_integration_instance",
                    "deactivate_integration_instance"):
            try:
                tenant = self.tenant_for(str(data.get("metadata") or ""), activate=False)
            except Refused as err:
                log.info("channel event %s: %s", kind, err.message)
                return
            if tenant.helpdesk not in helpdesks:
                return
            if kind in ("create_integration_instance", "activate_integration_instance"):
                # Events are not signed: the instance is confirmed with Zendesk before it counts.
                try:
                    tenant = self.confirm(tenant) if tenant.state == "pending" else tenant
                except Refused as err:
                    log.warning("helpdesk %s: Zendesk reports account %s made, but %s", tenant.helpdesk, tenant.name,
                                err.message)
                    return
                self.store.update_tenant(tenant.id, push_blocked_until=0.0)
            elif kind == "destroy_integration_instance":
                self.store.destroy_tenant(tenant.id)
                log.warning("helpdesk %s: the Channel Framework account %s was deleted in Zendesk (tenant %s); its "
                            "metadata is refused from now on", tenant.helpdesk, tenant.name, tenant.id)
            else:
                why = data.get("deactivating_error") or data.get("deactivated_by") or "no reason given"
                self.store.update_tenant(tenant.id, push_blocked_until=self.clock() + 365 * 86400.0,
                                         last_error=f"deactivated in Zendesk: {why}"[:500])
                log.warning("helpdesk %s: Zendesk deactivated Channel Framework account %s: %s", tenant.helpdesk,
                            tenant.name, why)
        elif kind == "resources_created_from_external_ids":
            self._created([item for item in data.get("resource_events") or () if isinstance(item, Mapping)],
                          helpdesks)
        elif kind == "pull_request":
            self._created([{"type_id": "duplicate", **item} for item in data.get("duplicate_external_ids") or ()
                           if isinstance(item, Mapping) and item.get("ticket_id") is not None], helpdesks)
        elif kind == "channelback":
            log.warning("Zendesk (%s) reports a failed channelback for %s (request %s): %s", event.subdomain,
                        data.get("integration_instance_name"), data.get("request_id"), event.error or "no reason given")
            for tenant in self.store.tenants():
                if tenant.subdomain == event.subdomain and tenant.helpdesk in helpdesks:
                    self.store.update_tenant(tenant.id, last_error=f"channelback failed: {event.error}"[:500])
        else:
            log.info("Zendesk (%s) reports %s%s", event.subdomain, kind, f": {event.error}" if event.error else "")

    def _created(self, items: list[Mapping[str, Any]], helpdesks: set[str]) -> None:
        """Resources became comments: their threads' tickets are known, and a resource that
        made a ticket gets its settings after creation. Only resources socialdesk handed to
        Zendesk count (pushed, pulled, or in a push under way: Zendesk's event can come
        before the push's answer), and a ticket once said is never replaced by another
        event. One read and one write for the whole event."""
        for helpdesk in helpdesks:
            rows = self.store.resources_by_id(helpdesk, [str(i.get("external_id") or "") for i in items])
            threads: list[tuple[str, str]] = []
            made: list[tuple[int, str]] = []
            for item in items:
                row = rows.get(str(item.get("external_id") or ""))
                if row is None or (row.pushed_at is None and row.pulled_at is None
                                   and not self.pusher.in_flight(row.external_id)):
                    continue
                kind = item.get("type_id")
                ticket = item.get("follow_up_ticket_id") if kind == "comment_on_follow_up_ticket" else item.get(
                    "ticket_id")
                if ticket is None or not str(ticket).isdigit():
                    continue
                threads.append((row.thread_ref, str(ticket)))
                if kind in NEW_TICKET_EVENTS:
                    made.append((row.seq, str(ticket)))
            self.store.tickets_made(threads, made)

    # ------------------------------------------------------------------ the manifest

    def manifest(self, public_url: str) -> dict[str, Any]:
        base = public_url.rstrip("/") + "/channel"
        urls = {"admin_ui": f"{base}/admin", "pull_url": f"{base}/pull", "channelback_url": f"{base}/channelback",
                "clickthrough_url": f"{base}/clickthrough", "healthcheck_url": f"{base}/healthcheck",
                "event_callback_url": f"{base}/events"}
        # One integration per deployment: its address names it (Zendesk asks for a unique URI).
        return self.any_desk().manifest(name=self.identity["name"], integration_id=self.identity.get("id") or base,
                                        version=self.identity["version"], author=self.identity["author"],
                                        urls=urls, push_client_id=self.identity.get("push_client_id"))

    def start(self) -> "ChannelService":
        self.pusher.start()
        return self

    def stop(self) -> None:
        self.pusher.stop()


__all__ = ["ChannelService", "Refused"]
