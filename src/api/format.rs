//! Output of the read-only commands, as pure functions from plain snapshot
//! data to HAProxy's text: `show stat` (CSV), `show info`, `show servers
//! state`, `show sess` lines. Gathering the data from the runtime is
//! `view`'s job; nothing here touches a lock or an atomic.
//!
//! A field ringproxy does not measure is left empty in CSV (HAProxy leaves
//! fields empty where they do not apply) and left out of `show info`
//! (key/value readers tolerate missing keys), rather than printed as a
//! made-up 0. Fields whose feature ringproxy does not have at all
//! (compression, cache, pipes, peers) are a true 0.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::backend::Admin;
use crate::check::{CheckSnapshot, CheckStatus};
use crate::stats::Snapshot;

/// HAProxy 2.6's `show stat` columns, in order (the static ones: the
/// per-module columns HAProxy appends after a `-` column depend on its
/// build and are not printed).
pub const STAT_FIELDS: [&str; 101] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_check_status",
];

/// The CSV header line: `# ` then every name followed by a comma.
pub fn stat_header() -> String {
    let mut s = String::from("# ");
    for f in STAT_FIELDS {
        s.push_str(f);
        s.push(',');
    }
    s.push('\n');
    s
}

/// One CSV row being filled: empty fields until set.
pub struct Row(Vec<String>);

impl Row {
    fn new() -> Row {
        Row(vec![String::new(); STAT_FIELDS.len()])
    }

    /// Sets a column by its name (names are checked by the row tests).
    fn set(&mut self, name: &str, v: impl ToString) -> &mut Row {
        if let Some(i) = STAT_FIELDS.iter().position(|f| *f == name) {
            self.0[i] = v.to_string();
        }
        self
    }

    /// The value of the column at index `i` of [`STAT_FIELDS`]; None when
    /// empty (not measured or not applicable), as in the CSV.
    pub fn at(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// HAProxy's CSV line: every field followed by a comma; a field with a
    /// comma, a quote or a line break is quoted.
    pub fn csv(&self) -> String {
        let mut s = String::new();
        for f in &self.0 {
            if f.contains([',', '"', '\n', '\r']) {
                s.push('"');
                s.push_str(&f.replace('"', "\"\""));
                s.push('"');
            } else {
                s.push_str(f);
            }
            s.push(',');
        }
        s.push('\n');
        s
    }
}

fn mode(http: bool) -> &'static str {
    if http { "http" } else { "tcp" }
}

/// The columns every `show stat` row fills the same way.
struct Common<'a> {
    pxname: &'a str,
    svname: &'a str,
    iid: u32,
    sid: u32,
    /// HAProxy's `type`: 0 frontend, 1 backend, 2 server.
    kind: u8,
    http: bool,
    c: &'a Snapshot,
    /// Sessions now (`scur`; `smax` is never below it).
    scur: u64,
}

impl Common<'_> {
    /// A row with names, sessions and bytes, ids, and the mode; in HTTP
    /// mode the response classes and the request total too.
    fn row(&self) -> Row {
        let (mut r, c) = (Row::new(), self.c);
        r.set("pxname", self.pxname).set("svname", self.svname);
        r.set("scur", self.scur).set("smax", c.max.max(self.scur));
        r.set("stot", c.total);
        r.set("rate", c.rate).set("rate_max", c.rate_max);
        r.set("bin", c.bytes_in).set("bout", c.bytes_out);
        r.set("pid", 1).set("iid", self.iid).set("sid", self.sid);
        r.set("type", self.kind);
        if self.http {
            let names = [
                "hrsp_1xx",
                "hrsp_2xx",
                "hrsp_3xx",
                "hrsp_4xx",
                "hrsp_5xx",
                "hrsp_other",
            ];
            for (name, v) in names.iter().zip(c.rsp) {
                r.set(name, v);
            }
            r.set("req_tot", c.req_tot);
        }
        r.set("mode", mode(self.http));
        r
    }
}

impl Row {
    /// Client and server aborts (backends and servers).
    fn aborts(&mut self, c: &Snapshot) -> &mut Row {
        self.set("cli_abrt", c.cli_abort)
            .set("srv_abrt", c.srv_abort)
    }

    /// Features ringproxy does not have: a true 0.
    fn zeros(&mut self, names: &[&str]) -> &mut Row {
        for name in names {
            self.set(name, 0);
        }
        self
    }
}

/// Compression columns (HAProxy fills them for frontends and backends).
const COMP: [&str; 4] = ["comp_in", "comp_out", "comp_byp", "comp_rsp"];
/// Cache columns (HTTP frontends and backends).
const CACHE: [&str; 2] = ["cache_lookups", "cache_hits"];

/// A frontend's `show stat` data.
#[derive(Debug, Clone)]
pub struct FeStat {
    pub name: String,
    pub iid: u32,
    pub http: bool,
    pub c: Snapshot,
    /// Client connections counted against the frontend's limit now.
    pub scur: u64,
    /// The frontend's `maxconn` (the global one when it has none).
    pub slim: u64,
}

/// The `FRONTEND` row (HAProxy's `stats_fill_fe_stats`).
pub fn fe_row(f: &FeStat) -> Row {
    let mut r = Common {
        pxname: &f.name,
        svname: "FRONTEND",
        iid: f.iid,
        sid: 0,
        kind: 0,
        http: f.http,
        c: &f.c,
        scur: f.scur,
    }
    .row();
    r.set("slim", f.slim);
    r.set("dreq", f.c.denied_req).set("dresp", f.c.denied_resp);
    r.set("dcon", f.c.denied_conn).set("dses", f.c.denied_sess);
    r.set("ereq", f.c.err_req).set("status", "OPEN");
    r.set("rate_lim", 0);
    r.set("conn_rate", f.c.conn_rate)
        .set("conn_rate_max", f.c.conn_rate_max);
    if f.http {
        r.set("req_rate", f.c.req_rate)
            .set("req_rate_max", f.c.req_rate_max);
        r.zeros(&CACHE);
        r.set("intercepted", f.c.intercepted);
    }
    // Counted in TCP mode too (HAProxy's `cum_req` of the frontend).
    r.set("req_tot", f.c.req_tot);
    r.zeros(&COMP);
    r.set("conn_tot", f.c.conn_tot);
    r
}

/// A server's `show stat` data.
#[derive(Debug, Clone)]
pub struct SvStat {
    pub backend: String,
    pub name: String,
    pub iid: u32,
    /// HAProxy's `puid`.
    pub sid: u32,
    pub http: bool,
    pub c: Snapshot,
    /// Connections in use to it now (what `maxconn` limits).
    pub scur: u64,
    pub maxconn: u32,
    /// Effective weight (0 while draining).
    pub weight: u32,
    pub uweight: u32,
    pub backup: bool,
    pub admin: Admin,
    /// Its health as the checker reports it (`check::snapshot_of`); its
    /// `status` is printed as is.
    pub check: CheckSnapshot,
    /// `rise` and `fall` of its `check` settings.
    pub rise: u32,
    pub fall: u32,
    pub addr: SocketAddr,
    /// `pool-max-conn` when limited.
    pub pool_max_conn: Option<u32>,
    /// Seconds since its last operational or administrative change.
    pub lastchg: u64,
}

/// HAProxy's `HCHK_STATUS_*` number of a check status (`show servers
/// state`'s `srv_check_status`).
pub fn hchk_number(s: CheckStatus) -> u32 {
    match s {
        CheckStatus::Ini => 1,
        CheckStatus::SockErr => 5,
        CheckStatus::L4Ok => 6,
        CheckStatus::L4Tout => 7,
        CheckStatus::L4Con => 8,
        CheckStatus::L7Tout => 12,
        CheckStatus::L7Rsp => 13,
        CheckStatus::L7Ok => 15,
        CheckStatus::L7Sts => 17,
    }
}

/// HAProxy's `CHK_ST_ENABLED`: a check is configured and not disabled
/// (`disable health`).
fn checks_enabled(c: &CheckSnapshot) -> bool {
    c.configured && c.enabled
}

/// A server row (HAProxy 2.6's `stats_fill_sv_stats`). The check columns
/// follow HAProxy's conditions: `chkfail`, `chkdown`, `downtime` while
/// checks are enabled; `check_*` and `last_chk` while they are enabled and
/// not paused by maintenance; `check_code` for layer 7 results only;
/// `check_duration` once a check finished. `hanafail` stays empty
/// (ringproxy has no `observe`).
/// `qtime`, `ctime`, `rtime`, `ttime`: averages (ms) over the last 1024
/// HTTP transactions a server answered (0 in TCP mode, as HAProxy).
fn times(r: &mut Row, c: &Snapshot) {
    r.set("qtime", c.qtime).set("ctime", c.ctime);
    r.set("rtime", c.rtime).set("ttime", c.ttime);
}

pub fn sv_row(s: &SvStat) -> Row {
    let mut r = Common {
        pxname: &s.backend,
        svname: &s.name,
        iid: s.iid,
        sid: s.sid,
        kind: 2,
        http: s.http,
        c: &s.c,
        scur: s.scur,
    }
    .row();
    times(&mut r, &s.c);
    let chk = &s.check;
    r.set("qcur", s.c.queue_cur).set("qmax", s.c.queue_max);
    if s.maxconn > 0 {
        r.set("slim", s.maxconn);
    }
    r.set("dresp", s.c.denied_resp).set("econ", s.c.err_conn);
    r.set("eresp", s.c.err_resp).set("wretr", s.c.retries);
    r.set("wredis", s.c.redispatches).set("status", &chk.status);
    r.set("weight", s.weight);
    r.set("act", u8::from(!s.backup))
        .set("bck", u8::from(s.backup));
    let enabled = checks_enabled(chk);
    if enabled {
        r.set("chkfail", chk.chkfail).set("chkdown", chk.chkdown);
        r.set("downtime", chk.downtime.as_secs());
    }
    r.set("lastchg", s.lastchg);
    r.set("lbtot", s.c.lb_total);
    if enabled && s.admin != Admin::Maint {
        let status = chk.check_status;
        r.set("check_status", status.map_or("", CheckStatus::name));
        if let Some(code) = chk
            .check_code
            .filter(|_| status.is_some_and(|st| st.shows_code()))
        {
            r.set("check_code", code);
        }
        if let Some(d) = chk
            .check_duration
            .filter(|_| status.is_some_and(|st| st != CheckStatus::Ini))
        {
            r.set("check_duration", d.as_millis());
        }
        r.set("check_desc", status.map_or("", |st| st.description()));
        r.set("last_chk", &chk.check_desc);
        r.set("check_rise", s.rise).set("check_fall", s.fall);
        r.set("check_health", chk.health);
    }
    r.aborts(&s.c);
    r.set("addr", s.addr);
    if let Some(n) = s.pool_max_conn {
        r.set("src_ilim", n);
    }
    r.set("uweight", s.uweight);
    r
}

/// A backend's `show stat` data.
#[derive(Debug, Clone)]
pub struct BeStat {
    pub name: String,
    pub iid: u32,
    pub http: bool,
    pub c: Snapshot,
    /// Streams waiting in its queues now.
    pub qcur: u64,
    /// HAProxy's `fullconn` default: a tenth of the `maxconn` of the
    /// frontends that can use it.
    pub slim: u64,
    /// Usable servers exist (or it has none): `UP`, else `DOWN`.
    pub up: bool,
    /// `(up, total)` servers, shown with `no-maint`/`up`.
    pub counts: Option<(usize, usize)>,
    /// Sum of the effective weights of the servers load balancing uses now.
    pub weight: u32,
    pub uweight: u32,
    /// Usable active and backup servers.
    pub act: usize,
    pub bck: usize,
    pub algo: &'static str,
}

/// The `BACKEND` row (HAProxy's `stats_fill_be_stats`).
pub fn be_row(b: &BeStat) -> Row {
    let mut r = Common {
        pxname: &b.name,
        svname: "BACKEND",
        iid: b.iid,
        sid: 0,
        kind: 1,
        http: b.http,
        c: &b.c,
        scur: b.c.cur,
    }
    .row();
    r.set("qcur", b.qcur).set("qmax", b.c.queue_max.max(b.qcur));
    times(&mut r, &b.c);
    r.set("slim", b.slim);
    r.set("dreq", b.c.denied_req).set("dresp", b.c.denied_resp);
    r.set("econ", b.c.err_conn).set("eresp", b.c.err_resp);
    r.set("wretr", b.c.retries).set("wredis", b.c.redispatches);
    let mut status = String::from(if b.up { "UP" } else { "DOWN" });
    if let Some((up, total)) = b.counts {
        let _ = write!(status, " ({up}/{total})");
    }
    r.set("status", status).set("weight", b.weight);
    r.set("act", b.act).set("bck", b.bck);
    r.set("lbtot", b.c.lb_total);
    if b.http {
        r.zeros(&CACHE);
    }
    r.aborts(&b.c).zeros(&COMP);
    r.set("algo", b.algo);
    r.set("uweight", b.uweight);
    r
}

/// HAProxy's `show servers state` header (format version 1).
pub const SERVERS_STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state \
srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
srv_agent_addr srv_agent_port\n";

/// One server for `show servers state`.
#[derive(Debug, Clone)]
pub struct SrvState {
    pub be_id: u32,
    pub be_name: String,
    /// HAProxy's `puid`.
    pub srv_id: u32,
    pub srv_name: String,
    pub addr: SocketAddr,
    pub admin: Admin,
    /// The server's configuration line said `disabled` (HAProxy's CMAINT;
    /// other maintenance, such as a dynamic server's, is FMAINT).
    pub cfg_disabled: bool,
    pub uweight: u32,
    pub iweight: u32,
    /// Seconds since its last operational or administrative change.
    pub since_change: u64,
    /// Its health as the checker reports it.
    pub check: CheckSnapshot,
    /// `rise` of its `check` settings (2 without): HAProxy's `check.health`
    /// of a server without checks.
    pub rise: u32,
    /// `port` of the check when set.
    pub check_port: Option<u16>,
    pub check_addr: Option<IpAddr>,
}

/// HAProxy's numbers: SRV_ST_* (0 stopped, 2 running), SRV_ADMF_* (0x01
/// forced maintenance, 0x04 configured maintenance, 0x08 forced drain),
/// HCHK_STATUS_* (`hchk_number`; 1, INI, for a server without check, as
/// HAProxy initializes every check), CHK_RES_* (0 unknown, 2 failed, 3
/// passed), `check.health`, CHK_ST_* (0x02 configured, 0x04 enabled, 0x08
/// paused by maintenance).
pub fn servers_state_row(s: &SrvState) -> String {
    let c = &s.check;
    let op = if s.admin == Admin::Maint || !c.up {
        0
    } else {
        2
    };
    let admin = match s.admin {
        Admin::Ready => 0,
        Admin::Drain => 0x08,
        Admin::Maint if s.cfg_disabled => 0x04,
        Admin::Maint => 0x01,
    };
    let status = c.check_status.filter(|_| c.configured);
    let result = match status {
        None | Some(CheckStatus::Ini) => 0,
        Some(st) if st.passed() => 3,
        Some(_) => 2,
    };
    let health = if c.configured {
        c.health
    } else {
        u64::from(s.rise)
    };
    let mut state = 0;
    if c.configured {
        state |= 0x02;
    }
    if checks_enabled(c) {
        state |= 0x04;
        if s.admin == Admin::Maint {
            state |= 0x08;
        }
    }
    let check_addr = s.check_addr.map_or("-".to_string(), |a| a.to_string());
    format!(
        "{} {} {} {} {} {op} {admin} {} {} {} {} {result} {health} {state} 0 0 0 - {} - 0 {} {check_addr} - 0\n",
        s.be_id,
        s.be_name,
        s.srv_id,
        s.srv_name,
        s.addr.ip(),
        s.uweight,
        s.iweight,
        s.since_change,
        status.map_or(1, hchk_number),
        s.addr.port(),
        s.check_port.unwrap_or(0),
    )
}

/// Everything `show info` prints.
#[derive(Debug, Clone)]
pub struct Info {
    pub version: &'static str,
    pub nbthread: usize,
    pub pid: u32,
    pub uptime: Duration,
    pub start_time_sec: u64,
    pub ulimit_n: u64,
    pub maxconn: u64,
    pub curr_conns: u64,
    pub cum_conns: u64,
    pub cum_req: u64,
    pub node: String,
    pub listeners: usize,
    pub total_bytes_out: u64,
    /// Reloads applied and refused (ringproxy's own lines).
    pub reloads: u64,
    pub failed_reloads: u64,
}

/// `show info` in HAProxy 2.6's field order, measured fields only.
pub fn info(i: &Info) -> String {
    let up = i.uptime.as_secs();
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up % 86400) / 3600,
        (up % 3600) / 60,
        up % 60
    );
    let lines: [(&str, String); 41] = [
        ("Name", "ringproxy".into()),
        ("Version", i.version.into()),
        ("Nbthread", i.nbthread.to_string()),
        ("Nbproc", "1".into()),
        ("Process_num", "1".into()),
        ("Pid", i.pid.to_string()),
        ("Uptime", uptime),
        ("Uptime_sec", up.to_string()),
        ("Memmax_MB", "0".into()),
        ("Ulimit-n", i.ulimit_n.to_string()),
        ("Maxsock", i.ulimit_n.to_string()),
        ("Maxconn", i.maxconn.to_string()),
        ("Hard_maxconn", i.maxconn.to_string()),
        ("CurrConns", i.curr_conns.to_string()),
        ("CumConns", i.cum_conns.to_string()),
        ("CumReq", i.cum_req.to_string()),
        ("Maxpipes", "0".into()),
        ("PipesUsed", "0".into()),
        ("PipesFree", "0".into()),
        ("ConnRateLimit", "0".into()),
        ("SessRateLimit", "0".into()),
        ("CompressBpsIn", "0".into()),
        ("CompressBpsOut", "0".into()),
        ("CompressBpsRateLim", "0".into()),
        ("node", i.node.clone()),
        ("Stopping", "0".into()),
        ("Listeners", i.listeners.to_string()),
        ("ActivePeers", "0".into()),
        ("ConnectedPeers", "0".into()),
        ("BusyPolling", "0".into()),
        ("FailedResolutions", "0".into()),
        ("TotalBytesOut", i.total_bytes_out.to_string()),
        ("TotalSplicedBytesOut", "0".into()),
        ("DebugCommandsIssued", "0".into()),
        ("CumRecvLogs", "0".into()),
        ("Build info", i.version.into()),
        ("Memmax_bytes", "0".into()),
        ("Start_time_sec", i.start_time_sec.to_string()),
        ("Tainted", "0".into()),
        // Not HAProxy's (its master process counts reloads): ours, after
        // every line HAProxy prints.
        ("Reloads", i.reloads.to_string()),
        ("FailedReloads", i.failed_reloads.to_string()),
    ];
    let mut s = String::new();
    for (k, v) in lines {
        let _ = writeln!(s, "{k}: {v}");
    }
    s
}

/// HAProxy's `human_time`: at most two units among d, h, m, s (`0s` for
/// zero).
pub fn human_time(d: Duration) -> String {
    let t = d.as_secs();
    if t == 0 {
        return "0s".to_string();
    }
    let mut s = String::new();
    let mut left = 2;
    if t >= 86400 {
        let _ = write!(s, "{}d", t / 86400);
        left -= 1;
    }
    if left > 0 && t % 86400 / 3600 > 0 {
        let _ = write!(s, "{}h", t % 86400 / 3600);
        left -= 1;
    }
    if left > 0 && t % 3600 / 60 > 0 {
        let _ = write!(s, "{}m", t % 3600 / 60);
        left -= 1;
    }
    if left > 0 && t % 60 > 0 {
        let _ = write!(s, "{}s", t % 60);
    }
    s
}

/// One `show sess` line with names resolved: HAProxy's fields in its order,
/// those ringproxy has (`proto src fe be srv age calls exp`).
pub fn sess_line(row: &crate::api::SessionRow, fe: &str, be: Option<&str>) -> String {
    let (proto, src) = match row.src {
        Some(a @ SocketAddr::V4(_)) => ("tcpv4", a.to_string()),
        Some(SocketAddr::V6(a)) => ("tcpv6", format!("{}:{}", a.ip(), a.port())),
        None => ("?", "?".to_string()),
    };
    format!(
        "0x{:x}: proto={proto} src={src} fe={fe} be={} srv={} age={} calls={} exp={}\n",
        row.id,
        be.unwrap_or("<NONE>"),
        row.server.as_deref().unwrap_or("<none>"),
        human_time(row.age),
        row.calls,
        row.expires_in.map(human_time).unwrap_or_default(),
    )
}
