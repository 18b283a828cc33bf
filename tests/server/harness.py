"""harness.py — real ringfenced processes on 127.0.0.1 for the server tests.

What a test gets from here:

  Fixture        made once per test class: a temporary directory, TUF keys and
                 an initialised, published TUF repository (copied for every
                 server), the fast rollout plan, the channel-291 workspace's
                 manifests and corpus, and channel files compiled on demand
                 (c291-v4 recompiled with any content_version, and the v5 the
                 validator must refuse).
  Server         one ringfenced: start on a free port with a SQLite file (or a
                 PostgreSQL URL), stop (SIGTERM, must exit 0), kill -9,
                 restart on the same database; its stderr goes to one log per
                 start, and every log is scanned for sanitizer reports when
                 the server is retired (a kill -9'd process writes no leak
                 report, a cleanly stopped one must be leak free).
  call()         one HTTP request: (status, parsed JSON or text).
  World          the bootstrap: admin token, vendor tokens (author, approver,
                 operator), tenants vendor (internal), acme (GA), early
                 (early), delayed (GA, 1 h delay), pinned (pinned to 4),
                 paused (paused), each with a tenant-admin and an enroll
                 token; enrolling simulated agents.
  Agent, Fleet   simulated agents checking in by HTTP, and a stepper that
                 drives them in rounds with bounded waits. An agent can be
                 told to "crash" on a version: it stops checking in after it
                 took it, and a few seconds later comes back on its previous
                 version reporting the version bad, as the boot guard does.

Environment: RINGFENCED, RINGFENCE (the binaries; default build/bin/ of the
source tree), RF_SOURCE_DIR (the source tree; default two levels above this
file), RF_TEST_KEEP=1 keeps the temporary directories for a post-mortem.
Standard library only.
"""

import atexit
import base64
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("RF_SOURCE_DIR") or os.path.join(HERE, "..", ".."))
RINGFENCED = os.path.abspath(
    os.environ.get("RINGFENCED") or os.path.join(SOURCE_DIR, "build", "bin", "ringfenced"))
RINGFENCE = os.path.abspath(
    os.environ.get("RINGFENCE") or os.path.join(SOURCE_DIR, "build", "bin", "ringfence"))
CHANNEL_DIR = os.path.join(SOURCE_DIR, "examples", "channel-291")
PG_TEST = os.path.join(SOURCE_DIR, "scripts", "pg-test.sh")
KEEP = os.environ.get("RF_TEST_KEEP") == "1"

CHANNEL = 291
SENSORS = ("7.11.18110", "7.16.18605")

# The fast plan: 1 s check-ins, 3 s bakes, silence after 1 + 4 s.
FAST_PLAN = """\
plan: fast
checkin_interval: 1s
silence_grace: 4s
waves:
  - {name: internal-10%,  ring: internal, fraction: 10%,  bake: 3s, emergency_bake: 2s, min_reports: 2}
  - {name: internal-100%, ring: internal, fraction: 100%, bake: 3s, emergency_bake: 2s, min_reports: 2}
  - {name: early-100%,    ring: early,    fraction: 100%, bake: 3s, emergency_bake: 2s, min_reports: 2}
  - {name: ga-10%,        ring: ga,       fraction: 10%,  bake: 3s, emergency_bake: 2s, min_reports: 2}
  - {name: ga-100%,       ring: ga,       fraction: 100%, bake: 3s, emergency_bake: 2s, min_reports: 0}
"""

SANITIZE = os.environ.get("RF_SANITIZE", "").strip().lower() in ("1", "on", "true", "yes")
# Waits (never assertions) stretch under the sanitizers.
SLOW = 4.0 if SANITIZE else 1.0


def T(s):
    """A wait of s seconds in this build."""
    return s * SLOW


# What a sanitizer writes when it finds something.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                      "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")

# Tenants of the bootstrap: name -> (internal, policy for channel 291 or None).
TENANTS = {
    "vendor": (True, None),
    "acme": (False, None),
    "early": (False, {"mode": "early"}),
    "delayed": (False, {"mode": "ga", "ga_delay_h": 1}),
    "pinned": (False, {"mode": "pinned", "pinned_version": 4}),
    "paused": (False, {"mode": "paused"}),
}
CUSTOMERS = tuple(t for t, (internal, _) in TENANTS.items() if not internal)


def deadline_loop(timeout, period=0.1):
    """Yield until `timeout` seconds have passed, sleeping `period` between
    rounds (the first round is immediate). Every wait in these tests goes
    through here, so none is unbounded."""
    end = time.monotonic() + timeout
    while True:
        yield
        if time.monotonic() >= end:
            return
        time.sleep(period)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def read_log(path):
    with open(path, errors="replace") as f:
        return f.read()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, check=True, timeout=120, **kw):
    """Run a command; on failure raise with its output."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s exited %d\nstdout: %s\nstderr: %s" %
                           (" ".join(argv), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p


def call(port, method, path, token=None, body=None, raw=None, content_type="application/json",
         headers=None, timeout=30):
    """One HTTP request to 127.0.0.1:port. `body` is sent as JSON, `raw` as
    bytes (or an iterable of bytes, sent chunked). Returns (status, value):
    the parsed JSON of the answer, else its text. The path is sent exactly as
    given (no normalisation of "..")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        elif raw is not None:
            data = raw
        if data is not None and content_type is not None:
            h.setdefault("Content-Type", content_type)
        if token is not None:
            h["Authorization"] = "Bearer " + token
        chunked = data is not None and not isinstance(data, (bytes, bytearray))
        conn.request(method, path, body=data, headers=h, encode_chunked=chunked)
        resp = conn.getresponse()
        out = resp.read()
        try:
            return resp.status, json.loads(out)
        except ValueError:
            return resp.status, out.decode("utf-8", "replace")
    finally:
        conn.close()


def check_sanitizer_logs(paths):
    """Raise AssertionError naming the first sanitizer report in any log."""
    for p in paths:
        try:
            text = read_log(p)
        except FileNotFoundError:
            continue
        for pat in SANITIZER_PATTERNS:
            i = text.find(pat)
            if i >= 0:
                raise AssertionError("sanitizer report in %s:\n%s" %
                                     (p, text[max(0, i - 200):i + 3000]))


# ---- per-class fixture: keys, TUF repository, channel files ------------------------------

class Fixture:
    """Keys, a published TUF repository, the plan and channel files, in one
    temporary directory. Made once per test class; `close` removes it."""

    def __init__(self, prefix="rf-server-"):
        for b in (RINGFENCED, RINGFENCE):
            if not os.access(b, os.X_OK):
                raise unittest.SkipTest("%s is not built (set RINGFENCED / RINGFENCE)" % b)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.keys = os.path.join(self.dir, "keys")
        os.mkdir(self.keys)
        for k in ("root", "release", "snapshot", "timestamp"):
            run([RINGFENCE, "keys", "gen", "--type", "ed25519", "-o", self.key(k)])
        repo = os.path.join(self.dir, "repo0")
        run([RINGFENCE, "repo", "init", repo, "--root-key", self.key("root") + ".pub",
             "--targets-key", self.key("release") + ".pub", "--snapshot-key",
             self.key("snapshot") + ".pub", "--timestamp-key", self.key("timestamp") + ".pub"])
        run([RINGFENCE, "repo", "sign", repo, "--role", "root", "--key", self.key("root")])
        run([RINGFENCE, "repo", "sign", repo, "--role", "targets", "--key", self.key("release")])
        run([RINGFENCE, "repo", "snapshot", repo, "--key", self.key("snapshot")])
        run([RINGFENCE, "repo", "timestamp", repo, "--key", self.key("timestamp")])
        run([RINGFENCE, "repo", "publish", repo, os.path.join(repo, "public")])
        self.repo0 = repo
        self.plan = os.path.join(self.dir, "fast.yaml")
        with open(self.plan, "w") as f:
            f.write(FAST_PLAN)
        self.types = [read(p) for p in sorted(glob.glob(CHANNEL_DIR + "/types/*.yaml"))]
        self.sensors = [read(p) for p in sorted(glob.glob(CHANNEL_DIR + "/sensors/*.yaml"))]
        self.corpus = "".join(read(p) for p in sorted(glob.glob(CHANNEL_DIR + "/corpus/*.jsonl")))
        self._rfc = {}
        self.n = 0

    def key(self, name):
        return os.path.join(self.keys, name)

    def channel_file(self, version, source=None):
        """The bytes of a channel-291 file compiled with content_version
        `version`: from c291-v4.yaml (good content) by default, or from
        `source` ("v5": the 19 July content the validator refuses; version 5
        defaults to it; or the path of another channel-291 YAML file, such
        as examples/fleet/c291-v6.yaml)."""
        source = source or ("v5" if version == 5 else "v4")
        key = (version, source)
        if key not in self._rfc:
            if source.endswith(".yaml"):
                src = os.path.abspath(source)
                tag = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(source)[:-5])
            else:
                src = os.path.join(CHANNEL_DIR, "channels", "c291-%s.yaml" % source)
                tag = "c291-" + source
            text, n = re.subn(r"(?m)^content_version: *\d+", "content_version: %d" % version,
                              read(src))
            assert n == 1, "no content_version line in " + src
            y = os.path.join(self.dir, "%s-as-v%d.yaml" % (tag, version))
            out = os.path.join(self.dir, "%s-as-v%d.rfc" % (tag, version))
            with open(y, "w") as f:
                f.write(text)
            run([RINGFENCE, "-C", CHANNEL_DIR, "compile", y, "-o", out])
            self._rfc[key] = read(out, "rb")
        return self._rfc[key]

    def release_body(self, version, source=None):
        return {"channel_file": base64.b64encode(self.channel_file(version, source)).decode(),
                "types": self.types, "sensors": self.sensors, "corpus": self.corpus}

    def new_dir(self, name):
        self.n += 1
        d = os.path.join(self.dir, "%s-%d" % (name, self.n))
        os.mkdir(d)
        return d

    def new_repo(self, where):
        repo = os.path.join(where, "repo")
        shutil.copytree(self.repo0, repo, symlinks=True)
        return repo

    def close(self):
        if KEEP:
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- one ringfenced ------------------------------------------------------------------------

def init_db(db):
    """`ringfenced init`: create the schema; returns the admin token."""
    p = run([RINGFENCED, "init", "--db", db])
    tok = p.stdout.strip()
    assert re.fullmatch(r"rf_[0-9a-f]{64}", tok), "init printed %r" % p.stdout
    return tok


# Every process started here, killed at exit if a test run is interrupted
# before its cleanups ran.
_LIVE = set()


@atexit.register
def _kill_leftovers():
    for p in list(_LIVE):
        if p.poll() is None:
            p.kill()
            p.wait(10)


class Server:
    """One ringfenced serve process. The database (a SQLite file in its own
    directory by default) and the TUF repository outlive restarts."""

    def __init__(self, fx, name="srv", db=None, workdir=None, repo=None, tick_ms=200,
                 threads=4, extra=(), env=None):
        self.fx = fx
        self.env = dict(env or {})
        self.name = name
        self.dir = workdir or fx.new_dir(name)
        self.db = db or os.path.join(self.dir, "db.sqlite")
        self.repo = repo or fx.new_repo(self.dir)
        self.tick_ms = tick_ms
        self.threads = threads
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.logs = []
        self.starts = 0

    def init(self):
        return init_db(self.db)

    def argv(self):
        return [RINGFENCED, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % self.port,
                "--checkin-interval", "1", "--plan", self.fx.plan, "--repo", self.repo,
                "--targets-key", self.fx.key("release"), "--snapshot-key",
                self.fx.key("snapshot"), "--timestamp-key", self.fx.key("timestamp"),
                "--tick-ms", str(self.tick_ms), "--threads", str(self.threads)] + self.extra

    def start(self, timeout=30, same_port=False):
        """Start and wait until /healthz answers. A port taken between the
        probe and the bind is retried on another."""
        assert self.proc is None, "already running"
        for _attempt in range(5):
            if not (same_port and self.port):
                self.port = free_port()
            self.starts += 1
            log = os.path.join(self.dir, "%s.%d.log" % (self.name, self.starts))
            self.logs.append(log)
            env = dict(os.environ, **self.env)
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
            with open(log, "w") as lf:
                self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=lf,
                                             env=env)
            _LIVE.add(self.proc)
            for _ in deadline_loop(timeout, 0.05):
                if self.proc.poll() is not None:
                    break
                try:
                    st, _v = call(self.port, "GET", "/healthz", timeout=2)
                    if st == 200:
                        return self
                except OSError:
                    pass
            rc = self.proc.poll()
            text = read_log(log)
            if rc is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
            if rc is not None and "cannot listen" in text:
                same_port = False  # taken meanwhile: another port
                continue
            raise AssertionError("%s did not come up (exit %s):\n%s" % (self.name, rc,
                                                                      text[-4000:]))
        raise AssertionError("%s: no port to listen on" % self.name)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM; the server must exit 0 within `timeout`. Returns the code."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
            raise AssertionError("%s did not stop within %d s of SIGTERM" % (self.name, timeout))
        self.proc = None
        return rc

    def kill9(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, timeout=30):
        self.start(timeout=timeout, same_port=True)

    def retire(self):
        """Stop (cleanly) if running, then scan every log of every start for
        sanitizer reports. Raises AssertionError on a report or an unclean
        exit."""
        try:
            rc = self.stop() if self.proc is not None else 0
        finally:
            check_sanitizer_logs(self.logs)
        if rc not in (0, None):
            raise AssertionError("%s exited %s on SIGTERM:\n%s" %
                                 (self.name, rc, read_log(self.logs[-1])[-3000:]))

    def log_text(self):
        return "".join(read_log(p) for p in self.logs if os.path.exists(p))

    # -- requests --

    def call(self, method, path, token=None, body=None, **kw):
        return call(self.port, method, path, token, body, **kw)

    def ok(self, method, path, token=None, body=None, want=(200, 201), **kw):
        """A request that must succeed; returns the JSON."""
        st, v = self.call(method, path, token, body, **kw)
        if st not in (want if isinstance(want, tuple) else (want,)):
            raise AssertionError("%s %s -> %s %s" % (method, path, st, v))
        return v

    def health(self):
        st, v = self.call("GET", "/healthz", timeout=5)
        assert st == 200, (st, v)
        return v

    def metrics(self):
        st, v = self.call("GET", "/metrics", timeout=5)
        assert st == 200, (st, v)
        return v

    def metric(self, name):
        """The value of one sample line of /metrics (name with labels)."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def audit_all(self, admin):
        """Every audit entry, in seq order (paged)."""
        out, after = [], 0
        for _ in range(1000):
            v = self.ok("GET", "/v1/audit?after=%d&limit=10000" % after, admin)
            out += v["entries"]
            if not v["entries"]:
                return out
            after = v["next"]
        raise AssertionError("the audit log does not end")


def audit_verify(db):
    """`ringfence audit verify --db DB`: (exit code, output)."""
    p = run([RINGFENCE, "audit", "verify", "--db", db], check=False, timeout=60)
    return p.returncode, p.stdout + p.stderr


# ---- the bootstrap -----------------------------------------------------------------------

class World:
    """Tokens and tenants as the tests expect them, created through the API."""

    def __init__(self, srv, admin, fx):
        self.srv = srv
        self.fx = fx
        self.admin = admin
        self.tok = {"admin": admin}
        self.tenant = {}  # name -> {"admin": token, "enroll": token, "internal": bool}
        self.releases = {}  # content_version -> release id

    def bootstrap(self, tenants=TENANTS):
        s = self.srv
        for role in ("author", "approver", "operator"):
            self.tok[role] = s.ok("POST", "/v1/tokens", self.admin,
                                  {"role": role, "name": role + "-1"})["token"]
        for name, (internal, pol) in tenants.items():
            s.ok("POST", "/v1/tenants", self.admin, {"name": name, "internal": internal})
            t = {"internal": internal}
            t["admin"] = s.ok("POST", "/v1/tenants/%s/tokens" % name, self.admin,
                              {"role": "tenant-admin", "name": name + "-admin"})["token"]
            t["enroll"] = s.ok("POST", "/v1/tenants/%s/tokens" % name, t["admin"],
                               {"role": "enroll", "name": name + "-enroll"})["token"]
            if pol:
                s.ok("PUT", "/v1/tenants/%s/policies/%d" % (name, CHANNEL), t["admin"], pol)
            self.tenant[name] = t
        return self

    def enroll(self, counts, srv=None, prefix="h"):
        """Enroll agents: counts maps tenant -> number of hosts; sensors
        alternate between the two builds. Returns the agents."""
        srv = srv or self.srv
        out = []
        for name, n in counts.items():
            for i in range(n):
                sv = SENSORS[i % 2]
                host = "%s-%s-%d" % (prefix, name, i)
                v = srv.ok("POST", "/v1/enroll", self.tenant[name]["enroll"],
                           {"hostname": host, "sensor_version": sv})
                out.append(Agent(name, v["host_id"], v["token"], sv, host))
        return out

    def upload(self, version, srv=None, source=None):
        srv = srv or self.srv
        return srv.call("POST", "/v1/releases", self.tok["author"],
                        self.fx.release_body(version, source))

    def release(self, version, srv=None, source=None):
        """Upload and approve a release (of `source`, as Fixture.channel_file
        takes it); returns its id."""
        srv = srv or self.srv
        st, v = self.upload(version, srv, source)
        assert st == 201, (st, v)
        rid = v["id"]
        a = srv.ok("POST", "/v1/releases/%d/approve" % rid, self.tok["approver"])
        assert a["state"] == "approved" and a["published"], a
        self.releases[version] = rid
        return rid

    def start_rollout(self, rid, srv=None, **extra):
        srv = srv or self.srv
        body = {"release": rid}
        body.update(extra)
        st, v = srv.call("POST", "/v1/rollouts", self.tok["operator"], body)
        assert st == 201, (st, v)
        return v

    def rollout(self, roid, srv=None):
        return (srv or self.srv).ok("GET", "/v1/rollouts/%d" % roid, self.tok["operator"])

    def settled(self, roid, srv=None):
        """A predicate for Fleet.run_until: the rollout (JSON) once it is no
        longer running, else None."""
        def pred():
            r = self.rollout(roid, srv)
            return r if r["state"] != "running" else None
        return pred


# ---- simulated agents ----------------------------------------------------------------------

class Agent:
    """One simulated host: its token, sensor, the content it runs per
    channel, health counters, what it was assigned, and a crash mode."""

    def __init__(self, tenant, host_id, token, sensor, hostname):
        self.tenant = tenant
        self.host_id = host_id
        self.token = token
        self.sensor = sensor
        self.hostname = hostname
        self.version = {CHANNEL: 0}
        self.events = 0
        self.detections = 0
        self.uptime = 0
        self.boot_attempts = 1
        self.reverts = 0
        self.bad = []              # [(channel, version)] the boot guard reverted
        self.crash_on = set()      # versions this host crashes on
        self.crash_s = 7.0         # how long a crash keeps it silent
        self.down_until = None
        self.prev = None           # (channel, version) to come back on
        self.received = []         # (time, kind, channel, version) of every assignment
        self.ran = set()           # (channel, version) ever run
        self.errors = []           # (status, answer) of failed check-ins
        self.checkins = 0
        self.offline = False       # the test turned it off

    @property
    def customer(self):
        return not TENANTS.get(self.tenant, (False, None))[0]

    def v(self, ch=CHANNEL):
        return self.version.get(ch, 0)

    def received_versions(self, kind=None, ch=CHANNEL):
        return {x[3] for x in self.received if x[2] == ch and (kind is None or x[1] == kind)}

    def checkin(self, srv, now=None):
        """Check in once unless crashed or offline; applies the assignments.
        Returns the HTTP status, or None if the host did not check in."""
        now = time.monotonic() if now is None else now
        if self.offline:
            return None
        if self.down_until is not None:
            if now < self.down_until:
                return None
            # The boot guard reverted: back on the previous version, which
            # it reports bad from now on.
            ch, old = self.prev
            self.bad.append((ch, self.version[ch]))
            self.version[ch] = old
            self.reverts += 1
            self.boot_attempts += 3
            self.uptime = 0
            self.down_until = None
        self.events += 50
        # Detections at every check-in, as a sensor on a busy host reports
        # them: the detection-volume gate must not take their timing for a
        # storm (a host's first report after taking a release counts what it
        # saw on its old content).
        self.detections += 2
        self.uptime += 1
        body = {"sensor_version": self.sensor,
                # a channel it never had is not listed (see test_rollout's
                # test_1d for what listing it as version 0 does)
                "content": [{"channel": ch, "version": v, "status": "active"}
                            for ch, v in sorted(self.version.items()) if v],
                "health": {"uptime_s": self.uptime, "boot_attempts": self.boot_attempts,
                           "reverts": self.reverts, "events": self.events,
                           "detections": self.detections, "cpu_ns_mean": 1000,
                           "bad": [{"channel": c, "version": v} for c, v in self.bad]}}
        try:
            st, r = srv.call("POST", "/v1/checkin", self.token, body, timeout=10)
        except OSError as e:  # the server is down: the agent tries again later
            self.errors.append((None, str(e)))
            return None
        if st != 200:
            self.errors.append((st, r))
            return st
        self.checkins += 1
        for a in r.get("assignments", []):
            ch, v = a["channel"], a["content_version"]
            self.received.append((now, a["kind"], ch, v))
            if (ch, v) in self.bad or self.down_until is not None:
                continue
            old = self.version.get(ch, 0)
            self.version[ch] = v
            self.ran.add((ch, v))
            if v in self.crash_on:
                self.prev = (ch, old)
                self.down_until = now + self.crash_s
        return st


class Fleet:
    """Drives agents in rounds of check-ins, one round per `period` seconds.
    `route(i, agent)` picks the server agent i talks to (default: the one)."""

    def __init__(self, agents, srv=None, route=None, period=1.0, threads=1):
        self.agents = list(agents)
        self.srv = srv
        self.route = route or (lambda i, a: self.srv)
        self.period = period
        self.threads = threads
        self.rounds = 0
        self.between = None  # called after each check-in (for kills)

    def round(self):
        """Every agent checks in once (on `threads` threads, each taking a
        slice of the agents in order)."""
        now = time.monotonic()

        def part(k):
            for i in range(k, len(self.agents), self.threads):
                a = self.agents[i]
                a.checkin(self.route(i, a), now)
                if self.between:
                    self.between()
        if self.threads <= 1:
            part(0)
        else:
            ts = [threading.Thread(target=part, args=(k,)) for k in range(self.threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
        self.rounds += 1

    def run_until(self, pred, timeout, what="the condition"):
        """Rounds until pred() is true (checked after each round); raises
        AssertionError after `timeout` seconds. Returns pred()'s value."""
        end = time.monotonic() + timeout
        while True:
            t0 = time.monotonic()
            self.round()
            v = pred()
            if v:
                return v
            if time.monotonic() >= end:
                raise AssertionError("%s not reached within %.0f s" % (what, timeout))
            time.sleep(max(0.0, self.period - (time.monotonic() - t0)))

    def by_tenant(self, name):
        return [a for a in self.agents if a.tenant == name]


# ---- test case base --------------------------------------------------------------------------

class ServerCase(unittest.TestCase):
    """A test class with a Fixture (cls.fx) and servers that are retired —
    stopped and their logs scanned for sanitizer reports — when the class (or,
    for servers made in a test, the test) ends."""

    fx = None

    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture(prefix="rf-%s-" % cls.__name__.lower())
        cls.addClassCleanup(cls.fx.close)

    @classmethod
    def class_server(cls, **kw):
        s = Server(cls.fx, **kw)
        cls.addClassCleanup(s.retire)
        return s

    def server(self, **kw):
        s = Server(self.fx, **kw)
        self.addCleanup(s.retire)
        return s

    def assertAuditVerifies(self, db, msg=""):
        rc, out = audit_verify(db)
        self.assertEqual(rc, 0, "ringfence audit verify failed %s:\n%s" % (msg, out))
        return out
