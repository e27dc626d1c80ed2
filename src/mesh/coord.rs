//! The coordinator: the control plane's side of every protocol that
//! concerns all shards (server add, maintenance, deletion, stream listing
//! and shutdowns). It runs off the data path (the runtime API thread, the
//! control thread for reloads), one caller at a time (callers share it
//! behind a mutex), and talks to shards only through mesh messages.
//!
//! Deletion (the design card's protocol): a server must be in maintenance,
//! so no shard selects it any more. Every shard is asked to purge what is
//! idle and to report what still refers to the server; only if every report
//! is empty is the slot freed everywhere. Since maintenance forbids new
//! references and the coordinator serialises commands, nothing can appear
//! between the reports and the commit.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Mesh, Msg, StreamInfo, parse_stream_id};
use crate::backend::{Admin, BackendShared, ServerId, ServerRefs, ServerShared};
use crate::config;
use crate::runtime::{Current, Runtime};
use crate::shard::ring::WakeRing;

/// How long to wait for every shard's answer. Shards answer between two
/// batches of completions, so this only strikes if one is stuck.
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// Why a coordinated command failed, with HAProxy's wording where the
/// runtime API prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordError {
    NoBackend,
    NoServer,
    /// `del server` on a server not in maintenance.
    NotInMaintenance,
    /// `del server` while something still refers to it.
    StillReferenced(ServerRefs),
    /// `add server` with a name already used in the backend.
    NameTaken,
    /// `add server` on a backend whose algorithm cannot take new servers.
    NotDynamic,
    /// A shard did not answer in time.
    ShardsSilent,
}

impl std::fmt::Display for CoordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoordError::NoBackend => f.write_str("No such backend."),
            CoordError::NoServer => f.write_str("No such server."),
            CoordError::NotInMaintenance => {
                f.write_str("Only servers in maintenance mode can be deleted.")
            }
            CoordError::StillReferenced(_) => {
                f.write_str("Server still has connections attached to it, cannot remove it.")
            }
            CoordError::NameTaken => {
                f.write_str("Already exists a server with the same name in backend.")
            }
            CoordError::NotDynamic => {
                f.write_str("Backend must use a dynamic load balancing to support dynamic servers.")
            }
            CoordError::ShardsSilent => f.write_str("Some threads did not answer in time."),
        }
    }
}

pub struct Coordinator {
    current: Arc<Current>,
    mesh: Arc<Mesh>,
    waker: WakeRing,
}

impl Coordinator {
    pub fn new(current: Arc<Current>, mesh: Arc<Mesh>) -> std::io::Result<Coordinator> {
        Ok(Coordinator {
            current,
            mesh,
            waker: WakeRing::new()?,
        })
    }

    /// The latest applied snapshot (its backend slots are every slot ever
    /// given, see `config::reload`).
    pub fn rt(&self) -> Arc<Runtime> {
        self.current.get()
    }

    pub fn mesh(&self) -> &Arc<Mesh> {
        &self.mesh
    }

    /// Posts `msg` to shard `to`; false when the shard has exited.
    pub fn post(&mut self, to: usize, msg: Msg) -> bool {
        self.mesh.post_from_control(&mut self.waker, to, msg)
    }

    fn broadcast(&mut self, msg: impl Fn() -> Msg) {
        for i in 0..self.mesh.shards() {
            self.mesh.post_from_control(&mut self.waker, i, msg());
        }
    }

    /// Changes a server's administrative state. Entering maintenance purges
    /// its idle connections on every shard; leaving it lets streams queued
    /// for the backend try again.
    pub fn set_admin(&mut self, b: usize, srv: &Arc<ServerShared>, admin: Admin) {
        if !srv.set_admin(admin) {
            return;
        }
        let id = srv.id;
        match admin {
            Admin::Maint => self.broadcast(|| Msg::ServerMaint { backend: b, id }),
            Admin::Ready => self.capacity_changed(b),
            Admin::Drain => {}
        }
    }

    /// A server's capacity grew (back in service, weight from 0, higher
    /// maxconn): the shards with streams queued for the backend try again.
    pub fn capacity_changed(&mut self, b: usize) {
        let rt = self.rt();
        self.mesh.wake_queued(&mut self.waker, &rt.backends[b], b);
    }

    /// Posts to every shard a message carrying a reply channel, and gathers
    /// the replies of the shards it reached (one that has exited after a
    /// stop answers nothing and is not waited for).
    pub fn gather<T>(
        &mut self,
        msg: impl Fn(mpsc::Sender<T>) -> Msg,
    ) -> Result<Vec<T>, CoordError> {
        let (tx, rx) = mpsc::channel();
        let mut reached = 0;
        for i in 0..self.mesh.shards() {
            if self
                .mesh
                .post_from_control(&mut self.waker, i, msg(tx.clone()))
            {
                reached += 1;
            }
        }
        drop(tx);
        let deadline = Instant::now() + REPLY_WAIT;
        let mut out = Vec::with_capacity(reached);
        for _ in 0..reached {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) => out.push(v),
                Err(_) => return Err(CoordError::ShardsSilent),
            }
        }
        Ok(out)
    }

    /// Asks every shard to purge the server's idle connections and report
    /// what still refers to it; the sum.
    pub fn refs(&mut self, b: usize, id: ServerId) -> Result<ServerRefs, CoordError> {
        let replies = self.gather(|reply| Msg::ServerQuery {
            backend: b,
            id,
            reply,
        })?;
        let mut total = ServerRefs::default();
        for r in &replies {
            total.add(r);
        }
        Ok(total)
    }

    /// Whether the server could be deleted now (`wait srv-removable`).
    pub fn removable(&mut self, b: usize, srv: &Arc<ServerShared>) -> Result<(), CoordError> {
        if srv.admin() != Admin::Maint {
            return Err(CoordError::NotInMaintenance);
        }
        let refs = self.refs(b, srv.id)?;
        if !refs.is_empty() {
            return Err(CoordError::StillReferenced(refs));
        }
        Ok(())
    }

    /// `del server`: frees the server everywhere if it is in maintenance
    /// and nothing on any shard refers to it; otherwise nothing changes.
    pub fn del_server(&mut self, b: usize, srv: &Arc<ServerShared>) -> Result<(), CoordError> {
        self.removable(b, srv)?;
        let id = srv.id;
        self.broadcast(|| Msg::ServerDel { backend: b, id });
        let rt = self.rt();
        rt.backends[b].registry().remove(id);
        log::info!("Server {}/{} deleted.", rt.backends[b].name, srv.name);
        Ok(())
    }

    /// `add server`: registers a new server, in maintenance, in a free slot
    /// of every shard's table.
    pub fn add_server(
        &mut self,
        b: usize,
        cfg: config::Server,
    ) -> Result<Arc<ServerShared>, CoordError> {
        let rt = self.rt();
        let backend: &BackendShared = &rt.backends[b];
        if !rt.config.backends[b].balance.is_dynamic() {
            return Err(CoordError::NotDynamic);
        }
        let srv = {
            let mut reg = backend.registry();
            if reg.find(&cfg.name).is_some() {
                return Err(CoordError::NameTaken);
            }
            let srv = reg.add(&cfg);
            // HAProxy creates dynamic servers in (forced) maintenance.
            srv.set_admin(Admin::Maint);
            srv
        };
        let s = srv.clone();
        self.broadcast(|| Msg::ServerAdd {
            backend: b,
            srv: s.clone(),
        });
        log::info!("New server {}/{} registered.", backend.name, srv.name);
        Ok(srv)
    }

    /// `shutdown sessions server`: ends every stream using the server.
    pub fn shutdown_server_sessions(&mut self, b: usize, srv: &Arc<ServerShared>) {
        let id = srv.id;
        self.broadcast(|| Msg::ServerShutdown { backend: b, id });
    }

    /// `show sess`: every stream of every shard, by shard then slot.
    pub fn streams(&mut self) -> Result<Vec<StreamInfo>, CoordError> {
        let mut all: Vec<StreamInfo> = self
            .gather(|reply| Msg::ShowSess { reply })?
            .into_iter()
            .flatten()
            .collect();
        all.sort_by_key(|s| s.id);
        Ok(all)
    }

    /// `shutdown session ID`: true when the stream existed and was ended.
    pub fn shutdown_stream(&mut self, id: u64) -> Result<bool, CoordError> {
        let (shard, key) = parse_stream_id(id);
        if shard >= self.mesh.shards() {
            return Ok(false);
        }
        let (tx, rx) = mpsc::channel();
        let msg = Msg::ShutdownStream { key, reply: tx };
        if !self.mesh.post_from_control(&mut self.waker, shard, msg) {
            return Ok(false);
        }
        rx.recv_timeout(REPLY_WAIT)
            .map_err(|_| CoordError::ShardsSilent)
    }
}
