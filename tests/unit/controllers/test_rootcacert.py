"""root-ca-cert-publisher decisions (pure)."""
from __future__ import annotations

from skiff.controllers import rootcacert as r

CA = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"


def test_decide() -> None:
    good = r.desired("ns", CA)
    assert r.decide(None, CA) is r.Action.CREATE
    assert r.decide(good, CA) is r.Action.NONE
    assert r.decide({**good, "data": {"ca.crt": "other"}}, CA) is r.Action.UPDATE
    assert r.decide({**good, "data": {"ca.crt": CA, "extra": "x"}}, CA) is r.Action.UPDATE
    assert r.decide({**good, "metadata": {"name": r.NAME, "namespace": "ns"}}, CA) is r.Action.UPDATE


def test_desired_keeps_metadata_of_the_current_object() -> None:
    current = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"ca.crt": "old"}, "binaryData": {"b": "AA=="},
               "metadata": {"name": r.NAME, "namespace": "ns", "resourceVersion": "7", "labels": {"a": "b"}}}
    out = r.desired("ns", CA, current)
    assert out["data"] == {"ca.crt": CA} and "binaryData" not in out
    assert out["metadata"]["resourceVersion"] == "7" and out["metadata"]["labels"] == {"a": "b"}
    assert out["metadata"]["annotations"] == {r.DESCRIPTION_ANNOTATION: r.DESCRIPTION}
