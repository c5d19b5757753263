"""Server-side apply and managedFields, checked against structured-merge-diff's and Kubernetes' behaviour."""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from skiff.api.patch import Conflict, PatchError, conflict_message, record_update, server_side_apply
from skiff.api.patch.fieldpath import (field_set, from_fields_v1, merge, path_string, root_type, to_fields_v1)

DEP = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(minutes=5)


def deployment(replicas: int = 1, image: str = "nginx:1", labels: dict | None = None, **meta: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", **({"labels": labels} if labels else {}), **meta},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": image}]}}}}


def managers(obj: dict) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def fields_of(obj: dict, manager: str, operation: str) -> set[str]:
    for e in obj["metadata"].get("managedFields", []):
        if (e["manager"], e["operation"]) == (manager, operation):
            return {path_string(p) for p in from_fields_v1(e["fieldsV1"])}
    return set()


def apply(live: dict | None, cfg: dict, manager: str, *, force: bool = False, now: dt.datetime = T0,
          kind: str = DEP) -> tuple[dict, list[Conflict]]:
    return server_side_apply(live, cfg, manager=manager, force=force, now=now, kind_definition=kind)


def test_apply_creates_with_apply_entry() -> None:
    obj, conflicts = apply(None, deployment(), "kubectl")
    assert conflicts == []
    assert obj["spec"]["replicas"] == 1
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply" and entry["apiVersion"] == "apps/v1"
    assert entry["time"] == "2024-01-01T00:00:00Z" and entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:spec": {
        "f:replicas": {}, "f:selector": {},  # LabelSelector is an atomic map
        "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                       "f:spec": {"f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}


def test_reapply_same_config_is_a_no_op() -> None:
    obj, _ = apply(None, deployment(), "kubectl")
    again, conflicts = apply(obj, deployment(), "kubectl", now=T1)
    assert conflicts == []
    assert {k: v for k, v in again.items() if k != "metadata"} == {k: v for k, v in obj.items() if k != "metadata"}


def test_two_appliers_same_value_share_ownership() -> None:
    obj, _ = apply(None, deployment(replicas=2), "a")
    obj, conflicts = apply(obj, deployment(replicas=2), "b")
    assert conflicts == []
    assert ".spec.replicas" in fields_of(obj, "a", "Apply") and ".spec.replicas" in fields_of(obj, "b", "Apply")


def test_conflict_with_other_applier_names_no_version() -> None:
    obj, _ = apply(None, deployment(replicas=2), "a")
    same, conflicts = apply(obj, deployment(replicas=5), "b")
    assert [(c.manager, c.field) for c in conflicts] == [("a", ".spec.replicas")]
    assert conflict_message(conflicts) == 'Apply failed with 1 conflict: conflict with "a": .spec.replicas'
    assert same == obj  # nothing changes on conflict


def test_conflict_with_client_side_apply_updater_matches_kubernetes_message() -> None:
    created = record_update(None, deployment(replicas=1), manager="kubectl-client-side-apply", now=T0,
                            kind_definition=DEP)
    _, conflicts = apply(created, deployment(replicas=3), "kubectl")
    assert conflict_message(conflicts) == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                                           'using apps/v1: .spec.replicas')


def test_several_conflicts_message_groups_by_manager() -> None:
    obj, _ = apply(None, deployment(replicas=1, image="a"), "one")
    _, conflicts = apply(obj, deployment(replicas=2, image="b"), "two")
    assert conflict_message(conflicts) == (
        'Apply failed with 2 conflicts: conflicts with "one":\n- .spec.replicas\n'
        '- .spec.template.spec.containers[name="nginx"].image')


def test_force_takes_ownership() -> None:
    obj, _ = apply(None, deployment(replicas=2), "a")
    obj, conflicts = apply(obj, deployment(replicas=5), "b", force=True)
    assert conflicts == [] and obj["spec"]["replicas"] == 5
    assert ".spec.replicas" not in fields_of(obj, "a", "Apply")
    assert ".spec.replicas" in fields_of(obj, "b", "Apply")


def test_dropping_a_solely_owned_field_removes_it() -> None:
    obj, _ = apply(None, deployment(labels={"app": "web", "tier": "x"}), "kubectl")
    obj, _ = apply(obj, deployment(labels={"app": "web"}), "kubectl", now=T1)
    assert obj["metadata"]["labels"] == {"app": "web"}


def test_dropping_a_shared_field_keeps_it() -> None:
    obj, _ = apply(None, deployment(labels={"app": "web", "tier": "x"}), "a")
    obj, _ = apply(obj, deployment(labels={"tier": "x"}), "b")
    obj, _ = apply(obj, deployment(labels={"app": "web"}), "a", now=T1)
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "x"}


def test_dropping_a_container_owned_by_nobody_else() -> None:
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    obj, _ = apply(None, two, "kubectl")
    obj, _ = apply(obj, deployment(), "kubectl", now=T1)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_fields_set_by_others_survive_apply() -> None:
    obj, _ = apply(None, deployment(), "kubectl")
    scaled = copy.deepcopy(obj)
    scaled["spec"]["strategy"] = {"type": "Recreate"}
    scaled = record_update(obj, scaled, manager="kubectl-edit", now=T1, kind_definition=DEP)
    again, conflicts = apply(scaled, deployment(), "kubectl", now=T1)
    assert conflicts == [] and again["spec"]["strategy"] == {"type": "Recreate"}


def test_update_takes_fields_from_applier_then_apply_conflicts() -> None:
    """kubectl scale (an Update by "kubectl") then a re-apply with the old replicas: a conflict, as in Kubernetes."""
    obj, _ = apply(None, deployment(replicas=2), "kubectl")
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 5
    scaled = record_update(obj, scaled, manager="kubectl", now=T1, kind_definition=DEP)
    assert ".spec.replicas" not in fields_of(scaled, "kubectl", "Apply")
    assert fields_of(scaled, "kubectl", "Update") == {".spec.replicas"}
    _, conflicts = apply(scaled, deployment(replicas=2), "kubectl", now=T1)
    assert [(c.manager, c.operation, c.field) for c in conflicts] == [("kubectl", "Update", ".spec.replicas")]


def test_object_without_managed_fields_is_owned_before_first_apply() -> None:
    live = deployment(replicas=1)
    _, conflicts = apply(live, deployment(replicas=4), "kubectl")
    assert [(c.manager, c.field) for c in conflicts] == [("before-first-apply", ".spec.replicas")]


def test_apply_rejects_managed_fields_and_missing_manager() -> None:
    cfg = deployment()
    cfg["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(PatchError, match="managedFields must be nil"):
        apply(None, cfg, "kubectl")
    with pytest.raises(PatchError, match="fieldManager"):
        apply(None, deployment(), "")


def test_apply_does_not_change_inputs() -> None:
    live, _ = apply(None, deployment(), "a")
    cfg = deployment(replicas=3)
    before = (copy.deepcopy(live), copy.deepcopy(cfg))
    apply(live, cfg, "b", force=True)
    assert (live, cfg) == before


def test_record_update_on_create_tracks_changed_fields_with_map_markers() -> None:
    obj = record_update(None, deployment(labels={"app": "web"}), manager="kubectl-create", now=T0, kind_definition=DEP)
    [entry] = obj["metadata"]["managedFields"]
    assert entry["operation"] == "Update" and entry["manager"] == "kubectl-create"
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert "f:name" not in entry["fieldsV1"]["f:metadata"]  # stripped like Kubernetes' stripMeta


def test_record_update_without_change_keeps_entries() -> None:
    obj = record_update(None, deployment(), manager="a", now=T0, kind_definition=DEP)
    same = record_update(obj, copy.deepcopy(obj), manager="b", now=T1, kind_definition=DEP)
    assert managers(same) == [("a", "Update")]
    assert same["metadata"]["managedFields"][0]["time"] == "2024-01-01T00:00:00Z"


def test_record_update_removed_field_leaves_every_manager() -> None:
    obj = record_update(None, deployment(labels={"app": "web", "x": "1"}), manager="a", now=T0, kind_definition=DEP)
    new = copy.deepcopy(obj)
    del new["metadata"]["labels"]["x"]
    new = record_update(obj, new, manager="kubectl-label", now=T1, kind_definition=DEP)
    assert ".metadata.labels.x" not in fields_of(new, "a", "Update")
    assert managers(new) == [("a", "Update")]  # a removal alone owns nothing


def test_record_update_client_can_clear_managed_fields() -> None:
    obj = record_update(None, deployment(), manager="a", now=T0, kind_definition=DEP)
    new = copy.deepcopy(obj)
    new["metadata"]["managedFields"] = [{}]
    new = record_update(obj, new, manager="b", now=T1, kind_definition=DEP)
    assert "managedFields" not in new["metadata"]


def test_entries_sorted_apply_first_then_by_time() -> None:
    obj = record_update(None, deployment(), manager="z-updater", now=T0, kind_definition=DEP)
    obj, _ = apply(obj, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
                                                                                     "labels": {"a": "b"}}},
                   "applier", now=T1)
    assert managers(obj) == [("applier", "Apply"), ("z-updater", "Update")]


# -- structured merge (SMD typed/merge_test cases, on real schema types) --------------------------

def _finalizers(live: list[str], cfg: list[str]) -> list[str]:
    t = root_type(POD)
    return merge({"metadata": {"finalizers": live}}, {"metadata": {"finalizers": cfg}}, t)["metadata"]["finalizers"]


SET_CASES = [
    ("union-keeps-live-extra", ["a", "b", "c"], ["a", "b"], ["a", "b", "c"]),
    ("union-adds", ["a", "b"], ["a", "b", "c"], ["a", "b", "c"]),
    ("empty-config-keeps", ["a", "b", "c"], [], ["a", "b", "c"]),
    ("order-from-config", ["a", "b"], ["b", "a"], ["b", "a"]),
    ("disjoint", ["a", "b", "c"], ["d", "e", "f"], ["a", "b", "c", "d", "e", "f"]),
    ("reorder-overlap", ["c", "a", "g", "f"], ["c", "f", "a", "g"], ["c", "f", "a", "g"]),
    ("interleave", ["a", "b", "c", "d"], ["d", "e", "f", "a"], ["b", "c", "d", "e", "f", "a"]),
]


@pytest.mark.parametrize("live,cfg,expected", [c[1:] for c in SET_CASES], ids=[c[0] for c in SET_CASES])
def test_set_merge(live: list[str], cfg: list[str], expected: list[str]) -> None:
    assert _finalizers(live, cfg) == expected


def _containers(live: list[str], cfg: list[str]) -> list[str]:
    t = root_type(POD)
    out = merge({"spec": {"containers": [{"name": n} for n in live]}},
                {"spec": {"containers": [{"name": n} for n in cfg]}}, t)
    return [c["name"] for c in out["spec"]["containers"]]


@pytest.mark.parametrize("live,cfg,expected", [
    (["b"], ["a", "b", "c"], ["a", "b", "c"]),
    (["a", "b"], ["c"], ["a", "b", "c"]),
    (["a", "b", "c"], ["c", "a"], ["b", "c", "a"]),
], ids=["add-around", "append", "reorder-shared"])
def test_associative_list_merge_order(live: list[str], cfg: list[str], expected: list[str]) -> None:
    assert _containers(live, cfg) == expected


def test_associative_items_merge_fields() -> None:
    t = root_type(POD)
    out = merge({"spec": {"containers": [{"name": "a", "image": "1", "args": ["x"]}]}},
                {"spec": {"containers": [{"name": "a", "image": "2"}]}}, t)
    assert out["spec"]["containers"] == [{"name": "a", "image": "2", "args": ["x"]}]


def test_atomic_list_replaced() -> None:
    t = root_type(POD)
    out = merge({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}, {"spec": {"tolerations": [{"key": "c"}]}}, t)
    assert out["spec"]["tolerations"] == [{"key": "c"}]


def test_fields_v1_round_trip_and_paths() -> None:
    pod = {"metadata": {"labels": {"app": "x"}, "finalizers": ["f/1"]},
           "spec": {"containers": [{"name": "a", "image": "i", "ports": [{"containerPort": 80, "protocol": "UDP"}]}],
                    "tolerations": [{"key": "k"}]}}
    paths = set(field_set(pod, root_type(POD)))
    assert from_fields_v1(to_fields_v1(paths)) == paths
    strings = {path_string(p) for p in paths}
    assert '.metadata.finalizers[="f/1"]' in strings
    assert '.spec.containers[name="a"].ports[containerPort=80,protocol="UDP"].containerPort' in strings
    assert ".spec.tolerations" in strings and ".metadata.labels.app" in strings
