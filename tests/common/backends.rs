//! Test backends and the PROXY protocol helpers (see `mod.rs`).

#![allow(dead_code)]

use super::*;

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
pub(crate) struct BackendLog {
    events: Vec<Event>,
    records: Vec<(usize, String)>,
}

#[derive(Default)]
pub(crate) struct BackendState {
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

    pub(crate) fn from_listener(name: &str, listener: TcpListener, handler: Handler) -> Backend {
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
    pub(crate) fn wait_log(&self, timeout: Duration, pred: impl Fn(&BackendLog) -> bool) -> bool {
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
            let (n, fnv) = match hash_to_eof(&mut s) {
                Ok(v) => v,
                Err((n, e)) => {
                    c.record(format!("error after {n} bytes: {e}"));
                    return;
                }
            };
            c.record(format!("{n} {fnv:016x}"));
            let _ = s.write_all(format!("{n} {fnv:016x}\n").as_bytes());
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
        Backend::proxy_capture_on(name, SocketAddr::new(LOCALHOST, 0))
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
            let (n, fnv) = match hash_to_eof(&mut s) {
                Ok(v) => v,
                Err((n, e)) => {
                    c.record(format!("error after {n} bytes: {e}"));
                    return;
                }
            };
            c.record(format!("eof {n} {fnv:016x}"));
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
            match hash_to_eof(&mut s) {
                Ok((n, fnv)) => c.record(format!("eof {n} {fnv:016x}")),
                Err((n, e)) => c.record(format!("error {n}: {e}")),
            }
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

/// Reads until EOF: (byte count, FNV-1a of the bytes); on an error, the
/// byte count before it and the error.
pub fn hash_to_eof(s: &mut TcpStream) -> Result<(u64, u64), (u64, io::Error)> {
    let mut f = Fnv::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok((n, f.0)),
            Ok(k) => {
                f.update(&buf[..k]);
                n += k as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err((n, e)),
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

pub(crate) fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), String> {
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

/// `global` (nbthread, then `global_extra` lines) and `defaults` in `mode`
/// with connect 1s / client 10s / server 10s, then `body`.
pub fn mode_config(mode: &str, nbthread: usize, global_extra: &str, body: &str) -> String {
    format!(
        "global\n    nbthread {nbthread}\n{global_extra}\n\ndefaults\n    mode {mode}\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n{body}\n"
    )
}

/// Each non-blank line of `lines`, trimmed, indented by four spaces and
/// ended by a newline (the keywords of a section).
pub fn indent(lines: &str) -> String {
    lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("    {}\n", l.trim()))
        .collect()
}

/// A `listen NAME` section on 127.0.0.1:`port` with `extra` lines (see
/// [`indent`]) and one `server` line per (name, address).
pub fn listen_section(
    name: &str,
    port: u16,
    extra: &str,
    servers: &[(&str, SocketAddr)],
) -> String {
    let mut s = format!("listen {name}\n    bind 127.0.0.1:{port}\n");
    s.push_str(&indent(extra));
    for (n, a) in servers {
        s.push_str(&format!("    server {n} {}\n", cfg_addr(*a)));
    }
    s
}
