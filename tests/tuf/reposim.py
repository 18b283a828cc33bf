"""reposim -- a TUF (specification 1.0.x) repository simulator for tests.

It builds and signs root, timestamp, snapshot, targets and delegated targets
metadata in memory, with its own canonical JSON and its own key handling
(ed25519, ecdsa-sha2-nistp256, rsassa-pss-sha256), so that a client under test
is checked against an implementation that shares no code with it. Every role
can be signed with any chosen set of keys (right keys, wrong keys, too few,
duplicated, stripped), every signed version is kept (for rollback and
mix-and-match attacks), and an HTTP server on 127.0.0.1 serves the files from
memory, records each request and injects faults per path (status codes,
replaced bodies, endless bodies, lying Content-Length, trickling, slow
headers). Everything the server does is bounded in bytes and in time.

Only the Python standard library and `cryptography` (as Debian 12 ships it)
are used. Run with /usr/bin/python3.
"""

import copy
import datetime
import hashlib
import http.server
import json
import posixpath
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SPEC_VERSION = "1.0.31"
TOP_ROLES = ("root", "timestamp", "snapshot", "targets")


# ---- canonical JSON ---------------------------------------------------------

def canonical_json(obj):
    """TUF canonical JSON of obj as bytes: object keys sorted, no
    whitespace, strings with only '"' and '\\' escaped, integers only."""
    out = []

    def enc(o):
        if o is True:
            out.append("true")
        elif o is False:
            out.append("false")
        elif o is None:
            out.append("null")
        elif isinstance(o, int):
            out.append(str(o))
        elif isinstance(o, str):
            out.append('"' + o.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif isinstance(o, (list, tuple)):
            out.append("[")
            for i, v in enumerate(o):
                if i:
                    out.append(",")
                enc(v)
            out.append("]")
        elif isinstance(o, dict):
            out.append("{")
            for i, k in enumerate(sorted(o)):
                if not isinstance(k, str):
                    raise TypeError("canonical JSON object keys must be strings")
                if i:
                    out.append(",")
                enc(k)
                out.append(":")
                enc(o[k])
            out.append("}")
        else:
            raise TypeError("canonical JSON cannot encode %r" % type(o))

    enc(obj)
    return "".join(out).encode("utf-8")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def expiry(days=365, seconds=0):
    """An 'expires' string days (+ seconds) from now, UTC."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        days=days, seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def role_file_name(role):
    """Name of a role's trusted file in the client's metadata dir."""
    return urllib.parse.quote(role, safe="") + ".json"


def target_file_name(path):
    """The protocol's local file name of a target path: every byte but
    [A-Za-z0-9._~-] percent-encoded (uppercase hex); "." and ".." whole."""
    if path == ".":
        return "%2E"
    if path == "..":
        return "%2E%2E"
    keep = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")
    return "".join(chr(b) if b in keep else "%%%02X" % b for b in path.encode("utf-8"))


# ---- keys -------------------------------------------------------------------

class Key:
    """A signing key and its TUF public key object."""

    def __init__(self, keytype="ed25519"):
        self.keytype = keytype
        if keytype == "ed25519":
            self._priv = ed25519.Ed25519PrivateKey.generate()
            raw = self._priv.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.scheme = "ed25519"
            self.public = raw.hex()
        elif keytype == "ecdsa":
            self._priv = ec.generate_private_key(ec.SECP256R1())
            self.scheme = "ecdsa-sha2-nistp256"
            self.public = self._pem()
        elif keytype == "rsa":
            self._priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.scheme = "rsassa-pss-sha256"
            self.public = self._pem()
        else:
            raise ValueError("unknown key type " + keytype)
        self.keyid = sha256_hex(canonical_json(self.obj()))

    def _pem(self):
        return self._priv.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def obj(self):
        return {"keytype": self.keytype, "scheme": self.scheme,
                "keyval": {"public": self.public}}

    def sign(self, data):
        """Signature over data, hex-encoded (DER for ecdsa)."""
        if self.keytype == "ed25519":
            sig = self._priv.sign(data)
        elif self.keytype == "ecdsa":
            sig = self._priv.sign(data, ec.ECDSA(hashes.SHA256()))
        else:
            sig = self._priv.sign(
                data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256())
        return sig.hex()

    def signature(self, signed, keyid=None):
        return {"keyid": keyid or self.keyid, "sig": self.sign(canonical_json(signed))}


def envelope(signed, keys=(), extra_signatures=(), pretty=False):
    """The signed metadata file: signatures of keys over canonical(signed),
    then extra_signatures as given (forged, duplicated, ...)."""
    sigs = [k.signature(signed) for k in keys] + list(extra_signatures)
    return dump_file({"signatures": sigs, "signed": signed}, pretty)


def dump_file(doc, pretty=False):
    """A metadata file's bytes: compact JSON (keys sorted, UTF-8) or
    indented JSON with \\u escapes. Not canonical JSON: a PEM key's newlines
    must be escaped in a JSON file; signatures are over canonical_json."""
    if pretty:
        return (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    return json.dumps(doc, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False).encode("utf-8")


def parse_signed(data):
    return json.loads(data.decode("utf-8"))["signed"]


# ---- the repository -----------------------------------------------------------

class Repo:
    """A TUF repository in memory.

    State: keys per top-level role (listed in root) and per delegated role,
    thresholds, targets per role, delegations. publish_*() sign the current
    state as a new version, keep it in history[role][version] and put it in
    files (url path -> bytes, what the server serves). Keyword arguments of
    the publish methods override the defaults to build attacks:
      keys=[...]            sign with these keys instead of the role's keys
      extra_signatures=[..] append these signature objects
      version=N, expires=S  override the version / expiry
      mutate=f              f(signed) may edit the signed dict before signing
      serve=False           sign and keep in history, but do not serve
    """

    def __init__(self, consistent_snapshot=True, keytypes=None, pretty=False,
                 timestamp_hashes=False, snapshot_hashes=False, publish=True):
        keytypes = keytypes or {}
        self.consistent = consistent_snapshot
        self.pretty = pretty
        self.timestamp_hashes = timestamp_hashes  # length+hashes of snapshot in timestamp
        self.snapshot_hashes = snapshot_hashes    # length+hashes of targets roles in snapshot
        self.keys = {r: [Key(keytypes.get(r, "ed25519"))] for r in TOP_ROLES}
        self.thresholds = {r: 1 for r in TOP_ROLES}
        self.expires = {r: expiry(365) for r in TOP_ROLES}
        self.version = {r: 0 for r in TOP_ROLES}
        self.targets = {"targets": {}}       # role -> {path: fileinfo}
        self.delegations = {"targets": None}  # role -> {"keys":.., "roles":[..]} or None
        self.deleg_keys = {}                  # delegated role -> [Key] (signers)
        self.target_data = {}                 # target path -> bytes
        self.history = {}                     # role -> {version: bytes}
        self.files = {}                       # url path (no leading /) -> bytes
        self._last_root_signers = None        # root keys+threshold of the last root
        if publish:
            self.publish_root()
            self.commit()

    # -- names ---------------------------------------------------------------

    def metadata_path(self, role, version=None):
        """URL path of a role's metadata file (version: of a consistent repo)."""
        if role == "root":
            return "metadata/%d.root.json" % version
        if role == "timestamp":
            return "metadata/timestamp.json"
        name = urllib.parse.quote(role, safe="")
        if self.consistent:
            return "metadata/%d.%s.json" % (version, name)
        return "metadata/%s.json" % name

    def target_paths(self, path, hashes_=None):
        """URL paths a target is served at (one per listed hash when
        consistent snapshots are on; hashes_: as listed, default the
        first role listing path)."""
        if not self.consistent:
            return ["targets/" + path]
        d, _, base = path.rpartition("/")
        out = []
        for h in (hashes_ or self.target_hashes(path)).values():
            out.append("targets/" + (d + "/" if d or path.startswith("/") else "")
                       + h + "." + base)
        return out

    def target_hashes(self, path):
        role = self.role_of_target(path)
        return self.targets[role][path]["hashes"]

    def role_of_target(self, path):
        for role, t in self.targets.items():
            if path in t:
                return role
        raise KeyError(path)

    # -- signing -------------------------------------------------------------

    def signers(self, role):
        if role in TOP_ROLES:
            return self.keys[role][: self.thresholds[role]]
        return self.deleg_keys[role]

    def _keep(self, role, version, data, serve, url=None):
        self.history.setdefault(role, {})[version] = data
        if serve:
            self.files[url or self.metadata_path(role, version)] = data
        return data

    def root_signed(self, version=None, expires=None):
        keys = {}
        roles = {}
        for r in TOP_ROLES:
            for k in self.keys[r]:
                keys[k.keyid] = k.obj()
            roles[r] = {"keyids": [k.keyid for k in self.keys[r]],
                        "threshold": self.thresholds[r]}
        return {"_type": "root", "spec_version": SPEC_VERSION,
                "version": version if version is not None else self.version["root"] + 1,
                "expires": expires or self.expires["root"],
                "consistent_snapshot": self.consistent,
                "keys": keys, "roles": roles}

    def publish_root(self, keys=None, extra_signatures=(), version=None, expires=None,
                     mutate=None, serve=True):
        """Sign the current keys as the next root version. By default it is
        signed by a threshold of the previous root's keys and a threshold of
        its own root keys (cross-signed, so a client can rotate to it)."""
        signed = self.root_signed(version, expires)
        if mutate:
            mutate(signed)
        if keys is None:
            keys = list(self.signers("root"))
            if self._last_root_signers:
                for k in self._last_root_signers:
                    if k.keyid not in {x.keyid for x in keys}:
                        keys.append(k)
        data = envelope(signed, keys, extra_signatures, self.pretty)
        v = signed["version"]
        if serve:
            self.version["root"] = max(self.version["root"], v)
            self._last_root_signers = list(self.signers("root"))
            self.files["metadata/root.json"] = data
        return self._keep("root", v, data, serve)

    def targets_signed(self, role="targets", version=None, expires=None):
        v = version if version is not None else self.version.get(role, 0) + 1
        signed = {"_type": "targets", "spec_version": SPEC_VERSION, "version": v,
                  "expires": expires or self.expires.get(role) or expiry(365),
                  "targets": copy.deepcopy(self.targets[role])}
        if self.delegations.get(role):
            signed["delegations"] = copy.deepcopy(self.delegations[role])
        return signed

    def publish_targets(self, role="targets", keys=None, extra_signatures=(), version=None,
                        expires=None, mutate=None, serve=True):
        signed = self.targets_signed(role, version, expires)
        if mutate:
            mutate(signed)
        data = envelope(signed, self.signers(role) if keys is None else keys,
                        extra_signatures, self.pretty)
        v = signed["version"]
        if serve:
            self.version[role] = max(self.version.get(role, 0), v)
        return self._keep(role, v, data, serve)

    def snapshot_meta(self):
        meta = {}
        for role in self.targets:
            if role not in self.history:
                continue
            v = self.version[role]
            info = {"version": v}
            if self.snapshot_hashes:
                data = self.history[role][v]
                info["length"] = len(data)
                info["hashes"] = {"sha256": sha256_hex(data)}
            meta[role + ".json"] = info
        return meta

    def publish_snapshot(self, keys=None, extra_signatures=(), version=None, expires=None,
                         mutate=None, serve=True, meta=None):
        v = version if version is not None else self.version["snapshot"] + 1
        signed = {"_type": "snapshot", "spec_version": SPEC_VERSION, "version": v,
                  "expires": expires or self.expires["snapshot"],
                  "meta": meta if meta is not None else self.snapshot_meta()}
        if mutate:
            mutate(signed)
        data = envelope(signed, self.signers("snapshot") if keys is None else keys,
                        extra_signatures, self.pretty)
        if serve:
            self.version["snapshot"] = max(self.version["snapshot"], v)
        return self._keep("snapshot", v, data, serve)

    def publish_timestamp(self, keys=None, extra_signatures=(), version=None, expires=None,
                          mutate=None, serve=True, snapshot_version=None):
        v = version if version is not None else self.version["timestamp"] + 1
        sv = snapshot_version if snapshot_version is not None else self.version["snapshot"]
        info = {"version": sv}
        if self.timestamp_hashes and sv in self.history.get("snapshot", {}):
            data = self.history["snapshot"][sv]
            info["length"] = len(data)
            info["hashes"] = {"sha256": sha256_hex(data)}
        signed = {"_type": "timestamp", "spec_version": SPEC_VERSION, "version": v,
                  "expires": expires or self.expires["timestamp"],
                  "meta": {"snapshot.json": info}}
        if mutate:
            mutate(signed)
        data = envelope(signed, self.signers("timestamp") if keys is None else keys,
                        extra_signatures, self.pretty)
        if serve:
            self.version["timestamp"] = max(self.version["timestamp"], v)
        return self._keep("timestamp", v, data, serve, url="metadata/timestamp.json")

    def commit(self, *roles):
        """Publish new versions of the given targets roles (all unpublished
        ones too), then a new snapshot and a new timestamp."""
        for role in self.targets:
            if role in roles or role not in self.history:
                self.publish_targets(role)
        self.publish_snapshot()
        self.publish_timestamp()

    # -- content -----------------------------------------------------------------

    def add_target(self, path, data, role="targets", custom=None, sha512=False,
                   length=None, serve=True):
        """List a target in role (not yet signed: commit(role) to publish)."""
        hashes_ = {"sha256": sha256_hex(data)}
        if sha512:
            hashes_["sha512"] = hashlib.sha512(data).hexdigest()
        info = {"length": len(data) if length is None else length, "hashes": hashes_}
        if custom is not None:
            info["custom"] = custom
        self.targets[role][path] = info
        self.target_data[path] = data
        if serve:
            for p in self.target_paths(path, hashes_):
                # also where a client that collapses "//" and "../" (or
                # decodes "%2e%2e" first, or takes "\\" for "/") asks for it
                u = urllib.parse.unquote(p)
                for q in (p, _norm(p), _norm(u), _norm(u.replace("\\", "/"))):
                    self.files[q] = data
        return info

    def delegate(self, parent, name, paths=None, terminating=False, keys=None,
                 threshold=1, keytype="ed25519", path_hash_prefixes=None):
        """Add a delegation parent -> name (appended: search order is the
        order of delegate calls). Returns the delegated role's keys."""
        keys = keys or [Key(keytype)]
        d = self.delegations.get(parent)
        if d is None:
            d = self.delegations[parent] = {"keys": {}, "roles": []}
        for k in keys:
            d["keys"][k.keyid] = k.obj()
        role = {"name": name, "keyids": [k.keyid for k in keys], "threshold": threshold,
                "terminating": terminating}
        if path_hash_prefixes is not None:
            role["path_hash_prefixes"] = path_hash_prefixes
        else:
            role["paths"] = list(paths if paths is not None else ["*"])
        d["roles"].append(role)
        self.targets.setdefault(name, {})
        self.delegations.setdefault(name, None)
        self.deleg_keys[name] = keys[:threshold]
        self.version.setdefault(name, 0)
        return keys

    def rotate(self, role, keys, threshold=None):
        """Replace a top-level role's keys in root (publish_root to sign)."""
        self.keys[role] = list(keys)
        if threshold is not None:
            self.thresholds[role] = threshold

    def remove_served(self, path):
        self.files.pop(path, None)


# ---- tampering helpers ------------------------------------------------------------

def tamper_signed(data, pretty=False):
    """Change the signed content (expires pushed one year later) but keep
    the signatures: valid JSON, invalid signatures."""
    doc = json.loads(data.decode("utf-8"))
    exp = doc["signed"]["expires"]
    doc["signed"]["expires"] = str(int(exp[:4]) + 1) + exp[4:]
    return dump_file(doc, pretty)


def flip_byte(data, pos=None):
    """One byte of data flipped (low bit), by default in the middle."""
    b = bytearray(data)
    i = len(b) // 2 if pos is None else pos
    b[i] ^= 0x01
    return bytes(b)


def strip_signatures(data):
    doc = json.loads(data.decode("utf-8"))
    doc["signatures"] = []
    return dump_file(doc)


def resign(data, keys, extra_signatures=()):
    """Re-sign an existing metadata file's signed part with other keys."""
    signed = parse_signed(data)
    return envelope(signed, keys, extra_signatures)


# ---- the HTTP server ---------------------------------------------------------------

MAX_STREAM_BYTES = 100 * 1024 * 1024  # endless bodies stop here ...
MAX_STREAM_SECS = 60.0                # ... or after this long
IO_TIMEOUT_SECS = 5.0                 # a send blocked this long ends the handler


class Fault:
    """What to do instead of serving a path normally.

    status:          answer with this HTTP status (and a short body)
    body:            serve these bytes instead of the file
    content_type:    Content-Type header (default by path)
    infinite:        stream a body forever (bounded by the caps above)
    content_length:  Content-Length header value to send (a lie when it is
                     not the body's length); with a longer header the body
                     is sent and the connection closed
    trickle:         seconds between single bytes of the body
    header_delay:    seconds to wait before sending the status line
    """

    def __init__(self, status=None, body=None, content_type=None, infinite=False,
                 content_length=None, trickle=None, header_delay=0.0):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.infinite = infinite
        self.content_length = content_length
        self.trickle = trickle
        self.header_delay = header_delay


def _norm(p):
    return posixpath.normpath("/" + p).lstrip("/")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "reposim"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.request.settimeout(IO_TIMEOUT_SECS)

    def do_GET(self):
        srv = self.server.owner
        raw = urllib.parse.urlsplit(self.path).path.lstrip("/")
        key = srv.resolve(raw)
        srv.record(raw, key)
        fault = srv.faults.get(key)
        stop = srv.stopping
        try:
            if fault and fault.header_delay:
                if stop.wait(fault.header_delay):
                    return
            if fault and fault.status:
                body = b"error %d\n" % fault.status
                self.send_response(fault.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            body = fault.body if fault and fault.body is not None else srv.files.get(key)
            if body is None and not (fault and fault.infinite):
                body = b"not found\n"
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            ctype = (fault.content_type if fault and fault.content_type else
                     "application/json" if key.startswith("metadata/") else
                     "application/octet-stream")
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if fault and fault.infinite:
                self.end_headers()
                self._endless(stop, srv, key)
                return
            length = fault.content_length if fault and fault.content_length is not None \
                else len(body)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if fault and fault.trickle:
                t0 = time.monotonic()
                for i in range(len(body)):
                    if time.monotonic() - t0 > MAX_STREAM_SECS:
                        break
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    if stop.wait(fault.trickle):
                        break
                return
            self.wfile.write(body)
            self.wfile.flush()
        except (OSError, ValueError):
            pass  # the client went away or the server is stopping

    def _endless(self, stop, srv, key):
        chunk = b"{" + b" " * 65535
        sent = 0
        t0 = time.monotonic()
        try:
            while sent < MAX_STREAM_BYTES and time.monotonic() - t0 < MAX_STREAM_SECS \
                    and not stop.is_set():
                self.wfile.write(chunk)
                sent += len(chunk)
        finally:
            with srv._lock:
                srv.endless_sent[key] = max(srv.endless_sent.get(key, 0), sent)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True
    allow_reuse_address = True


class RepoServer:
    """Serves a files dict (shared with a Repo: changes show at once) on
    127.0.0.1, port chosen by the kernel. Call stop() when done."""

    def __init__(self, files):
        self.files = files
        self.faults = {}
        self.requests = []      # resolved paths, in order
        self.raw_requests = []  # as sent
        self.endless_sent = {}  # path -> most bytes of an endless body sent
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._srv = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._srv.owner = self
        self.port = self._srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.metadata_url = self.url + "/metadata/"
        self.targets_url = self.url + "/targets/"
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def resolve(self, raw):
        """The files/faults key a request path names: tried as sent,
        percent-decoded, and with dot segments and '//' collapsed."""
        cands = [raw, urllib.parse.unquote(raw)]
        try:  # raw UTF-8 in the request line (http.server reads it as latin-1)
            cands.append(raw.encode("latin-1").decode("utf-8"))
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        cands += [_norm(c) for c in cands]
        for c in cands:
            if c in self.files or c in self.faults:
                return c
        return cands[-1]

    def record(self, raw, key):
        with self._lock:
            self.raw_requests.append(raw)
            self.requests.append(key)

    def clear_log(self):
        with self._lock:
            self.requests.clear()
            self.raw_requests.clear()

    def log(self):
        with self._lock:
            return list(self.requests)

    def fault(self, path, **kw):
        self.faults[path] = Fault(**kw)

    def clear_faults(self):
        self.faults.clear()

    def stop(self):
        self.stopping.set()
        self._srv.shutdown()
        self._srv.server_close()  # joins the handler threads (all bounded)
        self._thread.join(10)


__all__ = ["Repo", "Key", "RepoServer", "Fault", "canonical_json", "envelope",
           "expiry", "dump_file", "role_file_name", "target_file_name", "tamper_signed",
           "flip_byte", "strip_signatures", "resign", "parse_signed", "sha256_hex",
           "TOP_ROLES"]
