//! L4: one socket and the operations the kernel holds on it.
//!
//! A connection's slab slot (and its fd) is released only when no operation
//! on it is still in the kernel: `inflight` counts them, closing first
//! cancels whatever is pending, then closes the fd through the ring, and only
//! the close completion frees the slot.

use std::os::fd::RawFd;

use crate::shard::token::Key;

/// Which side of a stream a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client connection (frontend side).
    Front,
    /// The server connection (backend side).
    Back,
}

/// Who is told about this connection's completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// An embryonic session doing its handshake.
    Session(Key),
    /// A stream, on one of its sides.
    Stream(Key, Side),
    /// An idle server connection in the server's pool on this shard.
    Pool { backend: u32, server: u32 },
    /// An idle server connection private to this session (`http-reuse
    /// never`, seed 000).
    Private(Key),
    /// Nobody any more: being closed on its own (e.g. the previous server
    /// connection of a stream that retried elsewhere).
    Orphan,
}

/// The server a server connection goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRef {
    pub backend: u32,
    pub server: u32,
    /// The server slot's generation when the connection was opened: a
    /// connection released after its server was deleted touches nothing.
    pub generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Open,
    /// Cancellation requested; close once `inflight` drops to zero.
    Cancelling,
    /// The close operation is in flight.
    Closing,
}

/// The connection's receive. It belongs to the connection rather than to a
/// stream because a multishot receive outlives streams: on a keep-alive
/// client connection it stays armed between requests, and on a pooled server
/// connection while it is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvState {
    /// No receive in the kernel.
    Off,
    /// A multishot receive is armed.
    Armed,
    /// Its cancellation was requested; it ends soon.
    Cancelling,
    /// The buffer ring was empty; waiting in the shard's list.
    WaitBuffer,
}

#[derive(Debug)]
pub struct Connection {
    pub fd: RawFd,
    pub owner: Owner,
    pub inflight: u16,
    pub state: ConnState,
    pub recv: RecvState,
    /// For server connections: which server.
    pub server: Option<ServerRef>,
    /// For a session-owned private server connection: the session, whose
    /// list and the server's `sess_conns` list name it until it is released.
    pub private_to: Option<Key>,
    /// Requests this connection has carried (a server connection that
    /// served more than one is "proven" reusable).
    pub requests: u32,
    /// The receive was wanted again while its cancellation was in flight:
    /// re-arm it when the cancelled receive completes.
    pub rearm: bool,
}

impl Connection {
    pub fn new(fd: RawFd, owner: Owner) -> Connection {
        Connection {
            fd,
            owner,
            inflight: 0,
            state: ConnState::Open,
            recv: RecvState::Off,
            server: None,
            private_to: None,
            requests: 0,
            rearm: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == ConnState::Open
    }
}
