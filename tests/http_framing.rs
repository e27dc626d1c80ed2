//! HTTP mode, message framing end to end (RFC 9112): Content-Length,
//! chunked bodies forwarded unchanged (extensions and trailers included),
//! close-delimited responses, bodiless responses (HEAD, 1xx, 204, 304),
//! `Expect: 100-continue`, heads split across writes, hop-by-hop fields,
//! large bodies both ways with checksums, and the Upgrade/101 tunnel.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

/// A server answering every request with `answer` (keep-alive).
fn fixed_server(name: &str, answer: &'static [u8]) -> Backend {
    Backend::spawn(name, move |s, _| {
        let mut r = ByteReader::new(s);
        while let Ok(Some(_)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            if r.s.write_all(answer).is_err() {
                return;
            }
        }
    })
}

/// A server answering the first request of each connection with `answer`,
/// then closing it.
fn answer_once(name: &str, answer: &'static [u8]) -> Backend {
    Backend::spawn(name, move |s, _| {
        let mut r = ByteReader::new(s);
        if let Ok(Some(_)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            let _ = r.s.write_all(answer);
        }
    })
}

/// The only request the backend saw, with the given path.
fn seen_path(be: &HttpBackend, path: &str) -> HttpSeen {
    let all = be.wait_seen(1, IO_TIMEOUT);
    let v: Vec<_> = all.into_iter().filter(|r| r.path() == path).collect();
    assert_eq!(v.len(), 1, "backend requests for {path}: {v:?}");
    v.into_iter().next().unwrap()
}

#[test]
fn content_length_request_and_response() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("POST /cl HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world");
    let r = c.expect_response("POST /cl");
    assert_eq!(r.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(r.field("body").as_deref(), Some("11"));
    assert_eq!(
        r.field("fnv"),
        Some(format!("{:016x}", fnv1a64(b"hello world")))
    );
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(r.header("x-served-by"), Some("s1"));
    let s = seen_path(&be, "/cl");
    assert_eq!(s.version, "HTTP/1.1");
    assert_eq!(s.parsed.header("content-length"), Some("11"));
    assert_eq!(s.parsed.header("host"), Some("test"));
    assert_eq!(s.raw_body, b"hello world");
    // The connection is still usable.
    let r2 = c.get("/after", "");
    assert_eq!(r2.status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn chunked_request_forwarded_unchanged() {
    let (p, addr, be) = start_http_s1("", "");
    let body: &[u8] = b"4;a=b\r\nWiki\r\n5;quoted=\"x y\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0;end\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n";
    let mut req =
        b"POST /chunked-up HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(body);
    let mut c = HttpClient::connect(addr);
    c.send(&req);
    let r = c.expect_response("chunked POST");
    assert_eq!(r.status, 200);
    let payload: &[u8] = b"Wikipedia in\r\n\r\nchunks.";
    assert_eq!(r.field("body"), Some(payload.len().to_string()));
    let s = seen_path(&be, "/chunked-up");
    assert!(s.chunked, "forwarded head: {}", s.head_str());
    assert_eq!(
        s.raw_body,
        body,
        "chunked body re-framed: {:?}",
        String::from_utf8_lossy(&s.raw_body)
    );
    assert_eq!(s.trailers, "X-Checksum: abc\r\nX-More: 1\r\n");
    assert!(s.parsed.header("content-length").is_none());
    // The next request on the connection still works.
    assert_eq!(c.get("/next", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn chunked_request_split_in_small_writes() {
    let (p, addr, be) = start_http_s1("", "");
    let body: &[u8] = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n";
    let mut req =
        b"PUT /split HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(body);
    let mut c = HttpClient::connect(addr);
    for piece in req.chunks(3) {
        c.send(piece);
        thread::sleep(Duration::from_millis(2));
    }
    let r = c.expect_response("split chunked PUT");
    assert_eq!(r.status, 200);
    assert_eq!(r.field("body").as_deref(), Some("19"));
    let s = seen_path(&be, "/split");
    assert_eq!(s.raw_body, body);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn chunked_response_forwarded_unchanged() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let r = c.get("/chunked", "");
    assert_eq!(r.status, 200);
    assert!(r.chunked, "response head: {}", r.head_str());
    assert!(r.header("content-length").is_none());
    assert_eq!(
        r.raw_chunked,
        HTTP_CHUNKED_BODY,
        "chunked response re-framed: {:?}",
        String::from_utf8_lossy(&r.raw_chunked)
    );
    assert_eq!(r.body, HTTP_CHUNKED_PAYLOAD);
    assert_eq!(r.trailers, "X-Trailer: yes\r\nX-Other: 2\r\n");
    assert_eq!(r.header("trailer"), Some("X-Trailer"));
    // Keep-alive after a chunked response.
    assert_eq!(c.get("/again", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn close_delimited_response_then_client_closed() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/close-delimited", ""));
    let r = c.expect_response("close-delimited");
    assert_eq!(r.status, 200);
    let body = r.body_str();
    assert!(
        body.starts_with("server=s1 ") && body.ends_with("close-delimited end\n"),
        "body: {body:?}"
    );
    if !r.close_delimited {
        // The proxy framed it for the client: then the connection must be
        // closed anyway per the contract.
        let closed = c.expect_closed(CLOSE_BOUND);
        assert!(closed.data.is_empty(), "extra bytes {:?}", closed.data);
    }
    assert!(
        !r.has_token("connection", "keep-alive"),
        "head: {}",
        r.head_str()
    );
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn head_request_has_no_body() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n");
    let (_, r) = c.read_final(true).expect("HEAD response");
    assert_eq!(r.status, 200);
    let cl: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(cl > 0);
    // The head announces a body that is not sent: the next response must
    // follow immediately.
    let r2 = c.get("/after-head", "");
    assert_eq!(r2.status, 200, "after HEAD: {}", r2.head_str());
    assert_eq!(r2.field("path").as_deref(), Some("/after-head"));
    let seen = be.wait_seen(2, IO_TIMEOUT);
    assert_eq!(seen[0].method, "HEAD");
    // HEAD of a chunked resource.
    c.send("HEAD /chunked HTTP/1.1\r\nHost: test\r\n\r\n");
    let (_, r3) = c.read_final(true).expect("HEAD chunked");
    assert_eq!(r3.status, 200);
    assert_eq!(c.get("/after-head2", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn status_204_and_304_have_no_body() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    // Pipelined, so a body wrongly expected after 204/304 would swallow the
    // next response.
    c.send(format!(
        "{}{}{}",
        get_req("/status/204", ""),
        get_req("/status/304", ""),
        get_req("/last", "")
    ));
    let r1 = c.expect_response("204");
    assert_eq!(r1.status_line(), "HTTP/1.1 204 No Content");
    let r2 = c.expect_response("304");
    assert_eq!(r2.status_line(), "HTTP/1.1 304 Not Modified");
    let r3 = c.expect_response("after 304");
    assert_eq!(r3.status, 200);
    assert_eq!(r3.field("path").as_deref(), Some("/last"));
    c.assert_open(Duration::from_millis(100), "keep-alive after 204/304");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn interim_103_forwarded_before_final() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/early-hints", ""));
    let (interim, r) = c.read_final(false).expect("response");
    assert_eq!(interim.len(), 1, "interim responses: {interim:?}");
    assert_eq!(interim[0].status, 103);
    assert_eq!(interim[0].header("link"), Some("</style.css>; rel=preload"));
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/next", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn expect_100_continue_from_server_is_forwarded() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    // The client waits for the 100 before sending the body.
    let r = c.read_response(false).expect("100 Continue");
    assert_eq!(r.status_line(), "HTTP/1.1 100 Continue");
    c.send("12345");
    let (_, fin) = c.read_final(false).expect("final");
    assert_eq!(fin.status, 200);
    assert_eq!(fin.field("body").as_deref(), Some("5"));
    let s = seen_path(&be, "/up");
    assert_eq!(s.parsed.header("expect"), Some("100-continue"));
    assert_eq!(c.get("/next", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn expect_100_continue_body_sent_without_waiting() {
    // A client that does not wait for the 100 (allowed): the 100 and the
    // final response both arrive, in order.
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(
        "POST /up2 HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    );
    let (interim, fin) = c.read_final(false).expect("responses");
    assert_eq!(
        interim.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![100]
    );
    assert_eq!(fin.status, 200);
    assert_eq!(fin.field("body").as_deref(), Some("3"));
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn request_head_split_byte_by_byte() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let req = "GET /bytewise?q=1 HTTP/1.1\r\nHost: test\r\nX-A: 1\r\nX-B: two words\r\n\r\n";
    for b in req.as_bytes() {
        c.send([*b]);
    }
    let r = c.expect_response("bytewise GET");
    assert_eq!(r.status, 200);
    let s = seen_path(&be, "/bytewise");
    assert_eq!(s.target, "/bytewise?q=1");
    assert_eq!(s.parsed.header("x-b"), Some("two words"));
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn hop_by_hop_fields_removed_end_to_end_kept() {
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let r = c.get(
        "/echo-headers",
        "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-End: kept\r\nAccept: */*\r\n",
    );
    assert_eq!(r.status, 200);
    let fwd = parse_head(&r.body);
    let head = r.body_str();
    for h in ["x-hop", "keep-alive", "proxy-connection", "te"] {
        assert!(
            fwd.header(h).is_none(),
            "{h} forwarded to the server:\n{head}"
        );
    }
    assert!(
        fwd.headers_named("connection")
            .iter()
            .all(|v| !v.to_ascii_lowercase().contains("x-hop")),
        "{head}"
    );
    assert_eq!(fwd.header("x-end"), Some("kept"), "{head}");
    assert_eq!(fwd.header("accept"), Some("*/*"), "{head}");
    assert_eq!(fwd.header("host"), Some("test"), "{head}");
    assert_eq!(fwd.start[0], "GET");
    assert_eq!(fwd.start[1], "/echo-headers");
    assert_eq!(fwd.start[2], "HTTP/1.1");
    assert!(head.ends_with("\r\n\r\n"));
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn connection_cannot_protect_framing_fields() {
    // `Connection: content-length` must not make the proxy drop the
    // framing it checked.
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("POST /prot HTTP/1.1\r\nHost: test\r\nConnection: Content-Length, Host\r\nContent-Length: 4\r\n\r\nabcd");
    let r = c.expect_response("POST with Connection: Content-Length");
    assert_eq!(r.status, 200);
    let s = seen_path(&be, "/prot");
    assert_eq!(
        s.parsed.header("content-length"),
        Some("4"),
        "{}",
        s.head_str()
    );
    assert_eq!(s.parsed.header("host"), Some("test"), "{}", s.head_str());
    assert_eq!(s.raw_body, b"abcd");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn upload_10mb_content_length() {
    let (p, addr, be) = start_http_s1("", "");
    let n = 10 * 1024 * 1024;
    let data = pattern(42, n);
    let mut c = HttpClient::connect(addr);
    c.send(format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: {n}\r\n\r\n"
    ));
    c.send(&data);
    let r = c.expect_response("10 MB upload");
    assert_eq!(r.status, 200);
    assert_eq!(r.field("body"), Some(n.to_string()));
    assert_eq!(r.field("fnv"), Some(format!("{:016x}", fnv1a64(&data))));
    let s = seen_path(&be, "/upload");
    assert_eq!(s.body_len, n as u64);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn upload_10mb_chunked() {
    let (p, addr, be) = start_http_s1("", "");
    let n = 10 * 1024 * 1024 + 12345;
    let data = pattern(43, n);
    let mut c = HttpClient::connect(addr);
    c.send("POST /upload-chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut framed = Vec::with_capacity(n + 64 * 1024);
    for piece in data.chunks(50_000) {
        framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        framed.extend_from_slice(piece);
        framed.extend_from_slice(b"\r\n");
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    c.send(&framed);
    let r = c.expect_response("10 MB chunked upload");
    assert_eq!(r.status, 200);
    assert_eq!(r.field("body"), Some(n.to_string()));
    assert_eq!(r.field("fnv"), Some(format!("{:016x}", fnv1a64(&data))));
    let s = seen_path(&be, "/upload-chunked");
    assert!(s.chunked);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn download_10mb_content_length_and_chunked() {
    let (p, addr, _be) = start_http_s1("", "");
    let n = 10 * 1024 * 1024 + 1;
    let want = fnv1a64(&pattern(n as u64, n));
    let mut c = HttpClient::connect(addr);
    let r = c.get(&format!("/download/{n}"), "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), n);
    assert_eq!(fnv1a64(&r.body), want, "10 MB download corrupted");
    let r = c.get(&format!("/download-chunked/{n}"), "");
    assert_eq!(r.status, 200);
    assert!(r.chunked);
    assert_eq!(r.body.len(), n);
    assert_eq!(fnv1a64(&r.body), want, "10 MB chunked download corrupted");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn download_with_slow_reader() {
    // The client reads slowly: the proxy must apply backpressure, not lose
    // or reorder anything.
    let (p, addr, _be) = start_http_s1("", "");
    let n = 3 * 1024 * 1024;
    let want = fnv1a64(&pattern(n as u64, n));
    let mut c = HttpClient::connect(addr);
    c.send(get_req(&format!("/download/{n}"), ""));
    thread::sleep(Duration::from_millis(500));
    let r = c.expect_response("slow download");
    assert_eq!(r.body.len(), n);
    assert_eq!(fnv1a64(&r.body), want);
    drop(c);
    p.stop().assert_clean();
}

fn upgrade_req(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

#[test]
fn upgrade_101_then_tunnel_both_ways() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(upgrade_req("/upgrade"));
    let r = c.read_response(false).expect("101");
    assert_eq!(r.status, 101, "{}", r.head_str());
    assert_eq!(r.header("upgrade"), Some("websocket"), "{}", r.head_str());
    assert!(r.has_token("connection", "upgrade"), "{}", r.head_str());
    let s = seen_path(&be, "/upgrade");
    assert_eq!(
        s.parsed.header("upgrade"),
        Some("websocket"),
        "{}",
        s.head_str()
    );
    assert!(
        s.parsed.has_token("connection", "upgrade"),
        "{}",
        s.head_str()
    );
    assert!(c.r.buffered().is_empty());
    // Binary frames, including bytes that look like HTTP, pass unchanged.
    let mut s = c.r.s.try_clone().unwrap();
    for i in 0..20u64 {
        let mut msg = pattern(i + 1, 1000 + i as usize * 777);
        if i == 3 {
            msg = b"GET /not-http HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        }
        s.write_all(&msg).unwrap();
        let got = read_n(&mut s, msg.len()).expect("echo through tunnel");
        assert_eq!(got, msg, "tunnel frame {i}");
    }
    // A larger burst.
    let big = pattern(99, 2 * 1024 * 1024);
    let mut w = s.try_clone().unwrap();
    let big2 = big.clone();
    let writer = thread::spawn(move || w.write_all(&big2).map(|_| ()));
    let got = read_n(&mut s, big.len()).expect("2 MB through tunnel");
    writer.join().unwrap().unwrap();
    assert_eq!(fnv1a64(&got), fnv1a64(&big));
    // The client closes: the tunnel ends on both sides.
    s.shutdown(Shutdown::Write).unwrap();
    let closed = expect_closed(&mut s, CLOSE_BOUND);
    assert!(closed.data.is_empty());
    assert!(
        be.backend.wait_idle(CLOSE_BOUND),
        "server side of the tunnel still open"
    );
    assert!(
        !be.targets().iter().any(|t| t == "/not-http"),
        "tunnel bytes parsed as HTTP"
    );
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn upgrade_with_bytes_right_behind_the_request() {
    // The client sends its first frame in the same write as the upgrade
    // request (before the 101): the bytes must reach the server after the
    // switch, not be lost or parsed as a request.
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut req = upgrade_req("/upgrade").into_bytes();
    req.extend_from_slice(b"early-frame");
    c.send(&req);
    let r = c.read_response(false).expect("101");
    assert_eq!(r.status, 101, "{}", r.head_str());
    let mut got = c.r.buffered().to_vec();
    c.r.pos = c.r.buf.len();
    let deadline = Instant::now() + Duration::from_secs(2);
    c.r.s
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 64];
    while got.len() < 11 && Instant::now() < deadline {
        match c.r.s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        "early-frame",
        "bytes sent right behind the upgrade request"
    );
    assert_eq!(be.seen().len(), 1, "{:?}", be.targets());
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn upgrade_refused_by_server_stays_http() {
    // The server ignores the Upgrade (200 instead of 101): the connection
    // goes on as HTTP.
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(upgrade_req("/no-upgrade-here"));
    let r = c.expect_response("upgrade refused");
    assert_eq!(r.status, 200);
    let r2 = c.get("/next", "");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.field("path").as_deref(), Some("/next"));
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn options_asterisk_and_absolute_form() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send("OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.expect_response("OPTIONS *");
    assert_eq!(r.status, 200);
    c.send("GET http://test/abs?x=1 HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.expect_response("absolute-form");
    assert_eq!(r.status, 200);
    let seen = be.wait_seen(2, IO_TIMEOUT);
    assert_eq!(seen[0].target, "*");
    assert!(
        seen[1].target == "http://test/abs?x=1" || seen[1].target == "/abs?x=1",
        "absolute-form forwarded as {:?}",
        seen[1].target
    );
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn http10_response_from_server() {
    // A server answering HTTP/1.0 with Content-Length and closing: the
    // client (HTTP/1.1) gets the body and may go on.
    let be = answer_once("old", b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nold ok");
    let (p, addr) = start_http_proxy(1, "", "", &[("old", be.addr)]);
    let mut c = HttpClient::connect(addr);
    for i in 0..10 {
        c.send(get_req("/", ""));
        let r = c
            .read_final(false)
            .unwrap_or_else(|e| panic!("request {i}: {e}"))
            .1;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"old ok");
    }
    assert_eq!(
        be.accepted(),
        10,
        "an HTTP/1.0 server connection was reused"
    );
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn response_with_cl_and_te_is_chunked_without_cl() {
    let be = fixed_server(
        "clte",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let (p, addr) = start_http_proxy(1, "", "", &[("clte", be.addr)]);
    let mut c = HttpClient::connect(addr);
    c.send(format!("{}{}", get_req("/1", ""), get_req("/2", "")));
    for _ in 0..2 {
        let r = c.expect_response("CL+TE response");
        assert_eq!(r.status, 200);
        assert!(r.chunked, "{}", r.head_str());
        assert!(
            r.header("content-length").is_none(),
            "Content-Length forwarded next to Transfer-Encoding: {}",
            r.head_str()
        );
        assert_eq!(r.body, b"hello");
    }
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn client_abort_during_download_closes_server_connection() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/download/8000000", ""));
    // Read only the beginning, then go away.
    let mut buf = [0u8; 1000];
    c.r.s.read_exact(&mut buf).unwrap();
    drop(c);
    assert!(
        be.backend.wait_idle(CLOSE_BOUND),
        "the server connection of an aborted download stays open (pooled mid-body?)"
    );
    // The next session is served normally, on a new connection.
    let mut c2 = HttpClient::connect(addr);
    let r = c2.get("/after-abort", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.conn_id(), 2);
    drop(c2);
    p.stop().assert_clean();
}

#[test]
fn client_abort_during_upload_closes_server_connection() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(
        "POST /partial HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\nonly a few bytes",
    );
    be.backend.wait_accepted(1, IO_TIMEOUT);
    drop(c);
    assert!(
        be.backend.wait_idle(CLOSE_BOUND),
        "the server connection of an aborted upload stays open"
    );
    let mut c2 = HttpClient::connect(addr);
    assert_eq!(c2.get("/next", "").status, 200);
    drop(c2);
    p.stop().assert_clean();
}

#[test]
fn status_line_without_reason_phrase() {
    let be = fixed_server("noreason", b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok");
    let (p, addr) = start_http_proxy(1, "", "", &[("noreason", be.addr)]);
    let mut c = HttpClient::connect(addr);
    let r = c.get("/", "");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert_eq!(r.body, b"ok");
    assert_eq!(c.get("/", "").body, b"ok");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn pipelined_request_behind_a_large_download() {
    let (p, addr, _be) = start_http_s1("", "");
    let n = 2_000_000;
    let mut c = HttpClient::connect(addr);
    c.send(format!(
        "{}{}",
        get_req(&format!("/download/{n}"), ""),
        get_req("/small", "")
    ));
    let r1 = c.expect_response("large");
    assert_eq!(r1.body.len(), n);
    assert_eq!(fnv1a64(&r1.body), fnv1a64(&pattern(n as u64, n)));
    let r2 = c.expect_response("small");
    assert_eq!(r2.field("path").as_deref(), Some("/small"));
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn large_request_head_in_many_writes() {
    let (p, addr, be) = start_http_s1("", "");
    let big = "b".repeat(12_000);
    let req = get_req(
        "/large-req-head",
        &format!("X-Big: {big}\r\nX-After: 1\r\n"),
    );
    let mut c = HttpClient::connect(addr);
    for piece in req.as_bytes().chunks(1000) {
        c.send(piece);
        thread::sleep(Duration::from_millis(1));
    }
    let r = c.expect_response("12 KB head");
    assert_eq!(r.status, 200);
    let s = seen_path(&be, "/large-req-head");
    assert_eq!(s.parsed.header("x-big"), Some(big.as_str()));
    assert_eq!(s.parsed.header("x-after"), Some("1"));
    assert_eq!(c.get("/next", "").status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn response_head_trickled_byte_by_byte() {
    let be = Backend::spawn("trickle", |s, _| {
        let mut r = ByteReader::new(s);
        while let Ok(Some(_)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            let rsp = b"HTTP/1.1 200 OK\r\nX-Slow: yes\r\nContent-Length: 5\r\n\r\nhello";
            for b in rsp.iter() {
                if r.s.write_all(&[*b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_micros(300));
            }
        }
    });
    let (p, addr) = start_http_proxy(1, "", "", &[("trickle", be.addr)]);
    let mut c = HttpClient::connect(addr);
    for _ in 0..2 {
        let r = c.get("/", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-slow"), Some("yes"));
        assert_eq!(r.body, b"hello");
    }
    assert_eq!(be.accepted(), 1);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn connect_method_becomes_a_tunnel() {
    let be = Backend::spawn("connect", |s, _| {
        let mut r = ByteReader::new(s);
        if let Ok(Some(h)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            if !h.starts_with(b"CONNECT ") {
                return;
            }
            if r.s
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
            let early = r.buffered().to_vec();
            if !early.is_empty() && r.s.write_all(&early).is_err() {
                return;
            }
            let s = r.s.try_clone().unwrap();
            echo_loop(s);
        }
    });
    let (p, addr) = start_http_proxy(1, "", "", &[("connect", be.addr)]);
    let mut c = HttpClient::connect(addr);
    c.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    // A 2xx to CONNECT has no body: read the head only.
    let head =
        c.r.read_head(65536, Instant::now() + IO_TIMEOUT)
            .expect("CONNECT answer")
            .expect("CONNECT answer before EOF");
    let h = parse_head(&head);
    assert_eq!(h.start[1], "200", "{}", String::from_utf8_lossy(&head));
    assert!(c.r.buffered().is_empty());
    let mut s = c.r.s.try_clone().unwrap();
    for i in 0..5u64 {
        let msg = pattern(i + 7, 3000);
        s.write_all(&msg).unwrap();
        assert_eq!(read_n(&mut s, msg.len()).expect("echo"), msg);
    }
    s.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut s, CLOSE_BOUND);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn tunnel_closed_by_the_server_closes_the_client() {
    let be = answer_once(
        "up-close",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nbye",
    );
    let (p, addr) = start_http_proxy(1, "", "", &[("up-close", be.addr)]);
    let mut c = HttpClient::connect(addr);
    c.send(upgrade_req("/ws"));
    let r = c.read_response(false).expect("101");
    assert_eq!(r.status, 101);
    let closed = c.expect_closed(CLOSE_BOUND);
    assert_eq!(closed.data, b"bye");
    p.stop().assert_clean();
}

#[test]
fn switching_responses_do_not_announce_a_close() {
    // `Connection: close` means the connection ends after this response
    // (RFC 9110 7.6.1): wrong on a 101 that switches it to another
    // protocol, and on a 2xx that opens a CONNECT tunnel.
    let (p, addr, _be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(upgrade_req("/upgrade"));
    let r = c.read_response(false).expect("101");
    assert_eq!(r.status, 101);
    assert!(
        !r.has_token("connection", "close"),
        "101 announces a close: {}",
        r.head_str()
    );
    drop(c);
    p.stop().assert_clean();
}

/// A server answering `413 Payload Too Large` + `Connection: close` right
/// after the head, without reading the body; `polite`: it still reads what
/// comes for 300 ms before closing, else it closes at once.
fn early_413_server(polite: bool) -> Backend {
    Backend::spawn("early", move |s, _| {
        let mut r = ByteReader::new(s);
        if let Ok(Some(_)) = r.read_head(65536, Instant::now() + IO_TIMEOUT) {
            let _ = r.s.write_all(
                b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!",
            );
            if polite {
                r.s.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let _ = r.read_to_eof_to(Instant::now() + Duration::from_millis(300), |_| {});
            }
        }
    })
}

fn early_response_case(polite: bool) {
    let be = early_413_server(polite);
    let (p, addr) = start_http_proxy(1, "", "", &[("early", be.addr)]);
    let mut c = HttpClient::connect(addr);
    c.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n");
    let mut w = c.r.s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let chunk = vec![b'x'; 10_000];
        for _ in 0..100 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let r = c.expect_response("early 413");
    assert_eq!(r.status, 413, "{}", r.head_str());
    assert_eq!(r.body, b"too big!");
    writer.join().unwrap();
    // The server's close is its own: the client connection may go on (then
    // it must work) or be closed.
    if c.try_send(get_req("/next", "")).is_ok() {
        match c.read_final(false) {
            Ok((_, r2)) => assert_eq!(r2.status, 413),
            Err(_) => {
                c.expect_closed(CLOSE_BOUND);
            }
        }
    }
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn early_response_before_the_request_body_is_sent() {
    early_response_case(true);
}

#[test]
fn early_response_then_server_closes_without_reading_the_body() {
    for _ in 0..5 {
        early_response_case(false);
    }
}
