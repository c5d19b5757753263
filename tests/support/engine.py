"""Real ``skiff daemon`` and ``docker-registry`` processes for tests, stopped whatever happens.

* :func:`skiff_daemon` starts the engine on a temp root and socket and waits for
  ``/_ping``; ``daemon.docker(*args)`` runs the real docker CLI against it with a
  private ``DOCKER_CONFIG``.
* :func:`docker_registry` starts Debian's ``docker-registry`` (distribution 2.8)
  on 127.0.0.1 with temp storage: plain, htpasswd basic auth (TLS, as it
  requires), or token auth (``token=TokenIssuer``; see :class:`TokenIssuer`).
* :func:`push_test_images` builds busybox images from busybox-static
  (deploy/images/build_images.py) and pushes them with skopeo.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIFF = [sys.executable, "-m", "skiff.cmd.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``timeout``: how tests and benches stop what they started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(cond, *, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = cond()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail}")
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    raise TimeoutError(f"timed out waiting for {what}\n{tail}")


def nsenter(netns: str | None) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{netns}"] if netns else []


@contextlib.contextmanager
def network_namespace(address: str) -> Iterator[str]:
    """A fresh network namespace with lo up and an interface holding ``address``
    (CIDR form), so a daemon inside has a non-loopback address; removed afterwards."""
    name = f"skiffimg-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # a veth pair with both ends inside (no dummy module on every kernel)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
                    ["ip", "addr", "add", address, "dev", "d0"], ["ip", "link", "set", "d1", "up"],
                    ["ip", "link", "set", "d0", "up"]):
            subprocess.run([*nsenter(name), *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


# ---------------------------------------------------------------------------- daemon
@dataclass
class RunningDaemon:
    root: Path
    socket: Path
    docker_config: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        return dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.docker_config))

    def docker(self, *args: str, input: bytes | None = None, check: bool = True,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", *args], env=self.env(), capture_output=True, timeout=timeout,
            input=input.decode("latin-1") if input is not None else None, text=True,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                f"--- daemon log ---\n{self.log_tail()}"
            )
        return proc

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in s.recv(64)
    except OSError:
        return False


@contextlib.contextmanager
def skiff_daemon(workdir: Path, *, args: tuple[str, ...] = (), timeout: float = 30,
                 netns: str | None = None) -> Iterator[RunningDaemon]:
    """``netns``: run the daemon in that network namespace (made by the test)."""
    workdir.mkdir(parents=True, exist_ok=True)
    root, sock, log = workdir / "root", workdir / "skiff.sock", workdir / "daemon.log"
    cfg = workdir / "docker-config"
    cfg.mkdir(exist_ok=True)
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            [*nsenter(netns), *SKIFF, "daemon", "--root", str(root), "--host", f"unix://{sock}", *args],
            stdout=logf, stderr=subprocess.STDOUT, cwd=REPO,
        )
    try:
        wait_for(lambda: _ping(sock), timeout=timeout, what="skiff daemon /_ping", proc=proc, log=log)
        yield RunningDaemon(root=root, socket=sock, docker_config=cfg, process=proc, log=log)
    finally:
        stop_process(proc)


# -------------------------------------------------------------------------- registry
def self_signed_cert(directory: Path, *, cn: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (TLS for the registry, token signing)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    crt, pem = directory / f"{cn}.crt", directory / f"{cn}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
    return crt, pem


@dataclass
class TokenIssuer:
    """A small token server (the Docker Hub flow): checks Basic creds, signs an RS256 JWT
    with an ``x5c`` header that the registry verifies against ``rootcertbundle``."""

    users: dict[str, str]
    service: str = "skiff-test-registry"
    issuer: str = "skiff-test-issuer"
    port: int = 0
    cert: Path | None = None
    key: Path | None = None
    requests: list[dict[str, object]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def _b64(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def _sign(self, claims: dict[str, object]) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        assert self.cert and self.key
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
        signing_input = f"{self._b64(json.dumps(header).encode())}.{self._b64(json.dumps(claims).encode())}"
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
        return f"{signing_input}.{self._b64(sig)}"

    def start(self, directory: Path) -> None:
        from aiohttp import web

        self.cert, self.key = self_signed_cert(directory, cn="token-issuer")
        self.port = free_port()
        started = threading.Event()

        async def token(request: web.Request) -> web.Response:
            user = ""
            authz = request.headers.get("Authorization", "")
            if authz.startswith("Basic "):
                u, _, p = base64.b64decode(authz[6:]).decode().partition(":")
                if self.users.get(u) != p:
                    return web.json_response({"details": "incorrect username or password"}, status=401)
                user = u
            scopes = request.query.getall("scope", [])
            self.requests.append({"user": user, "scopes": scopes})
            access = []
            for s in scopes:
                kind, _, rest = s.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name,
                               "actions": actions.split(",") if user else []})
            now = int(time.time())
            claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + 300,
                      "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
            return web.json_response({"token": self._sign(claims), "expires_in": 300})

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/token", token)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


@dataclass
class RunningRegistry:
    host: str
    storage: Path
    process: subprocess.Popen[bytes]
    log: Path
    tls: bool = False
    ca: Path | None = None
    users: dict[str, str] = field(default_factory=dict)
    netns: str | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def blob_data_path(self, digest: str) -> Path:
        h = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / h[:2] / h / "data"


@contextlib.contextmanager
def docker_registry(workdir: Path, *, htpasswd: dict[str, str] | None = None,
                    token: TokenIssuer | None = None, timeout: float = 20,
                    log_level: str = "warn", netns: str | None = None,
                    bind: str = "127.0.0.1") -> Iterator[RunningRegistry]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port() if netns is None else 5000
    storage = workdir / "storage"
    log = workdir / "registry.log"
    lines = [
        "version: 0.1",
        "log:", f"  level: {log_level}",
        "storage:", "  filesystem:", f"    rootdirectory: {storage}", "  delete:", "    enabled: true",
        "http:", f"  addr: {bind}:{port}", f"  secret: {uuid.uuid4().hex}",
    ]
    tls, ca = False, None
    if htpasswd is not None:
        crt, key = self_signed_cert(workdir)
        lines += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        pw = workdir / "htpasswd"
        pw.write_text("".join(
            subprocess.run(["htpasswd", "-Bbn", u, p], check=True, capture_output=True, text=True).stdout.strip() + "\n"
            for u, p in htpasswd.items()))
        lines += ["auth:", "  htpasswd:", "    realm: skiff-test", f"    path: {pw}"]
        tls, ca = True, crt
    if token is not None:
        token.start(workdir)
        lines += ["auth:", "  token:", f"    realm: {token.realm}", f"    service: {token.service}",
                  f"    issuer: {token.issuer}", f"    rootcertbundle: {token.cert}"]
    cfg = workdir / "config.yml"
    cfg.write_text("\n".join(lines) + "\n")
    with open(log, "ab") as logf:
        proc = subprocess.Popen([*nsenter(netns), "docker-registry", "serve", str(cfg)],
                                stdout=logf, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            if netns is not None:
                probe = f"import socket; socket.create_connection(('{bind}', {port}), timeout=0.5)"
                return subprocess.run([*nsenter(netns), sys.executable, "-c", probe],
                                      capture_output=True).returncode == 0
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=timeout, what="docker-registry", proc=proc, log=log)
        yield RunningRegistry(host=f"{bind}:{port}", netns=netns, storage=storage, process=proc, log=log,
                              tls=tls, ca=ca, users=dict(htpasswd or (token.users if token else {})))
    finally:
        stop_process(proc)
        if token is not None:
            token.stop()


def push_test_images(registry: RunningRegistry, *, only: str = "busybox,busybox-multi,webserver",
                     creds: str | None = None) -> None:
    cmd = [*nsenter(registry.netns), sys.executable, str(REPO / "deploy/images/build_images.py"),
           "--registry", registry.host, "--only", only]
    if creds:
        cmd += ["--creds", creds]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# ------------------------------------------------------------------ container engine
@contextlib.contextmanager
def bare_network_namespace(prefix: str = "skiffctr") -> Iterator[str]:
    """A fresh network namespace with only ``lo`` (up); removed afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run([*nsenter(name), "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def load_busybox(daemon: RunningDaemon, workdir: Path, *, name: str = "busybox") -> None:
    sys.path.insert(0, str(REPO / "deploy/images"))
    try:
        from build_images import busybox_archive  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    archive = busybox_archive(workdir / f"{name}.tar", [f"{name}:latest"], name=name)
    daemon.docker("load", "-i", str(archive))


class ContainerEngine:
    """``skiff daemon`` for container tests: its own netns and cgroup parent; it can be
    killed with SIGKILL and started again on the same root. ``cleanup()`` removes
    whatever its containers left (processes, overlay mounts, cgroups) by PID and path."""

    def __init__(self, workdir: Path, netns: str) -> None:
        from skiff.nodeagent.runtime.cgroups.detect import own_cgroups

        self.workdir = workdir
        self.netns = netns
        self.cgroup_parent = f"skiff-test-{uuid.uuid4().hex[:10]}"
        self.own = own_cgroups()  # the daemon inherits the test's cgroup
        self.daemon: RunningDaemon | None = None
        self._stack: contextlib.ExitStack | None = None
        self.root = workdir / "root"

    def start(self) -> RunningDaemon:
        assert self._stack is None
        self._stack = contextlib.ExitStack()
        self.daemon = self._stack.enter_context(skiff_daemon(
            self.workdir, netns=self.netns, args=("--cgroup-parent", self.cgroup_parent, "--log-level", "debug")))
        return self.daemon

    def kill9(self) -> None:
        assert self.daemon is not None and self._stack is not None
        self.daemon.process.kill()
        self.daemon.process.wait()
        self._stack.close()
        self._stack = None
        self.daemon = None

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = None
        self.daemon = None

    def docker(self, *args: str, **kw):  # type: ignore[no-untyped-def]
        assert self.daemon is not None
        return self.daemon.docker(*args, **kw)

    # -- what containers leave behind -------------------------------------------
    def cgroup_dirs(self) -> list[Path]:
        from skiff.nodeagent.runtime.cgroups.detect import read_hierarchies

        hier = read_hierarchies()
        roots = [(c, m) for c, m in hier.v1.items()] + ([("", hier.unified)] if hier.unified else [])
        out = []
        for ctrl, mnt in roots:
            p = Path(mnt) / self.own.get(ctrl, "/").lstrip("/") / self.cgroup_parent
            if p.is_dir():
                out.append(p)
        return out

    def container_cgroups(self) -> list[str]:
        return sorted({c.name for d in self.cgroup_dirs() for c in d.iterdir() if c.is_dir()})

    def mounts(self) -> list[str]:
        root = str(self.root) + "/"
        with open("/proc/self/mountinfo") as f:
            return [ln.split()[4] for ln in f if ln.split()[4].startswith(root)]

    def processes(self) -> list[int]:
        """Shims, runtimes and container processes of this engine (not the daemon)."""
        pids: set[int] = set()
        needle = str(self.root).encode()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                if needle in (d / "cmdline").read_bytes():
                    pids.add(int(d.name))
            except OSError:
                continue
        for cg in self.cgroup_dirs():
            for procs in cg.rglob("cgroup.procs"):
                try:
                    pids.update(int(x) for x in procs.read_text().split())
                except OSError:
                    continue
        if self.daemon is not None:
            pids.discard(self.daemon.process.pid)
        return sorted(pids)

    def cleanup(self) -> None:
        if self.daemon is not None and self.daemon.process.poll() is None:
            try:
                ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False, timeout=60)
            except subprocess.TimeoutExpired:
                pass
        self.stop()
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        for target in sorted(self.mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        for cg in self.cgroup_dirs():
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                cg.rmdir()


@contextlib.contextmanager
def container_engine(workdir: Path) -> Iterator[ContainerEngine]:
    """A started engine with ``busybox:latest`` loaded; everything removed afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    with bare_network_namespace() as ns:
        eng = ContainerEngine(workdir, ns)
        try:
            d = eng.start()
            load_busybox(d, workdir)
            yield eng
        finally:
            eng.cleanup()
