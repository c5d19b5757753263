"""Pure parts of the CRI server: CNI plumbing, the CRI log format, request translation."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skiff.nodeagent.runtime.cri import api_pb2 as pb
from skiff.nodeagent.runtime.cri import cni
from skiff.nodeagent.runtime.cri.logs import LogCopier, cri_line, translate
from skiff.nodeagent.runtime.cri.runtime import (
    L_LOG,
    L_NAME,
    L_SANDBOX,
    container_body,
    container_state,
    container_status,
    docker_name,
    rfc3339_to_ns,
)
from skiff.nodeagent.runtime.cri.sandbox import Sandbox, resolv_conf


def sandbox(**kw: Any) -> Sandbox:
    base: dict[str, Any] = dict(id="s" * 64, name="web", uid="u1", namespace="default", attempt=0, created_at=1,
                                hostname="web", log_directory="/var/log/pods/x")
    base.update(kw)
    return Sandbox(**base)


# -- CNI ----------------------------------------------------------------------
def test_default_conflist_is_bridge_host_local_without_nat() -> None:
    conf = cni.default_conflist("10.244.3.0/24", data_dir="/d")
    assert [p["type"] for p in conf["plugins"]] == ["bridge"]  # lo: the sandbox brings it up itself
    bridge = conf["plugins"][0]
    assert bridge["ipMasq"] is False and bridge["isGateway"] is True
    assert bridge["ipam"] == {"type": "host-local", "dataDir": "/d", "ranges": [[{"subnet": "10.244.3.0/24"}]],
                              "routes": [{"dst": "0.0.0.0/0"}]}


def test_plugin_config_carries_name_version_and_prev_result() -> None:
    conflist = {"cniVersion": "0.4.0", "name": "net", "plugins": [{"type": "bridge"}]}
    doc = json.loads(cni.plugin_config(conflist, {"type": "bridge"}, {"ips": []}))
    assert doc == {"type": "bridge", "cniVersion": "0.4.0", "name": "net", "prevResult": {"ips": []}}
    assert "prevResult" not in json.loads(cni.plugin_config(conflist, {"type": "bridge"}, None))


def test_plugin_env() -> None:
    env = cni.plugin_env("ADD", cni.Attachment("cid", "/ns/net", args="A=1"), ["/a", "/b"])
    assert {k: env[k] for k in ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH",
                                "CNI_ARGS")} == {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cid",
                                                 "CNI_NETNS": "/ns/net", "CNI_IFNAME": "eth0", "CNI_PATH": "/a:/b",
                                                 "CNI_ARGS": "A=1"}


@pytest.mark.parametrize("result,ip", [
    ({"interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/ns"}],
      "ips": [{"address": "10.1.0.5/24", "interface": 2}]}, "10.1.0.5"),
    ({"ips": [{"address": "fd00::5/64"}, {"address": "10.1.0.6/24"}]}, "10.1.0.6"),
    ({"interfaces": [{"name": "cni0"}], "ips": [{"address": "10.1.0.1/24", "interface": 0}]}, ""),
    ({}, ""),
], ids=["eth0-by-index", "skip-ipv6", "other-interface", "empty"])
def test_pod_ip(result: dict[str, Any], ip: str) -> None:
    assert cni.pod_ip(result) == ip


def test_load_conflist_picks_first_and_wraps_single_plugin(tmp_path: Path) -> None:
    assert cni.load_conflist(tmp_path / "missing") is None
    (tmp_path / "20-b.conflist").write_text(json.dumps({"name": "b", "plugins": [{"type": "bridge"}]}))
    (tmp_path / "10-a.conf").write_text(json.dumps({"cniVersion": "0.3.1", "name": "a", "type": "ptp"}))
    (tmp_path / "00-readme.txt").write_text("ignored")
    assert cni.load_conflist(tmp_path) == {"cniVersion": "0.3.1", "name": "a",
                                           "plugins": [{"cniVersion": "0.3.1", "name": "a", "type": "ptp"}]}


# -- CRI log format -----------------------------------------------------------
@pytest.mark.parametrize("record,line", [
    (b'{"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}',
     b"2024-01-02T03:04:05.123456789Z stdout F hello\n"),
    (b'{"log":"part","stream":"stderr","time":"2024-01-02T03:04:05Z"}', b"2024-01-02T03:04:05Z stderr P part\n"),
    (b'{"log":"\\n","stream":"stdout","time":"T"}', b"T stdout F \n"),
    (b'{"log":"tab\\there\\n","stream":"weird","time":"T"}', b"T stdout F tab\there\n"),
    (b'{"log":"cut', None),
], ids=["full", "partial", "empty-line", "unknown-stream", "torn-record"])
def test_cri_line(record: bytes, line: bytes | None) -> None:
    assert cri_line(record) == line


def test_translate_keeps_an_incomplete_record_for_later() -> None:
    chunk = b'{"log":"a\\n","stream":"stdout","time":"T"}\n{"log":"b'
    out, used = translate(chunk)
    assert out == b"T stdout F a\n" and used == chunk.index(b"\n") + 1


def test_log_copier_resumes_from_its_offset(tmp_path: Path) -> None:
    src, dst = tmp_path / "c-json.log", tmp_path / "pods" / "0.log"
    src.write_bytes(b'{"log":"one\\n","stream":"stdout","time":"T1"}\n')
    assert LogCopier(str(src), str(dst), lambda: True).copy_once()
    with open(src, "ab") as f:
        f.write(b'{"log":"two\\n","stream":"stderr","time":"T2"}\n{"log":"thr')
    copier = LogCopier(str(src), str(dst), lambda: True)  # a restarted engine
    assert copier.copy_once() and not copier.copy_once()
    assert dst.read_bytes() == b"T1 stdout F one\nT2 stderr F two\n"


# -- translation of requests and records --------------------------------------
def test_container_body_joins_the_sandbox_namespaces() -> None:
    sb = sandbox()
    req = pb.CreateContainerRequest(pod_sandbox_id=sb.id, config=pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app", attempt=2), image=pb.ImageSpec(image="sha256:abc"),
        command=["sh"], args=["-c", "true"], working_dir="/w", envs=[pb.KeyValue(key="A", value="1")],
        log_path="app/2.log",
        linux=pb.LinuxContainerConfig(
            resources=pb.LinuxContainerResources(memory_limit_in_bytes=1 << 26, cpu_quota=50000, cpu_period=100000),
            security_context=pb.LinuxContainerSecurityContext(run_as_user=pb.Int64Value(value=1000)))))
    body = container_body(req, sb, Path("/state"))
    host = body["HostConfig"]
    assert host["NetworkMode"] == f"ns:/state/{sb.id}/ns/net"
    assert host["IpcMode"] == f"ns:/state/{sb.id}/ns/ipc" and host["UTSMode"] == f"ns:/state/{sb.id}/ns/uts"
    assert host["RestartPolicy"] == {"Name": "no"}
    assert (host["Memory"], host["CpuQuota"], host["CpuPeriod"]) == (1 << 26, 50000, 100000)
    assert (body["Entrypoint"], body["Cmd"], body["WorkingDir"], body["Env"], body["User"]) == (
        ["sh"], ["-c", "true"], "/w", ["A=1"], "1000")
    assert body["Labels"][L_SANDBOX] == sb.id and body["Labels"][L_NAME] == "app"
    assert body["Labels"][L_LOG] == "/var/log/pods/x/app/2.log"


def test_host_network_sandbox() -> None:
    req = pb.CreateContainerRequest(config=pb.ContainerConfig(metadata=pb.ContainerMetadata(name="a")))
    assert container_body(req, sandbox(host_network=True), Path("/s"))["HostConfig"]["NetworkMode"] == "host"


def test_docker_name_is_safe() -> None:
    assert docker_name(pb.ContainerMetadata(name="app", attempt=1), sandbox(name="w/b")) == \
        "k8s_app_w-b_default_u1_1"


def record(status: str, *, running: bool = False, code: int = 0, oom: bool = False) -> dict[str, Any]:
    return {"Id": "c1", "Image": "sha256:i", "Created": "2024-01-02T03:04:05.5Z", "LogPath": "/engine/log",
            "Config": {"Labels": {L_SANDBOX: "s", L_NAME: "app", L_LOG: "/pods/app/0.log"}},
            "State": {"Status": status, "Running": running, "ExitCode": code, "OOMKilled": oom,
                      "StartedAt": "2024-01-02T03:04:06Z", "FinishedAt": "0001-01-01T00:00:00Z"}}


@pytest.mark.parametrize("rec,state,reason,code", [
    (record("created"), pb.CONTAINER_CREATED, "", 0),
    (record("running", running=True), pb.CONTAINER_RUNNING, "", 0),
    (record("exited", code=0), pb.CONTAINER_EXITED, "Completed", 0),
    (record("exited", code=2), pb.CONTAINER_EXITED, "Error", 2),
    (record("exited", code=137, oom=True), pb.CONTAINER_EXITED, "OOMKilled", 137),
], ids=["created", "running", "completed", "error", "oom"])
def test_container_status(rec: dict[str, Any], state: int, reason: str, code: int) -> None:
    assert container_state(rec) == state
    st = container_status(rec)
    assert (st.state, st.reason, st.exit_code, st.log_path) == (state, reason, code, "/pods/app/0.log")
    assert st.created_at == rfc3339_to_ns("2024-01-02T03:04:05.5Z") and st.finished_at == 0


@pytest.mark.parametrize("text,ns", [
    ("0001-01-01T00:00:00Z", 0), ("", 0), ("1970-01-01T00:00:01Z", 1_000_000_000),
    ("1970-01-01T00:00:01.000000002Z", 1_000_000_002),
], ids=["zero", "empty", "seconds", "nanos"])
def test_rfc3339_to_ns(text: str, ns: int) -> None:
    assert rfc3339_to_ns(text) == ns


def test_resolv_conf() -> None:
    assert resolv_conf(sandbox(), "node\n") == "node\n"
    sb = sandbox(dns_servers=["10.96.0.10"], dns_searches=["default.svc.cluster.local"], dns_options=["ndots:5"])
    assert resolv_conf(sb, "node\n") == ("nameserver 10.96.0.10\nsearch default.svc.cluster.local\n"
                                         "options ndots:5\n")
