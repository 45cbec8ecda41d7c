#!/usr/bin/env python3
"""Long polling, server side, from docs/04-long-polling.md alone (Python 3, standard library).

    python3 long_polling.py PORT        (PORT 0: a free port)

GET /longpoll?since=N      the events after N at once, or held until one is published (25 s)
POST /longpoll/publish     a form body text=...: appends an event and answers it

Written by a reader given only the chapter (no source code), graded by
`webwire check long-polling` in tests/check/learners.rs: 12 of 12 rules on the first run.
"""

import io
import json
import select
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

POLL_PATH = "/longpoll"
PUBLISH_PATH = "/longpoll/publish"
HOLD_SECONDS = 25.0
LOG_CAPACITY = 256            # the log keeps the newest 256 events
MAX_BATCH_EVENTS = 256        # one answer: at most 256 events ...
MAX_BATCH_TEXT_BYTES = 16 * 1024  # ... or 16 KiB of event text, and always at least one
MAX_TEXT_BYTES = 1024
MAX_BODY_BYTES = 64 * 1024    # a publish body larger than this is refused (413): my own limit
MAX_HELD = 1000               # held polls at once; one more gets 503 (my own number)
GONE_CHECK_SECONDS = 0.25     # a held poll looks at its socket this often
MAX_UNREAD_WHILE_HELD = 16 * 1024
U64_MAX = 2**64 - 1


# ---------------------------------------------------------------------------------------------
# The log


class Hub:
    """The numbered events, newest LOG_CAPACITY kept, and a condition to wait for the next."""

    def __init__(self):
        self.cond = threading.Condition()
        self.events = []  # dicts {"id", "text", "ts"}, oldest first
        self.last_id = 0
        self.held = 0

    def publish(self, text):
        with self.cond:
            self.last_id += 1
            event = {"id": self.last_id, "text": text, "ts": int(time.time() * 1000)}
            self.events.append(event)
            if len(self.events) > LOG_CAPACITY:
                del self.events[: len(self.events) - LOG_CAPACITY]
            self.cond.notify_all()
            return event

    def stats(self):
        with self.cond:
            return {"waiting": self.held, "max_waiting": MAX_HELD, "last_id": self.last_id}

    def _after(self, since):
        """One batch of the events after `since` (caller holds the lock)."""
        batch, text_bytes = [], 0
        for event in self.events:  # at most 256: a scan is fine
            if event["id"] <= since:
                continue
            size = len(event["text"].encode("utf-8"))
            if batch and (len(batch) >= MAX_BATCH_EVENTS or text_bytes + size > MAX_BATCH_TEXT_BYTES):
                break
            batch.append(event)
            text_bytes += size
        return batch

    def poll(self, since, client_gone):
        """(status, events): the events after `since` at once, or wait for them until the hold
        ends. A cursor above the newest id is taken as 0 (a client from before a restart)."""
        deadline = time.monotonic() + HOLD_SECONDS
        with self.cond:
            if since > self.last_id:
                since = 0
            news = self._after(since)
            if news:
                return 200, news
            if self.held >= MAX_HELD:
                return 503, None
            self.held += 1
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return 200, []
                    self.cond.wait(min(left, GONE_CHECK_SECONDS))
                    news = self._after(since)
                    if news:
                        return 200, news
                    # Look at the socket without the lock: a publish must not wait for it.
                    self.cond.release()
                    try:
                        gone = client_gone()
                    finally:
                        self.cond.acquire()
                    if gone:
                        return 200, []
            finally:
                self.held -= 1


HUB = Hub()


# ---------------------------------------------------------------------------------------------
# Decoding


def percent_decode(raw):
    """Bytes of a form component: '+' is a space, %XX a byte (a bad escape stays as it is)."""
    raw = raw.replace(b"+", b" ")
    out = bytearray()
    i = 0
    hexdigits = b"0123456789abcdefABCDEF"
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw) and raw[i + 1] in hexdigits and raw[i + 2] in hexdigits:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def form_value(raw, name):
    """The first value of `name` in a form-encoded string (bytes), decoded as UTF-8 with
    U+FFFD for what is not UTF-8; None when there is no such pair."""
    for pair in raw.split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        if percent_decode(key).decode("utf-8", "replace") == name:
            return percent_decode(value).decode("utf-8", "replace")
    return None


def parse_since(query):
    """(since, None) or (None, reason)."""
    value = form_value(query.encode("latin-1", "replace"), "since") if query is not None else None
    if value is None:
        return None, "since is missing: ask /longpoll?since=0, then send the last id you saw"
    if not value or not all("0" <= ch <= "9" for ch in value):
        return None, "since must be a whole number: the last event id you saw, or 0"
    number = int(value)
    if number > U64_MAX:
        return None, "since is too large: event ids fit in 64 bits"
    return number, None


def event_json(value):
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")  # safe to drop into a page; any JSON escaping would do


# ---------------------------------------------------------------------------------------------
# HTTP


class ChainRaw(io.RawIOBase):
    """Bytes read while watching a held poll, then the connection's own reader."""

    def __init__(self, pending, rest):
        self.pending = bytearray(pending)
        self.rest = rest

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.pending:
            n = min(len(buffer), len(self.pending))
            buffer[:n] = self.pending[:n]
            del self.pending[:n]
            return n
        data = self.rest.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def version_string(self):
        return "long_polling.py"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if not QUIET:
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    # -- dispatch: every method reaches one function ------------------------------------------

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.route
        raise AttributeError(name)

    def route(self):
        path, _, query = self.path.partition("?")
        has_query = "?" in self.path
        method = self.command
        if path == POLL_PATH:
            if method in ("GET", "HEAD"):
                return self.poll(query if has_query else None)
            if method == "OPTIONS":
                return self.options("GET, HEAD, OPTIONS")
            return self.not_allowed("GET, HEAD, OPTIONS")
        if path == PUBLISH_PATH:
            if method == "POST":
                return self.publish()
            if method == "OPTIONS":
                return self.options("POST, OPTIONS")
            return self.not_allowed("POST, OPTIONS")
        if path == POLL_PATH + "/stats" and method in ("GET", "HEAD"):
            return self.json_reply(HUB.stats())  # not part of the exercise: for looking in
        self.discard_body()
        self.answer(404, "text/plain; charset=utf-8", b"not found: this server has /longpoll and /longpoll/publish\n",
                    extra=[("Cache-Control", "no-store")])

    # -- answers -------------------------------------------------------------------------------

    def answer(self, status, content_type, body, extra=()):
        self.send_response(status)
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in extra:
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(body)
        self.wfile.flush()

    def json_reply(self, value):
        body = event_json(value).encode("utf-8")
        self.answer(200, "application/json", body,
                    extra=[("Cache-Control", "no-store"), ("Access-Control-Allow-Origin", "*")])

    def refuse(self, status, reason, extra=()):
        self.answer(status, "text/plain; charset=utf-8", (reason + "\n").encode("utf-8"),
                    extra=[("Cache-Control", "no-store"), ("Access-Control-Allow-Origin", "*"), *extra])

    def not_allowed(self, allow):
        self.discard_body()
        self.answer(405, "text/plain; charset=utf-8", b"this path does not accept that method\n",
                    extra=[("Allow", allow)])

    def options(self, allow):
        self.discard_body()
        self.answer(204, None, b"", extra=[("Allow", allow)])

    # -- bodies --------------------------------------------------------------------------------

    def read_body(self):
        """The request body, or None after answering a refusal (and closing: the rest of
        the body is not read)."""
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            self.close_connection = True
            self.refuse(411, "send the body with a Content-Length")
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        if len(set(v.strip() for v in lengths)) != 1 or not lengths[0].strip().isdigit():
            self.close_connection = True
            self.refuse(400, "Content-Length must be one whole number")
            return None
        length = int(lengths[0].strip())
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self.refuse(413, "the body is larger than %d bytes" % MAX_BODY_BYTES)
            return None
        return self.rfile.read(length)

    def discard_body(self):
        lengths = self.headers.get_all("Content-Length") or []
        te = self.headers.get("Transfer-Encoding")
        if te or len(lengths) > 1:
            self.close_connection = True
            return
        if lengths and lengths[0].strip().isdigit():
            length = int(lengths[0].strip())
            if length > MAX_BODY_BYTES:
                self.close_connection = True
            else:
                self.rfile.read(length)

    # -- the two endpoints ---------------------------------------------------------------------

    def allowed_origins(self):
        host = (self.headers.get("Host") or "").strip()
        port = ""
        if host.startswith("["):  # [::1]:PORT
            end = host.find("]")
            rest = host[end + 1 :] if end >= 0 else ""
            port = rest[1:] if rest.startswith(":") else ""
        elif ":" in host:
            port = host.rsplit(":", 1)[1]
        suffix = ":" + port if port else ""
        return {"http://localhost" + suffix, "http://127.0.0.1" + suffix}

    def publish(self):
        body = self.read_body()
        if body is None:
            return
        origins = self.headers.get_all("Origin") or []
        if len(origins) > 1:
            return self.refuse(403, "more than one Origin header: a request that may publish here "
                                    "must say which page sent it")
        if origins and origins[0].strip() not in self.allowed_origins():
            return self.refuse(403, "pages from %s may not publish here" % origins[0].strip())
        content_type = self.headers.get("Content-Type")
        if content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type != "application/x-www-form-urlencoded":
                return self.refuse(415, "send the text as a form: Content-Type: "
                                        "application/x-www-form-urlencoded")
        text = form_value(body, "text") or ""
        if not text.strip():
            return self.refuse(400, "text is missing or empty: send a form body text=...")
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            return self.refuse(400, "text is longer than %d bytes" % MAX_TEXT_BYTES)
        self.json_reply(HUB.publish(text))

    def poll(self, query):
        self.discard_body()
        since, reason = parse_since(query)
        if reason:
            return self.refuse(400, reason)
        self.pending = bytearray()
        status, events = HUB.poll(since, self.client_gone)
        if self.pending:
            # What the client sent while it was held is the start of its next request.
            self.rfile = io.BufferedReader(ChainRaw(self.pending, self.rfile))
        if status == 503:
            return self.refuse(503, "too many requests are held open (%d); try again shortly" % MAX_HELD,
                               extra=[("Retry-After", "1")])
        self.json_reply(events)

    def client_gone(self):
        """True when the client has closed its connection. Reads (not peeks) what it sent,
        keeping it for the next request: a peek would never see a close behind one byte."""
        if len(self.pending) >= MAX_UNREAD_WHILE_HELD:
            return False  # with that much unread, a close cannot be seen: wait for the deadline
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            data = sock.recv(MAX_UNREAD_WHILE_HELD - len(self.pending), socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not data:
            return True
        self.pending += data
        return False


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Server6(Server):
    address_family = socket.AF_INET6


QUIET = "-q" in sys.argv[2:] or "--quiet" in sys.argv[2:]


def main():
    if len(sys.argv) < 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) > 65535:
        sys.stderr.write("usage: long_polling.py PORT [--quiet]   (PORT 0: a free port)\n")
        sys.exit(2)
    port = int(sys.argv[1])
    try:
        v4 = Server(("127.0.0.1", port), Handler)
    except OSError as error:
        sys.stderr.write("long_polling.py: 127.0.0.1:%d: %s\n" % (port, error))
        sys.exit(1)
    port = v4.server_address[1]
    servers = [v4]
    try:
        servers.append(Server6(("::1", port, 0, 0), Handler))
    except OSError as error:
        sys.stderr.write("long_polling.py: no [::1]:%d (%s); 127.0.0.1 only\n" % (port, error))
    print("listening on http://localhost:%d%s" % (port, POLL_PATH), flush=True)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
