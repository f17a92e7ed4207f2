"""Helpdesk API calls per mention, Zendesk beside Salesforce, measured on the sandbox.

Usage: python bench/bench_helpdesks.py [--mentions N] [--json]

For each helpdesk the same N customers mention the brand once each and the daemon
ingests them; the helpdesk sandbox's own request log says how many API calls that took
(Salesforce counts against the org's daily allocation, so this is the figure admins
budget with). A second pass of N follow-ups in the same threads measures the comment path.
Both arrive as a backlog, which the daemon writes in batches; a third pass of mentions
that arrive one at a time, each written before the next comes, measures the idle path.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from sandbox.scenario import People  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402
from sync.config import parse_config  # noqa: E402
from sync.daemon import Daemon  # noqa: E402
from cli.demo import DEMO_MAPPING, DEMO_MAPPING_SALESFORCE  # noqa: E402
from sync.store import Store  # noqa: E402
from cli.wiring import sandbox_endpoints  # noqa: E402


def _requests(info: dict[str, Any], service: str, clear: bool = False) -> list[dict[str, Any]]:
    url = f"{info['services'][service]['url']}/_sandbox/requests"
    http = requests.Session()
    http.verify, http.trust_env = info["ca_bundle"], False
    if clear:
        http.delete(url).raise_for_status()
        return []
    response = http.get(url)
    response.raise_for_status()
    return [r for r in response.json()["requests"] if not str(r.get("path", "")).startswith("/_sandbox")]


def measure(helpdesk: str, mentions: int) -> dict[str, Any]:
    mapping = DEMO_MAPPING_SALESFORCE if helpdesk == "salesforce" else DEMO_MAPPING
    with tempfile.TemporaryDirectory() as tmp, Sandbox(workdir=tmp) as sandbox:
        info = sandbox.info()
        store = Store(f"sqlite:///{Path(tmp) / 'state.sqlite'}")
        store.migrate()
        config = dataclasses.replace(parse_config(mapping), state_url=store.url)
        daemon = Daemon(config, store, sandbox_endpoints(info))
        daemon.prepare()
        route = next(iter(daemon.routes.values()))
        people = People(info)
        result: dict[str, Any] = {"helpdesk": helpdesk, "mentions": mentions}
        roots = [people.post(f"bench{i}", f"@{people.brand} question {i}") for i in range(mentions)]
        for phase in ("new tickets", "follow-up comments"):
            _requests(info, helpdesk, clear=True)
            started = time.perf_counter()
            people.advance("x", route.network.min_poll_interval)
            route.poll("mentions")
            while route.process_inbox():
                pass
            seconds = time.perf_counter() - started
            calls = _requests(info, helpdesk)
            kinds = Counter(re.sub(r"/(?!v\d)[^/]*\d[^/]*(?=/|$)", "/{id}", f"{c['method']} {c.get('path', '')}".split("?")[0])
                            for c in calls)
            result[phase] = {"calls": len(calls), "per_mention": round(len(calls) / mentions, 2),
                             "seconds": round(seconds, 2), "top": kinds.most_common(4)}
            if phase == "new tickets":
                for i, root in enumerate(roots):
                    people.post(f"bench{i}", f"@{people.brand} any news on {i}?", in_reply_to=root)
        singles = min(mentions, 20)
        _requests(info, helpdesk, clear=True)
        started = time.perf_counter()
        for i in range(singles):
            people.post(f"idle{i}", f"@{people.brand} quick question {i}")
            people.advance("x", route.network.min_poll_interval)
            route.poll("mentions")
            while route.process_inbox():
                pass
        calls = _requests(info, helpdesk)
        result["one at a time"] = {"calls": len(calls), "per_mention": round(len(calls) / singles, 2),
                                   "seconds": round(time.perf_counter() - started, 2), "top": [],
                                   "mentions": singles}
        budget = getattr(route.helpdesk, "budget", lambda: None)()
        result["budget"] = {k: v for k, v in budget.items() if k != "calls_per_minute"} if budget else None
        store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [measure(h, args.mentions) for h in ("zendesk", "salesforce")]
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"helpdesk API calls per mention ({args.mentions} mentions, in-process sandbox)")
    for r in results:
        for phase in ("new tickets", "follow-up comments", "one at a time"):
            p = r[phase]
            print(f"  {r['helpdesk']:10} {phase:18} {p['per_mention']:5.2f} calls/mention "
                  f"({p['calls']} calls, {p['seconds']:.1f}s)  {p['top']}")
        if r["budget"]:
            print(f"  {r['helpdesk']:10} daily allocation after both passes: {r['budget']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
