//! Server choice for a request (private and pooled connections first) and
//! the end of a transaction: where each connection goes next.

use super::{ReqPhase, RspPhase};
use crate::backend::pool::{IdleConn, Reuse, SessConn};
use crate::connection::{Owner, ServerRef, Side};
use crate::session::PrivConn;
use crate::shard::Shard;
use crate::shard::token::Key;
use crate::stream::{Cause, Chunk, Dir, Phase, StreamState, Termination};

impl Shard {
    /// Keeps a transaction's box for the next request (bounded).
    pub(crate) fn recycle_txn(&mut self, txn: Box<super::HttpTxn>) {
        const KEEP: usize = 4096;
        if self.txns.len() < KEEP {
            self.txns.push(txn);
        }
    }

    /// `http-reuse` of backend `b`.
    pub(crate) fn backend_reuse(&self, b: usize) -> Reuse {
        self.rt.config.backends[b].http_reuse
    }

    /// Idle connections this shard may pool for server `i` of backend `b`:
    /// `pool-max-conn` shared out between shards (None: unlimited).
    fn pool_max(&self, b: usize, i: usize) -> Option<usize> {
        self.table.backends[b]
            .server(i)
            .and_then(|s| s.cfg.pool_max_conn)
            .map(|m| (m as usize).div_ceil(self.rt.shards))
    }

    /// The session's idle private connection in backend `b`: to `server`
    /// when given, else to any server usable now.
    fn idle_private(&self, session: Key, b: usize, server: Option<usize>) -> Option<PrivConn> {
        let table = &self.table.backends[b];
        let s = self.sessions.get(session)?;
        s.priv_conns.iter().copied().find(|pc| {
            pc.backend == b
                && server.map_or_else(
                    || table.server(pc.server).is_some_and(|s| s.usable()),
                    |i| pc.server == i,
                )
                && self
                    .conns
                    .get(pc.conn)
                    .is_some_and(|c| c.is_open() && matches!(c.owner, Owner::Private(_)))
        })
    }

    /// Picks where the request goes: the session's own private connection
    /// when it has a usable one in this backend (as HAProxy keeps a session
    /// on the server it holds a private connection to), else the load
    /// balancer (then, in `stream_connect`, an idle pooled connection before
    /// a new one).
    pub(super) fn http_assign(&mut self, sk: Key) {
        self.stream_enter_backend(sk);
        let st = self.streams.get(sk).expect("caller checked");
        let (session, b) = (st.session, st.backend.expect("assigned"));
        let Some(pc) = self.idle_private(session, b, None) else {
            self.stream_start(sk);
            return;
        };
        let srv = self.table.backends[b]
            .server(pc.server)
            .cloned()
            .expect("usable above");
        if !srv.try_acquire() {
            // At maxconn: wait for this server, as HAProxy queues a stream
            // already bound to its server in that server's queue.
            self.stream_enqueue_server(sk, b, pc.server);
            return;
        }
        if self.stream_bind_server(sk, b, pc.server, false) {
            self.http_attach(sk, pc.conn);
        }
    }

    /// Attaches an idle connection to the stream's server, as `http-reuse`
    /// allows for this request: the session's own private one (`never`; a
    /// stream that waited in that server's queue, or that load balancing
    /// sent back to it), else a pooled one. Used by `stream_connect`.
    pub(crate) fn http_take_idle(&mut self, sk: Key) -> bool {
        let Some(st) = self.streams.get(sk) else {
            return false;
        };
        let (Some(b), Some(i)) = (st.backend, st.server()) else {
            return false;
        };
        if self.backend_reuse(b) != Reuse::Never {
            return self.http_take_pooled(sk);
        }
        match self.idle_private(st.session, b, Some(i)) {
            Some(pc) => {
                self.http_attach(sk, pc.conn);
                true
            }
            None => false,
        }
    }

    /// Takes an idle pooled connection to the stream's server if `http-reuse`
    /// allows it for this request.
    fn http_take_pooled(&mut self, sk: Key) -> bool {
        let Some(st) = self.streams.get(sk) else {
            return false;
        };
        let (Some(b), Some(i)) = (st.backend, st.server()) else {
            return false;
        };
        let first = self
            .sessions
            .get(st.session)
            .is_none_or(|s| s.requests <= 1);
        let reuse = self.backend_reuse(b);
        loop {
            let Some(ck) = self.table.backends[b].servers[i].pool.take(reuse, first) else {
                return false;
            };
            if self.conns.get(ck).is_some_and(|c| c.is_open()) {
                self.http_attach(sk, ck);
                return true;
            }
        }
    }

    /// Attaches an existing (idle) server connection to the stream.
    fn http_attach(&mut self, sk: Key, ck: Key) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        st.srv = Some(ck);
        st.live_conns += 1;
        let (b, i) = (st.backend.expect("set"), st.server().expect("set"));
        if let Some(conn) = self.conns.get_mut(ck) {
            conn.owner = Owner::Stream(sk, Side::Back);
        }
        self.table.backends[b].servers[i].conn_used();
        self.stream_established(sk, true);
    }

    /// Ends the transaction once both messages are complete and sent.
    pub(in crate::stream) fn http_maybe_done(&mut self, sk: Key) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let Some(txn) = st.http.as_ref() else {
            return;
        };
        // After an answer of our own, what was bound for the server does not
        // count (a send to it may still be finishing while it closes).
        // Without a server connection any more (it closed after its
        // response), a send to it that is still finishing does not count
        // either: its completion goes to the closing connection.
        let idle = if txn.internal || st.srv.is_none() {
            Self::pipe_idle(&st.s2c)
        } else {
            Self::pipes_idle(st)
        };
        if st.state == StreamState::Closing
            || !matches!(txn.req, ReqPhase::Done)
            || !matches!(txn.rsp, RspPhase::Done)
            || !idle
        {
            return;
        }
        self.http_txn_end(sk);
    }

    /// The transaction is complete: the server connection goes back to the
    /// pool (or to the session's private list) when reusable, the client
    /// connection back to its session when keep-alive; the stream ends.
    fn http_txn_end(&mut self, sk: Key) {
        let now = self.now;
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        let session = st.session;
        let srv_keep = txn.srv_reusable && !txn.internal && st.state == StreamState::Established;
        let pending = txn.pending.take();
        // After the client's FIN, requests it already sent (pipelined) are
        // still answered, as HAProxy does; the connection closes once they
        // are (the next receive sees the FIN again).
        // A cut request leaves the rest of its body unread. An answer that
        // said `Connection: close` (a graceful stop, a reload removing the
        // frontend) closes. One that went out announcing keep-alive before
        // the stop began is kept to its word only with `option
        // idle-close-on-response` (its next request is then answered and
        // closed); otherwise the stop closes it like any idle connection.
        let keep_word =
            !self.soft_stopping || st.rt.config.frontends[st.frontend].idle_close_on_response;
        let cli_keep =
            txn.cli_keepalive && !txn.req_cut && (!st.cli_fin || pending.is_some()) && keep_word;
        log::debug!(
            "shard {}: http txn done: status {} ({} ms){}",
            self.id,
            txn.status,
            now.saturating_sub(txn.times.start),
            if cli_keep { ", keep-alive" } else { "" }
        );
        let term = st
            .term
            .unwrap_or(Termination::new(Cause::None, Phase::Data));
        // A transaction a server answered: into this shard's latency
        // histograms of its backend (one uncontended lock, no allocation
        // after the backend's first transaction on this shard).
        if let (false, Some(b)) = (txn.internal, st.backend) {
            let t = &txn.times;
            let response = (t.rsp_head_us != 0 && t.sent_us != 0)
                .then(|| t.rsp_head_us.saturating_sub(t.sent_us));
            let total = self.now_us.saturating_sub(t.start_us);
            self.rt.latency.shard(self.id).record(b, response, total);
            // And HAProxy's sliding averages (`qtime`..`ttime`, ms).
            if let Some(r) = response {
                let s = &st.times;
                let q = s.queue_end.saturating_sub(s.queue_start);
                let c = s.connected.saturating_sub(s.connect_start);
                let (r, t) = (r / 1000, total / 1000);
                self.rt.backends[b].counters.times(q, c, r, t);
                if let Some(srv) = st.server_ref.as_ref() {
                    srv.counters.times(q, c, r, t);
                }
            }
        }
        self.stream_log(sk, term);
        if let Some(s) = self.sessions.get_mut(session) {
            s.last_txn_end = now;
        }
        let st = self.streams.get_mut(sk).expect("caller checked");
        let srv = st.srv.take();
        let cli = st.cli;
        let (b, i) = (st.backend, st.server());
        st.state = StreamState::Closing;
        st.term = Some(term);
        if let Some(ck) = srv {
            match (srv_keep, b, i) {
                (true, Some(b), Some(i)) => {
                    st.live_conns -= 1;
                    self.table.backends[b].servers[i].used_conns -= 1;
                    self.server_conn_idle(ck, session, b, i);
                }
                _ => self.close_conn(ck),
            }
        }
        self.stream_release_server(sk);
        let st = self.streams.get_mut(sk).expect("still here");
        match (cli_keep, cli) {
            (true, Some(ck)) => {
                st.cli = None;
                st.live_conns -= 1;
                st.keep_session = true;
                self.stream_maybe_free(sk);
                let _ = ck;
                self.session_http_wait(session, pending);
            }
            (_, cli) => {
                if let Some(p) = pending {
                    p.release(&mut self.io);
                }
                if let Some(ck) = cli {
                    // The session closes it gracefully (lingering close).
                    st.cli = None;
                    st.live_conns -= 1;
                    st.keep_session = true;
                    self.stream_maybe_free(sk);
                    let _ = ck;
                    self.session_linger(session);
                } else {
                    self.stream_maybe_free(sk);
                }
            }
        }
    }

    /// A server connection that finished a transaction and may serve
    /// another: into the session's private list (`http-reuse never`) or the
    /// server's pool, with its receive kept armed to notice a close.
    fn server_conn_idle(&mut self, ck: Key, session: Key, b: usize, i: usize) {
        // The caller already took it off the stream's counts: from here on
        // its release must touch neither the stream nor the in-use count
        // (only the private lists, through `private_to`).
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.owner = match conn.private_to {
            Some(s) => Owner::Private(s),
            None => Owner::Orphan,
        };
        if !self.server_keeps_idle(b, i) {
            self.close_conn(ck);
            return;
        }
        let reuse = self.backend_reuse(b);
        let max = self.pool_max(b, i);
        let now = self.now;
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.requests += 1;
        let proven = conn.requests > 1;
        if reuse == Reuse::Never {
            conn.owner = Owner::Private(session);
            if conn.private_to.is_none() {
                conn.private_to = Some(session);
                if let Some(s) = self.sessions.get_mut(session) {
                    s.priv_conns.push(PrivConn {
                        backend: b,
                        server: i,
                        conn: ck,
                    });
                }
                self.table.backends[b].servers[i]
                    .sess_conns
                    .push(SessConn { session, conn: ck });
            }
        } else {
            let ls = &mut self.table.backends[b].servers[i];
            let pooled = ls.may_pool()
                && ls.pool.put(
                    IdleConn {
                        conn: ck,
                        since: now,
                        proven,
                    },
                    max,
                );
            if !pooled {
                self.close_conn(ck);
                return;
            }
            conn.owner = Owner::Pool {
                backend: b as u32,
                server: i as u32,
            };
        }
        self.conn_want_recv(ck, true);
    }

    /// A completion on an idle pooled or private server connection: the
    /// server closed it or sent something unexpected; it cannot be reused.
    pub fn idle_server_conn_event(
        &mut self,
        ck: Key,
        lease: Option<crate::shard::ring::BufLease>,
        res: i32,
    ) {
        if let Some(l) = lease {
            self.io.bufs.recycle(l);
        }
        if res == -libc::ECANCELED {
            return;
        }
        if res == -libc::ENOBUFS {
            // Keep watching once buffers are back; nothing is lost.
            if let Some(c) = self.conns.get_mut(ck) {
                c.recv = crate::connection::RecvState::Off;
            }
            return;
        }
        self.close_conn(ck);
    }

    /// A server connection's slot was freed: take it out of every list that
    /// names it (pool, session and server private lists, in-use count).
    pub fn server_conn_released(&mut self, conn: &crate::connection::Connection, key: Key) {
        let Some(ServerRef {
            backend,
            server,
            generation,
        }) = conn.server
        else {
            return;
        };
        let id = crate::backend::ServerId {
            slot: server,
            generation,
        };
        let Some(ls) = self.table.slot_mut(backend as usize, id) else {
            return;
        };
        match conn.owner {
            Owner::Pool { .. } => {
                ls.pool.remove(key);
            }
            Owner::Stream(_, Side::Back) => ls.used_conns = ls.used_conns.saturating_sub(1),
            _ => {}
        }
        if let Some(session) = conn.private_to {
            ls.sess_conns.retain(|sc| sc.conn != key);
            if let Some(s) = self.sessions.get_mut(session) {
                s.priv_conns.retain(|pc| pc.conn != key);
            }
        }
    }

    /// 101 / CONNECT: the stream becomes a TCP tunnel.
    pub(super) fn http_to_tunnel(&mut self, sk: Key, rest: Option<Chunk>) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        if let Some(mut txn) = st.http.take() {
            // Client bytes that followed the request belong to the tunnel.
            if let Some(p) = txn.pending.take() {
                st.c2s.push(p);
            }
            if let Some(r) = rest {
                st.s2c.push(r);
            }
            txn.release(&mut self.io);
            self.recycle_txn(txn);
        } else if let Some(r) = rest {
            st.s2c.push(r);
        }
        self.stream_rearm_timer(sk);
        self.pipe_pump(sk, Dir::C2S);
        self.pipe_pump(sk, Dir::S2C);
    }
}
