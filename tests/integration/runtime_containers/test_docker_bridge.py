"""The default bridge (skiff0, 172.17.0.0/16) and -p publishing, inside the test's netns."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.integration.runtime_containers.conftest import unique, wait_for
from tests.support.engine import ContainerEngine, nsenter


def fetch(engine: ContainerEngine, url: str) -> str:
    """An HTTP GET from inside the engine's namespace (never from the host's)."""
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=2).read().decode(), end='')"
    r = subprocess.run([*nsenter(engine.netns), sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=20)
    return r.stdout if r.returncode == 0 else ""


def iptables_nat(engine: ContainerEngine) -> str:
    return subprocess.run([*nsenter(engine.netns), "iptables-save", "-t", "nat"], capture_output=True, text=True,
                          check=True).stdout


def test_container_gets_an_address_on_skiff0(engine: ContainerEngine) -> None:
    out = engine.docker("run", "--rm", "busybox", "sh", "-c",
                        "ip -o -4 addr show eth0; ip route; cat /sys/class/net/eth0/address; tail -1 /etc/hosts"
                        ).stdout.splitlines()
    assert "inet 172.17.0." in out[0] and "/16" in out[0]
    ip = out[0].split("inet ")[1].split("/")[0]
    assert out[1].startswith("default via 172.17.0.1 dev eth0")
    mac = out[-2]
    assert mac == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert out[-1].startswith(ip + "\t")
    bridge = subprocess.run([*nsenter(engine.netns), "ip", "-o", "-4", "addr", "show", "skiff0"],
                            capture_output=True, text=True, check=True).stdout
    assert "172.17.0.1/16" in bridge


def test_published_port_reaches_the_container(engine: ContainerEngine) -> None:
    name = unique("web")
    engine.docker("run", "-d", "--name", name, "-p", "8080:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    try:
        info = json.loads(engine.docker("inspect", name).stdout)[0]
        ns = info["NetworkSettings"]
        assert ns["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
        ip = ns["IPAddress"]
        assert ns["Networks"]["bridge"]["IPAddress"] == ip and ns["Gateway"] == "172.17.0.1"
        assert "0.0.0.0:8080->80/tcp" in engine.docker("ps", "--filter", f"name={name}").stdout
        hostname = info["Config"]["Hostname"]
        # through the bridge's address, loopback, and from another container (hairpin through the gateway)
        assert wait_for(lambda: fetch(engine, "http://172.17.0.1:8080/hostname") == hostname + "\n")
        assert fetch(engine, "http://127.0.0.1:8080/hostname") == hostname + "\n"
        assert fetch(engine, f"http://{ip}:80/hostname") == hostname + "\n"
        out = engine.docker("run", "--rm", "busybox", "wget", "-qO-", "http://172.17.0.1:8080/hostname").stdout
        assert out == hostname + "\n"
        # the same host port again: Docker's error, and nothing half-made
        res = engine.docker("run", "--rm", "-p", "8080:80", "busybox", "true", check=False)
        assert res.returncode != 0 and "Bind for 0.0.0.0:8080 failed: port is already allocated" in res.stderr
        assert iptables_nat(engine).count("--dport 8080") == 1
    finally:
        engine.docker("rm", "-f", name)
    nat = iptables_nat(engine)
    assert "--dport 8080" not in nat and "-A SKIFF-DNAT" not in nat
    links = subprocess.run([*nsenter(engine.netns), "ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "veth" not in links


def test_network_none_and_unknown_network(engine: ContainerEngine) -> None:
    out = engine.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert [ln.split(":")[1].strip() for ln in out.splitlines()] == ["lo"]
    res = engine.docker("run", "--rm", "--network", "no-such-net", "busybox", "true", check=False)
    assert res.returncode == 125 and "network no-such-net not found" in res.stderr
