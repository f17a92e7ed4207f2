"""Signed media links as Meta's CDNs hand them out.

An attachment's URL carries ``oe`` (its expiry, hex Unix seconds) and ``oh`` (a signature
over the path and ``oe``), as scontent.xx.fbcdn.net and cdninstagram.com links do. After
``oe`` the CDN answers 403 "URL signature expired"; a changed URL answers 403 "URL
signature mismatch". Reading the object again yields a fresh link.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import threading
from typing import Any

from sandbox.common import Clock
from sandbox.meta.constants import CDN_TTL

# A 1x1 JPEG: what every sandbox photo looks like.
PIXEL = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8"
    "e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9")
MEDIA_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg",
               "file": "application/octet-stream"}


class Cdn:
    def __init__(self, clock: Clock, url: str) -> None:
        self._clock = clock
        self._url = url
        self._key = secrets.token_bytes(32)
        self._ids = itertools.count(int("10" + "".join(secrets.choice("0123456789")
                                                       for _ in range(14))))
        self._lock = threading.Lock()
        self.ttl = float(CDN_TTL)

    def reset(self) -> None:
        self.ttl = float(CDN_TTL)

    def asset(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A stored attachment from a control-API media spec ({"type": "image"})."""
        kind = str(spec.get("type") or "image")
        if kind not in MEDIA_TYPES:
            raise ValueError(f"media type is one of {sorted(MEDIA_TYPES)}")
        with self._lock:
            asset_id = str(next(self._ids))
        ext = {"image": "jpg", "video": "mp4", "audio": "mp3"}.get(kind, "bin")
        return {"id": asset_id, "type": kind, "mime_type": MEDIA_TYPES[kind],
                "name": f"{kind}-{asset_id}.{ext}", "size": len(PIXEL), "width": 1,
                "height": 1}

    def _sign(self, path: str, oe: str) -> str:
        return hmac.new(self._key, f"{path}|{oe}".encode(), hashlib.sha256).hexdigest()[:32]

    def link(self, asset: dict[str, Any]) -> str:
        """A fresh signed link for ``asset``, good for ``ttl`` sandbox seconds from now."""
        oe = format(int(self._clock.now() + self.ttl), "X")
        path = f"/cdn/v/t39.30808-6/{asset['id']}_n.{asset['name'].rsplit('.', 1)[-1]}"
        return (f"{self._url}{path}?_nc_cat=1&ccb=1-7&_nc_sid=8ae9d6"
                f"&oh={self._sign(path, oe)}&oe={oe}")

    def check(self, path: str, oh: str, oe: str) -> tuple[int, str]:
        """(status, reason) of a CDN request."""
        if not oh or not oe or not hmac.compare_digest(self._sign(path, oe), oh):
            return 403, "URL signature mismatch"
        try:
            expiry = int(oe, 16)
        except ValueError:
            return 403, "URL signature mismatch"
        if self._clock.now() >= expiry:
            return 403, "URL signature expired"
        return 200, ""
