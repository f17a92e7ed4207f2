"""Pushing resources to Zendesk as they come, and setting what the framework could not.

Each tenant's new resources go out in batches of up to 256 (the push API's cap), oldest
first, so a thread's first resource always goes before its later ones; what a push could
not deliver waits for the next round or for Zendesk's own pull. A tenant's throttle or a
refused token holds that tenant's pushes only. Once Zendesk says which ticket a resource
made, the settings the framework cannot set at creation are set through REST.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, Callable

from adapters.base import AuthFailed, FatalError, RateLimited, RetriableError, Secret, SkippableError, SocialdeskError
from sync.store import Store
from sync.store.tenants import TenantRow

log = logging.getLogger("socialdesk.channel")

# How long a tenant's pushes rest after a refused token, and after a passing fault.
AUTH_PAUSE = 600.0
FAULT_PAUSE = 30.0
# A resource Zendesk would not import after this many pushes is left to its pulls.
MAX_PUSHES = 5


class Pusher:
    """One round pushes every active tenant's new resources; ``start`` runs rounds in a
    thread, woken as resources come (a short linger gathers a batch)."""

    def __init__(self, store: Store, desk_of: Callable[[str], Any], clock: Callable[[], float],
                 interval: float = 2.0, linger: float = 0.25) -> None:
        self.store, self.desk_of, self.clock = store, desk_of, clock
        self.interval, self.linger = interval, linger
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()   # one round at a time (the thread, a test, --once)

    # ------------------------------------------------------------------ the thread

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> "Pusher":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="socialdesk-channel-push", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(self.interval) and not self._stop.is_set():
                self._stop.wait(self.linger)   # resources a writer is still adding join this batch
            self._wake.clear()
            try:
                self.round()
            except Exception:  # a round's failure is logged; the next round tries again
                log.exception("channel push round failed")

    # ------------------------------------------------------------------ a round

    def round(self) -> int:
        """Push every active tenant's new resources, then set what is due after creation;
        returns resources Zendesk imported."""
        with self._lock:
            imported = 0
            for tenant in self.store.tenants(states=("active",)):
                imported += self.push_tenant(tenant)
            for helpdesk in {t.helpdesk for t in self.store.tenants(states=("active",))}:
                self.after_creation(helpdesk)
            return imported

    def push_tenant(self, tenant: TenantRow) -> int:
        now = self.clock()
        desk = self.desk_of(tenant.helpdesk)
        if desk is None or tenant.sealed_token is None or tenant.push_blocked_until > now:
            return 0
        imported = 0
        while True:
            rows = self.store.unpushed(tenant.helpdesk, desk.max_resources, MAX_PUSHES)
            if not rows:
                return imported
            token = Secret(str(self.store.sealer.open(tenant.sealed_token, f"channel tenant {tenant.id}")["token"]),
                           "zendesk_access_token")
            request_id = uuid.uuid4().hex
            try:
                results = desk.push(tenant.instance_push_id, token, [r.resource for r in rows], request_id)
            except RateLimited as err:
                self._pause(tenant, err.retry_after, f"pushes throttled by Zendesk: {err}")
                return imported
            except AuthFailed as err:
                self._pause(tenant, AUTH_PAUSE, f"Zendesk refused the push token ({err}); its pulls still bring "
                                               "the posts")
                log.warning("channel tenant %s (%s): Zendesk refused the push token; pushes rest %.0f s, Zendesk's "
                            "pulls still bring the posts", tenant.id, tenant.helpdesk, AUTH_PAUSE)
                return imported
            except SkippableError as err:
                # The batch was refused as a whole: counted against each resource, whose
                # Zendesk's pulls still offer.
                self.store.record_push(tenant.id, [(r.seq, f"refused: {err}", False) for r in rows])
                log.warning("channel tenant %s: Zendesk refused a push of %d resource(s): %s", tenant.id, len(rows), err)
                return imported
            except (RetriableError, FatalError) as err:
                self._pause(tenant, FAULT_PAUSE, f"push failed: {err}")
                return imported
            by_id = {r.external_id: r for r in rows}
            outcomes = [(by_id[x.external_id].seq, x.status, x.imported) for x in results if x.external_id in by_id]
            self.store.record_push(tenant.id, outcomes)
            done = sum(1 for _, _, ok in outcomes if ok)
            self.store.count_tenant(tenant.id, pushes=1, pushed=done)
            imported += done
            failed = [(seq, status) for seq, status, ok in outcomes if not ok]
            if failed:
                log.info("channel tenant %s: %d of %d pushed resource(s) not imported (%s); pushed again, and "
                         "offered to Zendesk's pulls", tenant.id, len(failed), len(rows),
                         ", ".join(sorted({s for _, s in failed})))
                return imported
            if len(rows) < desk.max_resources:
                return imported

    def _pause(self, tenant: TenantRow, seconds: float, why: str) -> None:
        self.store.update_tenant(tenant.id, push_blocked_until=self.clock() + seconds, last_error=why[:500])

    # ------------------------------------------------------------------ after creation

    def after_creation(self, helpdesk: str) -> int:
        """Set through REST, on each ticket Zendesk made, what its resource could not set."""
        desk = self.desk_of(helpdesk)
        done = 0
        for row in self.store.due_after_creation(helpdesk):
            try:
                assert row.ticket_id is not None and row.after_creation is not None
                settings = desk.set_after_creation(row.ticket_id, row.after_creation)
            except (RetriableError, AuthFailed) as err:
                log.info("helpdesk %s: ticket %s: settings after creation wait: %s", helpdesk, row.ticket_id, err)
                return done
            except SocialdeskError as err:
                self.store.applied(row.seq, error=f"{type(err).__name__}: {err}")
                log.warning("route %s: ticket %s: %s could not be set through the REST API: %s", row.route,
                            row.ticket_id, ", ".join(sorted(row.after_creation)), err)
                continue
            self.store.applied(row.seq)
            done += 1
            log.info("route %s: ticket %s: %s set through the REST API right after Zendesk made it (a Channel "
                     "Framework resource sets only the subject, priority, type, tags and custom fields)", row.route,
                     row.ticket_id, ", ".join(settings) or "nothing")
        return done
