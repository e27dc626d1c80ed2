//! `ringproxy-demo-backend`: a tiny, self-contained example backend for the
//! demo (`scripts/demo.sh`), for trying ringproxy by hand, and for benchmarks.
//!
//! ```text
//! ringproxy-demo-backend --listen 127.0.0.1:9001 --name s1 \
//!                        --listen 127.0.0.1:9002 --name s2
//! ```
//!
//! Each `--listen ADDR` starts one server; the `--name`s pair with them in
//! order (missing names default to `s1`, `s2`, ...). Every connection is
//! served on its own thread (threads are reused for later connections):
//!
//! - If it starts like an HTTP/1.x request, every request on it is answered
//!   `200 OK`, `Content-Type: text/plain`, body `hello from NAME\n`, with
//!   `Content-Length` and keep-alive honoured (HTTP/1.1 persistent by default,
//!   HTTP/1.0 only with `Connection: keep-alive`). Request bodies
//!   (`Content-Length` or chunked) are read and discarded; pipelined requests
//!   are answered in order, in batched writes.
//! - Otherwise it is a line echo server: every line comes back prefixed with
//!   `NAME: `. A half-close (FIN) from the client is answered with a FIN once
//!   everything is echoed.
//! - A PROXY protocol header (v1 or v2, as sent by `send-proxy` /
//!   `send-proxy-v2`) in front of either is accepted and skipped; with `-v` it
//!   is logged.
//!
//! Memory is bounded: a 16 KiB input buffer and at most ~64 KiB of pending
//! output per connection, at most `--max-conns` connections at once (more wait
//! in the kernel's accept queue), and idle connections are closed after
//! `--idle-timeout` seconds. Uses only std, argh for the flags and nix for
//! the listen queue size.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use argh::FromArgs;
use nix::sys::socket::{Backlog, listen};

/// Input buffer of a connection: the longest request head or PROXY header
/// accepted.
const IN_BUF: usize = 16 * 1024;
/// Pending output is written out once it reaches this size.
const OUT_FLUSH: usize = 64 * 1024;
/// Stack of a connection thread (its buffers are on the heap).
const STACK: usize = 128 * 1024;
/// Most bytes read (and dropped) from a client after answering it with
/// `Connection: close`, so that closing does not reset the connection while
/// the answer is in flight.
const LINGER_BYTES: usize = 256 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(1);
/// A connection thread with nothing to do exits after this long.
const THREAD_IDLE: Duration = Duration::from_secs(10);

/// Example backend for ringproxy: an HTTP/1.1 "hello from NAME" server and a
/// line echo server on the same port, chosen by the first bytes received.
#[derive(FromArgs)]
struct Args {
    /// address to listen on, e.g. 127.0.0.1:9001 (repeat to start several
    /// servers; port 0 picks a free port, printed at startup)
    #[argh(option)]
    listen: Vec<String>,

    /// name of the server, paired in order with --listen (default: s1, s2...)
    #[argh(option)]
    name: Vec<String>,

    /// most connections served at once over all servers; more wait in the
    /// accept queue (default: 10000)
    #[argh(option, default = "10000")]
    max_conns: usize,

    /// seconds a connection may wait on a read or write before it is closed;
    /// 0 = never (default: 60)
    #[argh(option, default = "60")]
    idle_timeout: u64,

    /// log every connection (and PROXY header) on stderr
    #[argh(switch, short = 'v')]
    verbose: bool,
}

/// One named server: its precomputed answers.
struct Server {
    name: String,
    /// `NAME: `, the echo prefix.
    prefix: Vec<u8>,
    body: Vec<u8>,
    /// Response heads: HTTP/1.1 persistent, HTTP/1.0 keep-alive, closing.
    head_keep: Vec<u8>,
    head_keep10: Vec<u8>,
    head_close: Vec<u8>,
    verbose: bool,
    idle_timeout: Option<Duration>,
}

impl Server {
    fn new(name: String, verbose: bool, idle_timeout: Option<Duration>) -> Server {
        let body = format!("hello from {name}\n").into_bytes();
        let head = |conn: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{conn}\r\n",
                body.len()
            )
            .into_bytes()
        };
        Server {
            prefix: format!("{name}: ").into_bytes(),
            head_keep: head(""),
            head_keep10: head("Connection: keep-alive\r\n"),
            head_close: head("Connection: close\r\n"),
            body,
            name,
            verbose,
            idle_timeout,
        }
    }
}

/// Counting semaphore bounding the connections served at once.
struct Limit {
    busy: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

struct Permit(Arc<Limit>);

impl Limit {
    fn acquire(self: &Arc<Self>) -> Permit {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy >= self.max {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy += 1;
        Permit(Arc::clone(self))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(PoisonError::into_inner);
        *busy -= 1;
        self.0.freed.notify_one();
    }
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    if args.listen.is_empty() {
        eprintln!("ringproxy-demo-backend: at least one --listen ADDR is needed (see --help)");
        return ExitCode::from(2);
    }
    if args.name.len() > args.listen.len() {
        eprintln!("ringproxy-demo-backend: more --name than --listen options");
        return ExitCode::from(2);
    }
    if args.max_conns == 0 {
        eprintln!("ringproxy-demo-backend: --max-conns must be at least 1");
        return ExitCode::from(2);
    }
    let idle_timeout = (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout));

    // Bind everything first, so that a bad address fails before anything runs.
    let mut servers = Vec::new();
    for (i, addr) in args.listen.iter().enumerate() {
        let name = args
            .name
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("s{}", i + 1));
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            eprintln!("ringproxy-demo-backend: invalid --name {name:?}");
            return ExitCode::from(2);
        }
        let listener = match TcpListener::bind(addr.as_str()) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ringproxy-demo-backend: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        // std listens with a queue of 128, which a burst of connects (a load
        // generator starting, a proxy warming up) overflows, and each
        // overflow costs the client a one-second SYN retransmit: ask for the
        // system's maximum (net.core.somaxconn) instead.
        if let Err(e) = listen(&listener, Backlog::MAXALLOWABLE) {
            eprintln!("ringproxy-demo-backend: {addr}: cannot enlarge the listen queue: {e}");
        }
        match listener.local_addr() {
            Ok(local) => eprintln!("ringproxy-demo-backend: {name} listening on {local}"),
            Err(_) => eprintln!("ringproxy-demo-backend: {name} listening on {addr}"),
        }
        servers.push((
            listener,
            Arc::new(Server::new(name, args.verbose, idle_timeout)),
        ));
    }

    let limit = Arc::new(Limit {
        busy: Mutex::new(0),
        freed: Condvar::new(),
        max: args.max_conns,
    });
    let pool = Arc::new(Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            idle: 0,
            starting: false,
        }),
        ready: Condvar::new(),
    });
    let mut acceptors = Vec::new();
    for (listener, server) in servers {
        let (limit, pool) = (Arc::clone(&limit), Arc::clone(&pool));
        let spawned = thread::Builder::new()
            .name(format!("{}-accept", server.name))
            .spawn(move || accept_loop(listener, server, limit, pool));
        match spawned {
            Ok(h) => acceptors.push(h),
            Err(e) => {
                eprintln!("ringproxy-demo-backend: cannot start a thread: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    for h in acceptors {
        let _ = h.join();
    }
    ExitCode::FAILURE
}

fn accept_loop(listener: TcpListener, server: Arc<Server>, limit: Arc<Limit>, pool: Arc<Pool>) {
    loop {
        let permit = limit.acquire();
        let (stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) => {
                match e.kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => {}
                    // Out of fds or memory: back off instead of spinning.
                    _ => {
                        eprintln!("{}: accept: {e}", server.name);
                        thread::sleep(Duration::from_millis(50));
                    }
                }
                continue;
            }
        };
        pool.submit(Job {
            stream,
            peer,
            server: Arc::clone(&server),
            _permit: permit,
        });
    }
}

/// An accepted connection waiting for a thread.
struct Job {
    stream: TcpStream,
    peer: SocketAddr,
    server: Arc<Server>,
    /// Released when the connection is done.
    _permit: Permit,
}

/// Connection threads. Each serves one connection at a time; finished ones
/// wait a while for the next connection instead of exiting, and threads are
/// started by the pool's own threads, so the accept loops never wait for a
/// thread to start (a burst of connections would overflow the listen queue).
struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    /// A thread is being started and has not taken a job yet.
    starting: bool,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.jobs.push_back(job);
        if state.idle > 0 {
            self.ready.notify_one();
        } else if !state.starting {
            state.starting = true;
            drop(state);
            self.start_thread();
        }
    }

    fn start_thread(self: &Arc<Self>) {
        let pool = Arc::clone(self);
        let started = thread::Builder::new()
            .name("conn".to_string())
            .stack_size(STACK)
            .spawn(move || pool.work());
        if let Err(e) = started {
            // Queued connections wait for a running thread to finish one.
            eprintln!("ringproxy-demo-backend: cannot start a thread: {e}");
            self.lock().starting = false;
        }
    }

    fn work(self: Arc<Self>) {
        let mut state = self.lock();
        state.starting = false;
        loop {
            while state.jobs.is_empty() {
                state.idle += 1;
                let (s, wait) = self
                    .ready
                    .wait_timeout(state, THREAD_IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                state = s;
                state.idle -= 1;
                if wait.timed_out() && state.jobs.is_empty() {
                    return;
                }
            }
            let job = state.jobs.pop_front().expect("a job");
            // More waiting and nobody to take them: start one more thread,
            // which does the same when it takes its job.
            let start = !state.jobs.is_empty() && state.idle == 0 && !state.starting;
            state.starting |= start;
            drop(state);
            if start {
                self.start_thread();
            }
            handle(job);
            state = self.lock();
        }
    }
}

fn handle(job: Job) {
    let Job {
        stream,
        peer,
        server: srv,
        _permit,
    } = job;
    let _ = stream.set_nodelay(true);
    if srv.idle_timeout.is_some() {
        let _ = stream.set_read_timeout(srv.idle_timeout);
        let _ = stream.set_write_timeout(srv.idle_timeout);
    }
    let mut conn = Conn {
        srv: &srv,
        stream,
        peer,
        buf: vec![0; IN_BUF].into_boxed_slice(),
        lo: 0,
        hi: 0,
        out: Vec::new(),
    };
    let result = conn.serve();
    drop(conn);
    if srv.verbose {
        match result {
            Ok(()) => eprintln!("{}: {peer} closed", srv.name),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                eprintln!("{}: {peer} closed: idle timeout", srv.name)
            }
            Err(e) => eprintln!("{}: {peer} closed: {e}", srv.name),
        }
    }
}

/// What the first bytes of a connection say.
#[derive(Debug, PartialEq)]
enum Sniff {
    /// Not enough bytes to tell.
    NeedMore,
    /// A complete PROXY header of this many bytes.
    Proxy(usize),
    /// Starts like a PROXY header but is not a valid one.
    BadProxy,
    Http,
    Echo,
}

const PROXY_V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const PROXY_V1_MAX: usize = 107;
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

fn sniff(b: &[u8], proxy_allowed: bool) -> Sniff {
    let mut maybe = b.is_empty();
    if proxy_allowed {
        if b.starts_with(PROXY_V2_SIG) {
            if b.len() < 16 {
                return Sniff::NeedMore;
            }
            let len = 16 + usize::from(u16::from_be_bytes([b[14], b[15]]));
            if b[12] >> 4 != 2 || len > IN_BUF {
                return Sniff::BadProxy;
            }
            return if b.len() < len {
                Sniff::NeedMore
            } else {
                Sniff::Proxy(len)
            };
        }
        if b.starts_with(b"PROXY ") {
            let window = &b[..b.len().min(PROXY_V1_MAX)];
            return match window.windows(2).position(|w| w == b"\r\n") {
                Some(p) => Sniff::Proxy(p + 2),
                None if b.len() >= PROXY_V1_MAX => Sniff::BadProxy,
                None => Sniff::NeedMore,
            };
        }
        maybe |= PROXY_V2_SIG.starts_with(b) || b"PROXY ".starts_with(b);
    }
    for m in METHODS {
        if b.starts_with(m) {
            return Sniff::Http;
        }
        maybe |= m.starts_with(b);
    }
    if maybe { Sniff::NeedMore } else { Sniff::Echo }
}

/// Describes a complete PROXY header, for the log.
fn describe_proxy(h: &[u8]) -> String {
    if h.starts_with(b"PROXY ") {
        return String::from_utf8_lossy(h.trim_ascii_end()).into_owned();
    }
    let (cmd, fam) = (h[12] & 0x0f, h[13]);
    let a = &h[16..];
    let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
    match (cmd, fam) {
        (0, _) => "PROXY v2 LOCAL".to_string(),
        (1, 0x11) if a.len() >= 12 => {
            let ip = |i: usize| std::net::Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]);
            format!(
                "PROXY v2 TCP4 {}:{} -> {}:{}",
                ip(0),
                port(8),
                ip(4),
                port(10)
            )
        }
        (1, 0x21) if a.len() >= 36 => {
            let ip = |i: usize| {
                let o: [u8; 16] = a[i..i + 16].try_into().expect("16 bytes");
                std::net::Ipv6Addr::from(o)
            };
            format!(
                "PROXY v2 TCP6 [{}]:{} -> [{}]:{}",
                ip(0),
                port(32),
                ip(16),
                port(34)
            )
        }
        _ => format!("PROXY v2 command {cmd} family {fam:#04x}"),
    }
}

/// How a request's body is framed.
#[derive(Debug, PartialEq)]
enum Body {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, PartialEq)]
struct Request {
    head_only: bool,
    http11: bool,
    keep_alive: bool,
    expect_continue: bool,
    body: Body,
}

/// Parses a request head (request line and headers, up to and including the
/// empty line). `None`: malformed.
fn parse_head(head: &[u8]) -> Option<Request> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut parts = lines
        .next()?
        .split(|&b| b == b' ')
        .filter(|p| !p.is_empty());
    let (method, _target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return None,
    };
    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    let (mut length, mut transfer_encoding, mut chunked) = (None, false, false);
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return None; // obsolete line folding
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.is_empty() || name.last().is_some_and(u8::is_ascii_whitespace) {
            return None;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) || value.len() > 18 {
                return None;
            }
            let n: u64 = std::str::from_utf8(value).ok()?.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            let last = value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    let body = if transfer_encoding {
        if !chunked {
            return None; // no way to find the end of the body
        }
        // Transfer-Encoding with Content-Length: answer, then close (RFC 9112).
        close |= length.is_some();
        Body::Chunked
    } else {
        match length {
            Some(n) if n > 0 => Body::Length(n),
            _ => Body::None,
        }
    };
    Some(Request {
        head_only: method == b"HEAD",
        http11,
        keep_alive: !close && (http11 || keep_alive),
        expect_continue: http11 && expect_continue,
        body,
    })
}

/// Length of the request head at the start of `b`, up to and including the
/// empty line that ends it, once it is complete.
fn head_len(b: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(p) = b[start..].iter().position(|&c| c == b'\n') {
        let line = &b[start..start + p];
        if start > 0 && (line.is_empty() || line == b"\r") {
            return Some(start + p + 1);
        }
        start += p + 1;
    }
    None
}

fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.trim_ascii_end();
    let digits = line.split(|&b| b == b';').next()?.trim_ascii();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

struct Conn<'a> {
    srv: &'a Server,
    stream: TcpStream,
    peer: SocketAddr,
    buf: Box<[u8]>,
    /// Unconsumed input is `buf[lo..hi]`.
    lo: usize,
    hi: usize,
    /// Output not written yet (at most about OUT_FLUSH bytes).
    out: Vec<u8>,
}

impl Conn<'_> {
    fn data(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
    }

    fn full(&self) -> bool {
        self.lo == 0 && self.hi == self.buf.len()
    }

    /// Reads more input after the unconsumed bytes. `Ok(0)`: end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.lo == self.hi {
            (self.lo, self.hi) = (0, 0);
        } else if self.hi == self.buf.len() {
            self.buf.copy_within(self.lo..self.hi, 0);
            (self.lo, self.hi) = (0, self.hi - self.lo);
        }
        if self.hi == self.buf.len() {
            return Err(invalid("input buffer full"));
        }
        loop {
            match self.stream.read(&mut self.buf[self.hi..]) {
                Ok(n) => {
                    self.hi += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sends what is pending and closes our side, then reads (and drops)
    /// what the client still sends for a moment, so that the close is a FIN
    /// and not a reset that could destroy the answer in flight.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        self.stream.shutdown(Shutdown::Write)?;
        let _ = self.stream.set_read_timeout(Some(LINGER_TIME));
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match self.stream.read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
        Ok(())
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut proxy_allowed = true;
        loop {
            match sniff(self.data(), proxy_allowed) {
                Sniff::NeedMore => {
                    if self.fill()? == 0 {
                        // Closed before it said what it is: echo what came.
                        return self.echo();
                    }
                }
                Sniff::Proxy(len) => {
                    if self.srv.verbose {
                        let header = describe_proxy(&self.data()[..len]);
                        eprintln!("{}: {} {header}", self.srv.name, self.peer);
                    }
                    self.lo += len;
                    proxy_allowed = false;
                }
                Sniff::BadProxy => return Err(invalid("bad PROXY protocol header")),
                Sniff::Http => {
                    if self.srv.verbose {
                        eprintln!("{}: {} HTTP", self.srv.name, self.peer);
                    }
                    return self.http();
                }
                Sniff::Echo => {
                    if self.srv.verbose {
                        eprintln!("{}: {} echo", self.srv.name, self.peer);
                    }
                    return self.echo();
                }
            }
        }
    }

    /// Line echo with the server's prefix, streaming: long lines are echoed
    /// piecewise, so memory stays bounded.
    fn echo(&mut self) -> io::Result<()> {
        let mut at_line_start = true;
        loop {
            while self.lo < self.hi {
                if at_line_start {
                    self.out.extend_from_slice(&self.srv.prefix);
                }
                let data = &self.buf[self.lo..self.hi];
                let n = match data.iter().position(|&b| b == b'\n') {
                    Some(p) => p + 1,
                    None => data.len(),
                };
                at_line_start = data[n - 1] == b'\n';
                self.out.extend_from_slice(&data[..n]);
                self.lo += n;
                if self.out.len() >= OUT_FLUSH {
                    self.flush()?;
                }
            }
            self.flush()?;
            if self.fill()? == 0 {
                self.stream.shutdown(Shutdown::Write)?;
                return Ok(());
            }
        }
    }

    fn http(&mut self) -> io::Result<()> {
        loop {
            // Empty lines before a request are ignored (RFC 9112, 2.2).
            let blank = self
                .data()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.lo += blank;
            let Some(len) = head_len(self.data()) else {
                // Answer what is answered before waiting for more.
                self.flush()?;
                if self.full() {
                    return self.reject("431 Request Header Fields Too Large");
                }
                if self.fill()? == 0 {
                    return Ok(());
                }
                continue;
            };
            let Some(req) = parse_head(&self.data()[..len]) else {
                return self.reject("400 Bad Request");
            };
            self.lo += len;
            if req.expect_continue && req.body != Body::None && self.lo == self.hi {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                self.flush()?;
            }
            let complete = match req.body {
                Body::None => true,
                Body::Length(n) => self.skip(n)?,
                Body::Chunked => self.skip_chunked()?,
            };
            if !complete {
                return Ok(()); // closed in the middle of the body
            }
            let head = match (req.keep_alive, req.http11) {
                (false, _) => &self.srv.head_close,
                (true, true) => &self.srv.head_keep,
                (true, false) => &self.srv.head_keep10,
            };
            self.out.extend_from_slice(head);
            if !req.head_only {
                self.out.extend_from_slice(&self.srv.body);
            }
            if !req.keep_alive {
                return self.finish();
            }
            if self.out.len() >= OUT_FLUSH {
                self.flush()?;
            }
        }
    }

    fn reject(&mut self, status: &str) -> io::Result<()> {
        let reason = &status[4..];
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reason}\n",
            reason.len() + 1
        );
        self.out.extend_from_slice(answer.as_bytes());
        self.finish()
    }

    /// Consumes `n` bytes of input. `false`: the stream ended first.
    fn skip(&mut self, mut n: u64) -> io::Result<bool> {
        loop {
            let take = n.min((self.hi - self.lo) as u64);
            self.lo += take as usize;
            n -= take;
            if n == 0 {
                return Ok(true);
            }
            if self.fill()? == 0 {
                return Ok(false);
            }
        }
    }

    /// Waits until a whole line is buffered and returns its length, `\n`
    /// included. `None`: the stream ended first.
    fn line(&mut self) -> io::Result<Option<usize>> {
        loop {
            if let Some(p) = self.data().iter().position(|&b| b == b'\n') {
                return Ok(Some(p + 1));
            }
            if self.full() {
                return Err(invalid("line too long"));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// Consumes a chunked body, trailers included. `false`: the stream ended
    /// first.
    fn skip_chunked(&mut self) -> io::Result<bool> {
        loop {
            let Some(len) = self.line()? else {
                return Ok(false);
            };
            let size = parse_chunk_size(&self.data()[..len]).ok_or_else(|| invalid("bad chunk"))?;
            self.lo += len;
            if size == 0 {
                loop {
                    let Some(len) = self.line()? else {
                        return Ok(false);
                    };
                    let empty = self.data()[..len].trim_ascii().is_empty();
                    self.lo += len;
                    if empty {
                        return Ok(true);
                    }
                }
            }
            if !self.skip(size)? {
                return Ok(false);
            }
            let Some(len) = self.line()? else {
                return Ok(false);
            };
            if !self.data()[..len].trim_ascii().is_empty() {
                return Err(invalid("bad chunk end"));
            }
            self.lo += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_protocols() {
        assert_eq!(sniff(b"", true), Sniff::NeedMore);
        assert_eq!(sniff(b"GE", true), Sniff::NeedMore);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n", true), Sniff::Http);
        assert_eq!(sniff(b"GET", false), Sniff::NeedMore);
        assert_eq!(sniff(b"hi\n", true), Sniff::Echo);
        assert_eq!(sniff(b"GETS\n", true), Sniff::Echo);
        assert_eq!(sniff(b"PROX", true), Sniff::NeedMore);
        assert_eq!(sniff(b"PROX", false), Sniff::Echo);
        let v1 = b"PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\nGET";
        assert_eq!(sniff(v1, true), Sniff::Proxy(36));
        assert_eq!(
            describe_proxy(&v1[..36]),
            "PROXY TCP4 1.2.3.4 5.6.7.8 1000 80"
        );
        let mut v2 = PROXY_V2_SIG.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 3, 232, 0, 80]);
        assert_eq!(sniff(&v2[..20], true), Sniff::NeedMore);
        assert_eq!(sniff(&v2, true), Sniff::Proxy(28));
        assert_eq!(
            describe_proxy(&v2),
            "PROXY v2 TCP4 1.2.3.4:1000 -> 5.6.7.8:80"
        );
        assert_eq!(sniff(&[b'P'; 200], true), Sniff::Echo);
        let mut long = b"PROXY ".to_vec();
        long.extend_from_slice(&[b'x'; 200]);
        assert_eq!(sniff(&long, true), Sniff::BadProxy);
    }

    #[test]
    fn parses_heads() {
        let r = parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(r.keep_alive && r.http11 && !r.head_only && r.body == Body::None);
        let r = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        let r = parse_head(b"HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(r.keep_alive && r.head_only && !r.http11);
        let r = parse_head(b"GET / HTTP/1.1\r\nconnection: foo, close\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        let r = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(r.body, Body::Length(5));
        let r = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(r.body, Body::Chunked);
        assert!(r.keep_alive);
        let r = parse_head(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert!(r.body == Body::Chunked && !r.keep_alive);
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn finds_head_end() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nA: b\r\n\r\nX"), Some(24));
        assert_eq!(head_len(b"GET / HTTP/1.0\n\nX"), Some(16));
        assert_eq!(parse_chunk_size(b"1a;ext=1\r\n"), Some(26));
        assert_eq!(parse_chunk_size(b"\r\n"), None);
        assert_eq!(parse_chunk_size(b"zz\r\n"), None);
    }
}
