"""The fault proxy of the network tests: pass, black hole, heal, latency, reset."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from streamprocessor.testing.faultproxy import FaultProxy


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=pump, args=(conn,), daemon=True).start()

    def pump(conn: socket.socket) -> None:
        try:
            while data := conn.recv(100):
                conn.sendall(data)
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()
    server.close()


def test_black_hole_holds_data_until_heal_and_cut_resets(echo: tuple[str, int]) -> None:
    with FaultProxy(echo) as proxy:
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        c.sendall(b"hi")
        assert c.recv(10) == b"hi"
        proxy.black_hole()
        c.sendall(b"held")
        c.settimeout(0.5)
        with pytest.raises(TimeoutError):
            c.recv(10)
        proxy.heal()
        c.settimeout(2)
        assert c.recv(10) == b"held"
        proxy.set_latency(0.2)
        started = time.monotonic()
        c.sendall(b"x")
        assert c.recv(10) == b"x"
        assert time.monotonic() - started >= 0.4  # both directions
        proxy.heal()
        assert proxy.cut() == 1
        with pytest.raises(ConnectionResetError):
            c.recv(10)
        c.close()
