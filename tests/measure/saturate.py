#!/usr/bin/env python3
"""Fills webwire's connection limit the way an attacker would, and counts how often a normal
client still gets its answer (chapter 15, "A full server still serves the patient").

    cargo build --release
    python3 tests/measure/saturate.py [--binary target/release/webwire] [--max-conns 512]
                                      [--seconds 30]

Three attacks, one after another, each against a fresh server started with --max-conns:

  slowloris   600 sockets, each sending one byte of a request head every 3 s, and opening a
              new socket as soon as one is closed (after a 408, or taken back)
  keep-alive  520 clients, each sending one valid GET every 10 s on its own connection
  held        as many event streams on /chat/events as the server takes, then more

Meanwhile a normal client asks GET /time once a second on a new connection, and the table
says how many of its requests were answered 200. Python's standard library only.
"""

import argparse
import re
import select
import selectors
import socket
import subprocess
import time


def start(binary, max_conns):
    server = subprocess.Popen(
        [binary, "--quiet", "--bind", "127.0.0.1", "--port", "0", "--max-conns", str(max_conns)],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = server.stdout.readline()
    # Older builds print one line only: wait a moment for the limits, never for ever.
    ready, _, _ = select.select([server.stdout], [], [], 1)
    limits = server.stdout.readline().strip() if ready else "(no limits line)"
    port = int(re.search(r":(\d+)/", first).group(1))
    return server, port, limits


def normal_request(port):
    """One GET /time on a new connection: the status, or the reason it failed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /time HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return "closed"
                data += chunk
            return data.split(b" ")[1].decode()
    except OSError as e:
        return type(e).__name__


class Attack:
    """Sockets driven by one selector; `step` is called every 100 ms."""

    def __init__(self, port):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.socks = {}
        self.opened = 0

    def open(self, state):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return None
        s.setblocking(False)
        self.socks[s] = state
        self.sel.register(s, selectors.EVENT_READ)
        self.opened += 1
        return s

    def close(self, s):
        self.sel.unregister(s)
        del self.socks[s]
        s.close()

    def pump(self, on_data):
        for key, _ in self.sel.select(timeout=0):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.close(s)
            else:
                on_data(s, data)

    def stop(self):
        for s in list(self.socks):
            self.close(s)


def slowloris(port, now, attack, n=600):
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-a: " + b"b" * 4096
    if not attack.socks and attack.opened == 0:
        for _ in range(n):
            attack.open({"sent": 0, "next": now})
    attack.pump(lambda s, data: attack.close(s))  # a 408 or any answer: start again
    while len(attack.socks) < n and attack.open({"sent": 0, "next": now}):
        pass
    for s, state in list(attack.socks.items()):
        if now >= state["next"]:
            try:
                s.send(head[state["sent"] : state["sent"] + 1])
                state["sent"] += 1
                state["next"] = now + 3
            except OSError:
                attack.close(s)


def keep_alive(port, now, attack, n=520):
    if attack.opened == 0:
        for i in range(n):
            attack.open({"next": now + i * 10 / n})
    attack.pump(lambda s, data: None)  # answers are read and dropped
    while len(attack.socks) < n and attack.open({"next": now + 10}):
        pass
    for s, state in list(attack.socks.items()):
        if now >= state["next"]:
            try:
                s.send(b"GET /time HTTP/1.1\r\nHost: t\r\n\r\n")
                state["next"] = now + 10
            except OSError:
                attack.close(s)


def held(port, now, attack, n):
    if attack.opened == 0:
        for _ in range(n):
            s = attack.open({})
            if s:
                s.send(b"GET /chat/events HTTP/1.1\r\nHost: t\r\n\r\n")
    attack.pump(lambda s, data: None)


def run(binary, max_conns, seconds, name, drive):
    server, port, limits = start(binary, max_conns)
    attack = Attack(port)
    results = []
    started = time.monotonic()
    next_probe = started + 3  # let the attack fill the server first
    try:
        while time.monotonic() - started < seconds:
            now = time.monotonic()
            drive(port, now, attack)
            if now >= next_probe:
                results.append(normal_request(port))
                next_probe = now + 1
            time.sleep(0.05)
        attackers = len(attack.socks)
    finally:
        attack.stop()
        server.kill()
        server.wait()
    served = results.count("200")
    others = sorted(set(r for r in results if r != "200"))
    print(f"| {name} | {attackers} | {served} of {len(results)} | {', '.join(others) or '-'} |")
    return limits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default="target/release/webwire")
    parser.add_argument("--max-conns", type=int, default=512)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    print(f"`python3 tests/measure/saturate.py --max-conns {args.max_conns} --seconds {args.seconds}`\n")
    print("| attack | attacker sockets open at the end | normal client served | other answers |")
    print("|---|---|---|---|")
    limits = run(args.binary, args.max_conns, args.seconds, "600 slowloris sockets", slowloris)
    run(args.binary, args.max_conns, args.seconds, "520 keep-alive clients, a GET every 10 s", keep_alive)
    run(
        args.binary,
        args.max_conns,
        args.seconds,
        f"{args.max_conns} event streams",
        lambda port, now, attack: held(port, now, attack, args.max_conns),
    )
    print(f"\nserver: {limits}")


if __name__ == "__main__":
    main()
