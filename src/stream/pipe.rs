//! One direction of a stream: a multishot receive on the source feeding a
//! short queue of chunks that are sent, in order, one send at a time, to the
//! destination; then the FIN passed on.
//!
//! Backpressure: when `PIPE_DEPTH` chunks wait (the destination is slower
//! than the source), the receive is cancelled; it is re-armed once the queue
//! drains below that. The kernel's socket buffers then push back on the
//! sender. A receive that finds the buffer ring empty waits in the shard's
//! `wait_buf` list.
//!
//! Every decision is taken by `pipe_pump` from the pipe's state, so each
//! completion handler only records what happened and calls it.

use super::{Cause, Phase, Termination};
use super::{Chunk, Dir, Stream, StreamState};
use crate::connection::{RecvState, Side};
use crate::shard::ring::BufLease;
use crate::shard::token::{Key, Op, Token};
use crate::shard::{Io, Shard, WaitBuf};

/// Chunks queued before the receive is paused.
const PIPE_DEPTH: usize = 4;
/// Inline queue capacity (each slot costs 40 bytes in every stream, idle
/// ones included); receives already posted when the pause is requested may
/// add a few chunks beyond it, which spill to a vector only in that rare
/// case.
const INLINE: usize = PIPE_DEPTH;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Not started: the server connection is not up yet.
    Idle,
    /// Moving data.
    Open,
    /// The source's FIN was reached and everything sent: shutdown(SHUT_WR)
    /// of the destination is in flight.
    ShuttingDown,
    /// The FIN was passed on; nothing more will move this way.
    Done,
}

#[derive(Debug)]
pub struct Pipe {
    ring: [Option<Chunk>; INLINE],
    head: usize,
    len: usize,
    spill: Vec<Chunk>,
    /// A send of the front chunk is in flight.
    sending: bool,
    /// The source sent its FIN.
    pub eof: bool,
    pub flow: Flow,
    /// Bytes delivered to the destination.
    pub bytes: u64,
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe::new()
    }
}

impl Pipe {
    pub fn new() -> Pipe {
        Pipe {
            ring: Default::default(),
            head: 0,
            len: 0,
            spill: Vec::new(),
            sending: false,
            eof: false,
            flow: Flow::Idle,
            bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.flow == Flow::Done
    }

    pub fn queued(&self) -> usize {
        self.len + self.spill.len()
    }

    pub fn push(&mut self, chunk: Chunk) {
        if self.len < INLINE && self.spill.is_empty() {
            self.ring[(self.head + self.len) % INLINE] = Some(chunk);
            self.len += 1;
        } else {
            self.spill.push(chunk);
        }
    }

    /// Queues `chunk`, or appends its bytes to the last queued chunk when
    /// that one is an owned vector not being sent and both fit in
    /// `JOIN_CAP`: a rewritten HTTP head and the start of its body then
    /// leave in one send (one segment, one wakeup of the peer) instead of
    /// two. The cap keeps backpressure honest: reading pauses on a count of
    /// chunks, so no chunk may grow without bound while the pipe cannot
    /// send (a request waiting for its server, a slow client).
    pub fn push_joined(&mut self, chunk: Chunk, io: &mut Io) {
        /// Most bytes a joined chunk holds: one default `tune.bufsize`.
        const JOIN_CAP: usize = 16384;
        let n = self.queued();
        // The front chunk may be in the kernel's hands: never touched.
        let back_free = n >= 2 || (n == 1 && !self.sending);
        if back_free
            && let Some(Chunk::Owned { data, .. }) = self.back_mut()
            && data.len() + chunk.remaining() as usize <= JOIN_CAP
        {
            data.extend_from_slice(chunk.bytes(&io.bufs));
            chunk.release(io);
            return;
        }
        self.push(chunk);
    }

    fn back_mut(&mut self) -> Option<&mut Chunk> {
        if let Some(c) = self.spill.last_mut() {
            return Some(c);
        }
        if self.len == 0 {
            return None;
        }
        self.ring[(self.head + self.len - 1) % INLINE].as_mut()
    }

    /// Puts a chunk before everything queued (a PROXY header in front of
    /// an HTTP request already waiting for its connection).
    pub fn push_front(&mut self, chunk: Chunk) {
        if self.len == INLINE {
            let last = self.ring[(self.head + self.len - 1) % INLINE]
                .take()
                .expect("full ring");
            self.spill.insert(0, last);
            self.len -= 1;
        }
        self.head = (self.head + INLINE - 1) % INLINE;
        self.ring[self.head] = Some(chunk);
        self.len += 1;
    }

    fn front(&self) -> Option<&Chunk> {
        if self.len == 0 {
            return None;
        }
        self.ring[self.head].as_ref()
    }

    fn front_mut(&mut self) -> Option<&mut Chunk> {
        if self.len == 0 {
            return None;
        }
        self.ring[self.head].as_mut()
    }

    fn pop(&mut self) -> Option<Chunk> {
        if self.len == 0 {
            return None;
        }
        let c = self.ring[self.head].take();
        self.head = (self.head + 1) % INLINE;
        self.len -= 1;
        if !self.spill.is_empty() {
            // Keep order: the oldest spilled chunk moves into the ring.
            let next = self.spill.remove(0);
            self.ring[(self.head + self.len) % INLINE] = Some(next);
            self.len += 1;
        }
        c
    }

    /// Drops every queued chunk that no send is using (the proxy answers
    /// itself: what was queued for the server will never go).
    pub fn discard_queued(&mut self, io: &mut Io) {
        let keep = if self.sending { self.pop() } else { None };
        while let Some(c) = self.pop() {
            c.release(io);
        }
        if let Some(c) = keep {
            self.push(c);
        }
    }

    /// Gives back every leased buffer the pipe holds (the stream is being
    /// freed: no operation on them is in the kernel any more).
    pub fn release(&mut self, io: &mut Io) {
        while let Some(c) = self.pop() {
            c.release(io);
        }
        self.flow = Flow::Done;
    }
}

/// Source and destination sides of a direction.
fn sides(dir: Dir) -> (Side, Side) {
    match dir {
        Dir::C2S => (Side::Front, Side::Back),
        Dir::S2C => (Side::Back, Side::Front),
    }
}

fn conn_of(st: &Stream, side: Side) -> Option<Key> {
    match side {
        Side::Front => st.cli,
        Side::Back => st.srv,
    }
}

impl Shard {
    /// Issues whatever the pipe's state calls for: the next send, the FIN,
    /// (re)arming or pausing the receive.
    pub(super) fn pipe_pump(&mut self, sk: Key, dir: Dir) {
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        if st.state == StreamState::Closing {
            return;
        }
        let (src_side, dst_side) = sides(dir);
        let (src, dst) = (conn_of(st, src_side), conn_of(st, dst_side));
        // An HTTP stream reads its request, and may send an internal answer,
        // before (or without) a server connection: the source and the
        // destination are each optional here.
        let wants_source = st.wants_data(dir);
        // Nothing goes to a server connection before its connect completes.
        let can_send = dst_side == Side::Front || st.state == StreamState::Established;
        let pipe = st.pipe_mut(dir);
        if pipe.flow != Flow::Open {
            return;
        }
        // 1. Send the front chunk.
        let dst_open = dst.is_some_and(|d| self.conns.get(d).is_some_and(|c| c.is_open()));
        if !pipe.sending && dst_open && can_send && pipe.front().is_some() {
            let dst = dst.expect("checked");
            pipe.sending = true;
            let chunk = pipe.front().expect("checked");
            if let Some(conn) = self.conns.get_mut(dst) {
                conn.inflight += 1;
                let fd = conn.fd;
                let tok = Token::new(Op::Send, dst).encode();
                // The chunk stays at the front of the queue until this send
                // completes (the ring module's ownership rule).
                let r = match chunk {
                    Chunk::Lease { lease, off, end } => {
                        self.io
                            .ring
                            .send_lease(fd, &self.io.bufs, lease, *off, *end, tok)
                    }
                    Chunk::Owned { data, off } => self.io.ring.send_owned(fd, data, *off, tok),
                    Chunk::Static { data, off } => self.io.ring.send_owned(fd, data, *off, tok),
                };
                if let Err(e) = r {
                    log::error!("shard {}: cannot submit to io_uring: {e}", self.id);
                    self.stopping = true;
                }
            }
        }
        let st = self.streams.get_mut(sk).expect("checked above");
        let pipe = st.pipe_mut(dir);
        // 2. Pass the FIN on once everything before it is sent.
        if pipe.eof && !pipe.sending && pipe.queued() == 0 {
            if let Some(dst) = dst {
                pipe.flow = Flow::ShuttingDown;
                self.conn_op(dst, Op::Shutdown, |r, fd, tok| {
                    r.shutdown(fd, libc::SHUT_WR, tok)
                });
            }
            return;
        }
        // 3. Keep the receive armed while there is room, pause it when not.
        let want = pipe.queued() < PIPE_DEPTH && !pipe.eof && wants_source;
        if let Some(src) = src {
            self.conn_want_recv(src, want);
        }
    }

    /// Nothing left to send in either direction.
    pub(super) fn pipes_idle(st: &Stream) -> bool {
        Self::pipe_idle(&st.c2s) && Self::pipe_idle(&st.s2c)
    }

    pub(super) fn pipe_idle(p: &Pipe) -> bool {
        !p.sending && p.queued() == 0
    }

    /// Arms the connection's multishot receive when `want` and it is off,
    /// or cancels it when not wanted and armed.
    pub fn conn_want_recv(&mut self, ck: Key, want: bool) {
        let Some(conn) = self.conns.get_mut(ck).filter(|c| c.is_open()) else {
            return;
        };
        match (conn.recv, want) {
            // Wanted again before the cancellation completed: re-arm then.
            (RecvState::Cancelling, w) => conn.rearm = w,
            (RecvState::Off, true) => {
                conn.recv = RecvState::Armed;
                let bgid = self.io.bufs.bgid();
                self.conn_op(ck, Op::Recv, |r, fd, tok| r.recv_multi(fd, bgid, tok));
            }
            (RecvState::Armed, false) => {
                conn.recv = RecvState::Cancelling;
                let target = Token::new(Op::Recv, ck).encode();
                self.conn_op(ck, Op::Cancel, |r, _fd, tok| r.cancel_op(target, tok));
            }
            _ => {}
        }
    }

    /// Starts moving data once the server connection is up; `first` chunks
    /// (PROXY header to the server, handshake leftovers) go out first.
    pub(super) fn pipes_start(&mut self, sk: Key, first: [Option<Chunk>; 2]) {
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        for c in first.into_iter().flatten() {
            st.c2s.push(c);
        }
        st.c2s.flow = Flow::Open;
        st.s2c.flow = Flow::Open;
        self.pipe_pump(sk, Dir::C2S);
        self.pipe_pump(sk, Dir::S2C);
    }

    /// A receive completion on the source of `dir`.
    pub(super) fn pipe_on_recv(
        &mut self,
        sk: Key,
        side: Side,
        dir: Dir,
        res: i32,
        lease: Option<BufLease>,
    ) {
        let now = self.now;
        let st = self.streams.get_mut(sk).expect("caller checked");
        if st.http.is_some() {
            // HTTP parses and frames what it receives before queueing it.
            self.http_on_recv(sk, side, res, lease);
            return;
        }
        super::tcp::touch(st, side, now);
        let src = conn_of(st, side);
        let pipe = st.pipe_mut(dir);
        match (res, lease) {
            (n, Some(lease)) if n > 0 => {
                pipe.push(Chunk::Lease {
                    lease,
                    off: 0,
                    end: n as u32,
                });
            }
            (0, lease) => {
                if let Some(l) = lease {
                    self.io.bufs.recycle(l);
                }
                pipe.eof = true;
                match side {
                    Side::Front => st.cli_fin = true,
                    Side::Back => st.srv_fin = true,
                }
                // The other side becomes half-closed: its *-fin timeout may
                // now apply.
                self.stream_rearm_timer(sk);
            }
            (e, lease) if e == -libc::ENOBUFS || e == -libc::ECANCELED => {
                if let Some(l) = lease {
                    self.io.bufs.recycle(l);
                }
                if e == -libc::ENOBUFS
                    && let Some(conn) = src.and_then(|k| self.conns.get_mut(k))
                {
                    conn.recv = RecvState::WaitBuffer;
                    self.wait_buf.push_back(WaitBuf::Stream(sk, dir));
                }
            }
            (_, lease) => {
                if let Some(l) = lease {
                    self.io.bufs.recycle(l);
                }
                let cause = match side {
                    Side::Front => Cause::ClientAbort,
                    Side::Back => Cause::ServerAbort,
                };
                self.stream_terminate(sk, Termination::new(cause, Phase::Data));
                return;
            }
        }
        self.pipe_pump(sk, dir);
    }

    /// A send completion on the destination of `dir`.
    pub(super) fn pipe_on_send(&mut self, sk: Key, side: Side, dir: Dir, res: i32) {
        let now = self.now;
        let st = self.streams.get_mut(sk).expect("caller checked");
        if res <= 0
            && side == Side::Back
            && let Some(txn) = st.http.as_mut()
        {
            // HTTP: the server stopped reading the request (it may have
            // answered early, e.g. 413, then closed): the rest of the
            // request is dropped and the client connection will close, but
            // the server's response is still read and delivered (or, if it
            // never comes, answered with 502 when the server closes).
            txn.cut_request();
            let pipe = st.pipe_mut(dir);
            pipe.sending = false;
            pipe.discard_queued(&mut self.io);
            self.http_maybe_done(sk);
            return;
        }
        if res <= 0 {
            let cause = match side {
                Side::Front => Cause::ClientAbort,
                Side::Back => Cause::ServerAbort,
            };
            self.stream_terminate(sk, Termination::new(cause, Phase::Data));
            return;
        }
        super::tcp::touch(st, side, now);
        let tcp = st.http.is_none();
        let pipe = st.pipe_mut(dir);
        pipe.sending = false;
        pipe.bytes += res as u64;
        let Some(front) = pipe.front_mut() else {
            return;
        };
        front.advance(res as u32);
        if front.remaining() == 0 {
            let done = pipe.pop().expect("front exists");
            done.release(&mut self.io);
        }
        if tcp {
            self.stream_stick_bytes(sk);
        }
        self.pipe_pump(sk, dir);
        if self.streams.get(sk).is_some_and(|st| st.http.is_some()) {
            self.http_maybe_done(sk);
        }
    }

    pub(super) fn pipe_on_shutdown(&mut self, sk: Key, dir: Dir) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        st.pipe_mut(dir).flow = Flow::Done;
        if st.c2s.is_done() && st.s2c.is_done() {
            self.stream_terminate(sk, Termination::new(Cause::None, Phase::Data));
        }
    }

    /// A buffer came back for a pipe that was waiting for one.
    pub fn stream_rearm_recv(&mut self, sk: Key, dir: Dir) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let (src_side, _) = sides(dir);
        let Some(conn) = conn_of(st, src_side).and_then(|k| self.conns.get_mut(k)) else {
            return;
        };
        if conn.recv == RecvState::WaitBuffer {
            conn.recv = RecvState::Off;
            self.pipe_pump(sk, dir);
        }
    }
}
