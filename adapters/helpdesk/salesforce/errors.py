"""The Salesforce adapter's one way to fail: simple-salesforce and requests errors onto the
adapter taxonomy."""
from __future__ import annotations

import contextlib
from typing import Iterator

import requests
from simple_salesforce.exceptions import (
    SalesforceError, SalesforceExpiredSession, SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord, SalesforceRefusedRequest, SalesforceResourceNotFound,
)

from adapters.base import AuthFailed, FatalError, NotFound, RateLimited, RetriableError, SkippableError


def _errors(err: SalesforceError) -> str:
    content = getattr(err, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in content[:3])
    return type(err).__name__


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Map simple-salesforce and requests failures onto the adapter taxonomy."""
    try:
        yield
    except SalesforceExpiredSession as err:
        raise AuthFailed(f"{what}: session expired or invalid") from err
    except SalesforceRefusedRequest as err:
        detail = _errors(err)
        if "REQUEST_LIMIT_EXCEEDED" in detail:
            raise RateLimited(f"{what}: the org's daily API allocation is spent", 3600.0) from err
        raise AuthFailed(f"{what}: refused ({detail})") from err
    except SalesforceResourceNotFound as err:
        raise NotFound(f"{what}: not found") from err
    except SalesforceMoreThanOneRecord as err:
        raise SkippableError(f"{what}: the external id matches several records") from err
    except SalesforceMalformedRequest as err:
        detail = _errors(err)
        if "INVALID_FIELD" in detail or "INVALID_TYPE" in detail:
            raise FatalError(f"{what}: {detail} (is the socialdesk metadata deployed?)") from err
        raise SkippableError(f"{what}: {detail}") from err
    except SalesforceError as err:
        status = getattr(err, "status", None)
        if status is None or status >= 500:
            raise RetriableError(f"{what}: HTTP {status}") from err
        raise SkippableError(f"{what}: HTTP {status} {_errors(err)}") from err
    except (requests.Timeout, requests.ConnectionError) as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
    except requests.RequestException as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err

