"""``socialdesk package salesforce``: the deployable Salesforce DX project (the Case fields, flows,
outbound message, permission set and the Case page component), its package.xml, and the checks
that keep salesforce/ in step with plugin_manifest.json and with what the daemon writes on a Case.

The metadata's own rules (XML schema, flows, fields) are tests/adapters/test_salesforce_metadata.py;
the component's behaviour is its jest suite (tests/system/test_lwc.py runs it).
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from cli.package import (
    INTEGRATION_USER_PLACEHOLDER, OUTBOUND_PLACEHOLDER, PLUGIN_MANIFEST, SALESFORCE_AGENT_UI, SF_ROOT, SF_SOURCE,
    build_salesforce, cmd_package, package_xml, salesforce_drift, salesforce_members,
)

MANIFEST = json.loads(PLUGIN_MANIFEST.read_text())
ROOT = Path(__file__).resolve().parents[2]
BUNDLE = SF_ROOT / SF_SOURCE / "lwc" / SALESFORCE_AGENT_UI["lwc"]
META = f"{SF_SOURCE}/lwc/socialdeskThread/socialdeskThread.js-meta.xml"
COMPONENT_JS = f"{SF_SOURCE}/lwc/socialdeskThread/socialdeskThread.js"


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def messages(findings: list[Any]) -> list[str]:
    return [f"{f.where}: {f.message}" for f in findings if f.level == "error"]


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    """A copy of salesforce/ to break (its npm folder left out)."""
    return Path(shutil.copytree(SF_ROOT, tmp_path / "salesforce", ignore=shutil.ignore_patterns("node_modules")))


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    return build_salesforce(tmp_path / "out")


# ---------------------------------------------------------------- the committed source

def test_the_committed_source_agrees_with_plugin_manifest() -> None:
    assert messages(salesforce_drift(SF_ROOT)) == []


def test_the_committed_package_xml_lists_exactly_the_source_including_the_component() -> None:
    members = salesforce_members(SF_ROOT)
    assert members["LightningComponentBundle"] == {"socialdeskThread"}
    assert members["WorkflowOutboundMessage"] == {"Case.Socialdesk_Case_Changed"}
    version = json.loads((SF_ROOT / "sfdx-project.json").read_text())["sourceApiVersion"]
    assert (SF_ROOT / "manifest" / "package.xml").read_text() == package_xml(members, version)


def test_the_component_is_a_case_record_page_component() -> None:
    meta = (BUNDLE / "socialdeskThread.js-meta.xml").read_text()
    assert "<isExposed>true</isExposed>" in meta
    assert re.search(r"<targets>\s*<target>lightning__RecordPage</target>\s*</targets>", meta)
    assert re.search(r'<targetConfig targets="lightning__RecordPage">\s*<objects>\s*<object>Case</object>', meta)
    assert SALESFORCE_AGENT_UI == {"lwc": "socialdeskThread", "target": "lightning__RecordPage", "objects": ["Case"]}


# ---------------------------------------------------------------- the written package

def test_the_package_is_the_source_without_the_components_tests(pkg: Path) -> None:
    written = files(pkg)
    source = [f for f in files(SF_ROOT) if f.startswith(SF_SOURCE) and "/__tests__/" not in f]
    assert [f for f in written if f.startswith(SF_SOURCE)] == source
    assert not any("__tests__" in f or "node_modules" in f or f.endswith("package.json") for f in written)
    for rel in source:
        assert (pkg / rel).read_bytes() == (SF_ROOT / rel).read_bytes(), rel
    assert {"sfdx-project.json", ".forceignore", "manifest/package.xml"} <= set(written)
    assert (pkg / "manifest" / "package.xml").read_text() == (SF_ROOT / "manifest" / "package.xml").read_text()
    assert "<members>socialdeskThread</members>\n        <name>LightningComponentBundle</name>" in \
        (pkg / "manifest" / "package.xml").read_text()
    assert messages(salesforce_drift(pkg)) == []


def test_the_package_is_byte_for_byte_repeatable_and_a_rebuild_replaces_the_last(tmp_path: Path, pkg: Path) -> None:
    again = build_salesforce(tmp_path / "again")
    assert files(pkg) == files(again)
    assert all((pkg / f).read_bytes() == (again / f).read_bytes() for f in files(pkg))
    stale = pkg / SF_SOURCE / "objects" / "Case" / "fields" / "Old__c.field-meta.xml"
    stale.write_text("<x/>")
    build_salesforce(pkg)
    assert not stale.exists() and files(pkg) == files(again)


def test_a_folder_holding_something_else_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="holds other files"):
        build_salesforce(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_the_orgs_own_values_replace_the_placeholders(tmp_path: Path) -> None:
    out = build_salesforce(tmp_path / "acme", outbound_url="https://sd.acme.example/hooks/salesforce/acme_sf",
                           integration_user="socialdesk+r&d@acme.example")
    workflow = (out / SF_SOURCE / "workflows" / "Case.workflow-meta.xml").read_text()
    assert "<endpointUrl>https://sd.acme.example/hooks/salesforce/acme_sf</endpointUrl>" in workflow
    assert "<integrationUser>socialdesk+r&amp;d@acme.example</integrationUser>" in workflow
    assert OUTBOUND_PLACEHOLDER not in workflow and INTEGRATION_USER_PLACEHOLDER not in workflow
    # The repository keeps its placeholders.
    assert OUTBOUND_PLACEHOLDER in (SF_ROOT / SF_SOURCE / "workflows" / "Case.workflow-meta.xml").read_text()
    with pytest.raises(ValueError, match="https"):
        build_salesforce(tmp_path / "plain", outbound_url="http://sd.acme.example/hooks/salesforce/acme_sf")


def _args(**given: Any) -> argparse.Namespace:
    values = {"target": "salesforce", "output": "zendesk_app", "check": None, "daemon_url": None, "zip": False,
              "no_drift": False}
    return argparse.Namespace(**{**values, **given})


def test_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_package(_args(output=str(tmp_path / "sf"))) == 0
    out = capsys.readouterr().out
    assert "sf project deploy start --manifest manifest/package.xml" in out
    assert "endpointUrl, integrationUser" in out, "it says the placeholders are still to be replaced"
    assert "0 error(s): in step with plugin_manifest.json" in out
    assert (tmp_path / "sf" / "manifest" / "package.xml").is_file()

    assert cmd_package(_args(check=str(tmp_path / "sf"))) == 0
    (tmp_path / "sf" / "manifest" / "package.xml").write_text(
        (tmp_path / "sf" / "manifest" / "package.xml").read_text().replace("<members>socialdeskThread</members>", ""))
    assert cmd_package(_args(check=str(tmp_path / "sf"))) == 1
    assert "does not list exactly the source's members" in capsys.readouterr().out
    assert cmd_package(_args(check=str(tmp_path))) == 2


def test_command_default_folder_is_not_the_zendesk_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cmd_package(_args()) == 0
    assert (tmp_path / "salesforce_package" / "sfdx-project.json").is_file()
    assert not (tmp_path / "zendesk_app").exists()


# ---------------------------------------------------------------- drift

def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"{rel}: {old!r} not found"
        path.write_text(text.replace(old, new))
    return change


def _manifest(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    manifest = copy.deepcopy(MANIFEST)
    change(manifest)
    return manifest


DRIFT = [
    ("component shown on another object", _edit(META, "<object>Case</object>", "<object>Contact</object>"), None,
     "objects are ['Contact']; agent_ui.salesforce says ['Case']"),
    ("component on the app page instead", _edit(META, "<target>lightning__RecordPage</target>",
                                                "<target>lightning__AppPage</target>"), None,
     "targets are ['lightning__AppPage']"),
    ("component not exposed", _edit(META, "<isExposed>true</isExposed>", "<isExposed>false</isExposed>"), None,
     "isExposed must be true"),
    ("component on another API version", _edit(META, "<apiVersion>62.0</apiVersion>",
                                               "<apiVersion>61.0</apiVersion>"), None,
     "apiVersion 61.0 differs from sfdx-project.json's 62.0"),
    ("component reads a field the manifest does not declare",
     _edit(COMPONENT_JS, "import POST_URL from '@salesforce/schema/Case.Social_Post_Url__c';",
           "import POST_URL from '@salesforce/schema/Case.Social_Reach__c';"), None,
     "reads Case.Social_Reach__c, which plugin_manifest.json's helpdesk_fields do not declare"),
    ("package.xml without the component", _edit("manifest/package.xml", "<members>socialdeskThread</members>", ""),
     None, "does not list exactly the source's members"),
    ("a declared field's file is gone",
     lambda root: (root / SF_SOURCE / "objects/Case/fields/Social_Tags__c.field-meta.xml").unlink(), None,
     "Social_Tags__c.field-meta.xml: missing: plugin_manifest.json's helpdesk_fields declare it"),
    ("a component without its js-meta.xml", lambda root: (root / META).unlink(), None,
     "a component without socialdeskThread.js-meta.xml is not deployable"),
    ("a mis-named source file", lambda root: (root / SF_SOURCE / "objects/Case/fields/Extra__c.xml").write_text("<x/>"),
     None, "Extra__c.xml: not a source file socialdesk ships; a deploy would drop it"),
    ("the manifest names another component", lambda root: None,
     _manifest(lambda m: m.setdefault("agent_ui", {}).update(
         salesforce={"lwc": "socialContext", "target": "lightning__RecordPage", "objects": ["Case"]})),
     "lwc/socialContext: missing: plugin_manifest.json's agent_ui.salesforce names it"),
    ("the manifest puts the component on Contact too", lambda root: None,
     _manifest(lambda m: m.setdefault("agent_ui", {}).update(
         salesforce={"lwc": "socialdeskThread", "target": "lightning__RecordPage", "objects": ["Case", "Contact"]})),
     "agent_ui.salesforce says ['Case', 'Contact']"),
    ("the manifest declares a field salesforce/ lacks", lambda root: None,
     _manifest(lambda m: m["helpdesk_fields"].append(
         {"key": "social_reach", "label": "Social Reach", "type": "text", "length": 20,
          "salesforce": {"object": "Case", "api_name": "Social_Reach__c"}})),
     "Social_Reach__c.field-meta.xml: missing"),
]


@pytest.mark.parametrize(("mutate", "manifest", "expected"), [d[1:] for d in DRIFT], ids=[d[0] for d in DRIFT])
def test_each_drift_is_named(source: Path, mutate: Callable[[Path], None], manifest: dict[str, Any] | None,
                             expected: str) -> None:
    assert messages(salesforce_drift(source)) == []
    mutate(source)
    found = messages(salesforce_drift(source, manifest))
    assert any(expected in f for f in found), "\n".join(found) or "no drift found"


def test_a_component_test_folder_is_never_a_member(source: Path) -> None:
    tests = source / SF_SOURCE / "lwc" / "socialdeskThread" / "__tests__"
    (tests / "extra.json").write_text("{}")
    assert salesforce_members(source) == salesforce_members(SF_ROOT)


# ---------------------------------------------------------------- what the component reads

def _js_object(text: str, name: str) -> str:
    match = re.search(rf"export const {name} = (\{{.*?\n?\}});", text, re.S)
    assert match, f"{name} not found"
    return match.group(1)


def test_the_components_messaging_windows_are_the_daemons() -> None:
    """The deadline the agent sees is the one the daemon holds replies by."""
    from adapters import kinds, resolve

    text = (BUNDLE / "thread.js").read_text()
    body = _js_object(text, "WINDOWS")
    shown = {key: (float(hours) * 3600, float(days) * 86400) for key, hours, days in re.findall(
        r"(\w+): \{ standardHours: (\d+), humanAgentDays: (\d+) \}", body)}
    networks = {kind: resolve(kind) for kind in kinds("social")}
    daemon = {kind: (cls.private_reply_window, cls.human_agent_window) for kind, cls in networks.items()
              if cls.private_reply_window}
    assert shown == daemon


def test_the_components_network_names_are_the_daemons() -> None:
    from sync.rules import NETWORK_NAMES

    body = _js_object((BUNDLE / "thread.js").read_text(), "NETWORK_NAMES")
    assert dict(re.findall(r"(\w+): '([^']+)'", body)) == NETWORK_NAMES
    picklist = [f for f in MANIFEST["helpdesk_fields"] if f.get("salesforce", {}).get("api_name") == "Social_Network__c"]
    assert picklist[0]["values"] == list(NETWORK_NAMES)


# The fixed words of the daemon's notes and messages that the component parses: each must
# still be in the code that writes it (sync/mirror/poster.py, sync/ingest/composer.py).
WRITTEN = {
    "sync/mirror/poster.py": [
        "socialdesk posted this reply on ", "as a Private Reply to the comment", "as a direct message",
        "in the thread", " (tag ", " [comment ",
        "socialdesk is holding this reply until a lead approves it: add the tag ",
        " to the ticket and it goes out. [comment ",
        "socialdesk is holding this reply: ", ". It goes out by itself if the customer writes again.",
        "socialdesk could not post this reply on ", ". It is kept; retry it with '",
    ],
    "sync/mirror/guards.py": ["held: "],
    "sync/ingest/composer.py": ['"—"', '"Direct message · "', "Posted {m.created_at.strftime('%Y-%m-%d %H:%M UTC')}",
                                ' on {network}"', '" · {m.author.followers:,} followers"'],
}


@pytest.mark.parametrize("path", sorted(WRITTEN))
def test_the_words_the_component_parses_are_still_the_ones_written(path: str) -> None:
    code = re.sub(r'\bf"', '"', (ROOT / path).read_text())
    code = re.sub(r'"\s*\n\s*"', "", code)     # adjacent literals, as Python joins them
    missing = [w for w in WRITTEN[path] if w not in code]
    assert missing == [], f"{path} no longer writes {missing}; update socialdeskThread/thread.js and this list"
    component = (BUNDLE / "thread.js").read_text().replace("\\", "")
    for word in ("socialdesk posted this reply on", "until a lead approves it: add the tag",
                 "It goes out by itself if the customer writes again", "socialdesk could not post this reply on",
                 "It is kept; retry it with", "[comment", "held: ", "Direct message u00b7", "Posted ", "u2014"):
        assert word in component, word
