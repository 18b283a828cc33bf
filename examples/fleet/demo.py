#!/usr/bin/env python3
"""demo.py — `make demo`: 19 July replayed end to end on a real fleet.

It starts ringfenced on SQLite in a temporary directory, creates tenants with
different policies for channel 291 (the vendor's own hosts, GA, early access,
GA with a delay, pinned, paused), releases the channel as it stood in April
(version 2, examples/fleet/c291-v2.yaml) before any host exists, enrolls a
fleet of real ringfence-agent processes (two sensor builds, 7.11.18110 with
20 IPC inputs and 7.16.18605 with 21) that take it as the channel's current
version, with time compressed to seconds (examples/fleet/plan.yaml), and
then:

  1. rolls out a good release (version 3: the content of
     examples/channel-291/channels/c291-v4.yaml) through every wave to
     completion;
  2. submits the 19 July content (version 5): refused by the server's
     validator, with its reason;
  3. releases version 6 (examples/fleet/c291-v6.yaml), which passes the
     validator but trips an injected bug of sensor 7.16.18605 (its agents
     run with --fault crash-on-content=291:6): the vendor's 7.16 hosts
     crash-loop and their boot guard reverts them, the engine's gates halt
     the rollout from those reports and roll it back, and no customer host
     receives it;
  4. prints a summary table and writes an HTML report with a timeline.

The driver never halts or rolls back anything itself: it starts the two
rollouts and watches. Every figure it prints comes from the server's API
(GET /v1/rollouts/{id}, /v1/audit), the agents' STATE/run.json, their
`status --json`, their logs, and the supervisor's own record of every agent
process it started and saw die. It checks its claims and exits 1, naming
the claim, if one does not hold; 2 for a usage or setup error.

  python3 examples/fleet/demo.py --build build [--hosts 120] [--out DIR] [--keep]

Standard library only. See examples/fleet/README.md for how to read the
output and the report.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
CHANNEL_DIR = os.path.join(SOURCE_DIR, "examples", "channel-291")
PLAN_FILE = os.path.join(HERE, "plan.yaml")
SEED_SOURCE = os.path.join(HERE, "c291-v2.yaml")  # the April content as first shipped
GOOD_SOURCE = "v4"      # examples/channel-291/channels/c291-v4.yaml: one severity raised
BAD_SOURCE = os.path.join(HERE, "c291-v6.yaml")   # that, another severity raised (22 July)

CHANNEL = 291
# Content versions. The fleet starts on SEED; step 1 rolls out GOOD, whose
# rollout makes the server reserve GOOD + 1 for its rollback (prepared, never
# used); step 2 is the 19 July content, version 5 as in examples/channel-291;
# step 3 rolls out BAD, and the server's rollback is BAD + 1 carrying GOOD.
SEED, GOOD, REFUSED, BAD = 2, 3, 5, 6
ROLLBACK = BAD + 1
SENSOR_OLD, SENSOR_NEW = "7.11.18110", "7.16.18605"
FAULTY_SENSOR = SENSOR_NEW        # the build with the injected bug
MANIFESTS = {SENSOR_OLD: os.path.join(CHANNEL_DIR, "sensors", "falcon-7.11.yaml"),
             SENSOR_NEW: os.path.join(CHANNEL_DIR, "sensors", "falcon-7.16.yaml")}
DELAY_S = 20                      # the delayed tenant's GA delay
RESTART_S = 0.7                   # the supervisor restarts a dead agent after this
POLL_S = 0.5                      # the observer's period

# Tenants: name -> (internal, policy for channel 291), as harness.TENANTS but
# with the GA delay in seconds, and their share of the fleet.
TENANTS = {
    "vendor": (True, None),
    "acme": (False, None),
    "early": (False, {"mode": "early"}),
    "delayed": (False, {"mode": "ga", "ga_delay_s": DELAY_S}),
    "pinned": (False, {"mode": "pinned", "pinned_version": SEED}),
    "paused": (False, {"mode": "paused"}),
}
SHARES = {"vendor": 40, "acme": 30, "early": 16, "delayed": 14, "pinned": 10, "paused": 10}
POLICY_TEXT = {"vendor": "internal (vendor's own hosts)", "acme": "GA",
               "early": "early access", "delayed": "GA, %d s delay" % DELAY_S,
               "pinned": "pinned to v%d" % SEED, "paused": "paused"}


def parse_args():
    ap = argparse.ArgumentParser(
        description="19 July replayed end to end on a fleet of real ringfence-agent processes")
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"),
                    help="build directory holding bin/ringfenced, bin/ringfence, "
                    "bin/ringfence-agent (default: build/ of the source tree)")
    ap.add_argument("--hosts", type=int, default=120, help="agents to run (default 120, at least 30)")
    ap.add_argument("--out", default=None,
                    help="where report.html goes (default BUILD/demo)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (server, agents' state and logs)")
    ap.add_argument("--rate", type=int, default=100,
                    help="synthetic events per second per agent (default 100)")
    ap.add_argument("--max-starts", type=int, default=3,
                    help="the agents' boot guard: starts of unconfirmed content before it "
                    "reverts (default 3)")
    a = ap.parse_args()
    if a.hosts < 30:
        ap.error("--hosts must be at least 30 (the vendor's first wave needs hosts)")
    if not 10 <= a.rate <= 10000:
        ap.error("--rate must be 10..10000")
    if not 2 <= a.max_starts <= 10:
        ap.error("--max-starts must be 2..10")
    a.build = os.path.abspath(a.build)
    a.out = os.path.abspath(a.out or os.path.join(a.build, "demo"))
    return a


ARGS = parse_args()
BIN = os.path.join(ARGS.build, "bin")
AGENT = os.path.join(BIN, "ringfence-agent")
os.environ["RINGFENCED"] = os.path.join(BIN, "ringfenced")
os.environ["RINGFENCE"] = os.path.join(BIN, "ringfence")
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "server"))
import harness as H  # noqa: E402  (after RINGFENCED/RINGFENCE are set)

MONO0 = time.monotonic()
WALL0 = time.time()


def now():
    """Seconds since the demo started."""
    return time.monotonic() - MONO0


def wall_to_demo(t):
    return t - WALL0


def say(msg):
    print("[%6.1fs] %s" % (now(), msg), flush=True)


class DemoFailure(Exception):
    """A claim of the demo did not hold, or a step could not be done."""


def fail(msg):
    raise DemoFailure(msg)


def wait_for(pred, timeout, what, period=0.25):
    """Poll pred() until it returns something true; DemoFailure after timeout."""
    for _ in H.deadline_loop(timeout, period):
        v = pred()
        if v:
            return v
    fail("%s did not happen within %.0f s" % (what, timeout))


def fleet_counts(n):
    """Hosts per tenant for a fleet of n: SHARES scaled, largest remainder."""
    total = sum(SHARES.values())
    exact = {t: n * s / total for t, s in SHARES.items()}
    out = {t: int(x) for t, x in exact.items()}
    for t in sorted(exact, key=lambda t: out[t] - exact[t])[:n - sum(out.values())]:
        out[t] += 1
    return out


# ---- the agents: enroll, supervise (as systemd's Restart=always would) --------------------

class Host:
    def __init__(self, idx, tenant, n_in_tenant, sensor, root):
        self.idx = idx
        self.tenant = tenant
        self.internal = TENANTS[tenant][0]
        self.sensor = sensor
        self.faulty = sensor == FAULTY_SENSOR
        self.name = "%s-%03d" % (tenant, n_in_tenant)
        self.dir = os.path.join(root, self.name)
        self.log = os.path.join(root, self.name + ".log")
        self.host_id = None
        self.proc = None
        self.starts = []          # demo times of every process start
        self.deaths = []          # (demo time, return code) of every process end seen
        self.next_start = 0.0
        self.final_rc = None      # exit code at the demo's SIGTERM
        self.status = None        # `status --json` at the end

    @property
    def customer(self):
        return not self.internal

    def crashes(self, t_from=0.0, t_to=float("inf")):
        """Deaths by a signal (what abort() gives) in [t_from, t_to)."""
        return [t for t, rc in self.deaths if rc < 0 and t_from <= t < t_to]

    def argv(self):
        a = [AGENT, "run", "--state-dir", self.dir, "--events", "synthetic:%d" % ARGS.rate,
             "--confirm-after", "2", "--max-starts", str(ARGS.max_starts),
             "--seed", str(1000 + self.idx)]
        if self.faulty:
            a += ["--fault", "crash-on-content=%d:%d" % (CHANNEL, BAD)]
        return a


class Supervisor:
    """Starts every agent and restarts any that dies, RESTART_S later. All
    process starts happen on its own thread, which lives until stop(), so
    that --pdeathsig (the agents die with the driver, even a kill -9'd one)
    is tied to a thread that outlives them."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.stopping = False
        self.thread = threading.Thread(target=self.loop, name="supervisor", daemon=True)
        self.unexpected = []      # (host, time, rc): exits that were not a signal

    def start(self):
        self.thread.start()

    def spawn(self, h):
        with open(h.log, "ab") as lf:
            h.proc = subprocess.Popen(PDEATHSIG + h.argv(), stdin=subprocess.DEVNULL,
                                      stdout=lf, stderr=lf, start_new_session=True)
        h.starts.append(now())

    def loop(self):
        while not self.stopping:
            t = now()
            for h in self.hosts:
                if self.stopping:
                    break
                if h.proc is not None:
                    rc = h.proc.poll()
                    if rc is None:
                        continue
                    h.deaths.append((t, rc))
                    if rc >= 0:
                        self.unexpected.append((h.name, t, rc))
                    h.proc = None
                    h.next_start = t + RESTART_S
                if h.proc is None and t >= h.next_start:
                    self.spawn(h)
            time.sleep(0.05)
        self.terminate()

    def terminate(self, timeout=20):
        """SIGTERM to every agent (each must exit 0), SIGKILL to any left.
        Runs on the supervisor's thread: the agents' --pdeathsig is tied to
        it, so it must outlive them."""
        live = [h for h in self.hosts if h.proc is not None]
        for h in live:
            try:
                h.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        end = time.monotonic() + timeout
        for h in live:
            try:
                h.final_rc = h.proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                where = self.stacks(h)
                h.proc.kill()
                h.proc.wait(10)
                h.final_rc = "killed: no exit within %d s of SIGTERM%s" % (
                    timeout, "; its threads' stacks are in %s" % where if where else "")
            h.proc = None
        for h in self.hosts:
            if h not in live:
                h.final_rc = "not running at the end (dead, waiting to be restarted)"

    def stacks(self, h):
        """Every thread's stack of an agent that does not stop (gdb, if the
        machine has it), next to its log; returns the file or None."""
        if not shutil.which("gdb"):
            return None
        out = h.log[:-4] + ".stacks.txt"
        try:
            p = subprocess.run(["gdb", "-p", str(h.proc.pid), "-batch", "-ex",
                                "thread apply all bt"], capture_output=True, text=True,
                               timeout=30)
            with open(out, "w") as f:
                f.write(p.stdout + p.stderr)
            return out
        except (OSError, subprocess.TimeoutExpired):
            return None

    def alive(self, h):
        p = h.proc
        return p is not None and p.poll() is None

    def stop(self):
        """Stop supervising and stop every agent; returns once all are gone."""
        self.stopping = True
        if self.thread.is_alive():
            self.thread.join(45)
        for h in self.hosts:  # only if the supervisor's thread could not
            p = h.proc
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
                h.final_rc = "killed by the driver"


# Every process the demo starts dies with it, even with a driver killed by
# SIGKILL: setpriv(1) sets PR_SET_PDEATHSIG and execs the program.
PDEATHSIG = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


class DemoServer(H.Server):
    """harness.Server, started under PDEATHSIG (on the main thread, which
    lives until the end)."""

    def argv(self):
        return PDEATHSIG + super().argv()


def enroll(srv, world, h):
    root = os.path.join(srv.repo, "public", "metadata", "1.root.json")
    p = H.run([AGENT, "enroll", "--server", "http://127.0.0.1:%d" % srv.port,
               "--token", world.tenant[h.tenant]["enroll"], "--state-dir", h.dir,
               "--sensor-version", h.sensor, "--sensor-manifest", MANIFESTS[h.sensor],
               "--root", root, "--hostname", h.name], check=False, timeout=60)
    if p.returncode != 0:
        fail("ringfence-agent enroll of %s exited %d: %s" % (h.name, p.returncode,
                                                           (p.stderr or p.stdout).strip()[-500:]))
    for word in p.stdout.split():
        if word.isdigit():
            h.host_id = int(word)
            break
    return p.stdout.strip()


# ---- the observer: what every agent runs, what the server says, over time -----------------

def read_json(path):
    try:
        with open(path) as f:
            return json.load(f), os.stat(path).st_mtime
    except (OSError, ValueError):
        return None, None


def run_version(rj):
    """Channel 291's version in a run.json (0 for none): its channels[]
    entry's "running" (what ringfence-agent writes), or "version"."""
    for c in (rj or {}).get("channels") or []:
        if c.get("channel") == CHANNEL:
            v = c.get("running", c.get("version"))
            return int(v) if isinstance(v, int) else 0
    return 0


class Observer:
    """Every POLL_S: each agent's run.json, and the rollout being watched."""

    def __init__(self, hosts, sup, world):
        self.hosts = hosts
        self.sup = sup
        self.world = world
        self.samples = []                                   # (t, {label: hosts})
        self.host_samples = []                              # (t, {host: label})
        self.first_seen = {h.name: {} for h in hosts}       # version -> first demo time
        self.ever = {h.name: set() for h in hosts}          # versions ever seen running
        self.last = {h.name: None for h in hosts}           # (version, run.json mtime)
        self.hist = {h.name: [] for h in hosts}             # (mtime, version) on change
        self.checked_in = set()
        self.current = None                                 # the rollout id polled
        self.snaps = collections.defaultdict(list)          # id -> [(t, json)]
        self.lock = threading.Lock()
        self.stop_flag = False
        self.errors = []
        self.thread = threading.Thread(target=self.loop, name="observer", daemon=True)

    def watch(self, roid):
        """Poll this rollout from now on (only the newest: an older one is
        rebuilt from its log at every GET)."""
        self.current = roid

    def latest(self, roid):
        with self.lock:
            s = self.snaps.get(roid) or []
            return s[-1][1] if s else None

    def loop(self):
        while not self.stop_flag:
            t0 = time.monotonic()
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 — keep observing; a check reports it
                self.errors.append("%.1f s: %s: %s" % (now(), type(e).__name__, e))
            time.sleep(max(0.0, POLL_S - (time.monotonic() - t0)))

    def poll(self):
        t = now()
        counts = collections.Counter()
        labels = {}
        for h in self.hosts:
            rj, mt = read_json(os.path.join(h.dir, "run.json"))
            if rj is None:
                counts["not started"] += 1
                labels[h.name] = "not started"
                continue
            self.checked_in.add(h.name)
            v = run_version(rj)
            mtd = wall_to_demo(mt)
            prev = self.last[h.name]
            if prev is None or prev[1] != mtd:
                hist = self.hist[h.name]
                if not hist or hist[-1][1] != v or any(prev[1] < d < mtd for d, _ in h.deaths):
                    hist.append((mtd, v))
            self.last[h.name] = (v, mtd)
            self.ever[h.name].add(v)
            self.first_seen[h.name].setdefault(v, mtd)
            deaths = h.deaths
            down = not self.sup.alive(h) or (deaths and deaths[-1][0] > mtd)
            label = "down (crash loop)" if down else ("v%d" % v if v else "no content")
            counts[label] += 1
            labels[h.name] = label
        roid = self.current
        if roid is not None:
            r = self.world.rollout(roid)
            with self.lock:
                self.snaps[roid].append((t, r))
        with self.lock:
            self.samples.append((t, dict(counts)))
            self.host_samples.append((t, labels))

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_flag = True
        if self.thread.is_alive():
            self.thread.join(10)

    def version_of(self, h):
        x = self.last[h.name]
        return x[0] if x else None


# ---- a rollout, watched and told as it goes -----------------------------------------------

class RolloutWatch:
    def __init__(self, demo, roid, version):
        self.demo = demo
        self.roid = roid
        self.version = version
        self.started = now()
        self.opened = {}        # wave name -> demo time the driver first saw it open
        self.decisions = 0
        self.last_line = None
        self.last_print = 0.0

    def tell(self, r):
        d = self.demo
        for wv in r["waves"]:
            if wv["opened_at"] is not None and wv["name"] not in self.opened:
                self.opened[wv["name"]] = now()
                say("rollout %d (v%d): wave %s opened: %d hosts (%s ring)" %
                    (self.roid, self.version, wv["name"], wv["hosts"], wv["ring"]))
        for dec in r["decisions"][self.decisions:]:
            say("rollout %d: the %s decided %s (server time +%.0fs): %s" %
                (self.roid, dec["by"], dec["action"].upper(), wall_to_demo(dec["t"]),
                 dec["reason"]))
        self.decisions = len(r["decisions"])
        crashes = sum(len(h.crashes(self.started)) for h in d.hosts)
        crashed_hosts = sum(1 for h in d.hosts if h.crashes(self.started))
        line = ("rollout %d: %s; %d hosts took v%d, %d reverted, %d silent; crashes so far: %d "
                "on %d hosts" % (self.roid, r["state"], r["hosts"]["took"], self.version,
                                 r["hosts"]["reverted"], r["hosts"]["silent_after_taking"],
                                 crashes, crashed_hosts))
        t = now()
        if (line != self.last_line and t - self.last_print >= 1.5) or t - self.last_print >= 5:
            say("  " + line)
            self.last_line, self.last_print = line, t

    def run(self, timeout):
        """Until the rollout leaves `running`; returns its JSON."""
        end = time.monotonic() + timeout
        while True:
            r = self.demo.obs.latest(self.roid) or self.demo.world.rollout(self.roid)
            self.tell(r)
            if r["state"] != "running":
                return r
            if time.monotonic() > end:
                fail("rollout %d was still running after %.0f s (%s)" %
                     (self.roid, timeout, r.get("holding") or "no reason given"))
            time.sleep(0.25)


# ---- the demo -------------------------------------------------------------------------------

class Demo:
    def __init__(self):
        self.fx = None
        self.srv = None
        self.world = None
        self.hosts = []
        self.sup = None
        self.obs = None
        self.facts = {}          # what happened, for the summary and the report
        self.checks = []         # (claim, ok, detail)
        self.marks = []          # (demo time, label, kind)
        self.failed = False

    def mark(self, label, kind, t=None, ro=None, t_end=None):
        """A marker on the charts: on the whole demo's, and with ro=1 or 2
        on that rollout's too; with t_end, a time known to within [t, t_end)."""
        self.marks.append((now() if t is None else t, label, kind, ro, t_end))

    def check(self, claim, ok, detail=""):
        self.checks.append((claim, bool(ok), detail))
        return ok

    def by_tenant(self, t):
        return [h for h in self.hosts if h.tenant == t]

    # -- setup --

    def setup(self):
        for b in (os.environ["RINGFENCED"], os.environ["RINGFENCE"], AGENT):
            if not os.access(b, os.X_OK):
                raise SetupError("%s is not built (cmake --build %s)" % (b, ARGS.build))
        say("setup: TUF keys and repository; plan %s (check-in every 1 s, bakes of 6-8 s)" %
            os.path.relpath(PLAN_FILE, SOURCE_DIR))
        self.fx = H.Fixture(prefix="rf-demo-")
        self.fx.plan = os.path.join(self.fx.dir, "plan.yaml")
        shutil.copyfile(PLAN_FILE, self.fx.plan)
        self.srv = DemoServer(self.fx, name="ringfenced", tick_ms=200, threads=4)
        admin = self.srv.init()
        self.srv.start()
        say("ringfenced serving on 127.0.0.1:%d, SQLite %s" % (self.srv.port, self.srv.db))
        self.world = H.World(self.srv, admin, self.fx).bootstrap(TENANTS)
        # The fleet as it stood before 19 July: channel 291 at v3. Released
        # and rolled out before any host enrolls (its waves are empty, so it
        # completes at once), it reaches every host as the channel's current
        # version at its first check-in, as its policy allows.
        rid = self.world.release(SEED, source=SEED_SOURCE)
        ro = self.world.start_rollout(rid)
        r = wait_for(lambda: (lambda r: r if r["state"] != "running" else None)(
            self.world.rollout(ro["id"])), 30, "the rollout of v%d over no hosts ending" % SEED)
        if r["state"] != "complete":
            fail("v%d, released before any host enrolled, did not complete: %s" % (SEED, r))
        self.facts["seed"] = {"id": ro["id"], "release": rid}
        say("channel %d v%d (%s) released and complete before any host enrolls: the fleet's "
            "starting content" % (CHANNEL, SEED, os.path.relpath(SEED_SOURCE, SOURCE_DIR)))
        counts = fleet_counts(ARGS.hosts)
        root = os.path.join(self.fx.dir, "agents")
        os.mkdir(root)
        for tenant, n in counts.items():
            for i in range(n):
                if TENANTS[tenant][0]:
                    # the vendor runs its newest build on three hosts in four
                    sensor = SENSOR_OLD if i % 4 == 3 else SENSOR_NEW
                else:
                    sensor = (SENSOR_OLD, SENSOR_NEW)[i % 2]
                self.hosts.append(Host(len(self.hosts), tenant, i, sensor, root))
        for t in TENANTS:
            hs = self.by_tenant(t)
            say("tenant %-8s %-28s %3d hosts (%d on %s, %d on %s)" % (
                t, POLICY_TEXT[t], len(hs), sum(h.sensor == SENSOR_OLD for h in hs), SENSOR_OLD,
                sum(h.sensor == SENSOR_NEW for h in hs), SENSOR_NEW))
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            outs = list(ex.map(lambda h: enroll(self.srv, self.world, h), self.hosts))
        self.facts["enroll_example"] = outs[0]
        say("enrolled %d agents with ringfence-agent enroll (the first said: %r)" %
            (len(self.hosts), outs[0].splitlines()[0] if outs[0] else ""))
        say("every %s agent runs with --fault crash-on-content=%d:%d (the sensor bug); the "
            "driver restarts any agent that dies %.1f s later, as systemd's Restart=always "
            "would" % (FAULTY_SENSOR, CHANNEL, BAD, RESTART_S))
        self.sup = Supervisor(self.hosts)
        self.obs = Observer(self.hosts, self.sup, self.world)
        self.sup.start()
        self.obs.start()
        wait_for(lambda: len(self.obs.checked_in) == len(self.hosts), 60,
                 "every agent's first check-in (its STATE/run.json)")
        self.mark("fleet up", "info")
        say("all %d agents run and check in every second (synthetic:%d events/s each)" %
            (len(self.hosts), ARGS.rate))
        dead = [h.name for h in self.hosts if h.deaths]
        if dead:
            fail("agents died before any release: %s (see %s)" % (", ".join(dead[:10]),
                                                                   self.by_name(dead[0]).log))
        want = {h.name: {"paused": 0}.get(h.tenant, SEED) for h in self.hosts}
        say("waiting for every host to take v%d as its policy allows (the delayed tenant's "
            "after %d s)" % (SEED, DELAY_S))
        self.settle(want, DELAY_S + 40)
        self.mark("fleet on v%d" % SEED, "info")
        say("fleet settled: %s" % self.tenant_versions_text())

    def settle(self, want, timeout):
        """Wait until every host runs want[name]."""
        def settled():
            return all(self.obs.version_of(h) == want[h.name] for h in self.hosts)
        try:
            wait_for(settled, timeout, "every host running what its policy allows")
        except DemoFailure as e:
            off = ["%s on v%s" % (h.name, self.obs.version_of(h)) for h in self.hosts
                   if self.obs.version_of(h) != want[h.name]]
            fail("%s: %s" % (e, ", ".join(off[:20])))

    def by_name(self, name):
        return [h for h in self.hosts if h.name == name][0]

    # -- step 1 --

    def step1(self):
        say("STEP 1: a good release, v%d, through every wave" % GOOD)
        rid = self.world.release(GOOD, source=GOOD_SOURCE)
        say("release %d (channel %d v%d: examples/channel-291/channels/c291-v4.yaml) validated "
            "by the server, approved by a second person, published through TUF" %
            (rid, CHANNEL, GOOD))
        ro = self.world.start_rollout(rid)
        self.obs.watch(ro["id"])
        self.mark("v%d rollout starts" % GOOD, "start", ro=1)
        w = RolloutWatch(self, ro["id"], GOOD)
        r = w.run(180)
        self.facts["ro1"] = {"id": ro["id"], "started": w.started, "ended": now(),
                             "opened": w.opened}
        if not self.check("the good release (v%d) completed every wave" % GOOD,
                          r["state"] == "complete" and not r["halted_by_gate"] and
                          all(x["opened_at"] for x in r["waves"]),
                          "state %s; decisions: %s" % (r["state"], "; ".join(
                              d["reason"] for d in r["decisions"]))):
            fail("the good release v%d did not complete: %s" % (GOOD, "; ".join(
                d["reason"] for d in r["decisions"]) or r["state"]))

        # the fleet settles: everyone runs what their policy allows
        want = {h.name: {"paused": 0, "pinned": SEED}.get(h.tenant, GOOD) for h in self.hosts}
        say("waiting for every host to run what its policy allows (the delayed tenant's: "
            "%d s after the GA waves opened)" % DELAY_S)
        self.settle(want, DELAY_S + 40)
        self.facts["settled1"] = now()
        self.mark("fleet settled", "info", ro=1)
        say("fleet settled: %s" % self.tenant_versions_text())

    # -- step 2 --

    def step2(self):
        say("STEP 2: the 19 July content (channel %d v%d) submitted to the server" %
            (CHANNEL, REFUSED))
        st, v = self.world.upload(REFUSED)
        v = v if isinstance(v, dict) else {"error": str(v)}
        rep = v.get("report") or {}
        findings = [(stg["name"], f["message"]) for stg in rep.get("stages", [])
                    for f in stg.get("findings", []) if f.get("severity") == "error"]
        self.facts["refusal"] = {"status": st, "error": v.get("error"),
                                 "verdict": rep.get("verdict"), "findings": findings,
                                 "stages": [(x["name"], x["status"], x["summary"])
                                            for x in rep.get("stages", [])], "t": now()}
        self.mark("v%d refused" % REFUSED, "refused")
        say("the server answered HTTP %s: %s" % (st, v.get("error")))
        for stage, msg in findings:
            say("  [%s] %s" % (stage, msg))
        ok = st == 422 and rep.get("verdict") == "rejected" and any(
            "index 20" in m and SENSOR_OLD in m for stg, m in findings if stg == "capability")
        self.check("the 19 July content (v%d) was refused by the server's validator, naming "
                   "field index 20 and sensor %s" % (REFUSED, SENSOR_OLD), ok,
                   "HTTP %s, verdict %s" % (st, rep.get("verdict")))
        rels = self.srv.ok("GET", "/v1/releases?channel=%d" % CHANNEL, self.world.tok["operator"])
        self.check("the refused content was not kept as a release",
                   all(x["content_version"] != REFUSED for x in rels["releases"]),
                   "releases of channel %d: %s" % (CHANNEL, [x["content_version"]
                                                            for x in rels["releases"]]))
        if not ok:
            fail("the server did not refuse the 19 July content as expected: HTTP %s %s" %
                 (st, v.get("error")))

    # -- step 3 --

    def step3(self):
        say("STEP 3: v%d passes the validator, but sensor %s crashes when it activates it" %
            (BAD, FAULTY_SENSOR))
        rid = self.world.release(BAD, source=BAD_SOURCE)
        rel = self.srv.ok("GET", "/v1/releases/%d" % rid, self.world.tok["operator"])
        self.facts["v6_report"] = [(x["name"], x["status"], x["summary"])
                                   for x in rel["report"]["stages"]]
        say("release %d (v%d from %s) accepted by the server's validator and approved" % (
            rid, BAD, os.path.relpath(BAD_SOURCE, SOURCE_DIR)))
        ro = self.world.start_rollout(rid)
        say("rollout %d started: last good v%d; rollback prepared as %s" %
            (ro["id"], ro["last_good_version"], ro["rollback_target"]))
        self.facts["ro2_start"] = {k: ro[k] for k in ("last_good_version", "rollback_target")}
        self.obs.watch(ro["id"])
        self.mark("v%d rollout starts" % BAD, "start", ro=2)
        w = RolloutWatch(self, ro["id"], BAD)
        r = w.run(120)
        t_halt_seen = now()
        self.facts["ro2"] = {"id": ro["id"], "started": w.started, "halt_seen": t_halt_seen,
                             "rollback_done": None, "opened": w.opened}
        if r["state"] == "complete":
            fail("the rollout of v%d completed: the gates did not halt it" % BAD)
        took = self.took_bad(w.started)

        # the rollback: every host that took it runs the rollback version
        def rolled_back():
            # every host that took it is up, and has checked in on the
            # rollback version since it last died
            took = self.took_bad(w.started)
            return took and all(self.obs.version_of(h) == ROLLBACK and self.sup.alive(h) and
                                (not h.deaths or h.deaths[-1][0] < self.obs.last[h.name][1])
                                for h in took)
        say("rolling back: the hosts that took v%d are told to take v%d (v%d's content under "
            "a new number)" % (BAD, ROLLBACK, GOOD))
        try:
            wait_for(rolled_back, 60, "every host that took v%d running v%d" % (BAD, ROLLBACK))
            self.facts["ro2"]["rollback_done"] = now()
            self.mark("rollback done", "rollback", ro=2)
            took = self.took_bad(w.started)
            say("rollback done: all %d hosts that took v%d run v%d" % (len(took), BAD, ROLLBACK))
        except DemoFailure as e:
            self.check("every host that took v%d runs the rollback v%d" % (BAD, ROLLBACK),
                       False, str(e))
        say("watching 6 s more: nothing else may move")
        t_end = now() + 6
        while now() < t_end:
            w.tell(self.world.rollout(ro["id"]))
            time.sleep(0.5)
        self.facts["ro2"]["ended"] = now()

    def took_bad(self, t_from):
        """Hosts that, by the agents' own evidence, took v6: seen running it,
        or died by a signal after its rollout started."""
        return [h for h in self.hosts if BAD in self.obs.ever[h.name] or h.crashes(t_from)]

    def tenant_versions_text(self):
        parts = []
        for t in TENANTS:
            c = collections.Counter(self.obs.version_of(h) for h in self.by_tenant(t))
            parts.append("%s %s" % (t, ", ".join("%d on %s" % (n, "v%d" % v if v else "nothing")
                                                 for v, n in sorted(c.items()))))
        return "; ".join(parts)

    # -- the end: stop everything, gather --

    def finish(self):
        ids = (self.facts["ro1"]["id"], self.facts["ro2"]["id"])
        self.obs.stop()
        self.facts["rollouts"] = {rid: self.world.rollout(rid) for rid in ids}
        self.facts["audit"] = self.srv.audit_all(self.world.admin)
        self.facts["checkins_total"] = self.srv.metric("ringfenced_checkins_total")
        say("stopping the agents (SIGTERM: each must exit 0)")
        self.sup.stop()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(self.read_status, self.hosts))
        rc = self.srv.stop()
        self.check("ringfenced exited 0 on SIGTERM", rc == 0, "exit %s" % rc)
        rc, out = H.audit_verify(self.srv.db)
        self.check("the audit chain verifies (ringfence audit verify)", rc == 0,
                   out.strip().splitlines()[-1] if out.strip() else "")
        self.facts["end"] = now()

    def read_status(self, h):
        p = H.run([AGENT, "status", "--state-dir", h.dir, "--json"], check=False, timeout=30)
        try:
            h.status = json.loads(p.stdout)
        except ValueError:
            h.status = {"_unparsed": p.stdout[-2000:], "_rc": p.returncode,
                        "_stderr": p.stderr[-2000:]}

    # -- analysis: who took what when, in which wave; the claims --

    def attribute(self, r, version, t_from, t_to):
        """Hosts of a rollout's rings that took `version` in [t_from, t_to]:
        when (first seen running it, or first crash), and the wave open
        then — the last one whose opened_at is not later. Returns
        (per-host dict, per-wave dict)."""
        per = {}
        for h in self.hosts:
            if h.tenant in ("paused", "pinned"):
                continue
            cands = [x for x in (self.obs.first_seen[h.name].get(version),) if x is not None]
            cands += h.crashes(t_from, t_to)[:1]
            cands = [x for x in cands if t_from <= x <= t_to]
            if not cands:
                continue
            t_take = min(cands)
            wave = None
            for wv in r["waves"]:
                if wv["opened_at"] is not None and wall_to_demo(wv["opened_at"]) <= t_take:
                    wave = wv["name"]
            cr = h.crashes(t_from, t_to)
            t_rev = None
            if cr:
                t_rev = next((t for t, v in self.obs.hist[h.name] if t > cr[-1]), None)
            per[h.name] = {"host": h, "t_take": t_take, "wave": wave, "crashes": cr,
                           "reverted": version in status_bad(h.status), "t_revert": t_rev}
        waves = {wv["name"]: {"hosts": 0, "crashes": 0, "reverts": 0} for wv in r["waves"]}
        waves[None] = {"hosts": 0, "crashes": 0, "reverts": 0}
        for p in per.values():
            x = waves[p["wave"]]
            x["hosts"] += 1
            x["crashes"] += len(p["crashes"])
            x["reverts"] += 1 if p["reverted"] else 0
        return per, waves

    def analyse(self):
        f = self.facts
        ro1, ro2 = f["ro1"], f["ro2"]
        r1, r2 = f["rollouts"][ro1["id"]], f["rollouts"][ro2["id"]]
        t1, t2 = ro1["started"], ro2["started"]
        per1, waves1 = self.attribute(r1, GOOD, t1, ro1["ended"])
        per2, waves2 = self.attribute(r2, BAD, t2, f["end"])
        f["per1"], f["waves1"], f["per2"], f["waves2"] = per1, waves1, per2, waves2
        f["attribution_ok"] = all(
            waves[None]["hosts"] == 0 and
            all(waves[wv["name"]]["hosts"] == wv["took"] for wv in r["waves"])
            for r, waves in ((r1, waves1), (r2, waves2)))
        took = [p["host"] for p in per2.values()]
        crashed = [p for p in per2.values() if p["crashes"]]
        first = min(crashed, key=lambda p: p["crashes"][0]) if crashed else None
        f["first_crash"] = first["crashes"][0] if first else None
        f["first_crash_host"] = first["host"].name if first else None
        halts = [d for d in r2["decisions"] if d["action"] == "halt"]
        f["halt"] = halts[0] if halts else None
        if first:
            self.mark("first crash", "crash", f["first_crash"], ro=2)
        if f["halt"]:
            th = wall_to_demo(f["halt"]["t"])
            self.mark("halt (engine, %s gate)" % f["halt"]["evidence"]["signal"], "halt", th,
                      ro=2, t_end=min(th + 1, ro2["halt_seen"]))
        for k, r in ((1, r1), (2, r2)):
            for d in r["decisions"]:
                if d["action"] == "complete":
                    tc = wall_to_demo(d["t"])
                    self.mark("v%d complete" % r["content_version"], "end", tc, ro=k,
                              t_end=tc + 1)

        c = self.check
        acts2 = [(d["by"], d["action"]) for d in r2["decisions"]]
        c("the v%d rollout was halted by the engine's own gate; the driver never halted or "
          "rolled back anything" % BAD,
          r2["state"] == "rolling-back" and r2["halted_by_gate"] and f["halt"] is not None and
          f["halt"]["by"] == "engine" and all(by == "engine" for by, _ in acts2),
          "state %s, halted_by_gate %s, decisions %s" % (r2["state"], r2["halted_by_gate"],
                                                       acts2))
        audit2 = [e for e in f["audit"] if e["object"] == "rollout/%d" % ro2["id"]]
        c("the audit log records the halt as the engine's, and no operator halt or rollback",
          any(e["action"] == "decision.halt" and e["actor"] == "engine" for e in audit2) and
          not any(e["action"] in ("rollout.halt", "rollout.rollback", "rollout.resume")
                  for e in f["audit"]),
          ", ".join("%s by %s" % (e["action"], e["actor"]) for e in audit2))
        if f["halt"]:
            c("the gate that halted is fed by the agents' health reports (reverts or silence)",
              f["halt"]["evidence"]["signal"] in ("reverts", "silence"), f["halt"]["reason"])
            c("the halt came in the internal ring (wave %s)" % f["halt"]["wave"],
              any(wv["name"] == f["halt"]["wave"] and wv["ring"] == "internal"
                  for wv in r2["waves"]))
        c("no customer wave of the v%d rollout opened or had a host take it" % BAD,
          all(wv["took"] == 0 and wv["opened_at"] is None for wv in r2["waves"]
              if wv["ring"] != "internal"),
          "; ".join("%s opened %s, took %d" % (wv["name"], wv["opened_at"] is not None,
                                              wv["took"])
                    for wv in r2["waves"] if wv["ring"] != "internal"))
        cust_bad = sorted(h.name for h in self.hosts if h.customer and (
            BAD in self.obs.ever[h.name] or BAD in status_seen(h.status) or
            log_mentions(h, BAD)))
        f["customer_bad"] = cust_bad
        c("no customer host received v%d (run.json, status --json, its log)" % BAD,
          not cust_bad, ", ".join(cust_bad))
        cust_crash = [h.name for h in self.hosts if h.customer and h.crashes()]
        c("no customer host crashed at any time", not cust_crash, ", ".join(cust_crash))
        wrong = [h.name for h in self.hosts if h.crashes() and (not h.faulty or h.crashes(0, t2))]
        c("only %s hosts crashed, and only once v%d was out" % (FAULTY_SENSOR, BAD), not wrong,
          ", ".join(wrong))
        c("the fault was exercised: %d internal %s hosts took v%d and crashed" %
          (len(crashed), FAULTY_SENSOR, BAD), len(crashed) >= 3)
        slow = ["%s (%d crashes, reverted: %s)" % (n, len(p["crashes"]), p["reverted"])
                for n, p in per2.items() if p["host"].faulty and
                (not p["reverted"] or len(p["crashes"]) > ARGS.max_starts)]
        c("every %s host that took v%d crashed at most %d times (--max-starts) before its boot "
          "guard reverted it and marked v%d bad" % (FAULTY_SENSOR, BAD, ARGS.max_starts, BAD),
          not slow, ", ".join(slow))
        healthy = [n for n, p in per2.items() if not p["host"].faulty and p["crashes"]]
        c("the %s hosts that took v%d ran it without crashing" % (SENSOR_OLD, BAD), not healthy,
          ", ".join(healthy))
        nrev = sum(1 for p in per2.values() if p["reverted"])
        c("the server's counts agree with the agents': %d hosts took v%d (agents: %d); %d "
          "reverts reached it before the halt (agents: %d reverted in all; a rollout that is "
          "not running counts nothing more)" % (r2["hosts"]["took"], BAD, len(took),
                                               r2["hosts"]["reverted"], nrev),
          r2["hosts"]["took"] == len(took) and r2["hosts"]["reverted"] <= nrev)
        c("each host's wave, from the time it took a release, matches the server's per-wave "
          "counts", f["attribution_ok"], "; ".join(
              "rollout %d %s: server %d, agents %d" % (ro["id"], wv["name"], wv["took"],
                                                      ws[wv["name"]]["hosts"])
              for ro, r, ws in ((ro1, r1, waves1), (ro2, r2, waves2)) for wv in r["waves"]
              if wv["took"] != ws[wv["name"]]["hosts"]))
        not_rb = [h.name for h in took if status_active(h.status) != ROLLBACK]
        c("every host that took v%d ends on the rollback version v%d" % (BAD, ROLLBACK),
          ro2["rollback_done"] is not None and not not_rb, ", ".join(not_rb))
        others = [h.name for h in self.hosts if h not in took and status_active(h.status) !=
                  {"paused": 0, "pinned": SEED}.get(h.tenant, GOOD)]
        c("every other host still runs v%d (pinned ones v%d, paused ones nothing)" %
          (GOOD, SEED), not others, ", ".join(others))
        paused = [h.name for h in self.by_tenant("paused")
                  if self.obs.ever[h.name] - {0} or status_active(h.status) or
                  status_seen(h.status)]
        c("the paused tenant's hosts never ran any content", not paused, ", ".join(paused))
        pinned = [h.name for h in self.by_tenant("pinned")
                  if self.obs.ever[h.name] - {0, SEED} or status_seen(h.status) - {SEED}]
        c("the pinned tenant's hosts never ran anything but their pin, v%d" % SEED, not pinned,
          ", ".join(pinned))
        ga_open = min((wall_to_demo(wv["opened_at"]) for wv in r1["waves"]
                       if wv["ring"] == "ga" and wv["opened_at"]), default=None)
        f["ga_open1"] = ga_open
        early = [h.name for h in self.by_tenant("delayed") if ga_open is None or
                 self.obs.first_seen[h.name].get(GOOD, 1e9) < ga_open + DELAY_S - 1.0]
        c("the delayed tenant's hosts took v%d only once their %d s GA delay had passed" %
          (GOOD, DELAY_S), not early, ", ".join(early))
        bad_exit = [(h.name, h.final_rc) for h in self.hosts if h.final_rc != 0]
        c("every agent exited 0 on SIGTERM at the end", not bad_exit,
          ", ".join("%s: %s" % x for x in bad_exit[:10]))
        c("no agent exited by itself (every death was a crash by a signal)",
          not self.sup.unexpected, ", ".join("%s at %.1f s: exit %s" % x
                                             for x in self.sup.unexpected[:10]))
        c("the observer read every poll without an error", not self.obs.errors,
          "; ".join(self.obs.errors[:5]))
        c("the demo finished within 5 minutes", f["end"] < 300, "%.0f s" % f["end"])

    # -- output --

    def wave_rows(self, r, waves):
        return [(wv["name"], wv["ring"], fmt_t(wv["opened_at"]), wv["hosts"], wv["took"],
                 waves[wv["name"]]["crashes"], waves[wv["name"]]["reverts"])
                for wv in r["waves"]]

    def summary(self):
        f = self.facts
        ro1, ro2 = f["ro1"], f["ro2"]
        r1, r2 = f["rollouts"][ro1["id"]], f["rollouts"][ro2["id"]]
        L = []
        P = L.append
        P("")
        P("=" * 100)
        P("19 July on a real fleet: %d ringfence-agent processes, %d tenants, sensors %s (20 IPC "
          "inputs) and %s (21)" % (len(self.hosts), len(TENANTS), SENSOR_OLD, SENSOR_NEW))
        P("=" * 100)
        P("%-8s %-14s %-9s %7s %6s %8s %8s %8s   %s" % (
            "release", "wave", "ring", "opened", "hosts", "exposed", "crashes", "reverts",
            "outcome"))
        P("-" * 100)
        for ver, r, waves, per in ((GOOD, r1, f["waves1"], f["per1"]),
                                   (BAD, r2, f["waves2"], f["per2"])):
            rows = self.wave_rows(r, waves)
            if ver == GOOD:
                out = ["%s: %d hosts took it" % (r["state"], r["hosts"]["took"])]
            else:
                out = ["%s by the engine" % ("halted" if r["halted_by_gate"] else r["state"]),
                       "(%s gate)," % (f["halt"]["evidence"]["signal"] if f["halt"] else "-"),
                       "rolled back to v%d" % ROLLBACK]
            for i, row in enumerate(rows):
                P("%-8s %-14s %-9s %7s %6d %8d %8d %8d   %s" % (
                    ("v%d" % ver) if i == 0 else "", row[0], row[1], row[2], row[3], row[4],
                    row[5], row[6], out[i] if i < len(out) else ""))
            if ver == GOOD:
                P("%-8s refused by the server's validator (HTTP %s): %s" % (
                    "v%d" % REFUSED, f["refusal"]["status"],
                    f["refusal"]["findings"][0][1] if f["refusal"]["findings"] else
                    f["refusal"]["error"]))
        P("-" * 100)
        P("opened: s since the demo started (server clock, 1 s steps); hosts: in the wave; "
          "exposed: took the release (server's count);")
        P("crashes: agent processes that died by a signal (the supervisor's count); reverts: "
          "hosts whose boot guard marked the release bad")
        P("")
        per2 = f["per2"]
        if f["first_crash"] is not None:
            P("first crash              +%.1fs   %s (sensor %s), at its activation of v%d" % (
                f["first_crash"], f["first_crash_host"], FAULTY_SENSOR, BAD))
        if f["halt"]:
            th = wall_to_demo(f["halt"]["t"])
            P("halt, by the engine      +%.1fs   %s" % (th, f["halt"]["reason"]))
            if f["first_crash"] is not None:
                lo = max(0.0, th - f["first_crash"])
                hi = min(th + 1, ro2["halt_seen"]) - f["first_crash"]
                P("time to halt             %.1f-%.1f s after the first crash (the decision is "
                  "stamped in whole seconds, +%.1fs; the driver saw it at +%.1fs)" % (
                      lo, hi, th, ro2["halt_seen"]))
        revs = sorted(p["t_revert"] for p in per2.values() if p["t_revert"] is not None)
        if revs:
            P("boot-guard reverts       %d hosts, from +%.1fs to +%.1fs (%s crashes each)" % (
                len(revs), revs[0], revs[-1], "/".join(str(n) for n in sorted(set(
                    len(p["crashes"]) for p in per2.values() if p["crashes"])))))
        if ro2["rollback_done"] is not None:
            P("rollback done            +%.1fs   all %d hosts that took v%d run v%d (v%d's "
              "content)" % (ro2["rollback_done"], len(per2), BAD, ROLLBACK, GOOD))
        P("customer hosts with v%d   %d" % (BAD, len(f["customer_bad"])))
        P("")
        P("%-9s %-30s %5s   %s" % ("tenant", "policy (channel 291)", "hosts",
                                   "content at the end (each agent's status --json)"))
        for t in TENANTS:
            hs = self.by_tenant(t)
            cnt = collections.Counter(status_active(h.status) for h in hs)
            P("%-9s %-30s %5d   %s" % (t, POLICY_TEXT[t], len(hs), ", ".join(
                "%d on %s" % (n, "v%d" % v if v else "nothing") for v, n in sorted(cnt.items()))))
        P("")
        P("checks:")
        for claim, ok, detail in self.checks:
            P("  %s  %s%s" % ("PASS" if ok else "FAIL", claim,
                              "" if ok or not detail else "\n          " + detail))
        return "\n".join(L)

    def report_data(self, summary_text):
        f = self.facts
        ro1, ro2 = f["ro1"], f["ro2"]
        rollouts = []
        for ro, ver, waves, per in ((ro1, GOOD, f["waves1"], f["per1"]),
                                    (ro2, BAD, f["waves2"], f["per2"])):
            r = f["rollouts"][ro["id"]]
            k = 1 if ro is ro1 else 2
            marks = [m[:3] + m[4:] for m in self.marks if m[3] == k]
            marks += [(t, name, "wave") for name, t in ro["opened"].items()]
            if ver == GOOD:
                window = (ro["started"] - 2, f.get("settled1", ro["ended"]) + 2)
                note = ("Every wave opened after its bake with quiet gates. The paused tenant's "
                        "hosts got nothing; the pinned tenant's stayed on their pin, v%d; the "
                        "delayed tenant's took it once %d s had passed since the GA waves "
                        "opened." % (SEED, DELAY_S))
            else:
                window = (ro["started"] - 2, ro["ended"])
                note = ("Crashes and reverts per wave are the supervisor's and the agents' own "
                        "counts, each host counted in the wave that was open when it took v%d."
                        % BAD)
            took_names = set(per) if ver == BAD else set()
            took_samples = [(t, dict(collections.Counter(lb for n, lb in labels.items()
                                                         if n in took_names)))
                            for t, labels in self.obs.host_samples
                            if window[0] <= t <= window[1]] if took_names else []
            rollouts.append({
                "took_hosts": len(took_names), "took_samples": took_samples,
                "id": ro["id"], "version": ver, "state": r["state"], "window": window,
                "marks": marks, "note": note, "hosts": r["hosts"],
                "waves": [{"name": wv["name"], "ring": wv["ring"], "hosts": wv["hosts"],
                           "took": wv["took"], "reports": wv["reports"],
                           "opened": None if wv["opened_at"] is None else
                           wall_to_demo(wv["opened_at"]),
                           "crashes": waves[wv["name"]]["crashes"],
                           "reverts": waves[wv["name"]]["reverts"]} for wv in r["waves"]],
                "decisions": [{"t": wall_to_demo(d["t"]), "by": d["by"], "action": d["action"],
                               "wave": d["wave"], "reason": d["reason"],
                               "evidence": d["evidence"]} for d in r["decisions"]]})
        all_marks = [m[:3] + m[4:] for m in self.marks]
        per2 = f["per2"]
        crash_times = sorted(t for p in per2.values() for t in p["crashes"])
        rev_times = sorted(p["t_revert"] for p in per2.values() if p["t_revert"] is not None)
        versions = sorted({int(lb[1:]) for _, c in self.obs.samples for lb in c
                           if lb.startswith("v") and lb[1:].isdigit()} | {SEED, GOOD, BAD,
                                                                         ROLLBACK})
        ok = all(x[1] for x in self.checks)
        head = []
        if f["halt"] and f["first_crash"] is not None:
            head.append("v%d crashed %d internal hosts of sensor %s; the engine halted it %.0f s "
                        "after the first crash (%s gate) and rolled it back to v%d." % (
                            BAD, sum(1 for p in per2.values() if p["crashes"]), FAULTY_SENSOR,
                            wall_to_demo(f["halt"]["t"]) - f["first_crash"],
                            f["halt"]["evidence"]["signal"], ROLLBACK))
        head.append("Customer hosts that received v%d: %d of %d." % (
            BAD, len(f["customer_bad"]), sum(1 for h in self.hosts if h.customer)))
        head.append("All %d checks hold." % len(self.checks) if ok else
                    "%d of %d checks FAILED: %s" % (
                        sum(1 for x in self.checks if not x[1]), len(self.checks),
                        "; ".join(x[0] for x in self.checks if not x[1])))
        return {
            "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "hosts": len(self.hosts),
            "duration_s": f["end"], "poll_s": POLL_S, "versions": versions,
            "colors": {"v%d" % SEED: "#9ecae1", "v%d" % GOOD: "#3b6fb0", "v%d" % BAD: "#e03b3b",
                       "v%d" % ROLLBACK: "#3aa655"},
            "samples": self.obs.samples, "marks": all_marks, "rollouts": rollouts,
            "crash_series": [["crashes", "#c62828",
                              [(t, i + 1) for i, t in enumerate(crash_times)]],
                             ["reverts", "#2e7d32",
                              [(t, i + 1) for i, t in enumerate(rev_times)]]],
            "headline": {"lines": head},
            "story": {"seed": SEED, "good": GOOD, "refused": REFUSED, "bad": BAD, "rollback": ROLLBACK,
                      "faulty": FAULTY_SENSOR},
            "summary_text": summary_text, "checks": self.checks, "refusal": f["refusal"],
            "tenants": [{"name": t, "policy": POLICY_TEXT[t], "hosts": len(self.by_tenant(t)),
                         "sensors": "%d on %s, %d on %s" % (
                             sum(h.sensor == SENSOR_OLD for h in self.by_tenant(t)), SENSOR_OLD,
                             sum(h.sensor == SENSOR_NEW for h in self.by_tenant(t)), SENSOR_NEW),
                         "final": ", ".join("%d on %s" % (n, "v%d" % v if v else "nothing")
                                            for v, n in sorted(collections.Counter(
                                                status_active(h.status)
                                                for h in self.by_tenant(t)).items()))}
                        for t in TENANTS],
            "crash_hosts": [{"name": n, "tenant": p["host"].tenant, "sensor": p["host"].sensor,
                             "wave": p["wave"], "t_take": p["t_take"],
                             "crashes": len(p["crashes"]), "crash_times": p["crashes"],
                             "t_revert": p["t_revert"],
                             "bad": ", ".join("v%d" % v for v in sorted(status_bad(
                                 p["host"].status))) or "-",
                             "final": "v%d" % status_active(p["host"].status)}
                            for n, p in sorted(per2.items(), key=lambda x: x[1]["t_take"])],
            "audit": [{"seq": e["seq"], "t": wall_to_demo(e["t"]), "actor": e["actor"],
                       "action": e["action"], "object": e["object"], "detail": e["detail"]}
                      for e in f["audit"] if e["action"].split(".")[0] in
                      ("release", "rollout", "decision", "policy")],
            "params": {"hosts": len(self.hosts), "rate_events_per_s": ARGS.rate,
                       "max_starts": ARGS.max_starts, "restart_delay_s": RESTART_S,
                       "faulty_sensor": FAULTY_SENSOR, "fault": "crash-on-content=%d:%d" %
                       (CHANNEL, BAD), "plan": open(PLAN_FILE).read(),
                       "ga_delay_s": DELAY_S, "checkins_answered": f.get("checkins_total"),
                       "build": ARGS.build, "python": sys.version.split()[0]},
        }

    def cleanup(self, keep):
        if self.obs:
            self.obs.stop()
        if self.sup:
            try:
                self.sup.stop()
            except Exception as e:  # noqa: BLE001 — go on stopping the rest
                sys.stderr.write("demo: stopping the agents: %s\n" % e)
        if self.srv and self.srv.proc is not None:
            try:
                self.srv.stop()
            except AssertionError:
                pass
            if self.srv.proc is not None:
                self.srv.kill9()
        if self.fx:
            if keep:
                print("demo: kept %s (the server's database and log, every agent's state "
                      "directory and log)" % self.fx.dir, flush=True)
            else:
                shutil.rmtree(self.fx.dir, ignore_errors=True)


class SetupError(Exception):
    pass


# ---- what the agents said ---------------------------------------------------------------------

def fmt_t(unix):
    return "-" if unix is None else "+%.0fs" % wall_to_demo(unix)


def _chan(status):
    """The channel-291 entry of `ringfence-agent status --json`: in its
    "channels" (the boot guard's state), else a dict with "channel": 291
    anywhere in it."""
    for c in (status or {}).get("channels") or []:
        if isinstance(c, dict) and c.get("channel") == CHANNEL:
            return c
    found = []

    def walk(x):
        if isinstance(x, dict):
            if x.get("channel") == CHANNEL:
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(status or {})
    return found[0] if found else {}


def status_active(status):
    c = _chan(status)
    for k in ("active_version", "version"):
        if isinstance(c.get(k), int):
            return c[k]
    return 0


def status_bad(status):
    out = set()
    for b in _chan(status).get("bad") or []:
        out.add(b if isinstance(b, int) else b.get("version"))
    return out


def status_seen(status):
    """Every version the agent's state names for channel 291 (active, last
    known good, trial, bad, slots), 0 left out."""
    out = set()

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, int) and not isinstance(x, bool) and "version" in key:
            out.add(x)
    walk(_chan(status))
    out |= status_bad(status)
    out.discard(0)
    return out


LOG_PATTERNS = (r"channels/%(ch)d/%(v)d\.rfc",
                r"channel %(ch)d:? (content )?version %(v)d\b")


def log_mentions(h, version):
    """Whether the agent's log names channel 291 version `version`."""
    try:
        with open(h.log, errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return any(re.search(p % {"ch": CHANNEL, "v": version}, text) for p in LOG_PATTERNS)


def main():
    def stop(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    d = Demo()
    rc = 0
    keep = ARGS.keep
    try:
        d.setup()
        d.step1()
        d.step2()
        d.step3()
        d.finish()
        d.analyse()
        text = d.summary()
        print(text, flush=True)
        import report
        path = report.write(d.report_data(text), ARGS.out)
        print("\nreport: %s" % path)
        failed = [c for c in d.checks if not c[1]]
        if failed:
            print("demo: FAILED: %d of %d checks did not hold: %s" % (
                len(failed), len(d.checks), "; ".join(c[0] for c in failed)), file=sys.stderr)
            rc, keep = 1, True
        else:
            print("demo: all %d checks hold; %.0f s in all" % (len(d.checks), now()))
    except SetupError as e:
        print("demo: %s" % e, file=sys.stderr)
        rc = 2
    except DemoFailure as e:
        print("demo: FAILED at %.0f s: %s" % (now(), e), file=sys.stderr)
        for claim, ok, detail in d.checks:
            if not ok:
                print("demo:   FAIL %s: %s" % (claim, detail), file=sys.stderr)
        rc, keep = 1, True
    except KeyboardInterrupt:
        print("\ndemo: interrupted; stopping everything it started", file=sys.stderr)
        rc = 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        d.cleanup(keep)
    return rc


if __name__ == "__main__":
    sys.exit(main())
