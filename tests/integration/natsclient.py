"""A small NATS client over a plain TCP socket, for the integration tests.

Only the core text protocol is implemented (no headers, no TLS, no
reconnect): INFO, CONNECT, PUB, SUB, UNSUB, MSG, PING, PONG, +OK, -ERR.
Payloads are bytes and are never decoded.

    nc = NatsClient("127.0.0.1", 4222)
    data = nc.request("svc.echo", b"hi", timeout=2)
    sub = nc.subscribe("events.>")
    subject, data = sub.next(timeout=1)
    nc.close()
"""

import itertools
import json
import os
import queue
import socket
import threading
import time

__all__ = ["NatsClient", "NatsError", "NatsTimeout", "NatsClosed",
           "Subscription"]

_CRLF = b"\r\n"


class NatsError(Exception):
    """Protocol error, -ERR from the server, or a broken connection."""


class NatsClosed(NatsError):
    """The connection is closed."""


class NatsTimeout(NatsError, TimeoutError):
    """Nothing arrived in time."""


def _check_subject(subject, wildcards):
    if not isinstance(subject, str) or not subject:
        raise ValueError("empty subject")
    for ch in subject:
        if ch in " \t\r\n":
            raise ValueError("whitespace in subject %r" % subject)
    for tok in subject.split("."):
        if tok == "":
            raise ValueError("empty token in subject %r" % subject)
        if not wildcards and tok in ("*", ">"):
            raise ValueError("wildcard in publish subject %r" % subject)


class Subscription:
    """Messages for one SUB, queued by the reader thread."""

    def __init__(self, client, sid, subject):
        self._client = client
        self.sid = sid
        self.subject = subject
        self._q = queue.Queue()

    def _deliver(self, subject, reply, data):
        self._q.put((subject, reply, data))

    def next_msg(self, timeout=5.0):
        """Return (subject, reply, data) of the next message."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            raise NatsTimeout("no message on %r within %.3fs"
                              % (self.subject, timeout)) from None
        if item is None:
            raise NatsClosed("connection closed: %s" % self._client.error)
        return item

    def next(self, timeout=5.0):
        """Return (subject, data) of the next message."""
        subject, _reply, data = self.next_msg(timeout)
        return subject, data

    def pending(self):
        return self._q.qsize()

    def unsubscribe(self):
        self._client._unsubscribe(self)


class NatsClient:
    """One connection to a NATS server, with a background reader thread."""

    def __init__(self, host="127.0.0.1", port=4222, name="batchd-tests",
                 connect_timeout=5.0, inbox_prefix="_INBOX"):
        self.host = host
        self.port = port
        self.error = None
        self.server_info = {}
        self._closed = False
        self._wlock = threading.Lock()     # socket writes
        self._lock = threading.Lock()      # the tables below
        self._subs = {}                    # sid -> Subscription
        self._sids = itertools.count(1)
        self._pongs = []                   # Events waiting for PONG, FIFO
        self._inbox_prefix = "%s.%s" % (inbox_prefix, os.urandom(11).hex())
        self._reqs = {}                    # inbox token -> Queue
        self._req_ids = itertools.count(1)

        self._sock = socket.create_connection((host, port),
                                              timeout=connect_timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        try:
            line = self._read_line_sync(connect_timeout)
            if not line.startswith(b"INFO "):
                raise NatsError("expected INFO, got %r" % line[:80])
            self.server_info = json.loads(line[5:].decode())
            self.max_payload = int(self.server_info.get("max_payload",
                                                        1048576))
            opts = self._connect_opts(self.server_info, name)
            self._sock.sendall(b"CONNECT " + json.dumps(opts).encode()
                               + _CRLF + b"PING" + _CRLF)
            # The server answers PONG (or -ERR) before anything else.
            while True:
                line = self._read_line_sync(connect_timeout)
                if line == b"PONG":
                    break
                if line.startswith(b"-ERR"):
                    raise NatsError("server refused CONNECT: %s"
                                    % line.decode(errors="replace"))
                if line == b"PING":
                    self._sock.sendall(b"PONG" + _CRLF)
                # +OK or an INFO update: ignore.
        except BaseException:
            self._sock.close()
            raise
        self._sock.settimeout(None)

        self._resp_sub = None
        self._reader = threading.Thread(target=self._read_loop,
                                        name="nats-reader", daemon=True)
        self._reader.start()
        self._resp_sub = self._subscribe(self._inbox_prefix + ".*",
                                         self._on_response)

    def _connect_opts(self, info, name):
        """The CONNECT options, once the server's INFO is in; a subclass
        adds credentials (and may upgrade the socket first)."""
        return {"verbose": False, "pedantic": False, "headers": False,
                "name": name, "lang": "python-test", "version": "0.1"}

    # ------------------------------------------------------------ reading

    def _read_line_sync(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(_CRLF)
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 2]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise NatsTimeout("no line from the server in time")
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise NatsClosed("server closed the connection")
            self._buf += chunk

    def _read_loop(self):
        buf = self._buf
        try:
            while True:
                # Process every complete frame in buf.
                while True:
                    i = buf.find(_CRLF)
                    if i < 0:
                        break
                    line = bytes(buf[:i])
                    op = line.split(b" ", 1)[0].upper()
                    if op == b"MSG":
                        parts = line.split()
                        if len(parts) == 4:
                            _, subj, sid, size = parts
                            reply = None
                        elif len(parts) == 5:
                            _, subj, sid, reply, size = parts
                        else:
                            raise NatsError("bad MSG line %r" % line)
                        size = int(size)
                        end = i + 2 + size
                        if len(buf) < end + 2:
                            break          # wait for the whole payload
                        data = bytes(buf[i + 2:end])
                        if buf[end:end + 2] != _CRLF:
                            raise NatsError("MSG payload not followed by "
                                            "CRLF")
                        del buf[:end + 2]
                        self._dispatch(subj.decode(), int(sid),
                                       reply.decode() if reply else None,
                                       data)
                        continue
                    del buf[:i + 2]
                    if op == b"PING":
                        self._send(b"PONG" + _CRLF)
                    elif op == b"PONG":
                        with self._lock:
                            ev = self._pongs.pop(0) if self._pongs else None
                        if ev is not None:
                            ev.set()
                    elif op == b"-ERR":
                        msg = line[4:].strip().decode(errors="replace")
                        self.error = "server error: " + msg
                        # Most -ERRs close the connection; the server will
                        # hang up and recv() returns b"" below.
                    elif op in (b"+OK", b"INFO"):
                        pass
                    else:
                        raise NatsError("unexpected line %r" % line[:80])
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise NatsClosed("server closed the connection")
                buf += chunk
        except Exception as exc:           # noqa: BLE001 - record and stop
            if not self._closed and self.error is None:
                self.error = "%s: %s" % (type(exc).__name__, exc)
        finally:
            self._shutdown()

    def _dispatch(self, subject, sid, reply, data):
        with self._lock:
            sub = self._subs.get(sid)
        if sub is not None:
            sub._deliver(subject, reply, data)

    def _on_response(self, subject, reply, data):
        token = subject.rsplit(".", 1)[1]
        with self._lock:
            q = self._reqs.get(token)
        if q is not None:
            q.put(data)

    # ------------------------------------------------------------ writing

    def _send(self, data):
        if self._closed:
            raise NatsClosed("connection closed: %s" % self.error)
        try:
            with self._wlock:
                self._sock.sendall(data)
        except OSError as exc:
            self.error = self.error or "send failed: %s" % exc
            self._shutdown()
            raise NatsClosed("send failed: %s" % exc) from exc

    def publish(self, subject, payload=b"", reply=None, headers=None):
        """PUB, or HPUB with headers (a dict: the connection must have
        declared them in CONNECT)."""
        _check_subject(subject, wildcards=False)
        if reply is not None:
            _check_subject(reply, wildcards=False)
        payload = bytes(payload)
        if len(payload) > self.max_payload:
            raise NatsError("payload of %d bytes exceeds max_payload %d"
                            % (len(payload), self.max_payload))
        to = "%s %s" % (subject, reply + " " if reply else "")
        if headers is None:
            head = ("PUB %s%d\r\n" % (to, len(payload))).encode()
        else:
            hdr = b"NATS/1.0\r\n" + b"".join(
                ("%s: %s\r\n" % kv).encode() for kv in headers.items()) + \
                b"\r\n"
            head = ("HPUB %s%d %d\r\n" % (to, len(hdr), len(hdr) +
                                          len(payload))).encode() + hdr
        self._send(head + payload + _CRLF)

    def _subscribe(self, subject, callback=None):
        _check_subject(subject, wildcards=True)
        sid = next(self._sids)
        sub = Subscription(self, sid, subject)
        if callback is not None:
            sub._deliver = callback
        with self._lock:
            self._subs[sid] = sub
        self._send(("SUB %s %d\r\n" % (subject, sid)).encode())
        return sub

    def subscribe(self, subject):
        """Subscribe; the server has the interest once flush() returns."""
        sub = self._subscribe(subject)
        self.flush()
        return sub

    def _unsubscribe(self, sub):
        with self._lock:
            self._subs.pop(sub.sid, None)
        if not self._closed:
            self._send(("UNSUB %d\r\n" % sub.sid).encode())

    def flush(self, timeout=5.0):
        """PING and wait for the PONG: everything sent before is processed."""
        ev = threading.Event()
        with self._lock:
            self._pongs.append(ev)
        self._send(b"PING" + _CRLF)
        if not ev.wait(timeout):
            with self._lock:
                if ev in self._pongs:
                    self._pongs.remove(ev)
            raise NatsTimeout("no PONG within %.3fs" % timeout)
        if self._closed and self.error:
            raise NatsClosed("connection closed: %s" % self.error)

    def new_inbox(self):
        return "_INBOX.%s" % os.urandom(11).hex()

    def request(self, subject, payload=b"", timeout=5.0, headers=None):
        """Publish with a unique reply inbox; return the first reply's data."""
        token = "%d" % next(self._req_ids)
        q = queue.Queue()
        with self._lock:
            self._reqs[token] = q
        try:
            self.publish(subject, payload,
                         reply="%s.%s" % (self._inbox_prefix, token),
                         headers=headers)
            try:
                data = q.get(timeout=timeout)
            except queue.Empty:
                raise NatsTimeout("no reply on %r within %.3fs"
                                  % (subject, timeout)) from None
            if data is None:
                raise NatsClosed("connection closed: %s" % self.error)
            return data
        finally:
            with self._lock:
                self._reqs.pop(token, None)

    # ------------------------------------------------------------ closing

    @property
    def is_closed(self):
        return self._closed

    def _shutdown(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subs = list(self._subs.values())
            pongs, self._pongs = self._pongs, []
            reqs = list(self._reqs.values())
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        for ev in pongs:
            ev.set()
        for q in reqs:
            q.put(None)
        for sub in subs:
            if sub is not self._resp_sub:
                sub._q.put(None)

    def close(self):
        if not self._closed:
            try:
                self.flush(timeout=1.0)
            except NatsError:
                pass
        self._shutdown()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
