"""The Case page component (salesforce/force-app/main/default/lwc/socialdeskThread) under jest.

npm @salesforce/sfdx-lwc-jest compiles the component with LWC's own compiler and runs it in
jsdom with the stubs of lightning/* and @salesforce/schema, offline (PACKAGING.md §5.5). Its
npm packages are installed once per lockfile into a cache folder outside the repository
($SOCIALDESK_NPM_CACHE, else ~/.cache/socialdesk), never into salesforce/.

Two runs: the component's own jest suite, and the component drawing what the daemon really
wrote on sandbox Cases (replies posted, held by a guard, held for approval, failed, not yet
handled; a customer's follow-up), read back as Lightning Data Service hands them to it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SF_ROOT = ROOT / "salesforce"
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = pytest.mark.skipif(
    not (NODE and NPM), reason="node and npm are needed to run the Case page component's jest tests "
                               "(npm @salesforce/sfdx-lwc-jest); install Node.js 20 or later")

INSTALL_TIMEOUT = 600
JEST_TIMEOUT = 300


def _cache_root() -> Path:
    given = os.environ.get("SOCIALDESK_NPM_CACHE")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "socialdesk"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """salesforce/'s npm packages, installed with ``npm ci`` into a folder named by the
    lockfile's digest (a changed lockfile installs anew); one installer at a time."""
    lock = (SF_ROOT / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (SF_ROOT / "package.json").read_bytes()).hexdigest()[:16]
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"lwc-jest-{digest}"
    with open(root / f"lwc-jest-{digest}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (target / "node_modules" / "jest" / "package.json").is_file():
            staging = root / f"lwc-jest-{digest}.partial-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(SF_ROOT / name, staging / name)
            done = subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=staging,
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
    return target / "node_modules"


def run_jest(node_modules: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Jest from salesforce/ (sfdx-lwc-jest finds the components through sfdx-project.json);
    its JSON report."""
    report = tmp_path / "jest.json"
    done = subprocess.run(
        [NODE, str(node_modules / "jest" / "bin" / "jest.js"), "--ci", "--config", "jest.config.js",
         "--json", "--outputFile", str(report), *args],
        cwd=SF_ROOT, capture_output=True, text=True, timeout=JEST_TIMEOUT,
        env={**os.environ, "NODE_PATH": str(node_modules), **(env or {})})
    assert report.is_file(), f"jest wrote no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    result = json.loads(report.read_text())
    assert done.returncode == 0 and result["success"], f"jest failed:\n{done.stderr[-8000:]}"
    return result


def passed(result: dict[str, Any]) -> list[str]:
    return [t["fullName"] for suite in result["testResults"] for t in suite["assertionResults"]
            if t["status"] == "passed"]


def test_the_components_jest_suite_passes(node_modules: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_jest(node_modules, tmp_path)
    names = passed(result)
    assert result["numFailedTests"] == 0 and result["numTotalTestSuites"] >= 2
    assert any("shows the customer post, then each reply with what became of it" in n for n in names), names
    assert any("messaging-window deadline" in n for n in names), names
    assert time.monotonic() - started < 120, "the component's tests must stay quick (they run in CI)"


# ---------------------------------------------------------------- what the daemon wrote

@pytest.fixture
def sf_info(sandbox_info: dict[str, Any]) -> Iterator[dict[str, Any]]:
    import harness

    yield harness.reset(sandbox_info, "x", "salesforce")


def _iso(value: str | None) -> str | None:
    """Salesforce REST's "...+0000" as User Interface API gives it ("...Z")."""
    return re.sub(r"\+0000$", "Z", value) if value else value


def _ui_record(api_name: str, row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """A record as Lightning Data Service hands it to a wire: {id, fields: {name: {value}}}."""
    return {"apiName": api_name, "id": row["Id"],
            "fields": {f: {"value": _iso(row.get(f)) if f == "CreatedDate" else row.get(f), "displayValue": None}
                       for f in fields}}


CASE_FIELDS = ["Social_Post_Id__c", "Social_Network__c", "Social_Post_Url__c", "Description",
               "CreatedDate"]
COMMENT_FIELDS = ["CommentBody", "IsPublished", "CreatedDate"]


def test_the_component_shows_what_the_daemon_wrote_on_sandbox_cases(
        node_modules: Path, sf_info: dict[str, Any], store: Any, tmp_path: Path) -> None:
    import harness
    from sandbox.scenario import SalesforcePeople
    from sync.config import ApprovalConfig, MirrorConfig
    from sync.route import Route
    from sync.settings import RouteSettings, TicketSettings

    people = SalesforcePeople(sf_info)
    desk = harness.SalesforceHarness(sf_info).adapter()
    network = harness.XHarness(sf_info).adapter()
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    store.clock = clock
    mirror = MirrorConfig(thread_long_replies=False, approval=ApprovalConfig(required=True, tag="approved"))
    route = Route(RouteSettings(name="lwc", helpdesk_name="sf", ticket=TicketSettings(), mirror=mirror),
                  network, desk, store, clock=clock)

    def cycle(times: int = 2) -> None:
        for _ in range(times):
            people.advance("x", 15)
            people.advance("salesforce", 60)
            offset[0] += 60
            route.run_once()

    roots = {name: people.post(name, f"@{people.brand} {text}") for name, text in
             [("ana", "my parcel is late"), ("ben", "wrong size delivered"), ("cy", "charged twice"),
              ("dee", "store hours?"), ("eve", "is the app down?")]}
    cycle()
    case = {name: people.ticket_for(post)["id"] for name, post in roots.items()}
    people.post("ana", "still nothing, tracking says lost", in_reply_to=roots["ana"])
    people.answer(case["ana"], "Sorry Ana, a new parcel ships today.")
    people.answer(case["ben"], "Please write to returns@acme.example with your order.")
    people.answer(case["cy"], "We refunded the second charge. " + "Details follow. " * 20)
    people.answer(case["dee"], "We open at 9 and close at 8.")
    cycle()
    for name in ("ana", "ben", "cy"):
        people.tag(case[name], "approved")
    cycle()
    people.answer(case["eve"], "Checking with the team now.")   # written after socialdesk's last look

    expected = {
        "ana": [("customer", None, "my parcel is late"), ("reply", "Posted", "on X in the thread"),
                ("customer", None, "still nothing, tracking says lost")],
        "ben": [("customer", None, "wrong size delivered"), ("reply", "Held", "an email address")],
        "cy": [("customer", None, "charged twice"), ("reply", "Failed", "280")],
        "dee": [("customer", None, "store hours?"), ("reply", "Held", "add the tag approved")],
        "eve": [("customer", None, "is the app down?"), ("reply", "Not posted yet", None)],
    }
    threads = []
    for name, case_id in case.items():
        row = people._soql(f"SELECT Id, {', '.join(CASE_FIELDS)} FROM Case WHERE Id = '{case_id}'")[0]
        comments = people._soql(f"SELECT Id, {', '.join(COMMENT_FIELDS)} FROM CaseComment "
                                f"WHERE ParentId = '{case_id}' ORDER BY CreatedDate, Id")
        records = [_ui_record("CaseComment", c, COMMENT_FIELDS) for c in comments]
        threads.append({"name": name, "case": _ui_record("Case", row, CASE_FIELDS),
                        "comments": {"records": records, "count": len(records), "nextPageToken": None},
                        "now": int(clock() * 1000),
                        "expect": [{"kind": k, "status": s, "contains": c} for k, s, c in expected[name]]})
    fixture = tmp_path / "threads.json"
    fixture.write_text(json.dumps(threads, indent=1))

    result = run_jest(node_modules, tmp_path, "--testPathPattern", "sandboxThreads",
                      env={"SOCIALDESK_SANDBOX_THREADS": str(fixture)})
    names = passed(result)
    assert len(names) == len(threads), names
    assert result["numPendingTests"] == 0, "the sandbox threads were not drawn"
