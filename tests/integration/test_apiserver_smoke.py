"""The server starts on an embedded etcd, writes its kubeconfig and answers kubectl."""
import subprocess


def test_kubectl_sees_default_namespaces(skiff_server_session) -> None:
    out = subprocess.run(["kubectl", "get", "namespaces", "-o", "name"], env=skiff_server_session.env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) >= {"namespace/default", "namespace/kube-system", "namespace/kube-public",
                                       "namespace/kube-node-lease"}
