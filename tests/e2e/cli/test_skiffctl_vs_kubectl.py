"""skiffctl side by side with the real kubectl against one real ``skiff server``.

Each scenario runs the same commands with kubectl (in namespace ``k-…``) and with skiffctl
(in ``s-…``) and compares exit codes, stdout and stderr after masking what differs by
nature between two objects (namespace, uid, resourceVersion, timestamps, ages, cluster
IPs). Table commands are retried a few times so that an age ticking over between the two
runs does not count as a difference.
"""
from __future__ import annotations

import difflib
import io
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skiff.cli.main import main as skiffctl_main

pytestmark = pytest.mark.e2e

KUBECTLS = {v: f"/usr/lib/google-cloud-sdk/bin/kubectl.1.{v}" for v in (32, 33)}


@dataclass
class Result:
    code: int
    out: str
    err: str


_MASKS = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "TIME"),
    (re.compile(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"), "DATE"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UID"),
    (re.compile(r'(resourceVersion"?:\s*)"\d+"'), r'\1"RV"'),
    (re.compile(r"\b10\.\d+\.\d+\.\d+\b"), "IP"),
    # kubectl diff's temporary directories
    (re.compile(r"/(LIVE|MERGED)-[\w]+/"), r"/\1-DIR/"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d{4}"), "MTIME"),
    # generated pod names of ReplicaSets: the template hash is shared, the suffix random
    (re.compile(r"\b([a-z0-9-]+-[a-z0-9]{6,10})-[a-z0-9]{5}\b"), r"\1-RANDOM"),
    # each tool names itself in its usage hints
    (re.compile(r"'(?:kubectl|skiffctl) "), "'CTL "),
    # ages as HumanDuration prints them, in tables and describe output
    (re.compile(r"(?<![\w./-])\d+(?:s|m|h|d|y)(?:\d+(?:s|m|h|d))?(?![\w./-])"), "AGE"),
]


def compare(args: object, k: Result, s: Result) -> None:
    """Assert equal results; a failure shows a unified diff (kubectl first)."""
    assert s.code == k.code, f"exit codes differ for {args}: kubectl {k.code}, skiffctl {s.code}\n{k.err}\n{s.err}"
    for what, a, b in (("stdout", k.out, s.out), ("stderr", k.err, s.err)):
        if a != b:
            diff = "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "kubectl", "skiffctl"))
            raise AssertionError(f"{what} differs for {args}:\n{diff}")


def _cells(text: str) -> list[list[str]]:
    return [re.split(r" {3,}", line) for line in text.splitlines()]


def mask(text: str, namespace: str) -> str:
    text = text.replace(namespace, "NS")
    for rx, repl in _MASKS:
        text = rx.sub(repl, text)
    return text


class Pair:
    """Runs one command with kubectl and with skiffctl, each in its own namespace."""

    def __init__(self, kubectl: str, kubeconfig: Path, home: Path, suffix: str) -> None:
        self.kubectl, self.kubeconfig = kubectl, kubeconfig
        self.kns, self.sns = f"k-{suffix}", f"s-{suffix}"
        self.env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(home))

    def run_kubectl(self, args: list[str], stdin: str | None) -> Result:
        p = subprocess.run([self.kubectl, "-n", self.kns, *args], input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=120)
        return Result(p.returncode, mask(p.stdout, self.kns), mask(p.stderr, self.kns))

    def run_skiffctl(self, args: list[str], stdin: str | None) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = skiffctl_main(["--kubeconfig", str(self.kubeconfig), "-n", self.sns, *args], out=out, err=err,
                             stdin=io.StringIO(stdin or ""))
        return Result(code, mask(out.getvalue(), self.sns), mask(err.getvalue(), self.sns))

    def same(self, *args: str, stdin: str | None = None, attempts: int = 1, cells: bool = False) -> Result:
        """Both tools must agree; ``attempts`` > 1 only for read-only commands with ages in them.

        ``cells`` compares tables cell by cell (columns split on 3+ spaces) for output holding
        values of different lengths by nature (cluster IPs), which shift column widths."""
        for _ in range(attempts):
            k = self.run_kubectl(list(args), stdin)
            s = self.run_skiffctl(list(args), stdin)
            if (k.code, k.out, k.err) == (s.code, s.out, s.err):
                return s
            if cells and (k.code, _cells(k.out), k.err) == (s.code, _cells(s.out), s.err):
                return s
        compare(args, k, s)
        return s

    def both(self, *args: str, stdin: str | None = None) -> None:
        """Set-up steps: must succeed for both, output not compared."""
        k, s = self.run_kubectl(list(args), stdin), self.run_skiffctl(list(args), stdin)
        assert k.code == 0 and s.code == 0, (args, k, s)


@pytest.fixture(params=sorted(KUBECTLS), ids=lambda v: f"kubectl-1.{v}")
def pair(request: pytest.FixtureRequest, skiff_server_session, tmp_path: Path,
         unique_name: str) -> Iterator[Pair]:
    binary = KUBECTLS[request.param]
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not on this machine")
    suffix = unique_name[-6:] + f"{request.param}"
    p = Pair(binary, skiff_server_session.kubeconfig, tmp_path / "home", suffix)
    for ns in (p.kns, p.sns):
        assert skiffctl_main(["--kubeconfig", str(p.kubeconfig), "create", "namespace", ns],
                             out=io.StringIO(), err=io.StringIO()) == 0
    try:
        yield p
    finally:
        for ns in (p.kns, p.sns):
            skiffctl_main(["--kubeconfig", str(p.kubeconfig), "delete", "namespace", ns, "--wait=false"],
                          out=io.StringIO(), err=io.StringIO())


APP = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: REPLICAS
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: registry.local/web:1
            ports: [{containerPort: 80}]
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cfg
      labels: {tier: conf}
    data:
      a: "VALUE"
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 80}]
    """)


def app(replicas: int = 2, value: str = "1") -> str:
    return APP.replace("REPLICAS", str(replicas)).replace("VALUE", value)


def test_apply_get_and_output_formats(pair: Pair) -> None:
    pair.same("apply", "-f", "-", stdin=app())
    pair.same("apply", "-f", "-", stdin=app())  # unchanged
    pair.same("apply", "-f", "-", stdin=app(3, "2"))  # configured
    pair.same("get", "deploy,cm,svc", attempts=3, cells=True)
    pair.same("get", "cm", "--show-labels", attempts=3)
    pair.same("get", "cm", "-l", "tier=conf", "--no-headers", attempts=3)
    pair.same("get", "deploy", "-o", "wide", attempts=3)
    pair.same("get", "cm", "cfg", "-o", "yaml")
    pair.same("get", "cm", "-o", "json")
    pair.same("get", "deploy,cm", "-o", "name")
    pair.same("get", "cm", "-o", "jsonpath={range .items[*]}{.metadata.name}={.data}{\"\\n\"}{end}")
    pair.same("get", "cm", "-o", "custom-columns=NAME:.metadata.name,A:.data.a,MISSING:.data.zz",
              "--sort-by=.metadata.name")
    pair.same("get", "deploy", "web", "-o", "jsonpath={.metadata.annotations}")
    pair.same("get", "pods", "nope")
    pair.same("get", "statefulsets")
    pair.same("get", "nothing-like-this")
    pair.same("get", "cm", "cfg", "nope", "-o", "name")


def test_mutating_verbs(pair: Pair) -> None:
    pair.both("apply", "-f", "-", stdin=app())
    pair.same("scale", "deploy", "web", "--replicas=1")
    pair.same("scale", "deploy/web", "--replicas=4", "--current-replicas=3")
    pair.same("label", "cm", "cfg", "team=a")
    pair.same("label", "cm", "cfg", "team=b")
    pair.same("label", "cm", "cfg", "team=b", "--overwrite")
    pair.same("label", "cm", "cfg", "team-")
    pair.same("label", "cm", "cfg", "team-")
    pair.same("annotate", "deploy", "web", "note=hello")
    pair.same("annotate", "deploy", "web", "note-")
    pair.same("patch", "deploy", "web", "-p", '{"spec":{"replicas":2}}')
    pair.same("patch", "deploy", "web", "-p", '{"spec":{"replicas":2}}')
    pair.same("patch", "cm", "cfg", "--type", "merge", "-p", '{"data":{"b":"2"}}')
    pair.same("patch", "cm", "cfg", "--type", "json", "-p", '[{"op":"remove","path":"/data/b"}]')
    pair.same("patch", "cm", "cfg", "--type", "json", "-p", '[{"op":"remove","path":"/data/zzz"}]')
    pair.same("set", "image", "deploy/web", "web=registry.local/web:2")
    pair.same("rollout", "pause", "deploy/web")
    pair.same("rollout", "pause", "deploy/web")
    pair.same("rollout", "resume", "deploy/web")
    pair.same("rollout", "resume", "deploy/web")
    pair.same("rollout", "restart", "deploy/web")
    pair.same("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas}")
    pair.same("delete", "svc", "web")
    pair.same("delete", "svc", "web")
    pair.same("delete", "cm", "-l", "nothing=here")
    pair.same("delete", "-f", "-", stdin=app())


def test_create_generators_and_errors(pair: Pair) -> None:
    pair.same("create", "deployment", "d1", "--image=registry.local/web:1", "--replicas=2")
    pair.same("create", "deployment", "d1", "--image=registry.local/web:1")
    pair.same("create", "configmap", "c1", "--from-literal=a=1", "--from-literal=b=2")
    pair.same("create", "secret", "generic", "s1", "--from-literal=k=v")
    pair.same("create", "deployment", "d2", "--image=busybox:1.36", "--dry-run=client", "-o", "yaml")
    pair.same("get", "cm", "c1", "-o", "yaml")
    # kubectl prints a ConfigMap's Data in Go's map order (random): describe one with a single key
    pair.same("create", "configmap", "c2", "--from-literal=only=1")
    pair.same("describe", "cm", "c2")
    pair.same("describe", "secret", "s1")
    pair.same("create", "-f", "-", stdin=app())
    pair.same("create", "-f", "-", stdin=app())  # AlreadyExists, named by source
    invalid = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: Bad_Name}\nspec: {replicas: -1}\n"
    pair.same("apply", "-f", "-", stdin=invalid)
    unknown = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: u}\nspecc: {}\n"
    pair.same("apply", "-f", "-", stdin=unknown)
    pair.same("apply", "-f", "-", stdin="kind: ConfigMap\nmetadata: {name: x}\n")
    pair.same("apply", "--server-side", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\n"
                                                          "data: {k: v}\n")
    pair.same("apply", "--server-side", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\n"
                                                          "data: {k: w}\n")
    pair.same("wait", "--for=jsonpath={.data.k}=w", "cm/ssa", "--timeout=10s")
    pair.same("wait", "--for=condition=Available", "deploy/d1", "--timeout=1s")
    pair.same("delete", "cm", "c1", "c2", "ssa")


def test_describe_and_discovery(pair: Pair) -> None:
    pair.both("apply", "-f", "-", stdin=app())
    pair.same("describe", "deploy", "web", attempts=3)
    pair.same("describe", "svc", "web", attempts=3, cells=True)
    pair.same("describe", "cm", attempts=3)
    pair.same("describe", "namespace", pair.sns if False else "default", attempts=3)
    pair.same("api-resources")
    pair.same("api-resources", "-o", "wide", "--sort-by=kind")
    pair.same("api-resources", "--namespaced=false", "-o", "name")
    pair.same("api-versions")
    pair.same("cluster-info")
    pair.same("config", "view")
    pair.same("config", "view", "--minify", "-o", "json")
    pair.same("config", "get-contexts")
    pair.same("config", "current-context")


def test_rollout_diff_explain_edit_watch(pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Revisions made by the deployment controller, then the verbs that read them, and the editors."""
    pair.both("apply", "-f", "-", stdin=app(replicas=0))
    pair.same("set", "image", "deploy/web", "web=registry.local/web:2")
    # both wait for the controller to observe the new generation; zero replicas finish at once
    pair.same("rollout", "status", "deploy/web", "--timeout=60s")
    pair.same("rollout", "history", "deploy/web")
    pair.same("rollout", "history", "deploy/web", "--revision=1")
    pair.same("rollout", "history", "deploy/web", "--revision=7")
    pair.same("rollout", "undo", "deploy/web", "--to-revision=9")
    pair.same("rollout", "undo", "deploy/web")
    pair.same("rollout", "status", "deploy/web", "--timeout=60s")
    pair.same("rollout", "history", "deploy/web")
    pair.same("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    pair.same("diff", "-f", "-", stdin=app(replicas=0))
    pair.same("diff", "-f", "-", stdin=app(replicas=3, value="changed"))
    for path in ("deployment", "deployment.spec.strategy", "pods.spec.containers", "svc.spec.ports", "cm.data",
                 "deploy.spec.nope", "nothing-like-this", "pods.spec --recursive"):
        pair.same("explain", *path.split())
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/a: \"1\"/a: \"edited\"/' \"$1\"\n")
    editor.chmod(0o755)
    for env in (pair.env, None):
        if env is None:
            monkeypatch.setenv("KUBE_EDITOR", str(editor))
        else:
            env["KUBE_EDITOR"] = str(editor)
    pair.same("edit", "cm", "cfg")
    pair.same("edit", "cm", "cfg")  # nothing changed the second time
    pair.same("get", "cm", "cfg", "-o", "jsonpath={.data.a}")
    pair.same("get", "cm", "-w", "--request-timeout=2s", attempts=3)
    pair.same("get", "pods", "--field-selector=nope=1")
    pair.same("get", "pods", "-l", "a in (b")
    pair.same("delete", "cm", "cfg", "--dry-run=server")
    pair.same("get", "cm", "cfg", "-o", "name")
    pair.same("delete", "deploy", "web", "--cascade=orphan")
    pair.same("delete", "cm", "--all", "--grace-period=0", "--wait=false")


PODS = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: one, labels: {app: solo}}
    spec:
      containers: [{name: c, image: registry.local/web:1}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: two}
    spec:
      initContainers: [{name: init, image: registry.local/web:1}]
      containers: [{name: a, image: registry.local/web:1}, {name: b, image: registry.local/web:1}]
    """)


def test_logs_and_exec_before_pods_have_nodes(pair: Pair) -> None:
    """Nothing runs pods on this server, so every logs/exec answer is an error path: the pod
    picked, the container defaulted, the flags checked and the server's refusal must all match."""
    pair.both("apply", "-f", "-", stdin=app() + "---\n" + PODS)
    for args in (["logs", "one"], ["logs", "two"], ["logs", "two", "-c", "nope"], ["logs", "two", "b"],
                 ["logs", "two", "--all-containers"], ["logs", "-l", "app=solo"], ["logs", "-l", "app=none"],
                 ["logs", "deploy/web", "--tail=3", "--since=1h", "--timestamps"], ["logs", "nope"],
                 ["logs", "pod/nope"], ["logs", "deploy/nope"], ["logs", "cm/cfg"], ["logs", "one", "--since=abc"],
                 ["logs", "one", "--since=1h", "--since-time=2020-01-01T00:00:00Z"], ["logs", "one", "--limit-bytes=-1"],
                 ["logs", "one", "--tail=x"],
                 ["exec", "one", "--", "ls"], ["exec", "two", "--", "ls"], ["exec", "two", "-q", "--", "ls"],
                 ["exec", "two", "-c", "zz", "--", "ls"], ["exec", "deploy/web", "--", "ls"], ["exec", "nope", "--", "ls"],
                 ["exec", "one"], ["exec", "-i", "one", "--", "cat"]):
        pair.same(*args, stdin="")


def test_node_maintenance(pair: Pair) -> None:
    """cordon, uncordon, taint and drain on Node objects that nothing can be scheduled onto."""
    def node(name: str) -> str:
        return (f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{skiff-test: cli}}}}\n"
                f"spec:\n  unschedulable: true\n  taints: [{{key: skiff-test, effect: NoSchedule}}]\n")
    names = {pair.kns: f"{pair.kns}-node", pair.sns: f"{pair.sns}-node"}
    # node names embed the namespace name, so the mask turns both into NS-node
    k = pair.run_kubectl(["apply", "-f", "-"], node(names[pair.kns]))
    s = pair.run_skiffctl(["apply", "-f", "-"], node(names[pair.sns]))
    assert (k.code, s.code) == (0, 0), (k, s)
    try:
        def both_nodes(*args: str) -> None:
            kargs = [a.replace("NODE", names[pair.kns]) for a in args]
            sargs = [a.replace("NODE", names[pair.sns]) for a in args]
            compare(args, pair.run_kubectl(kargs, None), pair.run_skiffctl(sargs, None))
        both_nodes("uncordon", "NODE")
        both_nodes("cordon", "NODE")
        both_nodes("cordon", "NODE")
        both_nodes("taint", "nodes", "NODE", "k=v:NoSchedule")
        both_nodes("taint", "nodes", "NODE", "k=v:NoSchedule")
        both_nodes("taint", "nodes", "NODE", "k=w:NoSchedule", "--overwrite")
        both_nodes("taint", "nodes", "NODE", "k:NoSchedule-")
        both_nodes("taint", "nodes", "NODE", "k-")
        both_nodes("drain", "NODE", "--ignore-daemonsets")
        both_nodes("describe", "node", "NODE")
    finally:
        for n in names.values():
            skiffctl_main(["--kubeconfig", str(pair.kubeconfig), "delete", "node", n, "--wait=false"],
                          out=io.StringIO(), err=io.StringIO())


def test_console_script_entry_point(skiff_server_session) -> None:
    """The installed ``skiffctl`` script runs the same main (one real process, with KUBECONFIG)."""
    script = Path(sys.executable).parent / "skiffctl"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "skiff.cli.main"]
    p = subprocess.run([*cmd, "get", "namespace", "default", "-o", "name"], capture_output=True, text=True,
                       env=skiff_server_session.env(), timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "namespace/default\n", "")
    p = subprocess.run([*cmd, "get", "pods", "nope"], capture_output=True, text=True,
                       env=skiff_server_session.env(), timeout=60)
    assert (p.returncode, p.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')
