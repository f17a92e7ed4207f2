"""Salesforce Service Cloud stand-in that real simple-salesforce (and the daemon) talk to unchanged.

The rule is fidelity to the far side. There is **no Salesforce OpenAPI**: Salesforce generates
an OAS per org and publishes none (CONTRACTS.md §0), so shapes here follow what was recorded
from real orgs (the CumulusCI cassettes: Case describe, Organization, create, composite,
sObject Collections upsert, count queries), the restforce fixtures (query paging, upsert 300,
error arrays, token bodies), the Outbound Messaging SOAP bodies captured by aspnet/WebHooks, and
the vendor documentation quoted in CONTRACTS.md §3, §7, §8, §9 and LIMITS.md. Where no source
says what Salesforce does, the choice made here is listed in ``FIDELITY_NOTES``.

What is modelled: the OAuth token endpoint (password, client credentials, JWT bearer,
authorization code, refresh token), the authorize page and revoke, and the SOAP partner login
simple-salesforce uses; sObject describe / global describe; record create,
read, update, delete and upsert by external ID (201 / 200 or 204 / 300); sObject Collections
(<= 200 records, per-record results, allOrNone); Composite; a SOQL subset with
``nextRecordsUrl`` paging; getUpdated / getDeleted; ``/limits`` and a rolling 24-hour API
allocation reported in ``Sforce-Limit-Info`` on every API response; Case assignment rules
(``Sforce-Auto-Assign``); entitlements; CaseComment; Outbound Messaging to a registered
loopback receiver, retried until it acknowledges.

State lives in memory in one ``SalesforceState`` (``app.extensions["sandbox_state"]``) guarded by
one re-entrant lock. Outbound messages are sent from a background thread.

Rooms: ``app`` builds the Flask app; ``gate`` is what every request passes first;
``api_auth`` (with ``api_oauth``: authorize, code and refresh grants; tokens and codes are
``sandbox.oauth``'s), ``api_data`` (with ``describe``) and ``api_collections`` are the vendor
API's routes; ``control`` is the ``/_sandbox/`` API; ``model`` holds the org, its behaviour split by
subject (``views``, ``coercion``, ``writes``, ``sessions``, ``outbound``); ``delivery`` sends
outbound messages; ``fields`` and ``catalog`` are the describe metadata; ``soql_parse`` and
``soql`` the query subset; ``ids``, ``errors`` and ``wire`` are Salesforce's shapes.
"""
from __future__ import annotations

from sandbox.salesforce.app import create_service
from sandbox.salesforce.catalog import CATALOG, PREFIXES, ObjectView, SObjectType
from sandbox.salesforce.constants import API_VERSION, FIDELITY_NOTES, REQUEST_LOG_MAX
from sandbox.salesforce.delivery import OutboundDispatcher, is_ack, send_outbound
from sandbox.salesforce.errors import SfError
from sandbox.salesforce.ids import normalize_id, to18
from sandbox.salesforce.model import SalesforceState
from sandbox.salesforce.soql import Soql
from sandbox.salesforce.soql_parse import Parser, SoqlError

__all__ = ["API_VERSION", "CATALOG", "FIDELITY_NOTES", "OutboundDispatcher", "ObjectView",
           "PREFIXES", "Parser", "REQUEST_LOG_MAX", "SObjectType", "SalesforceState", "SfError",
           "Soql", "SoqlError", "create_service", "is_ack", "normalize_id", "send_outbound", "to18"]
