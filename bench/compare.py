#!/usr/bin/env python
"""socialdesk against a naive sync (THE BASELINE, bench/naive_sync.py): one run, same sandbox, same limits.

    cd /work/main && /work/venv/bin/python bench/compare.py                      # 10,000 mentions + 2,000 Meta items
    cd /work/main && /work/venv/bin/python bench/compare.py --mentions 2000 --json
    cd /work/main && /work/venv/bin/python bench/compare.py --meta-items 0          # X alone
    cd /work/main && /work/venv/bin/python bench/compare.py --no-channel            # no Channel Framework part
    cd /work/main && /work/venv/bin/python bench/compare.py --process --mentions 2000   # the daemon alone

``--process`` measures the daemon alone (bench/daemon_alone.py): the sandbox and the real
daemon (``socialdesk run``) each in a process of their own, the daemon's store pre-filled
with 100,000 mentions of history; it reports the daemon's peak RSS and CPU per mention
apart from the sandbox's. The rest of this text is the in-process comparison.

Everything runs in this process: the sandbox's X and Zendesk (real HTTPS on loopback), the
socialdesk daemon (``sync.daemon.Daemon`` with ``BENCH_MAPPING``, a plain X -> Zendesk route
at the product's defaults, or ``--mapping``; SQLite file store; its webhook listener) and
the baseline.

Scenario. N mentions (``--mentions``) from many customers: a share are follow-ups (replies
by the same customer in the conversation they opened, ``--followup-share``), and some
customers open more than one conversation (``--customer-ratio`` customers per
conversation). X's mentions timeline reaches only the 800 most recent mentions, so the
mentions are posted in waves (``--wave``, default 500) and after each wave both syncs
read it: socialdesk with ``Route.poll('mentions')`` into its inbox, the baseline with
``GET /2/users/:id/mentions`` into a list. Reading costs no helpdesk call; the X calls of
each reader are reported on their own. Then the backlog is drained:

  (a) socialdesk: the real Route drives the drain as the daemon's scheduler would
      (``process_inbox`` loops; webhook hints drained; mention polls when ``poll_due``;
      the agent-reply export every 30 s) until the inbox is empty and no webhook hint has
      come for ``--settle`` wall seconds (that idle tail is not counted); Zendesk set to
      the plan's limits (default Enterprise, 700 requests/min, through
      ``/_sandbox/limits {"plan": ...}``).
  (b) agent replies: an agent answers M of those tickets one at a time (``--replies``);
      the trigger's webhook reaches the daemon, which posts the answer on X.
  (c) Zendesk is reset (``/_sandbox/reset``: empty account, fresh windows, plan set
      again) and the baseline writes the same N mentions into it.
  (d) Facebook and Instagram, in the same run (``--meta-items``, default 2,000; 0 leaves it
      out): the same kind of scenario (bench/meta_workload.py) as comments on the brand's
      posts and media, replies under them and Messenger / Instagram DMs, posted through the
      Meta stand-in's control API. socialdesk runs ``META_MAPPING`` (a Facebook and an
      Instagram route) in a daemon of its own on a reset Zendesk, its receiver subscribed
      to Meta's webhooks; it reads the kept deliveries into its inbox and runs each
      stream's reconciliation read once (as at start), then drains as in (a) over both
      routes, reconciliation reads coming due as simulated time passes. THE BASELINE's Meta
      equivalent (bench/naive_meta.py: every edge read object by object, then one lookup +
      one ticket per item, as for X) writes the same items into a Zendesk reset again.
      Reported: helpdesk calls per item and Graph API reads per item (HTTP requests, and
      calls as Meta counts them, a batch's each) beside the X figures, the ratio
      baseline/socialdesk, drain against the same floor formula (U = people per network,
      T = tickets as socialdesk threads them: one per person per brand post, one per DM
      thread), item -> ticket latency, lost and duplicate items (found by each item's
      ``ref M000123``). No target is set for Meta; agent replies are measured on X only.
  (e) Zendesk Channel Framework mode (``--no-channel`` leaves it out; bench/channel_mode.py):
      the same N mentions, read in the same waves by a daemon of its own whose Zendesk entry
      is in ``mode: channel`` (``CHANNEL_MAPPING``: BENCH_MAPPING's route without the group,
      which a resource cannot set). Zendesk is reset to the plan, installs socialdesk's
      integration from its manifest URL and adds an account through its admin UI; the route
      drains its inbox as in (a) while the daemon's pusher hands the resources to Zendesk
      (``POST /api/v2/any_channel/push``, up to 256 a request), until Zendesk has imported
      them all; agents answer M tickets and Zendesk's channelbacks post the answers on X;
      then Zendesk's scheduled pulls come round twice. Reported beside REST mode's and the
      baseline's: Zendesk API calls per mention (target: under 0.01, issue 16), drain time,
      mention -> ticket and reply -> post latency, lost and duplicate posts; and Zendesk's
      side: pushes (resources each, against ceil(N/256)), pulls and what they carried,
      tickets (``via.channel``), channelbacks, event callbacks.

Time model (how the drain is "simulated minutes"). The sandbox's rate limiter counts in
fixed windows on the sandbox clock, which runs at wall speed and can be moved forward by
the control API. Nothing is slowed down artificially and no wait is faked away: work takes
the wall time it takes, and only waiting is compressed. Whenever a sync would sit idle -
the baseline sleeping Retry-After after a 429, the socialdesk route paused by a 429 or by
its own rate budget, or every socialdesk row waiting for a retry time - the bench moves
the sandbox clocks (and the daemon's own clock, a wall clock plus offset) forward by
exactly that wait instead of sleeping. The adapters' rate budgets keep their own clock
(wall time by default); the bench points them at the daemon's clock so that they see the
same time as the sandbox's windows (see ``wire_budgets``). Simulated drain time = sandbox time from the start of the drain to the sync's
last write = wall time spent working + waiting skipped. Caveats: loopback round trips are
milliseconds (production: ~100-300 ms), which favours whoever makes more sequential
calls; waits inside the Zendesk adapter (job-status polling sleeps) are real wall time,
not compressed; the sandbox's server-side work runs in this process too.

Floor. The minimum requests the work needs at the best batch sizes the API allows, divided
by the plan's rate: U authors -> ceil(U/100) users/create_or_update_many jobs; T
conversations -> ceil(T/100) tickets/create_many jobs; F follow-ups -> max(ceil(F/100),
k_max) tickets/update_many jobs (one comment per ticket per job, k_max = most follow-ups
in one conversation); every job's results must be read at least once, and one
job_statuses/show_many read returns up to 100 jobs. With J = ceil(U/100) + ceil(T/100) +
max(ceil(F/100), k_max): floor_requests = J + ceil(J/100); floor_seconds =
floor_requests / limit_per_minute * 60, the requests at the limit's steady rate. It is a
lower bound, not a schedule: it ignores round trips, job run time, that requesters must
exist before their tickets (so at least two rounds of status reads), that at most 30 jobs
run at once, and that a fixed one-minute window lets a burst through at once.

Measured for each: helpdesk API calls per mention (the Zendesk sandbox's own request log,
read and cleared in chunks since it keeps 5,000 entries), per endpoint; simulated drain
time against the floor; mention -> ticket latency p50/p95 (backlog latency: every post is
readable when the drain starts, t0; latency = creation time, on the Zendesk sandbox clock,
of the ticket or comment that carries the post - found by its /status/<id> URL - minus t0;
1 s resolution); reply -> post latency p50/p95 (socialdesk only: the baseline does not
mirror; on the daemon's clock from the agent's PUT returning to the reply being listed on
X); 429s received (request log; plus the syncs' own counts); peak memory per phase (process
resident set, sampled every 50 ms from /proc/self/status, and getrusage ru_maxrss, the
process high-water mark, after each phase; the process holds the sandbox and both syncs;
``--tracemalloc`` adds a Python-heap peak per phase, but it slows the work and therefore
the simulated time).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import random
import re
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if __name__ == "__main__" and "--process" in sys.argv[1:]:
    # The daemon alone, in processes of its own (bench/daemon_alone.py): dispatched before
    # this module imports socialdesk, since it may measure another checkout (--repo).
    sys.path.insert(0, str(HERE))
    from daemon_alone import main as _daemon_alone

    sys.exit(_daemon_alone([arg for arg in sys.argv[1:] if arg != "--process"]))
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from figures import HttpTimer, endpoint_of, pct  # noqa: E402
from channel_mode import CHANNEL_LABEL, TARGET_CALLS_PER_MENTION, ChannelPart, ChannelStalled  # noqa: E402
from meta_workload import MetaScenario, Poster, make_meta_scenario, refs_in  # noqa: E402
from naive_meta import LABEL as META_BASELINE_LABEL  # noqa: E402
from naive_meta import NaiveMeta  # noqa: E402
from naive_sync import LABEL as BASELINE_LABEL  # noqa: E402
from naive_sync import NaiveSync  # noqa: E402
from sandbox.scenario import People  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402
from sync.config import parse_config  # noqa: E402
from sync.daemon import Daemon  # noqa: E402
from sync.scheduler import poll_interval  # noqa: E402
from sync.store import Store, inbox  # noqa: E402
from sync.store.schema import pushes  # noqa: E402
from sync.web import WebServer  # noqa: E402
from cli.wiring import sandbox_endpoints, subscribe_on_sandbox  # noqa: E402

# The route under test: X mentions -> Zendesk tickets, agent answers mirrored, everything
# else at the product's defaults (no routing rules, no approval step, no viral watch), so
# the figures do not move when the demo's mapping grows features. ``--mapping`` takes another.
BENCH_MAPPING = """\
version: 1
helpdesks:
  sandbox_zendesk: {kind: zendesk, sandbox: true}
networks:
  brand_x: {kind: x, sandbox: true}
routes:
  - name: x-support
    network: brand_x
    helpdesk: sandbox_zendesk
    streams: [mentions]
    ticket:
      subject: "{network} {kind} from @{author}"
      tags: [social, x]
      priority: normal
      group: Social care
      custom_fields: {Social network: x, Social post URL: "{url}"}
    mirror: {enabled: true}
"""

# The Meta routes under test: the sandbox's Facebook Page and Instagram account -> Zendesk,
# comments and DMs (streams: mentions, dms), Meta's webhooks received, everything else at the
# product's defaults (poll intervals, history, rate share), as BENCH_MAPPING is for X.
META_MAPPING = """\
version: 1
helpdesks:
  sandbox_zendesk: {kind: zendesk, sandbox: true}
networks:
  brand_page: {kind: facebook, sandbox: true}
  brand_instagram: {kind: instagram, sandbox: true}
routes:
  - name: facebook-support
    network: brand_page
    helpdesk: sandbox_zendesk
    streams: [mentions, dms]
    ticket:
      subject: "{network} {kind} from {author}"
      tags: [social, facebook]
      priority: normal
      group: Social care
      custom_fields: {Social network: facebook, Social post URL: "{url}"}
    mirror: {enabled: true}
  - name: instagram-support
    network: brand_instagram
    helpdesk: sandbox_zendesk
    streams: [mentions, dms]
    ticket:
      subject: "{network} {kind} from @{author}"
      tags: [social, instagram]
      priority: normal
      group: Social care
      custom_fields: {Social network: instagram, Social post URL: "{url}"}
    mirror: {enabled: true}
"""
META_SERVICES = ("zendesk", "meta")
# Meta's Pages budget is 4,800 calls a day per engaged user of the Page, Instagram's 4,800
# per impression (shared/contracts/LIMITS.md 1.4); the stand-in starts at one of each.
META_CALLS_PER_PERSON = 4800
WEBHOOK_SETTLE_WALL = 300.0  # wall seconds the stand-in may take to deliver the workload's webhooks

HTTP_TIMEOUT = 60.0
BULK_MAX = 100             # create_many / update_many / create_or_update_many items per job
LOG_FLUSH_EVERY = 1500     # requests between two reads of the Zendesk log (it keeps 5,000)
REPLIES_EVERY = 30.0       # the daemon's agent-reply export job interval (sync/daemon.py)
TARGET_CALLS_RATIO = 20.0
TARGET_DRAIN_OVER_FLOOR = 1.25
PLAN_RATES = {"essential": 10, "team": 200, "growth": 400, "professional": 400,
              "enterprise": 700, "enterprise_plus": 2500}

log = logging.getLogger("socialdesk.compare")


class Stalled(RuntimeError):
    """A phase made no progress."""


# --------------------------------------------------------------------------- clocks, control, memory


class VirtualClock:
    """Wall time plus an offset: the daemon's and the store's clock, moved with the sandbox's."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


class Control:
    """The sandbox's /_sandbox/ control endpoints (one session per thread)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.urls = {name: svc["url"] for name, svc in info["services"].items()}
        self.ca = info["ca_bundle"]
        self._local = threading.local()

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.verify = self.ca
            session.trust_env = False
        return session

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.urls[service]}/_sandbox/{path}", timeout=HTTP_TIMEOUT, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def now(self, service: str) -> float:
        body = self.call(service, "GET", "clock")
        return float(body["now"] if service == "zendesk" else body["epoch"])

    def advance(self, service: str, seconds: float) -> None:
        self.call(service, "POST", "clock", json={"advance": seconds})

    def take_log(self, service: str) -> list[dict[str, Any]]:
        """Read and clear a service's request log; slim entries (no bodies)."""
        entries = self.call(service, "GET", "requests")["requests"]
        self.call(service, "DELETE", "requests")
        keep = ("method", "path", "query", "status", "time", "at", "user", "fault")
        return [{k: e.get(k) for k in keep} for e in entries]


class Memory:
    """Peak resident set per phase (sampled) and the process high-water mark after it."""

    def __init__(self, use_tracemalloc: bool) -> None:
        self.phases: dict[str, dict[str, Any]] = {}
        self.use_tracemalloc = use_tracemalloc
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    @staticmethod
    def rss_kib() -> int:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            value = self.rss_kib()
            with self._lock:
                self._peak = max(self._peak, value)

    @staticmethod
    def max_rss_kib() -> int:
        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return value // 1024 if sys.platform == "darwin" else value

    def phase(self, name: str) -> "_Phase":
        return _Phase(self, name)

    def close(self) -> None:
        self._stop.set()


class _Phase:
    def __init__(self, memory: Memory, name: str) -> None:
        self.memory, self.name = memory, name

    def __enter__(self) -> None:
        start = Memory.rss_kib()
        with self.memory._lock:
            self.memory._peak = start
        self.start_kib = start
        if self.memory.use_tracemalloc:
            tracemalloc.start()

    def __exit__(self, *exc: object) -> None:
        traced = None
        if self.memory.use_tracemalloc and tracemalloc.is_tracing():
            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        now = Memory.rss_kib()
        with self.memory._lock:
            peak = max(self.memory._peak, now)
        self.memory.phases[self.name] = {
            "rss_start_mib": mib(self.start_kib), "rss_peak_mib": mib(peak), "rss_end_mib": mib(now),
            "ru_maxrss_after_mib": mib(Memory.max_rss_kib()),
            "tracemalloc_peak_mib": None if traced is None else round(traced / 2**20, 1)}


def mib(kib: float) -> float:
    return round(kib / 1024, 1)


def record_pauses(route: Any, pauses: list[dict[str, Any]]) -> Callable[[], None]:
    """Record every pause of ``route`` (side, seconds asked, reason) into ``pauses``, changing
    nothing; returns what undoes it. Pauses go through ``route.health.pause(side, err)`` in
    the split route and through ``route._pause(side, err)`` before it."""
    owner, name = (route.health, "pause") if hasattr(route, "health") else (route, "_pause")
    original = getattr(owner, name)

    def recorded(side: str, err: Any) -> Any:
        pauses.append({"side": side, "seconds": round(float(err.retry_after), 1), "reason": str(err)[:160]})
        return original(side, err)

    own = getattr(owner, "__dict__", {})
    had_own, before = name in own, own.get(name)
    try:
        setattr(owner, name, recorded)  # an instance attribute shadows the method: records, changes nothing
    except AttributeError:  # a frozen or slotted owner: its pauses are counted, not itemised
        return lambda: None

    def undo() -> None:
        if had_own:
            setattr(owner, name, before)
        else:
            delattr(owner, name)
    return undo


# --------------------------------------------------------------------------- scenario


@dataclasses.dataclass
class Event:
    seq: int
    author: str
    root: int | None          # seq of the conversation's first post, for a follow-up
    post_id: str | None = None


@dataclasses.dataclass
class Scenario:
    events: list[Event]
    customers: int
    conversations: int
    followups: int
    max_followups: int

    def as_dict(self) -> dict[str, Any]:
        return {"mentions": len(self.events), "customers": self.customers, "conversations": self.conversations,
                "followups": self.followups, "max_followups_per_conversation": self.max_followups}


def make_scenario(n: int, followup_share: float, customer_ratio: float, seed: int) -> Scenario:
    """N posts: conversations opened by customers (some open several), follow-ups by the
    same customer in their conversation, each posted some time after its first post."""
    rng = random.Random(seed)
    followups = min(n - 1, int(round(n * followup_share))) if n > 1 else 0
    roots = n - followups
    customers = max(1, min(roots, int(round(roots * customer_ratio))))
    authors = list(range(customers)) + [rng.randrange(customers) for _ in range(roots - customers)]
    rng.shuffle(authors)
    # (sort key, root index or None, author, own root index or None)
    keyed: list[tuple[float, int | None, int, int | None]] = [
        (float(i), None, authors[i], i) for i in range(roots)]
    spread = max(2.0, roots * 0.1)
    per_root: Counter[int] = Counter()
    for _ in range(followups):
        root = rng.randrange(roots)
        per_root[root] += 1
        keyed.append((root + rng.uniform(1.0, spread), root, authors[root], None))
    keyed.sort(key=lambda item: item[0])
    seq_of_root: dict[int, int] = {}
    events: list[Event] = []
    for seq, (_, root, author, own) in enumerate(keyed):
        if own is not None:
            seq_of_root[own] = seq
        events.append(Event(seq, f"cust{author:06d}", root))
    for event in events:  # root index -> the root's seq (a root sorts before its follow-ups)
        if event.root is not None:
            event.root = seq_of_root[event.root]
    return Scenario(events, customers, roots, followups, max(per_root.values(), default=0))


def floor_of(s: Scenario, per_minute: int) -> dict[str, Any]:
    users = math.ceil(s.customers / BULK_MAX)
    creates = math.ceil(s.conversations / BULK_MAX)
    comments = max(math.ceil(s.followups / BULK_MAX), s.max_followups) if s.followups else 0
    jobs = users + creates + comments
    polls = math.ceil(jobs / BULK_MAX)
    requests_ = jobs + polls
    seconds = requests_ / per_minute * 60.0
    return {"formula": "J = ceil(U/100) + ceil(T/100) + max(ceil(F/100), k_max) bulk jobs; floor_requests = "
                       "J + ceil(J/100) (every job's results read once, 100 jobs a job_statuses/show_many read); "
                       "floor_seconds = floor_requests / limit_per_minute * 60",
            "U_authors": s.customers, "T_conversations": s.conversations, "F_followups": s.followups,
            "k_max": s.max_followups, "limit_per_minute": per_minute,
            "jobs": {"users_create_or_update_many": users, "tickets_create_many": creates,
                     "tickets_update_many": comments}, "job_status_reads": polls,
            "requests": requests_, "seconds": round(seconds, 1), "minutes": round(seconds / 60, 2)}


# --------------------------------------------------------------------------- helpers


def graph_endpoint(entry: dict[str, Any]) -> str:
    """A Graph call by its shape: version dropped, object ids folded, the edge kept."""
    path = re.sub(r"^/v\d+\.\d+", "", str(entry["path"]).split("?")[0]) or "/"
    path = re.sub(r"/(?:[0-9_]{6,}|t_[\w-]+|aWdf[\w=-]+|m_[\w-]+)(?=/|$)", "/{id}", path)
    query = str(entry.get("query") or "")
    platform = re.search(r"platform=(\w+)", query)
    return f"{entry['method']} {path}" + (f" ({platform.group(1)})" if platform else "")


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def machine() -> dict[str, Any]:
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpus_usable": usable, "cpu_model": model, "python": platform.python_version()}


class WarningCounter(logging.Handler):
    """Counts the daemon's warnings by shape (numbers and ids folded) while attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad record is not the bench's problem
            text = str(record.msg)
        self.counts[f"{record.name}: " + re.sub(r"\d+(\.\d+)?", "N", text)[:160]] += 1

    def __enter__(self) -> "WarningCounter":
        logger = logging.getLogger("socialdesk")
        self._level = logger.level
        logger.setLevel(logging.WARNING)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("socialdesk")
        logger.removeHandler(self)
        logger.setLevel(self._level)


# --------------------------------------------------------------------------- the run


class Compare:
    def __init__(self, args: argparse.Namespace, progress: Callable[[str], None]) -> None:
        self.args = args
        self.progress = progress
        self.notes: list[str] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.sandbox: Sandbox | None = None
        self.store: Store | None = None
        self.web: WebServer | None = None
        self.memory = Memory(args.tracemalloc)
        self.skipped = 0.0
        self.skips = 0
        self.meta_web: WebServer | None = None
        self.meta_store: Store | None = None
        self.meta_baseline: NaiveMeta | None = None
        self.channel: ChannelPart | None = None

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="socialdesk-compare-")
        tmp = Path(self._tmp.name)
        services = ("zendesk", "x", "meta") if self.args.meta_items else ("zendesk", "x")
        self.sandbox = Sandbox(services=services, workdir=str(tmp)).start()
        self.info = self.sandbox.info()
        self.ctl = Control(self.info)
        self.people = People(self.info)
        self.brand = self.people.brand
        zd = self.info["services"]["zendesk"]
        self.api_email = zd["api_email"]
        self.limits = self.set_plan()
        self.clock = VirtualClock()
        self.store = Store(f"sqlite:///{tmp / 'state.sqlite'}", clock=self.clock)
        self.store.migrate()
        mapping, source = BENCH_MAPPING, "<bench mapping>"
        if self.args.mapping:
            mapping, source = Path(self.args.mapping).read_text(encoding="utf-8"), self.args.mapping
        config = dataclasses.replace(parse_config(mapping, source=source), state_url=self.store.url)
        self.daemon = Daemon(config, self.store, sandbox_endpoints(self.info), clock=self.clock)
        self.daemon.prepare()
        self.route = next(iter(self.daemon.routes.values()))
        if self.route.parked or self.route.waiting:
            raise Stalled(f"route {self.route.name} stopped at start: {self.route.parked or self.route.waiting}")
        self.budgets = self.wire_budgets()
        self.web = WebServer(self.daemon.web_app(), "127.0.0.1", 0).start()
        self.daemon.setup_push(self.web.url)
        self.interval = float(self.route.network.min_poll_interval)
        x = self.info["services"]["x"]
        self.baseline_sleep_service = "x"
        self.baseline = NaiveSync(x_url=x["url"], x_token=x["token"], zendesk_url=zd["url"],
                                  zendesk_oauth_token=zd["api_oauth_token"],
                                  ca_bundle=self.info["ca_bundle"], sleep=self._baseline_sleep)
        self.baseline_slept: list[float] = []
        if self.args.channel:
            # socialdesk in Channel Framework mode: a daemon of its own reads the same waves.
            self.channel = ChannelPart(self)
            self.channel.setup(tmp)

    def wire_budgets(self) -> dict[str, Any]:
        """The adapters' proactive rate budgets (if any) count on the daemon's clock.

        A ``RateBudget`` reads "resets in N s" from the vendor's headers and keeps its own
        clock (wall time unless told otherwise); the sandbox's windows run on the sandbox
        clock, which the bench moves together with the daemon's. Pointing the budgets at the
        daemon's clock keeps all three in step, so a budget pause is skipped like any other
        wait. ``--rate-share`` overrides the share socialdesk allows itself (default: the
        product's own default, left as it is)."""
        out: dict[str, Any] = {}
        for side, adapter in (("helpdesk", self.route.helpdesk), ("network", self.route.network)):
            budget = getattr(getattr(adapter, "session", None), "rate_budget", None)
            if budget is None:
                out[side] = None
                continue
            if hasattr(budget, "clock"):
                budget.clock = self.clock
            if self.args.rate_share is not None and side == "helpdesk":
                budget.share = self.args.rate_share
            out[side] = {"share": getattr(budget, "share", None), "clock": "daemon clock (re-pointed by the bench)"}
        if out.get("helpdesk") is None:
            self.notes.append("the Zendesk adapter has no proactive rate budget in this tree")
        return out

    def set_plan(self) -> dict[str, Any]:
        """The plan's limits through the sandbox's plan setting (a bare window when absent)."""
        plan = self.args.plan
        try:
            body = self.ctl.call("zendesk", "POST", "limits", json={"plan": plan, "high_volume": False})
        except requests.HTTPError:
            body = {}
        if body.get("plan") != plan:
            self.ctl.call("zendesk", "POST", "limits", json={"family": "account", "limit": PLAN_RATES[plan],
                                                             "seconds": 60})
            body = self.ctl.call("zendesk", "GET", "limits")
            self.notes.append(f"the sandbox has no plan setting: account window set to {PLAN_RATES[plan]}/60 s")
        account = body["limits"]["account"]
        if int(account[0]) != PLAN_RATES[plan] or int(account[1]) != 60:
            raise Stalled(f"Zendesk account window is {account}, expected [{PLAN_RATES[plan]}, 60]")
        return body

    def teardown(self) -> None:
        for closer in (lambda: self.baseline.close(), lambda: self.web and self.web.stop(),
                       lambda: self.meta_web and self.meta_web.stop(),
                       lambda: self.meta_store and self.meta_store.close(),
                       lambda: self.meta_baseline and self.meta_baseline.close(),
                       lambda: self.channel and self.channel.teardown(),
                       lambda: self.store and self.store.close(), lambda: self.sandbox and self.sandbox.stop(),
                       lambda: self._tmp and self._tmp.cleanup(), self.memory.close):
            try:
                closer()
            except Exception as err:  # noqa: BLE001 - teardown goes on
                log.debug("teardown: %s", err)

    # ------------------------------------------------------------------ time

    def skip(self, seconds: float, services: tuple[str, ...] = ("zendesk", "x")) -> None:
        """Wait by moving time: the sandbox clocks and the daemon's clock together."""
        if seconds <= 0:
            return
        for service in services:
            self.ctl.advance(service, seconds)
        self.clock.advance(seconds)
        self.skipped += seconds
        self.skips += 1

    def _baseline_sleep(self, seconds: float) -> None:
        """The baseline's time.sleep: the sandbox clock of the service it waits on moves instead."""
        self.ctl.advance(self.baseline_sleep_service, seconds)
        self.baseline_slept.append(seconds)

    # ------------------------------------------------------------------ phase 0: post and read

    def post_and_read(self, scenario: Scenario) -> dict[str, Any]:
        events = scenario.events
        by_seq = {e.seq: e for e in events}
        x_url = self.info["services"]["x"]["url"]
        local = threading.local()

        def post(event: Event) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.verify, session.trust_env = self.info["ca_bundle"], False
            if event.root is None:
                body: dict[str, Any] = {"author": event.author,
                                        "text": f"@{self.brand} order #{event.seq} has not arrived, can you help?"}
            else:
                body = {"author": event.author, "in_reply_to": by_seq[event.root].post_id,
                        "text": f"@{self.brand} any news on this? (follow-up {event.seq})"}
            response = session.post(f"{x_url}/_sandbox/posts", json=body, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            event.post_id = str(response.json()["id"])

        wave = max(1, min(self.args.wave, 700))
        x_calls = {"socialdesk": Counter(), "baseline": Counter()}
        channel_read = 0
        self.baseline_queue: list[dict[str, Any]] = []
        read_new = 0
        self.ctl.take_log("x")
        with ThreadPoolExecutor(8) as pool:
            for start in range(0, len(events), wave):
                chunk = events[start:start + wave]
                list(pool.map(post, [e for e in chunk if e.root is None]))
                list(pool.map(post, [e for e in chunk if e.root is not None]))
                # The daemon's mention poll comes every min_poll_interval: time moves on by that.
                self.skip(self.interval)
                self.ctl.take_log("x")
                read_new += self.route.poll("mentions")
                x_calls["socialdesk"].update(endpoint_of(e) for e in self.ctl.take_log("x"))
                self.baseline_queue.extend(self.baseline.read_mentions())
                x_calls["baseline"].update(endpoint_of(e) for e in self.ctl.take_log("x"))
                if self.channel is not None:
                    channel_read += self.channel.read_wave()
                waits = [until - self.clock() for until in self.route.paused_until.values()]
                if any(w > 0 for w in waits):
                    self.skip(max(waits) + 0.5)
                self.progress(f"posted {min(start + wave, len(events))}/{len(events)} mentions on X; "
                              f"socialdesk inbox +{read_new}, baseline queue {len(self.baseline_queue)}")
        self.post_ids = {e.post_id for e in events}
        pending = self.pending()[0]
        if self.channel is not None and self.channel.pending()[0] != len(events):
            raise Stalled(f"reading the backlog: the channel-mode inbox holds {self.channel.pending()[0]} "
                          f"(read {channel_read}), expected {len(events)}")
        if pending != len(events) or len(self.baseline_queue) != len(events):
            raise Stalled(f"reading the backlog: socialdesk inbox holds {pending}, baseline read "
                          f"{len(self.baseline_queue)}, expected {len(events)}")
        self.skipped = 0.0
        self.skips = 0
        return {"waves": math.ceil(len(events) / wave), "wave_size": wave,
                "x_calls": {k: {"total": sum(v.values()), "by_endpoint": dict(v)} for k, v in x_calls.items()}}

    def pending(self, store: Store | None = None, routes: tuple[str, ...] | None = None) -> tuple[int, float | None]:
        """Pending inbox rows (of the X route, or of ``routes`` in ``store``) and the earliest
        time one of them may be claimed."""
        store = store or self.store
        routes = routes or (self.route.name,)
        with store.engine.connect() as conn:  # type: ignore[union-attr]
            row = conn.execute(sa.select(sa.func.count(), sa.func.min(
                sa.case((inbox.c.next_attempt_at > inbox.c.lease_until, inbox.c.next_attempt_at),
                        else_=inbox.c.lease_until)))
                .where(inbox.c.route.in_(routes), inbox.c.state == "pending")).one()
        return int(row[0]), (None if row[1] is None else float(row[1]))

    # ------------------------------------------------------------------ (a) socialdesk drain

    def drain_socialdesk(self, n: int) -> dict[str, Any]:
        route, desk = self.route, self.route.helpdesk
        timer = HttpTimer(desk.session)
        job_wait = {"seconds": 0.0, "http": 0.0, "jobs": 0}
        original_wait = getattr(desk, "_wait_jobs", None)
        if original_wait is not None:
            def timed_wait(*a: Any, **kw: Any) -> Any:
                started, http_before = time.perf_counter(), timer.seconds
                try:
                    return original_wait(*a, **kw)
                finally:
                    job_wait["seconds"] += time.perf_counter() - started
                    job_wait["http"] += timer.seconds - http_before
                    job_wait["jobs"] += 1
            desk._wait_jobs = timed_wait  # instance attribute: measures, changes nothing
        pauses: list[dict[str, Any]] = []
        unrecord_pauses = record_pauses(route, pauses)
        entries: list[dict[str, Any]] = []
        x_entries: list[dict[str, Any]] = []
        self.ctl.take_log("zendesk")
        self.ctl.take_log("x")
        deliveries_before = len(self.ctl.call("zendesk", "GET", "webhook_deliveries")["deliveries"])
        hints_handled = 0
        pause_events = 0
        overhead = 0.0
        t0 = self.ctl.now("zendesk")
        wall0 = time.perf_counter()
        self.skipped, self.skips = 0.0, 0
        last_replies = -math.inf
        last_work = wall0
        last_flush_count = 0
        last_report = time.monotonic()
        idle = 0
        quiet_since: float | None = None
        while True:
            hints = self.daemon.drain_hints()  # the scheduler drains webhook hints every 0.5 s
            hints_handled += hints
            if hints:
                last_work = time.perf_counter()
            left, due = self.pending()
            if left == 0:
                # Done when the inbox is empty and no webhook hint has come in for a moment
                # (the helpdesk calls them back asynchronously).
                if hints or self.daemon.hints.qsize():
                    quiet_since = None
                    continue
                if quiet_since is None:
                    quiet_since = time.perf_counter()
                if time.perf_counter() - quiet_since < self.args.settle:
                    time.sleep(0.02)
                    continue
                break
            quiet_since = None
            if time.perf_counter() - wall0 > self.args.timeout:
                raise Stalled(f"socialdesk drain: {left} rows still pending after {self.args.timeout:.0f}s wall")
            if route.parked:
                raise Stalled(f"socialdesk drain: route parked: {route.parked}")
            if route.poll_due("mentions", self.interval):
                route.poll("mentions")
            if self.clock() - last_replies >= REPLIES_EVERY:
                route.poll_replies()
                last_replies = self.clock()
            done = route.process_inbox()
            last_work = time.perf_counter()
            if timer.count - last_flush_count >= LOG_FLUSH_EVERY:
                started = time.perf_counter()
                entries.extend(self.ctl.take_log("zendesk"))
                overhead += time.perf_counter() - started
                last_flush_count = timer.count
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                self.progress(f"socialdesk drain: {left} pending, {time.perf_counter() - wall0:.0f}s wall, "
                              f"{self.clock() - t0:.0f}s simulated, "
                              f"{timer.count} helpdesk requests")
            if done:
                idle = 0
                continue
            now = self.clock()
            waits = [until - now for until in route.paused_until.values() if until > now]
            if waits:
                pause_events += 1
                self.skip(max(waits) + 0.5)
                continue
            left, due = self.pending()
            if left and due is not None and due > now:
                self.skip(due - now + 0.1)
                continue
            idle += 1
            if idle > 200:
                raise Stalled(f"socialdesk drain: {left} rows pending and nothing done in 200 rounds; "
                              f"route paused_until={route.paused_until}")
            time.sleep(0.01)
        # The idle tail (waiting to be sure no hint comes) is not drain time.
        tail = time.perf_counter() - last_work
        wall = last_work - wall0
        t_end = self.ctl.now("zendesk") - tail
        entries.extend(self.ctl.take_log("zendesk"))
        x_entries.extend(self.ctl.take_log("x"))
        if original_wait is not None:
            del desk._wait_jobs
        unrecord_pauses()
        deliveries = self.ctl.call("zendesk", "GET", "webhook_deliveries")["deliveries"][deliveries_before:]
        calls = [e for e in entries if e.get("user") == self.api_email]
        tickets = self.ctl.call("zendesk", "GET", "tickets")["tickets"]
        result = self.side_result(n, calls, t0, t_end, wall, tickets)
        http_outside_jobs = timer.seconds - job_wait["http"]
        sleep_in_jobs = max(0.0, job_wait["seconds"] - job_wait["http"])
        result["drain"]["time_breakdown_s"] = {
            "helpdesk_http_round_trips": round(timer.seconds, 1),
            "job_status_waits_sleeping": round(sleep_in_jobs, 1),
            "daemon_and_store_cpu_and_other": round(max(0.0, wall - timer.seconds - sleep_in_jobs - overhead), 1),
            "bench_log_reads": round(overhead, 1),
            "skipped_waits": round(self.skipped, 1),
            "note": "wall = http + job sleeps + other + bench; simulated = wall + skipped",
            "jobs_waited": job_wait["jobs"], "http_outside_job_waits": round(http_outside_jobs, 1)}
        result["throttled_429"]["route_pauses"] = pause_events
        reasons = Counter(re.sub(r"\d+", "N", p["reason"]) for p in pauses)
        result["route_pauses"] = {"count": len(pauses), "seconds_requested": round(sum(p["seconds"] for p in pauses), 1),
                                  "reasons": dict(reasons.most_common(5))}
        result["webhooks"] = {"delivered_to_daemon": len(deliveries), "hints_handled": hints_handled,
                              "note": "the agent-reply trigger also fires on socialdesk's own public follow-up "
                                      "comments; each hint costs a comments read"}
        result["x_calls_during_drain"] = len(x_entries)
        result["daemon_stats"] = dataclasses.asdict(route.stats)
        self.sd_tickets = tickets
        return result

    # ------------------------------------------------------------------ (b) agent replies -> X

    def replies(self, count: int) -> dict[str, Any]:
        if count <= 0:
            return {"replies": 0, "latency": pct([])}
        tickets = [t for t in self.sd_tickets if "socialdesk" in (t.get("tags") or []) and not t.get("deleted")]
        step = max(1, len(tickets) // count)
        chosen = tickets[::step][:count]
        self.ctl.take_log("zendesk")
        self.ctl.take_log("x")
        agent_http = requests.Session()
        agent_http.verify, agent_http.trust_env = self.info["ca_bundle"], False
        agent = self.info["services"]["zendesk"]
        agent_http.headers["Authorization"] = f"Bearer {agent['agent_oauth_token']}"
        latencies: list[float] = []
        failures: list[str] = []
        pauses = 0
        wall0 = time.perf_counter()
        for index, ticket in enumerate(chosen):
            marker = f"ref R{index:04d}"
            body = {"ticket": {"comment": {"body": f"Thanks for your patience, we are checking this now ({marker})",
                                           "public": True}}}
            response = agent_http.put(f"{agent['url']}/api/v2/tickets/{ticket['id']}.json", json=body,
                                      timeout=HTTP_TIMEOUT)
            if response.status_code == 429:
                self.skip(float(response.headers.get("Retry-After", "60")))
                response = agent_http.put(f"{agent['url']}/api/v2/tickets/{ticket['id']}.json", json=body,
                                          timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            started = self.clock()
            deadline = time.monotonic() + self.args.item_timeout
            seen = False
            while time.monotonic() < deadline:
                self.daemon.drain_hints()
                self.route.drain_outbox()
                posts = self.ctl.call("x", "GET", "posts", params={"author": self.brand})["posts"]
                if any(marker in p["text"] for p in posts):
                    seen = True
                    break
                now = self.clock()
                waits = [until - now for until in self.route.paused_until.values() if until > now]
                if waits:
                    pauses += 1
                    self.skip(max(waits) + 0.5)
                time.sleep(0.005)
            if seen:
                latencies.append(self.clock() - started)
            else:
                failures.append(f"ticket {ticket['id']}: no post on X after {self.args.item_timeout:.0f}s; "
                                + self.reply_diagnosis(str(ticket["id"])))
            # Agents do not answer in the same instant: the next answer comes a little later.
            self.skip(self.args.reply_spacing)
        entries = self.ctl.take_log("zendesk")
        daemon_calls = [e for e in entries if e.get("user") == self.api_email]
        x_calls = self.ctl.take_log("x")
        return {"replies": len(chosen), "posted": len(latencies), "failures": failures[:5],
                "latency": pct(latencies), "wall_seconds": round(time.perf_counter() - wall0, 1),
                "helpdesk_calls_per_reply": round(len(daemon_calls) / max(1, len(chosen)), 2),
                "helpdesk_by_endpoint": dict(Counter(endpoint_of(e) for e in daemon_calls).most_common()),
                "x_calls": len(x_calls), "route_pauses": pauses,
                "method": "push path: agent PUT (public comment) -> Zendesk trigger -> webhook -> daemon "
                          "drain_hints/drain_outbox -> post on X; latency on the daemon's clock from the PUT "
                          f"returning to the reply listed on X; answers {self.args.reply_spacing:g} s apart"}

    def reply_diagnosis(self, ticket_id: str) -> str:
        """What became of an answer that did not reach X: the webhook and the outbox row."""
        from sync.store import outbox

        hooks = [d for d in self.ctl.call("zendesk", "GET", "webhook_deliveries")["deliveries"]
                 if str(d.get("ticket_id")) == ticket_id]
        with self.store.engine.connect() as conn:  # type: ignore[union-attr]
            rows = conn.execute(sa.select(outbox.c.state, outbox.c.attempts, outbox.c.last_error)
                                .where(outbox.c.ticket_id == ticket_id)).fetchall()
        last = hooks[-1] if hooks else {}
        return (f"webhooks for the ticket: {len(hooks)} (last: {last.get('status')} {last.get('status_code')} "
                f"{last.get('error') or ''}); outbox rows: "
                + (", ".join(f"{r.state} after {r.attempts} attempt(s) {str(r.last_error or '')[:120]}"
                             for r in rows) or "none"))

    # ------------------------------------------------------------------ (c) baseline drain

    def drain_baseline(self, n: int, sync: NaiveSync | None = None, queue: list[dict[str, Any]] | None = None,
                       refs: Callable[[str], set[str]] | None = None) -> dict[str, Any]:
        """The baseline writes ``queue`` (X's mentions unless told) into a reset Zendesk."""
        sync = sync or self.baseline
        queue = self.baseline_queue if queue is None else queue
        self.ctl.call("zendesk", "POST", "reset")
        self.set_plan()
        self.ctl.take_log("zendesk")
        self.baseline_sleep_service = "zendesk"
        self.baseline_slept.clear()
        timer = HttpTimer(sync.zd)
        entries: list[dict[str, Any]] = []
        t0 = self.ctl.now("zendesk")
        wall0 = time.perf_counter()
        flush = {"at": 0, "overhead": 0.0}
        last_report = [time.monotonic()]

        def progress(index: int) -> None:
            if timer.count - flush["at"] >= LOG_FLUSH_EVERY:
                started = time.perf_counter()
                entries.extend(self.ctl.take_log("zendesk"))
                flush["overhead"] += time.perf_counter() - started
                flush["at"] = timer.count
            if time.monotonic() - last_report[0] > 5:
                last_report[0] = time.monotonic()
                simulated = self.ctl.now("zendesk") - t0
                self.progress(f"baseline drain: {index}/{n} items, {timer.count} helpdesk requests, "
                              f"{sync.stats.throttled_429} x 429, {simulated / 60:.1f} simulated min, "
                              f"{time.perf_counter() - wall0:.0f}s wall")
            if time.perf_counter() - wall0 > self.args.timeout:
                raise Stalled(f"baseline drain: {index}/{n} after {self.args.timeout:.0f}s wall")

        sync.write_all(queue, progress)
        wall = time.perf_counter() - wall0
        t_end = self.ctl.now("zendesk")
        entries.extend(self.ctl.take_log("zendesk"))
        calls = [e for e in entries if e.get("user") == self.api_email]
        tickets = self.ctl.call("zendesk", "GET", "tickets")["tickets"]
        result = self.side_result(n, calls, t0, t_end, wall, tickets, refs)
        slept = sum(self.baseline_slept)
        result["drain"]["time_breakdown_s"] = {
            "helpdesk_http_round_trips": round(timer.seconds, 1),
            "sleeping_retry_after_skipped": round(slept, 1),
            "client_cpu_and_other": round(max(0.0, wall - timer.seconds - flush["overhead"]), 1),
            "bench_log_reads": round(flush["overhead"], 1),
            "note": "simulated = wall + Retry-After sleeps (skipped by moving the sandbox clock)"}
        result["throttled_429"]["counted_by_baseline"] = sync.stats.throttled_429
        result["baseline_stats"] = sync.stats.as_dict()
        result["reply_to_post"] = None
        return result

    # ------------------------------------------------------------------ (d) Facebook and Instagram

    def setup_meta(self) -> None:
        """socialdesk's Meta routes (META_MAPPING) on a Zendesk reset to the plan: a daemon of
        their own (own store, own receiver), Meta's webhooks pointed at it as an admin does
        in the App Dashboard (cli/wiring.py ``subscribe_on_sandbox``), Zendesk's at it too."""
        self.ctl.call("zendesk", "POST", "reset")
        self.set_plan()
        # One time for Meta, Zendesk's windows and the daemon from here on.
        gap = self.clock() - self.ctl.now("meta")
        if gap > 0:
            self.ctl.advance("meta", gap)
        else:
            self.clock.advance(-gap)
        tmp = Path(self._tmp.name)  # type: ignore[union-attr]
        self.meta_store = Store(f"sqlite:///{tmp / 'state-meta.sqlite'}", clock=self.clock)
        self.meta_store.migrate()
        config = dataclasses.replace(parse_config(META_MAPPING, source="<bench meta mapping>"),
                                     state_url=self.meta_store.url)
        self.meta_config = config
        self.meta_daemon = Daemon(config, self.meta_store, sandbox_endpoints(self.info), clock=self.clock)
        self.meta_daemon.prepare()
        self.meta_routes = list(self.meta_daemon.routes.values())
        for route in self.meta_routes:
            if route.parked or route.waiting:
                raise Stalled(f"route {route.name} stopped at start: {route.parked or route.waiting}")
        if self.args.rate_share is not None:
            budget = getattr(getattr(self.meta_routes[0].helpdesk, "session", None), "rate_budget", None)
            if budget is not None:
                budget.share = self.args.rate_share
        self.meta_web = WebServer(self.meta_daemon.web_app(), "127.0.0.1", 0).start()
        self.meta_daemon.setup_push(self.meta_web.url)
        for name, network in self.meta_daemon.networks.items():
            subscribe_on_sandbox(self.info, network.kind, f"{self.meta_web.url}/hooks/network/{name}")
        self.meta_every = {(route.name, stream): max(poll_interval(cfg.poll, stream), route.network.min_poll_interval)
                           for cfg, route in zip(config.routes, self.meta_routes) for stream in route.settings.streams}

    def graph_calls_counted(self) -> int:
        """Graph calls socialdesk's Meta adapters made, as Meta counts them (a batch's each)."""
        return sum(int(net.usage()["calls"]) for net in self.meta_daemon.networks.values())

    def meta_refs(self, body: str) -> set[str]:
        return refs_in(body) & self.meta_ref_set

    def post_and_read_meta(self, scenario: MetaScenario) -> dict[str, Any]:
        """The workload posted on Meta (webhooks delivered to socialdesk's receiver and kept),
        then read by both syncs before any helpdesk work: socialdesk reads the kept
        deliveries into its inbox and runs each stream's reconciliation read once, as the
        daemon does when it starts; the baseline reads every edge."""
        meta = self.info["services"]["meta"]
        expected = scenario.expected()
        for bucket, people in (("pages", expected["people"]["facebook"]),
                               ("instagram", expected["people"]["instagram"])):
            self.ctl.call("meta", "POST", "usage", json={"bucket": bucket, "seconds": 86400,
                                                         "calls": META_CALLS_PER_PERSON * max(1, people)})
        self.ctl.take_log("meta")
        local = threading.local()

        def session() -> requests.Session:
            found = getattr(local, "session", None)
            if found is None:
                found = local.session = requests.Session()
                found.verify, found.trust_env = self.info["ca_bundle"], False
            return found

        wall0 = time.perf_counter()
        Poster(meta["url"], session, {"facebook": meta["page_handle"], "instagram": meta["ig_handle"]}
               ).post_all(scenario)
        self.meta_ref_set = {item.ref for item in scenario.items}
        self.progress(f"meta: posted {len(scenario.items)} comments and DMs in {time.perf_counter() - wall0:.0f}s; "
                      "waiting for Meta's webhooks")
        deadline = time.monotonic() + WEBHOOK_SETTLE_WALL
        while True:
            hooks = self.ctl.call("meta", "GET", "webhooks", params={"wait": 10, "deliveries": 0})
            if hooks["idle"] and not hooks["pending"]:
                break
            if time.monotonic() > deadline:
                raise Stalled(f"meta: webhooks still pending after {WEBHOOK_SETTLE_WALL:.0f}s: {hooks['pending']}")
        with self.meta_store.engine.connect() as conn:  # type: ignore[union-attr]
            kept = dict(conn.execute(sa.select(pushes.c.state, sa.func.count()).group_by(pushes.c.state)).all())
        webhooks = {"kept_by_receiver": sum(kept.values()), "failed_attempts": hooks["failed_attempts"],
                    "dropped": len(hooks["dropped"])}
        if self.ctl.take_log("meta"):
            self.notes.append("meta: Graph calls were logged while the workload was posted (none expected)")

        counted0 = self.graph_calls_counted()
        read_pushes = 0
        for route in self.meta_routes:
            while (done := route.read_pushes()):
                read_pushes += done
        push_log = self.ctl.take_log("meta")
        counted1 = self.graph_calls_counted()
        for route in self.meta_routes:
            for stream in route.settings.streams:
                route.poll(stream)
        recon_log = self.ctl.take_log("meta")
        counted2 = self.graph_calls_counted()
        pending = self.pending(self.meta_store, tuple(r.name for r in self.meta_routes))[0]

        self.meta_baseline = NaiveMeta(
            graph_url=f"{meta['url']}/{meta['version']}", page_token=meta["page_token"], page_id=meta["page_id"],
            ig_user_id=meta["ig_user_id"], zendesk_url=self.info["services"]["zendesk"]["url"],
            zendesk_oauth_token=self.info["services"]["zendesk"]["api_oauth_token"],
            ca_bundle=self.info["ca_bundle"], sleep=self._baseline_sleep)
        self.baseline_sleep_service = "meta"
        self.meta_queue = self.meta_baseline.read_meta()
        base_log = self.ctl.take_log("meta")
        n = len(scenario.items)
        if pending != n or len(self.meta_queue) != n:
            raise Stalled(f"meta: reading the workload: socialdesk inbox holds {pending}, baseline read "
                          f"{len(self.meta_queue)}, expected {n}")
        refused = [e for e in push_log + recon_log + base_log if int(e.get("status") or 0) >= 400]
        if refused:
            self.notes.append(f"meta: {len(refused)} Graph call(s) refused while reading: "
                              + ", ".join(f"{k} x{v}" for k, v in Counter(
                                  f"{endpoint_of(e)} {e['status']}" for e in refused).most_common(4)))

        def reads(entries: list[dict[str, Any]], counted: int | None) -> dict[str, Any]:
            return {"http_requests": len(entries), "calls_counted_by_meta": counted,
                    "by_endpoint": dict(Counter(graph_endpoint(e) for e in entries).most_common())}

        return {"wall_seconds": round(time.perf_counter() - wall0, 1), "webhooks": webhooks,
                "deliveries_read": read_pushes,
                "socialdesk": {"webhook_path": reads(push_log, counted1 - counted0),
                               "reconciliation": reads(recon_log, counted2 - counted1)},
                "baseline": reads(base_log, len(base_log))}

    def drain_meta(self, n: int) -> dict[str, Any]:
        """socialdesk's Meta routes drain their inbox into Zendesk, driven as the daemon's
        scheduler would (as ``drain_socialdesk``, over both routes); Meta's reconciliation
        reads come due as the (simulated) minutes pass and are counted apart."""
        routes, daemon = self.meta_routes, self.meta_daemon
        names = tuple(r.name for r in routes)
        desk = routes[0].helpdesk
        timer = HttpTimer(desk.session)
        pauses: list[dict[str, Any]] = []
        undo = [record_pauses(route, pauses) for route in routes]
        entries: list[dict[str, Any]] = []
        self.ctl.take_log("zendesk")
        self.ctl.take_log("meta")
        counted0 = self.graph_calls_counted()
        hints_handled = 0
        t0 = self.ctl.now("zendesk")
        clock0 = self.clock()
        wall0 = last_work = time.perf_counter()
        self.skipped, self.skips = 0.0, 0
        last_replies = -math.inf
        last_flush_count = 0
        last_report = time.monotonic()
        idle = 0
        quiet_since: float | None = None
        while True:
            hints = daemon.drain_hints()
            hints_handled += hints
            if hints:
                last_work = time.perf_counter()
            for route in routes:
                while route.read_pushes():
                    last_work = time.perf_counter()
            left, due = self.pending(self.meta_store, names)
            if left == 0:
                if hints or daemon.hints.qsize():
                    quiet_since = None
                    continue
                if quiet_since is None:
                    quiet_since = time.perf_counter()
                if time.perf_counter() - quiet_since < self.args.settle:
                    time.sleep(0.02)
                    continue
                break
            quiet_since = None
            if time.perf_counter() - wall0 > self.args.timeout:
                raise Stalled(f"meta drain: {left} rows still pending after {self.args.timeout:.0f}s wall")
            for route in routes:
                if route.parked:
                    raise Stalled(f"meta drain: route {route.name} parked: {route.parked}")
                for stream in route.settings.streams:
                    if route.poll_due(stream, self.meta_every[(route.name, stream)]):
                        route.poll(stream)
            if self.clock() - last_replies >= REPLIES_EVERY:
                for route in routes:
                    route.poll_replies()
                last_replies = self.clock()
            done = sum(route.process_inbox() for route in routes)
            last_work = time.perf_counter()
            if timer.count - last_flush_count >= LOG_FLUSH_EVERY:
                entries.extend(self.ctl.take_log("zendesk"))
                last_flush_count = timer.count
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                self.progress(f"meta drain: {left} pending, {time.perf_counter() - wall0:.0f}s wall, "
                              f"{self.clock() - clock0:.0f}s simulated, {timer.count} helpdesk requests")
            if done:
                idle = 0
                continue
            now = self.clock()
            waits = [until - now for route in routes for until in route.paused_until.values() if until > now]
            if waits:
                self.skip(max(waits) + 0.5, META_SERVICES)
                continue
            left, due = self.pending(self.meta_store, names)
            if left and due is not None and due > now:
                self.skip(due - now + 0.1, META_SERVICES)
                continue
            idle += 1
            if idle > 200:
                raise Stalled(f"meta drain: {left} rows pending and nothing done in 200 rounds")
            time.sleep(0.01)
        tail = time.perf_counter() - last_work
        wall = last_work - wall0
        t_end = self.ctl.now("zendesk") - tail
        entries.extend(self.ctl.take_log("zendesk"))
        graph = self.ctl.take_log("meta")
        for undo_one in undo:
            undo_one()
        calls = [e for e in entries if e.get("user") == self.api_email]
        tickets = self.ctl.call("zendesk", "GET", "tickets")["tickets"]
        result = self.side_result(n, calls, t0, t_end, wall, tickets, self.meta_refs)
        result["drain"]["time_breakdown_s"] = {
            "helpdesk_http_round_trips": round(timer.seconds, 1),
            "daemon_and_store_cpu_and_other": round(max(0.0, wall - timer.seconds), 1),
            "skipped_waits": round(self.skipped, 1)}
        reasons = Counter(re.sub(r"\d+", "N", p["reason"]) for p in pauses)
        result["route_pauses"] = {"count": len(pauses), "reasons": dict(reasons.most_common(5))}
        result["hints_handled"] = hints_handled
        result["graph_during_drain"] = {
            "http_requests": len(graph), "calls_counted_by_meta": self.graph_calls_counted() - counted0,
            "by_endpoint": dict(Counter(graph_endpoint(e) for e in graph).most_common()),
            "note": "the reconciliation reads that came due while the drain ran (simulated time)"}
        result["by_route"] = {route.name: dataclasses.asdict(route.stats) for route in routes}
        return result

    def meta_part(self) -> dict[str, Any]:
        """(d) Facebook and Instagram: the workload read by both syncs, socialdesk's drain,
        then the baseline's into a reset Zendesk."""
        args = self.args
        base_events = make_scenario(args.meta_items, args.followup_share, args.customer_ratio, args.seed + 1).events
        scenario = make_meta_scenario(base_events, args.meta_dm_share, args.seed + 1)
        expected = scenario.expected()
        floor = floor_of(Scenario([], expected["requesters"], expected["tickets"],
                                  expected["followups_in_a_ticket"], expected["max_followups_per_ticket"]),
                         PLAN_RATES[args.plan])
        n = expected["items"]
        with self.memory.phase("meta: setup, post and read (both syncs)"):
            self.progress(f"meta: {n} Facebook and Instagram comments and DMs")
            self.setup_meta()
            reading = self.post_and_read_meta(scenario)
        with self.memory.phase("meta: socialdesk drain"), WarningCounter() as warnings:
            self.progress(f"meta: socialdesk draining {n} items")
            sd = self.drain_meta(n)
        sd["daemon_warnings"] = dict(warnings.counts.most_common(8))
        with self.memory.phase("meta: baseline drain"):
            self.progress(f"meta: baseline writing {n} items into a reset Zendesk")
            base = self.drain_baseline(n, self.meta_baseline, self.meta_queue, self.meta_refs)
        base["baseline_stats"]["label"] = META_BASELINE_LABEL
        for figures in (sd, base):
            figures["calls_per_item"] = figures.pop("calls_per_mention")
            figures["item_to_ticket"] = figures.pop("mention_to_ticket")
            figures["drain"]["vs_floor"] = (round(figures["drain"]["simulated_seconds"] / floor["seconds"], 2)
                                            if floor["seconds"] else None)
        sd_reads = reading["socialdesk"]
        graph_sd = (sd_reads["webhook_path"]["http_requests"] + sd_reads["reconciliation"]["http_requests"]
                    + sd["graph_during_drain"]["http_requests"])
        counted_sd = (sd_reads["webhook_path"]["calls_counted_by_meta"]
                      + sd_reads["reconciliation"]["calls_counted_by_meta"]
                      + sd["graph_during_drain"]["calls_counted_by_meta"])
        graph_base = reading["baseline"]["http_requests"]
        sd["graph_reads"] = {"http_requests": graph_sd, "per_item": round(graph_sd / n, 4),
                             "calls_counted_by_meta": counted_sd, "counted_per_item": round(counted_sd / n, 4)}
        base["graph_reads"] = {"http_requests": graph_base, "per_item": round(graph_base / n, 4),
                               "calls_counted_by_meta": graph_base, "counted_per_item": round(graph_base / n, 4)}
        return {
            "scenario": {**expected, "dm_share": args.meta_dm_share, "seed": args.seed + 1},
            "floor": floor,
            "reading": reading,
            "socialdesk": sd,
            "baseline": {"label": META_BASELINE_LABEL, **base},
            "ratios": {
                "baseline_over_socialdesk_calls_per_item": (round(base["calls_per_item"] / sd["calls_per_item"], 2)
                                                            if sd["calls_per_item"] else None),
                "baseline_over_socialdesk_graph_reads": (round(graph_base / graph_sd, 2) if graph_sd else None),
                "socialdesk_drain_over_floor": sd["drain"]["vs_floor"]},
            "notes": [
                "same run, same sandbox and Zendesk plan as the X figures; Zendesk reset before each Meta drain",
                "socialdesk receives Meta's webhooks (kept by its receiver, read into the inbox) and reconciles by "
                "reading; the baseline has no webhook listener and reads every edge once",
                f"Meta budgets set to {META_CALLS_PER_PERSON} calls a day per person engaging on each network "
                "(Meta's Pages rule, 4,800 x engaged users; the stand-in starts at one)",
                "Graph reads: HTTP requests on the stand-in's log; 'counted by Meta' counts each request of a "
                "batch (socialdesk batches up to 50 reads; the baseline makes no batch requests)",
                "no target is set for Meta: the ratio is reported, the X target stays X's",
                "agent replies are measured on X only",
            ]}

    # ------------------------------------------------------------------ (e) Zendesk Channel Framework mode

    def channel_part(self, n: int) -> dict[str, Any]:
        """(e) The same mentions in Channel Framework mode (bench/channel_mode.py): Zendesk reset,
        the integration installed, the drain, agent replies through channelback, then Zendesk's
        scheduled pulls."""
        part = self.channel
        assert part is not None
        with self.memory.phase("channel: install"):
            self.progress("channel: Zendesk reset; it installs socialdesk's Channel Framework integration")
            install = part.install()
        with self.memory.phase("channel: drain"), WarningCounter() as warnings:
            self.progress(f"channel: draining {n} mentions through Zendesk's Channel Framework")
            drained = part.drain(n)
        drained["daemon_warnings"] = dict(warnings.counts.most_common(8))
        self.progress(f"channel: {drained['helpdesk_calls']} Zendesk API calls, "
                      f"{drained['drain']['simulated_seconds']:.0f}s simulated; agent replies next")
        with self.memory.phase("channel: agent replies"):
            drained["reply_to_post"] = part.replies(self.args.replies)
        pulls_after = part.scheduled_pulls()
        zendesk_side = part.figures(n, drained["resources"]["kept_for_zendesk"])
        drained["x_calls_reading"] = {"total": sum(part.x_read_calls.values()), "by_endpoint": dict(part.x_read_calls)}
        cpm = drained["calls_per_mention"]
        return {
            "label": CHANNEL_LABEL,
            "mapping": "bench/channel_mode.py CHANNEL_MAPPING (BENCH_MAPPING's route, mode: channel, no group)",
            "install": install,
            "socialdesk": drained,
            "zendesk_side": zendesk_side,
            "pulls_after_drain": pulls_after,
            "target": {"calls_per_mention_max": TARGET_CALLS_PER_MENTION, "met": cpm < TARGET_CALLS_PER_MENTION},
            "notes": [
                "the same mentions as the REST drain, read in the same waves by a daemon of its own; Zendesk reset "
                "to the same plan before the install",
                "counted: Zendesk API calls with socialdesk's credentials (REST and the integration account's push "
                "token); Zendesk's pulls, channelbacks and event callbacks are Zendesk calling socialdesk and cost "
                "no API call",
                "the mapping names no group: a resource cannot set one, so socialdesk would set it through REST on "
                "each new ticket (one call per ticket)",
                "the install (manifest, admin UI, the account's token confirmed) is counted apart from the drain",
            ]}

    # ------------------------------------------------------------------ figures of one side

    def side_result(self, n: int, calls: list[dict[str, Any]], t0: float, t_end: float, wall: float,
                    tickets: list[dict[str, Any]], refs: Callable[[str], set[str]] | None = None) -> dict[str, Any]:
        """One sync's figures; ``refs`` finds the items a comment carries (X: its /status/<id> URLs)."""
        refs = refs or self.x_refs
        carried: dict[str, list[float]] = {}
        live = [t for t in tickets if not t.get("deleted")]
        for ticket in live:
            for comment in ticket.get("comments") or []:
                for post_id in refs(comment.get("body") or ""):
                    carried.setdefault(post_id, []).append(parse_iso(comment["created_at"]))
        latencies = [max(0.0, min(times) - t0) for times in carried.values()]
        simulated = t_end - t0
        statuses = Counter(str(e.get("status")) for e in calls)
        return {
            "helpdesk_calls": len(calls),
            "calls_per_mention": round(len(calls) / n, 4),
            "by_endpoint": dict(Counter(endpoint_of(e) for e in calls).most_common()),
            "status_counts": dict(statuses.most_common()),
            "drain": {"simulated_seconds": round(simulated, 1), "simulated_minutes": round(simulated / 60, 2),
                      "wall_seconds": round(wall, 1), "skipped_seconds": round(simulated - wall, 1)},
            "mention_to_ticket": {**pct(latencies), "method": (
                "backlog latency: all posts readable at drain start t0; creation time (Zendesk sandbox clock, "
                "1 s resolution) of the ticket/comment carrying the post (X: its /status/<id> URL; Meta: its "
                "ref) minus t0")},
            "throttled_429": {"from_log": statuses.get("429", 0)},
            "tickets": len(live), "posts_in_helpdesk": len(carried), "lost": n - len(carried),
            "duplicates": sum(len(v) - 1 for v in carried.values()),
        }

    def x_refs(self, body: str) -> set[str]:
        """The scenario's X posts a helpdesk comment carries (by their /status/<id> URLs)."""
        return {post_id for post_id in re.findall(r"/status/(\d+)", body) if post_id in self.post_ids}

    # ------------------------------------------------------------------ all of it

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        args = self.args
        scenario = make_scenario(args.mentions, args.followup_share, args.customer_ratio, args.seed)
        with self.memory.phase("setup, post on X and read (both syncs)"):
            self.progress("starting the sandbox (X + Zendesk) and the daemon")
            self.setup()
            reading = self.post_and_read(scenario)
        floor = floor_of(scenario, PLAN_RATES[args.plan])
        share = (self.budgets.get("helpdesk") or {}).get("share")
        if share:
            floor["seconds_at_socialdesk_share"] = round(floor["seconds"] / share, 1)
            floor["share_note"] = (f"socialdesk keeps to {share:.0%} of the limit by design; the target is "
                                   "against the floor at the full limit")
        with self.memory.phase("socialdesk drain"), WarningCounter() as warnings:
            self.progress(f"socialdesk: draining {args.mentions} mentions")
            sd = self.drain_socialdesk(args.mentions)
        sd["daemon_warnings"] = dict(warnings.counts.most_common(8))
        self.progress(f"socialdesk: {sd['helpdesk_calls']} helpdesk calls, "
                      f"{sd['drain']['simulated_seconds']:.0f}s simulated; agent replies next")
        with self.memory.phase("socialdesk agent replies"):
            sd["reply_to_post"] = self.replies(args.replies)
        with self.memory.phase("baseline drain"):
            self.progress(f"baseline: draining {args.mentions} mentions into a reset Zendesk")
            base = self.drain_baseline(args.mentions)
        meta = self.meta_part() if args.meta_items else None
        channel = self.channel_part(args.mentions) if self.channel is not None else None
        sd["x_calls_reading"] = reading["x_calls"]["socialdesk"]
        base["x_calls_reading"] = reading["x_calls"]["baseline"]
        sd_cpm, base_cpm = sd["calls_per_mention"], base["calls_per_mention"]
        calls_ratio = round(base_cpm / sd_cpm, 2) if sd_cpm else None
        drain_ratio = round(sd["drain"]["simulated_seconds"] / floor["seconds"], 2) if floor["seconds"] else None
        sd["drain"]["vs_floor"] = drain_ratio
        base["drain"]["vs_floor"] = round(base["drain"]["simulated_seconds"] / floor["seconds"], 2)
        sd["requests_vs_floor_requests"] = round(sd["helpdesk_calls"] / floor["requests"], 2)
        base["requests_vs_floor_requests"] = round(base["helpdesk_calls"] / floor["requests"], 2)
        result = {
            "parameters": {"mentions": args.mentions, "meta_items": args.meta_items,
                           "meta_dm_share": args.meta_dm_share, "replies": args.replies, "followup_share": args.followup_share,
                           "customer_ratio": args.customer_ratio, "seed": args.seed, "plan": args.plan,
                           "reply_spacing_s": args.reply_spacing, "tracemalloc": args.tracemalloc,
                           "rate_share_override": args.rate_share, "channel_mode": args.channel,
                           "mapping": args.mapping or "bench/compare.py BENCH_MAPPING"},
            "socialdesk_rate_budget": self.budgets,
            "scenario": {**scenario.as_dict(), "waves": reading["waves"], "wave_size": reading["wave_size"]},
            "limits": {"plan": args.plan, "account_per_minute": PLAN_RATES[args.plan],
                       "zendesk_sandbox": self.limits},
            "floor": floor,
            "socialdesk": sd,
            "baseline": {"label": BASELINE_LABEL, **base},
            "ratios": {"baseline_over_socialdesk_calls_per_mention": calls_ratio,
                       "socialdesk_drain_over_floor": drain_ratio,
                       "baseline_drain_over_floor": base["drain"]["vs_floor"],
                       "baseline_over_socialdesk_drain_time": round(
                           base["drain"]["simulated_seconds"] / sd["drain"]["simulated_seconds"], 1)
                       if sd["drain"]["simulated_seconds"] else None},
            "targets": {"calls_ratio_min": TARGET_CALLS_RATIO,
                        "calls_ratio_met": bool(calls_ratio and calls_ratio >= TARGET_CALLS_RATIO),
                        "drain_over_floor_max": TARGET_DRAIN_OVER_FLOOR,
                        "drain_over_floor_met": bool(drain_ratio and drain_ratio <= TARGET_DRAIN_OVER_FLOOR)},
            "memory": {"method": "process resident set (VmRSS sampled every 50 ms) per phase, and getrusage "
                                 "ru_maxrss (process high-water mark) after each phase; one process holds the "
                                 "sandbox servers, the daemon and the baseline",
                       "phases": self.memory.phases},
            "machine": machine(),
            "notes": self.notes + self.standard_notes(),
            "total_wall_seconds": round(time.perf_counter() - started, 1),
        }
        if channel is not None:
            cpm = channel["socialdesk"]["calls_per_mention"]
            channel["ratios"] = {
                "rest_over_channel_calls_per_mention": round(sd_cpm / cpm, 1) if cpm else None,
                "baseline_over_channel_calls_per_mention": round(base_cpm / cpm, 1) if cpm else None,
                "rest_over_channel_drain_time": (round(sd["drain"]["simulated_seconds"]
                                                       / channel["socialdesk"]["drain"]["simulated_seconds"], 1)
                                                 if channel["socialdesk"]["drain"]["simulated_seconds"] else None)}
            channel["side_by_side"] = {
                "calls_per_mention": {"channel": cpm, "rest": sd_cpm, "baseline": base_cpm},
                "calls_per_reply": {"channel": channel["socialdesk"]["reply_to_post"].get("helpdesk_calls_per_reply"),
                                    "rest": (sd.get("reply_to_post") or {}).get("helpdesk_calls_per_reply")},
                "note": "the same mentions, the same sandbox and plan, one run; Zendesk reset before each drain"}
            result["channel"] = channel
            result["ratios"]["rest_over_channel_calls_per_mention"] = channel["ratios"]["rest_over_channel_calls_per_mention"]
            result["targets"]["channel_calls_per_mention_max"] = TARGET_CALLS_PER_MENTION
            result["targets"]["channel_calls_per_mention_met"] = channel["target"]["met"]
        if meta is not None:
            result["meta"] = meta
            result["ratios"]["meta_baseline_over_socialdesk_calls_per_item"] = \
                meta["ratios"]["baseline_over_socialdesk_calls_per_item"]
            result["per_item_side_by_side"] = {
                "helpdesk_calls_per_item": {
                    "socialdesk": {"x": sd_cpm, "meta": meta["socialdesk"]["calls_per_item"]},
                    "baseline": {"x": base_cpm, "meta": meta["baseline"]["calls_per_item"]}},
                "network_reads_per_item": {
                    "socialdesk": {"x": round((sd["x_calls_reading"]["total"] + sd.get("x_calls_during_drain", 0))
                                         / args.mentions, 4),
                                   "meta": meta["socialdesk"]["graph_reads"]["per_item"]},
                    "baseline": {"x": round(base["x_calls_reading"]["total"] / args.mentions, 4),
                                 "meta": meta["baseline"]["graph_reads"]["per_item"]}},
                "note": "one run: X mentions and Meta comments/DMs through the same sandbox and Zendesk plan"}
        result["where_it_goes"] = self.explain(result)
        return result

    def standard_notes(self) -> list[str]:
        return [
            "the baseline does not mirror agent replies: reply -> post is measured for socialdesk only",
            "socialdesk's count includes every helpdesk call of the drain: user upserts, bulk jobs, job-status "
            "polls, ticket reads for threading and the agent-reply export the daemon runs every 30 s",
            "both syncs read the same posts from X before the drain (X calls listed apart); the drain is "
            "helpdesk work only",
            "simulated time = wall time working + waits skipped by moving the sandbox clock (Retry-After, route "
            "pauses, retry times); loopback round trips are ~ms, production's ~100-300 ms",
        ]

    @staticmethod
    def explain(r: dict[str, Any]) -> list[str]:
        """Where the calls and the time go when a target is missed."""
        out: list[str] = []
        sd, floor = r["socialdesk"], r["floor"]
        if not r["targets"]["calls_ratio_met"]:
            hooks = sd.get("webhooks") or {}
            out.append(f"calls: socialdesk {sd['helpdesk_calls']} requests for {r['scenario']['mentions']} mentions "
                       f"({floor['requests']} at the floor): " +
                       ", ".join(f"{k} x{v}" for k, v in sd["by_endpoint"].items()) +
                       f"; the Zendesk trigger sent {hooks.get('delivered_to_daemon')} webhooks during the drain "
                       f"({hooks.get('hints_handled')} hints handled, each reads the ticket's comments)")
        if not r["targets"]["drain_over_floor_met"]:
            b = sd["drain"]["time_breakdown_s"]
            out.append(f"time: socialdesk took {sd['drain']['simulated_seconds']:.0f}s against a "
                       f"{floor['seconds']:.0f}s floor; wall {sd['drain']['wall_seconds']:.0f}s = helpdesk round "
                       f"trips {b['helpdesk_http_round_trips']:.0f}s + job-status wait sleeps "
                       f"{b['job_status_waits_sleeping']:.0f}s ({b['jobs_waited']} waits for groups of jobs in flight together) "
                       f"+ daemon/store/other {b['daemon_and_store_cpu_and_other']:.0f}s + bench log reads "
                       f"{b['bench_log_reads']:.0f}s; skipped waits {b['skipped_waits']:.0f}s "
                       f"(route pauses: {sd['route_pauses']['count']}, "
                       f"{'; '.join(sd['route_pauses']['reasons']) or 'none'}); requests "
                       f"{sd['requests_vs_floor_requests']}x the floor's")
        channel = r.get("channel")
        if channel and not channel["target"]["met"]:
            ch = channel["socialdesk"]
            pushed, b, pacing = ch["pushes_in_drain"], ch["drain"]["time_breakdown_s"], ch.get("pusher") or {}
            others = {k: v for k, v in ch["by_endpoint"].items() if "any_channel/push" not in k}
            out.append(f"channel calls: {ch['helpdesk_calls']} calls for {r['scenario']['mentions']} mentions, "
                       f"{pushed['requests']} of them pushes ({channel['zendesk_side']['push_floor']['requests']} if "
                       f"every push carried 256): {(pushed['per_request'] or {}).get('mean')} resources a push on "
                       f"average, one push every {b.get('wall_s_between_pushes')} s of drain; the pusher's rule: "
                       f"{pacing.get('rule')}; the writes took {b.get('ms_per_row_written')} ms a mention "
                       f"({b.get('rows_written')} rows in {b.get('writes_process_inbox')} s)"
                       + (f"; other calls: {', '.join(f'{k} x{v}' for k, v in others.items())}" if others else ""))
        return out


# --------------------------------------------------------------------------- output


def render(r: dict[str, Any]) -> str:
    sd, base, fl, ratios = r["socialdesk"], r["baseline"], r["floor"], r["ratios"]
    sc = r["scenario"]

    def lat(s: dict[str, Any] | None) -> str:
        if not s or not s.get("n"):
            return "n/a"
        return f"{s['p50_s']:.1f} / {s['p95_s']:.1f} s"

    def row(name: str, a: str, b: str) -> str:
        return f"  {name:<34} {a:>22} {b:>22}"

    rep = sd.get("reply_to_post") or {}
    mem = r["memory"]["phases"]
    sd_mem = mem.get("socialdesk drain", {})
    base_mem = mem.get("baseline drain", {})
    lines = [
        f"socialdesk vs THE BASELINE (naive sync) - {sc['mentions']} mentions, {sc['customers']} customers, "
        f"{sc['conversations']} conversations, {sc['followups']} follow-ups; Zendesk {r['limits']['plan']} "
        f"({r['limits']['account_per_minute']} requests/min), in-process sandbox",
        row("", "socialdesk", "baseline"),
        row("helpdesk calls per mention", f"{sd['calls_per_mention']:.3f}", f"{base['calls_per_mention']:.3f}"),
        row("helpdesk calls", str(sd["helpdesk_calls"]), str(base["helpdesk_calls"])),
        row("drain, simulated minutes", f"{sd['drain']['simulated_minutes']:.2f}",
            f"{base['drain']['simulated_minutes']:.2f}"),
        row("drain / floor", f"{sd['drain']['vs_floor']:.2f}x", f"{base['drain']['vs_floor']:.2f}x"),
        row("drain, wall seconds", f"{sd['drain']['wall_seconds']:.1f}", f"{base['drain']['wall_seconds']:.1f}"),
        row("mention -> ticket p50 / p95", lat(sd["mention_to_ticket"]), lat(base["mention_to_ticket"])),
        row("reply -> post p50 / p95", lat(rep.get("latency")) + f" (n={rep.get('posted', 0)})",
            "n/a (does not mirror)"),
        row("429s received", str(sd["throttled_429"]["from_log"]), str(base["throttled_429"]["from_log"])),
        row("tickets / lost / duplicate posts", f"{sd['tickets']} / {sd['lost']} / {sd['duplicates']}",
            f"{base['tickets']} / {base['lost']} / {base['duplicates']}"),
        row("peak RSS in drain (MiB)", str(sd_mem.get("rss_peak_mib")), str(base_mem.get("rss_peak_mib"))),
        "",
        f"floor: {fl['requests']} requests = J + ceil(J/100), J = ceil({fl['U_authors']}/100) + "
        f"ceil({fl['T_conversations']}/100) + max(ceil({fl['F_followups']}/100), {fl['k_max']}) jobs; "
        f"/ {fl['limit_per_minute']} per min = "
        f"{fl['seconds']:.1f} s ({fl['minutes']:.2f} min)",
        f"ratios: baseline/socialdesk calls per mention = {ratios['baseline_over_socialdesk_calls_per_mention']}x "
        f"(target >= {r['targets']['calls_ratio_min']:g}x: {'met' if r['targets']['calls_ratio_met'] else 'MISSED'}); "
        f"socialdesk drain/floor = {ratios['socialdesk_drain_over_floor']}x (target <= "
        f"{r['targets']['drain_over_floor_max']:g}x: {'met' if r['targets']['drain_over_floor_met'] else 'MISSED'})",
        *meta_lines(r, row, lat),
        *channel_lines(r, lat),
        "",
        "socialdesk calls: " + ", ".join(f"{k} x{v}" for k, v in sd["by_endpoint"].items()),
        "baseline calls:   " + ", ".join(f"{k} x{v}" for k, v in base["by_endpoint"].items()),
        "socialdesk time:  " + ", ".join(f"{k} {v}" for k, v in sd["drain"]["time_breakdown_s"].items()
                                         if k != "note"),
        "baseline time:    " + ", ".join(f"{k} {v}" for k, v in base["drain"]["time_breakdown_s"].items()
                                         if k != "note"),
        f"replies: {rep.get('helpdesk_calls_per_reply')} helpdesk calls per reply "
        f"({', '.join(f'{k} x{v}' for k, v in (rep.get('helpdesk_by_endpoint') or {}).items())})",
        "socialdesk warnings during the drain: " + ("; ".join(f"{k} x{v}" for k, v in
                                                              (sd.get("daemon_warnings") or {}).items()) or "none"),
        f"X reads before the drain: socialdesk {sd['x_calls_reading']['total']}, baseline "
        f"{base['x_calls_reading']['total']} requests",
        "memory (" + r["memory"]["method"] + "):",
        *[f"  {name}: peak {m['rss_peak_mib']} MiB (start {m['rss_start_mib']}), ru_maxrss after "
          f"{m['ru_maxrss_after_mib']} MiB" + (f", tracemalloc peak {m['tracemalloc_peak_mib']} MiB"
                                              if m.get("tracemalloc_peak_mib") is not None else "")
          for name, m in mem.items()],
        *(["where it goes:"] + [f"  - {line}" for line in r["where_it_goes"]] if r["where_it_goes"] else []),
        "notes:",
        *[f"  - {note}" for note in r["notes"]],
        f"(total {r['total_wall_seconds']:.0f} s wall)",
    ]
    return "\n".join(lines)


def meta_lines(r: dict[str, Any], row: Callable[[str, str, str], str],
               lat: Callable[[dict[str, Any] | None], str]) -> list[str]:
    """The Facebook and Instagram part of the table, and the per-item figures beside X's."""
    m = r.get("meta")
    if not m:
        return ["", "Facebook and Instagram: not run (--meta-items 0)"]
    sd, base, sc, fl, reading = m["socialdesk"], m["baseline"], m["scenario"], m["floor"], m["reading"]
    side = r["per_item_side_by_side"]
    channels = ", ".join(f"{v} {k}s" for k, v in sorted(sc["by_channel"].items()))
    sd_read = reading["socialdesk"]
    return [
        "",
        f"Facebook + Instagram, same run - {sc['items']} items ({channels}), {sc['requesters']} people, "
        f"{sc['tickets']} tickets as socialdesk threads them; Zendesk reset, same plan",
        row("", "socialdesk", "baseline"),
        row("helpdesk calls per item", f"{sd['calls_per_item']:.3f}", f"{base['calls_per_item']:.3f}"),
        row("helpdesk calls", str(sd["helpdesk_calls"]), str(base["helpdesk_calls"])),
        row("Graph API reads per item", f"{sd['graph_reads']['per_item']:.3f}",
            f"{base['graph_reads']['per_item']:.3f}"),
        row("  counted as Meta counts (batches)", f"{sd['graph_reads']['counted_per_item']:.3f}",
            f"{base['graph_reads']['counted_per_item']:.3f}"),
        row("drain, simulated minutes", f"{sd['drain']['simulated_minutes']:.2f}",
            f"{base['drain']['simulated_minutes']:.2f}"),
        row("drain / floor", f"{sd['drain']['vs_floor']:.2f}x", f"{base['drain']['vs_floor']:.2f}x"),
        row("item -> ticket p50 / p95", lat(sd["item_to_ticket"]), lat(base["item_to_ticket"])),
        row("429s received", str(sd["throttled_429"]["from_log"]), str(base["throttled_429"]["from_log"])),
        row("tickets / lost / duplicate items", f"{sd['tickets']} / {sd['lost']} / {sd['duplicates']}",
            f"{base['tickets']} / {base['lost']} / {base['duplicates']}"),
        f"meta floor: {fl['requests']} requests (U={fl['U_authors']}, T={fl['T_conversations']}, "
        f"F={fl['F_followups']}, k_max={fl['k_max']}) = {fl['seconds']:.1f} s",
        f"meta ratios: baseline/socialdesk helpdesk calls per item = "
        f"{m['ratios']['baseline_over_socialdesk_calls_per_item']}x (X: "
        f"{r['ratios']['baseline_over_socialdesk_calls_per_mention']}x); Graph reads baseline/socialdesk = "
        f"{m['ratios']['baseline_over_socialdesk_graph_reads']}x; no Meta target",
        "per item, this run: helpdesk calls socialdesk X {sx:.3f} / Meta {sm:.3f}, baseline X {bx:.3f} / Meta "
        "{bm:.3f}; network reads socialdesk X {rsx:.3f} / Meta {rsm:.3f}, baseline X {rbx:.3f} / Meta {rbm:.3f}".format(
            sx=side["helpdesk_calls_per_item"]["socialdesk"]["x"], sm=side["helpdesk_calls_per_item"]["socialdesk"]["meta"],
            bx=side["helpdesk_calls_per_item"]["baseline"]["x"], bm=side["helpdesk_calls_per_item"]["baseline"]["meta"],
            rsx=side["network_reads_per_item"]["socialdesk"]["x"], rsm=side["network_reads_per_item"]["socialdesk"]["meta"],
            rbx=side["network_reads_per_item"]["baseline"]["x"], rbm=side["network_reads_per_item"]["baseline"]["meta"]),
        f"meta webhooks: {reading['webhooks']['kept_by_receiver']} deliveries kept by socialdesk's receiver, "
        f"{reading['deliveries_read']} read into the inbox ({reading['webhooks']['failed_attempts']} failed "
        f"attempts, {reading['webhooks']['dropped']} dropped)",
        "meta socialdesk Graph reads: webhook path " + _graph(sd_read["webhook_path"]) + "; reconciliation at start "
        + _graph(sd_read["reconciliation"]) + "; during the drain " + _graph(sd["graph_during_drain"]),
        "meta baseline Graph reads: " + _graph(reading["baseline"]),
        "meta socialdesk calls: " + ", ".join(f"{k} x{v}" for k, v in sd["by_endpoint"].items()),
        "meta baseline calls:   " + ", ".join(f"{k} x{v}" for k, v in base["by_endpoint"].items()),
        "meta socialdesk warnings: " + ("; ".join(f"{k} x{v}" for k, v in
                                                  (sd.get("daemon_warnings") or {}).items()) or "none"),
        *[f"  - {note}" for note in m["notes"]],
    ]


def channel_lines(r: dict[str, Any], lat: Callable[[dict[str, Any] | None], str]) -> list[str]:
    """The Zendesk Channel Framework part: calls per mention beside REST mode's and the
    baseline's, and what Zendesk's side did."""
    c = r.get("channel")
    if not c:
        return ["", "Zendesk Channel Framework mode: not run (--no-channel)"]
    ch, rest, base = c["socialdesk"], r["socialdesk"], r["baseline"]
    z, pushes, pulls, after = c["zendesk_side"], c["zendesk_side"]["pushes"], c["zendesk_side"]["pulls"], \
        c["pulls_after_drain"]
    ch_rep, rest_rep = ch.get("reply_to_post") or {}, rest.get("reply_to_post") or {}

    def row3(name: str, a: str, b: str, d: str) -> str:
        return f"  {name:<34} {a:>18} {b:>18} {d:>18}"

    def ratio(value: Any) -> str:
        return f"{value}x" if value is not None else "n/a (no calls in channel mode)"

    sizes = pushes["per_request"] or {}
    tickets = z["tickets"]
    return [
        "",
        f"Zendesk Channel Framework mode (any_channel), same run - the same {r['scenario']['mentions']} mentions; "
        f"Zendesk reset, same plan, integration installed from its manifest",
        row3("", "channel mode", "REST mode", "baseline"),
        row3("Zendesk API calls per mention", f"{ch['calls_per_mention']:.4f}", f"{rest['calls_per_mention']:.4f}",
             f"{base['calls_per_mention']:.4f}"),
        row3("Zendesk API calls", str(ch["helpdesk_calls"]), str(rest["helpdesk_calls"]), str(base["helpdesk_calls"])),
        row3("drain, simulated minutes", f"{ch['drain']['simulated_minutes']:.2f}",
             f"{rest['drain']['simulated_minutes']:.2f}", f"{base['drain']['simulated_minutes']:.2f}"),
        row3("mention -> ticket p50 / p95", lat(ch["mention_to_ticket"]), lat(rest["mention_to_ticket"]),
             lat(base["mention_to_ticket"])),
        row3("reply -> post p50 / p95", lat(ch_rep.get("latency")) + f" (n={ch_rep.get('posted', 0)})",
             lat(rest_rep.get("latency")) + f" (n={rest_rep.get('posted', 0)})", "n/a"),
        row3("Zendesk API calls per reply", str(ch_rep.get("helpdesk_calls_per_reply")),
             str(rest_rep.get("helpdesk_calls_per_reply")), "n/a"),
        row3("429s received", str(ch["throttled_429"]["from_log"]), str(rest["throttled_429"]["from_log"]),
             str(base["throttled_429"]["from_log"])),
        row3("tickets / lost / duplicate posts", f"{ch['tickets']} / {ch['lost']} / {ch['duplicates']}",
             f"{rest['tickets']} / {rest['lost']} / {rest['duplicates']}",
             f"{base['tickets']} / {base['lost']} / {base['duplicates']}"),
        f"channel ratios: REST/channel calls per mention = {ratio(c['ratios']['rest_over_channel_calls_per_mention'])}; "
        f"baseline/channel = {ratio(c['ratios']['baseline_over_channel_calls_per_mention'])}; target < "
        f"{c['target']['calls_per_mention_max']:g} calls per mention: {'met' if c['target']['met'] else 'MISSED'}",
        f"Zendesk's side: {pushes['requests']} pushes carrying {pushes['resources']} resources "
        f"({sizes.get('min')}-{sizes.get('max')} each, mean {sizes.get('mean')}; {pushes['full_requests']} full; "
        f"floor ceil({pushes['resources']}/256) = {z['push_floor']['requests']}), statuses "
        + ", ".join(f"{k} x{v}" for k, v in pushes["statuses"].items()),
        f"  pulls: {pulls['requests']} in all ({', '.join(f'{k} x{v}' for k, v in pulls['by_trigger'].items()) or 'none'}), "
        f"{pulls['resources']} resources carried; after the drain {after['requests']} scheduled pulls carried "
        f"{after['resources']}",
        f"  tickets: {tickets['tickets']} ({', '.join(f'{k} x{v}' for k, v in tickets['by_via_channel'].items())}), "
        f"{tickets['follow_ups']} follow-ups, {tickets['comments']} comments; channelbacks "
        + (", ".join(f"{k} x{v}" for k, v in z["channelbacks"].items()) or "none")
        + "; events " + (", ".join(f"{k} x{v}" for k, v in z["events"].items()) or "none"),
        "channel calls: " + (", ".join(f"{k} x{v}" for k, v in ch["by_endpoint"].items()) or "none")
        + f"; install apart: {c['install']['helpdesk_calls']} ("
        + (", ".join(f"{k} x{v}" for k, v in c["install"]["by_endpoint"].items()) or "none") + ")",
        "channel warnings during the drain: " + ("; ".join(f"{k} x{v}" for k, v in
                                                           (ch.get("daemon_warnings") or {}).items()) or "none"),
        *[f"  - {note}" for note in c["notes"]],
    ]


def _graph(reads: dict[str, Any]) -> str:
    counted = reads.get("calls_counted_by_meta")
    extra = f" ({counted} counted)" if counted is not None and counted != reads["http_requests"] else ""
    return f"{reads['http_requests']} requests{extra}" + (
        " [" + ", ".join(f"{k} x{v}" for k, v in reads["by_endpoint"].items()) + "]" if reads["by_endpoint"] else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=10_000, help="mentions to drain (default 10,000)")
    parser.add_argument("--meta-items", type=int, default=2_000,
                        help="Facebook and Instagram comments and DMs to drain after the X part, in the same run "
                             "(default 2,000; 0 leaves Meta out)")
    parser.add_argument("--no-channel", dest="channel", action="store_false",
                        help="leave out the Zendesk Channel Framework mode part (default: the same mentions are "
                             "also synced in that mode, in the same run)")
    parser.add_argument("--meta-dm-share", type=float, default=0.5,
                        help="share of Meta conversations that are DMs rather than comments (default 0.5)")
    parser.add_argument("--replies", type=int, default=100, help="agent replies mirrored by socialdesk (default 100)")
    parser.add_argument("--followup-share", type=float, default=0.2,
                        help="share of mentions that are follow-ups in an open conversation (default 0.2)")
    parser.add_argument("--customer-ratio", type=float, default=0.75,
                        help="distinct customers per conversation (default 0.75: some open several)")
    parser.add_argument("--plan", choices=sorted(PLAN_RATES), default="enterprise", help="Zendesk plan (default enterprise)")
    parser.add_argument("--wave", type=int, default=500, help="mentions posted between two reads (<800, X's reach)")
    parser.add_argument("--reply-spacing", type=float, default=2.0, help="simulated seconds between agent answers")
    parser.add_argument("--rate-share", type=float, default=None,
                        help="share of the Zendesk limit socialdesk allows itself (default: the product default)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="wall seconds without a webhook hint after the inbox empties that end the drain")
    parser.add_argument("--mapping", metavar="PATH",
                        help="mapping.yaml for socialdesk (its first route, sandbox: true endpoints; "
                             "default: the bench's plain X -> Zendesk route; the Channel Framework part keeps "
                             "CHANNEL_MAPPING, bench/channel_mode.py)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up a drain after this many wall seconds")
    parser.add_argument("--item-timeout", type=float, default=20.0, help="give up one reply after this many seconds")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace the Python heap per phase (slows the work, so the simulated time too)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--json-out", metavar="PATH", help="also write the JSON object to PATH")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--process", action="store_true",
                        help="measure the daemon alone instead: sandbox and daemon in processes of their own, "
                             "100,000 mentions of history in the store (bench/daemon_alone.py; its options: "
                             "--state, --wave, --helpdesk, --repo, --profile, --keep; see its --help)")
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--process" in raw:
        from daemon_alone import main as daemon_alone

        return daemon_alone([arg for arg in raw if arg != "--process"])
    args = parser.parse_args(argv)
    if args.mentions < 2:
        parser.error("--mentions must be at least 2")
    if args.meta_items == 1 or args.meta_items < 0:
        parser.error("--meta-items must be 0 (no Meta part) or at least 2")
    if not 0 <= args.meta_dm_share <= 1:
        parser.error("--meta-dm-share must be in [0, 1]")
    if not 0 <= args.followup_share < 1 or not 0 < args.customer_ratio <= 1:
        parser.error("--followup-share must be in [0, 1) and --customer-ratio in (0, 1]")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the daemon's warnings are counted, not printed
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is sys.stderr:
            handler.setLevel(logging.ERROR)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[compare] {message}", file=sys.stderr, flush=True)

    run = Compare(args, progress)
    try:
        result = run.run()
    except (Stalled, ChannelStalled) as err:
        print(f"compare: STALLED: {err}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "error": str(err)}))
        return 2
    except KeyboardInterrupt:
        print("compare: interrupted", file=sys.stderr)
        return 130
    finally:
        run.teardown()
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
