"""bench/compare.py end to end on a small backlog: the figures are there and socialdesk
needs fewer helpdesk calls per mention (X) and per comment or DM (Facebook, Instagram) than
THE BASELINE (naive sync) - a property that fails if batching or threading stops working;
in Zendesk Channel Framework mode the same mentions reach Zendesk through pushes alone, and
agents' replies through channelback, without an API call."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


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
    code = compare.main(["--mentions", "300", "--meta-items", "90", "--replies", "5", "--json", "--quiet",
                         "--settle", "0.5"])
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

    # Facebook and Instagram, measured in the same run.
    meta = result["meta"]
    scenario = meta["scenario"]
    assert scenario["items"] == 90 and sum(scenario["by_channel"].values()) == 90
    assert set(scenario["by_channel"]) == {"facebook comment", "facebook dm", "instagram comment", "instagram dm"}
    msd, mbase = meta["socialdesk"], meta["baseline"]
    for figures in (msd, mbase):
        assert figures["lost"] == 0 and figures["duplicates"] == 0   # every item in the helpdesk, once
        assert figures["item_to_ticket"]["n"] == 90
        assert figures["graph_reads"]["http_requests"] > 0
    assert msd["tickets"] == scenario["tickets"] < 90                 # threaded as socialdesk threads them
    assert mbase["tickets"] == 90                                     # one ticket per item
    assert mbase["by_endpoint"]["POST /api/v2/tickets"] >= 90
    assert msd["calls_per_item"] < mbase["calls_per_item"]
    assert meta["ratios"]["baseline_over_socialdesk_calls_per_item"] == pytest.approx(
        mbase["calls_per_item"] / msd["calls_per_item"], rel=0.01)
    reading = meta["reading"]
    hooks = reading["webhooks"]
    assert hooks["kept_by_receiver"] > 0 and reading["deliveries_read"] == hooks["kept_by_receiver"]
    assert hooks["dropped"] == 0
    # socialdesk batches its reconciliation reads: Meta counts more calls than HTTP requests.
    recon = reading["socialdesk"]["reconciliation"]
    assert recon["calls_counted_by_meta"] > recon["http_requests"] > 0
    assert reading["baseline"]["http_requests"] == mbase["baseline_stats"]["x_requests"]
    side = result["per_item_side_by_side"]["helpdesk_calls_per_item"]
    assert side["socialdesk"] == {"x": sd["calls_per_mention"], "meta": msd["calls_per_item"]}
    assert side["baseline"] == {"x": base["calls_per_mention"], "meta": mbase["calls_per_item"]}
    text = compare.render(result)
    assert "Facebook + Instagram, same run" in text and "meta ratios: baseline/socialdesk" in text

    # Zendesk Channel Framework mode: the same mentions, in the same run.
    channel = result["channel"]
    ch, zendesk = channel["socialdesk"], channel["zendesk_side"]
    assert ch["lost"] == 0 and ch["duplicates"] == 0 and ch["mention_to_ticket"]["n"] == 300
    assert ch["tickets"] == result["scenario"]["conversations"]          # Zendesk threads them itself
    assert zendesk["tickets"]["by_via_channel"] == {"any_channel": ch["tickets"]}
    # Every Zendesk API call of the drain is a push, and Zendesk's own record counts the same pushes.
    assert set(ch["by_endpoint"]) == {"POST /api/v2/any_channel/push"}
    # A backlog is handed over a push's worth at a time, so the pusher sends a full push at
    # once and the rest after its wait: the fewest pushes that carry 300 resources.
    pushed = ch["pushes_in_drain"]
    assert ch["helpdesk_calls"] == pushed["requests"] == zendesk["push_floor"]["requests"] == 2
    assert pushed["per_request"]["max"] == 256 and set(pushed["statuses"]) == {"success"}
    assert ch["write_path"]["batched"] and ch["pusher"]["full"] == 256 and 2 <= ch["pusher"]["wait_s"] <= 5
    assert zendesk["pushes"]["resources"] + zendesk["pulls"]["resources"] == 300   # each post handed over once
    assert ch["calls_per_mention"] == pytest.approx(ch["helpdesk_calls"] / 300, abs=1e-4)
    assert ch["calls_per_mention"] < base["calls_per_mention"]
    assert channel["ratios"]["baseline_over_channel_calls_per_mention"] == pytest.approx(
        base["calls_per_mention"] / ch["calls_per_mention"], rel=0.01)
    assert channel["target"]["met"] == (ch["calls_per_mention"] < 0.01) and channel["target"]["met"]
    assert channel["install"]["helpdesk_calls"] >= 1        # the account's push token confirmed with Zendesk
    # Agents' answers come back through channelback: posted on X, no API call of socialdesk's.
    replies = ch["reply_to_post"]
    assert replies["posted"] == 5 and replies["helpdesk_calls_per_reply"] == 0
    assert replies["channelbacks"] == {"sent": 5}
    # Zendesk's scheduled pulls after the pushes find nothing left.
    after = channel["pulls_after_drain"]
    assert after["requests"] == after["ok"] == 2 and after["resources"] == 0
    assert result["targets"]["channel_calls_per_mention_met"] == channel["target"]["met"]
    assert "Zendesk Channel Framework mode (any_channel), same run" in text


def test_channel_figures_read_zendesk_s_record() -> None:
    channel = _load("channel_mode")
    assert [channel.push_floor(n) for n in (0, 1, 256, 257, 10_000)] == [0, 1, 1, 2, 40]

    def push(count: int, *codes: str, status: int = 200) -> dict[str, object]:
        return {"count": count, "http_status": status,
                "results": [{"external_resource_id": f"r{i}", "status": {"code": c}} for i, c in enumerate(codes)]}

    pushes = channel.summarize_pushes([push(256, *["success"] * 256), push(3, "success", "already_imported", "halted"),
                                       push(2, status=400)])
    assert pushes["requests"] == 3 and pushes["resources"] == 261 and pushes["refused_requests"] == 1
    assert pushes["per_request"] == {"min": 2, "mean": 87.0, "max": 256} and pushes["full_requests"] == 1
    assert pushes["statuses"] == {"success": 257, "already_imported": 1, "halted": 1}
    assert channel.summarize_pushes([])["per_request"] is None

    pulls = channel.summarize_pulls([{"status": "ok", "trigger": "schedule", "results": [{}, {}]},
                                     {"status": "ok", "trigger": "schedule", "results": []},
                                     {"status": "failed", "trigger": "control", "error": "HTTP 503"}])
    assert pulls == {"requests": 3, "ok": 2, "by_trigger": {"schedule": 2, "control": 1}, "with_resources": 1,
                     "resources": 2, "errors": ["HTTP 503"]}

    tickets = channel.summarize_tickets([
        {"via": {"channel": "any_channel", "source": {"rel": None}}, "comments": [{}, {}]},
        {"via": {"channel": "any_channel", "source": {"rel": "follow_up"}}, "comments": [{}]},
        {"via": {"channel": "api"}, "comments": [{}], "deleted": True}])
    assert tickets == {"tickets": 2, "by_via_channel": {"any_channel": 2}, "follow_ups": 1, "comments": 3}


def test_the_report_says_when_the_channel_part_was_left_out() -> None:
    compare = _load("compare")
    assert compare.channel_lines({}, lambda s: "n/a") == ["", "Zendesk Channel Framework mode: not run (--no-channel)"]


def test_meta_scenario_keeps_a_conversation_on_its_channel_and_counts_tickets_as_socialdesk_threads() -> None:
    compare = _load("compare")
    workload = _load("meta_workload")
    events = compare.make_scenario(600, 0.25, 0.6, seed=5).events
    s = workload.make_meta_scenario(events, dm_share=0.4, seed=5)
    by_seq = {i.seq: i for i in s.items}
    assert len(s.items) == 600
    for item in s.items:
        if item.root is not None:   # a reply under the customer's comment, or the same DM thread
            first = by_seq[item.root]
            assert (item.network, item.dm, item.on, item.author) == (first.network, first.dm, first.on, first.author)
    expected = s.expected()
    keys = {(i.network, "dm", i.author) if i.dm else (i.network, i.on, i.author) for i in s.items}
    assert expected["tickets"] == len(keys) <= 600 - 150
    assert expected["requesters"] == len({(i.network, i.author) for i in s.items})
    dms = sum(1 for i in s.items if i.dm and i.root is None)
    assert 0.3 < dms / sum(1 for i in s.items if i.root is None) < 0.5
    assert workload.refs_in("where is it? (ref M000042) and ref M12") == {"M000042"}
    only_dms = workload.make_meta_scenario(events, dm_share=1.0, seed=5)
    assert all(i.dm for i in only_dms.items)


def test_graph_calls_are_named_by_their_edge() -> None:
    compare = _load("compare")
    assert compare.graph_endpoint({"method": "GET", "path": "/v25.0/151137200181324/conversations",
                                   "query": "platform=instagram&user_id=26822"}) == "GET /{id}/conversations (instagram)"
    assert compare.graph_endpoint({"method": "GET", "path": "/v25.0/151137200181324_1000002/comments",
                                   "query": "filter=stream"}) == "GET /{id}/comments"
    assert compare.graph_endpoint({"method": "GET", "path": "/v25.0/t_8841200/messages"}) == "GET /{id}/messages"
    assert compare.graph_endpoint({"method": "POST", "path": "/v25.0/"}) == "POST /"


# --------------------------------------------------------------------------- the daemon alone: pure parts


def test_proc_stat_cpu_counts_fields_after_the_last_parenthesis() -> None:
    alone = _load("daemon_alone")
    # A command name with a space and a ')' in it must not shift the fields.
    stat = "4242 (socialdesk) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 3 1 20 0 5 0 100 0 0"
    assert alone.parse_stat_cpu(stat, 100) == pytest.approx(3.25)  # (250 + 75) ticks at 100 a second
    assert alone.parse_stat_cpu(stat, 250) == pytest.approx(1.3)


def test_proc_status_reads_kib_lines() -> None:
    alone = _load("daemon_alone")
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmHWM:\t  153600 kB\nVmRSS:\t   81920 kB\n"
    assert alone.parse_status_kib(status, "VmHWM") == 153600
    assert alone.parse_status_kib(status, "VmRSS") == 81920
    assert alone.parse_status_kib(status, "VmSwap") == 0  # absent


def test_per_process_figures_per_mention() -> None:
    alone = _load("daemon_alone")
    before = alone.ProcSample(cpu_s=1.5, rss_kib=60 * 1024, hwm_kib=70 * 1024)
    after = alone.ProcSample(cpu_s=2.5, rss_kib=90 * 1024, hwm_kib=120 * 1024)
    assert alone.per_mention_ms(before, after, 2000) == pytest.approx(0.5)
    figures = alone.process_figures(before, after, 2000)
    assert figures["peak_rss_mib"] == 120.0 and figures["rss_before_drain_mib"] == 60.0
    assert figures["cpu_s_drain"] == 1.0 and figures["cpu_ms_per_mention"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        alone.per_mention_ms(before, after, 0)


def test_history_for_the_store_is_consistent() -> None:
    alone = _load("daemon_alone")
    h = alone.make_history(1000, route="r", helpdesk="acme", network="x", now=2_000_000_000.0, seed=3)
    assert len(h.inbox) == 1000 and len(h.links) == 800 and len(h.requesters) == 600
    assert len({row["source_key"] for row in h.inbox}) == 1000
    assert all(row["state"] == "done" and row["done_at"] < 2_000_000_000.0 for row in h.inbox)
    tickets = {link["ticket_id"]: link for link in h.links}
    assert len(tickets) == 800
    # Every closed mention's ticket has its link, in the same conversation, by a known requester.
    authors = {r["author_id"] for r in h.requesters}
    for row in h.inbox:
        link = tickets[row["ticket_id"]]
        assert link["conversation_key"] == row["conversation"] and link["author_id"] in authors
        assert json.loads(row["payload"])["author"]["id"] == link["author_id"]
    # History ids never collide with a new post's (X snowflakes are far above).
    assert max(int(json.loads(row["payload"])["id"]) for row in h.inbox) < 2**60


def test_pauses_are_recorded_on_the_split_route_and_on_the_old_one() -> None:
    compare = _load("compare")

    class Err(Exception):
        retry_after = 12.34

    calls: list[tuple[str, str]] = []

    class Health:
        def pause(self, side: str, err: Exception) -> None:
            calls.append(("health", side))

    class SplitRoute:
        def __init__(self) -> None:
            self.health = Health()

    class OldRoute:
        def _pause(self, side: str, err: Exception) -> None:
            calls.append(("route", side))

    for route, where in ((SplitRoute(), "health"), (OldRoute(), "route")):
        pauses: list[dict[str, object]] = []
        undo = compare.record_pauses(route, pauses)
        target = route.health.pause if where == "health" else route._pause
        target("helpdesk", Err("429 too many"))
        assert calls[-1] == (where, "helpdesk")  # still paused, as before
        assert pauses == [{"side": "helpdesk", "seconds": 12.3, "reason": "429 too many"}]
        undo()
        owner = route.health if where == "health" else route
        assert "pause" not in vars(owner) and "_pause" not in vars(owner)


def test_profiled_code_is_charged_to_its_owner() -> None:
    alone = _load("daemon_alone")
    assert alone.code_owner("/v/lib/python3.11/site-packages/sqlalchemy/engine/base.py") == "sqlalchemy"
    assert alone.code_owner("/v/lib/python3.11/site-packages/six.py") == "six"
    assert alone.code_owner("/work/main/sync/engine.py") == "sync"
    assert alone.code_owner("/work/main/adapters/helpdesk/zendesk.py") == "adapters"
    assert alone.code_owner("/usr/lib/python3.11/json/decoder.py") == "stdlib decoder"
    assert alone.code_owner("~", "<method 'execute' of 'sqlite3.Cursor' objects>") == "C sqlite3"
    assert alone.code_owner("~", "<method 'read' of '_ssl._SSLSocket' objects>") == "C ssl"
    assert alone.code_owner("~", "<built-in method time.sleep>") == "C time"
    assert alone.code_owner("~", "<built-in method builtins.isinstance>") == "C builtins"
    assert alone.code_owner("~", "<built-in method __new__ of type object at 0x7f>") == "C builtins"
