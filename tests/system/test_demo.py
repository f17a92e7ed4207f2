"""The demo is the product's showcase: it must play its whole day on both helpdesks and
show each rule outcome, each guard and the SLA coverage report, with nothing lost."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
