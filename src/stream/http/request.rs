//! The request side of an HTTP transaction: from the first bytes to the
//! complete request queued for the server.

use super::head::{self, ReqOutcome};
use super::{HttpTxn, ReqPhase, RspPhase};
use crate::connection::{Owner, Side};
use crate::http::Tracking;
use crate::proto::http1::{self, BodyTracker, EMPTY_HEADER, MAX_HEADERS, Parsed};
use crate::session::SessionState;
use crate::shard::ring::BufLease;
use crate::shard::token::Key;
use crate::shard::{Shard, WaitBuf};
use crate::stream::{Cause, Chunk, Dir, Phase, StreamState, Termination};

/// What parsing the buffered request head gave.
enum HeadStep {
    Partial,
    Complete {
        consumed: usize,
        outcome: ReqOutcome,
        req_line: Option<Vec<u8>>,
    },
    Bad {
        status: u16,
    },
}

impl Shard {
    /// Starts the stream of a session's next request with its first bytes.
    pub fn http_stream_start(&mut self, session: Key, first: Chunk) {
        let Some(sk) = self.http_stream_new(session) else {
            first.release(&mut self.io);
            return;
        };
        self.http_client_bytes(sk, first);
        self.pipe_pump(sk, Dir::C2S);
    }

    /// `timeout http-request` struck on a connection that never sent a
    /// request: HAProxy answers 408 there (idle keep-alive connections are
    /// closed silently instead).
    pub fn http_answer_idle(&mut self, session: Key, status: u16) {
        if let Some(sk) = self.http_stream_new(session) {
            if let Some(st) = self.streams.get(sk) {
                crate::stats::Counters::inc(&self.rt.frontends[st.frontend].counters.err_req);
            }
            self.http_error(sk, status);
        }
    }

    /// A stream with its transaction for the session's next request.
    fn http_stream_new(&mut self, session: Key) -> Option<Key> {
        self.sessions.get(session)?;
        let sk = self.stream_new(session, None);
        let now = self.now;
        let s = self.sessions.get_mut(session).expect("checked above");
        s.requests += 1;
        s.state = SessionState::Full { stream: Some(sk) };
        let cli = s.cli;
        if let Some(conn) = self.conns.get_mut(cli) {
            conn.owner = Owner::Stream(sk, Side::Front);
        }
        let st = self.streams.get(sk).expect("new");
        let fe = &st.rt.config.frontends[st.frontend];
        let wait = fe.timeouts.http_request.or(fe.timeouts.client);
        let until = wait.map_or(u64::MAX, |d| now + d.as_millis() as u64);
        let st = self.streams.get_mut(sk).expect("new");
        st.http = Some(match self.txns.pop() {
            Some(mut t) => {
                *t = HttpTxn::new(now);
                t
            }
            None => Box::new(HttpTxn::new(now)),
        });
        if let Some(t) = st.http.as_mut() {
            t.times.start_us = self.now_us;
        }
        st.state = StreamState::Request { until };
        st.c2s.flow = crate::stream::pipe::Flow::Open;
        st.s2c.flow = crate::stream::pipe::Flow::Open;
        self.stream_rearm_timer(sk);
        Some(sk)
    }

    /// A receive completed on one of an HTTP stream's connections.
    pub(in crate::stream) fn http_on_recv(
        &mut self,
        sk: Key,
        side: Side,
        res: i32,
        lease: Option<BufLease>,
    ) {
        let now = self.now;
        let dir = match side {
            Side::Front => Dir::C2S,
            Side::Back => Dir::S2C,
        };
        match (res, lease) {
            (n, Some(lease)) if n > 0 => {
                let st = self.streams.get_mut(sk).expect("caller checked");
                crate::stream::tcp::touch(st, side, now);
                let chunk = Chunk::Lease {
                    lease,
                    off: 0,
                    end: n as u32,
                };
                match side {
                    Side::Front => self.http_client_bytes(sk, chunk),
                    Side::Back => self.http_server_bytes(sk, chunk),
                }
            }
            (e, lease) if e == -libc::ENOBUFS || e == -libc::ECANCELED => {
                if let Some(l) = lease {
                    self.io.bufs.recycle(l);
                }
                if e == -libc::ENOBUFS {
                    let st = self.streams.get(sk).expect("caller checked");
                    let ck = match side {
                        Side::Front => st.cli,
                        Side::Back => st.srv,
                    };
                    if let Some(conn) = ck.and_then(|k| self.conns.get_mut(k)) {
                        conn.recv = crate::connection::RecvState::WaitBuffer;
                        self.wait_buf.push_back(WaitBuf::Stream(sk, dir));
                    }
                }
            }
            (e, lease) => {
                if let Some(l) = lease {
                    self.io.bufs.recycle(l);
                }
                match side {
                    Side::Front => self.http_client_closed(sk, e < 0),
                    Side::Back => self.http_server_closed(sk, e < 0),
                }
            }
        }
        if self.streams.get(sk).is_some() {
            self.pipe_pump(sk, dir);
        }
    }

    /// Client bytes, interpreted by the request's phase.
    fn http_client_bytes(&mut self, sk: Key, chunk: Chunk) {
        let Some(txn) = self.streams.get_mut(sk).and_then(|st| st.http.as_mut()) else {
            chunk.release(&mut self.io);
            return;
        };
        match txn.req {
            ReqPhase::Head => self.http_req_head_bytes(sk, chunk),
            ReqPhase::Body(_) => self.http_req_body_bytes(sk, chunk),
            ReqPhase::Done => self.http_req_extra(sk, chunk),
        }
    }

    fn http_req_head_bytes(&mut self, sk: Key, chunk: Chunk) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        let session = st.session;
        let fe = st.frontend;
        let rt = st.rt.clone();
        let mut acc = st.http.as_mut().expect("http").acc.take();
        // Out of the stream while the rules may fill it (the session's
        // counters are read in place meanwhile).
        let mut own_stk = std::mem::take(&mut st.stk);
        let addrs = self.session_known_addrs(session);
        let now = self.now;
        let limit = self.rt.config.global.bufsize;
        let step = {
            let bytes: &[u8] = match acc.as_mut() {
                Some(a) => {
                    a.extend_from_slice(chunk.bytes(&self.io.bufs));
                    a
                }
                None => chunk.bytes(&self.io.bufs),
            };
            let mut slots = [EMPTY_HEADER; MAX_HEADERS];
            match http1::parse_request(bytes, &mut slots) {
                Ok(Parsed::Complete(h)) => {
                    // The request line for the log, only when it is logged.
                    let req_line = self.logs.enabled(fe).then(|| {
                        let mut l = self.io.vecs.take();
                        l.extend_from_slice(h.method_str.as_bytes());
                        l.push(b' ');
                        l.extend_from_slice(h.target.as_bytes());
                        l.push(b' ');
                        l.extend_from_slice(h.version.as_str().as_bytes());
                        l
                    });
                    let mut out = self.io.vecs.take();
                    let mut trk = Tracking {
                        sess: self.sessions.get(session).and_then(|s| s.stk.as_deref()),
                        own: &mut own_stk,
                        tables: &rt.tables,
                        now,
                        http_request: true,
                    };
                    let outcome = head::request_outcome(
                        &rt,
                        fe,
                        &h,
                        &addrs,
                        &mut out,
                        &mut self.edits,
                        &mut trk,
                    );
                    // Unless the outcome took it (a head to forward, an
                    // answer's bytes), the vector goes back to the pool.
                    if out.capacity() > 0 {
                        self.io.vecs.put(out);
                    }
                    HeadStep::Complete {
                        req_line,
                        consumed: h.head_len,
                        outcome,
                    }
                }
                Ok(Parsed::Partial) if http1::head_too_large(bytes.len(), limit) => HeadStep::Bad {
                    status: http1::REQUEST_HEAD_TOO_LARGE_STATUS,
                },
                Ok(Parsed::Partial) => HeadStep::Partial,
                Err(e) => {
                    log::debug!("shard {}: bad request: {e}", self.id);
                    HeadStep::Bad { status: e.status() }
                }
            }
        };
        if let Some(st) = self.streams.get_mut(sk) {
            st.stk = own_stk;
        }
        match step {
            HeadStep::Partial => self.head_keep_partial(sk, acc, chunk),
            HeadStep::Bad { status } => {
                crate::stats::Counters::inc(&self.rt.frontends[fe].counters.err_req);
                chunk.release(&mut self.io);
                if let Some(a) = acc {
                    self.io.vecs.put(a);
                }
                self.http_error(sk, status);
            }
            HeadStep::Complete {
                consumed,
                outcome,
                req_line,
            } => {
                if let Some(txn) = self.streams.get_mut(sk).and_then(|s| s.http.as_mut()) {
                    txn.req_line = req_line;
                }
                let rest = self.head_rest(acc, chunk, consumed);
                self.http_request_ready(sk, outcome, rest);
            }
        }
    }

    /// A head is still incomplete: keep what arrived in the transaction's
    /// accumulation vector (taken from the pool the first time).
    pub(super) fn head_keep_partial(&mut self, sk: Key, acc: Option<Vec<u8>>, chunk: Chunk) {
        let acc = acc.unwrap_or_else(|| {
            let mut a = self.io.vecs.take();
            a.extend_from_slice(chunk.bytes(&self.io.bufs));
            a
        });
        chunk.release(&mut self.io);
        if let Some(txn) = self.streams.get_mut(sk).and_then(|s| s.http.as_mut()) {
            txn.acc = Some(acc);
        }
    }

    /// A head is complete after `consumed` bytes of the buffered data (the
    /// accumulation vector when there is one, else `chunk`): what follows
    /// it. Nothing is copied in the common case (a counted lease split);
    /// bytes after an accumulated head are copied (rare).
    pub(super) fn head_rest(
        &mut self,
        acc: Option<Vec<u8>>,
        chunk: Chunk,
        consumed: usize,
    ) -> Option<Chunk> {
        match acc {
            Some(a) => {
                chunk.release(&mut self.io);
                let rest = (consumed < a.len()).then(|| {
                    let mut v = self.io.vecs.take();
                    v.extend_from_slice(&a[consumed..]);
                    Chunk::Owned { data: v, off: 0 }
                });
                self.io.vecs.put(a);
                rest
            }
            None => split_after(chunk, consumed, &mut self.io),
        }
    }

    /// The request head is complete: answer it ourselves, or forward it.
    fn http_request_ready(&mut self, sk: Key, outcome: ReqOutcome, rest: Option<Chunk>) {
        let now = self.now;
        if let Some(st) = self.streams.get(sk) {
            self.rt.frontends[st.frontend].counters.request(now);
            crate::stats::Counters::inc(&self.rt.counters.req_tot);
        }
        match outcome {
            ReqOutcome::Reject => {
                if let Some(st) = self.streams.get(sk) {
                    crate::stats::Counters::inc(
                        &self.rt.frontends[st.frontend].counters.denied_req,
                    );
                }
                if let Some(r) = rest {
                    r.release(&mut self.io);
                }
                self.stream_terminate(sk, Termination::new(Cause::Proxy, Phase::Request));
            }
            ReqOutcome::Answer {
                status,
                bytes,
                meta,
            } => {
                let st = self.streams.get_mut(sk).expect("caller checked");
                // Answered before switching: the log names the frontend.
                st.backend = meta.backend;
                if meta.denied {
                    crate::stats::Counters::inc(
                        &self.rt.frontends[st.frontend].counters.denied_req,
                    );
                }
                if meta.intercepted {
                    crate::stats::Counters::inc(
                        &self.rt.frontends[st.frontend].counters.intercepted,
                    );
                }
                let txn = st.http.as_mut().expect("http");
                txn.nolog = meta.nolog;
                txn.times.req_head = now;
                txn.meta = Some(meta.req);
                txn.req = ReqPhase::Done;
                // Without reading the body we cannot tell where the next
                // request starts: close after answering when there is one.
                // Otherwise what followed is the next request.
                if meta.has_body {
                    if let Some(r) = rest {
                        r.release(&mut self.io);
                    }
                } else if let Some(r) = rest {
                    self.http_req_extra(sk, r);
                }
                self.http_answer(sk, status, bytes, meta.close(), meta.term);
            }
            ReqOutcome::Forward {
                backend,
                meta,
                framing,
                head,
                lb_key,
                stick,
            } => {
                let st = self.streams.get_mut(sk).expect("caller checked");
                st.backend = Some(backend);
                st.stick = stick;
                crate::stats::Counters::inc(&self.rt.backends[backend].counters.req_tot);
                st.lb_key = lb_key;
                st.retries_left = st.rt.config.backends[backend].retries;
                let txn = st.http.as_mut().expect("http");
                txn.times.req_head = now;
                txn.times.sent_us = self.now_us;
                txn.meta = Some(meta.req);
                txn.srv_close = meta.srv_close;
                let tracker = BodyTracker::new(framing);
                txn.req = if tracker.is_done() {
                    ReqPhase::Done
                } else {
                    ReqPhase::Body(tracker)
                };
                txn.rsp = RspPhase::Head;
                st.c2s.push(Chunk::Owned { data: head, off: 0 });
                st.state = StreamState::Queued { until: u64::MAX };
                self.http_assign(sk);
                if let Some(r) = rest {
                    self.http_client_bytes(sk, r);
                }
            }
        }
    }

    /// Body bytes: forward what belongs to this request, keep the rest.
    fn http_req_body_bytes(&mut self, sk: Key, chunk: Chunk) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        let ReqPhase::Body(tracker) = &mut txn.req else {
            return;
        };
        let progress = tracker.feed(chunk.bytes(&self.io.bufs));
        match progress {
            Err(e) => {
                chunk.release(&mut self.io);
                let fe = st.frontend;
                crate::stats::Counters::inc(&self.rt.frontends[fe].counters.err_req);
                log::debug!("shard {}: bad request body: {e}", self.id);
                self.http_error(sk, e.status());
            }
            Ok(p) => {
                if p.done {
                    txn.req = ReqPhase::Done;
                }
                let (body, rest) = split_at(chunk, p.consumed, &mut self.io);
                if let Some(b) = body {
                    st.c2s.push_joined(b, &mut self.io);
                }
                if let Some(r) = rest {
                    self.http_req_extra(sk, r);
                }
                self.pipe_pump(sk, Dir::C2S);
            }
        }
    }

    /// Bytes after the end of this request: the start of the next one.
    fn http_req_extra(&mut self, sk: Key, chunk: Chunk) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        txn.pending = Some(match txn.pending.take() {
            None => chunk,
            Some(prev) => {
                // Two pieces of the next request(s) (a receive that was
                // already in flight when reading paused): join them.
                let mut v = self.io.vecs.take();
                v.extend_from_slice(prev.bytes(&self.io.bufs));
                v.extend_from_slice(chunk.bytes(&self.io.bufs));
                prev.release(&mut self.io);
                chunk.release(&mut self.io);
                Chunk::Owned { data: v, off: 0 }
            }
        });
    }

    /// The client closed its side (or failed).
    fn http_client_closed(&mut self, sk: Key, error: bool) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        st.cli_fin = true;
        let txn = st.http.as_mut().expect("http");
        let nothing_yet = matches!(txn.req, ReqPhase::Head) && txn.acc.is_none();
        match (&txn.req, error) {
            // A request fully received: the client only half-closed; the
            // response still goes out, then the requests it pipelined
            // before its FIN (in `pending`), then the connection closes
            // (`cli_fin`, see `http_txn_end`).
            (ReqPhase::Done, false) => {}
            _ if nothing_yet => {
                self.stream_terminate(sk, Termination::new(Cause::ClientAbort, Phase::Request));
            }
            _ => {
                self.stream_terminate(sk, Termination::new(Cause::ClientAbort, Phase::Request));
            }
        }
    }
}

/// Splits `chunk` after its first `n` bytes: (first part, rest), either may
/// be absent. A lease is shared between the two parts (counted), so nothing
/// is copied.
pub(super) fn split_at(
    chunk: Chunk,
    n: usize,
    io: &mut crate::shard::Io,
) -> (Option<Chunk>, Option<Chunk>) {
    let len = chunk.bytes(&io.bufs).len();
    if n == 0 {
        return (None, (len > 0).then_some(chunk));
    }
    if n >= len {
        return (Some(chunk), None);
    }
    match chunk {
        Chunk::Lease { lease, off, end } => {
            let mid = off + n as u32;
            let second = io.bufs.retain(&lease);
            (
                Some(Chunk::Lease {
                    lease,
                    off,
                    end: mid,
                }),
                Some(Chunk::Lease {
                    lease: second,
                    off: mid,
                    end,
                }),
            )
        }
        Chunk::Static { data, off } => (
            Some(Chunk::Static {
                data: &data[..off as usize + n],
                off,
            }),
            Some(Chunk::Static {
                data,
                off: off + n as u32,
            }),
        ),
        Chunk::Owned { data, off } => {
            let mut rest = io.vecs.take();
            rest.extend_from_slice(&data[off as usize + n..]);
            let mut first = data;
            first.truncate(off as usize + n);
            (
                Some(Chunk::Owned { data: first, off }),
                Some(Chunk::Owned { data: rest, off: 0 }),
            )
        }
    }
}

/// What follows the first `n` bytes of `chunk` (the head), if anything.
fn split_after(chunk: Chunk, n: usize, io: &mut crate::shard::Io) -> Option<Chunk> {
    let (head, rest) = split_at(chunk, n, io);
    if let Some(h) = head {
        h.release(io);
    }
    rest
}
