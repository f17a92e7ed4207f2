"""bench/compare.py end to end on a small backlog: the figures are there and socialdesk
needs fewer helpdesk calls per mention than THE BASELINE (naive sync) - a property that
fails if batching or threading stops working."""
from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_scenario_and_floor() -> None:
    compare = _load("compare")
    s = compare.make_scenario(1000, 0.2, 0.75, seed=3)
    assert len(s.events) == 1000 and s.followups == 200 and s.conversations == 800
    seqs = {e.seq: e for e in s.events}
    for e in s.events:  # a follow-up comes after its conversation's first post, by the same customer
        if e.root is not None:
            assert e.root < e.seq and seqs[e.root].root is None and seqs[e.root].author == e.author
    assert len({e.author for e in s.events}) == s.customers == 600
    floor = compare.floor_of(s, 700)
    jobs = 6 + 8 + max(2, s.max_followups)  # users, creates, update_many jobs of 100
    expected = jobs + 1  # one job_statuses/show_many read can return all of them
    assert floor["requests"] == expected
    assert floor["seconds"] == pytest.approx(expected / 700 * 60, abs=0.05)


def test_compare_small_run(capsys: pytest.CaptureFixture[str]) -> None:
    compare = _load("compare")
    started = time.monotonic()
    code = compare.main(["--mentions", "300", "--replies", "5", "--json", "--quiet", "--settle", "0.5"])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    result = json.loads(out)
    for key in ("parameters", "scenario", "limits", "floor", "socialdesk", "baseline", "ratios", "targets",
                "memory", "notes"):
        assert key in result
    assert result["limits"]["account_per_minute"] == 700
    assert result["limits"]["zendesk_sandbox"]["limits"]["account"] == [700, 60]
    assert "BASELINE" in result["baseline"]["label"]
    assert result["floor"]["requests"] > 0 and "formula" in result["floor"]
    for side in ("socialdesk", "baseline"):
        figures = result[side]
        assert figures["helpdesk_calls"] > 0
        assert figures["lost"] == 0 and figures["duplicates"] == 0
        assert figures["drain"]["simulated_seconds"] > 0 and figures["drain"]["vs_floor"] > 0
        assert figures["mention_to_ticket"]["n"] == 300
        assert figures["mention_to_ticket"]["p95_s"] >= figures["mention_to_ticket"]["p50_s"] >= 0
        assert figures["throttled_429"]["from_log"] >= 0
        assert figures["by_endpoint"]
    sd, base = result["socialdesk"], result["baseline"]
    # The property the benchmark exists for.
    assert sd["calls_per_mention"] < base["calls_per_mention"]
    assert result["ratios"]["baseline_over_socialdesk_calls_per_mention"] == pytest.approx(
        base["calls_per_mention"] / sd["calls_per_mention"], rel=0.01)
    # The baseline: one lookup and one ticket per mention, no threading.
    assert base["by_endpoint"].get("POST /api/v2/tickets", 0) >= 300
    assert base["tickets"] == 300
    assert sd["tickets"] == result["scenario"]["conversations"]
    assert sd["reply_to_post"]["posted"] == 5 and sd["reply_to_post"]["latency"]["n"] == 5
    assert base["reply_to_post"] is None
    assert result["memory"]["phases"]["socialdesk drain"]["rss_peak_mib"] > 0
    assert time.monotonic() - started < 120
