#!/usr/bin/env python3
"""CORS (/cors), JSONP (/jsonp) and image ping (/ping) in one server, standard library only.

Written from docs/08-cors.md, docs/09-jsonp.md and docs/10-image-ping.md of webwire.
Usage: python3 cors_jsonp_ping.py PORT   (PORT 0: any free port, printed)

Written by a reader given only those chapters (no source code), graded by `webwire check` in
tests/check/learners.rs: cors 14 of 14, jsonp 8 of 8, image-ping 6 of 6 on the first run.
"""

import json
import re
import socket
import sys
import threading
import time
from email.utils import formatdate

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT = 30.0

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Content Too Large", 414: "URI Too Long",
    431: "Request Header Fields Too Large", 501: "Not Implemented",
}


# ----------------------------------------------------------------------------- HTTP core

class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (lowercase name, value), in order, one per line
        self.body = body
        if "?" in target:
            self.path, self.query = target.split("?", 1)
        else:
            self.path, self.query = target, None
        if "#" in self.path:
            self.path = self.path.split("#", 1)[0]

    def values(self, name):
        return [v for (n, v) in self.headers if n == name]

    def header(self, name):
        vs = self.values(name)
        return vs[0] if vs else None


class Response:
    def __init__(self, status, body=b"", content_type=None):
        self.status = status
        self.headers = []
        if content_type is not None:
            self.headers.append(("Content-Type", content_type))
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")

    def add(self, name, value):
        self.headers.append((name, value))
        return self


def text(status, reason_line):
    """A one-line text/plain answer: the reason and one line feed."""
    return Response(status, reason_line + "\n", "text/plain; charset=utf-8")


class BadRequest(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_until(conn, buf, sep, limit):
    while sep not in buf:
        if len(buf) > limit:
            raise BadRequest(431, "the request head is too long")
        chunk = conn.recv(65536)
        if not chunk:
            return buf, False
        buf += chunk
    return buf, True


def read_exact(conn, buf, n):
    while len(buf) < n:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client left mid-body")
        buf += chunk
    return buf


def read_request(conn, buf):
    """Returns (request or None at a clean end, rest of buffer)."""
    # Ignore empty lines before a request line (RFC 9112 §2.2).
    while buf.startswith(b"\r\n"):
        buf = buf[2:]
    buf, ok = read_until(conn, buf, b"\r\n\r\n", MAX_HEAD_BYTES)
    if not ok:
        if buf.strip():
            raise BadRequest(400, "the connection ended inside a request head")
        return None, b""
    head, buf = buf.split(b"\r\n\r\n", 1)
    if len(head) > MAX_HEAD_BYTES:
        raise BadRequest(431, "the request head is too long")
    lines = head.split(b"\r\n")
    try:
        request_line = lines[0].decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(400, "the request line is not ASCII")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise BadRequest(400, "the request line must be METHOD TARGET HTTP/1.1")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(400, "only HTTP/1.1 and HTTP/1.0 are spoken here")
    headers = []
    for raw in lines[1:]:
        if raw[:1] in (b" ", b"\t"):
            raise BadRequest(400, "obsolete line folding is not accepted")
        if b":" not in raw:
            raise BadRequest(400, "a header line without a colon")
        name, value = raw.split(b":", 1)
        if not name or name != name.strip():
            raise BadRequest(400, "a header name with spaces")
        # Values read as UTF-8, a bad sequence becoming U+FFFD (what is echoed must be text).
        headers.append((name.decode("latin-1").lower(),
                        value.strip(b" \t").decode("utf-8", errors="replace")))
    te = [v for (n, v) in headers if n == "transfer-encoding"]
    cl = [v for (n, v) in headers if n == "content-length"]
    body = b""
    if te:
        if cl:
            raise BadRequest(400, "both Content-Length and Transfer-Encoding")
        if te[-1].strip().lower().split(",")[-1].strip() != "chunked":
            raise BadRequest(501, "only chunked transfer coding is understood")
        while True:
            buf, ok = read_until(conn, buf, b"\r\n", 1024)
            if not ok:
                raise ConnectionError("client left mid-body")
            size_line, buf = buf.split(b"\r\n", 1)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, "a bad chunk size")
            if size == 0:
                # trailers, up to the blank line
                while True:
                    buf, ok = read_until(conn, buf, b"\r\n", MAX_HEAD_BYTES)
                    if not ok:
                        raise ConnectionError("client left mid-body")
                    line, buf = buf.split(b"\r\n", 1)
                    if line == b"":
                        break
                break
            if len(body) + size > MAX_BODY_BYTES:
                raise BadRequest(413, "the request body is too long")
            buf = read_exact(conn, buf, size + 2)
            body += buf[:size]
            buf = buf[size + 2:]
    elif cl:
        if len(set(v.strip() for v in cl)) != 1 or not cl[0].strip().isdigit():
            raise BadRequest(400, "a bad Content-Length")
        n = int(cl[0].strip())
        if n > MAX_BODY_BYTES:
            raise BadRequest(413, "the request body is too long")
        buf = read_exact(conn, buf, n)
        body, buf = buf[:n], buf[n:]
    return Request(method, target, version, headers, body), buf


def wants_close(request):
    tokens = set()
    for v in request.values("connection"):
        tokens.update(t.strip().lower() for t in v.split(","))
    if "close" in tokens:
        return True
    if request.version == "HTTP/1.0" and "keep-alive" not in tokens:
        return True
    return False


def serialize(response, method, close):
    status = response.status
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Unknown"))]
    lines.append("Date: " + http_date())
    lines.append("Server: learner")
    names = {n.lower() for (n, _) in response.headers}
    if "x-content-type-options" not in names:
        lines.append("X-Content-Type-Options: nosniff")
    for name, value in response.headers:
        lines.append("%s: %s" % (name, value))
    body = response.body
    if status == 204 or (100 <= status < 200) or status == 304:
        body = b""
    else:
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if method == "HEAD":
        return head
    return head + body


def http_date():
    return formatdate(time.time(), usegmt=True)


def handle_connection(conn, app):
    conn.settimeout(IDLE_TIMEOUT)
    buf = b""
    try:
        while True:
            try:
                request, buf = read_request(conn, buf)
            except BadRequest as e:
                conn.sendall(serialize(text(e.status, e.reason), "GET", True))
                return
            if request is None:
                return
            close = wants_close(request)
            if not request.header("host") and request.version == "HTTP/1.1":
                response = text(400, "an HTTP/1.1 request needs a Host header")
                close = True
            else:
                try:
                    response = app(request)
                except Exception as e:  # a bug of ours should not kill the connection silently
                    sys.stderr.write("error: %r\n" % (e,))
                    response = text(500, "internal error")
                    close = True
            conn.sendall(serialize(response, request.method, close))
            if close:
                return
    except (ConnectionError, socket.timeout, OSError):
        return
    finally:
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.close()


# ----------------------------------------------------------------------------- shared helpers

def form_decode(s):
    """application/x-www-form-urlencoded decoding of one name or value."""
    s = s.replace("+", " ")
    out = bytearray()
    raw = s.encode("utf-8")
    i = 0
    hexdigits = b"0123456789abcdefABCDEF"
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw) and raw[i + 1] in hexdigits and raw[i + 2] in hexdigits:
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", errors="replace")


def query_params(query):
    """[(name, value)] of a query string, decoded, in order, empty pieces skipped."""
    if not query:
        return []
    params = []
    for piece in query.split("&"):
        if piece == "":
            continue
        if "=" in piece:
            name, value = piece.split("=", 1)
        else:
            name, value = piece, ""
        params.append((form_decode(name), form_decode(value)))
    return params


def js_string(s):
    """A JSON string that nothing inside can end, nor end a <script> block around it."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        elif ch == "<":
            out.append("\\u003c")
        elif o == 0x2028:
            out.append("\\u2028")
        elif o == 0x2029:
            out.append("\\u2029")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def js_value(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return js_string(v)
    if isinstance(v, dict):
        return "{" + ",".join(js_string(k) + ":" + js_value(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(js_value(x) for x in v) + "]"
    raise TypeError(type(v))


def now_millis():
    return int(time.time() * 1000)


def cut_utf8(s, limit):
    """s cut to at most `limit` UTF-8 bytes, at a character boundary."""
    raw = s.encode("utf-8")
    if len(raw) <= limit:
        return s
    return raw[:limit].decode("utf-8", errors="ignore")


# ----------------------------------------------------------------------------- CORS

PREFLIGHT_MAX_AGE_SECS = 600
ALLOWED_METHODS = "GET, POST, PUT"
ALLOWED_HEADERS = "Content-Type, X-Custom-Header"
CORS_ALLOW = "GET, HEAD, OPTIONS, POST, PUT"
COOKIE_NAME = "webwire_cors"


def port_of_host(host):
    """The port a Host header names; 80 without one; None if it is not a port."""
    if host is None:
        return None
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        after = host[end + 1:]
    else:
        colon = host.find(":")
        after = "" if colon < 0 else host[colon:]
    if after == "" or after == ":":
        return 80
    if not after.startswith(":"):
        return None
    digits = after[1:]
    if not digits.isascii() or not digits.isdigit():
        return None
    port = int(digits)
    return port if port <= 65535 else None


def demo_origins(port):
    suffix = "" if port == 80 else ":%d" % port
    return ("http://localhost" + suffix, "http://127.0.0.1" + suffix)


ALLOWED, NOT_CORS, REFUSED = "allowed", "not-cors", "refused"


def judge(request):
    """(verdict, origin): allowed with the origin to echo, not CORS, or refused."""
    origins = request.values("origin")
    if not origins:
        return NOT_CORS, None
    if len(origins) > 1:
        return REFUSED, None
    origin = origins[0]
    if origin == "null":
        return REFUSED, None
    port = port_of_host(request.header("host"))
    if port is not None and origin in demo_origins(port):
        return ALLOWED, origin
    return REFUSED, None


class CorsState:
    def __init__(self):
        self.lock = threading.Lock()
        self.cookies_set = 0
        self.headers_served = 0


def cors_app(state, request):
    path = request.path
    if path == "/cors":
        response = cors_root(request)
    elif path == "/cors/cookie":
        response = cors_cookie(state, request)
    elif path == "/cors/headers":
        response = cors_headers(state, request)
    else:
        return None
    # Every answer of the three paths depends on Origin, whatever it was.
    response.add("Vary", "Origin")
    return response


def share(request, response, credentials=False):
    verdict, origin = judge(request)
    if verdict == ALLOWED:
        response.add("Access-Control-Allow-Origin", origin)
        if credentials:
            response.add("Access-Control-Allow-Credentials", "true")
    return response


def not_allowed(allow):
    r = text(405, "this method is not allowed here")
    r.add("Allow", allow)
    return r


def cors_root(request):
    m = request.method
    if m in ("GET", "HEAD"):
        r = Response(200, http_date() + "\n", "text/plain; charset=utf-8")
        r.add("Cache-Control", "no-store")
        return share(request, r)
    if m == "OPTIONS":
        r = Response(204)
        r.add("Allow", CORS_ALLOW)
        verdict, origin = judge(request)
        if verdict != ALLOWED:
            return r
        r.add("Access-Control-Allow-Origin", origin)
        if request.header("access-control-request-method") is not None:
            r.add("Access-Control-Allow-Methods", ALLOWED_METHODS)
            r.add("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            r.add("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_SECS))
        return r
    if m in ("PUT", "POST"):
        content_type = request.header("content-type")
        custom = request.header("x-custom-header")
        body = request.body.decode("utf-8", errors="replace")
        if content_type is not None:
            media = content_type.split(";", 1)[0].strip().lower()
            if media == "application/json":
                try:
                    json.loads(body)
                except ValueError:
                    return share(request, text(400, "the body is labelled JSON but is not JSON"))
        report = {"method": m, "contentType": content_type, "customHeader": custom, "body": body}
        r = Response(200, js_value(report), "application/json")
        r.add("Cache-Control", "no-store")
        return share(request, r)
    r = not_allowed(CORS_ALLOW)
    return share(request, r)


def demo_cookie(request):
    for line in request.values("cookie"):
        for pair in line.split(";"):
            pair = pair.strip()
            if "=" not in pair:
                continue
            name, value = pair.split("=", 1)
            if name.strip() == COOKIE_NAME:
                return value.strip()
    return None


def cors_cookie(state, request):
    m = request.method
    if m == "POST":
        verdict, origin = judge(request)
        if verdict == REFUSED:
            return text(403, "only the demo origins may set the demo cookie")
        with state.lock:
            state.cookies_set += 1
            value = state.cookies_set
        r = Response(200, "set %s=%d\n" % (COOKIE_NAME, value), "text/plain; charset=utf-8")
        r.add("Cache-Control", "no-store")
        r.add("Set-Cookie", "%s=%d; Path=/cors; Max-Age=3600; HttpOnly; SameSite=None; Secure; "
              "Partitioned" % (COOKIE_NAME, value))
        return share(request, r, credentials=True)
    if m in ("GET", "HEAD"):
        r = Response(200, js_value({"cookie": demo_cookie(request)}), "application/json")
        r.add("Cache-Control", "no-store")
        return share(request, r, credentials=True)
    if m == "OPTIONS":
        r = Response(204)
        r.add("Allow", "GET, HEAD, OPTIONS, POST")
        return share(request, r)
    return share(request, not_allowed("GET, HEAD, OPTIONS, POST"))


def cors_headers(state, request):
    m = request.method
    if m not in ("GET", "HEAD"):
        if m == "OPTIONS":
            r = Response(204)
            r.add("Allow", "GET, HEAD, OPTIONS")
            return share(request, r)
        return share(request, not_allowed("GET, HEAD, OPTIONS"))
    with state.lock:
        state.headers_served += 1
        count = state.headers_served
    r = Response(200, "Which of my headers may you read?\n", "text/plain; charset=utf-8")
    r.add("Cache-Control", "no-store")
    r.add("Content-Language", "en")
    r.add("Expires", "0")
    r.add("Last-Modified", "Thu, 16 Jan 2014 00:00:00 GMT")
    r.add("Pragma", "no-cache")
    r.add("ETag", '"v1"')
    r.add("X-Request-Count", str(count))
    r.add("X-Request-Id", "cors-%d" % count)
    verdict, _ = judge(request)
    if verdict == ALLOWED:
        r.add("Access-Control-Expose-Headers", "X-Request-Count")
    return share(request, r)


# ----------------------------------------------------------------------------- JSONP

MAX_CALLBACK_LEN = 64
RESERVED_WORDS = {
    "await", "break", "case", "catch", "class", "const", "continue", "debugger", "default",
    "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for", "function",
    "if", "import", "in", "instanceof", "new", "null", "return", "super", "switch", "this",
    "throw", "true", "try", "typeof", "var", "void", "while", "with", "yield",
}
NAME = r"[A-Za-z_$][A-Za-z0-9_$]*"
CALLBACK_RE = re.compile(r"\A" + NAME + r"(?:\." + NAME + r")*\Z")

NEED_CALLBACK = "a callback name is needed: ?cb=NAME or ?callback=NAME"
ONCE = "give the callback once: cb= or callback=, not both or twice"
TOO_LONG = "a callback name may be at most 64 characters"
NOT_A_NAME = ("a callback must be a JavaScript name, or names joined by dots: letters, digits, _ "
              "and $, not starting with a digit")
RESERVED = "a callback cannot start with a JavaScript reserved word"


def callback_of(params):
    given = [v for (n, v) in params if n in ("cb", "callback")]
    if not given:
        return None, NEED_CALLBACK
    if len(given) > 1:
        return None, ONCE
    cb = given[0]
    if len(cb.encode("utf-8")) > MAX_CALLBACK_LEN:
        return None, TOO_LONG
    if not CALLBACK_RE.match(cb):
        return None, NOT_A_NAME
    if cb.split(".", 1)[0] in RESERVED_WORDS:
        return None, RESERVED
    return cb, None


def jsonp_app(request):
    if request.path != "/jsonp":
        return None
    if request.method not in ("GET", "HEAD"):
        return not_allowed("GET, HEAD")
    params = query_params(request.query)
    cb, error = callback_of(params)
    if error:
        return text(400, error)
    query = {}
    for name, value in params:
        if name in ("cb", "callback") or name in query:
            continue
        query[name] = value
    data = {"time": now_millis(), "poll_ms": 1000, "query": query}
    body = "/**/%s(%s);" % (cb, js_value(data))
    r = Response(200, body, "text/javascript; charset=utf-8")
    r.add("Cache-Control", "no-store")
    return r


# ----------------------------------------------------------------------------- image ping

PING_RECENT = 20
MAX_PING_QUERY_BYTES = 512
MAX_PING_REFERER_BYTES = 256
PIXEL_GIF = bytes.fromhex(
    "47 49 46 38 39 61 01 00 01 00 80 00 00 00 00 00 ff ff ff 21 f9 04 01 00 00 00 00 2c"
    " 00 00 00 00 01 00 01 00 00 02 02 44 01 00 3b"
)
assert len(PIXEL_GIF) == 43 and PIXEL_GIF[:6] == b"GIF89a" and PIXEL_GIF[-1] == 0x3B


class PingState:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.recent = []

    def record(self, query, status, referer):
        with self.lock:
            self.count += 1
            self.recent.append({"n": self.count, "at": now_millis(), "status": status,
                                "query": query, "referer": cut_utf8(referer, MAX_PING_REFERER_BYTES)})
            del self.recent[:-PING_RECENT]

    def stats(self):
        with self.lock:
            return js_value({"count": self.count, "kept": PING_RECENT,
                             "recent": [dict(p) for p in self.recent]})


def ping_app(state, request):
    if request.path == "/ping/stats":
        if request.method not in ("GET", "HEAD"):
            return not_allowed("GET, HEAD")
        r = Response(200, state.stats(), "application/json")
        r.add("Cache-Control", "no-store")
        return r
    if request.path != "/ping":
        return None
    if request.method not in ("GET", "HEAD"):
        return not_allowed("GET, HEAD")
    query = request.query or ""
    if len(query.encode("utf-8")) > MAX_PING_QUERY_BYTES:
        return text(414, "a ping's query may be at most %d bytes" % MAX_PING_QUERY_BYTES)
    gif_values = [v for (n, v) in query_params(query) if n == "gif"]
    gif = False
    if gif_values:
        if gif_values[0] == "1":
            gif = True
        elif gif_values[0] != "0":
            return text(400, "gif must be 1 (a GIF) or 0 (204)")
    status = 200 if gif else 204
    if request.method == "GET":
        state.record(query, status, request.header("referer") or "")
    if gif:
        r = Response(200, PIXEL_GIF, "image/gif")
    else:
        r = Response(204)
    r.add("Cache-Control", "no-store")
    return r


# ----------------------------------------------------------------------------- the server

def make_app():
    cors_state = CorsState()
    ping_state = PingState()

    def app(request):
        for route in (lambda r: cors_app(cors_state, r), jsonp_app,
                      lambda r: ping_app(ping_state, r)):
            response = route(request)
            if response is not None:
                return response
        return text(404, "nothing here: try /cors, /jsonp or /ping")

    return app


def listen(port):
    """Both loopback names, as `localhost` means both: a dual-stack socket on ::1 if possible."""
    socks = []
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.listen(128)
            port = s.getsockname()[1]  # port 0: the one the system picked, for both
            socks.append(s)
        except OSError as e:
            sys.stderr.write("cannot listen on %s port %d: %s\n" % (addr, port, e))
    if not socks:
        sys.exit(1)
    return socks, port


def serve(sock, app):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle_connection, args=(conn, app), daemon=True).start()


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.stderr.write("usage: %s PORT\n" % sys.argv[0])
        sys.exit(2)
    port = int(sys.argv[1])
    app = make_app()
    socks, port = listen(port)
    for s in socks[1:]:
        threading.Thread(target=serve, args=(s, app), daemon=True).start()
    print("listening on http://localhost:%d/ (/cors, /jsonp, /ping)" % port, flush=True)
    try:
        serve(socks[0], app)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
