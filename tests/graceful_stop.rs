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
