"""Meta Graph API stand-in: Facebook Pages, Messenger, Instagram (Graph API with a
Facebook Login Page token) and webhooks, shaped like graph.facebook.com.

Contract: Meta's node specs (facebook-business-sdk-codegen), the python-facebook response
samples and the RestFB webhook payloads in shared/contracts/meta, and Meta's
documentation (FIDELITY.md beside this file names which fact each behaviour models).

State lives in one :class:`MetaState` behind a lock (the server is threaded); webhook
deliveries run on their own thread. The ``/_sandbox/`` control API plays the people on
the network and the operator: customers commenting, posting and writing DMs, editing,
deleting, unsending; the clock, budgets, tokens, webhook knobs, faults and outages.
Nothing here imports ``adapters`` or ``sync``: this is the far side of the wire.

Rooms: ``app`` builds the Flask app (``MetaApi``) from ``gate`` (what every call
passes: token, proof, usage, faults; batches; debug_token), ``api_reads`` (which node an
id names; reads), ``render`` (the walker of fields and edges) with ``render_facebook``,
``render_instagram`` and ``render_inbox`` (the node types), ``api_writes`` (comments,
moderation, subscriptions), ``api_messaging`` (Send API, windows, Private Replies) and
``control``; ``model`` holds the network, ``records`` its objects, ``ids`` their ids'
shapes and ``announce`` the webhook each change sends; ``fields`` parses ``fields=``;
``paging`` holds the call, times and cursor pages; ``tokens``, ``usage``, ``cdn`` and
``webhooks`` are the token store, the budgets, signed media links and deliveries;
``errors``, ``constants`` and ``vocabulary`` are Meta's wording, figures and field names.
"""
from __future__ import annotations

from sandbox.meta.app import MetaApi, create_service
from sandbox.meta.model import MetaState

__all__ = ["MetaApi", "MetaState", "create_service"]
