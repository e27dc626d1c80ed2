//! L5: the session, which lives as long as the client connection.
//!
//! Seed 001: an accepted connection first gets an *embryonic* session, the
//! minimum needed to finish the handshake: listener, frontend, addresses and
//! a handshake deadline (`timeout client-hs`, else `timeout client`). It has
//! no data buffer and no stream. The handshake here is the PROXY protocol on
//! `accept-proxy` binds; a bind without it completes at once. When the
//! deadline strikes or the header is malformed, the embryonic session is
//! killed cheaply: the connection is closed, the event counted and logged at
//! debug level, and nothing else is disturbed.
//!
//! A full session creates its stream (in TCP mode one stream carries the
//! whole tunnel; HTTP mode will create one per request).

use std::net::SocketAddr;

use crate::connection::{Connection, Owner};
use crate::http::TcpPhase;
use crate::proto::proxy::{self, Decoded};
use crate::shard::Shard;
use crate::shard::ring::Completion;
use crate::shard::sys;
use crate::shard::timer::{Deadline, TimerEntry, TimerOwner};
use crate::shard::token::{Key, Op, Token};
use crate::stream::Chunk;

mod http;
mod rules;

/// Addresses of the session as the rest of the proxy must see them: the
/// ones a PROXY header advertised, else the connection's own, looked up only
/// when something needs them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionAddrs {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// Set by the handshake: `src`/`dst` came from a PROXY header (or the
    /// header said to keep the real ones, which are then looked up).
    pub resolved: bool,
}

#[derive(Debug)]
pub enum SessionState {
    /// Waiting for the PROXY header. `partial` holds a header split across
    /// reads (rare; allocated only then).
    Embryonic { partial: Option<Vec<u8>> },
    /// Handshake done; `stream` is the stream currently running on it.
    Full { stream: Option<Key> },
    /// HTTP: the last answer is sent and our side shut; reading (and
    /// discarding) until the client closes or the linger deadline, so that
    /// closing with unread bytes does not reset the answer away.
    Lingering,
}

/// A server connection owned by the session (seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivConn {
    pub backend: usize,
    pub server: usize,
    pub conn: Key,
}

#[derive(Debug)]
pub struct Session {
    pub listener: usize,
    pub frontend: usize,
    /// The snapshot of its current (or last) stream: the one it was
    /// accepted under, then the latest at each new HTTP request (see
    /// `Shard::stream_snapshot`).
    pub rt: crate::shard::Snap,
    /// The client connection (L4).
    pub cli: Key,
    pub addrs: SessionAddrs,
    pub state: SessionState,
    pub deadline: Deadline,
    /// Streams (HTTP requests) started on this session so far.
    pub requests: u32,
    /// Accept date (Unix ms) and instant (shard ms), for the log.
    pub accept_ms: i64,
    pub accepted_at: u64,
    /// When its last HTTP transaction ended (shard ms), for `Ti`.
    pub last_txn_end: u64,
    /// Private server connections (`http-reuse never`): kept for this
    /// session's next requests, never pooled, released when it ends. Each
    /// is also in its server's `sess_conns` list on this shard.
    pub priv_conns: Vec<PrivConn>,
    /// Stick counters tracked by `tcp-request connection` and `session`
    /// rules: the session's own, given back when it is freed (seed 002).
    /// Boxed: most sessions track nothing.
    pub stk: Option<Box<crate::stick::Trackers>>,
}

/// Why an embryonic session was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    Timeout,
    Proxy(proxy::Error),
    /// The client closed or reset before completing its header.
    ClientGone,
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeFailure::Timeout => f.write_str("handshake timeout"),
            HandshakeFailure::Proxy(e) => write!(f, "bad PROXY header: {e}"),
            HandshakeFailure::ClientGone => f.write_str("client closed during the handshake"),
        }
    }
}

impl Shard {
    /// Creates the embryonic session for a newly accepted connection, whose
    /// connection slots were already admitted.
    pub fn start_session(&mut self, li: usize, fd: std::os::fd::RawFd) {
        let fe = self.listeners[li].frontend;
        let accept_proxy = self.listeners[li].accept_proxy;
        let sk = self.sessions.insert(Session {
            listener: li,
            frontend: fe,
            rt: self.rt.clone(),
            cli: Key::new(0, 0),
            addrs: SessionAddrs::default(),
            state: SessionState::Embryonic { partial: None },
            deadline: Deadline::default(),
            requests: 0,
            accept_ms: crate::accesslog::clock::unix_ms(std::time::SystemTime::now()),
            accepted_at: self.now,
            last_txn_end: 0,
            priv_conns: Vec::new(),
            stk: None,
        });
        let ck = self.conns.insert(Connection::new(fd, Owner::Session(sk)));
        self.sessions.get_mut(sk).expect("just inserted").cli = ck;
        let c = &self.rt.frontends[fe].counters;
        c.enter(self.now);
        c.connection(self.now);
        // Process-wide: only the total is shown (`show info`); no rate.
        crate::stats::Counters::inc(&self.rt.counters.conn_tot);
        if !self.rt.config.frontends[fe].tcp_req_conn.is_empty()
            && !self.session_tcp_rules(sk, TcpPhase::Connection)
        {
            return;
        }
        if !accept_proxy {
            self.session_complete(sk, None);
            return;
        }
        let t = &self.rt.config.frontends[fe].timeouts;
        if let Some(hs) = t.client_hs.or(t.client) {
            let at = self.now + hs.as_millis() as u64;
            let s = self.sessions.get_mut(sk).expect("just inserted");
            self.timers
                .set(&mut s.deadline, at, TimerOwner::Session, sk);
        }
        self.session_arm_recv(sk);
    }

    pub fn session_arm_recv(&mut self, sk: Key) {
        let Some(s) = self.sessions.get(sk) else {
            return;
        };
        let ck = s.cli;
        if matches!(s.state, SessionState::Full { stream: None }) {
            // An idle HTTP session keeps a multishot receive armed.
            self.conn_want_recv(ck, true);
            return;
        }
        let bgid = self.io.bufs.bgid();
        self.conn_op(ck, Op::Recv, |r, fd, tok| r.recv_select(fd, bgid, tok));
    }

    /// A receive completed during the handshake.
    pub fn session_io(&mut self, sk: Key, tok: Token, c: Completion) {
        if tok.op != Op::Recv {
            // The shutdown of a lingering close: nothing to do.
            return;
        }
        let lease = c.buffer_id().map(|bid| self.io.bufs.lease(bid));
        if self
            .sessions
            .get(sk)
            .is_some_and(|s| matches!(s.state, SessionState::Lingering))
        {
            if let Some(l) = lease {
                self.io.bufs.recycle(l);
            }
            if c.result <= 0 && c.result != -libc::ENOBUFS {
                self.session_kill(sk);
            }
            return;
        }
        if self
            .sessions
            .get(sk)
            .is_some_and(|s| matches!(s.state, SessionState::Full { .. }))
        {
            self.session_idle_io(sk, c.result, lease);
            return;
        }
        if c.result <= 0 {
            if let Some(l) = lease {
                self.io.bufs.recycle(l);
            }
            if c.result == -libc::ENOBUFS {
                // The buffer ring is empty: wait for a buffer to come back
                // (the handshake deadline still bounds the wait).
                self.wait_buf.push_back(crate::shard::WaitBuf::Session(sk));
                return;
            }
            self.session_fail(sk, HandshakeFailure::ClientGone);
            return;
        }
        let Some(lease) = lease else {
            self.session_fail(sk, HandshakeFailure::ClientGone);
            return;
        };
        let n = c.result as usize;
        let Some(s) = self.sessions.get_mut(sk) else {
            self.io.bufs.recycle(lease);
            return;
        };
        let SessionState::Embryonic { partial } = &mut s.state else {
            self.io.bufs.recycle(lease);
            return;
        };
        let data = self.io.bufs.data(&lease, n);
        // Common case: the whole header is in this first read; decode in
        // place and keep the rest of the buffer as the stream's first chunk.
        let outcome = match partial {
            None => proxy::decode(data).map(|d| (d, false)),
            Some(acc) => {
                acc.extend_from_slice(data);
                proxy::decode(acc).map(|d| (d, true))
            }
        };
        match outcome {
            Err(e) => {
                self.io.bufs.recycle(lease);
                self.session_fail(sk, HandshakeFailure::Proxy(e));
            }
            Ok((Decoded::Partial { .. }, accumulated)) => {
                if !accumulated {
                    *partial = Some(data.to_vec());
                }
                self.io.bufs.recycle(lease);
                self.session_arm_recv(sk);
            }
            Ok((Decoded::Complete { header, consumed }, accumulated)) => {
                s.addrs.resolved = true;
                if let Some(a) = header.addrs {
                    s.addrs.src = Some(a.src);
                    s.addrs.dst = Some(a.dst);
                }
                let first = if accumulated {
                    let acc = partial.take().expect("accumulated");
                    self.io.bufs.recycle(lease);
                    (consumed < acc.len()).then(|| {
                        let mut v = self.io.vecs.take();
                        v.extend_from_slice(&acc[consumed..]);
                        Chunk::Owned { data: v, off: 0 }
                    })
                } else if consumed < n {
                    Some(Chunk::Lease {
                        lease,
                        off: consumed as u32,
                        end: n as u32,
                    })
                } else {
                    self.io.bufs.recycle(lease);
                    None
                };
                self.session_complete(sk, first);
            }
        }
    }

    fn session_fail(&mut self, sk: Key, why: HandshakeFailure) {
        match why {
            HandshakeFailure::Timeout => self.counters.handshake_timeouts += 1,
            _ => self.counters.handshake_errors += 1,
        }
        log::debug!("shard {}: embryonic session killed: {why}", self.id);
        self.session_kill(sk);
    }

    /// Ends a session that has no stream (embryonic, or between streams):
    /// close its connection; the slot goes when the close completes.
    pub fn session_kill(&mut self, sk: Key) {
        let Some(s) = self.sessions.get(sk) else {
            return;
        };
        if let SessionState::Full { stream: Some(_) } = s.state {
            // The stream owns the connection and ends the session itself.
            return;
        }
        let ck = s.cli;
        self.close_conn(ck);
    }

    pub fn session_timer(&mut self, e: TimerEntry) {
        let now = self.now;
        let Some(s) = self.sessions.get_mut(e.key()) else {
            return;
        };
        let idle = matches!(
            s.state,
            SessionState::Full { stream: None } | SessionState::Lingering
        );
        if !idle && !matches!(s.state, SessionState::Embryonic { .. }) {
            return;
        }
        if !self.timers.fired(&mut s.deadline, &e, now) {
            return;
        }
        let first_request =
            matches!(s.state, SessionState::Full { stream: None }) && s.requests == 0;
        if idle && first_request {
            // timeout http-request before any request: 408, as HAProxy.
            self.http_answer_idle(e.key(), 408);
        } else if idle {
            // http-keep-alive (or the end of a lingering close): an idle
            // connection is closed silently, as HAProxy does.
            self.session_kill(e.key());
        } else {
            self.session_fail(e.key(), HandshakeFailure::Timeout);
        }
    }

    /// The handshake is over: the session becomes full and starts its
    /// stream. `first` is client data that arrived behind the header.
    fn session_complete(&mut self, sk: Key, first: Option<Chunk>) {
        let Some(s) = self.sessions.get_mut(sk) else {
            if let Some(f) = first {
                f.release(&mut self.io);
            }
            return;
        };
        s.deadline.at_ms = u64::MAX;
        s.state = SessionState::Full { stream: None };
        if s.rt.frontends[s.frontend].needs_addrs {
            // Looked up once, now, while the client is surely there (a log
            // line written after it left still has its address); nothing
            // to do when a PROXY header gave them.
            self.session_addrs(sk);
        }
        let s = self
            .sessions
            .get_mut(sk)
            .expect("a lookup keeps the session");
        if !s.rt.config.frontends[s.frontend].tcp_req_sess.is_empty()
            && !self.session_tcp_rules(sk, TcpPhase::Session)
        {
            if let Some(f) = first {
                f.release(&mut self.io);
            }
            return;
        }
        let now = self.now;
        let s = self
            .sessions
            .get_mut(sk)
            .expect("the rules accepted the session");
        if let Some(t) = &s.stk {
            t.count_session(now);
        }
        if s.rt.config.frontends[s.frontend].mode == crate::config::Mode::Http {
            // HTTP: a stream is created per request, when one arrives.
            self.session_http_wait(sk, first);
            return;
        }
        let ck = s.cli;
        let stk = self.stream_new(sk, first);
        if let Some(s) = self.sessions.get_mut(sk) {
            s.state = SessionState::Full { stream: Some(stk) };
        }
        if let Some(conn) = self.conns.get_mut(ck) {
            conn.owner = Owner::Stream(stk, crate::connection::Side::Front);
        }
        self.stream_start(stk);
    }

    /// The client connection of a session with no stream was released.
    pub fn session_conn_released(&mut self, sk: Key, _conn: Key) {
        self.session_end(sk);
    }

    /// Frees the session and gives its connection slots back; its private
    /// server connections are closed (they leave the lists when released).
    pub fn session_end(&mut self, sk: Key) {
        if let Some(s) = self.sessions.remove(sk) {
            self.rt.frontends[s.frontend].counters.leave();
            for pc in &s.priv_conns {
                self.close_conn(pc.conn);
            }
            self.release_slots(s.frontend);
        }
    }

    /// The addresses known without a lookup: those of the PROXY header, or
    /// those looked up when the session became full because its frontend
    /// can use them (`needs_addrs`); unknown otherwise. The data path reads
    /// these; no syscall.
    pub fn session_known_addrs(&self, sk: Key) -> SessionAddrs {
        self.sessions.get(sk).map(|s| s.addrs).unwrap_or_default()
    }

    /// The session's addresses, looking up the real ones on first use when
    /// no PROXY header supplied them.
    pub fn session_addrs(&mut self, sk: Key) -> SessionAddrs {
        let Some(s) = self.sessions.get(sk) else {
            return SessionAddrs::default();
        };
        if s.addrs.src.is_some() && s.addrs.dst.is_some() {
            return s.addrs;
        }
        let fd = self.conns.get(s.cli).map(|c| c.fd);
        let bound = self.listeners.get(s.listener).and_then(|l| l.local);
        let (src, dst) = match fd {
            Some(fd) => (
                s.addrs.src.or_else(|| sys::peer_addr(fd)),
                s.addrs.dst.or(bound).or_else(|| sys::local_addr(fd)),
            ),
            None => (s.addrs.src, s.addrs.dst),
        };
        let s = self.sessions.get_mut(sk).expect("checked above");
        (s.addrs.src, s.addrs.dst) = (src, dst);
        s.addrs
    }
}
