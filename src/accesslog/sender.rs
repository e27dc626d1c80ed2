//! [`LogSender`]: one per shard thread, sends framed lines without ever
//! blocking, drops and counts what cannot be sent now (as HAProxy does:
//! `dropped_logs`).
//!
//! - UDP and unix datagram targets: one socket per target, `connect()`ed,
//!   each line sent with `send(MSG_DONTWAIT | MSG_NOSIGNAL)`. `EAGAIN` and
//!   `ENOBUFS` drop the line. A connected UDP socket reports an ICMP
//!   "port unreachable" from an earlier datagram on the next send, and that
//!   send is not performed: it is retried once (HAProxy's unconnected
//!   socket never sees these errors). A unix target whose receiver went away
//!   (syslog daemon restarted: `ECONNREFUSED`, `ENOTCONN`...) or was not
//!   there at start is reconnected, at most once a second, and the line is
//!   retried once after a successful reconnection.
//! - stdout and stderr: the descriptor is shared with the rest of the
//!   process (Rust's `println!`, `env_logger`), so it is never switched to
//!   `O_NONBLOCK` (HAProxy does that, which would make their writes fail).
//!   Instead each write asks for non-blocking behaviour itself:
//!   `send(MSG_DONTWAIT)` on sockets (journald's stdout stream),
//!   `pwritev2(RWF_NOWAIT)` on pipes; where the kernel does not support
//!   that (terminals, older kernels) the descriptor is reopened through
//!   `/proc/self/fd/N` as a separate open file description with
//!   `O_NONBLOCK`; failing that, `poll` with a zero timeout guards the
//!   write. Regular files are written with plain `write` (page cache; the
//!   kernel offers no non-blocking buffered write on most filesystems).
//!   Lines up to `PIPE_BUF` bytes reach a pipe whole or not at all. When a
//!   stream (socket, terminal, long line on a pipe) takes only part of a
//!   line, the rest is kept and written before the next line, which is
//!   dropped while the rest cannot be written: lines are never interleaved
//!   or cut in the middle by this sender.
//!
//! Framing ([`Framer`]) is separate from these writes: a data plane that
//! moves the sends onto io_uring frames with [`Framer::frame`] into its own
//! buffers.

use std::ffi::CString;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::clock;
use super::syslog::Framer;
use super::target::{Level, LogTarget, TargetAddr};

/// Minimum time between two connection attempts of a datagram target.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// Sends log lines to a set of targets from one thread. See the module
/// documentation.
pub struct LogSender {
    framer: Framer,
    outputs: Vec<Output>,
    /// Framed line, reused.
    line: Vec<u8>,
    /// Message buffer for [`LogSender::send_with`], reused.
    msg: Vec<u8>,
    dropped: u64,
    reconnect_interval: Duration,
}

struct Output {
    target: LogTarget,
    sink: Sink,
}

impl LogSender {
    /// Opens one socket per network target (connecting now; a target that
    /// cannot be reached yet is retried when lines come) and prepares the
    /// stdout/stderr writers. Errors only when a socket cannot be created.
    /// Also reads the time zone ([`clock::init`]).
    pub fn new(targets: &[LogTarget], program: &str, pid: u32) -> io::Result<LogSender> {
        clock::init();
        let mut outputs = Vec::with_capacity(targets.len());
        for t in targets {
            let sink = match &t.addr {
                TargetAddr::Stdout => Sink::Fd(FdSink::new(libc::STDOUT_FILENO)),
                TargetAddr::Stderr => Sink::Fd(FdSink::new(libc::STDERR_FILENO)),
                TargetAddr::Udp(addr) => Sink::Dgram(Dgram::udp(*addr)?),
                TargetAddr::Unix(path) => Sink::Dgram(Dgram::unix(path.clone())?),
            };
            outputs.push(Output {
                target: t.clone(),
                sink,
            });
        }
        Ok(LogSender::from_parts(Framer::new(program, pid), outputs))
    }

    fn from_parts(framer: Framer, mut outputs: Vec<Output>) -> LogSender {
        for o in &mut outputs {
            match &mut o.sink {
                Sink::Dgram(d) => {
                    d.try_connect(RECONNECT_INTERVAL);
                }
                // room for the rest of a line, so that never allocates
                Sink::Fd(f) => f.pending.reserve(o.target.max_len),
            }
        }
        let max_len = outputs.iter().map(|o| o.target.max_len).max().unwrap_or(0);
        LogSender {
            line: Vec::with_capacity(max_len + framer.max_header_len() + 1),
            msg: Vec::with_capacity(max_len),
            framer,
            outputs,
            dropped: 0,
            reconnect_interval: RECONNECT_INTERVAL,
        }
    }

    /// Replaces the framer (e.g. to set `log-send-hostname`).
    pub fn set_framer(&mut self, framer: Framer) {
        self.framer = framer;
    }

    pub fn framer(&self) -> &Framer {
        &self.framer
    }

    pub fn targets(&self) -> impl Iterator<Item = &LogTarget> {
        self.outputs.iter().map(|o| &o.target)
    }

    /// Frames `msg` for every target that accepts `level` and sends it now,
    /// without blocking. A line that cannot be sent now is dropped and
    /// counted.
    pub fn send(&mut self, level: Level, msg: &[u8]) {
        let now = clock::unix_ms(SystemTime::now()).div_euclid(1000);
        let LogSender {
            framer,
            outputs,
            line,
            dropped,
            reconnect_interval,
            ..
        } = self;
        for o in outputs.iter_mut() {
            if !o.target.accepts(level) {
                continue;
            }
            line.clear();
            clock::with_thread_cache(|dates| {
                framer.frame_at(dates, now, &o.target, level, msg, line);
            });
            if !o.sink.write_line(line, *reconnect_interval) {
                *dropped += 1;
            }
        }
    }

    /// Builds the message with `f` in a reused buffer, then [`send`]s it:
    /// `sender.send_with(Level::Info, |b| format_httplog(&rec, b))`.
    ///
    /// [`send`]: LogSender::send
    pub fn send_with(&mut self, level: Level, f: impl FnOnce(&mut Vec<u8>)) {
        let mut msg = std::mem::take(&mut self.msg);
        msg.clear();
        f(&mut msg);
        self.send(level, &msg);
        self.msg = msg;
    }

    /// Lines dropped so far (one per line and target that could not take it).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

enum Sink {
    Dgram(Dgram),
    Fd(FdSink),
}

impl Sink {
    fn write_line(&mut self, line: &[u8], reconnect_interval: Duration) -> bool {
        match self {
            Sink::Dgram(d) => d.send(line, reconnect_interval),
            Sink::Fd(f) => f.write_line(line),
        }
    }
}

enum DgramSock {
    Udp(UdpSocket, SocketAddr),
    Unix(UnixDatagram, PathBuf),
}

struct Dgram {
    sock: DgramSock,
    connected: bool,
    last_attempt: Option<Instant>,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn send_dontwait(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes for the duration of the call.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Dgram {
    fn udp(peer: SocketAddr) -> io::Result<Dgram> {
        let local: SocketAddr = match peer {
            SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
            SocketAddr::V6(_) => "[::]:0".parse().expect("literal"),
        };
        let s = UdpSocket::bind(local)?;
        s.set_nonblocking(true)?;
        Ok(Dgram {
            sock: DgramSock::Udp(s, peer),
            connected: false,
            last_attempt: None,
        })
    }

    fn unix(path: PathBuf) -> io::Result<Dgram> {
        let s = UnixDatagram::unbound()?;
        s.set_nonblocking(true)?;
        Ok(Dgram {
            sock: DgramSock::Unix(s, path),
            connected: false,
            last_attempt: None,
        })
    }

    fn fd(&self) -> RawFd {
        match &self.sock {
            DgramSock::Udp(s, _) => s.as_raw_fd(),
            DgramSock::Unix(s, _) => s.as_raw_fd(),
        }
    }

    /// Connects unless an attempt was made less than `interval` ago.
    /// `connect` on a datagram socket does not block (no handshake).
    fn try_connect(&mut self, interval: Duration) -> bool {
        let now = Instant::now();
        if self
            .last_attempt
            .is_some_and(|t| now.duration_since(t) < interval)
        {
            return false;
        }
        self.last_attempt = Some(now);
        self.connected = match &self.sock {
            DgramSock::Udp(s, peer) => s.connect(peer).is_ok(),
            DgramSock::Unix(s, path) => s.connect(path).is_ok(),
        };
        self.connected
    }

    fn send(&mut self, line: &[u8], interval: Duration) -> bool {
        if !self.connected && !self.try_connect(interval) {
            return false;
        }
        let e = match send_dontwait(self.fd(), line) {
            Ok(_) => return true,
            Err(e) => errno(&e),
        };
        match (&self.sock, e) {
            (_, libc::EAGAIN | libc::ENOBUFS) => false,
            // A pending ICMP error from an earlier datagram; this one was
            // not sent.
            (DgramSock::Udp(..), libc::ECONNREFUSED) => send_dontwait(self.fd(), line).is_ok(),
            (
                DgramSock::Unix(..),
                libc::ECONNREFUSED
                | libc::ENOTCONN
                | libc::ENOENT
                | libc::ECONNRESET
                | libc::EDESTADDRREQ,
            ) => {
                self.connected = false;
                self.try_connect(interval) && send_dontwait(self.fd(), line).is_ok()
            }
            _ => false,
        }
    }
}

/// How an [`FdSink`] writes without blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FdMode {
    /// `send(MSG_DONTWAIT | MSG_NOSIGNAL)`: sockets.
    Send,
    /// `pwritev2(RWF_NOWAIT)`: pipes, character devices that support it.
    Nowait,
    /// `write` on our own `O_NONBLOCK` reopening of the descriptor.
    Reopened,
    /// `poll(POLLOUT, 0)` then `write`: last resort.
    PollWrite,
    /// `write`: regular files.
    Plain,
    /// The descriptor is not open.
    Closed,
}

struct FdSink {
    fd: RawFd,
    is_reg: bool,
    mode: FdMode,
    reopened: Option<OwnedFd>,
    /// The unwritten end of a line a stream took only part of.
    pending: Vec<u8>,
    pending_off: usize,
}

impl FdSink {
    fn new(fd: RawFd) -> FdSink {
        // SAFETY: `st` is plain data; fstat only writes into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; a closed fd just fails with EBADF.
        let r = unsafe { libc::fstat(fd, &mut st) };
        let fmt = st.st_mode & libc::S_IFMT;
        let (mode, is_reg) = if r < 0 {
            (FdMode::Closed, false)
        } else if fmt == libc::S_IFREG {
            (FdMode::Plain, true)
        } else if fmt == libc::S_IFSOCK {
            (FdMode::Send, false)
        } else {
            (FdMode::Nowait, false)
        };
        FdSink {
            fd,
            is_reg,
            mode,
            reopened: None,
            pending: Vec::new(),
            pending_off: 0,
        }
    }

    fn write_line(&mut self, line: &[u8]) -> bool {
        if self.pending_off < self.pending.len() {
            if let Ok(n) = self.write_some_at(self.pending_off) {
                self.pending_off += n;
            }
            if self.pending_off < self.pending.len() {
                return false;
            }
            self.pending.clear();
            self.pending_off = 0;
        }
        match self.write_some(line) {
            Ok(n) if n == line.len() => true,
            Ok(n) => {
                // Sent in part: the line is on its way; keep the rest.
                self.pending.extend_from_slice(&line[n..]);
                true
            }
            Err(_) => false,
        }
    }

    fn write_some_at(&mut self, off: usize) -> io::Result<usize> {
        let pending = std::mem::take(&mut self.pending);
        let r = self.write_some(&pending[off..]);
        self.pending = pending;
        r
    }

    /// One non-blocking write attempt; `WouldBlock` when it would block.
    fn write_some(&mut self, buf: &[u8]) -> io::Result<usize> {
        for _ in 0..4 {
            let r = match self.mode {
                FdMode::Send => send_dontwait(self.fd, buf),
                FdMode::Nowait => pwrite_nowait(self.fd, buf),
                FdMode::Reopened => {
                    let fd = self.reopened.as_ref().map_or(-1, |o| o.as_raw_fd());
                    raw_write(fd, buf)
                }
                FdMode::PollWrite => {
                    if writable_now(self.fd) {
                        raw_write(self.fd, buf)
                    } else {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                }
                FdMode::Plain => raw_write(self.fd, buf),
                FdMode::Closed => Err(io::Error::from_raw_os_error(libc::EBADF)),
            };
            match r {
                Err(e) if self.mode == FdMode::Nowait && unsupported(&e) => self.fall_back(),
                Err(e) if errno(&e) == libc::EINTR => {}
                r => return r,
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// `RWF_NOWAIT` is not supported on this descriptor: reopen it as our
    /// own non-blocking open file description, or poll before writing.
    fn fall_back(&mut self) {
        if self.is_reg {
            self.mode = FdMode::Plain;
            return;
        }
        match reopen_nonblocking(self.fd) {
            Some(fd) => {
                self.reopened = Some(fd);
                self.mode = FdMode::Reopened;
            }
            None => self.mode = FdMode::PollWrite,
        }
    }
}

fn unsupported(e: &io::Error) -> bool {
    matches!(errno(e), libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)
}

fn pwrite_nowait(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: one valid iovec describing `buf`, which outlives the call; the
    // kernel only reads from it. Offset -1: the file's current position.
    let n = unsafe { libc::pwritev2(fd, &iov, 1, -1, libc::RWF_NOWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn raw_write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes for the duration of the call.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn writable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd; zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 1 && p.revents & libc::POLLOUT != 0
}

/// Opens `/proc/self/fd/N`: a new open file description of the same pipe
/// or terminal, whose `O_NONBLOCK` affects nobody else.
fn reopen_nonblocking(fd: RawFd) -> Option<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    // SAFETY: path is a valid NUL-terminated string.
    let r = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if r < 0 {
        None
    } else {
        // SAFETY: `r` is a descriptor we just opened and own.
        Some(unsafe { OwnedFd::from_raw_fd(r) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accesslog::clock::DateCache;
    use crate::accesslog::target::parse_log_target;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn target(line: &str) -> LogTarget {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse_log_target(&words).unwrap()
    }

    /// The line as framed at `before` or at `after` (a second may tick
    /// between the two).
    fn expect_one_of(
        f: &Framer,
        t: &LogTarget,
        level: Level,
        msg: &[u8],
        before: i64,
        after: i64,
        got: &[u8],
    ) {
        let mut c = DateCache::system();
        let mut a = Vec::new();
        f.frame_at(&mut c, before, t, level, msg, &mut a);
        let mut b = Vec::new();
        f.frame_at(&mut c, after, t, level, msg, &mut b);
        assert!(
            got == a || got == b,
            "got {:?}\nwant {:?}\n  or {:?}",
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }

    fn now_secs() -> i64 {
        clock::unix_ms(SystemTime::now()).div_euclid(1000)
    }

    fn temp_path(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "ringproxy-accesslog-{}-{tag}-{n}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn udp_receiver() -> (UdpSocket, u16) {
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = r.local_addr().unwrap().port();
        (r, port)
    }

    #[test]
    fn udp_receives_exact_bytes() {
        let (rx, port) = udp_receiver();
        let t = target(&format!("127.0.0.1:{port} local0 info"));
        let mut s = LogSender::new(std::slice::from_ref(&t), "ringproxy", 4242).unwrap();
        let mut buf = [0u8; 70_000];

        let before = now_secs();
        s.send(
            Level::Info,
            b"127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 0/1/5003 1024 -- 1/1/0/0/0 0/0",
        );
        let after = now_secs();
        let n = rx.recv(&mut buf).unwrap();
        expect_one_of(
            s.framer(),
            &t,
            Level::Info,
            b"127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 0/1/5003 1024 -- 1/1/0/0/0 0/0",
            before,
            after,
            &buf[..n],
        );
        assert!(buf[..n].starts_with(b"<134>"));
        assert!(buf[..n].ends_with(b" ringproxy[4242]: 127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 0/1/5003 1024 -- 1/1/0/0/0 0/0\n"));

        // debug is above the target's max level: not sent; err is.
        s.send(Level::Debug, b"not me");
        s.send(Level::Err, b"me");
        let n = rx.recv(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"<131>"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        assert!(buf[..n].ends_with(b"]: me\n"));

        // truncated at len (1024) + LF
        s.send_with(Level::Info, |b| b.extend_from_slice(&[b'x'; 3000]));
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(n, 1025);
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn unix_receives_exact_bytes() {
        let path = temp_path("rx");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let t = target(&format!("unix@{} local3", path.display()));
        let raw = target(&format!("{} format raw user", path.display()));
        let mut s = LogSender::new(&[t.clone(), raw], "ringproxy", 77).unwrap();
        let mut buf = [0u8; 4096];

        let before = now_secs();
        s.send(Level::Notice, b"hello unix");
        let after = now_secs();
        let n = rx.recv(&mut buf).unwrap();
        expect_one_of(
            s.framer(),
            &t,
            Level::Notice,
            b"hello unix",
            before,
            after,
            &buf[..n],
        );
        assert!(buf[..n].starts_with(b"<157>"));
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello unix\n");
        assert_eq!(s.dropped(), 0);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn udp_without_peer_never_blocks() {
        // a port with nobody behind it: ICMP port unreachable comes back
        let port = {
            let (r, p) = udp_receiver();
            drop(r);
            p
        };
        let t = target(&format!("127.0.0.1:{port} len 65535 local0"));
        let mut s = LogSender::new(&[t], "ringproxy", 1).unwrap();
        let start = Instant::now();
        for i in 0..2000 {
            s.send(Level::Info, format!("line {i}").as_bytes());
        }
        // too large for one UDP datagram (65507 bytes max): dropped, no panic
        s.send(Level::Info, &[b'y'; 65_600]);
        assert!(s.dropped() >= 1);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn unix_target_missing_then_present_then_restarted() {
        let path = temp_path("late");
        let t = target(&format!("unix@{} format raw local0", path.display()));
        let mut s = LogSender::new(&[t], "ringproxy", 1).unwrap();
        s.reconnect_interval = Duration::ZERO;
        // nobody listening yet: dropped and counted, no error, no block
        for _ in 0..3 {
            s.send(Level::Info, b"lost");
        }
        assert_eq!(s.dropped(), 3);
        // the syslog daemon starts
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send(Level::Info, b"first");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first\n");
        // ... and restarts: new socket at the same path
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send(Level::Info, b"second");
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"second\n");
        assert_eq!(s.dropped(), 3);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reconnection_is_rate_limited() {
        let path = temp_path("rate");
        let t = target(&format!("unix@{} format raw local0", path.display()));
        let mut s = LogSender::new(&[t], "ringproxy", 1).unwrap();
        s.reconnect_interval = Duration::from_secs(3600);
        let _rx = UnixDatagram::bind(&path).unwrap();
        // the receiver exists now, but the last attempt (in new) was just
        // made: no new attempt for an hour, so lines are dropped.
        s.send(Level::Info, b"x");
        assert_eq!(s.dropped(), 1);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn full_unix_receiver_drops_without_blocking() {
        let path = temp_path("full");
        let _rx = UnixDatagram::bind(&path).unwrap(); // never read
        let t = target(&format!("unix@{} local0", path.display()));
        let mut s = LogSender::new(&[t], "ringproxy", 1).unwrap();
        let start = Instant::now();
        for _ in 0..20_000 {
            s.send(Level::Info, &[b'z'; 512]);
        }
        assert!(s.dropped() > 0, "the receive queue never filled");
        assert!(start.elapsed() < Duration::from_secs(10));
        let _ = std::fs::remove_file(&path);
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors were just created and are ours.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// A sender whose only target is `target` but written to `fd`.
    fn fd_sender(t: LogTarget, fd: RawFd) -> LogSender {
        LogSender::from_parts(
            Framer::new("ringproxy", 9),
            vec![Output {
                target: t,
                sink: Sink::Fd(FdSink::new(fd)),
            }],
        )
    }

    fn set_nonblocking(fd: RawFd) {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }

    fn drain(fd: RawFd, into: &mut Vec<u8>) {
        let mut buf = [0u8; 65536];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            into.extend_from_slice(&buf[..n as usize]);
        }
    }

    #[test]
    fn stdout_like_pipe_exact_bytes_and_drops_when_full() {
        let (r, w) = pipe();
        set_nonblocking(r.as_raw_fd());
        // the writer's file description stays blocking: we must not block
        let mut s = fd_sender(target("stdout format raw"), w.as_raw_fd());
        s.send(Level::Info, b"hello pipe");
        let mut got = Vec::new();
        drain(r.as_raw_fd(), &mut got);
        assert_eq!(got, b"hello pipe\n");
        assert_eq!(s.outputs[0].sink_mode(), Some(FdMode::Nowait));

        // nobody reads: the pipe (64 KiB) fills, further lines are dropped
        let line = [b'p'; 999];
        let start = Instant::now();
        for _ in 0..1000 {
            s.send(Level::Info, &line);
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        let dropped = s.dropped();
        assert!(dropped > 0);
        got.clear();
        drain(r.as_raw_fd(), &mut got);
        // whole lines only (each 1000 bytes with its LF)
        assert_eq!(got.len() % 1000, 0);
        assert_eq!(got.len() / 1000, 1000 - dropped as usize);
        assert!(
            got.chunks(1000)
                .all(|c| c[..999] == line && c[999] == b'\n')
        );
    }

    #[test]
    fn stderr_like_rfc3164_on_pipe() {
        let (r, w) = pipe();
        set_nonblocking(r.as_raw_fd());
        let t = target("stderr local0");
        let mut s = fd_sender(t.clone(), w.as_raw_fd());
        let before = now_secs();
        s.send(Level::Warning, b"warn");
        let after = now_secs();
        let mut got = Vec::new();
        drain(r.as_raw_fd(), &mut got);
        expect_one_of(s.framer(), &t, Level::Warning, b"warn", before, after, &got);
        assert!(got.starts_with(b"<132>"));
    }

    #[test]
    fn stream_socket_partial_lines_are_completed_before_the_next() {
        let (a, b) = UnixStream::pair().unwrap();
        let small: libc::c_int = 4096;
        // SAFETY: setsockopt with a valid int option.
        unsafe {
            libc::setsockopt(
                a.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&small as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        b.set_nonblocking(true).unwrap();
        let mut s = fd_sender(target("stdout len 65535 format raw"), a.as_raw_fd());
        assert_eq!(s.outputs[0].sink_mode(), Some(FdMode::Send));
        let mut got = Vec::new();
        let mut sent_ok = 0u64;
        let mut rb = b;
        for i in 0..200u32 {
            let fill = b'a' + (i % 26) as u8;
            let before = s.dropped();
            s.send(Level::Info, &vec![fill; 30_000]);
            if s.dropped() == before {
                sent_ok += 1;
            }
            if i % 3 == 0 {
                let mut buf = [0u8; 50_000];
                while let Ok(n) = rb.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
        }
        // flush what is pending by sending (and dropping or not) a few more
        for _ in 0..50 {
            let mut buf = [0u8; 65536];
            while let Ok(n) = rb.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.send(Level::Info, b"");
        }
        let mut buf = [0u8; 65536];
        while let Ok(n) = rb.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(s.dropped() > 0, "the socket never filled");
        // every line is whole: 30000 equal bytes then LF (or an empty line)
        let lines: Vec<&[u8]> = got.split(|&c| c == b'\n').collect();
        let mut full = 0;
        for l in &lines[..lines.len() - 1] {
            assert!(
                l.is_empty() || (l.len() == 30_000 && l.iter().all(|&c| c == l[0])),
                "broken line of {} bytes",
                l.len()
            );
            if !l.is_empty() {
                full += 1;
            }
        }
        assert!(lines.last().unwrap().is_empty());
        assert_eq!(full, sent_ok);
    }

    #[test]
    fn terminal_falls_back_to_own_nonblocking_description() {
        // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on a descriptor we
        // own, with a buffer of the given size.
        let (master, slave) = unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(m >= 0);
            let master = OwnedFd::from_raw_fd(m);
            assert_eq!(libc::grantpt(m), 0);
            assert_eq!(libc::unlockpt(m), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
            let sfd = libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            assert!(sfd >= 0);
            (master, OwnedFd::from_raw_fd(sfd))
        };
        set_nonblocking(master.as_raw_fd());
        let mut s = fd_sender(target("stdout format raw"), slave.as_raw_fd());
        s.send(Level::Info, b"hello tty");
        let mode = s.outputs[0].sink_mode();
        assert!(
            matches!(
                mode,
                Some(FdMode::Reopened | FdMode::PollWrite | FdMode::Nowait)
            ),
            "{mode:?}"
        );
        let mut got = Vec::new();
        drain(master.as_raw_fd(), &mut got);
        assert!(got.starts_with(b"hello tty"), "{got:?}");
        // nobody reads the terminal: its buffer fills, lines are dropped
        let start = Instant::now();
        for _ in 0..2000 {
            s.send(Level::Info, &[b't'; 200]);
        }
        assert!(s.dropped() > 0);
        assert!(start.elapsed() < Duration::from_secs(10));
        // the slave's own description was left blocking
        // SAFETY: fcntl on a descriptor we own.
        let fl = unsafe { libc::fcntl(slave.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn regular_file_is_written_plainly() {
        let path = temp_path("file");
        let f = std::fs::File::create(&path).unwrap();
        let mut s = fd_sender(target("stdout format short local0"), f.as_raw_fd());
        assert_eq!(s.outputs[0].sink_mode(), Some(FdMode::Plain));
        s.send(Level::Info, b"one");
        s.send(Level::Err, b"two");
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), b"<6>one\n<3>two\n");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn closed_descriptor_counts_drops() {
        // -1, not a closed number: another test thread may reuse a number.
        let mut s = fd_sender(target("stdout format raw"), -1);
        s.send(Level::Info, b"x");
        assert_eq!(s.dropped(), 1);
    }

    #[test]
    fn stdout_and_stderr_targets_construct() {
        let s = LogSender::new(
            &[
                target("stdout format raw local0"),
                target("stderr format raw"),
            ],
            "ringproxy",
            1,
        )
        .unwrap();
        assert_eq!(s.targets().count(), 2);
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn sender_can_move_to_its_shard_thread() {
        fn is_send<T: Send>() {}
        is_send::<LogSender>();
    }

    impl Output {
        fn sink_mode(&self) -> Option<FdMode> {
            match &self.sink {
                Sink::Fd(f) => Some(f.mode),
                Sink::Dgram(_) => None,
            }
        }
    }
}
