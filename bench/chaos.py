#!/usr/bin/env python
"""Chaos run: prove "nothing lost, nothing twice, no internal note outside" against the real
daemon, hard-killed at random moments while every wire misbehaves.

    cd /work/main && /work/venv/bin/python bench/chaos.py --helpdesk zendesk \\
        --mentions 1000 --replies 200 --kills 20 --faults --seed 7 --json

What happens:

1. A sandbox process (``socialdesk sandbox --json``) serves X, Meta (a Facebook Page and
   its Instagram account) and the helpdesk over HTTPS.
   With ``--faults`` every service gets probabilistic faults at modest rates (429 with the
   vendor's own headers, 5xx, slow answers, connection resets, writes whose answer is lost,
   and a few answers held past the client's timeout), each from a generator seeded by
   ``--seed``. Zendesk's clock runs faster than the wall (``--zendesk-speed``) so its
   one-minute export lag and per-minute windows pass in seconds.
2. The real daemon (``socialdesk run --config <mapping>``, no ``--once``) is pointed at the
   sandbox by explicit URLs and credentials, as at a customer's site, with a file-backed
   SQLite state. It is SIGKILLed ``--kills`` times at random moments and restarted each time
   (also whenever it exits by itself). Its routes: X, the Facebook Page and the Instagram
   account, all into the helpdesk; it receives Meta's webhooks on a fixed port, at which
   the Meta app is pointed once the first daemon listens (``bench/chaos_meta.py``).
3. Customers post ``--mentions`` sequence-numbered posts ("#chaos 000123") on X over many
   conversations: new mentions, replies in their own threads, some DMs; and
   ``--meta-mentions`` (default half as many; 0 leaves Meta out) on Facebook and Instagram
   ("#chaos fb000012"): comments on the brand's latest post or media, replies under their
   own comments, Messenger and Instagram DMs. Agents answer (``--replies`` public answers,
   some solving the ticket, the networks taking turns) and write internal notes on the
   tickets as they appear, acting in the helpdesk's own UI (the sandbox's UI channel: no
   injected fault touches them). With ``--faults`` Meta's webhook deliveries are also
   duplicated, delayed (out of order) and dropped, and Graph answers 5xx, throttles,
   resets, slow and lost answers (the throttles until the last random kill).
4. Then faults stop, the daemon runs until quiescent, and the far side is reconciled
   against the input with ``sandbox.scenario.audit`` (X) and ``chaos_meta.audit_meta``
   (Facebook, Instagram), by the same rules: lost mentions, duplicate tickets,
   comments and replies, leaked internal notes, unanswered agent answers; the daemon's
   own quarantine comes from ``socialdesk status --json``. ``by_network`` gives the
   figures network by network (the top-level ones sum them); ``webhooks`` what Meta's
   webhook side did (``never_pushed``: items whose only update was dropped, so only the
   reconciliation read could bring them); ``meta_first_read`` how the Meta items first
   reached the daemon's inbox (``push``, or the ``mentions``/``dms`` reconciliation).

With ``--replicas N`` (2 or more; ``bench/chaos_replicas.py``) N daemons share the work on one
throwaway PostgreSQL database (``SOCIALDESK_TEST_PG``, default the server at 127.0.0.1:5432),
each ``socialdesk run --replica-id rK`` with a receiver of its own behind one address for
Meta's webhooks; each kill hits a random replica, which is started again. Refresh kills are
for the one-daemon run.

Signing in is OAuth, as at a customer's since the vendors moved to short-lived tokens:
Zendesk ``auth: oauth`` (authorization code, 30-minute access tokens, refresh tokens that
rotate), X ``auth: oauth2`` (2-hour access tokens, single-use refresh tokens), Salesforce
client credentials. Before the daemon's first start the real ``socialdesk connect`` gives
the consent for the Zendesk and X entries, with ``bench/consent_browser.py`` as the
admin's browser (``BROWSER``); the grants are stored encrypted with a key file in the
work directory. With ``--refresh-kills N``, at N moments spread over the chaos phase the
daemon is killed twice around a renewal:

a. just before: SIGKILL, move X's clock past its access-token lifetime and the
   helpdesk's past its own (Zendesk's access token, Salesforce's session), restart. The
   new daemon meets refused tokens (a 401 from a vendor whose clock runs ahead) and must
   renew them;
b. just after: the moment the daemon log says "access token renewed" (and no other
   renewal is under way), SIGKILL and restart. The next daemon must go on with the grant
   stored. Whose renewal it waits for takes turns: Zendesk's, then X's (with Salesforce,
   X's only: client credentials have no refresh token to lose).

X tells a 429's reset as a Unix time on its own clock. The real X keeps that clock right;
here it runs hours ahead of the daemon's after a kill before renewal, and a 429 would ask
for a wait of hours (the daemon rightly believes it, up to X's 24-hour window), so from
the first such kill on X's 429 faults are disarmed; every other kind stays armed.

No kill is aimed at the middle of a refresh request, and every kill (random ones too)
waits while the log shows a renewal under way: with rotation, a refresh whose answer is
lost has spent the old refresh token, and at the real vendors as here the grant then
needs a new consent (the route waits, saying "run socialdesk connect"). That is the
documented behaviour, not something this run provokes; the sandboxes' token endpoints
likewise meet only faults that apply nothing (429, 5xx, reset).

The report adds ``renewals`` (renewals the daemon logged), ``refresh_tokens_reused``
(refresh tokens the vendors saw presented more than once), ``consent_refused`` (grants
the daemon found refused) and ``waiting_routes`` (routes not active at the end); any of
the last three fails the run.

Exit status 1 when anything was lost, duplicated or leaked, or one of those three is not
zero; 2 when ``socialdesk connect`` fails (its stderr is shown). Progress goes to stderr; the
figures to stdout (``--json``: one object). The work directory (mapping, state, the
daemon's log) is kept when the run fails, or always with ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import contextlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # Appended, not put first: bench/daemon_alone.py imports this module while measuring
    # another checkout (``--repo``), whose packages must win.
    sys.path.append(str(ROOT))

import requests  # noqa: E402

from bench import chaos_meta  # noqa: E402
from bench.scratch_pg import NoPostgres  # noqa: E402
from cli.output import Progress  # noqa: E402
from bench.chaos_meta import (  # noqa: E402
    META_NETWORKS, ChaosMetaPeople, MetaItem, NetworkAudit, audit_meta, network_of,
)
from sandbox.salesforce import constants as salesforce_constants  # noqa: E402
from sandbox.scenario import Audit, People, SalesforcePeople, audit  # noqa: E402
from sandbox.x import constants as x_constants  # noqa: E402
from sandbox.zendesk import constants as zendesk_constants  # noqa: E402

HELPDESKS = ("zendesk", "salesforce")
ROUTE = "chaos"
POLL = {"mentions": 15, "dms": 15, "replies": 5}
TAIL_SECONDS = 20.0        # after the last mention: one mention poll, tickets, answers
RESTART_PAUSE = (0.0, 0.8)  # seconds between a kill and the restart
TIMEOUT_HOLD = 31.0        # held answers: just past the adapters' 30 s read timeout
DAEMON_STOP_SECONDS = 20.0
TRAILING_EMPTY_PAGE = 0.2  # the chance a last page carries a next_token to an empty one
HELPDESK_NAME, NETWORK_NAME = "acme", "acme_x"   # the mapping's entries
CONSENT_BROWSER = ROOT / "bench" / "consent_browser.py"
STATE_FILE = "state.sqlite"  # the one daemon's state, in the work directory
CONNECT_TIMEOUT = 90.0     # one `socialdesk connect`, consent page and code exchange included
LISTEN_WAIT = 120.0        # the first daemon's start, until its webhook receiver listens
# How far a service's clock moves so that the access tokens it issued are dead: past the
# access token's lifetime (Zendesk, X) or the session's idle timeout (Salesforce).
EXPIRY_JUMP = {"zendesk": zendesk_constants.ACCESS_SECONDS + 60, "x": x_constants.ACCESS_SECONDS + 60,
               "salesforce": salesforce_constants.SESSION_SECONDS + 60}
RENEWAL_WAIT = 120.0       # after a kill before renewal: how long the next renewal may take to show
IN_FLIGHT_MAX = 36.0       # a renewal begun longer ago than the token request's timeout is over
LOG_POLL = 0.005           # how often the renewal watch reads the daemon's log
RENEWING, RENEWED, RENEWED_ELSEWHERE = ("renewing the access token", "access token renewed",
                                        "a newer grant was stored meanwhile")
CONSENT_REFUSED = "refused the stored OAuth grant"
_OAUTH_LINE = re.compile(r"socialdesk\.oauth: (?P<who>.+?): (?P<what>renewing the access token|access token renewed"
                         r"|a newer grant was stored meanwhile)")


@dataclass(frozen=True)
class ChaosOptions:
    """One chaos run. Sizes are counts; times are wall seconds."""

    helpdesk: str = "zendesk"
    mentions: int = 200
    replies: int = 50
    kills: int = 10
    faults: bool = False
    seed: int = 1
    rate: float = 20.0                 # mentions posted per second
    drain_timeout: float | None = None  # default: grows with the run's size
    zendesk_speed: float = 20.0
    timeouts: int | None = None         # held answers per service (default: 1 per 20 kills)
    fault_rate: float = 1.0             # multiplies every fault probability
    index_lag: float = 5.0              # X indexes a post up to this late (seconds)
    refresh_kills: int = 0              # kills around a token renewal (each: one before, one after)
    meta_mentions: int | None = None    # customer items on Facebook and Instagram (default: mentions // 2)
    replicas: int = 1                   # 2 or more: replicas on PostgreSQL (bench/chaos_replicas.py)
    keep: bool = False
    workdir: Path | None = None


@dataclass
class ChaosReport:
    """The reconciliation: input counts, then what the far side shows."""

    helpdesk: str
    seed: int
    replicas: int = 1          # daemons sharing the state (2 or more: on PostgreSQL)
    mentions: int = 0
    replies: int = 0
    notes: int = 0
    kills: int = 0             # every SIGKILL: random ones and both kills of each refresh kill
    refresh_kills: int = 0     # kills just before a renewal (tokens made to expire meanwhile)
    kills_after_renewal: int = 0  # kills the moment a renewal was stored
    restarts_after_exit: int = 0
    lost: int = 0
    duplicate_tickets: int = 0
    duplicate_mentions: int = 0
    duplicate_replies: int = 0
    leaked_internal_notes: int = 0
    unanswered: int = 0
    quarantined: int = 0
    pending_inbox: int = 0     # still queued in the daemon when the drain ended
    late_mentions: int = 0     # posts in no ticket yet but queued in the daemon's inbox (not lost)
    pending_outbox: int = 0
    tickets: int = 0
    renewals: int = 0              # "access token renewed" lines in the daemon's log
    refresh_tokens_reused: int = 0  # refresh tokens presented more than once (X and the helpdesk)
    consent_refused: int = 0       # "refused the stored OAuth grant" lines in the daemon's log
    waiting_routes: int = 0        # routes not active at the end (socialdesk status)
    drained: bool = False
    elapsed_s: float = 0.0
    drain_s: float = 0.0
    faults_injected: dict[str, dict[str, int]] = field(default_factory=dict)
    # The same figures network by network (x, facebook, instagram); the ones above sum them.
    by_network: dict[str, dict[str, int]] = field(default_factory=dict)
    webhooks: dict[str, Any] = field(default_factory=dict)    # what Meta's webhook side did
    # How each Meta item first reached the daemon's inbox: by webhook ("push") or by the
    # route's reconciliation read ("mentions", "dms").
    meta_first_read: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    workdir: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.duplicate_tickets or self.duplicate_mentions
                    or self.duplicate_replies or self.leaked_internal_notes
                    or self.refresh_tokens_reused or self.waiting_routes or self.consent_refused)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["failed"] = self.failed
        return out


# ---------------------------------------------------------------------------- processes


def socialdesk_entry(root: Path = ROOT) -> tuple[str, str]:
    """(module, function) of the ``socialdesk`` entry point the checkout at ``root`` declares
    in its pyproject.toml, so the bench follows the CLI wherever it lives."""
    try:
        scripts = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
        module, _, function = scripts["socialdesk"].partition(":")
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise RuntimeError(f"{root / 'pyproject.toml'}: no [project.scripts] socialdesk entry ({err})") from None
    return module, function or "main"


def socialdesk_command(root: Path = ROOT) -> list[str]:
    """The ``socialdesk`` command of the checkout at ``root``, run by this interpreter."""
    module, function = socialdesk_entry(root)
    return [sys.executable, "-c", f"import sys; from {module} import {function} as m; sys.exit(m())"]


@contextmanager
def sandbox_popen(root: Path = ROOT, args: tuple[str, ...] = ()) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """``socialdesk sandbox --json [args]`` as its own process, with what it printed (its
    endpoints); stopped with Ctrl-C on the way out."""
    proc = subprocess.Popen([*socialdesk_command(root), "sandbox", "--json", *args], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError("the sandbox printed nothing")
        yield proc, json.loads(line)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def sandbox_process() -> Iterator[dict[str, Any]]:
    """``socialdesk sandbox --json`` as its own process: it outlives every daemon it serves."""
    with sandbox_popen() as (_, info):
        yield info


class DaemonProcess:
    """The real daemon, continuously running; killed with SIGKILL and started again."""

    def __init__(self, config: Path, env: dict[str, str], log: Path, root: Path = ROOT,
                 command: list[str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.config = config
        self.env = env
        self.log = log
        self.root = root
        self.command = command or socialdesk_command(root)  # another runner (a profiler) may stand in
        self.args = args   # more of ``socialdesk run``'s options (``--replica-id r2``)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [*self.command, "run", "--config", str(self.config), *self.args],
                cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, no warning, whatever the daemon is doing."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """Ctrl-C, as an operator stops it; SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=DAEMON_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


def write_mapping(workdir: Path, info: dict[str, Any], helpdesk: str,
                  meta_port: int | None = None, state: str | None = None,
                  name: str = "mapping.yaml") -> tuple[Path, dict[str, str]]:
    """A mapping that reaches the sandbox as a customer's reaches production (explicit URLs,
    the CA bundle, OAuth clients with their secrets by env-var name), polling as fast as the
    vendors allow; and the environment of every socialdesk process of the run, whose state
    key is a key file in ``workdir``. The Zendesk and X entries sign in with grants that
    ``connect_endpoints`` stores (the admin's one-time consent). With ``meta_port``, also
    the Facebook Page and Instagram routes, Meta's webhooks received on that port. ``state``:
    the mapping's ``state:`` value (default: an SQLite file in ``workdir``); ``name``: the
    file's name in ``workdir`` (replicas each have one, listening on a port of their own)."""
    x = info["services"]["x"]
    ca = info["ca_bundle"]
    if helpdesk == "salesforce":
        sf = info["services"]["salesforce"]
        desk = (f"    kind: salesforce\n    login_url: {sf['login_url']}\n    auth: client_credentials\n"
                f"    client_id: {sf['client_id']}\n    client_secret: {{env: SOCIALDESK_SALESFORCE_CLIENT_SECRET}}\n"
                f"    username: {sf['api_username']}\n    ca_bundle: {ca}\n")
        secrets = {"SOCIALDESK_SALESFORCE_CLIENT_SECRET": sf["client_secret"]}
    else:
        zd = info["services"]["zendesk"]
        desk = (f"    kind: zendesk\n    url: {zd['url']}\n    auth: oauth\n    client_id: {zd['oauth_client_id']}\n"
                f"    client_secret: {{env: SOCIALDESK_ZENDESK_CLIENT_SECRET}}\n    ca_bundle: {ca}\n")
        secrets = {"SOCIALDESK_ZENDESK_CLIENT_SECRET": zd["oauth_client_secret"]}
    poll = ", ".join(f"{k}: {v}s" for k, v in POLL.items())
    meta_networks = meta_routes = webhook = ""
    if meta_port is not None:
        meta_networks, meta_routes, webhook, meta_secrets = chaos_meta.mapping_parts(info, meta_port, HELPDESK_NAME)
        secrets.update(meta_secrets)
    path = workdir / name
    path.write_text(
        f"version: 1\nstate: {state or f'sqlite:///{workdir / STATE_FILE}'}\nhelpdesks:\n  {HELPDESK_NAME}:\n{desk}"
        f"networks:\n  {NETWORK_NAME}:\n    kind: x\n    base_url: {x['url']}\n    auth: oauth2\n"
        f"    client_id: {x['oauth_client_id']}\n    client_secret: {{env: SOCIALDESK_X_CLIENT_SECRET}}\n"
        f"    authorize_url: {x['oauth_authorize_url']}\n    ca_bundle: {ca}\n{meta_networks}"
        f"routes:\n  - name: {ROUTE}\n    network: {NETWORK_NAME}\n    helpdesk: {HELPDESK_NAME}\n"
        f"    streams: [mentions, dms]\n    poll: {{{poll}}}\n    ticket: {{priority: normal}}\n{meta_routes}{webhook}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    return path, {**env, **secrets, "SOCIALDESK_X_CLIENT_SECRET": x["oauth_client_secret"],
                  "SOCIALDESK_KEY_FILE": str(workdir / "secret.key")}


class ConnectFailed(RuntimeError):
    """``socialdesk connect`` did not store a grant: the run cannot start."""


def oauth_entries(helpdesk: str) -> list[str]:
    """The mapping entries that sign in with an admin's consent (authorization code)."""
    return [HELPDESK_NAME, NETWORK_NAME] if helpdesk == "zendesk" else [NETWORK_NAME]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def connect_endpoints(config: Path, env: dict[str, str], info: dict[str, Any], helpdesk: str,
                      root: Path = ROOT) -> list[str]:
    """Run the real ``socialdesk connect`` for each OAuth entry, as an admin does once,
    with ``bench/consent_browser.py`` as the browser; the entries connected.
    ``ConnectFailed`` (with connect's own stderr) when one exits non-zero."""
    browser = f"{shlex.quote(sys.executable)} {shlex.quote(str(CONSENT_BROWSER))} %s"
    connected = []
    for name in oauth_entries(helpdesk):
        redirect = f"http://127.0.0.1:{free_port()}/socialdesk/callback"
        command = [*socialdesk_command(root), "connect", name, "--config", str(config), "--redirect-uri", redirect]
        try:
            done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=CONNECT_TIMEOUT,
                                  env={**env, "BROWSER": browser, "CONSENT_BROWSER_CA": info["ca_bundle"]})
        except subprocess.TimeoutExpired as err:
            stderr = err.stderr.decode() if isinstance(err.stderr, bytes) else err.stderr or ""
            raise ConnectFailed(f"socialdesk connect {name} gave no answer within {CONNECT_TIMEOUT:.0f}s; "
                                f"its stderr:\n{stderr.strip()}") from None
        if done.returncode != 0:
            raise ConnectFailed(f"socialdesk connect {name} exited {done.returncode}; its stderr:\n"
                                f"{done.stderr.strip()}")
        connected.append(name)
    return connected


# ---------------------------------------------------------------------------- the sandbox side


class Controls:
    """The ``/_sandbox/`` control APIs of the services in the run."""

    def __init__(self, info: dict[str, Any], services: tuple[str, ...]) -> None:
        self.urls = {name: info["services"][name]["url"] for name in services}
        self.http = requests.Session()
        self.http.verify = info["ca_bundle"]
        self.http.trust_env = False
        self.earlier_hits: dict[str, dict[str, int]] = {}   # hits of faults disarmed on the way

    def call(self, service: str, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.urls[service]}/_sandbox/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def prepare(self, options: ChaosOptions) -> None:
        """A clean account on every service, seeded generators, limits sized for the run."""
        for index, service in enumerate(self.urls):
            self.call(service, "POST", "reset")
            self.call(service, "POST", "seed", {"seed": options.seed * 101 + index})
        if "zendesk" in self.urls:
            self.call("zendesk", "POST", "clock", {"speed": options.zendesk_speed})
        if "salesforce" in self.urls:
            # An Unlimited org with 100 licences (600,000 calls a day): the run measures
            # correctness, not a Developer Edition's 15,000.
            self.call("salesforce", "POST", "limits", {"edition": "unlimited", "licenses": 100})
        # X's posting windows (200 / 15 min) would make a big run a wait for the window.
        posting = max(200, 3 * options.replies + 50)
        for family in ("create_tweet", "dm_write"):
            self.call("x", "POST", "limits", {"family": family, "limit": posting, "seconds": 900})
        # X as it is on a busy day: a last page that sometimes promises one more, empty, and
        # posts indexed up to --index-lag seconds late (the reader's overlap and its first
        # cursor, a moment, keep the reads exact).
        self.call("x", "POST", "limits", {"index_lag": options.index_lag})
        self.call("x", "POST", "pagination", {"trailing_empty_page": TRAILING_EMPTY_PAGE})
        if "meta" in self.urls:
            for bucket in ("pages", "instagram"):
                self.call("meta", "POST", "usage", {"bucket": bucket, "calls": chaos_meta.BUDGET_CALLS,
                                                    "seconds": 86400})
            self.call("meta", "POST", "webhooks", {**chaos_meta.NO_WEBHOOK_FAULTS, "seed": options.seed * 101 + 7})

    @property
    def oauth_services(self) -> list[str]:
        """The services whose sign-in the run renews (Meta's Page token never expires)."""
        return [service for service in self.urls if service in EXPIRY_JUMP]

    def arm_faults(self, helpdesk: str, timeouts: int, rate: float) -> None:
        for service, specs in fault_mix(helpdesk, timeouts).items():
            for spec in specs:
                self.call(service, "POST", "faults",
                          {**spec, "probability": min(1.0, spec["probability"] * rate)})

    def arm_meta_faults(self, version: str, timeouts: int, rate: float, throttles: bool) -> None:
        """Graph's faults, and webhook deliveries duplicated, delayed and dropped."""
        for spec in chaos_meta.fault_specs(version, timeouts, throttles):
            self.call("meta", "POST", "faults", {**spec, "probability": min(1.0, spec["probability"] * rate)})
        self.call("meta", "POST", "webhooks", chaos_meta.webhook_knobs(rate))

    def clear_faults(self) -> None:
        for service in self.urls:
            self.call(service, "DELETE", "faults")
        if "meta" in self.urls:
            self.call("meta", "POST", "webhooks", chaos_meta.NO_WEBHOOK_FAULTS)

    def advance(self, service: str, seconds: float) -> None:
        """Move ``service``'s clock ahead (its tokens age; the daemon's clock stays)."""
        self.call(service, "POST", "clock", {"advance": seconds})

    def tokens(self, service: str) -> list[dict[str, Any]]:
        """Every credential ``service`` issued or honours (``/_sandbox/tokens``: no values)."""
        return list(self.call(service, "GET", "tokens").get("tokens", []))

    def token_ids(self) -> dict[str, set[str]]:
        return {service: {str(t["id"]) for t in self.tokens(service)} for service in self.oauth_services}

    def reused_refresh_tokens(self, before: dict[str, set[str]]) -> int:
        """Refresh tokens issued since ``before`` that were presented more than once."""
        return sum(1 for service in self.oauth_services for t in self.tokens(service)
                   if t.get("kind") == "oauth_refresh" and str(t.get("id")) not in before.get(service, set())
                   and int(t.get("uses") or 0) > 1)

    def disarm(self, service: str, kind: str) -> bool:
        """Disarm ``service``'s probabilistic faults of ``kind``, the others left as they are
        (re-armed with what is left of their counts); their hits so far still count. True
        when there was one to disarm."""
        armed = self.call(service, "GET", "faults").get("probabilistic", [])
        if not any(f["kind"] == kind for f in armed):
            return False
        earlier = self.earlier_hits.setdefault(service, {})
        for fault in armed:
            earlier[fault["kind"]] = earlier.get(fault["kind"], 0) + int(fault["hits"])
        self.call(service, "DELETE", "faults")
        for fault in armed:
            if fault["kind"] == kind or (fault.get("count") is not None and int(fault["count"]) <= 0):
                continue
            spec = {key: fault[key] for key in ("kind", "probability", "path_prefix", "method", "delay", "status",
                                                "retry_after", "count") if fault.get(key) is not None}
            self.call(service, "POST", "faults", spec)
        return True

    def fault_hits(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for service in self.urls:
            hits: dict[str, int] = dict(self.earlier_hits.get(service, {}))
            for fault in self.call(service, "GET", "faults").get("probabilistic", []):
                hits[fault["kind"]] = hits.get(fault["kind"], 0) + int(fault["hits"])
            out[service] = hits
        return out


def fault_mix(helpdesk: str, timeouts: int) -> dict[str, list[dict[str, Any]]]:
    """Modest probabilistic faults on every wire the daemon uses.

    Salesforce gets no REQUEST_LIMIT_EXCEEDED here: it means the day's allocation is
    spent, and the daemon rightly waits an hour before asking again.
    """
    def common(prefix: str, writes: tuple[str, ...], refuse_429: bool, retry_after: float) -> list[dict[str, Any]]:
        specs: list[dict[str, Any]] = [
            {"kind": "5xx", "probability": 0.03, "path_prefix": prefix},
            {"kind": "reset", "probability": 0.02, "path_prefix": prefix},
            {"kind": "slow", "probability": 0.03, "path_prefix": prefix, "delay": 1.0},
        ]
        if refuse_429:
            specs.append({"kind": "429", "probability": 0.02, "path_prefix": prefix, "retry_after": retry_after})
        specs += [{"kind": "drop_response", "probability": 0.05, "method": m, "path_prefix": prefix}
                  for m in writes]
        if timeouts:
            specs.append({"kind": "timeout", "probability": 0.01, "path_prefix": prefix,
                          "delay": TIMEOUT_HOLD, "count": timeouts})
        return specs

    mix = {"x": common("/2/", ("POST",), True, 2.0)}
    if helpdesk == "salesforce":
        mix["salesforce"] = common("/services/data/", ("POST", "PATCH"), False, 0.0)
    else:
        mix["zendesk"] = common("/api/v2/", ("POST", "PUT"), True, 1.0)
    return mix


# ---------------------------------------------------------------------------- renewals


class RenewalWatch:
    """Follows the daemon's log: which token renewals are under way in the running daemon,
    and, once armed, calls ``on_renewed`` the moment a renewal is stored while no other is
    under way (a kill then cannot land in the middle of a refresh request).

    A renewal is under way from its "renewing the access token" line until its endpoint's
    "access token renewed" (or "a newer grant was stored meanwhile") line, a line telling
    that its vendor's token endpoint failed or refused, the daemon's next start, or
    ``IN_FLIGHT_MAX`` seconds (a failed token request is not always logged: it ends by its
    timeout at the latest).
    """

    def __init__(self, log: Path, on_renewed: Any) -> None:
        self.log = log
        self.on_renewed = on_renewed
        self._lock = threading.RLock()
        self._offset = 0
        self._partial = b""
        self._under_way: dict[str, float] = {}   # endpoint -> monotonic time its renewal began
        self._armed_from: int | None = None      # log offset after which a renewal counts
        self._armed_until = 0.0
        self._armed_vendor: str | None = None    # whose renewal fires (None: anyone's)
        self._seen_renewal = False
        self.missed: list[str] = []               # armed waits that saw no renewal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading -----------------------------------------------------------------------

    def poll(self) -> None:
        """Read what the log gained; fire ``on_renewed`` when armed and due (outside the
        watch's lock: the callback kills and restarts the daemon)."""
        fire = False
        with self._lock:
            try:
                with self.log.open("rb") as f:
                    f.seek(self._offset)
                    chunk = f.read()
            except FileNotFoundError:
                return
            if chunk:
                position = self._offset - len(self._partial)   # where the unread data begins
                lines = (self._partial + chunk).split(b"\n")
                self._partial = lines.pop()
                self._offset += len(chunk)
                for raw in lines:
                    position += len(raw) + 1
                    self._line(raw.decode("utf-8", "replace"), position)
            if self._armed_from is None:
                return
            if self._seen_renewal and not self.under_way():
                self._armed_from, fire = None, True
            elif time.monotonic() > self._armed_until:
                self._armed_from = None
                self.missed.append(f"no {self._armed_vendor or 'access'} token renewal within "
                                   f"{RENEWAL_WAIT:.0f}s of a restart with expired tokens")
        if fire:
            self.on_renewed()

    def _line(self, line: str, end: int) -> None:
        if line.startswith("--- start "):
            self._under_way.clear()   # a new daemon: whatever the last one began died with it
            return
        match = _OAUTH_LINE.search(line)
        if match is None:
            # A renewal that failed ends with the daemon's word on the token endpoint's
            # answer ("x token endpoint: ...", "zendesk refused the stored OAuth grant"),
            # when the daemon logs it.
            for who in list(self._under_way):
                vendor = who.split(" ", 1)[0]
                if f"{vendor} token endpoint" in line or f"{vendor} refused" in line:
                    del self._under_way[who]
            return
        who, what = match["who"], match["what"]
        if what == RENEWING:
            self._under_way[who] = time.monotonic()
            return
        self._under_way.pop(who, None)
        if what == RENEWED and self._armed_from is not None and end > self._armed_from and (
                self._armed_vendor is None or who.split(" ", 1)[0] == self._armed_vendor):
            self._seen_renewal = True

    def under_way(self) -> bool:
        """A renewal begun in the running daemon has not ended yet."""
        with self._lock:
            now = time.monotonic()
            for who, began in list(self._under_way.items()):
                if now - began > IN_FLIGHT_MAX:
                    del self._under_way[who]
            return bool(self._under_way)

    def settled(self, timeout: float = IN_FLIGHT_MAX + 4.0) -> None:
        """Return once no renewal is under way (read afresh), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if not self.under_way() or time.monotonic() > deadline:
                return
            time.sleep(LOG_POLL)

    # -- arming ------------------------------------------------------------------------

    def arm(self, vendor: str | None = None) -> None:
        """Fire at the next renewal (``vendor``'s, or anyone's) stored from now on, within
        ``RENEWAL_WAIT``."""
        with self._lock:
            self._armed_from = self.log.stat().st_size if self.log.exists() else 0
            self._armed_until = time.monotonic() + RENEWAL_WAIT
            self._armed_vendor = vendor
            self._seen_renewal = False

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._armed_from is not None

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="chaos-renewal-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(LOG_POLL):
            self.poll()


# ---------------------------------------------------------------------------- the people


@dataclass
class Ledger:
    """Everything the people did, by sequence number."""

    posts: dict[int, str] = field(default_factory=dict)           # seq -> post id
    answers: list[str] = field(default_factory=list)               # markers of public answers
    notes: list[str] = field(default_factory=list)                 # markers of internal notes
    answered: set[str] = field(default_factory=set)                # ticket ids
    answered_on: dict[str, str] = field(default_factory=dict)      # answer marker -> ticket id
    answer_network: dict[str, str] = field(default_factory=dict)   # answer marker -> its ticket's network


@dataclass(frozen=True)
class Plan:
    """When each mention is posted, by whom and how; when the daemon dies."""

    mentions: list[tuple[float, int, str, str]]   # (at, seq, customer, kind: new|thread|dm)
    answers_at: list[float]
    notes: int
    kills_at: list[float]
    chaos_end: float
    customers: list[str]
    refresh_kills_at: list[float] = field(default_factory=list)   # kills just before a renewal
    meta: list[MetaItem] = field(default_factory=list)            # customer items on Facebook and Instagram
    meta_customers: list[str] = field(default_factory=list)


def make_plan(options: ChaosOptions, rng: random.Random) -> Plan:
    posting = max(8.0, options.mentions / options.rate)
    customers = [f"chaos_c{i:05d}" for i in range(max(4, options.mentions // 6))]
    mentions = []
    for seq in range(1, options.mentions + 1):
        roll = rng.random()
        kind = "dm" if roll < 0.08 else "thread" if roll < 0.33 else "new"
        mentions.append((posting * (seq - 1) / max(1, options.mentions), seq, rng.choice(customers), kind))
    chaos_end = posting + TAIL_SECONDS
    answers_at = sorted(rng.uniform(0.25 * posting, chaos_end) for _ in range(options.replies))
    kills_at = sorted(rng.uniform(1.0, chaos_end) for _ in range(options.kills))
    # One in each equal slice of the chaos phase, somewhere in the slice's middle half.
    slices = max(1, options.refresh_kills)
    refresh_at = [chaos_end * (i + rng.uniform(0.25, 0.75)) / slices for i in range(options.refresh_kills)]
    meta, meta_customers = chaos_meta.make_meta_plan(meta_count(options), posting, options.seed)
    return Plan(mentions, answers_at, max(1, options.replies // 3), kills_at, chaos_end, customers, refresh_at,
                meta, meta_customers)


def meta_count(options: ChaosOptions) -> int:
    """How many customer items go to Facebook and Instagram (0: X alone)."""
    return options.mentions // 2 if options.meta_mentions is None else max(0, options.meta_mentions)


class Crowd:
    """Customers posting on X and agents answering in the helpdesk, from the plan."""

    def __init__(self, people: People, rng: random.Random, ledger: Ledger,
                 networks: tuple[str, ...] = ("x",)) -> None:
        self.people = people
        self.rng = rng
        self.ledger = ledger
        self.networks = networks
        self.last_post: dict[str, str] = {}
        self.tickets: list[dict[str, Any]] = []
        self.tickets_read = 0.0
        self.read_cost = 0.0

    def post(self, seq: int, customer: str, kind: str) -> None:
        tag = f"#chaos {seq:06d}"
        parent = self.last_post.get(customer)
        if kind == "dm":
            post_id = self.people.post(customer, f"{tag} a private question about my account", dm=True)
        elif kind == "thread" and parent:
            post_id = self.people.post(customer, f"{tag} any news on this?", in_reply_to=parent)
        else:
            post_id = self.people.post(customer, f"@{self.people.brand} {tag} my order has not arrived")
        if kind != "dm":
            self.last_post[customer] = post_id
        self.ledger.posts[seq] = post_id

    def refresh(self) -> list[dict[str, Any]]:
        """The helpdesk's tickets, read again once a second or, when a read is slow (a big
        run), rarely enough that reading stays a small share of the sandbox's time."""
        if time.monotonic() - self.tickets_read >= max(1.0, 10 * self.read_cost):
            started = time.monotonic()
            self.tickets = self.people.ticket_index()
            self.tickets_read = time.monotonic()
            self.read_cost = self.tickets_read - started
        return self.tickets

    def answer_one(self, patient: bool = False, fresh_only: bool = False) -> bool:
        """One public answer on a ticket not answered yet (any ticket once all are), on the
        network that has had the fewest answers: each network gets its share whatever its
        ticket count. ``patient``: when that network has no ticket yet (its posts are still
        on their way: indexing lag, a kill), wait for one rather than give its turn away.
        ``fresh_only``: no answer (False) when every ticket seen is answered already."""
        tickets = self.refresh()
        if not tickets:
            return False
        if len(self.networks) > 1:
            answered = Counter(self.ledger.answer_network.values())
            present = {network_of(t.get("external_id")) for t in tickets}
            due = min(self.networks, key=lambda n: answered[n])
            if patient and due not in present:
                return False
            turn = min((n for n in self.networks if n in present), key=lambda n: answered[n], default=None)
            tickets = [t for t in tickets if network_of(t.get("external_id")) == turn] or tickets
        fresh = [t for t in tickets if str(t["id"]) not in self.ledger.answered]
        if fresh_only and not fresh:
            return False
        ticket = self.rng.choice(fresh or tickets)
        marker = f"R-{len(self.ledger.answers) + 1:06d}"
        solve = self.rng.random() < 0.2
        self._agent(ticket["id"], f"Thanks for your patience, it is on its way (ref {marker}).",
                    public=True, status="solved" if solve else None)
        self.ledger.answers.append(marker)
        self.ledger.answered.add(str(ticket["id"]))
        self.ledger.answered_on[marker] = str(ticket["id"])
        self.ledger.answer_network[marker] = network_of(ticket.get("external_id"))
        return True

    def note_one(self) -> bool:
        tickets = self.refresh()
        if not tickets:
            return False
        marker = f"N-{len(self.ledger.notes) + 1:06d}"
        self._agent(self.rng.choice(tickets)["id"], f"Internal: refund approved by finance, do not share "
                    f"(note {marker}).", public=False)
        self.ledger.notes.append(marker)
        return True

    def _agent(self, ticket_id: Any, body: str, *, public: bool, status: str | None = None) -> None:
        """An agent's action; a throttled or refused one (nothing applied) is tried again."""
        for attempt in range(30):
            try:
                self.people.answer(ticket_id, body, public=public, status=status)
                return
            except requests.HTTPError as err:
                code = err.response.status_code if err.response is not None else 0
                if code not in (409, 429, 503) or attempt == 29:
                    raise
                time.sleep(min(2.0, float(err.response.headers.get("Retry-After", "1") or 1)))


# ---------------------------------------------------------------------------- the run


class ChaosRun:
    """One run: plan, chaos phase, drain, reconciliation."""

    def __init__(self, options: ChaosOptions, info: dict[str, Any], workdir: Path) -> None:
        if options.helpdesk not in HELPDESKS:
            raise ValueError(f"--helpdesk is one of {', '.join(HELPDESKS)}")
        self.options = options
        self.info = info
        self.workdir = workdir
        self.rng = random.Random(options.seed)
        self.plan = make_plan(options, self.rng)
        self.meta = bool(self.plan.meta)
        self.networks = ("x", *META_NETWORKS) if self.meta else ("x",)
        self.routes = [ROUTE, *(chaos_meta.ROUTE[n] for n in META_NETWORKS)] if self.meta else [ROUTE]
        self.controls = Controls(info, ("x", options.helpdesk, *(("meta",) if self.meta else ())))
        people_cls = SalesforcePeople if options.helpdesk == "salesforce" else People
        self.people = people_cls(info, ui=True)
        self.ledger = Ledger()
        self.crowd = Crowd(self.people, self.rng, self.ledger, self.networks)
        self.meta_people = ChaosMetaPeople(info) if self.meta else None
        self.meta_port = free_port() if self.meta else None
        config, env = write_mapping(workdir, info, options.helpdesk, self.meta_port)
        self.config, self.env = config, env
        self.daemon = DaemonProcess(config, env, workdir / "daemon.log")
        # Kills and restarts come from this thread and from the renewal watch's.
        self.daemon_lock = threading.Lock()
        self.watch = RenewalWatch(self.daemon.log, self._kill_after_renewal)
        self.restart_rng = random.Random(options.seed * 7 + 3)   # the watch's restart pauses
        self.tokens_before: dict[str, set[str]] = {}
        self.report = ChaosReport(helpdesk=options.helpdesk, seed=options.seed, replicas=options.replicas)
        self.started = 0.0
        self.bar: Progress | None = None       # the phase under way's progress line

    # -- phases ---------------------------------------------------------------------

    def run(self) -> ChaosReport:
        self.controls.prepare(self.options)
        # The sandbox keeps the tokens of earlier runs: only those issued from here on count.
        self.tokens_before = self.controls.token_ids()
        self._say(f"connecting {', '.join(oauth_entries(self.options.helpdesk))} "
                  f"(socialdesk connect, the consent browser)")
        connect_endpoints(self.config, self.env, self.info, self.options.helpdesk)
        timeouts = self.options.timeouts
        if timeouts is None:
            timeouts = self.options.kills // 20
        if self.options.faults:
            self.controls.arm_faults(self.options.helpdesk, timeouts, self.options.fault_rate)
        self.started = time.monotonic()
        self.daemon.start()
        if self.meta:
            self._subscribe_meta()
            if self.options.faults:
                # Throttles are disarmed at the last random kill: none without one.
                self.controls.arm_meta_faults(self.info["services"]["meta"]["version"], timeouts,
                                              self.options.fault_rate, throttles=self.options.kills > 0)
            self.started = time.monotonic()
        self.watch.start()
        try:
            try:
                self.chaos_phase()
            finally:
                self.watch.stop()
            self.report.faults_injected = self.controls.fault_hits()
            self.controls.clear_faults()
            drain_started = time.monotonic()
            self.report.drained = self.drain()
            self.report.drain_s = round(time.monotonic() - drain_started, 1)
        finally:
            self.daemon.stop()
        self.report.elapsed_s = round(time.monotonic() - self.started, 1)
        self.reconcile()
        return self.report

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _subscribe_meta(self) -> None:
        """Once the first daemon listens: the admin points the Meta app's webhooks at it."""
        deadline = time.monotonic() + LISTEN_WAIT
        health = f"http://127.0.0.1:{self.meta_port}/health"
        while True:
            try:
                requests.get(health, timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or not self.daemon.alive():
                    raise RuntimeError(f"the daemon did not listen on port {self.meta_port} within "
                                       f"{LISTEN_WAIT:.0f}s (see {self.daemon.log})") from None
                time.sleep(0.2)
        chaos_meta.subscribe(self.info, int(self.meta_port or 0))
        self._say(f"Meta's webhooks point at the daemon (port {self.meta_port})")

    def chaos_phase(self) -> None:
        """Post, answer and kill on schedule until the plan's end and every answer is made."""
        with self._phase("chaos", total=self._chaos_work()) as bar:
            self._chaos_loop()
            bar.finish(self._figures())

    def _chaos_loop(self) -> None:
        mentions, answers, kills = list(self.plan.mentions), list(self.plan.answers_at), list(self.plan.kills_at)
        refresh = list(self.plan.refresh_kills_at)
        meta = list(self.plan.meta)
        notes_every = max(1, len(self.plan.answers_at) // max(1, self.plan.notes))
        last_report = 0.0
        while mentions or meta or kills or refresh or self.watch.armed or self.elapsed() < self.plan.chaos_end or (
                answers and self.elapsed() < self.plan.chaos_end + self._drain_budget()):
            now = self.elapsed()
            while mentions and mentions[0][0] <= now:
                _, seq, customer, kind = mentions.pop(0)
                self.crowd.post(seq, customer, kind)
            while meta and meta[0].at <= now and self.meta_people is not None:
                self.meta_people.post(meta.pop(0))
            # A network's posts can all still be on their way at the chaos's end (indexed late,
            # read after the last restart): its turn waits into the first half of the drain.
            patient = now < self.plan.chaos_end + self._drain_budget() / 2
            if answers and answers[0] <= now and self.crowd.answer_one(patient=patient):
                answers.pop(0)
                if len(self.ledger.answers) % notes_every == 0 and len(self.ledger.notes) < self.plan.notes:
                    self.crowd.note_one()
            if kills and kills[0] <= now:
                kills.pop(0)
                if not kills and self.meta and self.controls.disarm("meta", "429"):
                    # A Meta throttle without an estimate pauses the Page 15 minutes: none
                    # after the last kill, whose restart forgets the pauses taken so far.
                    self._say("the last random kill: Meta's throttle faults disarmed")
                self._kill_and_restart()
            # The next kill before a renewal waits for the last one's kill after renewal.
            if refresh and refresh[0] <= now and not self.watch.armed:
                refresh.pop(0)
                self._kill_before_renewal()
            self._keep_alive()
            if now - last_report >= 0.5:
                last_report = now
                self._show()
            time.sleep(0.02)
        while len(self.ledger.notes) < self.plan.notes and self.crowd.note_one():
            pass

    def _kill_and_restart(self) -> None:
        """A kill at a random moment, but never while the daemon renews a token."""
        self.watch.settled()
        with self.daemon_lock:
            self.watch.settled()
            self.daemon.kill()
            self.report.kills += 1
            time.sleep(self.rng.uniform(*RESTART_PAUSE))
            self.daemon.start()

    def _kill_before_renewal(self) -> None:
        """Kill, let every access token the daemon holds die, restart: the new daemon meets
        refused tokens and renews. Then the watch kills it once more, just after."""
        self.watch.settled()
        with self.daemon_lock:
            self.watch.settled()
            self.daemon.kill()
            self.report.kills += 1
            self.report.refresh_kills += 1
            for service in self.controls.oauth_services:
                self.controls.advance(service, EXPIRY_JUMP[service])
            # X tells a 429's reset as a time on its own clock, now hours ahead of the
            # daemon's: such a 429 would rightly pause the network side for hours.
            if self.controls.disarm("x", "429"):
                self._say("X's clock is ahead of the daemon's from now on: X's 429 faults disarmed")
            self.daemon.start()
            # The daemon renews X first (its account check at start): the kills after a
            # renewal take turns among the endpoints that renew with a refresh token.
            renewing = oauth_entries(self.options.helpdesk)
            vendor = "x" if renewing[(self.report.refresh_kills - 1) % len(renewing)] == NETWORK_NAME \
                else self.options.helpdesk
            self.watch.arm(vendor)
        self._say(f"refresh kill {self.report.refresh_kills}: killed, "
                  + ", ".join(f"{s} clock +{EXPIRY_JUMP[s]}s" for s in self.controls.oauth_services)
                  + f", restarted; killing again when the {vendor} token is renewed")

    def _kill_after_renewal(self) -> None:
        """The renewal watch saw a renewal stored (none other under way): kill, restart."""
        with self.daemon_lock:
            self.watch.settled()
            self.daemon.kill()
            self.report.kills += 1
            self.report.kills_after_renewal += 1
            time.sleep(self.restart_rng.uniform(*RESTART_PAUSE))
            self.daemon.start()
        self._say(f"refresh kill {self.report.refresh_kills}: killed just after a renewal, restarted")

    def _keep_alive(self) -> None:
        """A daemon that exited by itself (it should not) is started again and counted."""
        with self.daemon_lock:
            if not self.daemon.alive():
                self.report.restarts_after_exit += 1
                self.daemon.start()

    def _drain_budget(self) -> float:
        if self.options.drain_timeout is not None:
            return self.options.drain_timeout
        return 60.0 + (self.options.mentions + len(self.plan.meta)) / 20.0

    def audit_all(self) -> tuple[Audit, dict[str, NetworkAudit]]:
        """The far side held against the ledger: X's audit (``sandbox.scenario.audit``) on X's
        tickets and answers, Meta's (``bench/chaos_meta.py``) on the Facebook and Instagram
        ones; one read of the helpdesk for both."""
        conversations = self.people.conversations()
        x_answers = [m for m in self.ledger.answers if self.ledger.answer_network.get(m, "x") == "x"]
        x_tickets = [c for c in conversations if network_of(c[0].get("external_id")) not in META_NETWORKS]
        x = audit(_Tickets(self.people, x_tickets), self.plan.customers, answers=x_answers,
                  notes=self.ledger.notes)
        if self.meta_people is None:
            return x, {}
        meta_answers = {m: n for m, n in self.ledger.answer_network.items() if n in META_NETWORKS}
        return x, audit_meta(conversations, self.meta_people.ledger, self.meta_people.brand_entries(), meta_answers,
                             self.ledger.notes)

    def drain(self) -> bool:
        """Let the daemon run, faults off, until the far side holds everything the people
        did and the daemon has nothing left to do; False when the budget runs out first."""
        with self._phase("drain") as bar:
            drained = self._drain_loop(bar)
            bar.finish("drained" if drained else "the drain budget ran out")
        return drained

    def _drain_loop(self, bar: Progress) -> bool:
        deadline = time.monotonic() + self._drain_budget()
        last_status = 0.0
        outstanding: int | None = None
        quiet = 0
        pause = 2.0
        while time.monotonic() < deadline:
            self._keep_alive()
            started = time.monotonic()
            x, meta = self.audit_all()
            lost = x.lost + sum(a.lost for a in meta.values())
            unanswered = x.unanswered + sum(a.unanswered for a in meta.values())
            pause = max(2.0, 5 * (time.monotonic() - started))
            outstanding = max(outstanding or 0, lost + unanswered)
            bar.update(outstanding - lost - unanswered, total=outstanding,
                       status=f"{lost} mentions and {unanswered} answers to go")
            settled = lost == 0 and unanswered == 0
            if settled or time.monotonic() - last_status >= 10.0:
                # Asking the daemon's state costs a process: only when it can end the drain.
                last_status = time.monotonic()
                idle = self._daemon_idle()
                quiet = quiet + 1 if idle else 0
                if (settled and idle) or quiet >= 4:
                    return settled
            time.sleep(pause)
        return False

    def _daemon_idle(self) -> bool:
        """Nothing pending in the daemon's inbox or outbox (``socialdesk status --json``), nor
        a kept webhook delivery unread (its state, read directly)."""
        status = self._status()
        pending = sum(status.get(route, {}).get("inbox", {}).get("pending", 0)
                      + status.get(route, {}).get("outbox", {}).get("pending", 0) for route in self.routes)
        return pending == 0 and self._pending_pushes() == 0

    def _status(self) -> dict[str, Any]:
        """The routes' queue counts (``socialdesk status --json``)."""
        return dict(self._status_json().get("routes") or {})

    def _status_json(self) -> dict[str, Any]:
        """What ``socialdesk status --json`` prints: routes (counts), health, budgets."""
        done = subprocess.run([*socialdesk_command(), "status", "--config", str(self.config), "--json"],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return {}
        try:
            status = json.loads(done.stdout)
        except ValueError:
            return {}
        return status if isinstance(status, dict) else {}

    def reconcile(self) -> None:
        x, meta = self.audit_all()
        by_post = {post_id: seq for seq, post_id in self.ledger.posts.items()}
        r = self.report
        # A post still queued in the daemon's inbox (a retry waiting out its backoff when the
        # drain's time ran out) is late, not lost: lost is what the daemon no longer holds.
        queued = self._queued_posts()
        audits = {"x": _x_figures(x, len(self.ledger.posts)), **meta}
        late = 0
        for network, result in audits.items():
            result.answers = sum(1 for n in self.ledger.answer_network.values() if n == network)
            tardy = [p for p in result.problems if p.startswith("post ") and p.split()[1] in queued]
            result.late_mentions = len(tardy)
            result.lost -= len(tardy)
            late += len(tardy)
        r.by_network = {network: result.figures() for network, result in audits.items()}
        r.mentions, r.replies, r.notes = (sum(a.mentions for a in audits.values()), len(self.ledger.answers),
                                          len(self.ledger.notes))
        r.late_mentions = late
        for name in ("lost", "unanswered", "tickets", "duplicate_tickets", "duplicate_mentions", "duplicate_replies",
                     "leaked_internal_notes"):
            setattr(r, name, sum(getattr(a, name) for a in audits.values()))
        status = self._status_json()
        routes = status.get("routes") or {}
        for route in self.routes:
            counts = routes.get(route, {})
            inbox, outbox = counts.get("inbox", {}), counts.get("outbox", {})
            r.quarantined += inbox.get("quarantined", 0) + outbox.get("failed", 0)
            r.pending_inbox += inbox.get("pending", 0)
            r.pending_outbox += outbox.get("pending", 0)
        r.problems = [_with_seq(p, by_post) for p in x.problems[:50]]
        for result in meta.values():
            r.problems += result.problems[:25]
        if self.meta_people is not None:
            hooks = self.meta_people.webhooks(deliveries=chaos_meta.DELIVERIES_KEPT)
            ids = [item["id"] for item in self.meta_people.ledger.items.values()]
            r.webhooks = {**chaos_meta.webhook_figures(hooks),
                          "never_pushed": len(chaos_meta.never_pushed(hooks, ids)),
                          "kept_by_daemon": self._pushes_by_state(),
                          "knobs": chaos_meta.webhook_knobs(self.options.fault_rate) if self.options.faults
                          else chaos_meta.NO_WEBHOOK_FAULTS}
            r.meta_first_read = self._first_reads(set(ids))
        # Signing in: what the daemon logged, what the vendors saw, where the routes stand.
        log = self._daemon_log_text()
        r.renewals = sum(1 for line in log.splitlines() if f": {RENEWED}, valid until" in line)
        r.consent_refused = log.count(CONSENT_REFUSED)
        r.refresh_tokens_reused = self.controls.reused_refresh_tokens(self.tokens_before)
        health = status.get("health") or {}
        for route in self.routes:
            state = health.get(route) or {"state": "unknown (socialdesk status said nothing of it)"}
            if state.get("state") != "active":
                r.waiting_routes += 1
                r.problems.append(f"route {route} is {state.get('state')} at the end"
                                  + (f": {state['reason']}" if state.get("reason") else ""))
        r.problems += self.watch.missed
        if r.failed or not r.drained or self.options.keep:
            self.dump_far_side()

    def _daemon_log_text(self) -> str:
        """What the daemon logged over the run (every start)."""
        return self.daemon.log.read_text(encoding="utf-8", errors="replace") if self.daemon.log.exists() else ""

    def _state_rows(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of the daemon's SQLite state, read directly (read-only)."""
        import sqlite3

        path = self.workdir / STATE_FILE
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return list(db.execute(query))

    def _queued_posts(self) -> set[str]:
        """Post ids the daemon's inbox still holds pending."""
        return {row[0].rsplit(":", 1)[-1] for row in self._state_rows(
            "SELECT source_key FROM inbox WHERE state = 'pending'")}

    def _pending_pushes(self) -> int:
        """Webhook deliveries the daemon kept and has not read into its inbox yet."""
        if not self.meta:
            return 0
        try:
            return int(self._state_rows("SELECT count(*) FROM pushes WHERE state = 'pending'")[0][0])
        except Exception:  # sqlite3.Error: a state too old for pushes, or busy: not idle
            return 1

    def _pushes_by_state(self) -> dict[str, int]:
        """The deliveries the daemon's receiver kept, by state (done: read into the inbox)."""
        return {str(state): int(count) for state, count in self._state_rows(
            "SELECT state, count(*) FROM pushes GROUP BY state")}

    def _first_reads(self, ids: set[str]) -> dict[str, int]:
        """How the Meta items first reached the inbox: by webhook (``push``) or by the
        reconciliation read of a stream (``mentions``, ``dms``)."""
        routes = ", ".join(f"'{chaos_meta.ROUTE[n]}'" for n in META_NETWORKS)
        counts: dict[str, int] = {}
        for key, stream in self._state_rows(f"SELECT source_key, stream FROM inbox WHERE route IN ({routes})"):
            if key.rsplit(":", 1)[-1] in ids:
                counts[stream] = counts.get(stream, 0) + 1
        return counts

    def dump_far_side(self) -> None:
        """What the sandbox holds, for the post-mortem: tickets with comments, every post,
        each service's request log (the last few thousand calls, faults marked)."""
        logs = {service: self.controls.call(service, "GET", "requests")["requests"] for service in self.controls.urls}
        far = {"ledger": {"posts": self.ledger.posts, "answers": self.ledger.answered_on,
                          "answer_network": self.ledger.answer_network, "notes": self.ledger.notes},
               "conversations": self.people.conversations(), "posts": self.people.all_posts(), "requests": logs,
               "tokens": {service: self.controls.tokens(service) for service in self.controls.oauth_services}}
        if self.meta_people is not None:
            far["meta"] = {"ledger": self.meta_people.ledger.items, "posts": self.meta_people.everything(),
                           "webhooks": self.meta_people.webhooks(deliveries=chaos_meta.DELIVERIES_KEPT)}
        (self.workdir / "far_side.json").write_text(json.dumps(far, indent=1, default=str))

    # -- progress -------------------------------------------------------------------

    @contextlib.contextmanager
    def _phase(self, title: str, total: float | None = None) -> Iterator[Progress]:
        """A phase's progress line on stderr (a bar on a terminal), events printed above it."""
        with Progress(title, total=total, stream=sys.stderr, started=self.started) as bar:
            self.bar = bar
            try:
                yield bar
            finally:
                self.bar = None

    def _say(self, message: str) -> None:
        """An event of the run, with the seconds since the chaos started."""
        line = f"[chaos {max(0.0, time.monotonic() - (self.started or time.monotonic())):7.1f}s] {message}"
        if self.bar is not None:
            self.bar.say(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def _chaos_work(self) -> int:
        """The chaos phase's steps: posts on every network, answers, kills."""
        return (self.options.mentions + len(self.plan.meta) + len(self.plan.answers_at) + self.options.kills
                + 2 * self.options.refresh_kills)

    def _show(self) -> None:
        done = (len(self.ledger.posts) + (len(self.meta_people.ledger.items) if self.meta_people else 0)
                + len(self.ledger.answers) + self.report.kills)
        if self.bar is not None:
            self.bar.update(min(done, self._chaos_work()), status=self._figures())

    def _figures(self) -> str:
        meta = (f" + Meta {len(self.meta_people.ledger.items)}/{len(self.plan.meta)}"
                if self.meta_people is not None else "")
        return (f"posted {len(self.ledger.posts)}/{self.options.mentions}{meta} · "
                f"tickets {len(self.crowd.tickets)} · answers {len(self.ledger.answers)}/"
                f"{self.options.replies} · notes {len(self.ledger.notes)} · "
                f"kills {self.report.kills}/{self.options.kills + 2 * self.options.refresh_kills}"
                f" (refresh kills {self.report.refresh_kills}/{self.options.refresh_kills})")


class _Tickets:
    """The people with the helpdesk's tickets narrowed to ``conversations`` (what
    ``sandbox.scenario.audit`` reads of them), the rest as they are."""

    def __init__(self, people: People, conversations: list[Any]) -> None:
        self._people = people
        self._conversations = conversations

    def conversations(self) -> list[Any]:
        return self._conversations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._people, name)


def _x_figures(result: Audit, mentions: int) -> NetworkAudit:
    """X's audit in the figures every network reports."""
    return NetworkAudit(mentions=mentions, replies_posted=result.replies_posted, tickets=result.tickets,
                        lost=result.lost, duplicate_tickets=result.duplicate_tickets,
                        duplicate_mentions=result.duplicate_mentions, duplicate_replies=result.duplicate_replies,
                        leaked_internal_notes=result.leaked_internal_notes, unanswered=result.unanswered,
                        problems=list(result.problems))


def _with_seq(problem: str, by_post: dict[str, int]) -> str:
    """A problem line with the mention's sequence number next to its post id."""
    for post_id, seq in by_post.items():
        if post_id in problem:
            return f"{problem} (#chaos {seq:06d})"
    return problem


def run_chaos(options: ChaosOptions, info: dict[str, Any] | None = None) -> ChaosReport:
    """Run once; against ``info``'s sandbox (a running ``socialdesk sandbox``) or a new one."""
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="socialdesk-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: ChaosReport | None = None
    try:
        if info is None:
            with sandbox_process() as own:
                report = _run(options, own, workdir)
        else:
            report = _run(options, info, workdir)
        return report
    finally:
        keep = options.keep or report is None or report.failed or not report.drained
        if report is not None:
            report.workdir = str(workdir) if keep else None
        if not keep and options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(options: ChaosOptions, info: dict[str, Any], workdir: Path) -> ChaosReport:
    """One daemon on an SQLite file, or replicas on a throwaway PostgreSQL database."""
    if options.replicas < 2:
        return ChaosRun(options, info, workdir).run()
    from bench.chaos_replicas import ReplicaChaosRun
    from bench.scratch_pg import scratch_database

    with scratch_database("socialdesk_chaos") as url:
        return ReplicaChaosRun(options, info, workdir, url).run()


def parse_args(argv: list[str] | None = None) -> tuple[ChaosOptions, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helpdesk", choices=HELPDESKS, default="zendesk")
    parser.add_argument("--mentions", type=int, default=200, help="sequence-numbered customer posts on X")
    parser.add_argument("--replies", type=int, default=50, help="public agent answers")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of the running daemon")
    parser.add_argument("--faults", action="store_true", help="probabilistic faults on every service")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0, help="mentions posted per second")
    parser.add_argument("--drain-timeout", type=float, default=None, help="seconds to wait for quiescence")
    parser.add_argument("--zendesk-speed", type=float, default=20.0, help="Zendesk sandbox seconds per second")
    parser.add_argument("--timeouts", type=int, default=None,
                        help="answers held past the client timeout, per service (default: kills // 20)")
    parser.add_argument("--fault-rate", type=float, default=1.0, help="multiplies every fault probability")
    parser.add_argument("--index-lag", type=float, default=5.0,
                        help="X indexes each post up to this many seconds late (default 5; 0: at once)")
    parser.add_argument("--refresh-kills", type=int, default=0,
                        help="kills around a token renewal: each kills just before one (tokens made to expire) "
                             "and again just after it")
    parser.add_argument("--meta-mentions", type=int, default=None,
                        help="customer items on Facebook and Instagram (default: half of --mentions; 0: X alone)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="daemons sharing the work (2 or more: replicas on a throwaway PostgreSQL database at "
                             "SOCIALDESK_TEST_PG, default 127.0.0.1:5432; each kill hits a random one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    options = ChaosOptions(helpdesk=args.helpdesk, mentions=args.mentions, replies=args.replies, kills=args.kills,
                           faults=args.faults, seed=args.seed, rate=args.rate, drain_timeout=args.drain_timeout,
                           zendesk_speed=args.zendesk_speed, timeouts=args.timeouts,
                           fault_rate=args.fault_rate, refresh_kills=args.refresh_kills, keep=args.keep,
                           index_lag=args.index_lag, meta_mentions=args.meta_mentions, replicas=args.replicas)
    return options, args.json


def main(argv: list[str] | None = None) -> int:
    options, as_json = parse_args(argv)
    try:
        report = run_chaos(options)
    except ConnectFailed as err:
        print(f"chaos: {err}", file=sys.stderr)
        return 2
    except (ValueError, NoPostgres) as err:   # options that do not go together; no PostgreSQL for replicas
        print(f"chaos: {err}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(report.as_dict(), sort_keys=True))
    else:
        for key in ("helpdesk", "seed", "replicas", "mentions", "replies", "notes", "kills", "refresh_kills",
                    "kills_after_renewal", "restarts_after_exit", "lost", "duplicate_tickets", "duplicate_mentions",
                    "duplicate_replies", "leaked_internal_notes", "unanswered", "quarantined", "pending_inbox",
                    "pending_outbox", "tickets", "renewals", "refresh_tokens_reused", "consent_refused",
                    "waiting_routes", "drained", "elapsed_s", "drain_s"):
            print(f"{key:22} {getattr(report, key)}")
        print(f"{'faults_injected':22} {json.dumps(report.faults_injected, sort_keys=True)}")
        for network, figures in report.by_network.items():
            print(f"{network:22} {json.dumps(figures)}")
        if report.webhooks:
            print(f"{'webhooks':22} {json.dumps(report.webhooks, sort_keys=True)}")
            print(f"{'meta_first_read':22} {json.dumps(report.meta_first_read, sort_keys=True)}")
        for problem in report.problems[:20]:
            print(f"  problem: {problem}")
        if report.workdir:
            print(f"{'workdir':22} {report.workdir}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
