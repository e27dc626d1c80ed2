//! Health checks, as HAProxy runs them.
//!
//! - `CheckShared` (in every `ServerShared`) is what the rest of the
//!   process reads: `is_up()`, one relaxed atomic load, on the shards' pick
//!   path (`ServerShared::usable`); and the details `show stat` / `show
//!   servers state` print, behind a mutex that only the checker thread
//!   writes and only the runtime API reads (never a shard).
//! - `Checker` is the handle of the checker thread (`run`): one thread,
//!   off the data path, running every check concurrently with nonblocking
//!   sockets and poll(2). It is driven by commands (`add`, `remove`,
//!   `set_enabled`) over a channel, with an eventfd to wake it.
//! - `state` (rise/fall, intervals, status text), `http` (request and
//!   verdict) and `report` (log lines) are pure.
//!
//! Semantics (HAProxy 2.6): a checked server starts up but goes down at its
//! first failure (`UP 1/3`); a first success makes it fully up, from where
//! `fall` consecutive failures take it down, and `rise` consecutive
//! successes bring it back. The next check starts `inter` after the end of
//! the previous one (`fastinter` while transitioning, `downinter` while
//! fully down); the first checks are spread over the smallest interval of
//! at least 1s. A check connects to `addr`:`port` (default: the server's),
//! within min(`timeout connect`, `inter`) when `timeout check` is set, and
//! then has `timeout check` to complete; without `timeout check` the whole
//! check has `inter`. Without `option httpchk` the check is the TCP
//! connection (L4); with it, one HTTP request and `http-check expect`
//! rules on its response. Checks are paused while the server is in
//! maintenance, which HAProxy also resets the health of: on leaving it the
//! server is `UP 1/3` again and checked at once. Shards need no message on
//! a transition: they read `is_up()` at the next pick, and
//! `LocalBackend::pick` turns to backup servers when no active one is
//! usable; only a server coming back up posts `SlotFree` to the shards with
//! streams queued in its backend, which would otherwise wait for a slot to
//! free elsewhere. Transitions are logged in HAProxy's words at warn level, and
//! "backend 'X' has no server available!" at error level (HAProxy's
//! alert).

mod http;
mod report;
mod run;
mod state;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::backend::{Admin, BackendShared, ServerShared};
use crate::config::CheckSettings;
use crate::mesh::Mesh;
use crate::runtime::Runtime;
use crate::shard::ring::WakeRing;

pub use report::Counts;
pub use state::{CheckResult, CheckStatus, Health};

/// The usable servers of a backend now, active and backup (HAProxy's
/// `srv_act` and `srv_bck`: ready, up, with a non-zero weight), from its
/// current server list: the figures of the checker's log lines and of
/// `show stat`'s `act` and `bck`.
pub fn usable_counts(be: &BackendShared) -> Counts {
    let mut c = Counts {
        active: 0,
        backup: 0,
    };
    for (_, s) in be.servers_snapshot() {
        if !s.usable() {
            continue;
        }
        if s.backup {
            c.backup += 1;
        } else {
            c.active += 1;
        }
    }
    c
}

/// A server's health as its checks see it. A server without `check` is
/// always up.
#[derive(Debug)]
pub struct CheckShared {
    up: AtomicBool,
    /// Written by the checker thread only.
    info: Mutex<CheckInfo>,
}

/// The details behind `CheckSnapshot`.
#[derive(Debug, Clone)]
struct CheckInfo {
    /// Checks run (not `disable health`).
    enabled: bool,
    /// `Some` once the checker has this server with a `check`.
    health: Option<Health>,
    last: Option<CheckResult>,
    chkfail: u64,
    chkdown: u64,
    last_change: Instant,
    downtime: Duration,
    /// Since when the server is down (by check, or in maintenance).
    down_since: Option<Instant>,
}

/// What `show stat` and `show servers state` print about a server's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSnapshot {
    /// HAProxy's `status`: `UP`, `UP 1/3`, `DOWN`, `DOWN 1/2`, `no check`,
    /// `MAINT`, `DRAIN`...
    pub status: String,
    /// Operational state as the shards see it (`is_up()`).
    pub up: bool,
    /// A `check` is configured for the server.
    pub configured: bool,
    /// Checks configured and running (not `disable health`).
    pub enabled: bool,
    /// HAProxy's `check.health`, 0..rise+fall-1 (0 without check).
    pub health: u64,
    /// `check_status`: the last result's (`L4OK`, `L4CON`, `L7STS`...),
    /// `INI` before the first one; `None` without check.
    pub check_status: Option<CheckStatus>,
    /// `check_code`: the HTTP status of the last check, if any.
    pub check_code: Option<u16>,
    /// `check_duration` of the last check.
    pub check_duration: Option<Duration>,
    /// The `info` of the last check (`Connection refused`...).
    pub check_desc: String,
    /// `chkfail`: failed checks (not counted while already fully down).
    pub chkfail: u64,
    /// `chkdown`: UP to DOWN transitions.
    pub chkdown: u64,
    /// `lastchg`: time since the last state change.
    pub lastchg: Duration,
    /// `downtime`: total time spent down (by check or in maintenance),
    /// counted since the checker has the server.
    pub downtime: Duration,
}

impl CheckShared {
    pub fn new() -> CheckShared {
        CheckShared {
            up: AtomicBool::new(true),
            info: Mutex::new(CheckInfo {
                enabled: false,
                health: None,
                last: None,
                chkfail: 0,
                chkdown: 0,
                last_change: Instant::now(),
                downtime: Duration::ZERO,
                down_since: None,
            }),
        }
    }

    /// Up for load balancing (the default until a check says otherwise).
    #[inline]
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Forces the operational state (the checker's, and tests').
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// The details of a server the checker takes with a `check`, as HAProxy
    /// starts one (`UP 1/FALL`, no result yet); counters and downtime stay.
    fn start(&self, settings: &CheckSettings, enabled: bool, now: Instant) {
        let mut info = self.info();
        *info = CheckInfo {
            enabled,
            health: Some(Health::starting(settings.rise, settings.fall)),
            last: None,
            last_change: now,
            down_since: None,
            ..info.clone()
        };
    }

    fn info(&self) -> MutexGuard<'_, CheckInfo> {
        // A panic while holding it cannot leave the plain data torn in a
        // way that matters for a status display: keep going.
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The health details at this instant; `admin` is the server's
    /// administrative state (`ServerShared::admin()`), which the status
    /// text depends on.
    pub fn snapshot(&self, admin: Admin) -> CheckSnapshot {
        let info = self.info().clone();
        let up = self.is_up();
        let now = Instant::now();
        let configured = info.configured();
        let checked = configured && info.enabled;
        let last = info.last.as_ref();
        let check_status = match (configured, last) {
            (false, _) => None,
            (true, None) => Some(CheckStatus::Ini),
            (true, Some(r)) => Some(r.status),
        };
        CheckSnapshot {
            status: state::status_text(admin, checked, info.health, up),
            up,
            configured,
            enabled: info.enabled,
            health: info.health.map_or(0, |h| h.value()),
            check_status,
            check_code: last.and_then(|r| r.code),
            check_duration: last.map(|r| r.duration),
            check_desc: last.map(|r| r.desc.clone()).unwrap_or_default(),
            chkfail: info.chkfail,
            chkdown: info.chkdown,
            lastchg: now.saturating_duration_since(info.last_change),
            downtime: info.downtime
                + info
                    .down_since
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
        }
    }
}

impl CheckInfo {
    /// The checker has this server with a `check`.
    fn configured(&self) -> bool {
        self.health.is_some()
    }

    /// Down from `now`, by check or by entering maintenance: the state
    /// changed, and downtime counts from now unless it already does.
    fn went_down(&mut self, now: Instant) {
        self.last_change = now;
        if self.down_since.is_none() {
            self.down_since = Some(now);
        }
    }

    /// Up from `now`, by check or by leaving maintenance: the state
    /// changed, and the time down so far adds to the downtime.
    fn went_up(&mut self, now: Instant) {
        self.last_change = now;
        if let Some(t) = self.down_since.take() {
            self.downtime += now.saturating_duration_since(t);
        }
    }
}

impl Default for CheckShared {
    fn default() -> Self {
        CheckShared::new()
    }
}

/// The health details of `server` (see `CheckShared::snapshot`).
pub fn snapshot_of(server: &ServerShared) -> CheckSnapshot {
    server.check.snapshot(server.admin())
}

/// What the handle asks the checker thread.
enum Cmd {
    Add {
        backend: usize,
        server: Arc<ServerShared>,
        check: Option<CheckSettings>,
        enabled: bool,
    },
    Remove(Arc<ServerShared>),
    /// A reload applied snapshot `rt`: backends' check settings follow it.
    Reload(Arc<crate::runtime::Runtime>),
    SetEnabled(Arc<ServerShared>, bool),
    Stop,
}

/// The handle of the checker thread. Commands are applied in order, soon
/// after they are sent (the thread is woken); none is answered. Servers
/// are identified by their `Arc` (`Arc::ptr_eq`). Dropping the handle
/// stops the thread.
pub struct Checker {
    link: CheckerLink,
    thread: Option<JoinHandle<()>>,
}

/// What the runtime API holds to drive the checker (`add`, `remove`,
/// `set_enabled`); the thread stays owned by `Checker`.
#[derive(Clone)]
pub struct CheckerLink {
    tx: Sender<Cmd>,
    wake: Arc<EventFd>,
}

impl Checker {
    /// Starts the checker thread with every server of `rt` that has a
    /// `check` (first checks spread as HAProxy does). The "N active and M
    /// backup servers" figures of its log lines count every server of the
    /// backend (`usable_counts`).
    /// `mesh`: to wake the streams queued in a backend when one of its
    /// servers comes back up.
    pub fn spawn(rt: &Runtime, mesh: Arc<Mesh>) -> io::Result<Checker> {
        let wake = Arc::new(EventFd::from_flags(
            EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
        )?);
        let waker = WakeRing::new()?;
        let (tx, rx) = mpsc::channel();
        let state = run::Loop::new(rt, mesh, waker, rx, wake.clone());
        let thread = std::thread::Builder::new()
            .name("check".to_string())
            .spawn(move || state.run())?;
        Ok(Checker {
            link: CheckerLink { tx, wake },
            thread: Some(thread),
        })
    }

    /// A handle for another thread (the runtime API) to drive the checks.
    pub fn link(&self) -> CheckerLink {
        self.link.clone()
    }
}

impl CheckerLink {
    fn send(&self, cmd: Cmd) {
        // A send error means the thread is gone (it only stops on `Stop`):
        // nothing is left to tell.
        if self.tx.send(cmd).is_ok() {
            let _ = self.wake.write(1);
        }
    }

    /// A server added to backend `backend` (index in `Runtime::backends`).
    /// `check`: its settings when it has `check` (else nothing is done).
    /// `enabled`: checks start now; HAProxy creates a dynamic server's
    /// checks disabled, to be started by `enable health` (`set_enabled`).
    /// Adding a server again replaces it. Its check details (configured,
    /// enabled, `UP 1/FALL`) are in its snapshot on return; the checks
    /// themselves start once the thread has the command.
    pub fn add(
        &self,
        backend: usize,
        server: Arc<ServerShared>,
        check: Option<CheckSettings>,
        enabled: bool,
    ) {
        if let Some(settings) = &check {
            server.check.start(settings, enabled, Instant::now());
        }
        self.send(Cmd::Add {
            backend,
            server,
            check,
            enabled,
        });
    }

    /// A deleted server: never checked again.
    pub fn remove(&self, server: &Arc<ServerShared>) {
        self.send(Cmd::Remove(server.clone()));
    }

    /// A reload applied snapshot `rt`: new backends can be checked, and
    /// each backend's HTTP check and timeouts are its new ones.
    pub fn reload(&self, rt: Arc<crate::runtime::Runtime>) {
        self.send(Cmd::Reload(rt));
    }

    /// `enable health` / `disable health`. Disabling stops the checks and
    /// freezes the server's state as it is (HAProxy only clears the
    /// check's enabled flag); enabling resumes them at once, from the
    /// health the server had. The flag is in the server's snapshot on
    /// return (nothing changes for a server without `check`).
    pub fn set_enabled(&self, server: &Arc<ServerShared>, enabled: bool) {
        {
            let mut info = server.check.info();
            if info.configured() {
                info.enabled = enabled;
            }
        }
        self.send(Cmd::SetEnabled(server.clone(), enabled));
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.link.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
