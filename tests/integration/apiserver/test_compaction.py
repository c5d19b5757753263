"""Periodic etcd compaction: continue tokens and watches older than it get 410, new ones work."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.support.server import skiff_server

pytestmark = pytest.mark.integration


def test_compaction_expires_old_continue_tokens(tmp_path: Path) -> None:
    with skiff_server(tmp_path / "srv", args=("--disable", "scheduler,controllers", "--compaction-interval", "1",
                                              "--watch-cache-size", "20")) as server:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
        core = client.CoreV1Api(client.ApiClient(cfg))
        for i in range(3):
            core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}")))
        page = core.list_namespaced_config_map("default", limit=1)
        token, old_rv = page.metadata._continue, page.metadata.resource_version
        deadline = time.monotonic() + 60
        expired = None
        i = 0
        while expired is None and time.monotonic() < deadline:
            # keep the revision moving so that compaction passes the token's revision
            core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"x{i}")))
            i += 1
            try:
                core.list_namespaced_config_map("default", limit=1, _continue=token)
                time.sleep(0.2)
            except ApiException as exc:
                expired = exc
        assert expired is not None, "compaction never expired the continue token"
        assert expired.status == 410 and json.loads(expired.body)["reason"] == "Expired"
        # a fresh list and a watch from the current revision still work
        fresh = core.list_namespaced_config_map("default")
        assert {"c0", "c1", "c2"} <= {c.metadata.name for c in fresh.items}
        # once more changes than the watch cache keeps (20 here) have happened, a watch from the old
        # revision is refused too: an ERROR event carrying 410, as Kubernetes sends it
        for j in range(25):
            core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"y{j}")))
        raw = core.list_namespaced_config_map("default", watch=True, resource_version=old_rv, timeout_seconds=2,
                                              _preload_content=False).read()
        events = [json.loads(line) for line in raw.splitlines() if line.strip()]
        assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
