"""Helpers for test_security_nats.py: a nats-server started on a
configuration file, a NATS client that authenticates (user/password, token,
NKey, user JWT) and speaks TLS, NKeys and JWTs made with python3-cryptography,
and an openssl CA with server and client certificates.

Nothing here changes natsclient.py: SecNatsClient subclasses NatsClient and
replaces only its connection handshake.
"""

import base64
import binascii
import hashlib
import json
import os
import socket
import ssl
import subprocess
import time

import harness
from natsclient import NatsClient, NatsError

HOST = harness.HOST


# ---------------------------------------------------------------- NKeys
#
# An NKey is base32 (RFC 4648, no padding) of
#   public: [prefix] + 32-byte ed25519 public key + crc16
#   seed:   [SEED | prefix >> 5, (prefix & 31) << 3] + 32-byte seed + crc16
# crc16 is CRC-16/XMODEM (poly 0x1021, init 0) of the bytes before it,
# little endian. Prefix bytes give the first letter: O operator, A account,
# U user; seeds start with S then that letter.

PREFIX_SEED = 18 << 3       # 'S'
PREFIX_OPERATOR = 14 << 3   # 'O'
PREFIX_ACCOUNT = 0          # 'A'
PREFIX_USER = 20 << 3       # 'U'


def crc16(data):
    return binascii.crc_hqx(bytes(data), 0)


def _b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def _with_crc(raw):
    return raw + crc16(raw).to_bytes(2, "little")


class NKey:
    """An ed25519 key pair with its NKey encodings."""

    def __init__(self, prefix, seed32=None):
        # python3-cryptography: imported here, so that the tests that need
        # no NKey run without it.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PrivateKey)
        from cryptography.hazmat.primitives.serialization import (
            Encoding, PublicFormat)
        self.prefix = prefix
        self.raw_seed = seed32 if seed32 is not None else os.urandom(32)
        self._sk = Ed25519PrivateKey.from_private_bytes(self.raw_seed)
        self.raw_public = self._sk.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)

    @property
    def public(self):
        return _b32(_with_crc(bytes([self.prefix]) + self.raw_public))

    @property
    def seed(self):
        head = bytes([PREFIX_SEED | (self.prefix >> 5),
                      (self.prefix & 31) << 3])
        return _b32(_with_crc(head + self.raw_seed))

    def sign(self, data):
        return self._sk.sign(bytes(data))

    @classmethod
    def from_seed(cls, seed):
        s = seed.strip()
        raw = base64.b32decode(s + "=" * (-len(s) % 8))
        body, crc = raw[:-2], raw[-2:]
        if crc16(body).to_bytes(2, "little") != crc:
            raise ValueError("bad NKey seed checksum")
        if body[0] & 0xf8 != PREFIX_SEED:
            raise ValueError("not an NKey seed")
        prefix = ((body[0] & 7) << 5) | ((body[1] & 0xf8) >> 3)
        return cls(prefix, body[2:])


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# ---------------------------------------------------------------- JWTs
#
# A NATS JWT (v2): b64url(header) "." b64url(claims) "." b64url(sig), the
# signature by the issuer's ed25519 key over the first two parts; header
# {"typ":"JWT","alg":"ed25519-nkey"}; jti is the base32 SHA-256 of the
# claims without jti.

def make_jwt(claims, issuer):
    claims = dict(claims)
    claims.setdefault("iat", int(time.time()))
    claims["iss"] = issuer.public
    claims["jti"] = ""
    claims["jti"] = _b32(hashlib.sha256(
        json.dumps(claims, sort_keys=True).encode()).digest())
    head = b64url(json.dumps({"typ": "JWT",
                              "alg": "ed25519-nkey"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = issuer.sign(("%s.%s" % (head, body)).encode())
    return "%s.%s.%s" % (head, body, b64url(sig))


def operator_jwt(op):
    return make_jwt({"sub": op.public, "name": "test-operator",
                     "nats": {"type": "operator", "version": 2}}, op)


def account_jwt(acc, op):
    return make_jwt({"sub": acc.public, "name": "test-account",
                     "nats": {"limits": {"subs": -1, "data": -1,
                                         "payload": -1, "imports": -1,
                                         "exports": -1, "wildcards": True,
                                         "conn": -1, "leaf": -1},
                              "default_permissions": {"pub": {}, "sub": {}},
                              "type": "account", "version": 2}}, op)


def user_jwt(user, acc, name):
    return make_jwt({"sub": user.public, "name": name,
                     "nats": {"pub": {}, "sub": {}, "subs": -1,
                              "data": -1, "payload": -1,
                              "type": "user", "version": 2}}, acc)


def creds_text(jwt, user):
    """A .creds file as nsc writes it."""
    return ("-----BEGIN NATS USER JWT-----\n%s\n"
            "------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove "
            "identity.\nNKEYs are sensitive and should be treated as "
            "secrets.\n\n"
            "-----BEGIN USER NKEY SEED-----\n%s\n"
            "------END USER NKEY SEED------\n\n"
            "*************************************************************\n"
            % (jwt, user.seed))


# ---------------------------------------------------------------- files

def write_secret(path, text, mode=0o600):
    """Write text to path with exactly this mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def make_pki(d):
    """A CA, a server certificate for IP 127.0.0.1 and a client
    certificate, all signed by the CA, in directory d (keys 0600).
    Returns a dict of paths."""
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, k + ext) for k, ext in (
        ("ca", ".pem"), ("ca_key", ".key"), ("server", ".pem"),
        ("server_key", ".key"), ("client", ".pem"), ("client_key", ".key"))}

    def ossl(*args):
        r = subprocess.run(["openssl"] + list(args), cwd=d,
                           capture_output=True, text=True)
        assert r.returncode == 0, "openssl %s: %s" % (args[0], r.stderr)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", p["ca_key"], "-out", p["ca"],
         "-days", "2", "-subj", "/CN=batchd test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (
            ("server", "127.0.0.1",
             "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("client", "batchd",
             "extendedKeyUsage=clientAuth\n")):
        csr = os.path.join(d, name + ".csr")
        extf = os.path.join(d, name + ".ext")
        with open(extf, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    + ext)
        ossl("req", "-new", *ec, "-keyout", p[name + "_key"], "-out", csr,
             "-subj", "/CN=" + cn)
        ossl("x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey",
             p["ca_key"], "-CAcreateserial", "-out", p[name], "-days", "2",
             "-extfile", extf)
    for k in ("ca_key", "server_key", "client_key"):
        os.chmod(p[k], 0o600)
    return p


# ---------------------------------------------------------------- server

class ConfNatsServer(harness.NatsServer):
    """nats-server -c CONF -a 127.0.0.1 -p PORT (the command line wins over
    the file's listen/port)."""

    def __init__(self, workdir, conf_path, port=None):
        super().__init__(workdir, port)
        self.conf_path = conf_path

    def _argv(self):
        return [harness.NATS_SERVER_BIN, "-c", self.conf_path, "-a", HOST,
                "-p", str(self.port)]

    def _probe(self):
        # Listening is enough: the server sends INFO on connect (a client
        # would need the file's credentials).
        with socket.create_connection((HOST, self.port), 1.0) as s:
            if s.recv(5) != b"INFO ":
                raise OSError("no INFO yet")


# ---------------------------------------------------------------- client

class SecNatsClient(NatsClient):
    """NatsClient with credentials and TLS.

    user/password, token, nkey (an NKey, signs the server's nonce), jwt
    (with nkey: the user JWT of a .creds file), tls (an ssl.SSLContext:
    the socket is upgraded after INFO, before CONNECT, as the NATS TLS
    handshake wants), inbox_prefix (replies come to {inbox_prefix}.<hex>.N
    instead of _INBOX.<hex>.N).

    Every -ERR of the server is kept, in order, in .errors; the
    connection stays usable after a permissions violation.
    """

    def __init__(self, host=HOST, port=4222, user=None, password=None,
                 token=None, nkey=None, jwt=None, tls=None,
                 inbox_prefix="_INBOX", name="batchd-sec-tests",
                 connect_timeout=5.0):
        self.errors = []                   # before the error setter runs
        self._creds = (user, password, token, nkey, jwt, tls)
        self._inbox_base = inbox_prefix
        super().__init__(host, port, name, connect_timeout,
                         inbox_prefix=inbox_prefix)

    def _connect_opts(self, info, name):
        user, password, token, nkey, jwt, tls = self._creds
        if info.get("tls_required") and tls is None:
            raise NatsError("server requires TLS")
        if tls is not None:
            self._sock = tls.wrap_socket(self._sock,
                                         server_hostname=self.host)
            self.tls_version = self._sock.version()
        opts = super()._connect_opts(info, name)
        opts.update({"protocol": 1, "tls_required": tls is not None})
        if user is not None:
            opts["user"] = user
            opts["pass"] = password
        if token is not None:
            opts["auth_token"] = token
        if nkey is not None:
            if "nonce" not in info:
                raise NatsError("server sent no nonce to sign")
            opts["sig"] = b64url(nkey.sign(info["nonce"].encode()))
            if jwt is not None:
                opts["jwt"] = jwt
            else:
                opts["nkey"] = nkey.public
        return opts

    # Every "-ERR ..." the reader sees goes through this setter.
    @property
    def error(self):
        return self.__dict__.get("_error")

    @error.setter
    def error(self, v):
        old = self.__dict__.get("_error")
        self.__dict__["_error"] = v
        if v is not None and v is not old and v.startswith("server error:"):
            self.errors.append(v[len("server error: "):])

    def new_inbox(self):
        return "%s.%s" % (self._inbox_base, os.urandom(11).hex())

    def wait_error(self, needle, timeout=2.0):
        """Wait until an -ERR containing needle arrived; return it."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.errors:
                if needle in e:
                    return e
            if time.monotonic() >= deadline:
                raise AssertionError("no -ERR with %r within %.1fs; got %r"
                                     % (needle, timeout, self.errors))
            time.sleep(0.02)


def tls_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def have_crypto():
    """Is python3-cryptography (ed25519) importable?"""
    import importlib
    try:
        importlib.import_module(
            "cryptography.hazmat.primitives.asymmetric.ed25519")
    except ImportError:
        return False
    return True
