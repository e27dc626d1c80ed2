//! Activity counters for the runtime API (`show stat`, `show info`), the
//! Prometheus exporter (`prometheus`) and the stats page (`page`), which
//! `service` serves; latency histograms of backends (`latency`).
//!
//! One `Counters` block per frontend, backend and server, shared by every
//! shard through the runtime. Shards add to them once per session, stream or
//! transaction (never per chunk) with relaxed atomics: a reader sees each
//! counter exact but the set not as one instant, as with HAProxy's own
//! shared counters.

use std::sync::atomic::{AtomicU64, Ordering};

mod latency;
pub mod page;
pub mod prometheus;
mod rate;
pub mod service;

use crate::shard::timer::now_ms;
pub use latency::{BUCKETS_US, Cumulative, Latency, Merged, ShardLatency};
pub use rate::{Avg, Rate};

/// Counters of one proxy (frontend or backend) or server. Which fields a
/// kind of object uses follows HAProxy's `show stat` (for example `econ` is
/// only meaningful for backends and servers, `ereq` only for frontends).
///
/// Aligned to a cache line of its own: every shard writes these, and they
/// must not share a line with the fields every pick reads (a server's
/// weight, state and connection count next to them in `ServerShared`).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Counters {
    /// Current sessions (frontend), streams (backend, server).
    pub cur: AtomicU64,
    /// Highest `cur` seen.
    pub max: AtomicU64,
    /// Total sessions (frontend) or streams assigned (backend, server).
    pub total: AtomicU64,
    /// Connections accepted (frontend only; includes those that never
    /// became sessions).
    pub conn_tot: AtomicU64,
    /// Bytes from clients, bytes to clients.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Requests denied by rules, responses denied.
    pub denied_req: AtomicU64,
    pub denied_resp: AtomicU64,
    /// Connections rejected by `tcp-request connection` rules, sessions by
    /// `tcp-request session` rules (frontend).
    pub denied_conn: AtomicU64,
    pub denied_sess: AtomicU64,
    /// Request errors (frontend): bad requests, client timeouts and aborts
    /// before a complete request.
    pub err_req: AtomicU64,
    /// Connection errors (backend, server): failed connects.
    pub err_conn: AtomicU64,
    /// Response errors (backend, server): bad or truncated responses.
    pub err_resp: AtomicU64,
    /// Connect retries, redispatches.
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// Times this server was chosen by load balancing (server, backend).
    pub lb_total: AtomicU64,
    /// HTTP requests (frontend, backend).
    pub req_tot: AtomicU64,
    /// HTTP responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub rsp: [AtomicU64; 6],
    /// Streams aborted by the client, by the server.
    pub cli_abort: AtomicU64,
    pub srv_abort: AtomicU64,
    /// Streams currently waiting in a queue (backend, server) and the most
    /// seen.
    pub queue_cur: AtomicU64,
    pub queue_max: AtomicU64,
    /// HTTP requests answered by the proxy itself (stats page,
    /// monitor-uri, services), HAProxy's `intercepted` (frontend).
    pub intercepted: AtomicU64,
    /// Sessions (frontend) or streams (backend, server) per second.
    pub sess_rate: Rate,
    /// HTTP requests per second (frontend).
    pub req_rate: Rate,
    /// Connections accepted per second (frontend).
    pub conn_rate: Rate,
    /// Average queue, connect, response and total times (ms) of the last
    /// 1024 HTTP transactions a server answered (backend, server).
    pub qtime: Avg,
    pub ctime: Avg,
    pub rtime: Avg,
    pub ttime: Avg,
}

/// A plain copy of `Counters`, for formatting.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub cur: u64,
    pub max: u64,
    pub total: u64,
    pub conn_tot: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub denied_req: u64,
    pub denied_resp: u64,
    pub denied_conn: u64,
    pub denied_sess: u64,
    pub err_req: u64,
    pub err_conn: u64,
    pub err_resp: u64,
    pub retries: u64,
    pub redispatches: u64,
    pub lb_total: u64,
    pub req_tot: u64,
    pub rsp: [u64; 6],
    pub cli_abort: u64,
    pub srv_abort: u64,
    pub queue_cur: u64,
    pub queue_max: u64,
    pub intercepted: u64,
    /// Per second now, and the highest seen: sessions (streams for
    /// backends and servers), HTTP requests, connections.
    pub rate: u64,
    pub rate_max: u64,
    pub req_rate: u64,
    pub req_rate_max: u64,
    pub conn_rate: u64,
    pub conn_rate_max: u64,
    /// Average times (ms): queue, connect, response, total.
    pub qtime: u64,
    pub ctime: u64,
    pub rtime: u64,
    pub ttime: u64,
}

#[inline]
fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// One more current item (session or stream) at `now` (the shard's
    /// clock, ms): `cur`, `max`, `total`, `rate`.
    pub fn enter(&self, now: u64) {
        let cur = self.cur.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(cur, Ordering::Relaxed);
        add(&self.total, 1);
        self.sess_rate.add(now);
    }

    /// The times (ms) of an HTTP transaction a server answered.
    pub fn times(&self, queue: u64, connect: u64, response: u64, total: u64) {
        self.qtime.add(queue);
        self.ctime.add(connect);
        self.rtime.add(response);
        self.ttime.add(total);
    }

    /// A connection accepted at `now` (frontend): `conn_tot`, `conn_rate`.
    pub fn connection(&self, now: u64) {
        add(&self.conn_tot, 1);
        self.conn_rate.add(now);
    }

    /// An HTTP request at `now` (frontend): `req_tot`, `req_rate`.
    pub fn request(&self, now: u64) {
        add(&self.req_tot, 1);
        self.req_rate.add(now);
    }

    /// One current item fewer.
    pub fn leave(&self) {
        self.cur.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn queue_enter(&self) {
        let now = self.queue_cur.fetch_add(1, Ordering::Relaxed) + 1;
        self.queue_max.fetch_max(now, Ordering::Relaxed);
    }

    pub fn queue_leave(&self) {
        self.queue_cur.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn bytes(&self, from_client: u64, to_client: u64) {
        add(&self.bytes_in, from_client);
        add(&self.bytes_out, to_client);
    }

    /// An HTTP response status, counted in its class.
    pub fn response(&self, status: u16) {
        let class = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        add(&self.rsp[class], 1);
    }

    pub fn inc(c: &AtomicU64) {
        add(c, 1);
    }

    pub fn snapshot(&self) -> Snapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = now_ms();
        Snapshot {
            cur: l(&self.cur),
            max: l(&self.max),
            total: l(&self.total),
            conn_tot: l(&self.conn_tot),
            bytes_in: l(&self.bytes_in),
            bytes_out: l(&self.bytes_out),
            denied_req: l(&self.denied_req),
            denied_resp: l(&self.denied_resp),
            denied_conn: l(&self.denied_conn),
            denied_sess: l(&self.denied_sess),
            err_req: l(&self.err_req),
            err_conn: l(&self.err_conn),
            err_resp: l(&self.err_resp),
            retries: l(&self.retries),
            redispatches: l(&self.redispatches),
            lb_total: l(&self.lb_total),
            req_tot: l(&self.req_tot),
            rsp: std::array::from_fn(|i| l(&self.rsp[i])),
            cli_abort: l(&self.cli_abort),
            srv_abort: l(&self.srv_abort),
            queue_cur: l(&self.queue_cur),
            queue_max: l(&self.queue_max),
            intercepted: l(&self.intercepted),
            rate: self.sess_rate.read(now),
            rate_max: self.sess_rate.max(),
            req_rate: self.req_rate.read(now),
            req_rate_max: self.req_rate.max(),
            conn_rate: self.conn_rate.read(now),
            conn_rate_max: self.conn_rate.max(),
            qtime: self.qtime.get(),
            ctime: self.ctime.get(),
            rtime: self.rtime.get(),
            ttime: self.ttime.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_leave_tracks_current_max_and_total() {
        let c = Counters::default();
        c.enter(1);
        c.enter(1);
        c.leave();
        c.enter(1);
        let s = c.snapshot();
        assert_eq!((s.cur, s.max, s.total), (2, 2, 3));
        c.response(204);
        c.response(503);
        c.response(42);
        assert_eq!(c.snapshot().rsp, [0, 1, 0, 0, 1, 1]);
    }
}
