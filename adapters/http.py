"""HTTP plumbing shared by the adapters: one way to build a session, one way to fail.

Sessions never retry on their own (urllib3 retries are off): tenacity in the engine is
the one retry mechanism, and a blind retry of a POST could post a reply twice.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

import requests
from requests.adapters import HTTPAdapter

from adapters.base import RetriableError

USER_AGENT = "socialdesk/0.1 (+https://socialdesk.example)"
DEFAULT_TIMEOUT = (5.0, 30.0)

T = TypeVar("T")


class _TimeoutSession(requests.Session):
    """A session whose every request has a timeout unless the caller sets one."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._default_timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._default_timeout)
        if isinstance(self.verify, str):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
            # verify; a CA the admin configured for this endpoint must win.
            kwargs.setdefault("verify", self.verify)
        return super().request(method, url, **kwargs)


def build_session(ca_bundle: str | None = None,
                  timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> requests.Session:
    """A session that trusts ``ca_bundle`` (the sandbox CA) or the system store."""
    session = _TimeoutSession(timeout)
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    if ca_bundle:
        session.verify = ca_bundle
    return session


def transport_errors(what: str, call: Callable[[], T]) -> T:
    """Run ``call``; a connection-level failure becomes RetriableError naming ``what``."""
    try:
        return call()
    except requests.Timeout as err:
        raise RetriableError(f"{what}: timed out") from err
    except requests.ConnectionError as err:
        raise RetriableError(f"{what}: connection failed ({type(err).__name__})") from err
    except requests.RequestException as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
