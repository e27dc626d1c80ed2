//! L6: the stream. In TCP mode one stream carries the whole tunnel of a
//! session: it picks a server (or waits in the queue), connects with retries
//! and redispatch, then moves bytes in both directions through two `Pipe`s
//! and ends when both directions have passed their FIN on, or on an error or
//! a timeout. Its end is recorded as HAProxy does: a cause and the phase in
//! which it happened.

mod tcp;
pub mod term;

use std::sync::Arc;

use crate::backend::ServerShared;
use crate::shard::ring::{BufLease, BufRing};
use crate::shard::timer::Deadline;
use crate::shard::token::Key;
pub use term::{Cause, Phase, Termination};

/// Client data that arrived with the handshake, to forward first.
#[derive(Debug)]
pub enum FirstChunk {
    Lease { lease: BufLease, off: u32, end: u32 },
    Owned(Box<[u8]>),
}

impl FirstChunk {
    pub fn release(self, bufs: &mut BufRing) {
        if let FirstChunk::Lease { lease, .. } = self {
            bufs.recycle(lease);
        }
    }

    fn into_chunk(self) -> Chunk {
        match self {
            FirstChunk::Lease { lease, off, end } => Chunk::Lease { lease, off, end },
            FirstChunk::Owned(data) => Chunk::Owned { data, off: 0 },
        }
    }
}

/// Bytes on their way to one side: either a provided buffer leased from the
/// ring (the steady state: no allocation) or owned bytes (a PROXY header to
/// a server, or handshake leftovers).
#[derive(Debug)]
pub enum Chunk {
    Lease { lease: BufLease, off: u32, end: u32 },
    Owned { data: Box<[u8]>, off: u32 },
}

impl Chunk {
    fn remaining(&self) -> u32 {
        match self {
            Chunk::Lease { off, end, .. } => end - off,
            Chunk::Owned { data, off } => data.len() as u32 - off,
        }
    }

    fn advance(&mut self, n: u32) {
        match self {
            Chunk::Lease { off, .. } | Chunk::Owned { off, .. } => *off += n,
        }
    }

    fn release(self, bufs: &mut BufRing) {
        if let Chunk::Lease { lease, .. } = self {
            bufs.recycle(lease);
        }
    }
}

/// Direction of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server: reads the front connection, writes the back one.
    C2S,
    /// Server to client.
    S2C,
}

/// One direction's state. A pipe holds at most one chunk in flight: the next
/// receive is armed only once the previous chunk is fully sent, which is the
/// backpressure (a slow reader stops the other side's reads, and the kernel's
/// socket buffers then stop the writer).
#[derive(Debug)]
pub enum PipeState {
    /// Not started (the server connection is not up yet).
    Idle,
    /// A receive is armed on the source.
    Reading,
    /// The buffer ring was empty; waiting in the shard's list for a buffer.
    WaitBuffer,
    /// A send of this chunk is armed on the destination.
    Sending(Chunk),
    /// The source sent its FIN; shutdown(SHUT_WR) of the destination is armed.
    ShuttingDown,
    /// The FIN was passed on; this direction is finished.
    Done,
}

#[derive(Debug)]
pub struct Pipe {
    pub state: PipeState,
    /// A chunk to send after the current one (handshake leftovers behind a
    /// PROXY header sent to the server).
    pub next: Option<Chunk>,
    /// Bytes delivered to the destination.
    pub bytes: u64,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            state: PipeState::Idle,
            next: None,
            bytes: 0,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, PipeState::Done)
    }

    /// Gives back every leased buffer the pipe holds.
    fn release(&mut self, bufs: &mut BufRing) {
        if let PipeState::Sending(chunk) = std::mem::replace(&mut self.state, PipeState::Done) {
            chunk.release(bufs);
        }
        if let Some(chunk) = self.next.take() {
            chunk.release(bufs);
        }
    }
}

/// Where the stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Waiting in the backend queue for a server slot, until `until`.
    Queued { until: u64 },
    /// Waiting out the turn-around before retrying a failed connect.
    TurnAround { until: u64 },
    /// A connect to the chosen server is in flight, until `until`.
    Connecting { until: u64 },
    /// Both connections up: data flows through the pipes.
    Established,
    /// Terminated; waiting for the kernel to hand back every operation
    /// before the slot (and the leased buffers) are released.
    Closing,
}

#[derive(Debug)]
pub struct Stream {
    pub session: Key,
    pub frontend: usize,
    pub backend: Option<usize>,
    pub cli: Option<Key>,
    pub srv: Option<Key>,
    /// Connections still referring to this stream (open or closing); the
    /// stream is freed when it is closing and this drops to zero.
    pub live_conns: u8,
    /// Server whose connection slot this stream holds.
    pub server: Option<usize>,
    /// Keeps the server (and the address its connect reads) alive.
    pub server_ref: Option<Arc<ServerShared>>,
    pub retries_left: u32,
    /// Failed connect attempts so far.
    pub failures: u32,
    pub state: StreamState,
    pub c2s: Pipe,
    pub s2c: Pipe,
    /// Data that came with the handshake, forwarded once connected.
    pub first: Option<FirstChunk>,
    pub cli_last: u64,
    pub srv_last: u64,
    /// The client sent its FIN; once passed on, the server side is
    /// half-closed and `timeout server-fin` applies to it.
    pub cli_fin: bool,
    /// The server sent its FIN; once passed on, `timeout client-fin`
    /// applies to the client side.
    pub srv_fin: bool,
    pub in_queue: bool,
    pub deadline: Deadline,
    pub term: Option<Termination>,
}

impl Stream {
    fn pipe_mut(&mut self, dir: Dir) -> &mut Pipe {
        match dir {
            Dir::C2S => &mut self.c2s,
            Dir::S2C => &mut self.s2c,
        }
    }
}
