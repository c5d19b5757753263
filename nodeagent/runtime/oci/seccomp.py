"""Seccomp: Docker's default profile semantics and a libseccomp loader.

``docker_default(caps)`` resolves Docker's default profile (an allowlist; every
other syscall fails with EPERM; namespace-creating ``clone`` flags, ``clone3``,
``mount``, ``ptrace`` … only when the matching capability is granted) into the
OCI ``linux.seccomp`` object the engine writes into a bundle, so ``runc`` and
``crun`` apply the same filter. ``load`` compiles an OCI ``linux.seccomp``
object with libseccomp (already a dependency of runc and crun) through ctypes.
"""
from __future__ import annotations

from typing import Any

_ALLOW = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr
lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat
mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl
msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid
setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat
shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range
syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink
unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
process_vm_readv process_vm_writev ptrace arch_prctl modify_ldt
""".split()

# Syscalls allowed only with a capability (Docker's "includes": {"caps": [...]}).
_BY_CAP: dict[str, list[str]] = {
    "CAP_SYS_ADMIN": """bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick
        lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open quotactl
        quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare""".split(),
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}
_NS_CLONE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_AF_VSOCK = 40
EPERM = 1
ENOSYS = 38


def docker_default(caps: list[str] | set[str]) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object Docker generates for a container with ``caps``."""
    caps = set(caps)
    allow = list(_ALLOW)
    for cap, names in _BY_CAP.items():
        if cap in caps:
            allow.extend(n for n in names if n not in allow)
    rules: list[dict[str, Any]] = [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
    for value in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF):
        rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]})
    rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": _AF_VSOCK, "op": "SCMP_CMP_NE"}]})
    if "CAP_SYS_ADMIN" not in caps:
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": _NS_CLONE_FLAGS, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]})
        # glibc falls back to clone() on ENOSYS, which the rule above then checks.
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": rules}


_ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
            "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
            "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
            "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_ARCHES = {"SCMP_ARCH_X86": 0x40000003, "SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X32": 0x4000003E}
_SCMP_FLTATR_CTL_NNP = 3


def action_code(name: str, errno: int | None, default_errno: int = EPERM) -> int:
    if name not in _ACTIONS:
        raise ValueError(f"linux.seccomp: unknown action {name!r}")
    code = _ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        code |= (default_errno if errno is None else errno) & 0xFFFF
    return code


_LIB: Any = None


def preload(ctypes: Any) -> None:
    """Open libseccomp now: after pivot_root the host's library path is gone."""
    global _LIB
    if _LIB is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as exc:
            raise OSError(f"linux.seccomp: libseccomp.so.2 is needed to apply a filter ({exc})") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        _LIB = lib


def compile_bpf(profile: dict[str, Any], ctypes: Any) -> bytes:
    """The classic BPF program libseccomp makes of ``profile`` (OCI ``linux.seccomp``): the
    same program ``seccomp_load`` would install, exported instead of loaded."""
    import os

    preload(ctypes)
    lib = _LIB

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    default_errno = int(profile.get("defaultErrnoRet", EPERM))
    default = action_code(profile.get("defaultAction", "SCMP_ACT_ALLOW"), None, default_errno)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError("seccomp_init failed")
    vp = ctypes.c_void_p(ctx)
    try:
        lib.seccomp_attr_set(vp, _SCMP_FLTATR_CTL_NNP, 0)
        for arch in profile.get("architectures") or []:
            token = _ARCHES.get(arch)
            if token is not None:
                lib.seccomp_arch_add(vp, ctypes.c_uint32(token))  # EEXIST for native: fine
        for i, rule in enumerate(profile.get("syscalls") or []):
            act = action_code(rule.get("action", ""), rule.get("errnoRet"), default_errno)
            if act == default:
                continue
            args = rule.get("args") or []
            arr = (ArgCmp * max(len(args), 1))()
            for j, a in enumerate(args):
                if a.get("op") not in _OPS:
                    raise ValueError(f"linux.seccomp.syscalls[{i}].args[{j}].op: unknown {a.get('op')!r}")
                arr[j] = ArgCmp(int(a["index"]), _OPS[a["op"]], int(a.get("value", 0)),
                                int(a.get("valueTwo", 0)))
            for name in rule.get("names") or []:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr < 0:
                    continue  # not a syscall on this architecture
                rc = lib.seccomp_rule_add_array(vp, ctypes.c_uint32(act), nr, len(args), arr)
                if rc < 0 and rc != -17:
                    raise OSError(-rc, f"seccomp rule for {name}: {rc}")
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(vp, fd)
            if rc < 0:
                raise OSError(-rc, "seccomp_export_bpf failed")
            size = os.lseek(fd, 0, os.SEEK_CUR)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(vp)


_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


def install(bpf: bytes, ctypes: Any) -> None:
    """Install a compiled program on the calling thread, as ``seccomp_load`` does with
    libseccomp's default attributes (no TSYNC/LOG flags; no_new_privs left to the caller)."""
    import os

    if not bpf or len(bpf) % _SOCK_FILTER_SIZE:
        raise OSError(22, f"seccomp: a BPF program of {len(bpf)} bytes is not whole instructions")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // _SOCK_FILTER_SIZE, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(prog),
                    ctypes.c_ulong(0), ctypes.c_ulong(0))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp_load failed: {os.strerror(err)}")


def load(profile: dict[str, Any], ctypes: Any) -> None:
    """Compile and install ``profile`` (OCI ``linux.seccomp``) on the calling thread."""
    install(compile_bpf(profile, ctypes), ctypes)


CACHE_FORMAT = "1"


def cache_identity(profile: dict[str, Any], ctypes: Any) -> bytes:
    """What a compiled program depends on: the whole profile, libseccomp's version, the machine."""
    import json
    import os

    preload(ctypes)
    lib = _LIB
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
    v = lib.seccomp_version().contents
    return json.dumps([CACHE_FORMAT, list(v), os.uname().machine, profile], sort_keys=True).encode()


def cached_program(profile: dict[str, Any], ctypes: Any, cache_dir: str | None) -> bytes:
    """The compiled program of ``profile``, from ``cache_dir`` when an earlier container
    compiled it (compiling Docker's default profile through ctypes costs ~10 ms per start).

    An entry holds its identity (:func:`cache_identity`), a NUL, then the program; it is
    used only when that identity is exactly ours (the file name is just a checksum of it,
    so no hash module is imported). A missing, foreign or malformed entry is compiled again
    and rewritten.
    """
    import os
    import zlib

    if not cache_dir:
        return compile_bpf(profile, ctypes)
    ident = cache_identity(profile, ctypes)
    path = os.path.join(cache_dir, f"{zlib.crc32(ident):08x}-{len(ident)}.bpf")
    try:
        with open(path, "rb") as f:
            stored, _, data = f.read().partition(b"\0")
        if stored == ident and data and len(data) % _SOCK_FILTER_SIZE == 0:
            return data
    except OSError:
        pass
    data = compile_bpf(profile, ctypes)
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, ident + b"\0" + data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full state dir: the next start compiles again
    return data
