"""Outbound Messaging: the queue of notifications, their SOAP bodies and attempts."""
from __future__ import annotations

import time
from xml.etree import ElementTree
from typing import Any, Mapping
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from sandbox.salesforce.constants import (
    API_VERSION,
    OM_BATCH,
    OM_MAX_AGE,
    OM_NS,
    OM_RETRY_INITIAL,
    OM_RETRY_MAX,
    SF_NS,
)
from sandbox.salesforce.ids import normalize_id, om_time

MD_NS = "http://soap.sforce.com/2006/04/metadata"
from sandbox.salesforce.records import Delivery, OutboundAction


def _definition(text: str, name: Any) -> dict[str, Any]:
    """The fields, name and includeSessionId of an outbound message as the admin deploys it
    (an ``outboundMessages`` element of a Case.workflow-meta.xml), so the sandbox sends what
    that definition says. ``name`` picks one by fullName (default: the first)."""
    if "<!DOCTYPE" in text.upper():
        raise ValueError("the outbound message definition must not carry a DTD")
    try:
        root = ElementTree.fromstring(text.encode())
    except ElementTree.ParseError as err:
        raise ValueError(f"the outbound message definition is not XML: {err}") from None
    ns = {"md": MD_NS}
    for om in root.iter(f"{{{MD_NS}}}outboundMessages"):
        full = (om.findtext("md:fullName", "", ns) or "").strip()
        if name and full != name:
            continue
        return {"name": full, "fields": [(f.text or "").strip() for f in om.findall("md:fields", ns)],
                "send_session_id": (om.findtext("md:includeSessionId", "false", ns) or "").strip() == "true"}
    raise ValueError("no outboundMessages definition" + (f" named {name!r}" if name else ""))


class OutboundQueue:
    """Outbound message queue of ``SalesforceState``."""

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
        if spec.get("definition"):
            spec = {**spec, **_definition(str(spec["definition"]), spec.get("name"))}
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
                                bool(spec.get("send_session_id", spec.get("includeSessionId", True))),
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
