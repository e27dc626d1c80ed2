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

#![allow(dead_code)]

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
const BACKEND_IO_TIMEOUT: Duration = Duration::from_secs(30);

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const LOCALHOST6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

// ---------------------------------------------------------------------------
// Temp dirs and ports
// ---------------------------------------------------------------------------

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

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

fn ephemeral_low() -> u16 {
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
    fn append(&self, chunk: &str) {
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
    fn spawn_reader(&self, mut r: impl Read + Send + 'static) -> JoinHandle<()> {
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

fn tail(text: &str, max_lines: usize) -> String {
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

fn child_env(cmd: &mut Command) {
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
        let readers = vec![
            log.spawn_reader(child.stderr.take().unwrap()),
            log.spawn_reader(child.stdout.take().unwrap()),
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
        if let Err(why) = p.wait_ready(READY_TIMEOUT) {
            panic!("ringproxy did not become ready: {why}");
        }
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

    fn join_readers(&mut self, bound: Duration) {
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

    pub fn log_tail(&self) -> String {
        tail(&self.log, 200)
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
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn is_timeout(e: &io::Error) -> bool {
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

// ---------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------

/// A listening socket on `addr` (SO_REUSEADDR; IPV6_V6ONLY for IPv6) with
/// the given accept-queue `backlog` (the kernel caps it at somaxconn).
pub fn listen_with_backlog(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    unsafe {
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = check(libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let owned = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let optlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let one_ptr = &one as *const libc::c_int as *const libc::c_void;
        check(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            one_ptr,
            optlen,
        ))?;
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                check(libc::bind(
                    fd,
                    &sin as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                ))?;
            }
            SocketAddr::V6(a) => {
                check(libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    one_ptr,
                    optlen,
                ))?;
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                check(libc::bind(
                    fd,
                    &sin6 as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                ))?;
            }
        }
        check(libc::listen(fd, backlog))?;
        Ok(TcpListener::from(owned))
    }
}

/// One backend connection's context.
pub struct Conn {
    /// 1-based accept order on this backend.
    pub id: usize,
    pub peer: SocketAddr,
    state: Arc<BackendState>,
}

impl Conn {
    /// Records a fact for the test (e.g. a checksum), with this
    /// connection's id.
    pub fn record(&self, text: impl Into<String>) {
        let mut g = self.state.log.lock().unwrap();
        g.records.push((self.id, text.into()));
        self.state.cond.notify_all();
    }

    pub fn stopping(&self) -> bool {
        self.state.stop.load(Ordering::SeqCst)
    }
}

/// What happened on a backend, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Open(usize),
    Closed(usize),
}

#[derive(Default)]
struct BackendLog {
    events: Vec<Event>,
    records: Vec<(usize, String)>,
}

#[derive(Default)]
struct BackendState {
    stop: AtomicBool,
    accepted: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// Clones of open connections, to shut them down when the backend stops;
    /// removed (closing the socket) when the handler returns.
    conns: Mutex<std::collections::HashMap<usize, TcpStream>>,
    log: Mutex<BackendLog>,
    cond: Condvar,
}

pub type Handler = Arc<dyn Fn(TcpStream, &Conn) + Send + Sync>;

/// A test server: an accept thread and one thread per connection running the
/// handler. Dropping it stops accepting and shuts every connection down.
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    state: Arc<BackendState>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// Listens on `bind` (port 0: the kernel picks, and the backend holds the
    /// port from then on) and runs `handler` for each connection.
    pub fn spawn_on(
        name: &str,
        bind: SocketAddr,
        handler: impl Fn(TcpStream, &Conn) + Send + Sync + 'static,
    ) -> Backend {
        // A deep accept queue, like a real server's: bursts of connects from
        // the proxy must not be dropped (and retried) by the test backend.
        let listener = listen_with_backlog(bind, 4096)
            .unwrap_or_else(|e| panic!("backend {name} bind {bind}: {e}"));
        Backend::from_listener(name, listener, Arc::new(handler))
    }

    pub fn spawn(
        name: &str,
        handler: impl Fn(TcpStream, &Conn) + Send + Sync + 'static,
    ) -> Backend {
        Backend::spawn_on(name, SocketAddr::new(LOCALHOST, 0), handler)
    }

    fn from_listener(name: &str, listener: TcpListener, handler: Handler) -> Backend {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(BackendState::default());
        let st = state.clone();
        let bname = name.to_string();
        let accept_thread = thread::Builder::new()
            .name(format!("backend-{name}"))
            .spawn(move || {
                while !st.stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, peer)) => {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_nodelay(true);
                            let _ = stream.set_read_timeout(Some(BACKEND_IO_TIMEOUT));
                            let _ = stream.set_write_timeout(Some(BACKEND_IO_TIMEOUT));
                            let id = st.accepted.fetch_add(1, Ordering::SeqCst) + 1;
                            let now = st.active.fetch_add(1, Ordering::SeqCst) + 1;
                            st.max_active.fetch_max(now, Ordering::SeqCst);
                            if let Ok(c) = stream.try_clone() {
                                st.conns.lock().unwrap().insert(id, c);
                            }
                            {
                                let mut g = st.log.lock().unwrap();
                                g.events.push(Event::Open(id));
                                st.cond.notify_all();
                            }
                            let conn = Conn {
                                id,
                                peer,
                                state: st.clone(),
                            };
                            let h = handler.clone();
                            let spawned = thread::Builder::new()
                                .name(format!("{bname}-conn{id}"))
                                .stack_size(256 * 1024)
                                .spawn(move || {
                                    let c = conn;
                                    h(stream, &c);
                                    // Drop the clone too: only then is the
                                    // socket really closed.
                                    c.state.conns.lock().unwrap().remove(&c.id);
                                    c.state.active.fetch_sub(1, Ordering::SeqCst);
                                    let mut g = c.state.log.lock().unwrap();
                                    g.events.push(Event::Closed(c.id));
                                    c.state.cond.notify_all();
                                });
                            if spawned.is_err() {
                                eprintln!("backend {bname}: cannot spawn a connection thread");
                            }
                        }
                        Err(e) if is_timeout(&e) => thread::sleep(Duration::from_millis(2)),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("backend {bname}: accept: {e}");
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
            .expect("spawn backend accept thread");
        Backend {
            addr,
            name: name.to_string(),
            state,
            accept_thread: Some(accept_thread),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections whose handler has not finished.
    pub fn active(&self) -> usize {
        self.state.active.load(Ordering::SeqCst)
    }

    /// Most connections open at once.
    pub fn max_active(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }

    pub fn events(&self) -> Vec<Event> {
        self.state.log.lock().unwrap().events.clone()
    }

    pub fn records(&self) -> Vec<(usize, String)> {
        self.state.log.lock().unwrap().records.clone()
    }

    /// Waits until the backend log satisfies `pred`.
    fn wait_log(&self, timeout: Duration, pred: impl Fn(&BackendLog) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.state.log.lock().unwrap();
        loop {
            if pred(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.state.cond.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Waits until at least `n` records exist; returns them all.
    pub fn wait_records(&self, n: usize, timeout: Duration) -> Vec<(usize, String)> {
        if !self.wait_log(timeout, |l| l.records.len() >= n) {
            panic!(
                "backend {}: expected {n} records within {timeout:?}, have {:?} (events {:?})",
                self.name,
                self.records(),
                self.events()
            );
        }
        self.records()
    }

    /// Waits until `n` connections were accepted.
    pub fn wait_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_log(timeout, |l| {
            l.events
                .iter()
                .filter(|e| matches!(e, Event::Open(_)))
                .count()
                >= n
        })
    }

    /// Waits until connection `id`'s handler finished.
    pub fn wait_conn_closed(&self, id: usize, timeout: Duration) -> bool {
        self.wait_log(timeout, |l| l.events.contains(&Event::Closed(id)))
    }

    /// Waits until no handler is running.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        wait_for(timeout, || self.active() == 0)
    }

    // ----- ready-made behaviours -----

    /// Echoes everything; closes after the peer's EOF.
    pub fn echo(name: &str) -> Backend {
        Backend::spawn(name, |s, _| echo_loop(s))
    }

    pub fn echo_on(name: &str, bind: SocketAddr) -> Backend {
        Backend::spawn_on(name, bind, |s, _| echo_loop(s))
    }

    /// Writes `NAME\n` on accept, then echoes.
    pub fn hello(name: &str) -> Backend {
        let n = name.to_string();
        Backend::spawn(name, move |mut s, _| {
            if s.write_all(format!("{n}\n").as_bytes()).is_ok() {
                echo_loop(s);
            }
        })
    }

    /// Reads until EOF, then records and writes back `BYTES FNV\n` and
    /// closes.
    pub fn sink(name: &str) -> Backend {
        Backend::spawn(name, |mut s, c| {
            let mut f = Fnv::new();
            let mut n = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        f.update(&buf[..k]);
                        n += k as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.record(format!("error after {n} bytes: {e}"));
                        return;
                    }
                }
            }
            c.record(format!("{n} {:016x}", f.0));
            let _ = s.write_all(format!("{n} {:016x}\n", f.0).as_bytes());
        })
    }

    /// Writes `pattern(seed, len)`, then FIN; then drains until EOF.
    pub fn source(name: &str, seed: u64, len: usize) -> Backend {
        let data = Arc::new(pattern(seed, len));
        Backend::spawn(name, move |mut s, c| {
            if let Err(e) = s.write_all(&data) {
                c.record(format!("write error: {e}"));
                return;
            }
            let _ = s.shutdown(Shutdown::Write);
            c.record("sent");
            drain(&mut s);
        })
    }

    /// Reads a PROXY header (v1 or v2) with [`read_proxy_header`], records
    /// its description (or `error: ...`), writes the description and `\n`
    /// back, then echoes what follows the header.
    pub fn proxy_capture(name: &str) -> Backend {
        Backend::spawn(name, |mut s, c| match read_proxy_header(&mut s) {
            Ok(h) => {
                let d = h.to_string();
                c.record(d.clone());
                if s.write_all(format!("{d}\n").as_bytes()).is_ok() {
                    echo_loop(s);
                }
            }
            Err(e) => {
                c.record(format!("error: {e}"));
                let _ = s.write_all(format!("error: {e}\n").as_bytes());
            }
        })
    }

    pub fn proxy_capture_on(name: &str, bind: SocketAddr) -> Backend {
        Backend::spawn_on(name, bind, |mut s, c| match read_proxy_header(&mut s) {
            Ok(h) => {
                let d = h.to_string();
                c.record(d.clone());
                if s.write_all(format!("{d}\n").as_bytes()).is_ok() {
                    echo_loop(s);
                }
            }
            Err(e) => {
                c.record(format!("error: {e}"));
                let _ = s.write_all(format!("error: {e}\n").as_bytes());
            }
        })
    }

    /// Accepts and never reads nor writes, until the backend is dropped.
    pub fn black_hole(name: &str) -> Backend {
        Backend::spawn(name, |s, c| {
            while !c.stopping() {
                thread::sleep(Duration::from_millis(10));
            }
            drop(s);
        })
    }

    /// Client-FIN-first half close: reads until EOF (records
    /// `eof BYTES FNV`), then, with its read side finished, still sends
    /// `chunks` lines `chunk I\n` 30 ms apart, then closes.
    pub fn respond_after_eof(name: &str, chunks: usize) -> Backend {
        Backend::spawn(name, move |mut s, c| {
            let mut f = Fnv::new();
            let mut n = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        f.update(&buf[..k]);
                        n += k as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.record(format!("error after {n} bytes: {e}"));
                        return;
                    }
                }
            }
            c.record(format!("eof {n} {:016x}", f.0));
            for i in 0..chunks {
                if let Err(e) = s.write_all(format!("chunk {i}\n").as_bytes()) {
                    c.record(format!("write error on chunk {i}: {e}"));
                    return;
                }
                thread::sleep(Duration::from_millis(30));
            }
        })
    }

    /// Server-FIN-first half close: writes `greeting`, sends its FIN
    /// (shutdown(WR)), then keeps reading until EOF and records
    /// `eof BYTES FNV` (or `error BYTES: E`), then closes.
    pub fn fin_first(name: &str, greeting: &str) -> Backend {
        let g = greeting.to_string();
        Backend::spawn(name, move |mut s, c| {
            if s.write_all(g.as_bytes()).is_err() {
                c.record("error 0: greeting");
                return;
            }
            let _ = s.shutdown(Shutdown::Write);
            let mut f = Fnv::new();
            let mut n = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        f.update(&buf[..k]);
                        n += k as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.record(format!("error {n}: {e}"));
                        return;
                    }
                }
            }
            c.record(format!("eof {n} {:016x}", f.0));
        })
    }

    /// Reads until EOF, records `eof BYTES`, then keeps its side open and
    /// silent until dropped.
    pub fn read_then_hold(name: &str) -> Backend {
        Backend::spawn(name, |mut s, c| {
            let n = drain(&mut s);
            c.record(format!("eof {n}"));
            while !c.stopping() {
                thread::sleep(Duration::from_millis(10));
            }
        })
    }

    /// Writes `tick\n` every `period` until the connection fails; records
    /// `ended` then.
    pub fn ticker(name: &str, period: Duration) -> Backend {
        Backend::spawn(name, move |mut s, c| {
            while !c.stopping() {
                if s.write_all(b"tick\n").is_err() {
                    break;
                }
                thread::sleep(period);
            }
            c.record("ended");
        })
    }

    pub fn stop(self) {}
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept_thread.take() {
            let _ = h.join();
        }
        for (_, c) in self.state.conns.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Echoes until EOF or error.
pub fn echo_loop(mut s: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// Reads until EOF or error; returns the byte count.
pub fn drain(s: &mut TcpStream) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return n,
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return n,
        }
    }
}

/// A listener whose accept queue is full, so that connects to it hang
/// (SYNs are dropped). Listens with backlog 0 and fills the queue with
/// connections it holds; verified on creation: a further connect does not
/// complete within 300 ms.
pub struct Unaccepting {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl Unaccepting {
    pub fn new() -> Unaccepting {
        let listener = listen_with_backlog(SocketAddr::new(LOCALHOST, 0), 0)
            .unwrap_or_else(|e| panic!("unaccepting backend: {e}"));
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        let mut hung = false;
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => fillers.push(s),
                Err(e) if is_timeout(&e) => {
                    hung = true;
                    break;
                }
                Err(e) => panic!("unaccepting backend: filler connect: {e}"),
            }
        }
        assert!(
            hung,
            "connects to a full backlog-0 listener do not hang here"
        );
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Err(e) if is_timeout(&e) => {}
            other => panic!("unaccepting backend: verification connect did not hang: {other:?}"),
        }
        Unaccepting {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }
}

// ---------------------------------------------------------------------------
// PROXY protocol: builders (client side) and an independent parser (server
// side)
// ---------------------------------------------------------------------------

pub const V2_SIG: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`.
pub fn proxy_v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let fam = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {fam} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// A v2 header, command PROXY, STREAM over INET/INET6, with `tlvs`
/// (type, value) after the addresses.
pub fn proxy_v2(src: SocketAddr, dst: SocketAddr, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    let fam = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
            0x21
        }
        _ => panic!("mixed families"),
    };
    body.extend_from_slice(&src.port().to_be_bytes());
    body.extend_from_slice(&dst.port().to_be_bytes());
    for (t, v) in tlvs {
        body.push(*t);
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
    }
    let mut h = V2_SIG.to_vec();
    h.push(0x21); // version 2, command PROXY
    h.push(fam);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&body);
    h
}

/// A parsed PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    pub version: u8,
    /// v2 LOCAL command (or v1 UNKNOWN): no addresses.
    pub local: bool,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub tlvs: Vec<(u8, Vec<u8>)>,
}

impl fmt::Display for ProxyHeader {
    /// `v1 TCP4 1.2.3.4:5 -> 6.7.8.9:10`, `v2 PROXY TCP6 [::1]:5 -> [::1]:6`,
    /// `v1 UNKNOWN`, `v2 LOCAL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = |a: &SocketAddr| if a.is_ipv4() { "TCP4" } else { "TCP6" };
        match (self.version, self.local, self.src, self.dst) {
            (1, true, _, _) => write!(f, "v1 UNKNOWN"),
            (1, false, Some(s), Some(d)) => write!(f, "v1 {} {s} -> {d}", fam(&s)),
            (2, true, _, _) => write!(f, "v2 LOCAL"),
            (2, false, Some(s), Some(d)) => write!(f, "v2 PROXY {} {s} -> {d}", fam(&s)),
            (2, false, None, None) => write!(f, "v2 PROXY UNSPEC"),
            _ => write!(f, "{self:?}"),
        }
    }
}

/// Expected description of a v1 header as [`ProxyHeader`] displays it.
pub fn describe_v1(src: SocketAddr, dst: SocketAddr) -> String {
    ProxyHeader {
        version: 1,
        local: false,
        src: Some(src),
        dst: Some(dst),
        tlvs: vec![],
    }
    .to_string()
}

/// Expected description of a v2 PROXY header as [`ProxyHeader`] displays it.
pub fn describe_v2(src: SocketAddr, dst: SocketAddr) -> String {
    ProxyHeader {
        version: 2,
        local: false,
        src: Some(src),
        dst: Some(dst),
        tlvs: vec![],
    }
    .to_string()
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), String> {
    r.read_exact(buf).map_err(|e| format!("{what}: {e}"))
}

/// Reads exactly one PROXY header (v1 or v2) from `r`, nothing past it.
pub fn read_proxy_header(r: &mut impl Read) -> Result<ProxyHeader, String> {
    let mut first = [0u8; 1];
    read_exact_or(r, &mut first, "first byte")?;
    match first[0] {
        b'P' => {
            let mut line = vec![b'P'];
            let mut b = [0u8; 1];
            loop {
                read_exact_or(r, &mut b, "v1 header")?;
                line.push(b[0]);
                if line.ends_with(b"\r\n") {
                    break;
                }
                if line.len() > 107 {
                    return Err(format!(
                        "v1 header longer than 107 bytes: {:?}",
                        String::from_utf8_lossy(&line)
                    ));
                }
            }
            parse_v1(&line[..line.len() - 2])
        }
        0x0D => {
            let mut rest = [0u8; 15];
            read_exact_or(r, &mut rest, "v2 fixed header")?;
            let mut fixed = vec![0x0D];
            fixed.extend_from_slice(&rest);
            if fixed[..12] != V2_SIG {
                return Err(format!("bad v2 signature {:02x?}", &fixed[..12]));
            }
            let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
            let mut body = vec![0u8; len];
            read_exact_or(r, &mut body, "v2 body")?;
            parse_v2(fixed[12], fixed[13], &body)
        }
        other => Err(format!("not a PROXY header (first byte {other:#04x})")),
    }
}

/// Parses a v1 line without its CRLF.
pub fn parse_v1(line: &[u8]) -> Result<ProxyHeader, String> {
    let text = std::str::from_utf8(line).map_err(|_| "v1 header is not ASCII".to_string())?;
    let parts: Vec<&str> = text.split(' ').collect();
    if parts.first() != Some(&"PROXY") {
        return Err(format!("v1 header does not start with PROXY: {text:?}"));
    }
    if parts.get(1) == Some(&"UNKNOWN") {
        return Ok(ProxyHeader {
            version: 1,
            local: true,
            src: None,
            dst: None,
            tlvs: vec![],
        });
    }
    if parts.len() != 6 {
        return Err(format!("v1 header needs 6 fields: {text:?}"));
    }
    let ip = |s: &str| -> Result<IpAddr, String> {
        match parts[1] {
            "TCP4" => s
                .parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| format!("bad IPv4 {s:?}")),
            "TCP6" => s
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| format!("bad IPv6 {s:?}")),
            p => Err(format!("bad v1 protocol {p:?}")),
        }
    };
    let port = |s: &str| -> Result<u16, String> {
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return Err(format!("bad port {s:?}"));
        }
        s.parse::<u16>().map_err(|_| format!("bad port {s:?}"))
    };
    Ok(ProxyHeader {
        version: 1,
        local: false,
        src: Some(SocketAddr::new(ip(parts[2])?, port(parts[4])?)),
        dst: Some(SocketAddr::new(ip(parts[3])?, port(parts[5])?)),
        tlvs: vec![],
    })
}

/// Parses a v2 header from its version/command byte, family byte and body.
pub fn parse_v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Result<ProxyHeader, String> {
    if ver_cmd >> 4 != 2 {
        return Err(format!("v2 version nibble {} (expected 2)", ver_cmd >> 4));
    }
    let local = match ver_cmd & 0x0F {
        0 => true,
        1 => false,
        c => return Err(format!("v2 command {c}")),
    };
    let (src, dst, addr_len) = match fam {
        0x11 => {
            if body.len() < 12 {
                return Err("v2 TCP4 body shorter than 12".into());
            }
            let s = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let d = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            let sp = u16::from_be_bytes([body[8], body[9]]);
            let dp = u16::from_be_bytes([body[10], body[11]]);
            (
                Some(SocketAddr::new(IpAddr::V4(s), sp)),
                Some(SocketAddr::new(IpAddr::V4(d), dp)),
                12,
            )
        }
        0x21 => {
            if body.len() < 36 {
                return Err("v2 TCP6 body shorter than 36".into());
            }
            let s: [u8; 16] = body[0..16].try_into().unwrap();
            let d: [u8; 16] = body[16..32].try_into().unwrap();
            let sp = u16::from_be_bytes([body[32], body[33]]);
            let dp = u16::from_be_bytes([body[34], body[35]]);
            (
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(s)), sp)),
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(d)), dp)),
                36,
            )
        }
        0x00 => (None, None, 0),
        f => return Err(format!("v2 family/protocol byte {f:#04x} unsupported here")),
    };
    let mut tlvs = Vec::new();
    let mut rest = &body[addr_len..];
    while !rest.is_empty() {
        if rest.len() < 3 {
            return Err(format!("truncated TLV header ({} bytes left)", rest.len()));
        }
        let t = rest[0];
        let l = u16::from_be_bytes([rest[1], rest[2]]) as usize;
        if rest.len() < 3 + l {
            return Err(format!("TLV {t:#04x} of length {l} overruns the header"));
        }
        tlvs.push((t, rest[3..3 + l].to_vec()));
        rest = &rest[3 + l..];
    }
    if local {
        return Ok(ProxyHeader {
            version: 2,
            local: true,
            src: None,
            dst: None,
            tlvs,
        });
    }
    Ok(ProxyHeader {
        version: 2,
        local: false,
        src,
        dst,
        tlvs,
    })
}

// ---------------------------------------------------------------------------
// Configuration snippets
// ---------------------------------------------------------------------------

/// `global` with `nbthread N` and a `defaults` section in TCP mode with
/// connect 1s / client 10s / server 10s, followed by `body`.
pub fn tcp_config(nbthread: usize, body: &str) -> String {
    format!(
        "global\n    nbthread {nbthread}\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n{body}\n"
    )
}

/// `host:port` as written in a configuration (`[v6]:port` for IPv6).
pub fn cfg_addr(a: SocketAddr) -> String {
    a.to_string()
}

// ---------------------------------------------------------------------------
// HTTP: a test server, a client with exact control of the bytes, configs
// ---------------------------------------------------------------------------

/// Bound on one whole HTTP message read by [`HttpClient`] or the test server.
pub const HTTP_MSG_BOUND: Duration = Duration::from_secs(20);

/// Buffered reads over a socket, with every read bounded by the socket's
/// read timeout and all of them by a deadline.
pub struct ByteReader {
    pub s: TcpStream,
    pub buf: Vec<u8>,
    pub pos: usize,
}

impl ByteReader {
    pub fn new(s: TcpStream) -> ByteReader {
        ByteReader {
            s,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Bytes read from the socket and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes; Ok(0) at EOF.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut tmp = [0u8; 64 * 1024];
        loop {
            match self.s.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn eof_err(what: &str, got: &[u8]) -> io::Error {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            format!(
                "EOF while reading {what} (after {:?})",
                String::from_utf8_lossy(&got[..got.len().min(300)])
            ),
        )
    }

    /// A head up to and including its empty line (CRLF CRLF, or LF LF).
    /// Ok(None): clean EOF before any byte.
    pub fn read_head(&mut self, limit: usize, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
        loop {
            let b = self.buffered();
            let end = find_subslice(b, b"\r\n\r\n")
                .map(|i| i + 4)
                .or_else(|| find_subslice(b, b"\n\n").map(|i| i + 2));
            if let Some(end) = end {
                let head = b[..end].to_vec();
                self.pos += end;
                return Ok(Some(head));
            }
            if b.len() > limit {
                return Err(io::Error::new(ErrorKind::InvalidData, "head too large"));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "head not complete in time",
                ));
            }
            if self.fill()? == 0 {
                if self.buffered().is_empty() {
                    return Ok(None);
                }
                return Err(Self::eof_err("a head", self.buffered()));
            }
        }
    }

    /// One line, without its CRLF (or LF).
    pub fn read_line(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        loop {
            let b = self.buffered();
            if let Some(i) = b.iter().position(|&c| c == b'\n') {
                let mut line = b[..i].to_vec();
                self.pos += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if b.len() > 64 * 1024 {
                return Err(io::Error::new(ErrorKind::InvalidData, "line too long"));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "line not complete in time",
                ));
            }
            if self.fill()? == 0 {
                return Err(Self::eof_err("a line", self.buffered()));
            }
        }
    }

    /// Exactly `n` bytes, handed to `sink` piece by piece.
    pub fn read_exact_to(
        &mut self,
        mut n: u64,
        deadline: Instant,
        mut sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        while n > 0 {
            if self.buffered().is_empty() {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        ErrorKind::TimedOut,
                        "body not complete in time",
                    ));
                }
                if self.fill()? == 0 {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!("EOF with {n} body bytes missing"),
                    ));
                }
                continue;
            }
            let b = self.buffered();
            let k = (b.len() as u64).min(n) as usize;
            sink(&b[..k]);
            self.pos += k;
            n -= k as u64;
        }
        Ok(())
    }

    /// Everything until EOF, handed to `sink`.
    pub fn read_to_eof_to(
        &mut self,
        deadline: Instant,
        mut sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        loop {
            if !self.buffered().is_empty() {
                sink(self.buffered());
                self.pos = self.buf.len();
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(ErrorKind::TimedOut, "no EOF in time"));
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    /// A chunked body: (payload handed to `sink`; the raw framing, payload
    /// included, to `raw`), returns the trailer section (without the final
    /// empty line).
    pub fn read_chunked_to(
        &mut self,
        deadline: Instant,
        mut sink: impl FnMut(&[u8]),
        mut raw: impl FnMut(&[u8]),
    ) -> io::Result<String> {
        loop {
            let line = self.read_line(deadline)?;
            raw(&line);
            raw(b"\r\n");
            let text = String::from_utf8_lossy(&line).into_owned();
            let size_txt = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_txt, 16).map_err(|_| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!("bad chunk size line {text:?}"),
                )
            })?;
            if size == 0 {
                let mut trailers = String::new();
                loop {
                    let t = self.read_line(deadline)?;
                    raw(&t);
                    raw(b"\r\n");
                    if t.is_empty() {
                        return Ok(trailers);
                    }
                    trailers.push_str(&String::from_utf8_lossy(&t));
                    trailers.push_str("\r\n");
                }
            }
            self.read_exact_to(size, deadline, |b| {
                sink(b);
                raw(b);
            })?;
            let end = self.read_line(deadline)?;
            if !end.is_empty() {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "chunk not followed by CRLF: {:?}",
                        String::from_utf8_lossy(&end)
                    ),
                ));
            }
            raw(b"\r\n");
        }
    }
}

pub fn find_subslice(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    h.windows(n.len()).position(|w| w == n)
}

/// A parsed head: start line split in three, fields in order.
#[derive(Debug, Clone, Default)]
pub struct ParsedHead {
    pub start: [String; 3],
    pub headers: Vec<(String, String)>,
}

/// Splits a head (lenient: only for reading what the peer sent).
pub fn parse_head(head: &[u8]) -> ParsedHead {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("");
    let mut parts = first.splitn(3, ' ');
    let start = [
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    ];
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.to_string(), v.trim().to_string()));
        } else {
            headers.push((l.to_string(), String::new()));
        }
    }
    ParsedHead { start, headers }
}

impl ParsedHead {
    /// First value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a comma-separated field `name` holds `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// One request as the HTTP test server received it.
#[derive(Debug, Clone)]
pub struct HttpSeen {
    /// Backend connection id (1-based accept order on this server).
    pub conn: usize,
    /// Request number on that connection (1-based).
    pub seq: usize,
    pub method: String,
    pub target: String,
    pub version: String,
    /// The head exactly as received.
    pub head: Vec<u8>,
    pub parsed: ParsedHead,
    pub chunked: bool,
    /// Decoded body length and FNV-1a.
    pub body_len: u64,
    pub body_fnv: u64,
    /// The first 64 KiB of the body as received (chunk framing included).
    pub raw_body: Vec<u8>,
    pub trailers: String,
}

impl HttpSeen {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn head_str(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

/// Options of an [`HttpBackend`].
#[derive(Debug, Clone, Default)]
pub struct HttpOpts {
    /// Close a connection idle (between requests) this long.
    pub idle_close: Option<Duration>,
    /// Close a connection after this many requests (answering the last one
    /// with `Connection: close`).
    pub max_requests: Option<usize>,
}

#[derive(Default)]
struct HttpState {
    seen: Mutex<Vec<HttpSeen>>,
    cond: Condvar,
}

/// An HTTP/1.1 test server (thread per connection). Each answer's body is
/// `server=NAME conn=C req=R path=P body=LEN fnv=HEX\n` (C: this server's
/// connection id, R: request number on that connection) unless the path
/// asks for something else:
///
/// - `/echo-headers`: the body is the request head exactly as received.
/// - `/chunked`: a chunked body with chunk extensions and a trailer
///   ([`HTTP_CHUNKED_BODY`]).
/// - `/close-delimited`: no framing, the body ends with the connection.
/// - `/status/N`: status N (204 and 304 without a body; 304 with a
///   `Content-Length: 42` that announces none).
/// - `/delay/MS/...`: waits MS milliseconds before answering.
/// - `/download/N`: N bytes of `pattern(N, N)` with Content-Length;
///   `/download-chunked/N`: the same, chunked.
/// - `/early-hints`: a 103 before the 200.
/// - `/upgrade`: with an `Upgrade` request field, 101 then echoes both ways.
/// - `/conn-close`: answers with `Connection: close` and closes.
/// - `/extra-after-body`: answers `ok` (Content-Length 2) followed by 5
///   stray bytes.
/// - broken answers: `/bad-status`, `/bad-header`, `/garbage`,
///   `/truncated` (Content-Length 100, 10 bytes, FIN), `/truncated-chunked`,
///   `/bad-chunk` (head and a chunk, then an invalid chunk size),
///   `/close-now` (FIN without answer), `/reset` (RST without answer),
///   `/reset-mid-body` (head and part of the body, then RST),
///   `/dup-cl` (two different Content-Length values), `/big-head` (a 64 KiB
///   header).
///
/// `Expect: 100-continue` gets a `100 Continue` before the body is read
/// (unless the path contains `no-continue`). HEAD gets the head GET would
/// get. A request with `Connection: close` is answered with
/// `Connection: close`, then the connection is closed.
pub struct HttpBackend {
    pub backend: Backend,
    pub addr: SocketAddr,
    pub name: String,
    state: Arc<HttpState>,
}

/// The chunked body `/chunked` sends, byte for byte.
pub const HTTP_CHUNKED_BODY: &[u8] = b"5;name=value\r\nhello\r\n7;ext\r\n, world\r\nA\r\n0123456789\r\n0;last\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n";
/// The payload of [`HTTP_CHUNKED_BODY`].
pub const HTTP_CHUNKED_PAYLOAD: &[u8] = b"hello, world0123456789";

impl HttpBackend {
    pub fn start(name: &str) -> HttpBackend {
        HttpBackend::with_opts(name, HttpOpts::default())
    }

    pub fn with_opts(name: &str, opts: HttpOpts) -> HttpBackend {
        let state = Arc::new(HttpState::default());
        let st = state.clone();
        let n = name.to_string();
        let backend = Backend::spawn(name, move |s, c| http_serve(s, c, &n, &opts, &st));
        HttpBackend {
            addr: backend.addr,
            name: name.to_string(),
            backend,
            state,
        }
    }

    /// Requests received so far, in order.
    pub fn seen(&self) -> Vec<HttpSeen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Targets of the requests received so far.
    pub fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|r| r.target).collect()
    }

    /// Waits until `n` requests were received; panics after `timeout`.
    pub fn wait_seen(&self, n: usize, timeout: Duration) -> Vec<HttpSeen> {
        let deadline = Instant::now() + timeout;
        let mut g = self.state.seen.lock().unwrap();
        while g.len() < n {
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "backend {}: expected {n} requests within {timeout:?}, got {:?}",
                    self.name,
                    g.iter().map(|r| r.target.clone()).collect::<Vec<_>>()
                );
            }
            g = self.state.cond.wait_timeout(g, deadline - now).unwrap().0;
        }
        g.clone()
    }

    pub fn accepted(&self) -> usize {
        self.backend.accepted()
    }

    pub fn active(&self) -> usize {
        self.backend.active()
    }

    pub fn events(&self) -> Vec<Event> {
        self.backend.events()
    }
}

fn http_write(s: &mut TcpStream, bytes: &[u8]) -> bool {
    s.write_all(bytes).is_ok()
}

fn rst_close(s: TcpStream) {
    unsafe {
        use std::os::fd::AsRawFd;
        let lg = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &lg as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// Closes `s` with a reset (SO_LINGER 0).
pub fn reset_close(s: TcpStream) {
    rst_close(s)
}

fn http_serve(s: TcpStream, c: &Conn, name: &str, opts: &HttpOpts, st: &HttpState) {
    let mut r = ByteReader::new(s);
    let mut seq = 0usize;
    loop {
        if let Some(idle) = opts.idle_close {
            let _ = r.s.set_read_timeout(Some(idle));
        }
        // Wait for the first byte of the next request under idle_close.
        if r.buffered().is_empty() {
            match r.fill() {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
        let _ = r.s.set_read_timeout(Some(BACKEND_IO_TIMEOUT));
        let deadline = Instant::now() + BACKEND_IO_TIMEOUT;
        let head = match r.read_head(1 << 20, deadline) {
            Ok(Some(h)) => h,
            Ok(None) | Err(_) => return,
        };
        seq += 1;
        let p = parse_head(&head);
        let method = p.start[0].clone();
        let target = p.start[1].clone();
        let path = target.split('?').next().unwrap_or("").to_string();
        let chunked = p
            .headers_named("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        let cl: Option<u64> = p.header("content-length").and_then(|v| v.parse().ok());
        let wants_close = p.has_token("connection", "close") || p.start[2] == "HTTP/1.0";
        let has_body = chunked || cl.is_some_and(|n| n > 0);
        if has_body
            && p.has_token("expect", "100-continue")
            && !path.contains("no-continue")
            && !http_write(&mut r.s, b"HTTP/1.1 100 Continue\r\n\r\n")
        {
            return;
        }
        let mut f = Fnv::new();
        let mut len = 0u64;
        let mut raw = Vec::new();
        let mut trailers = String::new();
        let body_ok = if chunked {
            match r.read_chunked_to(
                deadline,
                |b| {
                    f.update(b);
                    len += b.len() as u64;
                },
                |b| {
                    if raw.len() < 64 * 1024 {
                        raw.extend_from_slice(b);
                    }
                },
            ) {
                Ok(t) => {
                    trailers = t;
                    true
                }
                Err(_) => false,
            }
        } else if let Some(n) = cl {
            r.read_exact_to(n, deadline, |b| {
                f.update(b);
                len += b.len() as u64;
                if raw.len() < 64 * 1024 {
                    raw.extend_from_slice(b);
                }
            })
            .is_ok()
        } else {
            true
        };
        {
            let mut g = st.seen.lock().unwrap();
            g.push(HttpSeen {
                conn: c.id,
                seq,
                method: method.clone(),
                target: target.clone(),
                version: p.start[2].clone(),
                head: head.clone(),
                parsed: p.clone(),
                chunked,
                body_len: len,
                body_fnv: f.0,
                raw_body: raw,
                trailers,
            });
            st.cond.notify_all();
        }
        if !body_ok {
            return;
        }
        let last = wants_close || opts.max_requests.is_some_and(|m| seq >= m);
        let mut rest = path.as_str();
        if let Some(d) = rest.strip_prefix("/delay/") {
            let (ms, tail) = match d.find('/') {
                Some(i) => (&d[..i], &d[i..]),
                None => (d, "/"),
            };
            let ms: u64 = ms.parse().unwrap_or(0);
            thread::sleep(Duration::from_millis(ms.min(20_000)));
            rest = tail;
        }
        let is_head = method == "HEAD";
        let conn_hdr = if last { "Connection: close\r\n" } else { "" };
        let ident = format!(
            "server={name} conn={} req={seq} path={path} body={len} fnv={:016x}\n",
            c.id, f.0
        );
        let simple = |s: &mut TcpStream, status: &str, body: &[u8], extra: &str| -> bool {
            let h = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nX-Served-By: {name}\r\n{extra}{conn_hdr}\r\n",
                body.len()
            );
            let mut out = h.into_bytes();
            if !is_head {
                out.extend_from_slice(body);
            }
            http_write(s, &out)
        };
        let ok = match rest {
            "/echo-headers" => simple(&mut r.s, "200 OK", &head, ""),
            "/chunked" => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\nX-Served-By: {name}\r\n{conn_hdr}\r\n"
                )
                .into_bytes();
                if !is_head {
                    out.extend_from_slice(HTTP_CHUNKED_BODY);
                }
                http_write(&mut r.s, &out)
            }
            "/close-delimited" => {
                let mut out =
                    format!("HTTP/1.1 200 OK\r\nX-Served-By: {name}\r\n\r\n").into_bytes();
                if !is_head {
                    out.extend_from_slice(ident.as_bytes());
                    out.extend_from_slice(b"close-delimited end\n");
                }
                let _ = http_write(&mut r.s, &out);
                return;
            }
            "/early-hints" => {
                http_write(
                    &mut r.s,
                    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
                ) && simple(&mut r.s, "200 OK", ident.as_bytes(), "")
            }
            "/upgrade" if p.header("upgrade").is_some() => {
                let h = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: {}\r\nConnection: Upgrade\r\nX-Served-By: {name}\r\n\r\n",
                    p.header("upgrade").unwrap_or("")
                );
                if !http_write(&mut r.s, h.as_bytes()) {
                    return;
                }
                let early = r.buffered().to_vec();
                r.pos = r.buf.len();
                if !early.is_empty() && !http_write(&mut r.s, &early) {
                    return;
                }
                let s = r.s.try_clone().expect("clone");
                echo_loop(s);
                return;
            }
            "/conn-close" => {
                let _ = simple(
                    &mut r.s,
                    "200 OK",
                    ident.as_bytes(),
                    "Connection: close\r\n",
                );
                return;
            }
            "/extra-after-body" => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Served-By: {name}\r\n{conn_hdr}\r\n"
                )
                .into_bytes();
                if !is_head {
                    out.extend_from_slice(b"okXTRA!");
                }
                http_write(&mut r.s, &out)
            }
            "/bad-status" => {
                let _ = http_write(&mut r.s, b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok");
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/bad-header" => {
                let _ = http_write(
                    &mut r.s,
                    b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok",
                );
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/garbage" => {
                let _ = http_write(&mut r.s, b"this is not http\r\n\r\n");
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/dup-cl" => {
                let _ = http_write(
                    &mut r.s,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
                );
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/big-head" => {
                let mut out = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
                out.extend(std::iter::repeat_n(b'a', 64 * 1024));
                out.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
                let _ = http_write(&mut r.s, &out);
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/truncated" => {
                let _ = http_write(
                    &mut r.s,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
                );
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/truncated-chunked" => {
                let _ = http_write(
                    &mut r.s,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                );
                thread::sleep(Duration::from_millis(50));
                return;
            }
            "/bad-chunk" => {
                let _ = http_write(
                    &mut r.s,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n",
                );
                // Keep the connection open: the proxy must cut it itself.
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline && !c.stopping() {
                    match r.fill() {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if is_timeout(&e) => {}
                        Err(_) => break,
                    }
                }
                return;
            }
            "/close-now" => return,
            "/reset" => {
                let s = r.s.try_clone().expect("clone");
                drop(r);
                rst_close(s);
                return;
            }
            "/reset-mid-body" => {
                let _ = http_write(
                    &mut r.s,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789",
                );
                thread::sleep(Duration::from_millis(100));
                let s = r.s.try_clone().expect("clone");
                drop(r);
                rst_close(s);
                return;
            }
            _ => {
                if let Some(code) = rest.strip_prefix("/status/") {
                    let code: u16 = code.parse().unwrap_or(500);
                    let reason = match code {
                        200 => "OK",
                        204 => "No Content",
                        304 => "Not Modified",
                        404 => "Not Found",
                        _ => "Whatever",
                    };
                    match code {
                        204 => http_write(
                            &mut r.s,
                            format!("HTTP/1.1 204 No Content\r\nX-Served-By: {name}\r\n{conn_hdr}\r\n")
                                .as_bytes(),
                        ),
                        304 => http_write(
                            &mut r.s,
                            format!(
                                "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nX-Served-By: {name}\r\n{conn_hdr}\r\n"
                            )
                            .as_bytes(),
                        ),
                        _ => simple(&mut r.s, &format!("{code} {reason}"), ident.as_bytes(), ""),
                    }
                } else if let Some(n) = rest.strip_prefix("/download/") {
                    let n: usize = n.parse().unwrap_or(0);
                    let data = pattern(n as u64, n);
                    simple(&mut r.s, "200 OK", &data, "")
                } else if let Some(n) = rest.strip_prefix("/download-chunked/") {
                    let n: usize = n.parse().unwrap_or(0);
                    let data = pattern(n as u64, n);
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Served-By: {name}\r\n{conn_hdr}\r\n"
                    )
                    .into_bytes();
                    if !is_head {
                        for piece in data.chunks(16 * 1024 + 7) {
                            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                            out.extend_from_slice(piece);
                            out.extend_from_slice(b"\r\n");
                        }
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    http_write(&mut r.s, &out)
                } else {
                    simple(&mut r.s, "200 OK", ident.as_bytes(), "")
                }
            }
        };
        if !ok || last {
            return;
        }
    }
}

/// A response as the client received it.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// The head exactly as received.
    pub head: Vec<u8>,
    pub parsed: ParsedHead,
    /// The decoded body.
    pub body: Vec<u8>,
    /// The body as received (chunk framing included); empty for a
    /// Content-Length or close-delimited body (then `body` is it).
    pub raw_chunked: Vec<u8>,
    pub trailers: String,
    pub chunked: bool,
    /// The body ended with the connection.
    pub close_delimited: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parsed.header(name)
    }

    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.parsed.has_token(name, token)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn head_str(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The status line, without CRLF.
    pub fn status_line(&self) -> String {
        let h = self.head_str();
        h.lines().next().unwrap_or("").to_string()
    }

    /// `key=value` out of the test server's identification body.
    pub fn field(&self, key: &str) -> Option<String> {
        let b = self.body_str();
        b.split_whitespace().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    /// The test server's connection id of this answer (`conn=`).
    pub fn conn_id(&self) -> usize {
        self.field("conn")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no conn= in body {:?}", self.body_str()))
    }

    pub fn server(&self) -> String {
        self.field("server")
            .unwrap_or_else(|| panic!("no server= in body {:?}", self.body_str()))
    }
}

/// A client connection with a read buffer, so pipelined responses are read
/// one at a time and nothing received is lost.
pub struct HttpClient {
    pub r: ByteReader,
}

impl HttpClient {
    pub fn connect(addr: SocketAddr) -> HttpClient {
        HttpClient {
            r: ByteReader::new(connect(addr)),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.r.s
    }

    /// Writes all of `bytes` (panics on error).
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.r
            .s
            .write_all(bytes.as_ref())
            .unwrap_or_else(|e| panic!("write to proxy: {e}"));
    }

    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.r.s.write_all(bytes.as_ref())
    }

    /// Reads one response (an interim 1xx one too). `head_request`: the
    /// request was HEAD (no body whatever the fields say).
    pub fn read_response(&mut self, head_request: bool) -> io::Result<HttpResponse> {
        let deadline = Instant::now() + HTTP_MSG_BOUND;
        let head = self
            .r
            .read_head(1 << 20, deadline)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "EOF instead of a response"))?;
        let parsed = parse_head(&head);
        let mut rsp = HttpResponse {
            version: parsed.start[0].clone(),
            status: parsed.start[1].parse().unwrap_or(0),
            reason: parsed.start[2].clone(),
            head,
            parsed,
            ..Default::default()
        };
        let st = rsp.status;
        if head_request || (100..200).contains(&st) || st == 204 || st == 304 {
            return Ok(rsp);
        }
        let chunked = rsp
            .parsed
            .headers_named("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        let mut body = Vec::new();
        if chunked {
            let mut raw = Vec::new();
            rsp.trailers = self.r.read_chunked_to(
                deadline,
                |b| body.extend_from_slice(b),
                |b| raw.extend_from_slice(b),
            )?;
            rsp.raw_chunked = raw;
            rsp.chunked = true;
        } else if let Some(cl) = rsp.header("content-length") {
            let n: u64 = cl.parse().map_err(|_| {
                io::Error::new(ErrorKind::InvalidData, format!("bad content-length {cl:?}"))
            })?;
            self.r
                .read_exact_to(n, deadline, |b| body.extend_from_slice(b))?;
        } else {
            self.r
                .read_to_eof_to(deadline, |b| body.extend_from_slice(b))?;
            rsp.close_delimited = true;
        }
        rsp.body = body;
        Ok(rsp)
    }

    /// Reads responses until a final one: (interim ones, final one).
    pub fn read_final(
        &mut self,
        head_request: bool,
    ) -> io::Result<(Vec<HttpResponse>, HttpResponse)> {
        let mut interim = Vec::new();
        loop {
            let r = self.read_response(head_request)?;
            if (100..200).contains(&r.status) && r.status != 101 {
                interim.push(r);
                continue;
            }
            return Ok((interim, r));
        }
    }

    /// Reads a final response or panics with `what`.
    pub fn expect_response(&mut self, what: &str) -> HttpResponse {
        self.read_final(false)
            .unwrap_or_else(|e| panic!("{what}: no response: {e}"))
            .1
    }

    /// `GET path HTTP/1.1` with `Host: test` and `extra` fields (each
    /// ending in CRLF); returns the final response.
    pub fn get(&mut self, path: &str, extra: &str) -> HttpResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n"));
        self.expect_response(&format!("GET {path}"))
    }

    /// Expects the proxy to close the connection within `within` with
    /// nothing more to read (bytes left unread count as received data).
    pub fn expect_closed(&mut self, within: Duration) -> Closed {
        let mut c = expect_closed(&mut self.r.s, within);
        let mut data = self.r.buffered().to_vec();
        self.r.pos = self.r.buf.len();
        data.extend_from_slice(&c.data);
        c.data = data;
        c
    }

    /// Asserts the connection stays open and silent for `dur`.
    pub fn assert_open(&mut self, dur: Duration, what: &str) {
        assert!(
            self.r.buffered().is_empty(),
            "{what}: unexpected buffered bytes {:?}",
            String::from_utf8_lossy(self.r.buffered())
        );
        assert_open_and_silent(&mut self.r.s, dur, what);
    }
}

/// `GET path HTTP/1.1` request bytes with `Host: test` and `extra` fields.
pub fn get_req(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n")
}

/// `global` (nbthread, then `global_extra` lines) and `defaults` in HTTP
/// mode with connect 1s / client 10s / server 10s, then `body`.
pub fn http_config(nbthread: usize, global_extra: &str, body: &str) -> String {
    format!(
        "global\n    nbthread {nbthread}\n{global_extra}\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n{body}\n"
    )
}

/// A `listen px` section on 127.0.0.1:`port` with `extra` lines (indented
/// by the caller or not) and one `server` line per (name, address).
pub fn http_listen(port: u16, extra: &str, servers: &[(&str, SocketAddr)]) -> String {
    let mut s = format!("listen px\n    bind 127.0.0.1:{port}\n");
    for l in extra.lines() {
        if !l.trim().is_empty() {
            s.push_str("    ");
            s.push_str(l.trim());
            s.push('\n');
        }
    }
    for (n, a) in servers {
        s.push_str(&format!("    server {n} {}\n", cfg_addr(*a)));
    }
    s
}

/// A proxy on a fresh port: one `listen` section (see [`http_listen`]) with
/// `nbthread` shards and `global_extra` lines.
pub fn start_http_proxy(
    nbthread: usize,
    global_extra: &str,
    extra: &str,
    servers: &[(&str, SocketAddr)],
) -> (Proxy, SocketAddr) {
    let port = free_port();
    let cfg = http_config(nbthread, global_extra, &http_listen(port, extra, servers));
    let p = Proxy::start(&cfg);
    (p, SocketAddr::new(LOCALHOST, port))
}

/// Bound on "the proxy closes the connection right after its own answer"
/// (shorter than [`CLOSE_BOUND`] so that a proxy that forgets to close fails
/// fast).
pub const ANSWER_CLOSE_BOUND: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// The proxy's stdout on its own (access log tests)
// ---------------------------------------------------------------------------

impl ProxyBuilder {
    /// Like [`ProxyBuilder::start`], except that the child's stdout goes to
    /// its own [`LogBuf`] (returned) instead of being merged with stderr:
    /// [`Proxy::log`] then holds stderr only. For `log stdout` targets.
    pub fn start_with_stdout(self) -> (Proxy, LogBuf) {
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
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        let log = LogBuf::default();
        let out = LogBuf::default();
        let readers = vec![
            log.spawn_reader(child.stderr.take().unwrap()),
            out.spawn_reader(child.stdout.take().unwrap()),
        ];
        let mut p = Proxy {
            child: Some(child),
            log,
            readers,
            shards: 0,
            config_paths: paths,
            configs: self.configs,
            _dir: dir,
        };
        if let Err(why) = p.wait_ready(READY_TIMEOUT) {
            panic!("ringproxy did not become ready: {why}");
        }
        (p, out)
    }
}
// Health checks: a server whose answers and listening can be switched
// ---------------------------------------------------------------------------

/// One request a [`FlipServer`] answered.
#[derive(Debug, Clone)]
pub struct FlipHit {
    pub at: Instant,
    /// `GET /health HTTP/1.1`.
    pub request_line: String,
    /// The request head as received.
    pub head: String,
    /// The status it was answered with.
    pub status: u16,
}

struct FlipState {
    status: std::sync::atomic::AtomicU16,
    body: Mutex<String>,
    hits: Mutex<Vec<FlipHit>>,
}

/// An HTTP server for health-check tests: every request is answered with
/// the status and body currently set (`server=NAME TEXT\n`, `Connection:
/// close`), and recorded (before the answer is written); it can stop
/// listening (connects are then refused) and listen again on the same
/// address. Connections that send no request (TCP checks) are not
/// recorded.
pub struct FlipServer {
    pub name: String,
    pub addr: SocketAddr,
    state: Arc<FlipState>,
    backend: Mutex<Option<Backend>>,
}

impl FlipServer {
    /// Listening, answering 200 with body `server=NAME ok\n`.
    pub fn start(name: &str) -> FlipServer {
        let state = Arc::new(FlipState {
            status: std::sync::atomic::AtomicU16::new(200),
            body: Mutex::new("ok".to_string()),
            hits: Mutex::new(Vec::new()),
        });
        let listener = listen_with_backlog(SocketAddr::new(LOCALHOST, 0), 4096)
            .unwrap_or_else(|e| panic!("flip server {name}: {e}"));
        let addr = listener.local_addr().unwrap();
        let s = FlipServer {
            name: name.to_string(),
            addr,
            state,
            backend: Mutex::new(None),
        };
        s.serve(listener);
        s
    }

    fn serve(&self, listener: TcpListener) {
        let st = self.state.clone();
        let name = self.name.clone();
        let handler: Handler = Arc::new(move |s, _| flip_serve(s, &name, &st));
        *self.backend.lock().unwrap() = Some(Backend::from_listener(&self.name, listener, handler));
    }

    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// The text after `server=NAME ` in the body.
    pub fn set_body(&self, text: &str) {
        *self.state.body.lock().unwrap() = text.to_string();
    }

    /// Closes the listening socket (and open connections): connects are
    /// refused until [`listen_again`](Self::listen_again).
    pub fn stop_listening(&self) {
        drop(self.backend.lock().unwrap().take());
    }

    /// Listens on the same address again (retried for a few seconds in the
    /// unlikely case the port is briefly taken).
    pub fn listen_again(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match listen_with_backlog(self.addr, 4096) {
                Ok(l) => return self.serve(l),
                Err(e) if Instant::now() >= deadline => {
                    panic!(
                        "flip server {}: listen again on {}: {e}",
                        self.name, self.addr
                    )
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Requests answered so far, in order.
    pub fn hits(&self) -> Vec<FlipHit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Requests answered so far whose request line contains `needle`.
    pub fn hits_for(&self, needle: &str) -> Vec<FlipHit> {
        self.hits()
            .into_iter()
            .filter(|h| h.request_line.contains(needle))
            .collect()
    }
}

fn flip_serve(s: TcpStream, name: &str, st: &FlipState) {
    let mut r = ByteReader::new(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    let head = match r.read_head(64 * 1024, deadline) {
        Ok(Some(h)) => h,
        Ok(None) | Err(_) => return,
    };
    let head = String::from_utf8_lossy(&head).into_owned();
    let request_line = head.lines().next().unwrap_or("").to_string();
    let status = st.status.load(Ordering::SeqCst);
    let body = format!("server={name} {}\n", st.body.lock().unwrap());
    st.hits.lock().unwrap().push(FlipHit {
        at: Instant::now(),
        request_line: request_line.clone(),
        head,
        status,
    });
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n").into_bytes();
    if status == 204 || request_line.starts_with("HEAD ") {
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }
    let _ = http_write(&mut r.s, &out);
}

/// The first line of `text` containing `needle`.
pub fn line_with(text: &str, needle: &str) -> Option<String> {
    text.lines()
        .find(|l| l.contains(needle))
        .map(str::to_string)
}

/// `echo INPUT | socat stdio ADDR`: socat's whole output.
pub fn socat(addr: &str, input: &str) -> String {
    let mut child = Command::new("socat")
        .args(["-t", "2", "stdio", addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn socat");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to socat");
    let out = child.wait_with_output().expect("socat output");
    assert!(
        out.status.success(),
        "socat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One exchange with the runtime API on a unix socket, through socat.
pub fn api(path: &Path, input: &str) -> String {
    socat(&format!("unix-connect:{}", path.display()), input)
}
