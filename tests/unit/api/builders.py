"""Small builders of valid objects for the api unit tests."""
from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def container(name: str = "web", image: str = "nginx:1.25", **extra: Any) -> Obj:
    return {"name": name, "image": image, **extra}


def pod_spec(*containers: Obj, **extra: Any) -> Obj:
    return {"containers": list(containers) or [container()], **extra}


def new_pod(name: str = "p1", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": pod_spec(**spec)}


def template(labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"metadata": {"labels": labels or {"app": "web"}}, "spec": pod_spec(**spec)}


def new_deployment(name: str = "web", **spec: Any) -> Obj:
    base = {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template()}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": base}


def new_service(name: str = "web", **spec: Any) -> Obj:
    base = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": base}


def new_job(name: str = "j", **spec: Any) -> Obj:
    base = {"template": {"spec": pod_spec(restartPolicy="Never")}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": "0b1c2d3e-0000-4000-8000-000000000001"},
            "spec": base}


def new_cronjob(name: str = "cj", schedule: str = "*/5 * * * *", **spec: Any) -> Obj:
    base = {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": pod_spec(restartPolicy="OnFailure")}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": base}


def with_(obj: Obj, path: str, value: Any) -> Obj:
    """A copy of ``obj`` with the dotted ``path`` set (``[n]`` indexes lists)."""
    out = copy.deepcopy(obj)
    cur: Any = out
    steps = path.replace("[", ".[").split(".")
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        key: Any = int(step[1:-1]) if step.startswith("[") else step
        if last:
            if value is DELETE:
                del cur[key]
            else:
                cur[key] = value
        else:
            if isinstance(key, str) and key not in cur:
                cur[key] = {}
            cur = cur[key]
    return out


DELETE = object()
