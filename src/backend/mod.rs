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

/// A server's identity across shards: its slot in the backend's tables and
/// the generation of that slot. A slot freed by `del server` and reused by a
/// later `add server` gets a new generation, so a late message or
/// connection about the old server never touches the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerId {
    pub slot: u32,
    pub generation: u32,
}

pub struct ServerShared {
    pub name: String,
    pub addr: SocketAddr,
    /// The server line (or `add server` arguments) it was made from.
    pub cfg: config::Server,
    pub id: ServerId,
    /// HAProxy's numeric server id (`sid` in `show stat`), unique in the
    /// backend and never reused while the process lives.
    pub puid: u32,
    /// Where connect() reads the address from while the kernel connects.
    pub sockaddr: SockAddr,
    pub weight: AtomicU32,
    /// The weight from the configuration (`get weight`: "initial"); a
    /// reload that changes the server's line changes it.
    pub initial_weight: AtomicU32,
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
    /// When the server last changed state (unix seconds), for `lastchg`.
    pub last_change: AtomicU64,
}

impl std::fmt::Debug for ServerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerShared")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ServerShared {
    pub fn new(cfg: &config::Server, id: ServerId, puid: u32) -> ServerShared {
        ServerShared {
            name: cfg.name.clone(),
            addr: cfg.addr,
            cfg: cfg.clone(),
            id,
            puid,
            sockaddr: SockAddr::new(cfg.addr),
            weight: AtomicU32::new(cfg.weight),
            initial_weight: AtomicU32::new(cfg.weight),
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
            last_change: AtomicU64::new(unix_now()),
        }
    }

    pub fn admin(&self) -> Admin {
        match self.admin.load(Ordering::Relaxed) {
            0 => Admin::Ready,
            1 => Admin::Drain,
            _ => Admin::Maint,
        }
    }

    /// Changes the administrative state; true when it changed.
    pub fn set_admin(&self, a: Admin) -> bool {
        let before = self.admin.swap(a as u8, Ordering::AcqRel);
        if before != a as u8 {
            self.last_change.store(unix_now(), Ordering::Relaxed);
        }
        before != a as u8
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

/// The control plane's list of a backend's servers: who occupies each slot
/// and the slot's current generation. Shards never read it; they keep their
/// own copy in their `ServerTable`, changed only by mesh messages.
#[derive(Debug, Default)]
pub struct Registry {
    pub slots: Vec<RegSlot>,
    /// Next `puid` to give out.
    pub next_puid: u32,
}

#[derive(Debug, Default)]
pub struct RegSlot {
    pub generation: u32,
    pub srv: Option<Arc<ServerShared>>,
    /// Removed by a reload, in maintenance until no shard refers to it:
    /// the slot stays taken but the server is no longer listed nor found
    /// by name (a server of the same name may already replace it).
    pub draining: bool,
}

impl Registry {
    /// The id the next server added would get: the first free slot (its
    /// generation bumped) or a new one.
    pub fn next_id(&self) -> ServerId {
        match self.slots.iter().position(|s| s.srv.is_none()) {
            Some(i) => ServerId {
                slot: i as u32,
                generation: self.slots[i].generation + 1,
            },
            None => ServerId {
                slot: self.slots.len() as u32,
                generation: 1,
            },
        }
    }

    /// Occupies the slot of `srv.id` (which must come from `next_id`).
    pub fn insert(&mut self, srv: Arc<ServerShared>) {
        let i = srv.id.slot as usize;
        if i == self.slots.len() {
            self.slots.push(RegSlot::default());
        }
        self.slots[i] = RegSlot {
            generation: srv.id.generation,
            srv: Some(srv),
            draining: false,
        };
    }

    /// Makes a server from `cfg` in the next free slot, with the next
    /// `puid`. Shards learn of it by message (`ServerAdd`, or a reload's
    /// commit).
    pub fn add(&mut self, cfg: &config::Server) -> Arc<ServerShared> {
        let id = self.next_id();
        let puid = self.next_puid;
        self.next_puid += 1;
        let srv = Arc::new(ServerShared::new(cfg, id, puid));
        self.insert(srv.clone());
        srv
    }

    /// Frees the slot of `id` if it still holds that server.
    pub fn remove(&mut self, id: ServerId) -> Option<Arc<ServerShared>> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.srv.take()
    }

    /// Marks the server of `id` as draining (see `RegSlot::draining`).
    pub fn set_draining(&mut self, id: ServerId) {
        if let Some(slot) = self.slots.get_mut(id.slot as usize)
            && slot.generation == id.generation
        {
            slot.draining = true;
        }
    }

    pub fn find(&self, name: &str) -> Option<&Arc<ServerShared>> {
        self.slots
            .iter()
            .filter(|s| !s.draining)
            .filter_map(|s| s.srv.as_ref())
            .find(|s| s.name == name)
    }
}

/// The state of a backend that outlives configuration snapshots (its
/// configuration is each snapshot's `config.backends[slot]`).
pub struct BackendShared {
    pub name: String,
    /// Servers as the control plane sees them (locked by the control
    /// plane only, never on the data path).
    pub registry: std::sync::Mutex<Registry>,
    /// Streams waiting in this backend's queue, all shards together.
    pub queued: AtomicU32,
    /// Bit i set: shard i has streams queued for this backend (in its
    /// queue or its servers').
    pub queued_shards: AtomicU64,
    pub counters: crate::stats::Counters,
}

impl BackendShared {
    pub fn new(cfg: &config::Backend) -> BackendShared {
        let mut reg = Registry::default();
        for (i, s) in cfg.servers.iter().enumerate() {
            let id = ServerId {
                slot: i as u32,
                generation: 1,
            };
            reg.insert(Arc::new(ServerShared::new(s, id, i as u32 + 1)));
        }
        reg.next_puid = cfg.servers.len() as u32 + 1;
        BackendShared {
            name: cfg.name.clone(),
            registry: std::sync::Mutex::new(reg),
            queued: AtomicU32::new(0),
            queued_shards: AtomicU64::new(0),
            counters: crate::stats::Counters::default(),
        }
    }

    /// The control plane's lock on the server list.
    pub fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The servers that exist now, each with its slot (the control plane
    /// lists servers through here only: the list changes at run time).
    pub fn servers_snapshot(&self) -> Vec<(usize, Arc<ServerShared>)> {
        self.registry()
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.draining)
            .filter_map(|(i, s)| s.srv.clone().map(|s| (i, s)))
            .collect()
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
    /// The server in this slot; None: a free slot.
    pub srv: Option<Arc<ServerShared>>,
    /// Streams of this shard currently assigned to the server.
    pub streams: u32,
    /// Connections to it in use by a stream.
    pub used_conns: u32,
    /// Idle pooled connections to it.
    pub pool: pool::ServerPool,
    /// Session-owned private connections to it (seed 000), idle or in use.
    pub sess_conns: Vec<pool::SessConn>,
    /// Streams of this shard waiting for this server in particular (its
    /// queue, HAProxy's `srv->queue`): a session bound to it by its private
    /// connection while it is at `maxconn`. Other streams wait in the
    /// backend's queue for any server.
    pub queue: VecDeque<Key>,
    /// Most connections in use at once since the last estimate.
    pub max_used: u32,
    /// Estimated connections this shard needs to the server (HAProxy's
    /// `est_need_conns`): idle ones beyond it are closed, not pooled.
    pub est_need: u32,
    /// When the estimate is next updated (shard ms): once per purge period.
    pub next_estimate: u64,
}

/// What refers to a server on one shard: the deletion protocol's answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerRefs {
    pub streams: u32,
    pub used_conns: u32,
    pub idle_conns: u32,
    pub sess_conns: u32,
    pub queued: u32,
}

impl ServerRefs {
    pub fn is_empty(&self) -> bool {
        *self == ServerRefs::default()
    }

    pub fn add(&mut self, o: &ServerRefs) {
        self.streams += o.streams;
        self.used_conns += o.used_conns;
        self.idle_conns += o.idle_conns;
        self.sess_conns += o.sess_conns;
        self.queued += o.queued;
    }
}

impl LocalServer {
    pub fn refs(&self) -> ServerRefs {
        ServerRefs {
            streams: self.streams,
            used_conns: self.used_conns,
            idle_conns: self.pool.len() as u32,
            sess_conns: self.sess_conns.len() as u32,
            queued: self.queue.len() as u32,
        }
    }

    /// One more connection in use.
    pub fn conn_used(&mut self) {
        self.used_conns += 1;
        self.max_used = self.max_used.max(self.used_conns);
    }

    /// Whether a connection that just became idle may join the pool: only
    /// while in-use plus idle connections stay within what the server was
    /// recently seen to need, as HAProxy's `srv_add_to_idle_list` does, so
    /// that connection-per-request clients under `http-reuse safe` (whose
    /// first request never takes a pooled connection) do not pile up idle
    /// connections.
    pub fn may_pool(&self) -> bool {
        self.used_conns + (self.pool.len() as u32) < self.max_used.max(self.est_need)
    }

    /// Periodic update of the estimate (HAProxy's formula, run at each
    /// purge): half-way to the recent peak, never below it; the peak
    /// restarts from what is in use now.
    pub fn update_estimate(&mut self) {
        self.est_need = ((self.est_need + self.max_used) / 2).max(self.max_used);
        self.max_used = self.used_conns;
    }

    /// Whether this slot holds server `id` (that generation of the slot).
    fn holds(&self, id: ServerId) -> bool {
        self.srv.as_ref().is_some_and(|s| s.id == id)
    }
}

/// One backend on one shard.
pub struct LocalBackend {
    lb: Lb,
    /// The algorithm `lb` runs (a reload may change it).
    balance: config::Balance,
    /// `option allbackups`.
    allbackups: bool,
    pub servers: Vec<LocalServer>,
    /// Streams waiting for a server slot, oldest first.
    pub queue: VecDeque<Key>,
    /// Streams of this shard waiting in one of the servers' own queues
    /// (`LocalServer::queue`), so that nothing scans them when none does.
    pub server_waiting: u32,
    scratch: Vec<LbServer>,
}

impl LocalBackend {
    pub fn new(shared: &BackendShared, cfg: &config::Backend, seed: u64) -> LocalBackend {
        let reg = shared.registry();
        let servers: Vec<LocalServer> = reg
            .slots
            .iter()
            .map(|s| LocalServer {
                srv: s.srv.clone(),
                ..LocalServer::default()
            })
            .collect();
        let n = servers.len();
        LocalBackend {
            lb: Lb::new(&cfg.balance, n, seed),
            balance: cfg.balance.clone(),
            allbackups: cfg.allbackups,
            servers,
            queue: VecDeque::new(),
            server_waiting: 0,
            scratch: Vec::with_capacity(n),
        }
    }

    /// Applies a reloaded configuration of this backend: a new algorithm
    /// starts afresh over the same server slots.
    pub fn reconfigure(&mut self, cfg: &config::Backend, seed: u64) {
        if cfg.balance != self.balance {
            self.lb = Lb::new(&cfg.balance, self.servers.len(), seed);
            self.balance = cfg.balance.clone();
        }
        self.allbackups = cfg.allbackups;
    }

    /// The server in slot `i`, if any.
    pub fn server(&self, i: usize) -> Option<&Arc<ServerShared>> {
        self.servers.get(i).and_then(|l| l.srv.as_ref())
    }

    /// The slot of server `id`, if it still holds that server (a late
    /// message or connection about a deleted server finds nothing, even
    /// when a newer server took the slot).
    pub fn slot(&self, id: ServerId) -> Option<&LocalServer> {
        self.servers.get(id.slot as usize).filter(|ls| ls.holds(id))
    }

    pub fn slot_mut(&mut self, id: ServerId) -> Option<&mut LocalServer> {
        self.servers
            .get_mut(id.slot as usize)
            .filter(|ls| ls.holds(id))
    }

    /// Puts a server added at run time into its slot on this shard.
    pub fn add_server(&mut self, srv: Arc<ServerShared>) {
        let i = srv.id.slot as usize;
        if i >= self.servers.len() {
            self.servers.resize_with(i + 1, LocalServer::default);
            self.lb.resize(self.servers.len());
        }
        let ls = &mut self.servers[i];
        debug_assert!(ls.srv.is_none() && ls.refs().is_empty());
        ls.srv = Some(srv);
    }

    /// Empties the slot of `id` on this shard (the deletion protocol made
    /// sure nothing here refers to it any more); nothing of it, the idle
    /// connection estimate included, is left for the next server there.
    pub fn remove_server(&mut self, id: ServerId) -> bool {
        match self.slot_mut(id) {
            Some(ls) => {
                *ls = LocalServer::default();
                true
            }
            None => false,
        }
    }

    /// Chooses a server as HAProxy does: among usable active servers; when
    /// none is usable, among backups (the first usable one, or all of them
    /// with `option allbackups`). A chosen server's slot is taken before
    /// returning. `avoid` is a server to skip if another one is eligible.
    pub fn pick(&mut self, src: Option<IpAddr>, avoid: Option<usize>, key: Option<u32>) -> Pick {
        let any_active = self
            .servers
            .iter()
            .filter_map(|l| l.srv.as_ref())
            .any(|s| !s.backup && s.usable());
        let mut first_backup_taken = false;
        self.scratch.clear();
        let mut in_tier = 0;
        for l in &self.servers {
            let Some(s) = l.srv.as_ref() else {
                self.scratch.push(LbServer {
                    weight: 0,
                    eligible: false,
                    load: 0,
                });
                continue;
            };
            let tier = if any_active {
                !s.backup
            } else if s.backup && s.usable() && (self.allbackups || !first_backup_taken) {
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
        for _ in 0..self.servers.len() {
            let Some(i) = self.lb.pick(&self.scratch, &ctx) else {
                return Pick::Queue;
            };
            let Some(s) = self.servers[i].srv.as_ref() else {
                self.scratch[i].eligible = false;
                continue;
            };
            if s.try_acquire() {
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
    /// Server `id` of backend `b`, if its slot still holds it.
    pub fn slot(&self, b: usize, id: ServerId) -> Option<&LocalServer> {
        self.backends.get(b)?.slot(id)
    }

    pub fn slot_mut(&mut self, b: usize, id: ServerId) -> Option<&mut LocalServer> {
        self.backends.get_mut(b)?.slot_mut(id)
    }

    pub fn new(rt: &crate::runtime::Runtime, shard: usize) -> ServerTable {
        let mut t = ServerTable {
            backends: Vec::with_capacity(rt.backends.len()),
        };
        t.reload(rt, shard);
        t
    }

    /// Follows snapshot `rt`: backends of existing slots take their new
    /// configuration (keeping servers, connections and queues), new slots
    /// get a backend built from the registry. The shard index is the
    /// algorithms' seed: shard 0 starts round robin at the first server (as
    /// HAProxy does), other shards further along, so that shards do not all
    /// hit the same server first.
    pub fn reload(&mut self, rt: &crate::runtime::Runtime, shard: usize) {
        for (b, cfg) in rt.config.backends.iter().enumerate() {
            match self.backends.get_mut(b) {
                Some(lb) => lb.reconfigure(cfg, shard as u64),
                None => self
                    .backends
                    .push(LocalBackend::new(&rt.backends[b], cfg, shard as u64)),
            }
        }
    }
}
