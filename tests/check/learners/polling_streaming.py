#!/usr/bin/env python3
"""Short polling (/time), XHR streaming (/stream) and hidden-iframe streaming (/htmlfile).

Written from webwire's docs/03-polling.md, docs/05-xhr-streaming.md and
docs/06-iframe-streaming.md alone, Python 3 standard library only.

    python3 polling_streaming.py PORT [TICK_MS]

PORT 0 picks a free port on 127.0.0.1 (and the same port on ::1 when it can). The first line
printed is `listening on http://localhost:PORT/`. TICK_MS (default 2000) is the pace of the
streams and the X-Poll-Interval-Ms a poll answers.

Written by a reader given only those chapters (no source code), graded by `webwire check` in
tests/check/learners.rs: polling 7 of 7, xhr-streaming 13 of 13, iframe-streaming 14 of 14 on
the first run.
"""

import json
import random
import socket
import sys
import threading
import time
from urllib.parse import unquote

TICK_MS = 2000
MAX_HEAD_BYTES = 64 * 1024
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit between requests

ALLOW = "GET, HEAD, OPTIONS"
METHOD_REFUSED = "this path does not accept that method\n"

STREAM_COUNT = (1, 1000, 10)  # low, high, default
STREAM_PAD = (0, 4096, 0)
HTMLFILE_COUNT = (1, 100, 10)

DOCUMENT_START = (
    '<!doctype html>\n<html><head><meta charset="utf-8">'
    "<title>/htmlfile</title></head><body>\n"
    "<p>A stream of script blocks for a parent page.</p>\n"
)
DOCUMENT_END = "</body></html>\n"
TARGET_REFUSED = "target must be http://localhost:PORT or http://127.0.0.1:PORT, this port\n"

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def http_date(now=None):
    """IMF-fixdate (RFC 9110 §5.6.7), always 29 bytes: `Mon, 23 Nov 2026 16:53:47 GMT`."""
    t = time.gmtime(now if now is not None else time.time())
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        DAYS[t.tm_wday], t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec,
    )


def js_string(text):
    """A JSON string that is also safe inside an HTML <script>: every `<` as \\u003c,
    U+2028 and U+2029 escaped (json.dumps already escapes `"`, `\\` and control characters)."""
    s = json.dumps(text, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class BadRequest(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ClientGone(Exception):
    pass


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (lower-case name, value)
        path, _, query = target.partition("?")
        self.path = path
        self.query = query

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def connection_tokens(self):
        tokens = set()
        for k, v in self.headers:
            if k == "connection":
                tokens.update(t.strip().lower() for t in v.split(","))
        return tokens

    @property
    def http11(self):
        return self.version == "HTTP/1.1"

    def wants_close(self):
        tokens = self.connection_tokens()
        if self.http11:
            return "close" in tokens
        return "keep-alive" not in tokens

    def params(self):
        """The query as (decoded name, decoded value) pairs; a bare name has the value ''."""
        pairs = []
        if not self.query:
            return pairs
        for part in self.query.split("&"):
            if part == "":
                continue
            name, _, value = part.partition("=")
            pairs.append((unquote(name, errors="replace"), unquote(value, errors="replace")))
        return pairs

    def param(self, name):
        for k, v in self.params():
            if k == name:
                return v
        return None


def number_param(request, name, bounds):
    """A whole number from ASCII digits within bounds; absent gives the default."""
    low, high, default = bounds
    raw = request.param(name)
    if raw is None:
        return default
    if raw == "" or any(c not in "0123456789" for c in raw) or not (low <= int(raw) <= high):
        raise BadRequest(400, "%s must be a whole number from %d to %d\n" % (name, low, high))
    return int(raw)


class Connection:
    def __init__(self, sock, peer, tick):
        self.sock = sock
        self.peer = peer
        self.tick = tick
        self.buffer = b""

    # ---- reading ----

    def recv_more(self):
        data = self.sock.recv(65536)
        if not data:
            raise ClientGone()
        self.buffer += data

    def read_head(self):
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buffer[:end]
                self.buffer = self.buffer[end + 4:]
                return head
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadRequest(431, "the request head is too large\n")
            self.recv_more()

    def read_exact(self, n):
        while len(self.buffer) < n:
            self.recv_more()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_line(self):
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
                return line
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadRequest(400, "a chunk line is too long\n")
            self.recv_more()

    def read_request(self):
        head = self.read_head()
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # latin-1 never fails; kept for clarity
            raise BadRequest(400, "the request head is not text\n")
        lines = text.split("\r\n")
        # Tolerate empty lines before the request line (RFC 9112 §2.2).
        while lines and lines[0] == "":
            lines.pop(0)
        if not lines:
            raise BadRequest(400, "no request line\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise BadRequest(400, "the request line must be METHOD TARGET VERSION\n")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if version.startswith("HTTP/"):
                raise BadRequest(505, "only HTTP/1.1 and HTTP/1.0 are spoken here\n")
            raise BadRequest(400, "the request line must end in an HTTP version\n")
        if target.startswith("http://") or target.startswith("https://"):
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            target = rest[slash:] if slash >= 0 else "/"
        if not target.startswith("/"):
            raise BadRequest(400, "the request target must start with /\n")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or name == "" or name != name.strip():
                raise BadRequest(400, "a header line must be NAME: VALUE\n")
            headers.append((name.lower(), value.strip(" \t")))
        request = Request(method, target, version, headers)
        if request.http11 and request.header("host") is None:
            raise BadRequest(400, "an HTTP/1.1 request must have a Host header\n")
        self.read_body(request)
        return request

    def read_body(self, request):
        te = request.header("transfer-encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise BadRequest(501, "only the chunked transfer coding is understood\n")
            while True:
                size_line = self.read_line().split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise BadRequest(400, "a chunk size must be hex digits\n")
                if size == 0:
                    while self.read_line() != b"":  # trailers
                        pass
                    return
                self.read_exact(size)
                self.read_line()
        length = request.header("content-length")
        if length is not None:
            if length == "" or any(c not in "0123456789" for c in length):
                raise BadRequest(400, "Content-Length must be digits\n")
            self.read_exact(int(length))

    # ---- writing ----

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            raise ClientGone()

    def send_head(self, status, reason, headers):
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Date: " + http_date(),
                 "X-Content-Type-Options: nosniff"]
        lines += ["%s: %s" % (k, v) for k, v in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_whole(self, request, status, reason, headers, body=b"", close=False):
        """A response with a Content-Length; returns whether the connection must close."""
        close = close or request is None or request.wants_close()
        headers = list(headers)
        if status not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        elif request is not None and not request.http11:
            headers.append(("Connection", "keep-alive"))
        self.send_head(status, reason, headers)
        if body and (request is None or request.method != "HEAD"):
            self.send(body)
        return close

    def send_text(self, request, status, reason, text, extra=(), close=False):
        headers = [("Content-Type", "text/plain; charset=utf-8")] + list(extra)
        return self.send_whole(request, status, reason, headers, text.encode("utf-8"), close)

    # ---- the connection's life ----

    def serve(self):
        self.sock.settimeout(IDLE_TIMEOUT)
        try:
            while True:
                try:
                    request = self.read_request()
                except BadRequest as e:
                    self.send_text(None, e.status, REASONS.get(e.status, "Bad Request"), e.reason)
                    return
                except (ClientGone, socket.timeout, OSError):
                    return
                try:
                    close = self.dispatch(request)
                except BadRequest as e:
                    close = self.send_text(request, e.status, REASONS[e.status], e.reason)
                log("%s %s %s" % (self.peer, request.method, request.target))
                if close:
                    return
        except (ClientGone, socket.timeout, OSError):
            return
        finally:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.sock.close()

    def dispatch(self, request):
        routes = {"/time": self.time, "/stream": self.stream, "/htmlfile": self.htmlfile}
        handler = routes.get(request.path)
        if handler is None:
            return self.send_text(request, 404, "Not Found", "there is nothing at this path\n")
        if request.method == "OPTIONS":
            return self.send_whole(request, 204, "No Content", [("Allow", ALLOW)])
        if request.method not in ("GET", "HEAD"):
            return self.send_text(request, 405, "Method Not Allowed", METHOD_REFUSED,
                                  [("Allow", ALLOW)])
        return handler(request)

    # ---- chapter 03: GET /time ----

    def time(self, request):
        now = time.time()
        body = (http_date(now) + "\n").encode("ascii")
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Poll-Interval-Ms", str(int(self.tick * 1000))),
        ]
        return self.send_whole(request, 200, "OK", headers, body)

    # ---- streams: chapters 05 and 06 ----

    def stream_reply(self, request, content_type, pieces):
        """Send the head, then each piece from the generator as one chunk (HTTP/1.1) or as it
        is (HTTP/1.0, where the close ends the body). Returns whether to close."""
        chunked = request.http11
        close = (not chunked) or request.wants_close()
        headers = [("Content-Type", content_type), ("Cache-Control", "no-store")]
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        if close:
            headers.append(("Connection", "close"))
        self.send_head(200, "OK", headers)
        if request.method == "HEAD":
            return close
        for piece in pieces:
            data = piece.encode("utf-8")
            if chunked:
                self.send(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                self.send(data)
        if chunked:
            self.send(b"0\r\n\r\n")
        return close

    def stream(self, request):
        count = number_param(request, "count", STREAM_COUNT)
        pad = number_param(request, "pad", STREAM_PAD)
        tick = self.tick

        def pieces():
            if pad > 0:
                yield " " * (pad - 1) + "\n"
            for n in range(count):
                if n > 0:
                    time.sleep(tick)
                yield "%d\n" % random.randrange(10000)

        return self.stream_reply(request, "text/plain; charset=utf-8", pieces())

    def htmlfile(self, request):
        count = number_param(request, "count", HTMLFILE_COUNT)
        target = request.param("target")
        if target is not None and target not in allowed_origins(request):
            raise BadRequest(400, TARGET_REFUSED)
        tick = self.tick

        def block(value):
            data = js_string(value)
            if target is None:
                return "<script>parent.process(%s)</script>\n" % data
            return "<script>parent.postMessage(%s, %s)</script>\n" % (data, js_string(target))

        def pieces():
            yield DOCUMENT_START
            for n in range(count):
                if n > 0:
                    time.sleep(tick)
                yield block(str(random.randrange(10000)))
            yield DOCUMENT_END

        return self.stream_reply(request, "text/html; charset=utf-8", pieces())


def allowed_origins(request):
    """http://localhost:PORT and http://127.0.0.1:PORT, PORT from Host (none means 80, and an
    origin on port 80 is written without it). No Host, or a Host with a bad port: none."""
    host = request.header("host")
    if host is None:
        return set()
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return set()
        rest = host[end + 1:]
    else:
        rest = host[host.find(":"):] if ":" in host else ""
    if rest == "":
        port = 80
    elif rest.startswith(":") and rest[1:] and all(c in "0123456789" for c in rest[1:]):
        port = int(rest[1:])
        if port > 65535:
            return set()
    else:
        return set()
    suffix = "" if port == 80 else ":%d" % port
    return {"http://localhost" + suffix, "http://127.0.0.1" + suffix}


REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large", 501: "Not Implemented",
           505: "HTTP Version Not Supported"}

LOG_LOCK = threading.Lock()


def log(line):
    with LOG_LOCK:
        print(line, file=sys.stderr, flush=True)


def accept_loop(listener, tick):
    while True:
        try:
            sock, addr = listener.accept()
        except OSError:
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = "%s:%d" % (addr[0], addr[1]) if listener.family == socket.AF_INET \
            else "[%s]:%d" % (addr[0], addr[1])
        conn = Connection(sock, peer, tick)
        threading.Thread(target=conn.serve, daemon=True).start()


def listen(family, address, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((address, port))
    s.listen(128)
    return s


def main(argv):
    if len(argv) < 2 or not argv[1].isdigit() or int(argv[1]) > 65535:
        print("usage: polling_streaming.py PORT [TICK_MS]", file=sys.stderr)
        return 2
    tick_ms = TICK_MS
    if len(argv) > 2:
        if not argv[2].isdigit() or int(argv[2]) < 1:
            print("TICK_MS must be a whole number, at least 1", file=sys.stderr)
            return 2
        tick_ms = int(argv[2])
    try:
        v4 = listen(socket.AF_INET, "127.0.0.1", int(argv[1]))
    except OSError as e:
        print("polling_streaming: cannot listen on 127.0.0.1:%s: %s" % (argv[1], e),
              file=sys.stderr)
        return 1
    port = v4.getsockname()[1]
    listeners = [v4]
    try:
        listeners.append(listen(socket.AF_INET6, "::1", port))
    except OSError:
        pass  # no IPv6 loopback here, or the port is taken there: 127.0.0.1 alone
    print("listening on http://localhost:%d/" % port, flush=True)
    for listener in listeners[1:]:
        threading.Thread(target=accept_loop, args=(listener, tick_ms / 1000), daemon=True).start()
    try:
        accept_loop(listeners[0], tick_ms / 1000)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
