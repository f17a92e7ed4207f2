"""Pushing resources to Zendesk in full batches, and setting what the framework could not.

Each tenant's waiting resources go out oldest first (a thread's first resource before its
later ones), up to 256 a push (the push API's cap), when ``PushRule`` says (pacing.py): at
once when a full push waits, else once the oldest has waited a few seconds, or left to
Zendesk's pull when one is due about then. What a push could not deliver rides along with
the next push or waits for Zendesk's pull. A tenant's throttle or a refused token holds
that tenant's pushes only. Once Zendesk says which ticket a resource made, the settings
the framework cannot set at creation are set through REST.

A push that reached Zendesk but was not recorded (the daemon stopped in between) is sent
again: Zendesk knows each resource's external id and answers ``already_imported``, which
is recorded as imported; no second ticket or comment is made.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, Callable

from adapters.base import AuthFailed, FatalError, RateLimited, RetriableError, Secret, SkippableError, SocialdeskError
from sync.channel.pacing import DEFAULT_WAIT, PushRule
from sync.checkpoints import checkpoint
from sync.store import Store
from sync.store.tenants import ResourceRow, TenantRow

log = logging.getLogger("socialdesk.channel")

# How long a tenant's pushes rest after a refused token, and after a passing fault.
AUTH_PAUSE = 600.0
FAULT_PAUSE = 30.0
# A resource Zendesk would not import after this many pushes is left to its pulls.
MAX_PUSHES = 5
# The thread looks again at least this often (new resources also wake it).
INTERVAL = 2.0


class Pusher:
    """One round pushes what is due of every active tenant's resources; ``start`` runs
    rounds in a thread, woken as resources come and when the next push falls due."""

    def __init__(self, store: Store, desk_of: Callable[[str], Any], clock: Callable[[], float],
                 interval: float = INTERVAL, wait: float = DEFAULT_WAIT) -> None:
        self.store, self.desk_of, self.clock = store, desk_of, clock
        self.interval = interval
        self.wait = wait                    # the default; an account's own ``push_wait`` wins
        self._pulls: dict[str, float] = {}  # tenant -> when Zendesk last pulled (seen here)
        self._sending: frozenset[str] = frozenset()   # external ids of the push under way
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()   # one round at a time (the thread, a test, --once)

    def rule(self, helpdesk: str) -> PushRule:
        desk = self.desk_of(helpdesk)
        wait = desk.push_wait if desk is not None else None
        full = int(desk.max_resources) if desk is not None else 256
        return PushRule(full=full, wait=self.wait if wait is None else float(wait))

    def in_flight(self, external_id: str) -> bool:
        """Whether a push under way (sent, its answer not yet recorded) carries ``external_id``."""
        return external_id in self._sending

    def pulled(self, tenant_id: str) -> None:
        """Zendesk pulled this tenant now: its next pull is expected about 2 minutes on."""
        self._pulls[tenant_id] = self.clock()

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
            delay = self.interval
            try:
                due = self._round(force=False)[1]
                if due is not None:
                    delay = min(delay, max(0.05, due - self.clock()))
            except Exception:  # a round's failure is logged; the next round tries again
                log.exception("channel push round failed")
            self._wake.wait(delay)
            self._wake.clear()
        try:   # stopping: Zendesk gets what waits now (its pulls stop being answered too)
            self._round(force=True)
        except Exception:
            log.exception("channel push on stop failed; the resources wait in the store for the next start")

    # ------------------------------------------------------------------ a round

    def round(self) -> int:
        """Push what is due of every active tenant's resources, then set what is due after
        creation; returns resources Zendesk imported."""
        return self._round(force=False)[0]

    def flush(self) -> int:
        """``round``, pushing everything waiting now, due or not."""
        return self._round(force=True)[0]

    def _round(self, force: bool) -> tuple[int, float | None]:
        """(resources imported, when the next push falls due: None when nothing waits)."""
        with self._lock:
            imported, due = 0, None
            tenants = self.store.tenants(states=("active",))
            for tenant in tenants:
                done, when = self.push_tenant(tenant, force)
                imported += done
                if when is not None:
                    due = when if due is None else min(due, when)
            for helpdesk in {t.helpdesk for t in tenants}:
                self.after_creation(helpdesk)
            return imported, due

    def due_at(self) -> float | None:
        """When the next push falls due (by the rule, for any active tenant); None when
        nothing waits. Reads only."""
        due: float | None = None
        for tenant in self.store.tenants(states=("active",)):
            desk = self.desk_of(tenant.helpdesk)
            if desk is None or tenant.sealed_token is None:
                continue
            rows = self.store.unpushed(tenant.helpdesk, desk.max_resources, MAX_PUSHES)
            when = self._due(tenant, rows)
            if when is not None and tenant.push_blocked_until > when:
                when = tenant.push_blocked_until
            if when is not None:
                due = when if due is None else min(due, when)
        return due

    def _due(self, tenant: TenantRow, rows: list[ResourceRow]) -> float | None:
        fresh = [r.created_at for r in rows if r.push_status is None]
        return self.rule(tenant.helpdesk).due(len(rows), min(fresh) if fresh else None, self.clock(),
                                              self._pulls.get(tenant.id))

    def push_tenant(self, tenant: TenantRow, force: bool = False) -> tuple[int, float | None]:
        """Push the tenant's due resources; (imported, when its next push falls due)."""
        now = self.clock()
        desk = self.desk_of(tenant.helpdesk)
        if desk is None or tenant.sealed_token is None:
            return 0, None
        if tenant.push_blocked_until > now:
            return 0, tenant.push_blocked_until
        imported = 0
        while True:
            rows = self.store.unpushed(tenant.helpdesk, desk.max_resources, MAX_PUSHES)
            if not rows:
                return imported, None
            if not force:
                due = self._due(tenant, rows)
                if due is None or due > self.clock():
                    return imported, due
            done, more = self._push(tenant, desk, rows)
            imported += done
            if not more:
                return imported, None

    def _push(self, tenant: TenantRow, desk: Any, rows: list[ResourceRow]) -> tuple[int, bool]:
        """One push of ``rows``; (resources imported, whether to look for more now)."""
        token = Secret(str(self.store.sealer.open(tenant.sealed_token, f"channel tenant {tenant.id}")["token"]),
                       "zendesk_access_token")
        self._sending = frozenset(r.external_id for r in rows)
        try:
            return self._send(tenant, desk, rows, token)
        finally:
            self._sending = frozenset()

    def _send(self, tenant: TenantRow, desk: Any, rows: list[ResourceRow], token: Secret) -> tuple[int, bool]:
        try:
            results = desk.push(tenant.instance_push_id, token, [r.resource for r in rows], uuid.uuid4().hex)
        except RateLimited as err:
            self._pause(tenant, err.retry_after, f"pushes throttled by Zendesk: {err}")
            return 0, False
        except AuthFailed as err:
            self._pause(tenant, AUTH_PAUSE, f"Zendesk refused the push token ({err}); its pulls still bring "
                                           "the posts")
            log.warning("channel tenant %s (%s): Zendesk refused the push token; pushes rest %.0f s, Zendesk's "
                        "pulls still bring the posts", tenant.id, tenant.helpdesk, AUTH_PAUSE)
            return 0, False
        except SkippableError as err:
            # The batch was refused as a whole: counted against each resource, whose
            # Zendesk's pulls still offer.
            self.store.record_push(tenant.id, [(r.seq, f"refused: {err}", False) for r in rows])
            log.warning("channel tenant %s: Zendesk refused a push of %d resource(s): %s", tenant.id, len(rows), err)
            return 0, False
        except (RetriableError, FatalError) as err:
            self._pause(tenant, FAULT_PAUSE, f"push failed: {err}")
            return 0, False
        checkpoint("channel.after_push")   # Zendesk has them; a stop here pushes them again (already_imported)
        by_id = {r.external_id: r for r in rows}
        outcomes = [(by_id[x.external_id].seq, x.status, x.imported) for x in results if x.external_id in by_id]
        self.store.record_push(tenant.id, outcomes, counted=True)
        failed = [status for _, status, ok in outcomes if not ok]
        if failed:
            log.info("channel tenant %s: %d of %d pushed resource(s) not imported (%s); they go with the next "
                     "push, and are offered to Zendesk's pulls", tenant.id, len(failed), len(rows),
                     ", ".join(sorted(set(failed))))
        return len(outcomes) - len(failed), not failed and len(rows) >= desk.max_resources

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
