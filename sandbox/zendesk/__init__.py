"""Zendesk Support API stand-in that real zenpy (and the daemon) talk to unchanged.

The rule is fidelity to the far side: field names, JSON types (ids are integers),
status codes, error bodies, pagination envelopes and headers follow Zendesk's Support
API OAS and the zenpy cassettes recorded against real accounts
(shared/contracts/zendesk). Where neither source says what Zendesk does, the choice made
here is listed in ``FIDELITY_NOTES`` so it can be carried into the fidelity table.

State lives in memory in one ``ZendeskState`` (``app.extensions["sandbox_state"]``),
guarded by a single re-entrant lock. Triggers fire synchronously inside the write that
caused them; their webhook notifications are sent, signed, from a background thread.

Rooms: ``app`` builds the Flask app; ``gate`` is what every request passes first;
``api_*`` are the vendor API's routes (``api_oauth``: authorize, token, revoke; the
tokens and codes are ``sandbox.oauth``'s); ``control`` is the ``/_sandbox/`` API; ``model``
holds the account, its behaviour split by subject (``users``, ``catalog``,
``tickets_view``, ``ticket_parts``, ``tickets``, ``triggers``, ``webhooks``, ``jobs``,
``events``); ``delivery`` sends webhooks; ``wire`` and ``helpers`` are Zendesk's shapes.
"""
from __future__ import annotations

from sandbox.zendesk.api_exports import _time_page
from sandbox.zendesk.app import create_service
from sandbox.zendesk.constants import FIDELITY_NOTES, REQUEST_LOG_MAX
from sandbox.zendesk.delivery import WebhookDispatcher, render_placeholders, sign_webhook
from sandbox.zendesk.helpers import ApiError
from sandbox.zendesk.model import ZendeskState

__all__ = ["ApiError", "FIDELITY_NOTES", "REQUEST_LOG_MAX", "WebhookDispatcher", "ZendeskState",
           "_time_page", "create_service", "render_placeholders", "sign_webhook"]
