#!/usr/bin/env python3
"""Many clients connecting at once: how long each waits to connect when webwire listens on
its own socket (Rust's std asks for an accept queue of 128) and when it is given one with a
queue of 4096 (--listen-on-stdin, as systemd passes it). Chapter 15, "The accept queue".

    cargo build --release
    ulimit -n 20000
    python3 tests/measure/backlog.py [--binary target/release/webwire] [--clients 4000]
                                     [--runs 3]

Each run starts a fresh server both ways, opens --clients non-blocking connections as fast as
Python can (a burst), waits until every one has connected, then sends GET /time on each and
counts the 200s. A connection whose SYN the kernel dropped because the accept queue was full
connects only when the client sends it again, one second later (RFC 6298 §2.1's initial
RTO), so the table counts connections that took 0.9 s or more. Python's standard library only.
"""

import argparse
import select
import socket
import statistics
import subprocess
import time

SLOW_SECONDS = 0.9  # a connect this slow waited for a SYN to be sent again
WAIT_SECONDS = 30  # give up on a connect after this long


def start(binary, queue):
    """A server on a socket with this accept queue: None for webwire's own bind."""
    if queue is None:
        args = [binary, "--port", "0", "--bind", "127.0.0.1", "--quiet"]
        server = subprocess.Popen(args, stdout=subprocess.PIPE)
    else:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(queue)
        args = [binary, "--listen-on-stdin", "--quiet"]
        server = subprocess.Popen(args, stdin=listener.fileno(), stdout=subprocess.PIPE)
        listener.close()  # the server has its own copy
    line = server.stdout.readline().decode()
    port = int(line.split("http://")[1].split("/")[0].rsplit(":", 1)[1])
    return server, port


def burst(port, clients):
    """Connects `clients` sockets at once; returns each one's connect time, and the 200s."""
    poller = select.epoll()
    sockets, started, took = {}, {}, {}
    for _ in range(clients):
        client = socket.socket()
        client.setblocking(False)
        try:
            client.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        started[client.fileno()] = time.monotonic()
        sockets[client.fileno()] = client
        poller.register(client.fileno(), select.EPOLLOUT)
    deadline = time.monotonic() + WAIT_SECONDS
    while len(took) < clients and time.monotonic() < deadline:
        for fd, _ in poller.poll(1):
            took[fd] = time.monotonic() - started[fd]
            poller.unregister(fd)
    request = b"GET /time HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answered = 0
    for client in sockets.values():
        try:
            client.setblocking(True)
            client.settimeout(10)
            client.sendall(request)
            answered += client.recv(12) == b"HTTP/1.1 200"
        except OSError:
            pass
        client.close()
    return list(took.values()), answered


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/webwire")
    parser.add_argument("--clients", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    somaxconn = open("/proc/sys/net/core/somaxconn").read().strip()
    print(f"{options.clients} clients connecting at once, {options.runs} runs; "
          f"net.core.somaxconn {somaxconn}; {open('/proc/cpuinfo').read().count('processor')} cpus")
    print(f"{'listening socket':<26} {'slow (>= 0.9 s)':>16} {'median':>9} {'slowest':>9} {'answered':>9}")
    for name, queue in (("webwire's bind (128)", None), ("--listen-on-stdin (4096)", 4096)):
        rows = []
        for _ in range(options.runs):
            server, port = start(options.binary, queue)
            try:
                took, answered = burst(port, options.clients)
            finally:
                server.kill()
                server.wait()
            slow = sum(t >= SLOW_SECONDS for t in took)
            rows.append((slow, statistics.median(took), max(took), answered))
        for slow, median, slowest, answered in rows:
            print(f"{name:<26} {slow:>16} {median * 1000:>7.1f}ms {slowest * 1000:>7.0f}ms "
                  f"{answered:>9}")


if __name__ == "__main__":
    main()
