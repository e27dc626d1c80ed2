//! Raw TCP bulk transfer: `ringload tcp` (client) and `ringload bulk-server`
//! (its peer).
//!
//! Both use one edge-triggered epoll loop per thread. A socket side
//! (reading or writing) is served until the kernel says "would block", but
//! at most `BURST` calls per turn; a side that hit the cap goes on a ready
//! list served on the next turn without waiting for an edge, so one fast
//! connection cannot starve the others of its thread.
//!
//! The server, per connection, reads and discards everything and writes an
//! endless stream; the client's `--direction` chooses which of those it
//! takes part in (`up`: it only writes, `down`: it only reads, `both`).

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Barrier;
use std::time::Duration;

use slab::Slab;

use crate::report::{ErrorKind, Stats};
use crate::sys::{self, EP_ERR, EP_ET, EP_HUP, EP_IN, EP_OUT, EP_RDHUP, Epoll, RawAddr};
use crate::util;

/// Most `recv` or `send` calls on one side of a socket per loop turn.
const BURST: usize = 16;
const MAX_EVENTS: usize = 256;
const CONNECT_BACKOFF_NS: u64 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Both,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Both => "both",
        }
    }

    fn reads(self) -> bool {
        self != Direction::Up
    }

    fn writes(self) -> bool {
        self != Direction::Down
    }
}

pub struct TcpPlan {
    pub addr: SocketAddr,
    pub connections: usize,
    /// At most `connections`.
    pub threads: usize,
    pub duration: Duration,
    pub direction: Direction,
    /// Bytes per `recv` and per `send`.
    pub chunk: usize,
    pub timeout: Duration,
    pub cpus: Vec<usize>,
}

pub struct TcpOutcome {
    pub stats: Stats,
    pub ever_connected: bool,
}

/// Runs the client: `connections` sockets over `threads` workers for
/// `duration`. Errors are internal failures.
pub fn run_client(plan: &TcpPlan) -> Result<TcpOutcome, String> {
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    let barrier = Barrier::new(threads);
    let results: Vec<Result<(Stats, bool), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let n = plan.connections / threads + usize::from(w < plan.connections % threads);
                let barrier = &barrier;
                s.spawn(move || {
                    let setup = util::pin_thread(&plan.cpus, w)
                        .and_then(|()| Client::new(plan, n).map_err(|e| e.to_string()));
                    barrier.wait();
                    let mut client = setup?;
                    client.run().map_err(|e| format!("worker {w}: {e}"))?;
                    Ok((client.stats, client.ever_connected))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a worker thread panicked".to_string()))
            })
            .collect()
    });
    let mut stats = Stats::new();
    let mut ever_connected = false;
    for r in results {
        let (s, c) = r?;
        stats.merge(&s);
        ever_connected |= c;
    }
    Ok(TcpOutcome {
        stats,
        ever_connected,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Closed,
    Backoff,
    Connecting,
    Open,
}

struct ClientConn {
    fd: Option<OwnedFd>,
    raw: RawFd,
    generation: u32,
    st: St,
    last_progress: u64,
    /// Backoff: when to reconnect.
    retry_at: u64,
}

struct Client<'a> {
    plan: &'a TcpPlan,
    raddr: RawAddr,
    epoll: Epoll,
    conns: Vec<ClientConn>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// (token, sides to continue) of sockets that hit `BURST`.
    ready: Vec<(u64, u32)>,
    stats: Stats,
    ever_connected: bool,
    timeout_ns: u64,
}

fn token(i: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | i as u64
}

impl<'a> Client<'a> {
    fn new(plan: &'a TcpPlan, n: usize) -> io::Result<Self> {
        Ok(Client {
            plan,
            raddr: RawAddr::new(&plan.addr),
            epoll: Epoll::new()?,
            conns: (0..n)
                .map(|_| ClientConn {
                    fd: None,
                    raw: -1,
                    generation: 0,
                    st: St::Closed,
                    last_progress: 0,
                    retry_at: 0,
                })
                .collect(),
            rbuf: vec![0; plan.chunk],
            wbuf: (0..plan.chunk).map(|i| b'a' + (i % 26) as u8).collect(),
            ready: Vec::with_capacity(n),
            stats: Stats::new(),
            ever_connected: false,
            timeout_ns: plan.timeout.as_nanos() as u64,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let start = sys::now_ns();
        let end = start + self.plan.duration.as_nanos() as u64;
        let give_up_ns = self.timeout_ns.max(1_000_000_000);
        let scan_ns = 10_000_000;
        for i in 0..self.conns.len() {
            self.open(i, start);
        }
        let mut events = vec![sys::EMPTY_EVENT; MAX_EVENTS];
        let mut ready = Vec::with_capacity(self.conns.len());
        let mut next_scan = start + scan_ns;
        loop {
            let now = sys::now_ns();
            if util::stop_requested() || now >= end {
                break;
            }
            if !self.ever_connected && now - start >= give_up_ns {
                break;
            }
            std::mem::swap(&mut ready, &mut self.ready);
            for (tok, sides) in ready.drain(..) {
                self.on_event(tok, sides);
            }
            if now >= next_scan {
                self.scan(now);
                next_scan = now + scan_ns;
            }
            let timeout = if self.ready.is_empty() {
                next_scan.min(end).saturating_sub(now)
            } else {
                0
            };
            let n = self.epoll.wait(&mut events, Some(timeout))?;
            for ev in &events[..n] {
                let (flags, data) = (ev.events, ev.u64);
                self.on_event(data, flags);
            }
        }
        self.stats.elapsed_ns = sys::now_ns() - start;
        Ok(())
    }

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
                c.raw = fd.as_raw_fd();
                c.fd = Some(fd);
                c.st = St::Connecting;
            }
            Err(_) => self.fail(i, ErrorKind::Connect, now),
        }
    }

    fn fail(&mut self, i: usize, kind: ErrorKind, now: u64) {
        self.stats.errors.count(kind);
        let c = &mut self.conns[i];
        c.fd = None;
        c.raw = -1;
        if kind == ErrorKind::Connect {
            c.st = St::Backoff;
            c.retry_at = now + CONNECT_BACKOFF_NS;
        } else {
            c.st = St::Closed;
            self.open(i, now);
        }
    }

    /// Timeouts and reconnects after backoff.
    fn scan(&mut self, now: u64) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            match c.st {
                St::Backoff if now >= c.retry_at => self.open(i, now),
                St::Connecting | St::Open
                    if now.saturating_sub(c.last_progress) >= self.timeout_ns =>
                {
                    self.fail(i, ErrorKind::Timeout, now)
                }
                _ => {}
            }
        }
    }

    fn on_event(&mut self, data: u64, flags: u32) {
        let i = (data & 0xffff_ffff) as usize;
        let generation = (data >> 32) as u32;
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        if c.generation != generation || c.fd.is_none() {
            return;
        }
        let now = sys::now_ns();
        match c.st {
            St::Connecting => {
                if flags & (EP_ERR | EP_HUP) != 0 {
                    return self.fail(i, ErrorKind::Connect, now);
                }
                if flags & EP_OUT == 0 {
                    return;
                }
                c.st = St::Open;
                c.last_progress = now;
                self.ever_connected = true;
                self.stats.established += 1;
                self.io(i, generation, flags, now);
            }
            St::Open => self.io(i, generation, flags, now),
            St::Closed | St::Backoff => {}
        }
    }

    /// Serves the sides of connection `i` that `flags` says are ready.
    fn io(&mut self, i: usize, generation: u32, flags: u32, now: u64) {
        let dir = self.plan.direction;
        let mut more = 0;
        let raw = self.conns[i].raw;
        if dir.reads() && flags & (EP_IN | EP_RDHUP | EP_HUP | EP_ERR) != 0 {
            match drain(raw, &mut self.rbuf, flags) {
                Side::Progress(n, capped) => {
                    self.stats.bytes_read += n;
                    if n > 0 {
                        self.conns[i].last_progress = now;
                    }
                    if capped {
                        more |= EP_IN;
                    }
                }
                Side::Closed | Side::Failed => return self.fail(i, ErrorKind::Read, now),
            }
        }
        if dir.writes() && flags & (EP_OUT | EP_ERR | EP_HUP) != 0 {
            match fill(raw, &self.wbuf) {
                Side::Progress(n, capped) => {
                    self.stats.bytes_written += n;
                    if n > 0 {
                        self.conns[i].last_progress = now;
                    }
                    if capped {
                        more |= EP_OUT;
                    }
                }
                Side::Closed | Side::Failed => return self.fail(i, ErrorKind::Write, now),
            }
        }
        if more != 0 {
            self.ready.push((token(i, generation), more));
        }
    }
}

/// Outcome of serving one side of a socket.
enum Side {
    /// Bytes moved, and whether `BURST` was reached before "would block".
    Progress(u64, bool),
    /// End of stream.
    Closed,
    Failed,
}

/// Reads and discards until drained: a short read means drained unless the
/// event said the peer closed (then until end of stream).
fn drain(fd: RawFd, buf: &mut [u8], flags: u32) -> Side {
    let to_eof = flags & (EP_RDHUP | EP_HUP | EP_ERR) != 0;
    let mut total = 0;
    for _ in 0..BURST {
        match sys::recv(fd, buf) {
            Ok(0) => return Side::Closed,
            Ok(n) => {
                total += n as u64;
                if n < buf.len() && !to_eof {
                    return Side::Progress(total, false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Side::Progress(total, false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Side::Failed,
        }
    }
    Side::Progress(total, true)
}

/// Writes `buf` repeatedly until the socket is full.
fn fill(fd: RawFd, buf: &[u8]) -> Side {
    let mut total = 0;
    for _ in 0..BURST {
        match sys::send(fd, buf) {
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Side::Progress(total, false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Side::Failed,
        }
    }
    Side::Progress(total, true)
}

/// Runs `bulk-server` on `addr` until the process is killed: `threads`
/// workers, each with its own SO_REUSEPORT listener. Prints
/// "ringload bulk-server listening on ADDR" once listening.
pub fn run_server(
    addr: SocketAddr,
    threads: usize,
    chunk: usize,
    cpus: &[usize],
) -> Result<(), String> {
    let (first, local) =
        sys::tcp_listen(&addr, true).map_err(|e| format!("listening on {addr}: {e}"))?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        let (l, _) =
            sys::tcp_listen(&local, true).map_err(|e| format!("listening on {local}: {e}"))?;
        listeners.push(l);
    }
    println!("ringload bulk-server listening on {local}");
    let _ = io::stdout().flush();
    std::thread::scope(|s| {
        let handles: Vec<_> = listeners
            .into_iter()
            .enumerate()
            .map(|(w, l)| s.spawn(move || serve(l, chunk, cpus, w)))
            .collect();
        for h in handles {
            h.join()
                .unwrap_or_else(|_| Err("a server thread panicked".to_string()))?;
        }
        Ok(())
    })
}

const LISTENER: u64 = u64::MAX;

/// One server worker: accepts on `listener`, serves its connections.
fn serve(listener: OwnedFd, chunk: usize, cpus: &[usize], w: usize) -> Result<(), String> {
    util::pin_thread(cpus, w)?;
    let fail = |e: io::Error| format!("server worker {w}: {e}");
    let mut epoll = Epoll::new().map_err(fail)?;
    epoll
        .add(listener.as_raw_fd(), EP_IN | EP_ET, LISTENER)
        .map_err(fail)?;
    // Slab key and generation: stale events of a reused key are ignored.
    let mut conns: Slab<(OwnedFd, u32)> = Slab::new();
    let mut generation: u32 = 0;
    let mut rbuf = vec![0u8; chunk];
    let wbuf: Vec<u8> = (0..chunk).map(|i| b'A' + (i % 26) as u8).collect();
    let mut events = vec![sys::EMPTY_EVENT; MAX_EVENTS];
    let mut ready: Vec<(u64, u32)> = Vec::new();
    let mut work: Vec<(u64, u32)> = Vec::new();
    loop {
        let timeout = if ready.is_empty() { None } else { Some(0) };
        let n = epoll.wait(&mut events, timeout).map_err(fail)?;
        work.clear();
        work.extend(events[..n].iter().map(|ev| (ev.u64, ev.events)));
        work.append(&mut ready);
        for &(tok, flags) in &work {
            if tok == LISTENER {
                loop {
                    match sys::accept(listener.as_raw_fd()) {
                        Ok(fd) => {
                            generation = generation.wrapping_add(1);
                            let entry = conns.vacant_entry();
                            let t = token(entry.key(), generation);
                            if epoll
                                .add(fd.as_raw_fd(), EP_IN | EP_OUT | EP_RDHUP | EP_ET, t)
                                .is_ok()
                            {
                                entry.insert((fd, generation));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // WouldBlock, or out of descriptors: retried on the
                        // next connection's edge.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let key = (tok & 0xffff_ffff) as usize;
            let Some(&(ref fd, g)) = conns.get(key) else {
                continue;
            };
            if g != (tok >> 32) as u32 {
                continue;
            }
            let raw = fd.as_raw_fd();
            let mut more = 0;
            let mut dead = false;
            if flags & (EP_IN | EP_RDHUP | EP_HUP | EP_ERR) != 0 {
                match drain(raw, &mut rbuf, flags) {
                    Side::Progress(_, capped) => more |= if capped { EP_IN } else { 0 },
                    Side::Closed | Side::Failed => dead = true,
                }
            }
            if !dead && flags & EP_OUT != 0 {
                match fill(raw, &wbuf) {
                    Side::Progress(_, capped) => more |= if capped { EP_OUT } else { 0 },
                    Side::Closed | Side::Failed => dead = true,
                }
            }
            if dead {
                conns.remove(key);
            } else if more != 0 {
                ready.push((tok, more));
            }
        }
    }
}
