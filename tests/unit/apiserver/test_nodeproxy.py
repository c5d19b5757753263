"""Finding a pod's node agent and container for log/exec (pure parts of the node proxy)."""
import pytest

from skiff.apiserver import status
from skiff.apiserver.nodeproxy import kubelet_base, pick_container


@pytest.mark.parametrize("node, url", [
    ({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}, "https://10.0.0.5:10250"),
    ({"status": {"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.6"}],
                 "daemonEndpoints": {"kubeletEndpoint": {"Port": 11250}}}}, "https://10.0.0.6:11250"),
    ({"status": {"addresses": [{"type": "InternalIP", "address": "fd00::1"}]}}, "https://[fd00::1]:10250"),
    ({"status": {}}, None),
], ids=["default-port", "reported-port", "ipv6", "no-address"])
def test_kubelet_base(node, url):
    assert kubelet_base(node) == url


def pod(*names, default=None):
    p = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": n} for n in names],
                                              "initContainers": [{"name": "init"}]}}
    if default:
        p["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": default}
    return p


def test_pick_container():
    assert pick_container(pod("a"), None, name="p") == "a"
    assert pick_container(pod("a", "b"), "b", name="p") == "b"
    assert pick_container(pod("a", "b"), "init", name="p") == "init"
    assert pick_container(pod("a", "b", default="b"), None, name="p") == "b"
    with pytest.raises(status.StatusError) as err:
        pick_container(pod("a", "b"), None, name="p")
    assert err.value.message == "a container name must be specified for pod p, choose one of: [a b]"
    with pytest.raises(status.StatusError) as err:
        pick_container(pod("a"), "zz", name="p")
    assert err.value.code == 400
