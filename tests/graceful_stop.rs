//! SIGUSR1, HAProxy's soft-stop: no new connection is accepted, idle
//! keep-alive connections close, requests and tunnels in progress finish
//! (HTTP answers announce the close), then the process exits; or after
//! `hard-stop-after`, whatever remains is closed.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The listener is gone: a new connection is refused.
fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
}

/// A TCP `listen px` in front of `echo`: `nbthread` shards, `global_extra`
/// lines in `global`, `extra` lines in the section (see [`mode_config`] and
/// [`listen_section`]).
fn tcp_proxy(
    nbthread: usize,
    global_extra: &str,
    extra: &str,
    echo: &Backend,
) -> (Proxy, SocketAddr) {
    let port = free_port();
    let p = Proxy::start(&mode_config(
        "tcp",
        nbthread,
        global_extra,
        &listen_section("px", port, extra, &[("e1", echo.addr)]),
    ));
    (p, SocketAddr::new(LOCALHOST, port))
}

/// Writes `line` and a newline on `c`, expects the echo.
fn echo_line(c: &mut TcpStream, line: &str) {
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    assert_eq!(read_line(c).ok().as_deref(), Some(line));
}

/// A connection through the proxy at `addr` whose first line was echoed.
fn echoed_connection(addr: SocketAddr, line: &str) -> TcpStream {
    let mut c = connect(addr);
    echo_line(&mut c, line);
    c
}

#[test]
fn http_soft_stop_finishes_requests_in_progress_and_closes_idle_ones() {
    let be = HttpBackend::start("s1");
    let (mut p, addr) = start_http_proxy(2, "", "", &[("s1", be.addr)]);
    let mut idle = HttpClient::connect(addr);
    assert_eq!(idle.get("/first", "").status, 200);
    let mut busy = HttpClient::connect(addr);
    busy.send(get_req("/delay/700/slow", ""));
    be.wait_seen(2, IO_TIMEOUT);
    p.signal(libc::SIGUSR1);
    assert!(wait_for(IO_TIMEOUT, || refused(addr)), "still accepting");
    // The idle keep-alive connection is closed without an answer.
    let closed = idle.expect_closed(CLOSE_BOUND);
    assert!(closed.data.is_empty(), "{:?}", closed.data);
    // The request in progress is answered, announcing the close.
    let r = busy.expect_response("request in progress");
    assert_eq!(r.status, 200);
    assert!(r.has_token("connection", "close"), "{}", r.head_str());
    busy.expect_closed(CLOSE_BOUND);
    let status = p
        .wait_exit(IO_TIMEOUT)
        .expect("exits once every session ended");
    assert!(status.success(), "{status}");
    assert!(p.wait_log("SIGUSR1 received: stopping gracefully", IO_TIMEOUT));
}

#[test]
fn tcp_soft_stop_lets_a_tunnel_finish() {
    let echo = Backend::echo("e1");
    let (mut p, addr) = tcp_proxy(2, "", "", &echo);
    let mut c = echoed_connection(addr, "before");
    p.signal(libc::SIGUSR1);
    assert!(wait_for(IO_TIMEOUT, || refused(addr)), "still accepting");
    // The tunnel keeps working, and holds the process up.
    echo_line(&mut c, "during");
    assert!(p.try_wait().is_none(), "exited with a session in progress");
    drop(c);
    let status = p
        .wait_exit(IO_TIMEOUT)
        .expect("exits once the tunnel ended");
    assert!(status.success(), "{status}");
}

#[test]
fn hard_stop_after_closes_what_remains() {
    let echo = Backend::echo("e1");
    let (mut p, addr) = tcp_proxy(
        1,
        "    hard-stop-after 300ms",
        "timeout client 30s\ntimeout server 30s",
        &echo,
    );
    let mut c = echoed_connection(addr, "hi");
    p.signal(libc::SIGUSR1);
    let status = p
        .wait_exit(IO_TIMEOUT)
        .expect("hard-stop-after ends the process");
    assert!(status.success(), "{status}");
    assert!(p.wait_log("hard-stop-after expired", IO_TIMEOUT));
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 8];
    assert!(
        matches!(c.read(&mut buf), Ok(0) | Err(_)),
        "the remaining tunnel is closed"
    );
}

#[test]
fn sigterm_during_a_soft_stop_stops_at_once() {
    let echo = Backend::echo("e1");
    let (mut p, addr) = tcp_proxy(1, "", "timeout client 30s\ntimeout server 30s", &echo);
    let _c = echoed_connection(addr, "hi");
    p.signal(libc::SIGUSR1);
    assert!(p.wait_log("stopping gracefully", IO_TIMEOUT));
    p.signal(libc::SIGTERM);
    let status = p
        .wait_exit(IO_TIMEOUT)
        .expect("SIGTERM ends the graceful stop");
    assert!(status.success(), "{status}");
}

// ---------------------------------------------------------------------------
// Long answers streamed while the process stops gracefully
// ---------------------------------------------------------------------------

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// Bytes of each streamed answer.
const STREAM_LEN: usize = 256 * 1024;
/// Size of each piece the server writes.
const STREAM_PIECE: usize = 8 * 1024;
/// Pieces written before the server waits for [`Streamer::release`].
const STREAM_FIRST: usize = 4;

/// An HTTP/1.1 keep-alive server answering `GET /stream/SEED[/chunked]`
/// with `STREAM_LEN` bytes of `pattern(SEED, STREAM_LEN)` (Content-Length,
/// or chunked with one chunk per piece), written slowly: the head and
/// `STREAM_FIRST` pieces, then, once released, a piece every 35 ms (about a
/// second for the rest).
struct Streamer {
    backend: Backend,
    /// Answers whose first pieces are written.
    started: Arc<AtomicUsize>,
    go: Arc<AtomicBool>,
}

impl Streamer {
    fn start(name: &str) -> Streamer {
        let started = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(AtomicBool::new(false));
        let (st, g) = (started.clone(), go.clone());
        let backend = Backend::spawn(name, move |s, _| stream_serve(s, &st, &g));
        Streamer {
            backend,
            started,
            go,
        }
    }

    fn release(&self) {
        self.go.store(true, Ordering::SeqCst);
    }
}

fn stream_serve(s: TcpStream, started: &AtomicUsize, go: &AtomicBool) {
    let mut r = ByteReader::new(s);
    loop {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let head = match r.read_head(64 * 1024, deadline) {
            Ok(Some(h)) => h,
            _ => return,
        };
        let p = parse_head(&head);
        let path = p.start[1].clone();
        let Some(rest) = path.strip_prefix("/stream/") else {
            let _ =
                r.s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        };
        let (seed, chunked) = match rest.strip_suffix("/chunked") {
            Some(seed) => (seed, true),
            None => (rest, false),
        };
        let body = pattern(seed.parse().unwrap_or(0), STREAM_LEN);
        let head = if chunked {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {STREAM_LEN}\r\n\r\n")
        };
        if r.s.write_all(head.as_bytes()).is_err() {
            return;
        }
        for (i, piece) in body.chunks(STREAM_PIECE).enumerate() {
            if i == STREAM_FIRST {
                started.fetch_add(1, Ordering::SeqCst);
                wait_for(Duration::from_secs(10), || go.load(Ordering::SeqCst));
            }
            if i > STREAM_FIRST {
                thread::sleep(Duration::from_millis(35));
            }
            let mut out = Vec::with_capacity(piece.len() + 16);
            if chunked {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            }
            out.extend_from_slice(piece);
            if chunked {
                out.extend_from_slice(b"\r\n");
            }
            if r.s.write_all(&out).is_err() {
                return;
            }
        }
        if chunked && r.s.write_all(b"0\r\n\r\n").is_err() {
            return;
        }
    }
}

#[test]
fn graceful_stop_completes_long_streamed_responses() {
    const CLIENTS: u64 = 4;
    let srv = Streamer::start("s1");
    let (mut p, addr) = start_http_proxy(2, "", "", &[("s1", srv.backend.addr)]);
    // Half the answers with Content-Length, half chunked; keep-alive
    // requests, so that the close after the answer is the proxy's doing.
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|seed| {
            let path = if seed % 2 == 0 {
                format!("/stream/{seed}/chunked")
            } else {
                format!("/stream/{seed}")
            };
            let mut c = HttpClient::connect(addr);
            c.send(get_req(&path, ""));
            thread::spawn(move || {
                let r = c.read_final(false).map(|(_, r)| r);
                let closed = r.as_ref().ok().map(|_| c.expect_closed(CLOSE_BOUND));
                (seed, path, r, closed)
            })
        })
        .collect();
    assert!(
        wait_for(IO_TIMEOUT, || srv.started.load(Ordering::SeqCst)
            == CLIENTS as usize),
        "{} answers started, {CLIENTS} expected",
        srv.started.load(Ordering::SeqCst)
    );
    // Mid-stream: every answer has its head and first pieces sent.
    p.signal(libc::SIGUSR1);
    assert!(p.wait_log("SIGUSR1 received: stopping gracefully", IO_TIMEOUT));
    assert!(wait_for(IO_TIMEOUT, || refused(addr)), "still accepting");
    assert!(
        p.try_wait().is_none(),
        "exited with answers in progress:\n{}",
        p.log()
    );
    srv.release();
    for h in clients {
        let (seed, path, r, closed) = h.join().expect("client thread");
        let r = r.unwrap_or_else(|e| panic!("GET {path}: the answer did not complete: {e}"));
        assert_eq!(r.status, 200, "GET {path}: {}", r.head_str());
        assert_eq!(r.chunked, seed % 2 == 0, "GET {path}: {}", r.head_str());
        assert_eq!(r.body.len(), STREAM_LEN, "GET {path}: body length");
        assert_eq!(
            fnv1a64(&r.body),
            fnv1a64(&pattern(seed, STREAM_LEN)),
            "GET {path}: body checksum"
        );
        let closed = closed.expect("closed");
        assert!(
            closed.data.is_empty(),
            "GET {path}: {} bytes after the answer",
            closed.data.len()
        );
    }
    let status = p
        .wait_exit(IO_TIMEOUT)
        .expect("exits once every answer is complete");
    assert!(status.success(), "{status}");
    assert!(p.wait_log("graceful stop complete: every session ended", IO_TIMEOUT));
}

/// `show info`'s `CurrConns` through the stats socket at `sock`.
fn curr_conns(sock: &std::path::Path) -> Option<u64> {
    info_num(&api(sock, "show info\n"), "CurrConns")
}

#[test]
fn http_soft_stop_answers_a_connection_that_has_not_sent_its_request_yet() {
    // Accepted just before the stop, its request still on the way: not an
    // idle keep-alive connection, so it is answered (and closed after).
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let be = HttpBackend::start("s1");
    let global = format!("    stats socket {} level admin\n", sock.display());
    let (mut p, addr) = start_http_proxy(1, &global, "", &[("s1", be.addr)]);
    let mut fresh = HttpClient::connect(addr);
    assert!(
        wait_for(IO_TIMEOUT, || curr_conns(&sock) == Some(1)),
        "the proxy accepted the connection"
    );
    p.signal(libc::SIGUSR1);
    assert!(wait_for(IO_TIMEOUT, || refused(addr)), "still accepting");
    let r = fresh.get("/first", "");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert!(r.has_token("connection", "close"), "{}", r.head_str());
    fresh.expect_closed(CLOSE_BOUND);
    let status = p.wait_exit(IO_TIMEOUT).expect("exits once it is answered");
    assert!(status.success(), "{status}");
}

#[test]
fn idle_close_on_response_answers_the_next_request_then_closes() {
    let be = HttpBackend::start("s1");
    let (mut p, addr) = start_http_proxy(
        1,
        "",
        "    option idle-close-on-response\n",
        &[("s1", be.addr)],
    );
    let mut idle = HttpClient::connect(addr);
    assert_eq!(idle.get("/first", "").status, 200);
    p.signal(libc::SIGUSR1);
    assert!(wait_for(IO_TIMEOUT, || refused(addr)), "still accepting");
    // Not closed by the stop: its next request is answered.
    let r = idle.get("/second", "");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert!(r.has_token("connection", "close"), "{}", r.head_str());
    idle.expect_closed(CLOSE_BOUND);
    let status = p.wait_exit(IO_TIMEOUT).expect("exits after that answer");
    assert!(status.success(), "{status}");
}
