"""Image references parsed exactly as Docker (distribution/reference) does.

Pure functions only. ``parse_normalized("busybox")`` gives domain ``docker.io``,
path ``library/busybox``, tag ``latest`` (after :func:`with_default_tag`);
:meth:`Reference.familiar` prints it back as Docker shows it (``busybox:latest``).
Error messages are Docker's own.
"""
from __future__ import annotations

import dataclasses
import re

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_alnum = r"[a-z0-9]+"
_separator = r"(?:[._]|__|[-]+)"
_path_component = rf"{_alnum}(?:{_separator}{_alnum})*"
_domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_ipv6 = r"\[(?:[a-fA-F0-9:]+)\]"
_domain_name = rf"{_domain_component}(?:\.{_domain_component})*"
_host = rf"(?:{_domain_name}|{_ipv6})"
_domain_and_port = rf"{_host}(?::[0-9]+)?"
_tag = r"[\w][\w.-]{0,127}"
_digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_remote_name = rf"{_path_component}(?:/{_path_component})*"
_name = rf"(?:{_domain_and_port}/)?{_remote_name}"

REFERENCE_RE = re.compile(rf"^({_name})(?::({_tag}))?(?:@({_digest}))?$")
ANCHORED_TAG_RE = re.compile(rf"^{_tag}$")
ANCHORED_DIGEST_RE = re.compile(rf"^{_digest}$")
ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}$")
ANCHORED_NAME_RE = re.compile(rf"^(?:({_domain_and_port})/)?({_remote_name})$")


class ReferenceError(ValueError):
    """Invalid reference; ``str(exc)`` is Docker's message."""


ERR_FORMAT = "invalid reference format"
ERR_UPPERCASE = "invalid reference format: repository name must be lowercase"
ERR_EMPTY = "repository name must have at least one component"
ERR_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"


@dataclasses.dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    def familiar_name(self) -> str:
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX) :]
            return self.path
        return self.name

    def familiar(self) -> str:
        out = self.familiar_name()
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def with_tag(self, tag: str) -> Reference:
        return dataclasses.replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        return dataclasses.replace(self, tag=None, digest=digest)

    def repository(self) -> Reference:
        return Reference(self.domain, self.path)


def validate_digest(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo == "sha256":
        if len(hexpart) != 64:
            raise ReferenceError("invalid checksum digest length")
        if not re.fullmatch(r"[a-f0-9]{64}", hexpart):
            raise ReferenceError("invalid checksum digest format")
        return digest
    if algo in ("sha384", "sha512"):
        want = 96 if algo == "sha384" else 128
        if len(hexpart) != want:
            raise ReferenceError("invalid checksum digest length")
        return digest
    raise ReferenceError("unsupported digest algorithm")


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    head = name[:i] if i >= 0 else ""
    if i == -1 or (
        "." not in head and ":" not in head and head != "localhost" and head.lower() == head
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = head, name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> Reference:
    """Docker's ``ParseNormalizedNamed``: familiar text to a full reference.

    No default tag is added; see :func:`with_default_tag`.
    """
    if ANCHORED_ID_RE.match(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    tag_sep = remainder.find(":")
    remote = remainder[:tag_sep] if tag_sep > -1 else remainder
    if remote.lower() != remote:
        raise ReferenceError(ERR_UPPERCASE)
    return _parse(f"{domain}/{remainder}")


def _parse(text: str) -> Reference:
    m = REFERENCE_RE.match(text)
    if m is None:
        if not text:
            raise ReferenceError(ERR_EMPTY)
        if REFERENCE_RE.match(text.lower()) is not None:
            raise ReferenceError(ERR_UPPERCASE)
        raise ReferenceError(ERR_FORMAT)
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(ERR_TOO_LONG)
    nm = ANCHORED_NAME_RE.match(name)
    assert nm is not None
    domain, path = nm.group(1) or "", nm.group(2)
    if digest:
        validate_digest(digest)
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def with_default_tag(ref: Reference) -> Reference:
    """Docker's ``TagNameOnly``: add ``latest`` when there is neither tag nor digest."""
    if ref.tag is None and ref.digest is None:
        return dataclasses.replace(ref, tag=DEFAULT_TAG)
    return ref


def parse_tag(tag: str) -> str:
    if not ANCHORED_TAG_RE.match(tag):
        raise ReferenceError("invalid tag format")
    return tag


def registry_host(domain: str) -> str:
    """The host to contact for a reference domain (Docker Hub's API host for docker.io)."""
    return "registry-1.docker.io" if domain == DEFAULT_DOMAIN else domain


def is_id_prefix(text: str) -> bool:
    t = text[7:] if text.startswith("sha256:") else text
    return 1 <= len(t) <= 64 and re.fullmatch(r"[a-f0-9]+", t) is not None
