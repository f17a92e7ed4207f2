"""The whole Salesforce org in memory: ``SalesforceState``, seeded, reset and described.

Its behaviour is split by subject over the classes it is built from (schema views,
coercion, writes, sessions, outbound queue), one module each; the data lives here.
"""
from __future__ import annotations

import itertools
import secrets
import threading
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.common import Chaos, Clock, Outage
from sandbox.oauth import ACCESS, AuthServer
from sandbox.salesforce.catalog import CATALOG
from sandbox.salesforce.coercion import Coercion
from sandbox.salesforce.constants import (
    API_VERSION,
    CODE_SECONDS,
    DAILY_API_DEFAULT,
    DAILY_WINDOW,
    QUERY_PAGE,
    SOCIAL_FIELDS,
)
from sandbox.salesforce.delivery import OutboundDispatcher
from sandbox.salesforce.ids import IdFactory, sf_time
from sandbox.salesforce.outbound import OutboundQueue
from sandbox.salesforce.records import _token_chars
from sandbox.salesforce.sessions import Sessions
from sandbox.salesforce.views import SchemaViews
from sandbox.salesforce.writes import Writes

if TYPE_CHECKING:
    from sandbox.salesforce.catalog import ObjectView
    from sandbox.salesforce.records import Delivery, OutboundAction


class SalesforceState(SchemaViews, Coercion, Writes, Sessions,
                      OutboundQueue):
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
        self.auth = AuthServer.create(self.clock, self.mint, CODE_SECONDS)
        self.community_url = f"{self.base_url}/support"
        self.dispatcher = OutboundDispatcher(self)
        self.reset()
        self.static_tokens = {}
        for who in ("api", "agent"):
            token = self.static_tokens[who] = self.mint(ACCESS)
            self.auth.tokens.add(token, ACCESS, self.user_ids[who], scope="api")

    # ----------------------------------------------------------- reset / seed

    def reset(self) -> None:
        """Forget everything but credentials, sessions and refresh tokens (the clock going
        back to the wall may make expired ones valid again); the fixed sessions work again,
        the next authorization is approved; seeds come back with the same ids."""
        self.generation += 1
        self.clock.reset()
        self.ids.reset()
        self.ids.next("00D")
        self.settings: dict[str, Any] = {"custom_fields": True, "entitlement_management": True,
                                         "query_page_size": QUERY_PAGE,
                                         "refresh_token_rotation": False,
                                         "refresh_token_expires_in": None}
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
        self.auth.tokens.restore_fixed()
        self.auth.consent.set(True)
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
                "oauth_authorize_url": f"{self.base_url}/services/oauth2/authorize",
                "oauth_token_url": f"{self.base_url}/services/oauth2/token",
                "community_url": self.community_url,
                "organization_id": self.org_id, "queue_id": self.queue_id,
                "record_types": dict(self.record_type_ids), "assignment_rule_id": self.assignment_rule_id,
                "entitlements": dict(self.entitlement_ids), "account_id": self.account_id,
                "custom_fields": {"Case": [f for f in SOCIAL_FIELDS], "Contact": ["Social_Handle__c"]}}
