"""What differs on macOS, Windows and GPUs, decided by pure functions or exercised here for real
(issue 14): OSC on both loopback families, Windows file-in-use retries (tests/test_faults.py)."""

from __future__ import annotations

import socket

import pytest

from bridge.osc import bind_addresses, build_message, parse_packet
from daemon_helpers import free_udp_port


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_loopback_hosts_listen_on_both_families():
    assert bind_addresses("127.0.0.1") == ["127.0.0.1", "::1"]
    assert bind_addresses("localhost") == ["127.0.0.1", "::1"]
    assert bind_addresses("::1") == ["127.0.0.1", "::1"]
    assert bind_addresses("0.0.0.0") == ["0.0.0.0"]
    assert bind_addresses("192.168.1.20") == ["192.168.1.20"]


@pytest.fixture
def daemon_default_host(engine, tmp_path):
    from bridge.config import build_serve_config
    from bridge.daemon import Daemon

    cfg = build_serve_config({"state_dir": tmp_path / "state", "output_dir": tmp_path / "out",
                              "osc_port": free_udp_port()})
    assert cfg.host == "127.0.0.1"  # the default
    d = Daemon(cfg, engine)
    d.start()
    yield d
    d.stop()


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("family,host", [(socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")])
def test_ping_on_either_loopback_is_answered_on_the_same_family(daemon_default_host, family, host):
    """macOS sends to ::1 for `localhost`: the default daemon must hear it and answer from ::1."""
    port = daemon_default_host.osc.address[1]
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.bind((host, 0))
        client.settimeout(10)
        client.sendto(build_message("/musicgen/ping", []), (host, port))
        data, sender = client.recvfrom(65536)
    assert parse_packet(data)[0][0] == "/musicgen/pong"
    assert sender[0] == host and sender[1] == port  # from the socket the request came in on
