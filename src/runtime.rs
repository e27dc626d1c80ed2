//! A `Runtime` is one *snapshot*: a configuration and the shared state it
//! is read with (backends and servers' shared halves, the connection limits
//! HAProxy keeps process-wide: `maxconn` in global and per frontend).
//! Shards, sessions and streams hold the snapshot they started with; a
//! reload builds the next one with `Runtime::reloaded`, which keeps every
//! counter, limit and backend of the slots that already existed (see
//! `config::reload`), so a proxy's state outlives the snapshots.
//!
//! Only atomics here, touched once per connection (never per chunk); what
//! changes per request lives in the shards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::backend::BackendShared;
use crate::config::Config;

/// A connection limit with its pause bookkeeping: which shards stopped
/// accepting because of it and must be told when a slot frees.
pub struct Limit {
    /// 0: unlimited (a reload may change a frontend's).
    max: AtomicU32,
    pub cur: AtomicU32,
    pub paused_shards: AtomicU64,
}

impl Limit {
    pub fn new(max: u32) -> Limit {
        Limit {
            max: AtomicU32::new(max),
            cur: AtomicU32::new(0),
            paused_shards: AtomicU64::new(0),
        }
    }

    pub fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    pub fn set_max(&self, max: u32) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn try_acquire(&self) -> bool {
        let max = self.max();
        if max == 0 {
            self.cur.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.cur
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
                (c < max).then_some(c + 1)
            })
            .is_ok()
    }

    /// Releases a slot; returns the shards to tell that accepting may
    /// resume (bits cleared here, so each pause is answered once).
    pub fn release(&self) -> u64 {
        self.cur.fetch_sub(1, Ordering::AcqRel);
        if self.paused_shards.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.paused_shards.swap(0, Ordering::AcqRel)
    }

    pub fn mark_paused(&self, shard: usize) {
        self.paused_shards.fetch_or(1 << shard, Ordering::AcqRel);
    }
}

/// A frontend as a snapshot sees it; its limit and counters are shared by
/// every snapshot (the frontend's slot keeps them across reloads).
pub struct FrontendShared {
    pub limit: Arc<Limit>,
    /// Something configured for this frontend can read the client's
    /// addresses in HTTP mode (rules, conditional switching, forwardfor,
    /// logging): only then are they looked up (`getpeername`, plus
    /// `getsockname` when the bind is a wildcard, once a session).
    pub needs_addrs: bool,
    pub counters: Arc<crate::stats::Counters>,
}

fn needs_addrs(config: &Config, fe: &crate::config::Frontend) -> bool {
    let backends_can = fe
        .use_backends
        .iter()
        .map(|u| u.backend)
        .chain(fe.default_backend)
        .any(|b| {
            let be = &config.backends[b];
            be.forwardfor.is_some() || !be.http_request.is_empty() || !be.http_response.is_empty()
        });
    backends_can
        || fe.forwardfor.is_some()
        || !fe.http_request.is_empty()
        || !fe.http_response.is_empty()
        || fe.use_backends.iter().any(|u| u.cond.is_some())
        || (fe.log_format.is_some() && !fe.logs.is_empty())
}

/// Reloads so far (`show info`: Reloads, FailedReloads).
#[derive(Default)]
pub struct Reloads {
    pub applied: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Runtime {
    pub config: Config,
    pub shards: usize,
    /// 0 for the startup configuration, then one more per applied reload.
    pub generation: u64,
    pub global: Arc<Limit>,
    pub frontends: Vec<FrontendShared>,
    pub backends: Vec<Arc<BackendShared>>,
    /// Stick tables, indexed like `Config::tables`; shared by every shard.
    pub tables: Vec<Arc<crate::stick::StickTable>>,
    /// Process-wide counters (`show info`: CumConns, CumReq, ...).
    pub counters: Arc<crate::stats::Counters>,
    pub reloads: Arc<Reloads>,
    /// When the process started (`show info`: Uptime).
    pub started: std::time::SystemTime,
    /// Per-shard latency histograms of the backends (Prometheus exporter).
    pub latency: Arc<crate::stats::Latency>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    pub fn new(config: Config, shards: usize, global_maxconn: u32) -> Runtime {
        let frontends = config
            .frontends
            .iter()
            .map(|f| FrontendShared {
                limit: Arc::new(Limit::new(f.maxconn.unwrap_or(0))),
                needs_addrs: needs_addrs(&config, f),
                counters: Arc::default(),
            })
            .collect();
        let backends = config
            .backends
            .iter()
            .map(|b| Arc::new(BackendShared::new(b)))
            .collect();
        let tables = config
            .tables
            .iter()
            .map(|d| Arc::new(crate::stick::StickTable::new(d.clone())))
            .collect();
        Runtime {
            tables,
            config,
            shards,
            generation: 0,
            global: Arc::new(Limit::new(global_maxconn)),
            frontends,
            backends,
            counters: Arc::default(),
            reloads: Arc::default(),
            started: std::time::SystemTime::now(),
            latency: Arc::new(crate::stats::Latency::new(shards)),
        }
    }

    /// The next snapshot, for `config` renumbered onto this one's slots
    /// (`config::reload::renumber`): the frontends and backends of existing
    /// slots keep their limits, counters, servers and queues (a frontend's
    /// new `maxconn` applies to its limit); new slots start afresh. Server
    /// changes inside kept backends are the control plane's to make.
    pub fn reloaded(&self, config: Config) -> Runtime {
        let frontends = config
            .frontends
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (limit, counters) = match self.frontends.get(i) {
                    Some(old) => {
                        old.limit.set_max(f.maxconn.unwrap_or(0));
                        (old.limit.clone(), old.counters.clone())
                    }
                    None => (Arc::new(Limit::new(f.maxconn.unwrap_or(0))), Arc::default()),
                };
                FrontendShared {
                    limit,
                    needs_addrs: needs_addrs(&config, f),
                    counters,
                }
            })
            .collect();
        let backends = config
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| match self.backends.get(i) {
                Some(old) => old.clone(),
                None => Arc::new(BackendShared::new(b)),
            })
            .collect();
        // A table declared the same way keeps its entries (and the counts
        // of the sessions tracking them); a changed one starts empty.
        let tables = config
            .tables
            .iter()
            .map(|d| {
                self.tables
                    .iter()
                    .find(|t| t.def == *d)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(crate::stick::StickTable::new(d.clone())))
            })
            .collect();
        Runtime {
            tables,
            config,
            shards: self.shards,
            generation: self.generation + 1,
            global: self.global.clone(),
            frontends,
            backends,
            counters: self.counters.clone(),
            reloads: self.reloads.clone(),
            started: self.started,
            latency: self.latency.clone(),
        }
    }
}

/// The snapshot the control plane works with (runtime API, coordinator,
/// checker): the latest applied. Locked per command, never on the data
/// path.
pub struct Current(std::sync::Mutex<Arc<Runtime>>);

impl Current {
    pub fn new(rt: Arc<Runtime>) -> Current {
        Current(std::sync::Mutex::new(rt))
    }

    pub fn get(&self) -> Arc<Runtime> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, rt: Arc<Runtime>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = rt;
    }
}
