//! HTTP mode, the proxy's own answers: 400, 408, 502, 503, 504 with
//! HAProxy's default pages, each followed by the close of the client
//! connection; and broken responses that can no longer be answered cleanly
//! (the connection is cut, never left half-written and open).

mod common;

use common::*;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn bad_request_400_exact_page() {
    let (p, addr, be) = start_http_s1("", "");
    expect_page(
        addr,
        "GET / HTTP/1.1\r\n\r\n",
        &page_400(),
        ANSWER_CLOSE_BOUND,
    );
    // After a first good request on the same connection too.
    let mut c = HttpClient::connect(addr);
    assert_eq!(c.get("/fine", "").status, 200);
    c.send("GET /x y HTTP/1.1\r\nHost: test\r\n\r\n");
    let closed = c.expect_closed(CLOSE_BOUND);
    assert_eq!(String::from_utf8_lossy(&closed.data), page_400());
    assert_eq!(be.targets(), vec!["/fine"]);
    p.stop().assert_clean();
}

#[test]
fn bad_request_with_unread_body_still_gets_400() {
    // A 400 in front of a body the proxy never reads: the answer must not
    // be destroyed by a reset when the proxy closes.
    let (p, addr, _be) = start_http_s1("", "");
    let mut req =
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 200_000));
    let mut c = HttpClient::connect(addr);
    let _ = c.try_send(&req);
    let closed = c.expect_closed(CLOSE_BOUND);
    assert_eq!(String::from_utf8_lossy(&closed.data), page_400());
    p.stop().assert_clean();
}

#[test]
fn request_timeout_408() {
    let (p, addr, be) = start_http_s1("", "timeout http-request 300ms");
    let took = expect_page(
        addr,
        "GET /slow HTTP/1.1\r\nHost: te",
        &page_408(),
        Duration::from_secs(5),
    );
    assert!(took >= Duration::from_millis(250), "408 after {took:?}");
    assert!(be.seen().is_empty());
    p.stop().assert_clean();
}

#[test]
fn request_timeout_408_on_second_request() {
    // After a first request, a partial second one is under
    // http-request too (keep-alive only covers the wait for its first byte).
    let (p, addr, _be) =
        start_http_s1("", "timeout http-request 300ms\ntimeout http-keep-alive 5s");
    let mut c = HttpClient::connect(addr);
    assert_eq!(c.get("/first", "").status, 200);
    c.send("GET /second HTTP/1.1\r\n");
    let t0 = Instant::now();
    let closed = c.expect_closed(Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&closed.data), page_408());
    assert!(t0.elapsed() < Duration::from_secs(4));
    p.stop().assert_clean();
}

#[test]
fn trickling_client_still_gets_408() {
    // http-request bounds the whole head, not each read.
    let (p, addr, be) = start_http_s1("", "timeout http-request 500ms");
    let mut c = HttpClient::connect(addr);
    c.send("GET /trickle HTTP/1.1\r\n");
    let t0 = Instant::now();
    let mut i = 0;
    // One field every 100 ms until the proxy answers (or 3 s pass).
    c.stream()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while t0.elapsed() < Duration::from_secs(3) {
        if c.try_send(format!("X-{i}: y\r\n")).is_err() {
            break;
        }
        i += 1;
        match c.r.fill() {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let closed = c.expect_closed(Duration::from_secs(3));
    assert!(
        String::from_utf8_lossy(&closed.data).starts_with("HTTP/1.1 408 Request Time-out\r\n"),
        "{:?} after {:?}",
        String::from_utf8_lossy(&closed.data),
        t0.elapsed()
    );
    assert!(be.seen().is_empty());
    p.stop().assert_clean();
}

fn expect_502_for(path: &str) {
    let (p, addr, be) = start_http_s1("", "");
    expect_page(addr, get_req(path, ""), &page_502(), ANSWER_CLOSE_BOUND);
    assert_eq!(be.wait_seen(1, IO_TIMEOUT)[0].target, path);
    p.stop().assert_clean();
}

#[test]
fn bad_status_line_502() {
    expect_502_for("/bad-status");
}

#[test]
fn bad_response_header_502() {
    expect_502_for("/bad-header");
}

#[test]
fn garbage_response_502() {
    expect_502_for("/garbage");
}

#[test]
fn differing_response_content_lengths_502() {
    expect_502_for("/dup-cl");
}

#[test]
fn response_head_too_large_502() {
    expect_502_for("/big-head");
}

#[test]
fn server_closes_without_answer_502() {
    expect_502_for("/close-now");
}

#[test]
fn server_resets_without_answer_502() {
    expect_502_for("/reset");
}

#[test]
fn truncated_response_body_cuts_client() {
    for path in ["/truncated", "/truncated-chunked", "/reset-mid-body"] {
        let (p, addr, _be) = start_http_s1("", "");
        let mut c = HttpClient::connect(addr);
        c.send(get_req(path, ""));
        let res = c.read_final(false);
        assert!(
            res.is_err(),
            "{path}: a truncated response read as complete: {:?}",
            res.map(|r| r.1.head_str())
        );
        c.expect_closed(CLOSE_BOUND);
        p.stop().assert_clean();
    }
}

#[test]
fn invalid_chunk_in_response_cuts_client() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/bad-chunk", ""));
    let closed = c.expect_closed(CLOSE_BOUND);
    let text = String::from_utf8_lossy(&closed.data).into_owned();
    // Either the head was already on its way (then the connection is cut
    // after the valid part), or nothing was sent yet: then a 502 is the
    // clean answer, and a silent close is tolerated.
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 200 OK\r\n") || text == page_502(),
        "{text:?}"
    );
    assert!(
        !text.contains("zz\r\nbad"),
        "the invalid chunk was forwarded: {text:?}"
    );
    // The server side is cut too.
    assert!(be.backend.wait_idle(CLOSE_BOUND));
    p.stop().assert_clean();
}

#[test]
fn extra_bytes_after_response_not_forwarded() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let r = c.get("/extra-after-body", "");
    assert_eq!(r.body, b"ok");
    let r2 = c.get("/next", "");
    assert_eq!(r2.status, 200, "{}", r2.head_str());
    assert_eq!(r2.field("path").as_deref(), Some("/next"));
    assert_eq!(
        be.accepted(),
        2,
        "a server connection with stray bytes was reused"
    );
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn connection_refused_503_after_retries() {
    // HAProxy: connection failures on every retry -> 503 (termination SC).
    let dead = refused_addr();
    let (p, addr) = start_http_proxy(1, "", "retries 2\ntimeout connect 100ms", &[("dead", dead)]);
    expect_page(addr, get_req("/", ""), &page_503(), ANSWER_CLOSE_BOUND);
    let stopped = p.stop();
    stopped.assert_clean();
    assert!(stopped.total().connect_errors >= 1);
}

#[test]
fn connect_timeout_503() {
    let hang = Unaccepting::new();
    let (p, addr) = start_http_proxy(
        1,
        "",
        "retries 1\ntimeout connect 200ms",
        &[("hang", hang.addr)],
    );
    expect_page(addr, get_req("/", ""), &page_503(), Duration::from_secs(5));
    p.stop().assert_clean();
}

#[test]
fn no_server_503() {
    let port = free_port();
    let cfg = http_config(
        1,
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend empty\n\nbackend empty\n"
        ),
    );
    let p = Proxy::start(&cfg);
    let addr = SocketAddr::new(LOCALHOST, port);
    expect_page(addr, get_req("/", ""), &page_503(), ANSWER_CLOSE_BOUND);
    p.stop().assert_clean();
}

#[test]
fn all_servers_disabled_503() {
    let be = HttpBackend::start("s1");
    let (p, addr) = start_http_proxy(1, "", &format!("server s1 {} disabled", be.addr), &[]);
    expect_page(addr, get_req("/", ""), &page_503(), ANSWER_CLOSE_BOUND);
    assert_eq!(be.accepted(), 0);
    p.stop().assert_clean();
}

#[test]
fn queue_timeout_503() {
    let be = HttpBackend::start("s1");
    let (p, addr) = start_http_proxy(
        1,
        "",
        &format!("timeout queue 300ms\nserver s1 {} maxconn 1", be.addr),
        &[],
    );
    let mut holder = HttpClient::connect(addr);
    holder.send(get_req("/delay/1500/hold", ""));
    be.wait_seen(1, IO_TIMEOUT);
    let took = expect_page(
        addr,
        get_req("/queued", ""),
        &page_503(),
        Duration::from_secs(3),
    );
    assert!(took >= Duration::from_millis(250), "503 after {took:?}");
    assert!(took < Duration::from_millis(1400), "503 after {took:?}");
    let r = holder.expect_response("holder");
    assert_eq!(r.status, 200);
    drop(holder);
    let stopped = p.stop();
    stopped.assert_clean();
    assert_eq!(stopped.total().queue_timeouts, 1);
}

#[test]
fn queued_request_served_when_slot_frees() {
    let be = HttpBackend::start("s1");
    let (p, addr) = start_http_proxy(
        1,
        "",
        &format!("timeout queue 5s\nserver s1 {} maxconn 1", be.addr),
        &[],
    );
    let mut a = HttpClient::connect(addr);
    a.send(get_req("/delay/300/a", ""));
    be.wait_seen(1, IO_TIMEOUT);
    let mut b = HttpClient::connect(addr);
    b.send(get_req("/b", ""));
    assert_eq!(a.expect_response("a").status, 200);
    assert_eq!(b.expect_response("b (queued)").status, 200);
    // The client stays connected: its slot is released between requests
    // and the next one is served as well.
    assert_eq!(a.get("/a2", "").status, 200);
    drop((a, b));
    p.stop().assert_clean();
}

#[test]
fn server_timeout_504() {
    let (p, addr, _be) = start_http_s1("", "timeout server 300ms");
    let took = expect_page(
        addr,
        get_req("/delay/3000/slow", ""),
        &page_504(),
        Duration::from_secs(5),
    );
    assert!(took >= Duration::from_millis(250), "504 after {took:?}");
    assert!(took < Duration::from_millis(2500), "504 after {took:?}");
    p.stop().assert_clean();
}

#[test]
fn server_timeout_during_body_cuts_client() {
    // Head sent, then the server stalls: too late for a 504, the client
    // connection is cut.
    let be = Backend::spawn("stall", |s, c| {
        let mut r = ByteReader::new(s);
        if let Ok(Some(_)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            use std::io::Write;
            let _ =
                r.s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
            while !c.stopping() {
                thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let (p, addr) = start_http_proxy(1, "", "timeout server 300ms", &[("stall", be.addr)]);
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/", ""));
    let closed = c.expect_closed(Duration::from_secs(5));
    let text = String::from_utf8_lossy(&closed.data).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(!text.contains("504"), "{text:?}");
    p.stop().assert_clean();
}

#[test]
fn error_page_on_keepalive_connection_closes_it() {
    // A 503 after successful requests on the same connection still closes.
    let be = HttpBackend::start("s1");
    let port = free_port();
    let cfg = http_config(
        1,
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    timeout client 10s\n    default_backend be\n\nbackend be\n    timeout server 300ms\n    server s1 {}\n",
            be.addr
        ),
    );
    let p = Proxy::start(&cfg);
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    assert_eq!(c.get("/ok", "").status, 200);
    c.send(get_req("/delay/2000/late", ""));
    let closed = c.expect_closed(Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&closed.data), page_504());
    p.stop().assert_clean();
}

#[test]
fn redispatch_after_connect_failures() {
    let good = HttpBackend::start("good");
    let dead = refused_addr();
    let (p, addr) = start_http_proxy(
        1,
        "",
        "balance roundrobin\nretries 2\noption redispatch\ntimeout connect 100ms",
        &[("dead", dead), ("good", good.addr)],
    );
    for i in 0..4 {
        let mut c = HttpClient::connect(addr);
        let r = c.get(&format!("/r{i}"), "");
        assert_eq!(r.status, 200, "request {i}: {}", r.head_str());
        assert_eq!(r.server(), "good");
    }
    p.stop().assert_clean();
}

#[test]
fn too_many_header_fields_400() {
    let (p, addr, be) = start_http_s1("", "");
    let mut extra = String::new();
    for i in 0..110 {
        extra.push_str(&format!("X-H{i}: v\r\n"));
    }
    expect_page(
        addr,
        get_req("/many", &extra),
        &page_400(),
        ANSWER_CLOSE_BOUND,
    );
    assert!(be.seen().is_empty());
    p.stop().assert_clean();
}

#[test]
fn unsolicited_101_is_a_bad_response_502() {
    // 101 to a request that did not ask to upgrade: an invalid response,
    // never a tunnel.
    let be = Backend::spawn("up", |s, _| {
        let mut r = ByteReader::new(s);
        if let Ok(Some(_)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            use std::io::Write;
            let _ = r.s.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: upgrade\r\n\r\nraw bytes",
            );
            thread::sleep(Duration::from_millis(200));
        }
    });
    let (p, addr) = start_http_proxy(1, "", "", &[("up", be.addr)]);
    expect_page(addr, get_req("/", ""), &page_502(), ANSWER_CLOSE_BOUND);
    p.stop().assert_clean();
}

#[test]
fn request_timeout_408_on_empty_first_connection() {
    // HAProxy (mux_h1 timeout handler) sends a 408 on a first request that
    // never started unless `option http-ignore-probes`; only idle
    // keep-alive connections are closed silently.
    let (p, addr, _be) = start_http_s1("", "timeout http-request 300ms");
    let took = expect_page(addr, "", &page_408(), Duration::from_secs(3));
    assert!(took >= Duration::from_millis(250), "408 after {took:?}");
    p.stop().assert_clean();
}

#[test]
fn client_abort_while_queued_releases_its_place() {
    let be = HttpBackend::start("s1");
    let (p, addr) = start_http_proxy(
        1,
        "",
        &format!("timeout queue 5s\nserver s1 {} maxconn 1", be.addr),
        &[],
    );
    let mut holder = HttpClient::connect(addr);
    holder.send(get_req("/delay/300/hold", ""));
    be.wait_seen(1, IO_TIMEOUT);
    // Queued, then gone with a reset (a FIN after a complete request is
    // only a half-close: without `option abortonclose` HAProxy still
    // forwards the request).
    let mut quitter = HttpClient::connect(addr);
    quitter.send(get_req("/quitter", ""));
    thread::sleep(Duration::from_millis(50));
    reset_close(quitter.r.s);
    assert_eq!(holder.expect_response("holder").status, 200);
    // The slot is not leaked: the next client is served. (Whether the
    // quitter's complete request is still forwarded is not checked: the
    // proxy stops reading a client whose request is complete, as HAProxy
    // does without `option abortonclose`.)
    let mut next = HttpClient::connect(addr);
    let r = next.get("/next", "");
    assert_eq!(r.status, 200);
    let mut again = HttpClient::connect(addr);
    assert_eq!(again.get("/again", "").status, 200);
    drop((holder, next));
    p.stop().assert_clean();
}
