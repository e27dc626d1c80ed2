//! L6: the stream. In TCP mode one stream carries the whole tunnel of a
//! session: it picks a server (or waits in the queue), connects with retries
//! and redispatch, then moves bytes in both directions through two `Pipe`s
//! and ends when both directions have passed their FIN on, or on an error or
//! a timeout. Its end is recorded as HAProxy does: a cause and the phase in
//! which it happened.

pub mod http;
pub mod log;
pub(crate) mod pipe;
pub(crate) mod tcp;
pub mod term;

use std::sync::Arc;

use crate::backend::ServerShared;
use crate::shard::Io;
use crate::shard::ring::{BufLease, BufRing};
use crate::shard::timer::Deadline;
use crate::shard::token::Key;
pub use pipe::Pipe;
pub use term::{Cause, Phase, Termination};

/// Bytes on their way to one side: either a provided buffer leased from the
/// ring (the steady state: no allocation) or owned bytes (a PROXY header to
/// a server, or handshake leftovers).
#[derive(Debug)]
pub enum Chunk {
    Lease {
        lease: BufLease,
        off: u32,
        end: u32,
    },
    /// `data[off..]`; the vector comes from (and returns to) the shard's
    /// `VecPool`, so owned chunks cost no allocation once warm.
    Owned {
        data: Vec<u8>,
        off: u32,
    },
    /// Bytes with a static lifetime (HAProxy's canned error pages).
    Static {
        data: &'static [u8],
        off: u32,
    },
}

impl Chunk {
    pub fn remaining(&self) -> u32 {
        match self {
            Chunk::Lease { off, end, .. } => end - off,
            Chunk::Owned { data, off } => data.len() as u32 - off,
            Chunk::Static { data, off } => data.len() as u32 - off,
        }
    }

    pub fn advance(&mut self, n: u32) {
        match self {
            Chunk::Lease { off, .. } | Chunk::Owned { off, .. } | Chunk::Static { off, .. } => {
                *off += n
            }
        }
    }

    /// The bytes still to send.
    pub fn bytes<'a>(&'a self, bufs: &'a BufRing) -> &'a [u8] {
        match self {
            Chunk::Lease { lease, off, end } => &bufs.data(lease, *end as usize)[*off as usize..],
            Chunk::Owned { data, off } => &data[*off as usize..],
            Chunk::Static { data, off } => &data[*off as usize..],
        }
    }

    /// Gives the chunk's memory back: the lease to the buffer ring, the
    /// vector to the pool.
    pub fn release(self, io: &mut Io) {
        match self {
            Chunk::Lease { lease, .. } => io.bufs.recycle(lease),
            Chunk::Owned { data, .. } => io.vecs.put(data),
            Chunk::Static { .. } => {}
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

/// Where the stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// HTTP: reading the request head, until `until` (`timeout
    /// http-request`).
    Request { until: u64 },
    /// HTTP: sending an answer of the proxy's own; no server involved.
    Answering,
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
    /// The configuration snapshot the stream runs on from start to end,
    /// whatever reloads happen meanwhile.
    pub rt: crate::shard::Snap,
    pub frontend: usize,
    pub backend: Option<usize>,
    pub cli: Option<Key>,
    pub srv: Option<Key>,
    /// Connections still referring to this stream (open or closing); the
    /// stream is freed when it is closing and this drops to zero.
    pub live_conns: u8,
    /// Keeps the server (and the address its connect reads) alive.
    pub server_ref: Option<Arc<ServerShared>>,
    pub retries_left: u32,
    /// Failed connect attempts so far.
    pub failures: u32,
    pub state: StreamState,
    pub c2s: Pipe,
    pub s2c: Pipe,
    /// Data that came with the handshake, forwarded once connected.
    pub first: Option<Chunk>,
    pub cli_last: u64,
    pub srv_last: u64,
    /// The client sent its FIN; once passed on, the server side is
    /// half-closed and `timeout server-fin` applies to it.
    pub cli_fin: bool,
    /// The server sent its FIN; once passed on, `timeout client-fin`
    /// applies to the client side.
    pub srv_fin: bool,
    pub in_queue: bool,
    /// Counted in its backend's current streams (`stream_enter_backend`).
    pub be_counted: bool,
    /// Queued for this server in particular (its queue), not for any
    /// server of the backend.
    pub wait_server: Option<u32>,
    pub deadline: Deadline,
    /// How the stream ended (the log's termination state); set as soon as
    /// the proxy answers by itself, before the answer is even sent.
    pub term: Option<Termination>,
    /// HTTP mode: the transaction (L7). None in TCP mode and once an HTTP
    /// stream became a tunnel.
    /// Boxed (from the shard's free list, so no allocation once warm): a
    /// TCP stream does not pay for it in its slab slot.
    pub http: Option<Box<http::HttpTxn>>,
    /// The client connection went back to its session (HTTP keep-alive):
    /// freeing the stream must not end the session.
    pub keep_session: bool,
    /// For the log line.
    pub times: log::StreamTimes,
    /// `balance uri` / `hdr(name)`: the hash of what they select in this
    /// stream's request.
    pub lb_key: Option<u32>,
    /// Stick counters the stream tracked itself (`tcp-request content`,
    /// `http-request`): given back when the stream is freed. Its session's
    /// are read through the session, never copied here (seed 002).
    pub stk: crate::stick::Trackers,
    /// Keys of the backend's `stick` rules, chosen when the request was
    /// at hand, used when a server is assigned.
    pub stick: Option<Box<crate::http::StickKeys>>,
    /// Bytes (client to server, server to client) already added to the
    /// stick counters the stream sees: a TCP tunnel reports as it flows.
    pub stk_bytes: (u64, u64),
}

impl Stream {
    /// The stick counters the stream sees: each `scN` its own, else its
    /// session's (found in `sessions`), seed 002.
    pub fn sc<'a>(
        &'a self,
        sessions: &'a crate::shard::token::GenSlab<crate::session::Session>,
    ) -> crate::stick::Sc<'a> {
        let sess = sessions.get(self.session).and_then(|s| s.stk.as_deref());
        crate::stick::Sc::new(sess, Some(&self.stk))
    }

    /// Bytes moved (from the client, to it) not yet added to the stick
    /// counters (`stk_bytes`).
    pub fn unreported_bytes(&self) -> (u64, u64) {
        (
            self.c2s.bytes - self.stk_bytes.0,
            self.s2c.bytes - self.stk_bytes.1,
        )
    }

    /// The slot of the server the stream is bound to (whose connection
    /// slot it holds), if any.
    pub fn server(&self) -> Option<usize> {
        self.server_ref.as_ref().map(|s| s.id.slot as usize)
    }

    /// Whether the source of `dir` should be read: always in TCP mode (the
    /// pipe stops at EOF by itself), as the transaction says in HTTP mode.
    pub fn wants_data(&self, dir: Dir) -> bool {
        match &self.http {
            None => true,
            Some(txn) => txn.wants_data(dir == Dir::C2S),
        }
    }

    fn pipe_mut(&mut self, dir: Dir) -> &mut Pipe {
        match dir {
            Dir::C2S => &mut self.c2s,
            Dir::S2C => &mut self.s2c,
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// What an idle proxied connection costs in user space, in the slabs
    /// (two connections, a session, a stream): kept small on purpose.
    #[test]
    fn per_connection_structures_stay_small() {
        let stream = std::mem::size_of::<super::Stream>();
        let session = std::mem::size_of::<crate::session::Session>();
        let conn = std::mem::size_of::<crate::connection::Connection>();
        let total = stream + session + 2 * conn;
        eprintln!("stream {stream} session {session} connection {conn} total {total}");
        assert!(total <= 1024, "{total} bytes per proxied connection");
    }
}
