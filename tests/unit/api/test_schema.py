"""The generated schema: Kubernetes' definition names, shapes of field paths, patch metadata."""
from __future__ import annotations

import pytest

from skiff.api import schema
from skiff.api.resources import RESOURCES, by_kind
from skiff.api.schema import Shape


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.kind)
def test_every_kind_has_a_root_definition_with_its_gvk(res) -> None:
    d = schema.definition(schema.root_definition(res))
    assert d["x-kubernetes-group-version-kind"] == [{"group": res.group, "version": res.version, "kind": res.kind}]
    assert "metadata" in d["properties"]
    assert schema.definition(schema.list_definition(res))["properties"]["items"]["type"] == "array"


def test_every_reference_resolves() -> None:
    missing = set()

    def visit(s: object) -> None:
        if isinstance(s, dict):
            name = schema.ref_name(s)
            if name is not None and name not in schema.definitions():
                missing.add(name)
            for v in s.values():
                visit(v)
        elif isinstance(s, list):
            for v in s:
                visit(v)

    visit(dict(schema.definitions()))
    assert missing == set()


@pytest.mark.parametrize("name", [
    "io.k8s.api.apps.v1.DeploymentSpec",
    "io.k8s.api.core.v1.PodTemplateSpec",
    "io.k8s.api.core.v1.Container",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.Event",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.rbac.v1.Subject",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
])
def test_kubernetes_names(name: str) -> None:
    assert schema.definition(name)["description"]


def test_unknown_definition_names_itself() -> None:
    with pytest.raises(KeyError, match="io.k8s.api.apps.v1.Nope"):
        schema.definition("io.k8s.api.apps.v1.Nope")


DEPLOY = by_kind("apps/v1", "Deployment")


@pytest.mark.parametrize(("path", "shape", "ref"), [
    ("spec", Shape.OBJECT, "io.k8s.api.apps.v1.DeploymentSpec"),
    ("spec.replicas", Shape.INTEGER, None),
    ("spec.paused", Shape.BOOLEAN, None),
    ("spec.selector", Shape.OBJECT, "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"),
    ("spec.selector.matchLabels", Shape.MAP, None),
    ("spec.selector.matchLabels.app", Shape.STRING, None),
    ("spec.template.spec.containers", Shape.ARRAY, None),
    ("spec.template.spec.containers.0", Shape.OBJECT, "io.k8s.api.core.v1.Container"),
    ("spec.template.spec.containers.image", Shape.STRING, None),
    ("spec.template.spec.containers.0.ports.0.containerPort", Shape.INTEGER, None),
    ("spec.template.spec.containers.0.resources.limits.cpu", Shape.QUANTITY, None),
    ("spec.template.spec.containers.0.livenessProbe.httpGet.port", Shape.INT_OR_STRING, None),
    ("spec.strategy.rollingUpdate.maxSurge", Shape.INT_OR_STRING, None),
    ("metadata.creationTimestamp", Shape.TIME, None),
    ("metadata.managedFields.0.fieldsV1.f:spec", Shape.ANY, None),
    ("status.conditions.0.lastUpdateTime", Shape.TIME, None),
    ("spec.replicass", None, None),
    ("spec.replicas.x", None, None),
], ids=lambda v: v if isinstance(v, str) else None)
def test_walk(path: str, shape: Shape | None, ref: str | None) -> None:
    node = schema.field_definition(DEPLOY, path)
    if shape is None:
        assert node is None
        return
    assert node is not None and node.shape is shape
    if ref:
        assert node.ref == ref


@pytest.mark.parametrize(("kind", "path", "key", "strategy"), [
    ("Deployment", ["spec", "template", "spec", "containers"], "name", "merge"),
    ("Deployment", ["spec", "template", "spec", "volumes"], "name", "merge,retainKeys"),
    ("Pod", ["spec", "containers", 0, "env"], "name", "merge"),
    ("Pod", ["spec", "containers", 0, "ports"], "containerPort", "merge"),
    ("Pod", ["metadata", "ownerReferences"], "uid", "merge"),
    ("Service", ["spec", "ports"], "port", "merge"),
    ("Pod", ["spec", "tolerations"], None, None),
])
def test_patch_metadata(kind: str, path: list, key: str | None, strategy: str | None) -> None:
    res = by_kind("apps/v1" if kind == "Deployment" else "v1", kind)
    node = schema.walk(res, path)
    assert node is not None and node.shape is Shape.ARRAY
    assert node.patch_merge_key == key
    assert node.patch_strategy == strategy


def test_required_fields_and_descriptions() -> None:
    spec = schema.root("io.k8s.api.apps.v1.DeploymentSpec")
    assert set(spec.required) == {"selector", "template"}
    assert "Defaults to 1" in spec.properties["replicas"]["description"]
    assert schema.root("io.k8s.api.core.v1.Container").required == ("name",)
