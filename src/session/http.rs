//! An HTTP session between requests: no stream, no buffer, only the client
//! connection's multishot receive armed under `timeout http-request` (first
//! request) or `timeout http-keep-alive` (later ones), each falling back to
//! `timeout client` as in HAProxy.

use super::{Session, SessionState};
use crate::connection::Owner;
use crate::shard::Shard;
use crate::shard::ring::BufLease;
use crate::shard::timer::TimerOwner;
use crate::shard::token::Key;
use crate::stream::Chunk;

impl Shard {
    /// The session waits for its next request. Bytes already received
    /// (`pending`, a pipelined request) start it at once.
    pub fn session_http_wait(&mut self, sk: Key, pending: Option<Chunk>) {
        let Some(s) = self.sessions.get_mut(sk) else {
            if let Some(p) = pending {
                p.release(&mut self.io);
            }
            return;
        };
        s.state = SessionState::Full { stream: None };
        let cli = s.cli;
        if let Some(conn) = self.conns.get_mut(cli) {
            conn.owner = Owner::Session(sk);
        }
        if let Some(chunk) = pending {
            self.http_stream_start(sk, chunk);
            return;
        }
        let at = self.idle_deadline(sk);
        let s = self.sessions.get_mut(sk).expect("checked above");
        match at {
            Some(at) => self
                .timers
                .set(&mut s.deadline, at, TimerOwner::Session, sk),
            None => s.deadline.at_ms = u64::MAX,
        }
        self.conn_want_recv(cli, true);
    }

    /// Closes the client connection gracefully after the last answer: shut
    /// our side, drain what the client still sends, close when it closes or
    /// after `timeout client-fin` (else `client`), at most `MAX_LINGER_MS`.
    pub fn session_linger(&mut self, sk: Key) {
        const MAX_LINGER_MS: u64 = 2000;
        let Some(s) = self.sessions.get_mut(sk) else {
            return;
        };
        s.state = SessionState::Lingering;
        let cli = s.cli;
        let t = &s.rt.config.frontends[s.frontend].timeouts;
        let wait = t
            .client_fin
            .or(t.client)
            .map_or(MAX_LINGER_MS, |d| (d.as_millis() as u64).min(MAX_LINGER_MS));
        let at = self.now + wait;
        self.timers
            .set(&mut s.deadline, at, TimerOwner::Session, sk);
        if let Some(conn) = self.conns.get_mut(cli) {
            conn.owner = Owner::Session(sk);
        }
        self.conn_op(cli, crate::shard::token::Op::Shutdown, |r, fd, tok| {
            r.shutdown(fd, libc::SHUT_WR, tok)
        });
        self.conn_want_recv(cli, true);
    }

    fn idle_deadline(&self, sk: Key) -> Option<u64> {
        let s: &Session = self.sessions.get(sk)?;
        let t = &s.rt.config.frontends[s.frontend].timeouts;
        let wait = if s.requests == 0 {
            t.http_request.or(t.client)
        } else {
            t.http_keep_alive.or(t.http_request).or(t.client)
        };
        wait.map(|d| self.now + d.as_millis() as u64)
    }

    /// A receive completed on an idle session's connection.
    pub(super) fn session_idle_io(&mut self, sk: Key, res: i32, lease: Option<BufLease>) {
        match (res, lease) {
            (n, Some(lease)) if n > 0 => {
                if let Some(s) = self.sessions.get_mut(sk) {
                    s.deadline.at_ms = u64::MAX;
                }
                let chunk = Chunk::Lease {
                    lease,
                    off: 0,
                    end: n as u32,
                };
                self.http_stream_start(sk, chunk);
            }
            (e, lease) => {
                if let Some(l) = lease {
                    self.io.bufs.recycle(l);
                }
                if e == -libc::ENOBUFS {
                    self.wait_buf.push_back(crate::shard::WaitBuf::Session(sk));
                } else if e != -libc::ECANCELED {
                    // The client closed (or reset) its idle connection:
                    // nothing to log, as HAProxy with dontlognull.
                    self.session_kill(sk);
                }
            }
        }
    }
}
