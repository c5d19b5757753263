"""Small builders for Services and EndpointSlices as the Kubernetes API returns them."""
from __future__ import annotations

from typing import Any


def service(name: str, *, ns: str = "default", cluster_ip: str | None = "10.96.0.20", ports: list[dict] | None = None,
            type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP",
                                                                  "targetPort": 8080}]}
    if cluster_ip is not None:
        body["clusterIP"] = cluster_ip
        body["clusterIPs"] = [cluster_ip]
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": body}


def endpoint(ip: str, *, node: str | None = "node-a", ready: bool | None = True, serving: bool | None = None,
             terminating: bool | None = None, hostname: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {}
    if ready is not None:
        cond["ready"] = ready
    if serving is not None:
        cond["serving"] = serving
    if terminating is not None:
        cond["terminating"] = terminating
    ep: dict[str, Any] = {"addresses": [ip], "conditions": cond}
    if node:
        ep["nodeName"] = node
    if hostname:
        ep["hostname"] = hostname
    return ep


def endpoint_slice(service_name: str, endpoints: list[dict], *, ns: str = "default", name: str | None = None,
                   ports: list[dict] | None = None, address_type: str = "IPv4") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
            "metadata": {"name": name or f"{service_name}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints}
