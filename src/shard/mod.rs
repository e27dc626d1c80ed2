//! A shard: one pinned thread, one io_uring ring, one provided-buffer ring,
//! one slab each of connections, sessions and streams, one timer heap, one
//! local server table and one inbox. Shards share nothing mutable on the data
//! path; they coordinate only through `mesh` messages and the few
//! once-per-connection atomics in `runtime`.
//!
//! The loop: submit and wait (bounded by the next timer), handle every
//! completion, run due timers, hand freed buffers to streams waiting for one,
//! repeat. Handlers never block and never make a syscall that the ring can
//! batch (sockets are created and closed, read and written, through it).

mod admin;
mod reload;
pub mod ring;
pub mod sys;
pub mod timer;
pub mod token;

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::backend::ServerTable;
use crate::connection::{ConnState, Connection, Owner};
use crate::listener::ShardListener;
use crate::mesh::{Mesh, Msg, Wake};
use crate::runtime::Runtime;
use crate::session::Session;
use crate::stream::{Dir, Stream};
use ring::{BufRing, Completion, Ring};
use timer::{TimerOwner, Timers};
use token::{GenSlab, Key, Op, Token};

/// What a shard counts; logged when it stops (and later served by the
/// runtime API).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub accepted: u64,
    pub handshake_timeouts: u64,
    pub handshake_errors: u64,
    pub no_server: u64,
    pub queue_timeouts: u64,
    pub connect_errors: u64,
    pub retries: u64,
    pub redispatches: u64,
    pub streams: u64,
}

/// Buffers provided to the kernel at start; the pool grows by at least
/// `GROW_BUFFERS` each time a receive finds it empty, up to
/// `tune.ring.buffers`.
const INITIAL_BUFFERS: u16 = 64;
/// How often pools are checked for connections idle longer than their
/// server's `pool-purge-delay`.
const MAINTENANCE_EVERY_MS: u64 = 1000;
const GROW_BUFFERS: u16 = 64;

/// Who waits for a provided buffer to come back.
#[derive(Debug, Clone, Copy)]
pub enum WaitBuf {
    Session(Key),
    Stream(Key, Dir),
}

/// The ring and what is bound to it.
pub struct Io {
    pub ring: Ring,
    pub bufs: BufRing,
    pub vecs: VecPool,
    cqes: Vec<Completion>,
}

/// Byte vectors for owned chunks (request and response heads we write,
/// PROXY headers, internal answers), recycled so that the steady state
/// allocates nothing.
pub struct VecPool {
    free: Vec<Vec<u8>>,
    capacity: usize,
}

impl VecPool {
    /// Most vectors kept for reuse; more are freed.
    const KEEP: usize = 1024;

    pub fn new(capacity: usize) -> VecPool {
        VecPool {
            free: Vec::new(),
            capacity,
        }
    }

    /// An empty vector with at least the pool's capacity.
    pub fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    pub fn put(&mut self, mut v: Vec<u8>) {
        // Oversized ones (a large errorfile, say) are not kept.
        if self.free.len() < Self::KEEP && v.capacity() <= 4 * self.capacity {
            v.clear();
            self.free.push(v);
        }
    }
}

/// Everything a shard thread needs to start.
/// A configuration snapshot as one shard holds it: counted without atomics
/// (the shard's sessions and streams clone it, one per session and one per
/// stream), the `Arc` inside shared with the other shards.
pub type Snap = std::rc::Rc<Arc<Runtime>>;

pub struct ShardStart {
    pub id: usize,
    pub cpu: Option<usize>,
    pub rt: Arc<Runtime>,
    pub mesh: Arc<Mesh>,
    pub inbox: Receiver<Msg>,
    /// One listening fd per (frontend, bind), opened by the main thread.
    pub listeners: Vec<ShardListener>,
}

pub struct Shard {
    pub id: usize,
    pub io: Io,
    pub conns: GenSlab<Connection>,
    pub sessions: GenSlab<Session>,
    pub streams: GenSlab<Stream>,
    pub timers: Timers,
    /// Milliseconds on the monotonic clock, read once per loop turn.
    pub now: u64,
    /// The same reading in microseconds (latency histograms).
    pub now_us: u64,
    pub table: ServerTable,
    pub listeners: Vec<ShardListener>,
    /// Accepted connections waiting for a `maxconn` slot (the kernel already
    /// completed their handshake; they wait here instead of the backlog).
    pub pending_accepts: VecDeque<(usize, RawFd)>,
    /// Receives that found the buffer ring empty, waiting for a buffer.
    pub wait_buf: VecDeque<WaitBuf>,
    pub counters: Counters,
    pub logs: crate::stream::log::ShardLogs,
    /// Scratch list for the header edits of the request or response being
    /// processed (heads are processed one at a time; reused, no allocation).
    pub edits: crate::http::HeaderEdits,
    /// Free HTTP transaction boxes, reused request after request.
    pub txns: Vec<Box<crate::stream::http::HttpTxn>>,
    /// The latest snapshot: new sessions and streams take it. Every slot
    /// of every older snapshot exists in it (see `config::reload`), so its
    /// shared state (limits, counters, backends) serves them all.
    pub rt: Snap,
    /// A reload prepared and not yet committed (see `shard::reload`).
    prepared: Option<reload::Prepared>,
    pub mesh: Arc<Mesh>,
    inbox: Receiver<Msg>,
    pub stopping: bool,
    /// A graceful stop is under way: no more accepts, no more keep-alive.
    pub soft_stopping: bool,
}

impl Shard {
    /// Runs a shard to completion on the calling thread.
    pub fn run(start: ShardStart, ready: std::sync::mpsc::Sender<Result<(), String>>) {
        let id = start.id;
        if let Some(cpu) = start.cpu
            && let Err(e) = sys::pin_to_cpu(cpu)
        {
            log::warn!("shard {id}: cannot pin to cpu {cpu}: {e}");
        }
        let mut shard = match Shard::new(start) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(format!("shard {id}: {e}")));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        shard.event_loop();
        shard.log_stop();
    }

    fn new(start: ShardStart) -> std::io::Result<Shard> {
        let g = &start.rt.config.global;
        let (ring, setup) = Ring::new(g.ring_entries)?;
        if setup.single_issuer && setup.defer_taskrun {
            log::debug!(
                "shard {}: io_uring with SINGLE_ISSUER + DEFER_TASKRUN",
                start.id
            );
        } else {
            log::info!(
                "shard {}: kernel refused {}; running without it",
                start.id,
                if setup.single_issuer {
                    "IORING_SETUP_DEFER_TASKRUN"
                } else {
                    "IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN"
                }
            );
        }
        let initial = (g.ring_buffers as u16).min(INITIAL_BUFFERS);
        let bufs = BufRing::new(&ring, 0, g.ring_buffers as u16, initial, g.bufsize)?;
        start.mesh.set_ring_fd(start.id, ring.fd());
        let table = ServerTable::new(&start.rt, start.id);
        let mut shard = Shard {
            id: start.id,
            io: Io {
                ring,
                bufs,
                vecs: VecPool::new(1024),
                cqes: Vec::with_capacity(1024),
            },
            conns: GenSlab::with_capacity(1024),
            sessions: GenSlab::with_capacity(512),
            streams: GenSlab::with_capacity(512),
            timers: Timers::new(),
            now: timer::now_ms(),
            now_us: timer::now_us(),
            table,
            listeners: start.listeners,
            pending_accepts: VecDeque::new(),
            wait_buf: VecDeque::new(),
            counters: Counters::default(),
            logs: crate::stream::log::ShardLogs::new(&start.rt.config, start.id),
            edits: crate::http::HeaderEdits::default(),
            txns: Vec::new(),
            rt: std::rc::Rc::new(start.rt),
            prepared: None,
            mesh: start.mesh,
            inbox: start.inbox,
            stopping: false,
            soft_stopping: false,
        };
        for i in 0..shard.listeners.len() {
            shard.resume_listener(i);
        }
        shard.schedule_maintenance();
        Ok(shard)
    }

    fn event_loop(&mut self) {
        let mut cqes = std::mem::take(&mut self.io.cqes);
        // Messages posted before our ring fd was published got no wakeup.
        self.drain_inbox();
        loop {
            self.now_us = timer::now_us();
            self.now = self.now_us / 1000;
            let wait = self
                .timers
                .next_at()
                .map(|at| Duration::from_millis(at.saturating_sub(self.now)));
            if let Err(e) = self.io.ring.submit_and_wait(wait) {
                log::error!("shard {}: io_uring_enter failed: {e}", self.id);
                break;
            }
            self.now_us = timer::now_us();
            self.now = self.now_us / 1000;
            self.io.ring.reap(&mut cqes);
            for c in cqes.iter() {
                self.dispatch(*c);
            }
            self.run_timers();
            self.feed_waiting_buffers();
            // Not before every listener is closed: an accept still being
            // cancelled may yet bring a connection, which is served.
            if self.soft_stopping
                && !self.stopping
                && self.sessions.is_empty()
                && self.listeners.iter().all(|l| l.is_closed())
            {
                // The last session ended: what is left (idle pooled server
                // connections) closes as in a fast stop.
                self.begin_stop();
            }
            if self.stopping && self.is_drained() {
                break;
            }
        }
        self.io.cqes = cqes;
    }

    fn dispatch(&mut self, c: Completion) {
        let Some(tok) = Token::decode(c.user_data) else {
            log::warn!("shard {}: completion with foreign user_data", self.id);
            return;
        };
        match tok.op {
            Op::Accept => self.on_accept(tok.key.slot as usize, c),
            Op::AcceptCancel => {}
            Op::ListenerClose => {}
            Op::Inbox => self.drain_inbox(),
            Op::MsgRing => {
                if c.result < 0 {
                    log::warn!(
                        "shard {}: cross-shard wakeup failed: {}",
                        self.id,
                        std::io::Error::from_raw_os_error(-c.result)
                    );
                }
            }
            Op::Recv | Op::Send | Op::Connect | Op::Shutdown | Op::Close | Op::Cancel => {
                self.on_conn_completion(tok, c)
            }
        }
    }

    /// Routes a completion on a connection to its owner, after the
    /// bookkeeping that makes slot reuse safe.
    fn on_conn_completion(&mut self, tok: Token, c: Completion) {
        let Some(conn) = self.conns.get_mut(tok.key) else {
            // Impossible by construction (a slot is freed only after its last
            // completion); a leaked buffer would be worse than a log line.
            log::error!("shard {}: completion for a freed connection", self.id);
            if let Some(bid) = c.buffer_id() {
                let lease = self.io.bufs.lease(bid);
                self.io.bufs.recycle(lease);
            }
            return;
        };
        // A multishot receive stays in the kernel while it posts `more`.
        let mut rearm = false;
        if !(tok.op == Op::Recv && c.more()) {
            conn.inflight -= 1;
            if tok.op == Op::Recv {
                conn.recv = crate::connection::RecvState::Off;
                rearm = std::mem::take(&mut conn.rearm);
            }
        }
        let owner = conn.owner;
        let state = conn.state;
        if tok.op == Op::Close {
            let conn = self.conns.remove(tok.key).expect("checked above");
            debug_assert_eq!(conn.inflight, 0);
            self.server_conn_released(&conn, tok.key);
            self.on_conn_released(owner, tok.key);
            return;
        }
        if state != ConnState::Open {
            if let Some(bid) = c.buffer_id() {
                let lease = self.io.bufs.lease(bid);
                self.io.bufs.recycle(lease);
            }
            // A lease this send was reading stays with the stream, which
            // recycles it once its last connection is released.
            self.after_op_on_closing(tok.key);
            return;
        }
        if tok.op == Op::Cancel {
            return;
        }
        if rearm && c.result == -libc::ECANCELED {
            // Someone wanted the receive back while it was being cancelled.
            self.conn_want_recv(tok.key, true);
        }
        match owner {
            Owner::Session(sk) => self.session_io(sk, tok, c),
            Owner::Stream(sk, side) => self.stream_io(sk, side, tok, c),
            Owner::Pool { .. } | Owner::Private(_) => {
                let lease = c.buffer_id().map(|bid| self.io.bufs.lease(bid));
                self.idle_server_conn_event(tok.key, lease, c.result);
            }
            Owner::Orphan => {
                if let Some(bid) = c.buffer_id() {
                    let lease = self.io.bufs.lease(bid);
                    self.io.bufs.recycle(lease);
                }
            }
        }
    }

    /// Starts closing a connection: cancel what is in flight, then close the
    /// fd through the ring. The slot is freed by the close completion.
    pub fn close_conn(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.state != ConnState::Open {
            return;
        }
        let fd = conn.fd;
        if conn.inflight == 0 {
            conn.state = ConnState::Closing;
            conn.inflight += 1;
            self.push_op(|r| r.close(fd, Token::new(Op::Close, key).encode()));
        } else {
            conn.state = ConnState::Cancelling;
            conn.inflight += 1;
            self.push_op(|r| r.cancel_fd(fd, Token::new(Op::Cancel, key).encode()));
        }
    }

    fn after_op_on_closing(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.state == ConnState::Cancelling && conn.inflight == 0 {
            conn.state = ConnState::Closing;
            conn.inflight += 1;
            let fd = conn.fd;
            self.push_op(|r| r.close(fd, Token::new(Op::Close, key).encode()));
        }
    }

    /// A connection slot was freed: tell whoever it belonged to.
    fn on_conn_released(&mut self, owner: Owner, key: Key) {
        match owner {
            Owner::Session(sk) => self.session_conn_released(sk, key),
            Owner::Stream(sk, side) => self.stream_conn_released(sk, side, key),
            Owner::Pool { .. } | Owner::Private(_) | Owner::Orphan => {}
        }
    }

    /// Pushes a submission. A failure means the ring itself is broken; the
    /// shard cannot go on without it, so it stops (the process exits with an
    /// error from the control thread's point of view).
    pub fn push_op(&mut self, f: impl FnOnce(&mut Ring) -> std::io::Result<()>) {
        if let Err(e) = f(&mut self.io.ring) {
            log::error!("shard {}: cannot submit to io_uring: {e}", self.id);
            self.stopping = true;
        }
    }

    /// Registers an operation on `key` and submits it.
    pub fn conn_op(
        &mut self,
        key: Key,
        op: Op,
        f: impl FnOnce(&mut Ring, RawFd, u64) -> std::io::Result<()>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.is_open() {
            // Closing: nothing new may reach the kernel for this fd.
            return;
        }
        conn.inflight += 1;
        let fd = conn.fd;
        let tok = Token::new(op, key).encode();
        self.push_op(|r| f(r, fd, tok));
    }

    fn run_timers(&mut self) {
        while let Some(e) = self.timers.pop_due(self.now) {
            match e.owner {
                TimerOwner::Session => self.session_timer(e),
                TimerOwner::Stream => self.stream_timer(e),
                TimerOwner::Maintenance => self.maintenance(),
            }
        }
    }

    /// Periodic housekeeping: closes server connections idle in a pool for
    /// longer than the purge delay, then re-arms itself.
    fn maintenance(&mut self) {
        let mut expired = Vec::new();
        for lb in self.table.backends.iter_mut() {
            for ls in lb.servers.iter_mut() {
                let Some(srv) = ls.srv.as_ref() else {
                    continue;
                };
                let delay = srv.cfg.pool_purge_delay;
                // HAProxy's estimate moves once per purge period.
                if self.now >= ls.next_estimate {
                    ls.update_estimate();
                    ls.next_estimate =
                        self.now + (delay.as_millis() as u64).max(MAINTENANCE_EVERY_MS);
                }
                let before = self.now.saturating_sub(delay.as_millis() as u64);
                ls.pool.expire(before, &mut expired);
            }
        }
        for ck in expired {
            // Out of the pool already; its release updates nothing else.
            if let Some(c) = self.conns.get_mut(ck) {
                c.owner = Owner::Orphan;
            }
            self.close_conn(ck);
        }
        self.schedule_maintenance();
    }

    fn schedule_maintenance(&mut self) {
        let at = self.now + MAINTENANCE_EVERY_MS;
        let mut dl = timer::Deadline::default();
        self.timers
            .set(&mut dl, at, TimerOwner::Maintenance, Key::new(0, 0));
    }

    /// Re-arms receives that found no buffer: grows the pool when it can,
    /// else waits for buffers to come back.
    fn feed_waiting_buffers(&mut self) {
        if !self.wait_buf.is_empty() && self.io.bufs.available() == 0 {
            let want = self.wait_buf.len().min(u16::MAX as usize) as u16;
            self.io.bufs.grow(want.max(GROW_BUFFERS));
        }
        while !self.wait_buf.is_empty() && self.io.bufs.available() > 0 {
            match self.wait_buf.pop_front().expect("non-empty") {
                WaitBuf::Session(sk) => self.session_arm_recv(sk),
                WaitBuf::Stream(sk, dir) => self.stream_rearm_recv(sk, dir),
            }
        }
    }

    /// Sends `msg` to shard `to`, waking it through our own ring.
    pub fn post(&mut self, to: usize, msg: Msg) {
        // A shard that has exited needs nothing any more.
        if let Wake::Needed { ring_fd } = self.mesh.post(to, msg) {
            let tok = Token::new(Op::MsgRing, Key::new(0, 0)).encode();
            let data = crate::mesh::inbox_token();
            self.push_op(|r| r.msg_ring(ring_fd, data, tok));
        }
    }

    /// Sends `msg()` to every shard whose bit is set in `mask`, self included
    /// (handled inline).
    pub fn post_mask(&mut self, mask: u64, msg: impl Fn() -> Msg) {
        for to in 0..self.mesh.shards() {
            if mask & (1 << to) == 0 {
                continue;
            }
            if to == self.id {
                self.handle_msg(msg());
            } else {
                self.post(to, msg());
            }
        }
    }

    fn drain_inbox(&mut self) {
        self.mesh.clear_woken(self.id);
        while let Ok(msg) = self.inbox.try_recv() {
            self.handle_msg(msg);
        }
    }

    fn handle_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Stop => self.begin_stop(),
            Msg::SoftStop => self.begin_soft_stop(),
            Msg::ResumeAccept => self.resume_accepting(),
            Msg::KickAccepts => self.kick_listeners(),
            Msg::SlotFree { backend } => self.process_queue(backend),
            Msg::ServerAdd { backend, srv } => self.admin_server_add(backend, srv),
            Msg::ServerMaint { backend, id } => self.admin_server_maint(backend, id),
            Msg::ServerQuery { backend, id, reply } => self.admin_server_query(backend, id, reply),
            Msg::ServerDel { backend, id } => self.admin_server_del(backend, id),
            Msg::ServerShutdown { backend, id } => self.admin_server_shutdown(backend, id),
            Msg::ShowSess { reply } => self.admin_show_sess(reply),
            Msg::ShutdownStream { key, reply } => self.admin_shutdown_stream(key, reply),
            Msg::ReloadPrepare {
                rt,
                listeners,
                reply,
            } => self.reload_prepare(rt, listeners, reply),
            Msg::ReloadCommit(commit) => self.reload_commit(*commit),
            Msg::ReloadAbort => self.reload_abort(),
        }
    }

    /// Fast stop: stop accepting, end every session and stream now.
    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for i in 0..self.listeners.len() {
            self.close_listener(i);
        }
        while let Some((_, fd)) = self.pending_accepts.pop_front() {
            sys::close(fd);
        }
        self.wait_buf.clear();
        let streams: Vec<Key> = self.streams.keys().collect();
        for sk in streams {
            self.stream_kill(sk);
        }
        let sessions: Vec<Key> = self.sessions.keys().collect();
        for sk in sessions {
            self.session_kill(sk);
        }
        // Whatever no session or stream owns (idle pooled server
        // connections) closes too.
        let conns: Vec<Key> = self.conns.keys().collect();
        for ck in conns {
            self.close_conn(ck);
        }
    }

    /// Graceful stop: listeners close; sessions waiting between two
    /// requests (idle keep-alive) close now; the others finish, each HTTP
    /// one after its current answer (sent with `Connection: close`).
    fn begin_soft_stop(&mut self) {
        if self.stopping || self.soft_stopping {
            return;
        }
        self.soft_stopping = true;
        for i in 0..self.listeners.len() {
            self.close_listener(i);
        }
        // Accepted but not admitted (no connection slot was free): never
        // started, closed as in a fast stop.
        while let Some((_, fd)) = self.pending_accepts.pop_front() {
            sys::close(fd);
        }
        // Idle: between two requests. A session that has not sent its first
        // request yet is not idle (its client just connected, its request
        // may be on the way): it is answered, with `Connection: close`.
        // Neither are those of frontends with `option
        // idle-close-on-response`.
        let idle: Vec<Key> = self
            .sessions
            .keys()
            .filter(|&k| {
                self.sessions.get(k).is_some_and(|s| {
                    matches!(s.state, crate::session::SessionState::Full { stream: None })
                        && s.requests > 0
                        && !s.rt.config.frontends[s.frontend].idle_close_on_response
                })
            })
            .collect();
        for sk in idle {
            self.session_kill(sk);
        }
    }

    fn is_drained(&self) -> bool {
        self.conns.is_empty() && self.listeners.iter().all(|l| l.is_closed())
    }

    fn log_stop(&self) {
        let c = &self.counters;
        log::info!(
            "shard {} stopped: accepted={} handshake_timeouts={} handshake_errors={} no_server={} queue_timeouts={} connect_errors={}",
            self.id,
            c.accepted,
            c.handshake_timeouts,
            c.handshake_errors,
            c.no_server,
            c.queue_timeouts,
            c.connect_errors
        );
    }
}
