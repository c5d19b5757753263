"""The ServiceAccount admission plugin's kube-api-access volume (pure)."""
from __future__ import annotations

import random
from typing import Any

import pytest

from skiff.apiserver import saadmission as sa

MOUNT = {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": sa.MOUNT_PATH}


@pytest.mark.parametrize(("pod_field", "account_field", "want"), [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False),
], ids=["default", "pod-off", "account-off", "pod-wins-on", "pod-wins-off"])
def test_should_automount(pod_field: bool | None, account_field: bool | None, want: bool) -> None:
    spec = {} if pod_field is None else {"automountServiceAccountToken": pod_field}
    account = {} if account_field is None else {"automountServiceAccountToken": account_field}
    assert sa.should_automount(spec, account) is want


def test_volume_and_mounts_in_every_container() -> None:
    spec: dict[str, Any] = {"initContainers": [{"name": "i"}], "containers": [
        {"name": "a"}, {"name": "b", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
        "volumes": [{"name": "d", "emptyDir": {}}]}
    sa.mount_token(spec, suffix="abcde")
    assert spec["volumes"][1] == sa.token_volume("kube-api-access-abcde")
    assert spec["initContainers"][0]["volumeMounts"] == [MOUNT]
    assert spec["containers"][0]["volumeMounts"] == [MOUNT]
    assert spec["containers"][1]["volumeMounts"] == [{"name": "d", "mountPath": "/d"}, MOUNT]


def test_existing_mount_at_the_path_and_existing_volume() -> None:
    own = {"name": "x", "mountPath": sa.MOUNT_PATH}
    spec: dict[str, Any] = {"containers": [{"name": "a", "volumeMounts": [own]}], "volumes": [{"name": "x"}]}
    sa.mount_token(spec, suffix="abcde")
    assert spec == {"containers": [{"name": "a", "volumeMounts": [own]}], "volumes": [{"name": "x"}]}
    kept = {"name": "kube-api-access-zzzzz", "projected": {}}
    spec = {"containers": [{"name": "a"}], "volumes": [kept]}
    sa.mount_token(spec, suffix="abcde")
    assert spec["volumes"] == [kept]
    assert spec["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-zzzzz"


def test_suffix_alphabet() -> None:
    s = sa.random_suffix(random.Random(1))
    assert len(s) == 5 and set(s) <= set("bcdfghjklmnpqrstvwxz2456789")
