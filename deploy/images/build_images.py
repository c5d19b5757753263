#!/usr/bin/env python3
"""Build the images Skiff's demo and tests use, from Debian packages, and push them.

    python3 deploy/images/build_images.py [--registry 127.0.0.1:5000] [--out DIR]
        [--tls-verify] [--creds USER:PASS] [--only busybox,...] [--repo-prefix library/]
        [--tags latest,1.36]

Images (no download from any public hub):

* ``busybox:latest``  one layer: /bin/busybox from Debian's busybox-static, its
  applet links, /etc/passwd, /etc/group; ``CMD ["sh"]``.
* ``busybox-multi:latest`` busybox plus two small layers (a file, then a
  whiteout of it), for layer and history tests.
* ``webserver:latest`` busybox plus /www/index.html; runs busybox's httpd on
  port 80 in the foreground (``EXPOSE 80``), for Service and port demos.
* ``pause:latest`` busybox whose entrypoint sleeps for ever: the sandbox image of a lab
  node that runs containerd.
* ``bigimage:latest`` (only with ``--only bigimage``): busybox plus 4 layers of
  ~25 MB of incompressible data, for bench/images.py.

Each is written as a ``docker save`` archive (``DIR/<name>.tar``) and pushed
with ``skopeo copy docker-archive:... docker://REGISTRY/<name>:latest``. The
archive writer is importable (tests use :func:`busybox_archive`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BUSYBOX = "/bin/busybox"
EPOCH = 1700000000


def _created() -> str:
    return dt.datetime.fromtimestamp(EPOCH, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = EPOCH
    tar.addfile(info)


def _file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = EPOCH
    tar.addfile(info, io.BytesIO(data))


def busybox_layer() -> bytes:
    """The busybox root filesystem as an uncompressed layer tar."""
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys",
                  "root", "home", "var", "var/log", "run"):
            _dir(tar, d, 0o700 if d == "root" else 0o755)
        _dir(tar, "tmp", 0o1777)
        with open(BUSYBOX, "rb") as fh:
            _file(tar, "bin/busybox", fh.read(), 0o755)
        for path in applets:
            if path == "bin/busybox":
                continue
            info = tarfile.TarInfo(path)
            info.type = tarfile.SYMTYPE
            info.linkname = "/bin/busybox"
            info.mtime = EPOCH
            info.mode = 0o777
            tar.addfile(info)
        _file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        _file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        _file(tar, "etc/hostname", b"busybox\n")
    return buf.getvalue()


def layer_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({os.path.dirname(n) for n in files if os.path.dirname(n)})
        for d in dirs:
            _dir(tar, d)
        for name, data in files.items():
            _file(tar, name, data)
    return buf.getvalue()


def image_config(layers: list[bytes], history: list[dict[str, object]], *, cmd: list[str],
                 extra: dict[str, object] | None = None) -> bytes:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "created": _created(),
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd,
                   **(extra or {})},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]},
        "history": history,
    }
    return json.dumps(cfg, separators=(",", ":")).encode()


def write_docker_archive(out: Path, layers: list[bytes], config: bytes, tags: list[str]) -> None:
    cfg_hex = hashlib.sha256(config).hexdigest()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        names = []
        for layer in layers:
            h = hashlib.sha256(layer).hexdigest()
            _dir(tar, h)
            _file(tar, f"{h}/layer.tar", layer)
            names.append(f"{h}/layer.tar")
        _file(tar, f"{cfg_hex}.json", config)
        _file(tar, "manifest.json", json.dumps([{"Config": f"{cfg_hex}.json", "RepoTags": tags, "Layers": names}]).encode())


def busybox_images() -> dict[str, tuple[list[bytes], bytes]]:
    base = busybox_layer()
    hist_base = {"created": _created(), "created_by": "/bin/sh -c #(nop) ADD file:busybox-static in / "}
    hist_cmd = {"created": _created(), "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True}
    www = layer_of({"www/index.html": b"<html><body><h1>Hello from Skiff</h1></body></html>\n"})
    one = layer_of({"etc/motd": b"hello from skiff\n"})
    two = layer_of({"etc/.wh.motd": b"", "srv/data.txt": b"layer three\n"})
    return {
        "busybox": ([base], image_config([base], [hist_base, hist_cmd], cmd=["sh"])),
        "webserver": ([base, www], image_config([base, www], [
            hist_base,
            {"created": _created(), "created_by": "/bin/sh -c #(nop) COPY index.html /www/index.html"},
            {"created": _created(), "created_by": '/bin/sh -c #(nop)  EXPOSE 80/tcp', "empty_layer": True},
            {"created": _created(), "created_by": '/bin/sh -c #(nop)  CMD ["httpd" "-f" "-v" "-p" "80" "-h" "/www"]',
             "empty_layer": True},
        ], cmd=["httpd", "-f", "-v", "-p", "80", "-h", "/www"], extra={"ExposedPorts": {"80/tcp": {}}})),
        "pause": ([base], image_config([base], [
            hist_base,
            {"created": _created(), "created_by": '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sleep" "2147483647"]',
             "empty_layer": True},
        ], cmd=[], extra={"Entrypoint": ["/bin/sleep", "2147483647"]})),
        "busybox-multi": ([base, one, two], image_config([base, one, two], [
            hist_base, hist_cmd,
            {"created": _created(), "created_by": "/bin/sh -c echo hello from skiff > /etc/motd"},
            {"created": _created(), "created_by": "/bin/sh -c rm /etc/motd && echo layer three > /srv/data.txt"},
        ], cmd=["sh"])),
    }


def big_image(layer_mb: int = 25, count: int = 4) -> tuple[list[bytes], bytes]:
    base = busybox_layer()
    layers = [base]
    hist = [{"created": _created(), "created_by": "/bin/sh -c #(nop) ADD file:busybox-static in / "}]
    seed = hashlib.sha256(b"skiff-bench").digest()
    for i in range(count):
        data = bytearray()
        block = hashlib.sha256(seed + bytes([i])).digest()
        while len(data) < layer_mb * 1_000_000:
            block = hashlib.sha256(block).digest()
            data += block * 1  # incompressible
        layers.append(layer_of({f"data/blob{i}.bin": bytes(data)}))
        hist.append({"created": _created(), "created_by": f"/bin/sh -c add data/blob{i}.bin"})
    return layers, image_config(layers, hist, cmd=["sh"])


def busybox_archive(out: Path, tags: list[str], name: str = "busybox") -> Path:
    layers, config = busybox_images()[name]
    write_docker_archive(out, layers, config, tags)
    return out


def skopeo_push(archive: Path, dest: str, *, tls_verify: bool, creds: str | None) -> None:
    cmd = ["skopeo", "copy", "--quiet", f"--dest-tls-verify={'true' if tls_verify else 'false'}"]
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"docker-archive:{archive}", f"docker://{dest}"]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", help="HOST:PORT to push to (without it, only --out's archives are written)")
    ap.add_argument("--out", help="keep the archives in this directory")
    ap.add_argument("--tls-verify", action="store_true")
    ap.add_argument("--creds", help="USER:PASS for the registry")
    ap.add_argument("--only", default="busybox,busybox-multi,webserver,pause")
    ap.add_argument("--repo-prefix", default="",
                    help="push as REGISTRY/PREFIXNAME (the lab uses library/, where a Docker Hub mirror looks)")
    ap.add_argument("--tags", default="latest", help="comma-separated tags to push (default %(default)s)")
    args = ap.parse_args(argv)
    if not args.registry and not args.out:
        ap.error("give --registry to push to, or --out for the archives (or both)")
    tags = [t for t in args.tags.split(",") if t]
    wanted = args.only.split(",")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="skiff-images-"))
    out.mkdir(parents=True, exist_ok=True)
    images = busybox_images()
    if "bigimage" in wanted:
        images["bigimage"] = big_image()
    for name in wanted:
        layers, config = images[name]
        archive = out / f"{name}.tar"
        write_docker_archive(archive, layers, config, [f"{name}:latest"])
        if not args.registry:
            print(f"wrote {archive} ({len(layers)} layers)")
        for tag in tags if args.registry else []:
            dest = f"{args.registry}/{args.repo_prefix}{name}:{tag}"
            skopeo_push(archive, dest, tls_verify=args.tls_verify, creds=args.creds)
            print(f"pushed {dest} ({len(layers)} layers)")
    if not args.out:
        for f in out.iterdir():
            f.unlink()
        out.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
