//! Reading the running state for the API: the proxy list with HAProxy's
//! numeric ids, name lookups, and the snapshot data `format` prints. Reads
//! `Runtime` (configuration, shared atomics, counters) only; what the
//! runtime does not hold (initial weights of added servers, when a server
//! last changed, whether its checks are enabled) the API remembers itself
//! in `Memory`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::format::{BeStat, CheckView, FeStat, Info, SrvState, SvStat};
use super::ops::ServerId;
use crate::backend::{Admin, BackendShared, ServerShared};
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

/// Merges two declaration-ordered file sequences into one file order.
fn file_order(a: &[Arc<str>], b: &[Arc<str>]) -> Vec<Arc<str>> {
    let dedup = |s: &[Arc<str>]| {
        let mut v: Vec<Arc<str>> = Vec::new();
        for f in s {
            if !v.contains(f) {
                v.push(f.clone());
            }
        }
        v
    };
    let (a, b) = (dedup(a), dedup(b));
    let (mut i, mut j) = (0, 0);
    let mut out: Vec<Arc<str>> = Vec::new();
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                j += 1;
                i += 1;
                x.clone()
            }
            (Some(x), Some(y)) if a[i..].contains(y) => {
                i += 1;
                x.clone()
            }
            (Some(_), Some(y)) => {
                j += 1;
                y.clone()
            }
            (Some(x), None) => {
                i += 1;
                x.clone()
            }
            (None, Some(y)) => {
                j += 1;
                y.clone()
            }
            (None, None) => break,
        };
        if !out.contains(&next) {
            out.push(next);
        }
    }
    out
}

/// Every proxy in declaration order, numbered from 1.
pub fn proxies(cfg: &Config) -> Vec<Proxy> {
    let fe_files: Vec<Arc<str>> = cfg.frontends.iter().map(|f| f.loc.file.clone()).collect();
    let be_files: Vec<Arc<str>> = cfg.backends.iter().map(|b| b.loc.file.clone()).collect();
    let order = file_order(&fe_files, &be_files);
    let rank = |loc: &config::Loc| {
        let f = order
            .iter()
            .position(|x| *x == loc.file)
            .unwrap_or(usize::MAX);
        (f, loc.line)
    };
    let mut list: Vec<((usize, u32), Proxy)> = Vec::new();
    for (i, f) in cfg.frontends.iter().enumerate() {
        let p = Proxy {
            name: f.name.clone(),
            iid: 0,
            fe: Some(i),
            be: f.own_backend,
        };
        list.push((rank(&f.loc), p));
    }
    let owned: Vec<usize> = cfg.frontends.iter().filter_map(|f| f.own_backend).collect();
    for (i, b) in cfg.backends.iter().enumerate() {
        if !owned.contains(&i) {
            let p = Proxy {
                name: b.name.clone(),
                iid: 0,
                fe: None,
                be: Some(i),
            };
            list.push((rank(&b.loc), p));
        }
    }
    list.sort_by_key(|(k, _)| *k);
    list.into_iter()
        .enumerate()
        .map(|(i, (_, mut p))| {
            p.iid = u32::try_from(i + 1).unwrap_or(u32::MAX);
            p
        })
        .collect()
}

/// Why a `backend/server` name did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Backend,
    Server,
}

/// Finds a backend by name.
pub fn find_backend(rt: &Runtime, name: &str) -> Option<usize> {
    rt.config.backends.iter().position(|b| b.name == name)
}

/// Finds a server by backend and server names (through the servers list
/// only: it changes at run time).
pub fn find_server(rt: &Runtime, backend: &str, server: &str) -> Result<ServerId, Missing> {
    let b = find_backend(rt, backend).ok_or(Missing::Backend)?;
    rt.backends[b]
        .servers_snapshot()
        .into_iter()
        .find(|(_, s)| s.name == server)
        .map(|(slot, server)| ServerId {
            backend: b,
            slot,
            server,
        })
        .ok_or(Missing::Server)
}

/// A key for a server that cannot be reused while the map holds it (the
/// `Arc` kept with the value keeps the address allocated).
fn key(s: &Arc<ServerShared>) -> usize {
    Arc::as_ptr(s) as usize
}

/// What the API knows about servers beyond `Runtime`.
pub struct Memory {
    /// Servers added through `add server`, by (backend, name).
    added: HashMap<(usize, String), config::Server>,
    /// When the API last changed a server's state.
    changed: HashMap<usize, (Arc<ServerShared>, Instant)>,
    /// Servers whose checks were enabled or disabled through the API.
    health: HashMap<usize, (Arc<ServerShared>, bool)>,
    started: Instant,
}

impl Memory {
    pub fn new() -> Memory {
        Memory {
            added: HashMap::new(),
            changed: HashMap::new(),
            health: HashMap::new(),
            started: Instant::now(),
        }
    }

    pub fn record_added(&mut self, backend: usize, cfg: config::Server) {
        self.added.insert((backend, cfg.name.clone()), cfg);
    }

    pub fn record_deleted(&mut self, id: &ServerId) {
        self.added.remove(&(id.backend, id.server.name.clone()));
        self.changed.remove(&key(&id.server));
        self.health.remove(&key(&id.server));
    }

    pub fn record_change(&mut self, s: &Arc<ServerShared>) {
        self.changed.insert(key(s), (s.clone(), Instant::now()));
    }

    pub fn record_health(&mut self, s: &Arc<ServerShared>, enabled: bool) {
        self.health.insert(key(s), (s.clone(), enabled));
    }

    /// Seconds since the server last changed through the API (since the
    /// API started when it never did).
    fn since_change(&self, s: &Arc<ServerShared>) -> u64 {
        let at = self.changed.get(&key(s)).map_or(self.started, |e| e.1);
        at.elapsed().as_secs()
    }

    /// The configuration of a server: as added through the API, else as
    /// written in the configuration file.
    pub fn server_cfg<'a>(
        &'a self,
        be: &'a BackendShared,
        b: usize,
        name: &str,
    ) -> Option<&'a config::Server> {
        self.added
            .get(&(b, name.to_string()))
            .or_else(|| be.cfg.servers.iter().find(|s| s.name == name))
    }

    /// A server's initial weight (HAProxy's `iweight`).
    pub fn iweight(&self, rt: &Runtime, id: &ServerId) -> u32 {
        let be = &rt.backends[id.backend];
        self.server_cfg(be, id.backend, &id.server.name)
            .map_or_else(|| id.server.weight.load(Ordering::Relaxed), |c| c.weight)
    }

    fn check(&self, be: &BackendShared, b: usize, s: &Arc<ServerShared>) -> Option<CheckView> {
        let c = self.server_cfg(be, b, &s.name)?.check?;
        let enabled = self.health.get(&key(s)).is_none_or(|e| e.1);
        Some(CheckView {
            rise: c.rise,
            fall: c.fall,
            enabled,
        })
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
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

/// Whether weights can change at run time (HAProxy's BE_LB_PROP_DYN): not
/// for the map-based hashes, whose table is built once.
pub fn dynamic_lb(b: &Balance) -> bool {
    matches!(
        b,
        Balance::RoundRobin | Balance::LeastConn | Balance::Random { .. }
    )
}

/// A frontend's effective `maxconn`: its own, else the process's.
fn fe_maxconn(rt: &Runtime, fe: usize) -> u64 {
    let own = rt.frontends[fe].limit.max;
    u64::from(if own > 0 { own } else { rt.global.max })
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

pub fn sv_stat(rt: &Runtime, mem: &Memory, p: &Proxy, id: &ServerId) -> SvStat {
    let be = &rt.backends[id.backend];
    let s = &id.server;
    let check = mem.check(be, id.backend, s);
    let up = s.check.is_up();
    SvStat {
        backend: p.name.clone(),
        name: s.name.clone(),
        iid: p.iid,
        sid: u32::try_from(id.slot + 1).unwrap_or(u32::MAX),
        http: be.cfg.mode == Mode::Http,
        c: s.counters.snapshot(),
        scur: u64::from(s.cur_conns.load(Ordering::Relaxed)),
        maxconn: s.maxconn.load(Ordering::Relaxed),
        status: super::format::server_status(s.admin(), up, check).to_string(),
        weight: eweight(s),
        uweight: s.weight.load(Ordering::Relaxed),
        backup: s.backup,
        check,
        up,
        addr: s.addr,
        pool_max_conn: mem
            .server_cfg(be, id.backend, &s.name)
            .and_then(|c| c.pool_max_conn),
        lastchg: mem.since_change(s),
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
fn lb_tier(be: &BackendShared, servers: &[(usize, Arc<ServerShared>)]) -> Vec<Arc<ServerShared>> {
    let act: Vec<_> = servers
        .iter()
        .filter(|(_, s)| !s.backup && s.usable())
        .map(|(_, s)| s.clone())
        .collect();
    if !act.is_empty() {
        return act;
    }
    let mut bck = servers.iter().filter(|(_, s)| s.backup && s.usable());
    if be.cfg.allbackups {
        bck.map(|(_, s)| s.clone()).collect()
    } else {
        bck.next().map(|(_, s)| s.clone()).into_iter().collect()
    }
}

pub fn be_stat(rt: &Runtime, p: &Proxy, b: usize, counts: bool) -> BeStat {
    let be = &rt.backends[b];
    let servers = be.servers_snapshot();
    let tier = lb_tier(be, &servers);
    let weight: u32 = tier.iter().map(|s| eweight(s)).sum();
    let usable = |backup: bool| {
        servers
            .iter()
            .filter(|(_, s)| s.backup == backup && s.usable())
            .count()
    };
    let nbup = servers
        .iter()
        .filter(|(_, s)| s.admin() != Admin::Maint && s.check.is_up())
        .count();
    BeStat {
        name: p.name.clone(),
        iid: p.iid,
        http: be.cfg.mode == Mode::Http,
        c: be.counters.snapshot(),
        qcur: u64::from(be.queued.load(Ordering::Relaxed)),
        slim: fullconn(rt, b),
        up: weight > 0 || servers.is_empty(),
        counts: counts.then_some((nbup, servers.len())),
        weight,
        uweight: tier.iter().map(|s| s.weight.load(Ordering::Relaxed)).sum(),
        act: usable(false),
        bck: usable(true),
        algo: algo(&be.cfg.balance),
    }
}

pub fn srv_state(rt: &Runtime, mem: &Memory, p: &Proxy, id: &ServerId) -> SrvState {
    let be = &rt.backends[id.backend];
    let s = &id.server;
    let cfg = mem.server_cfg(be, id.backend, &s.name);
    let check_cfg = cfg.and_then(|c| c.check);
    SrvState {
        be_id: p.iid,
        be_name: p.name.clone(),
        srv_id: u32::try_from(id.slot + 1).unwrap_or(u32::MAX),
        srv_name: s.name.clone(),
        addr: s.addr,
        admin: s.admin(),
        cfg_disabled: cfg.is_some_and(|c| c.disabled),
        up: s.check.is_up(),
        uweight: s.weight.load(Ordering::Relaxed),
        iweight: mem.iweight(rt, id),
        since_change: mem.since_change(s),
        check: mem.check(be, id.backend, s),
        check_port: check_cfg.and_then(|c| c.port),
        check_addr: check_cfg.and_then(|c| c.addr),
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
        maxconn: u64::from(rt.global.max),
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
    }
}
