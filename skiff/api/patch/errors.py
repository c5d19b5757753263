"""The one error every patch function raises; the API server maps it to a 422/400 Status."""
from __future__ import annotations


class PatchError(ValueError):
    """A patch that cannot be applied, with the field (a dotted or pointer path) when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message
