"""Resource path parsing, as table."""
import pytest

from skiff.apiserver import status
from skiff.apiserver.paths import parse


@pytest.mark.parametrize("path, plural, namespace, name, sub", [
    ("/api/v1/pods", "pods", None, None, None),
    ("/api/v1/namespaces/default/pods", "pods", "default", None, None),
    ("/api/v1/namespaces/default/pods/web/status", "pods", "default", "web", "status"),
    ("/api/v1/namespaces/default/pods/web/binding", "pods", "default", "web", "binding"),
    ("/api/v1/namespaces/kube-system", "namespaces", None, "kube-system", None),
    ("/api/v1/namespaces/kube-system/status", "namespaces", None, "kube-system", "status"),
    ("/api/v1/namespaces/kube-system/finalize", "namespaces", None, "kube-system", "finalize"),
    ("/apis/apps/v1/namespaces/a/deployments/w/scale", "deployments", "a", "w", "scale"),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", "clusterroles", None, "admin", None),
    ("/api/v1/nodes/n1/status", "nodes", None, "n1", "status"),
], ids=lambda v: str(v))
def test_parses(path, plural, namespace, name, sub):
    t = parse(path)
    assert t is not None
    assert (t.resource.plural, t.namespace, t.name, t.subresource) == (plural, namespace, name, sub)


@pytest.mark.parametrize("path", [
    "/api/v1/widgets",                               # unknown resource
    "/apis/apps/v2/deployments",                     # unknown version
    "/api/v1/namespaces/a/nodes",                    # cluster-scoped kind under a namespace
    "/api/v1/namespaces/a/pods/p/nonsense",          # unknown subresource
    "/api/v1/namespaces/a/configmaps/c/status",      # kind without status
    "/api/v1/namespaces/a/pods/p/status/extra",
])
def test_unknown_paths_are_404(path):
    with pytest.raises(status.StatusError) as err:
        parse(path)
    assert err.value.code == 404


@pytest.mark.parametrize("path", ["/api", "/apis", "/apis/apps", "/version", "/api/v1"])
def test_non_resource_paths(path):
    assert parse(path) is None
