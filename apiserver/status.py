"""Kubernetes ``Status`` bodies and the exception that carries one to the HTTP layer.

Handlers raise ``StatusError``; the app turns it into the JSON body and code. Messages
follow the apiserver's wording, because kubectl prints them verbatim
(``Error from server (NotFound): pods "x" not found``).
"""
from __future__ import annotations

from typing import Any

from skiff.api.fielderrors import FieldError, invalid_status
from skiff.api.resources import Resource


class StatusError(Exception):
    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def success(*, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = details
    return body


def _details(res: Resource, name: str, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    d.update(extra)
    return d


def not_found(res: Resource, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{res.qualified} "{name}" not found', details=_details(res, name))


def namespace_not_found(namespace: str) -> StatusError:
    return StatusError(404, "NotFound", f'namespaces "{namespace}" not found',
                       details={"name": namespace, "kind": "namespaces"})


def already_exists(res: Resource, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists',
                       details=_details(res, name))


def conflict(res: Resource, name: str, why: str) -> StatusError:
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                       details=_details(res, name))


def stale(res: Resource, name: str) -> StatusError:
    return conflict(res, name, "the object has been modified; please apply your changes to the latest "
                               "version and try again")


def invalid(res: Resource, name: str, errors: list[FieldError]) -> StatusError:
    body = invalid_status(res.group, res.kind, name, errors)
    return StatusError(422, "Invalid", body["message"], details=body["details"])


def bad_request(message: str, *, causes: list[dict[str, str]] | None = None) -> StatusError:
    return StatusError(400, "BadRequest", message, details={"causes": causes} if causes else None)


def method_not_allowed(message: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def forbidden(res: Resource, name: str, why: str) -> StatusError:
    return StatusError(403, "Forbidden", f'{res.qualified} "{name}" is forbidden: {why}',
                       details=_details(res, name))


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def too_large(message: str) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", message)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message, details={"retryAfterSeconds": 1})
