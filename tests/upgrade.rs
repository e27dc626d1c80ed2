//! Binary upgrade, HAProxy style: the running process has `stats socket PATH
//! level admin expose-fd listeners`; a new one started with `-x PATH -sf
//! OLDPID` takes the old one's listening sockets over `_getsocks` (SCM_RIGHTS,
//! HAProxy's wire format), binds the API socket over the live one, and once
//! ready sends SIGUSR1 (`-st`: SIGTERM) to the old one, which stops
//! accepting, finishes its sessions and exits 0.
//!
//! What a client must never see: a refused connect, a reset, an EOF before
//! its answer, a wrong answer. A keep-alive client of the old process gets
//! `Connection: close` on an answer and then the close: that is the
//! graceful stop, and it reconnects (to the new process). The
//! configurations have `option idle-close-on-response`: without it a
//! graceful stop closes idle keep-alive connections at once, and a request
//! crossing that close is lost (HAProxy's default too).
//!
//! Every wait is bounded; nothing depends on how fast anything is: the
//! tests wait for log lines, exits and client progress.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::{ErrorKind, IoSliceMut, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

/// Bound on "the old process exits" once nothing holds it up.
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// Shards of every process here: a bind is one listening socket per shard,
/// so an old process hands over `binds * SHARDS` sockets.
const SHARDS: usize = 2;

// ---------------------------------------------------------------------------
// The configuration, the processes, the listening sockets
// ---------------------------------------------------------------------------

/// `stats socket` options of a process that lets a successor take its
/// listening sockets.
const EXPOSE: &str = "level admin expose-fd listeners";

/// The servers behind every proxy of a test: HTTP (`web`) and TCP hello
/// (`NAME\n` on accept, then echo) ones (`tcp_be`).
struct Servers {
    s1: HttpBackend,
    s2: HttpBackend,
    e1: Backend,
    e2: Backend,
}

const WEB: &[&str] = &["s1", "s2"];
const TCP: &[&str] = &["e1", "e2"];

/// One configuration (the same text for every process of a test), its
/// stats socket and its two binds: HTTP `fe` and TCP `tcp_fe`.
struct Rig {
    shards: usize,
    cfg: String,
    sock: PathBuf,
    http: u16,
    tcp: u16,
    _sv: Servers,
    _dir: TempDir,
}

impl Rig {
    /// `sock_opts`: the options of the `stats socket` line; `SHARDS`
    /// shards; `option idle-close-on-response`.
    fn new(sock_opts: &str) -> Rig {
        Rig::custom(sock_opts, SHARDS, true)
    }

    /// `idle_close_on_response`: `option idle-close-on-response` in
    /// `defaults` (without it, a graceful stop closes idle keep-alive
    /// connections at once, and a request crossing that close is lost, as
    /// with HAProxy's default).
    fn custom(sock_opts: &str, shards: usize, idle_close_on_response: bool) -> Rig {
        let sv = Servers {
            s1: HttpBackend::start("s1"),
            s2: HttpBackend::start("s2"),
            e1: Backend::hello("e1"),
            e2: Backend::hello("e2"),
        };
        let dir = TempDir::new();
        let sock = dir.path.join("api.sock");
        let (http, tcp) = (free_port(), free_port());
        let option = if idle_close_on_response {
            "    option idle-close-on-response\n"
        } else {
            ""
        };
        let cfg = format!(
            "global\n    nbthread {shards}\n    stats socket {} {sock_opts}\n\n\
             defaults\n    mode http\n{option}    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n\
             frontend fe\n    bind 127.0.0.1:{http}\n    default_backend web\n\n\
             backend web\n    balance roundrobin\n    server s1 {}\n    server s2 {}\n\n\
             frontend tcp_fe\n    mode tcp\n    bind 127.0.0.1:{tcp}\n    default_backend tcp_be\n\n\
             backend tcp_be\n    mode tcp\n    balance roundrobin\n    server e1 {}\n    server e2 {}\n",
            sock.display(),
            cfg_addr(sv.s1.addr),
            cfg_addr(sv.s2.addr),
            cfg_addr(sv.e1.addr),
            cfg_addr(sv.e2.addr),
        );
        assert_config_ok(&cfg);
        Rig {
            shards,
            cfg,
            sock,
            http,
            tcp,
            _sv: sv,
            _dir: dir,
        }
    }

    /// The listening sockets a process of this configuration hands over:
    /// one per bind and shard.
    fn sockets(&self) -> usize {
        2 * self.shards
    }

    fn http_addr(&self) -> SocketAddr {
        local(self.http)
    }

    fn tcp_addr(&self) -> SocketAddr {
        local(self.tcp)
    }

    /// The first process. (No `-d`: per-request debug lines would make
    /// the captured output, scanned by every wait for a log line, grow by
    /// megabytes under load.)
    fn start(&self) -> Proxy {
        Proxy::builder().config(&self.cfg).debug(false).start()
    }

    /// A new process taking over from `old`: `-x SOCK` then `stop_flag`
    /// (`-sf` or `-st`) and the old pid; returned once ready.
    fn upgrade(&self, old: &Proxy, stop_flag: &str) -> Proxy {
        Proxy::builder()
            .config(&self.cfg)
            .debug(false)
            .arg("-x")
            .arg(self.sock.to_str().expect("utf-8 path"))
            .arg(stop_flag)
            .arg(&old.pid().to_string())
            .start()
    }

    fn info(&self) -> String {
        api(&self.sock, "show info\n")
    }

    /// Inodes of the sockets listening on the HTTP and the TCP bind.
    fn listeners(&self) -> (BTreeSet<u64>, BTreeSet<u64>) {
        (listen_inodes(self.http), listen_inodes(self.tcp))
    }
}

/// Asserts that the runtime API socket is served by `p` (its `Pid`).
#[track_caller]
fn assert_api_is(rig: &Rig, p: &Proxy, who: &str) -> String {
    let info = rig.info();
    assert_eq!(
        info_num(&info, "Pid"),
        Some(p.pid() as u64),
        "the API socket should be the {who} process's ({}):\n{info}",
        p.pid()
    );
    info
}

/// Inodes of the TCP sockets listening on 127.0.0.1:`port`, from
/// /proc/net/tcp: the same inodes before and after an upgrade mean the new
/// process accepts on the very sockets the old one listened on. The kernel
/// lists the listening sockets first, and the rest (thousands of TIME_WAIT
/// ones under load, slow to list) only as far as it is read: the reading
/// stops at the first socket that is not listening.
fn listen_inodes(port: u16) -> BTreeSet<u64> {
    use std::io::BufRead;
    let f = std::fs::File::open("/proc/net/tcp").expect("open /proc/net/tcp");
    let local = format!("0100007F:{port:04X}");
    let mut out = BTreeSet::new();
    for l in std::io::BufReader::new(f).lines().skip(1) {
        let l = l.expect("read /proc/net/tcp");
        let f: Vec<&str> = l.split_whitespace().collect();
        // sl local rem st queues timer retrnsmt uid timeout inode ...
        if f.len() < 10 || f[3] != "0A" {
            break;
        }
        if f[1] == local {
            out.insert(f[9].parse().expect("inode"));
        }
    }
    out
}

/// Waits (bounded) for the exit of `p` and asserts it is 0, with `what`
/// and the output on failure.
#[track_caller]
fn expect_exit_0(p: &mut Proxy, what: &str) {
    let st = p
        .wait_exit(EXIT_BOUND)
        .unwrap_or_else(|| panic!("{what}: still running after {EXIT_BOUND:?}"));
    assert!(
        st.success(),
        "{what}: exit status {st}; output:\n{}",
        tail_of(&p.log())
    );
}

/// Asserts that the log of `p` has each of `lines`, in this order.
#[track_caller]
fn assert_log_order(p: &Proxy, lines: &[&str]) {
    let log = p.log();
    let mut at = 0;
    for l in lines {
        match log[at..].find(l) {
            Some(i) => at += i + l.len(),
            None => panic!(
                "`{l}` not in the log (after the previous line expected):\n{}",
                tail_of(&log)
            ),
        }
    }
}

#[track_caller]
fn expect_log(p: &Proxy, line: &str) {
    assert!(
        p.wait_log(line, IO_TIMEOUT),
        "`{line}` not logged:\n{}",
        tail_of(&p.log())
    );
}

fn tail_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

/// What an old process logs when it hands `n` sockets over.
fn handed_over(n: usize) -> String {
    format!("runtime API: {n} listening sockets handed over (_getsocks)")
}

/// What a new process logs when it receives `n` sockets over `sock`.
fn received(n: usize, sock: &Path) -> String {
    format!("{n} listening sockets received from {}", sock.display())
}

// ---------------------------------------------------------------------------
// Single checks of the test thread
// ---------------------------------------------------------------------------

/// One GET on a fresh connection (`Connection: close`), answered by a
/// `web` server.
#[track_caller]
fn fresh_get(addr: SocketAddr, path: &str) {
    let mut c = HttpClient::connect(addr);
    let r = c.get(path, "Connection: close\r\n");
    assert_eq!(r.status, 200, "GET {path}: {}", r.head_str());
    assert_eq!(r.field("path").as_deref(), Some(path), "{}", r.body_str());
    assert!(WEB.contains(&r.server().as_str()), "{}", r.body_str());
}

/// A TCP session to a `tcp_be` server ([`hello_session`], greeted by one of
/// `TCP`): the stream and the server's name.
fn tcp_session(addr: SocketAddr) -> Result<(TcpStream, String), String> {
    let (s, name) = hello_session(addr)?;
    if !TCP.contains(&name.as_str()) {
        return Err(format!(
            "session greeted by {name:?} (expected one of {TCP:?})"
        ));
    }
    Ok((s, name))
}

/// Whether the peer closed `s` (EOF or reset), looking for 10 ms.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut b = [0u8; 64];
    let closed = match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    closed
}

/// A TCP session through `addr` that echoes.
#[track_caller]
fn fresh_echo(addr: SocketAddr, line: &str) {
    let (mut s, _) = tcp_session(addr).unwrap_or_else(|e| panic!("{e}"));
    try_echo_line(&mut s, line).unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------
// a) The main one: an upgrade under load loses nothing
// ---------------------------------------------------------------------------

#[test]
fn binary_upgrade_under_load_loses_nothing() {
    let rig = Rig::new(EXPOSE);
    let mut old = rig.start();
    let before = rig.listeners();
    assert_eq!(before.0.len(), rig.shards, "HTTP listeners: {before:?}");
    assert_eq!(before.1.len(), rig.shards, "TCP listeners: {before:?}");
    assert_api_is(&rig, &old, "old");

    let mut load = Load::new(OnClose::Reconnect);
    load.add("ka1", Kind::HttpKeepAlive, rig.http_addr(), WEB);
    load.add("ka2", Kind::HttpKeepAlive, rig.http_addr(), WEB);
    load.add("close", Kind::HttpClose, rig.http_addr(), WEB);
    load.add("short", Kind::TcpShort, rig.tcp_addr(), TCP);
    let long = load.add("long", Kind::TcpLong, rig.tcp_addr(), TCP);
    let n = load.clients.len();

    let new = thread::scope(|scope| {
        let stop = StopOnDrop(&load.stop);
        load.spawn(scope);
        load.wait_progress(&vec![0; n], 50, "before the upgrade");

        load.mark("starting the new process");
        let new = rig.upgrade(&old, "-sf");
        load.mark("new process ready");
        let pid = old.pid();
        expect_log(&new, &format!("sent SIGUSR1 to the old process {pid}"));
        assert_log_order(
            &new,
            &[
                &received(rig.sockets(), &rig.sock),
                "ringproxy ready:",
                &format!("sent SIGUSR1 to the old process {pid}"),
            ],
        );
        expect_log(&old, &handed_over(rig.sockets()));
        expect_log(&old, "SIGUSR1 received: stopping gracefully");
        assert_log_order(
            &old,
            &[
                &handed_over(rig.sockets()),
                "SIGUSR1 received: stopping gracefully",
            ],
        );
        assert_api_is(&rig, &new, "new");

        // The long TCP session holds the old process up, and still works;
        // so does everything else.
        let since = load.progress();
        load.wait_progress(&since, 10, "during the old process's graceful stop");
        load.mark("progress during the graceful stop");
        assert!(
            old.try_wait().is_none(),
            "the old process exited with a TCP session in progress:\n{}",
            tail_of(&old.log())
        );
        // Its end lets the old process go.
        load.clients[long].end.store(true, Ordering::SeqCst);
        assert!(
            wait_for(IO_TIMEOUT, || load.clients[long]
                .ended
                .load(Ordering::SeqCst)),
            "the long session was not closed\n{}",
            load.report()
        );
        expect_exit_0(&mut old, "the old process");
        load.mark("old process exited");
        expect_log(&old, "graceful stop complete: every session ended");

        // From now on the new process serves everything.
        let since = load.progress();
        load.wait_progress(&since, 100, "after the old process exited");
        load.mark("progress on the new process");
        drop(stop);
        new
    });
    load.assert_no_failure();
    for c in &load.clients {
        if c.kind == Kind::HttpKeepAlive {
            assert!(
                c.closes.load(Ordering::SeqCst) >= 1,
                "{}: its keep-alive connection to the old process never got `Connection: close`\n{}",
                c.name,
                load.report()
            );
        }
    }
    // The new process accepts on the very sockets the old one listened on.
    assert_eq!(rig.listeners(), before, "listening sockets (inodes)");
    let info = assert_api_is(&rig, &new, "new");
    for key in ["CumConns", "CumReq"] {
        assert!(
            info_num(&info, key).is_some_and(|v| v > 0),
            "{key} of the new process:\n{info}"
        );
    }
    fresh_get(rig.http_addr(), "/last");
    fresh_echo(rig.tcp_addr(), "last");
    new.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// b) Twice in a row: A -> B -> C
// ---------------------------------------------------------------------------

#[test]
fn upgrade_twice_in_a_row() {
    let rig = Rig::new(EXPOSE);
    let mut a = rig.start();
    let before = rig.listeners();
    assert_eq!(before.0.len(), rig.shards, "HTTP listeners: {before:?}");

    let mut load = Load::new(OnClose::Reconnect);
    load.add("ka", Kind::HttpKeepAlive, rig.http_addr(), WEB);
    load.add("close", Kind::HttpClose, rig.http_addr(), WEB);
    load.add("short", Kind::TcpShort, rig.tcp_addr(), TCP);
    let n = load.clients.len();

    let c = thread::scope(|scope| {
        let stop = StopOnDrop(&load.stop);
        load.spawn(scope);
        load.wait_progress(&vec![0; n], 50, "before the first upgrade");

        load.mark("starting B");
        let mut b = rig.upgrade(&a, "-sf");
        load.mark("B ready");
        expect_log(&b, &received(rig.sockets(), &rig.sock));
        expect_log(&a, &handed_over(rig.sockets()));
        expect_exit_0(&mut a, "A");
        load.mark("A exited");
        expect_log(&a, "graceful stop complete: every session ended");
        let since = load.progress();
        load.wait_progress(&since, 50, "on B");
        load.mark("progress on B");
        assert_eq!(rig.listeners(), before, "listening sockets on B");
        assert_api_is(&rig, &b, "B");

        // B hands over the sockets it received.
        load.mark("starting C");
        let c = rig.upgrade(&b, "-sf");
        load.mark("C ready");
        expect_log(&c, &received(rig.sockets(), &rig.sock));
        expect_log(&c, &format!("sent SIGUSR1 to the old process {}", b.pid()));
        expect_log(&b, &handed_over(rig.sockets()));
        expect_exit_0(&mut b, "B");
        load.mark("B exited");
        expect_log(&b, "graceful stop complete: every session ended");
        let since = load.progress();
        load.wait_progress(&since, 50, "on C");
        load.mark("progress on C");
        drop(stop);
        c
    });
    load.assert_no_failure();
    assert_eq!(rig.listeners(), before, "listening sockets on C");
    let info = assert_api_is(&rig, &c, "C");
    assert!(
        info_num(&info, "CumReq").is_some_and(|v| v > 0),
        "CumReq of C:\n{info}"
    );
    fresh_get(rig.http_addr(), "/on-c");
    fresh_echo(rig.tcp_addr(), "on C");
    c.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// Many upgrades in a row, a new TCP connection for every exchange
// ---------------------------------------------------------------------------

/// Twenty upgrades in a row (each from the previous process) while a client
/// opens a TCP connection per exchange: every connection the kernel
/// completes on the shared listening sockets is accepted by one process or
/// the other and served at once (not when some later connection happens to
/// wake the listener up); after each upgrade the client goes on.
#[test]
fn many_upgrades_lose_no_connection() {
    const ROUNDS: usize = 20;
    let rig = Rig::new(EXPOSE);
    let mut cur = rig.start();
    let before = rig.listeners();
    let mut load = Load::new(OnClose::Reconnect);
    // One client: a connection it waits for is not rescued by another
    // one's arriving on the same listening socket.
    load.add("short", Kind::TcpShort, rig.tcp_addr(), TCP);
    let n = load.clients.len();
    thread::scope(|scope| {
        let stop = StopOnDrop(&load.stop);
        load.spawn(scope);
        load.wait_progress(&vec![0; n], 20, "before the first upgrade");
        for round in 1..=ROUNDS {
            let mut next = rig.upgrade(&cur, "-sf");
            expect_log(&next, &received(rig.sockets(), &rig.sock));
            expect_exit_0(&mut cur, &format!("the old process of upgrade {round}"));
            std::mem::swap(&mut cur, &mut next);
            drop(next);
            load.mark(&format!("upgrade {round}: the old process exited"));
            let since = load.progress();
            load.wait_progress(&since, 20, &format!("after upgrade {round}"));
            if load.failed.load(Ordering::SeqCst) > 0 {
                break; // reported below
            }
        }
        drop(stop);
    });
    load.assert_no_failure();
    assert_eq!(rig.listeners(), before, "listening sockets (inodes)");
    assert_api_is(&rig, &cur, "last");
    cur.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// c) Without `expose-fd listeners`: new sockets, still an upgrade
// ---------------------------------------------------------------------------

#[test]
fn upgrade_without_expose_fd_still_starts() {
    let rig = Rig::new("level admin");
    let mut old = rig.start();
    let before = rig.listeners();
    assert_eq!(before.0.len(), rig.shards, "HTTP listeners: {before:?}");
    fresh_get(rig.http_addr(), "/before");
    fresh_echo(rig.tcp_addr(), "before");

    let new = rig.upgrade(&old, "-sf");
    let warning = format!(
        "cannot get the listening sockets from {}: ",
        rig.sock.display()
    );
    expect_log(&new, &warning);
    let line = line_with(&new.log(), &warning).unwrap();
    assert!(line.ends_with("; binding new ones"), "{line}");
    assert!(
        !new.log().contains("listening sockets received"),
        "{}",
        tail_of(&new.log())
    );
    expect_log(
        &new,
        &format!("sent SIGUSR1 to the old process {}", old.pid()),
    );
    expect_exit_0(&mut old, "the old process");
    expect_log(&old, "SIGUSR1 received: stopping gracefully");
    assert!(
        !old.log().contains("handed over"),
        "{}",
        tail_of(&old.log())
    );

    // The new process serves on sockets of its own.
    let after = rig.listeners();
    assert_eq!(after.0.len(), rig.shards, "HTTP listeners: {after:?}");
    assert_eq!(after.1.len(), rig.shards, "TCP listeners: {after:?}");
    assert!(
        after.0.is_disjoint(&before.0) && after.1.is_disjoint(&before.1),
        "new sockets expected: {before:?} -> {after:?}"
    );
    assert_api_is(&rig, &new, "new");
    for i in 0..4 {
        fresh_get(rig.http_addr(), &format!("/after/{i}"));
        fresh_echo(rig.tcp_addr(), &format!("after {i}"));
    }
    new.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// d) `_getsocks` needs `expose-fd listeners` and level admin
// ---------------------------------------------------------------------------

/// HAProxy's `_getsocks` client, written independently of the crate's:
/// the count (native-endian i32), then batches of fds (SCM_RIGHTS) with 6
/// bytes each (no namespace, no interface, 4 bytes of options), each
/// acknowledged with the count so far.
fn getsocks(path: &Path) -> Vec<OwnedFd> {
    let mut s = UnixStream::connect(path).expect("connect to the API socket");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"_getsocks\n").unwrap();
    let mut n = [0u8; 4];
    s.read_exact(&mut n).expect("the socket count");
    let total = i32::from_ne_bytes(n);
    assert!(
        (1..=64).contains(&total),
        "socket count {total} ({:?})",
        String::from_utf8_lossy(&n)
    );
    let mut fds = Vec::new();
    let mut buf = vec![0u8; 253 * 516];
    while fds.len() < total as usize {
        let mut space = nix::cmsg_space!([RawFd; 253]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            s.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg");
        let bytes = msg.bytes;
        let mut got = 0;
        for c in msg.cmsgs().expect("cmsgs") {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(v) = c {
                got += v.len();
                // SAFETY: SCM_RIGHTS just installed these fds here.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        assert!(got > 0, "a message of {bytes} bytes without fds");
        assert_eq!(bytes, 6 * got, "6 bytes per fd");
        s.write_all(&(fds.len() as i32).to_ne_bytes()).unwrap();
    }
    assert_eq!(fds.len(), total as usize);
    fds
}

/// The local address of a listening TCP socket (panics if it is not one).
fn listening_addr(fd: &OwnedFd) -> SocketAddr {
    use nix::sys::socket::{SockaddrStorage, getsockname, getsockopt, sockopt};
    assert!(
        getsockopt(fd, sockopt::AcceptConn).expect("SO_ACCEPTCONN"),
        "not a listening socket"
    );
    let a: SockaddrStorage = getsockname(fd.as_raw_fd()).expect("getsockname");
    let a = a.as_sockaddr_in().expect("an IPv4 socket");
    SocketAddr::from((a.ip(), a.port()))
}

#[test]
fn getsocks_refused_without_expose_fd() {
    let be = HttpBackend::start("s1");
    let dir = TempDir::new();
    let plain = dir.path.join("plain.sock");
    let operator = dir.path.join("operator.sock");
    let exposed = dir.path.join("exposed.sock");
    let port = free_port();
    let cfg = http_config(
        SHARDS,
        &format!(
            "    stats socket {} level admin\n    stats socket {} level operator expose-fd listeners\n    stats socket {} {EXPOSE}",
            plain.display(),
            operator.display(),
            exposed.display()
        ),
        &http_listen(port, "", &[("s1", be.addr)]),
    );
    let p = Proxy::start(&cfg);
    assert_eq!(
        api(&plain, "_getsocks\n").trim_end(),
        "Permission denied",
        "admin without expose-fd"
    );
    assert_eq!(
        api(&operator, "_getsocks\n").trim_end(),
        "Permission denied",
        "operator with expose-fd"
    );
    assert!(!p.log().contains("handed over"), "{}", tail_of(&p.log()));
    // The control: with both, the sockets come, one per shard.
    let fds = getsocks(&exposed);
    assert_eq!(fds.len(), SHARDS);
    for fd in &fds {
        assert_eq!(listening_addr(fd), local(port));
    }
    drop(fds);
    expect_log(&p, &handed_over(SHARDS));
    // Nothing changed for the proxy.
    let mut c = HttpClient::connect(local(port));
    assert_eq!(c.get("/after", "").status, 200);
    assert!(api(&plain, "show info\n").contains("Pid: "));
    p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// e) -st: the old process stops at once
// ---------------------------------------------------------------------------

#[test]
fn st_stops_the_old_process_at_once() {
    let rig = Rig::new(EXPOSE);
    let mut old = rig.start();
    let before = rig.listeners();
    // A session that would hold a graceful stop for as long as it lasts.
    let (mut held, _) = tcp_session(rig.tcp_addr()).unwrap();
    try_echo_line(&mut held, "before").unwrap();

    let new = rig.upgrade(&old, "-st");
    expect_log(&new, &received(rig.sockets(), &rig.sock));
    expect_log(
        &new,
        &format!("sent SIGTERM to the old process {}", old.pid()),
    );
    expect_exit_0(&mut old, "the old process (-st)");
    expect_log(&old, "SIGTERM received, stopping");
    assert!(
        !old.log().contains("stopping gracefully"),
        "{}",
        tail_of(&old.log())
    );
    // Its session was cut.
    expect_closed(&mut held, CLOSE_BOUND);

    assert_eq!(rig.listeners(), before, "listening sockets (inodes)");
    assert_api_is(&rig, &new, "new");
    fresh_get(rig.http_addr(), "/after");
    fresh_echo(rig.tcp_addr(), "after");
    new.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// f) A connection the old process accepted gets its first answer
// ---------------------------------------------------------------------------

/// A client connected (and accepted by the old process) just before the
/// upgrade sends its first request once the old process stops gracefully:
/// it must be answered ("a connection accepted while a listener closes is
/// served, never dropped"), then closed. One shard, and an idle keep-alive
/// connection the graceful stop closes: once that one is closed, the shard
/// has begun its graceful stop before the request is sent.
#[test]
fn connection_accepted_by_the_old_process_gets_its_answer() {
    // Without idle-close-on-response: the idle connection closes at once.
    let rig = Rig::custom(EXPOSE, 1, false);
    let mut old = rig.start();
    let mut idle = HttpClient::connect(rig.http_addr());
    assert_eq!(idle.get("/idle", "").status, 200);
    let mut c = HttpClient::connect(rig.http_addr());
    assert!(
        wait_for(IO_TIMEOUT, || info_num(&rig.info(), "CurrConns") == Some(2)),
        "the old process did not accept the connection:\n{}",
        rig.info()
    );
    let new = rig.upgrade(&old, "-sf");
    expect_log(&new, &received(rig.sockets(), &rig.sock));
    expect_log(&old, "SIGUSR1 received: stopping gracefully");
    // Only a way to know the shard is stopping: not a requirement.
    let idle_closed = wait_for(Duration::from_secs(2), || closed_by_peer(idle.stream()));
    c.send(get_req("/first", ""));
    let r = c
        .read_final(false)
        .unwrap_or_else(|e| {
            panic!(
                "the first request of a connection the old process accepted got no answer \
                 (idle keep-alive connection closed first: {idle_closed}): {e}"
            )
        })
        .1;
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert!(r.has_token("connection", "close"), "{}", r.head_str());
    let closed = c.expect_closed(CLOSE_BOUND);
    assert!(closed.data.is_empty(), "{:?}", closed.data);
    expect_exit_0(&mut old, "the old process");
    fresh_get(rig.http_addr(), "/on-new");
    new.stop().assert_clean();
}
