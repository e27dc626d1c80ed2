//! HTTP mode, server connection reuse (`http-reuse`), per-request load
//! balancing, and what happens to pooled connections the server closes.
//! Which server connection served a request is read from the test server's
//! answer (`conn=`).

mod common;

use common::*;
use std::thread;
use std::time::Duration;

/// Whether the configuration keyword is accepted (`ringproxy -c`).
fn keyword_accepted(extra: &str) -> bool {
    let cfg = http_config(
        1,
        "",
        &http_listen(
            free_port(),
            extra,
            &[("s1", "127.0.0.1:1".parse().unwrap())],
        ),
    );
    let (code, out, _, _d) = run_check(&cfg);
    if code != Some(0) {
        eprintln!("`{extra}` rejected: {out}");
    }
    code == Some(0)
}

#[test]
fn safe_first_request_of_a_session_gets_a_new_connection() {
    let (p, addr, be) = start_http_s1("", "");
    let mut a = HttpClient::connect(addr);
    let a1 = a.get("/a1", "").conn_id();
    let a2 = a.get("/a2", "").conn_id();
    assert_eq!(a1, a2, "same session, idle pooled connection reused");
    // Session A's connection is idle in the pool now; B's first request
    // must not take it.
    let mut b = HttpClient::connect(addr);
    let b1 = b.get("/b1", "").conn_id();
    assert_ne!(
        b1, a1,
        "a session's first request reused another's connection"
    );
    assert_eq!(be.accepted(), 2);
    // B's next request may reuse a pooled connection (its own or A's).
    let b2 = b.get("/b2", "").conn_id();
    assert!(b2 == a1 || b2 == b1, "b2 on conn {b2}");
    assert_eq!(be.accepted(), 2, "B's second request opened a connection");
    drop((a, b));
    p.stop().assert_clean();
}

#[test]
fn safe_second_session_reuses_after_its_first_request() {
    let (p, addr, be) = start_http_s1("", "");
    let mut a = HttpClient::connect(addr);
    let mut b = HttpClient::connect(addr);
    let a1 = a.get("/a1", "").conn_id();
    let b1 = b.get("/b1", "").conn_id();
    assert_ne!(a1, b1);
    // Both connections are pooled; further requests of either session
    // open nothing new.
    for i in 0..4 {
        a.get(&format!("/a{i}"), "");
        b.get(&format!("/b{i}"), "");
    }
    assert_eq!(be.accepted(), 2);
    drop((a, b));
    p.stop().assert_clean();
}

#[test]
fn pooled_connection_closed_by_server_is_not_used() {
    let be = HttpBackend::with_opts(
        "s1",
        HttpOpts {
            idle_close: Some(Duration::from_millis(150)),
            ..Default::default()
        },
    );
    let (p, addr) = start_http_proxy(1, "", "", &[("s1", be.addr)]);
    let mut c = HttpClient::connect(addr);
    let first = c.get("/1", "").conn_id();
    assert!(be.backend.wait_conn_closed(first, Duration::from_secs(5)));
    // Let the proxy see the FIN on its idle pooled connection.
    thread::sleep(Duration::from_millis(100));
    let r = c.get("/2", "");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert_ne!(r.conn_id(), first);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn server_max_requests_per_connection() {
    // The server closes after 2 requests (announcing it): the proxy opens
    // new connections as needed and the client never notices.
    let be = HttpBackend::with_opts(
        "s1",
        HttpOpts {
            max_requests: Some(2),
            ..Default::default()
        },
    );
    let (p, addr) = start_http_proxy(1, "", "", &[("s1", be.addr)]);
    let mut c = HttpClient::connect(addr);
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = c.get(&format!("/m{i}"), "");
        assert_eq!(r.status, 200, "request {i}: {}", r.head_str());
        ids.push(r.conn_id());
    }
    assert_eq!(ids, vec![1, 1, 2, 2, 3, 3]);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn roundrobin_per_request_on_one_client_connection() {
    let s1 = HttpBackend::start("s1");
    let s2 = HttpBackend::start("s2");
    let (p, addr) = start_http_proxy(
        1,
        "",
        "balance roundrobin",
        &[("s1", s1.addr), ("s2", s2.addr)],
    );
    let mut c = HttpClient::connect(addr);
    let servers: Vec<String> = (0..6)
        .map(|i| c.get(&format!("/rr{i}"), "").server())
        .collect();
    // Alternating, whichever server comes first.
    assert!(
        servers.windows(2).all(|w| w[0] != w[1]),
        "not per-request round robin: {servers:?}"
    );
    // One connection per server, reused.
    assert_eq!(s1.accepted(), 1);
    assert_eq!(s2.accepted(), 1);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn leastconn_per_request() {
    let s1 = HttpBackend::start("s1");
    let s2 = HttpBackend::start("s2");
    let (p, addr) = start_http_proxy(
        1,
        "",
        "balance leastconn",
        &[("s1", s1.addr), ("s2", s2.addr)],
    );
    // A long request holds one server; short ones go to the other.
    let mut slow = HttpClient::connect(addr);
    slow.send(get_req("/delay/800/slow", ""));
    let mut busy = String::new();
    assert!(
        wait_for(IO_TIMEOUT, || {
            match [&s1, &s2].iter().find(|b| !b.seen().is_empty()) {
                Some(b) => {
                    busy = b.name.clone();
                    true
                }
                None => false,
            }
        }),
        "the slow request reached no server"
    );
    let mut c = HttpClient::connect(addr);
    for i in 0..3 {
        let srv = c.get(&format!("/q{i}"), "").server();
        assert_ne!(srv, busy, "leastconn sent a request to the busy server");
    }
    assert_eq!(slow.expect_response("slow").status, 200);
    drop((c, slow));
    p.stop().assert_clean();
}

#[test]
fn per_shard_pools_two_shards() {
    // Two shards, many sequential sessions: each session's later requests
    // reuse pooled connections; no request fails.
    let be = HttpBackend::start("s1");
    let (p, addr) = start_http_proxy(2, "", "", &[("s1", be.addr)]);
    for s in 0..20 {
        let mut c = HttpClient::connect(addr);
        for i in 0..3 {
            assert_eq!(c.get(&format!("/s{s}/{i}"), "").status, 200);
        }
    }
    assert_eq!(be.seen().len(), 60);
    // Safe: every session's first request opened a connection (20), the
    // others reused.
    assert!(be.accepted() <= 20 + 2, "accepted {}", be.accepted());
    p.stop().assert_clean();
}

#[test]
fn http_reuse_never_keeps_connections_private() {
    if !keyword_accepted("http-reuse never") {
        panic!("`http-reuse never` is rejected by the configuration");
    }
    let (p, addr, be) = start_http_s1("", "http-reuse never");
    let mut a = HttpClient::connect(addr);
    let a1 = a.get("/a1", "").conn_id();
    let mut b = HttpClient::connect(addr);
    let b1 = b.get("/b1", "").conn_id();
    assert_ne!(a1, b1);
    for i in 0..3 {
        assert_eq!(
            a.get(&format!("/a{i}"), "").conn_id(),
            a1,
            "A left its connection"
        );
        assert_eq!(
            b.get(&format!("/b{i}"), "").conn_id(),
            b1,
            "B left its connection"
        );
    }
    // A session ends: its private connection closes with it.
    drop(a);
    assert!(
        be.backend.wait_conn_closed(a1, Duration::from_secs(5)),
        "A's private connection outlived its session"
    );
    let mut c = HttpClient::connect(addr);
    let c1 = c.get("/c1", "").conn_id();
    assert!(c1 != a1 && c1 != b1);
    drop((b, c));
    p.stop().assert_clean();
}

#[test]
fn http_reuse_always_shares_idle_connections() {
    if !keyword_accepted("http-reuse always") {
        panic!("`http-reuse always` is rejected by the configuration");
    }
    let (p, addr, be) = start_http_s1("", "http-reuse always");
    let mut a = HttpClient::connect(addr);
    let a1 = a.get("/a1", "").conn_id();
    let mut b = HttpClient::connect(addr);
    let b1 = b.get("/b1", "").conn_id();
    assert_eq!(a1, b1, "always: a first request takes an idle connection");
    assert_eq!(be.accepted(), 1);
    drop((a, b));
    p.stop().assert_clean();
}

#[test]
fn http_reuse_aggressive_first_request_takes_proven_connections_only() {
    if !keyword_accepted("http-reuse aggressive") {
        panic!("`http-reuse aggressive` is rejected by the configuration");
    }
    let (p, addr, be) = start_http_s1("", "http-reuse aggressive");
    // A: one request: its connection is idle but not proven.
    let mut a = HttpClient::connect(addr);
    let a1 = a.get("/a1", "").conn_id();
    let mut b = HttpClient::connect(addr);
    let b1 = b.get("/b1", "").conn_id();
    assert_ne!(a1, b1, "aggressive reused an unproven connection");
    // B's connection now serves a second request: proven.
    let b2 = b.get("/b2", "").conn_id();
    let mut c = HttpClient::connect(addr);
    let c1 = c.get("/c1", "").conn_id();
    assert!(
        c1 == b2 || c1 == a1 && a1 == b2,
        "aggressive: first request did not take the proven connection {b2} (took {c1})"
    );
    assert_eq!(be.accepted(), 2);
    drop((a, b, c));
    p.stop().assert_clean();
}

#[test]
fn http_reuse_safe_keyword_accepted() {
    assert!(
        keyword_accepted("http-reuse safe"),
        "`http-reuse safe` is rejected by the configuration"
    );
}

#[test]
fn connection_per_request_clients_do_not_pile_up_idle_connections() {
    // Under `http-reuse safe` a session's first request never takes a
    // pooled connection, so clients that send one request per connection
    // open a server connection each. Those must not all be kept idle
    // (HAProxy keeps idle connections within the recently needed count):
    // one client at a time needs one connection. The purge delay is long so
    // that only that bound can explain a small count.
    let (p, addr, be) = start_http_s1("", "default-server pool-purge-delay 60s");
    for i in 0..30 {
        let mut c = HttpClient::connect(addr);
        let r = c.get(&format!("/once{i}"), "Connection: close\r\n");
        assert_eq!(r.status, 200);
        c.expect_closed(CLOSE_BOUND);
    }
    assert_eq!(be.accepted(), 30, "each first request opens a connection");
    // Bounded wait; the assertion below judges the count.
    wait_for(Duration::from_secs(5), || be.active() <= 1);
    assert!(
        be.active() <= 1,
        "{} idle server connections kept for one client at a time",
        be.active()
    );
    p.stop().assert_clean();
}
