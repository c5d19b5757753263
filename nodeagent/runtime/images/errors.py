"""Errors of the image subsystem; each carries the HTTP status the Docker API answers."""
from __future__ import annotations


class ImageError(Exception):
    status = 500


class InvalidReference(ImageError):
    status = 400


class ImageNotFound(ImageError):
    status = 404


class ImageConflict(ImageError):
    status = 409


class BadContent(ImageError):
    """A blob, manifest, config or layer tar that is malformed, unsafe or mismatched."""

    status = 400


class RegistryError(ImageError):
    status = 500

    def __init__(self, message: str, *, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=401)
