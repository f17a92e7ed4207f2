"""Salesforce Outbound Messaging: the SOAP notifications a workflow sends when a case
changes, read for the org and record ids they name, and the acknowledgement that stops
Salesforce sending them again (it retries for 24 hours until it gets one).

Outbound messages are not signed: the org id in the body must be this org's (in its 15-
or 18-character form), and the endpoint should only be reachable over TLS.
"""
from __future__ import annotations

from xml.etree import ElementTree

from adapters.base import AuthFailed


OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAP_ACK = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
            '<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>')


XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# What the deployed definition (salesforce/force-app/.../workflows/Case.workflow-meta.xml) sends.
SOBJECT_TYPE = "sf:Case"
POST_ID_FIELD = "Social_Post_Id__c"


def read_outbound_message(body: bytes) -> tuple[str, list[str]]:
    """(organization id, record ids) of a Salesforce Outbound Messaging SOAP body.

    Checked without any API call: no DTD (refused before parsing: Salesforce never sends one,
    and entity tricks need one), and every notification as the Socialdesk_Case_Changed
    definition sends it: a Case (``sf:Case``) whose ``Id`` is a Case id and whose
    ``Social_Post_Id__c`` is set (the flow's criterion)."""
    if b"<!doctype" in body.lower() or b"<!entity" in body.lower():
        raise ValueError("a DTD is not accepted")
    root = ElementTree.fromstring(body)
    notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise ValueError("no notifications element")
    org = (notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or "").strip()
    ids: list[str] = []
    for n in notifications.findall(f"{{{OUTBOUND_NS}}}Notification"):
        sobject = n.find(f"{{{OUTBOUND_NS}}}sObject")
        if sobject is None or sobject.get(f"{{{XSI_NS}}}type") != SOBJECT_TYPE:
            raise ValueError("a notification is not of a Case")
        record = (sobject.findtext(f"{{{SOBJECT_NS}}}Id") or "").strip()
        if not (len(record) in (15, 18) and record.startswith("500") and record.isalnum()):
            raise ValueError("a notification has no Case id")
        if not (sobject.findtext(f"{{{SOBJECT_NS}}}{POST_ID_FIELD}") or "").strip():
            raise ValueError(f"a notification has no {POST_ID_FIELD}")
        ids.append(record)
    if not ids:
        raise ValueError("no notification")
    return org, ids


class SalesforceOutbound:
    """``ReceivesOutboundMessages`` for ``SalesforceHelpdesk`` (no API call)."""

    @staticmethod
    def read_outbound(body: bytes, org_id: str) -> list[str]:
        try:
            org, ids = read_outbound_message(body)
        except (ElementTree.ParseError, ValueError, LookupError, RecursionError) as err:
            raise ValueError(str(err)) from err
        if org[:15] != org_id[:15]:
            raise AuthFailed(f"organization {org}")
        return list(dict.fromkeys(ids))

    @staticmethod
    def acknowledge_outbound() -> tuple[str, str]:
        return SOAP_ACK, "text/xml; charset=utf-8"
