"""Pure decisions behind the verbs: labels, taints, drain, rollout status, wait conditions, apply's
annotation, generators, durations and kubectl's error rendering."""
from __future__ import annotations

import json

import pytest

from skiff.cli.cmd_apply import (LAST_APPLIED, container_name, deployment_manifest, last_applied_json,
                                 with_last_applied)
from skiff.cli.cmd_describe import human_duration, selector_text
from skiff.cli.cmd_modify import image_patch, label_change, parse_pairs
from skiff.cli.cmd_nodes import drain_plan, parse_taints, taint_change
from skiff.cli.cmd_rollout import daemonset_status, deployment_status, statefulset_status, strip_template
from skiff.cli.cmd_wait import Condition, parse_for
from skiff.cli.common import CommandError, error_message, parse_duration
from skiff.client import ApiError


def test_label_pairs_and_overwrite() -> None:
    assert parse_pairs(["a=1", "b-"], what="label") == ({"a": "1"}, ["b"])
    with pytest.raises(CommandError, match="invalid label spec: oops"):
        parse_pairs(["oops"], what="label")
    with pytest.raises(CommandError, match="can not both modify and remove"):
        parse_pairs(["a=1", "a-"], what="label")
    assert label_change({"a": "1", "b": "2"}, {"c": "3"}, ["b"], overwrite=False, what="label") == {"a": "1", "c": "3"}
    with pytest.raises(CommandError, match=r"'a' already has a value \(1\), and --overwrite is false"):
        label_change({"a": "1"}, {"a": "2"}, [], overwrite=False, what="label")
    assert label_change({"a": "1"}, {"a": "2"}, [], overwrite=True, what="label") == {"a": "2"}


def test_taints() -> None:
    add, remove = parse_taints(["k=v:NoSchedule", "x:NoExecute-", "y-"])
    assert add == [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    assert remove == [{"key": "x", "effect": "NoExecute"}, {"key": "y"}]
    with pytest.raises(CommandError, match="invalid taint effect"):
        parse_taints(["k=v:Sometimes"])
    new, verb = taint_change([], add, [], overwrite=False, node="n")
    assert (new, verb) == ([{"key": "k", "value": "v", "effect": "NoSchedule"}], "tainted")
    with pytest.raises(CommandError, match="already has k taint"):
        taint_change(new, add, [], overwrite=False, node="n")
    assert taint_change(new, [{"key": "k", "effect": "NoSchedule"}], [], overwrite=True, node="n")[1] == "modified"
    assert taint_change(new, [], [{"key": "k"}], overwrite=False, node="n") == ([], "untainted")
    with pytest.raises(CommandError, match='taint "z" not found'):
        taint_change(new, [], [{"key": "z"}], overwrite=False, node="n")


def pod(name: str, *, owner: str | None = None, phase: str = "Running", empty_dir: bool = False,
        mirror: bool = False) -> dict:
    meta: dict = {"name": name, "namespace": "d"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    spec = {"volumes": [{"name": "v", "emptyDir": {}}]} if empty_dir else {}
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def test_drain_plan() -> None:
    pods = [pod("rs", owner="ReplicaSet"), pod("ds", owner="DaemonSet"), pod("bare"), pod("done", phase="Succeeded"),
            pod("scratch", owner="ReplicaSet", empty_dir=True), pod("static", mirror=True)]
    plan = drain_plan(pods, ignore_daemonsets=False, force=False, delete_emptydir_data=False)
    assert [p["metadata"]["name"] for p in plan.evict] == ["rs", "done"]
    assert plan.errors == [
        "cannot delete Pods that declare no controller (use --force to override): d/bare",
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): d/ds",
        "cannot delete Pods with local storage (use --delete-emptydir-data to override): d/scratch"]
    plan = drain_plan(pods, ignore_daemonsets=True, force=True, delete_emptydir_data=True)
    assert [p["metadata"]["name"] for p in plan.evict] == ["rs", "bare", "done", "scratch"]
    assert (plan.errors, plan.ignored_daemonsets, plan.forced_unmanaged) == ([], ["d/ds"], ["d/bare"])


def deploy(gen: int, observed: int, want: int, **status: int) -> dict:
    return {"metadata": {"name": "web", "generation": gen}, "spec": {"replicas": want},
            "status": {"observedGeneration": observed, **status}}


@pytest.mark.parametrize("obj,message,done", [
    (deploy(2, 1, 3), "Waiting for deployment spec update to be observed...", False),
    (deploy(2, 2, 3, updatedReplicas=1), 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas '
                                         'have been updated...', False),
    (deploy(2, 2, 3, updatedReplicas=3, replicas=4), 'Waiting for deployment "web" rollout to finish: 1 old '
                                                     'replicas are pending termination...', False),
    (deploy(2, 2, 3, updatedReplicas=3, replicas=3, availableReplicas=2),
     'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...', False),
    (deploy(2, 2, 3, updatedReplicas=3, replicas=3, availableReplicas=3), 'deployment "web" successfully rolled out',
     True),
], ids=["unobserved", "updating", "old-pending", "unavailable", "done"])
def test_deployment_status(obj: dict, message: str, done: bool) -> None:
    assert deployment_status(obj) == (message, done)


def test_deployment_deadline_and_other_viewers() -> None:
    d = deploy(1, 1, 1)
    d["status"]["conditions"] = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(CommandError, match="exceeded its progress deadline"):
        deployment_status(d)
    ds = {"metadata": {"name": "d", "generation": 1}, "spec": {},
          "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2,
                     "numberAvailable": 1}}
    assert daemonset_status(ds) == ('Waiting for daemon set "d" rollout to finish: 1 of 2 updated pods are '
                                    'available...', False)
    sts = {"metadata": {"name": "s", "generation": 1}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "r1", "updateRevision": "r1",
                      "currentReplicas": 2}}
    assert statefulset_status(sts) == ("statefulset rolling update complete 2 pods at revision r1...", True)


def test_strip_template_drops_hash() -> None:
    t = {"metadata": {"labels": {"app": "a", "pod-template-hash": "123"}}, "spec": {}}
    assert strip_template(t) == {"metadata": {"labels": {"app": "a"}}, "spec": {}}
    assert t["metadata"]["labels"]["pod-template-hash"] == "123"


@pytest.mark.parametrize("flag,cond", [
    ("delete", Condition("delete")),
    ("condition=Available", Condition("condition", name="Available", value="true")),
    ("condition=Ready=false", Condition("condition", name="Ready", value="false")),
    ("jsonpath={.status.phase}=Running", Condition("jsonpath", path="{.status.phase}", value="Running")),
    ("jsonpath='{.data.k}'=v", Condition("jsonpath", path="{.data.k}", value="v")),
])
def test_parse_for(flag: str, cond: Condition) -> None:
    assert parse_for(flag) == cond


def test_conditions_met() -> None:
    obj = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    assert Condition("condition", name="ready").met(obj)
    assert not Condition("condition", name="Ready", value="false").met(obj)
    assert Condition("jsonpath", path="{.status.phase}", value="Running").met(obj)
    assert Condition("delete").met(None) and not Condition("delete").met(obj)
    with pytest.raises(CommandError):
        parse_for("sometime")


def test_last_applied_is_kubectls_encoding() -> None:
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a", "namespace": "d"}, "data": {"x": "<"}}
    text = last_applied_json(obj)
    assert text == ('{"apiVersion":"v1","data":{"x":"\\u003c"},"kind":"ConfigMap",'
                    '"metadata":{"annotations":{},"name":"a","namespace":"d"}}\n')
    annotated = with_last_applied(obj)
    assert annotated["metadata"]["annotations"][LAST_APPLIED] == text
    assert last_applied_json(annotated) == text  # the annotation never nests
    assert json.loads(text)["data"] == {"x": "<"}


def test_generators() -> None:
    assert container_name("registry.local:5000/team/web:1.2@sha256:abc") == "web"
    d = deployment_manifest("web", ["nginx:1"], replicas=3, port=80)
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert (d["spec"]["replicas"], c["name"], c["ports"]) == (3, "nginx", [{"containerPort": 80}])
    assert d["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_image_patch() -> None:
    spec = {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    assert image_patch(spec, {"a": "x:2"}) == {"containers": [{"name": "a", "image": "x:2"}]}
    assert image_patch(spec, {"*": "z"}) == {"containers": [{"name": "a", "image": "z"}, {"name": "b", "image": "z"}]}
    assert image_patch(spec, {"nope": "z"}) is None


@pytest.mark.parametrize("seconds,text", [(-5, "<invalid>"), (-1, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
                                          (125, "2m5s"), (600, "10m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"),
                                          (30 * 3600, "30h"), (50 * 3600, "2d2h"), (400 * 86400, "400d"),
                                          (3 * 365 * 86400, "3y")])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_selector_text() -> None:
    assert selector_text({"matchLabels": {"b": "2", "a": "1"},
                          "matchExpressions": [{"key": "t", "operator": "In", "values": ["y", "x"]}]}) == \
        "a=1,b=2,t in (x,y)"


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("15", 15)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(CommandError, match='invalid duration "soon"'):
        parse_duration("soon")


@pytest.mark.parametrize("status,text", [
    ({"code": 404, "reason": "NotFound", "message": 'pods "x" not found'},
     'Error from server (NotFound): pods "x" not found'),
    ({"code": 500, "message": "boom"}, "Error from server (InternalError): boom"),
    ({"code": 401, "reason": "Unauthorized", "message": "Unauthorized"},
     "error: You must be logged in to the server (Unauthorized)"),
    ({"code": 422, "reason": "Invalid", "message": "x", "details": {"kind": "Deployment", "name": "w", "causes": [
        {"field": "spec.replicas", "message": "Invalid value: -1: must be greater than or equal to 0"}]}},
     'The Deployment "w" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'),
    ({"code": 422, "reason": "Invalid", "message": "x", "details": {"kind": "Pod", "name": "p", "causes": [
        {"field": "a", "message": "m1"}, {"field": "b", "message": "m2"}]}},
     'The Pod "p" is invalid: \n* a: m1\n* b: m2'),
])
def test_error_message(status: dict, text: str) -> None:
    from skiff.client.transport import status_from_response
    import orjson

    full = status_from_response(status["code"], orjson.dumps({"kind": "Status", **status}))
    if "reason" not in status:
        full = status_from_response(status["code"], status["message"].encode())
    assert error_message(ApiError(full)) == text
