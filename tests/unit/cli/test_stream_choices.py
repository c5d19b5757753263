"""skiffctl port-forward's pure choices: port specs, listen addresses, Service and named ports."""
from __future__ import annotations

import pytest

from skiff.cli.cmd_stream import (
    PortSpec,
    container_port,
    listen_addresses,
    parse_port_specs,
    remote_port,
    service_target,
)
from skiff.cli.common import CommandError


@pytest.mark.parametrize("specs,parsed", [
    (["8080:80"], [PortSpec(8080, "80")]),
    ([":80"], [PortSpec(0, "80")]),
    (["5000"], [PortSpec(5000, "5000")]),
    (["8080:http", "0:443"], [PortSpec(8080, "http"), PortSpec(0, "443")]),
], ids=["local:remote", ":remote", "same", "named"])
def test_port_specs(specs: list[str], parsed: list[PortSpec]) -> None:
    assert parse_port_specs(specs) == parsed


@pytest.mark.parametrize("specs,message", [
    ([], "at least 1 PORT is required for port-forward"),
    (["8080:"], "error parsing remote port '' of port specification '8080:'"),
    (["x:80"], "Error parsing local port 'x'"),
    (["70000:80"], "Error parsing local port '70000'"),
    (["8080:0"], "Error parsing remote port '0': port must be between 1 and 65535"),
], ids=["none", "no-remote", "bad-local", "big-local", "zero-remote"])
def test_bad_port_specs(specs: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_port_specs(specs)


@pytest.mark.parametrize("values,addresses", [
    (None, ["127.0.0.1", "::1"]),
    (["localhost,10.0.0.1"], ["127.0.0.1", "::1", "10.0.0.1"]),
    (["0.0.0.0", "127.0.0.1"], ["0.0.0.0", "127.0.0.1"]),
])
def test_listen_addresses(values: list[str] | None, addresses: list[str]) -> None:
    assert listen_addresses(values) == addresses


def test_bad_listen_address() -> None:
    with pytest.raises(CommandError, match="nowhere is not a valid IP"):
        listen_addresses(["nowhere"])


POD = {"metadata": {"name": "web-1"},
       "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]}}
SVC = {"metadata": {"name": "web"},
       "spec": {"ports": [{"name": "web", "port": 80, "targetPort": "http"}, {"port": 90, "targetPort": 9090},
                          {"port": 100}]}}


@pytest.mark.parametrize("port,target", [("80", 8080), ("web", 8080), ("90", 9090), ("100", 100)])
def test_service_ports_translate_to_the_pod(port: str, target: int) -> None:
    assert service_target(SVC, POD, port) == target
    assert remote_port(PortSpec(0, port), POD, SVC) == target


def test_service_and_pod_port_errors() -> None:
    with pytest.raises(CommandError, match="^Service web does not have a service port 81$"):
        service_target(SVC, POD, "81")
    with pytest.raises(CommandError, match="^Service 'web' does not have a named port 'grpc'$"):
        service_target(SVC, POD, "grpc")
    with pytest.raises(CommandError, match="^Pod 'web-1' does not have a named port 'grpc'$"):
        container_port(POD, "grpc")
    assert remote_port(PortSpec(0, "http"), POD, None) == 8080 and remote_port(PortSpec(0, "81"), POD, None) == 81
