"""A TCP proxy that injects network faults between a client and a server, for tests.

::

    with FaultProxy(upstream=("127.0.0.1", 9092)) as proxy:   # listens on proxy.address
        proxy.set_latency(0.3)   # every chunk arrives 300 ms late, in both directions
        proxy.black_hole()       # connections stay open, nothing passes (new ones too)
        proxy.heal()             # what was held back passes now; normal traffic again
        proxy.cut()              # reset every open connection (the client sees ECONNRESET)

A black hole holds data back instead of dropping it, as TCP does when packets are lost:
the peers see silence, then, once healed, everything that was sent, in order. Kafka
clients reach every broker through the addresses in its metadata, so a broker must
advertise the proxy's address (``KafkaCluster(advertise={"PROXIED": proxy.port})``) for
all of a client's traffic to go through it. Threads: one accepting, two per connection
and direction.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time
from types import TracebackType

__all__ = ["FaultProxy"]

_CHUNK = 65536


class _Link:
    """One proxied connection: the client's socket and the server's."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server: socket.socket | None = None
        self.closed = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._connect, daemon=True, name="faultproxy-link").start()

    def _connect(self) -> None:
        proxy = self.proxy
        # a connection made during a black hole gets no answer until it heals
        if not proxy._wait_open(self.closed):
            return
        try:
            self.server = socket.create_connection(proxy.upstream, timeout=10)
            self.server.settimeout(None)
            self.server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.close(reset=True)
            return
        for src, dst in ((self.client, self.server), (self.server, self.client)):
            pending: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
            threading.Thread(
                target=self._read, args=(src, pending), daemon=True, name="faultproxy-read"
            ).start()
            threading.Thread(
                target=self._write, args=(dst, pending), daemon=True, name="faultproxy-write"
            ).start()

    def _read(self, src: socket.socket, pending: queue.Queue[tuple[float, bytes] | None]) -> None:
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                pending.put((time.monotonic(), data))
        except OSError:
            pass
        pending.put(None)

    def _write(self, dst: socket.socket, pending: queue.Queue[tuple[float, bytes] | None]) -> None:
        proxy = self.proxy
        try:
            while True:
                item = pending.get()
                if item is None:
                    break
                at, data = item
                delay = at + proxy.latency - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if not proxy._wait_open(self.closed):
                    return
                dst.sendall(data)
        except OSError:
            pass
        self.close(reset=False)

    def close(self, reset: bool) -> None:
        """Close both sockets; with ``reset``, with a TCP RST instead of a FIN."""
        if self.closed.is_set():
            return
        self.closed.set()
        for s in (self.client, self.server):
            if s is None:
                continue
            with contextlib.suppress(OSError):
                if reset:  # closing with a zero linger time sends an RST
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # wakes the threads blocked on it: a plain close() would leave the socket
                # open (and silent) until their recv() returns
                s.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        self.proxy._forget(self)


class FaultProxy:
    """Forwards TCP connections from ``127.0.0.1:port`` to ``upstream``, with faults.

    ``port`` 0 picks a free port (see :attr:`port`). ``upstream`` may be set after the
    proxy started (a broker that must advertise the proxy's port before it starts).
    """

    def __init__(
        self, upstream: tuple[str, int] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.upstream: tuple[str, int] = upstream or ("127.0.0.1", 0)
        #: seconds every chunk is held back, in each direction
        self.latency = 0.0
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._stopped = threading.Event()
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True, name="faultproxy")

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        """Start accepting connections."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and reset every connection."""
        self._stopped.set()
        self._open.set()
        self.cut()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Hold every chunk back ``seconds`` (0: none), in both directions."""
        self.latency = max(float(seconds), 0.0)

    def black_hole(self) -> None:
        """Pass nothing: open connections fall silent, new ones get no answer.

        Nothing is dropped: :meth:`heal` lets it all through.
        """
        self._open.clear()

    def cut(self) -> int:
        """Reset every open connection; return how many there were."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(reset=True)
        return len(links)

    def heal(self) -> None:
        """End a black hole and any latency."""
        self.latency = 0.0
        self._open.set()

    @property
    def connections(self) -> int:
        """How many connections are open through the proxy."""
        with self._lock:
            return len(self._links)

    # -- internals --------------------------------------------------------------------

    def _wait_open(self, closed: threading.Event) -> bool:
        """Wait while black-holed; False when the link closed meanwhile."""
        while not self._open.wait(0.1):
            if closed.is_set():
                return False
        return not closed.is_set()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client)
            with self._lock:
                self._links.add(link)
            link.start()
