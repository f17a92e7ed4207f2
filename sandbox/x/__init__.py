"""X API v2 stand-in: the endpoints socialdesk uses, shaped like api.x.com.

Contract: xdk ``latest-openapi.json`` (2.159) plus the tweepy cassettes in
shared/contracts/x. Field selection, expansions, pagination tokens, rate-limit headers
and error bodies (``application/problem+json``) follow the real service; where the
sandbox knowingly differs, the difference is named in the docstring that causes it.

State lives in one :class:`XState` behind a lock (the server is threaded). The
``/_sandbox/`` control API plays everyone else on the network: customers posting,
replying and sending DMs, posts going viral, the clock moving, faults and tight limits.
Nothing here imports ``adapters`` or ``sync``: this is the far side of the wire.

Rooms: ``app`` builds the Flask app (``XApi``) from ``gate`` (what every request passes),
``render``, ``api_reads``, ``api_writes``, ``api_oauth`` (authorize, token, revoke) and
``control``; ``oauth1`` checks OAuth 1.0a signatures (tokens and codes are
``sandbox.oauth``'s); ``model`` holds the network
(``XState``) and ``records`` its posts and people; ``params``, ``search`` and ``includes``
read requests and shape responses; ``constants`` and ``helpers`` are X's vocabulary.
"""
from __future__ import annotations

from sandbox.x.app import XApi, create_service
from sandbox.x.model import XState
from sandbox.x.records import DmEvent, Fault, Post, User

__all__ = ["DmEvent", "Fault", "Post", "User", "XApi", "XState", "create_service"]
