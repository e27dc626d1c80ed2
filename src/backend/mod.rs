//! Backends and servers.
//!
//! A server exists once per process (`ServerShared`: configuration and the
//! few process-wide counters HAProxy also keeps as atomics, such as the
//! connections in use that `maxconn` and `leastconn` need) and once per shard
//! (`LocalServer` in that shard's `ServerTable`: what refers to it from that
//! shard). Shards never lock to pick a server: each has its own load
//! balancing state and queue, and reads the shared atomics.

pub mod lb;
pub mod pool;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::config::{self, ProxyVersion};
use crate::shard::ring::SockAddr;
use crate::shard::token::Key;
use lb::{Lb, LbServer, PickCtx};

/// Administrative state (HAProxy's READY / DRAIN / MAINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

pub struct ServerShared {
    pub name: String,
    pub addr: SocketAddr,
    /// Where connect() reads the address from while the kernel connects.
    pub sockaddr: SockAddr,
    pub weight: AtomicU32,
    /// 0: unlimited.
    pub maxconn: AtomicU32,
    pub send_proxy: Option<ProxyVersion>,
    pub backup: bool,
    admin: AtomicU8,
    /// Connections currently in use to this server, process-wide.
    pub cur_conns: AtomicU32,
    /// Health as the checks see it (always up without `check`).
    pub check: crate::check::CheckShared,
    pub counters: crate::stats::Counters,
}

impl std::fmt::Debug for ServerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerShared")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerShared {
    pub fn new(cfg: &config::Server) -> ServerShared {
        ServerShared {
            name: cfg.name.clone(),
            addr: cfg.addr,
            sockaddr: SockAddr::new(cfg.addr),
            weight: AtomicU32::new(cfg.weight),
            maxconn: AtomicU32::new(cfg.maxconn.unwrap_or(0)),
            send_proxy: cfg.send_proxy,
            backup: cfg.backup,
            admin: AtomicU8::new(if cfg.disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            cur_conns: AtomicU32::new(0),
            check: crate::check::CheckShared::new(),
            counters: crate::stats::Counters::default(),
        }
    }

    pub fn admin(&self) -> Admin {
        match self.admin.load(Ordering::Relaxed) {
            0 => Admin::Ready,
            1 => Admin::Drain,
            _ => Admin::Maint,
        }
    }

    pub fn set_admin(&self, a: Admin) {
        self.admin.store(a as u8, Ordering::Relaxed);
    }

    /// Usable for new load-balanced traffic: ready, up, with a non-zero
    /// weight.
    pub fn usable(&self) -> bool {
        self.admin() == Admin::Ready
            && self.check.is_up()
            && self.weight.load(Ordering::Relaxed) > 0
    }

    pub fn is_full(&self) -> bool {
        let max = self.maxconn.load(Ordering::Relaxed);
        max != 0 && self.cur_conns.load(Ordering::Relaxed) >= max
    }

    /// Takes one connection slot if `maxconn` allows it.
    pub fn try_acquire(&self) -> bool {
        let max = self.maxconn.load(Ordering::Relaxed);
        if max == 0 {
            self.cur_conns.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.cur_conns
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
                (c < max).then_some(c + 1)
            })
            .is_ok()
    }

    pub fn release(&self) {
        self.cur_conns.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct BackendShared {
    pub cfg: config::Backend,
    pub servers: Vec<Arc<ServerShared>>,
    /// Streams waiting in this backend's queues, all shards together.
    pub queued: AtomicU32,
    /// Bit i set: shard i has streams in its queue for this backend.
    pub queued_shards: AtomicU64,
    pub counters: crate::stats::Counters,
}

impl BackendShared {
    pub fn new(cfg: &config::Backend) -> BackendShared {
        BackendShared {
            cfg: cfg.clone(),
            servers: cfg
                .servers
                .iter()
                .map(|s| Arc::new(ServerShared::new(s)))
                .collect(),
            queued: AtomicU32::new(0),
            queued_shards: AtomicU64::new(0),
            counters: crate::stats::Counters::default(),
        }
    }

    /// The servers that exist now, each with its slot (its `sid` in the
    /// runtime API). The control plane reads them through here only: the
    /// list changes at run time (`add server`, `del server`).
    pub fn servers_snapshot(&self) -> Vec<(usize, Arc<ServerShared>)> {
        self.servers.iter().cloned().enumerate().collect()
    }
}

/// What picking a server for a stream gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Server index, with its connection slot already taken.
    Server(usize),
    /// Usable servers exist but all are at `maxconn`: wait in the queue.
    Queue,
    /// No usable server at all.
    NoServer,
}

/// What one shard knows about one server: everything on this shard that
/// refers to it (the deletion protocol asks every shard for these).
#[derive(Debug, Default)]
pub struct LocalServer {
    /// Streams of this shard currently assigned to the server.
    pub streams: u32,
    /// Connections to it in use by a stream.
    pub used_conns: u32,
    /// Idle pooled connections to it.
    pub pool: pool::ServerPool,
    /// Session-owned private connections to it (seed 000), idle or in use.
    pub sess_conns: Vec<pool::SessConn>,
}

/// One backend on one shard.
pub struct LocalBackend {
    lb: Lb,
    pub servers: Vec<LocalServer>,
    /// Streams waiting for a server slot, oldest first.
    pub queue: VecDeque<Key>,
    scratch: Vec<LbServer>,
}

impl LocalBackend {
    pub fn new(shared: &BackendShared, seed: u64) -> LocalBackend {
        let n = shared.servers.len();
        LocalBackend {
            lb: Lb::new(&shared.cfg.balance, n, seed),
            servers: (0..n).map(|_| LocalServer::default()).collect(),
            queue: VecDeque::new(),
            scratch: Vec::with_capacity(n),
        }
    }

    /// Chooses a server as HAProxy does: among usable active servers; when
    /// none is usable, among backups (the first usable one, or all of them
    /// with `option allbackups`). A chosen server's slot is taken before
    /// returning. `avoid` is a server to skip if another one is eligible.
    pub fn pick(
        &mut self,
        shared: &BackendShared,
        src: Option<IpAddr>,
        avoid: Option<usize>,
        key: Option<u32>,
    ) -> Pick {
        let any_active = shared.servers.iter().any(|s| !s.backup && s.usable());
        let mut first_backup_taken = false;
        self.scratch.clear();
        let mut in_tier = 0;
        for s in &shared.servers {
            let tier = if any_active {
                !s.backup
            } else if s.backup && s.usable() && (shared.cfg.allbackups || !first_backup_taken) {
                first_backup_taken = true;
                true
            } else {
                false
            };
            let usable = tier && s.usable();
            if usable {
                in_tier += 1;
            }
            self.scratch.push(LbServer {
                weight: s.weight.load(Ordering::Relaxed),
                eligible: usable && !s.is_full(),
                load: s.cur_conns.load(Ordering::Relaxed),
            });
        }
        if in_tier == 0 {
            return Pick::NoServer;
        }
        let ctx = PickCtx { src, avoid, key };
        // A server may fill up between the scan and the acquisition (another
        // shard took its last slot): mark it and pick again.
        for _ in 0..shared.servers.len() {
            let Some(i) = self.lb.pick(&self.scratch, &ctx) else {
                return Pick::Queue;
            };
            if shared.servers[i].try_acquire() {
                return Pick::Server(i);
            }
            self.scratch[i].eligible = false;
        }
        Pick::Queue
    }
}

/// Every backend as one shard sees it, indexed like `Config::backends`.
pub struct ServerTable {
    pub backends: Vec<LocalBackend>,
}

impl ServerTable {
    pub fn new(shared: &[Arc<BackendShared>], shard: usize) -> ServerTable {
        ServerTable {
            backends: shared
                .iter()
                // The shard index as seed: shard 0 starts round robin at the
                // first server (as HAProxy does), other shards start further
                // along, so shards do not all hit the same server first.
                .map(|b| LocalBackend::new(b, shard as u64))
                .collect(),
        }
    }
}
