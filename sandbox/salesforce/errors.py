"""Salesforce's error bodies: arrays of ``{message, errorCode, fields}`` and OAuth errors."""
from __future__ import annotations

from typing import Any

from sandbox.common import HttpError
from sandbox.salesforce.constants import JSON_CT, NOT_FOUND_MSG


class SfError(HttpError):
    """An error answer in Salesforce's shape: a JSON array of {message, errorCode[, fields]}."""

    JSON_CT = JSON_CT

    @property
    def first(self) -> dict[str, Any]:
        return self.body[0] if isinstance(self.body, list) and self.body else {}


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> SfError:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return SfError(status, [item])


def not_found(message: str = NOT_FOUND_MSG) -> SfError:
    return sf_error(404, "NOT_FOUND", message)


def oauth_error(error: str, description: str, status: int = 400) -> SfError:
    return SfError(status, {"error": error, "error_description": description},
                   {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})
