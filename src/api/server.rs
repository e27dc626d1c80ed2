//! The API thread: one `poll(2)` loop over every `stats socket` and every
//! client, never a shard. Commands that need the shards run on a second
//! thread, the executor, which owns the `Shards` and runs one job at a time;
//! the API thread keeps serving other clients while a job runs, and the
//! client that asked waits for its answer (a `wait` asks again on its own
//! schedule). Neither thread is ever on the data path: shards never wait
//! for them.
//!
//! Per client: nonblocking socket, input framed by `Conversation`, output
//! buffered and flushed as the socket accepts it (no new command runs while
//! output is pending), `stats timeout` of inactivity while idle.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::conv::{Conversation, Next, TOO_LONG};
use super::exec::{self, Exec, Job, JobResult, Outcome, WaitStep, Waiting};
use super::listen::{Bound, Listener};
use super::ops::Shards;
use crate::listener::Exported;
use crate::runtime::Current;
use crate::xfer;

/// The running API; `stop` ends it and removes its socket files.
pub struct ApiHandle {
    stop: Arc<AtomicBool>,
    waker: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

impl ApiHandle {
    /// Stops the API thread (bounded: it never blocks) and removes the UNIX
    /// socket files it created. A job still running on the executor is left
    /// to finish on its own.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(w) = &self.waker {
            let _ = (&*w).write(&[1]);
        }
        if let Some(t) = self.thread.take() {
            // The thread drops its sockets on the way out, which removes
            // their files.
            let _ = t.join();
        }
    }
}

/// Starts the API thread and its executor over the bound sockets. With no
/// socket, nothing starts.
pub fn start(
    bound: Vec<Bound>,
    current: Arc<Current>,
    shards: Box<dyn Shards>,
    exported: Arc<Exported>,
) -> io::Result<ApiHandle> {
    let rt = current.get();
    let stop = Arc::new(AtomicBool::new(false));
    if bound.is_empty() {
        return Ok(ApiHandle {
            stop,
            waker: None,
            thread: None,
        });
    }
    let (wake_tx, wake_rx) = UnixStream::pair()?;
    wake_rx.set_nonblocking(true)?;
    wake_tx.set_nonblocking(true)?;
    let (job_tx, job_rx) = channel::<(u64, Job)>();
    let (res_tx, res_rx) = channel::<(u64, Job, JobResult)>();
    let exec_waker = wake_tx.try_clone()?;
    std::thread::Builder::new()
        .name("api-exec".into())
        .spawn(move || executor(shards, job_rx, res_tx, exec_waker))?;
    for b in &bound {
        log::info!(
            "runtime API listening on {} (level {})",
            b.name,
            b.level.name()
        );
    }
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            let mut api = Api {
                exec: Exec::following(current),
                timeout: rt.config.global.stats_timeout,
                maxconn: rt.config.global.stats_maxconn as usize,
                max_line: rt.config.global.bufsize,
                bound,
                clients: HashMap::new(),
                next_token: 1,
                job_tx,
                res_rx,
                wake_rx,
                exported,
            };
            api.run(&flag);
        })?;
    Ok(ApiHandle {
        stop,
        waker: Some(wake_tx),
        thread: Some(thread),
    })
}

/// Runs jobs one at a time until the API thread goes away.
fn executor(
    mut shards: Box<dyn Shards>,
    jobs: Receiver<(u64, Job)>,
    results: Sender<(u64, Job, JobResult)>,
    waker: UnixStream,
) {
    while let Ok((token, job)) = jobs.recv() {
        let res = exec::perform(shards.as_mut(), &job);
        if results.send((token, job, res)).is_err() {
            return;
        }
        let _ = (&waker).write(&[1]);
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
}

/// What a client is waiting for, if anything.
enum Busy {
    /// A job on the executor.
    Job,
    /// A `wait`; `asking` while the executor evaluates its condition.
    Wait { w: Waiting, asking: bool },
}

struct Client {
    stream: Stream,
    conv: Conversation,
    out: Vec<u8>,
    sent: usize,
    /// Close once the output is sent.
    closing: bool,
    /// Gone: drop now.
    dead: bool,
    busy: Option<Busy>,
    /// Idle deadline (`stats timeout`).
    deadline: Instant,
}

impl Client {
    fn pending(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Queues a command's output and what follows it (prompt or empty
    /// line), and whether to close after it.
    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        let (prompt, close) = self.conv.after_command();
        self.out.extend_from_slice(prompt.as_bytes());
        self.closing |= close;
    }

    fn flush(&mut self, now: Instant, timeout: Duration) {
        while self.pending() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.sent += n;
                    self.deadline = now + timeout;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.out.clear();
        self.sent = 0;
        if self.closing {
            self.dead = true;
        }
    }

    fn fill(&mut self, now: Instant, timeout: Duration) {
        let mut buf = [0u8; 16384];
        while self.conv.wants_input() {
            match self.stream.read(&mut buf) {
                Ok(0) => self.conv.eof(),
                Ok(n) => {
                    self.conv.feed(&buf[..n]);
                    self.deadline = now + timeout;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }
}

struct Api {
    exec: Exec,
    timeout: Duration,
    maxconn: usize,
    max_line: usize,
    bound: Vec<Bound>,
    clients: HashMap<u64, Client>,
    next_token: u64,
    job_tx: Sender<(u64, Job)>,
    res_rx: Receiver<(u64, Job, JobResult)>,
    wake_rx: UnixStream,
    exported: Arc<Exported>,
}

impl Api {
    /// `_getsocks`: the listening sockets go to the client (a new process
    /// taking over, `-x`). Blocks this thread for the exchange (bounded by
    /// `xfer`'s timeouts): it happens once per upgrade.
    fn get_socks(&self, c: &Client) {
        let Stream::Unix(s) = &c.stream else {
            return;
        };
        let sent = self
            .exported
            .with(|fds| xfer::send_sockets(s, fds).map(|()| fds.len()));
        match sent {
            Ok(n) => log::info!("runtime API: {n} listening sockets handed over (_getsocks)"),
            Err(e) => log::warn!("runtime API: _getsocks failed: {e}"),
        }
    }
}

/// `poll(2)`: the events of each descriptor, in order (none on EINTR).
fn poll(fds: &mut [PollFd<'_>], timeout: Duration) -> io::Result<Vec<PollFlags>> {
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match nix::poll::poll(fds, timeout) {
        Ok(_) => Ok(fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect()),
        Err(Errno::EINTR) => Ok(vec![PollFlags::empty(); fds.len()]),
        Err(e) => Err(e.into()),
    }
}

impl Api {
    fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            let mut fds = vec![PollFd::new(self.wake_rx.as_fd(), PollFlags::POLLIN)];
            let accepting = self.clients.len() < self.maxconn;
            for b in &self.bound {
                let ev = if accepting {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                };
                fds.push(PollFd::new(b.listener.as_fd(), ev));
            }
            let mut order = Vec::with_capacity(self.clients.len());
            let mut timeout = Duration::from_secs(1);
            for (&token, c) in &self.clients {
                let mut ev = PollFlags::empty();
                if c.conv.wants_input() {
                    ev |= PollFlags::POLLIN;
                }
                if c.pending() {
                    ev |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(c.stream.as_fd(), ev));
                order.push(token);
                let at = match &c.busy {
                    None => Some(c.deadline),
                    Some(Busy::Wait { w, asking: false }) => Some(w.next_check),
                    Some(_) => None,
                };
                if let Some(at) = at {
                    timeout = timeout.min(at.saturating_duration_since(now));
                }
            }
            let revents = match poll(&mut fds, timeout) {
                Ok(r) => r,
                Err(e) => {
                    log::error!("runtime API: poll failed: {e}; stopping the API");
                    return;
                }
            };
            drop(fds);
            let now = Instant::now();
            if !revents[0].is_empty() {
                let mut sink = [0u8; 64];
                while matches!((&self.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
            }
            self.collect_results(now);
            for (i, b) in revents[1..=self.bound.len()].iter().enumerate() {
                if b.contains(PollFlags::POLLIN) {
                    self.accept(i, now);
                }
            }
            let client_fds = &revents[1 + self.bound.len()..];
            for (token, &f) in order.iter().zip(client_fds) {
                let Some(c) = self.clients.get_mut(token) else {
                    continue;
                };
                if f.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    c.fill(now, self.timeout);
                }
                // Gone both ways: nothing can be delivered any more (and
                // polling it again would return at once).
                if f.contains(PollFlags::POLLERR)
                    || (f.contains(PollFlags::POLLHUP) && c.conv.read_closed())
                {
                    c.dead = true;
                }
                if f.contains(PollFlags::POLLOUT) {
                    c.flush(now, self.timeout);
                }
            }
            let tokens: Vec<u64> = self.clients.keys().copied().collect();
            for token in tokens {
                self.progress(token, now);
            }
            self.clients.retain(|_, c| !c.dead);
        }
    }

    fn accept(&mut self, i: usize, now: Instant) {
        while self.clients.len() < self.maxconn {
            let b = &self.bound[i];
            let accepted = match &b.listener {
                Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
                Listener::Tcp(l) => l.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Stream::Tcp(s)
                }),
            };
            let stream = match accepted {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("runtime API: accept on {} failed: {e}", b.name);
                    return;
                }
            };
            let nonblocking = match &stream {
                Stream::Unix(s) => s.set_nonblocking(true),
                Stream::Tcp(s) => s.set_nonblocking(true),
            };
            if nonblocking.is_err() {
                continue;
            }
            let token = self.next_token;
            self.next_token += 1;
            self.clients.insert(
                token,
                Client {
                    stream,
                    conv: {
                        let mut conv = Conversation::new(b.level, self.max_line);
                        conv.expose_fd = b.expose_fd;
                        conv
                    },
                    out: Vec::new(),
                    sent: 0,
                    closing: false,
                    dead: false,
                    busy: None,
                    deadline: now + self.timeout,
                },
            );
        }
    }

    /// Applies the executor's answers to the clients that asked.
    fn collect_results(&mut self, now: Instant) {
        while let Ok((token, job, res)) = self.res_rx.try_recv() {
            let Some(mut c) = self.clients.remove(&token) else {
                // The client left: its job is done, nobody reads the reply.
                continue;
            };
            match (c.busy.take(), res) {
                (Some(Busy::Wait { mut w, .. }), JobResult::Removable(r)) => {
                    match exec::wait_answer(&mut w, r, now) {
                        Some(reply) => c.reply(&reply),
                        None if c.conv.read_closed() && !c.conv.has_input() => {
                            c.reply("Interrupted.\n");
                        }
                        None => c.busy = Some(Busy::Wait { w, asking: false }),
                    }
                }
                (_, res) => {
                    let reply = self.exec.finish(&job, res);
                    c.reply(&reply);
                }
            }
            c.deadline = now + self.timeout;
            c.flush(now, self.timeout);
            self.clients.insert(token, c);
        }
    }

    /// Runs what a client can run now: due `wait` steps, then its pending
    /// commands, until one has to wait (executor, output, input) or it
    /// closes.
    fn progress(&mut self, token: u64, now: Instant) {
        let Some(mut c) = self.clients.remove(&token) else {
            return;
        };
        if c.busy.is_none() && !c.pending() && now >= c.deadline {
            c.dead = true;
        }
        if let Some(Busy::Wait { .. }) = c.busy {
            self.wait_step(token, &mut c, now);
        }
        while !c.dead && c.busy.is_none() && !c.pending() && !c.closing {
            match c.conv.next() {
                Next::NeedMore => break,
                Next::End => c.dead = true,
                Next::TooLong => {
                    c.out.extend_from_slice(TOO_LONG.as_bytes());
                    c.closing = true;
                }
                Next::Line(line) => match self.exec.run_line(&line, &mut c.conv) {
                    Outcome::Text(t) => c.reply(&t),
                    Outcome::Quit => c.dead = true,
                    Outcome::GetSocks => {
                        self.get_socks(&c);
                        c.dead = true;
                    }
                    Outcome::Job(job) => {
                        c.busy = Some(Busy::Job);
                        if self.job_tx.send((token, job)).is_err() {
                            c.busy = None;
                            c.reply("Internal error.\n");
                        }
                    }
                    Outcome::Wait(w) => {
                        c.busy = Some(Busy::Wait { w, asking: false });
                        self.wait_step(token, &mut c, now);
                    }
                },
            }
            c.flush(now, self.timeout);
        }
        self.clients.insert(token, c);
    }

    /// Evaluates a due `wait` (HAProxy's order: the condition first, then
    /// the client's close, which interrupts it whenever it comes).
    fn wait_step(&mut self, token: u64, c: &mut Client, now: Instant) {
        let Some(Busy::Wait { w, asking }) = &mut c.busy else {
            return;
        };
        if *asking {
            return;
        }
        if now >= w.next_check {
            match self.exec.wait_step(w, now) {
                WaitStep::Done(reply) => {
                    c.busy = None;
                    c.reply(&reply);
                    return;
                }
                WaitStep::Ask(job) => {
                    *asking = true;
                    if self.job_tx.send((token, job)).is_err() {
                        c.busy = None;
                        c.reply("Internal error.\n");
                    }
                    return;
                }
                WaitStep::Sleep => w.next_check = w.deadline,
            }
        }
        if c.conv.read_closed() && !c.conv.has_input() {
            c.busy = None;
            c.reply("Interrupted.\n");
        }
    }
}
