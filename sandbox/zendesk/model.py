"""The whole Zendesk account in memory: ``ZendeskState``, seeded, reset and described.

Its behaviour is split by subject over the classes it is built from (users, catalog,
tickets, triggers, webhooks, jobs, events), one module each; the data lives here.
"""
from __future__ import annotations

import itertools
import secrets
import threading
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.common import Chaos, Clock, Outage, RateLimits
from sandbox.oauth import ACCESS, API_TOKEN, AuthServer
from sandbox.zendesk.catalog import Catalog
from sandbox.zendesk.channels import Channels
from sandbox.zendesk.constants import (
    API_TOKEN_SUNSET,
    CODE_SECONDS,
    DEFAULT_PLAN,
    LIMIT_DEFAULTS,
    MAX_INFLIGHT_JOBS,
    STATUSES,
)
from sandbox.zendesk.delivery import WebhookDispatcher
from sandbox.zendesk.events import Events
from sandbox.zendesk.jobs import Jobs
from sandbox.zendesk.records import _Ids
from sandbox.zendesk.ticket_parts import TicketParts
from sandbox.zendesk.tickets import TicketWrites
from sandbox.zendesk.tickets_view import TicketViews
from sandbox.zendesk.triggers import Triggers
from sandbox.zendesk.users import Users
from sandbox.zendesk.webhooks import Webhooks

if TYPE_CHECKING:
    from sandbox.zendesk.records import Job, TicketRec


class ZendeskState(Channels, Users, Catalog, TicketViews, TicketParts, TicketWrites, Triggers,
                   Webhooks, Jobs, Events):
    """The whole account in memory. Every public method expects ``self.lock`` held."""

    def __init__(self, base_url: str, subdomain: str, settings: Mapping[str, Any]) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url.rstrip("/")
        self.subdomain = subdomain
        self.clock = Clock()
        self.limits = RateLimits(dict(LIMIT_DEFAULTS))
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.outage = Outage(self.clock)
        self.account_id = 10_000_000 + secrets.randbelow(89_999_999)
        self._id_base = 10**13 + secrets.randbelow(10**11) * 128
        self.api_token = secrets.token_urlsafe(30)
        self.agent_token = secrets.token_urlsafe(30)
        self.api_oauth_token = secrets.token_hex(32)
        self.agent_oauth_token = secrets.token_hex(32)
        self.api_email = str(settings.get("api_email", "socialdesk-api@sandbox.example.com"))
        self.agent_email = str(settings.get("agent_email", "alex.agent@sandbox.example.com"))
        self.oauth_client_id = str(settings.get("oauth_client_id", "socialdesk_sandbox"))
        self.oauth_client_secret = secrets.token_hex(32)
        self.auth = AuthServer.create(self.clock, _mint, CODE_SECONDS)
        self.generation = 0
        self.dispatcher = WebhookDispatcher(self)
        self._init_channels(settings)
        self.reset()
        # The account's credentials: API tokens (any user's email with either) until the
        # sunset; the fixed OAuth tokens, which never expire (global ones made before the
        # expiry rule).
        sunset = settings.get("api_token_sunset", API_TOKEN_SUNSET)
        for value in (self.api_token, self.agent_token):
            self.auth.tokens.add(value, API_TOKEN, "account",
                                 expires_at=None if sunset is None else float(sunset))
        for value, user in ((self.api_oauth_token, self.api_user_id),
                            (self.agent_oauth_token, self.agent_user_id)):
            self.auth.tokens.add(value, ACCESS, str(user), scope="read write")

    # ----------------------------------------------------------- seed / reset

    def reset(self) -> None:
        """Forget everything but the credentials: tokens issued stay as they are (the
        clock going back to the wall may make expired ones valid again), the fixed ones
        work again, the next authorization is approved; seeds come back with the same ids."""
        self.generation += 1
        self.clock.reset()
        self.auth.tokens.restore_fixed()
        self.auth.consent.set(True)
        self.limits.reset()
        self.plan, self.high_volume = DEFAULT_PLAN, False
        self.max_inflight_jobs = MAX_INFLIGHT_JOBS
        # What each new bulk job is held for (``/_sandbox/jobs``): status reads, sandbox seconds.
        self.job_hold_reads, self.job_hold_seconds = 0, 0.0
        self.chaos.clear()
        self.chaos.reseed(self.chaos.seed)
        self.outage.clear()
        self.ids = _Ids(self._id_base)
        self.nice_ids = itertools.count(1)
        self.users: dict[int, dict[str, Any]] = {}
        self.identities: dict[int, dict[str, Any]] = {}
        # Lookup indexes, as the real service has: entries are only ever added, and each
        # hit is checked against the record, so a rolled-back write leaves nothing wrong.
        self._users_by_external: dict[str, list[int]] = {}
        self._identities_by_key: dict[tuple[str, str], list[int]] = {}
        self._identities_of_user: dict[int, list[int]] = {}
        self.tickets: dict[int, TicketRec] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.brands: dict[int, dict[str, Any]] = {}
        self.forms: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.custom_roles: dict[int, dict[str, Any]] = {}
        self.custom_statuses: dict[str, int] = {}
        self.fields: dict[int, dict[str, Any]] = {}
        self.sla_policies: dict[int, dict[str, Any]] = {}
        self.triggers: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.invocations: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.request_log: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self._reset_channels()
        self._seed()

    def _seed(self) -> None:
        now = self.clock.now()
        self.trigger_category_id = str(self.ids.next())
        admin_role = self.ids.next()
        staff_role = self.ids.next()
        for role_id, name, role_type, desc in (
                (admin_role, "Admin", 4, "Can manage all settings, except billing"),
                (staff_role, "Staff", 0, "Can edit tickets within their groups")):
            self.custom_roles[role_id] = {"id": role_id, "name": name, "description": desc,
                                          "role_type": role_type, "_created": now}
        org = self.ids.next()
        self.organizations[org] = {"id": org, "name": "Sandbox Inc", "_created": now}
        social = self.ids.next()
        escalations = self.ids.next()
        for gid, name, default in ((social, "Social care", True), (escalations, "Escalations", False)):
            self.groups[gid] = {"id": gid, "name": name, "description": "", "default": default,
                                "is_public": True, "deleted": False, "_created": now}
        self.default_group_id = social
        for status in STATUSES[:-1]:
            self.custom_statuses[status] = self.ids.next()
        form = self.ids.next()
        brand = self.ids.next()
        self.default_form_id, self.default_brand_id = form, brand
        self.forms[form] = {"id": form, "name": "Default Ticket Form", "_created": now}
        self.brands[brand] = {"id": brand, "name": "Sandbox", "_created": now}
        for position, (kind, title) in enumerate((
                ("subject", "Subject"), ("description", "Description"), ("status", "Status"),
                ("tickettype", "Type"), ("priority", "Priority"), ("group", "Group"),
                ("assignee", "Assignee")), start=1):
            fid = self.ids.next()
            self.fields[fid] = self._field_record(fid, kind, title, position, now, removable=False)
        self.seed_fields: dict[str, int] = {}
        for key, kind, title, options in (
                ("social_network", "tagger", "Social network",
                 [("X", "x"), ("Facebook", "facebook"), ("Instagram", "instagram")]),
                ("social_post_url", "text", "Social post URL", None),
                # What an admin adds for Meta's messaging window: socialdesk writes the deadline.
                ("social_reply_deadline", "text", "Reply deadline", None),
                ("social_followers", "integer", "Social followers", None)):
            fid = self.ids.next()
            record = self._field_record(fid, kind, title, 9999, now, removable=True)
            if options:
                record["custom_field_options"] = [
                    {"id": self.ids.next(), "name": name, "raw_name": name, "value": value,
                     "default": False} for name, value in options]
            self.fields[fid] = record
            self.seed_fields[key] = fid
        self.api_user_id = self._new_user({
            "name": "Socialdesk Integration", "email": self.api_email, "role": "admin",
            "verified": True, "organization_id": org, "custom_role_id": admin_role,
            "role_type": 4, "default_group_id": social}, now)
        self.agent_user_id = self._new_user({
            "name": "Alex Agent", "email": self.agent_email, "role": "agent", "verified": True,
            "organization_id": org, "custom_role_id": staff_role, "role_type": 0,
            "default_group_id": social}, now)

    def info(self) -> dict[str, Any]:
        return {"subdomain": self.subdomain, "account_id": self.account_id,
                "api_email": self.api_email, "api_token": self.api_token,
                "api_oauth_token": self.api_oauth_token, "api_user_id": self.api_user_id,
                "agent_email": self.agent_email, "agent_token": self.agent_token,
                "agent_oauth_token": self.agent_oauth_token, "agent_user_id": self.agent_user_id,
                "ticket_fields": dict(self.seed_fields),
                "groups": {g["name"]: gid for gid, g in self.groups.items()},
                "brand_id": self.default_brand_id, "ticket_form_id": self.default_form_id,
                "oauth_client_id": self.oauth_client_id,
                "oauth_client_secret": self.oauth_client_secret,
                "oauth_authorize_url": f"{self.base_url}/oauth/authorizations/new",
                "oauth_token_url": f"{self.base_url}/oauth/tokens"}

    # ----------------------------------------------------------- urls

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v2/{path}"


def _mint(kind: str) -> str:
    """Zendesk's token values: 64 hex characters (authorization codes shorter)."""
    return secrets.token_urlsafe(24) if kind == "code" else secrets.token_hex(32)
