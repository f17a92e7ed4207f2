"""The mapping file as a whole: its version, where state is kept, the endpoints, the routes
and the inbound webhook."""
from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union
from urllib.parse import urlsplit

from pydantic import Field, PlainValidator, ValidationInfo

from adapters.base import Secret
from sync.config import fields as f
from sync.config.constants import DEFAULT_LISTEN, DEFAULT_STATE_URL, STATE_SCHEMES
from sync.config.context import LoadContext
from sync.config.endpoints import EnvReference, FileReference, read_endpoints, reference_value
from sync.config.route import Route, read_routes
from sync.config.sections import Section
from sync.config.values import EnvRef, WebhookConfig

_STATE_ALLOWED = "sqlite:///FILE or postgresql+psycopg://HOST/DB (or state: {env: NAME} or {file: PATH})"


def _urlsplit(url: str) -> Any:
    """urlsplit, with a URL it cannot split (an unbalanced '[') read as no URL at all."""
    try:
        return urlsplit(url)
    except ValueError:
        return urlsplit("")


def _state(value: Any, info: ValidationInfo) -> str | Secret | EnvRef:
    doc: LoadContext = info.context
    if isinstance(value, dict):
        url = reference_value(value, ("state",), doc, secret=True)
        if isinstance(url, Secret) and _urlsplit(url.reveal()).scheme.split("+")[0] not in STATE_SCHEMES:
            where = f"the file {value['file']}" if "file" in value else f"${url.name}"
            f.fail(f"the URL in {where} is not a supported database URL; expected {_STATE_ALLOWED}")
        return url if url is not None else DEFAULT_STATE_URL
    url = f.string(value, nullable=True)
    if url is None:
        return DEFAULT_STATE_URL
    parts = _urlsplit(url)
    if parts.scheme.split("+")[0] not in STATE_SCHEMES:
        f.fail(f"unsupported database URL scheme {parts.scheme or '(none)'!r}; expected {_STATE_ALLOWED}")
    if parts.password:
        f.fail("the URL carries a password: do not write it in the mapping; write "
               "state: {env: SOCIALDESK_STATE_URL} or state: {file: PATH} with the whole URL, or use PGPASSWORD")
    return url


def _listen(value: Any) -> tuple[str, int]:
    listen = f.string(value) or ""
    match = re.fullmatch(r"\[?([^\[\]]+?)\]?:(\d{1,5})", listen)
    if match is None or not 0 < int(match.group(2)) < 65536:
        f.fail(f"expected HOST:PORT like {DEFAULT_LISTEN}; got {listen!r}")
    return match.group(1), int(match.group(2))


def _public_url(value: Any) -> str | None:
    url = f.string(value, nullable=True)
    if url is not None:
        parts = _urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            f.fail(f"expected an https:// URL the helpdesk can reach, or null; got {url!r}")
    return url


def _webhook_secret(value: Any, info: ValidationInfo) -> Secret | EnvRef | None:
    if isinstance(value, dict):
        secret = reference_value(value, ("webhook", "secret"), info.context, secret=True)
        if "file" in value and isinstance(secret, Secret) and any(c.isspace() for c in secret.reveal()):
            f.fail(f"the secret file {value['file']} should hold the signing secret alone, on one line")
        return secret if isinstance(secret, (Secret, EnvRef)) else None
    if value is not None:
        f.fail("secret is a secret: do not write it in the mapping; put it in an environment variable and "
               "write secret: {env: SOCIALDESK_WEBHOOK_SECRET} (or keep it in a file: secret: {file: PATH}), "
               "or leave it out to read the signing secret from the helpdesk")
    return None


class Webhook(Section):
    """Inbound helpdesk webhooks (agents' replies arrive at once instead of at the next poll)."""

    listen: Annotated[tuple[str, int], PlainValidator(_listen, json_schema_input_type=str)] = \
        ("127.0.0.1", 8787)
    """HOST:PORT the daemon listens on, like 127.0.0.1:8787."""
    public_url: Annotated[str | None, PlainValidator(_public_url, json_schema_input_type=str | None)] = None
    """The https:// URL the helpdesk reaches the daemon at."""
    secret: Annotated[Any, PlainValidator(_webhook_secret,
                                          json_schema_input_type=EnvReference | FileReference | None)] = None
    """The signing secret of the helpdesk's webhook, {env: NAME} or {file: PATH}; the webhook socialdesk
    sets up is made with it, and a webhook signing with another is refused. Left out: read from the
    helpdesk."""

    def value(self) -> WebhookConfig:
        host, port = self.listen
        return WebhookConfig(host=host, port=port, public_url=self.public_url, secret=self.secret)


def _webhook(value: Any, info: ValidationInfo) -> WebhookConfig | None:
    if value is None:
        return None
    from sync.config.sections import read

    model = read(Webhook, value, info.context)
    assert isinstance(model, Webhook)
    return model.value()


def _endpoints(role: str, key: str) -> PlainValidator:
    def validate(value: Any, info: ValidationInfo) -> Any:
        return read_endpoints(value, role, key, info.context)

    return PlainValidator(validate, json_schema_input_type=dict[str, dict[str, Any]] | None)


_ABSENT = "\0absent"


def _routes(value: Any, info: ValidationInfo) -> Any:
    if value is _ABSENT:
        f.fail("missing required key 'routes': nothing would be synced", point="in")
    return read_routes(value, info.context)


class Document(Section):
    """mapping.yaml: socialdesk's routes from network accounts to helpdesk instances."""

    KEYS: ClassVar[tuple[str, ...]] = ("version", "state", "helpdesks", "networks", "routes", "webhook")

    version: Annotated[int, PlainValidator(lambda v: int(v), json_schema_input_type=Literal[1])]
    """The mapping format; this socialdesk reads version 1."""
    helpdesks: Annotated[Any, _endpoints("helpdesk", "helpdesks")] = Field(
        default=None, validate_default=True)
    """Helpdesk instances by name: kind (zendesk, salesforce), sandbox, and the adapter's settings."""
    networks: Annotated[Any, _endpoints("social", "networks")] = Field(default=None, validate_default=True)
    """Network accounts by name: kind (x), sandbox, and the adapter's settings."""
    routes: Annotated[Any, PlainValidator(_routes, json_schema_input_type=list[Route])] = Field(
        default=_ABSENT, validate_default=True)
    """Each route takes one network account's streams into one helpdesk instance."""
    state: Annotated[Any, PlainValidator(_state, json_schema_input_type=Union[
        str, EnvReference, FileReference, None])] = DEFAULT_STATE_URL
    """Where socialdesk keeps its state: sqlite:///FILE or postgresql+psycopg://HOST/DB, or {env: NAME} or
    {file: PATH} holding the URL."""
    webhook: Annotated[Any, PlainValidator(_webhook, json_schema_input_type=Webhook | None)] = None
