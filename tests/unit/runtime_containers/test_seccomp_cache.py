"""The compiled seccomp program cache: keyed by the whole profile, rebuilt when damaged."""
from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from skiff.nodeagent.runtime.oci import seccomp

try:
    ctypes.CDLL("libseccomp.so.2")
except OSError:  # pragma: no cover - libseccomp is installed by deploy/install.sh
    pytest.skip("libseccomp.so.2 is not installed", allow_module_level=True)


def test_cached_program_is_the_compiled_one_and_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prof = seccomp.docker_default(["CAP_CHOWN"])
    fresh = seccomp.compile_bpf(prof, ctypes)
    assert fresh and len(fresh) % 8 == 0
    first = seccomp.cached_program(prof, ctypes, str(tmp_path / "c"))
    assert first == fresh
    assert len(list((tmp_path / "c").glob("*.bpf"))) == 1

    def no_compile(*_a: object) -> bytes:
        raise AssertionError("compiled again")

    monkeypatch.setattr(seccomp, "compile_bpf", no_compile)
    assert seccomp.cached_program(prof, ctypes, str(tmp_path / "c")) == fresh


def test_another_profile_gets_its_own_program(tmp_path: Path) -> None:
    a = seccomp.cached_program(seccomp.docker_default([]), ctypes, str(tmp_path))
    b = seccomp.cached_program(seccomp.docker_default(["CAP_SYS_ADMIN"]), ctypes, str(tmp_path))
    assert a != b
    assert len(list(tmp_path.glob("*.bpf"))) == 2


def test_damaged_entry_is_compiled_again(tmp_path: Path) -> None:
    prof = seccomp.docker_default([])
    good = seccomp.cached_program(prof, ctypes, str(tmp_path))
    (entry,) = tmp_path.glob("*.bpf")
    ident = seccomp.cache_identity(prof, ctypes)
    assert entry.read_bytes() == ident + b"\0" + good
    entry.write_bytes(ident + b"\0" + b"\x00" * 5)  # not whole instructions
    assert seccomp.cached_program(prof, ctypes, str(tmp_path)) == good
    assert entry.read_bytes() == ident + b"\0" + good


def test_entry_of_another_identity_under_the_same_name_is_not_used(tmp_path: Path) -> None:
    prof = seccomp.docker_default([])
    good = seccomp.cached_program(prof, ctypes, str(tmp_path))
    (entry,) = tmp_path.glob("*.bpf")
    other = seccomp.compile_bpf(seccomp.docker_default(["CAP_SYS_ADMIN"]), ctypes)
    entry.write_bytes(b'["another profile"]\0' + other)  # a checksum collision, simulated
    assert seccomp.cached_program(prof, ctypes, str(tmp_path)) == good


def test_bad_rule_is_a_value_error_naming_the_field() -> None:
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "NOPE"}]}]}
    with pytest.raises(ValueError, match=r"linux.seccomp.syscalls\[0\].args\[0\].op"):
        seccomp.compile_bpf(prof, ctypes)
