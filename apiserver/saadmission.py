"""The ServiceAccount admission plugin's token volume, decided purely from the pod and its account.

As kube-apiserver's: unless ``automountServiceAccountToken: false`` (the pod's field wins over
the ServiceAccount's), the pod gets a projected ``kube-api-access-<5 chars>`` volume — a bound
token (3607 s, the kubelet refreshes it), the ``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the
pod's namespace — mounted read-only at ``/var/run/secrets/kubernetes.io/serviceaccount`` in
every init container and container that has no mount at that path already. A pod that already
has a ``kube-api-access-*`` volume keeps it (no second one).
"""
from __future__ import annotations

import random
import string
from typing import Any

Obj = dict[str, Any]
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_EXPIRATION = 3607  # kube-apiserver's: an hour and a bit, so kubelet refreshes show in metrics
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# utilrand.String's alphabet: no vowels nor look-alike digits, so names spell no words
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(rng: random.Random | None = None, n: int = 5) -> str:
    return "".join((rng or random.SystemRandom()).choice(_ALPHABET) for _ in range(n))


def should_automount(pod_spec: Obj, service_account: Obj | None) -> bool:
    if pod_spec.get("automountServiceAccountToken") is not None:
        return bool(pod_spec["automountServiceAccountToken"])
    if service_account is not None and service_account.get("automountServiceAccountToken") is not None:
        return bool(service_account["automountServiceAccountToken"])
    return True


def token_volume(name: str) -> Obj:
    """The projected volume, with the defaults the API server's decoding would add."""
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def mount_token(pod_spec: Obj, *, suffix: str) -> None:
    """Add the volume and its mounts to ``pod_spec`` in place (call only when automounting)."""
    volumes = pod_spec.get("volumes") or []
    existing = next((v.get("name") for v in volumes
                     if isinstance(v, dict) and str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    name = existing or VOLUME_PREFIX + suffix
    needed = False
    for key in ("initContainers", "containers"):
        for c in pod_spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            mounts = c.get("volumeMounts") or []
            if any(isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            c["volumeMounts"] = [*mounts, {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}]
            needed = True
    if needed and existing is None:
        pod_spec["volumes"] = [*volumes, token_volume(name)]
