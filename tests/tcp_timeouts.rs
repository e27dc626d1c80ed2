//! HAProxy's timeouts in TCP mode: connect, client, server, tunnel,
//! client-fin, server-fin, client-hs (and its fallback to client).
//!
//! Timeouts are small (200-300 ms); assertions are generous: "closed within
//! 5 s", "not closed before half the timeout", and "still open after
//! activity lasting 3x the timeout, with activity every timeout/5".

mod common;

use common::*;
use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

fn fe_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A config with explicit timeouts (no defaults timeouts besides the ones
/// given) and one frontend/backend pair.
fn config(timeouts: &[&str], bind_opts: &str, port: u16, server: &str) -> String {
    let t: String = timeouts
        .iter()
        .map(|l| format!("    timeout {l}\n"))
        .collect();
    format!(
        "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    retries 0\n{t}\n\
         frontend fe\n    bind 127.0.0.1:{port}{bind_opts}\n    default_backend be\n\n\
         backend be\n    server s1 {server}\n"
    )
}

const HALF: Duration = Duration::from_millis(150);

#[test]
fn connect_timeout_closes_client_when_server_does_not_answer() {
    let hang = Unaccepting::new();
    let port = free_port();
    let cfg = config(
        &["connect 300ms", "client 10s", "server 10s"],
        "",
        port,
        &hang.addr.to_string(),
    );
    let p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    let t0 = Instant::now();
    c.write_all(b"anyone?").unwrap();
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(closed.after >= HALF, "closed after only {:?}", closed.after);
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().connect_errors >= 1, "{:?}", st.total());
}

#[test]
fn client_timeout_closes_idle_client() {
    let be = Backend::echo("e");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 300ms", "server 10s"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    roundtrip(&mut c, b"hi");
    let t0 = Instant::now();
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(closed.after >= HALF, "closed after only {:?}", closed.after);
    // Both sides are closed.
    assert!(
        be.wait_idle(CLOSE_BOUND),
        "server side left open after the client timeout"
    );
}

#[test]
fn client_timeout_spares_an_active_client() {
    let be = Backend::echo("e");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 300ms", "server 10s"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    keep_active(
        &mut c,
        Duration::from_millis(60),
        Duration::from_millis(900),
    );
    roundtrip(&mut c, b"still here");
}

#[test]
fn server_timeout_closes_silent_server() {
    let be = Backend::black_hole("bh");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 10s", "server 300ms"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    let t0 = Instant::now();
    c.write_all(b"request").unwrap();
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(closed.after >= HALF, "closed after only {:?}", closed.after);
    assert_eq!(be.accepted(), 1);
}

#[test]
fn server_timeout_spares_a_talking_server() {
    let be = Backend::ticker("tick", Duration::from_millis(60));
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 10s", "server 300ms"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    let t0 = Instant::now();
    let mut ticks = 0;
    while t0.elapsed() < Duration::from_millis(900) {
        let l = read_line(&mut c).unwrap_or_else(|e| panic!("after {:?}: {e}", t0.elapsed()));
        assert_eq!(l, "tick");
        ticks += 1;
    }
    assert!(ticks >= 5, "{ticks} ticks");
}

/// client/server 200 ms, tunnel 2 s: once connected, the tunnel timeout
/// replaces both, so 600 ms of silence is fine.
#[test]
fn tunnel_timeout_replaces_client_and_server_timeouts() {
    let be = Backend::echo("e");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 200ms", "server 200ms", "tunnel 2s"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    roundtrip(&mut c, b"one");
    assert_open_and_silent(&mut c, Duration::from_millis(600), "idle tunnel");
    roundtrip(&mut c, b"two");
}

/// client/server 10 s, tunnel 300 ms: an idle tunnel is closed by the tunnel
/// timeout.
#[test]
fn tunnel_timeout_closes_idle_tunnel() {
    let be = Backend::echo("e");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 10s", "server 10s", "tunnel 300ms"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    roundtrip(&mut c, b"one");
    let t0 = Instant::now();
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(closed.after >= HALF, "closed after only {:?}", closed.after);
}

/// After the client's FIN was passed on to the server, the server side is
/// half-closed: with a silent server and long client/server timeouts,
/// `timeout server-fin` closes the connection (HAProxy's meaning: the
/// inactivity timeout of a server connection we already shut for writes).
#[test]
fn server_fin_timeout_closes_after_client_fin() {
    let be = Backend::read_then_hold("hold");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 10s", "server 10s", "server-fin 300ms"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    c.write_all(b"data").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let t0 = Instant::now();
    let rec = be.wait_records(1, CLOSE_BOUND);
    assert_eq!(rec[0].1, "eof 4", "client data + FIN not passed on");
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(closed.after >= HALF, "closed after only {:?}", closed.after);
    assert!(closed.data.is_empty());
}

/// After the server's FIN was passed on to the client, the client side is
/// half-closed (FIN_WAIT on our end): with a silent client and long
/// client/server timeouts, `timeout client-fin` closes the connection; the
/// server sees its connection closed, and the client's is gone too.
#[test]
fn client_fin_timeout_closes_after_server_fin() {
    let be = Backend::fin_first("fin", "bye\n");
    let port = free_port();
    let cfg = config(
        &["connect 1s", "client 10s", "server 10s", "client-fin 300ms"],
        "",
        port,
        &be.addr.to_string(),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    let got = read_to_eof(&mut c, Duration::from_secs(5)).expect("server FIN not passed on");
    assert_eq!(got, b"bye\n");
    let t0 = Instant::now();
    // The server's read side ends when the proxy closes it.
    let rec = be.wait_records(1, CLOSE_BOUND);
    let after = t0.elapsed();
    assert!(
        rec[0].1.starts_with("eof 0") || rec[0].1.starts_with("error 0"),
        "server saw {:?}",
        rec[0].1
    );
    assert!(after >= HALF, "server side closed after only {after:?}");
    // The client side is closed as well: writing to it fails soon.
    let t1 = Instant::now();
    let mut failed = false;
    while t1.elapsed() < CLOSE_BOUND {
        if c.write_all(b"x").is_err() {
            failed = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        failed,
        "client connection still writable 5 s after the client-fin timeout"
    );
}

fn silent_client_dies_at_handshake_deadline(timeouts: &[&str]) {
    let be = Backend::echo("e");
    let port = free_port();
    let cfg = config(timeouts, " accept-proxy", port, &be.addr.to_string());
    let p = Proxy::start(&cfg);
    let mut good = connect(fe_addr(port));
    let mut hdr = proxy_v1(
        "192.0.2.10:4000".parse().unwrap(),
        "192.0.2.20:80".parse().unwrap(),
    );
    hdr.extend_from_slice(b"good");
    good.write_all(&hdr).unwrap();
    assert_eq!(read_n(&mut good, 4).unwrap(), b"good");
    let mut silent = connect(fe_addr(port));
    let t0 = Instant::now();
    // The good client stays active (every 50 ms, well within any timeout
    // here) while the silent one waits for its deadline.
    let keeper = thread::spawn(move || {
        keep_active(
            &mut good,
            Duration::from_millis(50),
            Duration::from_millis(1500),
        );
        good
    });
    let closed = expect_closed_since(&mut silent, t0, CLOSE_BOUND);
    assert!(closed.after >= HALF, "closed after only {:?}", closed.after);
    let mut good = match keeper.join() {
        Ok(g) => g,
        Err(e) => std::panic::resume_unwind(e),
    };
    roundtrip(&mut good, b"still good");
    assert_eq!(be.accepted(), 1, "the silent client reached the server");
    drop(good);
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().handshake_timeouts >= 1, "{:?}", st.total());
    assert!(
        st.log.contains("embryonic session killed"),
        "no `embryonic session killed` debug line"
    );
}

/// `timeout client-hs 300ms` on an accept-proxy bind (client 10 s): a silent
/// client is closed, a good one carries on.
#[test]
fn client_hs_timeout_closes_silent_client() {
    silent_client_dies_at_handshake_deadline(&[
        "connect 1s",
        "client 10s",
        "server 10s",
        "client-hs 300ms",
    ]);
}

/// Without `timeout client-hs`, the handshake deadline is `timeout client`.
#[test]
fn handshake_deadline_falls_back_to_client_timeout() {
    silent_client_dies_at_handshake_deadline(&["connect 1s", "client 500ms", "server 10s"]);
}
