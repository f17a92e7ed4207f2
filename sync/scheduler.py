"""The daemon's clockwork: APScheduler jobs that drive every route's parts.

Per route: a poll job per stream (ticking at the network's fastest allowed pace; the route
decides whether a read is due), a work job (the inbox), an outbox job (answers posted), the
agent-reply export, the viral and spike watches, and the re-check of a route that waits
(refused credentials, a service down: sync/health.py). Daemon-wide: webhook hints, the
API budget record, the webhook setup, and the lease keeper. A job never lets an error stop
the scheduler.

Replicas sharing one store run the same jobs; the one-at-a-time ones run under a lease
(sync/keeper.py) and return at once on a replica that does not hold it: each stream's
poller (``poll:<route>:<stream>``), the replies reader (``replies:<route>``), the watches
(``watch:<route>``), the budget record (``daemon:budgets``) and the webhook setup
(``webhooks:<helpdesk>``). Hints run on every replica; row work every second on the
replica holding one of the route's leases, and as a slower sweep on the others. Which of a
route's jobs run follows the leases held (``FollowLeases``): the others are paused, and a
lease taken runs its job at once. Row work asks the store only for the routes that have
rows to work (``RowsDue``: one read a queue for every route, once a second).

Reads (pollers, replies readers, watches) and outboxes have threads of their own, apart from
the inbox work: a backlog being written never keeps a route's new posts or its agents'
answers from being read, nor an answer from being posted (a poll waited 11 s, an answer
9 s, behind other routes' inbox work). Webhook hints run with the outboxes (a hinted answer
waited 4 s behind a backlog's writes). The keeper has a thread of its own too, so long
jobs never hold back a renewal.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from adapters.base import SocialdeskError
from sync.keeper import (
    BUDGETS_LEASE, LeaseKeeper, poll_lease, renew_every, replies_lease, route_leases, watch_lease,
)
from sync.mirror.reader import export_interval
from sync.route import Route
from sync.store import StaleLease, fenced

if TYPE_CHECKING:
    from sync.daemon import Daemon

log = logging.getLogger("socialdesk.daemon")

WORK_EVERY = 1.0          # seconds between two rounds of inbox and outbox work
SWEEP_EVERY = 15.0        # the same on a replica holding none of the route's leases
SWEEP_JITTER = 0.1        # the part of SWEEP_EVERY a sweep may come early by and still run
WORK_SLICE = 2.0          # the longest one run of a route's row work goes on before the next route's turn
REPLIES_EVERY = 30.0      # the agent-reply export, unless the mapping says otherwise
VIRAL_EVERY = 30.0        # the viral watch paces itself (refresh interval, API budget)
SPIKE_EVERY = 60.0
HINTS_EVERY = 0.5
BUDGETS_EVERY = 60.0
RECHECK_EVERY = 5.0       # how often a waiting route asks whether its re-check is due
WORKERS = 4               # threads for the routes' row work (measured: 16 for 60 routes ran no faster on 2 cores)
READERS = 2               # threads for the routes' reads: pollers, replies readers, watches
POSTERS = 2               # threads for the routes' outboxes: agents' answers posted to the networks


class _QuietSkips(logging.Filter):
    """A tick skipped because the job's last run is still going is the intended coalescing,
    not news: APScheduler says it at WARNING, thousands of times an hour on a busy replica."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_SKIPS = _QuietSkips()


def quiet_skips() -> None:
    """APScheduler's 'skipped: maximum number of running instances' warnings dropped (once)."""
    apscheduler_log = logging.getLogger("apscheduler.scheduler")
    if _SKIPS not in apscheduler_log.filters:
        apscheduler_log.addFilter(_SKIPS)


def schedule(daemon: "Daemon") -> BackgroundScheduler:
    """Every route's jobs and the daemon's own, started; polling is the webhooks' safety net."""
    keeper = daemon.keeper
    quiet_skips()
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(WORKERS),
                                               "reads": ThreadPoolExecutor(READERS),
                                               "outbox": ThreadPoolExecutor(POSTERS),
                                               "leases": ThreadPoolExecutor(1)},
                                    job_defaults={"coalesce": True, "max_instances": 1,
                                                  "misfire_grace_time": 30})
    follow = FollowLeases(scheduler)
    rows = RowsDue(daemon.store)
    for route_cfg in daemon.config.routes:
        route = daemon.routes[route_cfg.name]
        for stream in route.settings.streams:
            every = max(poll_interval(route_cfg.poll, stream), route.network.min_poll_interval)
            # Ticks at the network's fastest allowed pace; the route decides whether
            # the configured interval or the observed arrival rate calls for a read.
            poll = leased(keeper, poll_lease(route.name, stream), poller(route, stream, every, rows))
            scheduler.add_job(guarded(route, poll), "interval", seconds=route.network.min_poll_interval,
                              id=f"{route.name}:poll:{stream}", next_run_time=_now(), executor="reads")
            follow.job(f"{route.name}:poll:{stream}", [poll_lease(route.name, stream)])
        leases = route_leases(route.name, route.settings.streams)
        work = guarded(route, worker(route, keeper, leases, daemon.clock, steps=partial(inbox_round, route),
                                     due=partial(rows.due, route.name, ("inbox", "pushes"))))
        scheduler.add_job(work, "interval", seconds=WORK_EVERY, id=f"{route.name}:work", next_run_time=_now())
        post = guarded(route, worker(route, keeper, leases, daemon.clock, steps=route.drain_outbox,
                                     due=partial(rows.due, route.name, ("outbox",))))
        scheduler.add_job(post, "interval", seconds=WORK_EVERY, id=f"{route.name}:outbox", next_run_time=_now(),
                          executor="outbox")
        follow.job(f"{route.name}:work", leases, sweep=work)
        follow.job(f"{route.name}:outbox", leases, sweep=post)
        scheduler.add_job(guarded(route, leased(keeper, replies_lease(route.name), replies_reader(route, rows))),
                          "interval",
                          seconds=export_interval(route.helpdesk, route_cfg.poll.replies or REPLIES_EVERY),
                          id=f"{route.name}:replies", next_run_time=_now(), executor="reads")
        follow.job(f"{route.name}:replies", [replies_lease(route.name)])
        scheduler.add_job(guarded(route, leased(keeper, watch_lease(route.name), route.viral_watch)), "interval",
                          seconds=VIRAL_EVERY, id=f"{route.name}:viral", executor="reads")
        scheduler.add_job(guarded(route, leased(keeper, watch_lease(route.name), route.spike_watch)), "interval",
                          seconds=SPIKE_EVERY, id=f"{route.name}:spike", executor="reads")
        # A waiting route's re-check (it knows when the next is due; nothing to do otherwise).
        scheduler.add_job(rechecker(route), "interval", seconds=RECHECK_EVERY, id=f"{route.name}:recheck")
    # A hint is an agent's answer to read and post: it goes with the outboxes, never behind inbox work.
    scheduler.add_job(daemon.drain_hints, "interval", seconds=HINTS_EVERY, id="hints", executor="outbox")
    scheduler.add_job(leased(keeper, BUDGETS_LEASE, daemon.record_budgets), "interval", seconds=BUDGETS_EVERY,
                      id="budgets")
    every = renew_every(keeper.ttl, daemon.store.shared)
    scheduler.add_job(daemon.keep_push_setup, "interval", seconds=every, id="push-setup")
    scheduler.add_job(keeper.tick, "interval", seconds=every, id="leases", executor="leases")
    scheduler.add_job(follow.sweep, "interval", seconds=SWEEP_EVERY, id="sweep")
    keeper.on_held(follow)
    keeper.tick()   # this replica's first share, before any job runs
    scheduler.start()
    return scheduler


class RowsDue:
    """Which routes have rows to work, read from the store for every route at once (one
    read a queue) at most once a ``WORK_EVERY``, instead of each route's jobs asking the
    store every second (60 idle routes cost a replica a third of a core doing that). A route
    whose poller or replies reader has just queued rows here is due at once (``mark``)."""

    def __init__(self, store: Any, every: float = WORK_EVERY,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.every, self.monotonic = store, every, monotonic
        self._read_at = float("-inf")
        self._due: dict[str, set[str]] = {}
        self._marked: dict[tuple[str, str], float] = {}   # (queue, route) -> when marked
        self._lock = threading.Lock()

    def mark(self, route: str, queue: str) -> None:
        with self._lock:
            self._marked[(queue, route)] = self.monotonic()

    def due(self, route: str, queues: tuple[str, ...]) -> bool:
        with self._lock:
            now = self.monotonic()
            if now - self._read_at >= self.every:
                try:
                    self._due = self.store.routes_with_work()
                except Exception:  # the jobs meet the store's error themselves: let them run and say it
                    return True
                self._read_at = now
                # What was marked before this read is in it now (the rows were committed first).
                self._marked = {key: at for key, at in self._marked.items() if at >= now}
            return any(route in self._due.get(queue, ()) or (queue, route) in self._marked for queue in queues)


class FollowLeases:
    """Which of a route's jobs run on this replica, kept in step with the leases it holds
    (``LeaseKeeper.on_held``, after every tick): a leased job (a stream's poller, a replies
    reader) runs while its lease is held, and at once when it is taken (an X poller ticks
    every 15 s, a Meta one every minute: a taken-over route waited that long to be read);
    a route's row jobs run every second while any of the route's leases is held. The
    others are paused, and ``sweep`` works their rows every ``SWEEP_EVERY`` seconds (rows a
    webhook delivered here; rows left while the route changes hands): a replica's idle
    routes cost it a job every 15 s, not two a second each."""

    def __init__(self, scheduler: BackgroundScheduler) -> None:
        self.scheduler = scheduler
        self.leases: dict[str, tuple[str, ...]] = {}   # job id -> the leases any of which runs it
        self.sweeps: dict[str, Callable[[], None]] = {}   # row job id -> its run
        self.running: dict[str, bool] = {}
        self._lock = threading.Lock()

    def job(self, job_id: str, leases: list[str], sweep: Callable[[], None] | None = None) -> None:
        self.leases[job_id] = tuple(leases)
        if sweep is not None:
            self.sweeps[job_id] = sweep

    def __call__(self, held: set[str]) -> None:
        now = _now()
        with self._lock:
            for job_id, leases in self.leases.items():
                run = any(lease in held for lease in leases)
                if self.running.get(job_id) == run:
                    continue
                self.running[job_id] = run
                if run:
                    self.scheduler.modify_job(job_id, next_run_time=now)
                else:
                    self.scheduler.pause_job(job_id)

    def sweep(self) -> None:
        """One run of each paused row job (its worker sweeps: rows only this replica may see)."""
        with self._lock:
            paused = [job_id for job_id in self.sweeps if not self.running.get(job_id, True)]
        for job_id in paused:
            self.sweeps[job_id]()


def poll_interval(poll: Any, stream: str) -> float:
    """The mapping's interval for ``stream`` (0: as fast as the network allows)."""
    return {"mentions": poll.mentions, "dms": poll.dms, "search": poll.search}.get(stream) or 0.0


def poller(route: Route, stream: str, every: float, rows: RowsDue | None = None) -> Callable[[], None]:
    def poll() -> None:
        if route.poll_due(stream, every) and route.poll(stream) and rows is not None:
            rows.mark(route.name, "inbox")
    return poll


def replies_reader(route: Route, rows: RowsDue) -> Callable[[], None]:
    def read() -> None:
        if route.poll_replies():
            rows.mark(route.name, "outbox")
    return read


def inbox_round(route: Route) -> int:
    """One round of a route's inbox work: pushed deliveries join the inbox, then a batch of it."""
    return route.read_pushes() + route.process_inbox()


def worker(route: Route, keeper: LeaseKeeper, leases: list[str], clock: Callable[[], float],
           sweep_every: float = SWEEP_EVERY, work_slice: float = WORK_SLICE,
           monotonic: Callable[[], float] = time.monotonic,
           steps: Callable[[], int] | None = None, due: Callable[[], bool] | None = None) -> Callable[[], None]:
    """The route's row work (``steps``, one round: rows done; by default its inbox and its
    outbox in turn): every tick on the replica holding one of the route's leases (where
    its poller and replies reader write their rows), every ``sweep_every`` seconds
    elsewhere (rows a webhook delivered here; rows left while the route changes hands).
    A run ends after ``work_slice`` seconds of rounds, its backlog left for the next tick,
    so a route with a big backlog never keeps the other routes' work waiting for a thread.

    ``due`` (``RowsDue``) says whether the route has rows to work at all: without, a run
    returns before asking the store.

    The scheduler runs a route's inbox and its outbox as two jobs on threads of their own:
    an answer waits for no route's backlog of posts (one waited 9 s behind the other routes'
    inbox work on one replica)."""
    last_sweep = [float("-inf")]
    round_of_work = steps if steps is not None else (lambda: inbox_round(route) + route.drain_outbox())
    busy = threading.Lock()   # its job and the replica's sweep never run it at once

    def work() -> None:
        if due is not None and not due():
            return
        if not keeper.holds_any(leases):
            now = clock()
            if now - last_sweep[0] < sweep_every * (1 - SWEEP_JITTER):
                return
            last_sweep[0] = now
        if not busy.acquire(blocking=False):
            return
        try:
            until = monotonic() + work_slice
            while round_of_work():
                if monotonic() >= until:
                    return
        finally:
            busy.release()
    return work


def leased(keeper: LeaseKeeper, name: str, job: Callable[[], Any]) -> Callable[[], None]:
    """``job`` runs only while this replica holds lease ``name``, its writes fenced with it."""
    keeper.want(name)

    def run() -> None:
        fence = keeper.fence(name)
        if fence is None:
            return
        with fenced(fence):
            job()
    return run


def rechecker(route: Route) -> Callable[[], None]:
    def recheck() -> None:
        try:
            route.recheck()
        except Exception:  # a bug must not stop the scheduler; it is logged with its trace
            log.exception("route %s: unexpected error re-checking", route.name)
    return recheck


def guarded(route: Route, job: Callable[[], Any]) -> Callable[[], None]:
    """A parked route's jobs do nothing (a waiting route's parts stop themselves where they
    need the side it waits on); an error the parts let through is logged, never fatal."""
    def run() -> None:
        if route.parked is not None:
            return
        try:
            job()
        except StaleLease as err:   # another replica took the work over mid-job
            log.info("route %s: %s", route.name, err)
        except SocialdeskError as err:
            log.warning("route %s: %s", route.name, err)
        except Exception:  # a bug must not stop the scheduler; it is logged with its trace
            log.exception("route %s: unexpected error", route.name)
    return run


def _now() -> datetime:
    return datetime.now(timezone.utc)
