"""``socialdesk report`` after a real day on the sandbox (tests/busy_day.py: a daemon routing X and
a Facebook Page into Zendesk): its figures checked against what the script did and what the
far side shows: counts per route and network, the held, failed and set-aside items with their
reasons, latencies, first responses against targets, the X read cost; the terminal table, the
JSON and the HTML file from the command itself; short errors for bad options."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from busy_day import Day, Happened
from cli.common import load_mapping
from cli.main import main
from sync.report import X_DM_EVENT_READ_USD, X_POST_READ_USD, ReportError, Targets, build_report, parse_span
from sync.store import Store
import harness

sb = pytest.fixture(scope="module")(harness.own_sandbox)


@pytest.fixture(scope="module")
def day(sb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Day, Happened]]:
    played = Day(sb, tmp_path_factory.mktemp("report-day"))
    try:
        yield played, played.play()
    finally:
        played.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: pytest.CaptureFixture[str], day: Day, *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "--config", str(day.mapping), "--since", "1d", "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ordered(spread: dict[str, Any]) -> bool:
    return 0 <= spread["min"] <= spread["median"] <= spread["p90"] <= spread["max"]


def test_counts_per_route_and_network_are_what_happened(day: tuple[Day, Happened],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    desk, done = day
    report = as_json(capsys, desk)
    routes = {r["name"]: r for r in report["routes"]}
    assert list(routes) == ["x-support", "facebook-support"]          # the mapping's order
    far_side = [str(t["external_id"]) for t in desk.people.tickets()]
    x, fb = routes["x-support"]["volumes"], routes["facebook-support"]["volumes"]
    # Opened: one ticket per conversation, as many as Zendesk holds for each network.
    assert x["opened"] == sum(k.startswith("x:") for k in far_side) == 4
    assert fb["opened"] == sum(k.startswith("facebook:") for k in far_side) == 2
    # Read: the customers' six posts on X (four mentions, a DM, a follow-up, the one set aside).
    assert x["read"] - x["filtered"] == 6 and x["quarantined"] == 1 and x["written"] == 5
    assert fb["read"] - fb["filtered"] == 2 and fb["written"] == 2 and fb["quarantined"] == 0
    assert (x["posted"], x["held"], x["failed"], x["waiting"]) == (1, 2, 1, 0)
    assert (fb["posted"], fb["held"], fb["failed"]) == (1, 0, 0)
    assert routes["x-support"]["noun"] == routes["facebook-support"]["noun"] == "tickets"
    assert report["networks"]["x"]["routes"] == ["x-support"] and report["networks"]["x"]["opened"] == 4
    assert report["networks"]["facebook"]["read"] == fb["read"]


def test_held_failed_and_set_aside_items_say_why(day: tuple[Day, Happened], capsys: pytest.CaptureFixture[str]) -> None:
    desk, done = day
    report = as_json(capsys, desk)
    held = {h["ticket_id"]: h for h in report["held"]}
    assert set(held) == {done.held_for_approval, done.held_by_guard}
    assert held[done.held_for_approval]["hold"] == "approval"
    assert held[done.held_for_approval]["why"] == "awaiting approval: a lead adds the tag approved to the ticket"
    assert held[done.held_by_guard]["hold"] == "guard" and "email address" in held[done.held_by_guard]["why"]
    [failed] = report["failed"]
    assert failed["ticket_id"] == done.failed and "403" in failed["why"] and failed["id"].startswith("out-")
    [aside] = report["quarantine"]
    assert aside["key"] == f"x:post:{done.quarantined}" and "422" in aside["reason"] and aside["id"].startswith("in-")
    listed = {f["id"] for f in desk.store.failed()}                   # what 'socialdesk failed list' shows
    assert {failed["id"], aside["id"], held[done.held_by_guard]["id"]} <= listed


def test_latencies_are_measured_from_what_happened_and_ordered(day: tuple[Day, Happened],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    desk, done = day
    report = as_json(capsys, desk)
    x = next(r for r in report["routes"] if r["name"] == "x-support")
    times = x["times"]
    assert times["mention_to_ticket"]["count"] == x["volumes"]["written"] and ordered(times["mention_to_ticket"])
    assert times["reply_to_post"]["count"] == 1 and ordered(times["reply_to_post"])
    # The reply to Ana waited for a lead's approval: at least the 90 s the script let pass.
    assert times["reply_to_post"]["min"] >= 90
    # Ana's first response, against X: her post and the brand's answer, as X dated them.
    ana = next(c for c in x["conversations"] if c["ticket_id"] == done.tickets["ana"])
    asked = epoch(next(p for p in desk.people.posts_by("ana_p") if p["id"] == done.posts["ana"])["created_at"])
    answered = epoch(next(p for p in desk.people.posts_by(desk.people.brand) if p["id"] == done.posted["ana"])
                     ["created_at"])
    assert 0 <= ana["took"] - (answered - asked) < 30, (ana, answered - asked)
    assert ana["took"] > times["mention_to_ticket"]["max"]            # answered after its ticket was written
    assert times["first_response"] == {"count": 1, "min": ana["took"], "median": ana["took"], "p90": ana["took"],
                                       "max": ana["took"]}
    # Ana's post and her follow-up were both answered by that reply: two response times, the later one shorter.
    assert times["post_to_reply"]["count"] == 2 and times["post_to_reply"]["max"] == pytest.approx(ana["took"])


def test_first_responses_against_targets_by_the_priority_the_rules_set(day: tuple[Day, Happened]) -> None:
    desk, done = day
    config = load_mapping(str(desk.mapping))
    report = build_report(desk.store, config, desk.clock(), parse_span("1d"),
                          targets=Targets.parse("high=1m,normal=1h"))
    x = next(r for r in report["routes"] if r["name"] == "x-support")
    status = {c["ticket_id"]: (c["priority"], c["status"]) for c in x["conversations"]}
    t = done.tickets
    assert status == {t["ana"]: ("normal", "met"), t["ben"]: ("high", "breached"),   # "down": the outage rule
                      t["cyd"]: ("normal", "open"), t["eve"]: ("normal", "open")}
    assert x["sla"]["by_priority"]["high"] == {"conversations": 1, "answered": 0, "met": 0, "breached": 1, "open": 0,
                                               "breached_unanswered": 1}
    assert report["targets"]["source"] == "--target high=1m,normal=1h"
    tight = build_report(desk.store, config, desk.clock(), parse_span("1d"), targets=Targets.parse("1s"))
    assert {c["status"] for r in tight["routes"] for c in r["conversations"]} == {"breached"}
    default = build_report(desk.store, config, desk.clock(), parse_span("1d"))
    assert "default" in default["targets"]["source"] and "offline" in default["targets"]["source"]


def test_x_reads_are_priced_per_post_and_dm_event(day: tuple[Day, Happened], capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    desk, _ = day
    cost = as_json(capsys, desk)["cost"]
    assert list(cost["routes"]) == ["x-support"]                      # Facebook's reads are not billed per item
    read = desk.store.reads(cost["month"])["x-support"]
    x = cost["routes"]["x-support"]
    assert (x["posts"], x["dm_events"]) == (read["posts"], read["dm_events"]) and x["posts"] >= 5 and x["dm_events"] >= 1
    assert x["usd"] == pytest.approx(x["posts"] * X_POST_READ_USD + x["dm_events"] * X_DM_EVENT_READ_USD)
    assert "docs.x.com" in cost["price_source"]
    monkeypatch.setenv("SOCIALDESK_X_POST_READ_USD", "0.1")
    repriced = as_json(capsys, desk)["cost"]
    assert repriced["usd"] == pytest.approx(x["posts"] * 0.1 + x["dm_events"] * X_DM_EVENT_READ_USD)
    assert "SOCIALDESK_X_POST_READ_USD" in repriced["price_source"]


def test_the_terminal_table_is_plain_aligned_text_when_not_a_terminal(day: tuple[Day, Happened],
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    desk, done = day
    code, out, err = run(capsys, "--config", str(desk.mapping), "--since", "1d")
    assert code == 0 and err == ""
    assert "\x1b[" not in out and not set("─━│┃") & set(out)            # no colour, no box drawing
    lines = out.splitlines()
    header = lines.index("Volumes per route") + 1
    assert lines[header].split() == ["route", "read", "opened", "written", "filtered", "aside", "posted", "held",
                                     "failed", "waiting"]
    rows = lines[header + 1:header + 3]
    assert [r.split()[0] for r in rows] == ["x-support", "facebook-support"]
    for column, figures in (("read", ["6", "2"]), ("held", ["2", "0"])):
        end = lines[header].index(f" {column} ") + 1 + len(column)   # figures end under their header
        assert [r[:end].split()[-1] for r in rows] == figures, (column, rows)
    assert "4 tickets" in rows[0] and "2 tickets" in rows[1]
    assert "awaiting approval: a lead adds the tag approved to the ticket" in out
    failed = next(f["id"] for f in desk.store.failed() if "403" in (f["reason"] or ""))
    assert f"socialdesk failed retry {failed}" in out
    assert "X reads this month" in out and "docs.x.com" in out


def test_html_report_is_one_file_with_charts(day: tuple[Day, Happened], capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    desk, _ = day
    target = tmp_path / "report.html"
    code, out, err = run(capsys, "--config", str(desk.mapping), "--since", "1d", "--html", str(target))
    assert code == 0 and str(target) in err and "x-support" in out
    page = target.read_text()
    assert page.startswith("<!doctype html>") and page.count('<svg class="chart"') >= 5
    assert "<script" not in page and "<link" not in page and " src=" not in page   # nothing fetched
    assert 'data-value="' in page and "awaiting approval" in page
    code, _, err = run(capsys, "--config", str(desk.mapping), "--html", str(tmp_path / "missing" / "r.html"))
    assert code == 1 and err.startswith("socialdesk: cannot write the HTML report to") and "Traceback" not in err


@pytest.mark.parametrize("argv, named", [
    (("--since", "7x"), "--since '7x'"), (("--since", "0d"), "--since '0d'"), (("--since", ""), "--since ''"),
    (("--route", "nope"), "--route 'nope'"),
])
def test_bad_options_get_a_short_error_naming_them(day: tuple[Day, Happened], capsys: pytest.CaptureFixture[str],
                                                   argv: tuple[str, ...], named: str) -> None:
    desk, _ = day
    code, out, err = run(capsys, "--config", str(desk.mapping), *argv)
    assert code == 2 and out == "" and err.startswith(f"socialdesk: {named}") and len(err.splitlines()) == 1, err


def test_bad_targets_and_prices_are_named(monkeypatch: pytest.MonkeyPatch, day: tuple[Day, Happened],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for text, named in (("soon", "--target 'soon'"), ("vip=1h", "unknown priority 'vip'"),
                        ("high=", "--target high ''")):
        with pytest.raises(ReportError, match=named):
            Targets.parse(text)
    assert Targets.parse("urgent=15m,4h").target("urgent") == 900 and Targets.parse("urgent=15m,4h").target("low") == 14400
    monkeypatch.setenv("SOCIALDESK_X_DM_EVENT_READ_USD", "-1")
    code, out, err = run(capsys, "--config", str(day[0].mapping))
    assert code == 2 and err.strip() == "socialdesk: SOCIALDESK_X_DM_EVENT_READ_USD='-1': expected a price in US " \
                                        "dollars, like 0.005"


def test_salesforce_routes_count_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"""\
version: 1
state: sqlite:///{tmp_path / 'state.sqlite'}
helpdesks:
  org: {{kind: salesforce, sandbox: true}}
networks:
  brand_x: {{kind: x, sandbox: true}}
routes:
  - name: x-cases
    network: brand_x
    helpdesk: org
    ticket: {{priority: normal}}
""")
    Store(f"sqlite:///{tmp_path / 'state.sqlite'}").migrate()   # a state the daemon made, still empty
    code, out, err = run(capsys, "--config", str(mapping))
    assert code == 0, err
    assert "0 cases" in out and "0 tickets" not in out, out
    code, out, _ = run(capsys, "--config", str(mapping), "--json")
    assert json.loads(out)["routes"][0]["noun"] == "cases"
