#!/usr/bin/env python
"""Replicas: the same multi-tenant work done by one daemon and by N, on one PostgreSQL.

    cd /work/main && .venv/bin/python bench/replicas.py --replicas 3 --routes 60 --mentions 3000 --json

What happens:

1. A sandbox process (``socialdesk sandbox --json``) serves X and Zendesk, its limits set
   far above what the run needs (the vendors' windows must not be what is measured), X
   indexing posts at once, Zendesk's clock 20 times the wall's so its one-minute export
   lag passes in seconds.
2. ``--routes`` tenants (``bench/tenants.py``): each a route with its own X entry and its
   own Zendesk account (the sandbox serves one per tenant, each on a port of its own, as
   each customer of a hosted service has its own ``*.zendesk.com``). Their customers post
   ``--mentions`` posts (new conversations and follow-ups in them) before the daemons
   start: a backlog.
3. Run 1: one replica (``socialdesk run --config MAPPING --replica-id r1``) on a
   throwaway PostgreSQL database. Agents answer ``--answers`` tickets as soon as they appear
   (the sandbox's agent UI). The run ends when every post is written to the helpdesk and
   every answer posted on X (read from the replicas' state); then the replicas stop and
   the far side is audited (``sandbox.scenario.audit``: lost posts, duplicate tickets and
   replies, answers not on X).
4. Run N: the sandbox reset, the same tenants, posts and answers, ``--replicas`` replicas
   on a new database. Once half the posts are written, every replica holds leases and none
   changed hands for two seconds (the shares settled), the leases each one holds are
   counted (``lease_balance``: most / fewest) and one replica is SIGKILLed (not restarted);
   ``takeover_seconds`` runs from the kill until every lease it held is held live by
   another replica. A replica that exits by itself is started again
   and named in ``problems`` (``restarts_after_exit``).

The helpdesks' webhooks reach the replicas through one address (``Forwarder``, as a load
balancer in front of them): each replica's receiver listens on a port of its own, and any
replica takes any delivery, reads the answered ticket and posts the answer; the replies
export stays the safety net. ``--no-webhooks`` leaves them out: answers are then read by
the export alone, a minute behind Zendesk's clock (3 s at its speed here) and at most
every 6 s.

X is one host for every tenant and the sandbox has one brand account there, so the
tenants' X entries reach the same account, each reading the search for its own hashtag
(``bench/tenants.py``). ``--shared-zendesk`` puts every tenant in one Zendesk account
instead (each route's agent-reply export then reads every tenant's events).

``--no-kill`` leaves the kill out (its cost, by difference); ``--profile DIR`` samples
every replica and the sandbox with py-spy (collapsed stacks, one file each).

``speedup`` is run 1's time over run N's, from the replicas' start to the last answer
posted; ``cpu_seconds`` splits each run's CPU time between the replicas, the sandbox,
PostgreSQL, this bench (the agents and the audit) and ``others`` (the rest of the machine:
another job running meanwhile skews the run), which tells what bounds it.
``speedup_cpu_bound`` is the most speedup the machine's cores allow run N given the CPU
it spent (every core busy from start to end: cores x run 1's seconds / run N's CPU), and
``cores_busy_1`` the cores run 1 kept busy on average: with no CPU spent on being N
replicas, the bound is cores / ``cores_busy_1``.
Progress goes to stderr; the figures to stdout (``--json``: one object). Exit status 1
when anything was lost or duplicated or a run did not finish in time.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from bench import tenants  # noqa: E402
from bench.chaos import Controls, Crowd, Ledger, free_port, sandbox_popen  # noqa: E402
from bench.figures import show  # noqa: E402
from bench.replica_set import (  # noqa: E402
    Forwarder, Lease, Profiler, ReplicaSet, StateReader, balance, held, machine_cpu, own_cpu, postgres_cpu, process_cpu,
    takes_replica_id, taken_over,
)
from bench.scratch_pg import NoPostgres, scratch_database  # noqa: E402
from cli.output import Progress  # noqa: E402
from sandbox.scenario import audit  # noqa: E402

HIGH = 1_000_000            # a vendor window no run comes near
ZENDESK_SPEED = 20.0
TAKEOVER_WAIT = 120.0       # how long the bench watches for the killed replica's leases
LOOP = 0.05
SETTLED = 2.0               # seconds no lease changed hands: the shares are settled


@dataclass(frozen=True)
class Options:
    replicas: int = 3
    routes: int = 60
    mentions: int = 3000
    answers: int | None = None     # default: a tenth of the mentions
    seed: int = 1
    timeout: float | None = None   # per run; default grows with the work
    keep: bool = False
    profile: Path | None = None    # py-spy's samples of every replica and the sandbox, here
    profile_gil: bool = False      # ... of the thread holding the GIL only (the Python work, not the waits)
    kill: bool = True              # False: no replica killed (what the kill and takeover cost, by difference)
    shared_zendesk: bool = False   # every tenant in one Zendesk account (default: one account each)
    webhooks: bool = True          # agents' answers pushed by Zendesk's webhooks (False: read by the export alone)

    @property
    def answer_count(self) -> int:
        return self.mentions // 10 if self.answers is None else self.answers

    @property
    def run_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 180.0 + self.mentions / 5


@dataclass
class RunResult:
    """One run: how long, who did what, what the far side shows."""

    replicas: int
    seconds: float | None = None          # start to the last answer posted (None: not finished)
    written: int = 0
    posted: int = 0
    killed: str | None = None
    killed_at: float | None = None        # seconds into the run
    leases_before_kill: dict[str, int] = field(default_factory=dict)
    lease_balance: float | None = None
    takeover_seconds: float | None = None
    restarts_after_exit: int = 0          # replicas that exited by themselves (started again)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    # Per second of the run: posts written, answers posted, and the cores each party used
    # over that second (what bounds each phase: the start, the writes, the answers).
    timeline: list[dict[str, float]] = field(default_factory=list)
    audit: dict[str, int] = field(default_factory=dict)
    webhook_deliveries: dict[str, int] = field(default_factory=dict)   # by the receivers' status code
    problems: list[str] = field(default_factory=list)


class Agents(threading.Thread):
    """The tenants' agents: they answer every ticket as it appears, up to the run's answers,
    in a thread of their own, side by side with the daemons (the bench's loop answering
    between its checks answered too slowly when the machine was busy, and paced run N)."""

    def __init__(self, crowd: Crowd, count: int) -> None:
        super().__init__(name="agents", daemon=True)
        self.crowd, self.count = crowd, count
        self.done = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            while not self.done.is_set() and len(self.crowd.ledger.answers) < self.count:
                if not self.crowd.answer_one(fresh_only=True):
                    self.done.wait(0.1)   # every ticket seen is answered: wait for new ones
        except Exception as err:  # noqa: BLE001 - the run reports it as a problem
            self.error = f"the agents stopped: {type(err).__name__}: {err}"

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=30)


class Run:
    """One run of the work with ``count`` replicas (``kill``: one SIGKILLed half-way)."""

    def __init__(self, options: Options, info: dict[str, Any], sandbox_pid: int, workdir: Path,
                 count: int, kill: bool, replica_id: bool) -> None:
        self.options, self.info, self.sandbox_pid = options, info, sandbox_pid
        self.workdir, self.count, self.kill, self.replica_id = workdir, count, kill, replica_id
        self.result = RunResult(replicas=count)
        self.rng = random.Random(options.seed)
        self.ledger = Ledger()
        self.people = tenants.Desks(info, ui=True)
        self.crowd = Crowd(self.people, self.rng, self.ledger)
        self.victim_leases: set[str] = set()
        self.holders: dict[str, str | None] = {}   # each lease's holder at the last check
        self.settled_since = 0.0
        self.profiler: Profiler | None = None

    def go(self, bar: Progress) -> RunResult:
        self.prepare_sandbox()
        bar.say(f"[run {self.count}] posting {self.options.mentions} posts for {self.options.routes} tenants")
        plan = tenants.make_posts(self.options.routes, self.options.mentions, self.options.seed)
        backlog = tenants.post_backlog(self.info, plan)
        with scratch_database() as url:
            self.work(url, bar)
        found = audit(self.people, backlog.customers, answers=self.ledger.answers)
        self.people.close()
        self.result.webhook_deliveries = self.deliveries()
        self.result.audit = {k: getattr(found, k) for k in (
            "mentions", "tickets", "lost", "duplicate_tickets", "duplicate_mentions", "duplicate_replies",
            "unanswered", "replies_posted")}
        self.result.problems += found.problems[:20]
        return self.result

    def deliveries(self) -> dict[str, int]:
        """The helpdesks' webhook deliveries of the run, by the status the receivers answered."""
        statuses: Counter[str] = Counter()
        for account in tenants.zendesk_accounts(self.info):
            desk = Controls({**self.info, "services": {"zendesk": account}}, ("zendesk",))
            statuses.update(str(d.get("status_code")) for d in desk.call("zendesk", "GET", "webhook_deliveries")
                            ["deliveries"])
        return dict(statuses)

    def prepare_sandbox(self) -> None:
        """Fresh accounts, the limits out of the way, the tenants' groups."""
        controls = Controls(self.info, ("x",))
        controls.call("x", "POST", "reset")
        for account in tenants.zendesk_accounts(self.info):
            desk = Controls({**self.info, "services": {"zendesk": account}}, ("zendesk",))
            desk.call("zendesk", "POST", "reset")
            desk.call("zendesk", "POST", "clock", {"speed": ZENDESK_SPEED})
            desk.call("zendesk", "POST", "limits", {"plan": "enterprise_plus", "inflight_jobs": HIGH})
            for family in ("account", "incremental", "tickets_index", "ticket_create", "ticket_updates",
                           "per_ticket_updates", "user_updates"):
                desk.call("zendesk", "POST", "limits", {"family": family, "limit": HIGH, "seconds": 60})
        for family in ("users_me", "search_recent", "create_tweet", "tweet_lookup", "tweets_lookup",
                       "users_by_id", "users_by_username"):
            controls.call("x", "POST", "limits", {"family": family, "limit": HIGH, "seconds": 900})
        controls.call("x", "POST", "limits", {"index_lag": 0})
        tenants.create_groups(self.info, self.options.routes)

    def work(self, url: str, bar: Progress) -> None:
        configs, secrets, forwarder = self.mappings()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
        env.update(secrets, **{tenants.STATE_ENV: url, "SOCIALDESK_KEY_FILE": str(self.workdir / "secret.key")})
        replicas = ReplicaSet(configs, env, self.workdir, self.replica_id)
        state = StateReader(url)
        if forwarder is not None:
            forwarder.start()
        cpu_before = self.cpu(replicas)
        started = time.monotonic()
        replicas.start()
        self.profiler = self.profile(replicas)
        agents = Agents(self.crowd, self.options.answer_count)
        agents.start()
        try:
            self.loop(replicas, state, started, bar)
            used = {k: v - cpu_before[k] for k, v in self.cpu(replicas).items()}
            # What other processes of the machine took meanwhile (another job's load skews the run).
            used["others"] = used.pop("machine") - sum(used.values())
            self.result.cpu_seconds = {k: round(v, 1) for k, v in used.items()}
        finally:
            agents.stop()
            if agents.error:
                self.result.problems.append(f"run {self.count}: {agents.error}")
            if self.profiler is not None:
                self.profiler.detach()
            replicas.stop()
            state.close()
            if forwarder is not None:
                forwarder.stop()

    def mappings(self) -> tuple[list[Path], dict[str, str], Forwarder | None]:
        """Each replica's mapping, the secrets they name, and with webhooks the one address in
        front of the replicas' receivers (as a load balancer is): the same mapping but for the
        port each receiver listens on."""
        if not self.options.webhooks:
            config = self.workdir / "mapping.yaml"
            return [config] * self.count, tenants.write_mapping(config, self.info, self.options.routes), None
        ports = [free_port() for _ in range(self.count)]
        forwarder = Forwarder(free_port(), ports)
        public_url = f"http://127.0.0.1:{forwarder.port}"
        configs, secrets = [], {}
        for k, port in enumerate(ports, start=1):
            config = self.workdir / f"mapping-r{k}.yaml"
            secrets = tenants.write_mapping(config, self.info, self.options.routes, webhook=(port, public_url))
            configs.append(config)
        return configs, secrets, forwarder

    def profile(self, replicas: ReplicaSet) -> Profiler | None:
        if self.options.profile is None:
            return None
        profiler = Profiler(self.options.profile / f"run-{self.count}", gil=self.options.profile_gil)
        profiler.attach("sandbox", self.sandbox_pid)
        for name in replicas.daemons:
            profiler.attach(name, replicas.pid(name))
        return profiler

    def cpu(self, replicas: ReplicaSet) -> dict[str, float]:
        return {"replicas": replicas.cpu(), "sandbox": process_cpu(self.sandbox_pid), "postgres": postgres_cpu(),
                "bench": own_cpu(), "machine": machine_cpu()}

    def loop(self, replicas: ReplicaSet, state: StateReader, started: float, bar: Progress) -> None:
        """Answer, watch and kill until the work is done (and, in the run with a kill, the
        victim's leases are taken over) or the run's time is up."""
        checked = 0.0
        sampled, cpu_then = 0.0, self.cpu(replicas)
        while True:
            now = time.monotonic() - started
            if now - checked >= 0.25:
                checked = now
                self.keep_alive(replicas, now, bar)
                self.check(replicas, state, now, bar)
            if now - sampled >= 1.0:
                cpu_now = self.cpu(replicas)
                self.sample(now, now - sampled, cpu_then, cpu_now)
                sampled, cpu_then = now, cpu_now
            if self.victim_leases and self.result.takeover_seconds is None:
                self.watch_takeover(state, now)
            if self.finished(now):
                return
            if now > self.options.run_timeout:
                self.result.problems.append(f"run {self.count}: not finished in {self.options.run_timeout:.0f}s "
                                            f"({self.result.written}/{self.options.mentions} written, "
                                            f"{self.result.posted}/{self.options.answer_count} posted)")
                self.result.seconds = None
                return
            time.sleep(LOOP)

    def sample(self, now: float, seconds: float, before: dict[str, float], after: dict[str, float]) -> None:
        """One second of the timeline: the work done so far, the cores each party used."""
        cores = {k: round((after[k] - before[k]) / seconds, 2) for k in after}
        cores["others"] = round(cores.pop("machine") - sum(cores.values()), 2)
        self.result.timeline.append({"t": round(now, 1), "written": self.result.written,
                                     "answered": len(self.ledger.answers), "posted": self.result.posted,
                                     **cores})

    def keep_alive(self, replicas: ReplicaSet, now: float, bar: Progress) -> None:
        for name, last in replicas.revive().items():
            line = f"{name} exited by itself ({last}); started again"
            self.result.restarts_after_exit += 1
            self.result.problems.append(f"run {self.count} at {now:.1f}s: {line}")
            bar.say(f"[run {self.count} {now:6.1f}s] {line}")
            if self.profiler is not None:
                self.profiler.attach(f"{name}-{self.result.restarts_after_exit}", replicas.pid(name))

    def check(self, replicas: ReplicaSet, state: StateReader, now: float, bar: Progress) -> None:
        """Read the work done; time its end; kill one replica once half the posts are written
        and every replica holds leases (the shares settled)."""
        total, answers = self.options.mentions, self.options.answer_count
        written, posted = state.work_done()
        self.result.written, self.result.posted = written, posted
        bar.update(written + posted, total=total + answers,
                   status=f"run {self.count}: {written}/{total} posts written, {len(self.ledger.answers)}/{answers} "
                          f"answers made, {posted} posted, replicas up {len(replicas.alive())}/{self.count}")
        if self.result.seconds is None and written >= total and posted >= answers \
                and len(self.ledger.answers) >= answers:
            self.result.seconds = round(now, 1)
        if self.kill and self.result.killed is None and written >= total / 2:
            leases = state.leases()
            holders = {lease.name: lease.holder for lease in leases}
            if holders != self.holders:
                self.holders, self.settled_since = holders, now
            # The shares settled: every replica holds leases, and none changed hands for two keeper ticks.
            settled = now - self.settled_since >= SETTLED
            if not leases or (settled and min(held(leases, replicas.alive()).values()) > 0):
                self.kill_one(replicas, leases, now, bar)

    def finished(self, now: float) -> bool:
        """The work is done and, with a kill, the takeover timed (or given up on)."""
        if self.result.seconds is None:
            return False
        if not self.kill:
            return True
        return self.result.killed is not None and (self.result.takeover_seconds is not None
                                                   or not self.victim_leases)

    def kill_one(self, replicas: ReplicaSet, leases: list[Lease], now: float, bar: Progress) -> None:
        """Count the leases, then SIGKILL one replica (chosen by the seed)."""
        alive = replicas.alive()
        counts = held(leases, alive)
        self.result.leases_before_kill = counts
        self.result.lease_balance = balance(counts)
        victim = random.Random(self.options.seed * 31).choice(alive)
        wall = time.time()
        self.victim_leases = {lease.name for lease in leases if lease.holder == victim and lease.expires_at > wall}
        replicas.kill(victim)
        self.result.killed, self.result.killed_at = victim, round(now, 1)
        bar.say(f"[run {self.count} {now:6.1f}s] leases held {counts} (balance {self.result.lease_balance}); "
                f"{victim} SIGKILLed holding {len(self.victim_leases)}")
        if not self.victim_leases:
            self.result.problems.append(f"{victim} held no lease when killed: no takeover to time")

    def watch_takeover(self, state: StateReader, now: float) -> None:
        assert self.result.killed is not None and self.result.killed_at is not None
        if taken_over(state.leases(), self.victim_leases, self.result.killed):
            self.result.takeover_seconds = round(now - self.result.killed_at, 1)
        elif now - self.result.killed_at > TAKEOVER_WAIT:
            self.result.problems.append(f"the leases of {self.result.killed} were not all taken over in "
                                        f"{TAKEOVER_WAIT:.0f}s")
            self.victim_leases = set()


def report(options: Options, runs: list[RunResult], replica_id: bool) -> dict[str, Any]:
    one, many = runs[0], runs[-1]
    speedup = round(one.seconds / many.seconds, 2) if one.seconds and many.seconds else None
    sums = {key: sum(r.audit.get(key, 0) for r in runs) for key in (
        "lost", "duplicate_tickets", "duplicate_mentions", "duplicate_replies", "unanswered")}
    problems = [p for r in runs for p in r.problems]
    failed = bool(any(sums.values()) or speedup is None)
    cores = os.cpu_count() or 1
    # The run's own CPU (replicas, sandbox, PostgreSQL, the bench's agents), not the rest of the machine.
    spent = {r.replicas: sum(v for k, v in r.cpu_seconds.items() if k != "others") for r in (one, many)}
    return {"replicas": options.replicas, "routes": options.routes, "mentions": options.mentions,
            "zendesk_accounts": 1 if options.shared_zendesk else options.routes, "webhooks": options.webhooks,
            "answers": options.answer_count, "cores": os.cpu_count(), "speedup": speedup,
            "seconds_1": one.seconds, "seconds_n": many.seconds, "lease_balance": many.lease_balance,
            "leases_before_kill": many.leases_before_kill, "killed": many.killed, "killed_at_s": many.killed_at,
            "takeover_seconds": many.takeover_seconds, **sums,
            "restarts_after_exit": sum(r.restarts_after_exit for r in runs),
            "cpu_seconds": {"1": one.cpu_seconds, "n": many.cpu_seconds},
            # Cores run 1 kept busy on average, and the most speedup the machine's cores allow
            # run N, given the CPU it spent: at every core busy, it cannot end sooner.
            "cores_busy_1": round(spent[one.replicas] / one.seconds, 2) if one.seconds else None,
            "speedup_cpu_bound": round(cores * one.seconds / spent[many.replicas], 2)
            if one.seconds and spent[many.replicas] else None,
            "replica_id_flag": replica_id,
            "runs": [r.__dict__ for r in runs], "problems": problems[:40], "failed": failed}


def run_bench(options: Options) -> dict[str, Any]:
    """Both runs on one sandbox; the report. The work directory (mappings, the replicas'
    logs) is kept when asked or when the bench failed."""
    if options.replicas < 2 or options.routes < 1 or options.mentions < options.routes:
        raise ValueError("--replicas is 2 or more, --routes 1 or more, --mentions at least --routes")
    replica_id = takes_replica_id()
    workdir = Path(tempfile.mkdtemp(prefix="socialdesk-replicas-"))
    out: dict[str, Any] = {"failed": True}
    try:
        accounts = 1 if options.shared_zendesk else options.routes
        with sandbox_popen(args=("--zendesk-accounts", str(accounts))) as (sandbox, info):
            runs = [one_run(options, info, sandbox.pid, workdir, count, replica_id)
                    for count in (1, options.replicas)]
        out = report(options, runs, replica_id)
        return out
    finally:
        keep = options.keep or out["failed"]
        out["workdir"] = str(workdir) if keep else None
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def one_run(options: Options, info: dict[str, Any], sandbox_pid: int, workdir: Path, count: int,
            replica_id: bool) -> RunResult:
    run_dir = workdir / f"run-{count}"
    run_dir.mkdir()
    with Progress(f"run {count}", total=options.mentions + options.answer_count, stream=sys.stderr) as bar:
        result = Run(options, info, sandbox_pid, run_dir, count, count > 1 and options.kill, replica_id).go(bar)
        bar.finish(f"run {count}: {result.seconds}s, cpu {result.cpu_seconds}, audit {result.audit}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3, help="replicas in the second run (2 or more)")
    parser.add_argument("--routes", type=int, default=60, help="tenants, a route each")
    parser.add_argument("--mentions", type=int, default=3000, help="customer posts, spread over the tenants")
    parser.add_argument("--answers", type=int, default=None, help="agent answers (default: a tenth of --mentions)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=None, help="seconds a run may take")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (mappings, replica logs)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample every replica and the sandbox with py-spy, collapsed stacks in this directory")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL (Python's work, not the waits)")
    parser.add_argument("--no-kill", action="store_true",
                        help="kill no replica (the kill's and the takeover's cost, by difference with a killing run)")
    parser.add_argument("--shared-zendesk", action="store_true",
                        help="every tenant in one Zendesk account (default: one account each)")
    parser.add_argument("--no-webhooks", action="store_true",
                        help="no helpdesk webhooks: agents' answers read by the replies export alone")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    options = Options(replicas=args.replicas, routes=args.routes, mentions=args.mentions, answers=args.answers,
                      seed=args.seed, timeout=args.timeout, keep=args.keep, profile=args.profile,
                      profile_gil=args.profile_gil,
                      kill=not args.no_kill, shared_zendesk=args.shared_zendesk,
                      webhooks=not args.no_webhooks)
    try:
        out = run_bench(options)
    except (ValueError, NoPostgres) as err:
        print(f"replicas: {err}", file=sys.stderr)
        return 2
    show(out, args.json, leave_out=("runs",))
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
