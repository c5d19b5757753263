"""How a DELETE proceeds, decided purely from the object and the options."""
import datetime as dt

import pytest

from skiff.api.resources import by_kind
from skiff.apiserver import status
from skiff.apiserver.registry import plan_delete

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
POD = by_kind("v1", "Pod")
DEPLOY = by_kind("apps/v1", "Deployment")
NS = by_kind("v1", "Namespace")


def pod(node=None, phase="Running", grace=None, finalizers=None, deleting=None):
    obj = {"metadata": {"name": "p"}, "spec": {}, "status": {"phase": phase}}
    if node:
        obj["spec"]["nodeName"] = node
    if grace is not None:
        obj["spec"]["terminationGracePeriodSeconds"] = grace
    if finalizers:
        obj["metadata"]["finalizers"] = finalizers
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"
        obj["metadata"]["deletionGracePeriodSeconds"] = deleting
    return obj


@pytest.mark.parametrize("obj, options, immediate, grace", [
    (pod(), {}, True, None),                                    # unscheduled: at once
    (pod(node="n1"), {}, False, 30),                            # bound: default grace 30s
    (pod(node="n1", grace=5), {}, False, 5),                    # spec's grace period
    (pod(node="n1"), {"gracePeriodSeconds": 0}, True, None),    # --force --grace-period=0
    (pod(node="n1", phase="Succeeded"), {}, True, None),        # finished pods go at once
    (pod(node="n1", deleting=30), {"gracePeriodSeconds": 0}, True, None),  # shortened to 0
], ids=["unscheduled", "bound", "spec-grace", "force", "succeeded", "shorten"])
def test_pod_deletion(obj, options, immediate, grace):
    plan = plan_delete(POD, obj, options, now=NOW)
    assert plan.immediate is immediate
    if grace is not None:
        assert plan.updated["metadata"]["deletionGracePeriodSeconds"] == grace
        assert plan.updated["metadata"]["deletionTimestamp"] == f"2026-01-01T12:00:{grace:02d}Z" if grace < 60 else True


@pytest.mark.parametrize("policy, finalizer", [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")])
def test_propagation_policies_add_finalizers(policy, finalizer):
    plan = plan_delete(DEPLOY, {"metadata": {"name": "d"}}, {"propagationPolicy": policy}, now=NOW)
    assert not plan.immediate
    assert plan.updated["metadata"]["finalizers"] == [finalizer]
    assert plan.updated["metadata"]["deletionTimestamp"] == "2026-01-01T12:00:00Z"


def test_background_is_immediate_and_orphan_dependents_maps_to_orphan():
    assert plan_delete(DEPLOY, {"metadata": {"name": "d"}}, {"propagationPolicy": "Background"}, now=NOW).immediate
    plan = plan_delete(DEPLOY, {"metadata": {"name": "d"}}, {"orphanDependents": True}, now=NOW)
    assert plan.updated["metadata"]["finalizers"] == ["orphan"]


def test_existing_finalizers_keep_the_object():
    plan = plan_delete(DEPLOY, {"metadata": {"name": "d", "finalizers": ["example.com/x"]}}, {}, now=NOW)
    assert not plan.immediate and plan.updated["metadata"]["deletionTimestamp"]


def test_namespace_goes_terminating():
    plan = plan_delete(NS, {"metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}}, {}, now=NOW)
    assert not plan.immediate
    assert plan.updated["status"]["phase"] == "Terminating"
    assert plan.updated["spec"]["finalizers"] == ["kubernetes"]


def test_unknown_policy_is_bad_request():
    with pytest.raises(status.StatusError) as err:
        plan_delete(DEPLOY, {"metadata": {"name": "d"}}, {"propagationPolicy": "Sideways"}, now=NOW)
    assert err.value.code == 400 and "Sideways" in err.value.message
