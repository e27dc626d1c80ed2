#!/usr/bin/env python3
"""Helpers for bench/compare.sh (Python 3 standard library only).

Subcommands:
  render TEMPLATE OUTPUT KEY=VALUE...   fill {{KEY}} placeholders
  record --runs FILE ...                normalise one run's tool output into
                                        a line of runs.jsonl
  idle   --runs FILE ...                record one idle-memory measurement
  rate   --runs FILE ...                fixed rate = fraction of the slowest
                                        proxy's (or peer's) keep-alive peak
  summarize --dir OUTDIR                medians, ratios: results.json, table.md
  check  --dir OUTDIR                   exit 1 if anything failed (smoke)
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

PROXIES = ["ringproxy", "haproxy", "nginx"]
TARGET_LABEL = {
    "ringproxy": "ringproxy",
    "haproxy": "HAProxy",
    "nginx": "nginx",
    "direct": "direct",
}
WORKLOAD_TITLE = {
    "ka64": "keep-alive, 64 B bodies",
    "close64": "connection per request, 64 B bodies",
    "ka16k": "keep-alive, 16 KiB bodies",
    "ka1m": "keep-alive, 1 MiB bodies",
    "tcp_down": "raw TCP bulk, server to client (ringload tcp --direction down)",
    "tcp_up": "raw TCP bulk, client to server (ringload tcp --direction up)",
    "iperf3": "raw TCP bulk, iperf3 client to iperf3 -s (extra)",
    "rate64": "fixed rate, keep-alive, 64 B bodies (latency)",
    "stick_ka64": "keep-alive, 64 B bodies, one source address",
    "stick_close64": "connection per request, 64 B bodies, one source address",
    "stick_close64_keys": "connection per request, 64 B bodies, many source addresses",
}
STICK_WORKLOADS = ["stick_ka64", "stick_close64", "stick_close64_keys"]
STICK_LABEL = {
    "ringproxy": "ringproxy",
    "haproxy": "HAProxy",
    "nginx": "nginx (limit_req + limit_conn)",
}
# The criterion: a rate-limited configuration loses at most this
# share of the proxy's throughput against the same one without tables.
STICK_BOUND = 0.10
# Run pairs from which the stick verdict is the median of the pairs.
STICK_MIN_PAIRS = 5


# --------------------------------------------------------------------------
# render


def cmd_render(a):
    text = open(a.template).read()
    values = {}
    for kv in a.values:
        k, _, v = kv.partition("=")
        values[k] = v

    def sub(m):
        k = m.group(1)
        if k not in values:
            sys.exit(f"render: {a.template}: no value for {{{{{k}}}}}")
        return values[k]

    out = re.sub(r"\{\{([A-Z0-9_]+)\}\}", sub, text)
    with open(a.output, "w") as f:
        f.write(out)


# --------------------------------------------------------------------------
# record


def _unit_us(v, u):
    return float(v) * {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}[u]


def parse_wrk(text, duration):
    """wrk --latency text output -> ringload-like dict."""
    out = {"tool": "wrk", "mode": "http"}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),\s+([\d.]+)(B|KB|MB|GB|TB)\s+read", text)
    if not m:
        raise ValueError("cannot parse wrk output")
    out["requests"] = int(m.group(1))
    out["duration_s"] = _unit_us(m.group(2), m.group(3)) / 1e6
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
    out["bytes_read"] = int(float(m.group(4)) * scale[m.group(5)])
    out["bytes_written"] = None  # wrk does not report it
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else out["requests"] / max(out["duration_s"], 1e-9)
    lat = {}
    for q, k in (("50", "p50"), ("75", "p75"), ("90", "p90"), ("99", "p99")):
        m = re.search(rf"^\s+{q}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if m:
            lat[k] = _unit_us(m.group(1), m.group(2))
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)", text)
    if m:
        lat["mean"] = _unit_us(m.group(1), m.group(2))
        lat["max"] = _unit_us(m.group(3), m.group(4))
    out["latency_us"] = lat
    errs = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errs.update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)), timeout=int(m.group(4)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errs["status"] = int(m.group(1))
    out["errors"] = errs
    return out


def parse_iperf3(text):
    j = json.loads(text)
    if "error" in j and "end" not in j:
        raise ValueError("iperf3: " + str(j["error"]))
    end = j["end"]
    sent = end["sum_sent"]
    recv = end["sum_received"]
    dur = float(recv.get("seconds") or sent.get("seconds") or 0)
    nbytes = int(recv.get("bytes") or 0)
    return {
        "tool": "iperf3",
        "mode": "tcp",
        "requests": None,
        "rps": None,
        "duration_s": dur,
        "bytes_read": nbytes,
        "bytes_written": 0,
        "errors": {"error": 1 if j.get("error") else 0},
        "latency_us": {},
        "iperf3_bits_per_second": recv.get("bits_per_second"),
        "iperf3_retransmits": sent.get("retransmits"),
    }


def _sum_errors(errs):
    if not isinstance(errs, dict):
        return 0
    return int(sum(v for v in errs.values() if isinstance(v, (int, float))))


def cmd_record(a):
    rec = {
        "mode": a.mode,
        "workload": a.workload,
        "target": a.target,
        "run": a.run,
        "tool": a.tool,
        "command": a.command,
        "exit_code": a.rc,
        "wall_s": a.wall,
        "ok": False,
        "error": None,
        # connections open to the backend before the run (left by the
        # previous one), after waiting up to drain_wait_s for them to close
        "backend_conns_before": a.backend_conns_before,
        "backend_conns_at_start": a.backend_conns_at_start,
        "drain_wait_s": a.drain_wait,
    }
    raw = None
    try:
        text = open(a.file).read() if a.file and os.path.exists(a.file) else ""
        if not text.strip():
            raise ValueError(f"{a.tool} wrote no output (exit code {a.rc})")
        if a.tool == "ringload":
            raw = json.loads(text)
        elif a.tool == "wrk":
            raw = parse_wrk(text, None)
        elif a.tool == "iperf3":
            raw = parse_iperf3(text)
        else:
            raise ValueError("unknown tool " + a.tool)
    except Exception as e:  # noqa: BLE001 - any failure is recorded
        rec["error"] = str(e)[:500]
    if raw is not None:
        dur = float(raw.get("duration_s") or 0) or None
        br = raw.get("bytes_read") or 0
        bw = raw.get("bytes_written") or 0
        nbytes = br + bw
        reqs = raw.get("requests")
        rec.update(
            duration_s=dur,
            requests=reqs,
            rps=raw.get("rps"),
            bytes=nbytes,
            bytes_read=br,
            bytes_written=raw.get("bytes_written"),
            mb_s=(nbytes / dur / 1e6) if dur else None,
            latency_us=raw.get("latency_us") or {},
            errors=raw.get("errors") or {},
            errors_total=_sum_errors(raw.get("errors")),
        )
        cpu = (a.cpu1 - a.cpu0) / CLK_TCK if a.cpu0 >= 0 and a.cpu1 >= 0 else None
        bcpu = (a.bcpu1 - a.bcpu0) / CLK_TCK if a.bcpu0 >= 0 and a.bcpu1 >= 0 else None
        rec["proxy_cpu_s"] = cpu
        rec["backend_cpu_s"] = bcpu
        # For "direct" the reference CPU is the backend's.
        ref = bcpu if a.target == "direct" else cpu
        rec["cpu_s"] = ref
        rec["cpu_us_per_req"] = (ref * 1e6 / reqs) if (ref is not None and reqs) else None
        rec["cpu_s_per_gb"] = (ref / (nbytes / 1e9)) if (ref is not None and nbytes) else None
        moved = (reqs or 0) if a.kind == "http" else nbytes
        # Every response must have carried its whole body: the bytes read
        # cover at least requests x body size (heads and a response in
        # flight at the end come on top). wrk's byte count is rounded.
        short = a.kind == "http" and a.tool == "ringload" and a.body_bytes and reqs and br < reqs * a.body_bytes
        if a.rc not in (0, 124) and a.tool != "ringload":
            rec["error"] = f"exit code {a.rc}"
        elif not moved:
            rec["error"] = "zero requests" if a.kind == "http" else "zero bytes moved"
        elif short:
            rec["error"] = f"short responses: {br} bytes read for {reqs} responses of a {a.body_bytes}-byte body"
        else:
            rec["ok"] = True
        if a.rc != 0 and rec["ok"] and a.tool == "ringload":
            # ringload wrote a result but exited non-zero: keep it, note it.
            rec["note"] = f"exit code {a.rc}"
        rec["raw"] = raw
    with open(a.runs, "a") as f:
        f.write(json.dumps(rec) + "\n")
    # One progress line on stdout.
    if rec["ok"]:
        bits = []
        if rec.get("rps"):
            bits.append(f"{rec['rps']:.0f} req/s")
        if rec.get("mb_s") is not None:
            bits.append(f"{rec['mb_s']:.1f} MB/s")
        if rec.get("cpu_us_per_req") is not None:
            bits.append(f"{rec['cpu_us_per_req']:.2f} CPU us/req")
        if rec.get("cpu_s_per_gb") is not None:
            bits.append(f"{rec['cpu_s_per_gb']:.3f} CPU s/GB")
        p99 = (rec.get("latency_us") or {}).get("p99")
        if p99:
            bits.append(f"p99 {p99:.0f} us")
        if rec.get("errors_total"):
            bits.append(f"{rec['errors_total']} errors")
        print("  " + ", ".join(bits))
    else:
        print(f"  FAILED: {rec['error']}")


def cmd_idle(a):
    rec = {
        "mode": a.mode,
        "workload": "idle",
        "target": a.target,
        "run": a.run,
        "requested_conns": a.conns,
        "rss_before_kb": a.rss0,
        "rss_during_kb": a.rss1,
        "exit_code": a.rc,
        "ok": False,
        "error": None,
    }
    est = None
    try:
        if a.file and os.path.exists(a.file) and open(a.file).read().strip():
            raw = json.load(open(a.file))
            rec["raw"] = raw
            est = raw.get("established")
    except Exception as e:  # noqa: BLE001
        rec["error"] = f"bad ringload idle JSON: {e}"
    if est is None and a.ready_count is not None and a.ready_count >= 0:
        est = a.ready_count
    rec["established"] = est
    if a.error:
        rec["error"] = a.error
    elif not a.ready:
        rec["error"] = rec["error"] or "ready file never appeared"
    elif a.rss0 <= 0 or a.rss1 <= 0:
        rec["error"] = "could not read VmRSS"
    elif not est:
        rec["error"] = "no idle connection established"
    else:
        rec["bytes_per_conn"] = (a.rss1 - a.rss0) * 1024 / est
        rec["ok"] = True
    with open(a.runs, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if rec["ok"]:
        print(
            f"  {est} idle conns: VmRSS {a.rss0 / 1024:.1f} -> {a.rss1 / 1024:.1f} MiB, "
            f"{rec['bytes_per_conn']:.0f} B/conn"
        )
    else:
        print(f"  FAILED: {rec['error']}")


def load_runs(path):
    runs = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cmd_rate(a):
    """a.fraction of the slowest median peak among a.peers (default: every
    proxy); when none of a.peers was measured, among every proxy. Prints
    the rate, then what it is based on (one line: "RATE BASIS...")."""
    runs = load_runs(a.runs)
    peaks = {}
    for t in PROXIES:
        v = med(
            r.get("rps")
            for r in runs
            if r.get("workload") == a.workload
            and r.get("target") == t
            and r.get("ok")
            and r.get("tool") == "ringload"
            and (a.mode is None or r.get("mode") == a.mode)
        )
        if v:
            peaks[t] = v
    peers = [t for t in (a.peers.split(",") if a.peers else PROXIES) if t in peaks]
    if not peaks:
        print("0 none")
        return
    if a.peers and peers:
        what = "the slower peer" if len(peers) > 1 else "the peer"
    else:
        peers = list(peaks)
        what = "the slowest proxy" if len(peers) > 1 else "the proxy"
        if a.peers:
            what += " (no peer measured)"
    slowest = min(peers, key=lambda t: peaks[t])
    print(f"{int(peaks[slowest] * a.fraction)} {what}, {TARGET_LABEL.get(slowest, slowest)} (among {', '.join(TARGET_LABEL.get(t, t) for t in peers)}),")


# --------------------------------------------------------------------------
# summarize


METRICS = [
    # key, label, lower is better, applies to http / tcp
    ("rps", "req/s", False, True, False),
    ("mb_s", "MB/s", False, True, True),
    ("cpu_us_per_req", "CPU µs/req", True, True, False),
    ("cpu_s_per_gb", "CPU s/GB", True, True, True),
    ("p50", "p50 µs", True, True, False),
    ("p99", "p99 µs", True, True, False),
    ("p999", "p99.9 µs", True, True, False),
    ("errors_total", "errors", True, True, True),
]
RATIO_METRICS = {"rps", "mb_s", "cpu_us_per_req", "cpu_s_per_gb", "p99"}


def metric(r, key):
    if key in ("p50", "p99", "p999"):
        return (r.get("latency_us") or {}).get(key)
    return r.get(key)


def fmt(v, key=None):
    if v is None:
        return "–"
    if key == "errors_total" or v == 0:
        return str(int(v))
    av = abs(v)
    if av >= 1000:
        return f"{v:,.0f}"
    if av >= 100:
        return f"{v:.0f}"
    if av >= 10:
        return f"{v:.1f}"
    if av >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


PEERS = ["haproxy", "nginx"]
LOWER_IS_BETTER = {k: lower for k, _label, lower, *_ in METRICS}


def best_peer(vals, peers, key):
    """(peer, value) of the better peer for this metric, or (None, None)."""
    have = [(t, vals.get(t)) for t in peers if vals.get(t)]
    if not have:
        return None, None
    pick = min if LOWER_IS_BETTER.get(key, True) else max
    return pick(have, key=lambda tv: tv[1])


def fmt_best(vals, peers, key):
    t, v = best_peer(vals, peers, key)
    if t is None or vals.get("ringproxy") is None:
        return "–"
    return f"{fmt_ratio(vals['ringproxy'], v)} ({TARGET_LABEL.get(t, t)})"


# The HTTP issue's targets: (workload, metric key, metric label, ratio
# bound against the better peer).
HTTP_TARGETS = [
    ("ka64", "cpu_us_per_req", "CPU/request", 0.75),
    ("close64", "cpu_us_per_req", "CPU/request", 0.75),
    ("ka16k", "cpu_us_per_req", "CPU/request", 0.75),
    ("ka1m", "cpu_s_per_gb", "CPU/GB", 0.75),
    ("rate64", "p99", "p99 at 80% of the slower peer's peak", 1.0),
]


def drain_notes(w, mode, runs, meta):
    """Runs before which connections left open to the backend by the
    previous run had to be waited for (or were still open at the start)."""
    limit = meta.get("drain_max") or 0
    prev = None
    notes = []
    for r in runs:
        if r.get("mode") != mode or r.get("workload") == "idle":
            continue
        before = r.get("backend_conns_before") or 0
        if before > limit:
            by = f" by the previous run ({prev['workload']}, {TARGET_LABEL.get(prev['target'], prev['target'])})" if prev else ""
            left = r.get("backend_conns_at_start") or 0
            still = f", {left:,} still open at the start (over {limit:,}: this run is affected)" if left > limit else ""
            notes.append(
                f"- {r['workload']} {TARGET_LABEL.get(r['target'], r['target'])} run {r.get('run')}: waited "
                f"{r.get('drain_wait_s', 0):.0f} s for {before:,} connections left open to the backend{by} to close{still}"
            )
        prev = r
    if notes:
        w("Connections left open to the backend between runs (waited for, so that each run starts from the same state):")
        w("")
        for n in notes:
            w(n)
        w("")



def judging_caveat(w, meta, tail):
    """The line under a verdict table that says how far a short run can be
    judged: not at all under --smoke, only as an indication with fewer than
    3 runs per point (`tail` says what that means for the table)."""
    runs = meta.get("runs", "?")
    if meta.get("profile") == "smoke":
        w(f"(--smoke: not judged; {runs} run(s) of {meta.get('duration_s', '?')} s prove only that the rows work.)")
        w("")
    elif meta.get("profile") == "quick" or (meta.get("runs") or 0) < 3:
        w(f"({runs} run(s) {tail})")
        w("")

def target_table(w, mode, points, peers, meta):
    """ringproxy against the better peer, per target of the HTTP issue.
    Judged only in full runs; --quick is marked indicative, --smoke not
    judged at all."""
    rows = []
    for wl, key, label, bound in HTTP_TARGETS:
        pts = {t: points.get((mode, wl, t, "ringload")) for t in ["ringproxy"] + peers}
        if not pts["ringproxy"] or not any(pts[t] for t in peers):
            continue
        vals = {t: (p.get(key) if p and p.get("ok_runs") else None) for t, p in pts.items()}
        bt, bv = best_peer(vals, peers, key)
        rv = vals["ringproxy"]
        ratio = rv / bv if (rv is not None and bv) else None
        rp = pts["ringproxy"]
        saturated = wl == "rate64" and rp.get("rate") and rp.get("rps") and rp["rps"] < 0.95 * rp["rate"]
        rows.append((wl, label, bound, rv, bt, bv, ratio, saturated, key))
    if not rows:
        return
    profile = meta.get("profile")
    w(f"### Targets ({mode.upper()} mode): ringproxy against the better peer")
    w("")
    judging_caveat(w, meta, "per point: indicative only; the full suite's medians of 3 are the ones to judge.")
    w("| workload | metric | ringproxy | better peer | rp/better peer | target | met |")
    w("|---|---|---:|---:|---:|---:|---|")
    for wl, label, bound, rv, bt, bv, ratio, saturated, key in rows:
        if profile == "smoke" or ratio is None:
            met = "–"
        else:
            met = "yes" if ratio <= bound and not saturated else "no"
            if saturated:
                met += " (ringproxy saturated)"
        peer = f"{fmt(bv, key)} ({TARGET_LABEL.get(bt, bt)})" if bt else "–"
        w(f"| {wl} | {label} | {fmt(rv, key)} | {peer} | {fmt_ratio(rv, bv) if ratio is not None else '–'} | ≤ {bound:.2f}x | {met} |")
    w("")


def pct(x):
    return "–" if x is None else f"{x * 100:+.1f}%"


def stick_pairs(runs, mode, wl, t):
    """CPU/req overhead of each run pair (the run with tables and the one
    without, back to back, same run number), in run order."""
    by = {}
    for r in runs:
        if r.get("mode") == mode and r.get("workload") == wl and r.get("ok") and r.get("target") in (t, t + "_st"):
            by.setdefault(r.get("run"), {})[r["target"]] = r.get("cpu_us_per_req")
    out = []
    for run in sorted(by):
        c0, c1 = by[run].get(t), by[run].get(t + "_st")
        if c0 and c1:
            out.append(c1 / c0 - 1)
    return out


def stick_table(w, mode, points, meta, no_start, runs):
    """The stick rows: each proxy with its rate-limited configuration
    (target NAME_st) against the same proxy without tables (NAME), same
    workload, runs back to back."""
    wls = [wl for wl in STICK_WORKLOADS if any(k[0] == mode and k[1] == wl for k in points)]
    if not wls:
        return
    w(f"### Stick tables ({mode.upper()} mode): rate-limited configuration against the same configuration without tables")
    w("")
    w("Each proxy runs twice, side by side on the same CPU (only one is loaded at a time): its plain HTTP "
      "configuration and the same plus, for ringproxy and HAProxy (the same lines), `stick-table type ip size 100k "
      "expire 30s store conn_cur,conn_rate(10s),http_req_rate(10s)`, `tcp-request connection track-sc0 src`, "
      f"`tcp-request connection reject if {{ sc0_conn_cur gt {meta.get('stick_conn_max', '?')} }}`, "
      f"`http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {meta.get('stick_req_rate_max', '?')} }}`; "
      "for nginx its own equivalent, `limit_req_zone $binary_remote_addr ... rate="
      f"{meta.get('nginx_stick_rate', '?')}` + `limit_req ... burst={meta.get('nginx_stick_burst', '?')} nodelay` and "
      f"`limit_conn_zone $binary_remote_addr` + `limit_conn ... {meta.get('stick_conn_max', '?')}`. "
      "The limits never trigger: every request pays the lookup and the checks, none may be refused (a refusal "
      "counts as an error below and fails the run). Before the rows, a canary instance of each (the same "
      "configuration with a rate limit of 0, nginx 1r/s burst 1) had to answer 429, proof that the table counts: "
      + "; ".join(
          f"{STICK_LABEL.get(t, t).split(' ')[0]}: {meta[f'stick_canary_{mode}_{t}']}"
          for t in PROXIES
          if meta.get(f"stick_canary_{mode}_{t}")
      )
      + ".")
    w("")
    w("All load comes from one source address (127.0.0.1) in `stick_ka64` and `stick_close64`: one key, "
      "the hottest possible entry (with several shards, the worst case for a shared table: every shard "
      f"updates the same entry; with {meta.get('threads', '?')} proxy thread(s) here, there is "
      + ("no cross-shard contention, only the lookup and update cost). " if meta.get("threads") == 1 else "contention between shards). ")
      + f"`stick_close64_keys` spreads the connections over {meta.get('stick_keys', '?')} source addresses "
      "127.1.x.y (an LD_PRELOAD shim, `bench/lib/srcaddr.c`, binds each socket of the load generator before "
      "connect, in turn), so the table holds that many keys."
      + (f" {meta['stick_keys_note']}." if meta.get("stick_keys_note") else ""))
    w("")
    w("| workload | proxy | req/s without | req/s with | req/s change | CPU µs/req without | CPU µs/req with | **CPU/req overhead** | overhead, run by run | p99 µs without | p99 µs with | errors without / with |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def cell(p, key):
        if p is None:
            return "–"
        if not p["ok_runs"]:
            return "FAIL"
        return fmt(p.get(key), key)

    def errs(p, t):
        if p is None:
            return "FAIL (start)" if (mode, t) in no_start else "–"
        if not p["ok_runs"]:
            return "FAIL"
        e = fmt(p.get("errors_total"), "errors_total") if p.get("errors_total") is not None else "0"
        return e + (f" ({p['failed_runs']} failed runs)" if p["failed_runs"] else "")

    verdict = []
    for wl in wls:
        title = wl
        vals = {}
        for t in PROXIES:
            p0 = points.get((mode, wl, t, "ringload"))
            p1 = points.get((mode, wl, t + "_st", "ringload"))
            if not p0 and not p1:
                continue
            ok0 = p0 and p0["ok_runs"]
            ok1 = p1 and p1["ok_runs"]
            c0 = p0.get("cpu_us_per_req") if ok0 else None
            c1 = p1.get("cpu_us_per_req") if ok1 else None
            r0 = p0.get("rps") if ok0 else None
            r1 = p1.get("rps") if ok1 else None
            over = (c1 / c0 - 1) if (c0 and c1) else None
            rchg = (r1 / r0 - 1) if (r0 and r1) else None
            vals[t] = (r1, c1)
            w(f"| {title} | {STICK_LABEL[t]} | {cell(p0, 'rps')} | {cell(p1, 'rps')} | {pct(rchg)} | "
              f"{cell(p0, 'cpu_us_per_req')} | {cell(p1, 'cpu_us_per_req')} | **{pct(over)}** | "
              f"{', '.join(pct(x) for x in stick_pairs(runs, mode, wl, t)) or '–'} | "
              f"{cell(p0, 'p99')} | {cell(p1, 'p99')} | {errs(p0, t)} / {errs(p1, t + '_st')} |")
            title = ""
            if t == "ringproxy":
                verdict.append((wl, over, c0, c1, stick_pairs(runs, mode, wl, t)))
        if "ringproxy" in vals and "haproxy" in vals:
            (rr, rc), (hr, hc) = vals["ringproxy"], vals["haproxy"]
            w(f"|  | rp/HAProxy, with tables |  | {fmt_ratio(rr, hr)} |  |  | {fmt_ratio(rc, hc)} |  |  |  |  |  |")
    w("")
    w("CPU/req overhead = CPU µs/req with tables / without − 1, from the medians (run by run: each run with tables against "
      "the run without it next to it). "
      "It is the proxy's own cost, the figure to read on this "
      "machine: req/s is bounded by the core the load generator and the backend share, see the caveat above). "
      "A proxy at 100% CPU loses 1 − 1/(1 + overhead) of its throughput: 10% lost = +11.1% CPU per request.")
    w("")
    if verdict:
        profile = meta.get("profile")
        w(f"**Criterion (issue 7): a rate-limited configuration loses at most {STICK_BOUND:.0%} of ringproxy's throughput "
          "against the same configuration without tables**, judged here on CPU per request (throughput at saturation = 1 / CPU per request). "
          f"With at least {STICK_MIN_PAIRS} run pairs the overhead judged is the median of the pairs' overheads: each pair "
          "ran back to back, so a change of the machine's state between runs (another process, the kernel's TIME_WAIT "
          "table filling up) moves both of its runs, and one disturbed run moves one pair, not the verdict. "
          "With fewer pairs it is the ratio of the medians.")
        w("")
        judging_caveat(w, meta, f"per point of {meta.get('duration_s', '?')} s: indicative only; CPU time is read in 10 ms ticks.")
        w("| workload | ringproxy CPU µs/req without → with | overhead judged | pairs: median (min … max) | throughput lost at saturation | target | met |")
        w("|---|---:|---:|---|---:|---:|---|")
        for wl, over, c0, c1, pairs in verdict:
            judged = statistics.median(pairs) if len(pairs) >= STICK_MIN_PAIRS else over
            lost = (1 - 1 / (1 + judged)) if judged is not None else None
            if profile == "smoke" or lost is None:
                met = "–"
            else:
                met = "yes" if lost <= STICK_BOUND else "**no**"
            spread = (f"{pct(statistics.median(pairs))} ({pct(min(pairs))} … {pct(max(pairs))}), "
                      f"{len(pairs)} pair{'' if len(pairs) == 1 else 's'}" if pairs else "–")
            how = "median of pairs" if len(pairs) >= STICK_MIN_PAIRS else "ratio of medians"
            w(f"| {wl} | {fmt(c0, 'cpu_us_per_req')} → {fmt(c1, 'cpu_us_per_req')} | {pct(judged)} ({how}) | {spread} | "
              f"{'–' if lost is None else f'{lost * 100:.1f}%'} | ≤ {STICK_BOUND:.0%} | {met} |")
        w("")


def summarize_points(runs):
    """(mode, workload, target, tool) -> point with medians."""
    groups = {}
    for r in runs:
        if r.get("workload") == "idle":
            continue
        key = (r["mode"], r["workload"], r["target"], r.get("tool", "ringload"))
        groups.setdefault(key, []).append(r)
    points = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        p = {
            "mode": key[0],
            "workload": key[1],
            "target": key[2],
            "tool": key[3],
            "runs": len(rs),
            "ok_runs": len(ok),
            "failed_runs": len(rs) - len(ok),
            "errors_seen": sorted({r["error"] for r in rs if r.get("error")}),
        }
        for k, *_ in METRICS:
            p[k] = med(metric(r, k) for r in ok)
        p["proxy_cpu_s"] = med(r.get("proxy_cpu_s") for r in ok)
        p["backend_cpu_s"] = med(r.get("backend_cpu_s") for r in ok)
        p["rate"] = med((r.get("raw") or {}).get("rate") for r in ok)
        points[key] = p
    return points


def summarize_idle(runs):
    groups = {}
    for r in runs:
        if r.get("workload") == "idle":
            groups.setdefault((r["mode"], r["target"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        out[key] = {
            "mode": key[0],
            "target": key[1],
            "runs": len(rs),
            "ok_runs": len(ok),
            "established": med(r.get("established") for r in ok),
            "requested_conns": med(r.get("requested_conns") for r in rs),
            "rss_before_kb": med(r.get("rss_before_kb") for r in ok),
            "rss_during_kb": med(r.get("rss_during_kb") for r in ok),
            "bytes_per_conn": med(r.get("bytes_per_conn") for r in ok),
            "errors_seen": sorted({r["error"] for r in rs if r.get("error")}),
        }
    return out


def cmd_summarize(a):
    d = a.dir
    meta = json.load(open(os.path.join(d, "meta.json"))) if os.path.exists(os.path.join(d, "meta.json")) else {}
    runs = load_runs(os.path.join(d, "runs.jsonl"))
    startup = load_runs(os.path.join(d, "startup.jsonl"))
    peak = {}
    for r in load_runs(os.path.join(d, "peak_rss.jsonl")):
        peak[(r["mode"], r["target"])] = r
    points = summarize_points(runs)
    idle = summarize_idle(runs)
    L = []
    w = L.append
    w("# ringproxy comparison benchmark")
    w("")
    w(f"- date: {meta.get('date', '?')}")
    w(f"- machine: `nproc` = {meta.get('nproc', '?')}, `uname -r` = {meta.get('uname_r', '?')}, {meta.get('cpu_model', '')}")
    w(f"- versions: ringproxy {meta.get('ringproxy_version', '?')}; HAProxy {meta.get('haproxy_version', '?')}; nginx {meta.get('nginx_version', '?')}; ringload {meta.get('ringload_version', '?')}; wrk {meta.get('wrk_version', '?')}; iperf3 {meta.get('iperf3_version', '?')}")
    w(f"- command: `{meta.get('command', '?')}`")
    w(
        f"- settings: profile {meta.get('profile', '?')}, {meta.get('runs', '?')} run(s) per point (median shown), "
        f"{meta.get('duration_s', '?')} s per run, proxy threads {meta.get('threads', '?')}, "
        f"proxies on CPU {meta.get('proxy_cpus', '?')}, load generator and backend on CPU {meta.get('load_cpus', '?')}, "
        f"generator threads {meta.get('gen_threads', '?')}, modes {meta.get('modes', '?')}"
    )
    if meta.get("loadavg_start"):
        w(
            f"- load average (1/5/15 min) at start: {meta['loadavg_start']}, at end: {meta.get('loadavg_end', '?')}; "
            f"suite time {meta.get('elapsed_s', '?')} s (other processes on the machine add noise)"
        )
    if meta.get("idle_note"):
        w(f"- idle connections: {meta['idle_note']}")
    if meta.get("rate_note"):
        w(f"- fixed rate: {meta['rate_note']}")
    for mode in meta.get("modes_list") or []:
        if meta.get(f"rate_note_{mode}"):
            w(f"- fixed rate, {mode.upper()} mode: {meta[f'rate_note_{mode}']}")
    w("- CPU = user+sys time of the proxy process (all threads; nginx: master + workers) during the load, from /proc/PID/stat; "
      "for **direct** (†) it is the backend's CPU, as a reference. CPU/GB counts bytes in both directions as the load generator counted them; MB/s = 10^6 bytes/s, both directions.")
    w("")
    fails = [s for s in startup if not s.get("ok")]
    # (mode, target); records without a mode (older runs) count for every mode
    no_start = {(s.get("mode"), s["target"]) for s in fails}
    if fails:
        w("**Failed to start:** " + "; ".join(f"{s['target']} ({s.get('mode', '?')} mode): {s.get('error')}" for s in fails))
        w("")

    modes = meta.get("modes_list") or sorted({k[0] for k in points})
    targets = meta.get("targets") or ["ringproxy", "haproxy", "nginx", "direct"]
    workloads = [wl for wl in (meta.get("workloads") or list(WORKLOAD_TITLE)) if wl not in STICK_WORKLOADS]
    for mode in modes:
        w(f"## {mode.upper()} mode")
        w("")
        hdr = ["workload", "metric"] + [TARGET_LABEL.get(t, t) + (" †" if t == "direct" else "") for t in targets]
        others = [t for t in targets if t != "ringproxy"]
        show_ratios = "ringproxy" in targets
        # HTTP mode: also ringproxy against the better of the two peers,
        # metric by metric (the targets are stated that way)
        peers = [t for t in PEERS if t in targets]
        show_best = show_ratios and mode == "http" and bool(peers)
        if show_ratios:
            hdr += [f"rp/{TARGET_LABEL.get(t, t)}" for t in others]
        if show_best:
            hdr += ["rp/best peer"]
        # (none with --only stick: the stick rows have their own table)
        has_main = any(points.get((mode, wl, t, tool)) for wl in workloads for t in targets for tool in ("ringload", "iperf3"))
        if has_main:
            w("| " + " | ".join(hdr) + " |")
            w("|" + "|".join(["---", "---"] + ["---:"] * (len(hdr) - 2)) + "|")
        saturated = False
        for wl in workloads:
            pts = {t: points.get((mode, wl, t, "ringload")) or points.get((mode, wl, t, "iperf3")) for t in targets}
            if not any(pts.values()):
                continue
            is_http = wl not in ("tcp_down", "tcp_up", "iperf3")
            title = wl
            rates = [p["rate"] for p in pts.values() if p and p.get("rate")]
            if wl == "rate64" and rates:
                title = f"rate64 @ {rates[0]:,.0f}/s"
            for key, label, _lower, http_ok, tcp_ok in METRICS:
                if (is_http and not http_ok) or (not is_http and not tcp_ok):
                    continue
                vals = {t: (pts[t][key] if pts[t] else None) for t in targets}
                if key == "errors_total" and not any(vals.values()):
                    # show failures, if any, in the errors row
                    if not any(p and p["failed_runs"] for p in pts.values()):
                        continue
                row = [title, label]
                for t in targets:
                    p = pts[t]
                    if p is None and ((mode, t) in no_start or (None, t) in no_start):
                        row.append("FAIL (start)")
                    elif p is None:
                        row.append("–")
                    elif p["ok_runs"] == 0:
                        row.append("FAIL")
                    elif key == "errors_total" and p["failed_runs"]:
                        row.append(f"{fmt(vals[t], key)} ({p['failed_runs']} failed runs)")
                    elif key == "rps" and p.get("rate") and p.get("rps") and p["rps"] < 0.95 * p["rate"]:
                        # could not keep up with the fixed rate: the latency
                        # figures are queueing, not service time
                        row.append(fmt(vals[t], key) + " (saturated)")
                        saturated = True
                    else:
                        row.append(fmt(vals[t], key))
                if show_ratios:
                    for t in others:
                        row.append(fmt_ratio(vals["ringproxy"], vals[t]) if key in RATIO_METRICS else "")
                if show_best:
                    row.append(fmt_best(vals, peers, key) if key in RATIO_METRICS else "")
                w("| " + " | ".join(row) + " |")
                title = ""
        if saturated:
            w("")
            w("(saturated) = achieved less than 95% of the fixed rate: that target could not keep up (or the machine was busier than during `ka64`), so its latency there is queueing delay, not service time.")
        if show_best and has_main:
            w("")
            w("rp/best peer = ringproxy's value / the better of HAProxy's and nginx's for that metric (higher req/s and MB/s, lower CPU and p99), the peer named.")
        w("")
        drain_notes(w, mode, runs, meta)
        if show_best:
            target_table(w, mode, points, peers, meta)
        stick_table(w, mode, points, meta, no_start, runs)
        # Memory
        w(f"### Memory ({mode.upper()} mode)")
        w("")
        w("| proxy | peak RSS (VmHWM) over the workloads, MiB | VmRSS idle, MiB | VmRSS with idle conns, MiB | idle conns held | bytes per idle conn | rp/this bytes per conn |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        rp_idle = idle.get((mode, "ringproxy"), {}).get("bytes_per_conn")
        for t in targets:
            pk = peak.get((mode, t))
            i = idle.get((mode, t))
            if not pk and not i:
                continue
            label = TARGET_LABEL.get(t, t) + (" † (backend nginx)" if t == "direct" else "")
            hwm = fmt(pk["hwm_kb"] / 1024) if pk and pk.get("hwm_kb") else "–"
            if i and i["ok_runs"]:
                cells = [fmt(i["rss_before_kb"] / 1024), fmt(i["rss_during_kb"] / 1024), f"{i['established']:.0f}", fmt(i["bytes_per_conn"])]
                ratio = fmt_ratio(rp_idle, i["bytes_per_conn"]) if t != "ringproxy" else ""
            elif i:
                cells = ["FAIL"] * 4
                ratio = ""
            else:
                cells = ["–"] * 4
                ratio = ""
            w("| " + " | ".join([label, hwm] + cells + [ratio]) + " |")
        w("")
        # ringload vs wrk
        s_rl = points.get((mode, "sanity", "haproxy", "ringload"))
        s_wrk = points.get((mode, "sanity", "haproxy", "wrk"))
        if s_rl or s_wrk:
            w(f"### ringload vs wrk (HAProxy, {mode.upper()} mode, keep-alive 64 B, same -t/-c/duration)")
            w("")
            w("| generator | req/s | p50 µs | p99 µs | HAProxy CPU µs/req | errors |")
            w("|---|---:|---:|---:|---:|---:|")
            for name, p in (("ringload", s_rl), ("wrk", s_wrk)):
                if not p:
                    continue
                if not p["ok_runs"]:
                    w(f"| {name} | FAIL | | | | |")
                    continue
                w(f"| {name} | {fmt(p['rps'])} | {fmt(p['p50'])} | {fmt(p['p99'])} | {fmt(p['cpu_us_per_req'])} | {fmt(p['errors_total'], 'errors_total')} |")
            if s_rl and s_wrk and s_rl.get("rps") and s_wrk.get("rps"):
                w("")
                w(f"ringload/wrk req/s = {s_rl['rps'] / s_wrk['rps']:.2f}")
            w("")
    all_fail = [p for p in points.values() if p["failed_runs"]]
    if all_fail:
        w("## Failed runs")
        w("")
        for p in all_fail:
            w(f"- {p['mode']} {p['workload']} {p['target']} ({p['tool']}): {p['failed_runs']}/{p['runs']} failed: {'; '.join(p['errors_seen'])}")
        for i in idle.values():
            if i["runs"] != i["ok_runs"]:
                w(f"- {i['mode']} idle {i['target']}: {i['runs'] - i['ok_runs']}/{i['runs']} failed: {'; '.join(i['errors_seen'])}")
        w("")
    table = "\n".join(L)
    with open(os.path.join(d, "table.md"), "w") as f:
        f.write(table + "\n")
    results = {
        "meta": meta,
        "startup": startup,
        "points": list(points.values()),
        "idle": list(idle.values()),
        "peak_rss": list(peak.values()),
        "runs": runs,
    }
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table)


def cmd_check(a):
    d = a.dir
    problems = []
    for s in load_runs(os.path.join(d, "startup.jsonl")):
        if not s.get("ok"):
            problems.append(f"{s.get('mode', '')} {s['target']} failed to start: {s.get('error')}".strip())
    for r in load_runs(os.path.join(d, "runs.jsonl")):
        if not r.get("ok"):
            problems.append(f"{r['mode']} {r['workload']} {r['target']} run {r.get('run')} ({r.get('tool', '')}): {r.get('error')}")
        elif r.get("errors_total"):
            # a proxy answering 5xx, resetting or stalling connections is
            # broken even if the run moved data
            errs = ", ".join(f"{k} {v}" for k, v in (r.get("errors") or {}).items() if v)
            problems.append(f"{r['mode']} {r['workload']} {r['target']} run {r.get('run')} ({r.get('tool', '')}): errors counted: {errs}")
    for p in problems:
        print("problem: " + p)
    sys.exit(1 if problems else 0)


def cmd_meta(a):
    path = os.path.join(a.dir, "meta.json")
    meta = json.load(open(path)) if os.path.exists(path) else {}
    for kv in a.values:
        k, _, v = kv.partition("=")
        if k.endswith("[]"):
            meta[k[:-2]] = [x for x in v.split(",") if x]
        else:
            try:
                meta[k] = json.loads(v) if re.fullmatch(r"-?\d+(\.\d+)?", v) else v
            except ValueError:
                meta[k] = v
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)


def cmd_append(a):
    """Append one JSON object built from KEY=VALUE pairs to a .jsonl file."""
    obj = {}
    for kv in a.values:
        k, _, v = kv.partition("=")
        if v in ("true", "false"):
            obj[k] = v == "true"
        elif re.fullmatch(r"-?\d+", v):
            obj[k] = int(v)
        else:
            obj[k] = v
    obj.setdefault("time", time.time())
    with open(a.file, "a") as f:
        f.write(json.dumps(obj) + "\n")


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="cmd", required=True)
    r = sp.add_parser("render")
    r.add_argument("template")
    r.add_argument("output")
    r.add_argument("values", nargs="*")
    r.set_defaults(fn=cmd_render)

    r = sp.add_parser("record")
    r.add_argument("--runs", required=True)
    r.add_argument("--mode", required=True)
    r.add_argument("--workload", required=True)
    r.add_argument("--kind", choices=["http", "tcp"], required=True)
    r.add_argument("--target", required=True)
    r.add_argument("--run", type=int, required=True)
    r.add_argument("--tool", required=True)
    r.add_argument("--file")
    r.add_argument("--rc", type=int, default=0)
    r.add_argument("--wall", type=float, default=0)
    r.add_argument("--cpu0", type=int, default=-1)
    r.add_argument("--cpu1", type=int, default=-1)
    r.add_argument("--bcpu0", type=int, default=-1)
    r.add_argument("--bcpu1", type=int, default=-1)
    r.add_argument("--body-bytes", type=int, default=0)
    r.add_argument("--backend-conns-before", type=int, default=0)
    r.add_argument("--backend-conns-at-start", type=int, default=0)
    r.add_argument("--drain-wait", type=float, default=0)
    r.add_argument("--command", default="")
    r.set_defaults(fn=cmd_record)

    r = sp.add_parser("idle")
    r.add_argument("--runs", required=True)
    r.add_argument("--mode", required=True)
    r.add_argument("--target", required=True)
    r.add_argument("--run", type=int, default=1)
    r.add_argument("--conns", type=int, required=True)
    r.add_argument("--rss0", type=int, required=True)
    r.add_argument("--rss1", type=int, required=True)
    r.add_argument("--ready", type=int, default=0)
    r.add_argument("--ready-count", type=int, default=-1)
    r.add_argument("--rc", type=int, default=0)
    r.add_argument("--file")
    r.add_argument("--error")
    r.set_defaults(fn=cmd_idle)

    r = sp.add_parser("rate")
    r.add_argument("--runs", required=True)
    r.add_argument("--mode")
    r.add_argument("--workload", default="ka64")
    r.add_argument("--fraction", type=float, default=0.8)
    r.add_argument("--peers", help="comma-separated targets the rate is based on (default: every proxy)")
    r.set_defaults(fn=cmd_rate)

    r = sp.add_parser("summarize")
    r.add_argument("--dir", required=True)
    r.set_defaults(fn=cmd_summarize)

    r = sp.add_parser("check")
    r.add_argument("--dir", required=True)
    r.set_defaults(fn=cmd_check)

    r = sp.add_parser("meta")
    r.add_argument("--dir", required=True)
    r.add_argument("values", nargs="*")
    r.set_defaults(fn=cmd_meta)

    r = sp.add_parser("append")
    r.add_argument("--file", required=True)
    r.add_argument("values", nargs="*")
    r.set_defaults(fn=cmd_append)

    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
