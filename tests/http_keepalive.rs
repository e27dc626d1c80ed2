//! HTTP mode, connection management on the client side: keep-alive,
//! pipelining (also after a half-close), HTTP/1.0 with and without
//! keep-alive, `Connection: close`, `timeout http-keep-alive`, and many
//! concurrent keep-alive clients over two shards.

mod common;

use common::*;
use std::io::Write;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn keepalive_requests_share_one_server_connection() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut conns = Vec::new();
    for i in 0..5 {
        let r = c.get(&format!("/ka/{i}"), "");
        assert_eq!(r.status, 200);
        assert!(
            !r.has_token("connection", "close"),
            "keep-alive response announces a close: {}",
            r.head_str()
        );
        assert_eq!(r.field("path"), Some(format!("/ka/{i}")));
        conns.push(r.conn_id());
    }
    assert!(
        conns.iter().all(|&c| c == conns[0]),
        "server connections used: {conns:?}"
    );
    assert_eq!(be.accepted(), 1);
    let reqs: Vec<usize> = be.seen().iter().map(|s| s.seq).collect();
    assert_eq!(reqs, vec![1, 2, 3, 4, 5]);
    c.assert_open(Duration::from_millis(100), "idle keep-alive client");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn pipelined_requests_answered_in_order() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(format!(
        "{}{}{}",
        get_req("/p1", ""),
        get_req("/delay/100/p2", ""),
        get_req("/p3", "")
    ));
    for want in ["/p1", "/delay/100/p2", "/p3"] {
        let r = c.expect_response(want);
        assert_eq!(r.status, 200);
        assert_eq!(r.field("path").as_deref(), Some(want));
    }
    c.assert_open(Duration::from_millis(100), "after pipelined answers");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn pipelined_requests_with_bodies() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut bytes = b"POST /b1 HTTP/1.1\r\nHost: test\r\nContent-Length: 7\r\n\r\nGET /x ".to_vec();
    bytes.extend_from_slice(
        b"POST /b2 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    );
    bytes.extend_from_slice(get_req("/b3", "").as_bytes());
    c.send(&bytes);
    let r1 = c.expect_response("b1");
    let r2 = c.expect_response("b2");
    let r3 = c.expect_response("b3");
    assert_eq!(r1.field("path").as_deref(), Some("/b1"));
    assert_eq!(r1.field("body").as_deref(), Some("7"));
    assert_eq!(r2.field("path").as_deref(), Some("/b2"));
    assert_eq!(r2.field("body").as_deref(), Some("4"));
    assert_eq!(r3.field("path").as_deref(), Some("/b3"));
    assert_eq!(be.targets(), vec!["/b1", "/b2", "/b3"]);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn pipelined_then_half_close_all_answered() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(format!(
        "{}{}{}",
        get_req("/h1", ""),
        get_req("/delay/50/h2", ""),
        get_req("/h3", "")
    ));
    c.stream().shutdown(Shutdown::Write).unwrap();
    for want in ["/h1", "/delay/50/h2", "/h3"] {
        let r = c.expect_response(want);
        assert_eq!(r.field("path").as_deref(), Some(want));
    }
    let closed = c.expect_closed(CLOSE_BOUND);
    assert!(closed.data.is_empty(), "{:?}", closed.data);
    p.stop().assert_clean();
}

#[test]
fn half_close_after_one_request_gets_answer() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/delay/200/slow", ""));
    c.stream().shutdown(Shutdown::Write).unwrap();
    let r = c.expect_response("after FIN");
    assert_eq!(r.status, 200);
    c.expect_closed(CLOSE_BOUND);
    p.stop().assert_clean();
}

#[test]
fn http10_without_keepalive_closes() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("GET /old HTTP/1.0\r\n\r\n");
    let r = c.expect_response("HTTP/1.0 GET");
    assert_eq!(r.status, 200);
    assert!(!r.has_token("connection", "keep-alive"), "{}", r.head_str());
    c.expect_closed(CLOSE_BOUND);
    let s = be.wait_seen(1, IO_TIMEOUT).remove(0);
    assert_eq!(s.target, "/old");
    p.stop().assert_clean();
}

#[test]
fn http10_with_keepalive_stays_open() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    for i in 0..3 {
        c.send(format!(
            "GET /old-ka/{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ));
        let r = c.expect_response("HTTP/1.0 keep-alive GET");
        assert_eq!(r.status, 200);
        assert!(
            r.has_token("connection", "keep-alive"),
            "an HTTP/1.0 client needs an explicit keep-alive: {}",
            r.head_str()
        );
        assert!(r.header("content-length").is_some());
        assert_eq!(r.field("path"), Some(format!("/old-ka/{i}")));
    }
    c.assert_open(Duration::from_millis(100), "HTTP/1.0 keep-alive");
    // The last one without keep-alive closes.
    c.send("GET /old-last HTTP/1.0\r\n\r\n");
    assert_eq!(c.expect_response("last").status, 200);
    c.expect_closed(CLOSE_BOUND);
    p.stop().assert_clean();
}

#[test]
fn http10_chunked_response_is_not_sent_chunked() {
    // An HTTP/1.0 client cannot read chunked: the body must reach it in a
    // form it understands (HAProxy de-chunks or closes to delimit).
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("GET /chunked HTTP/1.0\r\n\r\n");
    let r = c.expect_response("HTTP/1.0 chunked");
    assert_eq!(r.status, 200);
    assert!(
        !r.chunked,
        "chunked response sent to an HTTP/1.0 client: {}",
        r.head_str()
    );
    assert!(r.header("transfer-encoding").is_none(), "{}", r.head_str());
    assert_eq!(r.body, HTTP_CHUNKED_PAYLOAD);
    // The close delimits the body: nothing else may follow.
    c.expect_closed(CLOSE_BOUND);
    p.stop().assert_clean();
}

#[test]
fn connection_close_request_closes_after_response() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(format!(
        "{}{}",
        get_req("/bye", "Connection: close\r\n"),
        get_req("/never", "")
    ));
    let r = c.expect_response("Connection: close");
    assert_eq!(r.status, 200);
    assert!(
        r.has_token("connection", "close"),
        "response lacks connection: close: {}",
        r.head_str()
    );
    let closed = c.expect_closed(CLOSE_BOUND);
    assert!(
        closed.data.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&closed.data)
    );
    thread::sleep(Duration::from_millis(50));
    assert_eq!(be.targets(), vec!["/bye"]);
    p.stop().assert_clean();
}

#[test]
fn server_connection_close_keeps_client_alive() {
    // Small answers followed at once by the server's FIN: repeated, since
    // what matters is the FIN arriving while the answer is still queued.
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    for i in 0..20 {
        c.send(get_req("/conn-close", ""));
        let r1 = c
            .read_final(false)
            .unwrap_or_else(|e| panic!("round {i}: answer before the server's close: {e}"))
            .1;
        assert_eq!(r1.status, 200);
        assert!(
            !r1.has_token("connection", "close"),
            "the server's close is hop-by-hop; the client may stay: {}",
            r1.head_str()
        );
        let r2 = c.get("/after", "");
        assert_eq!(r2.status, 200);
        assert_ne!(
            r1.conn_id(),
            r2.conn_id(),
            "closed server connection reused"
        );
    }
    // Each /conn-close closes the connection the /after before it left
    // in the pool: one new connection per round, plus the first.
    assert_eq!(be.accepted(), 21);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn idle_keepalive_client_closed_after_timeout() {
    let (p, addr, _be) = start_http_s1("", "timeout http-keep-alive 300ms");
    let mut c = HttpClient::connect(addr);
    assert_eq!(c.get("/one", "").status, 200);
    let t0 = Instant::now();
    let closed = c.expect_closed(Duration::from_secs(5));
    assert!(
        closed.data.is_empty(),
        "an idle keep-alive close sends nothing: {:?}",
        String::from_utf8_lossy(&closed.data)
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before timeout http-keep-alive 300ms",
        t0.elapsed()
    );
    p.stop().assert_clean();
}

#[test]
fn keepalive_timeout_does_not_cut_active_clients() {
    let (p, addr, _be) = start_http_s1("", "timeout http-keep-alive 500ms");
    let mut c = HttpClient::connect(addr);
    for i in 0..6 {
        assert_eq!(c.get(&format!("/active/{i}"), "").status, 200);
        thread::sleep(Duration::from_millis(100));
    }
    // A slow server response is not a keep-alive wait.
    assert_eq!(c.get("/delay/900/slow", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn first_request_waits_under_http_request_not_keepalive() {
    // timeout http-keep-alive is short, timeout http-request long: a client
    // that takes 500 ms to send its first request is served.
    let (p, addr, _be) =
        start_http_s1("", "timeout http-keep-alive 200ms\ntimeout http-request 5s");
    let mut c = HttpClient::connect(addr);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(c.get("/late-first", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn thousand_concurrent_keepalive_clients_two_shards() {
    raise_fd_limit(16384);
    const CLIENTS: usize = 1000;
    const PER_CLIENT: usize = 3;
    const WORKERS: usize = 50;
    let be = HttpBackend::start("s1");
    let be2 = HttpBackend::start("s2");
    let (p, addr) = start_http_proxy(
        2,
        "",
        "balance roundrobin",
        &[("s1", be.addr), ("s2", be2.addr)],
    );
    let ok = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    let t0 = Instant::now();
    for w in 0..WORKERS {
        let ok = ok.clone();
        handles.push(thread::spawn(move || -> Result<(), String> {
            let mut clients: Vec<HttpClient> = (0..CLIENTS / WORKERS)
                .map(|_| HttpClient::connect(addr))
                .collect();
            for c in &clients {
                c.r.s
                    .set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
            }
            for round in 0..PER_CLIENT {
                for (i, c) in clients.iter_mut().enumerate() {
                    c.try_send(get_req(&format!("/w{w}/c{i}/r{round}"), ""))
                        .map_err(|e| format!("w{w} c{i} r{round}: send: {e}"))?;
                }
                for (i, c) in clients.iter_mut().enumerate() {
                    let want = format!("/w{w}/c{i}/r{round}");
                    let (_, r) = c.read_final(false).map_err(|e| format!("{want}: {e}"))?;
                    if r.status != 200 || r.field("path").as_deref() != Some(want.as_str()) {
                        return Err(format!("{want}: got {} {:?}", r.status, r.body_str()));
                    }
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }));
    }
    let errors: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().unwrap().err())
        .collect();
    let elapsed = t0.elapsed();
    assert!(
        errors.is_empty(),
        "{} workers failed: {errors:?}",
        errors.len()
    );
    assert_eq!(ok.load(Ordering::Relaxed), CLIENTS * PER_CLIENT);
    let served = be.seen().len() + be2.seen().len();
    assert_eq!(served, CLIENTS * PER_CLIENT);
    eprintln!(
        "{} requests from {CLIENTS} clients in {elapsed:?}; backend connections {} + {}",
        CLIENTS * PER_CLIENT,
        be.accepted(),
        be2.accepted()
    );
    let stopped = p.stop();
    stopped.assert_clean();
    assert_eq!(stopped.shards().len(), 2);
    let total = stopped.total();
    assert_eq!(total.accepted, CLIENTS as u64);
    assert!(
        stopped.shards().iter().all(|s| s.accepted > 0),
        "one shard took no client: {:?}",
        stopped.shards()
    );
}

#[test]
fn many_sequential_requests_one_connection() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    // Pipelined in bursts of 50: 500 requests.
    for burst in 0..10 {
        let mut bytes = Vec::new();
        for i in 0..50 {
            bytes.extend_from_slice(get_req(&format!("/seq/{burst}/{i}"), "").as_bytes());
        }
        c.stream().write_all(&bytes).unwrap();
        for i in 0..50 {
            let r = c.expect_response("burst");
            assert_eq!(r.field("path"), Some(format!("/seq/{burst}/{i}")));
        }
    }
    assert_eq!(be.accepted(), 1, "one client, one server connection");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn server_closing_right_after_a_large_response_loses_nothing() {
    // The server answers with Connection: close and closes at once; the
    // client reads slowly, so the end of the body is still queued in the
    // proxy when the server's FIN arrives. Nothing may be lost.
    let (p, addr, _be) = start_http_s1("", "");
    let n = 4_000_000;
    let want = fnv1a64(&pattern(n as u64, n));
    for round in 0..2 {
        let mut c = HttpClient::connect(addr);
        c.send(get_req(&format!("/download/{n}"), "Connection: close\r\n"));
        thread::sleep(Duration::from_millis(300));
        let r = c
            .read_final(false)
            .unwrap_or_else(|e| panic!("round {round}: response cut: {e}"))
            .1;
        assert_eq!(r.body.len(), n, "round {round}");
        assert_eq!(fnv1a64(&r.body), want, "round {round}");
        assert!(r.has_token("connection", "close"));
        c.expect_closed(CLOSE_BOUND);
    }
    p.stop().assert_clean();
}

#[test]
fn close_token_in_any_connection_field() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(get_req(
        "/two-fields",
        "Connection: x-foo\r\nConnection: close\r\n",
    ));
    let r = c.expect_response("two Connection fields");
    assert!(r.has_token("connection", "close"), "{}", r.head_str());
    c.expect_closed(CLOSE_BOUND);
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/list", "Connection: keep-alive, CLOSE\r\n"));
    let r = c.expect_response("close in a list");
    assert!(r.has_token("connection", "close"), "{}", r.head_str());
    c.expect_closed(CLOSE_BOUND);
    p.stop().assert_clean();
}
