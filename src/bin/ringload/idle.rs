//! `ringload idle`: opens many keep-alive connections, does one request on
//! each, then holds them all open and silent, so the bench script can
//! measure a proxy's memory per idle connection.
//!
//! Contract:
//! 1. At most `concurrency` connections are connecting or exchanging at
//!    once. Each slot makes up to `MAX_ATTEMPTS` attempts (connect, send the
//!    request, read a complete keep-alive response); failures are counted by
//!    kind and the slot retried, then given up.
//! 2. Once every slot is open or given up, the number of open connections
//!    is written to `ready_file` (atomically: a temporary file renamed), and
//!    they are held for `hold`. Connections the peer closes meanwhile are
//!    counted as read errors and not reopened.
//! 3. Then everything is closed. `Stats::established` is the count written
//!    to the ready file; `requests` and the latency histogram cover the
//!    exchanges (latency from the start of the connect).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::http::ResponseParser;
use crate::report::{ErrorKind, Stats};
use crate::sys::{self, EP_ERR, EP_ET, EP_HUP, EP_IN, EP_OUT, EP_RDHUP, Epoll, RawAddr};
use crate::util;

const MAX_ATTEMPTS: u8 = 3;
const MAX_EVENTS: usize = 1024;
const SCAN_NS: u64 = 50_000_000;

pub struct IdlePlan {
    pub addr: SocketAddr,
    pub request: Vec<u8>,
    pub connections: usize,
    pub concurrency: usize,
    pub hold: Duration,
    pub timeout: Duration,
    pub ready_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Waiting,
    Connecting,
    Exchanging,
    /// Open and silent: the goal.
    Idle,
    /// Out of attempts, or closed by the peer while held.
    Gone,
}

struct Slot {
    fd: Option<OwnedFd>,
    raw: RawFd,
    generation: u32,
    st: St,
    attempts: u8,
    started: u64,
    last_progress: u64,
    /// Request bytes sent.
    written: usize,
    parser: ResponseParser,
}

struct Idle<'a> {
    plan: &'a IdlePlan,
    raddr: RawAddr,
    epoll: Epoll,
    slots: Vec<Slot>,
    rbuf: Vec<u8>,
    /// Slots to (re)try, in order.
    queue: VecDeque<usize>,
    /// Slots connecting or exchanging.
    active: usize,
    /// Slots Idle or Gone after their attempts.
    resolved: usize,
    stats: Stats,
    timeout_ns: u64,
}

fn token(i: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | i as u64
}

/// Runs the idle scenario; errors are internal failures.
pub fn run(plan: &IdlePlan) -> Result<Stats, String> {
    let mut idle = Idle {
        plan,
        raddr: RawAddr::new(&plan.addr),
        epoll: Epoll::new().map_err(|e| e.to_string())?,
        slots: (0..plan.connections)
            .map(|_| Slot {
                fd: None,
                raw: -1,
                generation: 0,
                st: St::Waiting,
                attempts: 0,
                started: 0,
                last_progress: 0,
                written: 0,
                parser: ResponseParser::new(),
            })
            .collect(),
        rbuf: vec![0; 64 * 1024],
        queue: (0..plan.connections).collect(),
        active: 0,
        resolved: 0,
        stats: Stats::new(),
        timeout_ns: plan.timeout.as_nanos() as u64,
    };
    idle.run().map_err(|e| e.to_string())?;
    Ok(idle.stats)
}

impl Idle<'_> {
    fn run(&mut self) -> io::Result<()> {
        let start = sys::now_ns();
        let mut events = vec![sys::EMPTY_EVENT; MAX_EVENTS];
        // Phase 1: open them all.
        self.launch(start);
        let mut next_scan = start + SCAN_NS;
        while self.resolved < self.slots.len() && !util::stop_requested() {
            let now = sys::now_ns();
            if now >= next_scan {
                self.scan(now);
                next_scan = now + SCAN_NS;
            }
            let n = self
                .epoll
                .wait(&mut events, Some(next_scan.saturating_sub(now)))?;
            for ev in &events[..n] {
                let (flags, data) = (ev.events, ev.u64);
                self.on_event(data, flags);
            }
            // Refill here, not from the failure path: immediate connect
            // failures (no descriptors left...) must not recurse.
            self.launch(sys::now_ns());
        }
        let open = self.slots.iter().filter(|s| s.st == St::Idle).count();
        self.stats.established = open as u64;
        if let Some(path) = &self.plan.ready_file {
            let tmp = format!("{path}.tmp");
            std::fs::write(&tmp, format!("{open}\n"))
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| io::Error::new(e.kind(), format!("writing {path}: {e}")))?;
        }
        // Phase 2: hold them, watching for closes.
        if open > 0 {
            let end = sys::now_ns() + self.plan.hold.as_nanos() as u64;
            loop {
                let now = sys::now_ns();
                if now >= end || util::stop_requested() {
                    break;
                }
                let n = self.epoll.wait(&mut events, Some(end - now))?;
                for ev in &events[..n] {
                    let (flags, data) = (ev.events, ev.u64);
                    self.on_event(data, flags);
                }
            }
        }
        self.stats.elapsed_ns = sys::now_ns() - start;
        Ok(())
    }

    /// Starts attempts while under the concurrency bound.
    fn launch(&mut self, now: u64) {
        while self.active < self.plan.concurrency {
            let Some(i) = self.queue.pop_front() else {
                return;
            };
            self.open(i, now);
        }
    }

    fn open(&mut self, i: usize, now: u64) {
        let s = &mut self.slots[i];
        s.generation = s.generation.wrapping_add(1);
        s.attempts += 1;
        s.started = now;
        s.last_progress = now;
        s.written = 0;
        s.parser.reset();
        let registered = sys::tcp_connect(&self.raddr).and_then(|(fd, _)| {
            self.epoll.add(
                fd.as_raw_fd(),
                EP_IN | EP_OUT | EP_RDHUP | EP_ET,
                token(i, s.generation),
            )?;
            Ok(fd)
        });
        self.active += 1;
        match registered {
            Ok(fd) => {
                s.raw = fd.as_raw_fd();
                s.fd = Some(fd);
                s.st = St::Connecting;
            }
            Err(_) => self.attempt_failed(i, ErrorKind::Connect),
        }
    }

    /// Counts the error, closes the slot's socket, and queues it for
    /// another attempt or gives it up.
    fn attempt_failed(&mut self, i: usize, kind: ErrorKind) {
        self.stats.errors.count(kind);
        let s = &mut self.slots[i];
        s.fd = None;
        s.raw = -1;
        self.active -= 1;
        if s.attempts < MAX_ATTEMPTS {
            s.st = St::Waiting;
            self.queue.push_back(i);
        } else {
            s.st = St::Gone;
            self.resolved += 1;
        }
    }

    fn scan(&mut self, now: u64) {
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if matches!(s.st, St::Connecting | St::Exchanging)
                && now.saturating_sub(s.last_progress) >= self.timeout_ns
            {
                self.attempt_failed(i, ErrorKind::Timeout);
            }
        }
    }

    fn on_event(&mut self, data: u64, flags: u32) {
        let i = (data & 0xffff_ffff) as usize;
        let Some(s) = self.slots.get_mut(i) else {
            return;
        };
        if s.generation != (data >> 32) as u32 || s.fd.is_none() {
            return;
        }
        let now = sys::now_ns();
        match s.st {
            St::Connecting => {
                if flags & (EP_ERR | EP_HUP) != 0 {
                    return self.attempt_failed(i, ErrorKind::Connect);
                }
                if flags & EP_OUT != 0 {
                    s.st = St::Exchanging;
                    s.last_progress = now;
                    self.exchange(i, flags, now);
                }
            }
            St::Exchanging => self.exchange(i, flags, now),
            St::Idle => {
                // A held connection should stay silent: anything but "would
                // block" means the peer closed it (or spoke out of turn).
                if flags & (EP_IN | EP_RDHUP | EP_HUP | EP_ERR) != 0
                    && !matches!(sys::recv(s.raw, &mut self.rbuf), Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
                {
                    self.stats.errors.read += 1;
                    s.fd = None;
                    s.st = St::Gone;
                }
            }
            St::Waiting | St::Gone => {}
        }
    }

    /// Sends the request and reads the response of slot `i`.
    fn exchange(&mut self, i: usize, flags: u32, now: u64) {
        let req = &self.plan.request;
        let s = &mut self.slots[i];
        while s.written < req.len() {
            match sys::send(s.raw, &req[s.written..]) {
                Ok(n) => {
                    s.written += n;
                    s.last_progress = now;
                    self.stats.bytes_written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.attempt_failed(i, ErrorKind::Write),
            }
        }
        if flags & (EP_IN | EP_RDHUP | EP_HUP | EP_ERR) == 0 {
            return;
        }
        loop {
            let s = &mut self.slots[i];
            let n = match sys::recv(s.raw, &mut self.rbuf) {
                Ok(0) => return self.attempt_failed(i, ErrorKind::Read),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.attempt_failed(i, ErrorKind::Read),
            };
            s.last_progress = now;
            self.stats.bytes_read += n as u64;
            match s.parser.feed(&self.rbuf[..n]) {
                Ok((used, Some(resp))) if used == n => {
                    self.stats.requests += 1;
                    self.stats.record_latency(now - s.started);
                    if !(200..400).contains(&resp.status) {
                        self.stats.errors.status += 1;
                    }
                    if !resp.keep_alive {
                        // Cannot be held open: counts as a failed attempt.
                        return self.attempt_failed(i, ErrorKind::Read);
                    }
                    s.st = St::Idle;
                    self.active -= 1;
                    self.resolved += 1;
                    return;
                }
                Ok((_, None)) => {}
                // Extra bytes after the response, or garbage.
                Ok(_) | Err(_) => return self.attempt_failed(i, ErrorKind::Read),
            }
        }
    }
}
