"""The controller manager: elect a leader, then run every controller on shared informers.

``run_controllers`` is what ``skiff server`` calls in-process. All controllers share one
``InformerFactory`` (one list+watch per kind) and one event recorder; each has its own
work queue and workers. Timings are ``ControllerOptions`` with Kubernetes' defaults.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from skiff.machinery.events import EventRecorder
from skiff.machinery.informer import InformerFactory
from skiff.machinery.leader import LeaderElector

log = logging.getLogger(__name__)


@dataclass
class ControllerOptions:
    node_monitor_grace_period: float = 40.0
    node_monitor_period: float = 5.0
    pod_eviction_timeout: int = 300  # default tolerationSeconds for not-ready/unreachable
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    job_backoff_seconds: float = 10.0
    job_max_backoff_seconds: float = 360.0
    cronjob_resync: float = 10.0
    terminated_pod_gc_threshold: int = 12500
    enabled: tuple[str, ...] = ()  # empty: all
    root_ca: str = ""  # PEM of the cluster CA, published as every namespace's kube-root-ca.crt


# (name, module, class, takes options); the module is imported only when the controller runs
CONTROLLERS: tuple[tuple[str, str, str, bool], ...] = (
    ("replicaset", "replicaset", "ReplicaSetController", False),
    ("deployment", "deployment", "DeploymentController", False),
    ("statefulset", "statefulset", "StatefulSetController", False),
    ("daemonset", "daemonset", "DaemonSetController", False),
    ("job", "job", "JobController", True),
    ("cronjob", "cronjob", "CronJobController", True),
    ("endpoints", "endpoints", "EndpointsController", False),
    ("endpointslice", "endpoints", "EndpointSliceController", False),
    ("garbagecollector", "gc", "GarbageCollector", False),
    ("namespace", "namespace", "NamespaceController", False),
    ("serviceaccount", "namespace", "ServiceAccountController", False),
    ("root-ca-cert-publisher", "rootcacert", "RootCACertPublisher", True),
    ("disruption", "disruption", "DisruptionController", False),
    ("nodeipam", "nodelifecycle", "NodeIpamController", True),
    ("nodelifecycle", "nodelifecycle", "NodeLifecycleController", True),
)


def build_controllers(client: Any, factory: InformerFactory, *, recorder: Any,
                      options: ControllerOptions) -> list[Any]:
    out = []
    for name, module, cls, takes_options in CONTROLLERS:
        if options.enabled and name not in options.enabled:
            continue
        mod = importlib.import_module(f"{__package__}.{module}")
        kwargs: dict[str, Any] = {"recorder": recorder}
        if takes_options:
            kwargs["options"] = options
        out.append(getattr(mod, cls)(client, factory, **kwargs))
    return out


async def run_manager(client: Any, stop: asyncio.Event, *, options: ControllerOptions, identity: str) -> None:
    factory = InformerFactory(client)
    recorder = EventRecorder(client, "skiff-controller-manager", host=identity)
    controllers = build_controllers(client, factory, recorder=recorder, options=options)
    factory.start(stop)
    tasks = [asyncio.create_task(c.run(stop), name=c.name) for c in controllers]
    try:
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.close()
        await factory.join()


async def run_controllers(client: Any, *, stop: asyncio.Event, identity: str,
                          options: ControllerOptions | None = None, lease_duration: int = 15,
                          renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
    """Elect a leader on ``kube-system/kube-controller-manager``, then run all controllers until ``stop``."""
    opts = options or ControllerOptions()
    elector = LeaderElector(client, "kube-controller-manager", identity, lease_duration=lease_duration,
                            renew_deadline=renew_deadline, retry_period=retry_period)

    async def lead(lead_stop: asyncio.Event) -> None:
        await run_manager(client, lead_stop, options=opts, identity=identity)

    await elector.run(stop, lead)
