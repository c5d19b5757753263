"""validate(): Kubernetes' field errors for bad objects, none for good ones (after defaults)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from skiff.api import validation
from skiff.api.fielderrors import CauseType, FieldError, invalid_status
from skiff.api.resources import RESOURCES, by_kind

from .builders import (DELETE, container, new_cronjob, new_deployment, new_job, new_pod, new_service, template,
                       with_)

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def run(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    res = by_kind(obj["apiVersion"], obj["kind"])
    assert res is not None
    obj = copy.deepcopy(obj)
    validation.apply_defaults(res, obj)
    if old is not None:
        old = copy.deepcopy(old)
        validation.apply_defaults(res, old)
    return [str(e) for e in validation.validate(res, obj, old=old)]


VALID = [
    ("pod", new_pod()),
    ("deployment", new_deployment()),
    ("service", new_service()),
    ("headless-service", new_service(clusterIP="None", ports=[])),
    ("nodeport-service", new_service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])),
    ("job", new_job()),
    ("cronjob", new_cronjob()),
    ("cronjob-descriptor", new_cronjob(schedule="@hourly")),
    ("configmap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
                   "data": {"a.b-c_D": "x"}}),
    ("secret-tls", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
                    "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
    ("namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    ("node", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1.example"},
              "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}], "podCIDR": "10.244.1.0/24"}}),
    ("pvc", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    ("clusterrole", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                     "metadata": {"name": "system:reader"},
                     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    ("rolebinding", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": "rb", "namespace": "d"},
                     "roleRef": {"kind": "Role", "name": "r"},
                     "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "d"},
                                  {"kind": "User", "name": "alice"}]}),
    ("lease", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "namespace": "d"},
               "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
    ("ingress", {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "d"},
                 "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
                     {"path": "/", "pathType": "Prefix",
                      "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
    ("storageclass", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
                      "provisioner": "kubernetes.io/no-provisioner"}),
    ("endpointslice", {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                       "metadata": {"name": "web-abc", "namespace": "d"}, "addressType": "IPv4",
                       "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}),
    ("generate-name", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-", "namespace": "d"}}),
]


@pytest.mark.parametrize("obj", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_objects_have_no_errors(obj) -> None:
    assert run(obj) == []


INVALID = [
    ("replicas-negative", with_(new_deployment(), "spec.replicas", -1),
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("bad-name", with_(new_deployment(), "metadata.name", "Bad_Name"),
     [f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}']),
    ("no-name", with_(new_deployment(), "metadata.name", DELETE),
     ["metadata.name: Required value: name or generateName is required"]),
    ("image-required", with_(new_deployment(), "spec.template.spec.containers[0].image", DELETE),
     ["spec.template.spec.containers[0].image: Required value"]),
    ("selector-mismatch", with_(new_deployment(), "spec.template.metadata.labels", {"app": "other"}),
     ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
      "`selector` does not match template `labels`"]),
    ("selector-missing", with_(new_deployment(), "spec.selector", DELETE),
     ["spec.selector: Required value"]),
    ("selector-empty", with_(new_deployment(), "spec.selector", {}),
     ["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
      "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"]),
    ("strategy-type", with_(new_deployment(), "spec.strategy", {"type": "BlueGreen"}),
     ['spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"']),
    ("recreate-with-rolling", with_(new_deployment(), "spec.strategy",
                                    {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
     ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]),
    ("both-zero", with_(new_deployment(), "spec.strategy",
                        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
     ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]),
    ("bad-percent", with_(new_deployment(), "spec.strategy",
                          {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "abc"}}),
     ["spec.strategy.rollingUpdate.maxSurge: Invalid value: abc: a valid percent string must be a numeric string "
      "followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]),
    ("progress-deadline", with_(new_deployment(), "spec.minReadySeconds", 700),
     ["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"]),
    ("template-restart-never", with_(new_deployment(), "spec.template.spec.restartPolicy", "Never"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']),
    ("restart-policy-enum", with_(new_pod(), "spec.restartPolicy", "Sometimes"),
     ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']),
    ("dns-policy-enum", with_(new_pod(), "spec.dnsPolicy", "Google"),
     ['spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", '
      '"Default", "None"']),
    ("no-containers", with_(new_pod(), "spec.containers", []),
     ["spec.containers: Required value"]),
    ("duplicate-container", with_(new_pod(), "spec.containers", [container(), container()]),
     ['spec.containers[1].name: Duplicate value: "web"']),
    ("container-port-range", with_(new_pod(), "spec.containers[0].ports", [{"containerPort": 70000}]),
     ["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
    ("port-protocol", with_(new_pod(), "spec.containers[0].ports", [{"containerPort": 80, "protocol": "HTTP"}]),
     ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']),
    ("env-name", with_(new_pod(), "spec.containers[0].env", [{"name": "1BAD", "value": "x"}]),
     ['spec.containers[0].env[0].name: Invalid value: "1BAD": a valid environment variable name must consist of '
      "alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
      "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"]),
    ("requests-over-limits", with_(new_pod(), "spec.containers[0].resources",
                                   {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}),
     ['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1']),
    ("resource-name", with_(new_pod(), "spec.containers[0].resources", {"limits": {"cpus": "1"}}),
     ['spec.containers[0].resources.limits[cpus]: Invalid value: "cpus": must be a standard resource for '
      "containers",  # and again for the request Kubernetes defaults from the limit
      'spec.containers[0].resources.requests[cpus]: Invalid value: "cpus": must be a standard resource for '
      "containers"]),
    ("probe-no-handler", with_(new_pod(), "spec.containers[0].livenessProbe", {"periodSeconds": 5}),
     ["spec.containers[0].livenessProbe: Required value: must specify a handler type"]),
    ("liveness-success", with_(new_pod(), "spec.containers[0].livenessProbe",
                               {"tcpSocket": {"port": 80}, "successThreshold": 2}),
     ["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"]),
    ("mount-unknown-volume", with_(new_pod(), "spec.containers[0].volumeMounts", [{"name": "data", "mountPath": "/d"}]),
     ['spec.containers[0].volumeMounts[0].name: Not found: "data"']),
    ("volume-two-sources", with_(new_pod(), "spec.volumes", [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
     ["spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"]),
    ("toleration-effect", with_(new_pod(), "spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "Never"}]),
     ['spec.tolerations[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", '
      '"NoExecute"']),
    ("labels", with_(new_pod(), "metadata.labels", {"bad key": "v"}),
     ["metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or "
      "'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
      "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
    ("annotations-too-big", with_(new_pod(), "metadata.annotations", {"a": "x" * (256 * 1024)}),
     ["metadata.annotations: Too long: may not be more than 262144 bytes"]),
    ("namespace-on-cluster-kind", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}},
     ["metadata.namespace: Forbidden: not allowed on this type"]),
    ("namespace-name-label", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}},
     ['metadata.name: Invalid value: "a.b": must not contain dots']),
    ("service-name-dns1035", new_service(name="1web"),
     ['metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters '
      "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
      "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]),
    ("service-no-ports", new_service(ports=[]), ["spec.ports: Required value"]),
    ("service-port-names", new_service(ports=[{"port": 80}, {"port": 81}]),
     ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]),
    ("service-type", new_service(type="Magic"),
     ['spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
      '"NodePort"']),
    ("service-nodeport-on-clusterip", new_service(ports=[{"port": 80, "nodePort": 30000}]),
     ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]),
    ("service-target-port-name", new_service(ports=[{"port": 80, "targetPort": "HTTP"}]),
     ['spec.ports[0].targetPort: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), '
      "and hyphens (-)", 'spec.ports[0].targetPort: Invalid value: "HTTP": must contain at least one letter (a-z)']),
    ("job-restart-always", with_(new_job(), "spec.template.spec.restartPolicy", DELETE),
     ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']),
    ("job-backoff", with_(new_job(), "spec.backoffLimit", -1),
     ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"]),
    ("cron-fields", new_cronjob(schedule="* * *"),
     ['spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]']),
    ("cron-range", new_cronjob(schedule="61 * * * *"),
     ['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']),
    ("cron-tz", new_cronjob(schedule="TZ=UTC 0 * * * *"),
     ['spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field '
      "instead"]),
    ("cron-timezone", new_cronjob(timeZone="Mars/Olympus"),
     ['spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']),
    ("cron-concurrency", new_cronjob(concurrencyPolicy="Sometimes"),
     ['spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"']),
    ("node-taint-effect", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                           "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}},
     ['spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", '
      '"NoExecute"']),
    ("configmap-key", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
                       "data": {"a/b": "x"}},
     ["data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or "
      "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]),
    ("secret-tls-missing", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
                            "type": "kubernetes.io/tls", "data": {}},
     ["data[tls.crt]: Required value", "data[tls.key]: Required value"]),
    ("pvc-access-modes", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
                          "spec": {"resources": {"requests": {"storage": "1Gi"}}}},
     ["spec.accessModes: Required value: at least 1 access mode is required"]),
    ("pvc-storage", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
                     "spec": {"accessModes": ["ReadWriteOnce"]}},
     ["spec.resources[storage]: Required value"]),
    ("role-verbs", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "d"},
                    "rules": [{"apiGroups": [""], "resources": ["pods"]}]},
     ["rules[0].verbs: Required value: verbs must contain at least one value"]),
    ("clusterrolebinding-kind", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                 "metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"}},
     ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']),
    ("lease-duration", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "namespace": "d"},
                        "spec": {"leaseDurationSeconds": 0}},
     ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]),
    ("ingress-path-type", {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "d"},
                           "spec": {"rules": [{"http": {"paths": [
                               {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
     ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]),
]


@pytest.mark.parametrize(("obj", "messages"), [(v[1], v[2]) for v in INVALID], ids=[v[0] for v in INVALID])
def test_invalid_objects(obj, messages) -> None:
    assert run(obj) == messages


OLD_DEPLOY = new_deployment()
OLD_SVC = with_(new_service(), "spec.clusterIP", "10.96.0.10")
OLD_POD = new_pod()

UPDATES = [
    ("deployment-scale-ok", with_(OLD_DEPLOY, "spec.replicas", 5), OLD_DEPLOY, []),
    ("deployment-selector", with_(with_(OLD_DEPLOY, "spec.selector", {"matchLabels": {"app": "web2"}}),
                                  "spec.template.metadata.labels", {"app": "web2"}), OLD_DEPLOY,
     ['spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
      "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]),
    ("service-clusterip", with_(OLD_SVC, "spec.clusterIP", "10.96.0.11"), OLD_SVC,
     ['spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set',
      'spec.clusterIP: Invalid value: "10.96.0.11": field is immutable']),
    ("pod-image-ok", with_(OLD_POD, "spec.containers[0].image", "nginx:1.26"), OLD_POD, []),
    ("pod-add-toleration-ok", with_(OLD_POD, "spec.tolerations", [{"key": "a", "operator": "Exists"}]), OLD_POD, []),
    ("pod-other-field", with_(OLD_POD, "spec.containers[0].name", "other"), OLD_POD,
     ["spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
      "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
      "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"]),
    ("configmap-immutable", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
                             "immutable": True, "data": {"a": "2"}},
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "immutable": True,
      "data": {"a": "1"}},
     ["data: Forbidden: field is immutable when `immutable` is set"]),
    ("secret-type", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
                     "type": "example.com/x"},
     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"}},
     ['type: Invalid value: "example.com/x": field is immutable']),
    ("job-template", with_(new_job(), "spec.template.spec.containers[0].image", "busybox"), new_job(),
     ["spec.template: Invalid value: "]),
    ("pvc-resize-ok",
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}},
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}, []),
    ("pvc-modes",
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
      "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}},
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
     ["spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
      "for bound claims"]),
]


@pytest.mark.parametrize(("new", "old", "messages"), [(u[1], u[2], u[3]) for u in UPDATES], ids=[u[0] for u in UPDATES])
def test_updates(new, old, messages) -> None:
    got = run(new, old)
    if messages and messages[0].endswith("Invalid value: "):  # a long Go-ish value; check the shape only
        assert len(got) == 1 and got[0].startswith(messages[0]) and got[0].endswith(": field is immutable")
    else:
        assert got == messages


def test_field_error_renders_like_kubernetes() -> None:
    e = FieldError(CauseType.FieldValueInvalid, "spec.replicas", "must be greater than or equal to 0", -1)
    assert str(e) == e.message == "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    assert e.cause() == {"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or "
                         "equal to 0", "field": "spec.replicas"}
    req = FieldError(CauseType.FieldValueRequired, "spec.template.spec.containers[0].image", "")
    assert str(req) == "spec.template.spec.containers[0].image: Required value"


def test_invalid_status_body() -> None:
    errs = [FieldError(CauseType.FieldValueInvalid, "spec.replicas", "must be greater than or equal to 0", -1),
            FieldError(CauseType.FieldValueRequired, "spec.selector")]
    st = invalid_status("apps", "Deployment", "web", errs)
    assert st["code"] == 422 and st["reason"] == "Invalid"
    assert st["message"] == ('Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater '
                             'than or equal to 0, spec.selector: Required value]')
    assert [c["field"] for c in st["details"]["causes"]] == ["spec.replicas", "spec.selector"]


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.kind)
def test_every_kind_validates_a_minimal_object(res) -> None:
    """No kind crashes on a bare object (errors are fine, exceptions are not)."""
    meta: dict[str, Any] = {"name": "x"}
    if res.namespaced:
        meta["namespace"] = "default"
    obj: dict[str, Any] = {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta}
    validation.apply_defaults(res, obj)
    errs = validation.validate(res, obj)
    assert all(isinstance(e, FieldError) for e in errs)
    validation.validate(res, obj, old=copy.deepcopy(obj))


def test_template_helper_is_valid() -> None:
    assert run(new_deployment(template=template())) == []


def _pdb(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "d"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


@pytest.mark.parametrize(("spec", "messages"), [
    ({"minAvailable": 2}, []),
    ({"maxUnavailable": "25%"}, []),
    ({"minAvailable": 1, "maxUnavailable": 1},
     ['spec: Invalid value: {"maxUnavailable":1,"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}: '
      "minAvailable and maxUnavailable cannot be both set"]),
    ({"minAvailable": -1}, ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]),
    # an IntOrString prints through its String(): unquoted
    ({"maxUnavailable": "150%"}, ["spec.maxUnavailable: Invalid value: 150%: must not be greater than 100%"]),
    ({"minAvailable": "half"}, ['spec.minAvailable: Invalid value: half: a valid percent string must be a numeric '
                                'string followed by an ending \'%\' (e.g. \'1%\',  or \'93%\', regex used for '
                                'validation is \'[0-9]+%\')']),
    ({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Never"},
     ['spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", '
      '"IfHealthyBudget"']),
], ids=["min", "max-percent", "both", "negative", "over-100", "not-percent", "policy"])
def test_pod_disruption_budget(spec: dict[str, Any], messages: list[str]) -> None:
    assert run(_pdb(**spec)) == messages
