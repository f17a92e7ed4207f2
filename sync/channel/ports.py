"""What socialdesk's side of the Channel Framework asks of a helpdesk in that mode.

The framework's wire (the manifest, external resources, what Zendesk posts) is the
adapter's to speak (adapters/helpdesk/zendesk/channel.py); the engine reaches it through
the built adapter, and asks the type as everywhere else.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from adapters.base import Secret


@runtime_checkable
class HostsChannel(Protocol):
    """A helpdesk whose tickets Zendesk makes from resources socialdesk hands it."""

    name: str
    max_resources: int
    at_creation: tuple[str, ...]
    push_wait: float | None      # seconds a new resource may wait to fill a push (None: the default)

    def use_ledger(self, ledger: Any) -> None:
        """socialdesk's record of the threads handed to Zendesk (``ThreadLedger``)."""

    def subdomain(self) -> str:
        """The account's subdomain, as Zendesk names it to the admin UI."""

    def owns_url(self, url: str) -> bool:
        """Whether ``url`` is on the account's own host."""

    def push(self, instance_push_id: str, token: Secret, resources: Sequence[Mapping[str, Any]],
             request_id: str) -> list[Any]:
        """Push resources; one result (``external_id``, ``status``, ``imported``) each."""

    def validate_push(self, instance_push_id: str, token: Secret) -> None:
        """AuthFailed unless Zendesk issued ``token`` for ``instance_push_id``."""

    def set_after_creation(self, ticket_id: str, settings: Mapping[str, Any]) -> list[str]:
        """Set through REST what the framework cannot set at creation; what was set."""

    def read_admin(self, form: Mapping[str, Any]) -> Any:
        """What Zendesk posted to the admin UI; ValueError when it is not that."""

    def read_pull(self, form: Mapping[str, Any]) -> tuple[str, str | None]:
        """(metadata, state) of a pull; ValueError when it is not one."""

    def read_channelback(self, form: Mapping[str, Any], file_urls: Sequence[str] = ()) -> Any:
        """An agent's reply as Zendesk posts it; ValueError when it is not one."""

    def read_events(self, body: bytes) -> list[Any]:
        """Event callbacks; ValueError when the body is not their envelope."""

    def manifest(self, **values: Any) -> dict[str, Any]:
        """The integration manifest."""

    def external_resource(self, **values: Any) -> dict[str, Any]:
        """One external resource."""

    def pull_payload(self, resources: Sequence[Mapping[str, Any]], state: str) -> dict[str, Any]:
        """A pull's answer."""

    def channelback_payload(self, external_id: str) -> dict[str, Any]:
        """A channelback's answer."""
