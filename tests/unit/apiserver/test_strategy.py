"""System metadata, generation and status rules of the server's strategy."""
import datetime as dt

from skiff.api.resources import by_kind
from skiff.apiserver.strategy import prepare_create, prepare_update

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEPLOY = by_kind("apps/v1", "Deployment")
CM = by_kind("v1", "ConfigMap")


def test_create_sets_system_fields_and_drops_client_ones():
    obj = {"metadata": {"name": "d", "uid": "forged", "resourceVersion": "9", "generation": 7},
           "spec": {"replicas": 1}, "status": {"replicas": 5}}
    out = prepare_create(DEPLOY, obj, namespace="ns", now=NOW, uid="u1")
    assert out["metadata"] == {"name": "d", "namespace": "ns", "uid": "u1",
                               "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1}
    assert "status" not in out and out["kind"] == "Deployment" and out["apiVersion"] == "apps/v1"
    assert obj["metadata"]["uid"] == "forged"  # input untouched


def test_generate_name():
    out = prepare_create(CM, {"metadata": {"generateName": "cfg-"}}, namespace="ns", now=NOW, uid="u")
    assert out["metadata"]["name"].startswith("cfg-") and len(out["metadata"]["name"]) == 9
    assert "generation" not in out["metadata"]  # kinds without spec have no generation


def base():
    return prepare_create(DEPLOY, {"metadata": {"name": "d"}, "spec": {"replicas": 1}}, namespace="ns", now=NOW,
                          uid="u")


def test_generation_bumps_on_spec_change_only():
    old = base()
    new = {**old, "spec": {"replicas": 2}}
    assert prepare_update(DEPLOY, new, old, subresource=None)["metadata"]["generation"] == 2
    relabeled = {**old, "metadata": {**old["metadata"], "labels": {"a": "b"}}}
    assert prepare_update(DEPLOY, relabeled, old, subresource=None)["metadata"]["generation"] == 1


def test_main_resource_ignores_status_and_status_ignores_spec():
    old = base()
    new = {**old, "spec": {"replicas": 3}, "status": {"replicas": 3}}
    main = prepare_update(DEPLOY, new, old, subresource=None)
    assert "status" not in main and main["spec"]["replicas"] == 3
    st = prepare_update(DEPLOY, new, old, subresource="status")
    assert st["status"] == {"replicas": 3} and st["spec"] == {"replicas": 1}
    assert st["metadata"]["generation"] == 1


def test_update_cannot_forge_system_fields():
    old = base()
    new = {**old, "metadata": {**old["metadata"], "uid": "x", "creationTimestamp": "1999-01-01T00:00:00Z"}}
    out = prepare_update(DEPLOY, new, old, subresource=None)
    assert out["metadata"]["uid"] == "u" and out["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
