#!/usr/bin/env python
"""The daemon alone: peak memory and CPU per mention of the real daemon process, apart
from the sandbox's, with a store that already holds a long history.

    cd /work/main && .venv/bin/python bench/daemon_alone.py                  # 2,000 mentions, table
    cd /work/main && .venv/bin/python bench/daemon_alone.py --json --mentions 2000 --state 100000
    cd /work/main && /tmp/base/.venv/bin/python bench/daemon_alone.py --repo /tmp/base   # another checkout

``bench/compare.py --process`` runs this. What happens:

1. The sandbox runs as its own process (``socialdesk sandbox --json``, as bench/chaos.py
   starts it; Zendesk's clock at 20x so its per-minute windows and export lag pass quickly).
2. The daemon's SQLite store is migrated and pre-filled, in one transaction, with ``--state``
   mentions' worth of finished work: inbox rows closed with their tickets, the links of their
   conversations (a fifth are follow-ups) and the requesters of their authors (three
   customers for four conversations), dated over the last 30 days.
3. The real daemon runs as its own process (``socialdesk run --config <mapping>``, the
   mapping bench/chaos.py writes: explicit URLs, secrets from the environment, mentions
   and DMs polled every 15 s, agent replies every 5 s). Once it is idle (its CPU time stops
   growing) the bench reads its CPU time, measures its idle rate, then posts ``--mentions``
   new mentions on the sandbox's X, each a new conversation, in waves smaller than the 800
   posts X's mention timeline reaches (each wave waits until the daemon has read the one
   before), and waits until every one is a closed inbox row with its ticket.
4. For the daemon process and the sandbox process apart: peak resident set (VmHWM in
   /proc/<pid>/status, the whole life of the process) and CPU time (utime + stime in
   /proc/<pid>/stat) spent between the first post and the last ticket, per mention in ms.
   The daemon's figure includes its idle work during the drain (polls, the reply export),
   whose rate is reported apart. ``--profile PATH`` runs the daemon under cProfile in every
   thread (slower: for where the CPU goes, not for the figures) and lists the top functions.

The bench's own process (posting, reading the store) is not counted in either.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
DEFAULT_REPO = HERE.parent
TARGET_RSS_MIB = 150.0
TARGET_CPU_MS_PER_MENTION = 0.5
STATE_DAYS = 30.0
FOLLOWUP_SHARE = 0.2       # of the pre-filled mentions: follow-ups in an open conversation
CUSTOMER_RATIO = 0.75      # customers per conversation in the pre-filled history
PREFILL_ID_BASE = 10**15   # pre-filled post ids: far below X's snowflakes, so never a new post's
PREFILL_TICKET_BASE = 10**8  # pre-filled ticket ids: far above the sandbox's


# --------------------------------------------------------------------------- /proc


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process: CPU seconds so far, resident set now and its peak."""

    cpu_s: float
    rss_kib: int
    hwm_kib: int


def parse_stat_cpu(text: str, ticks_per_second: int) -> float:
    """utime + stime in seconds from the text of /proc/<pid>/stat.

    The command name (field 2) sits in parentheses and may itself hold spaces or
    parentheses, so the fields are counted from the last ')'."""
    fields = text[text.rindex(")") + 1:].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def parse_status_kib(text: str, key: str) -> int:
    """A ``Key:   123 kB`` line of /proc/<pid>/status in KiB (0 when absent, as for a zombie)."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    return 0


def sample(pid: int) -> ProcSample:
    """Read a live process's CPU time and memory from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    return ProcSample(parse_stat_cpu(stat, os.sysconf("SC_CLK_TCK")),
                      parse_status_kib(status, "VmRSS"), parse_status_kib(status, "VmHWM"))


def per_mention_ms(before: ProcSample, after: ProcSample, mentions: int) -> float:
    """CPU milliseconds per mention between two readings of one process."""
    if mentions <= 0:
        raise ValueError("per_mention_ms needs at least one mention")
    return round((after.cpu_s - before.cpu_s) * 1000.0 / mentions, 3)


def mib(kib: float) -> float:
    return round(kib / 1024.0, 1)


def process_figures(before: ProcSample, after: ProcSample, mentions: int) -> dict[str, Any]:
    """What one process spent on the drain, and its memory peak over its whole life."""
    return {"peak_rss_mib": mib(after.hwm_kib), "rss_end_mib": mib(after.rss_kib),
            "rss_before_drain_mib": mib(before.rss_kib), "cpu_s_before_drain": round(before.cpu_s, 2),
            "cpu_s_drain": round(after.cpu_s - before.cpu_s, 2),
            "cpu_ms_per_mention": per_mention_ms(before, after, mentions)}


# --------------------------------------------------------------------------- the history in the store


@dataclass(frozen=True)
class History:
    """Rows for the store's inbox, links and requesters tables: ``mentions`` finished mentions."""

    inbox: list[dict[str, Any]]
    links: list[dict[str, Any]]
    requesters: list[dict[str, Any]]


def make_history(mentions: int, *, route: str, helpdesk: str, network: str, now: float,
                 seed: int = 7) -> History:
    """Finished work as the daemon leaves it: every mention closed with its ticket, one link
    per conversation (the latest post in it), one requester per customer."""
    rng = random.Random(seed)
    followups = int(round(mentions * FOLLOWUP_SHARE))
    conversations = max(1, mentions - followups)
    customers = max(1, int(round(conversations * CUSTOMER_RATIO)))
    start = now - STATE_DAYS * 86400.0
    step = (now - start) / max(mentions, 1)
    # Conversation i opened by the i-th mention of its kind; follow-ups land in random ones.
    owner = [i % customers for i in range(conversations)]
    inbox_rows: list[dict[str, Any]] = []
    latest: dict[int, tuple[str, float]] = {}
    conv_of = list(range(conversations)) + [rng.randrange(conversations) for _ in range(mentions - conversations)]
    for seq in range(mentions):
        conv = conv_of[seq]
        author = owner[conv]
        at = start + seq * step
        post_id = str(PREFILL_ID_BASE + seq)
        created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at))
        payload = {"network": network, "id": post_id, "kind": "mention",
                   "author": {"network": network, "id": f"hist{author:07d}", "handle": f"hist{author:07d}",
                              "name": f"Customer {author}", "followers": 120, "verified": False,
                              "profile_url": f"https://x.com/hist{author:07d}"},
                   "text": f"@brand order {seq} has not arrived, can you help?", "created_at": created,
                   "url": f"https://x.com/hist{author:07d}/status/{post_id}",
                   "conversation_id": str(PREFILL_ID_BASE + conv), "in_reply_to": None, "is_repost": False,
                   "is_quote": False, "lang": "en", "metrics": {"like_count": 0, "reply_count": 0}}
        inbox_rows.append({
            "route": route, "source_key": f"{network}:post:{post_id}", "stream": "mentions",
            "payload": json.dumps(payload, sort_keys=True), "sort_key": f"{created}|{post_id:0>20}",
            "state": "done", "ticket_id": str(PREFILL_TICKET_BASE + conv), "attempts": 1, "last_error": None,
            "next_attempt_at": 0.0, "lease_until": 0.0, "received_at": at, "done_at": at + 2.0,
            "lease_owner": None, "job": None,
            "conversation": f"{network}:conv:{PREFILL_ID_BASE + conv}:hist{author:07d}"})
        latest[conv] = (post_id, at)
    link_rows = []
    for conv in range(conversations):
        author = owner[conv]
        last_post, _ = latest[conv]
        link_rows.append({
            "route": route, "conversation_key": f"{network}:conv:{PREFILL_ID_BASE + conv}:hist{author:07d}",
            "ticket_id": str(PREFILL_TICKET_BASE + conv), "source_key": f"{network}:post:{PREFILL_ID_BASE + conv}",
            "author_id": f"hist{author:07d}", "author_handle": f"hist{author:07d}", "dm": False,
            "last_post_id": last_post, "dm_note_posted": False, "created_at": start + conv * step + 2.0})
    requester_rows = [{"helpdesk": helpdesk, "network": network, "author_id": f"hist{c:07d}",
                       "user_id": str(PREFILL_TICKET_BASE + c)} for c in range(customers)]
    return History(inbox_rows, link_rows, requester_rows)


def prefill(store_url: str, history: History) -> dict[str, Any]:
    """Migrate the store at ``store_url`` and insert ``history`` in one transaction (through
    the checkout's own ``sync.store`` tables, so the schema is the measured code's)."""
    from sync import store as store_module

    started = time.monotonic()
    store = store_module.Store(store_url)
    try:
        store.migrate()
        with store.engine.begin() as conn:
            for table, rows in ((store_module.inbox, history.inbox), (store_module.links, history.links),
                                (store_module.requesters, history.requesters)):
                columns = set(table.c.keys())
                conn.execute(table.insert(), [{k: v for k, v in row.items() if k in columns} for row in rows])
    finally:
        store.close()
    return {"inbox_rows": len(history.inbox), "links": len(history.links),
            "requesters": len(history.requesters), "seconds": round(time.monotonic() - started, 1)}


# --------------------------------------------------------------------------- the run


# Run the daemon with a cProfile per thread (the scheduler's work runs in pool threads,
# which a plain ``python -m cProfile`` would miss), timed in thread CPU time so waiting
# costs nothing; the merged stats are written at exit.
PROFILE_RUNNER = """\
import atexit, cProfile, pstats, sys, threading, time
_profiles = []
def _start(*_):
    p = cProfile.Profile(time.thread_time); _profiles.append(p); p.enable()
def _dump():
    stats = None
    for p in list(_profiles):
        try:
            stats = pstats.Stats(p) if stats is None else stats.add(p) or stats
        except TypeError:
            pass
    if stats is not None:
        stats.dump_stats({path!r})
atexit.register(_dump)
threading.setprofile(_start)
_start()
from {module} import {function} as m
sys.exit(m())
"""


class Stalled(RuntimeError):
    """The daemon made no progress in time."""


class DaemonAlone:
    """One measurement: sandbox process, pre-filled store, daemon process, N mentions."""

    def __init__(self, args: argparse.Namespace, progress: Callable[[str], None]) -> None:
        self.args = args
        self.progress = progress
        self.repo: Path = args.repo
        self.workdir = Path(tempfile.mkdtemp(prefix="socialdesk-daemon-alone-"))
        self.db = self.workdir / "state.sqlite"

    # the store, read by the bench (plain sqlite3: the daemon's own figures are not touched)

    def new_rows(self) -> tuple[int, int]:
        """(new mentions the daemon has read, those closed): rows not from the history."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            read, closed = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(state IN ('done', 'filtered')), 0) FROM inbox WHERE id > ?",
                (self.history_rows,)).fetchone()
        return int(read), int(closed)

    def tickets(self) -> int:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute("SELECT COUNT(DISTINCT ticket_id) FROM inbox WHERE id > ? AND ticket_id IS NOT NULL",
                                    (self.history_rows,)).fetchone()[0])

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float, pause: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if not self.daemon.alive():
                raise Stalled(f"the daemon exited while waiting for {what} (log: {self.daemon.log})")
            if time.monotonic() > deadline:
                raise Stalled(f"no {what} within {timeout:.0f} s (log: {self.daemon.log})")
            time.sleep(pause)

    def settle(self, pid: int, window: float = 1.5, quiet_cpu_s: float = 0.03, timeout: float = 90.0) -> None:
        """Wait until a process's CPU time stops growing (start-up over)."""
        deadline = time.monotonic() + timeout
        last = sample(pid).cpu_s
        while time.monotonic() < deadline:
            time.sleep(window)
            now = sample(pid).cpu_s
            if now - last < quiet_cpu_s:
                return
            last = now
        raise Stalled(f"process {pid} never went idle")

    def run(self) -> dict[str, Any]:
        import chaos  # bench/chaos.py: the sandbox and daemon processes, the mapping
        from sandbox.scenario import People

        args = self.args
        started = time.monotonic()
        with chaos.sandbox_popen(self.repo) as (sandbox_proc, info):
            services = ("x", args.helpdesk)
            controls = chaos.Controls(info, services)
            controls.prepare(chaos.ChaosOptions(helpdesk=args.helpdesk, replies=0, seed=args.seed))
            config, env = chaos.write_mapping(self.workdir, info, args.helpdesk)
            self.progress(f"pre-filling the store with {args.state:,} mentions of history")
            history = make_history(args.state, route=chaos.ROUTE, helpdesk="acme", network="x", now=time.time(),
                                   seed=args.seed)
            filled = prefill(f"sqlite:///{self.db}", history)
            self.history_rows = filled["inbox_rows"]
            del history
            # The admin's one-time OAuth consent, stored in the pre-filled state.
            chaos.connect_endpoints(config, env, info, args.helpdesk, root=self.repo)
            command = None
            if args.profile:
                module, function = chaos.socialdesk_entry(self.repo)
                command = [sys.executable, "-c", PROFILE_RUNNER.format(path=str(Path(args.profile).resolve()),
                                                                       module=module, function=function)]
            self.daemon = chaos.DaemonProcess(config, env, self.workdir / "daemon.log", root=self.repo,
                                              command=command)
            self.daemon.start()
            try:
                return self._measure(started, sandbox_proc.pid, info, People, filled)
            finally:
                self.daemon.stop()

    def _measure(self, started: float, sandbox_pid: int, info: dict[str, Any], people_cls: Any,
                 filled: dict[str, Any]) -> dict[str, Any]:
        args = self.args
        assert self.daemon.proc is not None
        pid = self.daemon.proc.pid
        self.progress(f"daemon {pid} starting; waiting until it is idle")
        time.sleep(2.0)
        self.settle(pid)
        idle_a = sample(pid)
        time.sleep(args.idle_window)
        idle_b = sample(pid)
        idle_rate = (idle_b.cpu_s - idle_a.cpu_s) / args.idle_window
        people = people_cls(info)
        d0, s0, t0 = sample(pid), sample(sandbox_pid), time.monotonic()
        posted = 0
        while posted < args.mentions:
            wave = min(args.wave, args.mentions - posted)
            for i in range(posted, posted + wave):
                people.post(f"cust{i % max(1, args.mentions * 3 // 4):06d}",
                            f"@{people.brand} order {i:06d} has not arrived, can you help?")
            posted += wave
            self.progress(f"posted {posted}/{args.mentions}; waiting for the daemon to read them")
            target = posted
            self.wait_for(f"read of mentions up to {target}", lambda: self.new_rows()[0] >= target, args.timeout)
        self.wait_for("tickets for every mention", lambda: self.new_rows()[1] >= args.mentions, args.timeout)
        d1, s1, t1 = sample(pid), sample(sandbox_pid), time.monotonic()
        read, closed = self.new_rows()
        drain_s = t1 - t0
        daemon = process_figures(d0, d1, args.mentions)
        daemon["idle_cpu_ms_per_s"] = round(idle_rate * 1000.0, 2)
        daemon["idle_share_of_drain_cpu_ms_per_mention"] = round(idle_rate * drain_s * 1000.0 / args.mentions, 3)
        daemon["cpu_ms_per_mention_less_idle"] = round(
            daemon["cpu_ms_per_mention"] - daemon["idle_share_of_drain_cpu_ms_per_mention"], 3)
        result: dict[str, Any] = {
            "parameters": {"mentions": args.mentions, "state": args.state, "wave": args.wave,
                           "helpdesk": args.helpdesk, "seed": args.seed, "repo": str(self.repo),
                           "commit": _commit(self.repo), "python": sys.version.split()[0],
                           "profiled": bool(args.profile)},
            "store": {"prefilled": filled, "file_mib_after": mib(self.db.stat().st_size / 1024.0)},
            "daemon": daemon,
            "sandbox": process_figures(s0, s1, args.mentions),
            "drain": {"wall_s": round(drain_s, 1), "mentions_read": read, "mentions_closed": closed,
                      "tickets": self.tickets()},
            "targets": {"rss_mib_max": TARGET_RSS_MIB, "cpu_ms_per_mention_max": TARGET_CPU_MS_PER_MENTION,
                        "rss_met": daemon["peak_rss_mib"] <= TARGET_RSS_MIB,
                        "cpu_met": daemon["cpu_ms_per_mention"] <= TARGET_CPU_MS_PER_MENTION},
            "total_wall_s": round(time.monotonic() - started, 1),
        }
        return result

    def cleanup(self, keep: bool) -> None:
        if keep:
            self.progress(f"work directory kept: {self.workdir}")
            return
        for path in sorted(self.workdir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        self.workdir.rmdir()


def _commit(repo: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def code_owner(filename: str, function: str = "") -> str:
    """Who a profiled function belongs to: the installed package (``sqlalchemy``), the
    checkout's top-level package (``sync``), the standard library's module, or for C code
    the module of its type (``C sqlite3`` for ``<method 'execute' of 'sqlite3.Cursor' objects>``)."""
    path = Path(filename)
    if filename.startswith("~") or filename.startswith("<"):
        found = re.search(r"of '([\w.]+?)\.\w+' objects|built-in method ([\w.]+?)\.\w+>", function)
        module = next((g for g in found.groups() if g), "") if found else ""
        return f"C {module.lstrip('_') or 'builtins'}"
    parts = path.parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1:]
        return rest[0].removesuffix(".py") if rest else "site-packages"
    for top in ("sync", "adapters", "cli", "sandbox", "salesforce"):
        if top in parts[:-1]:
            return top
    return f"stdlib {path.stem}"


def profile_summary(profile: Path, limit: int = 20) -> dict[str, Any]:
    """The profiled daemon's CPU time (thread CPU, every thread, start to stop) by code owner
    and its top functions by own time."""
    import pstats

    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    owners: dict[str, float] = {}
    for (file, _line, name), (_, _calls, own, _cum, _) in stats.items():
        owner = code_owner(file, name)
        owners[owner] = owners.get(owner, 0.0) + own
    total = sum(owners.values())
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return {"cpu_s_total": round(total, 2),
            "by_owner_s": {k: round(v, 2) for k, v in sorted(owners.items(), key=lambda kv: -kv[1])[:15]},
            "top_functions": [f"{own:7.3f}s own {cum:7.3f}s cum {calls:>7} calls  {code_owner(file, name)} "
                              f"{Path(file).name}:{line} {name}" for (file, line, name), (_, calls, own, cum, _) in rows]}


def render(r: dict[str, Any]) -> str:
    d, s, p, t = r["daemon"], r["sandbox"], r["parameters"], r["targets"]
    lines = [
        f"the daemon alone: {p['mentions']:,} new mentions, store pre-filled with {p['state']:,} mentions "
        f"({r['store']['prefilled']['links']:,} links, {r['store']['prefilled']['requesters']:,} requesters), "
        f"{p['helpdesk']}, {p['repo']} @ {p['commit']}",
        f"  {'':32} {'daemon':>12} {'sandbox':>12}",
        f"  {'peak RSS, MiB (VmHWM)':32} {d['peak_rss_mib']:>12} {s['peak_rss_mib']:>12}",
        f"  {'CPU ms per mention (drain)':32} {d['cpu_ms_per_mention']:>12} {s['cpu_ms_per_mention']:>12}",
        f"  {'CPU s in the drain':32} {d['cpu_s_drain']:>12} {s['cpu_s_drain']:>12}",
        f"  {'CPU s before the drain':32} {d['cpu_s_before_drain']:>12} {s['cpu_s_before_drain']:>12}",
        f"daemon idle: {d['idle_cpu_ms_per_s']} ms CPU per s ({d['idle_share_of_drain_cpu_ms_per_mention']} ms "
        f"per mention of the drain's figure; {d['cpu_ms_per_mention_less_idle']} ms per mention without it)",
        f"drain: {r['drain']['wall_s']} s wall, {r['drain']['mentions_closed']} mentions closed, "
        f"{r['drain']['tickets']} tickets; store {r['store']['file_mib_after']} MiB",
        f"targets: RSS <= {t['rss_mib_max']:g} MiB {'met' if t['rss_met'] else 'MISSED'}; CPU <= "
        f"{t['cpu_ms_per_mention_max']:g} ms/mention {'met' if t['cpu_met'] else 'MISSED'}",
    ]
    prof = r.get("profile")
    if prof:
        lines += [f"daemon CPU under cProfile (thread CPU time, whole life, {prof['cpu_s_total']} s) by owner: "
                  + ", ".join(f"{k} {v}" for k, v in prof["by_owner_s"].items()),
                  "top functions by own time:", *[f"  {line}" for line in prof["top_functions"]]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser, *, mentions_flag: bool = True) -> None:
    """The daemon-alone options (``bench/compare.py --process`` shares its --mentions)."""
    if mentions_flag:
        parser.add_argument("--mentions", type=int, default=2000, help="new mentions to drain (default 2,000)")
    parser.add_argument("--state", type=int, default=100_000,
                        help="mentions of history pre-filled in the store (default 100,000)")
    parser.add_argument("--wave", type=int, default=600, help="mentions posted per wave (< 800, X's reach)")
    parser.add_argument("--helpdesk", choices=("zendesk", "salesforce"), default="zendesk")
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO,
                        help="the socialdesk checkout to measure (run with its interpreter; default: this one)")
    parser.add_argument("--idle-window", type=float, default=16.0, help="seconds the idle daemon is watched (a poll cycle: 15 s)")
    parser.add_argument("--profile", metavar="PATH", help="run the daemon under cProfile (every thread); stats to PATH")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up a wait after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (mapping, state, daemon log)")


def run(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    """One measurement with parsed options; raises Stalled when the daemon makes no progress."""
    if args.mentions < 1 or args.state < 0 or not 0 < args.wave < 800:
        raise ValueError("--mentions must be >= 1, --state >= 0 and --wave in 1..799")
    args.repo = Path(args.repo).resolve()
    if not (args.repo / "pyproject.toml").is_file() or not (args.repo / "sync").is_dir():
        raise ValueError(f"--repo {args.repo}: not a socialdesk checkout (no pyproject.toml and sync/)")
    # The measured checkout's packages first (its store schema, its sandbox helpers).
    if str(args.repo) in sys.path:
        sys.path.remove(str(args.repo))
    sys.path.insert(0, str(args.repo))
    if str(HERE) not in sys.path:
        sys.path.append(str(HERE))
    bench = DaemonAlone(args, progress)
    failed = True
    try:
        result = bench.run()
        failed = False
    finally:
        bench.cleanup(keep=args.keep or failed)
    if args.profile:
        result["profile"] = profile_summary(Path(args.profile))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--json-out", metavar="PATH", help="also write the JSON object to PATH")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[daemon-alone] {message}", file=sys.stderr, flush=True)

    try:
        result = run(args, progress)
    except ValueError as err:
        parser.error(str(err))
    except Stalled as err:
        print(f"daemon_alone: STALLED: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("daemon_alone: interrupted", file=sys.stderr)
        return 130
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the children on a plain kill too
    sys.exit(main())
