"""``socialdesk package zendesk``: the Zendesk app (ZAF v2) generated from plugin_manifest.json,
and ``--check`` for a package on disk (Zendesk's rules, offline, and drift from the manifest).

What the package holds and where each part comes from:

- manifest.json: name, author, version from plugin_manifest.json; the ticket sidebar location;
  parameters = the settings meant for the app (a secret one is ``secure`` with ``scopes``,
  never a ``default``); ``domainWhitelist`` = the daemon's host, so Zendesk's proxy sends the
  secure setting there and nowhere else.
- translations/en.json: the listing and a label per parameter.
- requirements.json: the Channel Framework integration (its manifest is served by the daemon)
  and the ticket fields socialdesk writes.
- assets/: the sidebar page (packaging/zendesk/app/), logos and a screenshot placeholder.

``socialdesk package salesforce`` writes the deployable Salesforce DX project (salesforce/, without
the components' tests) with a package.xml listing every member, and checks it against
plugin_manifest.json: the Case page component (``agent_ui.salesforce``) and the fields it reads.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from cli.package_rules import Finding, check_package

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_MANIFEST = ROOT / "plugin_manifest.json"
APP_SOURCES = ROOT / "packaging" / "zendesk" / "app"
# What the Zendesk app needs that plugin_manifest.json does not say yet; plugin_manifest.json
# wins for every key it has (``agent_ui.zendesk``, settings aimed at ``zendesk_app``, listing).
APP_DEFAULTS = ROOT / "packaging" / "zendesk" / "app.json"
# Where the daemon serves the Channel Framework integration manifest.
CHANNEL_MANIFEST_PATH = "/channel/manifest.json"
CHANNEL_REQUIREMENT = "socialdesk_channel"
# plugin_manifest.json setting type -> ZAF parameter type (ZAF has no choice list).
PARAMETER_TYPES = {"text": "text", "url": "url", "choice": "text", "number": "number", "checkbox": "checkbox",
                   "multiline": "multiline"}
# helpdesk field type -> Zendesk ticket field type.
TICKET_FIELD_TYPES = {"text": "text", "url": "text", "picklist": "tagger", "integer": "integer"}
BRAND = (14, 124, 134)
WHITE = (255, 255, 255)


# ---------------------------------------------------------------- what the package says

def _source(manifest: dict[str, Any]) -> dict[str, Any]:
    """plugin_manifest.json, with the app's defaults for what it does not say."""
    defaults = json.loads(APP_DEFAULTS.read_text())
    agent_ui = (manifest.get("agent_ui") or {}).get("zendesk") or defaults["agent_ui"]["zendesk"]
    settings = [s for s in manifest.get("settings", []) if "zendesk_app" in s.get("targets", ())]
    if not settings:
        settings = [s for s in defaults["settings"] if "zendesk_app" in s.get("targets", ())]
    listing = {**defaults.get("listing", {}), **manifest.get("listing", {})}
    return {"agent_ui": agent_ui, "settings": settings, "listing": listing}


def daemon_base(url: str) -> str:
    """The daemon's public https URL without a trailing slash; ValueError when it cannot be one."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{url!r} is not an https URL: Zendesk's proxy and the Channel Framework call the daemon "
                         "over https only")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: give the daemon's base URL, without a query or fragment")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def _parameter(setting: dict[str, Any], daemon_url: str) -> dict[str, Any]:
    param: dict[str, Any] = {"name": setting["name"], "type": PARAMETER_TYPES.get(setting.get("type", "text"), "text")}
    param["required"] = bool(setting.get("required"))
    if setting.get("secret"):
        # Zendesk's proxy puts a secure setting only where its scopes allow (a header here).
        param["secure"] = True
        param["scopes"] = list(setting.get("zendesk_scopes") or ["header"])
    elif setting["name"] == "daemon_url":
        param["default"] = daemon_url
    elif "default" in setting:
        param["default"] = setting["default"]
    return param


def app_manifest(manifest: dict[str, Any], daemon_url: str) -> dict[str, Any]:
    src = _source(manifest)
    ui = src["agent_ui"]
    location: dict[str, Any] = {"url": "assets/iframe.html"}
    if "flexible" in ui:
        location["flexible"] = ui["flexible"]
    return {
        "name": manifest["name"],
        "author": manifest["author"],
        "defaultLocale": "en",
        "private": ui.get("private", True),
        "location": {"support": {ui.get("location", "ticket_sidebar"): location}},
        "version": manifest["version"],
        "frameworkVersion": ui.get("framework_version", "2.0"),
        "domainWhitelist": [urlsplit(daemon_url).hostname],
        "parameters": [_parameter(s, daemon_url) for s in src["settings"]],
    }


def translations(manifest: dict[str, Any]) -> dict[str, Any]:
    src = _source(manifest)
    listing = src["listing"]
    params: dict[str, Any] = {}
    for setting in src["settings"]:
        entry = {"label": setting.get("label", setting["name"])}
        if setting.get("help"):
            entry["helpText"] = setting["help"]
        params[setting["name"]] = entry
    app: dict[str, Any] = {"name": manifest["name"]}
    for key in ("short_description", "long_description", "installation_instructions"):
        if listing.get(key):
            app[key] = listing[key]
    if "installation_instructions" not in app:
        needed = [params[s["name"]]["label"] for s in src["settings"] if s.get("required")]
        app["installation_instructions"] = f"Enter {' and '.join(needed) or 'the settings'}, then click Install."
    app["parameters"] = params
    return {"app": app}


def requirements(manifest: dict[str, Any], daemon_url: str) -> dict[str, Any]:
    """The channel integration (Zendesk reads its manifest from the daemon) and the ticket
    fields socialdesk's rules fill in (the daemon finds them by title)."""
    fields: dict[str, Any] = {}
    for field in manifest.get("helpdesk_fields", []):
        title = (field.get("zendesk") or {}).get("ticket_field")
        if not title:
            continue
        spec: dict[str, Any] = {"type": TICKET_FIELD_TYPES.get(field.get("type", "text"), "text"), "title": title}
        if spec["type"] == "tagger":
            spec["custom_field_options"] = [{"name": v.capitalize(), "value": v} for v in field.get("values", [])]
        fields[field["key"]] = spec
    out: dict[str, Any] = {
        "channel_integrations": {CHANNEL_REQUIREMENT: {"manifest_url": daemon_url + CHANNEL_MANIFEST_PATH}}}
    if fields:
        out["ticket_fields"] = fields
    return out


# ---------------------------------------------------------------- images

def png(width: int, height: int, rows: Callable[[int], bytes], alpha: bool = False) -> bytes:
    """A PNG from ``rows(y)`` (RGB or RGBA bytes per row); the same input gives the same bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + rows(y) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


@lru_cache(maxsize=None)
def logo(size: int, transparent: bool) -> bytes:
    """socialdesk's mark: a speech bubble with three dots, on the brand colour (logo.png, square
    corners) or on transparency (logo-small.png)."""
    ink, paper = (BRAND, WHITE) if transparent else (WHITE, BRAND)
    s = size / 32.0

    def pixel(x: float, y: float) -> tuple[int, int, int] | None:
        u, v = x / s, y / s
        bubble = 5 <= u <= 27 and 7 <= v <= 22 and not _outside_corner(u, v, 5, 7, 27, 22, 3)
        tail = 9 <= u <= 15 and 22 <= v <= 27 and (u - 9) <= (27 - v) * 1.2
        if any((u - cx) ** 2 + (v - 14.5) ** 2 <= 2.2 ** 2 for cx in (11, 16, 21)):
            return paper
        if bubble or tail:
            return ink
        return None if transparent else paper

    def row(y: int) -> bytes:
        out = bytearray()
        for x in range(size):
            rgb = pixel(x + 0.5, y + 0.5)
            if transparent:
                out += (bytes(rgb) + b"\xff") if rgb else b"\x00\x00\x00\x00"
            else:
                out += bytes(rgb or paper)
        return bytes(out)
    return png(size, size, row, alpha=transparent)


def _outside_corner(u: float, v: float, x0: float, y0: float, x1: float, y1: float, r: float) -> bool:
    cx = x0 + r if u < x0 + r else x1 - r if u > x1 - r else None
    cy = y0 + r if v < y0 + r else y1 - r if v > y1 - r else None
    return cx is not None and cy is not None and (u - cx) ** 2 + (v - cy) ** 2 > r * r


@lru_cache(maxsize=None)
def screenshot_placeholder(width: int = 1024, height: int = 768) -> bytes:
    """A ticket page outline with the sidebar on the right: replace it with a real screenshot
    before a Marketplace submission."""
    grey, light, panel = (238, 240, 242), (216, 220, 222), WHITE
    left, right = width * 5 // 8, width - 24

    def row(y: int) -> bytes:
        if y < 48:
            return bytes(BRAND) * width
        if 72 <= y < height - 24:
            line = bytearray(bytes(grey) * width)
            line[24 * 3:(left - 24) * 3] = bytes(panel) * (left - 48)
            line[left * 3:right * 3] = bytes(panel) * (right - left)
            if (y - 72) % 40 < 12 and y < height - 60:
                end = right - 16 - ((y - 72) // 40 * 37) % 90
                line[(left + 16) * 3:end * 3] = bytes(light) * (end - left - 16)
            return bytes(line)
        return bytes(grey) * width
    return png(width, height, row)


# ---------------------------------------------------------------- writing and checking

def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def build_zendesk(out: str | Path, daemon_url: str, manifest: dict[str, Any] | None = None) -> Path:
    """Write the package into ``out`` (emptied of what a previous build wrote); returns it."""
    manifest = manifest if manifest is not None else json.loads(PLUGIN_MANIFEST.read_text())
    base = daemon_base(daemon_url)
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ValueError(f"{out} holds other files and no app: give an empty or new folder")
    for old in ("assets", "translations"):
        if (out / old).is_dir():
            shutil.rmtree(out / old)
    (out / "assets").mkdir(parents=True, exist_ok=True)
    (out / "translations").mkdir(exist_ok=True)
    (out / "manifest.json").write_text(_dump(app_manifest(manifest, base)))
    (out / "translations" / "en.json").write_text(_dump(translations(manifest)))
    (out / "requirements.json").write_text(_dump(requirements(manifest, base)))
    for source in sorted(APP_SOURCES.iterdir()):
        if source.is_file():
            shutil.copyfile(source, out / "assets" / source.name)
    (out / "assets" / "logo.png").write_bytes(logo(320, transparent=False))
    (out / "assets" / "logo-small.png").write_bytes(logo(128, transparent=True))
    (out / "assets" / "screenshot-0.png").write_bytes(screenshot_placeholder())
    return out


def write_zip(root: Path, target: Path) -> Path:
    """The package as Zendesk uploads it: manifest.json at the zip's root; the same package
    gives the same bytes."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return target


def _unzipped(archive: Path, into: Path) -> Path:
    """A zip's files in ``into``, refusing names that would land outside it."""
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"{archive}: {name} points outside the package")
        zf.extractall(into)
    return into


def packaged_daemon_url(root: Path) -> str | None:
    """The daemon URL a package was made for: its channel manifest URL, else its
    ``daemon_url`` default, else its whitelisted domain."""
    def load(rel: str) -> Any:
        try:
            return json.loads((root / rel).read_text())
        except (OSError, ValueError):
            return None
    req = load("requirements.json") or {}
    for spec in (req.get("channel_integrations") or {}).values() if isinstance(req, dict) else ():
        url = spec.get("manifest_url") if isinstance(spec, dict) else None
        if isinstance(url, str) and url.endswith(CHANNEL_MANIFEST_PATH):
            return url[: -len(CHANNEL_MANIFEST_PATH)]
    app = load("manifest.json") or {}
    for param in app.get("parameters") or [] if isinstance(app, dict) else []:
        if isinstance(param, dict) and param.get("name") == "daemon_url" and isinstance(param.get("default"), str):
            return param["default"]
    domains = app.get("domainWhitelist") if isinstance(app, dict) else None
    return f"https://{domains[0]}" if isinstance(domains, list) and domains and isinstance(domains[0], str) else None


def drift(root: str | Path, manifest: dict[str, Any] | None = None) -> list[Finding]:
    """Where the package at ``root`` differs from a fresh generation from plugin_manifest.json."""
    root = Path(root)
    url = packaged_daemon_url(root)
    if url is None:
        return [Finding("error", "requirements.json", "cannot tell which daemon URL this package was made for")]
    try:
        base = daemon_base(url)
    except ValueError as err:
        return [Finding("error", "requirements.json", str(err))]
    findings = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build_zendesk(tmp, base, manifest)
        ours = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
        theirs = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        for rel in sorted(ours - theirs):
            findings.append(Finding("error", rel, "missing: plugin_manifest.json's package has it"))
        for rel in sorted(theirs - ours):
            findings.append(Finding("error", rel, "not in the package plugin_manifest.json makes"))
        for rel in sorted(ours & theirs):
            if filecmp.cmp(fresh / rel, root / rel, shallow=False):
                continue
            details = _json_drift(fresh / rel, root / rel) if rel.endswith(".json") else []
            findings.extend(Finding("error", rel, d) for d in details or
                            ["differs from what plugin_manifest.json makes; run 'socialdesk package zendesk' again"])
    return findings


def _json_drift(expected_path: Path, actual_path: Path) -> list[str]:
    try:
        expected, actual = json.loads(expected_path.read_text()), json.loads(actual_path.read_text())
    except ValueError:
        return []
    out: list[str] = []

    def walk(want: Any, got: Any, path: str) -> None:
        if isinstance(want, dict) and isinstance(got, dict):
            for key in list(want) + [k for k in got if k not in want]:
                walk(want.get(key, _ABSENT), got.get(key, _ABSENT), f"{path}.{key}" if path else key)
        elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
            for i, (w, g) in enumerate(zip(want, got)):
                walk(w, g, f"{path}[{i}]")
        elif want != got:
            said = "absent" if want is _ABSENT else json.dumps(want, ensure_ascii=False)
            found = "absent" if got is _ABSENT else json.dumps(got, ensure_ascii=False)
            out.append(f"{path} is {found}; plugin_manifest.json makes it {said}")
    walk(expected, actual, "")
    return out or ["same data, other formatting; run 'socialdesk package zendesk' again"]


_ABSENT = object()


def check(root: str | Path, against_manifest: bool = True) -> list[Finding]:
    """Zendesk's rules, then (when the rules pass) drift from plugin_manifest.json."""
    findings = check_package(root)
    if against_manifest and not any(f.level == "error" for f in findings):
        findings += drift(root)
    return findings


def _report(findings: list[Finding], root: Path) -> int:
    errors = sum(f.level == "error" for f in findings)
    for finding in findings:
        print(f"  {finding}")
    warnings = len(findings) - errors
    print(f"{root}: {errors} error(s), {warnings} warning(s)" + ("" if errors else ": Zendesk would accept it"))
    return 1 if errors else 0


# ---------------------------------------------------------------- Salesforce

SF_ROOT = ROOT / "salesforce"
SF_SOURCE = "force-app/main/default"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
# The Case page component, where plugin_manifest.json has no ``agent_ui.salesforce``.
SALESFORCE_AGENT_UI = {"lwc": "socialdeskThread", "target": "lightning__RecordPage", "objects": ["Case"]}
# What the copy carries besides force-app (the deploy reads sfdx-project.json; .forceignore
# keeps the components' tests out of a deploy).
SF_PROJECT_FILES = ("sfdx-project.json", ".forceignore", "README.md")
# The committed workflow's placeholders (salesforce/README.md: replace before deploying).
OUTBOUND_PLACEHOLDER = "https://socialdesk.example/hooks/salesforce/outbound"
INTEGRATION_USER_PLACEHOLDER = "socialdesk.integration@example.com"
# Salesforce DX source layout: file under force-app/main/default -> (metadata type, member).
SF_LAYOUT = [
    (re.compile(r"^objects/(\w+)/fields/(\w+)\.field-meta\.xml$"), "CustomField", "{0}.{1}"),
    (re.compile(r"^flows/(\w+)\.flow-meta\.xml$"), "Flow", "{0}"),
    (re.compile(r"^workflows/(\w+)\.workflow-meta\.xml$"), "Workflow", "{0}"),
    (re.compile(r"^permissionsets/(\w+)\.permissionset-meta\.xml$"), "PermissionSet", "{0}"),
    (re.compile(r"^lwc/(\w+)/\1\.js-meta\.xml$"), "LightningComponentBundle", "{0}"),
]
# A bundle's other files belong to it; its __tests__ are not deployed (.forceignore).
SF_BUNDLE_FILE = re.compile(r"^lwc/(\w+)/(?!__tests__/)[\w.-]+\.(js|html|css|svg)$")
SF_SCHEMA_IMPORT = re.compile(r"""from\s+['"]@salesforce/schema/(\w+)\.(\w+)['"]""")


def _sf_deployed(rel: str) -> bool:
    return "__tests__" not in rel.split("/")


def salesforce_members(source: Path) -> dict[str, set[str]]:
    """Metadata type -> members of the Salesforce DX source at ``source`` (a project folder);
    ValueError for a file a deploy would drop without a word."""
    base = source / SF_SOURCE
    members: dict[str, set[str]] = {}
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        if not _sf_deployed(rel):
            continue
        for pattern, kind, member in SF_LAYOUT:
            match = pattern.match(rel)
            if match:
                members.setdefault(kind, set()).add(member.format(*match.groups()))
                break
        else:
            if not SF_BUNDLE_FILE.match(rel):
                raise ValueError(f"{SF_SOURCE}/{rel}: not a source file socialdesk ships; a deploy would drop it")
            continue
        if kind == "Workflow":   # its outbound messages are members of their own type
            root = ElementTree.parse(path).getroot()
            for name in root.iterfind(f"{{{MD_NS}}}outboundMessages/{{{MD_NS}}}fullName"):
                members.setdefault("WorkflowOutboundMessage", set()).add(f"{match.group(1)}.{name.text}")
    bundles = {p.parent.name for p in base.glob("lwc/*/*.js")}
    for name in sorted(bundles - members.get("LightningComponentBundle", set())):
        raise ValueError(f"{SF_SOURCE}/lwc/{name}: a component without {name}.js-meta.xml is not deployable")
    return members


def package_xml(members: dict[str, set[str]], api_version: str) -> str:
    """manifest/package.xml listing ``members``, types and members in name order."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<Package xmlns="{MD_NS}">']
    for kind in sorted(members):
        lines.append("    <types>")
        lines += [f"        <members>{m}</members>" for m in sorted(members[kind])]
        lines += [f"        <name>{kind}</name>", "    </types>"]
    lines += [f"    <version>{api_version}</version>", "</Package>", ""]
    return "\n".join(lines)


def _sf_api_version(source: Path) -> str:
    return str(json.loads((source / "sfdx-project.json").read_text())["sourceApiVersion"])


def salesforce_drift(source: str | Path, manifest: dict[str, Any] | None = None) -> list[Finding]:
    """Where the Salesforce source at ``source`` disagrees with plugin_manifest.json or with
    itself: the Case page component (``agent_ui.salesforce``), the fields it reads
    (``helpdesk_fields``), the declared fields' files, package.xml's members."""
    source = Path(source)
    manifest = manifest if manifest is not None else json.loads(PLUGIN_MANIFEST.read_text())
    ui = (manifest.get("agent_ui") or {}).get("salesforce") or SALESFORCE_AGENT_UI
    findings: list[Finding] = []

    def error(where: str, message: str) -> None:
        findings.append(Finding("error", where, message))

    try:
        members = salesforce_members(source)
        version = _sf_api_version(source)
    except (OSError, ValueError, KeyError, ElementTree.ParseError) as err:
        return [Finding("error", str(source), str(err))]
    declared = {(f["salesforce"]["object"], f["salesforce"]["api_name"]) for f in manifest.get("helpdesk_fields", [])
                if "salesforce" in f}
    for obj, name in sorted(declared):
        if f"{obj}.{name}" not in members.get("CustomField", set()):
            error(f"{SF_SOURCE}/objects/{obj}/fields/{name}.field-meta.xml",
                  "missing: plugin_manifest.json's helpdesk_fields declare it")

    bundle = f"{SF_SOURCE}/lwc/{ui['lwc']}"
    meta_path = source / bundle / f"{ui['lwc']}.js-meta.xml"
    if ui["lwc"] not in members.get("LightningComponentBundle", set()):
        error(bundle, "missing: plugin_manifest.json's agent_ui.salesforce names it")
    else:
        meta = ElementTree.parse(meta_path).getroot()
        where = f"{bundle}/{ui['lwc']}.js-meta.xml"

        def text(tag: str) -> str:
            return (meta.findtext(f"{{{MD_NS}}}{tag}") or "").strip()
        if text("isExposed") != "true":
            error(where, "isExposed must be true: App Builder lists only exposed components")
        if text("apiVersion") != version:
            error(where, f"apiVersion {text('apiVersion')} differs from sfdx-project.json's {version}")
        targets = [t.text for t in meta.iterfind(f"{{{MD_NS}}}targets/{{{MD_NS}}}target")]
        if targets != [ui["target"]]:
            error(where, f"targets are {targets}; agent_ui.salesforce says [{ui['target']!r}]")
        config = meta.find(f"{{{MD_NS}}}targetConfigs/{{{MD_NS}}}targetConfig[@targets='{ui['target']}']")
        objects = [o.text for o in config.iterfind(f"{{{MD_NS}}}objects/{{{MD_NS}}}object")] if config is not None \
            else []
        if objects != list(ui["objects"]):
            error(where, f"{ui['target']} objects are {objects}; agent_ui.salesforce says {list(ui['objects'])}")
        for js in sorted((source / bundle).glob("*.js")):
            for obj, name in SF_SCHEMA_IMPORT.findall(js.read_text(encoding="utf-8")):
                if name.endswith("__c") and (obj, name) not in declared:
                    error(f"{bundle}/{js.name}", f"reads {obj}.{name}, which plugin_manifest.json's "
                                                 "helpdesk_fields do not declare")

    listed = source / "manifest" / "package.xml"
    try:
        if listed.read_text(encoding="utf-8") != package_xml(members, version):
            error("manifest/package.xml", "does not list exactly the source's members; run "
                                          "'socialdesk package salesforce' and take its package.xml")
    except OSError:
        error("manifest/package.xml", "missing")
    return findings


def build_salesforce(out: str | Path, manifest: dict[str, Any] | None = None, *, source: Path = SF_ROOT,
                     outbound_url: str | None = None, integration_user: str | None = None) -> Path:
    """Write the deployable Salesforce DX project into ``out``: force-app without the
    components' tests, sfdx-project.json, and a package.xml listing every member; with
    ``outbound_url``/``integration_user``, the org's own values in place of the placeholders."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "sfdx-project.json").is_file():
        raise ValueError(f"{out} holds other files and no Salesforce project: give an empty or new folder")
    if outbound_url is not None:
        daemon_base(outbound_url)   # outbound messages are not signed: https only
    members = salesforce_members(source)
    for old in ("force-app", "manifest"):
        if (out / old).is_dir():
            shutil.rmtree(out / old)
    out.mkdir(parents=True, exist_ok=True)
    for name in SF_PROJECT_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)
    base = source / SF_SOURCE
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        if _sf_deployed(rel):
            target = out / SF_SOURCE / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    workflow = out / SF_SOURCE / "workflows" / "Case.workflow-meta.xml"
    if workflow.is_file() and (outbound_url or integration_user):
        text = workflow.read_text(encoding="utf-8")
        if outbound_url:
            text = text.replace(f"<endpointUrl>{OUTBOUND_PLACEHOLDER}</endpointUrl>",
                                f"<endpointUrl>{escape(outbound_url)}</endpointUrl>")
        if integration_user:
            text = text.replace(f"<integrationUser>{INTEGRATION_USER_PLACEHOLDER}</integrationUser>",
                                f"<integrationUser>{escape(integration_user)}</integrationUser>")
        workflow.write_text(text, encoding="utf-8")
    (out / "manifest").mkdir()
    (out / "manifest" / "package.xml").write_text(package_xml(members, _sf_api_version(source)), encoding="utf-8")
    return out


def _report_salesforce(findings: list[Finding], root: Path) -> int:
    for finding in findings:
        print(f"  {finding}")
    errors = sum(f.level == "error" for f in findings)
    print(f"{root}: {errors} error(s)" + ("" if errors else ": in step with plugin_manifest.json (only a deploy "
                                                             "to an org validates it fully)"))
    return 1 if errors else 0


def cmd_package_salesforce(args: argparse.Namespace) -> int:
    """``package salesforce -o DIR`` writes the deployable source; ``--check DIR`` checks one."""
    if args.check:
        root = Path(args.check)
        if not (root / "sfdx-project.json").is_file():
            print(f"socialdesk: no Salesforce project (sfdx-project.json) in {root}", file=sys.stderr)
            return 2
        return _report_salesforce(salesforce_drift(root), root)
    # The parser's default names the Zendesk app's folder.
    out = args.output if args.output not in (None, "zendesk_app") else "salesforce_package"
    try:
        root = build_salesforce(out, outbound_url=getattr(args, "outbound_url", None),
                                integration_user=getattr(args, "integration_user", None))
    except ValueError as err:
        print(f"socialdesk: {err}", file=sys.stderr)
        return 2
    print(f"wrote the Salesforce metadata to {root}; deploy it with "
          f"'sf project deploy start --manifest manifest/package.xml' from that folder")
    workflow = (root / SF_SOURCE / "workflows" / "Case.workflow-meta.xml").read_text(encoding="utf-8")
    if OUTBOUND_PLACEHOLDER in workflow or INTEGRATION_USER_PLACEHOLDER in workflow:
        print(f"  before deploying, put the org's values in {SF_SOURCE}/workflows/Case.workflow-meta.xml "
              "(endpointUrl, integrationUser): see salesforce/README.md")
    return _report_salesforce(salesforce_drift(root), root)


def cmd_package(args: argparse.Namespace) -> int:
    """``package zendesk -o DIR`` writes and checks the app; ``--check DIR`` checks one."""
    if getattr(args, "target", "zendesk") == "salesforce":
        return cmd_package_salesforce(args)
    if args.check:
        root = Path(args.check)
        if root.is_file() and zipfile.is_zipfile(root):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    found = check(_unzipped(root, Path(tmp)), against_manifest=not args.no_drift)
                except ValueError as err:
                    print(f"socialdesk: {err}", file=sys.stderr)
                    return 2
            return _report(found, root)
        if not root.is_dir():
            print(f"socialdesk: no such folder or zip: {root}", file=sys.stderr)
            return 2
        return _report(check(root, against_manifest=not args.no_drift), root)
    url = args.daemon_url or os.environ.get("SOCIALDESK_PUBLIC_URL")
    if not url:
        print("socialdesk: give --daemon-url https://... (where Zendesk reaches this daemon), or set "
              "SOCIALDESK_PUBLIC_URL", file=sys.stderr)
        return 2
    try:
        root = build_zendesk(args.output, url)
    except ValueError as err:
        print(f"socialdesk: {err}", file=sys.stderr)
        return 2
    print(f"wrote the Zendesk app for {daemon_base(url)} to {root}")
    status = _report(check(root), root)
    if args.zip and not status:
        archive = write_zip(root, root.with_name(root.name + ".zip"))
        print(f"zipped for upload: {archive}")
    return status
