"""The sans-I/O request builder: method, path, query, headers and body for each verb."""
from __future__ import annotations

import orjson
import pytest

from skiff.api.resources import find
from skiff.client import requests as rq

PODS = find("pods")
DEPLOY = find("deployments")
NODES = find("nodes")


@pytest.mark.parametrize("req,method,path,query", [
    (rq.get(PODS, "web", namespace="ns1"), "GET", "/api/v1/namespaces/ns1/pods/web", ()),
    (rq.get(NODES, "n1", namespace="ignored"), "GET", "/api/v1/nodes/n1", ()),
    (rq.get(DEPLOY, "d", namespace="a", subresource="scale"), "GET",
     "/apis/apps/v1/namespaces/a/deployments/d/scale", ()),
    (rq.list_(PODS), "GET", "/api/v1/pods", ()),
    (rq.list_(PODS, namespace="x", label_selector="app=web,tier!=db", limit=500, continue_="tok"), "GET",
     "/api/v1/namespaces/x/pods", (("labelSelector", "app=web,tier!=db"), ("limit", "500"), ("continue", "tok"))),
    (rq.watch(DEPLOY, namespace="x", resource_version="17"), "GET", "/apis/apps/v1/namespaces/x/deployments",
     (("watch", "true"), ("resourceVersion", "17"), ("allowWatchBookmarks", "true"))),
    (rq.watch(PODS, allow_bookmarks=False, field_selector="spec.nodeName=n1", timeout_seconds=5), "GET",
     "/api/v1/pods", (("watch", "true"), ("fieldSelector", "spec.nodeName=n1"), ("timeoutSeconds", "5"))),
    (rq.delete(PODS, "p", namespace="d"), "DELETE", "/api/v1/namespaces/d/pods/p", ()),
    (rq.delete_collection(PODS, namespace="d", label_selector="a=b"), "DELETE", "/api/v1/namespaces/d/pods",
     (("labelSelector", "a=b"),)),
], ids=["get", "cluster-scoped", "subresource", "list-all", "list-query", "watch", "watch-nobookmarks",
        "delete", "deletecollection"])
def test_paths_and_queries(req: rq.Request, method: str, path: str, query: tuple) -> None:
    assert (req.method, req.path, req.query) == (method, path, query)
    assert req.headers["Accept"] == "application/json"


def test_create_body_and_content_type() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    req = rq.create(PODS, obj, namespace="d", dry_run=True, field_manager="kubectl",
                    field_validation="Strict")
    assert (req.method, req.path) == ("POST", "/api/v1/namespaces/d/pods")
    assert req.query == (("dryRun", "All"), ("fieldManager", "kubectl"), ("fieldValidation", "Strict"))
    assert req.headers["Content-Type"] == "application/json"
    assert orjson.loads(req.body) == obj
    assert req.url_path == "/api/v1/namespaces/d/pods?dryRun=All&fieldManager=kubectl&fieldValidation=Strict"


def test_update_takes_name_from_body_and_status() -> None:
    obj = {"metadata": {"name": "d1", "resourceVersion": "5"}, "status": {"replicas": 1}}
    req = rq.update(DEPLOY, obj, namespace="n", subresource="status")
    assert (req.method, req.path) == ("PUT", "/apis/apps/v1/namespaces/n/deployments/d1/status")
    with pytest.raises(ValueError, match="metadata.name"):
        rq.update(DEPLOY, {"metadata": {}}, namespace="n")


@pytest.mark.parametrize("ptype,ctype", [
    ("json", "application/json-patch+json"), ("merge", "application/merge-patch+json"),
    ("strategic", "application/strategic-merge-patch+json"), ("apply", "application/apply-patch+yaml")])
def test_patch_content_types(ptype: str, ctype: str) -> None:
    req = rq.patch(DEPLOY, "d", {"spec": {"replicas": 3}}, patch_type=ptype, namespace="n",
                   field_manager="m", force=True if ptype == "apply" else None)
    assert req.method == "PATCH" and req.headers["Content-Type"] == ctype
    assert req.path == "/apis/apps/v1/namespaces/n/deployments/d"
    assert ("force", "true") in req.query if ptype == "apply" else all(k != "force" for k, _ in req.query)


def test_patch_requires_type_and_raw_bytes_pass_through() -> None:
    with pytest.raises(ValueError, match="patch_type"):
        rq.build("patch", PODS, name="p", namespace="d", body={})
    req = rq.patch(PODS, "p", b'[{"op":"remove","path":"/x"}]', patch_type=rq.PatchType.JSON, namespace="d")
    assert req.body == b'[{"op":"remove","path":"/x"}]'


def test_delete_options_body() -> None:
    req = rq.delete(DEPLOY, "d", namespace="n", propagation_policy="Foreground", grace_period_seconds=0,
                    preconditions={"uid": "u1"})
    assert orjson.loads(req.body) == {"kind": "DeleteOptions", "apiVersion": "v1",
                                      "propagationPolicy": "Foreground", "gracePeriodSeconds": 0,
                                      "preconditions": {"uid": "u1"}}


@pytest.mark.parametrize("call,match", [
    (lambda: rq.build("get", PODS, namespace="d"), "needs a name"),
    (lambda: rq.build("create", PODS, body={}), "needs a namespace"),
    (lambda: rq.resource_path(PODS, subresource="status"), "needs a name"),
], ids=["get-no-name", "create-no-ns", "sub-no-name"])
def test_invalid_requests(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_names_are_escaped_and_table_accept() -> None:
    req = rq.get(PODS, "a/b", namespace="n s", accept=rq.TABLE_ACCEPT)
    assert req.path == "/api/v1/namespaces/n%20s/pods/a%2Fb"
    assert req.headers["Accept"] == "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def test_raw() -> None:
    req = rq.raw("get", "/version")
    assert (req.method, req.path, req.body) == ("GET", "/version", None)
