"""The Channel Framework's installs and accounts on ``ZendeskState``: an integration
installed from its manifest, the admin UI that makes or edits one of its accounts, the
account deleted, and the push token it holds.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any, Mapping

from sandbox.zendesk.channel_flows import ChannelRunner
from sandbox.zendesk.channel_records import (
    METADATA_MAX,
    NAME_MAX,
    PULL_SECONDS,
    RETURN_PATH,
    ChannelTicket,
    Imported,
    Instance,
    Integration,
    Setup,
)
from sandbox.zendesk.helpers import ApiError, not_found


class ChannelAccounts:
    """Integrations and their accounts on ``ZendeskState`` (the data lives in ``_reset_channels``)."""

    # ----------------------------------------------------------- lifecycle

    def _init_channels(self, settings: Mapping[str, Any]) -> None:
        # A local integration served over plain HTTP on loopback passes the https-url
        # format only when the service is started with this setting (real Zendesk: never).
        self.channel_plain_http = bool(settings.get("channel_plain_http_loopback", False))
        self.channel_runner = ChannelRunner(self)
        self._channel_write: dict[str, Any] | None = None

    def _reset_channels(self) -> None:
        self.channel_integrations: dict[int, Integration] = {}
        self.channel_instances: dict[int, Instance] = {}
        self.channel_setups: dict[str, Setup] = {}
        self.channel_resources: dict[tuple[int, str], Imported] = {}
        self.channel_threads: dict[tuple[int, str], int] = {}
        self.channel_tickets: dict[int, ChannelTicket] = {}
        self.channel_authors: dict[tuple[int, str], int] = {}
        self.channel_followups: dict[int, int] = {}
        self._channel_write = None

    @property
    def channel_return_url(self) -> str:
        return f"{self.base_url}{RETURN_PATH}"

    # ----------------------------------------------------------- integrations and instances

    def add_channel_integration(self, manifest_url: str, manifest: dict[str, Any]) -> tuple[Integration, bool]:
        """Install (or, for a manifest URL installed before, refresh) an integration."""
        for integ in self.channel_integrations.values():
            if integ.manifest_url == manifest_url:
                integ.manifest = manifest
                return integ, False
        integ = Integration(self.ids.next(), manifest_url, manifest, self.clock.now())
        self.channel_integrations[integ.id] = integ
        self.channel_event(integ, "create_integration", {"manifest_url": manifest_url})
        return integ, True

    def channel_target(self, ident: Any) -> tuple[Integration, Instance | None]:
        """An integration (a new account's admin UI) or one of its instances, by id."""
        try:
            key = int(ident)
        except (TypeError, ValueError) as err:
            raise not_found() from err
        if key in self.channel_integrations:
            return self.channel_integrations[key], None
        inst = self.channel_instances.get(key)
        if inst is None:
            raise not_found()
        return self.channel_integrations[inst.integration_id], inst

    def channel_instance(self, ident: Any) -> Instance:
        """An instance by its id, or the only account of an integration named by its id."""
        integ, inst = self.channel_target(ident)
        if inst is not None:
            return inst
        live = [i for i in self.channel_instances.values()
                if i.integration_id == integ.id and i.status == "active"]
        if len(live) != 1:
            raise ApiError(409, {"error": "AmbiguousInstance",
                                 "description": f"integration {integ.id} has {len(live)} active "
                                                "accounts: name one by its instance_id"})
        return live[0]

    def channel_instance_by_push_id(self, push_id: Any) -> Instance | None:
        for inst in self.channel_instances.values():
            if inst.push_id == push_id and inst.status == "active":
                return inst
        return None

    def open_channel_setup(self, integ: Integration, inst: Instance | None,
                           locale: str) -> tuple[Setup, list[tuple[str, str]]]:
        """The admin opens the admin UI: the fields Zendesk POSTs to ``admin_ui`` (push
        docs: ``subdomain``, ``instance_push_id``, ``zendesk_access_token`` when the
        manifest has a ``push_client_id``; admin UI docs: ``return_url``, ``locale``;
        ``name``, ``metadata`` and ``state`` empty for a new account)."""
        if inst is not None and inst.status != "active":
            raise ApiError(409, {"error": "InstanceDestroyed", "description": "the account was deleted"})
        if inst is not None:
            push_id, token = inst.push_id, inst.token
        else:
            push_id = str(uuid.uuid4())
            token = None
            client_id = integ.manifest.get("push_client_id")
            if client_id:
                issued = self.auth.tokens.issue(str(self.api_user_id), client_id=str(client_id),
                                                grant="channel_framework", scope="read write",
                                                lifetime=None)
                token = issued.access
        setup = Setup(secrets.token_hex(8), integ.id, None if inst is None else inst.id, push_id, token,
                      self.clock.now())
        self.channel_setups[setup.id] = setup
        fields = [("name", inst.name if inst else ""), ("metadata", inst.metadata if inst else ""),
                  ("state", inst.state if inst else ""), ("return_url", self.channel_return_url),
                  ("instance_push_id", push_id)]
        if token is not None:
            fields.append(("zendesk_access_token", token))
        fields += [("locale", locale), ("subdomain", self.subdomain)]
        return setup, fields

    def latest_channel_setup(self) -> Setup | None:
        """The admin UI the admin's browser has open (the latest one not posted back)."""
        open_ = [s for s in self.channel_setups.values() if not s.done]
        return max(open_, key=lambda s: s.opened_at) if open_ else None

    def finish_channel_setup(self, setup: Setup, form: Mapping[str, str]) -> Instance:
        """The admin UI posted ``name`` and ``metadata`` (and optionally ``state``) back to
        ``return_url``: the account is made, or edited. ValueError names what is wrong."""
        name = str(form.get("name") or "").strip()
        if not name:
            raise ValueError("name is required")
        if len(name) > NAME_MAX:
            raise ValueError(f"name is longer than {NAME_MAX} characters")
        if "metadata" not in form:
            raise ValueError("metadata is required")
        metadata, state = str(form["metadata"]), form.get("state")
        for what, value in (("metadata", metadata), ("state", state)):
            if value is not None and len(value) > METADATA_MAX:
                raise ValueError(f"{what} is longer than {METADATA_MAX} characters")
        integ = self.channel_integrations.get(setup.integration_id)
        if setup.done or integ is None:
            raise ValueError("this admin UI was already posted back")
        setup.done = True
        now = self.clock.now()
        if setup.instance_id is not None:
            inst = self.channel_instances[setup.instance_id]
            inst.name, inst.metadata = name, metadata
            if state is not None:
                inst.state = str(state)
            return inst
        inst = Instance(self.ids.next(), integ.id, setup.push_id, name, metadata, str(state or ""),
                        setup.token, now, now + PULL_SECONDS)
        self.channel_instances[inst.id] = inst
        self.channel_event(integ, "create_integration_instance", {"metadata": metadata}, instance=inst)
        if integ.urls.get("pull_url"):
            self.channel_runner.watch_pulls()
        return inst

    def destroy_channel_instance(self, inst: Instance) -> None:
        """The admin deletes the account: no more pulls, pushes or channelbacks."""
        if inst.status != "active":
            return
        inst.status = "destroyed"
        if inst.token is not None:
            self.auth.tokens.revoke_value(inst.token)
        integ = self.channel_integrations[inst.integration_id]
        self.channel_event(integ, "destroy_integration_instance", {"metadata": inst.metadata}, instance=inst)

    def push_token_matches(self, inst: Instance, presented: str | None) -> bool:
        return (inst.token is not None and presented is not None
                and secrets.compare_digest(inst.token.encode(), presented.encode()))
