//! The TCP-mode stream's life on a shard: server choice and queueing,
//! connect with retries and redispatch, the two pipes, timeouts, and the end.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Cause, Phase, Termination};
use super::{Chunk, Dir, Pipe, Stream, StreamState};
use crate::backend::{Pick, ServerShared};
use crate::config::ProxyVersion;
use crate::connection::{Connection, Owner, ServerRef, Side};
use crate::mesh::Msg;
use crate::proto::proxy;
use crate::runtime::Runtime;
use crate::shard::ring::Completion;
use crate::shard::timer::{Deadline, TimerEntry, TimerOwner};
use crate::shard::token::{Key, Op, Token};
use crate::shard::{Shard, Snap, sys};

fn ms(d: Option<std::time::Duration>) -> Option<u64> {
    d.map(|d| d.as_millis() as u64)
}

impl Shard {
    /// The snapshot a new stream of `session` runs on: the latest, unless
    /// a reload removed the session's frontend or changed its mode; then
    /// the session's own, for a last stream (`Shard::frontend_gone`).
    fn stream_snapshot(&mut self, session: Key) -> Snap {
        let s = self
            .sessions
            .get_mut(session)
            .expect("caller holds a live session");
        if !std::rc::Rc::ptr_eq(&s.rt, &self.rt) && !frontend_gone(&self.rt, &s.rt, s.frontend) {
            s.rt = self.rt.clone();
        }
        s.rt.clone()
    }

    /// Creates the stream of a session that just became full.
    pub fn stream_new(&mut self, session: Key, first: Option<Chunk>) -> Key {
        let rt = self.stream_snapshot(session);
        let s = self
            .sessions
            .get(session)
            .expect("caller holds a live session");
        let (fe, cli) = (s.frontend, s.cli);
        let fe_cfg = &rt.config.frontends[fe];
        // A TCP frontend with conditional switching chooses in
        // `stream_content_rules`, after its `tcp-request content` rules
        // (HAProxy's order: their counters are visible to `use_backend`);
        // HTTP streams choose once their request is parsed.
        let backend = if switches_late(fe_cfg) {
            None
        } else {
            fe_cfg.target_backend()
        };
        let retries = backend.map_or(0, |b| rt.config.backends[b].retries);
        self.counters.streams += 1;
        self.streams.insert(Stream {
            session,
            rt,
            frontend: fe,
            backend,
            cli: Some(cli),
            srv: None,
            live_conns: 1,
            server_ref: None,
            retries_left: retries,
            failures: 0,
            state: StreamState::Queued { until: u64::MAX },
            c2s: Pipe::new(),
            s2c: Pipe::new(),
            first,
            cli_last: self.now,
            srv_last: self.now,
            cli_fin: false,
            srv_fin: false,
            in_queue: false,
            be_counted: false,
            wait_server: None,
            deadline: Deadline::default(),
            term: None,
            http: None,
            keep_session: false,
            lb_key: None,
            stk: crate::stick::Trackers::default(),
            stick: None,
            stk_bytes: (0, 0),
            times: super::log::StreamTimes {
                start: self.now,
                ..Default::default()
            },
        })
    }

    /// Starts a TCP stream: its `tcp-request content` rules, then a server.
    pub fn stream_start(&mut self, sk: Key) {
        if !self.stream_content_rules(sk) {
            return;
        }
        self.stream_assign(sk, None);
    }

    /// A TCP stream's start, in HAProxy's order: the frontend's `tcp-request
    /// content` rules, the choice of backend when the frontend switches on
    /// conditions (which then see what those rules tracked), the backend's
    /// content rules (unless a listen's own), then the keys of its `stick`
    /// rules. Entries the rules track are the stream's. Returns false when
    /// a rule rejected the stream: it is ended (`PR`), counted in the
    /// frontend's denied requests.
    fn stream_content_rules(&mut self, sk: Key) -> bool {
        let Some(st) = self.streams.get(sk) else {
            return false;
        };
        if st.http.is_some() {
            // HTTP streams ran theirs with the request (`request_outcome`).
            return true;
        }
        let rt = st.rt.clone();
        let fe_cfg = &rt.config.frontends[st.frontend];
        let session = st.session;
        let needs_view = !fe_cfg.tcp_req_cont.is_empty()
            || switches_late(fe_cfg)
            || st.backend.is_some_and(|b| {
                !rt.config.backends[b].tcp_req_cont.is_empty()
                    || !rt.config.backends[b].stick_rules.is_empty()
            });
        if !needs_view {
            return true;
        }
        let a = self.session_addrs(session);
        let view = crate::http::RequestView::l4(a.src, a.dst);
        if !self.stream_tcp_rules(sk, &fe_cfg.tcp_req_cont, &view) {
            return false;
        }
        if switches_late(fe_cfg) {
            let Some(st) = self.streams.get(sk) else {
                return false;
            };
            self.edits.clear();
            let stk = crate::http::StkCx {
                sc: st.sc(&self.sessions),
                tables: &rt.tables,
                now: self.now,
            };
            let b = crate::http::select_backend(fe_cfg, &view, &self.edits, Some(&stk));
            let st = self.streams.get_mut(sk).expect("checked above");
            st.backend = b;
            st.retries_left = b.map_or(0, |b| rt.config.backends[b].retries);
        }
        let Some(b) = self.streams.get(sk).and_then(|st| st.backend) else {
            return true;
        };
        let be = &rt.config.backends[b];
        if crate::http::backend_rules_apply(fe_cfg, b)
            && !self.stream_tcp_rules(sk, &be.tcp_req_cont, &view)
        {
            return false;
        }
        if !be.stick_rules.is_empty() {
            let keys = crate::http::stick_keys(&be.stick_rules, &view, &rt.tables);
            if let Some(st) = self.streams.get_mut(sk) {
                st.stick = keys;
            }
        }
        true
    }

    /// Applies one list of `tcp-request content` rules to TCP stream `sk`
    /// (tracking into the stream's slots); false when one rejected it,
    /// and the stream is then ended.
    fn stream_tcp_rules(
        &mut self,
        sk: Key,
        rules: &[crate::http::TcpRule],
        view: &crate::http::RequestView<'_>,
    ) -> bool {
        if rules.is_empty() {
            return true;
        }
        let now = self.now;
        let Some(st) = self.streams.get_mut(sk) else {
            return false;
        };
        let rt = st.rt.clone();
        let mut trk = crate::http::Tracking {
            sess: self.sessions.get(st.session).and_then(|s| s.stk.as_deref()),
            own: &mut st.stk,
            tables: &rt.tables,
            now,
            http_request: false,
        };
        if crate::http::apply_tcp_rules(rules, view, &mut trk) != crate::http::TcpVerdict::Reject {
            return true;
        }
        crate::stats::Counters::inc(&rt.frontends[st.frontend].counters.denied_req);
        self.stream_terminate(sk, Termination::new(Cause::Proxy, Phase::Request));
        false
    }

    /// Finds a server for the stream: connect, wait in the queue, or fail.
    fn stream_assign(&mut self, sk: Key, avoid: Option<usize>) {
        self.stream_enter_backend(sk);
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let Some(b) = st.backend else {
            self.stream_no_server(sk, Phase::Connect);
            return;
        };
        if avoid.is_none() && self.stream_stick_match(sk, b) {
            return;
        }
        let src = self.session_addrs_src_if_needed(sk, b);
        let key = self.streams.get(sk).and_then(|st| st.lb_key);
        match self.table.backends[b].pick(src, avoid, key) {
            Pick::Server(i) => {
                self.stream_bind_server(sk, b, i, true);
                self.stream_connect(sk);
            }
            Pick::Queue => self.stream_enqueue(sk, b),
            Pick::NoServer => self.stream_no_server(sk, Phase::Connect),
        }
    }

    /// `stick match` / `stick on`: the server a key was stored with, if it
    /// is still in the backend and usable (HAProxy then ignores the entry
    /// and balances; the store rules record the new server). Returns
    /// whether the stream was given that server (connecting, or queued for
    /// it when it is full).
    fn stream_stick_match(&mut self, sk: Key, b: usize) -> bool {
        let Some(st) = self.streams.get(sk) else {
            return false;
        };
        let Some(keys) = st.stick.as_ref() else {
            return false;
        };
        let now = self.now;
        // The keys index the stream's own snapshot's tables.
        let tables = &st.rt.tables;
        let found = keys.matches.iter().find_map(|(t, key)| {
            let table = tables.get(*t)?;
            let id = table.lookup(key, now)?.get(
                &table.def.stores,
                crate::stick::DataType::ServerId,
                now,
            )?;
            let lb = &self.table.backends[b];
            (0..lb.servers.len()).find(|i| {
                lb.server(*i)
                    .is_some_and(|s| i64::from(s.puid) == id && s.usable())
            })
        });
        let Some(i) = found else {
            return false;
        };
        let srv = self.table.backends[b]
            .server(i)
            .cloned()
            .expect("found above");
        if !srv.try_acquire() {
            self.stream_enqueue_server(sk, b, i);
            return true;
        }
        if self.stream_bind_server(sk, b, i, false) {
            self.stream_connect(sk);
        }
        true
    }

    /// `stick store-request` / `stick on`: the stream's keys now name
    /// server `i` (its `puid`, HAProxy's `server_id`).
    fn stream_stick_store(&mut self, sk: Key, b: usize, i: usize) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let Some(keys) = st.stick.as_ref() else {
            return;
        };
        let Some(puid) = self.table.backends[b].server(i).map(|s| s.puid) else {
            return;
        };
        for (t, key) in &keys.stores {
            if let Some(table) = st.rt.tables.get(*t) {
                table.update(key, self.now, |_, d| {
                    d.set(crate::stick::DataType::ServerId, i64::from(puid), self.now)
                });
            }
        }
    }

    /// No server can take the stream (none usable, or no backend): HTTP
    /// answers 503, TCP ends the stream; `phase` is where it stood.
    fn stream_no_server(&mut self, sk: Key, phase: Phase) {
        self.counters.no_server += 1;
        let term = Termination::new(Cause::ServerAbort, phase);
        if self.streams.get(sk).is_some_and(|s| s.http.is_some()) {
            self.http_error_as(sk, 503, term);
        } else {
            self.stream_terminate(sk, term);
        }
    }

    /// `balance source` needs the client address; nothing else does before
    /// connecting, so the lookup is skipped otherwise.
    fn session_addrs_src_if_needed(&mut self, sk: Key, b: usize) -> Option<std::net::IpAddr> {
        let st = self.streams.get(sk)?;
        if st.rt.config.backends[b].balance != crate::config::Balance::Source {
            return None;
        }
        let session = st.session;
        self.session_addrs(session).src.map(|a| a.ip())
    }

    /// Waits in the backend's queue for any of its servers.
    fn stream_enqueue(&mut self, sk: Key, b: usize) {
        self.stream_enqueue_in(sk, b, None);
    }

    /// Waits for server `i` in particular (the server the session's private
    /// connection goes to, at `maxconn` now): in that server's queue,
    /// served before the backend's queue when one of its slots frees.
    pub(crate) fn stream_enqueue_server(&mut self, sk: Key, b: usize, i: usize) {
        self.stream_enter_backend(sk);
        self.stream_enqueue_in(sk, b, Some(i));
    }

    /// Queues the stream under `timeout queue` (else `timeout connect`):
    /// in server `server`'s queue, or the backend's when None.
    fn stream_enqueue_in(&mut self, sk: Key, b: usize, server: Option<usize>) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let t = &st.rt.config.backends[b].timeouts;
        let until = ms(t.queue.or(t.connect)).map_or(u64::MAX, |d| self.now + d);
        let lb = &mut self.table.backends[b];
        let shared = &self.rt.backends[b];
        match server {
            Some(i) => {
                let Some(srv) = lb.server(i) else {
                    return;
                };
                srv.counters.queue_enter();
                lb.servers[i].queue.push_back(sk);
                lb.server_waiting += 1;
            }
            None => {
                lb.queue.push_back(sk);
                shared.queued.fetch_add(1, Ordering::AcqRel);
                shared.counters.queue_enter();
            }
        }
        shared
            .queued_shards
            .fetch_or(1 << self.id, Ordering::AcqRel);
        let st = self.streams.get_mut(sk).expect("caller checked");
        st.state = StreamState::Queued { until };
        st.in_queue = true;
        st.wait_server = server.map(|i| i as u32);
        if st.times.queue_start == 0 {
            st.times.queue_start = self.now;
        }
        self.stream_rearm_timer(sk);
        // A slot may have been freed between the pick and the enqueue.
        self.process_queue(b);
    }

    /// Takes the stream out of whichever queue holds it (the backend's or a
    /// server's).
    pub(crate) fn stream_dequeue(&mut self, sk: Key, b: usize) {
        let wait_server = self.streams.get(sk).and_then(|st| st.wait_server);
        let lb = &mut self.table.backends[b];
        let shared = &self.rt.backends[b];
        match wait_server.map(|i| i as usize) {
            Some(i) => {
                if let Some(ls) = lb.servers.get_mut(i)
                    && let Some(pos) = ls.queue.iter().position(|k| *k == sk)
                {
                    ls.queue.remove(pos);
                    lb.server_waiting -= 1;
                    if let Some(srv) = ls.srv.as_ref() {
                        srv.counters.queue_leave();
                    }
                }
            }
            None => {
                if let Some(pos) = lb.queue.iter().position(|k| *k == sk) {
                    lb.queue.remove(pos);
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    shared.counters.queue_leave();
                }
            }
        }
        if lb.queue.is_empty() && lb.server_waiting == 0 {
            shared
                .queued_shards
                .fetch_and(!(1 << self.id), Ordering::AcqRel);
        }
        if let Some(st) = self.streams.get_mut(sk) {
            st.in_queue = false;
            st.wait_server = None;
            st.times.queue_end = self.now;
        }
    }

    /// Gives the streams waiting for a server of backend `b` in particular
    /// the slots that server has free (in order, each server's queue
    /// first, as HAProxy serves a server's own queue before the backend's).
    fn process_server_queues(&mut self, b: usize) {
        if self.table.backends[b].server_waiting == 0 {
            return;
        }
        for i in 0..self.table.backends[b].servers.len() {
            while let Some(&sk) = self.table.backends[b].servers[i].queue.front() {
                let Some(srv) = self.table.backends[b].server(i).cloned() else {
                    break;
                };
                // A server in maintenance (or down) takes no new stream,
                // queued ones included: they wait for it to come back, or
                // for `timeout queue` (redispatched at once with `option
                // redispatch`, see `redistribute_server_queue`).
                if !srv.usable() || !srv.try_acquire() {
                    break;
                }
                self.stream_dequeue(sk, b);
                if self.stream_bind_server(sk, b, i, false) {
                    self.stream_connect(sk);
                }
            }
        }
    }

    /// A server entered maintenance: with `option redispatch` the streams
    /// waiting for it go to the backend's queue (any server will do), as
    /// HAProxy's `pendconn_redistribute`; without, they stay and wait for it
    /// (until `timeout queue`).
    pub(crate) fn redistribute_server_queue(&mut self, b: usize, i: usize) {
        if self.rt.config.backends[b].redispatch.is_none() {
            return;
        }
        let waiting: Vec<Key> = self.table.backends[b].servers[i]
            .queue
            .iter()
            .copied()
            .collect();
        for sk in waiting {
            self.stream_dequeue(sk, b);
            self.stream_enqueue(sk, b);
        }
    }

    /// Gives queued streams of backend `b` the server slots that are free.
    pub fn process_queue(&mut self, b: usize) {
        if self.stopping || b >= self.table.backends.len() {
            return;
        }
        self.process_server_queues(b);
        while let Some(&sk) = self.table.backends[b].queue.front() {
            let src = self.session_addrs_src_if_needed(sk, b);
            let key = self.streams.get(sk).and_then(|st| st.lb_key);
            match self.table.backends[b].pick(src, None, key) {
                Pick::Queue => break,
                Pick::Server(i) => {
                    self.stream_dequeue(sk, b);
                    if !self.stream_bind_server(sk, b, i, true) {
                        continue;
                    }
                    self.stream_connect(sk);
                }
                Pick::NoServer => {
                    self.stream_dequeue(sk, b);
                    self.stream_no_server(sk, Phase::Queue);
                }
            }
        }
    }

    /// Binds the stream to server `i` of backend `b`, whose connection slot
    /// (`maxconn`) the caller already took: the server's stream count and
    /// counters, and `lb` when load balancing chose it. False (and the slot
    /// given back) when the stream or the server is gone.
    pub(crate) fn stream_bind_server(&mut self, sk: Key, b: usize, i: usize, lb: bool) -> bool {
        let local = &mut self.table.backends[b].servers[i];
        let Some(srv) = local.srv.clone() else {
            return false;
        };
        let Some(st) = self.streams.get_mut(sk) else {
            srv.release();
            return false;
        };
        local.streams += 1;
        srv.counters.enter(self.now);
        if st.http.is_some() {
            crate::stats::Counters::inc(&srv.counters.req_tot);
        }
        if lb {
            crate::stats::Counters::inc(&srv.counters.lb_total);
            crate::stats::Counters::inc(&self.rt.backends[b].counters.lb_total);
        }
        st.server_ref = Some(srv);
        // Whatever chose the server (balancing, a stick match, a queue, a
        // private connection): `stick store-request` / `stick on` record it.
        self.stream_stick_store(sk, b, i);
        true
    }

    /// Counts the stream in its backend's current and total streams, once.
    pub(crate) fn stream_enter_backend(&mut self, sk: Key) {
        if let Some(st) = self.streams.get_mut(sk)
            && !st.be_counted
            && let Some(b) = st.backend
        {
            st.be_counted = true;
            self.rt.backends[b].counters.enter(self.now);
        }
    }

    /// Gives the stream's server slot back and lets a queued stream (here or
    /// on another shard) have it. Returns the server it was bound to.
    pub(crate) fn stream_release_server(&mut self, sk: Key) -> Option<Arc<ServerShared>> {
        let st = self.streams.get_mut(sk)?;
        let b = st.backend?;
        let srv = st.server_ref.take()?;
        let i = srv.id.slot as usize;
        srv.counters.leave();
        srv.counters.bytes(st.c2s.bytes, st.s2c.bytes);
        srv.release();
        if let Some(local) = self.table.backends[b].servers.get_mut(i) {
            local.streams = local.streams.saturating_sub(1);
        }
        let me = 1u64 << self.id;
        let queued = self.rt.backends[b].queued_shards.load(Ordering::Acquire);
        if queued & me != 0 {
            self.process_queue(b);
        }
        let others = self.rt.backends[b].queued_shards.load(Ordering::Acquire) & !me;
        if others != 0 {
            self.post_mask(others, || Msg::SlotFree { backend: b });
        }
        Some(srv)
    }

    /// Opens a connection to the stream's server.
    fn stream_connect(&mut self, sk: Key) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        if st.http.is_some() && self.http_take_idle(sk) {
            return;
        }
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let (Some(b), Some(server)) = (st.backend, st.server_ref.clone()) else {
            return;
        };
        let si = server.id.slot as usize;
        let fd = match sys::server_socket(server.addr.is_ipv6()) {
            Ok(fd) => fd,
            Err(e) => {
                log::warn!("shard {}: cannot create a server socket: {e}", self.id);
                self.stream_terminate(sk, Termination::new(Cause::Resource, Phase::Connect));
                return;
            }
        };
        let mut conn = Connection::new(fd, Owner::Stream(sk, Side::Back));
        conn.server = Some(ServerRef {
            backend: b as u32,
            server: si as u32,
            generation: server.id.generation,
        });
        let ck = self.conns.insert(conn);
        self.table.backends[b].servers[si].conn_used();
        let st = self.streams.get_mut(sk).expect("checked above");
        let until =
            ms(st.rt.config.backends[b].timeouts.connect).map_or(u64::MAX, |d| self.now + d);
        st.srv = Some(ck);
        st.live_conns += 1;
        if st.times.connect_start == 0 {
            st.times.connect_start = self.now;
        }
        st.state = StreamState::Connecting { until };
        self.conn_op(ck, Op::Connect, |r, fd, tok| {
            r.connect(fd, &server.sockaddr, tok)
        });
        self.stream_rearm_timer(sk);
    }

    /// A connect attempt failed (refused, unreachable, or timed out).
    fn stream_connect_failed(&mut self, sk: Key, timed_out: bool, err: Option<i32>) {
        self.counters.connect_errors += 1;
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        if let Some(srv) = st.server_ref.as_ref() {
            crate::stats::Counters::inc(&srv.counters.err_conn);
        }
        if let Some(b) = st.backend {
            crate::stats::Counters::inc(&self.rt.backends[b].counters.err_conn);
        }
        if let Some(ck) = st.srv.take() {
            self.close_conn(ck);
        }
        let st = self.streams.get_mut(sk).expect("checked above");
        st.failures += 1;
        let b = st.backend.expect("connecting streams have a backend");
        let rt = st.rt.clone();
        let cfg = &rt.config.backends[b];
        if let Some(e) = err {
            log::debug!(
                "shard {}: connect to {} failed: {}",
                self.id,
                st.server_ref
                    .as_ref()
                    .map_or("?".into(), |s| s.name.clone()),
                std::io::Error::from_raw_os_error(e)
            );
        }
        if st.retries_left == 0 && st.http.is_some() {
            // HAProxy answers 503 when it cannot reach a server.
            let cause = if timed_out {
                Cause::ServerTimeout
            } else {
                Cause::ServerAbort
            };
            self.http_error_as(sk, 503, Termination::new(cause, Phase::Connect));
            return;
        }
        if st.retries_left == 0 {
            let phase = Phase::Connect;
            let cause = if timed_out {
                Cause::ServerTimeout
            } else {
                Cause::ServerAbort
            };
            self.stream_terminate(sk, Termination::new(cause, phase));
            return;
        }
        st.retries_left -= 1;
        self.counters.retries += 1;
        crate::stats::Counters::inc(&self.rt.backends[b].counters.retries);
        if let Some(srv) = st.server_ref.as_ref() {
            crate::stats::Counters::inc(&srv.counters.retries);
        }
        let retry_no = cfg.retries - st.retries_left;
        let redispatch = match cfg.redispatch {
            None => false,
            Some(p) if p > 0 => retry_no % (p as u32) == 0,
            Some(p) => st.retries_left == (p.unsigned_abs() - 1),
        };
        if redispatch {
            self.counters.redispatches += 1;
            crate::stats::Counters::inc(&self.rt.backends[b].counters.redispatches);
            let avoid = st.server();
            self.stream_release_server(sk);
            self.stream_assign(sk, avoid);
            return;
        }
        if timed_out {
            self.stream_connect(sk);
            return;
        }
        // HAProxy's turn-around: do not hammer a server that refuses.
        let wait = ms(cfg.timeouts.connect).unwrap_or(1000).min(1000);
        st.state = StreamState::TurnAround {
            until: self.now + wait,
        };
        self.stream_rearm_timer(sk);
    }

    /// The server connection is up (`reused`: an idle one was attached):
    /// start both pipes, a PROXY header first on a new connection.
    pub(crate) fn stream_established(&mut self, sk: Key, reused: bool) {
        let now = self.now;
        let header = if reused {
            None
        } else {
            self.proxy_header_for(sk)
        };
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        st.state = StreamState::Established;
        st.cli_last = now;
        st.srv_last = now;
        if st.times.connect_start == 0 {
            st.times.connect_start = now;
        }
        st.times.connected = now;
        let first = st.first.take();
        let header = header.map(|data| Chunk::Owned { data, off: 0 });
        if let Some(txn) = st.http.as_mut() {
            // HTTP: the request head (and body) are already queued.
            txn.times.connected = now;
            txn.times.sent_us = self.now_us;
            if let Some(h) = header {
                st.c2s.push_front(h);
            }
            self.pipe_pump(sk, Dir::C2S);
            self.pipe_pump(sk, Dir::S2C);
        } else {
            self.pipes_start(sk, [header, first]);
        }
        self.stream_rearm_timer(sk);
    }

    /// The PROXY header to send first, when the server wants one.
    fn proxy_header_for(&mut self, sk: Key) -> Option<Vec<u8>> {
        let st = self.streams.get(sk)?;
        let version = st.server_ref.as_ref()?.send_proxy?;
        let session = st.session;
        let a = self.session_addrs(session);
        let addrs = match (a.src, a.dst) {
            (Some(src), Some(dst)) => Some(proxy::Addrs { src, dst }),
            _ => None,
        };
        let mut buf = [0u8; 128];
        let n = match version {
            ProxyVersion::V1 => proxy::encode_v1(addrs.as_ref(), &mut buf),
            ProxyVersion::V2 => proxy::encode_v2(addrs.as_ref(), &mut buf),
        };
        let mut v = self.io.vecs.take();
        v.extend_from_slice(&buf[..n]);
        Some(v)
    }

    /// A completion on one of the stream's connections.
    pub fn stream_io(&mut self, sk: Key, side: Side, tok: Token, c: Completion) {
        let lease = c.buffer_id().map(|bid| self.io.bufs.lease(bid));
        let Some(st) = self.streams.get_mut(sk) else {
            if let Some(l) = lease {
                self.io.bufs.recycle(l);
            }
            return;
        };
        if st.state == StreamState::Closing {
            if let Some(l) = lease {
                self.io.bufs.recycle(l);
            }
            return;
        }
        match tok.op {
            Op::Connect => {
                if st.srv != Some(tok.key) {
                    return;
                }
                if c.result == 0 {
                    self.stream_established(sk, false);
                } else {
                    self.stream_connect_failed(sk, false, Some(-c.result));
                }
            }
            Op::Recv => {
                let dir = if side == Side::Front {
                    Dir::C2S
                } else {
                    Dir::S2C
                };
                self.pipe_on_recv(sk, side, dir, c.result, lease);
            }
            Op::Send => {
                let dir = if side == Side::Back {
                    Dir::C2S
                } else {
                    Dir::S2C
                };
                self.pipe_on_send(sk, side, dir, c.result);
            }
            Op::Shutdown => {
                let dir = if side == Side::Back {
                    Dir::C2S
                } else {
                    Dir::S2C
                };
                self.pipe_on_shutdown(sk, dir);
            }
            _ => {}
        }
    }

    /// When the stream must next be looked at, from its state.
    fn stream_deadline(&self, st: &Stream) -> u64 {
        match st.state {
            StreamState::Request { until }
            | StreamState::Queued { until }
            | StreamState::TurnAround { until }
            | StreamState::Connecting { until } => until,
            StreamState::Closing => u64::MAX,
            StreamState::Answering => {
                let fe = &st.rt.config.frontends[st.frontend].timeouts;
                ms(fe.client).map_or(u64::MAX, |t| st.cli_last + t)
            }
            StreamState::Established => {
                let (cli, srv) = self.side_deadlines(st);
                cli.min(srv)
            }
        }
    }

    /// Inactivity deadlines of the client and server sides, HAProxy's way:
    /// `timeout tunnel` replaces client/server once established and counts
    /// activity in both directions. Once we have shut our writes to a side
    /// (we passed the other side's FIN on), that side is half-closed and its
    /// `*-fin` timeout, when set, replaces the others: `client-fin` after the
    /// server's FIN, `server-fin` after the client's (HAProxy applies them to
    /// the connection waiting in FIN_WAIT).
    fn side_deadlines(&self, st: &Stream) -> (u64, u64) {
        let fe = &st.rt.config.frontends[st.frontend].timeouts;
        let be = st.backend.map(|b| &st.rt.config.backends[b].timeouts);
        // An HTTP transaction is not a tunnel; after a 101 or CONNECT the
        // stream drops its transaction and `timeout tunnel` applies.
        let tunnel = be.and_then(|t| ms(t.tunnel)).filter(|_| st.http.is_none());
        let server = be.and_then(|t| ms(t.server));
        let server_fin = be.and_then(|t| ms(t.server_fin));
        let both = st.cli_last.max(st.srv_last);
        let side = |fin: bool, fin_to: Option<u64>, normal: Option<u64>, last: u64| match (
            fin, fin_to, tunnel,
        ) {
            (true, Some(t), _) => last + t,
            (_, _, Some(t)) => both + t,
            _ => normal.map_or(u64::MAX, |t| last + t),
        };
        (
            side(st.srv_fin, ms(fe.client_fin), ms(fe.client), st.cli_last),
            side(st.cli_fin, server_fin, server, st.srv_last),
        )
    }

    pub(super) fn stream_rearm_timer(&mut self, sk: Key) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let at = self.stream_deadline(st);
        let st = self.streams.get_mut(sk).expect("checked above");
        if at == u64::MAX {
            st.deadline.at_ms = u64::MAX;
        } else {
            self.timers
                .set(&mut st.deadline, at, TimerOwner::Stream, sk);
        }
    }

    pub fn stream_timer(&mut self, e: TimerEntry) {
        let sk = e.key();
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let at = self.stream_deadline(st);
        let now = self.now;
        let st = self.streams.get_mut(sk).expect("checked above");
        st.deadline.at_ms = at;
        if !self.timers.fired(&mut st.deadline, &e, now) {
            return;
        }
        let http = st.http.is_some();
        match st.state {
            StreamState::Request { .. } => {
                // timeout http-request: 408, as HAProxy answers.
                self.http_error(sk, 408);
            }
            StreamState::Answering => {
                self.stream_terminate(sk, Termination::new(Cause::ClientTimeout, Phase::Data));
            }
            StreamState::Queued { .. } => {
                self.counters.queue_timeouts += 1;
                if http {
                    self.http_error_as(
                        sk,
                        503,
                        Termination::new(Cause::ServerTimeout, Phase::Queue),
                    );
                } else {
                    self.stream_terminate(sk, Termination::new(Cause::ServerTimeout, Phase::Queue));
                }
            }
            StreamState::TurnAround { .. } => self.stream_connect(sk),
            StreamState::Connecting { .. } => self.stream_connect_failed(sk, true, None),
            StreamState::Established => {
                let st = self.streams.get(sk).expect("checked above");
                let (cli, _) = self.side_deadlines(st);
                let cause = if cli <= now {
                    Cause::ClientTimeout
                } else {
                    Cause::ServerTimeout
                };
                if http && cause == Cause::ServerTimeout {
                    // No (complete) response in time: 504 if nothing was
                    // sent yet, as HAProxy does.
                    self.http_error(sk, 504);
                } else {
                    self.stream_terminate(sk, Termination::new(cause, Phase::Data));
                }
            }
            StreamState::Closing => {}
        }
    }

    /// Ends the stream: both connections are closed; the slot goes once the
    /// kernel has returned every operation on them.
    pub fn stream_terminate(&mut self, sk: Key, term: Termination) {
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        if st.state == StreamState::Closing {
            return;
        }
        let was_queued = st.in_queue;
        st.state = StreamState::Closing;
        st.term = Some(term);
        let abort = match term.cause {
            Cause::ClientAbort | Cause::ClientTimeout => Some(true),
            Cause::ServerAbort | Cause::ServerTimeout if term.phase == Phase::Data => Some(false),
            _ => None,
        };
        if let Some(client) = abort {
            let pick = |c: &crate::stats::Counters| {
                if client {
                    crate::stats::Counters::inc(&c.cli_abort)
                } else {
                    crate::stats::Counters::inc(&c.srv_abort)
                }
            };
            if let Some(b) = st.backend.filter(|_| st.be_counted) {
                pick(&self.rt.backends[b].counters);
            }
            if let Some(srv) = st.server_ref.as_ref() {
                pick(&srv.counters);
            }
        }
        let (cli, srv, b) = (st.cli, st.srv, st.backend);
        log::debug!(
            "shard {}: stream ended {term} (client->server {} bytes, server->client {} bytes)",
            self.id,
            st.c2s.bytes,
            st.s2c.bytes
        );
        if was_queued && let Some(b) = b {
            self.stream_dequeue(sk, b);
        }
        self.stream_log(sk, term);
        self.stream_release_server(sk);
        for ck in [cli, srv].into_iter().flatten() {
            self.close_conn(ck);
        }
        self.stream_maybe_free(sk);
    }

    pub fn stream_kill(&mut self, sk: Key) {
        self.stream_terminate(sk, Termination::new(Cause::Killed, Phase::Data));
    }

    /// One of the stream's connections was released by the kernel.
    pub fn stream_conn_released(&mut self, sk: Key, _side: Side, ck: Key) {
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        st.live_conns -= 1;
        if st.cli == Some(ck) {
            st.cli = None;
        }
        if st.srv == Some(ck) {
            st.srv = None;
        }
        self.stream_maybe_free(sk);
    }

    pub(crate) fn stream_maybe_free(&mut self, sk: Key) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        if st.state != StreamState::Closing || st.live_conns > 0 {
            return;
        }
        let mut st = self.streams.remove(sk).expect("checked above");
        self.stream_stick_counts(&st);
        let fe = &self.rt.frontends[st.frontend].counters;
        fe.bytes(st.c2s.bytes, st.s2c.bytes);
        // The process's own total: frontends may come and go with reloads.
        self.rt.counters.bytes(st.c2s.bytes, st.s2c.bytes);
        if let Some(b) = st.backend.filter(|_| st.be_counted) {
            let be = &self.rt.backends[b].counters;
            be.leave();
            be.bytes(st.c2s.bytes, st.s2c.bytes);
        }
        st.c2s.release(&mut self.io);
        st.s2c.release(&mut self.io);
        if let Some(f) = st.first.take() {
            f.release(&mut self.io);
        }
        if let Some(mut txn) = st.http.take() {
            txn.release(&mut self.io);
            self.recycle_txn(txn);
        }
        if !st.keep_session {
            self.session_end(st.session);
        }
    }

    /// What a finished stream adds to the stick counters it sees (its own,
    /// else its session's): its bytes, and an HTTP error. Its own entries
    /// are given back when `st` is dropped.
    fn stream_stick_counts(&self, st: &Stream) {
        let sc = st.sc(&self.sessions);
        if sc.is_empty() {
            return;
        }
        let (i, o) = st.unreported_bytes();
        sc.count_bytes(i, o, self.now);
        if st
            .http
            .as_ref()
            .is_some_and(|t| crate::stick::is_http_error(t.status))
        {
            sc.count_http_error(self.now);
        }
    }

    /// A TCP tunnel moved bytes: the stick counters it sees get them now
    /// (their `bytes_*_rate` stay true for long tunnels), not at its end.
    pub(crate) fn stream_stick_bytes(&mut self, sk: Key) {
        let Some(st) = self.streams.get_mut(sk) else {
            return;
        };
        let (i, o) = st.unreported_bytes();
        st.stk_bytes = (st.c2s.bytes, st.s2c.bytes);
        st.sc(&self.sessions).count_bytes(i, o, self.now);
    }

    /// The proxy answers the request itself; no server is needed any more.
    pub(crate) fn stream_set_state_answering(&mut self, sk: Key) {
        if let Some(st) = self.streams.get_mut(sk) {
            st.state = StreamState::Answering;
        }
        self.stream_rearm_timer(sk);
    }
}

pub(super) fn touch(st: &mut Stream, side: Side, now: u64) {
    match side {
        Side::Front => st.cli_last = now,
        Side::Back => st.srv_last = now,
    }
}

/// Whether frontend `fe` of a stream on snapshot `own` is gone from the
/// latest snapshot
/// (removed, or its mode changed): its session ends after the stream's
/// answer, which says so (`Connection: close`).
pub(crate) fn stream_frontend_gone(latest: &Snap, own: &Snap, fe: usize) -> bool {
    !std::rc::Rc::ptr_eq(own, latest) && frontend_gone(latest, own, fe)
}

/// `fe` of snapshot `old` has no successor in `latest`: removed, or its
/// mode changed (a session cannot change mode).
fn frontend_gone(latest: &Runtime, old: &Runtime, fe: usize) -> bool {
    let now = &latest.config.frontends[fe];
    now.retired || now.mode != old.config.frontends[fe].mode
}

/// A TCP frontend whose `use_backend` rules have conditions chooses its
/// backend after its `tcp-request content` rules, per stream.
fn switches_late(fe: &crate::config::Frontend) -> bool {
    fe.mode == crate::config::Mode::Tcp && fe.use_backends.iter().any(|u| u.cond.is_some())
}
