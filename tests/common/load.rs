//! Continuous client load (see `mod.rs`): threads that run HTTP and TCP
//! clients through the proxy until told to stop, check every answer, and
//! count what they did and every failure. Used by the tests that change the
//! proxy under load (`reload.rs`, `upgrade.rs`).

#![allow(dead_code)]

use super::*;
use std::sync::atomic::AtomicU64;

// ---------------------------------------------------------------------------
// Client load: threads that count what they did and every failure
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// GETs on a keep-alive connection, kept for the whole run; an answer
    /// with `Connection: close` is what [`Load::on_close`] says (a failure,
    /// or the close then a new connection).
    HttpKeepAlive,
    /// One GET per connection (`Connection: close`), then the close.
    HttpClose,
    /// Echo exchanges on one long-lived TCP session, until the test asks it
    /// to end ([`Client::end`]); then on a new one.
    TcpLong,
    /// One echo exchange per TCP connection.
    TcpShort,
}

/// What an [`Kind::HttpKeepAlive`] client makes of an answer with
/// `Connection: close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnClose {
    /// A failure: the proxy must keep every keep-alive connection.
    Fail,
    /// The proxy ends the connection (a graceful stop): the close must
    /// follow the answer with nothing more; counted in [`Client::closes`],
    /// then a new connection.
    Reconnect,
}

pub struct Client {
    pub name: String,
    pub kind: Kind,
    pub addr: SocketAddr,
    /// Names of the servers that may answer (`server=NAME` of an HTTP
    /// answer, the greeting of a TCP session), checked on every answer.
    pub servers: Vec<String>,
    /// Operations completed (an HTTP answer checked, an echo checked).
    pub done: AtomicU64,
    /// Keep-alive connections the proxy ended with `Connection: close`.
    pub closes: AtomicU64,
    /// TcpLong: the test asks it to close its session...
    pub end: AtomicBool,
    /// ... and it did.
    pub ended: AtomicBool,
}

pub struct Load {
    pub stop: AtomicBool,
    pub clients: Vec<Client>,
    pub failures: Mutex<Vec<String>>,
    pub failed: AtomicU64,
    /// What a keep-alive client makes of `Connection: close`.
    pub on_close: OnClose,
    pub t0: Instant,
    /// What the test thread did, and when (for the report).
    pub phases: Mutex<Vec<String>>,
}

/// Sets the flag when dropped: client threads stop even when the test
/// thread panics (a scope joins its threads before unwinding further).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Load {
    pub fn new(on_close: OnClose) -> Load {
        Load {
            stop: AtomicBool::new(false),
            clients: Vec::new(),
            failures: Mutex::new(Vec::new()),
            failed: AtomicU64::new(0),
            on_close,
            t0: Instant::now(),
            phases: Mutex::new(Vec::new()),
        }
    }

    /// Adds a client that only `servers` may answer; its index in
    /// `clients`.
    pub fn add(&mut self, name: &str, kind: Kind, addr: SocketAddr, servers: &[&str]) -> usize {
        self.clients.push(Client {
            name: name.to_string(),
            kind,
            addr,
            servers: servers.iter().map(|s| s.to_string()).collect(),
            done: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            end: AtomicBool::new(false),
            ended: AtomicBool::new(false),
        });
        self.clients.len() - 1
    }

    /// Starts one thread per client in `scope`; they run until `stop`.
    pub fn spawn<'s, 'e: 's>(&'e self, scope: &'s thread::Scope<'s, 'e>) {
        for c in &self.clients {
            thread::Builder::new()
                .name(c.name.clone())
                .spawn_scoped(scope, move || run_client(self, c))
                .expect("spawn client");
        }
    }

    pub fn fail(&self, c: &Client, what: String) {
        let n = self.failed.fetch_add(1, Ordering::SeqCst) + 1;
        let mut g = self.failures.lock().unwrap();
        if g.len() < 20 {
            g.push(format!(
                "#{n} at {:?} {} ({:?}): {what}",
                self.t0.elapsed(),
                c.name,
                c.kind
            ));
        }
    }

    /// Notes a step of the test thread, with the time and the progress.
    pub fn mark(&self, what: &str) {
        let line = format!("{:?}: {what} {:?}", self.t0.elapsed(), self.progress());
        self.phases.lock().unwrap().push(line);
    }

    pub fn progress(&self) -> Vec<u64> {
        self.clients
            .iter()
            .map(|c| c.done.load(Ordering::SeqCst))
            .collect()
    }

    /// Each client completed at least `n` more operations than in `since`,
    /// within `within`.
    pub fn try_wait_progress(&self, since: &[u64], n: u64, within: Duration) -> Result<(), String> {
        let ok = wait_for(within, || {
            self.progress()
                .iter()
                .zip(since)
                .all(|(now, s)| *now >= s + n)
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "some client did not complete {n} operations within {within:?}: {since:?} -> {:?}\n{}",
                self.progress(),
                self.report()
            ))
        }
    }

    /// Each client completes at least `n` more operations than in `since`
    /// (within twice a client's I/O timeout: a client stuck on one
    /// operation records its failure first).
    #[track_caller]
    pub fn wait_progress(&self, since: &[u64], n: u64, when: &str) {
        if let Err(e) = self.try_wait_progress(since, n, 2 * IO_TIMEOUT) {
            panic!("{when}: {e}");
        }
    }

    pub fn report(&self) -> String {
        let mut s = format!(
            "at {:?}: failures: {}\n",
            self.t0.elapsed(),
            self.failed.load(Ordering::SeqCst)
        );
        for f in self.failures.lock().unwrap().iter() {
            s.push_str(f);
            s.push('\n');
        }
        for p in self.phases.lock().unwrap().iter() {
            s.push_str(p);
            s.push('\n');
        }
        for c in &self.clients {
            s.push_str(&format!(
                "{} ({:?}): {} done, {} closes by the proxy\n",
                c.name,
                c.kind,
                c.done.load(Ordering::SeqCst),
                c.closes.load(Ordering::SeqCst)
            ));
        }
        s
    }

    /// No failure at all.
    #[track_caller]
    pub fn assert_no_failure(&self) {
        assert_eq!(
            self.failed.load(Ordering::SeqCst),
            0,
            "clients saw failures:\n{}",
            self.report()
        );
    }

    /// No failure at all, and every client completed at least `min` operations.
    #[track_caller]
    pub fn assert_clean(&self, min: u64) {
        self.assert_no_failure();
        for c in &self.clients {
            let done = c.done.load(Ordering::SeqCst);
            assert!(
                done >= min,
                "{} made {done} operations (expected at least {min})\n{}",
                c.name,
                self.report()
            );
        }
    }
}

/// A TCP session to a hello backend (`NAME\n` on accept, then echo): the
/// stream and the server's name.
pub fn hello_session(addr: SocketAddr) -> Result<(TcpStream, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    let name = read_line(&mut s).map_err(|e| {
        if is_timeout(&e) {
            format!("no greeting via {addr} within {IO_TIMEOUT:?} (connected: accepted by nobody?)")
        } else {
            format!("greeting via {addr}: {e}")
        }
    })?;
    Ok((s, name))
}

/// Checks an answer of the HTTP test server to `GET path`: 200, the path,
/// and a server of `servers`.
pub fn check_answer(r: &HttpResponse, path: &str, servers: &[String]) -> Result<(), String> {
    if r.status != 200 {
        return Err(format!("GET {path}: status {}: {}", r.status, r.head_str()));
    }
    let server = r.field("server").unwrap_or_default();
    if r.field("path").as_deref() != Some(path) || !servers.contains(&server) {
        return Err(format!(
            "GET {path}: unexpected body {:?} (servers allowed: {servers:?})",
            r.body_str()
        ));
    }
    Ok(())
}

/// One request on `c` (the `nth` on its connection): its answer, checked
/// ([`check_answer`]).
pub fn http_exchange(
    c: &mut HttpClient,
    path: &str,
    extra: &str,
    servers: &[String],
    nth: u64,
) -> Result<HttpResponse, String> {
    let on = format!("request {nth} on its connection");
    c.try_send(get_req(path, extra))
        .map_err(|e| format!("GET {path} ({on}): write: {e}"))?;
    let r = match c.read_final(false) {
        Ok((_, r)) => r,
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
            return Err(format!("GET {path} ({on}): EOF before the answer: {e}"));
        }
        Err(e) => return Err(format!("GET {path} ({on}): {:?}: {e}", e.kind())),
    };
    check_answer(&r, path, servers)?;
    Ok(r)
}

/// After an answer announcing the close: the close, with nothing more.
pub fn expect_close_after(c: &mut HttpClient, path: &str) -> Result<(), String> {
    let mut rest = c.r.buffered().to_vec();
    c.r.pos = c.r.buf.len();
    c.r.read_to_eof_to(Instant::now() + IO_TIMEOUT, |b| rest.extend_from_slice(b))
        .map_err(|e| format!("GET {path}: no clean close after the answer: {e}"))?;
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "GET {path}: {} stray bytes after the answer",
            rest.len()
        ))
    }
}

/// Per-thread state of a client: its connection, when it keeps one.
#[derive(Default)]
struct ClientConn {
    http: Option<HttpClient>,
    /// Requests sent on `http`.
    http_reqs: u64,
    tcp: Option<TcpStream>,
}

fn check_session_server(c: &Client, name: &str) -> Result<(), String> {
    if c.servers.iter().any(|s| s == name) {
        Ok(())
    } else {
        Err(format!(
            "session served by {name:?} (allowed: {:?})",
            c.servers
        ))
    }
}

/// One operation of client `c` (number `n`).
fn client_op(load: &Load, c: &Client, n: u64, conn: &mut ClientConn) -> Result<(), String> {
    let path = format!("/{}/{n}", c.name);
    match c.kind {
        Kind::HttpKeepAlive => {
            if conn.http.is_none() {
                conn.http = Some(HttpClient::try_connect(c.addr)?);
                conn.http_reqs = 0;
            }
            conn.http_reqs += 1;
            let cl = conn.http.as_mut().unwrap();
            let r = http_exchange(cl, &path, "", &c.servers, conn.http_reqs)?;
            if r.has_token("connection", "close") {
                match load.on_close {
                    OnClose::Fail => {
                        return Err(format!(
                            "GET {path}: keep-alive ended by the proxy (Connection: close)"
                        ));
                    }
                    OnClose::Reconnect => {
                        // The proxy ends this connection (graceful stop):
                        // it closes it after this answer.
                        expect_close_after(cl, &path)?;
                        conn.http = None;
                        c.closes.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            Ok(())
        }
        Kind::HttpClose => {
            let mut cl = HttpClient::try_connect(c.addr)?;
            let r = http_exchange(&mut cl, &path, "Connection: close\r\n", &c.servers, 1)?;
            if !r.has_token("connection", "close") {
                return Err(format!("GET {path}: no Connection: close in the answer"));
            }
            expect_close_after(&mut cl, &path)
        }
        Kind::TcpLong => {
            if c.end.load(Ordering::SeqCst) && !c.ended.load(Ordering::SeqCst) {
                conn.tcp = None;
                c.ended.store(true, Ordering::SeqCst);
            }
            if conn.tcp.is_none() {
                let (s, name) = hello_session(c.addr)?;
                check_session_server(c, &name)?;
                conn.tcp = Some(s);
            }
            try_echo_line(conn.tcp.as_mut().unwrap(), &format!("{} {n}", c.name))
        }
        Kind::TcpShort => {
            let (mut s, name) = hello_session(c.addr)?;
            check_session_server(c, &name)?;
            try_echo_line(&mut s, &format!("{} {n}", c.name))
        }
    }
}

fn run_client(load: &Load, c: &Client) {
    let mut n = 0u64;
    let mut conn = ClientConn::default();
    while !load.stop.load(Ordering::SeqCst) {
        n += 1;
        match client_op(load, c, n, &mut conn) {
            Ok(()) => {
                c.done.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                load.fail(c, e);
                // Start over on a new connection, a little later.
                conn = ClientConn::default();
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
