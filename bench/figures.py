"""Figures shared by the benches: percentiles, a Zendesk call by its endpoint, the time a
client spends in its HTTP requests, a bench's figures printed."""
from __future__ import annotations

import json
import re
import statistics
from typing import Any

import requests


def show(figures: dict[str, Any], as_json: bool, leave_out: tuple[str, ...] = ()) -> None:
    """A bench's figures on stdout: one JSON object (all of them), or a line each (but ``leave_out``)."""
    if as_json:
        print(json.dumps(figures, sort_keys=True))
        return
    width = max((len(key) for key in figures), default=0) + 2
    for key, value in figures.items():
        if key not in leave_out:
            print(f"{key:{width}}{json.dumps(value)}")


def pct(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    if len(ordered) > 1:
        q = statistics.quantiles(ordered, n=100, method="inclusive")
        p50, p95 = q[49], q[94]
    else:
        p50 = p95 = ordered[0]
    return {"n": len(ordered), "p50_s": round(p50, 2), "p95_s": round(p95, 2),
            "min_s": round(ordered[0], 2), "max_s": round(ordered[-1], 2)}


def endpoint_of(entry: dict[str, Any]) -> str:
    path = re.sub(r"/\d+(?=/|\.json|$)", "/{id}", str(entry["path"]).split("?")[0])
    path = re.sub(r"/job_statuses/(?!show_many)[^/]+", "/job_statuses/{id}", path)
    return f"{entry['method']} {path.removesuffix('.json')}"


class HttpTimer:
    """Client-observed request time of one requests.Session (response hook: time to headers)."""

    def __init__(self, session: requests.Session) -> None:
        self.seconds = 0.0
        self.count = 0

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self.seconds += response.elapsed.total_seconds()
            self.count += 1
        # First, so that it also sees the 429s the adapter's own hook turns into exceptions.
        session.hooks["response"].insert(0, hook)
