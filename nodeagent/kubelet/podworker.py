"""One pod's sync: observe it through CRI, plan, apply the plan, and write its status.

The decisions are :func:`plan.plan_pod` and :func:`podstatus.compute_status`; this module
only carries them out. A step that fails for a container (an image that cannot be
pulled, a container that cannot start) is remembered as a :class:`Failure` the status
reports, and the pod is retried with back-off by the caller's queue.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError
from skiff.machinery.events import NORMAL, WARNING, NullRecorder

from skiff.nodeagent.runtime.cri import api_pb2 as pb

from . import envvars, hooks, pullsecrets, specs
from .cri import CriClient, rpc_message
from .observed import PodObs
from .plan import Action, Backoff, Kind, Plan, plan_pod
from .plan import grace_seconds as specs_grace
from .podstatus import Failure, changed, compute_status
from .volumes import VolumeError, Volumes, container_mounts

log = logging.getLogger(__name__)
PODS = find("pods")
MAX_ROUNDS = 8


class StepFailed(Exception):
    """A container step failed; recorded in the pod's status, retried later."""


@dataclass
class PodWorkers:
    client: Any
    cri: CriClient
    node_name: str
    host_ip: str
    logs_root: str
    runtime_name: str = "skiff"
    dns: specs.ClusterDNS = field(default_factory=specs.ClusterDNS)
    backoff: Backoff = field(default_factory=Backoff)
    failures: dict[str, dict[str, Failure]] = field(default_factory=dict)  # pod uid -> container -> failure
    written: dict[str, dict[str, Any]] = field(default_factory=dict)  # pod uid -> last status written
    volumes: Volumes | None = None
    gates: Any = None  # (container spec, container id) -> (started, ready), from the prober
    recorder: Any = field(default_factory=NullRecorder)  # the kubelet's events (kubectl describe)
    objects: Any = None  # PodObjects: the ConfigMaps and Secrets pods read (plain GETs when None)
    allocatable: dict[str, str] = field(default_factory=dict)  # the node's, for resourceFieldRef
    pull_backoff: dict[tuple[str, str, str], tuple[float, int, str]] = field(default_factory=dict)
    cgroup_root: str = ""  # --cgroup-root: the parent of every pod's cgroup ("": the runtime's choice)

    async def sync(self, pod: dict[str, Any]) -> Plan:
        """Converge one pod; returns the last plan (its ``requeue_after`` is the caller's)."""
        uid = str(pod["metadata"]["uid"])
        plan = Plan()
        obs = PodObs()
        for _ in range(MAX_ROUNDS):
            obs = await self.cri.observe(uid)
            plan = plan_pod(pod, obs, now_ns=time.time_ns(), backoff=self.backoff)
            if not plan.actions:
                await self._refresh_volumes(pod, obs)
                break
            try:
                stops = [a for a in plan.actions if a.kind is Kind.STOP_CONTAINER]
                if stops:  # containers are killed together, as the kubelet does (preStop hooks overlap)
                    await asyncio.gather(*(self.apply(pod, obs, a) for a in stops))
                for action in plan.actions:
                    if action.kind is not Kind.STOP_CONTAINER and await self.apply(pod, obs, action):
                        return Plan()  # the pod is gone
            except StepFailed:
                await self.write_status(pod, await self.cri.observe(uid))
                raise
        await self.write_status(pod, obs)
        if self.volumes is not None and (renew := self.volumes.token_refresh_in(uid)) is not None:
            # come back when a projected token is due, so its file is renewed before it expires
            plan.requeue_after = renew if plan.requeue_after is None else min(plan.requeue_after, renew)
        return plan

    async def write_status(self, pod: dict[str, Any], obs: PodObs) -> None:
        uid = str(pod["metadata"]["uid"])
        status = compute_status(pod, obs, now=dt.datetime.now(dt.timezone.utc), host_ip=self.host_ip,
                                runtime=self.runtime_name, failures=self.failures.get(uid), backoff=self.backoff,
                                gates=self.gates)
        current = pod.get("status") or {}
        if not changed(self.written.get(uid, current), status) or not changed(current, status):
            return
        m = pod["metadata"]
        await self.client.patch(PODS, m["name"], {"status": status},
                                namespace=m.get("namespace"), subresource="status")
        self.written[uid] = status

    async def _refresh_volumes(self, pod: dict[str, Any], obs: PodObs) -> None:
        """A running pod's configMap/secret/downwardAPI files follow their sources."""
        sandbox = obs.sandbox()
        if self.volumes is None or sandbox is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        await self.volumes.refresh(pod, pod_ip=sandbox.ip)

    def forget(self, uid: str) -> None:
        self.failures.pop(uid, None)
        for key in [k for k in self.pull_backoff if k[0] == uid]:
            del self.pull_backoff[key]
        self.written.pop(uid, None)

    # -- actions -------------------------------------------------------------
    async def apply(self, pod: dict[str, Any], obs: PodObs, a: Action) -> bool:
        """Carry out one action; True when the pod object is gone."""
        log.debug("pod %s/%s: %s", pod["metadata"].get("namespace"), pod["metadata"]["name"], a)
        if a.kind is Kind.CREATE_SANDBOX:
            try:
                await self.cri.run_sandbox(specs.sandbox_config(pod, attempt=a.attempt, logs_root=self.logs_root,
                                                                   dns=self.dns, cgroup_root=self.cgroup_root))
            except Exception as exc:  # noqa: BLE001 - the runtime's answer is the event's text
                self.recorder.event(pod, WARNING, "FailedCreatePodSandBox",
                                    f"Failed to create pod sandbox: {rpc_message(exc)}")
                raise StepFailed(f"sandbox: {rpc_message(exc)}") from None
        elif a.kind is Kind.START_CONTAINER:
            await self._start(pod, obs, a)
        elif a.kind is Kind.STOP_CONTAINER:
            await self.kill_container(pod, a.id, a.name, a.grace)
        elif a.kind is Kind.REMOVE_CONTAINER:
            await self.cri.remove_container(a.id)
        elif a.kind is Kind.STOP_SANDBOX:
            await self.cri.stop_sandbox(a.id)
        elif a.kind is Kind.REMOVE_POD:
            await self._remove(pod, obs)
            return True
        return False

    async def kill_container(self, pod: dict[str, Any], cid: str, name: str, grace: int, *,
                             message: str = "") -> None:
        """The kubelet's killContainer: the Killing event, the preStop hook (its time taken out
        of the grace period), then the runtime's stop (SIGTERM, SIGKILL after what is left)."""
        self.recorder.event(pod, NORMAL, "Killing", message or f"Stopping container {name}")
        c = self._container_spec(pod, name)
        handler = ((c or {}).get("lifecycle") or {}).get("preStop")
        if c is not None and handler:
            began = time.monotonic()
            msg = await self._run_hook(pod, c, cid, handler, "preStop", timeout=float(max(grace, 1)))
            if msg:
                self.recorder.event(pod, WARNING, "FailedPreStopHook", msg)
            grace = hooks.grace_left(grace, time.monotonic() - began)
        await self.cri.stop_container(cid, grace)

    @staticmethod
    def _container_spec(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
        spec = pod.get("spec") or {}
        for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            if c.get("name") == name:
                return dict(c)
        return None

    async def _run_hook(self, pod: dict[str, Any], c: dict[str, Any], cid: str, handler: dict[str, Any],
                        which: str, *, timeout: float) -> str | None:
        pod_ip = ((pod.get("status") or {}).get("podIP")) or ""
        obs_ip = next((s.ip for s in (await self.cri.observe(str(pod["metadata"]["uid"]))).sandboxes if s.ready), "")
        try:
            plan = hooks.hook_plan(handler, pod_ip=obs_ip or pod_ip, ports=hooks.container_ports(c),
                                   where=f"containers[{c['name']}].lifecycle.{which}")
        except hooks.HookError as exc:
            return str(exc)
        try:
            return await asyncio.wait_for(hooks.run_hook(plan, cri=self.cri, container_id=cid, pod=pod,
                                                         container=c["name"], timeout=timeout), timeout + 10)
        except asyncio.TimeoutError:
            return f"{which} hook of container {c['name']} did not finish within {int(timeout)}s"

    async def _post_start(self, pod: dict[str, Any], c: dict[str, Any], cid: str) -> None:
        """postStart: a failure kills the container (FailedPostStartHook) and is its waiting reason."""
        handler = (c.get("lifecycle") or {}).get("postStart")
        if not handler:
            return
        msg = await self._run_hook(pod, c, cid, handler, "postStart", timeout=hooks.POST_START_TIMEOUT)
        if msg is None:
            return
        self.recorder.event(pod, WARNING, "FailedPostStartHook", msg)
        await self.kill_container(pod, cid, c["name"], specs_grace(pod), message="FailedPostStartHook")
        self.failures.setdefault(str(pod["metadata"]["uid"]), {})[c["name"]] = Failure("PostStartHookError", msg)
        raise StepFailed(f"{c['name']}: PostStartHookError: {msg}")

    def _fail(self, pod: dict[str, Any], name: str, reason: str, message: str, *, event: bool = True) -> StepFailed:
        self.failures.setdefault(str(pod["metadata"]["uid"]), {})[name] = Failure(reason, message)
        if event:
            self.recorder.event(pod, WARNING, "Failed", f"Error: {reason}: {message}")
        return StepFailed(f"{name}: {reason}: {message}")

    async def _pull_secrets(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        """The pod's imagePullSecrets that exist; the kubelet's warning names those that do not."""
        ns = str(pod["metadata"].get("namespace") or "default")
        found, missing = [], []
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            name = str((ref or {}).get("name") or "")
            secret = await self._objects().get("secret", ns, name) if name else None
            if secret is None:
                missing.append(f"{ns}/{name}")
                continue
            try:
                pullsecrets.secret_auths(secret)
            except pullsecrets.PullSecretError as exc:
                log.warning("pod %s/%s: %s", ns, pod["metadata"].get("name"), exc)
                missing.append(f"{ns}/{name}")
                continue
            found.append(secret)
        if missing:
            self.recorder.event(pod, WARNING, "FailedToRetrieveImagePullSecret",
                                f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
                                "attempting to pull the image may not succeed.")
        return found

    async def _pull(self, pod: dict[str, Any], image: str) -> str:
        """Pull with each matching credential in turn (anonymously when none matches)."""
        auths = pullsecrets.credentials_for(image, await self._pull_secrets(pod))
        if not auths:
            return await self.cri.pull(image)
        errors = []
        for a in auths:
            try:
                return await self.cri.pull(image, pb.AuthConfig(
                    username=a.username, password=a.password, auth=a.auth, server_address=a.key,
                    identity_token=a.identity_token, registry_token=a.registry_token))
            except Exception as exc:  # noqa: BLE001 - the next credential may work
                errors.append(rpc_message(exc))
        raise RuntimeError(errors[-1] if len(errors) == 1 else "; ".join(errors))

    async def _image(self, pod: dict[str, Any], c: dict[str, Any]) -> str:
        image = c.get("image") or ""
        policy = c.get("imagePullPolicy") or specs.default_pull_policy(image)
        key = (str(pod["metadata"]["uid"]), c["name"], image)
        try:
            ref = "" if policy == "Always" else await self.cri.image_ref(image)
            if ref:
                self.recorder.event(pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine')
                return ref
            if policy == "Never":
                raise self._fail(pod, c["name"], "ErrImageNeverPull",
                                 f'Container image "{image}" is not present with pull policy of Never')
            until, attempts, last = self.pull_backoff.get(key, (0.0, 0, ""))
            if time.monotonic() < until:
                self.recorder.event(pod, NORMAL, "BackOff", f'Back-off pulling image "{image}"')
                raise self._fail(pod, c["name"], "ImagePullBackOff",
                                 f'Back-off pulling image "{image}": ErrImagePull: {last}', event=False)
            self.recorder.event(pod, NORMAL, "Pulling", f'Pulling image "{image}"')
            began = time.monotonic()
            try:
                ref = await self._pull(pod, image)
            except Exception as exc:  # noqa: BLE001 - the runtime's message is the user's answer
                msg = rpc_message(exc)
                delay = min(self.backoff.base * 2 ** attempts, self.backoff.cap)
                self.pull_backoff[key] = (time.monotonic() + delay, attempts + 1, msg)
                raise self._fail(pod, c["name"], "ErrImagePull", msg) from None
            self.pull_backoff.pop(key, None)
            took = time.monotonic() - began
            self.recorder.event(pod, NORMAL, "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s')
            return ref
        except StepFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - the runtime's message is the user's answer
            raise self._fail(pod, c["name"], "ErrImagePull", rpc_message(exc)) from None

    async def _environment(self, pod: dict[str, Any], c: dict[str, Any], pod_ip: str) -> list[tuple[str, str]]:
        """The container's variables, with the ConfigMaps and Secrets they read; keys skipped
        for their names are the kubelet's InvalidEnvironmentVariableNames warning."""
        ns = str(pod["metadata"].get("namespace") or "default")
        cms, secs = envvars.references(c)
        objects = self._objects()
        try:
            services = await objects.services(ns) if hasattr(objects, "services") else ()
            found = envvars.Objects(configmaps={n: await objects.get("configMap", ns, n) for n in sorted(cms)},
                                    secrets={n: await objects.get("secret", ns, n) for n in sorted(secs)},
                                    allocatable=self.allocatable, services=services)
            env, skipped = envvars.environment(pod, c, found, pod_ip=pod_ip, host_ip=self.host_ip)
        except (envvars.EnvError, ApiError) as exc:
            raise self._fail(pod, c["name"], "CreateContainerConfigError",
                             exc.message if isinstance(exc, ApiError) else str(exc)) from None
        for s in skipped:
            self.recorder.event(pod, WARNING, "InvalidEnvironmentVariableNames", s.message(ns))
        return env

    def _objects(self) -> Any:
        if self.objects is None:
            from .objects import PodObjects

            self.objects = self.volumes.objects if self.volumes is not None else PodObjects(self.client)
        return self.objects

    async def _mounts(self, pod: dict[str, Any], c: dict[str, Any], pod_ip: str) -> list[Any]:
        if self.volumes is None:
            return []
        try:
            paths, read_only = await self.volumes.prepare(pod, pod_ip=pod_ip)
            return container_mounts(c, paths, read_only)
        except VolumeError as exc:
            self.failures.setdefault(str(pod["metadata"]["uid"]), {})[c["name"]] = Failure("ContainerCreating",
                                                                                          str(exc))
            self.recorder.event(pod, WARNING, "FailedMount", exc.event())
            raise StepFailed(f"{c['name']}: {exc}") from None

    async def _start(self, pod: dict[str, Any], obs: PodObs, a: Action) -> None:
        spec = pod.get("spec") or {}
        c = next(x for x in (spec.get("initContainers") if a.init else spec.get("containers")) or []
                 if x["name"] == a.name)
        sandbox = obs.sandbox()
        if sandbox is None:
            return
        mounts = await self._mounts(pod, c, sandbox.ip)  # volumes first, as the kubelet waits for them
        image_ref = await self._image(pod, c)
        sconf = specs.sandbox_config(pod, attempt=sandbox.attempt, logs_root=self.logs_root, dns=self.dns,
                                     cgroup_root=self.cgroup_root)
        env = await self._environment(pod, c, sandbox.ip)
        try:
            conf = specs.container_config(pod, c, attempt=a.attempt, image_ref=image_ref, pod_ip=sandbox.ip,
                                          host_ip=self.host_ip, env=env)
        except specs.SpecError as exc:
            raise self._fail(pod, c["name"], "CreateContainerConfigError", str(exc)) from None
        conf.mounts.extend(mounts)
        try:
            cid = await self.cri.create_container(sandbox.id, conf, sconf)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(pod, c["name"], "CreateContainerError", rpc_message(exc)) from None
        self.recorder.event(pod, NORMAL, "Created", f"Created container {c['name']}")
        try:
            await self.cri.start_container(cid)
        except Exception as exc:  # noqa: BLE001
            # a container that never ran is removed, so the retry creates this attempt afresh
            try:
                await self.cri.remove_container(cid)
            except Exception as rm_exc:  # noqa: BLE001
                log.warning("remove container %s after a failed start: %s", cid[:12], rpc_message(rm_exc))
            raise self._fail(pod, c["name"], "RunContainerError", rpc_message(exc)) from None
        self.failures.get(str(pod["metadata"]["uid"]), {}).pop(c["name"], None)
        self.recorder.event(pod, NORMAL, "Started", f"Started container {c['name']}")
        await self._post_start(pod, c, cid)

    async def _remove(self, pod: dict[str, Any], obs: PodObs) -> None:
        for sb in obs.sandboxes:
            await self.cri.stop_sandbox(sb.id)
            await self.cri.remove_sandbox(sb.id)
        m = pod["metadata"]
        # the pod's resources are reclaimed before its object goes, as the kubelet's status
        # manager waits for that: once the pod is gone from the API nothing of it is left
        if self.volumes is not None:
            self.volumes.remove(str(m["uid"]))
        shutil.rmtree(specs.log_directory(pod, self.logs_root), ignore_errors=True)
        try:
            await self.client.delete(PODS, m["name"], namespace=m.get("namespace"), grace_period_seconds=0,
                                     preconditions={"uid": str(m["uid"])})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
        self.forget(str(m["uid"]))
