"""The demo is the product's showcase: it must play its whole day on both helpdesks and
show each rule outcome, each guard and the SLA coverage report, with nothing lost."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.demo import ACTS, render

ROOT = Path(__file__).resolve().parents[2]


# Zendesk's sandbox has a trigger that e-mails every requester: each route's report warns of it.
@pytest.mark.parametrize("helpdesk, sla_warnings", [("zendesk", 3), ("salesforce", 0)])
def test_demo_day_on_each_helpdesk(helpdesk: str, sla_warnings: int) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--helpdesk", helpdesk, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["helpdesk"] == helpdesk
    assert (summary["lost"], summary["duplicates"], summary["unanswered"]) == (0, 0, 0), summary["problems"]
    assert summary["mentions"] == 8 and summary["tickets"] == 7 and summary["filtered"] == 2
    assert summary["rules_fired"] == {"influencer": 1, "outage": 1, "private": 1}
    assert summary["held"] == {"personal data": 1, "too old": 1}
    assert summary["waited_for_approval"] == 5 and summary["escalated_viral"] == 1
    assert summary["moved_to_dm"] == 1, "the held answer went by DM, with one public note"
    assert summary["sla_warnings"] == sla_warnings
    assert summary["meta"] == {"items": 3, "tickets": 3, "answered_in_place": 3, "lost": 0, "duplicates": 0}
    report = "\n".join(summary["sla_report"])
    for rule in ("no rule fires", "rule 'outage'", "rule 'influencer'", "rule 'private'",
                 "route facebook-support", "route instagram-support", "[mention, comment, dm]"):
        assert rule in report, report
    assert ('SLA "Social urgent"' if helpdesk == "zendesk" else 'entitlement "Social Care Premium"') in report


def summary_rows(text: str) -> dict[str, list[str]]:
    """The end summary's rows (name -> values, in order: a name may be in two sections)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("socialdesk demo: "))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1:]:
        if line.startswith("  ") and not line.startswith("  - "):
            name, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            rows.setdefault(name, []).append(value)
    return rows


def test_demo_text_on_salesforce_speaks_of_cases_and_says_nothing_was_lost() -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--helpdesk", "salesforce"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "\x1b[" not in out, "no escape codes when not on a terminal"
    lines = out.splitlines()
    assert "09:50 Bob's post takes off (4,200 likes): his case is escalated" in lines
    assert "11:10 Hana edits her comment: the edit is noted on her case" in lines
    summary = "\n".join(lines[next(i for i, line in enumerate(lines) if line.startswith("socialdesk demo: ")):])
    assert "ticket" not in summary, "a Salesforce demo opens cases"
    rows = summary_rows(out)
    assert rows["cases opened"] == ["7", "3"], "X's, then Facebook's and Instagram's"
    assert rows["held by a guard (a note on the case says why)"] == ["2: personal data 1, too old 1"]
    assert (rows["lost"], rows["duplicates"], rows["answers not posted"]) == (["0"], ["0"], ["0"])
    assert lines[-1].startswith("result: 0 lost, 0 duplicates, 0 answers not posted; every post reached")
    assert sum(line[:5] in ("09:00", "09:02", "09:10", "09:30", "09:40", "09:45", "09:50", "10:15", "11:00",
                            "11:05", "11:10") or line.startswith("four days later") for line in lines) == ACTS


def test_demo_result_names_what_went_wrong() -> None:
    summary = {"mentions": 8, "tickets": 6, "comments": 1, "replies_posted": 7, "duplicates": 1, "quarantined": 3,
               "lost": 1, "filtered": 2, "unanswered": 1, "seconds": 9.0, "helpdesk": "zendesk",
               "problems": ["post 17 by ada_lovelace has no ticket", "reply posted 2 times: 'Done'"],
               "meta": {"items": 3, "tickets": 3, "answered_in_place": 2, "lost": 0, "duplicates": 0},
               "rules_fired": {}, "held": {"personal data": 1, "too old": 1, "other": 1}, "waited_for_approval": 5,
               "escalated_viral": 0, "moved_to_dm": 0, "sla_warnings": 3, "sla_report": []}
    lines = render(summary).splitlines()
    at = lines.index("result: 1 lost, 1 duplicates, 1 answers not posted; PROBLEMS (took 9.0s):")
    assert lines[at + 1:] == ["  - post 17 by ada_lovelace has no ticket", "  - reply posted 2 times: 'Done'",
                              "  - 1 item(s) quarantined for another reason than a guard "
                              "(see the daemon's warnings above)"]
    rows = summary_rows("\n".join(lines))
    assert rows["rules fired"] == ["none"] and rows["held by a guard (a note on the ticket says why)"] == [
        "2: personal data 1, too old 1"]
