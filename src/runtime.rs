//! Process-wide state built once from the configuration and shared by every
//! shard through an `Arc`: the configuration itself, backends and servers
//! (their shared halves), and the connection limits HAProxy also keeps as
//! process-wide counters (`maxconn` in global and per frontend).
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
    /// 0: unlimited.
    pub max: u32,
    pub cur: AtomicU32,
    pub paused_shards: AtomicU64,
}

impl Limit {
    pub fn new(max: u32) -> Limit {
        Limit {
            max,
            cur: AtomicU32::new(0),
            paused_shards: AtomicU64::new(0),
        }
    }

    pub fn try_acquire(&self) -> bool {
        if self.max == 0 {
            self.cur.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.cur
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
                (c < self.max).then_some(c + 1)
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

pub struct FrontendShared {
    pub limit: Limit,
    /// Something configured for this frontend can read the client's
    /// addresses in HTTP mode (rules, conditional switching, forwardfor,
    /// logging): only then are they looked up (two syscalls a session).
    pub needs_addrs: bool,
    pub counters: crate::stats::Counters,
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

pub struct Runtime {
    pub config: Config,
    pub shards: usize,
    pub global: Limit,
    pub frontends: Vec<FrontendShared>,
    pub backends: Vec<Arc<BackendShared>>,
    /// Process-wide counters (`show info`: CumConns, CumReq, ...).
    pub counters: crate::stats::Counters,
    /// When the process started (`show info`: Uptime).
    pub started: std::time::SystemTime,
}

impl Runtime {
    pub fn new(config: Config, shards: usize, global_maxconn: u32) -> Runtime {
        let frontends = config
            .frontends
            .iter()
            .map(|f| FrontendShared {
                limit: Limit::new(f.maxconn.unwrap_or(0)),
                needs_addrs: needs_addrs(&config, f),
                counters: crate::stats::Counters::default(),
            })
            .collect();
        let backends = config
            .backends
            .iter()
            .map(|b| Arc::new(BackendShared::new(b)))
            .collect();
        Runtime {
            config,
            shards,
            global: Limit::new(global_maxconn),
            frontends,
            backends,
            counters: crate::stats::Counters::default(),
            started: std::time::SystemTime::now(),
        }
    }
}
