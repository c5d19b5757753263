"""Dev-time generator of ``skiff/api/schema/definitions.json`` from the ``kubernetes`` client.

Run ``.venv/bin/python deploy/codegen/gen_schema.py`` after upgrading the client (pinned to
37 here) and commit the JSON; the runtime only reads the JSON, it never imports the client.

The client's models are pydantic classes generated from Kubernetes' OpenAPI document, but
they lost three things on the way, which this script restores:

* the Go package of each definition (``V1DeploymentSpec`` -> ``io.k8s.api.apps.v1.DeploymentSpec``):
  found by walking the models each API module imports, core first, so a type shared by
  several groups lands in the group that defines it (core types are imported by apps, never
  the reverse); apimachinery types are named by a fixed table;
* the special string types (Quantity, Time, MicroTime, IntOrString, RawExtension, FieldsV1),
  which the client flattens into ``str``/``datetime``/``object``: a table of fields names them;
* the patch and list metadata (``x-kubernetes-patch-merge-key`` etc.), which the client does
  not carry at all: a table transcribed from the Go struct tags of k8s.io/api.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes.client.models as models

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from skiff.api.resources import RESOURCES  # noqa: E402

OUT = ROOT / "skiff" / "api" / "schema" / "definitions.json"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME = META + "Time"
MICROTIME = META + "MicroTime"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
RAW = "io.k8s.apimachinery.pkg.runtime.RawExtension"
FIELDS_V1 = META + "FieldsV1"

# API module -> Go package, in the order that decides which group owns a shared type.
API_PACKAGES = [
    ("core_v1_api", "io.k8s.api.core.v1"),
    ("apps_v1_api", "io.k8s.api.apps.v1"),
    ("batch_v1_api", "io.k8s.api.batch.v1"),
    ("autoscaling_v1_api", "io.k8s.api.autoscaling.v1"),
    ("policy_v1_api", "io.k8s.api.policy.v1"),
    ("coordination_v1_api", "io.k8s.api.coordination.v1"),
    ("discovery_v1_api", "io.k8s.api.discovery.v1"),
    ("networking_v1_api", "io.k8s.api.networking.v1"),
    ("rbac_authorization_v1_api", "io.k8s.api.rbac.v1"),
    ("storage_v1_api", "io.k8s.api.storage.v1"),
    ("scheduling_v1_api", "io.k8s.api.scheduling.v1"),
]
GROUP_PACKAGE = {
    "": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1", "batch": "io.k8s.api.batch.v1",
    "coordination.k8s.io": "io.k8s.api.coordination.v1", "discovery.k8s.io": "io.k8s.api.discovery.v1",
    "networking.k8s.io": "io.k8s.api.networking.v1", "rbac.authorization.k8s.io": "io.k8s.api.rbac.v1",
    "storage.k8s.io": "io.k8s.api.storage.v1", "scheduling.k8s.io": "io.k8s.api.scheduling.v1",
    "policy": "io.k8s.api.policy.v1",
}
# Client classes whose name carries the group ("CoreV1Event"): prefix -> package.
PREFIXED = {
    "CoreV1": "io.k8s.api.core.v1", "DiscoveryV1": "io.k8s.api.discovery.v1",
    "RbacV1": "io.k8s.api.rbac.v1", "EventsV1": "io.k8s.api.events.v1",
    "StorageV1": "io.k8s.api.storage.v1", "AuthenticationV1": "io.k8s.api.authentication.v1",
}
META_TYPES = {
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
    "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause", "DeleteOptions",
    "Preconditions", "WatchEvent", "APIResource", "APIResourceList", "APIGroup", "APIGroupList",
    "APIVersions", "GroupVersionForDiscovery", "ServerAddressByClientCIDR", "FieldSelectorRequirement",
}
# Types used only outside core but defined in core.
PACKAGE_OVERRIDES = {"TopologySelectorTerm": "io.k8s.api.core.v1",
                     "TopologySelectorLabelRequirement": "io.k8s.api.core.v1"}

# (Go definition short name, JSON field) -> special type, where the client says only str/datetime.
QUANTITY_FIELDS = {
    ("ResourceRequirements", "limits"), ("ResourceRequirements", "requests"),
    ("VolumeResourceRequirements", "limits"), ("VolumeResourceRequirements", "requests"),
    ("NodeStatus", "capacity"), ("NodeStatus", "allocatable"), ("PersistentVolumeSpec", "capacity"),
    ("PersistentVolumeClaimStatus", "capacity"), ("PersistentVolumeClaimStatus", "allocatedResources"),
    ("EmptyDirVolumeSource", "sizeLimit"), ("PodSpec", "overhead"), ("ResourceFieldSelector", "divisor"),
    ("ContainerStatus", "allocatedResources"), ("PodStatus", "allocatedResources"),
    ("EndpointHints", "forZones"),
}
QUANTITY_FIELDS.discard(("EndpointHints", "forZones"))
MICROTIME_FIELDS = {("LeaseSpec", "acquireTime"), ("LeaseSpec", "renewTime"), ("Event", "eventTime"),
                    ("EventSeries", "lastObservedTime")}
FIELDS_V1_FIELDS = {("ManagedFieldsEntry", "fieldsV1")}
RAW_FIELDS = {("ControllerRevision", "data"), ("WatchEvent", "object")}

# Patch strategies and list semantics (Go struct tags of k8s.io/api, the kinds Skiff serves).
PATCH = {
    ("ObjectMeta", "ownerReferences"): {"x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
                                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"]},
    ("ObjectMeta", "finalizers"): {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"},
    ("PodSpec", "containers"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "initContainers"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "ephemeralContainers"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                         "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "volumes"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge,retainKeys",
                             "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "imagePullSecrets"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                      "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "hostAliases"): {"x-kubernetes-patch-merge-key": "ip", "x-kubernetes-patch-strategy": "merge",
                                 "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["ip"]},
    ("PodSpec", "topologySpreadConstraints"): {"x-kubernetes-patch-merge-key": "topologyKey",
                                               "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "map",
                                               "x-kubernetes-list-map-keys": ["topologyKey", "whenUnsatisfiable"]},
    ("PodSpec", "resourceClaims"): {"x-kubernetes-patch-merge-key": "name",
                                    "x-kubernetes-patch-strategy": "merge,retainKeys",
                                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "schedulingGates"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                     "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("PodSpec", "tolerations"): {"x-kubernetes-list-type": "atomic"},
    ("Container", "ports"): {"x-kubernetes-patch-merge-key": "containerPort", "x-kubernetes-patch-strategy": "merge",
                             "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["containerPort", "protocol"]},
    ("Container", "env"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                           "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("Container", "volumeMounts"): {"x-kubernetes-patch-merge-key": "mountPath", "x-kubernetes-patch-strategy": "merge",
                                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["mountPath"]},
    ("Container", "volumeDevices"): {"x-kubernetes-patch-merge-key": "devicePath", "x-kubernetes-patch-strategy": "merge",
                                     "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["devicePath"]},
    ("Container", "resizePolicy"): {"x-kubernetes-list-type": "atomic"},
    ("Container", "args"): {"x-kubernetes-list-type": "atomic"},
    ("Container", "command"): {"x-kubernetes-list-type": "atomic"},
    ("Container", "envFrom"): {"x-kubernetes-list-type": "atomic"},
    ("EphemeralContainer", "ports"): {"x-kubernetes-patch-merge-key": "containerPort",
                                      "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "map",
                                      "x-kubernetes-list-map-keys": ["containerPort", "protocol"]},
    ("EphemeralContainer", "env"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("EphemeralContainer", "volumeMounts"): {"x-kubernetes-patch-merge-key": "mountPath",
                                             "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "map",
                                             "x-kubernetes-list-map-keys": ["mountPath"]},
    ("PodStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("PodStatus", "podIPs"): {"x-kubernetes-patch-merge-key": "ip", "x-kubernetes-patch-strategy": "merge",
                              "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["ip"]},
    ("PodStatus", "hostIPs"): {"x-kubernetes-patch-merge-key": "ip", "x-kubernetes-patch-strategy": "merge",
                               "x-kubernetes-list-type": "atomic"},
    ("NodeStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                   "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("NodeStatus", "addresses"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("NodeSpec", "podCIDRs"): {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"},
    ("NodeSpec", "taints"): {"x-kubernetes-list-type": "atomic"},
    ("ServiceSpec", "ports"): {"x-kubernetes-patch-merge-key": "port", "x-kubernetes-patch-strategy": "merge",
                               "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"]},
    ("ServiceSpec", "clusterIPs"): {"x-kubernetes-list-type": "atomic"},
    ("ServiceSpec", "externalIPs"): {"x-kubernetes-list-type": "atomic"},
    ("ServiceSpec", "ipFamilies"): {"x-kubernetes-list-type": "atomic"},
    ("ServiceStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                      "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("ServiceAccount", "secrets"): {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ("ServiceAccount", "imagePullSecrets"): {"x-kubernetes-list-type": "atomic"},
    ("DeploymentStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                         "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("ReplicaSetStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                         "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("StatefulSetStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                          "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("DaemonSetStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("JobStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                  "x-kubernetes-list-type": "atomic"},
    ("PersistentVolumeClaimStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type",
                                                    "x-kubernetes-patch-strategy": "merge",
                                                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("NamespaceStatus", "conditions"): {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge",
                                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ("CronJobStatus", "active"): {"x-kubernetes-list-type": "atomic"},
    ("LabelSelector", "matchExpressions"): {"x-kubernetes-list-type": "atomic"},
    ("LabelSelectorRequirement", "values"): {"x-kubernetes-list-type": "atomic"},
    ("NodeSelectorTerm", "matchExpressions"): {"x-kubernetes-list-type": "atomic"},
    ("NodeSelector", "nodeSelectorTerms"): {"x-kubernetes-list-type": "atomic"},
    ("EndpointSubset", "addresses"): {"x-kubernetes-list-type": "atomic"},
    ("EndpointSubset", "ports"): {"x-kubernetes-list-type": "atomic"},
    ("EndpointSlice", "endpoints"): {"x-kubernetes-list-type": "atomic"},
    ("EndpointSlice", "ports"): {"x-kubernetes-list-type": "atomic"},
    ("PolicyRule", "verbs"): {"x-kubernetes-list-type": "atomic"},
    ("ClusterRole", "rules"): {"x-kubernetes-list-type": "atomic"},
    ("Role", "rules"): {"x-kubernetes-list-type": "atomic"},
    ("RoleBinding", "subjects"): {"x-kubernetes-list-type": "atomic"},
    ("ClusterRoleBinding", "subjects"): {"x-kubernetes-list-type": "atomic"},
    ("IngressSpec", "rules"): {"x-kubernetes-list-type": "atomic"},
    ("IngressSpec", "tls"): {"x-kubernetes-list-type": "atomic"},
    ("HTTPIngressRuleValue", "paths"): {"x-kubernetes-list-type": "atomic"},
}
# Types Kubernetes marks as maps that must be replaced whole when patched.
MAP_TYPE_ATOMIC = {"LabelSelector": "atomic", "NodeSelector": "atomic", "ObjectReference": "atomic",
                   "LocalObjectReference": "atomic", "NodeSelectorTerm": "atomic", "Toleration": None}

SPECIAL_DEFINITIONS: dict[str, dict[str, Any]] = {
    QUANTITY: {
        "type": "string",
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
        "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\n"
        "The serialization format is:\n\n``` <quantity>        ::= <signedNumber><suffix>\n\n\t"
        "(Note that <suffix> may be empty, from the \"\" case in <decimalSI>.)\n\n<digit>           ::= 0 | 1 "
        "| ... | 9 <digits>          ::= <digit> | <digit><digits> <number>          ::= <digits> | "
        "<digits>.<digits> | <digits>. | .<digits> <sign>            ::= \"+\" | \"-\" <signedNumber>    ::= "
        "<number> | <sign><number> <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI> "
        "<binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n\t(International System of units; See: "
        "http://physics.nist.gov/cuu/Units/binary.html)\n\n<decimalSI>       ::= m | \"\" | k | M | G | T | P | "
        "E\n\n\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose the capitalization.)\n\n"
        "<decimalExponent> ::= \"e\" <signedNumber> | \"E\" <signedNumber> ```\n\nNo matter which of the "
        "three exponent forms is used, no quantity may represent a number greater than 2^63-1 in magnitude, "
        "nor may it have more than 3 decimal places. Numbers larger or more precise will be capped or "
        "rounded up. (E.g.: 0.1m will rounded up to 1m.) This may be extended in the future if we require "
        "larger or smaller quantities.",
    },
    TIME: {"type": "string", "format": "date-time",
           "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
           "JSON.  Wrappers are provided for many of the factory methods that the time package offers."},
    MICROTIME: {"type": "string", "format": "date-time",
                "description": "MicroTime is version of Time with microsecond level precision."},
    INT_OR_STRING: {"type": "string", "format": "int-or-string",
                    "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON "
                    "or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows "
                    "you to have, for example, a JSON field that can accept a name or number."},
    RAW: {"type": "object",
          "description": "RawExtension is used to hold extensions in external versions.\n\nTo use this, make "
          "a field which has RawExtension as its type in your external type, and use json.RawMessage "
          "as the type in your internal type."},
    FIELDS_V1: {"type": "object",
                "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format."
                "\n\nEach key is either a '.' representing the field itself, and will always map to an empty "
                "set, or a string representing a sub-field or item. The string will follow one of these four "
                "formats: 'f:<name>', where <name> is the name of a field in a struct, or key in a map "
                "'v:<value>', where <value> is the exact json formatted value of a list item 'i:<index>', "
                "where <index> is position of a item in a list 'k:<keys>', where <keys> is a map of a list "
                "item's key fields to their unique values If a key maps to an empty Fieldset, that "
                "subfield or item is present. The exact format is defined in sigs.k8s.io/structured-merge-diff"},
}

EXTRA_ROOTS = [  # (client class, package) besides the served kinds and their lists
    ("V1Status", None), ("V1DeleteOptions", None), ("V1WatchEvent", None), ("V1APIResourceList", None),
    ("V1Scale", "io.k8s.api.autoscaling.v1"), ("V1Binding", "io.k8s.api.core.v1"),
    ("V1Eviction", "io.k8s.api.policy.v1"),
]


def short_name(cls_name: str) -> str:
    for prefix in PREFIXED:
        if cls_name.startswith(prefix):
            return cls_name[len(prefix):]
    m = re.match(r"^V\d+(?:(?:alpha|beta)\d+)?(.*)$", cls_name)
    assert m, cls_name
    return m.group(1)


def model(name: str) -> Any:
    return getattr(models, name)


def referenced(type_str: str) -> list[str]:
    return [t for t in re.findall(r"[A-Za-z0-9]+", type_str) if hasattr(models, t) and t[0].isupper()
            and t not in ("List", "Dict", "str", "object")]


def assign_packages() -> dict[str, str]:
    """Client class -> Go package, by walking each API module's imports, core first."""
    owner: dict[str, str] = {}
    api_dir = Path(kubernetes.__file__).parent / "client" / "api"
    for module, package in API_PACKAGES:
        text = (api_dir / f"{module}.py").read_text()
        roots = re.findall(r"^from kubernetes\.client\.models\.\w+ import (\w+)$", text, re.M)
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in owner:
                continue
            owner[name] = package
            for t in getattr(model(name), "openapi_types", {}).values():
                stack.extend(referenced(t))
    for name in owner:
        short = short_name(name)
        for prefix, package in PREFIXED.items():
            if name.startswith(prefix):
                owner[name] = package
        if short in META_TYPES:
            owner[name] = META.rstrip(".")
        if short in PACKAGE_OVERRIDES:
            owner[name] = PACKAGE_OVERRIDES[short]
    return owner


def description_of(cls: Any) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\nAttributes:")[0].split("\n    Attributes:")[0].strip()


def property_schema(def_short: str, json_name: str, type_str: str, annotation: str,
                    owner: dict[str, str], todo: list[str]) -> dict[str, Any]:
    key = (def_short, json_name)

    def scalar(t: str) -> dict[str, Any]:
        if t == "str":
            return {"$ref": "#/definitions/" + QUANTITY} if key in QUANTITY_FIELDS else {"type": "string"}
        if t == "int":
            return {"type": "integer", "format": "int32"}
        if t == "float":
            return {"type": "number", "format": "double"}
        if t == "bool":
            return {"type": "boolean"}
        if t == "bytes":
            return {"type": "string", "format": "byte"}
        if t == "datetime":
            return {"$ref": "#/definitions/" + (MICROTIME if key in MICROTIME_FIELDS else TIME)}
        if t == "object":
            if key in FIELDS_V1_FIELDS:
                return {"$ref": "#/definitions/" + FIELDS_V1}
            if key in RAW_FIELDS:
                return {"$ref": "#/definitions/" + RAW}
            if re.search(r"Annotated\[int, Strict\(strict=True\)\], typing\.Annotated\[str, Strict", annotation):
                return {"$ref": "#/definitions/" + INT_OR_STRING}
            return {"type": "object"}
        if hasattr(models, t):
            todo.append(t)
            return {"$ref": "#/definitions/" + f"{owner[t]}.{short_name(t)}"}
        raise ValueError(f"{def_short}.{json_name}: unknown type {t}")

    m = re.fullmatch(r"List\[(.+)\]", type_str)
    if m:
        return {"type": "array", "items": scalar(m.group(1))}
    m = re.fullmatch(r"Dict\[str, (.+)\]", type_str)
    if m:
        inner = m.group(1)
        if inner == "object" and key in RAW_FIELDS:
            return {"$ref": "#/definitions/" + RAW}
        inner_m = re.fullmatch(r"List\[(.+)\]", inner)
        if inner_m:
            return {"type": "object", "additionalProperties": {"type": "array", "items": scalar(inner_m.group(1))}}
        if inner == "object":
            return {"type": "object", "additionalProperties": {"type": "object"}} if key not in RAW_FIELDS else {}
        return {"type": "object", "additionalProperties": scalar(inner)}
    return scalar(type_str)


def build() -> dict[str, Any]:
    owner = assign_packages()
    definitions: dict[str, Any] = dict(SPECIAL_DEFINITIONS)
    roots: list[str] = []
    gvk: dict[str, list[dict[str, str]]] = {}
    for r in RESOURCES:
        cls = "CoreV1Event" if r.kind == "Event" and r.group == "" else f"V1{r.kind}"
        for c in (cls, cls + "List"):
            owner[c] = GROUP_PACKAGE[r.group]
            roots.append(c)
            gvk[c] = [{"group": r.group, "version": r.version, "kind": r.kind + ("List" if c.endswith("List") else "")}]
    for c, package in EXTRA_ROOTS:
        owner[c] = package or META.rstrip(".")
        roots.append(c)
    # Kinds of meta and extra roots Kubernetes tags with every group-version; one is enough for clients.
    gvk.setdefault("V1Status", [{"group": "", "version": "v1", "kind": "Status"}])
    gvk.setdefault("V1DeleteOptions", [{"group": "", "version": "v1", "kind": "DeleteOptions"}])
    gvk.setdefault("V1WatchEvent", [{"group": "", "version": "v1", "kind": "WatchEvent"}])
    gvk.setdefault("V1APIResourceList", [{"group": "", "version": "v1", "kind": "APIResourceList"}])
    gvk.setdefault("V1Scale", [{"group": "autoscaling", "version": "v1", "kind": "Scale"}])
    gvk.setdefault("V1Binding", [{"group": "", "version": "v1", "kind": "Binding"}])
    gvk.setdefault("V1Eviction", [{"group": "policy", "version": "v1", "kind": "Eviction"}])

    todo = list(roots)
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        cls = model(name)
        short = short_name(name)
        full = f"{owner[name]}.{short}"
        props: dict[str, Any] = {}
        required: list[str] = []
        fields_by_json = {f.serialization_alias or f.alias or n: f for n, f in cls.model_fields.items()}
        for attr, type_str in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            field = fields_by_json[json_name]
            prop = property_schema(short, json_name, type_str, str(field.annotation), owner, todo)
            if field.description:
                prop = {"description": field.description, **prop}
            prop.update(PATCH.get((short, json_name), {}))
            props[json_name] = prop
            if field.is_required():
                required.append(json_name)
        d: dict[str, Any] = {"description": description_of(cls), "type": "object", "properties": props}
        if required:
            d["required"] = required
        if name in gvk:
            d["x-kubernetes-group-version-kind"] = gvk[name]
        if MAP_TYPE_ATOMIC.get(short):
            d["x-kubernetes-map-type"] = MAP_TYPE_ATOMIC[short]
        if full in definitions:
            raise ValueError(f"two client classes map to {full}")
        definitions[full] = d
    _fill_reference_descriptions(definitions, gvk_names={f"{owner[c]}.{short_name(c)}" for c in gvk})
    return {
        "source": f"kubernetes python client {kubernetes.__version__}",
        "definitions": dict(sorted(definitions.items())),
    }


CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"


def _fill_reference_descriptions(definitions: dict[str, Any], *, gvk_names: set[str]) -> None:
    """The client drops the descriptions of fields whose type is another model; put back
    Kubernetes' standard wording for metadata/spec/status and the referenced type's own
    description elsewhere, so ``kubectl explain`` has something to say about every field."""
    for name, d in definitions.items():
        kind = name.rsplit(".", 1)[-1]
        for prop_name, prop in d.get("properties", {}).items():
            if "description" in prop:
                continue
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref") or ""
            target = ref.rsplit("/", 1)[-1]
            if name in gvk_names and prop_name == "metadata":
                text = ("Standard list metadata. More info: " + CONVENTIONS + "#types-kinds" if kind.endswith("List")
                        else "Standard object's metadata. More info: " + CONVENTIONS + "#metadata")
            elif name in gvk_names and prop_name == "spec":
                text = (f"Specification of the desired behavior of the {kind}. More info: "
                        + CONVENTIONS + "#spec-and-status")
            elif name in gvk_names and prop_name == "status":
                text = (f"Most recently observed status of the {kind}. This data may not be up to date. "
                        "Populated by the system. Read-only. More info: " + CONVENTIONS + "#spec-and-status")
            elif target in definitions:
                text = definitions[target].get("description", "")
            else:
                continue
            if text:
                d["properties"][prop_name] = {"description": text, **prop}


def main() -> None:
    data = build()
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(data['definitions'])} definitions to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
