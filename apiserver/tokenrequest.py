"""``serviceaccounts/NAME/token`` (TokenRequest) and the authenticator of the tokens it issues.

A TokenRequest names audiences (default: the API's), a lifetime (default 3600 s, at least
600 s) and optionally a Pod or Secret the token is bound to; the answer is the same
TokenRequest with ``status.token`` and ``status.expirationTimestamp``, as kube-apiserver's.
Authentication re-checks on every request what the signature cannot: the service account
and the bound object still exist with the uids in the token (and a bound pod's deletion
time has not passed), so deleting either invalidates the token at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from skiff.api import fielderrors
from skiff.api.resources import Resource, find

from . import satokens, status
from .handlers import decode, read_body, respond

if TYPE_CHECKING:
    from .handlers import ResourceHandlers
    from .paths import Target
    from .registry import Registry

log = logging.getLogger(__name__)
Obj = dict[str, Any]
API_VERSION = "authentication.k8s.io/v1"
PODS = find("pods")
SECRETS = find("secrets")
SERVICEACCOUNTS = find("serviceaccounts")
BOUND_RESOURCES = {"Pod": PODS, "Secret": SECRETS}
# the 422 of an invalid TokenRequest names its own kind, as kube-apiserver's does
TOKEN_REQUEST = Resource("authentication.k8s.io", "v1", "TokenRequest", "tokenrequests", True, ())


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_request(body: Any, name: str) -> tuple[list[str], int, Obj | None]:
    """(audiences, expirationSeconds, boundObjectRef) of a TokenRequest body, or a 400/422."""
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request must be a TokenRequest object")
    if body.get("kind") not in (None, "TokenRequest") or body.get("apiVersion") not in (None, API_VERSION):
        raise status.bad_request(f"the body must be a TokenRequest ({API_VERSION}), "
                                 f"not {body.get('kind')} ({body.get('apiVersion')})")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise status.bad_request("spec must be an object")
    errors: list[fielderrors.FieldError] = []
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        errors.append(fielderrors.invalid("spec.audiences", audiences, "must be a list of non-empty strings"))
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = satokens.DEFAULT_EXPIRATION
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        errors.append(fielderrors.invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < satokens.MIN_EXPIRATION:
        errors.append(fielderrors.invalid("spec.expirationSeconds", seconds,
                                          "may not specify a duration less than 10 minutes"))
    elif seconds > satokens.MAX_EXPIRATION:
        errors.append(fielderrors.invalid("spec.expirationSeconds", seconds,
                                          "may not specify a duration larger than 2^32 seconds"))
    ref = spec.get("boundObjectRef")
    if ref is not None:
        if not isinstance(ref, dict):
            errors.append(fielderrors.invalid("spec.boundObjectRef", ref, "must be an object"))
        elif ref.get("kind") not in satokens.BINDABLE_KINDS or ref.get("apiVersion", "v1") != "v1":
            raise status.bad_request(f"cannot bind token for serviceaccount \"{name}\" to object of type "
                                     f"{ref.get('apiVersion', '')}, Kind={ref.get('kind', '')}")
        elif not ref.get("name"):
            errors.append(fielderrors.required("spec.boundObjectRef.name"))
    if errors:
        raise status.invalid(TOKEN_REQUEST, name, errors)
    return list(audiences) or list(satokens.API_AUDIENCES), int(seconds), ref


async def handle_token_request(h: "ResourceHandlers", request: web.Request, t: "Target", *,
                               key: rsa.RSAPrivateKey | None) -> web.Response:
    assert t.name is not None and t.namespace is not None
    if request.method != "POST":
        raise status.method_not_allowed("the server does not allow this method on the requested resource")
    if key is None:
        raise status.StatusError(501, "NotImplemented", "this server has no service-account signing key")
    body = decode(await read_body(request), request.content_type)
    audiences, seconds, ref = check_request(body, t.name)
    sa = await h.registry.get(SERVICEACCOUNTS, t.namespace, t.name)
    bound = None
    if ref is not None:
        res = BOUND_RESOURCES[ref["kind"]]
        obj = await h.registry.get(res, t.namespace, ref["name"])
        uid = obj["metadata"].get("uid", "")
        if ref.get("uid") and ref["uid"] != uid:
            raise status.conflict(res, ref["name"], f"the UID in the bound object reference ({ref['uid']}) does "
                                  f"not match the UID in record. The object might have been deleted and then "
                                  "recreated")
        bound = satokens.BoundObject(ref["kind"], ref["name"], uid)
    now = int(time.time())
    claims = satokens.claims_for(namespace=t.namespace, account=t.name, account_uid=sa["metadata"].get("uid", ""),
                                 audiences=audiences, now=now, expiration_seconds=seconds, bound=bound)
    token = satokens.sign(key, claims)
    spec: Obj = {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": ref}
    answer = {"kind": "TokenRequest", "apiVersion": API_VERSION,
              "metadata": {"name": t.name, "namespace": t.namespace, "creationTimestamp": None},
              "spec": spec, "status": {"token": token, "expirationTimestamp": _iso(claims["exp"])}}
    return respond(answer, code=201, request=request)


class ServiceAccountAuthenticator:
    """Bearer tokens that are service-account JWTs of this server's key."""

    def __init__(self, registry: "Registry", public: rsa.RSAPublicKey) -> None:
        self.registry = registry
        self.public = public

    async def _current(self, res: Resource, namespace: str, name: str, uid: str) -> Obj | None:
        """The object when it exists with ``uid``: the watch cache first, etcd when the cache
        has no such object yet (one created a moment ago)."""
        key = self.registry.key(res, namespace, name)
        obj = self.registry.cache.get(key) if self.registry.cache is not None else None
        if obj is None or obj["metadata"].get("uid") != uid:
            kv = await self.registry.store.get(key)
            obj = None if kv is None else kv.value
        if obj is None or obj["metadata"].get("uid") != uid:
            return None
        return obj

    async def authenticate(self, token: str) -> satokens.ServiceAccountUser | None:
        now = int(time.time())
        try:
            user = satokens.user_of(satokens.verify(self.public, token, now=now))
        except satokens.TokenError as exc:
            log.debug("service-account token refused: %s", exc)
            return None
        if await self._current(SERVICEACCOUNTS, user.namespace, user.name, user.uid) is None:
            log.debug("token of %s refused: the service account is gone", user.username)
            return None
        if user.bound is not None:
            obj = await self._current(BOUND_RESOURCES[user.bound.kind], user.namespace, user.bound.name,
                                      user.bound.uid)
            if obj is None or _deleted_before(obj, now):
                log.debug("token of %s refused: bound %s %s is gone", user.username, user.bound.kind,
                          user.bound.name)
                return None
        return user


def _deleted_before(obj: Obj, now: int) -> bool:
    """A pod past its deletion time (kube-apiserver keeps the token valid during the grace period)."""
    ts = obj["metadata"].get("deletionTimestamp")
    if not ts:
        return False
    try:
        when = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return True
    return when.timestamp() <= now
