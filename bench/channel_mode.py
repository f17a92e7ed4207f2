"""bench/compare.py's Zendesk Channel Framework part: the same X mentions, synced by socialdesk
with its Zendesk helpdesk in ``mode: channel`` (any_channel), measured in the same run.

In this mode Zendesk makes the tickets: socialdesk hands each post to Zendesk as an external
resource, pushed as it comes (``POST /api/v2/any_channel/push``, up to 256 a request) and
offered to Zendesk's own pulls (about every 2 minutes: Zendesk calling socialdesk, no API
call of socialdesk's); an agent's public reply comes back through the channelback URL.

How it runs (``ChannelPart``):

  reading   A daemon of its own (``CHANNEL_MAPPING``, own SQLite store, the run's clock)
            reads every wave of mentions into its inbox, right after THE BASELINE, so it
            holds the same N posts (X's timeline reaches only the 800 newest).
  install   After the REST and Meta parts, Zendesk is reset to the plan and its clock
            brought to the run's; the daemon's ``/channel/`` endpoints are served as
            ``socialdesk run --sandbox`` serves them (cli/channel.py ``ChannelMount``: the
            daemon's loopback HTTPS address), and the sandbox's Zendesk installs the
            integration from its manifest URL and adds an account through the admin UI,
            as an admin does.
  drain     The route writes its inbox as the daemon's scheduler would (``process_inbox``
            loops, mention polls when due, the reply export every 30 s): a backlog a push's
            worth (256) at a time; the daemon's pusher thread pushes by its rule
            (sync/channel/pacing.py: a full push at once, the rest once the oldest has
            waited). Done when the inbox is empty and Zendesk has imported every resource
            (its ``/resources`` listing). Waits are skipped by moving the clocks (a
            throttled route or push, the pusher's wait for the last resources, a resource
            left to Zendesk's next pull), as in the REST drain.
  replies   An agent answers M of the tickets in public; Zendesk calls socialdesk's
            channelback URL, which posts the answer on X in the thread.
  pulls     The clocks move past Zendesk's pull interval until two scheduled pulls have
            come: what they carry after the pushes (nothing, when every push landed).

Counted: Zendesk API calls made with socialdesk's credentials (the account's API token
and the push token Zendesk issued to the integration account, both the sandbox's API
user: its request log's ``user``) during the drain, the replies and the install apart;
calls per mention against ``TARGET_CALLS_PER_MENTION`` (issue 16: well under 0.01); what
Zendesk's side did, from its ``/_sandbox/channel_integrations`` record: pushes (resources
each, statuses), pulls (scheduled or not, resources carried), channelbacks, event
callbacks, and the tickets it made (``via.channel`` any_channel, follow-ups).
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import sqlalchemy as sa

from adapters.base import BatchesWrites
from cli.channel import ChannelMount
from cli.wiring import sandbox_endpoints
from sync.config import parse_config
from sync.daemon import Daemon
from sync.store import Store
from sync.store.schema import channel_resources, channel_tenants
from sync.web import WebServer

from figures import HttpTimer, endpoint_of, pct

if TYPE_CHECKING:
    from compare import Compare

# BENCH_MAPPING's X route with its Zendesk entry in Channel Framework mode. The group is left
# out: a resource cannot name one (push API reference: system fields by their English name,
# custom fields by id), so socialdesk would set it through REST on every new ticket, one call
# each; examples/zendesk-channel.yaml says the same.
CHANNEL_MAPPING = """\
version: 1
helpdesks:
  sandbox_zendesk: {kind: zendesk, sandbox: true, mode: channel}
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
      custom_fields: {Social network: x, Social post URL: "{url}"}
    mirror: {enabled: true}
"""
CHANNEL_LABEL = "socialdesk, Zendesk Channel Framework mode (any_channel)"
TARGET_CALLS_PER_MENTION = 0.01   # issue 16: "the aim is well under 0.01"
MAX_RESOURCES = 256               # external resources per push (push_parameters.json maxItems)
PULL_INTERVAL = 120.0             # Zendesk pulls "approximately every 2 minutes" (pull docs)
REPLIES_EVERY = 30.0              # the daemon's agent-reply export job interval
STUCK_WALL = 3.0                  # wall seconds without progress before waiting for Zendesk's pull
HTTP_TIMEOUT = 60.0


def push_floor(resources: int) -> int:
    """The fewest pushes that carry ``resources`` (256 a request)."""
    return math.ceil(resources / MAX_RESOURCES) if resources > 0 else 0


def summarize_pushes(pushes: list[dict[str, Any]]) -> dict[str, Any]:
    """Zendesk's record of the pushes it took: requests, resources each, statuses."""
    sizes = [int(p.get("count") or 0) for p in pushes]
    statuses = Counter(str(r["status"]["code"]) for p in pushes for r in p.get("results") or ())
    return {"requests": len(pushes), "resources": sum(sizes),
            "refused_requests": sum(1 for p in pushes if p.get("http_status") != 200),
            "per_request": ({"min": min(sizes), "mean": round(sum(sizes) / len(sizes), 1), "max": max(sizes)}
                            if sizes else None),
            "full_requests": sum(1 for s in sizes if s == MAX_RESOURCES),
            "statuses": dict(statuses.most_common())}


def summarize_pulls(pulls: list[dict[str, Any]]) -> dict[str, Any]:
    """Zendesk's record of its pulls: how many, by what, what they carried."""
    carried = [len(p.get("results") or ()) for p in pulls]
    return {"requests": len(pulls), "ok": sum(1 for p in pulls if p.get("status") == "ok"),
            "by_trigger": dict(Counter(str(p.get("trigger")) for p in pulls)),
            "with_resources": sum(1 for c in carried if c), "resources": sum(carried),
            "errors": [str(p.get("error"))[:200] for p in pulls if p.get("error")][:3]}


def summarize_tickets(tickets: list[dict[str, Any]]) -> dict[str, Any]:
    live = [t for t in tickets if not t.get("deleted")]
    via = Counter(str((t.get("via") or {}).get("channel")) for t in live)
    followups = sum(1 for t in live if ((t.get("via") or {}).get("source") or {}).get("rel") == "follow_up")
    return {"tickets": len(live), "by_via_channel": dict(via.most_common()), "follow_ups": followups,
            "comments": sum(len(t.get("comments") or ()) for t in live)}


class ChannelStalled(RuntimeError):
    """The Channel Framework part made no progress."""


class ChannelPart:
    """socialdesk in Channel Framework mode inside one ``Compare`` run (see the module text)."""

    def __init__(self, run: "Compare") -> None:
        self.run = run
        self.store: Store | None = None
        self.daemon: Daemon | None = None
        self.mount: ChannelMount | None = None
        self.web: WebServer | None = None
        self.instance: int | None = None
        self.x_read_calls: Counter[str] = Counter()
        self._push_timer: HttpTimer | None = None

    # ------------------------------------------------------------------ reading (with the other syncs)

    def setup(self, tmp: Path) -> None:
        run = self.run
        self.store = Store(f"sqlite:///{tmp / 'state-channel.sqlite'}", clock=run.clock)
        self.store.migrate()
        config = dataclasses.replace(parse_config(CHANNEL_MAPPING, source="<bench channel mapping>"),
                                     state_url=self.store.url)
        self.daemon = Daemon(config, self.store, sandbox_endpoints(run.info), clock=run.clock)
        self.daemon.prepare()
        self.route = next(iter(self.daemon.routes.values()))
        if self.route.parked or self.route.waiting:
            raise ChannelStalled(f"channel route {self.route.name} stopped at start: "
                              f"{self.route.parked or self.route.waiting}")
        self.interval = float(self.route.network.min_poll_interval)

    def read_wave(self) -> int:
        """Read the wave X shows now into the inbox; a pause (X throttled) is waited out by
        moving the clocks, then read again."""
        got = 0
        for _ in range(5):
            self.run.ctl.take_log("x")
            got += self.route.poll("mentions")
            self.x_read_calls.update(endpoint_of(e) for e in self.run.ctl.take_log("x"))
            waits = [until - self.run.clock() for until in self.route.paused_until.values()]
            if not any(w > 0 for w in waits):
                return got
            self.run.skip(max(waits) + 0.5)
        return got

    def pending(self) -> tuple[int, float | None]:
        return self.run.pending(self.store, (self.route.name,))

    # ------------------------------------------------------------------ install

    def install(self) -> dict[str, Any]:
        """Zendesk reset to the plan, the integration installed from its manifest URL and an
        account added; what that cost in Zendesk API calls (made apart from the drain)."""
        run = self.run
        run.ctl.call("zendesk", "POST", "reset")
        run.set_plan()
        gap = run.clock() - run.ctl.now("zendesk")  # one time for Zendesk and the daemon from here on
        if gap > 0:
            run.ctl.advance("zendesk", gap)
        run.ctl.take_log("zendesk")
        assert self.daemon is not None and self.store is not None
        self.mount = ChannelMount.of(self.daemon)
        if self.mount.service is None:
            raise ChannelStalled("the channel mapping's helpdesk is not in Channel Framework mode in this tree")
        app = self.mount.wrap(self.daemon.web_app())
        self.web = WebServer(app, "127.0.0.1", 0).start()
        manifest_url = self.mount.start(app, self.web.url, run.info)
        if manifest_url is None:
            raise ChannelStalled("the Channel Framework endpoints could not be served (see the log)")
        rows = [r for r in self.listing() if r["manifest_url"] == manifest_url and r["instance_id"] is not None]
        if not rows:
            raise ChannelStalled(f"the sandbox's Zendesk made no account for {manifest_url}")
        self.instance = int(rows[0]["instance_id"])
        deadline = time.monotonic() + 30.0
        while not self.store.tenants(states=("active",)):   # confirmed on Zendesk's create event
            if time.monotonic() > deadline:
                raise ChannelStalled("the integration account never became active (validate_token, create event)")
            time.sleep(0.05)
        calls = self.our_calls(self.take_log())
        return {"manifest_url": manifest_url, "instance_id": self.instance, "helpdesk_calls": len(calls),
                "by_endpoint": dict(Counter(endpoint_of(e) for e in calls).most_common()),
                "note": "the admin's install (manifest read, admin UI, account confirmed); not drain work"}

    def listing(self) -> list[dict[str, Any]]:
        return self.run.ctl.call("zendesk", "GET", "channel_integrations")["integrations"]

    def account(self) -> dict[str, Any]:
        return self.run.ctl.call("zendesk", "GET", f"channel_integrations/{self.instance}")

    def imported(self) -> int:
        return len(self.run.ctl.call("zendesk", "GET", f"channel_integrations/{self.instance}/resources")
                   ["resources"])

    def take_log(self) -> list[dict[str, Any]]:
        """Zendesk's request log, read and cleared while no push is in flight: the daemon's
        pusher thread calls Zendesk beside the bench's, and a call logged between the read and
        the clearing would be lost (the pusher holds this lock for a whole round)."""
        assert self.mount is not None and self.mount.service is not None
        with self.mount.service.pusher._lock:
            return self.run.ctl.take_log("zendesk")

    def our_calls(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in entries if e.get("user") == self.run.api_email]

    # ------------------------------------------------------------------ the store

    def handed(self) -> tuple[int, int]:
        """(resources kept for Zendesk, of them neither imported by a push nor pulled)."""
        assert self.store is not None
        with self.store.engine.connect() as conn:
            total, waiting = conn.execute(sa.select(
                sa.func.count(), sa.func.count().filter(channel_resources.c.pushed_at.is_(None)
                                                        & channel_resources.c.pulled_at.is_(None)))).one()
        return int(total), int(waiting)

    def push_blocked_until(self) -> float:
        assert self.store is not None
        with self.store.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(channel_tenants.c.push_blocked_until))
                                 .where(channel_tenants.c.state == "active")).scalar()
        return float(value or 0.0)

    def tenant_counts(self) -> dict[str, Any]:
        assert self.store is not None
        tenant = self.store.tenants(states=("active",))
        if not tenant:
            return {}
        t = tenant[0]
        return {"pushes": t.pushes, "pushed": t.pushed, "pulls": t.pulls, "channelbacks": t.channelbacks,
                "last_error": t.last_error}

    # ------------------------------------------------------------------ the drain

    def drain(self, n: int) -> dict[str, Any]:
        run, route = self.run, self.route
        entries: list[dict[str, Any]] = []
        self.take_log()
        run.ctl.take_log("x")
        pushes_before = len(self.account()["pushes"])
        t0 = run.ctl.now("zendesk")
        wall0 = time.perf_counter()
        run.skipped, run.skips = 0.0, 0
        last_replies = -math.inf
        last_flush = last_report = time.monotonic()
        last_waiting, last_progress = -1, time.monotonic()
        pull_waits = push_waits = 0
        idle = 0
        writing, written = 0.0, 0
        push_timer = self.push_timer()
        push_http0, pushes0 = push_timer.seconds, push_timer.count
        while True:
            left, due = self.pending()
            if time.perf_counter() - wall0 > run.args.timeout:
                raise ChannelStalled(f"channel drain: {left} inbox rows and {self.handed()[1]} resources waiting "
                                     f"after {run.args.timeout:.0f}s wall; tenant {self.tenant_counts()}")
            if route.parked:
                raise ChannelStalled(f"channel drain: route parked: {route.parked}")
            if time.monotonic() - last_flush > 5.0:   # the log keeps 5,000 entries
                entries.extend(self.take_log())
                last_flush = time.monotonic()
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                run.progress(f"channel drain: {left} pending, {self.handed()[1]} resources waiting for Zendesk, "
                             f"{time.perf_counter() - wall0:.0f}s wall, {run.ctl.now('zendesk') - t0:.0f}s simulated")
            if left:
                # The daemon's work job: writes back to back while the inbox has rows.
                if route.poll_due("mentions", self.interval):
                    route.poll("mentions")
                if run.clock() - last_replies >= REPLIES_EVERY:
                    route.poll_replies()
                    last_replies = run.clock()
                started = time.perf_counter()
                done = route.process_inbox()
                writing += time.perf_counter() - started
                written += done
                if done:
                    idle = 0
                    continue
            total, waiting = self.handed()
            if waiting != last_waiting:
                last_waiting, last_progress = waiting, time.monotonic()
            if left == 0 and waiting == 0:
                # Every resource pushed or pulled: done once Zendesk has imported them all.
                if self.imported() >= total:
                    break
                time.sleep(0.05)
                continue
            now = run.clock()
            waits = [until - now for until in route.paused_until.values() if until > now]
            blocked = self.push_blocked_until() - now
            if waiting and blocked > 0:
                waits.append(blocked)
            push_due = self.pusher().due_at() if waiting and left == 0 else None
            if push_due is not None and push_due > now:
                # The pusher holds the last few resources for its wait (or Zendesk's pull).
                waits.append(push_due - now)
                push_waits += 1
            if left and due is not None and due > now:
                waits.append(due - now)
            if waits:
                self.skip(min(waits) + 0.1)
                continue
            if waiting and left == 0 and time.monotonic() - last_progress > STUCK_WALL:
                # Pushes have not taken the rest: Zendesk's next scheduled pull brings them.
                pull_waits += 1
                self.skip(self.until_next_pull() + 0.5)
                last_progress = time.monotonic()
                continue
            idle += 1
            if left and idle > 500:
                raise ChannelStalled(f"channel drain: {left} rows pending and nothing done in 500 rounds; "
                                     f"route paused_until={route.paused_until}")
            time.sleep(0.01)
        wall = time.perf_counter() - wall0
        t_end = run.ctl.now("zendesk")
        push_http, push_requests = push_timer.seconds - push_http0, push_timer.count - pushes0
        entries.extend(self.take_log())
        x_during = run.ctl.take_log("x")
        calls = self.our_calls(entries)
        others = [e for e in entries if e.get("user") != run.api_email]
        tickets = run.ctl.call("zendesk", "GET", "tickets")["tickets"]
        result = run.side_result(n, calls, t0, t_end, wall, tickets)
        result["drain"]["note"] = ("ends when Zendesk has imported every resource (seen by the bench within "
                                   "~50 ms); simulated = wall + waits skipped")
        result["drain"]["time_breakdown_s"] = {
            "writes_process_inbox": round(writing, 1), "rows_written": written,
            "ms_per_row_written": round(1000 * writing / written, 2) if written else None,
            "push_http_round_trips": round(push_http, 1), "push_requests": push_requests,
            "ms_per_push": round(1000 * push_http / push_requests, 1) if push_requests else None,
            "skipped_waits": round(run.skipped, 1), "waits_for_zendesk_pull": pull_waits,
            "waits_for_push_rule": push_waits,
            "wall_s_between_pushes": round(wall / push_requests, 2) if push_requests else None,
            "note": "writes run in the bench's thread (as the scheduler's write job), pushes in the daemon's "
                    "pusher thread at the same time; wall = writes + the tail until Zendesk imported the last "
                    "resource + the bench's reads"}
        rule = self.pusher().rule(self.store.tenants(states=("active",))[0].helpdesk)
        # The product's pacing of pushes (sync/channel/pacing.py PushRule).
        result["pusher"] = {"rule": f"push when {rule.full} resources wait, or when the oldest has waited "
                                    f"{rule.wait:g} s (left to Zendesk's pull when one is due by then)",
                            "full": rule.full, "wait_s": rule.wait, "pull_every_s": rule.pull_every}
        result["write_path"] = {"batched": isinstance(self.route.helpdesk, BatchesWrites),
                                "batch_max": getattr(self.route.helpdesk, "batch_max", None)}
        result["other_zendesk_requests"] = len(others)
        result["x_calls_during_drain"] = len(x_during)
        result["daemon_stats"] = dataclasses.asdict(route.stats)
        result["resources"] = {"kept_for_zendesk": self.handed()[0], "imported_by_zendesk": self.imported()}
        result["pushes_in_drain"] = summarize_pushes(self.account()["pushes"][pushes_before:])
        self.tickets = tickets
        return result

    def pusher(self) -> Any:
        assert self.mount is not None and self.mount.service is not None
        return self.mount.service.pusher

    def skip(self, seconds: float) -> None:
        """Move the clocks, then let the pusher look again (it sleeps until its next push is due)."""
        self.run.skip(seconds)
        if self.mount is not None and self.mount.service is not None:
            self.pusher().wake()

    def push_timer(self) -> "HttpTimer":
        """The push client's requests timed (the active account's, made once and kept)."""
        assert self.store is not None and self.daemon is not None
        if self._push_timer is None:
            tenant = self.store.tenants(states=("active",))[0]
            desk = self.daemon.helpdesks[tenant.helpdesk]
            self._push_timer = HttpTimer(desk.pusher(tenant.instance_push_id).session)
        return self._push_timer

    def until_next_pull(self) -> float:
        """Seconds on Zendesk's clock to the account's next scheduled pull."""
        at = self.account().get("next_pull_at")
        if not at:
            return PULL_INTERVAL
        due = datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp()
        return max(0.0, due - self.run.ctl.now("zendesk"))

    # ------------------------------------------------------------------ agent replies -> channelback -> X

    def replies(self, count: int) -> dict[str, Any]:
        run = self.run
        if count <= 0:
            return {"replies": 0, "posted": 0, "latency": pct([])}
        live = [t for t in self.tickets if not t.get("deleted")
                and (t.get("via") or {}).get("channel") == "any_channel"]
        step = max(1, len(live) // count)
        chosen = live[::step][:count]
        self.take_log()
        run.ctl.take_log("x")
        agent = run.info["services"]["zendesk"]
        http = requests.Session()
        http.verify, http.trust_env = run.info["ca_bundle"], False
        http.headers["Authorization"] = f"Bearer {agent['agent_oauth_token']}"
        latencies: list[float] = []
        failures: list[str] = []
        wall0 = time.perf_counter()
        for index, ticket in enumerate(chosen):
            marker = f"ref C{index:04d}"
            body = {"ticket": {"comment": {"body": f"Thanks for waiting, we are on it ({marker})", "public": True}}}
            url = f"{agent['url']}/api/v2/tickets/{ticket['id']}.json"
            response = http.put(url, json=body, timeout=HTTP_TIMEOUT)
            if response.status_code == 429:
                run.skip(float(response.headers.get("Retry-After", "60")))
                response = http.put(url, json=body, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            started = run.clock()
            deadline = time.monotonic() + run.args.item_timeout
            seen = False
            while time.monotonic() < deadline:
                posts = run.ctl.call("x", "GET", "posts", params={"author": run.brand})["posts"]
                if any(marker in p["text"] for p in posts):
                    seen = True
                    break
                time.sleep(0.005)
            if seen:
                latencies.append(run.clock() - started)
            else:
                sent = [c for c in self.account()["channelbacks"] if c.get("ticket_id") == ticket["id"]]
                last = sent[-1] if sent else {}
                failures.append(f"ticket {ticket['id']}: no post on X after {run.args.item_timeout:.0f}s; "
                                f"channelback {last.get('status')} {last.get('http_status')} {last.get('error') or ''}")
            run.skip(run.args.reply_spacing)
        backs = self.settled_channelbacks()
        calls = self.our_calls(self.take_log())
        return {"replies": len(chosen), "posted": len(latencies), "failures": failures[:5],
                "latency": pct(latencies), "wall_seconds": round(time.perf_counter() - wall0, 1),
                "helpdesk_calls_per_reply": round(len(calls) / max(1, len(chosen)), 2),
                "helpdesk_by_endpoint": dict(Counter(endpoint_of(e) for e in calls).most_common()),
                "x_calls": len(run.ctl.take_log("x")),
                "channelbacks": dict(Counter(str(c.get("status")) for c in backs).most_common()),
                "method": "agent PUT (public comment) -> Zendesk POSTs the channelback URL -> socialdesk posts on "
                          "X and answers the new post's external id; latency on the daemon's clock from the PUT "
                          f"returning to the reply listed on X; answers {run.args.reply_spacing:g} s apart"}

    def settled_channelbacks(self, wait: float = 10.0) -> list[dict[str, Any]]:
        """Zendesk's channelback records once none is still pending: the reply can be on X
        before Zendesk has read socialdesk's answer to its channelback and marked it sent."""
        deadline = time.monotonic() + wait
        while True:
            backs = self.account()["channelbacks"]
            if all(c.get("status") != "pending" for c in backs) or time.monotonic() >= deadline:
                return backs
            time.sleep(0.05)

    # ------------------------------------------------------------------ Zendesk's pulls after the pushes

    def scheduled_pulls(self, count: int = 2) -> dict[str, Any]:
        """Let Zendesk's pull schedule come round ``count`` times (the clocks moved to each
        pull's time) and report what the pulls carried."""
        run = self.run
        before = len(self.account()["pulls"])
        self.take_log()
        for _ in range(count):
            seen = len(self.account()["pulls"])
            run.skip(self.until_next_pull() + 0.5)
            deadline = time.monotonic() + 15.0
            while len(self.account()["pulls"]) <= seen and time.monotonic() < deadline:
                time.sleep(0.05)
        pulls = self.account()["pulls"][before:]
        calls = self.our_calls(self.take_log())
        return {**summarize_pulls(pulls), "helpdesk_calls": len(calls),
                "note": "after the drain: Zendesk's scheduled pulls (its clock moved to each), answered from the "
                        "state cursor socialdesk keeps"}

    # ------------------------------------------------------------------ all of it

    def figures(self, n: int, resources_expected: int) -> dict[str, Any]:
        """What Zendesk's side of the framework did over the whole part."""
        account = self.account()
        return {"pushes": summarize_pushes(account["pushes"]), "pulls": summarize_pulls(account["pulls"]),
                "push_floor": {"requests": push_floor(resources_expected), "per_mention":
                               round(push_floor(resources_expected) / n, 4),
                               "formula": "ceil(resources / 256): every resource in a full push"},
                "tickets": summarize_tickets(self.run.ctl.call("zendesk", "GET", "tickets")["tickets"]),
                "channelbacks": dict(Counter(str(c.get("status")) for c in account["channelbacks"]).most_common()),
                "events": dict(Counter(f"{e['type_id']} {e['status']}" for e in account["events"]).most_common()),
                "socialdesk_tenant": self.tenant_counts()}

    def teardown(self) -> None:
        for closer in (lambda: self.mount and self.mount.stop(), lambda: self.web and self.web.stop(),
                       lambda: self.store and self.store.close()):
            try:
                closer()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass

