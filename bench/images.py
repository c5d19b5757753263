#!/usr/bin/env python3
"""Pull-and-unpack benchmark: Skiff's engine vs skopeo vs containerd, in one run.

    .venv/bin/python bench/images.py [--runs 3] [--layer-mb 25] [--layers 4]

Starts a loopback docker-registry with a ~100 MB multi-layer image built from
busybox-static plus incompressible data layers (deploy/images/build_images.py),
then times cold pulls (empty store each run) with:

* Skiff: ``docker pull`` through ``skiff daemon`` (download, verify, unpack
  into overlayfs-ready layer dirs);
* skopeo: ``skopeo copy docker://... oci:DIR`` (download + verify only: skopeo
  does not unpack, so it is a floor for the transfer part);
* containerd: ``ctr images pull --plain-http`` (download + unpack into its
  overlayfs snapshotter) against a private containerd, when containerd runs.

Prints the median of each and the ratio to Skiff (ratio > 1: slower than Skiff).
Everything lives in a temp dir and is removed; only loopback is used.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy" / "images"))

from tests.support.engine import docker_registry, skiff_daemon, wait_for  # noqa: E402


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    return dt


def bench_skiff(work: Path, ref: str, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        with skiff_daemon(work / f"skiff{i}") as d:
            times.append(timed(["docker", "pull", "-q", ref], env=d.env()))
            d.docker("image", "inspect", ref)
        shutil.rmtree(work / f"skiff{i}", ignore_errors=True)
    return times


def bench_skopeo(work: Path, ref: str, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        dest = work / f"oci{i}"
        times.append(timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                            f"docker://{ref}", f"oci:{dest}:latest"]))
        shutil.rmtree(dest, ignore_errors=True)
    return times


def bench_containerd(work: Path, ref: str, runs: int) -> list[float] | str:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        return "containerd not installed"
    times = []
    for i in range(runs):
        base = work / f"ctrd{i}"
        base.mkdir()
        sock = base / "containerd.sock"
        cfg = base / "config.toml"
        cfg.write_text(
            "version = 2\n"
            f'root = "{base}/root"\nstate = "{base}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{sock}"\n'
            f'[ttrpc]\n  address = "{base}/ttrpc.sock"\n'
            f'[debug]\n  address = ""\n'
            "[metrics]\n  address = \"\"\n"
        )
        log = base / "containerd.log"
        with open(log, "wb") as lf:
            proc = subprocess.Popen(["containerd", "--config", str(cfg)], stdout=lf, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for(lambda: subprocess.run(["ctr", "--address", str(sock), "version"],
                                                capture_output=True).returncode == 0,
                         timeout=30, what="containerd", proc=proc, log=log)
            except (RuntimeError, TimeoutError) as exc:
                return f"containerd does not run here: {str(exc).splitlines()[0]}"
            times.append(timed(["ctr", "--address", str(sock), "images", "pull", "--plain-http", ref]))
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            subprocess.run(["umount", "-R", str(base / "root")], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="pull+unpack benchmark: skiff vs skopeo vs containerd")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--layer-mb", type=int, default=25)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args(argv)
    import build_images  # type: ignore[import-not-found]

    work = Path(tempfile.mkdtemp(prefix="skiff-bench-images-"))
    try:
        with docker_registry(work / "registry") as reg:
            layers, config = build_images.big_image(layer_mb=args.layer_mb, count=args.layers)
            archive = work / "big.tar"
            build_images.write_docker_archive(archive, layers, config, ["bigimage:latest"])
            size_mb = sum(len(layer) for layer in layers) / 1e6
            del layers
            build_images.skopeo_push(archive, f"{reg.host}/bigimage:latest", tls_verify=False, creds=None)
            archive.unlink()
            ref = f"{reg.host}/bigimage:latest"
            print(f"image: {ref}, {args.layers + 1} layers, {size_mb:.1f} MB uncompressed; "
                  f"{args.runs} cold runs each, median shown")
            results: dict[str, list[float] | str] = {
                "skiff (docker pull)": bench_skiff(work, ref, args.runs),
                "skopeo copy -> oci dir (no unpack)": bench_skopeo(work, ref, args.runs),
                "containerd (ctr images pull)": bench_containerd(work, ref, args.runs),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(results["skiff (docker pull)"])  # type: ignore[arg-type]
    print(f"{'tool':<38} {'median s':>9} {'MB/s':>8} {'ratio vs skiff':>15}")
    for name, val in results.items():
        if isinstance(val, str):
            print(f"{name:<38} {'-':>9} {'-':>8} {'-':>15}   ({val})")
            continue
        med = statistics.median(val)
        print(f"{name:<38} {med:>9.3f} {size_mb / med:>8.1f} {med / base:>15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
