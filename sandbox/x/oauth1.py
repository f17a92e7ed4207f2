"""OAuth 1.0a user context for the brand account: requests signed with HMAC-SHA1 by the
app's consumer key and secret and the brand's access token and secret, checked with
authlib's RFC 5849 signature functions (the sandbox shares no signing code with the
adapters). The timestamp must be within five minutes of the wall clock (the client signs
with its own clock, not the sandbox's) and a nonce is good once in that window.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from flask import request

WINDOW = 300.0


@dataclass
class _Secret:
    """What authlib's verifier asks of the client and of the token credential."""

    value: str

    def get_client_secret(self) -> str:
        return self.value

    def get_oauth_token_secret(self) -> str:
        return self.value


@dataclass
class OAuth1Keys:
    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str
    _nonces: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self) -> str | None:
        """The access token of a correctly signed request (the caller looks up whom it
        acts for), or None."""
        from authlib.oauth1.rfc5849.signature import verify_hmac_sha1
        from authlib.oauth1.rfc5849.wrapper import OAuth1Request

        body = None
        if request.mimetype == "application/x-www-form-urlencoded":
            body = request.get_data(cache=True, as_text=True)
        try:
            signed = OAuth1Request(request.method, request.url, body, dict(request.headers))
        except Exception:  # noqa: BLE001 - authlib raises several kinds for a malformed header
            return None
        params = signed.oauth_params
        if (signed.signature_method != "HMAC-SHA1" or signed.client_id != self.consumer_key
                or signed.token != self.token or not params.get("oauth_nonce")):
            return None
        try:
            stamp = float(params.get("oauth_timestamp", ""))
        except ValueError:
            return None
        now = time.time()
        if abs(now - stamp) > WINDOW:
            return None
        signed.client = _Secret(self.consumer_secret)
        signed.credential = _Secret(self.token_secret)
        if not verify_hmac_sha1(signed):
            return None
        with self._lock:
            for nonce in [n for n, at in self._nonces.items() if now - at > WINDOW]:
                del self._nonces[nonce]
            if params["oauth_nonce"] in self._nonces:
                return None
            self._nonces[params["oauth_nonce"]] = now
        return self.token
