"""Pod volumes: paths, mounts and the files of configMap/secret volumes (pure parts)."""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from skiff.nodeagent.kubelet.projections import ProjectionError, object_data
from skiff.nodeagent.kubelet.projections import key_files as projected_files
from skiff.nodeagent.kubelet.volumes import VolumeError, container_mounts, volume_paths, write_files

POD: dict[str, Any] = {"metadata": {"uid": "u1"}, "spec": {"volumes": [
    {"name": "e", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/srv/data"}},
    {"name": "c", "configMap": {"name": "cm"}}, {"name": "s", "secret": {"secretName": "sec"}}]}}


def test_volume_paths() -> None:
    assert volume_paths(POD, "/var/lib/skiff/volumes") == {
        "e": "/var/lib/skiff/volumes/u1/emptyDir/e", "h": "/srv/data",
        "c": "/var/lib/skiff/volumes/u1/configMap/c", "s": "/var/lib/skiff/volumes/u1/secret/s"}


def test_unsupported_volume_type_is_named() -> None:
    pod = {"metadata": {"uid": "u"}, "spec": {"volumes": [{"name": "x", "nfs": {"server": "s"}}]}}
    with pytest.raises(VolumeError, match="volume 'x': type nfs is not supported yet"):
        volume_paths(pod, "/r")


def test_container_mounts() -> None:
    c = {"name": "app", "volumeMounts": [{"name": "e", "mountPath": "/data", "readOnly": True},
                                         {"name": "h", "mountPath": "/cfg", "subPath": "conf/app"}]}
    mounts = container_mounts(c, {"e": "/v/e", "h": "/srv"})
    assert [(m.container_path, m.host_path, m.readonly) for m in mounts] == [
        ("/data", "/v/e", True), ("/cfg", "/srv/conf/app", False)]


@pytest.mark.parametrize("mount,message", [
    ({"name": "nosuch", "mountPath": "/x"}, "no volume named 'nosuch'"),
    ({"name": "e", "mountPath": "/x", "subPath": "../etc"}, "subPath"),
    ({"name": "e", "mountPath": "/x", "subPath": "/abs"}, "subPath"),
], ids=["unknown-volume", "dotdot", "absolute"])
def test_bad_mounts(mount: dict[str, Any], message: str) -> None:
    with pytest.raises(VolumeError, match=message):
        container_mounts({"name": "app", "volumeMounts": [mount]}, {"e": "/v/e"})


DATA = {"a": b"1", "b": b"2"}


@pytest.mark.parametrize("source,files", [
    ({}, {"a": (b"1", 0o644), "b": (b"2", 0o644)}),
    ({"defaultMode": 0o400}, {"a": (b"1", 0o400), "b": (b"2", 0o400)}),
    ({"items": [{"key": "a", "path": "x/y"}]}, {"x/y": (b"1", 0o644)}),
    ({"items": [{"key": "b", "mode": 0o600}]}, {"b": (b"2", 0o600)}),
    ({"items": [{"key": "zz"}], "optional": True}, {}),
], ids=["all-keys", "default-mode", "item-path", "item-mode", "optional-missing-key"])
def test_projected_files(source: dict[str, Any], files: dict[str, tuple[bytes, int]]) -> None:
    assert projected_files(source, DATA, what="v") == files


@pytest.mark.parametrize("source,message", [
    ({"items": [{"key": "zz"}]}, "key 'zz' not found"),
    ({"items": [{"key": "a", "path": "../x"}]}, "relative"),
], ids=["missing-key", "escaping-path"])
def test_projected_files_errors(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ProjectionError, match=message):
        projected_files(source, DATA, what="v")


def test_object_data() -> None:
    assert object_data({"data": {"k": base64.b64encode(b"\x00s").decode()}}, "secret") == {"k": b"\x00s"}
    assert object_data({"data": {"k": "v"}, "binaryData": {"b": base64.b64encode(b"\x01").decode()}},
                       "configmap") == {"k": b"v", "b": b"\x01"}


def test_write_files_replaces_content_in_the_data_layout(tmp_path: Path) -> None:
    d = str(tmp_path / "vol")
    assert write_files(d, {"a": (b"1", 0o600), "sub/b": (b"2", 0o644)})
    first = os.readlink(os.path.join(d, "..data"))
    assert first.startswith("..") and os.readlink(os.path.join(d, "a")) == "..data/a"
    assert os.readlink(os.path.join(d, "sub")) == "..data/sub"
    assert open(os.path.join(d, "sub", "b")).read() == "2" and os.stat(os.path.join(d, "a")).st_mode & 0o777 == 0o600
    assert not write_files(d, {"a": (b"1", 0o600), "sub/b": (b"2", 0o644)})  # the same payload writes nothing
    assert os.readlink(os.path.join(d, "..data")) == first
    assert write_files(d, {"c": (b"3", 0o644)})
    assert sorted(n for n in os.listdir(d) if not n.startswith("..")) == ["c"]
    assert sorted(n for n in os.listdir(d) if n.startswith("..")) == sorted(
        ["..data", os.readlink(os.path.join(d, "..data"))])
    assert sorted(os.listdir(tmp_path)) == ["vol"]
    write_files(d, {})
    assert [n for n in os.listdir(d) if not n.startswith("..")] == []


def test_write_files_takes_over_a_plain_directory(tmp_path: Path) -> None:
    d = tmp_path / "vol"
    (d / "a").mkdir(parents=True)
    (d / "old").write_text("x")
    write_files(str(d), {"a/x": (b"1", 0o644)})
    assert sorted(n for n in os.listdir(d) if not n.startswith("..")) == ["a"]
    assert (d / "a").is_symlink() and (d / "a" / "x").read_text() == "1"


@pytest.mark.parametrize("path", ["../x", "/abs", "..data/x", "a/../../b"])
def test_write_files_refuses_escaping_paths(tmp_path: Path, path: str) -> None:
    from skiff.nodeagent.kubelet.atomic import PayloadError

    with pytest.raises(PayloadError):
        write_files(str(tmp_path / "v"), {path: (b"", 0o644)})
    assert not (tmp_path / "v").exists() or os.listdir(tmp_path / "v") == []
