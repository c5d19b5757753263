"""Runs a parsed Dockerfile against the engine, step by step, as dockerd's classic builder.

Every step after FROM makes an image (intermediate images are the layer cache):
metadata steps an image with an empty layer, COPY/ADD a layer written through an
overlay mount of the current image, WORKDIR one through its step's container,
RUN a layer committed from a real container of the engine (its own cgroup,
namespaces, the image's env, workdir and user). As in dockerd, metadata and
WORKDIR steps get a container that is never started (" ---> Running in ...",
"Removing intermediate container ..."). A failed step leaves no container, mount
or cgroup behind (dockerd keeps a failed RUN's container unless --force-rm; we
never do, so a failed build changes nothing but the cache).

Output goes to ``emit`` as the Engine API's build messages (``{"stream": ...}``,
``{"aux": {"ID": ...}}``); an error is raised as :class:`BuildError` and the
endpoint turns it into ``{"errorDetail": ..., "error": ...}``.
"""
from __future__ import annotations

import asyncio
import codecs
import copy
import dataclasses
import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from skiff.nodeagent.runtime.build import cache, copyspec, fsops, metadata
from skiff.nodeagent.runtime.build.context import source_hash, walk
from skiff.nodeagent.runtime.build.dockerfile import Dockerfile, DockerfileError, Instruction, Stage, parse_line
from skiff.nodeagent.runtime.build.words import env_map
from skiff.nodeagent.runtime.containers.rootfs import Rootfs
from skiff.nodeagent.runtime.images import layers as layermod
from skiff.nodeagent.runtime.images import reference as refs
from skiff.nodeagent.runtime.images.errors import ImageError
from skiff.nodeagent.runtime.images.store import Image, Layer, now_rfc3339
from skiff.nodeagent.runtime.oci.defaults import DEFAULT_PATH

log = logging.getLogger(__name__)
Emit = Callable[[dict[str, Any]], Awaitable[None]]
BUILTIN_ARGS = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}
# Files the runtime bind-mounts over; a RUN step's layer must not keep their empty targets.
_MOUNT_TARGETS = layermod.MOUNT_TARGETS


class BuildError(Exception):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclasses.dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = dataclasses.field(default_factory=list)
    build_args: dict[str, str | None] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    remove: bool = True
    force_remove: bool = False
    pull: bool = False
    quiet: bool = False
    network_mode: str = ""
    credentials: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StageState:
    image_id: str                 # "" until a scratch stage has its first image
    image: dict[str, Any]         # the OCI image config (architecture, os, author, history, ...)
    config: dict[str, Any]        # its "config": Env, Cmd, WorkingDir, ...
    diff_ids: list[str]
    args: dict[str, str | None]   # ARGs declared in this stage
    cmd_set: bool = False

    def expansion_env(self) -> dict[str, str]:
        """Declared ARGs with values, overridden by ENV (as dockerd's FilterAllowed)."""
        out = {k: v for k, v in self.args.items() if v is not None}
        out.update(env_map(self.config.get("Env") or []))
        return out

    def run_args(self) -> list[str]:
        env_keys = set(env_map(self.config.get("Env") or []))
        return [f"{k}={v}" for k, v in self.args.items() if v is not None and k not in env_keys]


class Builder:
    def __init__(self, *, images: Any, registries: Any, containers: Any, workdir: Path, emit: Emit,
                 options: BuildOptions) -> None:
        self.images = images
        self.registries = registries
        self.containers = containers
        self.workdir = workdir
        self.emit = emit
        self.opts = options
        self.used_args: set[str] = set()
        self.stage_results: dict[int, StageState] = {}
        self.stage_names: dict[int, str] = {}
        self.escape = "\\"
        self.context = workdir
        self._meta: dict[str, str | None] = {}

    # -- output ----------------------------------------------------------------
    async def out(self, text: str) -> None:
        await self.emit({"stream": text})

    # -- the whole build ---------------------------------------------------------
    async def build(self, df: Dockerfile, context: Path) -> str:
        try:
            return await self._build(df, context)
        except DockerfileError as exc:  # a substitution in FROM, say
            raise BuildError(str(exc)) from None

    async def _build(self, df: Dockerfile, context: Path) -> str:
        self.escape = df.escape
        self.context = context
        self.stage_names = {s.index: s.name for s in df.stages}
        last = len(df.stages) - 1
        if self.opts.target:
            idx = df.stage_index(self.opts.target)
            if idx is None or not df.stages[idx].name and not self.opts.target.isdigit():
                raise BuildError(f"failed to reach build target {self.opts.target} in Dockerfile")
            last = idx
        total = df.total_steps(last) + (1 if self.opts.labels and last == len(df.stages) - 1 else 0)
        step = 0
        meta: dict[str, str | None] = {}
        for ins in df.meta_args:
            step += 1
            await self.out(f"Step {step}/{total} : {ins.original}\n")
            known = {k: v for k, v in meta.items() if v is not None}
            for name, default in self._arg_pairs(ins, StageState("", {}, {}, [], {}), env=known):
                meta[name] = self._arg_value(name, default, meta)
        state: StageState | None = None
        for stage in df.stages[:last + 1]:
            step += 1
            await self.out(f"Step {step}/{total} : {stage.origin.original}\n")
            state = await self.from_(df, stage, meta)
            await self.out(f" ---> {state.image_id[7:19]}\n")
            commands = list(stage.commands)
            if self.opts.labels and stage.index == len(df.stages) - 1:
                commands.append(_label_instruction(self.opts.labels))
            for ins in commands:
                step += 1
                await self.out(f"Step {step}/{total} : {ins.original}\n")
                await self.dispatch(ins, state, meta)
                await self.out(f" ---> {state.image_id[7:19]}\n")
            if not state.image_id:
                raise BuildError("No image was generated. Is your Dockerfile empty?")
            await self.emit({"aux": {"ID": state.image_id}})
            self.stage_results[stage.index] = state
        assert state is not None
        unused = sorted(k for k in self.opts.build_args if k not in self.used_args and k not in BUILTIN_ARGS)
        if unused:
            await self.out(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return state.image_id

    # -- FROM --------------------------------------------------------------------
    async def from_(self, df: Dockerfile, stage: Stage, meta: dict[str, str | None]) -> StageState:
        base = metadata.expand(stage.base, metadata.ConfigState(
            config={}, env={k: v for k, v in meta.items() if v is not None}, escape=df.escape))
        if not base:
            raise BuildError(f"base name ({stage.base}) should not be blank")
        idx = next((s.index for s in df.stages[:stage.index] if s.name and s.name == base.lower()), None)
        if idx is not None:
            prev = self.stage_results[idx]
            state = StageState(prev.image_id, copy.deepcopy(prev.image), copy.deepcopy(prev.config),
                               list(prev.diff_ids), {})
        elif base.lower() == "scratch":
            state = StageState("", {}, {}, [], {})
        else:
            image = await self._base_image(base)
            state = StageState(image.id, copy.deepcopy(image.config), copy.deepcopy(image.config.get("config") or {}),
                               list(image.diff_ids), {})
        env = state.config.get("Env") or []
        if not any(e.startswith("PATH=") for e in env):
            state.config["Env"] = [*env, f"PATH={DEFAULT_PATH}"]
        self._meta = meta
        triggers = state.config.get("OnBuild") or []
        if triggers:
            await self._onbuild(triggers, state)
        return state

    async def _onbuild(self, triggers: list[str], state: StageState) -> None:
        await self.out(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) != 1 else ''}\n")
        state.config["OnBuild"] = []
        for text in triggers:
            try:
                ins = parse_line(text)
            except DockerfileError as exc:
                raise BuildError(f"failed to parse ONBUILD trigger {text!r}: {exc}") from None
            await self.dispatch(ins, state, self._meta)

    async def _base_image(self, text: str) -> Image:
        try:
            ref = refs.with_default_tag(refs.parse_normalized(text))
        except refs.ReferenceError as exc:
            raise BuildError(str(exc)) from None
        if not self.opts.pull:
            found = self.images.resolve_id(text)
            if found:
                return self.images.get(found)  # type: ignore[no-any-return]
        from skiff.nodeagent.runtime.images.pull import pull
        from skiff.nodeagent.runtime.dockerapi.stream import progress_bar

        try:
            return await pull(self.images, self.registries, ref, credentials=self.opts.credentials.get(ref.domain),
                              emit=self.emit, progress_text=progress_bar)
        except ImageError as exc:
            raise BuildError(str(exc)) from None
        except OSError as exc:
            raise BuildError(f"pull {ref.familiar()}: {exc}") from None

    # -- dispatch ------------------------------------------------------------------
    async def dispatch(self, ins: Instruction, state: StageState, meta: dict[str, str | None]) -> None:
        try:
            if ins.cmd == "RUN":
                await self.run(ins, state)
            elif ins.cmd in ("COPY", "ADD"):
                await self.copy(ins, state)
            elif ins.cmd == "WORKDIR":
                await self.workdir_(ins, state)
            elif ins.cmd == "ARG":
                await self.arg(ins, state, meta)
            else:
                await self.meta(ins, state)
        except DockerfileError as exc:
            raise BuildError(str(exc)) from None

    def _cfg_state(self, state: StageState) -> metadata.ConfigState:
        return metadata.ConfigState(config=state.config, env=state.expansion_env(), escape=self.escape,
                                    cmd_set=state.cmd_set, author=state.image.get("author", ""))

    async def meta(self, ins: Instruction, state: StageState) -> None:
        cs = self._cfg_state(state)
        new_config, comment = metadata.apply(ins, cs)
        state.cmd_set = cs.cmd_set
        if cs.author:
            state.image["author"] = cs.author
        state.config = new_config
        await self._step(state, cache.nop_cmd(state.config, comment), in_container=True)

    async def arg(self, ins: Instruction, state: StageState, meta: dict[str, str | None]) -> None:
        parts = []
        for name, default in self._arg_pairs(ins, state, env=state.expansion_env()):
            state.args[name] = self._arg_value(name, default, meta)
            parts.append(name if default is None else f"{name}={default}")
        await self._step(state, cache.nop_cmd(state.config, "ARG " + " ".join(parts)), in_container=True)

    def _arg_pairs(self, ins: Instruction, state: StageState, *, env: dict[str, str]) -> list[tuple[str, str | None]]:
        out = []
        cs = metadata.ConfigState(config=state.config, env=env, escape=self.escape)
        for a in ins.args:
            name, eq, default = a.partition("=")
            if not name:
                raise BuildError(f"dockerfile parse error on line {ins.line}: ARG names can not be blank")
            out.append((name, metadata.expand(default, cs) if eq else None))
        return out

    def _arg_value(self, name: str, default: str | None, meta: dict[str, str | None]) -> str | None:
        self.used_args.add(name)
        given = self.opts.build_args.get(name)
        if given is not None:
            return given
        if default is None and name in meta:
            return meta[name]
        return default

    # -- steps that commit ------------------------------------------------------------
    async def _step(self, state: StageState, cmd: list[str], *, in_container: bool = False,
                    produce: Callable[[StageState, str], Awaitable[Path | None]] | None = None) -> None:
        """Probe the cache with ``cmd``; on a miss, ``produce`` makes the layer's upper dir (or
        none). ``in_container``: the step gets a container of its own that is never started, as
        dockerd gives metadata and WORKDIR steps (" ---> Running in ...")."""
        run_config = cache.run_config(state.config, cmd)
        if await self._probe(state, run_config):
            return
        cid = ""
        try:
            if in_container and state.image_id:
                cid = await self._create_container(state, cmd, [])
            upper = await produce(state, cid) if produce is not None else None
            try:
                layer = await self._layer_from(upper) if upper is not None else None
            finally:
                if upper is not None and not cid:
                    shutil.rmtree(upper.parent, ignore_errors=True)  # a scratch overlay of its own
            new = await self._commit(state, layer, cmd, cid, run_config=run_config)
        except BaseException:
            await self._remove_container(cid, always=True)
            raise
        state.image_id, state.image, state.diff_ids = new.image_id, new.image, new.diff_ids
        await self._remove_container(cid)

    async def _probe(self, state: StageState, run_config: dict[str, Any]) -> bool:
        if self.opts.no_cache:
            return False
        candidates = [(i.id, i.parent, i.config.get("container_config"), i.created)
                      for i in self.images.list_images()]
        hit = cache.pick_cached(candidates, state.image_id, run_config)
        if hit is None:
            return False
        img = self.images.get(hit)
        await self.out(" ---> Using cache\n")
        state.image_id, state.image = img.id, copy.deepcopy(img.config)
        state.config = copy.deepcopy(img.config.get("config") or {})
        state.diff_ids = list(img.diff_ids)
        return True

    async def _layer_from(self, upper: Path) -> Layer | None:
        if not any(upper.iterdir()):
            return None  # nothing changed: an empty layer, as dockerd marks it
        tmp = self.images.temp_path("build-")
        with open(tmp, "wb") as f:
            await asyncio.to_thread(layermod.write_layer_tar, upper, f)
        return await self.images.add_layer(tmp, consume=True)  # type: ignore[no-any-return]

    async def _commit(self, state: StageState, layer: Layer | None, cmd: list[str], container_id: str = "", *,
                      run_config: dict[str, Any] | None = None) -> StageState:
        created = now_rfc3339()
        image = copy.deepcopy(state.image)
        for k in ("rootfs", "id", "parent"):
            image.pop(k, None)
        image["created"] = created
        image["config"] = copy.deepcopy(state.config)
        image["container_config"] = run_config if run_config is not None else cache.run_config(state.config, cmd)
        if container_id:
            image["container"] = container_id
        hist: dict[str, Any] = {"created": created, "created_by": cache.created_by(cmd)}
        if layer is None:
            hist["empty_layer"] = True
        if image.get("author"):
            hist["author"] = image["author"]
        image["history"] = [*(image.get("history") or []), hist]
        diff_ids = [*state.diff_ids, *([layer.diff_id] if layer else [])]
        layers = [self.images.get_layer(d) for d in diff_ids]
        new = await self.images.create_image(image, layers, parent=state.image_id)
        return StageState(new.id, copy.deepcopy(new.config), state.config, diff_ids, state.args, state.cmd_set)

    # -- a scratch mount of the current image (COPY, ADD, WORKDIR) ---------------------
    def _scratch_rootfs(self, state: StageState) -> Rootfs:
        rfs = Rootfs(self.containers.overlay, f"build-{secrets.token_hex(16)}")
        rfs.prepare([self.images.layer_path(d) / "diff" for d in state.diff_ids])
        return rfs

    async def _with_mounted(self, state: StageState, work: Callable[[Path], None]) -> Path:
        """Run ``work(merged)`` on a fresh overlay of the current image; returns its upper dir."""
        rfs = self._scratch_rootfs(state)
        try:
            merged = await asyncio.to_thread(rfs.mount)
            try:
                await asyncio.to_thread(work, merged)
            finally:
                await asyncio.to_thread(rfs.unmount)
        except BaseException:
            await asyncio.to_thread(rfs.remove)
            raise
        return rfs.upper

    async def workdir_(self, ins: Instruction, state: StageState) -> None:
        cs = self._cfg_state(state)
        state.config["WorkingDir"] = metadata.workdir(state.config.get("WorkingDir") or "/",
                                                      metadata.expand(ins.args[0], cs))
        path = state.config["WorkingDir"]

        def work(merged: Path) -> None:
            fsops.make_dirs(merged, path)

        async def produce(st: StageState, cid: str) -> Path | None:
            if not cid:
                return await self._with_mounted(st, work)
            rfs = self.containers.rootfs(self.containers.get(cid))
            merged = await asyncio.to_thread(rfs.mount)
            try:
                await asyncio.to_thread(work, merged)
            finally:
                await asyncio.to_thread(rfs.unmount)
            return rfs.upper  # type: ignore[no-any-return]

        await self._step(state, cache.nop_cmd(state.config, "WORKDIR " + path), in_container=True, produce=produce)

    # -- COPY / ADD --------------------------------------------------------------------
    async def copy(self, ins: Instruction, state: StageState) -> None:
        cs = self._cfg_state(state)
        words = [metadata.expand(a, cs) for a in ins.args]
        sources, dest_arg = words[:-1], words[-1]
        chown = metadata.expand(ins.flag("chown") or "", cs)
        src_from = ins.flag("from")
        src_mount: Rootfs | None = None
        try:
            if src_from is not None:
                root, src_mount = await self._from_root(src_from)
            else:
                root = self.context
            infos = await asyncio.to_thread(self._source_infos, ins.cmd, root, sources, src_from is not None)
            dest = copyspec.destination(dest_arg, state.config.get("WorkingDir") or "/")
            copyspec.check_source_count(ins.cmd, len(infos), dest)
            hashes = await asyncio.to_thread(lambda: [source_hash(p) for p in infos])
            comment = cache.copy_comment(ins.cmd, source_hash=copyspec.combined_hash(hashes), dest=dest,
                                         chown=chown)

            def work(merged: Path) -> None:
                uid, gid = (0, 0)
                if chown:
                    uid, gid = fsops.chown_ids(chown, fsops.read_file(merged, "/etc/passwd"),
                                               fsops.read_file(merged, "/etc/group"))
                for src in infos:
                    if ins.cmd == "ADD" and src_from is None and fsops.is_archive(src):
                        fsops.extract_archive(merged, src, dest, workdir=self.workdir)
                    elif src.is_dir() and not src.is_symlink():
                        fsops.copy_path(merged, src, dest, uid=uid, gid=gid)
                    else:
                        target = copyspec.file_target(dest, src.name, dest_is_dir=fsops.is_dir(merged, dest))
                        fsops.copy_path(merged, src, target, uid=uid, gid=gid)

            async def produce(st: StageState, _cid: str) -> Path | None:
                return await self._with_mounted(st, work)

            await self._step(state, cache.copy_cmd(state.config, comment), produce=produce)
        except OSError as exc:
            raise BuildError(f"{ins.cmd} failed: {exc}") from None
        finally:
            if src_mount is not None:
                await asyncio.to_thread(src_mount.remove)

    async def _from_root(self, name: str) -> tuple[Path, Rootfs]:
        """The filesystem ``COPY --from`` reads: an earlier stage or an image, mounted."""
        idx = None
        for i, st in self.stage_results.items():
            if str(i) == name or self.stage_names.get(i) == name.lower():
                idx = i
        if idx is not None:
            diff_ids = self.stage_results[idx].diff_ids
        else:
            image = await self._base_image(name)
            diff_ids = list(image.diff_ids)
        rfs = Rootfs(self.containers.overlay, f"build-{secrets.token_hex(16)}")
        rfs.prepare([self.images.layer_path(d) / "diff" for d in diff_ids])
        try:
            merged = await asyncio.to_thread(rfs.mount)
        except BaseException:
            await asyncio.to_thread(rfs.remove)
            raise
        return merged, rfs

    def _source_infos(self, cmd: str, root: Path, sources: list[str], from_image: bool) -> list[Path]:
        out: list[Path] = []
        for src in sources:
            if cmd == "ADD" and (src.startswith("http://") or src.startswith("https://") or src.startswith("git@")):
                raise BuildError("ADD from a URL is not supported by Skiff's builder (no downloads at build time); "
                                 "fetch the file into the build context and ADD it from there")
            if copyspec.has_wildcards(src):
                matched = copyspec.glob_matches(src, walk(root))
                out.extend(root / m for m in matched)
                continue
            rel = copyspec.clean_source(src)
            path = root / rel if rel else root
            if not os.path.lexists(path):
                if from_image:
                    raise BuildError(f"{cmd} failed: stat {('/' + rel)}: file does not exist")
                raise BuildError(f"{cmd} failed: file not found in build context or excluded by .dockerignore: "
                                 f"stat {rel}: file does not exist")
            out.append(path)
        if not out:
            raise BuildError(f"{cmd} failed: no source files were specified")
        return out

    # -- RUN -----------------------------------------------------------------------------
    async def run(self, ins: Instruction, state: StageState) -> None:
        if not state.image_id:
            raise BuildError("Please provide a source image with `from` prior to run")
        argv = metadata.command_line(ins, state.config)
        args_env = state.run_args()
        cache_cmd = cache.run_cache_cmd(argv, [a for a in args_env if a.split("=", 1)[0] not in BUILTIN_ARGS])
        run_config = cache.run_config(state.config, cache_cmd)
        if await self._probe(state, run_config):
            return
        upper, cid = await self._run_container(state, argv, args_env)
        try:
            layer = await self._layer_from(upper) if upper is not None else None
        finally:
            await self._remove_container(cid)
        new = await self._commit(state, layer, cache_cmd, cid, run_config=run_config)
        state.image_id, state.image, state.diff_ids = new.image_id, new.image, new.diff_ids

    async def _create_container(self, state: StageState, argv: list[str], args_env: list[str]) -> str:
        """A container of the step's image and config (" ---> Running in <id>")."""
        from skiff.nodeagent.runtime.containers.manager import ContainerError

        body = {
            "Image": state.image_id, "Cmd": argv, "Entrypoint": [],
            "Env": [*(state.config.get("Env") or []), *args_env],
            "WorkingDir": state.config.get("WorkingDir") or "", "User": state.config.get("User") or "",
            "AttachStdout": True, "AttachStderr": True,
            "HostConfig": {"NetworkMode": self.opts.network_mode or "default"},
        }
        try:
            rec = await self.containers.create(body, None)
        except ContainerError as exc:
            raise BuildError(exc.message) from None
        await self.out(f" ---> Running in {rec['Id'][:12]}\n")
        return str(rec["Id"])

    async def _run_container(self, state: StageState, argv: list[str], args_env: list[str]) -> tuple[Path, str]:
        from skiff.nodeagent.runtime.containers.manager import ContainerError

        m = self.containers
        cid = await self._create_container(state, argv, args_env)
        rec = m.get(cid)
        try:
            attach = asyncio.ensure_future(m.attach_streams(cid))
            await asyncio.sleep(0)  # registered before the start, so no output is missed
            try:
                await m.start(cid)
            except ContainerError as exc:
                attach.cancel()
                raise BuildError(exc.message) from None
            pump = asyncio.ensure_future(self._pump(attach))
            result = await m.wait(cid)
            try:
                await asyncio.wait_for(pump, 30)
            except asyncio.TimeoutError:
                pump.cancel()
            code = int(result.get("StatusCode") or 0)
            if code != 0:
                raise BuildError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code=code)
            upper = m.rootfs(rec).upper
            await asyncio.to_thread(_drop_mount_targets, upper, m.rootfs(rec).lower_file)
            return upper, cid
        except BaseException:
            await self._remove_container(cid, always=True)
            raise

    async def _pump(self, attach: asyncio.Future[Any]) -> None:
        try:
            reader, writer = await attach
        except (OSError, asyncio.CancelledError):
            return
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            while True:
                try:
                    head = await reader.readexactly(8)
                    data = await reader.readexactly(int.from_bytes(head[4:], "big"))
                except asyncio.IncompleteReadError:
                    break
                text = dec.decode(data)
                if text:
                    await self.out(text)
        finally:
            writer.close()

    async def _remove_container(self, cid: str, *, always: bool = False) -> None:
        if not cid:
            return
        if not always and not self.opts.remove and not self.opts.force_remove:
            return
        try:
            await self.containers.remove(cid, force=True, volumes=True)
        except Exception as exc:  # noqa: BLE001 - report, never mask the build's own error
            log.warning("removing build container %s: %s", cid[:12], exc)
            return
        if not always:
            await self.out(f"Removing intermediate container {cid[:12]}\n")



def _label_instruction(labels: dict[str, str]) -> Instruction:
    """``--label`` becomes a last LABEL step, as dockerd adds it."""
    args: list[str] = []
    parts = []
    for k, v in labels.items():
        args += [k, v]
        parts.append(f'"{k}"=\'{v}\'')
    return Instruction(cmd="LABEL", args=tuple(f"'{a}'" for a in args), json=False, flags=(),
                       original="LABEL " + " ".join(parts), line=0)


def _drop_mount_targets(upper: Path, lower_file: Path) -> None:
    """Remove the empty files the runtime made as bind-mount targets (and an /etc that
    was only copied up for them), unless the image had them or the step wrote them."""
    try:
        lowers = lower_file.read_text().split(":")
    except OSError:
        lowers = []
    for rel in _MOUNT_TARGETS:
        p = upper / rel
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if st.st_size == 0 and os.path.isfile(p) and not any(os.path.lexists(os.path.join(lo, rel)) for lo in lowers):
            p.unlink()
    etc = upper / "etc"
    try:
        if etc.is_dir() and not etc.is_symlink() and not any(etc.iterdir()):
            low = next((os.path.join(lo, "etc") for lo in lowers if os.path.isdir(os.path.join(lo, "etc"))), None)
            if low is not None:
                a, b = os.lstat(etc), os.lstat(low)
                opaque = False
                try:
                    opaque = os.getxattr(etc, "trusted.overlay.opaque") == b"y"
                except OSError:
                    pass
                if (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid) and not opaque:
                    etc.rmdir()
    except OSError:
        pass
