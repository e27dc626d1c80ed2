//! Shared harness of ringproxy's integration tests.
//!
//! - [`Proxy`]: the real binary as a child process (config in a unique temp
//!   dir, stderr captured by a reader thread, waits for the ready line,
//!   `stop()` with SIGTERM/SIGINT, SIGKILL on drop, log dump on panic).
//! - [`Stopped`] / [`ShardStats`]: the exit status and the per-shard counters
//!   of the `shard I stopped: ...` lines.
//! - [`run_cli`] / [`run_check`]: one-shot runs (`-c`, `-v`, failing configs).
//! - Backends the tests start: [`Backend`] (thread per connection, with
//!   echo / hello / sink / source / PROXY-capture / half-close / black-hole /
//!   ticker behaviours, or any handler), [`Unaccepting`] (connects to it
//!   hang), [`refused_addr`] (connects to it are refused).
//! - Client helpers that bound every wait, data generators and checksums, and
//!   PROXY protocol v1/v2 builders plus an independent parser (the crate's
//!   codec is deliberately not used).
//!
//! Every wait in here is bounded so that a broken proxy fails a test instead
//! of hanging it.
//!
//! Files: this one (temp dirs, ports, captured output, the proxy process,
//! data and client helpers), `backends.rs` (test backends, PROXY protocol
//! builders and parser, config snippets), `http.rs` (HTTP server and client,
//! HAProxy's error pages, stdout capture, health-check and runtime-API
//! helpers), `load.rs` (continuous client load: HTTP and TCP clients that
//! check every answer and count what they did and every failure).

#![allow(dead_code)]

// Each test crate uses part of the harness only.
mod backends;
mod http;
mod load;
#[allow(unused_imports)]
pub use backends::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use load::*;

use std::ffi::OsString;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ringproxy");
/// Bound on "ringproxy ready" after spawn.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the exit after SIGTERM/SIGINT.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read/write/connect timeout of client sockets.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Generous bound on "the proxy closes this connection".
pub const CLOSE_BOUND: Duration = Duration::from_secs(5);
/// Read timeout of backend connection handlers (they are also shut down when
/// the backend is dropped).
pub(crate) const BACKEND_IO_TIMEOUT: Duration = Duration::from_secs(30);

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const LOCALHOST6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

// ---------------------------------------------------------------------------
// Temp dirs and ports
// ---------------------------------------------------------------------------

pub(crate) static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A unique directory under `std::env::temp_dir()`, removed on drop (kept when
/// the thread is panicking, for diagnosis).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "ringproxy-test-{}-{}-{}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("(test files kept in {})", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub(crate) fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(32768)
}

/// A port nobody listens on, for a frontend `bind` (the proxy must bind it
/// itself, so it cannot be held for it). Ports are taken below the kernel's
/// ephemeral range (so no outgoing connection of any test can be given the
/// port between the check and the proxy's bind), from a per-process start
/// point, never twice in one process, and each is checked free by binding it
/// on `ip` (and on the other loopback when that exists).
pub fn free_port_on(ip: IpAddr) -> u16 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let high = ephemeral_low().max(12_000) as u32; // exclusive
    let low = 10_000u32;
    let span = high - low;
    let next = NEXT.get_or_init(|| {
        let start = (std::process::id().wrapping_mul(7919)) % span;
        AtomicU32::new(start)
    });
    for _ in 0..span {
        let port = (low + next.fetch_add(1, Ordering::Relaxed) % span) as u16;
        let ok = TcpListener::bind((ip, port)).is_ok()
            && match ip {
                IpAddr::V4(_) => TcpListener::bind((LOCALHOST6, port)).is_ok() || !ipv6_available(),
                IpAddr::V6(_) => TcpListener::bind((LOCALHOST, port)).is_ok(),
            };
        if ok {
            return port;
        }
    }
    panic!("no free port found in {low}..{high}");
}

/// A free port on 127.0.0.1 for a frontend bind.
pub fn free_port() -> u16 {
    free_port_on(LOCALHOST)
}

/// An address whose connects are refused (a port that was bound and closed).
/// Checked: a connect to it is refused.
pub fn refused_addr() -> SocketAddr {
    for _ in 0..20 {
        let port = free_port();
        let addr = SocketAddr::new(LOCALHOST, port);
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return addr,
            _ => continue,
        }
    }
    panic!("could not find a refusing port");
}

/// Whether ::1 can be bound here.
pub fn ipv6_available() -> bool {
    static V6: OnceLock<bool> = OnceLock::new();
    *V6.get_or_init(|| TcpListener::bind((LOCALHOST6, 0)).is_ok())
}

/// Raise RLIMIT_NOFILE's soft limit to at least `want` (up to the hard
/// limit). Returns the soft limit in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < want {
            let target = if rl.rlim_max == libc::RLIM_INFINITY {
                want
            } else {
                want.min(rl.rlim_max)
            };
            rl.rlim_cur = target;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        rl.rlim_cur
    }
}

// ---------------------------------------------------------------------------
// Captured output
// ---------------------------------------------------------------------------

/// Output of the child, appended line by line by reader threads.
#[derive(Clone, Default)]
pub struct LogBuf {
    inner: Arc<(Mutex<String>, Condvar)>,
}

impl LogBuf {
    pub(crate) fn append(&self, chunk: &str) {
        let (m, c) = &*self.inner;
        m.lock().unwrap().push_str(chunk);
        c.notify_all();
    }

    pub fn text(&self) -> String {
        self.inner.0.lock().unwrap().clone()
    }

    /// Waits until `pred(text)` holds; false on timeout.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, c) = &*self.inner;
        let mut g = m.lock().unwrap();
        loop {
            if pred(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Short slices so callers can also notice a dead child.
            let slice = (deadline - now).min(Duration::from_millis(50));
            g = c.wait_timeout(g, slice).unwrap().0;
        }
    }

    /// Spawns a thread copying `r` into the buffer until EOF.
    pub(crate) fn spawn_reader(&self, mut r: impl Read + Send + 'static) -> JoinHandle<()> {
        let me = self.clone();
        thread::Builder::new()
            .name("proxy-output".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending: Vec<u8> = Vec::new();
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            pending.extend_from_slice(&buf[..n]);
                            // Append complete lines only, so that matching a
                            // whole line never sees half of it.
                            if let Some(pos) = pending.iter().rposition(|&b| b == b'\n') {
                                let rest = pending.split_off(pos + 1);
                                me.append(&String::from_utf8_lossy(&pending));
                                pending = rest;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                if !pending.is_empty() {
                    me.append(&String::from_utf8_lossy(&pending));
                    me.append("\n");
                }
            })
            .expect("spawn output reader")
    }
}

pub(crate) fn tail(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    let mut s = String::new();
    if start > 0 {
        s.push_str(&format!("... ({start} earlier lines omitted)\n"));
    }
    for l in &lines[start..] {
        s.push_str(l);
        s.push('\n');
    }
    s
}

pub(crate) fn child_env(cmd: &mut Command) {
    // Deterministic logging regardless of the developer's environment;
    // RINGPROXY_TEST_RUST_LOG passes a filter through when debugging.
    cmd.env_remove("RUST_LOG");
    if let Ok(v) = std::env::var("RINGPROXY_TEST_RUST_LOG") {
        cmd.env("RUST_LOG", v);
    }
    cmd.env("RUST_LOG_STYLE", "never");
}

// ---------------------------------------------------------------------------
// The proxy process
// ---------------------------------------------------------------------------

/// How to start the proxy.
pub struct ProxyBuilder {
    configs: Vec<String>,
    env: Vec<(String, String)>,
    extra_args: Vec<String>,
    debug: bool,
    /// (fd number in the child, fd of ours to put there).
    inherit: Vec<(i32, i32)>,
}

impl ProxyBuilder {
    /// Adds one `-f FILE` (files are passed in the order added).
    pub fn config(mut self, text: &str) -> Self {
        self.configs.push(text.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.extra_args.push(a.to_string());
        self
    }

    /// Gives the child our `fd` as its file descriptor `target` (for
    /// `fd@N` binds, as systemd's socket activation does).
    pub fn inherit_fd(mut self, target: i32, fd: i32) -> Self {
        self.inherit.push((target, fd));
        self
    }

    /// `-d` (on by default).
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Spawns the process without waiting for the ready line.
    pub fn spawn(self) -> Proxy {
        self.spawn_inner(None)
    }

    /// Spawns the process; its stdout goes to `stdout` when given, else to
    /// the same buffer as its stderr ([`Proxy::log`]).
    pub(crate) fn spawn_inner(self, stdout: Option<LogBuf>) -> Proxy {
        let dir = TempDir::new();
        let mut paths = Vec::new();
        for (i, text) in self.configs.iter().enumerate() {
            paths.push(dir.write(&format!("ringproxy{}.cfg", i + 1), text));
        }
        let mut cmd = Command::new(BIN);
        for p in &paths {
            cmd.arg("-f").arg(p);
        }
        if self.debug {
            cmd.arg("-d");
        }
        cmd.args(&self.extra_args);
        child_env(&mut cmd);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !self.inherit.is_empty() {
            let inherit = self.inherit.clone();
            // SAFETY: only async-signal-safe calls (dup2, fcntl) between
            // fork and exec.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    for &(target, fd) in &inherit {
                        if fd == target {
                            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                                return Err(io::Error::last_os_error());
                            }
                        } else if libc::dup2(fd, target) < 0 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        let log = LogBuf::default();
        let out = stdout.unwrap_or_else(|| log.clone());
        let readers = vec![
            log.spawn_reader(child.stderr.take().unwrap()),
            out.spawn_reader(child.stdout.take().unwrap()),
        ];
        Proxy {
            child: Some(child),
            log,
            readers,
            shards: 0,
            config_paths: paths,
            configs: self.configs,
            _dir: dir,
        }
    }

    /// Spawns and waits (10 s bound) for `ringproxy ready: N shards`; panics
    /// with the captured output when the process exits or the line does not
    /// come.
    pub fn start(self) -> Proxy {
        let mut p = self.spawn();
        p.expect_ready();
        p
    }
}

/// The running binary. Killed (SIGKILL) on drop if still running; on panic
/// its configuration and output are printed.
pub struct Proxy {
    child: Option<Child>,
    log: LogBuf,
    readers: Vec<JoinHandle<()>>,
    /// N of `ringproxy ready: N shards` (0 before ready).
    pub shards: usize,
    pub config_paths: Vec<PathBuf>,
    configs: Vec<String>,
    _dir: TempDir,
}

/// Parses `ringproxy ready: N shards` out of the output.
pub fn parse_ready(text: &str) -> Option<usize> {
    text.lines().find_map(|l| {
        let i = l.find("ringproxy ready:")?;
        let rest = l[i + "ringproxy ready:".len()..].trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}

impl Proxy {
    pub fn builder() -> ProxyBuilder {
        ProxyBuilder {
            configs: Vec::new(),
            env: Vec::new(),
            extra_args: Vec::new(),
            inherit: Vec::new(),
            debug: true,
        }
    }

    /// Starts `ringproxy -f <cfg> -d` and waits until ready.
    pub fn start(cfg: &str) -> Proxy {
        Proxy::builder().config(cfg).start()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Everything the process wrote so far (stderr and stdout).
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Waits until the output contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        self.log.wait_until(timeout, |t| t.contains(needle))
    }

    pub fn wait_ready(&mut self, timeout: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .log
                .wait_until(Duration::from_millis(50), |t| parse_ready(t).is_some())
            {
                self.shards = parse_ready(&self.log.text()).unwrap();
                return Ok(self.shards);
            }
            if let Some(status) = self.try_wait() {
                self.join_readers(Duration::from_secs(2));
                return Err(format!(
                    "process exited ({status}) before the ready line; output:\n{}",
                    tail(&self.log.text(), 200)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no ready line within {timeout:?}; output:\n{}",
                    tail(&self.log.text(), 200)
                ));
            }
        }
    }

    /// [`wait_ready`](Self::wait_ready) within [`READY_TIMEOUT`]; panics
    /// with the captured output when the process exits or the line does
    /// not come.
    pub(crate) fn expect_ready(&mut self) {
        if let Err(why) = self.wait_ready(READY_TIMEOUT) {
            panic!("ringproxy did not become ready: {why}");
        }
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the exit, bounded. None on timeout (the process is left
    /// running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        assert!(pid > 0, "no child");
        unsafe {
            libc::kill(pid, sig);
        }
    }

    pub(crate) fn join_readers(&mut self, bound: Duration) {
        let deadline = Instant::now() + bound;
        while self.readers.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for h in std::mem::take(&mut self.readers) {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }

    /// SIGTERM, then waits (10 s bound) for the exit. Panics (with the
    /// output) if the process does not exit in time.
    pub fn stop(self) -> Stopped {
        self.stop_with(libc::SIGTERM)
    }

    pub fn stop_with(mut self, sig: i32) -> Stopped {
        let t0 = Instant::now();
        if self.try_wait().is_none() {
            self.signal(sig);
        }
        let status = match self.wait_exit(STOP_TIMEOUT) {
            Some(s) => s,
            None => panic!(
                "ringproxy did not exit within {STOP_TIMEOUT:?} after signal {sig}; output:\n{}",
                tail(&self.log.text(), 200)
            ),
        };
        let elapsed = t0.elapsed();
        self.join_readers(Duration::from_secs(5));
        Stopped {
            status,
            elapsed,
            log: self.log.text(),
            ready_shards: self.shards,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if thread::panicking() {
            self.join_readers(Duration::from_secs(2));
            let mut s = String::from("\n===== ringproxy configuration(s) =====\n");
            for (p, c) in self.config_paths.iter().zip(&self.configs) {
                s.push_str(&format!("--- {} ---\n{}\n", p.display(), c));
            }
            s.push_str("===== ringproxy output (tail) =====\n");
            s.push_str(&tail(&self.log.text(), 300));
            s.push_str("===== end of ringproxy output =====\n");
            eprintln!("{s}");
        }
    }
}

/// Outcome of a stopped proxy.
pub struct Stopped {
    pub status: ExitStatus,
    pub elapsed: Duration,
    pub log: String,
    pub ready_shards: usize,
}

/// Counters of one `shard I stopped: ...` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub shard: usize,
    pub accepted: u64,
    pub handshake_timeouts: u64,
    pub handshake_errors: u64,
    pub no_server: u64,
    pub queue_timeouts: u64,
    pub connect_errors: u64,
}

/// Parses every `shard I stopped: k=v ...` line. Panics on a malformed one
/// (a missing counter is a contract violation, not something to skip).
pub fn parse_shard_stats(text: &str) -> Vec<ShardStats> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(stop_at) = line.find(" stopped:") else {
            continue;
        };
        let Some(shard_at) = line[..stop_at].rfind("shard ") else {
            continue;
        };
        let Ok(shard) = line[shard_at + 6..stop_at].trim().parse::<usize>() else {
            continue;
        };
        let mut st = ShardStats {
            shard,
            ..Default::default()
        };
        let mut seen = 0u32;
        for kv in line[stop_at + " stopped:".len()..].split_whitespace() {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v
                .trim_end_matches(',')
                .parse()
                .unwrap_or_else(|_| panic!("bad counter value in {line:?}"));
            let slot = match k {
                "accepted" => &mut st.accepted,
                "handshake_timeouts" => &mut st.handshake_timeouts,
                "handshake_errors" => &mut st.handshake_errors,
                "no_server" => &mut st.no_server,
                "queue_timeouts" => &mut st.queue_timeouts,
                "connect_errors" => &mut st.connect_errors,
                _ => continue,
            };
            *slot = v;
            seen += 1;
        }
        assert_eq!(
            seen, 6,
            "stop line lacks some of the six counters: {line:?}"
        );
        out.push(st);
    }
    out
}

impl Stopped {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Per-shard counters, in shard order.
    pub fn shards(&self) -> Vec<ShardStats> {
        let mut v = parse_shard_stats(&self.log);
        v.sort_by_key(|s| s.shard);
        v
    }

    /// Sum over shards.
    pub fn total(&self) -> ShardStats {
        let mut t = ShardStats::default();
        for s in self.shards() {
            t.accepted += s.accepted;
            t.handshake_timeouts += s.handshake_timeouts;
            t.handshake_errors += s.handshake_errors;
            t.no_server += s.no_server;
            t.queue_timeouts += s.queue_timeouts;
            t.connect_errors += s.connect_errors;
        }
        t
    }

    /// Exit status 0 and one stop line per shard of the ready line.
    pub fn assert_clean(&self) {
        assert_eq!(
            self.code(),
            Some(0),
            "exit status {} (expected 0); output:\n{}",
            self.status,
            tail(&self.log, 200)
        );
        let shards = self.shards();
        assert_eq!(
            shards.len(),
            self.ready_shards,
            "expected one `shard I stopped:` line per shard ({}), got {:?}; output:\n{}",
            self.ready_shards,
            shards,
            tail(&self.log, 200)
        );
    }
}

/// Output of a one-shot run.
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with `args` (10 s bound, then SIGKILL and panic).
pub fn run_cli<S: Into<OsString> + Clone>(args: &[S], env: &[(&str, &str)]) -> CliOutput {
    let mut cmd = Command::new(BIN);
    cmd.args(args.iter().cloned().map(Into::into));
    child_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
    let out = LogBuf::default();
    let err = LogBuf::default();
    let h1 = out.spawn_reader(child.stdout.take().unwrap());
    let h2 = err.spawn_reader(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`ringproxy {:?}` did not exit within 10 s; stdout:\n{}\nstderr:\n{}",
                args.iter()
                    .cloned()
                    .map(|a| a.into())
                    .collect::<Vec<OsString>>(),
                tail(&out.text(), 100),
                tail(&err.text(), 100)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = h1.join();
    let _ = h2.join();
    CliOutput {
        code: status.code(),
        stdout: out.text(),
        stderr: err.text(),
    }
}

/// `ringproxy -c -f FILE...` on the given files.
pub fn run_check_files(files: &[&Path]) -> CliOutput {
    let mut args: Vec<OsString> = vec!["-c".into()];
    for f in files {
        args.push("-f".into());
        args.push(f.as_os_str().to_owned());
    }
    run_cli(&args, &[])
}

/// `ringproxy -c -f <cfg>`: (exit code, stdout+stderr, config path).
pub fn run_check(cfg: &str) -> (Option<i32>, String, PathBuf, TempDir) {
    let dir = TempDir::new();
    let path = dir.write("check.cfg", cfg);
    let out = run_check_files(&[&path]);
    (out.code, out.all(), path, dir)
}

/// `ringproxy -c` accepts `cfg`; panics with the checker's output if not.
#[track_caller]
pub fn assert_config_ok(cfg: &str) {
    let (code, out, _, _d) = run_check(cfg);
    assert_eq!(code, Some(0), "configuration rejected:\n{cfg}\n{out}");
}

impl Proxy {
    /// Checks `cfg` with `ringproxy -c` ([`assert_config_ok`]), then starts
    /// it as [`Proxy::start`] does.
    pub fn start_checked(cfg: &str) -> Proxy {
        assert_config_ok(cfg);
        Proxy::start(cfg)
    }
}

// ---------------------------------------------------------------------------
// Data and checksums
// ---------------------------------------------------------------------------

/// FNV-1a 64, streaming.
#[derive(Clone, Copy)]
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut f = Fnv::new();
    f.update(data);
    f.0
}

/// Deterministic pseudo-random bytes (xorshift64*), so that reordered,
/// duplicated or dropped chunks change the checksum.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

// ---------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------

/// Connects (5 s bound) with 5 s read/write timeouts and TCP_NODELAY.
pub fn connect(addr: SocketAddr) -> TcpStream {
    try_connect(addr).unwrap_or_else(|e| panic!("{e}"))
}

/// [`connect`], the failure as a message (for clients that count them).
pub fn try_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    Ok(s)
}

/// 127.0.0.1:`port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

/// Writes `line` and a newline, expects the same line back (an echo
/// server); the failure as a message.
pub fn try_echo_line(s: &mut TcpStream, line: &str) -> Result<(), String> {
    s.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("write {line:?}: {e}"))?;
    match read_line(s) {
        Ok(got) if got == line => Ok(()),
        Ok(got) => Err(format!("echo of {line:?}: got {got:?}")),
        Err(e) => Err(format!("echo of {line:?}: {e}")),
    }
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads one line (without the `\n`), 4 KiB max, within the socket's read
/// timeout.
pub fn read_line(s: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "EOF after {:?} while reading a line",
                        String::from_utf8_lossy(&line)
                    ),
                ));
            }
            Ok(_) => {
                if b[0] == b'\n' {
                    return Ok(String::from_utf8_lossy(&line).into_owned());
                }
                line.push(b[0]);
                if line.len() > 4096 {
                    return Err(io::Error::new(ErrorKind::InvalidData, "line too long"));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads exactly `n` bytes within the socket's read timeout.
pub fn read_n(s: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v)?;
    Ok(v)
}

/// Writes `msg` and expects it echoed back.
pub fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write to proxy");
    let got = read_n(s, msg.len()).expect("read echo through proxy");
    assert_eq!(got, msg, "echo mismatch");
}

/// Reads until EOF (bounded by the socket's read timeout per read and by
/// `bound` overall).
pub fn read_to_eof(s: &mut TcpStream, bound: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + bound;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(ErrorKind::TimedOut, "no EOF in time"));
        }
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How a connection ended, seen from the client.
#[derive(Debug)]
pub struct Closed {
    pub after: Duration,
    /// true: orderly EOF; false: an error (reset).
    pub eof: bool,
    /// Bytes received before the end.
    pub data: Vec<u8>,
}

/// Expects the peer to close `s` within `within` (EOF or reset); returns how
/// and when, measured from `since`. Panics if the connection is still open.
pub fn expect_closed_since(s: &mut TcpStream, since: Instant, within: Duration) -> Closed {
    let deadline = since + within;
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!(
                "connection still open {:?} after start (expected it closed within {within:?}); received {} bytes",
                since.elapsed(),
                data.len()
            );
        }
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                return Closed {
                    after: since.elapsed(),
                    eof: true,
                    data,
                };
            }
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                return Closed {
                    after: since.elapsed(),
                    eof: false,
                    data,
                };
            }
        }
    }
}

pub fn expect_closed(s: &mut TcpStream, within: Duration) -> Closed {
    expect_closed_since(s, Instant::now(), within)
}

/// Asserts that nothing arrives on `s` and it is not closed for `dur`.
pub fn assert_open_and_silent(s: &mut TcpStream, dur: Duration, what: &str) {
    s.set_read_timeout(Some(dur)).unwrap();
    let mut b = [0u8; 1024];
    let r = s.read(&mut b);
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match r {
        Err(e) if is_timeout(&e) => {}
        Ok(0) => panic!("{what}: connection closed (EOF) within {dur:?}, expected it open"),
        Ok(n) => panic!(
            "{what}: unexpected {n} bytes within {dur:?}: {:?}",
            String::from_utf8_lossy(&b[..n])
        ),
        Err(e) => panic!("{what}: connection error within {dur:?}: {e}"),
    }
}

/// Keeps `s` busy with an echo exchange every `every` for `total`; panics if
/// any exchange fails (the connection was closed while active).
pub fn keep_active(s: &mut TcpStream, every: Duration, total: Duration) {
    let t0 = Instant::now();
    let mut i = 0u32;
    while t0.elapsed() < total {
        let msg = format!("ping {i}\n");
        s.write_all(msg.as_bytes())
            .unwrap_or_else(|e| panic!("write #{i} after {:?}: {e}", t0.elapsed()));
        let got = read_n(s, msg.len())
            .unwrap_or_else(|e| panic!("echo #{i} after {:?}: {e}", t0.elapsed()));
        assert_eq!(got, msg.as_bytes());
        i += 1;
        thread::sleep(every);
    }
}

/// Polls `f` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
