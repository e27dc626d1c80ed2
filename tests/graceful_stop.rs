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

fn http_proxy(global: &str, be: &HttpBackend) -> (Proxy, SocketAddr) {
    let (p, addr) = start_http_proxy(2, global, "", &[("s1", be.addr)]);
    (p, addr)
}

#[test]
fn http_soft_stop_finishes_requests_in_progress_and_closes_idle_ones() {
    let be = HttpBackend::start("s1");
    let (mut p, addr) = http_proxy("", &be);
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
    let port = free_port();
    let mut p = Proxy::start(&format!(
        "global\n    nbthread 2\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\nlisten px\n    bind 127.0.0.1:{port}\n    server e1 {}\n",
        echo.addr
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = connect(addr);
    c.write_all(b"before\n").unwrap();
    assert_eq!(read_line(&mut c).ok().as_deref(), Some("before"));
    p.signal(libc::SIGUSR1);
    assert!(wait_for(IO_TIMEOUT, || refused(addr)), "still accepting");
    // The tunnel keeps working, and holds the process up.
    c.write_all(b"during\n").unwrap();
    assert_eq!(read_line(&mut c).ok().as_deref(), Some("during"));
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
    let port = free_port();
    let mut p = Proxy::start(&format!(
        "global\n    nbthread 1\n    hard-stop-after 300ms\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\nlisten px\n    bind 127.0.0.1:{port}\n    server e1 {}\n",
        echo.addr
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = connect(addr);
    c.write_all(b"hi\n").unwrap();
    assert_eq!(read_line(&mut c).ok().as_deref(), Some("hi"));
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
    let port = free_port();
    let mut p = Proxy::start(&format!(
        "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\nlisten px\n    bind 127.0.0.1:{port}\n    server e1 {}\n",
        echo.addr
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = connect(addr);
    c.write_all(b"hi\n").unwrap();
    assert_eq!(read_line(&mut c).ok().as_deref(), Some("hi"));
    p.signal(libc::SIGUSR1);
    assert!(p.wait_log("stopping gracefully", IO_TIMEOUT));
    p.signal(libc::SIGTERM);
    let status = p
        .wait_exit(IO_TIMEOUT)
        .expect("SIGTERM ends the graceful stop");
    assert!(status.success(), "{status}");
}
