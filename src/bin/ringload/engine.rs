//! The HTTP load engine behind `ringload http`.
//!
//! Design (the tool must not be the bottleneck):
//! - `threads` workers, each pinned (optionally) and owning its share of the
//!   connections, an edge-triggered epoll instance, one 64 KiB read buffer,
//!   a histogram and counters; nothing is shared while running, results are
//!   merged at the end.
//! - Each socket is registered once, for IN|OUT|RDHUP edge-triggered: the
//!   steady state of a keep-alive connection costs one `recv` and one `send`
//!   per response, plus a share of `epoll_pwait2`; no `epoll_ctl`.
//!   A `recv` shorter than the buffer means the socket is drained (new data
//!   raises a new edge), unless the event also said the peer closed, in which
//!   case reading goes on to the end of stream.
//! - The request is preformatted; `pipeline + 1` copies of it sit in one
//!   buffer so any number of requests up to the pipeline depth, starting at
//!   any offset of a partial write, go out in a single `send`.
//! - Responses are parsed in place (`http::ResponseParser`); only a line
//!   split across reads is copied. Per connection, a preallocated ring holds
//!   the start time of each outstanding request: no allocation per request.
//! - Closed loop (default): up to `pipeline` requests outstanding per
//!   connection, a new one sent as soon as one completes; latency from the
//!   moment the request was queued for sending.
//! - Open loop (`--rate`): connection `g` of `c` sends request `k` at the
//!   intended time `start + (g + k*c) / rate` (so all sends are evenly
//!   spread), at most `pipeline` outstanding; a request that cannot go out
//!   on time waits, and its latency is measured from its intended time
//!   (wrk2's coordinated-omission correction). Requests lost with a
//!   connection are re-sent with their original intended times.
//! - `--close`: one connection per request, latency from the start of the
//!   connect; after a `Connection: close` response the client waits for the
//!   server's FIN before closing, so TIME_WAIT stays on the server side.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Barrier;
use std::time::Duration;

use crate::http::{Response, ResponseParser};
use crate::report::{ErrorKind, Stats};
use crate::sys::{self, EP_ERR, EP_ET, EP_HUP, EP_IN, EP_OUT, EP_RDHUP, Epoll, RawAddr};
use crate::util;

/// Size of each worker's read buffer: one `recv` takes at most this much.
const READ_BUF: usize = 64 * 1024;
/// Most events taken from one `epoll_pwait2`.
const MAX_EVENTS: usize = 512;
/// Wait before reopening a connection whose connect failed.
const CONNECT_BACKOFF_NS: u64 = 10_000_000;

/// What to run; validated by the CLI.
pub struct HttpPlan {
    pub addr: SocketAddr,
    /// One complete request, sent as is.
    pub request: Vec<u8>,
    pub connections: usize,
    /// At most `connections`.
    pub threads: usize,
    /// Stop after this long (after the warmup)...
    pub duration: Option<Duration>,
    /// ...or after this many responses, whichever comes first.
    pub requests: Option<u64>,
    /// Most requests outstanding per connection (1 with `close`).
    pub pipeline: usize,
    /// Connection per request.
    pub close: bool,
    /// Total requests per second for the open-loop mode.
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub warmup: Duration,
    pub cpus: Vec<usize>,
}

/// The merged result of a run.
pub struct Outcome {
    pub stats: Stats,
    /// Some connection was established, warmup included.
    pub ever_connected: bool,
}

/// Runs the load and merges the workers' results. Errors are internal
/// failures (epoll, threads).
pub fn run(plan: &HttpPlan) -> Result<Outcome, String> {
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    let barrier = Barrier::new(threads);
    let results: Vec<Result<(Stats, bool), String>> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        let mut first = 0;
        for w in 0..threads {
            let n = plan.connections / threads + usize::from(w < plan.connections % threads);
            // Requests split in proportion to connections.
            let budget = plan.requests.map(|r| {
                let share = |conns: usize| {
                    (u128::from(r) * conns as u128 / plan.connections as u128) as u64
                };
                share(first + n) - share(first)
            });
            let barrier = &barrier;
            let handle = std::thread::Builder::new()
                .name(format!("ringload-{w}"))
                .spawn_scoped(s, move || {
                    let setup = util::pin_thread(&plan.cpus, w).and_then(|()| {
                        Worker::new(plan, first, n, budget).map_err(|e| e.to_string())
                    });
                    barrier.wait();
                    let mut worker = setup?;
                    worker.run().map_err(|e| format!("worker {w}: {e}"))?;
                    Ok((worker.stats, worker.ever_connected))
                })
                .map_err(|e| format!("spawning a worker thread: {e}"));
            handles.push(handle);
            first += n;
        }
        handles
            .into_iter()
            .map(|h| {
                h?.join()
                    .unwrap_or_else(|_| Err("a worker thread panicked".to_string()))
            })
            .collect()
    });
    let mut total = Stats::new();
    let mut ever_connected = false;
    for r in results {
        let (stats, connected) = r?;
        total.merge(&stats);
        ever_connected |= connected;
    }
    Ok(Outcome {
        stats: total,
        ever_connected,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// No socket; in close mode, waiting for the next request to be due.
    Closed,
    /// No socket; reopened by a timer after a failed connect.
    Backoff,
    Connecting,
    Open,
    /// The last response said the server closes: waiting for its FIN.
    Draining,
}

struct Conn {
    fd: Option<OwnedFd>,
    raw: RawFd,
    /// Bumped on every open, and part of the epoll token, so events for an
    /// earlier socket of this slot are ignored.
    generation: u32,
    st: St,
    parser: ResponseParser,
    /// Start (closed loop) or intended (open loop) time of each outstanding
    /// request, oldest first. Capacity `pipeline`, never exceeded.
    starts: VecDeque<u64>,
    /// Bytes of queued requests not sent yet.
    write_pending: usize,
    /// Offset in the request of the next byte to send.
    write_off: usize,
    /// Closed loop, keep-alive: how many of the last `starts` entries are
    /// still to be stamped with their actual send time.
    unstamped: usize,
    /// On the worker's `dirty` list.
    dirty: bool,
    /// The last send hit "would block": the EPOLLOUT edge resumes sending.
    blocked: bool,
    /// Last connect start, read, write or request queued on an idle
    /// connection: the reference for `--timeout`.
    last_progress: u64,
    /// Open loop: index of the next request of this connection's schedule.
    next_k: u64,
    /// Open loop: offset of this connection's schedule.
    phase_ns: f64,
    /// Due time of this connection's armed timer, 0 if none.
    timer_due: u64,
}

struct Worker<'a> {
    plan: &'a HttpPlan,
    raddr: RawAddr,
    epoll: Epoll,
    conns: Vec<Conn>,
    rbuf: Vec<u8>,
    /// `pipeline + 1` copies of the request.
    wbuf: Vec<u8>,
    req_len: usize,
    /// (due time, connection) min-heap; entries whose time no longer matches
    /// the connection's `timer_due` are stale and skipped.
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    /// Connections with requests queued since the last `flush_dirty`.
    dirty: Vec<usize>,
    stats: Stats,
    /// Past the warmup: results are recorded.
    measuring: bool,
    /// This worker's share of `-n`.
    budget: Option<u64>,
    /// Requests queued since measuring began, less those lost with their
    /// connection (they are sent again).
    issued: u64,
    /// Responses recorded.
    completed: u64,
    /// Requests outstanding over all connections.
    inflight: u64,
    ever_connected: bool,
    last_completion: u64,
    /// Open loop: nanoseconds between two requests of one connection.
    interval_ns: f64,
    sched_start: u64,
    timeout_ns: u64,
}

fn token(i: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | i as u64
}

impl<'a> Worker<'a> {
    fn new(plan: &'a HttpPlan, first: usize, n: usize, budget: Option<u64>) -> io::Result<Self> {
        let depth = if plan.close { 1 } else { plan.pipeline.max(1) };
        let total = plan.connections.max(1) as f64;
        let (interval_ns, phase_step) = match plan.rate {
            Some(r) => (total * 1e9 / r, 1e9 / r),
            None => (0.0, 0.0),
        };
        let conns = (0..n)
            .map(|j| Conn {
                fd: None,
                raw: -1,
                generation: 0,
                st: St::Closed,
                parser: ResponseParser::new(),
                starts: VecDeque::with_capacity(depth),
                write_pending: 0,
                write_off: 0,
                unstamped: 0,
                dirty: false,
                blocked: false,
                last_progress: 0,
                next_k: 0,
                phase_ns: (first + j) as f64 * phase_step,
                timer_due: 0,
            })
            .collect();
        Ok(Worker {
            plan,
            raddr: RawAddr::new(&plan.addr),
            epoll: Epoll::new()?,
            conns,
            rbuf: vec![0; READ_BUF],
            wbuf: plan.request.repeat(depth + 1),
            req_len: plan.request.len(),
            timers: BinaryHeap::with_capacity(4 * n + 16),
            dirty: Vec::with_capacity(n),
            stats: Stats::new(),
            measuring: false,
            budget,
            issued: 0,
            completed: 0,
            inflight: 0,
            ever_connected: false,
            last_completion: 0,
            interval_ns,
            sched_start: 0,
            timeout_ns: plan.timeout.as_nanos() as u64,
        })
    }

    fn depth(&self) -> usize {
        if self.plan.close {
            1
        } else {
            self.plan.pipeline.max(1)
        }
    }

    /// The event loop; returns when the duration or the request budget is
    /// done, on Ctrl-C, or when no connection could be made for
    /// max(timeout, 1s).
    fn run(&mut self) -> io::Result<()> {
        let start = sys::now_ns();
        self.sched_start = start;
        let measure_start = start + self.plan.warmup.as_nanos() as u64;
        self.measuring = self.plan.warmup.is_zero();
        self.last_completion = measure_start;
        let end = self
            .plan
            .duration
            .map(|d| measure_start + d.as_nanos() as u64);
        let scan_ns = (self.timeout_ns / 4).clamp(1_000_000, 100_000_000);
        let give_up_ns = self.timeout_ns.max(1_000_000_000);
        for i in 0..self.conns.len() {
            self.reconnect(i, start);
        }
        let mut events = vec![sys::EMPTY_EVENT; MAX_EVENTS];
        let mut next_scan = start + scan_ns;
        let mut budget_done = false;
        loop {
            let now = sys::now_ns();
            if util::stop_requested() {
                break;
            }
            if !self.measuring && now >= measure_start {
                self.begin_measuring(measure_start);
            }
            if end.is_some_and(|e| now >= e) {
                break;
            }
            if self.measuring && self.budget.is_some_and(|b| self.completed >= b) {
                budget_done = true;
                break;
            }
            if !self.ever_connected && now - start >= give_up_ns {
                break;
            }
            while let Some(&Reverse((due, i))) = self.timers.peek() {
                if due > now {
                    break;
                }
                self.timers.pop();
                self.fire_timer(i as usize, due, now);
            }
            if now >= next_scan {
                self.scan_timeouts(now);
                next_scan = now + scan_ns;
            }
            self.flush_dirty();
            let mut wake = next_scan;
            if let Some(e) = end {
                wake = wake.min(e);
            }
            if !self.measuring {
                wake = wake.min(measure_start);
            }
            if let Some(&Reverse((due, _))) = self.timers.peek() {
                wake = wake.min(due);
            }
            let n = self
                .epoll
                .wait(&mut events, Some(wake.saturating_sub(now)))?;
            for ev in &events[..n] {
                let (flags, data) = (ev.events, ev.u64);
                self.on_event(data, flags);
            }
        }
        let end_time = if budget_done {
            self.last_completion
        } else {
            sys::now_ns()
        };
        self.stats.elapsed_ns = if self.measuring {
            end_time.saturating_sub(measure_start)
        } else {
            0
        };
        // Sockets close when the worker is dropped.
        Ok(())
    }

    /// End of warmup: results so far are dropped; requests in flight count.
    fn begin_measuring(&mut self, at: u64) {
        self.stats.reset();
        self.measuring = true;
        self.issued = self.inflight;
        self.completed = 0;
        self.last_completion = at;
    }

    fn may_issue(&self) -> bool {
        !self.measuring || self.budget.is_none_or(|b| self.issued < b)
    }

    /// Open loop: intended send time of connection `i`'s next request.
    fn due(&self, i: usize) -> u64 {
        let c = &self.conns[i];
        self.sched_start + (c.phase_ns + c.next_k as f64 * self.interval_ns) as u64
    }

    fn arm(&mut self, i: usize, due: u64) {
        let c = &mut self.conns[i];
        if c.timer_due != due {
            c.timer_due = due;
            self.timers.push(Reverse((due, i as u32)));
        }
    }

    fn fire_timer(&mut self, i: usize, due: u64, now: u64) {
        let c = &mut self.conns[i];
        if c.timer_due != due {
            return; // superseded
        }
        c.timer_due = 0;
        if c.st == St::Backoff {
            c.st = St::Closed;
            self.reconnect(i, now);
        } else {
            self.pump(i, now);
        }
    }

    /// Gets a closed connection going again: keep-alive reopens it at once,
    /// close mode opens it when its next request is due.
    fn reconnect(&mut self, i: usize, now: u64) {
        if self.plan.close {
            self.pump(i, now);
        } else {
            self.open(i, now);
        }
    }

    /// Starts connecting slot `i` (which has no socket).
    fn open(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        c.generation = c.generation.wrapping_add(1);
        c.last_progress = now;
        let registered = sys::tcp_connect(&self.raddr).and_then(|(fd, _)| {
            self.epoll.add(
                fd.as_raw_fd(),
                EP_IN | EP_OUT | EP_RDHUP | EP_ET,
                token(i, c.generation),
            )?;
            Ok(fd)
        });
        match registered {
            Ok(fd) => {
                // Even if already connected, the registration reports it as
                // writable: `on_event` completes the connect.
                c.raw = fd.as_raw_fd();
                c.fd = Some(fd);
                c.st = St::Connecting;
            }
            Err(_) => self.fail(i, ErrorKind::Connect, now),
        }
    }

    /// Queues as many requests as allowed on connection `i` and sends them
    /// (keep-alive), or opens the connection for the next request (close
    /// mode). In open loop, arms a timer for the next request not yet due.
    fn pump(&mut self, i: usize, now: u64) {
        let open_loop = self.plan.rate.is_some();
        match self.conns[i].st {
            St::Open if !self.plan.close => {
                while self.conns[i].starts.len() < self.depth() && self.may_issue() {
                    let start = if open_loop {
                        let due = self.due(i);
                        if due > now {
                            self.arm(i, due);
                            break;
                        }
                        self.conns[i].next_k += 1;
                        due
                    } else {
                        now
                    };
                    self.queue(i, start, now);
                }
                self.mark_dirty(i);
            }
            St::Closed if self.plan.close => {
                if !self.may_issue() {
                    return;
                }
                let start = if open_loop {
                    let due = self.due(i);
                    if due > now {
                        self.arm(i, due);
                        return;
                    }
                    due
                } else {
                    now
                };
                self.open(i, now);
                if self.conns[i].st == St::Connecting {
                    if open_loop {
                        self.conns[i].next_k += 1;
                    }
                    self.queue(i, start, now);
                }
            }
            _ => {}
        }
    }

    /// Adds one request, started (or intended) at `start`, to connection
    /// `i`'s queue.
    fn queue(&mut self, i: usize, start: u64, now: u64) {
        let c = &mut self.conns[i];
        if c.starts.is_empty() {
            c.last_progress = now;
        }
        c.starts.push_back(start);
        c.write_pending += self.req_len;
        if self.plan.rate.is_none() && !self.plan.close {
            c.unstamped += 1;
        }
        self.issued += 1;
        self.inflight += 1;
    }

    /// Queues connection `i` for `flush_dirty`.
    fn mark_dirty(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if !c.dirty && c.write_pending > 0 {
            c.dirty = true;
            self.dirty.push(i);
        }
    }

    /// Sends what the connections queued during the last batch of events.
    ///
    /// Deferring the sends to the end of the batch (instead of sending as
    /// each response is parsed) hands the server its requests in a burst,
    /// so it serves many per wakeup, as with wrk (which gets the same
    /// effect from an EPOLLOUT round trip per request, at the cost of two
    /// `epoll_ctl` calls).
    fn flush_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let c = &mut self.conns[i];
            c.dirty = false;
            if c.st == St::Open {
                self.flush(i, sys::now_ns());
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Sends queued request bytes until done or the socket is full (then
    /// the EPOLLOUT edge resumes). Closed-loop requests are stamped with
    /// the time they are sent.
    fn flush(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        if c.unstamped > 0 {
            let len = c.starts.len();
            for start in c.starts.range_mut(len - c.unstamped..) {
                *start = now;
            }
            c.unstamped = 0;
        }
        loop {
            let c = &mut self.conns[i];
            if c.write_pending == 0 {
                return;
            }
            let off = c.write_off;
            let len = c.write_pending.min(self.wbuf.len() - off);
            match sys::send(c.raw, &self.wbuf[off..off + len]) {
                Ok(n) => {
                    c.blocked = false;
                    c.write_pending -= n;
                    c.write_off = (off + n) % self.req_len;
                    c.last_progress = now;
                    self.stats.bytes_written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.blocked = true;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i, ErrorKind::Write, now),
            }
        }
    }

    fn on_event(&mut self, data: u64, flags: u32) {
        let i = (data & 0xffff_ffff) as usize;
        let generation = (data >> 32) as u32;
        let Some(c) = self.conns.get(i) else { return };
        if c.generation != generation || c.fd.is_none() {
            return; // an earlier socket of this slot
        }
        let now = sys::now_ns();
        match c.st {
            St::Connecting => {
                if flags & (EP_ERR | EP_HUP) != 0 {
                    self.fail(i, ErrorKind::Connect, now);
                } else if flags & EP_OUT != 0 {
                    self.on_connected(i, now);
                }
            }
            St::Open => {
                if flags & (EP_IN | EP_RDHUP | EP_HUP | EP_ERR) != 0 {
                    self.on_readable(i, flags, now);
                }
                // Edge-triggered events carry every current readiness flag,
                // so EPOLLOUT is only acted on when a send was blocked;
                // otherwise queued requests wait for `flush_dirty`.
                let c = &self.conns[i];
                if flags & EP_OUT != 0
                    && c.generation == generation
                    && c.st == St::Open
                    && c.blocked
                {
                    self.flush(i, now);
                }
            }
            St::Draining => self.on_readable(i, flags, now),
            St::Closed | St::Backoff => {}
        }
    }

    fn on_connected(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        c.st = St::Open;
        c.last_progress = now;
        self.ever_connected = true;
        if self.measuring {
            self.stats.established += 1;
        }
        if self.plan.close {
            self.mark_dirty(i);
        } else {
            self.pump(i, now);
        }
    }

    fn on_readable(&mut self, i: usize, flags: u32, now: u64) {
        let mut buf = std::mem::take(&mut self.rbuf);
        self.read_loop(i, flags, now, &mut buf);
        self.rbuf = buf;
    }

    /// Reads until the socket is drained (a short read, unless the peer
    /// closed: then until end of stream), parsing as it goes; then refills
    /// the connection's queue.
    fn read_loop(&mut self, i: usize, flags: u32, now: u64, buf: &mut [u8]) {
        let generation = self.conns[i].generation;
        let to_eof = flags & (EP_RDHUP | EP_HUP | EP_ERR) != 0;
        loop {
            let c = &mut self.conns[i];
            if c.generation != generation || c.fd.is_none() {
                return; // closed (and maybe reopened) meanwhile
            }
            match sys::recv(c.raw, buf) {
                Ok(0) => return self.on_eof(i, now),
                Ok(n) => {
                    c.last_progress = now;
                    self.stats.bytes_read += n as u64;
                    if !self.consume(i, &buf[..n], now) {
                        return;
                    }
                    if n < buf.len() && !to_eof {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i, ErrorKind::Read, now),
            }
        }
        if self.conns[i].st == St::Open {
            self.pump(i, now);
        }
    }

    /// Parses received bytes. False when the connection was closed.
    fn consume(&mut self, i: usize, data: &[u8], now: u64) -> bool {
        let mut off = 0;
        while off < data.len() {
            let c = &mut self.conns[i];
            if c.st == St::Draining {
                return true; // anything after the last response is ignored
            }
            if c.starts.is_empty() && !c.parser.in_progress() {
                // Bytes nobody asked for.
                self.fail(i, ErrorKind::Read, now);
                return false;
            }
            match c.parser.feed(&data[off..]) {
                Ok((used, resp)) => {
                    off += used;
                    if let Some(resp) = resp
                        && !self.on_response(i, resp, now)
                    {
                        return false;
                    }
                }
                Err(_) => {
                    self.fail(i, ErrorKind::Read, now);
                    return false;
                }
            }
        }
        true
    }

    /// A complete response on connection `i`. False when the connection was
    /// closed.
    fn on_response(&mut self, i: usize, resp: Response, now: u64) -> bool {
        let c = &mut self.conns[i];
        let start = c.starts.pop_front().unwrap_or(now);
        self.inflight -= 1;
        if self.measuring && self.budget.is_none_or(|b| self.completed < b) {
            self.completed += 1;
            self.last_completion = now;
            self.stats.requests += 1;
            self.stats.record_latency(now.saturating_sub(start));
            if !(200..400).contains(&resp.status) {
                self.stats.errors.status += 1;
            }
        }
        if !resp.keep_alive {
            // The server closes: requests pipelined behind this one are lost
            // (sent again on the next connection), and its FIN is awaited.
            self.forget_requests(i);
            let c = &mut self.conns[i];
            c.st = St::Draining;
            c.last_progress = now;
            return true;
        }
        if self.plan.close {
            // The server would keep it open; we don't.
            self.drop_conn(i);
            self.reconnect(i, now);
            return false;
        }
        true
    }

    fn on_eof(&mut self, i: usize, now: u64) {
        match self.conns[i].st {
            St::Draining => {}
            St::Open => match self.conns[i].parser.eof() {
                Ok(Some(resp)) => {
                    self.on_response(i, resp, now);
                }
                // An idle keep-alive connection closed by the server.
                Ok(None) if self.conns[i].starts.is_empty() => {}
                _ => return self.fail(i, ErrorKind::Read, now),
            },
            _ => return,
        }
        self.drop_conn(i);
        self.reconnect(i, now);
    }

    /// Closes busy connections that made no progress for the timeout.
    fn scan_timeouts(&mut self, now: u64) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let busy = match c.st {
                St::Connecting | St::Draining => true,
                St::Open => !c.starts.is_empty(),
                St::Closed | St::Backoff => false,
            };
            if busy && now.saturating_sub(c.last_progress) >= self.timeout_ns {
                if c.st == St::Draining {
                    // All its responses are in; the missing FIN is no error.
                    self.drop_conn(i);
                    self.reconnect(i, now);
                } else {
                    self.fail(i, ErrorKind::Timeout, now);
                }
            }
        }
    }

    /// Counts an error, closes the connection and reopens it (after a short
    /// backoff for connect errors).
    fn fail(&mut self, i: usize, kind: ErrorKind, now: u64) {
        self.stats.errors.count(kind);
        self.drop_conn(i);
        if kind == ErrorKind::Connect {
            self.conns[i].st = St::Backoff;
            self.arm(i, now + CONNECT_BACKOFF_NS);
        } else {
            self.reconnect(i, now);
        }
    }

    /// Forgets the outstanding requests of connection `i`; they are issued
    /// again later, with their intended times in open loop.
    fn forget_requests(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let lost = c.starts.len() as u64;
        c.starts.clear();
        c.write_pending = 0;
        c.write_off = 0;
        c.unstamped = 0;
        c.blocked = false;
        if self.plan.rate.is_some() {
            c.next_k -= lost;
        }
        self.inflight -= lost;
        self.issued = self.issued.saturating_sub(lost);
    }

    /// Closes connection `i`'s socket and resets its state to `Closed`.
    fn drop_conn(&mut self, i: usize) {
        self.forget_requests(i);
        let c = &mut self.conns[i];
        c.fd = None;
        c.raw = -1;
        c.parser.reset();
        c.st = St::Closed;
    }
}
