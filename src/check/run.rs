//! The checker thread: every check of the process, concurrently, on
//! nonblocking sockets and poll(2).
//!
//! Each loop: apply the handle's commands, notice maintenance changes,
//! start the checks that are due, poll (until the next due check, the next
//! probe deadline, or `ADMIN_POLL`), advance the probes that are ready,
//! then time out the probes still pending. Readiness is handled before
//! deadlines, so a late wake-up (a loaded machine) never turns a completed
//! step into a timeout.
//!
//! Sockets are closed with SO_LINGER 0 (a reset), as HAProxy closes check
//! connections: checks every 100ms would otherwise pile up TIME_WAIT
//! sockets on both ends.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::EventFd;
use nix::sys::socket::{SockaddrStorage, connect, setsockopt, sockopt};

use super::http::{assess, build_request};
use super::report;
use super::state::{CheckResult, CheckStatus, Health, Transition, first_check_delays};
use super::{Cmd, usable_counts};
use crate::backend::{Admin, BackendShared, ServerShared};
use crate::config::{CheckSettings, HttpCheck};
use crate::mesh::Mesh;
use crate::runtime::Runtime;
use crate::shard::ring::WakeRing;

/// How often maintenance changes are looked for at the latest (the admin
/// state is an atomic the runtime API writes; nothing tells the checker).
const ADMIN_POLL: Duration = Duration::from_millis(100);
/// Poll bound when nothing is checked (commands wake the thread anyway).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What the checker knows of one backend.
struct BackendCtx {
    name: String,
    http: Option<Arc<HttpCheck>>,
    /// The HTTP request, built once.
    request: Arc<[u8]>,
    connect_timeout: Option<Duration>,
    check_timeout: Option<Duration>,
    /// The backend's shared half: its servers, checked or not, give the
    /// figures of the log lines.
    shared: Arc<BackendShared>,
}

/// What checks need of each backend of snapshot `rt`, by slot.
fn backend_ctxs(rt: &Runtime) -> Vec<BackendCtx> {
    rt.backends
        .iter()
        .zip(&rt.config.backends)
        .map(|(b, cfg)| {
            let http = cfg.http_check.clone().map(Arc::new);
            BackendCtx {
                name: cfg.name.clone(),
                request: http
                    .as_deref()
                    .map(build_request)
                    .unwrap_or_default()
                    .into(),
                http,
                connect_timeout: cfg.timeouts.connect,
                check_timeout: cfg.timeouts.check,
                shared: b.clone(),
            }
        })
        .collect()
}

/// One checked server.
struct Entry {
    server: Arc<ServerShared>,
    backend: usize,
    settings: CheckSettings,
    health: Health,
    enabled: bool,
    /// Maintenance was seen: checks are paused.
    in_maint: bool,
    next: Instant,
    probe: Option<Probe>,
}

impl Entry {
    fn target(&self) -> SocketAddr {
        let a = self.server.addr;
        SocketAddr::new(
            self.settings.addr.unwrap_or(a.ip()),
            self.settings.port.unwrap_or(a.port()),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Sending,
    Reading,
}

/// A check in progress.
struct Probe {
    sock: TcpStream,
    started: Instant,
    deadline: Instant,
    phase: Phase,
    sent: usize,
    buf: Vec<u8>,
}

/// What advancing a probe gave.
enum Step {
    Wait,
    Done(CheckStatus, Option<u16>, String),
}

pub(super) struct Loop {
    backends: Vec<BackendCtx>,
    entries: Vec<Entry>,
    rx: Receiver<Cmd>,
    wake: Arc<EventFd>,
    /// To tell the shards that queued streams may go to a server that
    /// came back up.
    mesh: Arc<Mesh>,
    waker: WakeRing,
    /// Most response bytes read (`tune.bufsize`, HAProxy's check buffer).
    limit: usize,
}

impl Loop {
    pub(super) fn new(
        rt: &Runtime,
        mesh: Arc<Mesh>,
        waker: WakeRing,
        rx: Receiver<Cmd>,
        wake: Arc<EventFd>,
    ) -> Loop {
        let now = Instant::now();
        let backends = backend_ctxs(rt);
        let mut lp = Loop {
            backends,
            entries: Vec::new(),
            rx,
            wake,
            mesh,
            waker,
            limit: rt.config.global.bufsize.max(1024),
        };
        for (bi, b) in rt.backends.iter().enumerate() {
            for (_, server) in b.servers_snapshot() {
                if let Some(settings) = server.cfg.check {
                    server.check.start(&settings, true, now);
                    lp.register(bi, server.clone(), settings, true, now);
                }
            }
        }
        let inters: Vec<Duration> = lp
            .entries
            .iter()
            .map(|e| e.health.interval(&e.settings))
            .collect();
        for (e, delay) in lp.entries.iter_mut().zip(first_check_delays(&inters)) {
            e.next = now + delay;
        }
        lp
    }

    /// Adds a checked server, starting as HAProxy does (`UP 1/FALL`), its
    /// first check at `now` if `enabled`. Its `CheckInfo` was started by
    /// the caller (`CheckShared::start`).
    fn register(
        &mut self,
        backend: usize,
        server: Arc<ServerShared>,
        settings: CheckSettings,
        enabled: bool,
        now: Instant,
    ) {
        let health = Health::starting(settings.rise, settings.fall);
        server.check.set_up(true);
        self.entries.push(Entry {
            server,
            backend,
            settings,
            health,
            enabled,
            in_maint: false,
            next: now,
            probe: None,
        });
    }

    pub(super) fn run(mut self) {
        loop {
            if !self.commands() {
                return;
            }
            let now = Instant::now();
            self.observe_admin(now);
            self.start_due(now);
            let timeout = self.poll_timeout(now);
            let ready = self.poll(timeout);
            let now = Instant::now();
            for i in ready {
                self.advance(i, now);
            }
            self.expire(now);
        }
    }

    /// Applies pending commands; false on `Stop` (or a dropped handle).
    fn commands(&mut self) -> bool {
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
            let now = Instant::now();
            match cmd {
                Cmd::Stop => return false,
                Cmd::Add {
                    backend,
                    server,
                    check,
                    enabled,
                } => {
                    self.remove(&server);
                    if backend >= self.backends.len() {
                        log::error!(
                            "health checks: no backend #{backend} for server '{}'",
                            server.name
                        );
                        continue;
                    }
                    if let Some(settings) = check {
                        self.register(backend, server, settings, enabled, now);
                    }
                }
                Cmd::Remove(server) => self.remove(&server),
                // Slots keep their index across reloads: existing entries
                // still name the right backend.
                Cmd::Reload(rt) => self.backends = backend_ctxs(&rt),
                Cmd::SetEnabled(server, enabled) => {
                    if let Some(e) = self
                        .entries
                        .iter_mut()
                        .find(|e| Arc::ptr_eq(&e.server, &server))
                    {
                        // The handle already showed it (`set_enabled`).
                        e.enabled = enabled;
                        e.probe = None;
                        e.next = now;
                    }
                }
            }
        }
    }

    fn remove(&mut self, server: &Arc<ServerShared>) {
        self.entries.retain(|e| !Arc::ptr_eq(&e.server, server));
    }

    /// Pauses the checks of servers entering maintenance (HAProxy sets
    /// their health to 0) and restarts those leaving it at `UP 1/FALL`,
    /// checked at once. The `up` flag is not lowered on entering: the
    /// admin state already keeps the server out of load balancing, and a
    /// server that was up is usable again the moment it leaves.
    fn observe_admin(&mut self, now: Instant) {
        for e in &mut self.entries {
            let maint = e.server.admin() == Admin::Maint;
            if maint == e.in_maint {
                continue;
            }
            e.in_maint = maint;
            let mut info = e.server.check.info();
            if maint {
                e.probe = None;
                e.health = Health::down(e.settings.rise, e.settings.fall);
                info.went_down(now);
            } else {
                e.health = Health::starting(e.settings.rise, e.settings.fall);
                e.next = now;
                info.went_up(now);
                e.server.check.set_up(true);
            }
            info.health = Some(e.health);
        }
    }

    fn start_due(&mut self, now: Instant) {
        for i in 0..self.entries.len() {
            let e = &self.entries[i];
            if e.probe.is_none() && e.enabled && !e.in_maint && e.next <= now {
                self.start(i, now);
            }
        }
    }

    /// Opens the check connection of entry `i`.
    fn start(&mut self, i: usize, now: Instant) {
        let Some(e) = self.entries.get(i) else { return };
        let be = &self.backends[e.backend];
        let target = e.target();
        // HAProxy: the whole check has `inter`, but the connection only
        // min(`timeout connect`, `inter`) when `timeout check` is set.
        let mut deadline = now + e.settings.inter;
        if let (Some(_), Some(connect)) = (be.check_timeout, be.connect_timeout) {
            deadline = deadline.min(now + connect);
        }
        // The proxy's own server socket: nonblocking, close-on-exec (and
        // TCP_NODELAY, harmless for a request written at once).
        let fd: OwnedFd = match crate::shard::sys::server_socket(target.is_ipv6()) {
            // SAFETY: a new descriptor that nothing else owns or closes.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            Err(e) => {
                return self.finish(i, now, now, CheckStatus::SockErr, None, &strerror(&e));
            }
        };
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        let _ = setsockopt(&fd, sockopt::Linger, &linger);
        let connected = match connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
            Ok(()) => true,
            Err(Errno::EINPROGRESS) => false,
            Err(errno) => {
                return self.finish(i, now, now, CheckStatus::L4Con, None, errno.desc());
            }
        };
        let probe = Probe {
            sock: TcpStream::from(fd),
            started: now,
            deadline,
            phase: Phase::Connecting,
            sent: 0,
            buf: Vec::new(),
        };
        self.entries[i].probe = Some(probe);
        if connected {
            self.advance(i, now);
        }
    }

    fn poll_timeout(&self, now: Instant) -> Duration {
        let mut until = if self.entries.is_empty() {
            IDLE_POLL
        } else {
            ADMIN_POLL
        };
        for e in &self.entries {
            let at = match &e.probe {
                Some(p) => p.deadline,
                None if e.enabled && !e.in_maint => e.next,
                None => continue,
            };
            until = until.min(at.saturating_duration_since(now));
        }
        until
    }

    /// Waits for the probes' sockets (and the wake-up eventfd); returns
    /// the entries whose socket is ready.
    fn poll(&mut self, timeout: Duration) -> Vec<usize> {
        let mut owners = Vec::new();
        let mut fds = vec![PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(p) = &e.probe {
                let events = match p.phase {
                    Phase::Connecting | Phase::Sending => PollFlags::POLLOUT,
                    Phase::Reading => PollFlags::POLLIN,
                };
                fds.push(PollFd::new(p.sock.as_fd(), events));
                owners.push(i);
            }
        }
        // Rounded up: a deadline 0.4ms away must not spin with a 0 timeout.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128);
        let timeout =
            PollTimeout::try_from(Duration::from_millis(ms as u64)).unwrap_or(PollTimeout::MAX);
        if let Err(errno) = poll(&mut fds, timeout)
            && errno != Errno::EINTR
        {
            log::error!("health checks: poll failed: {}", errno.desc());
            std::thread::sleep(Duration::from_millis(10));
            return Vec::new();
        }
        let fired = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let woken = fds.first().is_some_and(fired);
        let ready = fds
            .iter()
            .skip(1)
            .zip(&owners)
            .filter(|(f, _)| fired(f))
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        if woken {
            let _ = self.wake.read();
        }
        ready
    }

    /// Moves entry `i`'s probe as far as its socket allows.
    fn advance(&mut self, i: usize, now: Instant) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        let be = &self.backends[e.backend];
        let Some(p) = e.probe.as_mut() else { return };
        let started = p.started;
        match step(p, be, self.limit, now) {
            Step::Wait => {}
            Step::Done(status, code, desc) => self.finish(i, started, now, status, code, &desc),
        }
    }

    /// Ends the probes past their deadline: L4TOUT before the connection is
    /// established, L7TOUT after.
    fn expire(&mut self, now: Instant) {
        for i in 0..self.entries.len() {
            let Some(p) = &self.entries[i].probe else {
                continue;
            };
            if p.deadline > now {
                continue;
            }
            let status = if p.phase == Phase::Connecting {
                CheckStatus::L4Tout
            } else {
                CheckStatus::L7Tout
            };
            let started = p.started;
            self.finish(i, started, now, status, None, "");
        }
    }

    /// Records a check result: health, counters, transition (with its log
    /// lines) and the next check's time.
    fn finish(
        &mut self,
        i: usize,
        started: Instant,
        now: Instant,
        status: CheckStatus,
        code: Option<u16>,
        desc: &str,
    ) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        e.probe = None;
        let be = &self.backends[e.backend];
        let result = CheckResult {
            status,
            code,
            desc: desc.to_string(),
            duration: now.saturating_duration_since(started),
        };
        let before = usable_counts(&be.shared);
        let rec = e.health.record(status.passed());
        e.next = now + e.health.interval(&e.settings);
        let mut info = e.server.check.info();
        info.health = Some(e.health);
        info.chkfail += u64::from(rec.counted_failure);
        info.last = Some(result.clone());
        let (name, backup) = (e.server.name.as_str(), e.server.backup);
        match rec.transition {
            None => {}
            Some(Transition::WentDown) => {
                e.server.check.set_up(false);
                info.chkdown += 1;
                info.went_down(now);
                drop(info);
                let after = usable_counts(&be.shared);
                let sessions = e.server.cur_conns.load(Ordering::Relaxed);
                log::warn!(
                    "{}",
                    report::down_message(&be.name, name, backup, &result, after, sessions)
                );
                if before.active + before.backup > 0 && after.active + after.backup == 0 {
                    log::error!("{}", report::no_server_message(&be.name));
                }
            }
            Some(Transition::WentUp) => {
                e.server.check.set_up(true);
                info.went_up(now);
                drop(info);
                let after = usable_counts(&be.shared);
                log::warn!(
                    "{}",
                    report::up_message(&be.name, name, backup, &result, after)
                );
                self.mesh
                    .wake_queued(&mut self.waker, &be.shared, e.backend);
            }
        }
    }
}

/// Advances one probe: connection, then for HTTP checks the request and
/// the response.
fn step(p: &mut Probe, be: &BackendCtx, limit: usize, now: Instant) -> Step {
    if p.phase == Phase::Connecting {
        match p.sock.take_error() {
            Ok(None) => {}
            Ok(Some(err)) | Err(err) => {
                return Step::Done(CheckStatus::L4Con, None, strerror(&err));
            }
        }
        // Writable without a pending error: connected.
        if be.http.is_none() {
            return Step::Done(CheckStatus::L4Ok, None, String::new());
        }
        p.phase = Phase::Sending;
        if let Some(t) = be.check_timeout {
            p.deadline = now + t;
        }
    }
    if p.phase == Phase::Sending {
        while p.sent < be.request.len() {
            match p.sock.write(be.request.get(p.sent..).unwrap_or_default()) {
                Ok(n) => p.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Done(CheckStatus::SockErr, None, strerror(&e)),
            }
        }
        p.phase = Phase::Reading;
    }
    let Some(hc) = &be.http else {
        return Step::Wait;
    };
    let mut chunk = [0u8; 4096];
    let mut eof = false;
    loop {
        let room = limit.saturating_sub(p.buf.len());
        if room == 0 {
            break;
        }
        let want = room.min(chunk.len());
        match p.sock.read(&mut chunk[..want]) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => p.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // HAProxy reports a network error only when nothing was
            // received; otherwise the response decides.
            Err(e) if p.buf.is_empty() => {
                return Step::Done(CheckStatus::SockErr, None, strerror(&e));
            }
            Err(_) => {
                eof = true;
                break;
            }
        }
    }
    let full = p.buf.len() >= limit;
    match assess(&p.buf, eof, full, hc) {
        Some(v) => Step::Done(v.status, v.code, v.desc),
        None => Step::Wait,
    }
}

/// The bare system message of an I/O error (`Connection refused`), as
/// HAProxy's `strerror()` prints it.
fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}
