"""The table of kinds Skiff serves: group, version, plural, scope, short names, subresources.

This is the single place that decides which URL serves which kind; discovery, the
REST handlers, the client and skiffctl all read it. It holds no behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", ...
    verbs: tuple[str, ...] = ALL_VERBS
    #: spec-like top-level fields whose change bumps metadata.generation
    spec_fields: tuple[str, ...] = field(default=("spec",))

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """Kubernetes' ``resource.group`` spelling used in error messages (``deployments.apps``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        return base


_WORKLOAD_SUB = ("status", "scale")

RESOURCES: tuple[Resource, ...] = (
    # core/v1
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",), subresources=("status", "finalize"),
             verbs=("create", "delete", "get", "list", "patch", "update", "watch"), spec_fields=()),
    Resource("", "v1", "Pod", "pods", True, ("po",), ("all",), ("status", "binding", "eviction", "log", "exec", "attach", "portforward")),
    Resource("", "v1", "Node", "nodes", False, ("no",), subresources=("status", "proxy"), spec_fields=()),
    Resource("", "v1", "Service", "services", True, ("svc",), ("all",), ("status", "proxy"),
             verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",), spec_fields=()),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",), spec_fields=()),
    Resource("", "v1", "Secret", "secrets", True, spec_fields=()),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), subresources=("token",), spec_fields=()),
    Resource("", "v1", "Event", "events", True, ("ev",), spec_fields=()),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), subresources=("status",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), subresources=("status",)),
    # apps/v1
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",), _WORKLOAD_SUB),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",), _WORKLOAD_SUB),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), _WORKLOAD_SUB),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",), ("status",)),
    Resource("apps", "v1", "ControllerRevision", "controllerrevisions", True, spec_fields=("data",)),
    # batch/v1
    Resource("batch", "v1", "Job", "jobs", True, (), ("all",), ("status",)),
    Resource("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("all",), ("status",)),
    # others
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), subresources=("status",)),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, spec_fields=()),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), subresources=("status",)),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles", True, spec_fields=()),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, spec_fields=()),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, spec_fields=()),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False, spec_fields=()),
    Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",), spec_fields=()),
    Resource("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",), spec_fields=()),
)

_BY_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.version, r.kind): r for r in RESOURCES}


def by_plural(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PLURAL.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    group, _, version = api_version.rpartition("/")
    return _BY_KIND.get((group, version, kind))


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first, in a stable order."""
    seen: dict[tuple[str, str], None] = {}
    for r in RESOURCES:
        seen.setdefault((r.group, r.version), None)
    return list(seen)


def find(name: str) -> Resource | None:
    """Resolve what a user types (``po``, ``pods``, ``pod``, ``deployments.apps``, ``Deployment``)."""
    lowered = name.lower()
    plural, _, group = lowered.partition(".")
    for r in RESOURCES:
        if group and r.group != group:
            continue
        if plural in (r.plural, r.singular) or plural in r.short_names:
            return r
    return None
