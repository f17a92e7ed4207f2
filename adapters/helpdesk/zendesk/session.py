"""The Zendesk adapter's HTTP session and its one way to fail.

zenpy sleeps on HTTP 429 by itself; the engine must schedule instead. Our session's
response hook raises on 429 before zenpy sees the response, so the library never sleeps
and the engine gets ``RateLimited(retry_after)``. Every zenpy, requests and HTTP error is
translated into the adapter error taxonomy here.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Mapping

import requests
from zenpy.lib.exception import (
    APIException, RecordNotFoundException, TooManyValuesException, ZenpyException,
)

from adapters.base import (
    AuthFailed, FatalError, NotFound, RateLimited, RetriableError, SkippableError,
)
from adapters.http import _TimeoutSession


class _Throttled(requests.RequestException):
    """Raised from the response hook so zenpy never reaches its sleeping 429 loop."""

    def __init__(self, retry_after: float, text: str) -> None:
        super().__init__(f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after
        self.text = text


def _raise_on_429(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", "60"))
        except ValueError:
            retry_after = 60.0
        raise _Throttled(max(retry_after, 1.0), response.text[:200])


class _ZendeskSession(_TimeoutSession):
    """A session that adds per-call headers (``Idempotency-Key``) zenpy cannot pass."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__(timeout)
        self._local = threading.local()

    @contextlib.contextmanager
    def extra_headers(self, headers: Mapping[str, str]) -> Iterator[None]:
        self._local.headers = dict(headers)
        try:
            yield
        finally:
            self._local.headers = {}

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        extra = getattr(self._local, "headers", None)
        if extra:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), **extra}
        return super().request(method, url, **kwargs)



def _status_of(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Map every zenpy / requests / HTTP failure onto the adapter taxonomy."""
    try:
        yield
    except _Throttled as err:
        raise RateLimited(f"{what}: Zendesk rate limit", err.retry_after) from err
    except RecordNotFoundException as err:
        raise NotFound(f"{what}: not found") from err
    except TooManyValuesException as err:
        raise FatalError(f"{what}: more than 100 values in one call") from err
    except APIException as err:
        status = _status_of(err)
        detail = str(err)[:300]
        if status in (401, 403):
            raise AuthFailed(f"{what}: HTTP {status} {detail}") from err
        if status is not None and status >= 500:
            raise RetriableError(f"{what}: HTTP {status}") from err
        if status == 409:
            raise RetriableError(f"{what}: HTTP 409 (update conflict)") from err
        if status == 404:
            raise NotFound(f"{what}: not found") from err
        if status in (400, 422):
            raise SkippableError(f"{what}: HTTP {status} {detail}") from err
        raise FatalError(f"{what}: HTTP {status} {detail}") from err
    except requests.HTTPError as err:
        status = _status_of(err)
        if status in (401, 403):
            raise AuthFailed(f"{what}: HTTP {status}") from err
        if status is None or status >= 500 or status in (408, 409):
            raise RetriableError(f"{what}: HTTP {status}") from err
        if status == 404:
            raise NotFound(f"{what}: not found") from err
        raise SkippableError(f"{what}: HTTP {status}") from err
    except (requests.Timeout, requests.ConnectionError) as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
    except requests.RequestException as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
    except ZenpyException as err:
        raise FatalError(f"{what}: {err}") from err
