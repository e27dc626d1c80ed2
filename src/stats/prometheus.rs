//! `http-request use-service prometheus-exporter`: the Prometheus text
//! exposition format (0.0.4) with HAProxy 2.6's metric names, labels, HELP
//! texts and order (its `addons/promex`), so that dashboards made for
//! HAProxy keep working.
//!
//! The values are the `show stat` and `show info` ones: each proxy and
//! server row is built by `api::view` / `api::format` exactly as for the
//! runtime API, then every column promex exports is read back from the row
//! by its CSV name ([`ST_METRICS`]). A column the row leaves empty (not
//! measured, or not applicable to that object) is left out, where HAProxy
//! would print `NaN`. Metrics HAProxy has no counterpart for are ours,
//! prefixed `ringproxy_`: latency histograms of backends (`latency`).
//!
//! Rendering runs on the shard that received the request; it reads shared
//! atomics, the checker's snapshots and, briefly, each shard's histogram
//! lock. It allocates (this is not the data path).

use std::fmt::Write as _;

use crate::api::format::{self, Row};
use crate::api::view::{self, Proxy};
use crate::backend::Admin;
use crate::check::{CheckSnapshot, CheckStatus};
use crate::runtime::Runtime;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which groups of metrics to print (HAProxy's `scope` query arguments)
/// and whether servers in maintenance are left out (`no-maint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub global: bool,
    pub frontend: bool,
    pub backend: bool,
    pub server: bool,
    pub no_maint: bool,
}

impl Scope {
    pub const ALL: Scope = Scope {
        global: true,
        frontend: true,
        backend: true,
        server: true,
        no_maint: false,
    };

    /// HAProxy's query string rules: without any `scope`, everything;
    /// each `scope=NAME` adds a group (`*` all, empty none); `no-maint`
    /// hides servers in maintenance. `listener` and `sticktable` are
    /// accepted and print nothing (ringproxy exports neither). None for an
    /// unknown scope or a `scope` without value (HAProxy answers 400).
    pub fn parse(query: &str) -> Option<Scope> {
        let mut s = Scope {
            global: false,
            frontend: false,
            backend: false,
            server: false,
            no_maint: false,
        };
        let mut scoped = false;
        let query = query.split('#').next().unwrap_or("");
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (param, None),
            };
            if value.is_some_and(|v| v.contains('=')) {
                return None;
            }
            match key {
                "scope" => {
                    scoped = true;
                    match value? {
                        "" => {
                            s = Scope {
                                no_maint: s.no_maint,
                                ..Scope::NONE
                            }
                        }
                        "*" => {
                            s = Scope {
                                no_maint: s.no_maint,
                                ..Scope::ALL
                            }
                        }
                        "global" => s.global = true,
                        "frontend" => s.frontend = true,
                        "backend" => s.backend = true,
                        "server" => s.server = true,
                        "listener" | "sticktable" => {}
                        _ => return None,
                    }
                }
                "no-maint" => s.no_maint = true,
                _ => {}
            }
        }
        if !scoped {
            s = Scope {
                no_maint: s.no_maint,
                ..Scope::ALL
            };
        }
        Some(s)
    }

    const NONE: Scope = Scope {
        global: false,
        frontend: false,
        backend: false,
        server: false,
        no_maint: false,
    };
}

// Which objects a metric applies to (promex's PROMEX_FL_*_METRIC).
const F: u8 = 1;
const B: u8 = 2;
const S: u8 = 4;

/// How a column is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    /// A gauge in milliseconds in the row, exported in seconds.
    GaugeMs,
    /// Only for HTTP proxies (promex skips them in TCP mode).
    HttpCounter,
    /// One series per state, handled apart (`status`, `check_status`,
    /// `agg_server_check_status`), or per code class (`hrsp_*`).
    Special,
}

/// One promex metric: the `show stat` column it reads, its name after the
/// `haproxy_{frontend,backend,server}_` prefix, type, objects, HELP.
struct StMetric {
    field: &'static str,
    name: &'static str,
    kind: Kind,
    objects: u8,
    help: &'static str,
}

const fn m(
    field: &'static str,
    name: &'static str,
    kind: Kind,
    objects: u8,
    help: &'static str,
) -> StMetric {
    StMetric {
        field,
        name,
        kind,
        objects,
        help,
    }
}

use Kind::{Counter as C, Gauge as G, GaugeMs as Gms, HttpCounter as Hc, Special as X};

/// HAProxy 2.6's promex stats metrics in its order (`show stat` column
/// order), with its HELP texts (`stat_fields[].desc`, or promex's own).
#[rustfmt::skip]
const ST_METRICS: &[StMetric] = &[
    m("qcur", "current_queue", G, B | S, "Current number of connections waiting in the server of backend queue"),
    m("qmax", "max_queue", G, B | S, "Highest value of qcur encountered since process started"),
    m("scur", "current_sessions", G, F | B | S, "Current number of sessions on the frontend, backend or server"),
    m("smax", "max_sessions", G, F | B | S, "Highest value of scur encountered since process started"),
    m("slim", "limit_sessions", G, F | B | S, "Frontend/listener/server's maxconn, backend's fullconn"),
    m("stot", "sessions_total", C, F | B | S, "Total number of sessions since process started"),
    m("bin", "bytes_in_total", C, F | B | S, "Total number of request bytes since process started"),
    m("bout", "bytes_out_total", C, F | B | S, "Total number of response bytes since process started"),
    m("dreq", "requests_denied_total", C, F | B, "Total number of denied requests since process started"),
    m("dresp", "responses_denied_total", C, F | B | S, "Total number of denied responses since process started"),
    m("ereq", "request_errors_total", C, F, "Total number of invalid requests since process started"),
    m("econ", "connection_errors_total", C, B | S, "Total number of failed connections to server since the worker process started"),
    m("eresp", "response_errors_total", C, B | S, "Total number of invalid responses since the worker process started"),
    m("wretr", "retry_warnings_total", C, B | S, "Total number of server connection retries since the worker process started"),
    m("wredis", "redispatch_warnings_total", C, B | S, "Total number of server redispatches due to connection failures since the worker process started"),
    m("status", "status", X, F | B | S, "Current status of the service, per state label value."),
    m("weight", "weight", G, B | S, "Server's effective weight, or sum of active servers' effective weights for a backend"),
    m("act", "active_servers", G, B, "Total number of active UP servers with a non-zero weight"),
    m("bck", "backup_servers", G, B, "Total number of backup UP servers with a non-zero weight"),
    m("chkfail", "check_failures_total", C, S, "Total number of failed individual health checks per server/backend, since the worker process started"),
    m("chkdown", "check_up_down_total", C, B | S, "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"),
    m("lastchg", "check_last_change_seconds", G, B | S, "How long ago the last server state changed, in seconds"),
    m("downtime", "downtime_seconds_total", C, B | S, "Total time spent in DOWN state, for server or backend"),
    m("qlimit", "queue_limit", G, S, "Limit on the number of connections in queue, for servers only (maxqueue argument)"),
    m("throttle", "current_throttle", G, S, "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)"),
    m("lbtot", "loadbalanced_total", C, B | S, "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"),
    m("rate_lim", "limit_session_rate", G, F, "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)"),
    m("rate_max", "max_session_rate", G, F | B | S, "Highest value of 'rate' observed since the worker process started"),
    m("check_status", "check_status", X, S, "Status of last health check, per state label value."),
    m("check_code", "check_code", X, S, "layer5-7 code, if available of the last health check."),
    m("check_duration", "check_duration_seconds", X, S, "Total duration of the latest server health check, in seconds."),
    m("hrsp_1xx", "http_responses_total", X, F | B | S, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m("req_rate_max", "http_requests_rate_max", G, F, "Highest value of 'req_rate' observed since the worker process started"),
    m("req_tot", "http_requests_total", Hc, F | B, "Total number of HTTP requests processed by this object since the worker process started"),
    m("cli_abrt", "client_aborts_total", C, B | S, "Total number of requests or connections aborted by the client since the worker process started"),
    m("srv_abrt", "server_aborts_total", C, B | S, "Total number of requests or connections aborted by the server since the worker process started"),
    m("comp_in", "http_comp_bytes_in_total", Hc, F | B, "Total number of bytes submitted to the HTTP compressor for this object since the worker process started"),
    m("comp_out", "http_comp_bytes_out_total", Hc, F | B, "Total number of bytes emitted by the HTTP compressor for this object since the worker process started"),
    m("comp_byp", "http_comp_bytes_bypassed_total", Hc, F | B, "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)"),
    m("comp_rsp", "http_comp_responses_total", Hc, F | B, "Total number of HTTP responses that were compressed for this object since the worker process started"),
    m("lastsess", "last_session_seconds", G, B | S, "How long ago some traffic was seen on this object on this worker process, in seconds"),
    m("conn_rate_max", "connections_rate_max", G, F, "Highest value of 'conn_rate' observed since the worker process started"),
    m("conn_tot", "connections_total", C, F, "Total number of new connections accepted on this frontend since the worker process started"),
    m("intercepted", "intercepted_requests_total", Hc, F, "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started"),
    m("dcon", "denied_connections_total", C, F, "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m("dses", "denied_sessions_total", C, F, "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m("wrew", "failed_header_rewriting_total", C, F | B | S, "Total number of failed HTTP header rewrites since the worker process started"),
    m("connect", "connection_attempts_total", C, B | S, "Total number of outgoing connection attempts on this backend/server since the worker process started"),
    m("reuse", "connection_reuses_total", C, B | S, "Total number of reused connection on this backend/server since the worker process started"),
    m("cache_lookups", "http_cache_lookups_total", Hc, F | B, "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started"),
    m("cache_hits", "http_cache_hits_total", Hc, F | B, "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started"),
    m("srv_icur", "idle_connections_current", G, S, "Current number of idle connections available for reuse on this server"),
    m("src_ilim", "idle_connections_limit", G, S, "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)"),
    m("qtime", "queue_time_average_seconds", Gms, B | S, "Avg. queue time for last 1024 successful connections."),
    m("ctime", "connect_time_average_seconds", Gms, B | S, "Avg. connect time for last 1024 successful connections."),
    m("rtime", "response_time_average_seconds", Gms, B | S, "Avg. response time for last 1024 successful connections."),
    m("ttime", "total_time_average_seconds", Gms, B | S, "Avg. total time for last 1024 successful connections."),
    m("qtime_max", "max_queue_time_seconds", Gms, B | S, "Maximum observed time spent in the queue"),
    m("ctime_max", "max_connect_time_seconds", Gms, B | S, "Maximum observed time spent waiting for a connection to complete"),
    m("rtime_max", "max_response_time_seconds", X, B | S, "Maximum observed time spent waiting for a server response"),
    m("ttime_max", "max_total_time_seconds", X, B | S, "Maximum observed total request+response time (request+queue+connect+response+processing)"),
    m("eint", "internal_errors_total", C, F | B | S, "Total number of internal errors since process started"),
    m("idle_conn_cur", "unsafe_idle_connections_current", G, S, "Current number of unsafe idle connections"),
    m("safe_conn_cur", "safe_idle_connections_current", G, S, "Current number of safe idle connections"),
    m("used_conn_cur", "used_connections_current", G, S, "Current number of connections in use"),
    m("need_conn_est", "need_connections_current", G, S, "Estimated needed number of connections"),
    m("uweight", "uweight", G, B | S, "Server's user weight, or sum of active servers' user weights for a backend"),
    m("agg_server_check_status", "agg_server_check_status", X, B, "Backend's aggregated gauge of servers' status"),
];

/// `hrsp_*` columns and their `code` label.
const HRSP: [(&str, &str); 6] = [
    ("hrsp_1xx", "1xx"),
    ("hrsp_2xx", "2xx"),
    ("hrsp_3xx", "3xx"),
    ("hrsp_4xx", "4xx"),
    ("hrsp_5xx", "5xx"),
    ("hrsp_other", "other"),
];

/// promex's server states (`promex_srv_st`), in its order.
const SRV_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

/// The check statuses promex lists (those whose result is at least
/// "failed"), in HAProxy's `HCHK_STATUS_*` order.
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// promex's state of a server (`promex_srv_status`).
fn srv_state(admin: Admin, check: &CheckSnapshot) -> &'static str {
    match (admin, check.up) {
        (Admin::Maint, _) => "MAINT",
        (Admin::Drain, true) => "DRAIN",
        (_, true) => "UP",
        (_, false) => "DOWN",
    }
}

/// One frontend, backend or server with its `show stat` row.
struct Obj {
    proxy: String,
    /// Server name (servers only).
    server: Option<String>,
    http: bool,
    row: Row,
    /// Backends: the latency histograms merged over shards (once per
    /// exposition: merging walks every shard's histograms), and every
    /// server's state.
    latency: Option<crate::stats::Merged>,
    srv_states: [u64; 5],
    /// Servers: admin state and check snapshot.
    srv: Option<(Admin, CheckSnapshot)>,
    /// Frontends and backends: UP (1) or DOWN (0).
    up: bool,
}

/// Everything the exporter prints, gathered once.
struct Data {
    fe: Vec<Obj>,
    be: Vec<Obj>,
    sv: Vec<Obj>,
}

fn gather(rt: &Runtime, scope: &Scope) -> Data {
    let proxies = view::proxies(&rt.config);
    let mut d = Data {
        fe: Vec::new(),
        be: Vec::new(),
        sv: Vec::new(),
    };
    for p in &proxies {
        if let Some(fe) = p.fe.filter(|_| scope.frontend) {
            let st = view::fe_stat(rt, p, fe);
            d.fe.push(Obj {
                proxy: p.name.clone(),
                server: None,
                http: st.http,
                row: format::fe_row(&st),
                latency: None,
                srv_states: [0; 5],
                srv: None,
                up: true,
            });
        }
        let Some(b) = p.be else { continue };
        if scope.backend || scope.server {
            backend_objs(rt, p, b, scope, &mut d);
        }
    }
    d
}

fn backend_objs(rt: &Runtime, p: &Proxy, b: usize, scope: &Scope, d: &mut Data) {
    let mut states = [0u64; 5];
    for (_, server) in rt.backends[b].servers_snapshot() {
        let id = crate::api::ServerId { backend: b, server };
        let st = view::sv_stat(rt, p, &id);
        let state = srv_state(st.admin, &st.check);
        if let Some(i) = SRV_STATES.iter().position(|s| *s == state) {
            states[i] += 1;
        }
        if scope.server && !(scope.no_maint && st.admin == Admin::Maint) {
            d.sv.push(Obj {
                proxy: p.name.clone(),
                server: Some(st.name.clone()),
                http: st.http,
                row: format::sv_row(&st),
                latency: None,
                srv_states: [0; 5],
                srv: Some((st.admin, st.check.clone())),
                up: st.check.up,
            });
        }
    }
    if scope.backend {
        let st = view::be_stat(rt, p, b, false);
        d.be.push(Obj {
            proxy: p.name.clone(),
            server: None,
            http: st.http,
            row: format::be_row(&st),
            latency: rt.latency.merged(b),
            srv_states: states,
            srv: None,
            up: st.up,
        });
    }
}

/// The index of a `show stat` column.
fn column(name: &str) -> Option<usize> {
    format::STAT_FIELDS.iter().position(|f| *f == name)
}

/// A label value with Prometheus' escapes.
fn label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes `NAME{proxy="..",server="..",EXTRA} ` (value follows).
fn series(out: &mut String, name: &str, o: &Obj, extra: Option<(&str, &str)>) {
    out.push_str(name);
    out.push_str("{proxy=\"");
    label(out, &o.proxy);
    out.push('"');
    if let Some(s) = &o.server {
        out.push_str(",server=\"");
        label(out, s);
        out.push('"');
    }
    if let Some((k, v)) = extra {
        let _ = write!(out, ",{k}=\"");
        label(out, v);
        out.push('"');
    }
    out.push_str("} ");
}

fn header(out: &mut String, name: &str, help: &str, ty: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
}

/// HAProxy's `%f` for the seconds of a duration.
fn secs(us: u64) -> String {
    format!("{:.6}", us as f64 / 1e6)
}

/// The lines of one metric over `objs`; the header only when at least one
/// object has a value (promex prints none for an empty family either).
fn st_metric(out: &mut String, prefix: &str, m: &StMetric, objs: &[Obj]) {
    let name = format!("{prefix}{}", m.name);
    let mut body = String::new();
    let ty = match m.kind {
        Kind::Counter | Kind::HttpCounter => "counter",
        _ => "gauge",
    };
    match (m.kind, m.field) {
        (Kind::Special, "status") => {
            for o in objs {
                match &o.srv {
                    Some((admin, check)) => {
                        let cur = srv_state(*admin, check);
                        for st in SRV_STATES {
                            series(&mut body, &name, o, Some(("state", st)));
                            let _ = writeln!(body, "{}", u8::from(cur == st));
                        }
                    }
                    None => {
                        for (st, v) in [("DOWN", !o.up), ("UP", o.up)] {
                            series(&mut body, &name, o, Some(("state", st)));
                            let _ = writeln!(body, "{}", u8::from(v));
                        }
                    }
                }
            }
        }
        (Kind::Special, "agg_server_check_status") => {
            for o in objs.iter().filter(|o| o.srv_states.iter().sum::<u64>() > 0) {
                for (st, n) in SRV_STATES.iter().zip(o.srv_states) {
                    series(&mut body, &name, o, Some(("state", st)));
                    let _ = writeln!(body, "{n}");
                }
            }
        }
        (Kind::Special, "check_status" | "check_code" | "check_duration") => {
            for o in objs {
                let Some((admin, c)) = &o.srv else { continue };
                // Checks enabled and not paused by maintenance.
                if !(c.configured && c.enabled) || *admin == Admin::Maint {
                    continue;
                }
                let status = c.check_status;
                match m.field {
                    "check_status" => {
                        let cur = status.map(CheckStatus::name);
                        for st in CHECK_STATES {
                            series(&mut body, &name, o, Some(("state", st)));
                            let _ = writeln!(body, "{}", u8::from(cur == Some(st)));
                        }
                    }
                    "check_code" => {
                        let code = c
                            .check_code
                            .filter(|_| status.is_some_and(|s| s.shows_code()));
                        series(&mut body, &name, o, None);
                        let _ = writeln!(body, "{}", code.unwrap_or(0));
                    }
                    _ => {
                        let done = status.is_some_and(|s| s != CheckStatus::Ini);
                        if let Some(d) = c.check_duration.filter(|_| done) {
                            series(&mut body, &name, o, None);
                            let _ = writeln!(body, "{}", secs(d.as_micros() as u64));
                        }
                    }
                }
            }
        }
        (Kind::Special, "hrsp_1xx") => {
            for (field, code) in HRSP {
                let Some(col) = column(field) else { continue };
                for o in objs.iter().filter(|o| o.http) {
                    if let Some(v) = o.row.at(col) {
                        series(&mut body, &name, o, Some(("code", code)));
                        let _ = writeln!(body, "{v}");
                    }
                }
            }
        }
        (Kind::Special, "rtime_max" | "ttime_max") => {
            // Backends: the exact maxima of the latency histograms.
            for o in objs {
                let Some(t) = &o.latency else { continue };
                let max = if m.field == "rtime_max" {
                    t.response.max_us
                } else {
                    t.total.max_us
                };
                series(&mut body, &name, o, None);
                let _ = writeln!(body, "{}", secs(max));
            }
        }
        (Kind::Special, _) => {}
        (kind, field) => {
            let Some(col) = column(field) else { return };
            for o in objs {
                if kind == Kind::HttpCounter && !o.http {
                    continue;
                }
                let Some(v) = o.row.at(col) else { continue };
                // Only numbers: a text column has no place here.
                let Ok(n) = v.parse::<u64>() else { continue };
                series(&mut body, &name, o, None);
                if kind == Kind::GaugeMs {
                    let _ = writeln!(body, "{}", secs(n.saturating_mul(1000)));
                } else {
                    let _ = writeln!(body, "{n}");
                }
            }
        }
    }
    if !body.is_empty() {
        header(out, &name, m.help, ty);
        out.push_str(&body);
    }
}

/// `haproxy_process_*` from `show info`'s data, in promex's order.
fn process(out: &mut String, rt: &Runtime, hide_version: bool) {
    let i = view::info(rt);
    let lines: [(&str, &str, &str, u64); 14] = [
        (
            "nbthread",
            "gauge",
            "Number of started threads (global.nbthread)",
            i.nbthread as u64,
        ),
        (
            "nbproc",
            "gauge",
            "Number of started worker processes (global.nbproc)",
            1,
        ),
        (
            "relative_process_id",
            "gauge",
            "Relative worker process number (1..Nbproc)",
            1,
        ),
        (
            "uptime_seconds",
            "gauge",
            "How long ago this worker process was started (seconds)",
            i.uptime.as_secs(),
        ),
        (
            "start_time_seconds",
            "gauge",
            "Start time in seconds",
            i.start_time_sec,
        ),
        (
            "max_fds",
            "gauge",
            "Hard limit on the number of per-process file descriptors",
            i.ulimit_n,
        ),
        (
            "max_sockets",
            "gauge",
            "Hard limit on the number of per-process sockets",
            i.ulimit_n,
        ),
        (
            "max_connections",
            "gauge",
            "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",
            i.maxconn,
        ),
        (
            "hard_max_connections",
            "gauge",
            "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)",
            i.maxconn,
        ),
        (
            "current_connections",
            "gauge",
            "Current number of connections on this worker process",
            i.curr_conns,
        ),
        (
            "connections_total",
            "counter",
            "Total number of connections on this worker process since started",
            i.cum_conns,
        ),
        (
            "requests_total",
            "counter",
            "Total number of requests on this worker process since started",
            i.cum_req,
        ),
        (
            "listeners",
            "gauge",
            "Current number of active listeners on the current worker process",
            i.listeners as u64,
        ),
        (
            "bytes_out_total",
            "counter",
            "Total number of bytes emitted by current worker process since started",
            i.total_bytes_out,
        ),
    ];
    for (name, ty, help, v) in lines {
        let name = format!("haproxy_process_{name}");
        header(out, &name, help, ty);
        let _ = writeln!(out, "{name} {v}");
    }
    if !hide_version {
        let name = "haproxy_process_build_info";
        header(out, name, "Build info", "gauge");
        let _ = writeln!(out, "{name}{{version=\"{}\"}} 1", i.version);
    }
}

/// `le` labels of [`crate::stats::BUCKETS_US`], in seconds.
const LE: [&str; 15] = [
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10", "30",
];

/// `ringproxy_backend_{response,total}_time_seconds` histograms.
fn histograms(out: &mut String, backends: &[Obj]) {
    let merged: Vec<_> = backends
        .iter()
        .filter_map(|o| Some((o, o.latency.as_ref()?)))
        .collect();
    if merged.is_empty() {
        return;
    }
    let families = [
        (
            "ringproxy_backend_response_time_seconds",
            "Time from sending the request to a server to receiving its response head (HAProxy's Tr), per HTTP transaction a server answered.",
        ),
        (
            "ringproxy_backend_total_time_seconds",
            "Time from the first byte of the request to the end of the transaction (HAProxy's Ta), per HTTP transaction a server answered.",
        ),
    ];
    for (k, (name, help)) in families.iter().enumerate() {
        header(out, name, help, "histogram");
        for (o, t) in &merged {
            let c = if k == 0 { &t.response } else { &t.total };
            let bucket = format!("{name}_bucket");
            for (le, n) in LE.iter().zip(c.cumulative()) {
                series(out, &bucket, o, Some(("le", le)));
                let _ = writeln!(out, "{n}");
            }
            series(out, &bucket, o, Some(("le", "+Inf")));
            let _ = writeln!(out, "{}", c.count);
            series(out, &format!("{name}_sum"), o, None);
            let _ = writeln!(out, "{}", secs(c.sum_us));
            series(out, &format!("{name}_count"), o, None);
            let _ = writeln!(out, "{}", c.count);
        }
    }
}

/// The whole exposition for `scope`.
pub fn render(rt: &Runtime, scope: &Scope, hide_version: bool) -> String {
    let d = gather(rt, scope);
    let mut out = String::with_capacity(4096 + 4096 * (d.fe.len() + d.be.len() + d.sv.len()));
    if scope.global {
        process(&mut out, rt, hide_version);
    }
    for (objs, prefix, bit) in [
        (&d.fe, "haproxy_frontend_", F),
        (&d.be, "haproxy_backend_", B),
        (&d.sv, "haproxy_server_", S),
    ] {
        if objs.is_empty() {
            continue;
        }
        for m in ST_METRICS.iter().filter(|m| m.objects & bit != 0) {
            st_metric(&mut out, prefix, m, objs);
        }
    }
    if scope.backend {
        histograms(&mut out, &d.be);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_query_follows_haproxy() {
        assert_eq!(Scope::parse(""), Some(Scope::ALL));
        let s = Scope::parse("scope=frontend&scope=server&no-maint").unwrap();
        assert!(s.frontend && s.server && !s.backend && !s.global && s.no_maint);
        let s = Scope::parse("scope=").unwrap();
        assert!(!s.frontend && !s.global);
        assert_eq!(Scope::parse("scope=*"), Some(Scope::ALL));
        assert!(Scope::parse("scope").is_none());
        assert!(Scope::parse("scope=nope").is_none());
        assert!(Scope::parse("scope=a=b").is_none());
        assert_eq!(Scope::parse("other=1"), Some(Scope::ALL));
    }

    #[test]
    fn metric_table_names_existing_columns() {
        for m in ST_METRICS {
            assert!(
                format::STAT_FIELDS.contains(&m.field) || m.field == "agg_server_check_status",
                "{}",
                m.field
            );
        }
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    /// Render cost of the exporter and the stats page for 10 backends of
    /// 10 servers, with every backend's histograms filled on 4 shards:
    /// `cargo test --release --lib stats::prometheus::cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn render_cost_10_backends_10_servers() {
        let mut text = String::from(
            "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\nfrontend fe\n    bind :8080\n    default_backend b0\n",
        );
        for b in 0..10 {
            let _ = write!(text, "\nbackend b{b}\n");
            for s in 0..10 {
                let _ = writeln!(text, "    server s{s} 10.0.{b}.{s}:80");
            }
        }
        let loaded =
            crate::config::parse(
                &[("t.cfg", &text)],
                &|_| None,
                &|_, _| Err("no".to_string()),
            )
            .expect("valid");
        let rt = Runtime::new(loaded.config, 4, 1000);
        for b in 0..10 {
            for shard in 0..4 {
                for i in 0..1000u64 {
                    rt.latency.shard(shard).record(
                        b,
                        Some(100 + i * 37 % 50_000),
                        200 + i * 91 % 900_000,
                    );
                }
            }
        }
        let page = crate::stats::page::PageOpts {
            hide_version: false,
            refresh: None,
            uri: "/stats",
            filter: view::StatFilter::ALL,
        };
        let prom = || render(&rt, &Scope::ALL, false).len();
        let html = || crate::stats::page::render(&rt, &page).len();
        let renders: [(&str, &dyn Fn() -> usize); 2] =
            [("prometheus", &prom), ("stats page", &html)];
        for (what, f) in renders {
            let _ = f();
            let n = 200;
            let t = std::time::Instant::now();
            let mut bytes = 0;
            for _ in 0..n {
                bytes = f();
            }
            let per = t.elapsed() / n;
            println!("{what}: {bytes} bytes, {per:?} per render ({n} renders)");
        }
        // The data path's part: one record (lock, two histogram cells,
        // sums) on a warm backend slot.
        let shard = rt.latency.shard(0);
        let n = 10_000_000u64;
        let t = std::time::Instant::now();
        for i in 0..n {
            shard.record(
                3,
                Some(std::hint::black_box(150 + i % 4000)),
                400 + i % 9000,
            );
        }
        println!(
            "record: {:?} per transaction ({n} records)",
            t.elapsed() / n as u32
        );
    }
}
