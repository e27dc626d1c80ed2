//! Reading the running state for the API: the proxy list with HAProxy's
//! numeric ids, name lookups, and the snapshot data `format` prints. Reads
//! `Runtime` only (configuration, each server's `ServerShared` with its own
//! configuration and ids, the checker's snapshots, shared atomics and
//! counters): the API keeps no state of its own about servers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::format::{BeStat, FeStat, Info, SrvState, SvStat};
use super::ops::ServerId;
use crate::backend::{Admin, ServerShared};
use crate::check::{self, CheckSnapshot};
use crate::config::{self, Balance, Config, Mode};
use crate::runtime::Runtime;

/// A proxy as HAProxy numbers it: a `listen` is one proxy with both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub name: String,
    /// HAProxy's `iid`/`be_id`: 1, 2, ... in declaration order.
    pub iid: u32,
    pub fe: Option<usize>,
    pub be: Option<usize>,
}

/// Every proxy in declaration order (HAProxy's `iid`, from the
/// configuration); not the ones a reload retired.
pub fn proxies(cfg: &Config) -> Vec<Proxy> {
    let frontends = cfg.frontends.iter().enumerate();
    let frontends = frontends.filter(|(_, f)| !f.retired).map(|(i, f)| Proxy {
        name: f.name.clone(),
        iid: f.iid,
        fe: Some(i),
        be: f.own_backend,
    });
    let backends = cfg
        .backends
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.retired)
        .filter(|(i, _)| !cfg.frontends.iter().any(|f| f.own_backend == Some(*i)))
        .map(|(i, b)| Proxy {
            name: b.name.clone(),
            iid: b.iid,
            fe: None,
            be: Some(i),
        });
    let mut list: Vec<Proxy> = frontends.chain(backends).collect();
    list.sort_by_key(|p| p.iid);
    list
}

/// Why a `backend/server` name did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Backend,
    Server,
}

/// Finds a backend by name.
pub fn find_backend(rt: &Runtime, name: &str) -> Option<usize> {
    rt.config
        .backends
        .iter()
        .position(|b| b.name == name && !b.retired)
}

/// Finds a server by backend and server names (through the servers list
/// only: it changes at run time).
pub fn find_server(rt: &Runtime, backend: &str, server: &str) -> Result<ServerId, Missing> {
    let b = find_backend(rt, backend).ok_or(Missing::Backend)?;
    rt.backends[b]
        .servers_snapshot()
        .into_iter()
        .find(|(_, s)| s.name == server)
        .map(|(_, server)| ServerId { backend: b, server })
        .ok_or(Missing::Server)
}

/// Seconds since the server's last change, HAProxy's `lastchg`: the most
/// recent of its last administrative change (`ServerShared::last_change`)
/// and its last operational one (the checker's `lastchg`).
fn since_change(s: &ServerShared, chk: &CheckSnapshot) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let admin = now.saturating_sub(s.last_change.load(Ordering::Relaxed));
    admin.min(chk.lastchg.as_secs())
}

/// `rise` and `fall` of a server's `check` settings (HAProxy's defaults
/// without `check`).
fn rise_fall(s: &ServerShared) -> (u32, u32) {
    let c = s.cfg.check.unwrap_or_default();
    (c.rise, c.fall)
}

/// HAProxy's algorithm names.
pub fn algo(b: &Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::LeastConn => "leastconn",
        Balance::Source => "source",
        Balance::Random { .. } => "random",
        Balance::Uri { .. } => "uri",
        Balance::Hdr { .. } => "hdr",
    }
}

/// A frontend's effective `maxconn`: its own, else the process's.
fn fe_maxconn(rt: &Runtime, fe: usize) -> u64 {
    let own = rt.frontends[fe].limit.max();
    u64::from(if own > 0 { own } else { rt.global.max() })
}

pub fn fe_stat(rt: &Runtime, p: &Proxy, fe: usize) -> FeStat {
    let shared = &rt.frontends[fe];
    FeStat {
        name: p.name.clone(),
        iid: p.iid,
        http: rt.config.frontends[fe].mode == Mode::Http,
        c: shared.counters.snapshot(),
        scur: u64::from(shared.limit.cur.load(Ordering::Relaxed)),
        slim: fe_maxconn(rt, fe),
    }
}

/// The effective weight: 0 while draining (HAProxy zeroes eweight).
fn eweight(s: &ServerShared) -> u32 {
    if s.admin() == Admin::Drain {
        0
    } else {
        s.weight.load(Ordering::Relaxed)
    }
}

pub fn sv_stat(rt: &Runtime, p: &Proxy, id: &ServerId) -> SvStat {
    let cfg = &rt.config.backends[id.backend];
    let s = &id.server;
    let check = check::snapshot_of(s);
    let (rise, fall) = rise_fall(s);
    SvStat {
        backend: p.name.clone(),
        name: s.name.clone(),
        iid: p.iid,
        sid: s.puid,
        http: cfg.mode == Mode::Http,
        c: s.counters.snapshot(),
        scur: u64::from(s.cur_conns.load(Ordering::Relaxed)),
        maxconn: s.maxconn.load(Ordering::Relaxed),
        weight: eweight(s),
        uweight: s.weight.load(Ordering::Relaxed),
        backup: s.backup,
        admin: s.admin(),
        lastchg: since_change(s, &check),
        check,
        rise,
        fall,
        addr: s.addr,
        pool_max_conn: s.cfg.pool_max_conn,
    }
}

/// HAProxy's default `fullconn`: a tenth (rounded up) of the `maxconn` of
/// every frontend that can send to the backend, at least 1.
fn fullconn(rt: &Runtime, b: usize) -> u64 {
    let sum: u64 = rt
        .config
        .frontends
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.default_backend == Some(b)
                || f.own_backend == Some(b)
                || f.use_backends.iter().any(|u| u.backend == b)
        })
        .map(|(i, _)| fe_maxconn(rt, i))
        .sum();
    sum.div_ceil(10).max(1)
}

/// The usable servers load balancing draws from now (HAProxy's rule: the
/// active ones, else the first backup or all backups with `allbackups`).
fn lb_tier(
    cfg: &config::Backend,
    servers: &[(usize, Arc<ServerShared>)],
) -> Vec<Arc<ServerShared>> {
    let act: Vec<_> = servers
        .iter()
        .filter(|(_, s)| !s.backup && s.usable())
        .map(|(_, s)| s.clone())
        .collect();
    if !act.is_empty() {
        return act;
    }
    let mut bck = servers.iter().filter(|(_, s)| s.backup && s.usable());
    if cfg.allbackups {
        bck.map(|(_, s)| s.clone()).collect()
    } else {
        bck.next().map(|(_, s)| s.clone()).into_iter().collect()
    }
}

pub fn be_stat(rt: &Runtime, p: &Proxy, b: usize, counts: bool) -> BeStat {
    let be = &rt.backends[b];
    let cfg = &rt.config.backends[b];
    let servers = be.servers_snapshot();
    let tier = lb_tier(cfg, &servers);
    let weight: u32 = tier.iter().map(|s| eweight(s)).sum();
    let usable = check::usable_counts(be);
    let nbup = servers
        .iter()
        .filter(|(_, s)| s.admin() != Admin::Maint && s.check.is_up())
        .count();
    BeStat {
        name: p.name.clone(),
        iid: p.iid,
        http: cfg.mode == Mode::Http,
        c: be.counters.snapshot(),
        qcur: u64::from(be.queued.load(Ordering::Relaxed)),
        slim: fullconn(rt, b),
        up: weight > 0 || servers.is_empty(),
        counts: counts.then_some((nbup, servers.len())),
        weight,
        uweight: tier.iter().map(|s| s.weight.load(Ordering::Relaxed)).sum(),
        act: usable.active,
        bck: usable.backup,
        algo: algo(&cfg.balance),
    }
}

/// HAProxy's CMAINT: the server's line in the configuration says
/// `disabled`. A server from `add server` has no such line: its maintenance
/// is forced (HAProxy's FMAINT), whatever its own settings say.
fn disabled_by_config(cfg: &config::Backend, s: &ServerShared) -> bool {
    s.cfg.disabled
        && cfg
            .servers
            .iter()
            .any(|c| c.name == s.name && c.loc == s.cfg.loc)
}

pub fn srv_state(rt: &Runtime, p: &Proxy, id: &ServerId) -> SrvState {
    let s = &id.server;
    let check = check::snapshot_of(s);
    SrvState {
        be_id: p.iid,
        be_name: p.name.clone(),
        srv_id: s.puid,
        srv_name: s.name.clone(),
        addr: s.addr,
        admin: s.admin(),
        cfg_disabled: disabled_by_config(&rt.config.backends[id.backend], s),
        uweight: s.weight.load(Ordering::Relaxed),
        iweight: s.initial_weight.load(Ordering::Relaxed),
        since_change: since_change(s, &check),
        rise: rise_fall(s).0,
        check_port: s.cfg.check.and_then(|c| c.port),
        check_addr: s.cfg.check.and_then(|c| c.addr),
        check,
    }
}

/// The soft limit on open files (`Ulimit-n`).
fn nofile() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0)
}

fn hostname() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn info(rt: &Runtime) -> Info {
    let c = rt.counters.snapshot();
    let start = rt
        .started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Info {
        version: env!("CARGO_PKG_VERSION"),
        nbthread: rt.shards,
        pid: std::process::id(),
        uptime: SystemTime::now()
            .duration_since(rt.started)
            .unwrap_or_default(),
        start_time_sec: start,
        ulimit_n: nofile(),
        maxconn: u64::from(rt.global.max()),
        curr_conns: u64::from(rt.global.cur.load(Ordering::Relaxed)),
        cum_conns: c.conn_tot,
        cum_req: c.req_tot,
        node: hostname(),
        listeners: rt
            .config
            .frontends
            .iter()
            .map(|f| f.binds.len())
            .sum::<usize>()
            + rt.config.global.stats_sockets.len(),
        total_bytes_out: c.bytes_out,
        reloads: rt.reloads.applied.load(Ordering::Relaxed),
        failed_reloads: rt.reloads.failed.load(Ordering::Relaxed),
    }
}

/// Which rows `show stat` (and the stats page's `;csv`) prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFilter {
    /// Proxy id, -1: all.
    pub iid: i64,
    /// Type mask: 1 frontends, 2 backends, 4 servers; -1: all.
    pub types: i64,
    /// Server id, -1: all.
    pub sid: i64,
    /// `no-maint`: servers in maintenance are left out.
    pub hide_maint: bool,
    /// `up`: only servers that are up are shown.
    pub hide_down: bool,
}

impl StatFilter {
    /// Every row.
    pub const ALL: StatFilter = StatFilter {
        iid: -1,
        types: -1,
        sid: -1,
        hide_maint: false,
        hide_down: false,
    };
}

/// Whether a server passes the `no-maint` / `up` filters.
pub fn server_shown(f: &StatFilter, s: &ServerShared) -> bool {
    let maint = s.admin() == Admin::Maint;
    !((f.hide_maint && maint) || (f.hide_down && (maint || !s.check.is_up())))
}

/// `show stat`'s CSV (HAProxy's order: per proxy, its frontend, its
/// servers, its backend), header included.
pub fn stat_csv(rt: &Runtime, proxies: &[Proxy], f: &StatFilter) -> String {
    let wants = |bit: i64| f.types & bit != 0;
    let mut out = super::format::stat_header();
    for p in proxies
        .iter()
        .filter(|p| f.iid == -1 || i64::from(p.iid) == f.iid)
    {
        if let Some(fe) = p.fe.filter(|_| wants(1)) {
            out.push_str(&super::format::fe_row(&fe_stat(rt, p, fe)).csv());
        }
        let Some(b) = p.be else { continue };
        if wants(4) {
            for (_, server) in rt.backends[b].servers_snapshot() {
                if f.sid != -1 && i64::from(server.puid) != f.sid {
                    continue;
                }
                if !server_shown(f, &server) {
                    continue;
                }
                let id = ServerId { backend: b, server };
                out.push_str(&super::format::sv_row(&sv_stat(rt, p, &id)).csv());
            }
        }
        if wants(2) {
            let counts = f.hide_maint || f.hide_down;
            out.push_str(&super::format::be_row(&be_stat(rt, p, b, counts)).csv());
        }
    }
    out
}
