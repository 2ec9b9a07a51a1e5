"""Each subnet's way out to the sandbox's AWS API, cut as a deny-all network ACL cuts it.

A function connected to a VPC "can access resources and the internet only through that
VPC" (VpcConfig, https://docs.aws.amazon.com/lambda/latest/api/API_VpcConfig.html), and a
network ACL "allows or denies specific inbound or outbound traffic at the subnet level"
(https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html). Lambda's invoke
path does not cross the customer's subnet ("An AWS Lambda function always runs in a VPC
owned by the Lambda service", https://docs.aws.amazon.com/parallelcluster/latest/ug/
lambda-vpc-v3.html), so a deny-all ACL leaves invocations alone and cuts what the function
calls: that is AZ network loss.

Every subnet gets a TCP relay on 127.0.0.1 in front of the sandbox AWS API; environments
placed in the subnet get it as ``AWS_ENDPOINT_URL``. While the subnet is blackholed the
relay drops everything, the way a NACL drops packets: new connections are never
established (the listening socket's accept queue is kept full, so the kernel drops their
SYNs and the client's *connect* times out) and open connections stop carrying bytes (the
client's *read* times out). When the ACL allows traffic again the relay carries on.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterable

log = logging.getLogger(__name__)

OPEN_BACKLOG = 128
CHUNK = 65536
ACCEPT_POLL_S = 0.2
PLUG_S = 0.2


class SubnetEgress:
    """The relay of one subnet (see the module doc)."""

    def __init__(self, subnet_id: str, upstream: tuple[str, int]) -> None:
        self.subnet_id = subnet_id
        self.upstream = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(OPEN_BACKLOG)
        self._listener.settimeout(ACCEPT_POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._plug: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._acceptor = threading.Thread(
            target=self._accept_loop, daemon=True, name=f"sandbox-egress-{subnet_id}"
        )
        self._acceptor.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def blackholed(self) -> bool:
        return not self._open.is_set()

    def set_blackholed(self, blackholed: bool) -> None:
        with self._lock:
            if blackholed == self.blackholed or self._closed.is_set():
                return
            if blackholed:
                self._open.clear()
                # A zero backlog plus one queued connection of ours: the kernel drops the
                # SYNs of every new client, as a deny-all ACL would.
                self._listener.listen(0)
                self._plug_queue()
            else:
                self._listener.listen(OPEN_BACKLOG)
                if self._plug is not None:
                    self._plug.close()
                    self._plug = None
                self._open.set()
        log.info("subnet %s egress %s", self.subnet_id, "blackholed" if blackholed else "open")

    def _plug_queue(self) -> None:
        """Fill the accept queue with a connection of ours (caller holds the lock)."""
        if self._plug is not None:
            self._plug.close()
        try:
            self._plug = socket.create_connection(("127.0.0.1", self.port), timeout=PLUG_S)
        except OSError:
            self._plug = None  # the queue is full already: a client is stuck in it

    def close(self) -> None:
        self._closed.set()
        self._open.set()  # wakes relays waiting for the subnet to reopen
        with self._lock:
            connections = list(self._connections)
            if self._plug is not None:
                self._plug.close()
        for connection in connections:
            _close(connection)
        self._acceptor.join(timeout=2)
        _close(self._listener)

    # -- relaying --------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            if not self._open.wait(ACCEPT_POLL_S):
                continue  # blackholed: nothing is accepted, the queue stays full
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._open.is_set() or self._closed.is_set():
                # Accepted while switching to blackholed (our plug, or a client that got in
                # first): drop it and fill the queue again.
                _close(client)
                with self._lock:
                    if not self._open.is_set() and not self._closed.is_set():
                        self._plug_queue()
                continue
            threading.Thread(
                target=self._relay,
                args=(client,),
                daemon=True,
                name=f"sandbox-egress-{self.subnet_id}-relay",
            ).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._connections.update((client, server))
        pumps = [
            threading.Thread(
                target=self._pump,
                args=(a, b),
                daemon=True,
                name=f"sandbox-egress-{self.subnet_id}-pump",
            )
            for a, b in ((client, server), (server, client))
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        with self._lock:
            self._connections.difference_update((client, server))
        _close(client)
        _close(server)

    def _pump(self, source: socket.socket, destination: socket.socket) -> None:
        source.settimeout(None)
        while not self._closed.is_set():
            try:
                data = source.recv(CHUNK)
            except OSError:
                break
            if not data:
                break
            self._open.wait()  # blackholed: the bytes are held, as dropped packets are
            if self._closed.is_set():
                break
            try:
                destination.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            destination.shutdown(socket.SHUT_WR)


class EgressNetwork:
    """The relays of every subnet an environment was placed in."""

    def __init__(self, upstream_url: str) -> None:
        host_port = upstream_url.split("://", 1)[-1].rstrip("/")
        host, _, port = host_port.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self._lock = threading.Lock()
        self._subnets: dict[str, SubnetEgress] = {}
        self._blackholed: set[str] = set()

    def endpoint_url(self, subnet_id: str) -> str:
        with self._lock:
            egress = self._subnets.get(subnet_id)
            if egress is None:
                egress = SubnetEgress(subnet_id, self.upstream)
                egress.set_blackholed(subnet_id in self._blackholed)
                self._subnets[subnet_id] = egress
            return egress.endpoint_url

    def apply(self, blackholed: Iterable[str]) -> None:
        """The subnets whose network ACL now denies all traffic (the others are open)."""
        with self._lock:
            self._blackholed = set(blackholed)
            subnets = list(self._subnets.values())
        for egress in subnets:
            egress.set_blackholed(egress.subnet_id in self._blackholed)

    def blackholed(self, subnet_ids: Iterable[str]) -> set[str]:
        with self._lock:
            return self._blackholed.intersection(subnet_ids)

    def close(self) -> None:
        with self._lock:
            subnets = list(self._subnets.values())
            self._subnets.clear()
        for egress in subnets:
            egress.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
