//! HTTP test server and client, HAProxy's error pages, access-log,
//! health-check and runtime-API helpers (see `mod.rs`).

#![allow(dead_code)]

use super::*;
use std::os::unix::net::UnixStream;

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

    pub(crate) fn eof_err(what: &str, got: &[u8]) -> io::Error {
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
pub(crate) struct HttpState {
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
}

pub(crate) fn http_write(s: &mut TcpStream, bytes: &[u8]) -> bool {
    s.write_all(bytes).is_ok()
}

/// Closes `s` with a reset (SO_LINGER 0).
pub fn reset_close(s: TcpStream) {
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

pub(crate) fn http_serve(s: TcpStream, c: &Conn, name: &str, opts: &HttpOpts, st: &HttpState) {
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
                reset_close(s);
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
                reset_close(s);
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

    /// [`HttpClient::connect`], the failure as a message.
    pub fn try_connect(addr: SocketAddr) -> Result<HttpClient, String> {
        Ok(HttpClient {
            r: ByteReader::new(try_connect(addr)?),
        })
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
        self.send(get_req(path, extra));
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
    mode_config("http", nbthread, global_extra, body)
}

/// A `listen px` section on 127.0.0.1:`port` with `extra` lines (indented
/// by the caller or not) and one `server` line per (name, address).
pub fn http_listen(port: u16, extra: &str, servers: &[(&str, SocketAddr)]) -> String {
    listen_section("px", port, extra, servers)
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

/// An [`HttpBackend`] `s1` and a one-shard proxy in front of it (see
/// [`start_http_proxy`]): (proxy, its address, the backend).
pub fn start_http_s1(global_extra: &str, extra: &str) -> (Proxy, SocketAddr, HttpBackend) {
    let be = HttpBackend::start("s1");
    let (p, addr) = start_http_proxy(1, global_extra, extra, &[("s1", be.addr)]);
    (p, addr, be)
}

/// Bound on "the proxy closes the connection right after its own answer"
/// (shorter than [`CLOSE_BOUND`] so that a proxy that forgets to close fails
/// fast).
pub const ANSWER_CLOSE_BOUND: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// HAProxy's default error pages
// ---------------------------------------------------------------------------

/// HAProxy's default error page `code` (`len`: its body length).
pub fn page(code: u16, reason: &str, len: usize, text: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-length: {len}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>{code} {reason}</h1>\n{text}\n</body></html>\n"
    )
}

pub fn page_400() -> String {
    page(
        400,
        "Bad request",
        90,
        "Your browser sent an invalid request.",
    )
}
pub fn page_408() -> String {
    page(
        408,
        "Request Time-out",
        110,
        "Your browser didn't send a complete request in time.",
    )
}
pub fn page_502() -> String {
    page(
        502,
        "Bad Gateway",
        107,
        "The server returned an invalid or incomplete response.",
    )
}
pub fn page_503() -> String {
    page(
        503,
        "Service Unavailable",
        107,
        "No server is available to handle this request.",
    )
}
pub fn page_504() -> String {
    page(
        504,
        "Gateway Time-out",
        92,
        "The server didn't respond in time.",
    )
}

/// Connects to `addr`, sends `req`, expects exactly `want` then the
/// close within `within`; returns the time from the send to the close.
pub fn expect_page(
    addr: SocketAddr,
    req: impl AsRef<[u8]>,
    want: &str,
    within: Duration,
) -> Duration {
    let req = req.as_ref();
    let mut c = HttpClient::connect(addr);
    let t0 = Instant::now();
    // The proxy may close while we write (it answers early): write errors
    // are ignored, what matters is what comes back.
    let _ = c.try_send(req);
    let closed = c.expect_closed(within);
    assert_eq!(
        String::from_utf8_lossy(&closed.data),
        want,
        "request {:?}",
        String::from_utf8_lossy(req)
    );
    t0.elapsed()
}

// ---------------------------------------------------------------------------
// The proxy's stdout on its own (access log tests)
// ---------------------------------------------------------------------------

impl ProxyBuilder {
    /// Like [`ProxyBuilder::start`], except that the child's stdout goes to
    /// its own [`LogBuf`] (returned) instead of being merged with stderr:
    /// [`Proxy::log`] then holds stderr only. For `log stdout` targets.
    pub fn start_with_stdout(self) -> (Proxy, LogBuf) {
        let out = LogBuf::default();
        let mut p = self.spawn_inner(Some(out.clone()));
        p.expect_ready();
        (p, out)
    }
}

// ---------------------------------------------------------------------------
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

pub(crate) struct FlipState {
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

    pub(crate) fn serve(&self, listener: TcpListener) {
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

pub(crate) fn flip_serve(s: TcpStream, name: &str, st: &FlipState) {
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

// ---------------------------------------------------------------------------
// The runtime API: socat, an interactive session, `show stat` fields
// ---------------------------------------------------------------------------

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

/// The number of `key: N` in `show info` output.
pub fn info_num(info: &str, key: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .and_then(|v| v.trim().parse().ok())
}

/// An interactive runtime API session (`prompt`) on a unix socket: one
/// connection for many commands, each answered up to the next prompt.
pub struct ApiPrompt(pub UnixStream);

impl ApiPrompt {
    pub fn open(path: &Path) -> ApiPrompt {
        let mut s = UnixStream::connect(path).expect("connect to the API socket");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"prompt\n").unwrap();
        let mut p = ApiPrompt(s);
        p.read_to_prompt();
        p
    }

    pub fn read_to_prompt(&mut self) -> String {
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !got.ends_with(b"\n> ") && got != b"> " {
            let n = self.0.read(&mut b).expect("API answer");
            assert!(n > 0, "API closed: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&b[..n]);
        }
        got.truncate(got.len() - 2);
        String::from_utf8(got).unwrap()
    }

    /// Runs one command; its output, trimmed.
    pub fn cmd(&mut self, c: &str) -> String {
        self.0.write_all(format!("{c}\n").as_bytes()).unwrap();
        self.read_to_prompt().trim().to_string()
    }
}

/// Field `name` of the row `px`/`sv` of a `show stat` output `csv` (empty
/// when the row has it empty).
pub fn stat_field(csv: &str, px: &str, sv: &str, name: &str) -> String {
    let header: Vec<&str> = csv
        .lines()
        .next()
        .expect("header")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .unwrap_or_else(|| panic!("no row {px}/{sv} in\n{csv}"));
    row.split(',').nth(col).unwrap_or("").to_string()
}
