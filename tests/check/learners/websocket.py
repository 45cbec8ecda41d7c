#!/usr/bin/env python3
"""WebSocket, GET /ws: the handshake and an echo, from docs/12-websocket.md's exercise.

Standard library only. Usage: python3 websocket.py PORT
With PORT 0 a free port is picked on 127.0.0.1 (and the same port on ::1 if possible).

Written by a reader given only the chapter (no source code), graded by
`webwire check websocket` in tests/check/learners.rs: 19 of 19 rules on the first run, and
Autobahn's fuzzing client: 298 OK, 3 INFORMATIONAL, 0 FAILED of 301.
"""

import base64
import binascii
import errno
import hashlib
import socket
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("echo", "chat")
MAX_HEAD_BYTES = 16 * 1024
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
FIRST_READ = 4 * 1024
MAX_READ = 64 * 1024
PING_INTERVAL = 30.0
CLOSE_TIMEOUT = 2.0
CLOSE_DRAIN_BYTES = 1024 * 1024
HEAD_TIMEOUT = 10.0
IDLE_TIMEOUT = 15.0
WRITE_TIMEOUT = 10.0

REASONS = {
    101: "Switching Protocols",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


# ---------------------------------------------------------------- the handshake


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version  # "1.0" or "1.1"
        self.headers = headers  # list of (lowercase name, value)

    def values(self, name):
        return [v for (n, v) in self.headers if n == name]

    def tokens(self, name):
        """Every comma-separated element of every line with this name, trimmed."""
        out = []
        for value in self.values(name):
            for part in value.split(","):
                part = part.strip(" \t")
                if part:
                    out.append(part)
        return out

    def has_token(self, name, token):
        return any(t.lower() == token for t in self.tokens(name))


class Refusal(Exception):
    def __init__(self, status, reason, extra=(), close=False):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra = list(extra)
        self.close = close


def parse_head(raw):
    """The request head (bytes, without the blank line) as a Request, or Refusal."""
    try:
        text = raw.decode("latin-1")
    except Exception:  # pragma: no cover - latin-1 decodes anything
        raise Refusal(400, "the request head is not text", close=True)
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise Refusal(400, "malformed request line", close=True)
    method, target, proto = parts
    if not proto.startswith("HTTP/") or len(proto) != 8 or proto[6] != ".":
        raise Refusal(400, "malformed request line", close=True)
    major, minor = proto[5], proto[7]
    if not (major.isdigit() and minor.isdigit()):
        raise Refusal(400, "malformed request line", close=True)
    if major != "1":
        raise Refusal(505, "only HTTP/1.x is spoken here", close=True)
    version = "1.0" if minor == "0" else "1.1"  # 1.2 and up are read as 1.1
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise Refusal(400, "folded header lines are not allowed", close=True)
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip(" \t"):
            raise Refusal(400, "malformed header line", close=True)
        headers.append((name.lower(), value.strip(" \t")))
    return Request(method, target, version, headers)


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def host_port(host):
    """The port named in a Host value, as text, or None when it names none."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :] if end >= 0 else ""
    else:
        rest = host[host.find(":") :] if ":" in host else ""
    if rest.startswith(":") and rest[1:]:
        return rest[1:]
    return None


def own_origins(request):
    hosts = request.values("host")
    port = host_port(hosts[0]) if hosts else None
    suffix = "" if port in (None, "80") else ":" + port
    return {"http://localhost" + suffix, "http://127.0.0.1" + suffix}


def valid_key(values):
    if len(values) != 1:
        return None
    key = values[0]
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    # Standard base64 with its padding, and canonical: it must encode back to itself.
    if len(decoded) != 16 or base64.b64encode(decoded).decode("ascii") != key:
        return None
    return key


def check_handshake(request):
    """The 101's extra headers, or a Refusal (the chapter's order)."""
    path = request.target.split("?", 1)[0]
    if path != "/ws":
        raise Refusal(404, "there is nothing at " + path + "; the WebSocket is at /ws")
    if request.method == "HEAD":
        raise Refusal(400, "a HEAD cannot open a WebSocket: send the handshake as a GET")
    if request.method != "GET":
        raise Refusal(405, "/ws answers GET (and HEAD)", extra=[("Allow", "GET, HEAD")])
    if request.version != "1.1":
        raise Refusal(400, "a WebSocket handshake needs HTTP/1.1")
    if len(request.values("host")) != 1:
        raise Refusal(400, "a request needs exactly one Host header")
    if not request.has_token("upgrade", "websocket"):
        raise Refusal(400, "this is a WebSocket endpoint: send Upgrade: websocket")
    if not request.has_token("connection", "upgrade"):
        raise Refusal(400, "a WebSocket handshake needs Connection: Upgrade")
    versions = request.values("sec-websocket-version")
    if not versions:
        raise Refusal(400, "Sec-WebSocket-Version is missing")
    if versions != ["13"]:
        raise Refusal(
            426,
            "this server speaks WebSocket version 13 only",
            extra=[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                   ("Connection", "Upgrade")],
        )
    key = valid_key(request.values("sec-websocket-key"))
    if key is None:
        raise Refusal(400, "Sec-WebSocket-Key must be base64 of 16 bytes, sent once")
    origins = request.values("origin")
    if len(origins) > 1:
        raise Refusal(
            403,
            "more than one Origin header: a request that may open this socket must say "
            "which page sent it",
        )
    if origins and origins[0] not in own_origins(request):
        raise Refusal(403, "pages from " + origins[0] + " may not open this socket")
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
    for offered in request.tokens("sec-websocket-protocol"):
        if offered in PROTOCOLS:
            headers.append(("Sec-WebSocket-Protocol", offered))
            break
    return headers


def http_response(status, headers, body=b""):
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
    lines += ["%s: %s" % (n, v) for (n, v) in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refusal_response(refusal, close, head_only=False):
    body = (refusal.reason + "\n").encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8")] + refusal.extra
    headers.append(("Content-Length", str(len(body))))
    if close and not any(n.lower() == "connection" for (n, _) in refusal.extra):
        headers.append(("Connection", "close"))
    # A HEAD's answer has Content-Length but never a body (RFC 9110 §9.3.2).
    return http_response(refusal.status, headers, b"" if head_only else body)


# ---------------------------------------------------------------- UTF-8, as it arrives


def utf8_length(lead):
    """Bytes in a character starting with `lead`, or 0 if it can never start one."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def second_range(lead):
    return {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF),
            0xF4: (0x80, 0x8F)}.get(lead, (0x80, 0xBF))


def unfinished_ok(tail):
    """Whether an unfinished character (lead and fewer bytes than it needs) may still be one."""
    for i, b in enumerate(tail[1:], start=1):
        lo, hi = second_range(tail[0]) if i == 1 else (0x80, 0xBF)
        if not lo <= b <= hi:
            return False
    return True


class Utf8Stream:
    """Checks text piece by piece; fails as soon as the bytes can no longer be UTF-8."""

    def __init__(self):
        self.pending = b""

    def feed(self, piece):
        data = self.pending + piece if self.pending else bytes(piece)
        # Find where the last character starts (at most 3 continuation bytes back).
        cut = len(data)
        i = len(data) - 1
        while i >= 0 and i >= len(data) - 4:
            b = data[i]
            if b < 0x80:
                break
            if b >= 0xC0:
                need = utf8_length(b)
                if need == 0:
                    return False
                if need > len(data) - i:
                    cut = i
                break
            i -= 1
        head, tail = data[:cut], data[cut:]
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return False
        if tail and not unfinished_ok(tail):
            return False
        self.pending = tail
        return True

    def finish(self):
        return not self.pending


# ---------------------------------------------------------------- frames


class Violation(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def protocol_error(reason):
    return Violation(1002, reason)


def valid_close_code(code):
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def frame_header(opcode, length):
    first = 0x80 | opcode
    if length <= 125:
        return bytes((first, length))
    if length <= 0xFFFF:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def unmask(data, key, offset):
    n = len(data)
    if n == 0:
        return b""
    turn = offset % 4
    k = key[turn:] + key[:turn]
    mask = (k * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")


class Sender:
    """Writes whole frames, one at a time, never after the close frame."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()
        self.close_sent = False

    def send(self, opcode, payload):
        with self.lock:
            if self.close_sent:
                raise OSError("close already sent")
            if opcode == 0x8:
                self.close_sent = True
            self.sock.sendall(frame_header(opcode, len(payload)) + payload)


class Reader:
    """Turns bytes into events, checking every rule; payloads are consumed as they arrive."""

    def __init__(self):
        self.frame = None  # (fin, opcode, key, length, received)
        self.message = None  # [opcode, bytearray, Utf8Stream or None]
        self.control = bytearray()

    def in_message(self):
        return self.message is not None

    def parse_header(self, buf, at):
        if len(buf) - at < 2:
            return None
        first, second = buf[at], buf[at + 1]
        fin = bool(first & 0x80)
        if first & 0x70:
            raise protocol_error("RSV bits set without an extension")
        opcode = first & 0x0F
        if opcode not in (0, 1, 2, 8, 9, 10):
            raise protocol_error("reserved opcode")
        if opcode >= 8 and not fin:
            raise protocol_error("fragmented control frame")
        masked = bool(second & 0x80)
        length = second & 0x7F
        used = 2
        if length == 126:
            if len(buf) - at < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, at + 2)
            used = 4
            if length < 126:
                raise protocol_error("length not in its shortest form")
        elif length == 127:
            if len(buf) - at < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, at + 2)
            used = 10
            if length >> 63:
                raise protocol_error("64-bit length with the top bit set")
            if length <= 0xFFFF:
                raise protocol_error("length not in its shortest form")
        if opcode >= 8 and length > 125:
            raise protocol_error("control frame over 125 bytes")
        if not masked:
            raise protocol_error("client frames must be masked")
        if len(buf) - at < used + 4:
            return None
        key = bytes(buf[at + used : at + used + 4])
        return (fin, opcode, key, length, used + 4)

    def start_frame(self, fin, opcode, length):
        if opcode == 0 and self.message is None:
            raise protocol_error("continuation without a message")
        if opcode in (1, 2):
            if self.message is not None:
                raise protocol_error("new message inside a fragmented one")
            self.message = [opcode, bytearray(), Utf8Stream() if opcode == 1 else None]
        if opcode < 8:
            if len(self.message[1]) + length > MAX_MESSAGE_BYTES:
                raise Violation(1009, "message too big")
        else:
            self.control = bytearray()

    def take(self, opcode, piece):
        if opcode >= 8:
            self.control += piece
            return
        self.message[1] += piece
        utf8 = self.message[2]
        if utf8 is not None and not utf8.feed(piece):
            raise Violation(1007, "invalid UTF-8")

    def end_frame(self, fin, opcode):
        if opcode >= 8:
            payload = bytes(self.control)
            self.control = bytearray()
            if opcode == 8:
                return ("close", self.close_payload(payload))
            return ("ping" if opcode == 9 else "pong", payload)
        if not fin:
            return None
        kind, data, utf8 = self.message
        self.message = None
        if utf8 is not None and not utf8.finish():
            raise Violation(1007, "invalid UTF-8")
        return ("text" if kind == 1 else "binary", bytes(data))

    @staticmethod
    def close_payload(payload):
        if not payload:
            return None
        if len(payload) == 1:
            raise protocol_error("close payload of 1 byte")
        code = struct.unpack("!H", payload[:2])[0]
        if not valid_close_code(code):
            raise protocol_error("invalid close code")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise Violation(1007, "invalid UTF-8")
        return (code, reason)

    def read(self, buf, used):
        """Consumes from buf at `used`: (new position, event or None). None: read more."""
        while True:
            if self.frame is None:
                header = self.parse_header(buf, used)
                if header is None:
                    return used, None
                fin, opcode, key, length, header_len = header
                self.start_frame(fin, opcode, length)
                used += header_len
                self.frame = [fin, opcode, key, length, 0]
            fin, opcode, key, length, received = self.frame
            take = min(length - received, len(buf) - used)
            if take:
                self.take(opcode, unmask(bytes(buf[used : used + take]), key, received))
                used += take
                self.frame[4] += take
            if self.frame[4] < length:
                return used, None
            self.frame = None
            event = self.end_frame(fin, opcode)
            if event is not None:
                return used, event


# ---------------------------------------------------------------- the connection


def linger(sock, timeout=CLOSE_TIMEOUT, limit=CLOSE_DRAIN_BYTES):
    """Send FIN, then read and discard until the client closes (or time runs out)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + timeout
        drained = 0
        while drained < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def run_websocket(sock, leftover, log):
    sender = Sender(sock)
    reader = Reader()
    buf = bytearray(leftover)
    chunk = FIRST_READ
    ping_sent = False
    ending = None
    try:
        while ending is None:
            # Act on everything buffered.
            used = 0
            while True:
                try:
                    used, event = reader.read(buf, used)
                except Violation as violation:
                    ending = ("failed", violation)
                    break
                if event is None:
                    break
                kind, payload = event
                if kind == "text":
                    sender.send(0x1, payload)
                elif kind == "binary":
                    sender.send(0x2, payload)
                elif kind == "ping":
                    sender.send(0xA, payload)
                elif kind == "close":
                    ending = ("client", payload)
                    break
            del buf[:used]
            if ending is not None:
                break
            sock.settimeout(PING_INTERVAL)
            try:
                data = sock.recv(chunk)
            except socket.timeout:
                if ping_sent:
                    ending = ("vanished", "no answer to a ping")
                    break
                ping_sent = True
                sender.send(0x9, b"")
                continue
            if not data:
                ending = ("vanished", "the client closed TCP")
                break
            ping_sent = False
            buf += data
            chunk = min(chunk * 2, MAX_READ) if len(data) == chunk else FIRST_READ
    except OSError as e:
        ending = ("vanished", str(e))

    what, detail = ending
    if what == "client":
        if detail is None:
            payload = b""
        else:
            code, reason = detail
            payload = struct.pack("!H", code) + reason.encode("utf-8")
        try:
            sender.send(0x8, payload)
        except OSError:
            pass
        log("websocket closed by the client: %s" % (detail,))
        linger(sock)
    elif what == "failed":
        try:
            sender.send(0x8, struct.pack("!H", detail.code) + detail.reason.encode("utf-8"))
        except OSError:
            pass
        log("websocket closed by the server: %d %r" % (detail.code, detail.reason))
        linger(sock)
    else:
        log("websocket gone without a close frame (%s)" % detail)
        try:
            sock.close()
        except OSError:
            pass


def read_head(sock, buf, first):
    """Reads until the blank line; returns (head bytes, rest) or None if the client left."""
    deadline = None
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(buf[:end]), bytes(buf[end + 4 :])
        if len(buf) > MAX_HEAD_BYTES:
            raise Refusal(431, "the header section is larger than 16 KiB", close=True)
        if buf and deadline is None:
            deadline = time.monotonic() + HEAD_TIMEOUT
        left = (deadline - time.monotonic()) if deadline else (HEAD_TIMEOUT if first else IDLE_TIMEOUT)
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(8192)
        except socket.timeout:
            return None
        if not data:
            return None
        buf += data


def serve_connection(sock, peer):
    def log(line):
        print("%s %s" % (peer, line), file=sys.stderr, flush=True)

    buf = bytearray()
    first = True
    try:
        while True:
            try:
                got = read_head(sock, buf, first)
            except Refusal as refusal:
                sock.sendall(refusal_response(refusal, True))
                linger(sock)
                return
            first = False
            if got is None:
                sock.close()
                return
            head, rest = got
            buf = bytearray(rest)
            try:
                request = parse_head(head)
            except Refusal as refusal:
                sock.sendall(refusal_response(refusal, True))
                log("bad request: %d %s" % (refusal.status, refusal.reason))
                linger(sock)
                return
            try:
                if any(n == "transfer-encoding" for (n, _) in request.headers):
                    raise Refusal(400, "a WebSocket handshake has no body", close=True)
                lengths = request.values("content-length")
                if lengths and lengths != ["0"]:
                    raise Refusal(400, "a WebSocket handshake has no body", close=True)
                extra = check_handshake(request)
            except Refusal as refusal:
                close = refusal.close or request.version == "1.0"
                sock.settimeout(WRITE_TIMEOUT)
                sock.sendall(refusal_response(refusal, close, request.method == "HEAD"))
                log("%s %s %d %s" % (request.method, request.target, refusal.status,
                                     refusal.reason))
                if close:
                    linger(sock)
                    return
                continue
            sock.settimeout(WRITE_TIMEOUT)
            sock.sendall(http_response(101, extra))
            log("%s %s 101 switched protocols" % (request.method, request.target))
            run_websocket(sock, bytes(buf), log)
            return
    except OSError:
        try:
            sock.close()
        except OSError:
            pass


def accept_loop(listener):
    while True:
        try:
            sock, addr = listener.accept()
        except OSError:
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = "[%s]:%d" % addr[:2] if ":" in addr[0] else "%s:%d" % addr[:2]
        threading.Thread(target=serve_connection, args=(sock, peer), daemon=True).start()


def listen(family, host, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(128)
    return s


def main():
    if len(sys.argv) < 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) > 65535:
        print("usage: websocket.py PORT (0 picks a free one)", file=sys.stderr)
        sys.exit(2)
    wanted = int(sys.argv[1])
    listeners = []
    for attempt in range(20):
        try:
            v4 = listen(socket.AF_INET, "127.0.0.1", wanted)
        except OSError as e:
            print("websocket.py: cannot listen on 127.0.0.1:%d: %s" % (wanted, e),
                  file=sys.stderr)
            sys.exit(1)
        port = v4.getsockname()[1]
        try:
            v6 = listen(socket.AF_INET6, "::1", port)
        except OSError as e:
            v6 = None
            if wanted == 0 and attempt < 19 and e.errno == errno.EADDRINUSE:
                v4.close()  # that port is taken on ::1: try another free one
                continue
        listeners = [v4] + ([v6] if v6 else [])
        break
    print("listening on http://localhost:%d/ws" % port, flush=True)
    for listener in listeners[1:]:
        threading.Thread(target=accept_loop, args=(listener,), daemon=True).start()
    try:
        accept_loop(listeners[0])
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
