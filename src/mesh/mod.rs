//! Cross-shard messages: each shard has an inbox (a channel) and a
//! ring-native wakeup: the sender posts a MSG_RING completion on the target
//! shard's ring, so a sleeping shard wakes inside `io_uring_enter` with no
//! eventfd, no epoll and no lock on the data path.
//!
//! Wakeups are coalesced: a sender posts MSG_RING only when it flips the
//! target's `woken` flag from false to true; the shard clears the flag before
//! draining its inbox, so no message is ever left unseen.

pub mod coord;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::backend::{BackendShared, ServerId, ServerRefs, ServerShared};
use crate::listener::ShardListener;
use crate::runtime::Runtime;

use crate::shard::ring::WakeRing;
use crate::shard::token::{Key, Op, Token};

/// A message to one shard.
#[derive(Debug)]
pub enum Msg {
    /// Stop now: close listeners, end every session, exit the loop.
    Stop,
    /// Graceful stop (SIGUSR1, HAProxy's soft-stop): stop accepting, close
    /// idle keep-alive connections, let every session in progress finish
    /// (HTTP answers carry `Connection: close`), exit when none is left.
    SoftStop,
    /// A process-wide or frontend connection slot was freed elsewhere:
    /// accepting may resume.
    ResumeAccept,
    /// Re-arm every accept (`Shard::kick_listeners`): a predecessor sharing
    /// our listening sockets is stopping.
    KickAccepts,
    /// A server of `backend` released a connection slot on another shard and
    /// this shard has streams queued for that backend.
    SlotFree { backend: usize },
    /// A server added at run time: occupy its slot in the local table.
    ServerAdd {
        backend: usize,
        srv: Arc<ServerShared>,
    },
    /// A server entered maintenance: close its idle connections, pooled and
    /// session-owned (their sessions open new ones elsewhere next time).
    ServerMaint { backend: usize, id: ServerId },
    /// Deletion, step 2: purge what is idle again, then answer with what
    /// still refers to the server on this shard.
    ServerQuery {
        backend: usize,
        id: ServerId,
        reply: mpsc::Sender<ServerRefs>,
    },
    /// Deletion, step 3 (every shard answered empty lists): free the slot.
    ServerDel { backend: usize, id: ServerId },
    /// `shutdown sessions server`: end every stream using the server.
    ServerShutdown { backend: usize, id: ServerId },
    /// `show sess`: one entry per stream of this shard.
    ShowSess {
        reply: mpsc::Sender<Vec<StreamInfo>>,
    },
    /// `shutdown session ID`: ends the stream if it lives here; answers
    /// whether it did.
    ShutdownStream { key: Key, reply: mpsc::Sender<bool> },
    /// Reload, stage 1 (see `shard::reload`): keep snapshot `rt` and the
    /// listeners of the binds it adds (already open), switch to nothing
    /// yet; answer whether the shard can commit.
    ReloadPrepare {
        rt: Arc<Runtime>,
        listeners: Vec<ShardListener>,
        reply: mpsc::Sender<Result<(), String>>,
    },
    /// Reload, stage 2: every shard prepared; switch.
    ReloadCommit(Box<ReloadCommit>),
    /// A shard could not prepare: drop what was prepared.
    ReloadAbort,
}

/// What a reload's commit changes on a shard besides the snapshot.
#[derive(Debug)]
pub struct ReloadCommit {
    /// Servers the reload added: (backend slot, server).
    pub adds: Vec<(usize, Arc<ServerShared>)>,
    /// Listeners (indices, the same on every shard) of kept binds, with
    /// their new settings.
    pub keep: Vec<ListenerUpdate>,
    /// Listeners of the binds the reload removed: they stop accepting;
    /// their sessions go on.
    pub close: Vec<usize>,
    pub reply: mpsc::Sender<()>,
}

#[derive(Debug, Clone)]
pub struct ListenerUpdate {
    pub index: usize,
    pub accept_proxy: bool,
    pub name: String,
}

/// What `show sess` shows of one stream.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Process-wide id (see [`stream_id`]).
    pub id: u64,
    pub shard: usize,
    pub frontend: usize,
    pub backend: Option<usize>,
    pub server: Option<String>,
    pub src: Option<std::net::SocketAddr>,
    /// Milliseconds since the stream started.
    pub age_ms: u64,
}

/// The id `show sess` prints for stream `key` of shard `shard`: the shard
/// in the top 8 bits, the key's 24-bit generation, then its slot, so that a
/// stale id never names the stream that reuses the slot.
pub fn stream_id(shard: usize, key: Key) -> u64 {
    ((shard as u64) << 56) | (u64::from(key.generation) << 32) | u64::from(key.slot)
}

/// The shard and stream key back from a `show sess` id.
pub fn parse_stream_id(id: u64) -> (usize, Key) {
    (
        (id >> 56) as usize,
        Key::new(
            (id & 0xffff_ffff) as usize,
            ((id >> 32) & 0x00ff_ffff) as u32,
        ),
    )
}

struct Inbox {
    tx: Mutex<mpsc::Sender<Msg>>,
    woken: AtomicBool,
    ring_fd: AtomicI32,
}

/// Handles to every shard's inbox. Shared by all shards and the control
/// thread.
pub struct Mesh {
    inboxes: Vec<Inbox>,
}

/// What a sender must do after `Mesh::post`: nothing, or post the wakeup on
/// the target ring (from its own ring if it is a shard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Already,
    Needed {
        ring_fd: RawFd,
    },
    /// The shard has exited (after a stop): the message was dropped.
    Gone,
}

/// user_data of the MSG_RING completion that lands on the target ring.
pub fn inbox_token() -> u64 {
    Token::new(Op::Inbox, Key::new(0, 0)).encode()
}

impl Mesh {
    /// Builds the mesh and the receiving end of each inbox.
    pub fn new(shards: usize) -> (Mesh, Vec<mpsc::Receiver<Msg>>) {
        let mut inboxes = Vec::with_capacity(shards);
        let mut rxs = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = mpsc::channel();
            inboxes.push(Inbox {
                tx: Mutex::new(tx),
                woken: AtomicBool::new(false),
                ring_fd: AtomicI32::new(-1),
            });
            rxs.push(rx);
        }
        (Mesh { inboxes }, rxs)
    }

    pub fn shards(&self) -> usize {
        self.inboxes.len()
    }

    /// Records shard `i`'s ring fd once the shard has created its ring.
    pub fn set_ring_fd(&self, i: usize, fd: RawFd) {
        self.inboxes[i].ring_fd.store(fd, Ordering::Release);
    }

    /// Queues `msg` for shard `to`. The lock is per message (control-plane
    /// rate), never per connection or per chunk.
    pub fn post(&self, to: usize, msg: Msg) -> Wake {
        let inbox = &self.inboxes[to];
        let sent = inbox
            .tx
            .lock()
            .map(|tx| tx.send(msg).is_ok())
            .unwrap_or(false);
        if !sent {
            return Wake::Gone;
        }
        if inbox.woken.swap(true, Ordering::AcqRel) {
            return Wake::Already;
        }
        let fd = inbox.ring_fd.load(Ordering::Acquire);
        if fd < 0 {
            // Not started yet: it drains its inbox before its first wait.
            return Wake::Already;
        }
        Wake::Needed { ring_fd: fd }
    }

    /// Called by shard `i` right before draining its inbox.
    pub fn clear_woken(&self, i: usize) {
        self.inboxes[i].woken.store(false, Ordering::Release);
    }

    /// Posts from the control plane, waking the shard with the caller's
    /// own small ring. False when the shard has exited (the message, and
    /// any reply channel in it, was dropped).
    pub fn post_from_control(&self, waker: &mut WakeRing, to: usize, msg: Msg) -> bool {
        match self.post(to, msg) {
            Wake::Gone => false,
            Wake::Already => true,
            Wake::Needed { ring_fd } => {
                if let Err(e) = waker.wake(ring_fd, inbox_token()) {
                    log::error!("cannot wake shard {to}: {e}");
                }
                true
            }
        }
    }

    /// Tells the shards that have streams queued for backend `b` that a
    /// server may take them now (it came back, or has more room).
    pub fn wake_queued(&self, waker: &mut WakeRing, backend: &BackendShared, b: usize) {
        let mask = backend.queued_shards.load(Ordering::Acquire);
        for i in (0..self.shards()).filter(|i| mask & (1 << i) != 0) {
            self.post_from_control(waker, i, Msg::SlotFree { backend: b });
        }
    }
}
