#!/usr/bin/env python3
"""What hostile clients can make webwire hold: the attacks of issue 10, measured.

    cargo build --release
    python3 tests/measure/hostile-memory.py [--binary target/release/webwire] [--quick]

Each scenario starts a fresh server (default flags, --quiet), attacks it from this process over
loopback, samples the server's memory from /proc while the attack holds, then checks that a
fresh client is still answered. It prints one row per scenario:

- rss before / peak: the server's resident memory before the attack and its highest during it
  (VmHWM), in MiB;
- virt peak: the highest virtual size (VmPeak), which is what `ulimit -v` limits;
- fresh client: the status and time of `GET /time` on a new connection while the attack holds.

Only the standard library: this is a script a reader can run anywhere Python 3 is. Every
request loop is bounded and every socket is on 127.0.0.1.
"""

import argparse
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(binary):
    server = subprocess.Popen([binary, "--port", "0", "--quiet", "--bind", "127.0.0.1"],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    port = int(line.split("http://")[1].split(":")[1].split("/")[0])
    return server, port


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "VmPeak"):
                fields[name] = int(value.split()[0]) / 1024  # kB -> MiB
    return fields


def connect(port, rcvbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # Before connect, so the window the client announces is small from the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    return sock


def read_reply(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def fresh_client(port):
    started = time.monotonic()
    sock = connect(port)
    sock.settimeout(30)
    sock.sendall(b"GET /time HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    reply = read_reply(sock)
    sock.close()
    status = reply.split(b" ")[1].decode() if reply else "none"
    return f"{status} in {(time.monotonic() - started) * 1000:.1f} ms"


def fill_room(port, count, size):
    sock = connect(port)
    text = b"<" * size
    head = (b"POST /chat/send HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % size)
    for _ in range(count):
        sock.sendall(head + text)
        read_reply(sock)
    sock.close()


def never_read(port, request, clients, rcvbuf=4096):
    held = []
    for _ in range(clients):
        sock = connect(port, rcvbuf)
        sock.sendall(request)
        held.append(sock)
    return held


def ws_upgrade(port, target):
    sock = connect(port)
    sock.sendall((f"GET {target} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    return sock


# --- the scenarios: each returns the sockets it holds open --------------------------------------

def backlog(port, target, clients):
    fill_room(port, 1000, 4096)
    return never_read(port, f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode(), clients)


def echo(port, clients):
    body = b"\x00" * (1024 * 1024)
    head = (b"POST /ajax/echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    held = []
    for _ in range(clients):
        sock = connect(port, 4096)
        sock.sendall(head)
        sock.setblocking(False)
        try:
            sock.send(body)  # as much as the kernel takes now; the rest never comes
        except BlockingIOError:
            pass
        sock.setblocking(True)
        held.append(sock)
    return held


def held_bodies(port, clients):
    # Every client sends all of a 1 MiB body but its last byte, and waits: the server holds
    # each body until the body timeout, unless the memory budget refuses it first.
    body = b"x" * (1024 * 1024 - 1)
    head = (b"POST /ajax/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(body) + 1))
    held = []
    for _ in range(clients):
        sock = connect(port, 4096)
        sock.settimeout(5)
        try:
            sock.sendall(head + body)  # Content-Length says one byte more
        except OSError:
            pass  # refused with 503 part-way: the budget was spent
        held.append(sock)
    return held


def empty_fields(port, clients):
    # A form of half a million empty fields, `a&a&…`, all but its last byte, then the rest.
    body = b"a&" * (512 * 1024)
    head = (b"POST /chat/send HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    held = []
    for _ in range(clients):
        sock = connect(port, 4096)
        sock.settimeout(5)
        try:
            sock.sendall(head + body[:-1])
        except OSError:
            pass
        held.append(sock)
    for sock in held:
        try:
            sock.sendall(body[-1:])
        except OSError:
            pass
    return held


def ws_headers(port, clients):
    held = []
    for _ in range(clients):
        sock = ws_upgrade(port, "/ws")
        # A binary frame announcing 16 MiB, its mask, and 14 bytes in all; nothing more.
        sock.sendall(bytes([0x82, 0xFF]) + (16 * 1024 * 1024).to_bytes(8, "big") + bytes(4))
        held.append(sock)
    return held


def ws_stall(port, clients):
    fill_room(port, 1000, 4000)
    held = []
    for _ in range(clients):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /chat/ws?since=0 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        held.append(sock)
    return held


SCENARIOS = [
    ("1000 msgs of 4 KiB '<', 40 x GET /chat/poll?since=0, never read",
     lambda port: backlog(port, "/chat/poll?since=0", 40)),
    ("same, 40 x GET /chat/jsonp?since=0&cb=f",
     lambda port: backlog(port, "/chat/jsonp?since=0&cb=f", 40)),
    ("same, 40 x GET /chat/events?since=0",
     lambda port: backlog(port, "/chat/events?since=0", 40)),
    ("200 x POST /ajax/echo, 1 MiB of NUL as text/plain, never read",
     lambda port: echo(port, 200)),
    ("500 x POST /ajax/echo, 1 MiB bodies but their last byte",
     lambda port: held_bodies(port, 500)),
    ("200 x POST /chat/send, a form of 512 Ki empty fields (1 MiB)",
     lambda port: empty_fields(port, 200)),
    ("100 x WebSocket header announcing 16 MiB, then silence",
     lambda port: ws_headers(port, 100)),
    ("1000 msgs of 4000 '<', 40 x /chat/ws?since=0, never read",
     lambda port: ws_stall(port, 40)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/webwire"))
    parser.add_argument("--hold", type=float, default=5.0,
                        help="seconds to hold each attack while sampling (default 5)")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} is missing: run cargo build --release first")
    print(f"binary: {args.binary}")
    print(f"{'scenario':<66} {'rss before':>10} {'peak':>8} {'virt peak':>10}  fresh client")
    for name, attack in SCENARIOS:
        server, port = start(args.binary)
        try:
            before = memory(server.pid)["VmRSS"]
            held = attack(port)
            deadline = time.monotonic() + args.hold
            while time.monotonic() < deadline and server.poll() is None:
                time.sleep(0.1)
            if server.poll() is not None:
                row = f"the server died (exit {server.returncode})"
            else:
                fresh = fresh_client(port)
                mem = memory(server.pid)
                row = (f"{before:>9.1f}M {mem['VmHWM']:>7.1f}M {mem['VmPeak']:>9.1f}M  {fresh}")
            print(f"{name:<66} {row}", flush=True)
            for sock in held:
                sock.close()
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
