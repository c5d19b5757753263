"""logs/exec decisions: the pod kubectl picks, the defaulted container, the log query, exit codes."""
from __future__ import annotations

import argparse
import datetime as dt

import pytest

from skiff.cli.cmd_pods import by_logging, choose_container, exit_status, log_query, selector_of, split_exec_args
from skiff.cli.common import CommandError


def pod(name: str, *, node: str = "", phase: str = "Pending", ready: str | None = None, restarts: int = 0,
        created: str = "2026-01-01T00:00:00Z", containers: tuple[str, ...] = ("c",),
        inits: tuple[str, ...] = (), default: str | None = None) -> dict:
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": ready}] if ready else []
    meta: dict = {"name": name, "creationTimestamp": created}
    if default:
        meta["annotations"] = {"kubectl.kubernetes.io/default-container": default}
    return {"metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": c} for c in containers],
                     "initContainers": [{"name": c} for c in inits]},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"restartCount": restarts}, {"restartCount": 0}]}}


@pytest.mark.parametrize(("pods", "first"), [
    ([pod("unassigned"), pod("assigned", node="n")], "assigned"),
    ([pod("pending", node="n"), pod("running", node="n", phase="Running")], "running"),
    ([pod("notready", node="n", phase="Running"), pod("ready", node="n", phase="Running", ready="2026-01-01T00:00:09Z")],
     "ready"),
    ([pod("newer-ready", node="n", phase="Running", ready="2026-01-01T00:00:09Z"),
      pod("older-ready", node="n", phase="Running", ready="2026-01-01T00:00:01Z")], "older-ready"),
    ([pod("calm", node="n"), pod("crashy", node="n", restarts=3)], "crashy"),
    ([pod("young", created="2026-01-02T00:00:00Z"), pod("old")], "old"),
    ([pod("b"), pod("a")], "b"),
], ids=["assigned-first", "running-first", "ready-first", "ready-longer-first", "restarts-first", "older-first",
        "ties-keep-order"])
def test_by_logging(pods: list[dict], first: str) -> None:
    assert sorted(pods, key=by_logging)[0]["metadata"]["name"] == first


@pytest.mark.parametrize(("p", "wanted", "name", "notice"), [
    (pod("p"), "", "c", ""),
    (pod("p", containers=("a", "b"), inits=("i",)), "", "a", 'Defaulted container "a" out of: a, b, i (init)'),
    (pod("p", containers=("a", "b"), default="b"), "", "b", ""),
    (pod("p", containers=("a", "b"), default="zz"), "", "a", 'Defaulted container "a" out of: a, b'),
    (pod("p", containers=("a", "b"), inits=("i",)), "i", "i", ""),
], ids=["single", "first-of-many", "annotated", "bad-annotation", "init-by-name"])
def test_choose_container(p: dict, wanted: str, name: str, notice: str) -> None:
    choice = choose_container(p, wanted)
    assert (choice.name, choice.notice) == (name, notice)


def test_choose_container_refuses_unknown_only_when_checking() -> None:
    with pytest.raises(CommandError, match="container zz is not valid for pod p"):
        choose_container(pod("p"), "zz")
    assert choose_container(pod("p"), "zz", check=False).name == "zz"


def flags(**kw: object) -> argparse.Namespace:
    base = dict(follow=False, previous=False, timestamps=False, tail=None, limit_bytes=0, since="", since_time="")
    base.update(kw)
    return argparse.Namespace(**base)


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("kw", "default_tail", "want"), [
    ({}, None, {"container": "c"}),
    ({}, 10, {"container": "c", "tailLines": "10"}),
    ({"tail": "-1"}, 10, {"container": "c"}),
    ({"follow": True, "previous": True, "timestamps": True, "tail": "3", "limit_bytes": 100}, None,
     {"container": "c", "follow": "true", "previous": "true", "timestamps": "true", "tailLines": "3",
      "limitBytes": "100"}),
    ({"since": "1h"}, None, {"container": "c", "sinceSeconds": "3600"}),
    ({"since": "1500ms"}, None, {"container": "c", "sinceSeconds": "2"}),
    ({"since_time": "2025-12-31T00:00:00Z"}, None, {"container": "c", "sinceTime": "2025-12-31T00:00:00Z"}),
], ids=["plain", "selector-default-tail", "tail-all", "every-flag", "since", "since-rounds-up", "since-time"])
def test_log_query(kw: dict, default_tail: int | None, want: dict) -> None:
    assert log_query(flags(**kw), "c", now=NOW, default_tail=default_tail) == want


@pytest.mark.parametrize(("kw", "message"), [
    ({"since": "abc"}, 'invalid argument "abc" for "--since" flag'),
    ({"since": "1h", "since_time": "2025-12-31T00:00:00Z"}, "at most one of `sinceTime` or `sinceSeconds`"),
    ({"limit_bytes": -1}, "--limit-bytes must be greater than 0"),
    ({"tail": "x"}, 'invalid argument "x" for "--tail" flag'),
    ({"since_time": "yesterday"}, "--since-time only accepts RFC3339 timestamps"),
], ids=["bad-since", "both-since", "negative-limit", "bad-tail", "bad-since-time"])
def test_log_query_errors(kw: dict, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        log_query(flags(**kw), "c", now=NOW, default_tail=None)


@pytest.mark.parametrize(("status", "want"), [
    ({"status": "Success"}, (0, "")),
    ({"status": "Failure", "reason": "NonZeroExitCode",
      "details": {"causes": [{"reason": "ExitCode", "message": "42"}]}}, (42, "command terminated with exit code 42")),
    ({"status": "Failure", "message": "container not found"}, (1, "error: container not found")),
], ids=["success", "exit-code", "failure"])
def test_exit_status(status: dict, want: tuple[int, str]) -> None:
    assert exit_status(status) == want


@pytest.mark.parametrize(("obj", "want"), [
    ({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "d"},
      "spec": {"selector": {"matchLabels": {"b": "2", "a": "1"},
                            "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]},
                                                 {"key": "u", "operator": "DoesNotExist"}]}}},
     "a=1,b=2,t in (x,y),!u"),
    ({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"}, "spec": {"selector": {"app": "w"}}}, "app=w"),
], ids=["deployment", "service"])
def test_selector_of(obj: dict, want: str) -> None:
    assert selector_of(obj) == want


@pytest.mark.parametrize(("obj", "message"), [
    ({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}}, "selector for \\*v1.ConfigMap not implemented"),
    ({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"}, "spec": {}},
     "invalid service 's': Service is defined without a selector"),
], ids=["configmap", "service-without-selector"])
def test_selector_of_refuses(obj: dict, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        selector_of(obj)


def test_split_exec_args_takes_flags_before_the_double_dash() -> None:
    args = argparse.Namespace(container="", stdin=False, tty=False, quiet=False, pod_running_timeout="1m0s")
    positionals, command = split_exec_args(["p1", "-c", "side", "-it", "--", "sh", "-c", "echo -c"], args)
    assert (positionals, command) == (["p1"], ["sh", "-c", "echo -c"])
    assert (args.container, args.stdin, args.tty) == ("side", True, True)
    assert split_exec_args(["p1", "ls"], args)[0] == ["p1", "ls"]
