"""Salesforce Service Cloud stand-in that real simple-salesforce (and the daemon) talk to unchanged.

The rule is fidelity to the far side. There is **no Salesforce OpenAPI**: Salesforce generates
an OAS per org and publishes none (CONTRACTS.md §0), so shapes here follow what was recorded
from real orgs (the CumulusCI cassettes: Case describe, Organization, create, composite,
sObject Collections upsert, count queries), the restforce fixtures (query paging, upsert 300,
error arrays, token bodies), the Outbound Messaging SOAP bodies captured by aspnet/WebHooks, and
the vendor documentation quoted in CONTRACTS.md §3, §7, §8, §9 and LIMITS.md. Where no source
says what Salesforce does, the choice made here is listed in ``FIDELITY_NOTES``.

What is modelled: the OAuth token endpoint (password, client credentials, JWT bearer) and the
SOAP partner login simple-salesforce uses; sObject describe / global describe; record create,
read, update, delete and upsert by external ID (201 / 200 or 204 / 300); sObject Collections
(<= 200 records, per-record results, allOrNone); Composite; a SOQL subset with
``nextRecordsUrl`` paging; getUpdated / getDeleted; ``/limits`` and a rolling 24-hour API
allocation reported in ``Sforce-Limit-Info`` on every API response; Case assignment rules
(``Sforce-Auto-Assign``); entitlements; CaseComment; Outbound Messaging to a registered
loopback receiver, retried until it acknowledges.

State lives in memory in one ``SalesforceState`` (``app.extensions["sandbox_state"]``) guarded by
one re-entrant lock. Outbound messages are sent from a background thread.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import itertools
import json
import re
import secrets
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from xml.sax.saxutils import escape as xml_escape

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.common import (
    Chaos,
    ChaosFault,
    Clock,
    HttpError,
    Outage,
    add_pending_headers,
    cut_connection,
    drop_response,
    error_response,
    from_agent_ui,
    hold,
    is_chaos_spec,
    match_fault,
    retry_after_seconds,
)

JSON_CT = "application/json;charset=UTF-8"
XML_CT = "text/xml;charset=UTF-8"
API_VERSION = "59.0"  # simple-salesforce 1.12 DEFAULT_API_VERSION
MIN_VERSION, MAX_VERSION = 20, 62
CREATED_FLAG_VERSION = 46  # upsert bodies carry "created" (and updates answer 200) from v46.0
DAILY_API_DEFAULT = 15_000  # Developer Edition allocation (LIMITS.md §1.2)
DAILY_WINDOW = 24 * 3600
# Edition -> (base allocation, per Salesforce/Platform licence) for 24 h (LIMITS.md §1.2).
EDITIONS: dict[str, tuple[int, int]] = {
    "developer": (15_000, 0), "professional": (100_000, 1_000), "enterprise": (100_000, 1_000),
    "unlimited": (100_000, 5_000), "performance": (100_000, 5_000), "full_sandbox": (5_000_000, 0)}
SESSION_SECONDS = 7200
QUERY_PAGE = 2000
LOCATOR_IDLE = 15 * 60
COLLECTION_MAX = 200
COMPOSITE_MAX = 25
COMMENT_BYTES = 4000
OM_BATCH = 100
OM_MAX_AGE = 24 * 3600
OM_TIMEOUT = 60.0
OM_RETRY_INITIAL = 1.0
OM_RETRY_MAX = 7200.0
REQUEST_LOG_MAX = 5000
MASTER_RECORD_TYPE = "012000000000000AAA"
OM_NS = "http://soap.sforce.com/2005/09/outbound"
SF_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SOCIAL_FIELDS = ("Social_Post_Id__c", "Social_Network__c", "Social_Handle__c", "Social_Post_Url__c",
                 "Social_Tags__c")
ENTITLEMENT_FIELDS = ("EntitlementId", "SlaStartDate", "SlaExitDate", "IsStopped", "StopStartDate",
                      "MilestoneStatus")
NOT_FOUND_MSG = "The requested resource does not exist"

FIDELITY_NOTES: tuple[str, ...] = (
    "no Salesforce OpenAPI exists; shapes follow CumulusCI recordings, restforce fixtures and docs",
    "Case describe: the recorded scratch-org fields verbatim, plus Origin value 'Social', RecordTypeId, "
    "entitlement fields (EntitlementId, SlaStartDate, SlaExitDate, IsStopped, StopStartDate, "
    "MilestoneStatus; metadata assumed, switchable) and the socialdesk custom fields; "
    "childRelationships trimmed to a representative few",
    "describe metadata of objects other than Case is modelled on the Case recording, not recorded",
    "upsert update answers 200 with created:false from API v46.0 and 204 before (boundary assumed to "
    "match the documented 'created' flag); updateOnly=true with no match is a 404 NOT_FOUND",
    "an external-ID field in an upsert body is refused with 400 INVALID_FIELD (documented; wording assumed)",
    "reference checks: malformed id MALFORMED_ID; well-formed id of the wrong object or of no existing "
    "record FIELD_INTEGRITY_EXCEPTION '<label>: id value of incorrect type' (real orgs may say "
    "INVALID_CROSS_REFERENCE_KEY for deleted targets); RecordTypeId INVALID_CROSS_REFERENCE_KEY",
    "Status/Priority/Origin are unrestricted picklists as recorded (any value accepted); "
    "Social_Network__c is restricted (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST)",
    "assignment rules run on Case insert only (not on update); no match assigns the Default Case "
    "Owner (the agent user); an unknown rule id in Sforce-Auto-Assign is ignored",
    "daily API allocation: one rolling 24 h window on the sandbox clock, every authenticated "
    "/services/data call counts 1 (composite and collections count 1), refused calls do not count; "
    "REQUEST_LIMIT_EXCEEDED wording as commonly reproduced; no per-app usage or api-bursts",
    "SOQL subset: one object, relationship paths, child subqueries, WHERE with = != <> < > <= >= IN, "
    "NOT IN, LIKE, AND/OR/NOT, date literals (UTC), ORDER BY, LIMIT, OFFSET, COUNT(); no GROUP BY, "
    "aggregates other than COUNT(), semi-joins, TYPEOF, FIELDS(); polymorphic Owner accepts any field "
    "of User or Group",
    "query locators snapshot the rendered rows; they expire after 15 idle minutes of sandbox time",
    "sessions issued by OAuth or SOAP login expire after 2 h idle on the sandbox clock; the tokens in "
    "the sandbox info never expire (unless expired through /_sandbox/sessions)",
    "loopback callers count as a trusted IP range: passwords work with or without the security token",
    "JWT bearer: exp is checked against the wall clock; aud may be the sandbox URL, "
    "https://login.salesforce.com or https://test.salesforce.com; error texts for bad signature "
    "('invalid assertion') and expiry ('expired authorization code') are from public reports",
    "a CaseComment insert/update touches its Case's LastModifiedDate, LastModifiedById, SystemModstamp",
    "CaseComment.CommentBody is updateable (the integration user is assumed to have Modify All)",
    "collections: per-record errors use statusCode (documented); failed entries carry no id; a record "
    "without attributes.type is a per-record INVALID_FIELD (wording assumed)",
    "Outbound Messaging: registered via /_sandbox/outbound (stands in for the Flow + outbound message "
    "definition), Case notifications only, fields chosen at registration; retries back off "
    "exponentially from 1 s (configurable) up to 2 h, dropped after 24 h of sandbox time; HTTP "
    "headers (SOAPAction, User-Agent) assumed; only HTTP 200 with notificationsResponse/Ack=true counts",
    "the identity URL and /services/oauth2/userinfo answer any valid session (OAuth scopes are not "
    "enforced); tokens report scope 'api'",
    "queryAll pages continue under /query/{locator}; COUNT() never pages; Sforce-Query-Options "
    "batchSize is honoured within 200..2000 (and the control page size)",
    "a non-id string compared with Id in SOQL is 400 INVALID_QUERY_FILTER_OPERATOR 'invalid ID field' "
    "(as real SOQL); a non-id path segment under /sobjects/{type}/ is 404 NOT_FOUND 'Provided external "
    "ID field does not exist or is not accessible'",
    "objects beyond Case/Contact/CaseComment/Account/Entitlement are read-only here "
    "(INVALID_TYPE_FOR_OPERATION, wording assumed)",
    "not modelled: Bulk API, SOSL search, Streaming/Platform Events, Metadata API, record locking, "
    "sharing rules, validation rules, triggers/flows, milestones, field history, duplicate rules",
    "outage (control API): 503 SERVER_UNAVAILABLE on every path, the OAuth token endpoint included, with "
    "Retry-After when the end is known (wording and header assumed); chaos '429' is 403 "
    "REQUEST_LIMIT_EXCEEDED, Salesforce having no 429",
    "agents' UI calls (X-Sandbox-Channel: ui) use none of the daily allocation, as UI activity does not",
)


# ---------------------------------------------------------------------------- ids and time

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")
_ID18 = re.compile(r"^[a-zA-Z0-9]{18}$")


def id_suffix(id15: str) -> str:
    """Salesforce's 3-character case-safety suffix for a 15-character id."""
    out = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out += _SUFFIX[bits]
    return out


def to18(id15: str) -> str:
    return id15 + id_suffix(id15)


def normalize_id(value: Any) -> str | None:
    """The canonical 18-character form of a 15/18-character id, or None if it is not one."""
    if not isinstance(value, str):
        return None
    if _ID15.match(value):
        return to18(value)
    if _ID18.match(value):
        base, suffix = value[:15], value[15:].upper()
        if not all(c in _SUFFIX for c in suffix):
            return None
        fixed = ""
        for chunk in range(3):
            bits = _SUFFIX.index(suffix[chunk])
            for i, ch in enumerate(base[chunk * 5:chunk * 5 + 5]):
                fixed += ch.upper() if bits & (1 << i) else ch.lower() if ch.isalpha() else ch
        return to18(fixed) if to18(fixed)[15:] == suffix else None
    return None


class IdFactory:
    """18-character ids: key prefix, pod, '0', a base-62 counter, checksum (like 0037e00001WZ30qAAD)."""

    def __init__(self) -> None:
        self.pod = secrets.choice("123456789") + secrets.choice("abcdefghjkmnpqrstuvwxyz")
        self._start = 1_000_000 + secrets.randbelow(50_000_000)
        self.reset()

    def reset(self) -> None:
        self._counters: dict[str, Iterator[int]] = {}

    def next(self, prefix: str) -> str:
        offset = int.from_bytes(prefix.encode(), "big") * 7919 % 1_000_003
        counter = self._counters.setdefault(prefix, itertools.count(self._start + offset))
        n, digits = next(counter), ""
        while n:
            n, r = divmod(n, 62)
            digits = BASE62[r] + digits
        return to18(f"{prefix}{self.pod}0{digits.rjust(9, '0')}")


def sf_time(ts: float) -> str:
    """REST datetime: ``2013-05-20T20:49:32.000+0000`` (second precision, as the API reports)."""
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def om_time(value: str) -> str:
    """Outbound-message datetime: ``2017-12-11T21:49:24.000Z``."""
    return value[:23] + "Z" if value.endswith("+0000") else value


_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                    r"(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(value: str) -> float | None:
    match = _DT_RE.match(value.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, _frac, tz = match.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), tzinfo=timezone.utc)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.timestamp()


def parse_date(value: str) -> str | None:
    try:
        return date.fromisoformat(value).isoformat() if re.match(r"^\d{4}-\d{2}-\d{2}$", value) else None
    except ValueError:
        return None


def release_label(major: int) -> str:
    """Release name of an API version (59 -> "Winter '24")."""
    k = major - 59
    return f"{('Winter', 'Spring', 'Summer')[k % 3]} '{24 + k // 3:02d}"


# ---------------------------------------------------------------------------- errors


class SfError(HttpError):
    """An error answer in Salesforce's shape: a JSON array of {message, errorCode[, fields]}."""

    JSON_CT = JSON_CT

    @property
    def first(self) -> dict[str, Any]:
        return self.body[0] if isinstance(self.body, list) and self.body else {}


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> SfError:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return SfError(status, [item])


def not_found(message: str = NOT_FOUND_MSG) -> SfError:
    return sf_error(404, "NOT_FOUND", message)


def oauth_error(error: str, description: str, status: int = 400) -> SfError:
    return SfError(status, {"error": error, "error_description": description},
                   {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})


# ---------------------------------------------------------------------------- describe metadata

FIELD_KEYS = (
    "aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated", "calculatedFormula",
    "cascadeDelete", "caseSensitive", "compoundFieldName", "controllerName", "createable", "custom",
    "defaultValue", "defaultValueFormula", "defaultedOnCreate", "dependentPicklist",
    "deprecatedAndHidden", "digits", "displayLocationInDecimal", "encrypted", "externalId",
    "extraTypeInfo", "filterable", "filteredLookupInfo", "formulaTreatNullNumberAsZero", "groupable",
    "highScaleNumber", "htmlFormatted", "idLookup", "inlineHelpText", "label", "length", "mask",
    "maskType", "name", "nameField", "namePointing", "nillable", "permissionable", "picklistValues",
    "polymorphicForeignKey", "precision", "queryByDistance", "referenceTargetField", "referenceTo",
    "relationshipName", "relationshipOrder", "restrictedDelete", "restrictedPicklist", "scale",
    "searchPrefilterable", "soapType", "sortable", "type", "unique", "updateable",
    "writeRequiresMasterRead")
SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
              "date": "xsd:date", "int": "xsd:int", "double": "xsd:double"}
TEXTUAL = ("string", "picklist", "email", "phone", "url", "textarea")
_FLAGS = (("c", "createable"), ("u", "updateable"), ("n", "nillable"), ("d", "defaultedOnCreate"),
          ("p", "permissionable"), ("s", "searchPrefilterable"), ("i", "idLookup"))


def picklist(values: Iterable[str | tuple[str, str]], default: str | None = None) -> list[dict[str, Any]]:
    out = []
    for v in values:
        value, label = (v, v) if isinstance(v, str) else v
        out.append({"active": True, "defaultValue": value == default, "label": label,
                    "validFor": None, "value": value})
    return out


def fdef(name: str, ftype: str, label: str, length: int = 0, flags: str = "",
         values: list[dict[str, Any]] | None = None, ref: list[str] | None = None,
         rel: str | None = None, **over: Any) -> dict[str, Any]:
    """One describe field: a template by type, flags (c u n d p s i), then explicit overrides.

    The template reproduces every field of the recorded real Case describe exactly.
    """
    textual = ftype in TEXTUAL
    if ftype in ("id", "reference"):
        length = 18
    d: dict[str, Any] = {k: False for k in FIELD_KEYS}
    d.update({"calculatedFormula": None, "compoundFieldName": None, "controllerName": None,
              "defaultValue": None, "defaultValueFormula": None, "digits": 0, "extraTypeInfo": None,
              "filteredLookupInfo": None, "inlineHelpText": None, "label": label, "length": length,
              "mask": None, "maskType": None, "name": name, "picklistValues": values or [],
              "precision": 0, "referenceTargetField": None, "referenceTo": list(ref or []),
              "relationshipName": rel, "relationshipOrder": None, "scale": 0,
              "soapType": SOAP_TYPES.get(ftype, "xsd:string"), "type": ftype,
              "byteLength": length * 3 if textual else (18 if ftype in ("id", "reference") else 0),
              "aggregatable": ftype != "boolean", "groupable": ftype not in ("datetime", "textarea"),
              "sortable": True, "filterable": ftype != "textarea"})
    if ftype == "boolean":
        d["defaultValue"] = False
    if ftype == "textarea":
        d["extraTypeInfo"] = "plaintextarea"
        if length > 4000:
            d["aggregatable"] = d["sortable"] = False
    if ftype == "int":
        d["digits"] = 9
    if ftype == "double":
        d["precision"], d["scale"] = 18, 0
    for letter, key in _FLAGS:
        d[key] = letter in flags
    for p in values or []:
        if p["defaultValue"]:
            d["defaultValue"] = p["value"]
    d.update(over)
    return d


def custom(name: str, ftype: str, label: str, length: int = 0, flags: str = "cunp",
           **over: Any) -> dict[str, Any]:
    return fdef(name, ftype, label, length, flags, custom=True, **over)


def audit_fields() -> list[dict[str, Any]]:
    return [
        fdef("CreatedDate", "datetime", "Created Date", flags="d"),
        fdef("CreatedById", "reference", "Created By ID", flags="d", ref=["User"], rel="CreatedBy"),
        fdef("LastModifiedDate", "datetime", "Last Modified Date", flags="d"),
        fdef("LastModifiedById", "reference", "Last Modified By ID", flags="d", ref=["User"],
             rel="LastModifiedBy"),
        fdef("SystemModstamp", "datetime", "System Modstamp", flags="d"),
    ]


def viewed_fields() -> list[dict[str, Any]]:
    return [fdef("LastViewedDate", "datetime", "Last Viewed Date", flags="n"),
            fdef("LastReferencedDate", "datetime", "Last Referenced Date", flags="n")]


def _case_fields() -> list[dict[str, Any]]:
    standard = [
        fdef("Id", "id", "Case ID", flags="di"),
        fdef("IsDeleted", "boolean", "Deleted", flags="d"),
        fdef("MasterRecordId", "reference", "Master Record ID", flags="n", ref=["Case"], rel="MasterRecord"),
        fdef("CaseNumber", "string", "Case Number", 30, "di", autoNumber=True, groupable=False,
             nameField=True),
        fdef("ContactId", "reference", "Contact ID", flags="cunps", ref=["Contact"], rel="Contact"),
        fdef("AccountId", "reference", "Account ID", flags="cunps", ref=["Account"], rel="Account"),
        fdef("AssetId", "reference", "Asset ID", flags="cunps", ref=["Asset"], rel="Asset"),
        fdef("ParentId", "reference", "Parent Case ID", flags="cunps", ref=["Case"], rel="Parent"),
        fdef("SuppliedName", "string", "Name", 80, "cunp"),
        fdef("SuppliedEmail", "email", "Email Address", 80, "cunp"),
        fdef("SuppliedPhone", "string", "Phone", 40, "cunp"),
        fdef("SuppliedCompany", "string", "Company", 80, "cunp"),
        fdef("Type", "picklist", "Case Type", 40, "cunp",
             picklist(["Mechanical", "Electrical", "Electronic", "Structural", "Other"])),
        fdef("Status", "picklist", "Status", 40, "cund",
             picklist(["New", "Working", "Escalated", "Closed"], "New")),
        fdef("Reason", "picklist", "Case Reason", 40, "cunp",
             picklist(["Installation", "Equipment Complexity", "Performance", "Breakdown",
                       "Equipment Design", "Feedback", "Other"])),
        fdef("Origin", "picklist", "Case Origin", 40, "cunp", picklist(["Phone", "Email", "Web", "Social"])),
        fdef("Subject", "string", "Subject", 255, "cunp"),
        fdef("Priority", "picklist", "Priority", 40, "cundp", picklist(["High", "Medium", "Low"], "Medium")),
        fdef("Description", "textarea", "Description", 32000, "cunp"),
        fdef("IsClosed", "boolean", "Closed", flags="d"),
        fdef("ClosedDate", "datetime", "Closed Date", flags="np"),
        fdef("IsEscalated", "boolean", "Escalated", flags="cudp"),
        fdef("OwnerId", "reference", "Owner ID", flags="cud", ref=["Group", "User"], rel="Owner",
             namePointing=True, polymorphicForeignKey=True),
        *audit_fields(),
        fdef("ContactPhone", "phone", "Contact Phone", 40, "n"),
        fdef("ContactMobile", "phone", "Contact Mobile", 40, "n"),
        fdef("ContactEmail", "email", "Contact Email", 80, "n"),
        fdef("ContactFax", "phone", "Contact Fax", 40, "n"),
        fdef("Comments", "textarea", "Internal Comments", 4000, "cun", byteLength=4000),
        *viewed_fields(),
    ]
    extra = [
        fdef("RecordTypeId", "reference", "Record Type ID", flags="cunp", ref=["RecordType"],
             rel="RecordType"),
        fdef("EntitlementId", "reference", "Entitlement Name", flags="cunps", ref=["Entitlement"],
             rel="Entitlement"),
        fdef("SlaStartDate", "datetime", "Entitlement Process Start Time", flags="cunp"),
        fdef("SlaExitDate", "datetime", "Entitlement Process End Time", flags="np"),
        fdef("IsStopped", "boolean", "Stopped", flags="cudp"),
        fdef("StopStartDate", "datetime", "Stopped Since", flags="np"),
        fdef("MilestoneStatus", "string", "Milestone Status", 30, "n", groupable=False),
    ]
    social = [
        custom("Social_Post_Id__c", "string", "Social Post Id", 255, externalId=True, unique=True,
               caseSensitive=True, idLookup=True),
        custom("Social_Network__c", "picklist", "Social Network", 255,
               values=picklist([("x", "X"), ("facebook", "Facebook"), ("instagram", "Instagram")]),
               restrictedPicklist=True),
        custom("Social_Handle__c", "string", "Social Handle", 255),
        custom("Social_Post_Url__c", "url", "Social Post URL", 255),
        custom("Social_Tags__c", "string", "Social Tags", 255),
    ]
    return standard + extra + social


def _contact_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "Contact ID", flags="di"),
        fdef("IsDeleted", "boolean", "Deleted", flags="d"),
        fdef("MasterRecordId", "reference", "Master Record ID", flags="n", ref=["Contact"],
             rel="MasterRecord"),
        fdef("AccountId", "reference", "Account ID", flags="cunps", ref=["Account"], rel="Account"),
        fdef("LastName", "string", "Last Name", 80, "cup"),
        fdef("FirstName", "string", "First Name", 40, "cunp"),
        fdef("Salutation", "picklist", "Salutation", 40, "cunp",
             picklist(["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."])),
        fdef("Name", "string", "Full Name", 121, "", nameField=True),
        fdef("Phone", "phone", "Business Phone", 40, "cunp"),
        fdef("MobilePhone", "phone", "Mobile Phone", 40, "cunp"),
        fdef("Email", "email", "Email", 80, "cunpi"),
        fdef("Description", "textarea", "Contact Description", 32000, "cunp"),
        fdef("OwnerId", "reference", "Owner ID", flags="cud", ref=["User"], rel="Owner", namePointing=True),
        *audit_fields(),
        *viewed_fields(),
        custom("Social_Handle__c", "string", "Social Handle", 255, externalId=True, idLookup=True),
    ]


def _case_comment_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "Case Comment ID", flags="di"),
        fdef("ParentId", "reference", "Parent ID", flags="c", ref=["Case"], rel="Parent"),
        fdef("IsPublished", "boolean", "Public", flags="cudp"),
        fdef("CommentBody", "textarea", "Body", COMMENT_BYTES, "cunp", byteLength=COMMENT_BYTES),
        fdef("CreatedById", "reference", "Created By ID", flags="d", ref=["User"], rel="CreatedBy"),
        fdef("CreatedDate", "datetime", "Created Date", flags="d"),
        fdef("SystemModstamp", "datetime", "System Modstamp", flags="d"),
        fdef("LastModifiedDate", "datetime", "Last Modified Date", flags="d"),
        fdef("LastModifiedById", "reference", "Last Modified By ID", flags="d", ref=["User"],
             rel="LastModifiedBy"),
        fdef("IsDeleted", "boolean", "Deleted", flags="d"),
        fdef("IsNotificationSelected", "boolean", "Notification Selected", flags="cd", nillable=True),
    ]


def _user_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "User ID", flags="di"),
        fdef("Username", "string", "Username", 80, "i"),
        fdef("LastName", "string", "Last Name", 80),
        fdef("FirstName", "string", "First Name", 40, "n"),
        fdef("Name", "string", "Full Name", 121, nameField=True),
        fdef("Alias", "string", "Alias", 8),
        fdef("Email", "email", "Email", 128),
        fdef("IsActive", "boolean", "Active", flags="d"),
        fdef("UserType", "picklist", "User Type", 40, "n",
             picklist(["Standard", "AutomatedProcess", "CsnOnly"]), restrictedPicklist=True),
        fdef("TimeZoneSidKey", "picklist", "Time Zone", 40, "", picklist(["America/Los_Angeles", "GMT"])),
        *audit_fields(),
    ]


def _group_fields() -> list[dict[str, Any]]:
    return [
        fdef("Id", "id", "Group ID", flags="di"),
        fdef("Name", "string", "Name", 40),
        fdef("DeveloperName", "string", "Developer Name", 80, "n"),
        fdef("Type", "picklist", "Type", 40, "",
             picklist(["Regular", "Queue", "Role", "RoleAndSubordinates", "Organization", "Manager"]),
             restrictedPicklist=True),
        fdef("Email", "email", "Email", 255, "n"),
        fdef("OwnerId", "reference", "Owner ID", flags="d", ref=["User", "Organization"], rel="Owner"),
        fdef("DoesSendEmailToMembers", "boolean", "Send Email to Members", flags="d"),
        fdef("DoesIncludeBosses", "boolean", "Include Bosses", flags="d"),
        *audit_fields(),
    ]


def _simple_object_fields(kind: str) -> list[dict[str, Any]]:
    if kind == "QueueSobject":
        return [fdef("Id", "id", "Queue Sobject ID", flags="di"),
                fdef("QueueId", "reference", "Group ID", ref=["Group"], rel="Queue"),
                fdef("SobjectType", "picklist", "Sobject Type", 40, "", picklist(["Case", "Lead"]),
                     restrictedPicklist=True),
                fdef("CreatedById", "reference", "Created By ID", flags="d", ref=["User"], rel="CreatedBy"),
                fdef("SystemModstamp", "datetime", "System Modstamp", flags="d")]
    if kind == "RecordType":
        return [fdef("Id", "id", "Record Type ID", flags="di"),
                fdef("Name", "string", "Name", 80),
                fdef("DeveloperName", "string", "Record Type Name", 80),
                fdef("NamespacePrefix", "string", "Namespace Prefix", 15, "n"),
                fdef("Description", "string", "Description", 255, "n"),
                fdef("SobjectType", "picklist", "SObject Type Name", 40, "", picklist(["Case", "Account"]),
                     restrictedPicklist=True),
                fdef("IsActive", "boolean", "Active", flags="d"),
                fdef("IsPersonType", "boolean", "Is Person Type", flags="d"),
                *audit_fields()]
    if kind == "AssignmentRule":
        return [fdef("Id", "id", "Assignment Rule ID", flags="di"),
                fdef("Name", "string", "Name", 120, "n"),
                fdef("SobjectType", "picklist", "Sobject Type", 40, "n", picklist(["Case", "Lead"]),
                     restrictedPicklist=True),
                fdef("Active", "boolean", "Active", flags="d"),
                *audit_fields()]
    if kind == "SlaProcess":
        return [fdef("Id", "id", "Entitlement Process ID", flags="di"),
                fdef("Name", "string", "Entitlement Process Name", 120, "i"),
                fdef("NameNorm", "string", "Unique Name", 240),
                fdef("Description", "textarea", "Description", 255, "n"),
                fdef("IsActive", "boolean", "Active", flags="d"),
                fdef("IsVersionDefault", "boolean", "Default Version", flags="d"),
                fdef("VersionNumber", "int", "Version Number", flags="n"),
                fdef("SobjectType", "picklist", "Entitlement Process Type", 40, "n",
                     picklist(["Case", "WorkOrder"]), restrictedPicklist=True),
                fdef("StartDateField", "picklist", "Entitlement Process Start Time", 40, "n",
                     picklist([("Case.CreatedDate", "Created Date")]), restrictedPicklist=True),
                *audit_fields()]
    if kind == "Entitlement":
        return [fdef("Id", "id", "Entitlement ID", flags="di"),
                fdef("IsDeleted", "boolean", "Deleted", flags="d"),
                fdef("Name", "string", "Entitlement Name", 255, "cup", nameField=True),
                fdef("AccountId", "reference", "Account Name", flags="cups", ref=["Account"], rel="Account"),
                fdef("Type", "picklist", "Type", 40, "cunp",
                     picklist(["Phone Support", "Web Support", "Social Support"])),
                fdef("StartDate", "date", "Start Date", flags="cunp"),
                fdef("EndDate", "date", "End Date", flags="cunp"),
                fdef("SlaProcessId", "reference", "Entitlement Process", flags="cunp", ref=["SlaProcess"],
                     rel="SlaProcess"),
                fdef("Status", "picklist", "Status", 40, "n", picklist(["Active", "Expired", "Inactive"])),
                fdef("IsPerIncident", "boolean", "Per Incident", flags="cudp"),
                fdef("CasesPerEntitlement", "int", "Cases Per Entitlement", flags="cunp"),
                fdef("RemainingCases", "int", "Remaining Cases", flags="cunp"),
                *audit_fields(),
                *viewed_fields()]
    if kind == "Account":
        return [fdef("Id", "id", "Account ID", flags="di"),
                fdef("IsDeleted", "boolean", "Deleted", flags="d"),
                fdef("MasterRecordId", "reference", "Master Record ID", flags="n", ref=["Account"],
                     rel="MasterRecord"),
                fdef("Name", "string", "Account Name", 255, "cup", nameField=True),
                fdef("Type", "picklist", "Account Type", 255, "cunp",
                     picklist(["Prospect", "Customer - Direct", "Customer - Channel", "Other"])),
                fdef("Phone", "phone", "Account Phone", 40, "cunp"),
                fdef("Website", "url", "Website", 255, "cunp"),
                fdef("Description", "textarea", "Account Description", 32000, "cunp"),
                fdef("OwnerId", "reference", "Owner ID", flags="cud", ref=["User"], rel="Owner",
                     namePointing=True),
                *audit_fields(),
                *viewed_fields()]
    if kind == "Organization":
        return [fdef("Id", "id", "Organization ID", flags="di"),
                fdef("Name", "string", "Name", 80),
                fdef("Country", "string", "Country", 80, "n"),
                fdef("IsSandbox", "boolean", "Is Sandbox", flags="d"),
                fdef("OrganizationType", "picklist", "Edition", 40, "n",
                     picklist(["Developer Edition", "Enterprise Edition", "Unlimited Edition"])),
                fdef("InstanceName", "string", "Instance Name", 5, "n"),
                fdef("TimeZoneSidKey", "picklist", "Default Time Zone", 40, "", picklist(["GMT"])),
                fdef("DefaultLocaleSidKey", "picklist", "Default Locale", 40, "", picklist(["en_US"])),
                fdef("LanguageLocaleKey", "picklist", "Default Language", 40, "", picklist(["en_US"])),
                *audit_fields()]
    raise KeyError(kind)


@dataclass
class SObjectType:
    """Static description of one object: describe flags, fields, child relationships."""

    name: str
    prefix: str
    label: str
    plural: str
    fields: list[dict[str, Any]]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    feed: bool = False
    layoutable: bool = True
    searchable: bool = True
    children: list[tuple[str, str, str | None, bool]] = field(default_factory=list)


def _catalog() -> dict[str, SObjectType]:
    case_children = [("ActivityHistory", "WhatId", "ActivityHistories", True),
                     ("Attachment", "ParentId", "Attachments", True),
                     ("Case", "ParentId", "Cases", False),
                     ("CaseComment", "ParentId", "CaseComments", True),
                     ("CaseFeed", "ParentId", "Feeds", True),
                     ("CaseHistory", "CaseId", "Histories", True),
                     ("EmailMessage", "ParentId", "EmailMessages", True),
                     ("Task", "WhatId", "Tasks", True)]
    read_only = dict(createable=False, updateable=False, deletable=False)
    objects = [
        SObjectType("Account", "001", "Account", "Accounts", _simple_object_fields("Account"), feed=True,
                    children=[("Case", "AccountId", "Cases", False),
                              ("Contact", "AccountId", "Contacts", False),
                              ("Entitlement", "AccountId", "Entitlements", True)]),
        SObjectType("Contact", "003", "Contact", "Contacts", _contact_fields(), feed=True,
                    children=[("Case", "ContactId", "Cases", False)]),
        SObjectType("Case", "500", "Case", "Cases", _case_fields(), feed=True, children=case_children),
        SObjectType("CaseComment", "00a", "Case Comment", "Case Comments", _case_comment_fields(),
                    layoutable=False, searchable=False),
        SObjectType("Entitlement", "550", "Entitlement", "Entitlements", _simple_object_fields("Entitlement"),
                    feed=True, children=[("Case", "EntitlementId", "Cases", False)]),
        SObjectType("User", "005", "User", "Users", _user_fields(), **read_only),
        SObjectType("Group", "00G", "Group", "Groups", _group_fields(), layoutable=False, **read_only),
        SObjectType("QueueSobject", "03g", "Queue Sobject", "Queue Sobjects",
                    _simple_object_fields("QueueSobject"),
                    layoutable=False, searchable=False, **read_only),
        SObjectType("RecordType", "012", "Record Type", "Record Types", _simple_object_fields("RecordType"),
                    layoutable=False, searchable=False, **read_only),
        SObjectType("AssignmentRule", "01Q", "Assignment Rule", "Assignment Rules",
                    _simple_object_fields("AssignmentRule"), layoutable=False, **read_only),
        SObjectType("SlaProcess", "552", "Entitlement Process", "Entitlement Processes",
                    _simple_object_fields("SlaProcess"), **read_only),
        SObjectType("Organization", "00D", "Organization", "Organizations",
                    _simple_object_fields("Organization"),
                    layoutable=False, searchable=False, **read_only),
    ]
    return {o.name: o for o in objects}


CATALOG: dict[str, SObjectType] = _catalog()
PREFIXES: dict[str, str] = {o.prefix: o.name for o in CATALOG.values()}


@dataclass
class ObjectView:
    """One object as the org currently shows it (custom fields and features switched on or off)."""

    kind: SObjectType
    fields: list[dict[str, Any]]
    by_lower: dict[str, dict[str, Any]]
    rels: dict[str, dict[str, Any]]
    children: dict[str, tuple[str, str, str, bool]]

    @property
    def name(self) -> str:
        return self.kind.name

    def field(self, name: str) -> dict[str, Any] | None:
        return self.by_lower.get(name.lower())


# ---------------------------------------------------------------------------- SOQL


class SoqlError(Exception):
    """A query error; rendered with Salesforce's caret diagram (Row/Column) by ``soql_error``."""

    def __init__(self, code: str, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos


def soql_error(query: str, err: SoqlError) -> SfError:
    if err.pos is None:
        return sf_error(400, err.code, err.message)
    pos = min(max(err.pos, 0), len(query))
    row = query.count("\n", 0, pos) + 1
    line_start = query.rfind("\n", 0, pos) + 1
    line_end = query.find("\n", pos)
    line = query[line_start: line_end if line_end >= 0 else len(query)]
    col = pos - line_start + 1
    text = f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{err.message}"
    status = 400
    return sf_error(status, err.code, text)


@dataclass
class Tok:
    kind: str
    text: str
    pos: int


_TOKEN_RE = re.compile(r"""
 (?P<ws>\s+)
|(?P<string>'(?:[^'\\]|\\.)*')
|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
|(?P<date>\d{4}-\d{2}-\d{2})
|(?P<number>-?\d+(?:\.\d+)?)
|(?P<op>!=|<>|<=|>=|=|<|>)
|(?P<punct>[(),])
|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
""", re.X)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "%": "\\%", "_": "\\_"}


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            bad = text[pos]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {bad}" if bad != '"' else
                            "unexpected token: '\"'", pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, match.group(), pos))
        pos = match.end()
    return out


def unquote(token: str) -> str:
    """A SOQL string literal's value; LIKE wildcards escaped as \\% and \\_ stay escaped."""
    body, out, i = token[1:-1], "", 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal '{token}'. Illegal character "
                                "sequence '\\" + nxt + "' in string literal.")
            out += _ESCAPES[nxt]
            i += 2
        else:
            out += body[i]
            i += 1
    return out


DATE_LITERALS = ("TODAY", "YESTERDAY", "TOMORROW", "THIS_WEEK", "LAST_WEEK", "NEXT_WEEK", "THIS_MONTH",
                 "LAST_MONTH", "NEXT_MONTH", "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_90_DAYS",
                 "NEXT_90_DAYS")


@dataclass
class Lit:
    kind: str  # string number datetime date bool null dateliteral
    value: Any
    pos: int
    text: str


@dataclass
class FieldPath:
    text: str
    pos: int
    chain: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] | None = None
    views: list[str] = field(default_factory=list)


@dataclass
class Subquery:
    rel: str
    query: "Query"
    pos: int
    child_field: str = ""


@dataclass
class Query:
    obj: str
    obj_pos: int
    items: list[FieldPath | Subquery]
    count: bool
    where: Any
    order: list[tuple[FieldPath, bool, bool]]
    limit: int | None
    offset: int | None


class Parser:
    """Recursive-descent parser for the supported SOQL subset."""

    STOP = {"FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "USING"}

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def is_kw(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok is not None and tok.kind == "ident" and tok.text.upper() == word

    def is_punct(self, ch: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "punct" and tok.text == ch

    def unexpected(self) -> SoqlError:
        tok = self.peek()
        if tok is None:
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>", len(self.text))
        return SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise self.unexpected()
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> Tok:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.take()

    def expect_punct(self, ch: str) -> Tok:
        if not self.is_punct(ch):
            raise self.unexpected()
        return self.take()

    def parse(self) -> Query:
        query = self.query()
        if self.peek() is not None:
            raise self.unexpected()
        return query

    def query(self) -> Query:
        self.expect_kw("SELECT")
        items: list[FieldPath | Subquery] = []
        count = False
        while True:
            tok = self.peek()
            if tok is None:
                raise self.unexpected()
            after = self.peek(1)
            if self.is_kw("COUNT") and after is not None and after.text == "(":
                self.take()
                self.take()
                if not self.is_punct(")"):
                    raise SoqlError("MALFORMED_QUERY", "only COUNT() is supported by the sandbox", tok.pos)
                self.take()
                count = True
            elif self.is_punct("("):
                start = self.take()
                sub = self.query()
                self.expect_punct(")")
                items.append(Subquery(sub.obj, sub, start.pos))
            elif tok.kind == "ident" and tok.text.upper() not in self.STOP:
                self.take()
                items.append(FieldPath(tok.text, tok.pos))
            else:
                raise self.unexpected()
            if self.is_punct(","):
                self.take()
                continue
            break
        if count and items:
            raise SoqlError("MALFORMED_QUERY", "COUNT() and other fields cannot be selected together",
                            items[0].pos)
        self.expect_kw("FROM")
        obj = self.take()
        if obj.kind != "ident" or "." in obj.text:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {obj.text}", obj.pos)
        where = None
        if self.is_kw("WHERE"):
            self.take()
            where = self.condition()
        order: list[tuple[FieldPath, bool, bool]] = []
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            while True:
                tok = self.take()
                if tok.kind != "ident":
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
                desc = False
                if self.is_kw("ASC") or self.is_kw("DESC"):
                    desc = self.take().text.upper() == "DESC"
                nulls_first = not desc
                if self.is_kw("NULLS"):
                    self.take()
                    if not (self.is_kw("FIRST") or self.is_kw("LAST")):
                        raise self.unexpected()
                    nulls_first = self.take().text.upper() == "FIRST"
                order.append((FieldPath(tok.text, tok.pos), desc, nulls_first))
                if self.is_punct(","):
                    self.take()
                    continue
                break
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.take()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.take()
            offset = self.integer()
        return Query(obj.text, obj.pos, items, count, where, order, limit, offset)

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
        return int(tok.text)

    def condition(self) -> Any:
        first = self.unary()
        op = None
        if self.is_kw("AND") or self.is_kw("OR"):
            op = self.peek().text.upper()  # type: ignore[union-attr]
        if op is None:
            return first
        items = [first]
        while self.is_kw(op):
            self.take()
            items.append(self.unary())
        other = "OR" if op == "AND" else "AND"
        if self.is_kw(other):
            raise self.unexpected()
        return (op.lower(), items)

    def unary(self) -> Any:
        if self.is_kw("NOT"):
            self.take()
            return ("not", self.unary())
        if self.is_punct("("):
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        tok = self.take()
        if tok.kind != "ident" or tok.text.upper() in ("AND", "OR", "NOT"):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
        path = FieldPath(tok.text, tok.pos)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "op":
            self.take()
            op = "!=" if nxt.text == "<>" else nxt.text
            return ("cmp", path, op, self.value())
        negate = False
        if self.is_kw("NOT"):
            self.take()
            negate = True
            if not self.is_kw("IN"):
                raise self.unexpected()
        if self.is_kw("IN"):
            self.take()
            self.expect_punct("(")
            if self.is_kw("SELECT"):
                raise SoqlError("MALFORMED_QUERY", "semi-join subqueries are not supported by the sandbox",
                                self.peek().pos)  # type: ignore[union-attr]
            values = [self.value()]
            while self.is_punct(","):
                self.take()
                values.append(self.value())
            self.expect_punct(")")
            return ("in", path, negate, values)
        if self.is_kw("LIKE"):
            self.take()
            return ("like", path, self.value())
        raise self.unexpected()

    def value(self) -> Lit:
        tok = self.take()
        if tok.kind == "string":
            return Lit("string", unquote(tok.text), tok.pos, tok.text)
        if tok.kind == "number":
            return Lit("number", float(tok.text), tok.pos, tok.text)
        if tok.kind == "datetime":
            parsed = parse_datetime(tok.text)
            if parsed is None:
                raise SoqlError("MALFORMED_QUERY", f"line 1:{tok.pos} no viable alternative at character ' '",
                                tok.pos)
            return Lit("datetime", parsed, tok.pos, tok.text)
        if tok.kind == "date":
            if parse_date(tok.text) is None:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
            return Lit("date", tok.text, tok.pos, tok.text)
        if tok.kind == "ident":
            word = tok.text.upper()
            if word == "NULL":
                return Lit("null", None, tok.pos, tok.text)
            if word in ("TRUE", "FALSE"):
                return Lit("bool", word == "TRUE", tok.pos, tok.text)
            name, _, n = word.partition(":")
            if name in DATE_LITERALS and bool(n) == (name in ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO")):
                return Lit("dateliteral", (name, int(n) if n else 0), tok.pos, tok.text)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)


def date_literal_range(name: str, n: int, now: float) -> tuple[float, float]:
    """[start, end) in epoch seconds (UTC days) for a SOQL date literal."""
    today = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    month_start = today.replace(day=1)

    def add_months(d: datetime, k: int) -> datetime:
        m = d.month - 1 + k
        return d.replace(year=d.year + m // 12, month=m % 12 + 1, day=1)

    ranges = {
        "TODAY": (today, today + day), "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week_start, week_start + 7 * day), "LAST_WEEK": (week_start - 7 * day, week_start),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "THIS_MONTH": (month_start, add_months(month_start, 1)),
        "LAST_MONTH": (add_months(month_start, -1), month_start),
        "NEXT_MONTH": (add_months(month_start, 1), add_months(month_start, 2)),
        "LAST_N_DAYS": (today - n * day, today + day), "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_90_DAYS": (today - 90 * day, today + day), "NEXT_90_DAYS": (today + day, today + 91 * day),
    }
    start, end = ranges[name]
    return start.timestamp(), end.timestamp()


STRINGY = ("string", "picklist", "email", "phone", "url", "textarea", "combobox", "multipicklist")
NUMERIC = ("int", "double", "currency", "percent")
TYPE_WORDS = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "int", "double": "double"}
NO_COLUMN = ("No such column '{name}' on entity '{obj}'. If you are attempting to use a custom field, be "
             "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
             "describe call for the appropriate names.")
NO_RELATION = ("Didn't understand relationship '{name}' in field path. If you are attempting to use a "
               "custom relationship, be sure to append the '__r' after the custom relationship name. "
               "Please reference your WSDL or the describe call for the appropriate names.")
NO_TYPE = ("sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure "
           "to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
           "the appropriate names.")
NO_CHILD = ("Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to "
            "use a custom relationship, be sure to append the '__r' after the custom relationship name. "
            "Please reference your WSDL or the describe call for the appropriate names.")


class Soql:
    """Binds a parsed query to the org's schema, then filters, orders and renders records."""

    def __init__(self, state: "SalesforceState") -> None:
        self.state = state
        self.now = state.clock.now()

    # ----------------------------------------------------------- binding

    def bind(self, q: Query) -> ObjectView:
        view = self.state.view_ci(q.obj)
        if view is None:
            raise SoqlError("INVALID_TYPE", NO_TYPE.format(name=q.obj), q.obj_pos)
        q.obj = view.name
        for item in q.items:
            if isinstance(item, FieldPath):
                self.resolve(view, item)
            else:
                child = view.children.get(item.rel.lower())
                child_view = self.state.view(child[0]) if child else None
                if child is None or child_view is None:
                    raise SoqlError("INVALID_TYPE", NO_CHILD.format(name=item.rel), item.query.obj_pos)
                item.rel, item.child_field = child[2], child[1]
                item.query.obj = child_view.name
                self.bind(item.query)
        if q.where is not None:
            self.bind_condition(view, q.where)
        for path, _desc, _nulls in q.order:
            self.resolve(view, path, sort=True)
        return view

    def resolve(self, view: ObjectView, path: FieldPath, filter_: bool = False, sort: bool = False) -> None:
        parts = path.text.split(".")
        if len(parts) > 1 and parts[0].lower() == view.name.lower():
            parts = parts[1:]
        views = [view]
        chain: list[dict[str, Any]] = []
        for part in parts[:-1]:
            ref = next((v.rels[part.lower()] for v in views if part.lower() in v.rels), None)
            targets = [self.state.view(t) for t in (ref or {}).get("referenceTo", [])]
            views = [t for t in targets if t is not None]
            if ref is None or not views:
                raise SoqlError("INVALID_FIELD", NO_RELATION.format(name=part), path.pos)
            chain.append(ref)
        target = next((v.field(parts[-1]) for v in views if v.field(parts[-1]) is not None), None)
        if target is None:
            owner = "Name" if chain and chain[-1]["polymorphicForeignKey"] else views[0].name
            raise SoqlError("INVALID_FIELD", NO_COLUMN.format(name=parts[-1], obj=owner), path.pos)
        if filter_ and not target["filterable"]:
            raise SoqlError("INVALID_FIELD", f"field '{target['name']}' can not be filtered in a query call",
                            path.pos)
        if sort and not target["sortable"]:
            raise SoqlError("INVALID_FIELD", f"field '{target['name']}' can not be sorted in a query call",
                            path.pos)
        path.chain, path.target, path.views = chain, target, [v.name for v in views]

    def bind_condition(self, view: ObjectView, node: Any) -> None:
        kind = node[0]
        if kind in ("and", "or"):
            for child in node[1]:
                self.bind_condition(view, child)
        elif kind == "not":
            self.bind_condition(view, node[1])
        elif kind == "cmp":
            self.resolve(view, node[1], filter_=True)
            self.check_literal(node[1], node[3], node[2])
        elif kind == "in":
            self.resolve(view, node[1], filter_=True)
            for lit in node[3]:
                self.check_literal(node[1], lit, "=")
        elif kind == "like":
            self.resolve(view, node[1], filter_=True)
            target = node[1].target
            if target["type"] not in STRINGY or node[2].kind != "string":
                raise SoqlError("INVALID_FIELD", f"invalid operator on {target['type']} field: LIKE",
                                node[1].pos)

    def check_literal(self, path: FieldPath, lit: Lit, op: str) -> None:
        f = path.target or {}
        ftype, name = f["type"], f["name"]
        if lit.kind == "null":
            if op not in ("=", "!="):
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: {lit.text}", lit.pos)
            return
        if ftype in ("id", "reference"):
            norm = normalize_id(lit.value) if lit.kind == "string" else None
            if norm is None:
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR",
                                f"invalid ID field: {lit.value if lit.kind == 'string' else lit.text}",
                                lit.pos)
            lit.value = norm
            return
        quoted = lit.kind == "string"
        expected = {"datetime": ("datetime", "dateliteral"), "date": ("date", "dateliteral"),
                    "boolean": ("bool",)}.get(ftype, ("number",) if ftype in NUMERIC else ("string",))
        if lit.kind not in expected:
            word = TYPE_WORDS.get(ftype, "string")
            how = "should be enclosed in quotes" if word == "string" else "should not be enclosed in quotes"
            raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type "
                            f"{word} and {how}", lit.pos if quoted or word == "string" else lit.pos)

    # ----------------------------------------------------------- evaluation

    def get(self, obj: str, rec: Mapping[str, Any], path: FieldPath) -> Any:
        cur_type, cur = obj, rec
        for ref in path.chain:
            cur_type, cur = self.state.related(cur_type, cur, ref["name"])
            if cur is None:
                return None
        view = self.state.view(cur_type)
        if view is None or view.field(path.target["name"]) is None:  # type: ignore[index]
            return None
        return self.state.value(cur_type, cur, path.target["name"])  # type: ignore[index]

    @staticmethod
    def norm(f: Mapping[str, Any], value: Any) -> Any:
        if value is None:
            return None
        ftype = f["type"]
        if ftype in STRINGY:
            return str(value) if f.get("caseSensitive") else str(value).casefold()
        if ftype == "datetime":
            return parse_datetime(value) if isinstance(value, str) else value
        if ftype in NUMERIC:
            return float(value)
        return value

    def matches(self, obj: str, rec: Mapping[str, Any], node: Any) -> bool:
        kind = node[0]
        if kind == "and":
            return all(self.matches(obj, rec, c) for c in node[1])
        if kind == "or":
            return any(self.matches(obj, rec, c) for c in node[1])
        if kind == "not":
            return not self.matches(obj, rec, node[1])
        path = node[1]
        value = self.get(obj, rec, path)
        if kind == "cmp":
            return self.compare(path.target, value, node[2], node[3])
        if kind == "in":
            hit = any(self.compare(path.target, value, "=", lit) for lit in node[3])
            return (not hit) if node[2] else hit
        if kind == "like":
            if value is None:
                return False
            return like_regex(node[2].value).fullmatch(str(value)) is not None
        raise AssertionError(kind)

    def compare(self, f: Mapping[str, Any], value: Any, op: str, lit: Lit) -> bool:
        if lit.kind == "null":
            return (value is None) == (op == "=")
        if value is None:
            return op == "!="
        if lit.kind == "dateliteral":
            start, end = date_literal_range(lit.value[0], lit.value[1], self.now)
            if f["type"] == "date":
                v = datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()
            else:
                v = self.norm(f, value)
            inside = start <= v < end
            return {"=": inside, "!=": not inside, "<": v < start, "<=": v < end, ">": v >= end,
                    ">=": v >= start}[op]
        a = self.norm(f, value)
        b = lit.value if lit.kind in ("datetime", "number", "bool") else self.norm(f, lit.value)
        if f["type"] in ("id", "reference"):
            b = lit.value
        try:
            return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            return False

    def order(self, obj: str, rows: list[dict[str, Any]],
              order: list[tuple[FieldPath, bool, bool]]) -> list[dict[str, Any]]:
        for path, desc, nulls_first in reversed(order):
            keyed = [(self.norm(path.target, self.get(obj, r, path)),
                      r) for r in rows]  # type: ignore[arg-type]
            nulls = [r for k, r in keyed if k is None]
            values = [(k, r) for k, r in keyed if k is not None]
            values.sort(key=lambda kr: kr[0], reverse=desc)
            ordered = [r for _, r in values]
            rows = nulls + ordered if nulls_first else ordered + nulls
        return rows

    def select(self, q: Query, include_deleted: bool,
               parent: tuple[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
        """(matching records, totalSize) for a bound query (or a child subquery of ``parent``)."""
        rows = [r for r in self.state.records.get(q.obj, {}).values()
                if include_deleted or not r.get("IsDeleted")]
        if parent is not None:
            rows = [r for r in rows if r.get(parent[0]) == parent[1]]
        if q.where is not None:
            rows = [r for r in rows if self.matches(q.obj, r, q.where)]
        if q.order:
            rows = self.order(q.obj, rows, q.order)
        if q.offset:
            rows = rows[q.offset:]
        if q.limit is not None:
            rows = rows[:q.limit]
        return rows, len(rows)

    def render(self, q: Query, rec: Mapping[str, Any], version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.state.attributes(q.obj, rec["Id"], version)}
        for item in q.items:
            if isinstance(item, FieldPath):
                self.put(out, q.obj, rec, item.chain, item.target, version)  # type: ignore[arg-type]
            else:
                children, total = self.select(item.query, False, (item.child_field, rec["Id"]))
                out[item.rel] = None if not children else {
                    "totalSize": total, "done": True,
                    "records": [self.render(item.query, c, version) for c in children]}
        return out

    def put(self, out: dict[str, Any], obj: str, rec: Mapping[str, Any], chain: list[dict[str, Any]],
            target: Mapping[str, Any], version: str) -> None:
        if not chain:
            view = self.state.view(obj)
            present = view is not None and view.field(target["name"]) is not None
            out[target["name"]] = self.state.value(obj, rec, target["name"]) if present else None
            return
        ref = chain[0]
        key = ref["relationshipName"]
        rtype, related = self.state.related(obj, rec, ref["name"])
        if related is None or rtype is None:
            out.setdefault(key, None)
            return
        node = out.get(key)
        if not isinstance(node, dict):
            attrs = self.state.attributes(rtype, related["Id"], version)
            if ref["polymorphicForeignKey"]:
                attrs["type"] = "Name"
            node = out[key] = {"attributes": attrs}
        self.put(node, rtype, related, chain[1:], target, version)


def like_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        out += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.compile(out, re.IGNORECASE | re.DOTALL)


# ---------------------------------------------------------------------------- state


@dataclass
class Session:
    user_id: str
    issued: float
    last_used: float
    static: bool = False
    expired: bool = False


@dataclass
class OutboundAction:
    """A registered outbound message: where Case notifications go and which fields they carry."""

    id: str
    url: str
    fields: list[str]
    send_session_id: bool = True
    retry_initial: float = OM_RETRY_INITIAL
    retry_max: float = OM_RETRY_MAX
    exclude_user_ids: list[str] = field(default_factory=list)
    name: str = "Socialdesk_Case_Changed"

    def json(self) -> dict[str, Any]:
        return {"action_id": self.id, "url": self.url, "object": "Case", "fields": list(self.fields),
                "send_session_id": self.send_session_id, "retry_initial": self.retry_initial,
                "retry_max": self.retry_max, "exclude_user_ids": list(self.exclude_user_ids),
                "name": self.name}


@dataclass
class Delivery:
    """One SOAP message (up to 100 notifications) and its attempts."""

    id: int
    action_id: str
    notifications: list[tuple[str, str]]  # (notification id, case id)
    created: float
    next_at: float = 0.0
    status: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    body: str = ""

    def json(self) -> dict[str, Any]:
        last = self.attempts[-1] if self.attempts else {}
        return {"id": self.id, "action_id": self.action_id, "status": self.status,
                "notification_ids": [n for n, _ in self.notifications],
                "case_ids": [c for _, c in self.notifications], "attempts": len(self.attempts),
                "status_code": last.get("status_code"), "error": last.get("error"),
                "acked": self.status == "delivered", "body": self.body,
                "history": list(self.attempts)}


def _token_chars(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
    return "".join(secrets.choice(alphabet) for _ in range(n))


class SalesforceState:
    """The whole org in memory. Public methods expect ``self.lock`` held unless noted."""

    def __init__(self, base_url: str, settings: Mapping[str, Any]) -> None:
        self.lock = threading.RLock()
        self.om_cond = threading.Condition(self.lock)
        self.base_url = base_url.rstrip("/")
        self.clock = Clock()
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.outage = Outage(self.clock)
        self.ids = IdFactory()
        self.org_id = self.ids.next("00D")
        self.org15 = self.org_id[:15]
        self.generation = 0
        domain = str(settings.get("email_domain", "sandbox.example.com"))
        self.credentials = {
            "api": {"username": str(settings.get("api_username", f"socialdesk-integration@{domain}")),
                    "password": secrets.token_urlsafe(12),
                    "security_token": _token_chars(24).replace(".", "x")},
            "agent": {"username": str(settings.get("agent_username", f"alex.agent@{domain}")),
                      "password": secrets.token_urlsafe(12),
                      "security_token": _token_chars(24).replace(".", "x")},
        }
        self.client_id = "3MVG9" + _token_chars(80)
        self.client_secret = secrets.token_hex(32).upper()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwt_public_key = key.public_key()
        self.jwt_private_pem = key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()
        self.jwt_public_pem = self.jwt_public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.sessions: dict[str, Session] = {}
        self.dispatcher = OutboundDispatcher(self)
        self.reset()
        now = self.clock.now()
        self.static_tokens = {}
        for who in ("api", "agent"):
            token = f"{self.org15}!AQ{_token_chars(94)}"
            self.sessions[token] = Session(self.user_ids[who], now, now, static=True)
            self.static_tokens[who] = token

    # ----------------------------------------------------------- reset / seed

    def reset(self) -> None:
        """Forget everything but credentials and sessions; seeds come back with the same ids."""
        self.generation += 1
        self.clock.reset()
        self.ids.reset()
        self.ids.next("00D")
        self.settings: dict[str, Any] = {"custom_fields": True, "entitlement_management": True,
                                         "query_page_size": QUERY_PAGE}
        self._views: dict[str, ObjectView | None] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in CATALOG}
        self.case_numbers = itertools.count(1001)
        self.daily_limit = DAILY_API_DEFAULT
        self.daily_window = DAILY_WINDOW
        self.edition, self.licenses = "developer", 0
        self.chaos.clear()
        self.chaos.reseed(self.chaos.seed)
        self.outage.clear()
        self.api_calls: deque[float] = deque()
        self.locators: dict[str, dict[str, Any]] = {}
        self.request_log: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.actions: dict[str, OutboundAction] = {}
        self.om_queue: list[tuple[str, str, str, float]] = []  # (notification id, action id, case id, at)
        self.deliveries: list[Delivery] = []
        self.delivery_ids = itertools.count(1)
        self.rule_entries: dict[str, list[dict[str, Any]]] = {}
        for session in self.sessions.values():
            if session.static:
                session.expired = False
        self._seed()
        with self.om_cond:
            self.om_cond.notify_all()

    def _put(self, kind: str, values: Mapping[str, Any], rid: str | None = None,
             user: str | None = None) -> str:
        now = sf_time(self.clock.now())
        rid = rid or self.ids.next(CATALOG[kind].prefix)
        rec = {"Id": rid, **values}
        names = {f["name"] for f in CATALOG[kind].fields}
        if "IsDeleted" in names:
            rec.setdefault("IsDeleted", False)
        for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if stamp in names:
                rec.setdefault(stamp, now)
        for who in ("CreatedById", "LastModifiedById"):
            if who in names and user:
                rec.setdefault(who, user)
        self.records[kind][rid] = rec
        return rid

    def _seed(self) -> None:
        now = self.clock.now()
        api_id, agent_id = self.ids.next("005"), self.ids.next("005")
        self.user_ids = {"api": api_id, "agent": agent_id}
        self._put("Organization", {"Name": "Socialdesk Sandbox", "Country": "US", "IsSandbox": False,
                                   "OrganizationType": "Developer Edition", "InstanceName": "SBX1",
                                   "TimeZoneSidKey": "GMT", "DefaultLocaleSidKey": "en_US",
                                   "LanguageLocaleKey": "en_US"}, rid=self.org_id, user=api_id)
        for rid, who, first, last, alias in ((api_id, "api", "Socialdesk", "Integration", "sdint"),
                                             (agent_id, "agent", "Alex", "Agent", "aagent")):
            username = self.credentials[who]["username"]
            self._put("User", {"Username": username, "FirstName": first, "LastName": last, "Alias": alias,
                               "Email": username, "IsActive": True, "UserType": "Standard",
                               "TimeZoneSidKey": "GMT"}, rid=rid, user=api_id)
        self.queue_id = self._put("Group", {"Name": "Social Care Queue", "DeveloperName": "Social_Care_Queue",
                                            "Type": "Queue", "Email": "social-care@sandbox.example.com",
                                            "OwnerId": api_id, "DoesSendEmailToMembers": False,
                                            "DoesIncludeBosses": False}, user=api_id)
        self._put("QueueSobject", {"QueueId": self.queue_id, "SobjectType": "Case"}, user=api_id)
        self.record_type_ids = {}
        for dev, name, desc in (("Social_Care", "Social Care", "Cases opened from social networks"),
                                ("Support", "Support", "Phone, email and web support")):
            self.record_type_ids[dev] = self._put("RecordType", {
                "Name": name, "DeveloperName": dev, "NamespacePrefix": None, "Description": desc,
                "SobjectType": "Case", "IsActive": True, "IsPersonType": False}, user=api_id)
        self.assignment_rule_id = self._put("AssignmentRule",
                                            {"Name": "Social Care Routing", "SobjectType": "Case",
                                                               "Active": True}, user=api_id)
        self.rule_entries[self.assignment_rule_id] = [
            {"criteria": [("Origin", "Social")], "assign_to": self.queue_id}]
        self.settings["default_case_owner"] = agent_id
        self.sla_process_id = self._put("SlaProcess", {
            "Name": "Social Care SLA", "NameNorm": "social_care_sla",
            "Description": "First reply within 1 hour",
            "IsActive": True, "IsVersionDefault": True, "VersionNumber": 1, "SobjectType": "Case",
            "StartDateField": "Case.CreatedDate"}, user=api_id)
        self.account_id = self._put("Account", {"Name": "Social Customers", "Type": "Customer - Direct",
                                                "OwnerId": api_id}, user=api_id)
        today = datetime.fromtimestamp(now, timezone.utc).date()
        self.entitlement_ids = {}
        for name, kind, start, end in (
                ("Social Care Standard", "Social Support", today - timedelta(days=30),
                 today + timedelta(days=335)),
                ("Social Care Premium", "Social Support", today - timedelta(days=30),
                 today + timedelta(days=335)),
                ("Legacy Phone Support", "Phone Support", today - timedelta(days=400),
                 today - timedelta(days=35))):
            self.entitlement_ids[name] = self._put("Entitlement", {
                "Name": name, "AccountId": self.account_id, "Type": kind, "StartDate": start.isoformat(),
                "EndDate": end.isoformat(), "SlaProcessId": self.sla_process_id, "IsPerIncident": False,
                "CasesPerEntitlement": None, "RemainingCases": None}, user=api_id)

    def info(self) -> dict[str, Any]:
        api, agent = self.credentials["api"], self.credentials["agent"]
        return {"username": agent["username"], "token": self.static_tokens["agent"],
                "password": agent["password"], "security_token": agent["security_token"],
                "user_id": self.user_ids["agent"],
                "api_username": api["username"], "api_token": self.static_tokens["api"],
                "api_password": api["password"], "api_security_token": api["security_token"],
                "api_user_id": self.user_ids["api"],
                "client_id": self.client_id, "client_secret": self.client_secret,
                "jwt_private_key_pem": self.jwt_private_pem, "jwt_public_key_pem": self.jwt_public_pem,
                "login_url": self.base_url, "instance_url": self.base_url, "api_version": API_VERSION,
                "organization_id": self.org_id, "queue_id": self.queue_id,
                "record_types": dict(self.record_type_ids), "assignment_rule_id": self.assignment_rule_id,
                "entitlements": dict(self.entitlement_ids), "account_id": self.account_id,
                "custom_fields": {"Case": [f for f in SOCIAL_FIELDS], "Contact": ["Social_Handle__c"]}}

    # ----------------------------------------------------------- schema views

    def view(self, name: str) -> ObjectView | None:
        if name not in self._views:
            kind = CATALOG.get(name)
            self._views[name] = self._build_view(kind) if kind is not None else None
        return self._views[name]

    def view_ci(self, name: str) -> ObjectView | None:
        canonical = next((n for n in CATALOG if n.lower() == name.lower()), None)
        return self.view(canonical) if canonical else None

    def _build_view(self, kind: SObjectType) -> ObjectView | None:
        ents = bool(self.settings["entitlement_management"])
        if not ents and kind.name in ("Entitlement", "SlaProcess"):
            return None
        fields = []
        for f in kind.fields:
            if f["custom"] and f["name"] in SOCIAL_FIELDS and not self.settings["custom_fields"]:
                continue
            if kind.name == "Case" and f["name"] in ENTITLEMENT_FIELDS and not ents:
                continue
            fields.append(f)
        rels = {f["relationshipName"].lower(): f for f in fields
                if f["type"] == "reference" and f["relationshipName"]}
        children = {c[2].lower(): c for c in kind.children
                    if c[2] and (ents or c[1] != "EntitlementId") and (ents or c[0] != "Entitlement")}
        return ObjectView(kind, fields, {f["name"].lower(): f for f in fields}, rels,
                          children)  # type: ignore[arg-type]

    def set_settings(self, changes: Mapping[str, Any]) -> None:
        for key, value in changes.items():
            if key in ("custom_fields", "entitlement_management"):
                self.settings[key] = bool(value)
            elif key == "query_page_size":
                self.settings[key] = max(1, int(value))
            elif key == "default_case_owner":
                self.settings[key] = normalize_id(value) or self.settings[key]
            else:
                raise KeyError(key)
        self._views.clear()

    # ----------------------------------------------------------- values

    def value(self, kind: str, rec: Mapping[str, Any], name: str) -> Any:
        """A field's value as the API shows it (formula-like fields computed)."""
        if kind in ("Contact", "User") and name == "Name":
            return " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        if kind == "Case" and name in ("ContactPhone", "ContactMobile", "ContactEmail", "ContactFax"):
            _, contact = self.related("Case", rec, "ContactId")
            source = {"ContactPhone": "Phone", "ContactMobile": "MobilePhone",
                      "ContactEmail": "Email"}.get(name)
            return contact.get(source) if contact is not None and source else None
        if kind == "Entitlement" and name == "Status":
            today = datetime.fromtimestamp(self.clock.now(), timezone.utc).date().isoformat()
            if rec.get("StartDate") and today < rec["StartDate"]:
                return "Inactive"
            if rec.get("EndDate") and today > rec["EndDate"]:
                return "Expired"
            return "Active"
        if kind == "CaseComment" and name == "IsNotificationSelected":
            return None
        return rec.get(name)

    def related(self, kind: str, rec: Mapping[str, Any],
                name: str) -> tuple[str | None, dict[str, Any] | None]:
        rid = rec.get(name)
        if not isinstance(rid, str):
            return None, None
        rtype = PREFIXES.get(rid[:3])
        target = self.records.get(rtype or "", {}).get(rid)
        if target is None or target.get("IsDeleted") or self.view(rtype or "") is None:
            return None, None
        return rtype, target

    def attributes(self, kind: str, rid: str, version: str) -> dict[str, Any]:
        return {"type": kind, "url": f"/services/data/v{version}/sobjects/{kind}/{rid}"}

    def render(self, kind: str, rec: Mapping[str, Any], version: str,
               only: Iterable[str] | None = None) -> dict[str, Any]:
        view = self.view(kind)
        assert view is not None
        out: dict[str, Any] = {"attributes": self.attributes(kind, rec["Id"], version)}
        wanted = None if only is None else {n.lower() for n in only}
        for f in view.fields:
            if wanted is None or f["name"].lower() in wanted:
                out[f["name"]] = self.value(kind, rec, f["name"])
        return out

    def must_view(self, name: str) -> ObjectView:
        view = self.view(name)
        if view is None:
            raise not_found()
        return view

    def live(self, kind: str, rid: str) -> dict[str, Any]:
        norm = normalize_id(rid)
        if norm is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {rid}")
        rec = self.records[kind].get(norm)
        if rec is None:
            raise not_found()
        if rec.get("IsDeleted"):
            raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        return rec

    # ----------------------------------------------------------- field values on write

    def coerce(self, view: ObjectView, f: Mapping[str, Any], raw: Any) -> Any:
        name, label, ftype = f["name"], f["label"], f["type"]
        if isinstance(raw, str) and raw == "" and ftype != "boolean":
            raw = None
        if raw is None:
            if ftype == "boolean":
                return False
            if not f["nillable"]:
                raise sf_error(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]",
                               [name])
            return None
        if ftype in ("id", "reference"):
            rid = normalize_id(raw)
            if rid is None:
                raise sf_error(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", [name])
            if name == "RecordTypeId":
                rt = self.records["RecordType"].get(rid)
                if rt is None or rt.get("SobjectType") != view.name or not rt.get("IsActive"):
                    raise sf_error(400, "INVALID_CROSS_REFERENCE_KEY",
                                   f"Record Type ID: this ID value isn't valid for the user: {raw}", [name])
                return rid
            rtype = PREFIXES.get(rid[:3])
            target = self.records.get(rtype or "", {}).get(rid)
            if rtype not in f["referenceTo"] or target is None or target.get("IsDeleted"):
                raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION",
                               f"{label}: id value of incorrect type: {raw}", [name])
            return rid
        if ftype == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise self._parse_error("boolean", raw)
        if ftype in NUMERIC:
            if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
                raise self._parse_error(ftype, raw)
            try:
                number = float(raw)
            except ValueError:
                raise self._parse_error(ftype, raw) from None
            return int(number) if ftype == "int" else number
        if ftype == "datetime":
            ts = parse_datetime(raw) if isinstance(raw, str) else None
            if ts is None:
                raise self._parse_error("datetime", raw)
            return sf_time(ts)
        if ftype == "date":
            value = parse_date(raw[:10]) if isinstance(raw, str) else None
            if value is None:
                raise self._parse_error("date", raw)
            return value
        if isinstance(raw, (dict, list)):
            raise self._parse_error("string", raw)
        value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        allowed = {p["value"] for p in f["picklistValues"]}
        if ftype == "picklist" and f["restrictedPicklist"] and value not in allowed:
            raise sf_error(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{label}: bad value for restricted picklist field: {value}", [name])
        in_bytes = (view.name, name) == ("CaseComment", "CommentBody")
        too_long = (len(value.encode()) if in_bytes else len(value)) > f["length"]
        if f["length"] and too_long:
            shown = value if len(value) <= 100 else value[:100] + "..."
            raise sf_error(400, "STRING_TOO_LONG",
                           f"{label}: data value too large: {shown} (max length={f['length']})", [name])
        if ftype == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise sf_error(400, "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [name])
        return value

    @staticmethod
    def _parse_error(kind: str, raw: Any) -> SfError:
        token = ("VALUE_STRING" if isinstance(raw, str) else "START_OBJECT" if isinstance(raw, dict)
                 else "START_ARRAY" if isinstance(raw, list) else "VALUE_TRUE" if isinstance(raw, bool)
                 else "VALUE_NUMBER_INT" if isinstance(raw, int) else "VALUE_NUMBER_FLOAT")
        return sf_error(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from {token} value "
                        f"{raw} or request may be missing a required field")

    def _changes(self, view: ObjectView, body: Any, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise sf_error(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of sObject from the request "
                           "body: a JSON object is expected")
        chosen: dict[str, Any] = {}
        refused: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = view.field(key)
            if f is None:
                raise sf_error(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {view.name}")
            if creating and f["name"] == "Id":
                raise sf_error(400, "INVALID_FIELD", "cannot specify Id in an insert call", [])
            if not (f["createable"] if creating else f["updateable"]):
                refused.append(f["name"])
                continue
            chosen[f["name"]] = raw
        if refused:
            raise sf_error(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                           f"Unable to create/update fields: {', '.join(refused)}. Please check the security "
                           "settings of this field and verify that it is read/write for your profile or "
                           "permission set.", refused)
        return {name: self.coerce(view, view.by_lower[name.lower()], raw) for name, raw in chosen.items()}

    def _check_unique(self, view: ObjectView, rec: Mapping[str, Any]) -> None:
        for f in view.fields:
            if not f["unique"] or rec.get(f["name"]) is None:
                continue
            mine = self._match_key(f, rec[f["name"]])
            for other in self.records[view.name].values():
                if other["Id"] != rec.get("Id") and not other.get("IsDeleted") \
                        and other.get(f["name"]) is not None and self._match_key(f, other[f["name"]]) == mine:
                    raise sf_error(400, "DUPLICATE_VALUE", f"duplicate value found: {f['name']} duplicates "
                                   f"value on record with id: {other['Id']}", [])

    @staticmethod
    def _match_key(f: Mapping[str, Any], value: Any) -> Any:
        if f["type"] in ("id", "reference"):
            return normalize_id(value)
        if isinstance(value, str) and not f["caseSensitive"]:
            return value.casefold()
        return value

    def find_by(self, view: ObjectView, f: Mapping[str, Any], value: Any) -> list[dict[str, Any]]:
        key = self._match_key(f, value)
        return [r for r in self.records[view.name].values()
                if not r.get("IsDeleted") and r.get(f["name"]) is not None
                and self._match_key(f, r[f["name"]]) == key]

    # ----------------------------------------------------------- writes

    def insert(self, kind: str, body: Any, user: str, auto_assign: str | None = None) -> str:
        view = self.must_view(kind)
        if not view.kind.createable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {kind}")
        changes = self._changes(view, body, creating=True)
        rec: dict[str, Any] = {}
        for f in view.fields:
            if f["type"] == "boolean" and f["name"] != "IsNotificationSelected":
                rec[f["name"]] = False
            elif f["createable"] and f["defaultedOnCreate"] and f["defaultValue"] is not None:
                rec[f["name"]] = f["defaultValue"]
        rec.update(changes)
        if view.field("OwnerId") is not None and rec.get("OwnerId") is None:
            rec["OwnerId"] = user
        missing = [f["name"] for f in view.fields if f["createable"] and not f["nillable"]
                   and not f["defaultedOnCreate"] and f["type"] != "boolean" and rec.get(f["name"]) is None]
        if missing:
            raise sf_error(400, "REQUIRED_FIELD_MISSING",
                           f"Required fields are missing: [{', '.join(missing)}]",
                           missing)
        self._check_unique(view, rec)
        now = self.clock.now()
        if kind == "Case":
            rec["CaseNumber"] = f"{next(self.case_numbers):08d}"
            self._case_status(rec, now)
            if rec.get("EntitlementId") and not rec.get("SlaStartDate"):
                rec["SlaStartDate"] = sf_time(now)
            self._assign(rec, auto_assign)
        stamp = sf_time(now)
        rec.update({"Id": self.ids.next(view.kind.prefix), "CreatedDate": stamp, "CreatedById": user,
                    "LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
        if view.field("IsDeleted") is not None:
            rec["IsDeleted"] = False
        self.records[kind][rec["Id"]] = rec
        self._after_write(kind, rec, user)
        return rec["Id"]

    def update(self, kind: str, rid: str, body: Any, user: str) -> dict[str, Any]:
        view = self.must_view(kind)
        rec = self.live(kind, rid)
        if not view.kind.updateable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {kind}")
        changes = self._changes(view, body, creating=False)
        new = {**rec, **changes}
        self._check_unique(view, new)
        now = self.clock.now()
        if kind == "Case":
            if "Status" in changes:
                self._case_status(new, now, rec.get("IsClosed", False))
            if changes.get("EntitlementId") and not new.get("SlaStartDate"):
                new["SlaStartDate"] = sf_time(now)
        stamp = sf_time(now)
        new.update({"LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
        rec.clear()
        rec.update(new)
        self._after_write(kind, rec, user)
        return rec

    def delete(self, kind: str, rid: str, user: str) -> None:
        view = self.must_view(kind)
        rec = self.live(kind, rid)
        if not view.kind.deletable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {kind}")
        stamp = sf_time(self.clock.now())
        rec.update({"IsDeleted": True, "_deleted_at": stamp, "SystemModstamp": stamp})
        for child, fname, _rel, cascade in view.kind.children:
            if cascade and child in self.records:
                for other in self.records[child].values():
                    if other.get(fname) == rec["Id"] and not other.get("IsDeleted"):
                        other.update({"IsDeleted": True, "_deleted_at": stamp, "SystemModstamp": stamp})
        if kind == "CaseComment":
            self._touch_case(rec.get("ParentId"), user)

    def upsert(self, kind: str, ext: str, value: str, body: Any, user: str, auto_assign: str | None,
               version: str = API_VERSION, update_only: bool = False) -> tuple[str, bool]:
        """(id, created) for PATCH /sobjects/{kind}/{ext}/{value}; 300 on several matches."""
        view = self.must_view(kind)
        f = view.field(ext)
        if f is None or not (f["externalId"] or f["idLookup"]):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext}")
        if isinstance(body, dict) and any(k.lower() == f["name"].lower() for k in body):
            raise sf_error(400, "INVALID_FIELD",
                           f"The external ID field {f['name']} should not be specified in "
                           "the request body", [f["name"]])
        matches = self.find_by(view, f, value)
        if len(matches) > 1:
            raise SfError(300, [f"/services/data/v{version}/sobjects/{kind}/{m['Id']}" for m in matches])
        if matches:
            self.update(kind, matches[0]["Id"], body, user)
            return matches[0]["Id"], False
        if update_only or f["name"] == "Id":
            raise not_found()
        data = dict(body) if isinstance(body, dict) else body
        if isinstance(data, dict):
            data[f["name"]] = value
        return self.insert(kind, data, user, auto_assign), True

    def _case_status(self, rec: dict[str, Any], now: float, was_closed: bool = False) -> None:
        closed = rec.get("Status") == "Closed"
        rec["IsClosed"] = closed
        if closed and not was_closed:
            rec["ClosedDate"] = sf_time(now)
        elif not closed:
            rec["ClosedDate"] = None

    def _assign(self, rec: dict[str, Any], header: str | None) -> None:
        """Case assignment rules: Sforce-Auto-Assign TRUE (default), FALSE, or a rule id."""
        value = (header or "").strip()
        if value.upper() == "FALSE":
            return
        rules = self.records["AssignmentRule"]
        if value == "" or value.upper() == "TRUE":
            rule = next((r for r in rules.values() if r.get("Active") and r.get("SobjectType") == "Case"),
                        None)
        else:
            rid = normalize_id(value)
            rule = rules.get(rid or "")
            if rule is None or rule.get("SobjectType") != "Case":
                return
        for entry in self.rule_entries.get(rule["Id"], []) if rule else []:
            if all(str(rec.get(name) or "").lower() == str(want).lower() for name, want in entry["criteria"]):
                rec["OwnerId"] = entry["assign_to"]
                return
        rec["OwnerId"] = self.settings["default_case_owner"]

    def _touch_case(self, case_id: Any, user: str) -> None:
        case = self.records["Case"].get(case_id) if isinstance(case_id, str) else None
        if case is None or case.get("IsDeleted"):
            return
        stamp = sf_time(self.clock.now())
        case.update({"LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
        self._notify_case(case)

    def _after_write(self, kind: str, rec: Mapping[str, Any], user: str) -> None:
        if kind == "Case":
            self._notify_case(rec)
        elif kind == "CaseComment":
            self._touch_case(rec.get("ParentId"), user)

    # ----------------------------------------------------------- transactions (allOrNone)

    def snapshot(self) -> tuple[dict[str, Any], int]:
        return copy.deepcopy(self.records), len(self.om_queue)

    def restore(self, snap: tuple[dict[str, Any], int]) -> None:
        self.records, queued = snap
        del self.om_queue[queued:]

    # ----------------------------------------------------------- sessions, usage, locators

    def new_session(self, user_id: str) -> str:
        token = f"{self.org15}!AQ{_token_chars(94)}"
        now = self.clock.now()
        self.sessions[token] = Session(user_id, now, now)
        return token

    def authenticate(self, header: str) -> str | None:
        if not header.startswith(("Bearer ", "OAuth ")):
            return None
        token = header.split(" ", 1)[1].strip()
        session = self.sessions.get(token)
        now = self.clock.now()
        if session is None or session.expired:
            return None
        if not session.static and now - session.last_used > SESSION_SECONDS:
            session.expired = True
            return None
        session.last_used = now
        user = self.records["User"].get(session.user_id)
        return session.user_id if user is not None and user.get("IsActive") else None

    def take_api_call(self) -> tuple[bool, int, int]:
        """Count one API request against the rolling daily allocation: (allowed, used, max)."""
        now = self.clock.now()
        while self.api_calls and self.api_calls[0] <= now - self.daily_window:
            self.api_calls.popleft()
        if len(self.api_calls) >= self.daily_limit:
            return False, len(self.api_calls), self.daily_limit
        self.api_calls.append(now)
        return True, len(self.api_calls), self.daily_limit

    def set_edition(self, edition: str, licenses: int) -> None:
        """The org's daily allocation as its edition and licence count give it."""
        if edition not in EDITIONS:
            raise ValueError(f"edition must be one of {', '.join(EDITIONS)}")
        if licenses < 0:
            raise ValueError("licenses must be 0 or more")
        base, per_licence = EDITIONS[edition]
        self.edition, self.licenses = edition, licenses
        self.daily_limit = base + per_licence * licenses

    def api_used(self) -> int:
        now = self.clock.now()
        while self.api_calls and self.api_calls[0] <= now - self.daily_window:
            self.api_calls.popleft()
        return len(self.api_calls)

    def store_locator(self, rows: list[dict[str, Any]], total: int) -> str:
        now = self.clock.now()
        for key in [k for k, v in self.locators.items() if now - v["used"] > LOCATOR_IDLE]:
            del self.locators[key]
        locator = self.ids.next("01g")
        self.locators[locator] = {"rows": rows, "total": total, "used": now}
        return locator

    # ----------------------------------------------------------- outbound messaging

    def _notify_case(self, case: Mapping[str, Any]) -> None:
        if not self.actions or case.get("IsDeleted") or not self.settings["custom_fields"]:
            return
        if not case.get("Social_Post_Id__c"):
            return
        now = self.clock.now()
        for action in self.actions.values():
            if case.get("LastModifiedById") in action.exclude_user_ids:
                continue
            self.om_queue.append((self.ids.next("04l"), action.id, case["Id"], now))
        self.om_cond.notify_all()

    def register_outbound(self, spec: Mapping[str, Any]) -> OutboundAction:
        """Register a Case outbound message (safe to call without holding the lock)."""
        with self.lock:
            return self._register_outbound(spec)

    def _register_outbound(self, spec: Mapping[str, Any]) -> OutboundAction:
        url = str(spec.get("url") or "")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the outbound message endpoint must be an http(s) loopback URL")
        fields = list(spec.get("fields") or ["Id", "Social_Post_Id__c", "LastModifiedDate"])
        case_view = self.must_view("Case")
        for name in fields:
            if case_view.field(name) is None:
                raise ValueError(f"unknown Case field {name!r}")
        if "Id" not in fields:
            fields.insert(0, "Id")
        action = OutboundAction(self.ids.next("04k"), url,
                                [case_view.by_lower[n.lower()]["name"] for n in fields],
                                bool(spec.get("send_session_id", True)),
                                float(spec.get("retry_initial", OM_RETRY_INITIAL)),
                                float(spec.get("retry_max", OM_RETRY_MAX)),
                                [normalize_id(u) or u for u in spec.get("exclude_user_ids") or []],
                                str(spec.get("name") or "Socialdesk_Case_Changed"))
        self.actions[action.id] = action
        self.dispatcher.ensure_started()
        return action

    def om_batch_pending(self) -> None:
        """Move queued notifications into SOAP messages of at most 100 per action."""
        if not self.om_queue:
            return
        by_action: dict[str, list[tuple[str, str]]] = {}
        first_at: dict[str, float] = {}
        for nid, action_id, case_id, at in self.om_queue:
            if action_id in self.actions:
                by_action.setdefault(action_id, []).append((nid, case_id))
                first_at.setdefault(action_id, at)
        self.om_queue.clear()
        for action_id, items in by_action.items():
            for start in range(0, len(items), OM_BATCH):
                self.deliveries.append(Delivery(next(self.delivery_ids), action_id,
                                                items[start:start + OM_BATCH],
                                                first_at[action_id]))

    def om_next_due(self, mono: float) -> tuple[Delivery | None, float | None]:
        due, wait = None, None
        for d in self.deliveries:
            if d.status != "pending":
                continue
            if d.next_at <= mono:
                return d, None
            wait = d.next_at - mono if wait is None else min(wait, d.next_at - mono)
        return due, wait

    def om_body(self, delivery: Delivery) -> str:
        """The SOAP ``notifications`` message, with record data read now (latest data is delivered)."""
        action = self.actions[delivery.action_id]
        session = (f"<SessionId>{xml_escape(self.static_tokens['api'])}</SessionId>" if action.send_session_id
                   else '<SessionId xsi:nil="true"/>')
        lines = ['<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                 'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
                 " <soapenv:Body>",
                 f'  <notifications xmlns="{OM_NS}">',
                 f"   <OrganizationId>{self.org_id}</OrganizationId>",
                 f"   <ActionId>{action.id}</ActionId>",
                 f"   {session}",
                 f"   <EnterpriseUrl>{self.base_url}/services/Soap/c/{API_VERSION}/{self.org15}"
                 "</EnterpriseUrl>",
                 f"   <PartnerUrl>{self.base_url}/services/Soap/u/{API_VERSION}/{self.org15}</PartnerUrl>"]
        view = self.must_view("Case")
        for nid, case_id in delivery.notifications:
            rec = self.records["Case"].get(case_id, {"Id": case_id})
            lines += ["   <Notification>", f"    <Id>{nid}</Id>",
                      f'    <sObject xsi:type="sf:Case" xmlns:sf="{SF_NS}">']
            names = ["Id"] + sorted((n for n in action.fields if n != "Id"), key=str.lower)
            for name in names:
                f = view.field(name)
                value = self.value("Case", rec, name) if f is not None else None
                if value is None:
                    continue
                if f is not None and f["type"] == "datetime":
                    text = om_time(value)
                elif isinstance(value, bool):
                    text = "true" if value else "false"
                else:
                    text = str(value)
                lines.append(f"     <sf:{name}>{xml_escape(text)}</sf:{name}>")
            lines += ["    </sObject>", "   </Notification>"]
        lines += ["  </notifications>", " </soapenv:Body>", "</soapenv:Envelope>"]
        return "\n".join(lines)

    def om_record(self, delivery: Delivery, attempt: dict[str, Any]) -> None:
        delivery.attempts.append(attempt)
        if attempt.get("acked"):
            delivery.status = "delivered"
            return
        action = self.actions.get(delivery.action_id)
        if action is None or self.clock.now() - delivery.created > OM_MAX_AGE:
            delivery.status = "dropped"
            return
        delay = min(action.retry_initial * (2 ** (len(delivery.attempts) - 1)), action.retry_max)
        delivery.status = "pending"
        delivery.next_at = time.monotonic() + delay


# ---------------------------------------------------------------------------- outbound delivery


def is_ack(status: int | None, payload: str) -> bool:
    """True only for HTTP 200 carrying ``notificationsResponse/Ack`` = true (the WSDL's answer)."""
    if status != 200:
        return False
    try:
        root = ET.fromstring(payload.encode())
    except ET.ParseError:
        return False
    for element in root.iter(f"{{{OM_NS}}}notificationsResponse"):
        ack = element.find(f"{{{OM_NS}}}Ack")
        return ack is not None and (ack.text or "").strip().lower() in ("true", "1")
    return False


def send_outbound(url: str, body: str) -> dict[str, Any]:
    """One POST of a SOAP message; TLS is not verified (loopback receivers only)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    attempt: dict[str, Any] = {"time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "status_code": None, "acked": False, "error": None, "response": None}
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
               "User-Agent": "Jakarta Commons-HttpClient/3.1", "Accept": "text/xml"}
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port or 443, timeout=OM_TIMEOUT, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port or 80, timeout=OM_TIMEOUT)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", path, body=body.encode(), headers=headers)
            response = conn.getresponse()
            payload = response.read(65536).decode("utf-8", "replace")
            attempt.update(status_code=response.status, response=payload[:4000],
                           acked=is_ack(response.status, payload))
            if not attempt["acked"]:
                attempt["error"] = "no notificationsResponse Ack=true" if response.status == 200 else \
                    f"HTTP {response.status}"
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as err:
        attempt["error"] = "timed out" if isinstance(err, socket.timeout) else type(err).__name__
    return attempt


class OutboundDispatcher:
    """One daemon thread: batches queued notifications, sends them, retries with back-off."""

    def __init__(self, state: SalesforceState) -> None:
        self.state = state
        self.thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._loop, name="sandbox-salesforce-outbound", daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        state = self.state
        while True:
            with state.om_cond:
                while True:
                    state.om_batch_pending()
                    due, wait = state.om_next_due(time.monotonic())
                    if due is not None:
                        break
                    state.om_cond.wait(timeout=wait)
                generation = state.generation
                action = state.actions.get(due.action_id)
                if action is None or state.clock.now() - due.created > OM_MAX_AGE:
                    due.status = "dropped"
                    continue
                body = due.body = state.om_body(due)
                due.status = "sending"
                url = action.url
            try:
                attempt = send_outbound(url, body)
            except Exception as err:  # noqa: BLE001 - a delivery bug must not kill the thread
                attempt = {"time": None, "status_code": None, "acked": False, "error": repr(err)}
            with state.lock:
                if state.generation == generation:
                    state.om_record(due, attempt)


# ---------------------------------------------------------------------------- Flask app


def create_service(settings: Mapping[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the Salesforce stand-in for ``settings["url"]``; returns (app, public info)."""
    state = SalesforceState(str(settings["url"]), settings)
    app = Flask("sandbox.salesforce")
    app.url_map.strict_slashes = False
    app.extensions["sandbox_state"] = state
    _install_gate(app, state)
    _install_auth(app, state)
    _install_data(app, state)
    _install_collections(app, state)
    _install_control(app, state)
    return app, state.info()


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None,
          content_type: str = JSON_CT) -> Response:
    if status == 204 or body is None:
        response = Response(b"", status=status)
        response.headers.pop("Content-Type", None)
    else:
        response = Response(json.dumps(body).encode(), status=status, content_type=content_type)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error_response(err: SfError) -> Response:
    return error_response(err, _json)


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: was expecting JSON ({err.msg}) "
                       f"at [line:{err.lineno}, column:{err.colno}]") from err


def _version(ver: str) -> str:
    return ver[1:]


def _route(app: Flask, state: SalesforceState, rule: str,
           methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``rule``; the view runs with the state lock held."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def view(**kwargs: Any) -> Any:
            with state.lock:
                return fn(**kwargs)
        app.add_url_rule(rule, endpoint=f"{fn.__name__}:{rule}", view_func=view, methods=methods)
        return fn
    return deco


_VERSION_RE = re.compile(r"^v(\d+)\.0$")


def _match_fault(state: SalesforceState, method: str) -> dict[str, Any] | None:
    return match_fault(state.faults, method, (request.path,))


def _fault_error(fault: Mapping[str, Any]) -> SfError:
    status = int(fault.get("status") or 500)
    if fault.get("body") is not None:
        return SfError(status, fault["body"], content_type=str(fault.get("content_type") or JSON_CT))
    if status == 403:
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if status == 401:
        return SfError(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    if status == 503:
        return sf_error(503, "SERVER_UNAVAILABLE", "Injected by the sandbox fault API")
    return sf_error(status, "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred. Please include this ErrorId if "
                    "you contact support: 1234567890-12345 (-1234567890) [injected by the sandbox fault API]")


def _outage_error(left: float) -> SfError:
    """The org down: SERVER_UNAVAILABLE to every call (wording assumed)."""
    after = retry_after_seconds(left)
    return SfError(503, [{"message": "The server is temporarily unavailable. Please try again later.",
                          "errorCode": "SERVER_UNAVAILABLE"}], {"Retry-After": after} if after else {})


def _count_call(state: SalesforceState, internal: bool, ui: bool) -> None:
    """Sign the caller in and count the call against the daily allocation (an agent's UI
    action and the sandbox's own calls are not API calls)."""
    parts = request.path.split("/")
    if not (request.path.startswith("/services/data/") and len(parts) > 3 and parts[3]):
        return
    match = _VERSION_RE.match(parts[3])
    if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
        raise not_found()
    with state.lock:
        user = state.authenticate(request.headers.get("Authorization", ""))
        if user is None:
            raise SfError(401, [{"message": "Session expired or invalid",
                                 "errorCode": "INVALID_SESSION_ID"}],
                          {"WWW-Authenticate": "Token"})
        g.user = user
        if not internal and not ui:
            allowed, used, limit = state.take_api_call()
            g.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
            if not allowed:
                raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def _apply_faults(state: SalesforceState) -> Response | None:
    """The counted faults first, then a roll of the probabilistic ones. Salesforce has no
    429: its over-limit answer is 403 REQUEST_LIMIT_EXCEEDED, with no Retry-After."""
    with state.lock:
        fault = _match_fault(state, request.method)
    if fault is not None:
        g.fault = fault
        if fault.get("kind", "status") == "status":
            raise _fault_error(fault)
        return None
    chaos = g.chaos = state.chaos.draw(request.method, (request.path,))
    if chaos is None:
        return None
    if chaos.kind == "reset":
        return cut_connection()
    if chaos.kind == "429":
        raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if chaos.kind == "5xx":
        raise _fault_error({"status": chaos.status or 503})
    return None


def _install_gate(app: Flask, state: SalesforceState) -> None:
    @app.before_request
    def gate() -> Response | None:
        g.headers = {}
        g.user = None
        g.fault = None
        g.chaos = None
        if request.path.startswith("/_sandbox/"):
            return None
        internal = bool(request.environ.get("sandbox.internal"))
        if not internal:
            left = state.outage.refuse()
            if left is not None:
                raise _outage_error(left)
        ui = from_agent_ui()
        _count_call(state, internal, ui)
        if internal or ui:
            return None
        return _apply_faults(state)

    @app.after_request
    def finish(response: Response) -> Response:
        add_pending_headers(response)
        fault = getattr(g, "fault", None)
        chaos: ChaosFault | None = getattr(g, "chaos", None)
        if fault is not None and fault.get("kind") == "drop_response":
            response = drop_response(fault, lambda f: _error_response(_fault_error(f)))
        elif chaos is not None and chaos.kind == "drop_response":
            response = cut_connection()
        if chaos is not None:
            fault = {"kind": chaos.kind}
        if not request.path.startswith("/_sandbox/") and not request.environ.get("sandbox.internal"):
            body: Any = None
            raw = request.get_data(cache=True)
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw.decode("utf-8", "replace")[:2000] if raw else None
            if request.path.startswith("/services/oauth2/") and isinstance(body, str):
                body = {k: ("***" if k in ("client_secret", "password", "assertion") else v)
                        for k, v in parse_qsl(body)}
            if request.path.startswith("/services/Soap/"):
                body = "<SOAP login>"
            with state.lock:
                user = state.records["User"].get(g.user or "") if getattr(g, "user", None) else None
                state.request_log.append({
                    "time": sf_time(state.clock.now()), "method": request.method, "path": request.path,
                    "query": request.query_string.decode(), "status": response.status_code,
                    "user": user.get("Username") if user else None,
                    "auto_assign": request.headers.get("Sforce-Auto-Assign"),
                    "fault": (fault or {}).get("kind"), "body": body})
                del state.request_log[:-REQUEST_LOG_MAX]
        hold(chaos)
        return response

    @app.errorhandler(SfError)
    def sf_error_handler(err: SfError) -> Response:
        return add_pending_headers(_error_response(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        if request.path.startswith("/_sandbox/"):
            return _json({"error": err.name, "description": err.description}, err.code or 500,
                         content_type="application/json")
        if err.code == 405:
            valid = getattr(err, "valid_methods", None) or []
            allowed = ",".join(m for m in valid if m not in ("HEAD", "OPTIONS"))
            message = f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"
            response = _json([{"errorCode": "METHOD_NOT_ALLOWED", "message": message}], 405)
        else:
            response = _json([{"errorCode": "NOT_FOUND", "message": NOT_FOUND_MSG}], 404)
        return add_pending_headers(response)


# ----------------------------------------------------------------- authentication


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _install_auth(app: Flask, state: SalesforceState) -> None:
    no_store = {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}

    def user_by_name(username: str) -> tuple[str, dict[str, str]] | None:
        for who, cred in state.credentials.items():
            if cred["username"].lower() == username.strip().lower():
                return state.user_ids[who], cred
        return None

    def password_ok(cred: Mapping[str, str], password: str) -> bool:
        return hmac.compare_digest(password, cred["password"]) or \
            hmac.compare_digest(password, cred["password"] + cred["security_token"])

    def token_response(user_id: str, flow: str) -> Response:
        token = state.new_session(user_id)
        ident = f"{state.base_url}/id/{state.org_id}/{user_id}"
        if flow == "jwt":
            body: dict[str, Any] = {"access_token": token, "scope": "api", "instance_url": state.base_url,
                                    "id": ident, "token_type": "Bearer"}
        else:
            issued = str(int(state.clock.now() * 1000))
            signature = base64.b64encode(hmac.new(state.client_secret.encode(), (ident + issued).encode(),
                                                  hashlib.sha256).digest()).decode()
            if flow == "client_credentials":
                body = {"access_token": token, "signature": signature, "scope": "api",
                        "instance_url": state.base_url, "id": ident, "token_type": "Bearer",
                        "issued_at": issued}
            else:
                body = {"access_token": token, "instance_url": state.base_url, "id": ident,
                        "token_type": "Bearer", "issued_at": issued, "signature": signature}
        return _json(body, 200, no_store)

    def client_from_request(form: Mapping[str, str]) -> tuple[str, str]:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return auth.username or "", auth.password or ""
        return form.get("client_id", ""), form.get("client_secret", "")

    def check_client(client_id: str, secret: str | None) -> None:
        if not hmac.compare_digest(client_id, state.client_id):
            raise oauth_error("invalid_client_id", "client identifier invalid")
        if secret is not None and not hmac.compare_digest(secret, state.client_secret):
            raise oauth_error("invalid_client", "invalid client credentials")

    def verify_jwt(assertion: str) -> str:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise oauth_error("invalid_grant", "invalid assertion")
        try:
            header = json.loads(_b64url(parts[0]))
            claims = json.loads(_b64url(parts[1]))
            signature = _b64url(parts[2])
        except (ValueError, TypeError):
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            raise oauth_error("invalid_grant", "invalid assertion")
        check_client(str(claims.get("iss", "")), None)
        try:
            state.jwt_public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                                        hashes.SHA256())
        except Exception:  # noqa: BLE001 - cryptography raises InvalidSignature
            raise oauth_error("invalid_grant", "invalid assertion") from None
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        accepted = {state.base_url, state.base_url + "/", "https://login.salesforce.com",
                    "https://test.salesforce.com"}
        if not any(a in accepted for a in audiences):
            raise oauth_error("invalid_grant", "Audience validation failed")
        try:
            exp = float(claims.get("exp"))
        except (TypeError, ValueError):
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if exp < time.time():
            raise oauth_error("invalid_grant", "expired authorization code")
        found = user_by_name(str(claims.get("prn") or claims.get("sub") or ""))
        if found is None:
            raise oauth_error("invalid_grant", "user hasn't approved this consumer")
        return found[0]

    @_route(app, state, "/services/oauth2/token", ["POST"])
    def oauth_token() -> Response:
        form = request.form
        grant = form.get("grant_type", "")
        if grant == "password":
            check_client(form.get("client_id", ""), form.get("client_secret", ""))
            found = user_by_name(form.get("username", ""))
            if found is None or not password_ok(found[1], form.get("password", "")):
                raise oauth_error("invalid_grant", "authentication failure")
            return token_response(found[0], "password")
        if grant == "client_credentials":
            client_id, secret = client_from_request(form)
            check_client(client_id, secret)
            return token_response(state.user_ids["api"], "client_credentials")
        if grant == JWT_GRANT:
            return token_response(verify_jwt(form.get("assertion", "")), "jwt")
        if not grant:
            raise oauth_error("invalid_request", "grant type not supported")
        raise oauth_error("unsupported_grant_type", "grant type not supported")

    @_route(app, state, "/services/oauth2/revoke", ["POST", "GET"])
    def oauth_revoke() -> Response:
        token = request.values.get("token", "")
        session = state.sessions.get(token)
        if session is None:
            raise oauth_error("unsupported_token_type", "this token type is not supported")
        session.expired = True
        return _json(None, 200)

    def identity_body(rec: Mapping[str, Any], caller: str) -> dict[str, Any]:
        rest = f"{state.base_url}/services/data/v{{version}}/"
        return {"id": f"{state.base_url}/id/{state.org_id}/{rec['Id']}", "asserted_user": caller == rec["Id"],
                "user_id": rec["Id"], "organization_id": state.org_id, "username": rec["Username"],
                "nick_name": rec["Alias"], "display_name": state.value("User", rec, "Name"),
                "email": rec["Email"], "first_name": rec.get("FirstName"), "last_name": rec["LastName"],
                "active": rec["IsActive"], "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
                "utcOffset": 0, "last_modified_date": rec["LastModifiedDate"], "is_app_installed": True,
                "urls": {"rest": rest, "sobjects": rest + "sobjects/", "query": rest + "query/"}}

    def bad_token() -> Response:
        return Response("Bad_OAuth_Token", status=403, content_type="text/plain;charset=UTF-8")

    @_route(app, state, "/id/<org>/<user>", ["GET"])
    def identity(org: str, user: str) -> Response:
        caller = state.authenticate(request.headers.get("Authorization", ""))
        if caller is None:
            return bad_token()
        rec = state.records["User"].get(normalize_id(user) or "")
        if rec is None or normalize_id(org) != state.org_id:
            raise not_found()
        return _json(identity_body(rec, caller))

    @_route(app, state, "/services/oauth2/userinfo", ["GET", "POST"])
    def userinfo() -> Response:
        caller = state.authenticate(request.headers.get("Authorization", ""))
        if caller is None:
            return bad_token()
        rec = state.records["User"][caller]
        ident = identity_body(rec, caller)
        return _json({"sub": ident["id"], "user_id": caller, "organization_id": state.org_id,
                      "preferred_username": rec["Username"], "nickname": rec["Alias"],
                      "name": ident["display_name"], "email": rec["Email"], "email_verified": True,
                      "given_name": rec.get("FirstName"), "family_name": rec["LastName"], "zoneinfo": "GMT",
                      "profile": f"{state.base_url}/{caller}", "address": {},
                      "is_salesforce_integration_user": False, "urls": ident["urls"],
                      "active": rec["IsActive"],
                      "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
                      "updated_at": om_time(rec["LastModifiedDate"]), "is_app_installed": True})

    @_route(app, state, "/services/Soap/u/<ver>", ["POST"])
    def soap_login(ver: str) -> Response:
        try:
            root = ET.fromstring(request.get_data())
        except ET.ParseError:
            return soap_fault("INVALID_LOGIN",
                              "Invalid username, password, security token; or user locked out.")
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        found = user_by_name(values.get("username", ""))
        if found is None or not password_ok(found[1], values.get("password", "")):
            return soap_fault("INVALID_LOGIN",
                              "Invalid username, password, security token; or user locked out.")
        user_id, cred = found
        token = state.new_session(user_id)
        rec = state.records["User"][user_id]
        version = ver if re.match(r"^\d+\.0$", ver) else API_VERSION
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns="{PARTNER_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{state.base_url}/services/Soap/m/{version}/{state.org15}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{state.base_url}/services/Soap/u/{version}/{state.org15}</serverUrl>"
            f"<sessionId>{token}</sessionId><userId>{user_id}</userId><userInfo>"
            "<accessibilityMode>false</accessibilityMode><chatterExternal>false</chatterExternal>"
            "<currencySymbol>$</currencySymbol>"
            "<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>"
            "<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDisallowHtmlAttachments>false"
            "</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts>"
            f"<organizationId>{state.org_id}</organizationId>"
            "<organizationMultiCurrency>false</organizationMultiCurrency>"
            "<organizationName>Socialdesk Sandbox</organizationName>"
            f"<profileId>00e{state.org_id[3:15]}AAA</profileId>"
            f'<roleId xsi:nil="true"/><sessionSecondsValid>{SESSION_SECONDS}</sessionSecondsValid>'
            f"<userDefaultCurrencyIsoCode xsi:nil=\"true\"/><userEmail>{xml_escape(rec['Email'])}</userEmail>"
            f"<userFullName>{xml_escape(state.value('User', rec, 'Name') or '')}</userFullName>"
            f"<userId>{user_id}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale>"
            f"<userName>{xml_escape(cred['username'])}</userName><userTimeZone>GMT</userTimeZone>"
            "<userType>Standard</userType><userUiSkin>Theme3</userUiSkin>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>")
        return Response(xml, status=200, content_type=XML_CT)

    def soap_fault(code: str, message: str) -> Response:
        xml = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
               'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
               'xmlns:sf="urn:fault.partner.soap.sforce.com" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
               f"<soapenv:Body><soapenv:Fault><faultcode>{code}</faultcode><faultstring>{code}: "
               f"{message}</faultstring>"
               f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
               f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
               "</soapenv:Fault>"
               "</soapenv:Body></soapenv:Envelope>")
        return Response(xml, status=500, content_type=XML_CT)


# ----------------------------------------------------------------- describe rendering


def _urls(state: SalesforceState, view: ObjectView, version: str, full: bool) -> dict[str, str]:
    base, name = f"/services/data/v{version}/sobjects/{view.name}", view.name
    urls = {"rowTemplate": f"{base}/{{ID}}", "approvalLayouts": f"{base}/describe/approvalLayouts",
            "uiDetailTemplate": f"{state.base_url}/{{ID}}", "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts", "compactLayouts": f"{base}/describe/compactLayouts",
            "uiEditTemplate": f"{state.base_url}/{{ID}}/e"}
    if name == "Case":
        urls["caseArticleSuggestions"] = f"{base}/suggestedArticles"
        urls["caseRowArticleSuggestions"] = f"{base}/{{ID}}/suggestedArticles"
    urls.update({"defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                 "listviews": f"{base}/listviews", "describe": f"{base}/describe", "sobject": base,
                 "uiNewRecord": f"{state.base_url}/{view.kind.prefix}/e"})
    if not full:
        for key in ("uiDetailTemplate", "uiEditTemplate", "uiNewRecord", "caseArticleSuggestions",
                    "caseRowArticleSuggestions", "listviews"):
            urls.pop(key, None)
    return urls


def _global_entry(state: SalesforceState, view: ObjectView, version: str) -> dict[str, Any]:
    k = view.kind
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": k.createable, "custom": False, "customSetting": False, "deepCloneable": False,
        "deletable": k.deletable, "deprecatedAndHidden": False, "feedEnabled": k.feed, "hasSubtypes": False,
        "isInterface": False, "isSubtype": False, "keyPrefix": k.prefix, "label": k.label,
        "labelPlural": k.plural, "layoutable": k.layoutable, "mergeable": k.name in ("Account", "Contact"),
        "mruEnabled": k.layoutable, "name": k.name, "queryable": True, "replicateable": True,
        "retrieveable": True, "searchable": k.searchable, "triggerable": k.createable,
        "undeletable": k.deletable, "updateable": k.updateable,
        "urls": _urls(state, view, version, full=False)}


def _describe(state: SalesforceState, view: ObjectView, version: str) -> dict[str, Any]:
    k = view.kind
    layout = f"/services/data/v{version}/sobjects/{k.name}/describe/layouts/"
    record_types = [{"active": True, "available": True, "defaultRecordTypeMapping": True,
                     "developerName": "Master", "master": True, "name": "Master",
                     "recordTypeId": MASTER_RECORD_TYPE, "urls": {"layout": layout + MASTER_RECORD_TYPE}}]
    for rt in state.records["RecordType"].values():
        if rt.get("SobjectType") == k.name and rt.get("IsActive"):
            record_types.insert(len(record_types) - 1, {
                "active": True, "available": True, "defaultRecordTypeMapping": False,
                "developerName": rt["DeveloperName"], "master": False, "name": rt["Name"],
                "recordTypeId": rt["Id"], "urls": {"layout": layout + rt["Id"]}})
    if k.name == "Case":
        scopes = [{"label": "All cases", "name": "everything"},
                  {"label": "My case teams cases", "name": "genericteam"},
                  {"label": "My cases", "name": "mine"},
                  {"label": "Queue owned cases", "name": "queue_owned"},
                  {"label": "My role-based team's cases", "name": "team_by_role"},
                  {"label": "User owned cases", "name": "user_owned"}]
    elif view.field("OwnerId") is not None:
        scopes = [{"label": f"All {k.plural.lower()}", "name": "everything"},
                  {"label": f"My {k.plural.lower()}", "name": "mine"}]
    else:
        scopes = [{"label": f"All {k.plural.lower()}", "name": "everything"}]
    children = [{"cascadeDelete": cascade, "childSObject": child, "deprecatedAndHidden": False,
                 "field": fname, "junctionIdListNames": [], "junctionReferenceTo": [],
                 "relationshipName": rel, "restrictedDelete": False}
                for child, fname, rel, cascade in k.children if rel is None or rel.lower() in view.children]
    return {
        "actionOverrides": [], "activateable": False, "childRelationships": children,
        "compactLayoutable": k.layoutable, "createable": k.createable, "custom": False,
        "customSetting": False, "deepCloneable": False, "defaultImplementation": None,
        "deletable": k.deletable,
        "deprecatedAndHidden": False, "extendedBy": None, "extendsInterfaces": None, "feedEnabled": k.feed,
        "fields": copy.deepcopy(view.fields), "hasSubtypes": False, "implementedBy": None,
        "implementsInterfaces": None, "isInterface": False, "isSubtype": False, "keyPrefix": k.prefix,
        "label": k.label, "labelPlural": k.plural, "layoutable": k.layoutable, "listviewable": None,
        "lookupLayoutable": None, "mergeable": k.name in ("Account", "Contact"), "mruEnabled": k.layoutable,
        "name": k.name, "namedLayoutInfos": [], "networkScopeFieldName": None, "queryable": True,
        "recordTypeInfos": record_types, "replicateable": True, "retrieveable": True,
        "searchLayoutable": k.searchable, "searchable": k.searchable, "supportedScopes": scopes,
        "triggerable": k.createable, "undeletable": k.deletable, "updateable": k.updateable,
        "urls": _urls(state, view, version, full=True)}


def _limits(state: SalesforceState) -> dict[str, Any]:
    used = state.api_used()
    static = {"DailyAsyncApexExecutions": 250000, "DailyBulkApiBatches": 15000,
              "DailyBulkV2QueryFileStorageMB": 976562, "DailyBulkV2QueryJobs": 10000,
              "DailyDurableStreamingApiEvents": 10000, "DailyStandardVolumePlatformEvents": 10000,
              "DailyStreamingApiEvents": 10000, "DailyWorkflowEmails": 405, "DataStorageMB": 5,
              "FileStorageMB": 20, "HourlyPublishedPlatformEvents": 50000, "HourlyTimeBasedWorkflow": 50,
              "MassEmail": 10, "SingleEmail": 15}
    out: dict[str, Any] = {"DailyApiRequests": {"Max": state.daily_limit,
                                                "Remaining": max(0, state.daily_limit - used)}}
    out.update({name: {"Max": value, "Remaining": value} for name, value in static.items()})
    return dict(sorted(out.items()))


def _page_size(state: SalesforceState) -> int:
    size = int(state.settings["query_page_size"])
    options = request.headers.get("Sforce-Query-Options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if match:
        size = min(size, max(200, min(QUERY_PAGE, int(match.group(1)))))
    return size


def _install_data(app: Flask, state: SalesforceState) -> None:
    D = "/services/data/<ver>"
    route = lambda rule, methods: _route(app, state, rule, methods)  # noqa: E731

    @route("/services/data", ["GET"])
    def versions() -> Response:
        return _json([{"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                      for v in range(MIN_VERSION, MAX_VERSION + 1)])

    @route(D, ["GET"])
    def resources(ver: str) -> Response:
        base = f"/services/data/{ver}"
        names = ("tooling", "metadata", "eclair", "folders", "prechatForms", "connect", "chatter", "tabs",
                 "appMenu", "quickActions", "queryAll", "commerce", "wave", "iot", "analytics", "search",
                 "composite", "parameterizedSearch", "fingerprint", "theme", "nouns", "domino", "event",
                 "serviceTemplates", "recent", "licensing", "limits", "process", "async-queries", "query",
                 "match", "emailConnect", "compactLayouts", "knowledgeManagement", "sobjects", "actions",
                 "support")
        body = {name: f"{base}/{name}" for name in names}
        body["identity"] = f"{state.base_url}/id/{state.org_id}/{g.user}"
        return _json(body)

    @route(D + "/sobjects", ["GET"])
    def global_describe(ver: str) -> Response:
        version = _version(ver)
        views = [v for n in sorted(CATALOG) if (v := state.view(n)) is not None]
        entries = [_global_entry(state, v, version) for v in views]
        return _json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": entries})

    def view_for(sobject: str) -> ObjectView:
        view = state.view_ci(sobject)
        if view is None:
            raise not_found()
        return view

    @route(D + "/sobjects/<sobject>", ["GET", "POST"])
    def sobject_root(ver: str, sobject: str) -> Response:
        view = view_for(sobject)
        if request.method == "GET":
            return _json({"objectDescribe": _global_entry(state, view, _version(ver)), "recentItems": []})
        new_id = state.insert(view.name, _body(), g.user, request.headers.get("Sforce-Auto-Assign"))
        return _json({"id": new_id, "success": True, "errors": []}, 201)

    @route(D + "/sobjects/<sobject>/describe", ["GET"])
    def describe(ver: str, sobject: str) -> Response:
        return _json(_describe(state, view_for(sobject), _version(ver)))

    def window() -> tuple[float, float]:
        start = parse_datetime(request.args.get("start", ""))
        end = parse_datetime(request.args.get("end", ""))
        if start is None or end is None:
            raise sf_error(400, "MALFORMED_QUERY", "start and end must be valid dateTime values")
        if end - start < 60:
            raise sf_error(400, "INVALID_REPLICATION_DATE",
                           "startDate must chronologically precede endDate by more than one minute")
        now = state.clock.now()
        covered = min(end, now)
        return start, covered - covered % 60

    @route(D + "/sobjects/<sobject>/updated", ["GET"])
    def get_updated(ver: str, sobject: str) -> Response:
        view = view_for(sobject)
        start, covered = window()
        ids = [r["Id"] for r in state.records[view.name].values() if not r.get("IsDeleted")
               and start <= (parse_datetime(r.get("SystemModstamp") or "") or 0) < covered]
        return _json({"ids": ids, "latestDateCovered": sf_time(covered)})

    @route(D + "/sobjects/<sobject>/deleted", ["GET"])
    def get_deleted(ver: str, sobject: str) -> Response:
        view = view_for(sobject)
        start, covered = window()
        gone = [r for r in state.records[view.name].values() if r.get("IsDeleted")]
        deleted = [{"id": r["Id"], "deletedDate": r["_deleted_at"]} for r in gone
                   if start <= (parse_datetime(r.get("_deleted_at") or "") or 0) < covered]
        earliest = min((parse_datetime(r["_deleted_at"]) or covered for r in gone), default=covered)
        return _json({"deletedRecords": deleted, "earliestDateAvailable": sf_time(earliest - earliest % 60),
                      "latestDateCovered": sf_time(covered)})

    @route(D + "/sobjects/<sobject>/<rid>", ["GET", "PATCH", "DELETE"])
    def one_record(ver: str, sobject: str, rid: str) -> Response:
        view = view_for(sobject)
        if request.method == "GET":
            rec = state.live(view.name, rid)
            fields = request.args.get("fields")
            only = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
            for name in only or []:
                if view.field(name) is None:
                    raise sf_error(400, "INVALID_FIELD",
                                   f"No such column '{name}' on sobject of type {view.name}")
            return _json(state.render(view.name, rec, _version(ver), only))
        if request.method == "PATCH":
            state.update(view.name, rid, _body(), g.user)
            return _json(None, 204)
        state.delete(view.name, rid, g.user)
        return _json(None, 204)

    @route(D + "/sobjects/<sobject>/<ext>/<path:value>", ["GET", "PATCH", "DELETE"])
    def by_external_id(ver: str, sobject: str, ext: str, value: str) -> Response:
        view = view_for(sobject)
        version = _version(ver)
        if request.method == "PATCH":
            update_only = request.args.get("updateOnly", "").lower() == "true"
            rid, created = state.upsert(view.name, ext, value, _body(), g.user,
                                        request.headers.get("Sforce-Auto-Assign"), version, update_only)
            major = int(float(version))
            body: dict[str, Any] = {"id": rid, "success": True, "errors": []}
            if major >= CREATED_FLAG_VERSION:
                body["created"] = created
            if created:
                return _json(body, 201)
            return _json(body, 200) if major >= CREATED_FLAG_VERSION else _json(None, 204)
        f = view.field(ext)
        if f is None or not (f["externalId"] or f["idLookup"]):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext}")
        matches = state.find_by(view, f, value)
        if len(matches) > 1:
            raise SfError(300, [f"/services/data/v{version}/sobjects/{view.name}/{m['Id']}" for m in matches])
        if not matches:
            raise not_found()
        if request.method == "DELETE":
            state.delete(view.name, matches[0]["Id"], g.user)
            return _json(None, 204)
        return _json(state.render(view.name, matches[0], version))

    def run_query(ver: str, include_deleted: bool) -> Response:
        text = request.args.get("q")
        if not text:
            raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        version = _version(ver)
        engine = Soql(state)
        try:
            query = Parser(text).parse()
            engine.bind(query)
            rows, total = engine.select(query, include_deleted)
        except SoqlError as err:
            raise soql_error(text, err) from None
        if query.count:
            return _json({"totalSize": total, "done": True, "records": []})
        rendered = [engine.render(query, r, version) for r in rows]
        size = _page_size(state)
        if len(rendered) <= size:
            return _json({"totalSize": total, "done": True, "records": rendered})
        locator = state.store_locator(rendered, total)
        return _json({"totalSize": total, "done": False,
                      "nextRecordsUrl": f"/services/data/v{version}/query/{locator}-{size}",
                      "records": rendered[:size]})

    def query_more(ver: str, token: str) -> Response:
        locator, _, offset = token.rpartition("-")
        entry = state.locators.get(locator)
        if entry is None or not offset.isdigit() or int(offset) > len(entry["rows"]):
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        entry["used"] = state.clock.now()
        start, size = int(offset), _page_size(state)
        rows = entry["rows"][start:start + size]
        body: dict[str, Any] = {"totalSize": entry["total"], "done": start + size >= len(entry["rows"])}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/{ver}/query/{locator}-{start + size}"
        body["records"] = rows
        return _json(body)

    @route(D + "/query", ["GET"])
    def query(ver: str) -> Response:
        return run_query(ver, False)

    @route(D + "/queryAll", ["GET"])
    def query_all(ver: str) -> Response:
        return run_query(ver, True)

    @route(D + "/query/<token>", ["GET"])
    def query_next(ver: str, token: str) -> Response:
        return query_more(ver, token)

    @route(D + "/queryAll/<token>", ["GET"])
    def query_all_next(ver: str, token: str) -> Response:
        return query_more(ver, token)

    @route(D + "/limits", ["GET"])
    def limits(ver: str) -> Response:
        return _json(_limits(state))


# ----------------------------------------------------------------- collections and composite

ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction "
                      "failed."}]


def _item_error(err: SfError) -> dict[str, Any]:
    first = err.first
    return {"statusCode": first.get("errorCode", "UNKNOWN_EXCEPTION"), "message": first.get("message", ""),
            "fields": list(first.get("fields", []))}


def _install_collections(app: Flask, state: SalesforceState) -> None:
    D = "/services/data/<ver>"
    route = lambda rule, methods: _route(app, state, rule, methods)  # noqa: E731

    def collection() -> tuple[list[Any], bool]:
        body = _body()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise sf_error(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize the request: expected an object with "
                           "a records array")
        if len(body["records"]) > COLLECTION_MAX:
            raise sf_error(400, "EXCEEDED_ID_LIMIT",
                           "record limit reached. cannot submit more than 200 records "
                           "into this call")
        return body["records"], bool(body.get("allOrNone", False))

    def run_all(items: list[Any], one: Callable[[Any], dict[str, Any]],
                all_or_none: bool) -> list[dict[str, Any]]:
        snap = state.snapshot() if all_or_none else None
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                results.append(one(item))
            except SfError as err:
                results.append({"success": False, "errors": [_item_error(err)]})
        if snap is not None and any(not r["success"] for r in results):
            state.restore(snap)
            results = [r if not r["success"] else {"success": False, "errors": [dict(ROLLED_BACK)]}
                       for r in results]
        return results

    def record_type(item: Any, expected: str | None = None) -> str:
        if not isinstance(item, dict):
            raise sf_error(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of sObject from a non-object value")
        attrs = item.get("attributes")
        kind = attrs.get("type") if isinstance(attrs, dict) else None
        if not kind:
            if expected:
                return expected
            raise sf_error(400, "INVALID_FIELD", "No SObject Type defined in the attributes of a record", [])
        view = state.view_ci(str(kind))
        if view is None or (expected and view.name != expected):
            raise sf_error(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.", [])
        return view.name

    def strip(item: Mapping[str, Any], *names: str) -> dict[str, Any]:
        lowered = {n.lower() for n in names} | {"attributes"}
        return {k: v for k, v in item.items() if k.lower() not in lowered}

    @route(D + "/composite/sobjects", ["POST", "PATCH", "DELETE", "GET"])
    def sobject_collection(ver: str) -> Response:
        assign = request.headers.get("Sforce-Auto-Assign")
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            if not ids:
                raise sf_error(400, "REQUIRED_FIELD_MISSING", "At least 1 Id is required.")
            if len(ids) > COLLECTION_MAX:
                raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 "
                               "records into this call")

            def delete_one(rid: str) -> dict[str, Any]:
                norm = normalize_id(rid)
                kind = PREFIXES.get((norm or "")[:3])
                if norm is None or kind is None or state.view(kind) is None:
                    raise sf_error(400, "MALFORMED_ID", f"malformed id {rid}", [])
                try:
                    state.delete(kind, norm, g.user)
                except SfError as err:
                    if err.first.get("errorCode") == "NOT_FOUND":
                        raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted", []) from None
                    raise
                return {"id": norm, "success": True, "errors": []}
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"
            return _json(run_all(ids, delete_one, all_or_none))
        if request.method == "GET":
            raise not_found()
        items, all_or_none = collection()
        if request.method == "POST":
            def create_one(item: Any) -> dict[str, Any]:
                kind = record_type(item)
                return {"id": state.insert(kind, strip(item), g.user, assign), "success": True, "errors": []}
            return _json(run_all(items, create_one, all_or_none))

        def update_one(item: Any) -> dict[str, Any]:
            kind = record_type(item)
            rid = next((v for k, v in item.items() if k.lower() == "id"), None)
            if not rid:
                raise sf_error(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            norm = normalize_id(rid)
            if norm is None or PREFIXES.get(norm[:3]) != kind:
                raise sf_error(400, "MALFORMED_ID", f"{kind} ID: id value of incorrect type: {rid}", ["Id"])
            state.update(kind, norm, strip(item, "Id"), g.user)
            return {"id": norm, "success": True, "errors": []}
        return _json(run_all(items, update_one, all_or_none))

    @route(D + "/composite/sobjects/<sobject>", ["GET"])
    def collection_retrieve(ver: str, sobject: str) -> Response:
        view = state.view_ci(sobject)
        if view is None:
            raise not_found()
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        fields = [f for f in request.args.get("fields", "").split(",") if f] or None
        out = []
        for rid in ids:
            rec = state.records[view.name].get(normalize_id(rid) or "")
            out.append(None if rec is None or rec.get("IsDeleted") else
                       state.render(view.name, rec, _version(ver), fields))
        return _json(out)

    @route(D + "/composite/sobjects/<sobject>/<ext>", ["PATCH"])
    def collection_upsert(ver: str, sobject: str, ext: str) -> Response:
        view = state.view_ci(sobject)
        if view is None:
            raise not_found()
        f = view.field(ext)
        if f is None or not (f["externalId"] or f["idLookup"]):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext}")
        items, all_or_none = collection()
        assign = request.headers.get("Sforce-Auto-Assign")
        seen: dict[Any, int] = {}
        for item in items:
            if isinstance(item, dict):
                value = next((v for k, v in item.items() if k.lower() == f["name"].lower()), None)
                if value is not None:
                    key = state._match_key(f, value)
                    seen[key] = seen.get(key, 0) + 1

        def upsert_one(item: Any) -> dict[str, Any]:
            kind = record_type(item, view.name)
            value = next((v for k, v in item.items() if k.lower() == f["name"].lower()), None)
            if value in (None, ""):
                raise sf_error(400, "MISSING_ARGUMENT", f"{f['name']} not specified", [])
            if seen.get(state._match_key(f, value), 0) > 1:
                raise sf_error(400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}",
                               [f["name"]])
            matches = state.find_by(view, f, value)
            if len(matches) > 1:
                raise sf_error(300, "DUPLICATE_EXTERNAL_ID",
                               f"{f['name']}: more than one record found for external "
                               f"id field: [{', '.join(m['Id'] for m in matches)}]", [f["name"]])
            if matches:
                state.update(kind, matches[0]["Id"], strip(item, f["name"]), g.user)
                return {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
            return {"id": state.insert(kind, strip(item), g.user, assign), "success": True, "errors": [],
                    "created": True}
        return _json(run_all(items, upsert_one, all_or_none))

    @route(D + "/composite", ["POST"])
    def composite(ver: str) -> Response:
        body = _body()
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            raise sf_error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
        if len(subs) > COMPOSITE_MAX:
            raise sf_error(400, "LIMIT_EXCEEDED", f"Maximum number of subrequests ({COMPOSITE_MAX}) exceeded")
        all_or_none = bool(body.get("allOrNone", False))
        snap = state.snapshot() if all_or_none else None
        results: list[dict[str, Any]] = []
        refs: dict[str, Any] = {}
        failed = False
        for sub in subs:
            ref = str(sub.get("referenceId", ""))
            if failed and all_or_none:
                results.append({"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                continue
            try:
                url = _resolve_refs(str(sub.get("url", "")), refs)
                payload = _resolve_refs(sub.get("body"), refs)
            except KeyError as err:
                failed = True
                message = (f"Invalid reference specified. No value for {err.args[0]} found in a previous "
                           "subrequest.")
                results.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
                                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                continue
            status, out, headers = _dispatch(app, str(sub.get("method", "GET")), url, payload,
                                             sub.get("httpHeaders") or {})
            results.append({"body": out, "httpHeaders": headers, "httpStatusCode": status,
                            "referenceId": ref})
            refs[ref] = out
            failed = failed or status >= 400
        if snap is not None and failed:
            state.restore(snap)
            results = [r if r["httpStatusCode"] >= 400 else
                       {"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400,
                        "referenceId": r["referenceId"]}
                       for r in results]
        return _json({"compositeResponse": results})


def _resolve_refs(value: Any, refs: Mapping[str, Any]) -> Any:
    """Replace ``@{refId.path}`` with values from earlier composite results (KeyError if missing)."""
    if isinstance(value, dict):
        return {k: _resolve_refs(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, refs) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def lookup(expr: str) -> Any:
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", expr)
        if not parts or parts[0] not in refs:
            raise KeyError(expr)
        cur = refs[parts[0]]
        for part in parts[1:]:
            try:
                cur = cur[int(part[1:-1])] if part.startswith("[") else cur[part]
            except (KeyError, IndexError, TypeError):
                raise KeyError(expr) from None
        return cur

    whole = re.fullmatch(r"@\{([^}]+)\}", value)
    if whole:
        return lookup(whole.group(1))
    return re.sub(r"@\{([^}]+)\}", lambda m: str(lookup(m.group(1))), value)


def _dispatch(app: Flask, method: str, url: str, body: Any,
              headers: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Run one composite subrequest through the app as the same user, without counting a call."""
    parts = urlsplit(url)
    sent = {"Authorization": request.headers.get("Authorization", ""), "Content-Type": "application/json"}
    if request.headers.get("Sforce-Auto-Assign"):
        sent["Sforce-Auto-Assign"] = request.headers["Sforce-Auto-Assign"]
    sent.update({str(k): str(v) for k, v in headers.items()})
    response = app.test_client().open(
        quote(parts.path, safe="/:@!$&'()*+,;=-._~%"), method=method.upper(),
        query_string=urlencode(parse_qsl(parts.query, keep_blank_values=True)),
        data=json.dumps(body) if body is not None else None, headers=sent,
        environ_base={"sandbox.internal": True, "REMOTE_ADDR": request.remote_addr or "127.0.0.1"})
    payload = json.loads(response.data) if response.data else None
    out_headers: dict[str, str] = {}
    if response.status_code == 201 and isinstance(payload, dict) and "id" in payload:
        out_headers["Location"] = f"{parts.path.rstrip('/')}/{payload['id']}"
    return response.status_code, payload, out_headers


# ----------------------------------------------------------------- control API


def _install_control(app: Flask, state: SalesforceState) -> None:
    route = lambda rule, methods: _route(app, state, rule, methods)  # noqa: E731
    CT = "application/json"

    def spec() -> dict[str, Any]:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}

    def bad(description: str, error: str = "InvalidValue") -> Response:
        return _json({"error": error, "description": description}, 400, content_type=CT)

    @route("/_sandbox/reset", ["POST"])
    def reset() -> Response:
        state.reset()
        return _json({"ok": True, **state.info()}, content_type=CT)

    @route("/_sandbox/clock", ["GET", "POST"])
    def clock() -> Response:
        if request.method == "POST":
            try:
                state.clock.control(spec())
            except (TypeError, ValueError) as err:
                return bad(str(err))
        now = state.clock.now()
        return _json({"now": now, "utc": sf_time(now), "speed": state.clock.speed}, content_type=CT)

    @route("/_sandbox/limits", ["GET", "POST"])
    def limits() -> Response:
        if request.method == "POST":
            body = spec()
            if body.get("family", "DailyApiRequests") != "DailyApiRequests":
                return bad(f"unknown family {body.get('family')!r}", "UnknownFamily")
            try:
                if "edition" in body or "licenses" in body:
                    state.set_edition(str(body.get("edition", state.edition)),
                                      int(body.get("licenses", state.licenses)))
                if "limit" in body:
                    state.daily_limit = max(0, int(body["limit"]))
                if "seconds" in body:
                    state.daily_window = max(1, int(body["seconds"]))
                if "used" in body:
                    now = state.clock.now()
                    state.api_calls = deque([now] * max(0, int(body["used"])))
            except (TypeError, ValueError) as err:
                return bad(str(err))
        return _json({"limits": {"DailyApiRequests": {"limit": state.daily_limit,
                                                      "seconds": state.daily_window,
                                                      "used": state.api_used()}},
                      "edition": state.edition, "licenses": state.licenses}, content_type=CT)

    @route("/_sandbox/requests", ["GET", "DELETE"])
    def requests_log() -> Response:
        if request.method == "DELETE":
            state.request_log.clear()
        return _json({"requests": list(state.request_log)}, content_type=CT)

    @route("/_sandbox/faults", ["GET", "POST", "DELETE"])
    def faults() -> Response:
        if request.method == "POST":
            body = spec()
            if is_chaos_spec(body):
                try:
                    chaos = state.chaos.add(body)
                except (TypeError, ValueError) as err:
                    return bad(str(err))
                return _json({"fault": chaos.json()}, 201, content_type=CT)
            kind = body.get("kind", "status")
            if kind not in ("status", "drop_response"):
                return bad("kind must be status or drop_response, or one of 429, 5xx, slow, timeout, "
                           "reset with a probability")
            fault = {"path_prefix": body.get("path_prefix", "/"), "method": body.get("method"),
                     "status": body.get("status", 500), "count": int(body.get("count", 1)), "kind": kind,
                     "body": body.get("body"), "content_type": body.get("content_type"), "hits": 0}
            state.faults.append(fault)
            return _json({"fault": fault}, 201, content_type=CT)
        if request.method == "DELETE":
            state.faults.clear()
            state.chaos.clear()
        return _json({"faults": list(state.faults), **state.chaos.json()}, content_type=CT)

    @route("/_sandbox/seed", ["GET", "POST"])
    def seed() -> Response:
        if request.method == "POST":
            try:
                state.chaos.reseed(int(spec().get("seed", 0)))
            except (TypeError, ValueError) as err:
                return bad(str(err))
        return _json({"seed": state.chaos.seed}, content_type=CT)

    @app.route("/_sandbox/outage", methods=["GET", "POST", "DELETE"])
    def outage() -> Response:
        try:
            body = spec() if request.method == "POST" else {}
            return _json({"outage": state.outage.control(request.method, body)}, content_type=CT)
        except (TypeError, ValueError) as err:
            return bad(str(err))

    @route("/_sandbox/records", ["GET"])
    def records() -> Response:
        kind = next((n for n in CATALOG if n.lower() == request.args.get("type", "Case").lower()), None)
        if kind is None:
            return bad(f"unknown type; one of {sorted(CATALOG)}", "UnknownType")
        out = []
        for rec in state.records[kind].values():
            item = {"attributes": {"type": kind}, **rec}
            for f in CATALOG[kind].fields:
                item.setdefault(f["name"], state.value(kind, rec, f["name"]))
            out.append(item)
        return _json({"records": out}, content_type=CT)

    @route("/_sandbox/settings", ["GET", "POST"])
    def settings() -> Response:
        if request.method == "POST":
            try:
                state.set_settings(spec())
            except KeyError as err:
                return bad(f"unknown setting {err.args[0]!r}", "UnknownSetting")
            except (TypeError, ValueError) as err:
                return bad(str(err))
        return _json({"settings": dict(state.settings)}, content_type=CT)

    @route("/_sandbox/outbound", ["GET", "POST", "DELETE"])
    def outbound() -> Response:
        if request.method == "POST":
            try:
                action = state.register_outbound(spec())
            except (TypeError, ValueError) as err:
                return bad(str(err))
            except SfError as err:
                return bad(str(err.body))
            return _json({"outbound": action.json()}, 201, content_type=CT)
        if request.method == "DELETE":
            wanted = request.args.get("action_id")
            for key in [k for k in state.actions if wanted in (None, k)]:
                del state.actions[key]
        return _json({"outbound": [a.json() for a in state.actions.values()]}, content_type=CT)

    @route("/_sandbox/outbound_messages", ["GET"])
    def outbound_messages() -> Response:
        state.om_batch_pending()
        return _json({"messages": [d.json() for d in state.deliveries],
                      "queued": len(state.om_queue)}, content_type=CT)

    @route("/_sandbox/outbound/flush", ["POST"])
    def outbound_flush() -> Response:
        for delivery in state.deliveries:
            if delivery.status == "pending":
                delivery.next_at = 0.0
        state.om_cond.notify_all()
        return _json({"ok": True}, content_type=CT)

    @route("/_sandbox/sessions", ["GET", "POST"])
    def sessions() -> Response:
        if request.method == "POST":
            target = str(spec().get("expire", "issued"))
            for token, session in state.sessions.items():
                if target == "all" or (target == "issued" and not session.static) or target == token:
                    session.expired = True
        return _json({"sessions": [{"user_id": s.user_id, "static": s.static, "expired": s.expired,
                                    "issued": sf_time(s.issued)} for s in state.sessions.values()]},
                     content_type=CT)
