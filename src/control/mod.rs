//! The control thread: what the main thread becomes once the shards run.
//!
//! It owns what concerns all shards and is not on the data path: signals,
//! reloads (`reload`) and the draining of the servers they remove, the
//! health checker, and the stops. The runtime API runs on its own thread
//! (`shards` is its way to the coordinator). It talks to shards only
//! through `mesh` messages.

pub mod reload;
pub mod shards;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use crate::check::Checker;
use crate::mesh::{Mesh, Msg};
use crate::runtime::Current;
use crate::shard::ring::WakeRing;

/// Signals the control thread handles; blocked in every thread (shards
/// inherit the mask) so that only `sigtimedwait` here sees them.
pub fn control_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(s);
    }
    set
}

/// Blocks the control signals in the calling thread and ignores SIGPIPE
/// (every send uses MSG_NOSIGNAL; this covers anything else).
pub fn block_signals() -> nix::Result<()> {
    control_signals().thread_block()?;
    // SAFETY: installing SIG_IGN has no handler code to be unsafe about.
    unsafe {
        nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn)?;
    }
    Ok(())
}

pub struct Control {
    pub current: Arc<Current>,
    pub mesh: Arc<Mesh>,
    pub shards: Vec<JoinHandle<()>>,
    /// The health checker (the runtime API drives it: add/del server,
    /// enable/disable health).
    pub checker: Checker,
    waker: WakeRing,
    reloader: Option<reload::Reloader>,
    /// Processes we took the listening sockets of (`-sf`/`-st`), while they
    /// stop: see `Shard::kick_listeners`.
    predecessors: Vec<i32>,
    /// When the predecessors were told to stop.
    kick_since: Option<Instant>,
    /// When expired stick-table entries were last purged.
    purged_at: Instant,
}

/// How long a fast stop waits for the shards to close everything.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Control {
    pub fn new(
        current: Arc<Current>,
        mesh: Arc<Mesh>,
        shards: Vec<JoinHandle<()>>,
    ) -> std::io::Result<Control> {
        let checker = Checker::spawn(&current.get(), mesh.clone()).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start the health checker: {e}"))
        })?;
        Ok(Control {
            current,
            mesh,
            shards,
            checker,
            waker: WakeRing::new()?,
            reloader: None,
            predecessors: Vec::new(),
            kick_since: None,
            purged_at: Instant::now(),
        })
    }

    /// The processes told to stop after we took their sockets (`-sf`,
    /// `-st`), just signalled.
    pub fn set_predecessors(&mut self, pids: Vec<i32>) {
        self.kick_since = (!pids.is_empty()).then(Instant::now);
        self.predecessors = pids;
    }

    /// While predecessors stop, the shards re-arm their accepts often (every
    /// 50 ms for 5 s, then every 500 ms), and once more when the last one
    /// has exited.
    fn kick_accepts(&mut self) {
        let Some(since) = self.kick_since else {
            return;
        };
        self.predecessors
            .retain(|&pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok());
        for i in 0..self.mesh.shards() {
            self.mesh
                .post_from_control(&mut self.waker, i, Msg::KickAccepts);
        }
        if self.predecessors.is_empty() && since.elapsed() > Duration::from_millis(200) {
            self.kick_since = None;
        }
    }

    /// Reloads become possible (once the coordinator exists).
    pub fn set_reloader(&mut self, r: reload::Reloader) {
        self.reloader = Some(r);
    }

    /// Runs until the process must exit; returns its exit code.
    pub fn run(mut self) -> i32 {
        let set = control_signals();
        loop {
            // Servers a reload removed are deleted soon after they drain.
            let draining = self.reloader.as_ref().is_some_and(|r| r.draining() > 0);
            let wait = match self.kick_since.map(|t| t.elapsed()) {
                Some(e) if e < Duration::from_secs(5) => Duration::from_millis(50),
                _ if draining => Duration::from_millis(100),
                _ => Duration::from_millis(500),
            };
            let sig = sigtimedwait(&set, wait);
            match sig {
                Some(libc::SIGINT) | Some(libc::SIGTERM) => {
                    log::info!(
                        "{} received, stopping",
                        if sig == Some(libc::SIGINT) {
                            "SIGINT"
                        } else {
                            "SIGTERM"
                        }
                    );
                    return self.stop_all(0);
                }
                Some(libc::SIGUSR1) => return self.soft_stop(&set),
                Some(libc::SIGHUP) | Some(libc::SIGUSR2) => match self.reloader.as_mut() {
                    Some(r) => r.reload(),
                    None => log::warn!("reload signal received before startup completed: ignored"),
                },
                _ => {}
            }
            if let Some(r) = self.reloader.as_mut() {
                r.drain();
            }
            self.kick_accepts();
            self.purge_tables();
            if let Some(i) = self.shards.iter().position(|h| h.is_finished()) {
                log::error!("shard {i} stopped unexpectedly; stopping the process");
                return self.stop_all(1);
            }
        }
    }

    /// Frees the memory of expired stick-table entries once a second.
    /// Correctness does not depend on it (a lookup treats an expired entry
    /// as absent): this only keeps idle tables from holding dead keys.
    fn purge_tables(&mut self) {
        if self.purged_at.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.purged_at = Instant::now();
        let now = crate::shard::timer::now_ms();
        for t in &self.current.get().tables {
            t.purge(now);
        }
    }

    /// SIGUSR1, HAProxy's soft-stop: every shard stops accepting and
    /// closes its idle keep-alive connections; sessions in progress finish
    /// (HTTP ones after their current answer). The process exits once every
    /// shard is done, or after `hard-stop-after` (what remains is closed),
    /// or at once on SIGTERM/SIGINT.
    fn soft_stop(&mut self, set: &SigSet) -> i32 {
        if let Some(r) = &self.reloader {
            r.stop_exporting();
        }
        let rt = self.current.get();
        let hard = rt.config.global.hard_stop_after;
        log::warn!(
            "SIGUSR1 received: stopping gracefully ({} connections in progress{})",
            rt.global.cur.load(std::sync::atomic::Ordering::Relaxed),
            hard.map_or(String::new(), |d| format!(", hard-stop-after {d:?}"))
        );
        for i in 0..self.mesh.shards() {
            self.mesh
                .post_from_control(&mut self.waker, i, Msg::SoftStop);
        }
        let deadline = hard.map(|d| Instant::now() + d);
        loop {
            if self.shards.iter().all(|h| h.is_finished()) {
                log::info!("graceful stop complete: every session ended");
                return self.stop_all(0);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                log::warn!("hard-stop-after expired: closing the remaining sessions");
                return self.stop_all(0);
            }
            match sigtimedwait(set, Duration::from_millis(50)) {
                Some(libc::SIGINT) | Some(libc::SIGTERM) => {
                    log::info!("stop signal during the graceful stop: stopping now");
                    return self.stop_all(0);
                }
                Some(libc::SIGHUP) | Some(libc::SIGUSR2) => {
                    log::warn!("reload signal ignored: the process is stopping");
                }
                _ => {}
            }
        }
    }

    fn stop_all(&mut self, code: i32) -> i32 {
        if let Some(r) = &self.reloader {
            r.stop_exporting();
        }
        for i in 0..self.mesh.shards() {
            self.mesh.post_from_control(&mut self.waker, i, Msg::Stop);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && !self.shards.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut code = code;
        for (i, h) in self.shards.drain(..).enumerate() {
            if !h.is_finished() {
                log::warn!("shard {i} did not stop within {STOP_GRACE:?}");
                code = code.max(1);
                continue;
            }
            if h.join().is_err() {
                log::error!("shard {i} panicked");
                code = 1;
            }
        }
        code
    }
}

/// Waits up to `timeout` for one of `set`; None on timeout or interruption.
fn sigtimedwait(set: &SigSet, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: valid sigset and timespec pointers; siginfo may be null.
    let r = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    (r > 0).then_some(r)
}

impl Control {
    /// Stops whatever started after a failed startup; exit code 1.
    pub fn abort(mut self) -> i32 {
        self.stop_all(1).max(1)
    }
}
