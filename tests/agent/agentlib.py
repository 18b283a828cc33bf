"""agentlib.py — real ringfence-agent processes for the agent's suite.

What a test gets from here (the server side is tests/server/harness.py):

  RealAgent        one host: `ringfence-agent enroll` into its own state
                   directory, `run` as a supervised process that is started
                   again when it dies (as systemd's Restart=always would),
                   `status --json`, STATE/run.json, STATE/guard.json, the
                   detections log and one stderr log per start; SIGTERM (must
                   exit 0) or kill -9; every log is scanned for sanitizer
                   reports when the agent is retired.
  FakeControlPlane a small HTTP server that plays ringfenced for POST
                   /v1/enroll and /v1/checkin: it answers with the assignments
                   a test gives it, or misbehaves on purpose (hangs, HTTP 500,
                   garbage, a 2 MiB body), and records every check-in body.
  TufMirror        an HTTP server in front of a real server's /tuf/: passes
                   the repository through, or tampers with it per mirror name
                   (a flipped byte in a target, garbage or forged metadata).
  content()        channel-291 files: c291-v4.yaml compiled as any
                   content_version, and "new" content (v4's four instances
                   plus one of 22 July, which matches events v4 does not).
  release()        upload and approve such a file on a real server.
  AgentCase        a test class with a harness.Fixture and cleanups that
                   retire every agent, fake server and ringfenced it made.

Environment: RINGFENCE_AGENT (default build/bin/ringfence-agent of the source
tree) besides harness.py's RINGFENCED, RINGFENCE, RF_SOURCE_DIR; RF_SANITIZE=1
(the ASan+UBSan build: waits are longer, never assertions on timing);
RF_TEST_KEEP=1 keeps the temporary directories. Standard library only.
"""

import atexit
import base64
import http.client
import http.server
import json
import os
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
import harness as H  # noqa: E402

AGENT = os.path.abspath(
    os.environ.get("RINGFENCE_AGENT") or os.path.join(H.SOURCE_DIR, "build", "bin",
                                                      "ringfence-agent"))
SANITIZE, SLOW, T = H.SANITIZE, H.SLOW, H.T

CHANNEL = H.CHANNEL
SENSOR = "7.16.18605"
MANIFESTS = {"7.11.18110": os.path.join(H.CHANNEL_DIR, "sensors", "falcon-7.11.yaml"),
             "7.16.18605": os.path.join(H.CHANNEL_DIR, "sensors", "falcon-7.16.yaml")}

# The instance "new" content adds to version 4's four (as examples/fleet's
# version 6 does): a pipe created by an image running from a user's AppData,
# on server_image (index 12), which both sensor builds supply. No event of the
# corpus matches it, so its detections mark the new content.
NEW_INSTANCE = r"""
  # 22 July: a pipe created by an image that runs from a user's AppData.
  - id: c291-0722-appdata-pipe-server
    action: detect
    severity: high
    match:
      pipe_name:    {prefix: '\\.\pipe\'}
      server_image: {glob: 'C:\Users\*\AppData\*.exe', nocase: true}
    tests:
      - event:
          pipe_name: '\\.\pipe\chrome.sync.5512'
          server_image: 'C:\Users\dana\AppData\Local\Temp\updater.exe'
        expect: match
      - event:
          pipe_name: '\\.\pipe\chrome.sync.5512'
          server_image: 'C:\Program Files\Google\Chrome\Application\chrome.exe'
        expect: no_match
"""
NEW_INSTANCE_ID = "c291-0722-appdata-pipe-server"
APPDATA_IMAGE = "C:\\Users\\dana\\AppData\\Local\\Temp\\updater.exe"


def log(msg):
    if os.environ.get("RF_TEST_VERBOSE") == "1":
        sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))


def wait_for(pred, timeout, what, diag=None, period=0.1):
    """Poll pred() until it returns something true (returned); after
    `timeout` seconds raise AssertionError naming `what`, with diag()."""
    for _ in H.deadline_loop(timeout, period):
        v = pred()
        if v:
            return v
    extra = ""
    if diag is not None:
        try:
            extra = "\n" + diag()
        except Exception as e:  # diagnostics must not hide the failure
            extra = "\n(diagnostics failed: %r)" % e
    raise AssertionError("%s not reached within %.0f s%s" % (what, timeout, extra))


def http_get(port, path, timeout=10):
    """(status, bytes) of GET 127.0.0.1:port/path."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def scan_text(text, where):
    for pat in H.SANITIZER_PATTERNS:
        i = text.find(pat)
        if i >= 0:
            raise AssertionError("sanitizer report in %s:\n%s" % (where,
                                                                  text[max(0, i - 200):i + 3000]))


def sanitizer_env(leaks=True):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=%d" % (1 if leaks else 0))
    if not leaks:
        env["ASAN_OPTIONS"] = re.sub(r"detect_leaks=\d", "detect_leaks=0", env["ASAN_OPTIONS"])
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


# ---- content ------------------------------------------------------------------------------

def content(fx, version, new=False):
    """The bytes of a channel-291 file with content_version VERSION: version
    4's content, or with NEW the new content (NEW_INSTANCE added). Compiled
    once per fixture."""
    cache = fx.__dict__.setdefault("_agent_rfc", {})
    key = (version, bool(new))
    if key not in cache:
        text = H.read(os.path.join(H.CHANNEL_DIR, "channels", "c291-v4.yaml"))
        text, n = re.subn(r"(?m)^content_version: *\d+", "content_version: %d" % version, text)
        assert n == 1
        tag = "new" if new else "old"
        if new:
            text = text.rstrip("\n") + "\n" + NEW_INSTANCE
        y = os.path.join(fx.dir, "agent-c291-%s-v%d.yaml" % (tag, version))
        out = y[:-5] + ".rfc"
        with open(y, "w") as f:
            f.write(text)
        H.run([H.RINGFENCE, "-C", H.CHANNEL_DIR, "compile", y, "-o", out])
        cache[key] = H.read(out, "rb")
    return cache[key]


def content_path(fx, version, new=False):
    content(fx, version, new)
    return os.path.join(fx.dir, "agent-c291-%s-v%d.rfc" % ("new" if new else "old", version))


def release(w, version, new=False, srv=None):
    """Upload and approve (so publish in TUF) a release of content(version,
    new) on a real server; returns its id."""
    srv = srv or w.srv
    fx = w.fx
    body = {"channel_file": base64.b64encode(content(fx, version, new)).decode(),
            "types": fx.types, "sensors": fx.sensors, "corpus": fx.corpus}
    st, v = srv.call("POST", "/v1/releases", w.tok["author"], body)
    assert st == 201, (st, v)
    a = srv.ok("POST", "/v1/releases/%d/approve" % v["id"], w.tok["approver"])
    assert a["state"] == "approved" and a["published"], a
    w.releases[version] = v["id"]
    return v["id"]


def inspect(path):
    """`ringfence inspect --json` of a channel file."""
    return json.loads(H.run([H.RINGFENCE, "inspect", "--json", path]).stdout)


def fetch_root(srv, dest):
    """The server's TUF root (version 1), as an agent is shipped with it."""
    st, data = http_get(srv.port, "/tuf/metadata/1.root.json")
    assert st == 200, (st, data[:200])
    with open(dest, "wb") as f:
        f.write(data)
    return dest


def assignment(version, kind="release", target=None, channel=CHANNEL):
    return {"channel": channel, "content_version": version, "kind": kind,
            "target": target if target is not None else "channels/%d/%d.rfc" % (channel,
                                                                                version)}


# ---- one real agent -----------------------------------------------------------------------

_LIVE = set()


def kill_tree(p):
    """kill -9 the process P and its children (a wrapper such as strace
    killed alone would leave its tracee running, detached)."""
    try:
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except OSError:
            pass
    if p.poll() is None:
        p.kill()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass


@atexit.register
def _kill_leftovers():
    for p in list(_LIVE):
        if p.poll() is None:
            kill_tree(p)


class RealAgent:
    """One host running ringfence-agent with its own state directory."""

    def __init__(self, where, name="agent", sensor=SENSOR):
        self.dir = where
        self.name = name
        self.state = os.path.join(where, name + "-state")
        self.sensor = sensor
        self.logs = []         # stderr (and stdout) of every start of `run`
        self.exits = []        # (start number, exit code) of every `run` that ended
        self.starts = 0
        self.proc = None
        self.argv = None
        self.wrapper = []
        self.env = None
        self.use_stdin = False
        self.restart = True
        self.restart_delay = 0.2
        self.on_exit = None    # f(agent, rc): called by the supervisor before a restart
        self._lock = threading.Lock()
        self._stop_ev = threading.Event()
        self._stopping = False
        self._sup = None
        self.other_logs = []   # outputs of enroll/status runs, scanned too

    # -- one-shot commands --

    def _cmd(self, argv, timeout=None, env=None):
        p = subprocess.run([AGENT] + argv, capture_output=True, text=True,
                           timeout=timeout or T(60), env=env or sanitizer_env())
        scan_text(p.stdout + p.stderr, "ringfence-agent %s" % " ".join(argv[:1]))
        return p

    def enroll(self, server, token, root, tuf_url=None, hostname=None, group=None,
               manifest=None, sensor=None, extra=(), state=None):
        """`ringfence-agent enroll`; returns the CompletedProcess."""
        argv = ["enroll", "--server", server, "--token", token, "--state-dir",
                state or self.state, "--sensor-version", sensor or self.sensor,
                "--sensor-manifest", manifest or MANIFESTS[self.sensor], "--root", root,
                "--hostname", hostname or self.name]
        if tuf_url:
            argv += ["--tuf-url", tuf_url]
        if group:
            argv += ["--group", group]
        return self._cmd(argv + list(extra))

    def enroll_ok(self, *a, **kw):
        p = self.enroll(*a, **kw)
        assert p.returncode == 0, "enroll exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr)
        return p

    def status(self, as_json=True):
        """(exit code, parsed status --json or its text, stderr)."""
        p = self._cmd(["status", "--state-dir", self.state] + (["--json"] if as_json else []))
        out = p.stdout
        if as_json and p.stdout.strip():
            try:
                out = json.loads(p.stdout)
            except ValueError:
                pass
        return p.returncode, out, p.stderr

    def st(self):
        """status --json, which must succeed."""
        rc, v, err = self.status()
        assert rc == 0 and isinstance(v, dict), "status exited %d: %s %s" % (rc, v, err)
        return v

    def chan(self, v=None, channel=CHANNEL):
        """The channel's entry of status --json (or of V), or None."""
        v = v if v is not None else self.st()
        for c in v.get("channels", []):
            if c["channel"] == channel:
                return c
        return None

    # -- files of the state directory --

    def path(self, *parts):
        return os.path.join(self.state, *parts)

    def read_json(self, *parts):
        try:
            with open(self.path(*parts)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def run_json(self):
        return self.read_json("run.json") or {}

    def guard(self):
        return self.read_json("guard.json")

    def running(self, channel=CHANNEL):
        """The version run.json says the agent runs on CHANNEL (0: none)."""
        for c in self.run_json().get("channels", []):
            if c["channel"] == channel:
                return c["running"]
        return 0

    def events(self):
        return self.run_json().get("events", 0)

    def detections(self, path=None):
        """Every line of the detections log, parsed (a torn last line, being
        written, is left out)."""
        out = []
        try:
            with open(path or self.path("detections.jsonl")) as f:
                for line in f:
                    if line.endswith("\n"):
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def log_text(self):
        return "".join(H.read_log(p) for p in self.logs if os.path.exists(p))

    def log_tail(self, n=4000):
        return "%s log (%d starts, exits %s):\n%s" % (self.name, self.starts, self.exits,
                                                      self.log_text()[-n:])

    def wait(self, pred, timeout, what):
        return wait_for(pred, T(timeout), "%s: %s" % (self.name, what), self.log_tail)

    def wait_log(self, pattern, timeout, what=None, count=1):
        """Wait until the logs hold COUNT matches of the regex PATTERN;
        returns the matches."""
        rx = re.compile(pattern)

        def pred():
            m = rx.findall(self.log_text())
            return m if len(m) >= count else None
        return self.wait(pred, timeout, what or "log line /%s/ x%d" % (pattern, count))

    def wait_version(self, version, timeout=30, lkg=None):
        """Wait until status says VERSION is active (and, with lkg, is the
        last-known-good) and run.json says it runs."""
        def pred():
            rc, v, _ = self.status()
            if rc != 0 or not isinstance(v, dict):
                return None
            c = self.chan(v)
            if not c or c["active_version"] != version or self.running() != version:
                return None
            if lkg is not None and (c.get("lkg_version") != lkg or "trial" in c):
                return None
            return v
        return self.wait(pred, timeout, "version %d active%s" %
                         (version, " and last-known-good" if lkg else ""))

    # -- `run` --

    def start(self, events="synthetic:200", confirm_after=2, max_starts=None, max_backoff=2,
              fault=None, extra=(), restart=True, stdin=False, wrapper=(), leaks=True):
        """Start `run` (supervised unless restart is False)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        argv = ["run", "--state-dir", self.state, "--events", events, "--confirm-after",
                str(confirm_after), "--max-backoff", str(max_backoff)]
        if max_starts is not None:
            argv += ["--max-starts", str(max_starts)]
        if fault:
            argv += ["--fault", fault]
        self.argv = [AGENT] + argv + list(extra)
        self.wrapper = list(wrapper)
        self.env = sanitizer_env(leaks)
        self.use_stdin = stdin
        self.restart = restart
        self._stopping = False
        self._stop_ev.clear()
        with self._lock:
            self._spawn()
        self._sup = threading.Thread(target=self._supervise, daemon=True)
        self._sup.start()
        return self

    def _spawn(self):
        self.starts += 1
        logp = os.path.join(self.dir, "%s.%d.log" % (self.name, self.starts))
        self.logs.append(logp)
        with open(logp, "w") as lf:
            p = subprocess.Popen(self.wrapper + self.argv,
                                 stdin=subprocess.PIPE if self.use_stdin else subprocess.DEVNULL,
                                 stdout=lf, stderr=lf, env=self.env)
        _LIVE.add(p)
        self.proc = p
        log("%s: start %d pid %d" % (self.name, self.starts, p.pid))

    def _supervise(self):
        while True:
            p = self.proc
            rc = p.wait()
            _LIVE.discard(p)
            with self._lock:
                self.exits.append((self.starts, rc))
                log("%s: start %d exited %s" % (self.name, self.starts, rc))
                if self._stopping or not self.restart:
                    return
            if self.on_exit is not None:
                try:
                    self.on_exit(self, rc)
                except Exception as e:  # a failing hook must not kill supervision
                    sys.stderr.write("on_exit hook failed: %r\n" % e)
            if self._stop_ev.wait(self.restart_delay):
                return
            with self._lock:
                if self._stopping:
                    return
                self._spawn()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self, timeout=30):
        """SIGTERM the running process and stop supervising; returns its exit
        code (None if nothing ran)."""
        with self._lock:
            self._stopping = True
            p = self.proc
        self._stop_ev.set()
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(T(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            raise AssertionError("%s did not stop within %d s of SIGTERM\n%s" %
                                 (self.name, T(timeout), self.log_tail()))
        if self._sup is not None:
            self._sup.join(T(timeout))
        _LIVE.discard(p)
        return rc

    def stop_ok(self):
        rc = self.stop()
        assert rc == 0, "%s exited %s on SIGTERM\n%s" % (self.name, rc, self.log_tail())

    def kill9(self):
        """kill -9 the running process, and stop supervising."""
        with self._lock:
            self._stopping = True
            p = self.proc
        self._stop_ev.set()
        if p is not None and p.poll() is None:
            p.kill()
        if p is not None:
            p.wait(10)
            _LIVE.discard(p)
        if self._sup is not None:
            self._sup.join(10)

    def write_stdin(self, data):
        self.proc.stdin.write(data)

    def retire(self):
        """Stop (SIGTERM, exit 0) if running, then scan every log."""
        rc = None
        try:
            if self.proc is not None and self.proc.poll() is None:
                if self.use_stdin and self.proc.stdin:
                    try:
                        self.proc.stdin.close()
                    except OSError:
                        pass
                rc = self.stop()
            else:
                self.stop()
        finally:
            for p in self.logs:
                if os.path.exists(p):
                    scan_text(H.read_log(p), p)
        if rc not in (0, None):
            raise AssertionError("%s exited %s on SIGTERM\n%s" % (self.name, rc,
                                                                  self.log_tail()))


# ---- a fake control plane -----------------------------------------------------------------

class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeControlPlane:
    """Plays ringfenced for enrollment and check-ins. Per host token (or for
    everyone, key None): `assign[token]` is the list of assignments every
    check-in answers; `mode[token]` is how to answer:
      "ok"       200 {host_id, server_time, next_checkin_s, assignments}
      "hang"     say nothing for `hang_s` seconds, then close
      "http500"  500 {"error": ...}
      "garbage"  200 with bytes that are not JSON
      "huge"     200 with a valid JSON body of 2 MiB
      "down"     close the connection without an answer
    Every check-in is recorded as (monotonic time, token, parsed body)."""

    def __init__(self, interval=1):
        self.lock = threading.Lock()
        self.checkins = []
        self.hosts = {}
        self.assign = {None: []}
        self.mode = {None: "ok"}
        self.interval = interval
        self.next_checkin_s = {None: interval}
        self.hang_s = 15.0
        self.closing = threading.Event()
        fake = self

        class Handler(_Quiet):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                auth = self.headers.get("Authorization", "")
                tok = auth[7:] if auth.startswith("Bearer ") else None
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                if self.path == "/v1/enroll":
                    return fake._enroll(self, tok, body)
                if self.path == "/v1/checkin":
                    return fake._checkin(self, tok, body)
                fake._send(self, 404, {"error": "no such path"})

        self.srv = _ThreadingServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1},
                                  daemon=True)
        self.t.start()

    @staticmethod
    def _send(h, status, obj=None, raw=None):
        data = raw if raw is not None else json.dumps(obj).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass
        h.close_connection = True

    def _enroll(self, h, tok, body):
        if tok != "enroll-ok":
            return self._send(h, 401, {"error": "unknown token"})
        with self.lock:
            hid = len(self.hosts) + 1
            token = "fake-host-%d" % hid
            self.hosts[token] = hid
        self._send(h, 201, {"host_id": hid, "token": token, "tenant": "fake",
                            "group": (body or {}).get("group", "default"),
                            "checkin_interval_s": self.interval})

    def get(self, table, tok):
        with self.lock:
            return table.get(tok, table[None])

    def _checkin(self, h, tok, body):
        with self.lock:
            if tok not in self.hosts:
                known = False
            else:
                known = True
                self.checkins.append((time.monotonic(), tok, body))
        if not known:
            return self._send(h, 401, {"error": "unknown token"})
        mode = self.get(self.mode, tok)
        if mode == "hang":
            self.closing.wait(self.hang_s)
            h.close_connection = True
            return
        if mode == "down":
            h.close_connection = True
            return
        if mode == "http500":
            return self._send(h, 500, {"error": "the fake server is broken on purpose"})
        if mode == "garbage":
            return self._send(h, 200, raw=b"\x00\xffthis is not json {{{")
        if mode == "huge":
            pad = "x" * (2 * 1024 * 1024)
            return self._send(h, 200, {"host_id": self.hosts[tok], "server_time": int(time.time()),
                                       "next_checkin_s": 1, "assignments": [], "pad": pad})
        self._send(h, 200, {"host_id": self.hosts[tok], "server_time": int(time.time()),
                            "next_checkin_s": self.get(self.next_checkin_s, tok),
                            "assignments": self.get(self.assign, tok)})

    def bodies(self, tok=None, since=0.0):
        with self.lock:
            return [b for (t, k, b) in self.checkins if (tok is None or k == tok) and t >= since]

    def count(self, tok=None):
        return len(self.bodies(tok))

    def close(self):
        self.closing.set()
        self.srv.shutdown()
        self.srv.server_close()


# ---- a TUF mirror that can lie ----------------------------------------------------------

class TufMirror:
    """Serves GET /<name>/metadata/... and /<name>/targets/... from the
    /tuf/ of an upstream server (`upstream()` gives its port, so a restarted
    server is followed), through mode[name]:
      "pass"              unchanged
      "flip-target"       every target file with one byte flipped
      "garbage-metadata"  timestamp.json is garbage
      "forged-timestamp"  timestamp.json with its signed version raised,
                          its signature kept (so it no longer verifies)
      "forged-targets"    N.targets.json with a target's hash and length
                          changed, signatures kept
      "wrong-key"         timestamp.json from `evil` (metadata signed with
                          keys the agent's root does not know)
    `hits` counts the requests per (name, kind)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.mode = {}
        self.evil = {}
        self.hits = {}
        self.lock = threading.Lock()
        mirror = self

        class Handler(_Quiet):
            def do_GET(self):
                mirror._get(self)

        self.srv = _ThreadingServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1},
                                  daemon=True)
        self.t.start()

    def url(self, name):
        self.mode.setdefault(name, "pass")
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def _get(self, h):
        parts = h.path.split("/", 2)
        if len(parts) < 3 or parts[1] not in self.mode:
            return FakeControlPlane._send(h, 404, {"error": "no such mirror"})
        name, rest = parts[1], parts[2]
        mode = self.mode[name]
        kind = "target" if rest.startswith("targets/") else "metadata"
        with self.lock:
            self.hits[(name, kind)] = self.hits.get((name, kind), 0) + 1
        try:
            st, data = http_get(self.upstream(), "/tuf/" + rest)
        except OSError:
            return FakeControlPlane._send(h, 502, {"error": "upstream down"})
        if st == 200:
            data = self._tamper(mode, name, rest, data)
        FakeControlPlane._send(h, st, raw=data)

    def _tamper(self, mode, name, rest, data):
        if mode == "flip-target" and rest.startswith("targets/"):
            b = bytearray(data)
            b[len(b) // 2] ^= 0x01
            return bytes(b)
        if mode == "garbage-metadata" and rest == "metadata/timestamp.json":
            return b"{\"signed\": garbage \x00\x01"
        if mode == "forged-timestamp" and rest == "metadata/timestamp.json":
            o = json.loads(data)
            o["signed"]["version"] += 1000
            return json.dumps(o, indent=1).encode()
        if mode == "forged-targets" and re.fullmatch(r"metadata/\d+\.targets\.json", rest):
            o = json.loads(data)
            for t in o["signed"]["targets"].values():
                t["hashes"] = {"sha256": "00" * 32}
            return json.dumps(o, indent=1).encode()
        if mode == "wrong-key" and rest == "metadata/timestamp.json" and name in self.evil:
            return self.evil[name]
        return data

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ---- test case base ------------------------------------------------------------------------

class AgentCase(unittest.TestCase):
    """A harness.Fixture per class, and cleanups that retire what the class
    or the test made."""

    fx = None

    @classmethod
    def setUpClass(cls):
        if not os.access(AGENT, os.X_OK):
            raise unittest.SkipTest("%s is not built (set RINGFENCE_AGENT)" % AGENT)
        cls.fx = H.Fixture(prefix="rf-agent-%s-" % cls.__name__.lower())
        cls.addClassCleanup(cls.fx.close)

    # -- made for the whole class --

    @classmethod
    def class_server(cls, bootstrap=True, **kw):
        """A started ringfenced (and its World, bootstrapped)."""
        s = H.Server(cls.fx, **kw)
        cls.addClassCleanup(s.retire)
        admin = s.init()
        s.start(timeout=T(30))
        w = H.World(s, admin, cls.fx)
        if bootstrap:
            w.bootstrap()
        return s, w

    @classmethod
    def class_fake(cls, **kw):
        f = FakeControlPlane(**kw)
        cls.addClassCleanup(f.close)
        return f

    @classmethod
    def class_mirror(cls, upstream):
        m = TufMirror(upstream)
        cls.addClassCleanup(m.close)
        return m

    # -- made for one test --

    def server(self, bootstrap=True, **kw):
        s = H.Server(self.fx, **kw)
        self.addCleanup(s.retire)
        admin = s.init()
        s.start(timeout=T(30))
        w = H.World(s, admin, self.fx)
        if bootstrap:
            w.bootstrap()
        return s, w

    def fake(self, **kw):
        f = FakeControlPlane(**kw)
        self.addCleanup(f.close)
        return f

    def agent(self, name="agent", sensor=SENSOR):
        a = RealAgent(self.fx.new_dir(name), name, sensor)
        self.addCleanup(a.retire)
        return a

    def root_of(self, srv):
        p = os.path.join(self.fx.dir, "root-%d.json" % srv.port)
        if not os.path.exists(p):
            fetch_root(srv, p)
        return p

    def enrolled(self, srv, w, name="agent", tenant="vendor", sensor=SENSOR, **kw):
        """A RealAgent enrolled with a real server."""
        a = self.agent(name, sensor)
        a.enroll_ok("http://127.0.0.1:%d" % srv.port, w.tenant[tenant]["enroll"],
                    self.root_of(srv), **kw)
        return a

    def enrolled_fake(self, fake, tuf_srv, name="agent", tuf_url=None, sensor=SENSOR):
        """A RealAgent enrolled with a fake control plane, taking TUF from
        the real server TUF_SRV (or TUF_URL); returns (agent, its token)."""
        a = self.agent(name, sensor)
        a.enroll_ok(fake.url, "enroll-ok", self.root_of(tuf_srv),
                    tuf_url=tuf_url or "http://127.0.0.1:%d/tuf" % tuf_srv.port)
        conf = a.read_json("agent.json")
        return a, conf["token"]
