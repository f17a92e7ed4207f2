"""Validate HTTP responses against the vendors' own OpenAPI specs in ../shared/contracts.

The specs are read once per test session. Zendesk paths lose zenpy's ``.json`` suffix
before matching, and requests are matched against each spec's production server so the
sandbox's loopback address does not matter.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlsplit

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

# The vendor contracts live beside the checkout (../shared/contracts) unless told otherwise.
CONTRACTS = Path(os.environ.get("SOCIALDESK_CONTRACTS")
                 or Path(__file__).resolve().parents[2] / "shared" / "contracts")
X_SPEC = CONTRACTS / "x" / "specs" / "xdk_latest-openapi.json"
ZENDESK_SPEC = CONTRACTS / "zendesk" / "specs" / "z4j_ticketing.yaml"


class _ZendeskLoader(yaml.SafeLoader):
    """The Zendesk OAS uses YAML's obscure ``=`` (value) tag in one example."""


_ZendeskLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _allow_null(node: Any, top: bool = True) -> None:
    """Mark typed schemas nullable.

    The Zendesk OAS declares no ``nullable`` at all, yet real responses carry ``null`` in
    dozens of fields (``external_id``, ``priority``, ``group_id``... in the recorded ticket
    create); a null must pass, a wrong non-null type must still fail. In a ``oneOf`` only
    the first branch takes null, or a null would match several branches and fail.
    """
    if isinstance(node, dict):
        if top and isinstance(node.get("type"), str):
            node["nullable"] = True
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        for key, value in node.items():
            if key == "oneOf" and isinstance(value, list):
                for index, branch in enumerate(value):
                    _allow_null(branch, top=index == 0)
            else:
                _allow_null(value)
    elif isinstance(node, list):
        for value in node:
            _allow_null(value)


def contracts_available() -> bool:
    return X_SPEC.exists() and ZENDESK_SPEC.exists()


@functools.lru_cache(maxsize=None)
def _api(name: str) -> tuple[OpenAPI, str]:
    if name == "x":
        spec = json.loads(X_SPEC.read_text())
        server = "https://api.x.com"
    elif name == "zendesk":
        spec = yaml.load(ZENDESK_SPEC.read_text(), Loader=_ZendeskLoader)
        _allow_null(spec)
        server = "https://example.zendesk.com"
    else:
        raise KeyError(name)
    spec["servers"] = [{"url": server}]
    # The vendor files are validated as documents elsewhere; here they are contracts.
    config = Config(spec_validator_cls=None,
                    # X's error bodies are RFC 7807 problem documents.
                    extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(spec, config=config), server


def _validate(name: str, method: str, url: str, status: int, headers: Mapping[str, str],
              body: bytes | None, request_body: Any = None) -> None:
    api, server = _api(name)
    parts = urlsplit(url)
    path = parts.path
    if name == "zendesk" and path.endswith(".json"):
        path = path[: -len(".json")]
    data = json.dumps(request_body).encode() if request_body is not None else None
    request = MockRequest(server, method.lower(), path, args=dict(parse_qsl(parts.query)), data=data)
    content_type = headers.get("Content-Type") or headers.get("content-type") or "application/json"
    response = MockResponse(body or b"", status_code=status, headers=dict(headers),
                            content_type=content_type.split(";")[0].strip())
    api.validate_response(request, response)


def validate_x(method: str, url: str, status: int, headers: Mapping[str, str],
               body: bytes | None, request_body: Any = None) -> None:
    """Raise when an X response does not match the xdk OpenAPI (2.159)."""
    _validate("x", method, url, status, headers, body, request_body)


def validate_zendesk(method: str, url: str, status: int, headers: Mapping[str, str],
                     body: bytes | None, request_body: Any = None) -> None:
    """Raise when a Zendesk response does not match the Support API OAS."""
    _validate("zendesk", method, url, status, headers, body, request_body)
