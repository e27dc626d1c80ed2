//! Server selection: roundrobin (exact order and weights), leastconn,
//! refused/unusable servers, retries and redispatch, server maxconn queueing
//! and `timeout queue`, backup servers.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

fn fe_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Connects and returns the name a hello backend writes on accept.
fn served_by(addr: SocketAddr) -> (String, TcpStream) {
    let mut c = connect(addr);
    let name = read_line(&mut c).unwrap_or_else(|e| panic!("no server greeting: {e}"));
    (name, c)
}

/// Closes `c` in an orderly way and waits until the proxy passed the
/// server's close back (the stream is over), plus a short settle.
fn finish(mut c: TcpStream) {
    c.shutdown(Shutdown::Write).unwrap();
    read_to_eof(&mut c, Duration::from_secs(5)).expect("stream did not end after client FIN");
    thread::sleep(Duration::from_millis(50));
}

fn one_frontend(port: u16, backend_body: &str) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n{backend_body}\n"
    )
}

/// nbthread 1, equal weights: connections go to s1, s2, s3, s1, ... exactly.
#[test]
fn roundrobin_equal_weights_exact_order() {
    let b: Vec<Backend> = (1..=3).map(|i| Backend::hello(&format!("s{i}"))).collect();
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    server s1 {}\n    server s2 {}\n    server s3 {}",
        b[0].addr, b[1].addr, b[2].addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let got: Vec<String> = (0..9).map(|_| served_by(fe_addr(port)).0).collect();
    let want: Vec<String> = (0..9).map(|i| format!("s{}", i % 3 + 1)).collect();
    assert_eq!(got, want);
}

/// Weights 1, 2, 3 over 60 connections: exactly 10 / 20 / 30, and every
/// cycle of 6 picks holds 1 / 2 / 3 (smooth weighted round robin).
#[test]
fn weighted_roundrobin_distribution_is_exact() {
    let b: Vec<Backend> = (1..=3).map(|i| Backend::hello(&format!("s{i}"))).collect();
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    server s1 {} weight 1\n    server s2 {} weight 2\n    server s3 {} weight 3",
        b[0].addr, b[1].addr, b[2].addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let got: Vec<String> = (0..60).map(|_| served_by(fe_addr(port)).0).collect();
    let count = |v: &[String]| {
        let mut m = BTreeMap::new();
        for n in v {
            *m.entry(n.clone()).or_insert(0) += 1;
        }
        m
    };
    let total = count(&got);
    assert_eq!(
        total,
        BTreeMap::from([("s1".into(), 10), ("s2".into(), 20), ("s3".into(), 30)]),
        "sequence: {got:?}"
    );
    for (i, cycle) in got.chunks(6).enumerate() {
        assert_eq!(
            count(cycle),
            BTreeMap::from([("s1".into(), 1), ("s2".into(), 2), ("s3".into(), 3)]),
            "cycle {i} is not smooth: {cycle:?} (sequence {got:?})"
        );
    }
    assert_eq!(
        (b[0].accepted(), b[1].accepted(), b[2].accepted()),
        (10, 20, 30)
    );
}

/// leastconn: with a long-lived connection on one server, every new
/// connection goes to the other one; when the load moves, so do the picks.
#[test]
fn leastconn_sends_new_connections_to_the_less_loaded_server() {
    let b1 = Backend::hello("s1");
    let b2 = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance leastconn\n    server s1 {}\n    server s2 {}",
        b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let (busy, long1) = served_by(fe_addr(port));
    let other = if busy == "s1" { "s2" } else { "s1" };
    for i in 0..6 {
        let (name, mut c) = served_by(fe_addr(port));
        assert_eq!(
            name, other,
            "short connection #{i} went to the server holding the long-lived one"
        );
        roundtrip(&mut c, b"x");
        finish(c);
    }
    // Second long-lived connection: the idle server again.
    let (n2, long2) = served_by(fe_addr(port));
    assert_eq!(n2, other);
    // Now move the load: close the first long-lived one, so `busy` has 0
    // and `other` has 1.
    finish(long1);
    for i in 0..4 {
        let (name, c) = served_by(fe_addr(port));
        assert_eq!(name, busy, "connection #{i} after the load moved");
        finish(c);
    }
    drop(long2);
}

/// A refused server closes the client (after the retries), and the failure is
/// counted.
#[test]
fn refused_server_closes_client() {
    let dead = refused_addr();
    let port = free_port();
    let body = format!("    timeout connect 200ms\n    retries 2\n    server s1 {dead}");
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut c = connect(fe_addr(port));
    let _ = c.write_all(b"hello?");
    let closed = expect_closed(&mut c, CLOSE_BOUND);
    assert!(
        closed.data.is_empty(),
        "got data from a dead server: {:?}",
        closed.data
    );
    let st = p.stop();
    st.assert_clean();
    let t = st.total();
    assert!(
        t.connect_errors + t.no_server >= 1,
        "refused connect not counted: {t:?}"
    );
}

/// `retries 0` and no redispatch: a refused connect closes the client at
/// once (no turn-around wait).
#[test]
fn refused_server_with_zero_retries_closes_client_at_once() {
    let dead = refused_addr();
    let port = free_port();
    let body = format!("    timeout connect 3s\n    retries 0\n    server s1 {dead}");
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut c = connect(fe_addr(port));
    let t0 = Instant::now();
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(
        closed.after < Duration::from_millis(800),
        "retries 0: closed only after {:?} (a retry turn-around would be 1 s)",
        closed.after
    );
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().connect_errors >= 1, "{:?}", st.total());
}

/// A backend whose only server is `disabled` has no usable server: the
/// client is closed, the server never sees a connection, no_server counts.
#[test]
fn no_usable_server_closes_client() {
    let live = Backend::echo("live");
    let port = free_port();
    let body = format!("    server s1 {} disabled", live.addr);
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut c = connect(fe_addr(port));
    let _ = c.write_all(b"hello?");
    expect_closed(&mut c, CLOSE_BOUND);
    assert_eq!(live.accepted(), 0, "a disabled server got a connection");
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().no_server >= 1, "{:?}", st.total());
}

/// Dead first server, live second, `retries 1` + `option redispatch`: the
/// last retry goes to the live server, so every client is served by it.
#[test]
fn redispatch_moves_the_last_retry_to_another_server() {
    let dead = refused_addr();
    let live = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    timeout connect 200ms\n    retries 1\n    option redispatch\n    server s1 {dead}\n    server s2 {}",
        live.addr
    );
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    for i in 0..4 {
        let (name, mut c) = served_by(fe_addr(port));
        assert_eq!(name, "s2", "connection #{i}");
        roundtrip(&mut c, b"ok");
    }
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().connect_errors >= 1, "{:?}", st.total());
}

/// Same without redispatch: of two consecutive connections (roundrobin: one
/// per server, whichever comes first), the one that picked the dead server
/// is closed after its retry, which stayed on the dead server; the other one
/// is served by the live server.
#[test]
fn without_redispatch_retries_stay_on_the_dead_server() {
    let dead = refused_addr();
    let live = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    timeout connect 200ms\n    retries 1\n    server s1 {dead}\n    server s2 {}",
        live.addr
    );
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut outcomes = Vec::new();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect(fe_addr(port));
        match read_line(&mut c) {
            Ok(name) => {
                outcomes.push(format!("served by {name}"));
                held.push(c);
            }
            Err(e) => {
                // Closed (EOF or reset), not merely slow: the read timeout
                // is 5 s.
                assert!(
                    !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                    "client neither served nor closed within 5 s"
                );
                outcomes.push("closed".to_string());
            }
        }
    }
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["closed", "served by s2"],
        "expected one client closed (dead server, retried there) and one served"
    );
    assert_eq!(
        live.accepted(),
        1,
        "a retry went to the live server without redispatch"
    );
    drop(held);
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().connect_errors >= 1, "{:?}", st.total());
}

/// Server `maxconn 1`: a second client queues; its data reaches the server
/// only after the first client's stream ended.
#[test]
fn server_maxconn_queues_until_a_slot_frees() {
    let be = Backend::echo("e");
    let port = free_port();
    let body = format!("    timeout queue 10s\n    server s1 {} maxconn 1", be.addr);
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut a = connect(fe_addr(port));
    roundtrip(&mut a, b"a1");
    let mut b = connect(fe_addr(port));
    b.write_all(b"b1").unwrap();
    assert_open_and_silent(&mut b, Duration::from_millis(500), "queued client");
    assert_eq!(be.accepted(), 1, "server maxconn 1 exceeded");
    roundtrip(&mut a, b"a2");
    drop(a);
    let got = read_n(&mut b, 2).expect("queued client not served after the slot freed");
    assert_eq!(got, b"b1");
    roundtrip(&mut b, b"b2");
    assert_eq!(
        be.events()[..3],
        [Event::Open(1), Event::Closed(1), Event::Open(2)],
        "the second server connection must start after the first ended"
    );
}

fn queued_client_is_closed_by(queue_line: &str) {
    let be = Backend::echo("e");
    let port = free_port();
    let body = format!(
        "    timeout connect 300ms\n{queue_line}    server s1 {} maxconn 1",
        be.addr
    );
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut a = connect(fe_addr(port));
    roundtrip(&mut a, b"a1");
    let mut b = connect(fe_addr(port));
    let t0 = Instant::now();
    b.write_all(b"b1").unwrap();
    let closed = expect_closed_since(&mut b, t0, CLOSE_BOUND);
    assert!(
        closed.data.is_empty(),
        "queued client got data: {:?}",
        closed.data
    );
    assert!(
        closed.after >= Duration::from_millis(150),
        "queued client closed after only {:?}",
        closed.after
    );
    // The client holding the slot is unaffected.
    roundtrip(&mut a, b"a2");
    assert_eq!(be.accepted(), 1);
    drop(a);
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().queue_timeouts >= 1, "{:?}", st.total());
}

/// `timeout queue 300ms`: a queued client is closed when it strikes.
#[test]
fn queue_timeout_closes_queued_client() {
    queued_client_is_closed_by("    timeout queue 300ms\n");
}

/// Without `timeout queue`, the queue timeout is `timeout connect`.
#[test]
fn queue_timeout_falls_back_to_connect_timeout() {
    queued_client_is_closed_by("");
}

/// An active server in service: the backup is never used.
#[test]
fn backup_unused_while_an_active_server_is_usable() {
    let s1 = Backend::hello("s1");
    let b1 = Backend::hello("b1");
    let port = free_port();
    let body = format!(
        "    server s1 {}\n    server b1 {} backup",
        s1.addr, b1.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    for _ in 0..4 {
        assert_eq!(served_by(fe_addr(port)).0, "s1");
    }
    assert_eq!(b1.accepted(), 0);
}

/// The only active server is disabled: the first backup takes everything.
#[test]
fn first_backup_used_when_no_active_server_is_usable() {
    let s1 = Backend::hello("s1");
    let b1 = Backend::hello("b1");
    let b2 = Backend::hello("b2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    server s1 {} disabled\n    server b1 {} backup\n    server b2 {} backup",
        s1.addr, b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    for _ in 0..4 {
        assert_eq!(served_by(fe_addr(port)).0, "b1");
    }
    assert_eq!((s1.accepted(), b2.accepted()), (0, 0));
}

/// `option allbackups`: the load is spread over every backup.
#[test]
fn allbackups_spreads_over_every_backup() {
    let s1 = Backend::hello("s1");
    let b1 = Backend::hello("b1");
    let b2 = Backend::hello("b2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    option allbackups\n    server s1 {} disabled\n    server b1 {} backup\n    server b2 {} backup",
        s1.addr, b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let names: Vec<String> = (0..4).map(|_| served_by(fe_addr(port)).0).collect();
    assert_eq!(s1.accepted(), 0);
    assert_eq!(
        (b1.accepted(), b2.accepted()),
        (2, 2),
        "expected an even spread over both backups: {names:?}"
    );
}

/// `balance source`: every connection from the same client address goes to
/// the same server.
#[test]
fn source_balancing_is_sticky_per_client_address() {
    let b1 = Backend::hello("s1");
    let b2 = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance source\n    server s1 {}\n    server s2 {}",
        b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(2, &one_frontend(port, &body)));
    let names: Vec<String> = (0..12).map(|_| served_by(fe_addr(port)).0).collect();
    assert!(
        names.iter().all(|n| *n == names[0]),
        "one client address went to several servers: {names:?}"
    );
}

/// `balance random`: every connection is served and, over 40 connections,
/// both servers get some (all on one server has probability ~2^-39).
#[test]
fn random_balancing_uses_every_server() {
    let b1 = Backend::hello("s1");
    let b2 = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance random\n    server s1 {}\n    server s2 {}",
        b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    for _ in 0..40 {
        let (name, _) = served_by(fe_addr(port));
        assert!(name == "s1" || name == "s2", "{name}");
    }
    assert_eq!(b1.accepted() + b2.accepted(), 40);
    assert!(
        b1.accepted() > 0 && b2.accepted() > 0,
        "random put everything on one server: {} / {}",
        b1.accepted(),
        b2.accepted()
    );
}

/// A server with `weight 0` takes no load-balanced traffic.
#[test]
fn weight_zero_server_gets_no_traffic() {
    let b1 = Backend::hello("s1");
    let b2 = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    server s1 {} weight 0\n    server s2 {}",
        b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    for _ in 0..6 {
        assert_eq!(served_by(fe_addr(port)).0, "s2");
    }
    assert_eq!(b1.accepted(), 0);
}

/// After a refused connect the retry waits a turn-around of
/// min(timeout connect, 1 s): with `timeout connect 2s` and `retries 2`,
/// the client is closed after about 2 s (two turn-arounds), not at once.
#[test]
fn retries_wait_a_turn_around_between_attempts() {
    let dead = refused_addr();
    let port = free_port();
    let body = format!("    timeout connect 2s\n    retries 2\n    server s1 {dead}");
    let p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let mut c = connect(fe_addr(port));
    let t0 = Instant::now();
    let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
    assert!(
        closed.after >= Duration::from_millis(1500),
        "closed after {:?}: two 1 s turn-arounds expected",
        closed.after
    );
    let st = p.stop();
    st.assert_clean();
    assert!(st.total().connect_errors >= 1, "{:?}", st.total());
}

/// The queue is per backend: with two servers at `maxconn 1`, a third
/// client waits and takes whichever server frees first.
#[test]
fn queued_client_takes_the_first_server_that_frees() {
    let b1 = Backend::hello("s1");
    let b2 = Backend::hello("s2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n    timeout queue 10s\n    server s1 {} maxconn 1\n    server s2 {} maxconn 1",
        b1.addr, b2.addr
    );
    let _p = Proxy::start(&tcp_config(1, &one_frontend(port, &body)));
    let (n1, c1) = served_by(fe_addr(port));
    let (n2, c2) = served_by(fe_addr(port));
    assert_ne!(n1, n2, "two clients on one maxconn-1 server");
    let mut c3 = connect(fe_addr(port));
    assert_open_and_silent(&mut c3, Duration::from_millis(500), "third client");
    // Free the server of the *second* client: the queued one goes there.
    drop(c2);
    let name = read_line(&mut c3).expect("queued client not served after a slot freed");
    assert_eq!(name, n2);
    drop(c1);
}
