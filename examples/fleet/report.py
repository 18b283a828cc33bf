"""report.py — the HTML report of `make demo` (examples/fleet/demo.py).

write(data, out_dir) writes out_dir/report.html — one self-contained file:
inline SVG charts drawn here, inline CSS, no script, no external asset —
and out_dir/report.json, the data it was drawn from. `data` is the plain
dictionary demo.py measures (see demo.py, Demo.report_data); nothing here
measures or invents a number.

    python3 examples/fleet/report.py DATA.json OUT_DIR   # redraw from a report.json
    python3 examples/fleet/report.py --fake OUT_DIR      # a report from made-up data
                                                         # (to look at the layout)
"""

import html
import json
import math
import os
import sys
import time

COLORS = {"no content": "#c9c9c9", "not started": "#efefef", "down (crash loop)": "#222222"}
VERSION_COLORS = ["#4c78a8", "#e45756", "#54a24b", "#f58518", "#b279a2", "#72b7b2", "#9d755d"]
MARK_COLORS = {"start": "#4c78a8", "wave": "#7a7a7a", "end": "#2e7d32", "refused": "#b26a00",
               "crash": "#c62828", "halt": "#000000", "rollback": "#2e7d32", "info": "#9e9e9e"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1080px; color: #1d1d1d; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em;
       border-bottom: 1px solid #ddd; padding-bottom: .2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .6em 0 1em; } td, th { padding: .25em .7em;
       border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1b5e20; font-weight: 600; } .fail { color: #b71c1c; font-weight: 600; }
.sub { color: #666; } pre { background: #f7f7f7; padding: .8em; overflow-x: auto;
       font-size: 12.5px; line-height: 1.3; } code { background: #f3f3f3; padding: 0 .2em; }
.big { font-size: 1.15em; } .box { border: 1px solid #ddd; padding: .6em 1em; margin: 1em 0;
       background: #fcfcfc; } svg { display: block; margin: .5em 0; }
.verdict-ok { background: #e8f5e9; border-color: #a5d6a7; }
.verdict-bad { background: #ffebee; border-color: #ef9a9a; }
"""


def esc(x):
    return html.escape(str(x), quote=True)


def nice_step(span, target=8):
    """A round tick step for a span so that about `target` ticks fit."""
    if span <= 0:
        return 1
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def category_order(labels):
    vers = sorted((lb for lb in labels if lb.startswith("v") and lb[1:].isdigit()),
                  key=lambda lb: int(lb[1:]))
    rest = [lb for lb in labels if lb not in vers]
    first = [lb for lb in ("not started", "no content") if lb in rest]
    last = [lb for lb in rest if lb not in first]
    return first + vers + last


def color_of(label, versions, fixed=None):
    if fixed and label in fixed:
        return fixed[label]
    if label in COLORS:
        return COLORS[label]
    if label in versions:
        return VERSION_COLORS[versions.index(label) % len(VERSION_COLORS)]
    return "#bbbbbb"


def stacked_chart(samples, marks, t_from, t_to, total, title, versions, fixed=None, width=1000,
                  height=360):
    """Stacked areas of hosts per state over [t_from, t_to], with vertical
    markers. samples: [(t, {label: hosts})]; marks: [(t, label, kind)] or
    [(t, label, kind, t_end)]: a time known only to within [t, t_end) (the
    server stamps its decisions in whole seconds) is drawn as a band."""
    pts = [(t, c) for t, c in samples if t_from <= t <= t_to]
    ml, mr, mt, mb = 56, 180, 118, 40
    pw, ph = width - ml - mr, height - mt - mb
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'role="img" aria-label="%s">' % (width, height, width, height, esc(title))]
    out.append('<text x="%d" y="18" font-size="15" font-weight="600">%s</text>' %
               (ml, esc(title)))
    if t_to <= t_from:
        t_to = t_from + 1

    def X(t):
        return ml + (t - t_from) / (t_to - t_from) * pw

    def Y(n):
        return mt + ph - (n / total * ph if total else 0)
    labels = set()
    for _, c in pts:
        labels.update(k for k, v in c.items() if v)
    order = category_order(labels)
    if pts:
        base = [0.0] * len(pts)
        for lb in order:
            top = [b + c.get(lb, 0) for b, (_, c) in zip(base, pts)]
            # steps: a sample holds until the next one
            ts = [t for t, _ in pts]
            nxt = ts[1:] + [ts[-1]]
            poly = []
            for t, t2, v in zip(ts, nxt, top):
                poly += ["%.1f,%.1f" % (X(t), Y(v)), "%.1f,%.1f" % (X(t2), Y(v))]
            for t, t2, v in reversed(list(zip(ts, nxt, base))):
                poly += ["%.1f,%.1f" % (X(t2), Y(v)), "%.1f,%.1f" % (X(t), Y(v))]
            out.append('<polygon points="%s" fill="%s" stroke="none"><title>%s</title>'
                       '</polygon>' % (" ".join(poly), color_of(lb, versions, fixed), esc(lb)))
            base = top
    # axes and ticks
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' %
               (ml, mt, pw, ph))
    step = nice_step(t_to - t_from)
    t = math.ceil(t_from / step) * step
    while t <= t_to + 1e-9:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>'
                   '<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>' %
                   (X(t), mt + ph, X(t), mt + ph + 4, X(t), mt + ph + 16, "%g" % t))
        t += step
    out.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">seconds since the '
               'demo started</text>' % (ml + pw / 2, height - 6))
    ys = nice_step(total, 5)
    n = 0
    while n <= total + 1e-9:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#999"/>'
                   '<text x="%d" y="%.1f" font-size="11" text-anchor="end">%g</text>' %
                   (ml - 4, Y(n), ml, Y(n), ml - 7, Y(n) + 4, n))
        n += ys
    out.append('<text x="14" y="%.1f" font-size="12" transform="rotate(-90 14 %.1f)" '
               'text-anchor="middle">hosts</text>' % (mt + ph / 2, mt + ph / 2))
    # markers: a line each, labelled at the top; labels that would overlap
    # are moved up a row
    rows_x = []
    for m in sorted(m for m in marks if t_from <= m[0] <= t_to):
        t, label, kind = m[:3]
        col = MARK_COLORS.get(kind, "#555")
        dash = "" if kind in ("halt", "crash", "rollback", "refused") else ' stroke-dasharray="4 3"'
        if len(m) > 3 and m[3] is not None and m[3] > t:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" '
                       'fill-opacity="0.18"><title>%s between %.1f and %.1f s</title></rect>' %
                       (X(t), mt, max(1.0, X(min(m[3], t_to)) - X(t)), ph, col, esc(label), t,
                        m[3]))
        row = 0
        while row < len(rows_x) and X(t) - rows_x[row] < 9 + 6.2 * len(label) and row < 5:
            row += 1
        if row == len(rows_x):
            rows_x.append(-1e9)
        rows_x[row] = X(t)
        y = mt - 6 - 16 * row
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"%s>'
                   '<title>%s at %.1f s</title></line>' %
                   (X(t), y + 2, X(t), mt + ph, col, "2" if kind == "halt" else "1.2", dash,
                    esc(label), t))
        out.append('<text x="%.1f" y="%d" font-size="11" fill="%s">%s</text>' %
                   (X(t) + 3, y, col, esc(label)))
    # legend
    lx, ly = ml + pw + 16, mt + 4
    for lb in reversed(order):
        out.append('<rect x="%d" y="%d" width="13" height="13" fill="%s" stroke="#888" '
                   'stroke-width=".5"/><text x="%d" y="%d" font-size="12">%s</text>' %
                   (lx, ly, color_of(lb, versions, fixed), lx + 19, ly + 11, esc(lb)))
        ly += 19
    out.append("</svg>")
    return "\n".join(out)


def line_chart(series, marks, t_from, t_to, title, width=1000, height=240):
    """Step lines: series = [(label, color, [(t, value)])]."""
    ml, mr, mt, mb = 56, 180, 30, 40
    pw, ph = width - ml - mr, height - mt - mb
    vmax = max([v for _, _, s in series for _, v in s] + [1])
    if t_to <= t_from:
        t_to = t_from + 1

    def X(t):
        return ml + (min(max(t, t_from), t_to) - t_from) / (t_to - t_from) * pw

    def Y(v):
        return mt + ph - v / vmax * ph
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'role="img" aria-label="%s">' % (width, height, width, height, esc(title)),
           '<text x="%d" y="18" font-size="15" font-weight="600">%s</text>' % (ml, esc(title)),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' %
           (ml, mt, pw, ph)]
    step = nice_step(t_to - t_from)
    t = math.ceil(t_from / step) * step
    while t <= t_to + 1e-9:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>'
                   '<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%g</text>' %
                   (X(t), mt + ph, X(t), mt + ph + 4, X(t), mt + ph + 16, t))
        t += step
    out.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">seconds since the '
               'demo started</text>' % (ml + pw / 2, height - 6))
    ys = nice_step(vmax, 4)
    v = 0
    while v <= vmax + 1e-9:
        out.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%g</text>'
                   '<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' %
                   (ml - 7, Y(v) + 4, v, ml, Y(v), ml + pw, Y(v)))
        v += ys
    for m in sorted(m for m in marks if t_from <= m[0] <= t_to):
        t, label, kind = m[:3]
        col = MARK_COLORS.get(kind, "#555")
        if len(m) > 3 and m[3] is not None and m[3] > t:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" '
                       'fill-opacity="0.18"/>' % (X(t), mt, max(1.0, X(min(m[3], t_to)) - X(t)),
                                                   ph, col))
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4 3">'
                   '<title>%s at %.1f s</title></line>' %
                   (X(t), mt, X(t), mt + ph, col, esc(label), t))
    ly = mt + 4
    for label, col, pts in series:
        d, last = [], 0
        d.append("M%.1f,%.1f" % (X(t_from), Y(0)))
        for t, v in pts:
            d.append("L%.1f,%.1f L%.1f,%.1f" % (X(t), Y(last), X(t), Y(v)))
            last = v
        d.append("L%.1f,%.1f" % (X(t_to), Y(last)))
        out.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>' % (" ".join(d), col))
        out.append('<rect x="%d" y="%d" width="13" height="3" fill="%s"/>'
                   '<text x="%d" y="%d" font-size="12">%s (%g)</text>' %
                   (ml + pw + 16, ly + 5, col, ml + pw + 35, ly + 10, esc(label), last))
        ly += 19
    out.append("</svg>")
    return "\n".join(out)


def table(head, rows, numeric=()):
    out = ["<table><tr>%s</tr>" % "".join("<th>%s</th>" % esc(h) for h in head)]
    for r in rows:
        out.append("<tr>%s</tr>" % "".join(
            '<td class="n">%s</td>' % esc(c) if i in numeric else "<td>%s</td>" % esc(c)
            for i, c in enumerate(r)))
    out.append("</table>")
    return "\n".join(out)


def fmt(t):
    return "-" if t is None else "%.1f" % t


def render(d):
    versions = ["v%d" % v for v in sorted(d["versions"])]
    ok = all(c[1] for c in d["checks"])
    P = []
    P.append("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             "<title>ringfence: 19 July on a real fleet</title><style>%s</style></head><body>" % CSS)
    P.append("<h1>19 July on a real fleet</h1>")
    P.append("<p class='sub'>ringfence <code>make demo</code>, %s: %d <code>ringfence-agent</code> "
             "processes, %d tenants, one <code>ringfenced</code> on SQLite; %.0f s in all.</p>" %
             (esc(d["generated"]), d["hosts"], len(d["tenants"]), d["duration_s"]))
    h = d.get("headline", {})
    P.append("<div class='box %s big'>%s</div>" % (
        "verdict-ok" if ok else "verdict-bad", "<br>".join(esc(x) for x in h.get("lines", []))))
    P.append("<p>What happened, in order: the fleet started on channel 291 v%(seed)d (released "
             "before any host enrolled, so each took it as the channel's current version); "
             "a good release (v%(good)d) went through every wave; "
             "the 19 July content (v%(refused)d) was refused by the server's validator; v%(bad)d, "
             "which the validator accepts, crashed sensor %(faulty)s when it activated it — the "
             "vendor's own %(faulty)s hosts crash-looped until their boot guard reverted them, "
             "the rollout engine halted the release from their reports and rolled it back to "
             "v%(rollback)d (v%(good)d's content under a new number). The driver never halted "
             "anything: it started two rollouts and watched.</p>" % d["story"])

    P.append("<h2>Timeline</h2>")
    P.append("<p>Hosts by what they run, sampled every %.1f s from each agent's "
             "<code>STATE/run.json</code>; <em>down</em> is an agent process that is dead or has "
             "not checked in since it last died. Vertical lines: a rollout's start; each wave "
             "opening, when the driver's poll of <code>GET /v1/rollouts/{id}</code> first showed "
             "it open; the first crash (the supervisor saw an agent process die by a signal); "
             "the engine's halt and a rollout's completion, at the time of the decision in the "
             "rollout log (the server's clock, whole seconds); the rollback done (every host that "
             "took the bad release runs the rollback version).</p>" %
             d["poll_s"])
    fixed = d.get("colors")
    P.append(stacked_chart(d["samples"], d["marks"], 0, d["duration_s"], d["hosts"],
                           "the whole demo", versions, fixed))
    for ro in d["rollouts"]:
        P.append(stacked_chart(d["samples"], ro["marks"], ro["window"][0], ro["window"][1],
                               d["hosts"], "rollout %d: v%d" % (ro["id"], ro["version"]), versions,
                               fixed))
        if ro.get("took_samples") and ro.get("took_hosts"):
            P.append(stacked_chart(ro["took_samples"], ro["marks"], ro["window"][0],
                                   ro["window"][1], ro["took_hosts"],
                                   "rollout %d: only the %d hosts that took v%d" % (
                                       ro["id"], ro["took_hosts"], ro["version"]),
                                   versions, fixed))
    if d.get("crash_series"):
        ro = d["rollouts"][-1]
        P.append("<p>Crashes: every agent process the supervisor saw die by a signal (the injected "
                 "abort()). Reverts: each host whose boot guard reverted the release, at its "
                 "first check-in after its last crash. A shaded band is a decision the server "
                 "stamped in whole seconds: it happened within it.</p>")
        P.append(line_chart(d["crash_series"], ro["marks"], ro["window"][0], ro["window"][1],
                            "rollout %d: crashes and boot-guard reverts, cumulative" % ro["id"]))

    P.append("<h2>Summary</h2><pre>%s</pre>" % esc(d["summary_text"]))

    P.append("<h2>Checks</h2><p>The demo checks each of its claims against what it measured "
             "and exits non-zero if any fails.</p>")
    P.append("<table><tr><th></th><th>claim</th><th>detail</th></tr>%s</table>" % "".join(
        "<tr><td class='%s'>%s</td><td>%s</td><td class='sub'>%s</td></tr>" % (
            "pass" if c[1] else "fail", "PASS" if c[1] else "FAIL", esc(c[0]), esc(c[2]))
        for c in d["checks"]))

    for ro in d["rollouts"]:
        P.append("<h2>Rollout %d: v%d — %s</h2>" % (ro["id"], ro["version"], esc(ro["state"])))
        P.append("<p class='sub'>%s</p>" % esc(ro.get("note", "")))
        P.append(table(["wave", "ring", "opened (s)", "hosts", "exposed (took it)", "reports",
                        "crashes", "reverts"],
                       [[w["name"], w["ring"], fmt(w["opened"]), w["hosts"], w["took"],
                         w["reports"], w["crashes"], w["reverts"]] for w in ro["waves"]],
                       numeric=(2, 3, 4, 5, 6, 7)))
        hs = ro["hosts"]
        P.append("<p>Server's counts: fleet %d, eligible %d, excluded paused %d, pinned %d, "
                 "sensor %d; took %d, silent after taking %d, reverted %d, load failed %d.</p>" % (
                     hs["fleet"], hs["eligible"], hs["excluded_paused"], hs["excluded_pinned"],
                     hs["excluded_sensor"], hs["took"], hs["silent_after_taking"],
                     hs["reverted"], hs["load_failed"]))
        P.append("<h3>Decisions</h3>")
        P.append(table(["t (s)", "by", "action", "wave", "reason", "evidence"],
                       [[fmt(x["t"]), x["by"], x["action"], x["wave"], x["reason"],
                         ", ".join("%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v)
                                   for k, v in sorted(x["evidence"].items()))]
                        for x in ro["decisions"]], numeric=(0,)))

    r = d["refusal"]
    P.append("<h2>The 19 July content: refused</h2>")
    P.append("<p><code>POST /v1/releases</code> of channel 291 v%d answered <b>HTTP %s</b>: "
             "%s</p>" % (d["story"]["refused"], esc(r["status"]), esc(r["error"])))
    P.append(table(["stage", "status", "summary"], r["stages"]))
    if r["findings"]:
        P.append("<ul>%s</ul>" % "".join("<li>[%s] %s</li>" % (esc(s), esc(m))
                                         for s, m in r["findings"]))

    P.append("<h2>Tenants</h2>")
    P.append(table(["tenant", "policy for channel 291", "hosts", "sensors", "at the end"],
                   [[t["name"], t["policy"], t["hosts"], t["sensors"], t["final"]]
                    for t in d["tenants"]], numeric=(2,)))

    if d["crash_hosts"]:
        P.append("<h2>Hosts that took v%d</h2>" % d["story"]["bad"])
        P.append(table(["host", "tenant", "sensor", "wave", "took it (s)", "crashes",
                        "crash times (s)", "reverted (s)", "bad versions", "at the end"],
                       [[x["name"], x["tenant"], x["sensor"], x["wave"], fmt(x["t_take"]),
                         x["crashes"], " ".join("%.1f" % t for t in x["crash_times"]),
                         fmt(x["t_revert"]), x["bad"], x["final"]] for x in d["crash_hosts"]],
                       numeric=(4, 5, 7)))

    P.append("<h2>Audit log (releases, rollouts, decisions)</h2>")
    P.append(table(["seq", "t (s)", "actor", "action", "object", "detail"],
                   [[e["seq"], fmt(e["t"]), e["actor"], e["action"], e["object"],
                     json.dumps(e["detail"], sort_keys=True)[:300]] for e in d["audit"]],
                   numeric=(0, 1)))
    P.append("<h2>How it ran</h2><pre>%s</pre>" % esc(json.dumps(d["params"], indent=1)))
    P.append("</body></html>")
    return "\n".join(P)


def write(data, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    path = os.path.join(out_dir, "report.html")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(render(data))
    os.replace(tmp, path)
    return path


def fake():
    """Made-up data in the shape demo.py produces, to look at the layout."""
    n = 60
    samples = []
    for i in range(0, 200):
        t = i * 0.5
        c = {}
        if t < 20:
            c["no content"] = n
        elif t < 60:
            k = min(n, int((t - 20) * 3))
            c["v4"], c["no content"] = k, n - k
        else:
            bad = 6 if 60 <= t < 66 else 0
            down = 4 if 61 <= t < 64 else 0
            rb = 8 if t >= 68 else 0
            c["v6"], c["down (crash loop)"], c["v7"] = bad, down, rb
            c["v4"] = n - bad - down - rb
        samples.append([t, c])
    marks = [[20, "v4 rollout starts", "start"], [40, "v4 complete", "end"],
             [50, "v5 refused", "refused"], [60, "v6 rollout starts", "start"],
             [61, "first crash", "crash"], [65, "halt (engine)", "halt"],
             [68, "rollback done", "rollback"]]
    wave = {"name": "internal-30%", "ring": "internal", "opened": 60.0, "hosts": 8, "took": 8,
            "reports": 10, "crashes": 12, "reverts": 4}
    ro = {"id": 2, "version": 6, "state": "rolling-back", "window": [58, 80], "marks": marks,
          "waves": [wave], "note": "made-up data",
          "hosts": {k: 0 for k in ("fleet", "eligible", "excluded_paused", "excluded_pinned",
                                   "excluded_sensor", "took", "silent_after_taking",
                                   "reverted", "load_failed")},
          "decisions": [{"t": 65.0, "by": "engine", "action": "halt", "wave": "internal-30%",
                         "reason": "reverts: 3 hosts reverted", "evidence": {"signal": "reverts",
                                                                             "statistic": 15.9}}]}
    return {"generated": time.strftime("%Y-%m-%d %H:%M:%S"), "hosts": n, "duration_s": 100,
            "poll_s": 0.5, "versions": [4, 6, 7], "samples": samples, "marks": marks,
            "rollouts": [ro],
            "crash_series": [["crashes", "#c62828", [[61, 1], [62, 4], [63, 12]]],
                             ["reverts", "#2e7d32", [[63.5, 2], [64, 4]]]],
            "headline": {"lines": ["made-up data: the layout only"]},
            "story": {"seed": 3, "good": 4, "refused": 5, "bad": 6, "rollback": 7, "faulty": "7.16.18605"},
            "summary_text": "(the summary table)", "checks": [["a claim", True, ""],
                                                             ["another", False, "why"]],
            "refusal": {"status": 422, "error": "the validator rejected it", "stages": [],
                        "findings": []},
            "tenants": [{"name": "vendor", "policy": "internal", "hosts": n, "sensors": "-",
                         "final": "-"}],
            "crash_hosts": [], "audit": [], "params": {"fake": True}}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fake":
        print(write(fake(), sys.argv[2]))
    elif len(sys.argv) == 3:
        with open(sys.argv[1]) as f:
            print(write(json.load(f), sys.argv[2]))
    else:
        sys.exit("usage: report.py DATA.json OUT_DIR | report.py --fake OUT_DIR")
