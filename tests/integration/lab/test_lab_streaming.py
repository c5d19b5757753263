"""Port-forward and attach on a one-node lab, through the API server, the agent and the engine's
CRI streaming server: kubectl 1.33 and 1.32 (SPDY/3.1 tunnelled over WebSocket) and 1.30 (a
plain SPDY upgrade, which the API server tunnels on to the agent), the kubernetes
Python client's ``portforward`` (v4.channel.k8s.io), and skiffctl; ``attach -i`` to a pod reading
stdin and ``attach -it`` to a shell on a real terminal (script(1)).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.integration.lab.test_lab import KUBECTL, Lab, running_lab, wait_for
from tests.support.server import free_port

pytestmark = pytest.mark.e2e

# 1.33 and 1.32 tunnel SPDY through a WebSocket; 1.30 upgrades the connection to SPDY itself
KUBECTLS = {"1.33": KUBECTL, "1.32": "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
            "1.30": "/usr/lib/google-cloud-sdk/bin/kubectl.1.30"}
SKIFFCTL = [sys.executable, "-m", "skiff.cli.main"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "s", "--nodes", "1") as cluster:
        yield cluster


def running_web_pods(lab: Lab) -> list[str]:
    def ready() -> list[str]:
        pods = lab.json("get", "pods", "-l", "app=web")["items"]
        names = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"
                 and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
        return names if len(names) == 3 else []
    return sorted(wait_for(ready, timeout=120, what="3 Ready web pods"))


def env_of(lab: Lab) -> dict[str, str]:
    return dict(os.environ, KUBECONFIG=str(lab.kubeconfig))


class Forwarder:
    """A port-forward process and the lines it printed (read by a thread, so it never blocks)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(line) for line in s], daemon=True).start()

    def forwarding(self, count: int) -> list[str]:
        def lines() -> list[str]:
            if self.proc.poll() is not None:
                raise AssertionError(f"port-forward ended: {self.out} {self.err}")
            found = [line.strip() for line in list(self.out) if line.startswith("Forwarding from 127.0.0.1:")]
            return found if len(found) >= count else []
        return wait_for(lines, timeout=60, what=f"{count} 'Forwarding from' lines")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def forwarding(argv: list[str], env: dict[str, str]) -> Iterator[Forwarder]:
    f = Forwarder(argv, env)
    try:
        yield f
    finally:
        f.stop()


def get(port: int, host: str = "127.0.0.1") -> str:
    url = f"http://{host}:{port}/" if ":" not in host else f"http://[{host}]:{port}/"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return str(resp.read().decode().strip())


def concurrently(port: int, count: int) -> list[str]:
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(get(port))) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


@pytest.mark.parametrize("version", sorted(KUBECTLS))
def test_kubectl_port_forward(lab: Lab, version: str) -> None:
    pod = running_web_pods(lab)[0]
    local, refused = free_port(), free_port()
    argv = [KUBECTLS[version], "port-forward", f"pod/{pod}", f"{local}:80", f"{refused}:81"]
    with forwarding(argv, env_of(lab)) as f:
        assert f.forwarding(2) == [f"Forwarding from 127.0.0.1:{local} -> 80",
                                   f"Forwarding from 127.0.0.1:{refused} -> 81"]
        answer = f"hello from {pod} on node1"
        assert get(local) == answer
        assert get(local, "::1") == answer
        assert concurrently(local, 4) == [answer] * 4  # streams of one SPDY session, side by side
        # nothing listens on 81 in the pod: the error stream says so, kubectl reports it
        with pytest.raises(OSError):
            get(refused)
        wait_for(lambda: any("error forwarding port 81 to pod" in line for line in f.err), timeout=30,
                 what=f"kubectl's error line (stderr: {f.err})")
        err = "".join(f.err)
        assert f"an error occurred forwarding {refused} -> 81" in err
        assert "IPv4: dial tcp4 127.0.0.1:81: connect: connection refused" in err


def http_get_over(sock: Any) -> bytes:
    """``GET /`` over a forwarded socket (the Python client's), read to its end."""
    sock.settimeout(30)
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_python_client_port_forward(lab: Lab) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward

    pod = running_web_pods(lab)[1]
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, pod, "default", ports="80,81")
    try:
        data = http_get_over(pf.socket(80))
        assert data.startswith(b"HTTP/1.") and data.decode().splitlines()[-1] == f"hello from {pod} on node1"
        assert pf.error(80) is None
        wait_for(lambda: pf.error(81), timeout=30, what="the error of port 81")
        assert "error forwarding port 81 to pod " in pf.error(81) and "connection refused" in pf.error(81)
    finally:
        pf.close()


def test_skiffctl_port_forward_to_a_service_and_a_pod(lab: Lab) -> None:
    web = running_web_pods(lab)
    local = free_port()
    env = env_of(lab)
    # svc/web resolves to a pod; 80 is the Service's port, whose targetPort is the pod's port named http
    with forwarding([*SKIFFCTL, "port-forward", "svc/web", f"{local}:80", ":http"], env) as f:
        first, second = f.forwarding(2)
        assert first == f"Forwarding from 127.0.0.1:{local} -> 80"
        picked = int(second.split(":")[1].split()[0])
        assert second == f"Forwarding from 127.0.0.1:{picked} -> 80" and picked != local
        assert f"Forwarding from [::1]:{local} -> 80\n" in f.out
        answers = {get(local), get(picked), get(local, "::1"), *concurrently(local, 3)}
        assert len(answers) == 1 and answers.pop() in {f"hello from {p} on node1" for p in web}
        assert f"Handling connection for {local}\n" in f.out
        assert f.stop() == 0  # SIGINT ends it as kubectl's ^C does
    with forwarding([*SKIFFCTL, "port-forward", web[2], f"{local}:81", "--address", "127.0.0.1"], env) as f:
        assert f.forwarding(1) == [f"Forwarding from 127.0.0.1:{local} -> 81"]
        assert not any("[::1]" in line for line in f.out)
        with pytest.raises(OSError):
            get(local)
        wait_for(lambda: any("error forwarding port 81" in line for line in f.err), timeout=30,
                 what=f"skiffctl's error line ({f.err})")
        # unlike kubectl (whose one SPDY session dies with the error), the listener stays
        with pytest.raises(OSError):
            get(local)
        assert f.proc.poll() is None
    bad = subprocess.run([*SKIFFCTL, "port-forward", "svc/web", "8080:81"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert (bad.returncode, bad.stderr) == (1, "error: Service web does not have a service port 81\n")


@pytest.fixture(scope="module")
def summer(lab: Lab) -> str:
    """A pod whose port 9000 answers each connection with the md5 of all it received (after the client's EOF)."""
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata: {name: summer}\nspec:\n  containers:\n  - name: main\n"
                "    image: busybox:1.36\n    command: [nc, -ll, -p, '9000', -e, md5sum]\n")
    subprocess.run([KUBECTL, "--kubeconfig", str(lab.kubeconfig), "apply", "-f", "-"], input=manifest, text=True,
                   check=True, capture_output=True)
    wait_for(lambda: lab.json("get", "pod", "summer")["status"].get("phase") == "Running", timeout=120,
             what="summer Running")
    return "summer"


@pytest.mark.parametrize("tool", ["kubectl-1.33", "kubectl-1.30", "skiffctl"])
def test_an_upload_half_closed_then_the_answer(lab: Lab, summer: str, tool: str) -> None:
    """The client's EOF reaches the pod (a FIN on the data stream) while the answer still comes back."""
    import hashlib
    import socket

    local = free_port()
    argv = ([KUBECTLS[tool.split("-")[1]]] if tool.startswith("kubectl") else SKIFFCTL) + \
        ["port-forward", f"pod/{summer}", f"{local}:9000"]
    blob = os.urandom(3 << 20)
    with forwarding(argv, env_of(lab)) as f:
        f.forwarding(1)
        for _ in range(2):  # twice: the session carries one connection after another
            with socket.create_connection(("127.0.0.1", local), timeout=60) as s:
                s.sendall(blob)
                s.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            assert answer.decode() == f"{hashlib.md5(blob).hexdigest()}  -\n"


def _reader_pod(lab: Lab, name: str, *, tty: bool = False) -> None:
    command = '["sh"]' if tty else '["sh", "-c", "tr a-z A-Z; echo stdin-closed >&2"]'
    manifest = (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n"
                f"  containers:\n  - name: main\n    image: busybox:1.36\n    stdin: true\n"
                f"    stdinOnce: {'false' if tty else 'true'}\n    tty: {'true' if tty else 'false'}\n"
                f"    command: {command}\n")
    subprocess.run([KUBECTL, "--kubeconfig", str(lab.kubeconfig), "apply", "-f", "-"], input=manifest, text=True,
                   check=True, capture_output=True)
    wait_for(lambda: lab.json("get", "pod", name)["status"].get("phase") == "Running", timeout=120,
             what=f"{name} Running")


@pytest.mark.parametrize("tool", ["kubectl", "skiffctl"])
def test_attach_to_a_pod_reading_stdin(lab: Lab, tool: str) -> None:
    name = f"reader-{tool}"
    _reader_pod(lab, name)
    argv = [KUBECTL, "attach", "-i", name] if tool == "kubectl" else [*SKIFFCTL, "attach", "-i", name]
    p = subprocess.run(argv, input="hello from stdin\n", capture_output=True, text=True, env=env_of(lab),
                       timeout=90)
    # the end of stdin closes the container's (stdinOnce): tr ends, the attach ends with it
    assert (p.returncode, p.stdout) == (0, "HELLO FROM STDIN\n"), p.stderr
    assert "stdin-closed" in p.stderr and "If you don't see a command prompt, try pressing enter." in p.stderr
    wait_for(lambda: lab.json("get", "pod", name)["status"].get("phase") == "Succeeded", timeout=60,
             what=f"{name} Succeeded")
    done = subprocess.run(argv, input="", capture_output=True, text=True, env=env_of(lab), timeout=60)
    assert (done.returncode, done.stderr.strip()) == (
        1, "error: cannot attach a container in a completed pod; current phase is Succeeded")


@pytest.mark.parametrize("tool", ["kubectl", "skiffctl"])
def test_attach_to_a_shell_on_a_terminal(lab: Lab, tool: str) -> None:
    name = f"shell-{tool}"
    _reader_pod(lab, name, tty=True)
    cmd = f"{KUBECTL} attach -it {name}" if tool == "kubectl" else f"{sys.executable} -m skiff.cli.main attach -it {name}"
    typed = "echo hi-$((6*7))\nstty size\nexit 5\n"
    p = subprocess.run(["script", "-qec", f"stty cols 91 rows 33; {cmd}", "/dev/null"], input=typed,
                       capture_output=True, text=True, env=env_of(lab), timeout=90)
    screen = p.stdout.replace("\r", "")
    assert "\nhi-42\n" in screen and "\n33 91\n" in screen, screen  # the pty got the terminal's size
    wait_for(lambda: lab.json("get", "pod", name)["status"].get("phase") == "Failed", timeout=60,
             what=f"{name} ended by the shell's exit")
    assert lab.json("get", "pod", name)["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 5


def test_a_container_not_started_yet_is_named_by_every_client(lab: Lab) -> None:
    """The agent's reason reaches kubectl even through its fallback from WebSocket to SPDY."""
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata: {name: nopull}\nspec:\n  containers:\n  - name: main\n"
                "    image: nosuch.invalid/nothing:1\n")
    subprocess.run([KUBECTL, "--kubeconfig", str(lab.kubeconfig), "apply", "-f", "-"], input=manifest, text=True,
                   check=True, capture_output=True)
    wait_for(lambda: lab.json("get", "pod", "nopull")["spec"].get("nodeName"), timeout=60, what="nopull bound")
    wanted = 'container "main" in pod "nopull" is waiting to start'
    for argv in ([KUBECTL, "attach", "nopull"], [*SKIFFCTL, "attach", "nopull"], [KUBECTL, "exec", "nopull", "--", "true"],
                 [KUBECTLS["1.30"], "exec", "nopull", "--", "true"]):
        def refused() -> str:
            p = subprocess.run(argv, capture_output=True, text=True, env=env_of(lab), timeout=60)
            return p.stderr if p.returncode == 1 and wanted in p.stderr else ""
        wait_for(refused, timeout=60, what=f"{argv[0]} {argv[-1]} refused with the agent's reason")
