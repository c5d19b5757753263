"""Pure parts of the engine's containers: Docker config → OCI, restart policies, logs, names."""
from __future__ import annotations

import random
import signal

import pytest

from skiff.nodeagent.runtime.containers import dockerspec, logs, names, restart
from skiff.nodeagent.runtime.containers.restart import Policy


# -- command and env ------------------------------------------------------------
@pytest.mark.parametrize(("config", "image", "want"), [
    ({}, {"Cmd": ["sh"]}, ["sh"]),
    ({"Cmd": ["echo", "hi"]}, {"Cmd": ["sh"]}, ["echo", "hi"]),
    ({}, {"Entrypoint": ["/init"], "Cmd": ["--flag"]}, ["/init", "--flag"]),
    ({"Cmd": ["x"]}, {"Entrypoint": ["/init"], "Cmd": ["--flag"]}, ["/init", "x"]),
    ({"Entrypoint": ["/bin/echo"]}, {"Entrypoint": ["/init"], "Cmd": ["--flag"]}, ["/bin/echo"]),  # resets Cmd
    ({"Entrypoint": ["/bin/echo"], "Cmd": ["a"]}, {"Cmd": ["sh"]}, ["/bin/echo", "a"]),
], ids=["image-cmd", "cmd", "image-entrypoint", "cmd-after-entrypoint", "entrypoint-resets-cmd", "both"])
def test_command(config: dict, image: dict, want: list[str]) -> None:  # type: ignore[type-arg]
    assert dockerspec.command(config, image) == want


def test_no_command_is_an_error() -> None:
    with pytest.raises(dockerspec.ConfigError, match="no command specified"):
        dockerspec.command({}, {})


def test_merge_env_overrides_in_place_and_adds_path() -> None:
    assert dockerspec.merge_env(["A=1", "B=2"], ["B=3", "C=4"]) == [dockerspec.DEFAULT_PATH, "A=1", "B=3", "C=4"]
    assert dockerspec.merge_env(["PATH=/x", "A=1"], ["A=2"]) == ["PATH=/x", "A=2"]


# -- resources --------------------------------------------------------------------
@pytest.mark.parametrize(("host", "want"), [
    ({}, {}),
    ({"Memory": 64 << 20}, {"memory": {"limit": 64 << 20, "swap": 128 << 20}}),
    ({"Memory": 64 << 20, "MemorySwap": -1}, {"memory": {"limit": 64 << 20, "swap": -1}}),
    ({"NanoCpus": 500_000_000}, {"cpu": {"period": 100000, "quota": 50000}}),
    ({"CpuShares": 512, "CpusetCpus": "0"}, {"cpu": {"shares": 512, "cpus": "0"}}),
    ({"PidsLimit": 20}, {"pids": {"limit": 20}}),
    ({"PidsLimit": 0}, {}),
], ids=["none", "memory", "unlimited-swap", "cpus", "shares-cpuset", "pids", "pids-zero-unlimited"])
def test_resources(host: dict, want: dict) -> None:  # type: ignore[type-arg]
    assert dockerspec.resources(host) == want


@pytest.mark.parametrize(("host", "message"), [
    ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit should be larger than memory limit"),
    ({"MemorySwap": 64 << 20}, "You should always set the Memory limit when using Memoryswap limit"),
    ({"NanoCpus": 10 ** 15}, "Range of CPUs is from 0.01 to"),
    ({"NanoCpus": 10 ** 9, "CpuQuota": 1000}, "Nano CPUs and CPU Period cannot both be set"),
], ids=["tiny-memory", "swap-below-memory", "swap-without-memory", "too-many-cpus", "nano-and-quota"])
def test_resources_refused(host: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(dockerspec.ConfigError, match=message):
        dockerspec.resources(host)


@pytest.mark.parametrize(("text", "want"), [("0", {0}), ("0-2,4", {0, 1, 2, 4}), (" 1 , 3-3", {1, 3})])
def test_parse_cpu_list(text: str, want: set[int]) -> None:
    assert dockerspec.parse_cpu_list(text) == want


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "1,,2"])
def test_parse_cpu_list_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        dockerspec.parse_cpu_list(text)


def test_check_cpuset() -> None:
    dockerspec.check_cpuset("0-1", "0-3")
    with pytest.raises(dockerspec.ConfigError, match="requested 7, available: 0-3"):
        dockerspec.check_cpuset("7", "0-3")
    with pytest.raises(dockerspec.ConfigError, match="Invalid value x for cpuset cpus"):
        dockerspec.check_cpuset("x", "0-3")


def test_capabilities() -> None:
    default = dockerspec.capabilities({})
    assert "CAP_CHOWN" in default and "CAP_SYS_ADMIN" not in default
    caps = dockerspec.capabilities({"CapAdd": ["sys_admin"], "CapDrop": ["CHOWN"]})
    assert "CAP_SYS_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert dockerspec.capabilities({"CapDrop": ["ALL"], "CapAdd": ["NET_RAW"]}) == ["CAP_NET_RAW"]
    with pytest.raises(dockerspec.ConfigError, match='unknown capability: "CAP_BOGUS"'):
        dockerspec.capabilities({"CapAdd": ["bogus"]})


@pytest.mark.parametrize(("value", "want"), [(None, signal.SIGTERM), ("KILL", signal.SIGKILL),
                                             ("SIGHUP", signal.SIGHUP), ("9", 9), (15, 15)])
def test_parse_signal(value: str | int | None, want: int) -> None:
    assert dockerspec.parse_signal(value) == want


def test_parse_signal_invalid() -> None:
    with pytest.raises(dockerspec.ConfigError, match="Invalid signal: SIGNOPE"):
        dockerspec.parse_signal("SIGNOPE")


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000::/app:/bin/sh\n"
GROUP = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n"


@pytest.mark.parametrize(("user", "want"), [
    ("", (0, 0, [])), ("root", (0, 0, [])), ("nobody", (65534, 65534, [])), ("app", (1000, 1000, [2000])),
    ("1000", (1000, 1000, [2000])), ("4242", (4242, 0, [])), ("app:root", (1000, 0, [2000])),
    ("nobody:2000", (65534, 2000, [])), ("5:6", (5, 6, [])),
], ids=lambda v: str(v))
def test_parse_user(user: str, want: tuple[int, int, list[int]]) -> None:
    assert dockerspec.parse_user(user, PASSWD, GROUP) == want


@pytest.mark.parametrize(("user", "message"), [("ghost", "unable to find user ghost"),
                                               ("app:ghosts", "unable to find group ghosts")])
def test_parse_user_unknown(user: str, message: str) -> None:
    with pytest.raises(dockerspec.ConfigError, match=message):
        dockerspec.parse_user(user, PASSWD, GROUP)


# -- restart policies ---------------------------------------------------------------
@pytest.mark.parametrize(("policy", "want"), [
    (None, (Policy.NO, 0)), ({"Name": ""}, (Policy.NO, 0)), ({"Name": "always"}, (Policy.ALWAYS, 0)),
    ({"Name": "on-failure", "MaximumRetryCount": 3}, (Policy.ON_FAILURE, 3)),
    ({"Name": "unless-stopped"}, (Policy.UNLESS_STOPPED, 0)),
])
def test_restart_parse(policy: dict | None, want: tuple[Policy, int]) -> None:  # type: ignore[type-arg]
    assert restart.parse(policy) == want


@pytest.mark.parametrize("policy", [{"Name": "sometimes"}, {"Name": "always", "MaximumRetryCount": 2},
                                    {"Name": "on-failure", "MaximumRetryCount": -1}])
def test_restart_parse_invalid(policy: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        restart.parse(policy)


@pytest.mark.parametrize(("policy", "retries", "code", "count", "stopped", "want"), [
    (Policy.NO, 0, 1, 0, False, False),
    (Policy.ALWAYS, 0, 0, 5, False, True),
    (Policy.ALWAYS, 0, 0, 0, True, False),
    (Policy.UNLESS_STOPPED, 0, 0, 0, False, True),
    (Policy.ON_FAILURE, 0, 0, 0, False, False),
    (Policy.ON_FAILURE, 0, 1, 100, False, True),
    (Policy.ON_FAILURE, 2, 1, 1, False, True),
    (Policy.ON_FAILURE, 2, 1, 2, False, False),
], ids=["no", "always", "always-stopped", "unless-stopped", "on-failure-success", "on-failure-unbounded",
        "on-failure-retry", "on-failure-exhausted"])
def test_should_restart(policy: Policy, retries: int, code: int, count: int, stopped: bool, want: bool) -> None:
    assert restart.should_restart(policy, retries, exit_code=code, restart_count=count,
                                  manually_stopped=stopped) is want


@pytest.mark.parametrize(("policy", "restarting", "stopped", "want"), [
    (Policy.ALWAYS, False, True, True), (Policy.UNLESS_STOPPED, False, False, True),
    (Policy.UNLESS_STOPPED, False, True, False), (Policy.ON_FAILURE, True, False, True),
    (Policy.ON_FAILURE, False, False, False), (Policy.NO, True, False, False),
])
def test_on_daemon_start(policy: Policy, restarting: bool, stopped: bool, want: bool) -> None:
    assert restart.on_daemon_start(policy, was_restarting=restarting, manually_stopped=stopped) is want


def test_backoff_doubles_and_is_capped() -> None:
    assert [restart.backoff(n) for n in range(3)] == [0.1, 0.2, 0.4]
    assert restart.backoff(50) == 60.0


# -- logs and names -------------------------------------------------------------------
LINES = [
    b'{"log":"one\\n","stream":"stdout","time":"2026-01-01T00:00:01.000000000Z"}',
    b'{"log":"err\\n","stream":"stderr","time":"2026-01-01T00:00:02.500000000Z"}',
    b'{"log":"two\\n","stream":"stdout","time":"2026-01-01T00:00:03.000000000Z"}',
    b'{"log":"half',  # a line being written
]


def test_logs_select_streams_tail_and_since() -> None:
    entries = list(logs.parse_lines(LINES))
    assert [e.data for e in entries] == [b"one\n", b"err\n", b"two\n"]
    pick = logs.select(entries, stdout=True, stderr=False, since=None, until=None, tail=None)
    assert [e.data for e in pick] == [b"one\n", b"two\n"]
    pick = logs.select(entries, stdout=True, stderr=True, since=None, until=None, tail=1)
    assert [e.data for e in pick] == [b"two\n"]
    since = logs.entry_ts("2026-01-01T00:00:02Z")
    pick = logs.select(entries, stdout=True, stderr=True, since=since, until=None, tail=None)
    assert [e.data for e in pick] == [b"err\n", b"two\n"]
    assert logs.select(entries, stdout=True, stderr=True, since=None, until=None, tail=0) == []


def test_logs_frames() -> None:
    e = logs.Entry("stderr", "2026-01-01T00:00:02.5Z", b"x\n")
    assert logs.render(e, timestamps=False, tty=False) == b"\x02\x00\x00\x00\x00\x00\x00\x02x\n"
    assert logs.render(e, timestamps=True, tty=True) == b"2026-01-01T00:00:02.5Z x\n"


def test_names() -> None:
    rng = random.Random(7)
    name = names.generate(rng)
    left, _, right = name.partition("_")
    assert left in names.LEFT and right in names.RIGHT
    assert names.generate(rng, retry=1)[-1].isdigit()
    assert names.valid("web-1.a_b") and names.valid("/web")
    assert not names.valid("-web") and not names.valid("a") and not names.valid("we b")


# -- bridge ------------------------------------------------------------------------------
def test_mac_of_ip() -> None:
    import ipaddress

    from skiff.nodeagent.runtime.containers import bridge

    assert bridge.mac_of(ipaddress.ip_address("172.17.0.2")) == "02:42:ac:11:00:02"


@pytest.mark.parametrize(("bindings", "want"), [
    ({}, []),
    ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, [("0.0.0.0", 8080, 80, "tcp")]),
    ({"53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}, [("127.0.0.1", 5353, 53, "udp")]),
    ({"80": [{"HostPort": "1"}, {"HostPort": "2"}]}, [("0.0.0.0", 1, 80, "tcp"), ("0.0.0.0", 2, 80, "tcp")]),
])
def test_parse_port_bindings(bindings: dict, want: list) -> None:  # type: ignore[type-arg]
    from skiff.nodeagent.runtime.containers import bridge

    assert bridge.parse_port_bindings({"PortBindings": bindings}) == want


@pytest.mark.parametrize("bindings", [{"80/sctp": [{"HostPort": "1"}]}, {"80/tcp": [{"HostPort": ""}]},
                                      {"80/tcp": [{"HostPort": "70000"}]}, {"x/tcp": [{"HostPort": "1"}]}])
def test_parse_port_bindings_invalid(bindings: dict) -> None:  # type: ignore[type-arg]
    from skiff.nodeagent.runtime.containers import bridge

    with pytest.raises(bridge.NetworkError):
        bridge.parse_port_bindings({"PortBindings": bindings})


def test_nat_rules_only_touch_skiff_chains() -> None:
    from skiff.nodeagent.runtime.containers import bridge

    text = bridge.nat_rules([("172.17.0.3", "0.0.0.0", 8080, 80, "tcp"), ("172.17.0.2", "127.0.0.1", 53, 53, "udp")])
    lines = text.splitlines()
    assert lines[:3] == ["*nat", ":SKIFF-DNAT - [0:0]", ":SKIFF-POSTROUTING - [0:0]"] and lines[-1] == "COMMIT"
    assert all(ln.startswith(("-A SKIFF-", ":SKIFF-", "*nat", "COMMIT")) for ln in lines)
    assert "-A SKIFF-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 172.17.0.2:53" in lines
    assert "-A SKIFF-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:80" in lines
    assert lines.index(next(ln for ln in lines if "--dport 53 -j DNAT" in ln)) < \
        lines.index(next(ln for ln in lines if "--dport 8080 -j DNAT" in ln))  # sorted: stable output
