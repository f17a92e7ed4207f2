"""The Salesforce DX source in salesforce/, checked offline (PACKAGING.md §5.5).

`sf project convert source` accepts malformed XML, unknown field types and silently drops a
mis-named file, and everything that validates needs an org. So this module checks the source
itself: every ``*-meta.xml`` parses strictly; element names, order, counts and enumerated
values follow the Metadata API schema (the WSDL that simple-salesforce ships); socialdesk's
own rules narrow that (field types, required children); cross-references resolve (flows ->
outbound messages -> fields; permission set -> fields; package.xml == files on disk); and the
fields the adapter reads and writes exist with the properties it relies on.

Still org-only (say so, don't pretend): whether a flow activates, field type/length
combinations beyond the rules below, the integration user existing. Where Node >= 22 is
installed, `sf project convert source --root-dir force-app` is the next offline step.
"""
from __future__ import annotations

import ast
import functools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[2]
SF_ROOT = ROOT / "salesforce"
ADAPTER = ROOT / "adapters" / "helpdesk" / "salesforce"


def adapter_source() -> str:
    """The Salesforce adapter's code, every module of its package, as one text."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(ADAPTER.glob("*.py")))

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
SOURCE = "force-app/main/default"

# What the committed source must carry instead of a customer's values (README: replace first).
ENDPOINT_PLACEHOLDER = "https://socialdesk.example/hooks/salesforce/outbound"
INTEGRATION_USER_PLACEHOLDER = "socialdesk.integration@example.com"

OUTBOUND_MESSAGE = "Socialdesk_Case_Changed"
OUTBOUND_FIELDS = {"Id", "Social_Post_Id__c", "LastModifiedDate"}
NETWORKS = ["x", "facebook", "instagram"]
# The Case fields socialdesk's mappings, sandbox and agent UI rely on besides the upsert key.
CONTRACT_FIELDS = {("Case", "Social_Network__c"), ("Case", "Social_Handle__c"), ("Case", "Social_Post_Url__c")}

# Standard fields a flow, outbound message or permission set may name. Case: the recorded
# scratch-org describe (shared/contracts/salesforce/decoded/GET_sobjects_Case_describe) + RecordTypeId.
STANDARD_FIELDS: dict[str, set[str]] = {
    "Case": {"Id", "IsDeleted", "MasterRecordId", "CaseNumber", "ContactId", "AccountId", "AssetId",
             "ParentId", "SuppliedName", "SuppliedEmail", "SuppliedPhone", "SuppliedCompany", "Type",
             "Status", "Reason", "Origin", "Subject", "Priority", "Description", "IsClosed", "ClosedDate",
             "IsEscalated", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
             "SystemModstamp", "ContactPhone", "ContactMobile", "ContactEmail", "ContactFax", "Comments",
             "LastViewedDate", "LastReferencedDate", "RecordTypeId"},
    "CaseComment": {"Id", "ParentId", "IsPublished", "CommentBody", "IsDeleted", "CreatedById", "CreatedDate",
                    "LastModifiedById", "LastModifiedDate", "SystemModstamp"},
    "Contact": {"Id", "IsDeleted", "AccountId", "LastName", "FirstName", "Name", "Email", "Phone",
                "MobilePhone", "Description", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate",
                "LastModifiedById", "SystemModstamp"},
}
# $Record.<relationship>.<field> in a flow: which object the relationship leads to.
RELATIONSHIPS = {("CaseComment", "Parent"): "Case", ("Case", "Parent"): "Case", ("Case", "Contact"): "Contact",
                 ("Case", "Account"): "Account"}

# socialdesk's narrower rules on top of the schema.
FIELD_TYPES = {"Text", "Picklist", "Url", "Checkbox", "DateTime", "LongTextArea"}
KEYABLE_TYPES = {"Text"}                       # externalId / unique only where the adapter upserts on text
FIELD_REQUIRED = {"fullName", "label", "type"}
FIELD_REQUIRED_BY_TYPE = {"Text": {"length"}, "LongTextArea": {"length", "visibleLines"}, "Picklist": {"valueSet"}}
FIELD_FORBIDDEN_BY_TYPE = {"Url": {"length"}, "Picklist": {"length"}, "Checkbox": {"length"}}
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c$")
TRIGGERED_OBJECTS = {"Case", "CaseComment"}

# File layout: relative path under force-app/main/default -> metadata type (root element).
LAYOUT = [
    (re.compile(r"^objects/(?P<object>[A-Za-z]\w*)/fields/(?P<name>[^/]+)\.field-meta\.xml$"), "CustomField"),
    (re.compile(r"^flows/(?P<name>[A-Za-z]\w*)\.flow-meta\.xml$"), "Flow"),
    (re.compile(r"^workflows/(?P<object>[A-Za-z]\w*)\.workflow-meta\.xml$"), "Workflow"),
    (re.compile(r"^permissionsets/(?P<name>[A-Za-z]\w*)\.permissionset-meta\.xml$"), "PermissionSet"),
    (re.compile(r"^lwc/(?P<name>[a-z]\w*)/(?P=name)\.js-meta\.xml$"), "LightningComponentBundle"),
]
# A Lightning web component's own files, deployed with its bundle; its __tests__ never
# (.forceignore).
BUNDLE_FILE = re.compile(r"^lwc/(?P<name>[a-z]\w*)/(?:__tests__/.+|[\w.-]+\.(?:js|html|css|svg))$")


def q(tag: str) -> str:
    return f"{{{MD_NS}}}{tag}"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# ---------------------------------------------------------------- the Metadata API schema


@dataclass(frozen=True)
class Child:
    name: str
    type: str            # "xsd:boolean", "xsd:string", ... or a schema type name
    min: int
    max: float


@dataclass
class Schema:
    """Complex types (children in sequence order, inheritance flattened) and enumerations."""

    version: str
    complex: dict[str, list[Child]] = field(default_factory=dict)
    enums: dict[str, set[str]] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def metadata_schema() -> Schema:
    """The Metadata API WSDL that simple-salesforce (the adapter's client) ships."""
    import simple_salesforce

    wsdl = Path(simple_salesforce.__file__).with_name("metadata.wsdl")
    text = wsdl.read_text(encoding="utf-8")
    version = re.search(r"Metadata API version ([\d.]+)", text)
    root = ElementTree.fromstring(text)
    schema = Schema(version.group(1) if version else "?")
    raw: dict[str, tuple[str | None, list[Child]]] = {}
    for xs in root.iter(f"{{{XSD_NS}}}schema"):
        if xs.get("targetNamespace") != MD_NS:
            continue
        for st in xs.findall(f"{{{XSD_NS}}}simpleType"):
            values = {e.get("value", "") for e in st.iter(f"{{{XSD_NS}}}enumeration")}
            if values:
                schema.enums[st.get("name", "")] = values
        for ct in xs.findall(f"{{{XSD_NS}}}complexType"):
            ext = ct.find(f"{{{XSD_NS}}}complexContent/{{{XSD_NS}}}extension")
            base = ext.get("base", "").split(":")[-1] if ext is not None else None
            children = [Child(e.get("name", ""), _xsd_type(e.get("type", "xsd:string")),
                              int(e.get("minOccurs", "1")),
                              float("inf") if e.get("maxOccurs") == "unbounded" else int(e.get("maxOccurs", "1")))
                        for e in (ext if ext is not None else ct).iter(f"{{{XSD_NS}}}element")]
            raw[ct.get("name", "")] = (base, children)

    def flatten(name: str) -> list[Child]:
        base, own = raw[name]
        return (flatten(base) if base in raw else []) + own

    schema.complex = {name: flatten(name) for name in raw}
    return schema


def _xsd_type(t: str) -> str:
    prefix, _, name = t.rpartition(":")
    return f"xsd:{name}" if prefix == "xsd" else name


# ---------------------------------------------------------------- the checker


@dataclass
class Source:
    """What the checker learnt from the files, for the cross-reference pass."""

    # Keyed by what the file names say; None where the file itself is unusable (already reported),
    # so that one broken file is one problem, not a cascade of "unknown field" ones.
    fields: dict[tuple[str, str], ElementTree.Element | None] = field(default_factory=dict)   # (object, name)
    flows: dict[str, ElementTree.Element | None] = field(default_factory=dict)
    workflows: dict[str, ElementTree.Element | None] = field(default_factory=dict)
    permission_sets: dict[str, ElementTree.Element | None] = field(default_factory=dict)
    bundles: dict[str, ElementTree.Element | None] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)                        # (type, member)


def check(sf_root: Path, adapter_source: str) -> list[str]:
    """Every problem found in the Salesforce DX project at ``sf_root``; empty when it is sound."""
    problems: list[str] = []
    source = Source()
    schema = metadata_schema()

    project = _check_project(sf_root, problems)
    base = sf_root / SOURCE
    if not base.is_dir():
        return problems + [f"{SOURCE}: missing"]
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        shown = f"{SOURCE}/{rel}"
        kind = _classify(rel)
        if kind is None and BUNDLE_FILE.match(rel):
            continue
        if kind is None:
            problems.append(f"{shown}: not a recognised source file (name or folder); "
                            "conversion would drop it silently")
            continue
        mdtype, parts = kind
        root = _parse(path, shown, mdtype, schema, problems)
        if mdtype == "CustomField":
            source.fields[(parts["object"], parts["name"])] = root
            source.members.add(("CustomField", f"{parts['object']}.{parts['name']}"))
            if root is not None:
                _check_field(parts["object"], parts["name"], root, shown, problems)
        elif mdtype == "Flow":
            source.flows[parts["name"]] = root
            source.members.add(("Flow", parts["name"]))
        elif mdtype == "Workflow":
            source.workflows[parts["object"]] = root
            source.members.add(("Workflow", parts["object"]))
            if root is None:
                continue
            for om in root.findall(q("outboundMessages")):
                source.members.add(("WorkflowOutboundMessage", f"{parts['object']}.{om.findtext(q('fullName'))}"))
            for other in {local(c.tag) for c in root} - {"outboundMessages"}:
                problems.append(f"{shown}: <{other}> is not socialdesk's to deploy: the workflow file carries "
                                "only outbound messages (automation is a Flow)")
        elif mdtype == "PermissionSet":
            source.permission_sets[parts["name"]] = root
            source.members.add(("PermissionSet", parts["name"]))
        elif mdtype == "LightningComponentBundle":
            source.bundles[parts["name"]] = root
            source.members.add(("LightningComponentBundle", parts["name"]))

    for folder in sorted(p for p in base.glob("lwc/*") if p.is_dir()):
        if not (folder / f"{folder.name}.js-meta.xml").is_file():
            problems.append(f"{SOURCE}/lwc/{folder.name}: no {folder.name}.js-meta.xml; conversion would ship "
                            "the component without it and the deploy would refuse it")
        if not (folder / f"{folder.name}.js").is_file():
            problems.append(f"{SOURCE}/lwc/{folder.name}: no {folder.name}.js")

    for path in sorted(sf_root.rglob("*-meta.xml")):
        if base not in path.parents:
            problems.append(f"{path.relative_to(sf_root)}: metadata outside {SOURCE} is not deployed")

    for name, flow in source.flows.items():
        if flow is not None:
            _check_flow(name, flow, source, problems)
    for obj, workflow in source.workflows.items():
        if workflow is not None:
            _check_outbound_messages(obj, workflow, source, problems)
    for name, pset in source.permission_sets.items():
        if pset is not None:
            _check_permission_set(name, pset, source, problems)
    _check_package(sf_root, source, schema, project, problems)
    if all(root is not None for group in (source.fields, source.flows, source.workflows)
           for root in group.values()):
        _check_contract(source, adapter_source, problems)
    return list(dict.fromkeys(problems))


def _classify(rel: str) -> tuple[str, dict[str, str]] | None:
    """(metadata type, parts of the name) of a path under force-app/main/default."""
    for pattern, mdtype in LAYOUT:
        match = pattern.match(rel)
        if match:
            return mdtype, match.groupdict()
    return None


def _check_project(sf_root: Path, problems: list[str]) -> dict:
    path = sf_root / "sfdx-project.json"
    try:
        project = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        problems.append(f"sfdx-project.json: {err}")
        return {}
    dirs = project.get("packageDirectories") or []
    defaults = [d for d in dirs if isinstance(d, dict) and d.get("default")]
    if [d.get("path") for d in defaults] != ["force-app"]:
        problems.append("sfdx-project.json: packageDirectories needs exactly one default, path force-app")
    if not re.fullmatch(r"\d+\.0", str(project.get("sourceApiVersion", ""))):
        problems.append("sfdx-project.json: sourceApiVersion must be a string like \"62.0\"")
    return project


def _parse(path: Path, shown: str, mdtype: str, schema: Schema, problems: list[str]) -> ElementTree.Element | None:
    """Parse strictly and check against the schema; None when the file cannot be used."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as err:
        problems.append(f"{shown}: not well-formed XML: {err}")
        return None
    if not path.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>'):
        problems.append(f'{shown}: must start with <?xml version="1.0" encoding="UTF-8"?>')
    if root.tag != q(mdtype):
        problems.append(f"{shown}: root element must be <{mdtype} xmlns=\"{MD_NS}\">, found {root.tag}")
        return None
    if mdtype == "LightningComponentBundle":
        _check_bundle_meta(root, shown, schema, problems)
    else:
        _validate(root, mdtype, shown, schema, problems)
    return root


def _check_bundle_meta(root: ElementTree.Element, shown: str, schema: Schema, problems: list[str]) -> None:
    """A component's js-meta.xml in source format: element names and values as the schema
    says, targets before targetConfigs (Salesforce's own examples), and targetConfigs as XML
    (the WSDL types it base64Binary: conversion encodes it)."""
    children = {c.name: c for c in schema.complex["LightningComponentBundle"]}
    for child in root:
        name = local(child.tag)
        if name not in children:
            problems.append(f"{shown}: <{name}> is not an element of LightningComponentBundle")
        elif name == "targetConfigs":
            for config in child:
                if local(config.tag) != "targetConfig" or not config.get("targets"):
                    problems.append(f"{shown}: <targetConfigs> holds only <targetConfig targets=\"...\">")
                targets = {t.text for t in root.iterfind(f"{q('targets')}/{q('target')}")}
                if config.get("targets") and not set(config.get("targets", "").split(",")) <= targets:
                    problems.append(f"{shown}: targetConfig for {config.get('targets')}, not among <targets>")
        else:
            _validate_value(child, children[name], f"{shown}: <{name}>", schema, problems)
    names = [local(c.tag) for c in root]
    if len(names) != len(set(names)):
        problems.append(f"{shown}: an element appears twice")


def _validate(elem: ElementTree.Element, type_name: str, where: str, schema: Schema, problems: list[str]) -> None:
    """Names, order, counts and values of ``elem``'s children, as the Metadata API schema says."""
    children = schema.complex[type_name]
    index = {c.name: i for i, c in enumerate(children)}
    counts: dict[str, int] = {}
    last = -1
    if (elem.text or "").strip():
        problems.append(f"{where}: <{local(elem.tag)}> holds text but is a {type_name}")
    for child in elem:
        name = local(child.tag)
        at = f"{where}: <{local(elem.tag)}><{name}>"
        if not child.tag.startswith(f"{{{MD_NS}}}"):
            problems.append(f"{at}: element outside the metadata namespace")
            continue
        if name not in index:
            problems.append(f"{at}: unknown element in {type_name}")
            continue
        spec = children[index[name]]
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > spec.max:
            problems.append(f"{at}: appears more than {int(spec.max)} time(s)")
        if index[name] < last:
            problems.append(f"{at}: out of order (the schema's order is {[c.name for c in children]})")
        last = max(last, index[name])
        _validate_value(child, spec, at, schema, problems)
    for spec in children:
        if spec.min > counts.get(spec.name, 0):
            problems.append(f"{where}: <{local(elem.tag)}> lacks required <{spec.name}>")


def _validate_value(elem: ElementTree.Element, spec: Child, at: str, schema: Schema, problems: list[str]) -> None:
    text = (elem.text or "").strip()
    if spec.type in schema.complex:
        _validate(elem, spec.type, at, schema, problems)
        return
    if len(elem):
        problems.append(f"{at}: {spec.type} cannot have child elements")
    if spec.type == "xsd:boolean" and text not in ("true", "false"):
        problems.append(f"{at}: {text!r} is not true or false")
    elif spec.type == "xsd:int" and not re.fullmatch(r"-?\d+", text):
        problems.append(f"{at}: {text!r} is not an integer")
    elif spec.type == "xsd:double" and not re.fullmatch(r"-?\d+(\.\d+)?", text):
        problems.append(f"{at}: {text!r} is not a number")
    elif spec.type in schema.enums and text not in schema.enums[spec.type]:
        allowed = sorted(schema.enums[spec.type])
        shown = allowed if len(allowed) <= 40 else f"{len(allowed)} values"
        problems.append(f"{at}: {text!r} is not a {spec.type} ({shown})")


def _check_field(obj: str, file_name: str, root: ElementTree.Element, shown: str, problems: list[str]) -> None:
    full_name = root.findtext(q("fullName"), "")
    if full_name != file_name:
        problems.append(f"{shown}: fullName {full_name!r} does not match the file name {file_name!r}")
    if not FIELD_NAME.match(file_name) or len(file_name) - 3 > 40:
        problems.append(f"{shown}: {file_name!r} is not a custom field name (letters, digits, single "
                        "underscores, at most 40 characters, ending __c)")
    present = {local(c.tag) for c in root}
    for name in sorted(FIELD_REQUIRED - present):
        problems.append(f"{shown}: lacks required <{name}>")
    ftype = root.findtext(q("type"), "")
    if ftype not in FIELD_TYPES:
        problems.append(f"{shown}: type {ftype!r} is not one socialdesk ships ({sorted(FIELD_TYPES)})")
    for name in sorted(FIELD_REQUIRED_BY_TYPE.get(ftype, set()) - present):
        problems.append(f"{shown}: a {ftype} field needs <{name}>")
    for name in sorted(FIELD_FORBIDDEN_BY_TYPE.get(ftype, set()) & present):
        problems.append(f"{shown}: a {ftype} field cannot have <{name}>")
    if ftype == "Text" and "length" in present and not 1 <= _int(root.findtext(q("length"))) <= 255:
        problems.append(f"{shown}: a Text field's length must be 1..255")
    for flag in ("externalId", "unique", "caseSensitive"):
        if root.findtext(q(flag)) == "true" and ftype not in KEYABLE_TYPES:
            problems.append(f"{shown}: <{flag}>true</{flag}> on a {ftype} field")
    if len(root.findtext(q("label"), "")) > 40:
        problems.append(f"{shown}: label longer than 40 characters")
    if ftype == "Picklist":
        values = [v.findtext(q("fullName"), "") for v in root.iter(q("value"))]
        if not values or len(values) != len(set(values)):
            problems.append(f"{shown}: picklist values must be present and distinct, got {values}")
        if root.findtext(f"{q('valueSet')}/{q('restricted')}") != "true":
            problems.append(f"{shown}: picklist must be restricted (socialdesk writes only known values)")


def _int(text: str | None) -> int:
    return int(text) if text and text.strip().lstrip("-").isdigit() else 0


def _field_names(obj: str, source: Source) -> set[str]:
    return STANDARD_FIELDS.get(obj, set()) | {name for o, name in source.fields if o == obj}


def _check_flow(name: str, flow: ElementTree.Element, source: Source, problems: list[str]) -> None:
    shown = f"{SOURCE}/flows/{name}.flow-meta.xml"
    start = flow.find(q("start"))
    obj = start.findtext(q("object"), "") if start is not None else ""
    if flow.findtext(q("processType")) != "AutoLaunchedFlow" or start is None \
            or start.findtext(q("triggerType")) != "RecordAfterSave" or obj not in TRIGGERED_OBJECTS:
        problems.append(f"{shown}: must be a record-triggered (RecordAfterSave) AutoLaunchedFlow on one of "
                        f"{sorted(TRIGGERED_OBJECTS)}")
        return
    if flow.findtext(q("status")) != "Active":
        problems.append(f"{shown}: status must be Active (production orgs may still deploy it inactive)")
    known = _field_names(obj, source)
    for f in start.findall(q("filters")):
        if f.findtext(q("field")) not in known:
            problems.append(f"{shown}: start filter on unknown field {obj}.{f.findtext(q('field'))}")

    paths = start.findall(q("scheduledPaths"))
    named = [e.findtext(q("name"), "") for e in [*flow, *paths] if e.find(q("name")) is not None
             and local(e.tag) != "processMetadataValues"]
    if len(named) != len(set(named)):
        problems.append(f"{shown}: element names are not unique: {sorted(named)}")
    nodes = {e.findtext(q("name"), "") for e in flow if e.find(q("locationX")) is not None and local(e.tag) != "start"}
    targets = [c.findtext(q("targetReference"), "") for c in flow.iter(q("connector"))]
    targets += [c.findtext(q("targetReference"), "") for c in flow.iter(q("faultConnector"))]
    for target in targets:
        if target not in nodes:
            problems.append(f"{shown}: a connector points to {target!r}, which is not an element of the flow")
    for unreached in sorted(set(nodes) - set(targets)):
        problems.append(f"{shown}: element {unreached!r} is never reached")
    if start.find(q("connector")) is None and not paths:
        problems.append(f"{shown}: the start element leads nowhere")

    for ref in (e.text or "" for e in flow.iter(q("elementReference"))):
        _check_record_reference(shown, obj, ref, source, problems)
    for action in flow.findall(q("actionCalls")):
        if action.findtext(q("actionType")) != "outboundMessage":
            problems.append(f"{shown}: action {action.findtext(q('name'))!r} is not an outbound message")
            continue
        action_name = action.findtext(q("actionName"), "")
        target_obj, _, message = action_name.partition(".")
        if target_obj != obj:
            problems.append(f"{shown}: {action_name!r}: a flow's outbound message action sends the triggering "
                            f"record, so it must be one of {obj}'s outbound messages")
        if target_obj in source.workflows and source.workflows[target_obj] is None:
            continue
        workflow = source.workflows.get(target_obj)
        names = {om.findtext(q("fullName")) for om in workflow.findall(q("outboundMessages"))} if workflow else set()
        if message not in names:
            problems.append(f"{shown}: actionName {action_name!r} names no outbound message in "
                            f"workflows/{target_obj}.workflow-meta.xml")
        segment = action.findtext(q("nameSegment"))
        if segment is not None and segment != action_name:
            problems.append(f"{shown}: nameSegment {segment!r} differs from actionName {action_name!r}")
    for update in flow.findall(q("recordUpdates")):
        target = update.findtext(q("object")) or obj   # inputReference $Record updates the trigger object
        fields = [f.findtext(q("field")) for f in update.findall(q("filters"))]
        fields += [f.findtext(q("field")) for f in update.findall(q("inputAssignments"))]
        for f in fields:
            if f not in _field_names(target, source):
                problems.append(f"{shown}: {update.findtext(q('name'))!r} names unknown field {target}.{f}")
        if not update.findall(q("inputAssignments")):
            problems.append(f"{shown}: {update.findtext(q('name'))!r} updates nothing")


def _check_record_reference(shown: str, obj: str, ref: str, source: Source, problems: list[str]) -> None:
    if not ref.startswith("$Record."):
        return
    *path, name = ref.split(".")[1:]
    here = obj
    for rel in path:
        nxt = RELATIONSHIPS.get((here, rel))
        if nxt is None:
            problems.append(f"{shown}: {ref}: {here} has no relationship {rel!r}")
            return
        here = nxt
    if name not in _field_names(here, source):
        problems.append(f"{shown}: {ref}: {here} has no field {name!r}")


def _check_outbound_messages(obj: str, workflow: ElementTree.Element, source: Source, problems: list[str]) -> None:
    shown = f"{SOURCE}/workflows/{obj}.workflow-meta.xml"
    for om in workflow.findall(q("outboundMessages")):
        name = om.findtext(q("fullName"), "")
        fields = [f.text or "" for f in om.findall(q("fields"))]
        for f in fields:
            if f not in _field_names(obj, source):
                problems.append(f"{shown}: {name}: field {f!r} is not a field of {obj}")
        if len(fields) != len(set(fields)):
            problems.append(f"{shown}: {name}: a field is listed twice")
        if not om.findtext(q("endpointUrl"), "").startswith("https://"):
            problems.append(f"{shown}: {name}: endpointUrl must be https (outbound messages are not signed)")
        if om.findtext(q("includeSessionId")) != "false":
            problems.append(f"{shown}: {name}: includeSessionId must be false (socialdesk never needs a session "
                            "of the sending user)")


def _check_permission_set(name: str, pset: ElementTree.Element, source: Source, problems: list[str]) -> None:
    shown = f"{SOURCE}/permissionsets/{name}.permissionset-meta.xml"
    granted: dict[str, tuple[str | None, str | None]] = {}
    for fp in pset.findall(q("fieldPermissions")):
        ref = fp.findtext(q("field"), "")
        obj, _, fname = ref.partition(".")
        if (obj, fname) not in source.fields:
            problems.append(f"{shown}: grants access to {ref!r}, which this project does not define")
        granted[ref] = (fp.findtext(q("readable")), fp.findtext(q("editable")))
        if granted[ref][1] == "true" and granted[ref][0] != "true":
            problems.append(f"{shown}: {ref} is editable but not readable")
    for obj, fname in sorted(source.fields):
        if granted.get(f"{obj}.{fname}", (None, None)) != ("true", "true"):
            problems.append(f"{shown}: must grant read and edit on {obj}.{fname}")


def _check_package(sf_root: Path, source: Source, schema: Schema, project: dict, problems: list[str]) -> None:
    path = sf_root / "manifest" / "package.xml"
    root = _parse(path, "manifest/package.xml", "Package", schema, problems) if path.is_file() else None
    if root is None:
        if not path.is_file():
            problems.append("manifest/package.xml: missing")
        return
    listed: set[tuple[str, str]] = set()
    for types in root.findall(q("types")):
        kind = types.findtext(q("name"), "")
        for member in types.findall(q("members")):
            if (kind, member.text or "") in listed:
                problems.append(f"manifest/package.xml: {kind} {member.text} listed twice")
            listed.add((kind, member.text or ""))
    for kind, member in sorted(listed - source.members):
        problems.append(f"manifest/package.xml: lists {kind} {member}, which is not in {SOURCE}")
    for kind, member in sorted(source.members - listed):
        problems.append(f"manifest/package.xml: does not list {kind} {member}")
    version = root.findtext(q("version"), "")
    if project and version != project.get("sourceApiVersion"):
        problems.append(f"manifest/package.xml: version {version} differs from sfdx-project.json "
                        f"sourceApiVersion {project.get('sourceApiVersion')}")
    versions = {f.findtext(q("apiVersion")) for f in source.flows.values() if f is not None}
    versions |= {b.findtext(q("apiVersion")) for b in source.bundles.values() if b is not None}
    versions |= {om.findtext(q("apiVersion")) for w in source.workflows.values() if w is not None
                 for om in w.findall(q("outboundMessages"))}
    if versions - {version}:
        problems.append(f"flows, outbound messages and components must use apiVersion {version}, "
                        f"found {sorted(map(str, versions - {version}))}")


def adapter_fields(adapter_source: str) -> tuple[dict[str, str], set[str]]:
    """(SalesforceSettings defaults, every ``*__c`` name the adapter's code spells out)."""
    tree = ast.parse(adapter_source)
    defaults: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "SalesforceSettings":
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    defaults[stmt.target.id] = stmt.value.value
    literals = {m for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
                for m in re.findall(r"\b[A-Za-z]\w*__c\b", node.value)}
    return defaults, literals


def _check_contract(source: Source, adapter_source: str, problems: list[str]) -> None:
    """The fields and the outbound message socialdesk's code and mappings rely on."""
    defaults, literals = adapter_fields(adapter_source)
    case_key, contact_key = defaults.get("external_id_field"), defaults.get("contact_key_field")
    if not case_key or not contact_key:
        problems.append("adapter: SalesforceSettings declares no external_id_field/contact_key_field default")
        return
    needed = {("Case", name): "adapter uses" for name in literals if name != contact_key}
    needed |= {("Case", case_key): "adapter uses", ("Contact", contact_key): "adapter uses"}
    needed |= {key: "socialdesk's mappings and agent UI use" for key in CONTRACT_FIELDS}
    for (obj, name), who in sorted(needed.items()):
        if (obj, name) not in source.fields:
            problems.append(f"{who} {obj}.{name}, which has no {SOURCE}/objects/{obj}/fields/{name}.field-meta.xml")
    for obj, name, case_sensitive in (("Case", case_key, "true"), ("Contact", contact_key, None)):
        f = source.fields.get((obj, name))
        if f is None:
            continue
        for flag in ("externalId", "unique"):
            if f.findtext(q(flag)) != "true":
                problems.append(f"{obj}.{name} is the adapter's upsert key: it needs <{flag}>true</{flag}>")
        if case_sensitive and f.findtext(q("caseSensitive")) != case_sensitive:
            problems.append(f"{obj}.{name}: post ids are compared verbatim: <caseSensitive>true</caseSensitive>")
        if f.findtext(q("type")) != "Text" or _int(f.findtext(q("length"))) != 255:
            problems.append(f"{obj}.{name}: the upsert key is Text, length 255")
    network = source.fields.get(("Case", "Social_Network__c"))
    if network is not None:
        values = [v.findtext(q("fullName")) for v in network.iter(q("value"))]
        if values != NETWORKS:
            problems.append(f"Case.Social_Network__c: values must be {NETWORKS}, found {values}")
    url = source.fields.get(("Case", "Social_Post_Url__c"))
    if url is not None and url.findtext(q("type")) != "Url":
        problems.append("Case.Social_Post_Url__c must be a Url field")

    workflow = source.workflows.get("Case")
    om = next((m for m in workflow.findall(q("outboundMessages")) if m.findtext(q("fullName")) == OUTBOUND_MESSAGE),
              None) if workflow is not None else None
    if om is None:
        problems.append(f"workflows/Case.workflow-meta.xml: no outbound message {OUTBOUND_MESSAGE}")
        return
    fields = {f.text for f in om.findall(q("fields"))}
    if fields != OUTBOUND_FIELDS:
        problems.append(f"{OUTBOUND_MESSAGE}: fields must be {sorted(OUTBOUND_FIELDS)}, found {sorted(fields)}")
    if om.findtext(q("protected")) != "false":
        problems.append(f"{OUTBOUND_MESSAGE}: protected must be false")
    if om.findtext(q("endpointUrl")) != ENDPOINT_PLACEHOLDER \
            or om.findtext(q("integrationUser")) != INTEGRATION_USER_PLACEHOLDER:
        problems.append(f"{OUTBOUND_MESSAGE}: the committed file carries the placeholders {ENDPOINT_PLACEHOLDER} "
                        f"and {INTEGRATION_USER_PLACEHOLDER}; an org's own values are set at deploy time")
    senders = [n for n, flow in source.flows.items()
               if f"Case.{OUTBOUND_MESSAGE}" in {a.findtext(q("actionName")) for a in flow.findall(q("actionCalls"))}]
    if not senders:
        problems.append(f"no flow sends Case.{OUTBOUND_MESSAGE}")
    for name in senders:
        start = source.flows[name].find(q("start"))
        filters = [(f.findtext(q("field")), f.findtext(q("operator")), f.findtext(f"{q('value')}/{q('booleanValue')}"))
                   for f in start.findall(q("filters"))]
        if start.findtext(q("recordTriggerType")) != "CreateAndUpdate" or filters != [(case_key, "IsNull", "false")] \
                or start.findtext(q("doesRequireRecordChangedToMeetCriteria")) == "true":
            problems.append(f"flow {name}: must run on every create and update of a Case whose {case_key} "
                            "is set (one filter IsNull false, not only when the record changes to meet it)")
    comment_flows = [f for f in source.flows.values() if f.findtext(f"{q('start')}/{q('object')}") == "CaseComment"]
    if not comment_flows:
        problems.append("no flow reacts to published CaseComments")
    for flow in comment_flows:
        start = flow.find(q("start"))
        label = flow.findtext(q("label"))
        filters = [(f.findtext(q("field")), f.findtext(q("operator")), f.findtext(f"{q('value')}/{q('booleanValue')}"))
                   for f in start.findall(q("filters"))]
        if ("IsPublished", "EqualTo", "true") not in filters:
            problems.append(f"flow {label}: must run only for published comments (IsPublished EqualTo true)")
        touches = [u for u in flow.findall(q("recordUpdates")) if u.findtext(q("object")) == "Case"
                   and any(f.findtext(q("field")) == "Id"
                           and f.findtext(f"{q('value')}/{q('elementReference')}") == "$Record.ParentId"
                           for f in u.findall(q("filters")))]
        if not touches:
            problems.append(f"flow {label}: must update the parent Case (Id = $Record.ParentId) so that "
                            f"Case.{OUTBOUND_MESSAGE} is sent for it")


# ---------------------------------------------------------------- tests


def test_the_shipped_metadata_passes_every_check() -> None:
    assert check(SF_ROOT, adapter_source()) == []


def test_the_schema_is_the_metadata_api_wsdl() -> None:
    schema = metadata_schema()
    assert float(schema.version) >= 62.0
    assert {"Text", "Picklist", "Url"} <= schema.enums["FieldType"]
    assert "outboundMessage" in schema.enums["InvocableActionType"]
    assert [c.name for c in schema.complex["CustomField"]][0] == "fullName"   # inherited from Metadata


def test_adapter_fields_are_read_from_the_code() -> None:
    defaults, literals = adapter_fields(adapter_source())
    assert defaults["external_id_field"] == "Social_Post_Id__c"
    assert defaults["contact_key_field"] == "Social_Handle__c"
    assert "Social_Post_Id__c" in literals


def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"mutation does not apply: {old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return apply


def _drop(rel: str, pattern: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text, n = re.subn(pattern, "", path.read_text(encoding="utf-8"), count=1)
        assert n == 1, f"mutation does not apply: {pattern!r} not in {rel}"
        path.write_text(text, encoding="utf-8")
    return apply


def _rename(rel: str, new_rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).rename(root / new_rel)
    return apply


def _write(rel: str, text: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return apply


F = f"{SOURCE}/objects/Case/fields"
POST_ID = f"{F}/Social_Post_Id__c.field-meta.xml"
NETWORK = f"{F}/Social_Network__c.field-meta.xml"
CASE_FLOW = f"{SOURCE}/flows/Socialdesk_Case_Changed.flow-meta.xml"
COMMENT_FLOW = f"{SOURCE}/flows/Socialdesk_Case_Comment_Published.flow-meta.xml"
WORKFLOW = f"{SOURCE}/workflows/Case.workflow-meta.xml"
PERMSET = f"{SOURCE}/permissionsets/Socialdesk_Integration.permissionset-meta.xml"
PACKAGE = "manifest/package.xml"
LWC_META = f"{SOURCE}/lwc/socialdeskThread/socialdeskThread.js-meta.xml"

BREAKAGES: list[tuple[str, Callable[[Path], None], str]] = [
    ("unclosed element", _edit(POST_ID, "<label>Social Post Id</label>", "<label>Social Post Id"),
     "not well-formed XML"),
    ("unknown field type", _edit(NETWORK, "<type>Picklist</type>", "<type>NoSuchType</type>"),
     "'NoSuchType' is not a FieldType"),
    ("type the schema knows but socialdesk does not ship",
     _edit(NETWORK, "<type>Picklist</type>", "<type>Html</type>"), "type 'Html' is not one socialdesk ships"),
    ("misspelt element", _edit(POST_ID, "<length>255</length>", "<lenght>255</lenght>"),
     "<lenght>: unknown element in CustomField"),
    ("Text without length", _edit(POST_ID, "<length>255</length>", ""), "a Text field needs <length>"),
    ("Url with length", _edit(f"{F}/Social_Post_Url__c.field-meta.xml", "<required>false</required>",
                              "<length>255</length>\n    <required>false</required>"),
     "a Url field cannot have <length>"),
    ("label missing", _edit(POST_ID, "<label>Social Post Id</label>", ""), "lacks required <label>"),
    ("element twice", _edit(POST_ID, "<label>Social Post Id</label>",
                            "<label>Social Post Id</label><label>Again</label>"), "appears more than 1 time"),
    ("elements out of order", _edit(POST_ID, "<label>Social Post Id</label>\n    <length>255</length>",
                                    "<length>255</length>\n    <label>Social Post Id</label>"),
     "<label>: out of order"),
    ("boolean that is not one", _edit(POST_ID, "<unique>true</unique>", "<unique>yes</unique>"),
     "'yes' is not true or false"),
    ("file named .xml, not .field-meta.xml", _rename(POST_ID, f"{F}/Social_Post_Id__c.xml"),
     "Social_Post_Id__c.xml: not a recognised source file"),
    ("stray file in the source tree", _write(f"{F}/notes.txt", "todo"), "notes.txt: not a recognised source file"),
    ("fullName differs from file name", _edit(POST_ID, "<fullName>Social_Post_Id__c</fullName>",
                                              "<fullName>Social_Post_Key__c</fullName>"),
     "does not match the file name"),
    ("field name without __c", _rename(f"{F}/Social_Handle__c.field-meta.xml", f"{F}/Social_Handle.field-meta.xml"),
     "'Social_Handle' is not a custom field name"),
    ("wrong root element", lambda root: (_edit(POST_ID, "<CustomField xmlns", "<CustomObject xmlns")(root),
                                         _edit(POST_ID, "</CustomField>", "</CustomObject>")(root)),
     "root element must be <CustomField"),
    ("upsert key not external", _edit(POST_ID, "<externalId>true</externalId>", "<externalId>false</externalId>"),
     "upsert key: it needs <externalId>true</externalId>"),
    ("upsert key not unique", _edit(POST_ID, "<unique>true</unique>", "<unique>false</unique>"),
     "upsert key: it needs <unique>true</unique>"),
    ("contact key not unique", _edit(f"{SOURCE}/objects/Contact/fields/Social_Handle__c.field-meta.xml",
                                     "<unique>true</unique>", "<unique>false</unique>"),
     "Contact.Social_Handle__c is the adapter's upsert key: it needs <unique>true</unique>"),
    ("upsert key case-insensitive", _edit(POST_ID, "<caseSensitive>true</caseSensitive>",
                                          "<caseSensitive>false</caseSensitive>"), "compared verbatim"),
    ("picklist not restricted", _edit(NETWORK, "<restricted>true</restricted>", "<restricted>false</restricted>"),
     "picklist must be restricted"),
    ("network missing from picklist", _edit(NETWORK, "<fullName>instagram</fullName>", "<fullName>tiktok</fullName>"),
     "Social_Network__c: values must be"),
    ("flow names a missing outbound message", _edit(CASE_FLOW, "<actionName>Case.Socialdesk_Case_Changed</actionName>",
                                                     "<actionName>Case.Socialdesk_Case_Gone</actionName>"),
     "actionName 'Case.Socialdesk_Case_Gone' names no outbound message"),
    ("flow sends another object's message", _edit(CASE_FLOW, "<object>Case</object>", "<object>CaseComment</object>"),
     "must be one of CaseComment's outbound messages"),
    ("flow filters on an unknown field", _edit(CASE_FLOW, "<field>Social_Post_Id__c</field>",
                                               "<field>Social_Post_Key__c</field>"),
     "start filter on unknown field Case.Social_Post_Key__c"),
    ("flow connector to nothing", _edit(CASE_FLOW, "<targetReference>Send_Socialdesk_Case_Changed</targetReference>",
                                        "<targetReference>Nowhere</targetReference>"),
     "a connector points to 'Nowhere'"),
    ("unknown trigger type", _edit(CASE_FLOW, "<triggerType>RecordAfterSave</triggerType>",
                                   "<triggerType>AfterSave</triggerType>"), "'AfterSave' is not a FlowTriggerType"),
    ("case flow only on create", _edit(CASE_FLOW, "<recordTriggerType>CreateAndUpdate</recordTriggerType>",
                                       "<recordTriggerType>Create</recordTriggerType>"),
     "must run on every create and update"),
    ("comment flow for every comment", _edit(COMMENT_FLOW, "<field>IsPublished</field>", "<field>IsDeleted</field>"),
     "must run only for published comments"),
    ("comment flow reads a field the parent lacks", _edit(COMMENT_FLOW, "$Record.Parent.Social_Post_Id__c",
                                                          "$Record.Parent.Social_Post__c"),
     "$Record.Parent.Social_Post__c: Case has no field 'Social_Post__c'"),
    ("comment flow updates another case", _edit(COMMENT_FLOW, "<elementReference>$Record.ParentId</elementReference>",
                                                "<elementReference>$Record.Id</elementReference>"),
     "must update the parent Case"),
    ("outbound message sends an unknown field", _edit(WORKFLOW, "<fields>LastModifiedDate</fields>",
                                                      "<fields>Bogus__c</fields>"),
     "field 'Bogus__c' is not a field of Case"),
    ("outbound message with a session id", _edit(WORKFLOW, "<includeSessionId>false</includeSessionId>",
                                                 "<includeSessionId>true</includeSessionId>"),
     "includeSessionId must be false"),
    ("outbound message over http", _edit(WORKFLOW, ENDPOINT_PLACEHOLDER, "http://socialdesk.example/hooks"),
     "endpointUrl must be https"),
    ("customer endpoint committed", _edit(WORKFLOW, ENDPOINT_PLACEHOLDER, "https://desk.acme.com/hooks/salesforce/acme"),
     "carries the placeholders"),
    ("outbound message without its required integrationUser",
     _edit(WORKFLOW, f"<integrationUser>{INTEGRATION_USER_PLACEHOLDER}</integrationUser>", ""),
     "lacks required <integrationUser>"),
    ("workflow rule smuggled in", _edit(WORKFLOW, "</Workflow>", "<rules><fullName>R</fullName></rules></Workflow>"),
     "<rules> is not socialdesk's to deploy"),
    ("permission set misses a field", _edit(PERMSET, "<field>Case.Social_Network__c</field>\n        <readable>true",
                                            "<field>Case.Social_Network__c</field>\n        <readable>false"),
     "must grant read and edit on Case.Social_Network__c"),
    ("permission set names an unknown field", _edit(PERMSET, "<hasActivationRequired>",
                                                    "<fieldPermissions><editable>false</editable><field>Case.Other__c"
                                                    "</field><readable>true</readable></fieldPermissions>"
                                                    "<hasActivationRequired>"),
     "grants access to 'Case.Other__c'"),
    ("package.xml lists more", _edit(PACKAGE, "<members>Socialdesk_Integration</members>",
                                     "<members>Socialdesk_Integration</members><members>Other</members>"),
     "lists PermissionSet Other, which is not in"),
    ("package.xml lists fewer", _edit(PACKAGE, "<members>Contact.Social_Handle__c</members>", ""),
     "does not list CustomField Contact.Social_Handle__c"),
    ("package.xml version drifts", _edit(PACKAGE, "<version>62.0</version>", "<version>61.0</version>"),
     "differs from sfdx-project.json"),
    ("sfdx-project.json broken", _edit("sfdx-project.json", '"default": true', '"default": true,'),
     "sfdx-project.json:"),
    ("metadata outside force-app", _write("other/Extra__c.field-meta.xml", "<x/>"), "is not deployed"),
    ("field the adapter needs is gone", lambda root: (root / f"{F}/Social_Post_Url__c.field-meta.xml").unlink(),
     "socialdesk's mappings and agent UI use Case.Social_Post_Url__c"),
    ("no XML declaration", _edit(POST_ID, '<?xml version="1.0" encoding="UTF-8"?>\n', ""),
     'must start with <?xml version="1.0" encoding="UTF-8"?>'),
    ("element outside the metadata namespace", _edit(POST_ID, "<label>Social Post Id</label>",
                                                     '<label>Social Post Id</label><x:note xmlns:x="urn:x"/>'),
     "element outside the metadata namespace"),
    ("text inside a complex element", _edit(NETWORK, "<valueSet>", "<valueSet>stray"), "holds text but is a ValueSet"),
    ("length that is not a number", _edit(POST_ID, "<length>255</length>", "<length>long</length>"),
     "'long' is not an integer"),
    ("Text longer than 255", _edit(f"{F}/Social_Handle__c.field-meta.xml", "<length>255</length>",
                                   "<length>300</length>"), "a Text field's length must be 1..255"),
    ("upsert key shortened", _edit(POST_ID, "<length>255</length>", "<length>80</length>"),
     "the upsert key is Text, length 255"),
    ("label too long", _edit(POST_ID, "<label>Social Post Id</label>", f"<label>{'L' * 41}</label>"),
     "label longer than 40 characters"),
    ("external id on a picklist", _edit(NETWORK, "<externalId>false</externalId>", "<externalId>true</externalId>"),
     "<externalId>true</externalId> on a Picklist field"),
    ("picklist value twice", _edit(NETWORK, "<fullName>instagram</fullName>", "<fullName>x</fullName>"),
     "picklist values must be present and distinct"),
    ("post URL no longer a URL", _edit(f"{F}/Social_Post_Url__c.field-meta.xml", "<type>Url</type>",
                                       "<type>Checkbox</type>"), "Case.Social_Post_Url__c must be a Url field"),
    ("flow not active", _edit(CASE_FLOW, "<status>Active</status>", "<status>Draft</status>"),
     "status must be Active"),
    ("flow element names repeat", _edit(COMMENT_FLOW, "<name>After_Commit</name>", "<name>Touch_Parent_Case</name>"),
     "element names are not unique"),
    ("flow start leads nowhere", _drop(CASE_FLOW, r"(?s)<connector>\s*<targetReference>Send_Socialdesk_Case_Changed"
                                                  r"</targetReference>\s*</connector>"),
     "the start element leads nowhere"),
    ("flow action that is not an outbound message", _edit(CASE_FLOW, "<actionType>outboundMessage</actionType>",
                                                          "<actionType>emailAlert</actionType>"),
     "is not an outbound message"),
    ("flow updates an unknown field", _edit(COMMENT_FLOW, "<field>Social_Post_Id__c</field>\n            <value>\n"
                                                          "                <elementReference>",
                                            "<field>Social_Post_Ref__c</field>\n            <value>\n"
                                            "                <elementReference>"),
     "'Touch_Parent_Case' names unknown field Case.Social_Post_Ref__c"),
    ("flow update that sets nothing", _drop(COMMENT_FLOW, r"(?s)<inputAssignments>.*</inputAssignments>"),
     "'Touch_Parent_Case' updates nothing"),
    ("flow follows a relationship that does not exist", _edit(COMMENT_FLOW, "$Record.Parent.Social_Post_Id__c",
                                                              "$Record.Case.Social_Post_Id__c"),
     "CaseComment has no relationship 'Case'"),
    ("no flow for published comments", lambda root: (root / COMMENT_FLOW).unlink(),
     "no flow reacts to published CaseComments"),
    ("outbound message protected", _edit(WORKFLOW, "<protected>false</protected>", "<protected>true</protected>"),
     "protected must be false"),
    ("outbound message field twice", _edit(WORKFLOW, "<fields>LastModifiedDate</fields>",
                                           "<fields>LastModifiedDate</fields><fields>Id</fields>"),
     "a field is listed twice"),
    ("outbound message renamed", _edit(WORKFLOW, "<fullName>Socialdesk_Case_Changed</fullName>",
                                       "<fullName>Socialdesk_Case_Touched</fullName>"),
     "no outbound message Socialdesk_Case_Changed"),
    ("editable but not readable", _edit(PERMSET, "<field>Contact.Social_Handle__c</field>\n        <readable>true",
                                        "<field>Contact.Social_Handle__c</field>\n        <readable>false"),
     "Contact.Social_Handle__c is editable but not readable"),
    ("package.xml lists a member twice", _edit(PACKAGE, "<members>Case</members>",
                                               "<members>Case</members><members>Case</members>"),
     "Workflow Case listed twice"),
    ("package.xml missing", lambda root: (root / PACKAGE).unlink(), "manifest/package.xml: missing"),
    ("no default package directory", _edit("sfdx-project.json", '"default": true', '"default": false'),
     "packageDirectories needs exactly one default"),
    ("sourceApiVersion as a number", _edit("sfdx-project.json", '"62.0"', "62"),
     "sourceApiVersion must be a string"),
    ("no source directory", lambda root: shutil.rmtree(root / "force-app"), "force-app/main/default: missing"),
    ("markup inside a text value", _edit(POST_ID, "<label>Social Post Id</label>", "<label><b>Social</b></label>"),
     "xsd:string cannot have child elements"),
    ("apiVersion that is not a number", _edit(WORKFLOW, "<apiVersion>62.0</apiVersion>",
                                              "<apiVersion>v62</apiVersion>"), "'v62' is not a number"),
    ("component without its js-meta.xml", lambda root: (root / LWC_META).unlink(),
     "no socialdeskThread.js-meta.xml; conversion would ship the component without it"),
    ("package.xml without the component", _edit(PACKAGE, "<members>socialdeskThread</members>", ""),
     "does not list LightningComponentBundle socialdeskThread"),
    ("component meta with an unknown element", _edit(LWC_META, "<isExposed>true</isExposed>",
                                                     "<isExposed>true</isExposed><exposed>true</exposed>"),
     "<exposed> is not an element of LightningComponentBundle"),
    ("component exposed as neither true nor false", _edit(LWC_META, "<isExposed>true</isExposed>",
                                                          "<isExposed>yes</isExposed>"), "'yes' is not true or false"),
    ("component configured for a target it lacks", _edit(LWC_META, '<targetConfig targets="lightning__RecordPage">',
                                                         '<targetConfig targets="lightning__AppPage">'),
     "targetConfig for lightning__AppPage, not among <targets>"),
    ("component on another API version", _edit(LWC_META, "<apiVersion>62.0</apiVersion>",
                                               "<apiVersion>61.0</apiVersion>"),
     "flows, outbound messages and components must use apiVersion 62.0"),
    ("a stray file in a component folder", _write(f"{SOURCE}/lwc/socialdeskThread/notes.txt", "x"),
     "not a recognised source file"),
]

@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    root = tmp_path / "salesforce"
    shutil.copytree(SF_ROOT, root)
    return root


def test_an_unbroken_copy_passes(broken_copy: Path) -> None:
    assert check(broken_copy, adapter_source()) == []


@pytest.mark.parametrize(("mutate", "expected"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_each_breakage_is_reported(broken_copy: Path, mutate: Callable[[Path], None], expected: str) -> None:
    mutate(broken_copy)
    problems = check(broken_copy, adapter_source())
    assert any(expected in p for p in problems), "\n".join(problems) or "no problem reported"


def test_a_new_field_in_the_adapter_must_exist_in_the_metadata(broken_copy: Path) -> None:
    source = adapter_source()
    changed = source.replace('external_id_field: str = "Social_Post_Id__c"', 'external_id_field: str = "Post_Key__c"')
    changed = changed.replace('CASE_FIELDS = ("Id, ', 'CASE_FIELDS = ("Social_Reach__c, Id, ')
    assert changed.count("Post_Key__c") and changed.count("Social_Reach__c")
    problems = check(broken_copy, changed)
    assert any("adapter uses Case.Post_Key__c" in p for p in problems), problems
    assert any("adapter uses Case.Social_Reach__c" in p for p in problems), problems


def test_an_adapter_without_key_defaults_is_reported(broken_copy: Path) -> None:
    source = adapter_source().replace("class SalesforceSettings:", "class OtherSettings:")
    assert any("declares no external_id_field/contact_key_field default" in p for p in check(broken_copy, source))


def test_the_sandbox_describes_the_same_fields() -> None:
    """The sandbox stands in for an org with this metadata deployed: same fields, same keys."""
    from sandbox.salesforce import CATALOG
    source = Source()
    for path in (SF_ROOT / SOURCE / "objects").glob("*/fields/*.field-meta.xml"):
        source.fields[(path.parts[-3], path.name.removesuffix(".field-meta.xml"))] = ElementTree.parse(path).getroot()
    types = {"string": "Text", "picklist": "Picklist", "url": "Url", "boolean": "Checkbox", "datetime": "DateTime",
             "textarea": "LongTextArea"}
    described = {(obj, f["name"]): f for obj in ("Case", "Contact") for f in CATALOG[obj].fields if f.get("custom")}
    assert set(described) == set(source.fields)
    for key, f in described.items():
        meta = source.fields[key]
        assert types[f["type"]] == meta.findtext(q("type")), key
        assert f["externalId"] == (meta.findtext(q("externalId")) == "true"), key
        if f.get("unique"):
            assert meta.findtext(q("unique")) == "true", key
        if f["type"] == "picklist":
            values = [v.findtext(q("fullName")) for v in meta.iter(q("value"))]
            assert [v["value"] for v in f["picklistValues"]] == values
            assert f.get("restrictedPicklist") == (meta.findtext(f"{q('valueSet')}/{q('restricted')}") == "true")


def test_plugin_manifest_fields_match_when_declared() -> None:
    """PACKAGING.md §7: plugin_manifest.json's helpdesk_fields are the single source once they exist."""
    manifest = json.loads((ROOT / "plugin_manifest.json").read_text(encoding="utf-8"))
    declared = [f for f in manifest.get("helpdesk_fields", []) if "salesforce" in f]
    assert declared, "plugin_manifest.json must declare the helpdesk_fields the Salesforce metadata defines"
    types = {"text": "Text", "picklist": "Picklist", "url": "Url"}
    for entry in declared:
        sf = entry["salesforce"]
        path = SF_ROOT / SOURCE / "objects" / sf["object"] / "fields" / f"{sf['api_name']}.field-meta.xml"
        assert path.is_file(), f"{entry['key']}: {path} missing"
        meta = ElementTree.parse(path).getroot()
        assert meta.findtext(q("type")) == types[entry["type"]]
        assert meta.findtext(q("label")) == entry["label"]
        for key, tag in (("external_id", "externalId"), ("unique", "unique"), ("case_sensitive", "caseSensitive")):
            if key in entry:
                assert meta.findtext(q(tag)) == str(entry[key]).lower(), (entry["key"], tag)
        if "length" in entry:
            assert meta.findtext(q("length")) == str(entry["length"])
        if "values" in entry:
            assert [v.findtext(q("fullName")) for v in meta.iter(q("value"))] == entry["values"]
