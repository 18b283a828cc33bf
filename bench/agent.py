#!/usr/bin/env python3
"""bench/agent.py — ringfence-agent's budgets, measured (docs/performance.md).

With a real ringfenced (SQLite, its TUF repository) on loopback and one real
agent, on a synthetic IPC channel of N instances (default 10,000; the
workspace of `ringfence bench validate`):

  activation      ms from "downloaded" to "the event thread runs it", as the
                  agent logs it, for the first content and for a swap
                  while a 10k-instance channel runs (budget: <= 3 s)
  idle            RSS (VmRSS, VmHWM) and CPU (utime+stime over a window)
                  with the channel loaded and no events (budget: <= 64 MiB,
                  CPU near zero)
  busy            events/s, per-event cost p50/p99 and CPU while replaying a
                  recorded corpus as fast as it goes
  swap            a swap in the middle of a replay: events evaluated against
                  lines fed (must be equal: nothing dropped, nothing twice)

Prints figures; passes or fails on nothing but errors (budgets are read by
people, never timed tests).

  python3 bench/agent.py [--build DIR] [--instances N] [--idle-seconds S]
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--idle-seconds", type=int, default=30)
    ap.add_argument("--replay-events", type=int, default=200000)
    a = ap.parse_args()
    bindir = os.path.join(os.path.abspath(a.build), "bin")
    os.environ.setdefault("RINGFENCED", os.path.join(bindir, "ringfenced"))
    os.environ.setdefault("RINGFENCE", os.path.join(bindir, "ringfence"))
    agent_bin = os.path.join(bindir, "ringfence-agent")
    sys.path.insert(0, os.path.join(SRC, "tests", "server"))
    import harness as H

    fx = H.Fixture(prefix="rf-bench-agent-")
    procs = []
    try:
        ws = os.path.join(fx.dir, "ws")
        say("writing a synthetic workspace of %d instances" % a.instances)
        H.run([H.RINGFENCE, "bench", "validate", "--instances", str(a.instances), "--events",
               "2000", "--keep", ws, "--json"], timeout=600)
        src = open(os.path.join(ws, "channels", "synthetic.yaml")).read()
        types = [open(os.path.join(ws, "types", f)).read() for f in sorted(os.listdir(ws + "/types"))]
        sensors = [open(os.path.join(ws, "sensors", f)).read()
                   for f in sorted(os.listdir(ws + "/sensors"))]
        corpus = open(os.path.join(ws, "corpus", "corpus.jsonl")).read()
        sensor_file = os.path.join(ws, "sensors", sorted(os.listdir(ws + "/sensors"))[0])
        sensor_version = re.search(r"(?m)^sensor_version: *\"?([^\"\n]+)", open(sensor_file).read()).group(1)

        def rfc(version):
            y = os.path.join(fx.dir, "syn-v%d.yaml" % version)
            with open(y, "w") as f:
                f.write(re.sub(r"(?m)^content_version: *\d+", "content_version: %d" % version, src))
            out = y[:-5] + ".rfc"
            H.run([H.RINGFENCE, "-C", ws, "compile", y, "-o", out], timeout=600)
            return open(out, "rb").read()

        srv = H.Server(fx, extra=["--max-release-body", str(256 << 20)])
        admin = srv.init()
        srv.start()
        w = H.World(srv, admin, fx).bootstrap({"vendor": (True, None)})

        def release(version):
            body = {"channel_file": base64.b64encode(rfc(version)).decode(), "types": types,
                    "sensors": sensors, "corpus": corpus}
            t0 = time.time()
            st, v = srv.call("POST", "/v1/releases", w.tok["author"], body, timeout=600)
            assert st == 201, (st, str(v)[:500])
            srv.ok("POST", "/v1/releases/%d/approve" % v["id"], w.tok["approver"], timeout=600)
            say("release v%d uploaded, validated by the server and approved in %.1f s"
                % (version, time.time() - t0))
            return w.start_rollout(v["id"])

        state = os.path.join(fx.dir, "agent")
        root = os.path.join(srv.repo, "public", "metadata", "1.root.json")
        H.run([agent_bin, "enroll", "--server", "http://127.0.0.1:%d" % srv.port, "--token",
               w.tenant["vendor"]["enroll"], "--state-dir", state, "--sensor-version",
               sensor_version, "--sensor-manifest", sensor_file, "--root", root])
        log = os.path.join(fx.dir, "agent.log")

        def start(events):
            p = subprocess.Popen([agent_bin, "run", "--state-dir", state, "--events", events,
                                  "--confirm-after", "2"], stderr=open(log, "a"),
                                 stdin=subprocess.PIPE if events == "stdin" else None)
            procs.append(p)
            return p

        def stop(p):
            p.terminate()
            p.wait(60)

        def wait_lkg(version, timeout=300):
            t_end = time.time() + timeout
            while time.time() < t_end:
                st = status(agent_bin, state)
                chs = {c["channel"]: c for c in st["channels"]}
                if chs and all(c["lkg_version"] == version for c in chs.values()):
                    return
                time.sleep(0.5)
            raise SystemExit("bench: the agent did not confirm version %d in %d s; log %s"
                             % (version, timeout, log))

        def activation(version):
            for line in open(log):
                m = re.search(r"version %d active .* (\d+) ms after download" % version, line)
                if m:
                    return int(m.group(1))
            return None

        results = {}
        p = start("none")
        release(1)
        wait_lkg(1)
        results["activation_first_ms"] = activation(1)
        time.sleep(3)
        cpu0, t0 = cpu_s(p.pid), time.time()
        time.sleep(a.idle_seconds)
        cpu1, t1 = cpu_s(p.pid), time.time()
        results["idle_cpu_pct"] = 100.0 * (cpu1 - cpu0) / (t1 - t0)
        results["idle_rss_kib"], results["idle_hwm_kib"] = rss(p.pid)
        say("idle with %d instances: RSS %.1f MiB (peak %.1f MiB), CPU %.3f%% of a core over %d s"
            % (a.instances, results["idle_rss_kib"] / 1024, results["idle_hwm_kib"] / 1024,
               results["idle_cpu_pct"], a.idle_seconds))

        release(2)
        wait_lkg(2)
        results["activation_swap_ms"] = activation(2)
        results["swap_hwm_kib"] = rss(p.pid)[1]
        say("activation: first content %s ms, swap under a running %d-instance channel %s ms "
            "(after download; peak RSS %.1f MiB)" % (results["activation_first_ms"], a.instances,
                                                    results["activation_swap_ms"],
                                                    results["swap_hwm_kib"] / 1024))
        stop(p)

        # Busy: a replay of the corpus, repeated, as fast as it is evaluated,
        # with a swap (v10) while it runs; fed through stdin so the swap lands
        # in the middle.
        lines = [l for l in corpus.splitlines() if l.strip()]
        feed = (lines * (a.replay_events // len(lines) + 1))[:a.replay_events]
        before = last_run(state).get("events", 0)
        p = start("stdin")
        time.sleep(2)
        release(10)
        t0 = time.time()
        cpu0 = cpu_s(p.pid)
        half = len(feed) // 2
        p.stdin.write(("\n".join(feed[:half]) + "\n").encode())
        p.stdin.flush()
        wait_lkg(10)
        p.stdin.write(("\n".join(feed[half:]) + "\n").encode())
        p.stdin.close()
        t_end = time.time() + 600
        while time.time() < t_end:
            r = last_run(state)
            if r.get("pid") == p.pid and r.get("source_ended") and r.get("events", 0) >= len(feed):
                break
            time.sleep(0.5)
        wall = time.time() - t0
        cpu = cpu_s(p.pid) - cpu0
        stop(p)
        r = last_run(state)
        evald = r.get("events", 0)
        results.update(busy_events=evald, fed=len(feed), busy_wall_s=wall, busy_cpu_s=cpu,
                       busy_rss_kib=r.get("rss_kb"), p50=r.get("cpu_ns_p50"),
                       p99=r.get("cpu_ns_p99"))
        say("replay with a swap to v10 in the middle: %d lines fed, %d evaluated (%s), "
            "%.0f events/s over %.1f s wall incl. the swap, CPU %.1f s; last window p50 %s ns, "
            "p99 %s ns per event; RSS %.1f MiB"
            % (len(feed), evald, "none dropped or doubled" if evald == len(feed) else "MISMATCH",
               evald / wall if wall else 0, wall, cpu, r.get("cpu_ns_p50"), r.get("cpu_ns_p99"),
               (r.get("rss_kb") or 0) / 1024))
        print(json.dumps(results, sort_keys=True))
        srv.stop()
        return 0 if evald == len(feed) and before == 0 else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        fx.close()


def say(msg):
    sys.stdout.write("bench-agent: %s\n" % msg)
    sys.stdout.flush()


def status(agent_bin, state):
    r = subprocess.run([agent_bin, "status", "--state-dir", state, "--json"],
                       capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout) if r.returncode == 0 else {"channels": []}


def last_run(state):
    try:
        with open(os.path.join(state, "run.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid):
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0])
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


if __name__ == "__main__":
    sys.exit(main())
