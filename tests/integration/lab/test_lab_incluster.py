"""In-cluster API access on a 1-node lab: a pod's service-account token, CA and environment take a
client to the API through the ``kubernetes`` Service (10.96.0.1:443, the node proxy's rules, the
server at its lab address), as ``rest.InClusterConfig`` and the Python client's
``load_incluster_config`` do.

busybox has no TLS client, so the requests are made by the host's Python *inside the pod's network
namespace* (``nsenter --net=/proc/PID/ns/net``): the packets leave from the pod's address through
its veth and the node's iptables, exactly as the pod's own would; the files and variables it uses
are the pod's, read through ``kubectl exec``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.cmd import lab_topology
from tests.integration.lab.test_lab import Lab, running_lab, wait_for

pytestmark = pytest.mark.e2e
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

# what runs in the pod's network namespace: the kubernetes client's in-cluster loader with the
# pod's variables and files, then a raw request to kubernetes.default.svc resolved by cluster DNS
CLIENT = r'''
import json, socket, ssl, sys
import dns.resolver
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader

token_file, ca_file, env_file, resolv_file, pod_name = sys.argv[1:6]
environ = json.load(open(env_file))
cfg = client.Configuration()
InClusterConfigLoader(token_filename=token_file, cert_filename=ca_file, environ=environ).load_and_set(cfg)
with client.ApiClient(cfg) as api:
    pods = client.CoreV1Api(api).list_namespaced_pod("default")
result = {"host": cfg.host, "incluster_pods": sorted(p.metadata.name for p in pods.items)}

servers = [l.split()[1] for l in open(resolv_file) if l.startswith("nameserver")]
r = dns.resolver.Resolver(configure=False)
r.nameservers = servers
ip = r.resolve("kubernetes.default.svc.cluster.local", "A")[0].address
ctx = ssl.create_default_context(cafile=ca_file)
token = open(token_file).read()
with socket.create_connection((ip, 443), timeout=20) as raw, \
        ctx.wrap_socket(raw, server_hostname="kubernetes.default.svc") as s:
    s.sendall(("GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: kubernetes.default.svc\r\n"
               f"Authorization: Bearer {token}\r\nAccept: application/json\r\nConnection: close\r\n\r\n").encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
head, _, body = data.partition(b"\r\n\r\n")
result["dns_ip"] = ip
result["status_line"] = head.split(b"\r\n")[0].decode()
result["raw_lists_pod"] = f'"name":"{pod_name}"'.encode() in body
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "ic", "--nodes", "1") as cluster:
        yield cluster


def pid_with_marker(marker: str) -> int:
    """The PID (host view) of the pod's process started with ``MARKER=marker`` in its environment."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"MARKER={marker}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return 0


def test_default_kubernetes_service_points_at_the_servers_lab_address(small_lab: Lab) -> None:
    t = lab_topology.plan(small_lab.name, 1)
    ep = small_lab.json("get", "endpoints", "kubernetes", "-n", "default")
    assert ep["subsets"] == [{"addresses": [{"ip": t.server.ip}],
                              "ports": [{"name": "https", "port": lab_topology.API_PORT, "protocol": "TCP"}]}]
    eps = small_lab.json("get", "endpointslice", "kubernetes", "-n", "default")
    assert [e["addresses"] for e in eps["endpoints"]] == [[t.server.ip]]
    svc = small_lab.json("get", "service", "kubernetes", "-n", "default")
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443


def test_pod_reaches_the_api_with_its_own_token(small_lab: Lab, tmp_path: Path) -> None:
    name, marker = f"incluster-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    small_lab.kubectl("run", name, "--image=busybox:1.36", "--restart=Never", f"--env=MARKER={marker}",
                      "--", "sleep", "3600")
    try:
        def running() -> bool:
            p = small_lab.json("get", "pod", name)
            return p["status"].get("phase") == "Running"
        wait_for(running, timeout=120, what="the pod Running")
        files = {}
        for f in ("token", "ca.crt", "namespace"):
            files[f] = small_lab.kubectl("exec", name, "--", "cat", f"{MOUNT}/{f}").stdout
        assert files["namespace"] == "default"
        env = dict(line.split("=", 1) for line in small_lab.kubectl("exec", name, "--", "env").stdout.splitlines()
                   if "=" in line)
        assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("10.96.0.1", "443")
        (tmp_path / "token").write_text(files["token"])
        (tmp_path / "ca.crt").write_text(files["ca.crt"])
        (tmp_path / "env.json").write_text(json.dumps(env))
        (tmp_path / "resolv.conf").write_text(small_lab.kubectl("exec", name, "--", "cat", "/etc/resolv.conf").stdout)
        (tmp_path / "client.py").write_text(CLIENT)

        pid = wait_for(lambda: pid_with_marker(marker), timeout=30, what="the pod's process")
        node_ns = lab_topology.plan(small_lab.name, 1).nodes[0].netns
        nat = subprocess.run(["nsenter", f"--net=/run/netns/{node_ns}", "iptables-save", "-t", "nat"],
                             capture_output=True, text=True, timeout=30).stdout
        assert "10.96.0.1/32" in nat, "the proxy has no rule for the kubernetes Service"
        pod_ns, node_ns_inode = os.stat(f"/proc/{pid}/ns/net").st_ino, os.stat(f"/run/netns/{node_ns}").st_ino
        assert pod_ns != node_ns_inode  # really the pod's own network, not the node's
        r = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, str(tmp_path / "client.py"),
                            *(str(tmp_path / f) for f in ("token", "ca.crt", "env.json", "resolv.conf")), name],
                           capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr + "\n" + small_lab.logs()
        result = json.loads(r.stdout)
        assert result["host"] == "https://10.96.0.1:443"
        assert name in result["incluster_pods"]
        assert result["dns_ip"] == "10.96.0.1"
        assert result["status_line"] == "HTTP/1.1 200 OK" and result["raw_lists_pod"]
    finally:
        small_lab.kubectl("delete", "pod", name, "--wait=false", check=False)
