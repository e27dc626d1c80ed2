//! What the runtime API asks of the data plane: the `Shards` trait and the
//! types it speaks.
//! The implementation is `control::shards::ShardOps`.
//!
//! Read-only commands never come here: they read `Runtime` directly. Every
//! method below is called from the API's executor thread only (one call at
//! a time, never from a shard), so an implementation may block while it
//! waits for the shards' answers; the API keeps serving other clients
//! meanwhile.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Admin, ServerShared};
use crate::config;

/// A server as the API found it in `BackendShared::servers_snapshot()`: the
/// backend index and the shared half (its slot is `server.id.slot`). An
/// implementation must check (`Arc::ptr_eq`) that the slot still holds this
/// server before acting: `del server` frees slots that `add server` reuses.
#[derive(Debug, Clone)]
pub struct ServerId {
    pub backend: usize,
    pub server: Arc<ServerShared>,
}

/// One stream for `show sess` (HAProxy prints one line per stream; the
/// fields ringproxy can fill, in HAProxy's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Unique among live streams; `shutdown session` takes it back (printed
    /// as `0x<hex>`).
    pub id: u64,
    /// The shard that runs it.
    pub shard: usize,
    /// The client's address (`None`: not looked up, printed as `?`).
    pub src: Option<SocketAddr>,
    /// Index into `Config::frontends`.
    pub frontend: usize,
    /// Index into `Config::backends`, once chosen.
    pub backend: Option<usize>,
    /// The server's name, once one is assigned.
    pub server: Option<String>,
    /// Since the client connection was accepted.
    pub age: Duration,
    /// Times the shard ran it (HAProxy's `calls`).
    pub calls: u64,
    /// Until its next timeout, if one is armed.
    pub expires_in: Option<Duration>,
}

/// Why a server cannot be removed (`wait srv-removable`, `del server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRemovable {
    /// Not yet (in use, not in maintenance): waiting may change it. The text
    /// is HAProxy's (`Server still has connections attached to it, cannot
    /// remove it.`, `Only servers in maintenance mode can be deleted.`).
    Yet(String),
    /// Never through this implementation: printed as the command's failure.
    Never(String),
}

/// The actions that need the shards (or the health checker).
///
/// Errors are the exact text printed to the client, without a trailing
/// newline (HAProxy's wording where HAProxy has one).
pub trait Shards: Send {
    /// `add server`. The server was parsed from the command line with the
    /// configuration's own server parser; the API checked that the backend
    /// exists and balances dynamically. The implementation refuses a name
    /// the backend already has (`Already exists a server with the same
    /// name in backend.`) and puts the server in maintenance (HAProxy
    /// creates dynamic servers in forced maintenance).
    /// Contract on `Ok`: the server is in `servers_snapshot()` of `backend`
    /// (an immediately following command finds it), in maintenance, and no
    /// shard can pick it before its own table knows it.
    fn add_server(&mut self, backend: usize, server: config::Server) -> Result<(), String>;

    /// `del server` (HAProxy's rule: only a server in maintenance, with
    /// nothing attached on any shard). Contract on `Ok`: every shard dropped
    /// it and its slot is out of `servers_snapshot()`; on `Err` nothing
    /// changed and the text says why (`Only servers in maintenance mode can
    /// be deleted.`, `Server still has connections attached to it, cannot
    /// remove it.`).
    fn del_server(&mut self, id: &ServerId) -> Result<(), String>;

    /// `set server state`, `enable/disable server`. Contract on `Ok`: the
    /// admin state is stored (`ServerShared::set_admin`) and, when entering
    /// maintenance, every shard has purged the server's idle connections
    /// (pooled ones and idle session-owned ones).
    fn set_admin(&mut self, id: &ServerId, admin: Admin) -> Result<(), String>;

    /// `set weight`/`set server weight`, already validated and resolved
    /// (percentages applied). Contract on `Ok`: the next pick on every shard
    /// uses the new weight.
    fn set_weight(&mut self, id: &ServerId, weight: u32) -> Result<(), String>;

    /// `set maxconn server` (0: unlimited). Contract on `Ok`: stored, and
    /// shards with streams queued for this server were told a slot may be
    /// free (a raised limit serves the queue at once).
    fn set_maxconn(&mut self, id: &ServerId, maxconn: u32) -> Result<(), String>;

    /// `enable/disable health`. Contract on `Ok`: the server's check
    /// snapshot (`check::snapshot_of`, what `show stat` and `show servers
    /// state` read) already says enabled or disabled, and the checker runs
    /// or stops running its checks as soon as it has the command; a
    /// disabled server keeps the health it had.
    fn set_health(&mut self, id: &ServerId, enabled: bool) -> Result<(), String>;

    /// `show sess`: every live stream of every shard, in any order.
    fn sessions(&mut self) -> Result<Vec<SessionRow>, String>;

    /// `shutdown session ID`: `Ok(false)` when no live stream has this id.
    /// Contract on `Ok(true)`: the owning shard killed it (its connections
    /// are closing).
    fn shutdown_session(&mut self, id: u64) -> Result<bool, String>;

    /// `shutdown sessions server`. Contract on `Ok`: every shard killed the
    /// streams assigned to the server (queued ones included).
    fn shutdown_server_sessions(&mut self, id: &ServerId) -> Result<(), String>;

    /// Whether `del server` would succeed now (`wait srv-removable` asks
    /// this repeatedly until it does or the delay expires).
    fn removable(&mut self, id: &ServerId) -> Result<(), NotRemovable>;
}
