//! The response side of an HTTP transaction, and the answers the proxy
//! gives itself (errors, later deny/return/redirect).

use super::head;
use super::{ReqPhase, RspPhase};
use crate::http::StkCx;
use crate::proto::http1::{
    self, BodyTracker, EMPTY_HEADER, MAX_HEADERS, Parsed, RequestContext, RespFraming,
};
use crate::shard::Shard;
use crate::shard::token::Key;
use crate::stick::Sc;
use crate::stream::tcp::stream_frontend_gone;
use crate::stream::{Cause, Chunk, Dir, Phase, Termination};

enum HeadStep {
    Partial,
    Complete {
        consumed: usize,
        outcome: head::RspOutcome,
    },
    Bad {
        status: u16,
    },
}

impl Shard {
    /// Server bytes, interpreted by the response's phase.
    pub(super) fn http_server_bytes(&mut self, sk: Key, chunk: Chunk) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        match &mut txn.rsp {
            RspPhase::Head => self.http_rsp_head_bytes(sk, chunk),
            RspPhase::Body(tracker) => {
                // For an HTTP/1.0 client a chunked body is sent de-chunked:
                // its content is copied out of the framing; otherwise the
                // body goes as received.
                let mut content = txn.dechunk.then(|| self.io.vecs.take());
                let bytes = chunk.bytes(&self.io.bufs);
                let fed = match content.as_mut() {
                    Some(c) => tracker.feed_dechunked(bytes, |r| c.extend_from_slice(&bytes[r])),
                    None => tracker.feed(bytes),
                };
                let p = match fed {
                    Ok(p) => p,
                    Err(e) => {
                        if let Some(c) = content {
                            self.io.vecs.put(c);
                        }
                        chunk.release(&mut self.io);
                        log::debug!("shard {}: bad response body: {e}", self.id);
                        // Part of the response is out already: all we can do
                        // is cut both connections.
                        let term = Termination::new(Cause::ServerAbort, Phase::Data);
                        self.stream_terminate(sk, term);
                        return;
                    }
                };
                if p.done {
                    txn.rsp = RspPhase::Done;
                }
                let (body, extra) = super::request::split_at(chunk, p.consumed, &mut self.io);
                match (content, body) {
                    (Some(c), body) => {
                        if let Some(b) = body {
                            b.release(&mut self.io);
                        }
                        if c.is_empty() {
                            self.io.vecs.put(c);
                        } else {
                            let c = Chunk::Owned { data: c, off: 0 };
                            st.s2c.push_joined(c, &mut self.io);
                        }
                    }
                    (None, Some(b)) => st.s2c.push_joined(b, &mut self.io),
                    (None, None) => {}
                }
                if let Some(x) = extra {
                    self.http_server_extra(sk, x);
                }
                self.http_maybe_done(sk);
            }
            RspPhase::Wait | RspPhase::Done => self.http_server_extra(sk, chunk),
        }
    }

    /// Bytes from the server outside any response: the connection cannot be
    /// trusted for another request.
    fn http_server_extra(&mut self, sk: Key, chunk: Chunk) {
        chunk.release(&mut self.io);
        if let Some(txn) = self.streams.get_mut(sk).and_then(|s| s.http.as_mut()) {
            txn.srv_reusable = false;
        }
    }

    fn http_rsp_head_bytes(&mut self, sk: Key, chunk: Chunk) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        let Some(meta) = txn.meta else {
            chunk.release(&mut self.io);
            return;
        };
        let srv_close = txn.srv_close;
        let (fe, be, session) = (st.frontend, st.backend, st.session);
        let rt = st.rt.clone();
        // A graceful stop, or a reload that removed the frontend: this
        // answer is the session's last.
        let last = self.soft_stopping || stream_frontend_gone(&self.rt, &st.rt, st.frontend);
        let mut acc = txn.acc.take();
        let addrs = self.session_known_addrs(session);
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
            let mut ctx = RequestContext::new(meta.method, meta.version);
            ctx.upgrade_requested = meta.upgrade;
            match http1::parse_response(bytes, &mut slots, ctx) {
                Ok(Parsed::Complete(h)) => {
                    let out = self.io.vecs.take();
                    let stk = StkCx {
                        sc: self
                            .streams
                            .get(sk)
                            .map_or_else(Sc::default, |st| st.sc(&self.sessions)),
                        tables: &rt.tables,
                        now: self.now,
                    };
                    let o = head::response_outcome(
                        &rt,
                        fe,
                        be,
                        &meta,
                        srv_close,
                        last,
                        &addrs,
                        &h,
                        out,
                        &mut self.edits,
                        &stk,
                    );
                    match o {
                        Ok(outcome) => HeadStep::Complete {
                            consumed: h.head_len,
                            outcome,
                        },
                        Err(refused) => {
                            self.io.vecs.put(refused.out);
                            HeadStep::Bad {
                                status: refused.status,
                            }
                        }
                    }
                }
                Ok(Parsed::Partial) if http1::head_too_large(bytes.len(), limit) => {
                    HeadStep::Bad { status: 502 }
                }
                Ok(Parsed::Partial) => HeadStep::Partial,
                Err(e) => {
                    log::debug!("shard {}: bad response: {e}", self.id);
                    HeadStep::Bad { status: 502 }
                }
            }
        };
        match step {
            HeadStep::Partial => self.head_keep_partial(sk, acc, chunk),
            HeadStep::Bad { status } => {
                chunk.release(&mut self.io);
                if let Some(a) = acc {
                    self.io.vecs.put(a);
                }
                // An invalid response (or one a rule refused): "PH".
                self.http_server_failed(sk, status, Termination::new(Cause::Proxy, Phase::Headers));
            }
            HeadStep::Complete { consumed, outcome } => {
                let rest = self.head_rest(acc, chunk, consumed);
                self.http_response_ready(sk, outcome, rest);
            }
        }
    }

    fn http_response_ready(&mut self, sk: Key, o: head::RspOutcome, rest: Option<Chunk>) {
        let now = self.now;
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        st.s2c.push(Chunk::Owned {
            data: o.head,
            off: 0,
        });
        if o.interim {
            // 100 Continue and friends: forwarded, then the real head.
            if let Some(r) = rest {
                self.http_server_bytes(sk, r);
            }
            self.pipe_pump(sk, Dir::S2C);
            return;
        }
        txn.times.rsp_head = now;
        txn.times.rsp_head_us = self.now_us;
        txn.status = o.status;
        self.rt.frontends[st.frontend].counters.response(o.status);
        if let Some(b) = st.backend {
            self.rt.backends[b].counters.response(o.status);
        }
        if let Some(srv) = st.server_ref.as_ref() {
            srv.counters.response(o.status);
        }
        txn.cli_keepalive = o.cli_keepalive;
        txn.srv_reusable = o.srv_reusable;
        txn.dechunk = o.dechunk;
        if o.tunnel {
            // 101 Switching Protocols / CONNECT: from here on the stream is a
            // plain TCP tunnel under `timeout tunnel`.
            txn.rsp = RspPhase::Done;
            txn.req = ReqPhase::Done;
            self.http_to_tunnel(sk, rest);
            return;
        }
        let tracker = BodyTracker::new(o.framing);
        txn.rsp = if tracker.is_done() {
            RspPhase::Done
        } else {
            RspPhase::Body(tracker)
        };
        if o.framing == RespFraming::CloseDelimited {
            txn.srv_reusable = false;
        }
        if let Some(r) = rest {
            self.http_server_bytes(sk, r);
        }
        self.pipe_pump(sk, Dir::S2C);
        self.http_maybe_done(sk);
    }

    /// The server closed its side (or failed).
    pub(super) fn http_server_closed(&mut self, sk: Key, error: bool) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        st.srv_fin = true;
        let txn = st.http.as_mut().expect("http");
        txn.srv_reusable = false;
        if matches!(txn.rsp, RspPhase::Done) {
            // The response is complete (the server said close, or answered
            // early without reading the whole request): deliver it. What
            // the client still sends cannot go anywhere, so the client
            // connection closes after.
            if !matches!(txn.req, ReqPhase::Done) {
                txn.cut_request();
            }
            st.c2s.discard_queued(&mut self.io);
            if let Some(srv) = st.srv.take() {
                self.close_conn(srv);
            }
            self.pipe_pump(sk, Dir::S2C);
            self.http_maybe_done(sk);
            return;
        }
        if let RspPhase::Body(tracker) = &mut txn.rsp
            && !error
            && tracker.eof().is_ok()
        {
            // A close-delimited body ends here.
            txn.rsp = RspPhase::Done;
            self.pipe_pump(sk, Dir::S2C);
            self.http_maybe_done(sk);
            return;
        }
        self.http_server_failed(
            sk,
            502,
            Termination::new(Cause::ServerAbort, Phase::Headers),
        );
    }

    /// The server failed before or during its response: 502 if nothing was
    /// sent to the client yet, else cut.
    fn http_server_failed(&mut self, sk: Key, status: u16, term: Termination) {
        let st = self.streams.get_mut(sk).expect("caller checked");
        let txn = st.http.as_mut().expect("http");
        txn.srv_reusable = false;
        let head_sent = !matches!(txn.rsp, RspPhase::Head | RspPhase::Wait);
        if let Some(b) = st.backend {
            crate::stats::Counters::inc(&self.rt.backends[b].counters.err_resp);
        }
        if let Some(srv) = st.server_ref.as_ref() {
            crate::stats::Counters::inc(&srv.counters.err_resp);
        }
        if head_sent {
            self.stream_terminate(sk, Termination::new(Cause::ServerAbort, Phase::Data));
            return;
        }
        if let Some(srv) = st.srv.take() {
            self.close_conn(srv);
        }
        self.http_error_as(sk, status, term);
    }

    /// Answers with HAProxy's default page for `status` and closes; the log
    /// records the usual cause of that status (400: "PR", 408: "cR", 502:
    /// "SH", 503: "SC", 504: "sH").
    pub(crate) fn http_error(&mut self, sk: Key, status: u16) {
        let term = match status {
            408 => Termination::new(Cause::ClientTimeout, Phase::Request),
            502 => Termination::new(Cause::ServerAbort, Phase::Headers),
            503 => Termination::new(Cause::ServerAbort, Phase::Connect),
            504 => Termination::new(Cause::ServerTimeout, Phase::Headers),
            _ => Termination::new(Cause::Proxy, Phase::Request),
        };
        self.http_error_as(sk, status, term);
    }

    /// [`http_error`](Self::http_error) with an explicit termination state.
    pub(crate) fn http_error_as(&mut self, sk: Key, status: u16, term: Termination) {
        let Some(txn) = self.streams.get(sk).and_then(|s| s.http.as_ref()) else {
            return;
        };
        if !matches!(txn.rsp, RspPhase::Head | RspPhase::Wait) || txn.status != 0 {
            // Too late for a clean answer.
            self.stream_terminate(sk, Termination::new(Cause::ServerAbort, Phase::Data));
            return;
        }
        self.http_answer(sk, status, None, true, term);
    }

    /// Sends an answer built by the proxy: `bytes`, else the default page for
    /// `status`. No server is involved any more; the request is over.
    pub(super) fn http_answer(
        &mut self,
        sk: Key,
        status: u16,
        bytes: Option<Vec<u8>>,
        close: bool,
        term: Termination,
    ) {
        let now = self.now;
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        // A graceful stop closes after every answer, and says so; so does
        // a reload that removed the session's frontend.
        let close =
            close || self.soft_stopping || stream_frontend_gone(&self.rt, &st.rt, st.frontend);
        let srv = st.srv.take();
        let was_queued = st.in_queue;
        let b = st.backend;
        let txn = st.http.as_mut().expect("http");
        txn.req = ReqPhase::Done;
        txn.rsp = RspPhase::Done;
        txn.status = status;
        txn.internal = true;
        txn.cli_keepalive = !close;
        self.rt.frontends[st.frontend].counters.response(status);
        if let Some(b) = b.filter(|_| st.be_counted) {
            self.rt.backends[b].counters.response(status);
        }
        if txn.times.rsp_head == 0 {
            txn.times.rsp_head = now;
        }
        // An `errorfile` for this status replaces the built-in page.
        let bytes = bytes.or_else(|| {
            let fe = &st.rt.config.frontends[st.frontend];
            let be = b.map(|b| &st.rt.config.backends[b]);
            crate::http::error_page(fe, be, status).map(|e| {
                let mut v = self.io.vecs.take();
                v.extend_from_slice(e.head());
                v.extend_from_slice(e.body());
                v
            })
        });
        let chunk = match bytes {
            Some(data) => Chunk::Owned { data, off: 0 },
            None => {
                let page = if close {
                    http1::default_error_close(status)
                } else {
                    http1::default_error(status)
                };
                match page {
                    Some(p) => Chunk::Static { data: p, off: 0 },
                    None => {
                        // No canned page for this status: 500's.
                        Chunk::Static {
                            data: http1::default_error_close(500).unwrap_or(b""),
                            off: 0,
                        }
                    }
                }
            }
        };
        st.s2c.discard_queued(&mut self.io);
        st.s2c.push(chunk);
        st.c2s.discard_queued(&mut self.io);
        if let Some(srv) = srv {
            self.close_conn(srv);
        }
        if was_queued && let Some(b) = b {
            self.stream_dequeue(sk, b);
        }
        // The log names the server given up on (503 after the retries).
        let released = self.stream_release_server(sk);
        if let Some(st) = self.streams.get_mut(sk) {
            st.term = Some(term);
            if let Some(txn) = st.http.as_mut()
                && txn.log_server.is_none()
            {
                txn.log_server = released;
            }
        }
        self.stream_set_state_answering(sk);
        self.pipe_pump(sk, Dir::S2C);
        self.http_maybe_done(sk);
    }
}
