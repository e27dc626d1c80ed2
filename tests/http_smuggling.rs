//! HTTP mode, request smuggling vectors: each ambiguous or invalid request
//! is answered 400 (or, for CL+TE, forwarded as chunked without
//! Content-Length) and the connection is closed after it, so a request
//! hidden behind it never reaches the backend.

mod common;

use common::*;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n";

/// After the client connection is closed, a fresh request must be the next
/// one the backend sees; nothing with `/smuggled` may ever reach it.
fn assert_not_smuggled(addr: SocketAddr, be: &HttpBackend) {
    // Give a wrongly forwarded request time to arrive.
    thread::sleep(Duration::from_millis(50));
    let mut c = HttpClient::connect(addr);
    let r = c.get("/sync", "");
    assert_eq!(r.status, 200, "the proxy still serves: {}", r.head_str());
    let targets = be.targets();
    assert!(
        !targets.iter().any(|t| t.contains("smuggled")),
        "a smuggled request reached the backend: {targets:?}"
    );
}

/// Sends `req` followed by a smuggled GET in one write; expects exactly
/// the 400 page, then the connection closed.
fn expect_400(req: &[u8]) {
    expect_400_with("", req)
}

fn expect_400_with(global_extra: &str, req: &[u8]) {
    let (p, addr, be) = start_http_s1(global_extra, "");
    let mut bytes = req.to_vec();
    bytes.extend_from_slice(SMUGGLED.as_bytes());
    expect_page(addr, &bytes, &page_400(), ANSWER_CLOSE_BOUND);
    assert_not_smuggled(addr, &be);
    p.stop().assert_clean();
}

#[test]
fn cl_and_te_together_forwarded_chunked_then_closed() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut req = b"POST /clte HTTP/1.1\r\nHost: test\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec();
    req.extend_from_slice(SMUGGLED.as_bytes());
    c.send(&req);
    let r = c.expect_response("CL+TE");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert!(
        r.has_token("connection", "close"),
        "the response must announce the close: {}",
        r.head_str()
    );
    let closed = c.expect_closed(CLOSE_BOUND);
    assert!(
        closed.data.is_empty(),
        "something answered after the CL+TE request: {:?}",
        String::from_utf8_lossy(&closed.data)
    );
    let s = be.wait_seen(1, IO_TIMEOUT).remove(0);
    assert_eq!(s.target, "/clte");
    assert!(s.chunked, "{}", s.head_str());
    assert!(
        s.parsed.header("content-length").is_none(),
        "Content-Length forwarded with Transfer-Encoding:\n{}",
        s.head_str()
    );
    assert_eq!(s.body_len, 0);
    assert_not_smuggled(addr, &be);
    p.stop().assert_clean();
}

#[test]
fn te_and_cl_reversed_order() {
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut req = b"POST /tecl HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec();
    req.extend_from_slice(SMUGGLED.as_bytes());
    c.send(&req);
    let r = c.expect_response("TE+CL");
    assert_eq!(r.status, 200);
    assert_eq!(r.field("body").as_deref(), Some("3"));
    c.expect_closed(CLOSE_BOUND);
    let s = be.wait_seen(1, IO_TIMEOUT).remove(0);
    assert!(
        s.parsed.header("content-length").is_none(),
        "{}",
        s.head_str()
    );
    assert_not_smuggled(addr, &be);
    p.stop().assert_clean();
}

#[test]
fn differing_content_lengths() {
    expect_400(
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
    );
}

#[test]
fn differing_content_length_list() {
    expect_400(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5, 6\r\n\r\nabcdef");
}

#[test]
fn content_length_with_sign_or_garbage() {
    expect_400(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: +5\r\n\r\nabcde");
    expect_400(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: -1\r\n\r\n");
    expect_400(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5x\r\n\r\nabcde");
    expect_400(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 0x5\r\n\r\nabcde");
}

#[test]
fn te_gzip_not_chunked() {
    expect_400(b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\n");
}

#[test]
fn te_chunked_then_gzip() {
    expect_400(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn te_unknown_coding_with_content_length() {
    expect_400(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nabcde",
    );
}

#[test]
fn te_chunked_twice() {
    expect_400(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn te_with_space_before_colon() {
    expect_400(
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn te_in_http10_request_never_smuggles() {
    // RFC 9112 6.1: the framing of an HTTP/1.0 message with
    // Transfer-Encoding is faulty; whatever the answer, the connection
    // closes after it and nothing behind it is a request.
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut req =
        b"POST /te10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
            .to_vec();
    req.extend_from_slice(SMUGGLED.as_bytes());
    let _ = c.try_send(&req);
    let closed = c.expect_closed(CLOSE_BOUND);
    let text = String::from_utf8_lossy(&closed.data).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 400 ") || text.starts_with("HTTP/1.1 200 "),
        "{text:?}"
    );
    assert_eq!(text.matches("HTTP/1.").count(), 1, "{text:?}");
    assert_not_smuggled(addr, &be);
    p.stop().assert_clean();
}

#[test]
fn bad_chunk_sizes() {
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut req =
            b"POST /badchunk HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        expect_400(&req);
    }
}

#[test]
fn chunk_data_longer_than_its_size() {
    expect_400(
        b"POST /badchunk HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
    );
}

#[test]
fn invalid_header_names() {
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nX(y): x\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\n: empty\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nNoColon\r\n\r\n");
}

#[test]
fn obs_fold() {
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n b\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\n Host: test\r\n\r\n");
}

#[test]
fn nul_and_cr_inside_fields() {
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nX-Nul: a\0b\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nX-Cr: a\rb\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nX-Ctl: a\x01b\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: te\0st\r\n\r\n");
}

#[test]
fn lf_inside_the_request_line() {
    expect_400(b"GET /a\nb HTTP/1.1\r\nHost: test\r\n\r\n");
}

#[test]
fn invalid_request_targets() {
    expect_400(b"GET /a b HTTP/1.1\r\nHost: test\r\n\r\n");
    expect_400(b"GET /a\x01b HTTP/1.1\r\nHost: test\r\n\r\n");
    expect_400(b"GET /a\x7fb HTTP/1.1\r\nHost: test\r\n\r\n");
    expect_400(b"GET * HTTP/1.1\r\nHost: test\r\n\r\n");
    expect_400(b"GET  HTTP/1.1\r\nHost: test\r\n\r\n");
}

#[test]
fn missing_or_conflicting_host() {
    expect_400(b"GET / HTTP/1.1\r\nX-No-Host: 1\r\n\r\n");
    expect_400(b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
}

#[test]
fn invalid_versions_and_methods() {
    expect_400(b"GET / HTTP/1.1 \r\nHost: test\r\n\r\n");
    expect_400(b"GET / http/1.1\r\nHost: test\r\n\r\n");
    expect_400(b"G(ET / HTTP/1.1\r\nHost: test\r\n\r\n");
    expect_400(b"GET /\r\nHost: test\r\n\r\n");
}

#[test]
fn head_larger_than_bufsize() {
    let mut req = b"GET /big HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..100 {
        req.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "a".repeat(60)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert!(req.len() > 4096);
    expect_400_with("    tune.bufsize 4096", &req);
}

#[test]
fn head_just_below_bufsize_is_served() {
    let (p, addr, _be) = start_http_s1("    tune.bufsize 4096", "");
    let mut c = HttpClient::connect(addr);
    let r = c.get("/small", &format!("X-Pad: {}\r\n", "a".repeat(2000)));
    assert_eq!(r.status, 200);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn too_large_head_without_end_answered_before_the_rest() {
    // The client never finishes its head: the proxy must answer 400 once
    // the buffer is full, not wait for the end of the head.
    let (p, addr, be) = start_http_s1("    tune.bufsize 4096", "");
    let mut c = HttpClient::connect(addr);
    let mut req = b"GET /big HTTP/1.1\r\nHost: test\r\nX-Long: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 8000));
    let _ = c.try_send(&req);
    let closed = c.expect_closed(CLOSE_BOUND);
    assert_eq!(String::from_utf8_lossy(&closed.data), page_400());
    assert!(be.seen().is_empty());
    p.stop().assert_clean();
}

#[test]
fn valid_request_after_valid_one_still_works() {
    // Control: the same pipelining is fine when the first request is valid.
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    c.send(format!(
        "POST /ok HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nabcde{SMUGGLED}"
    ));
    let r1 = c.expect_response("POST");
    let r2 = c.expect_response("GET behind it");
    assert_eq!(r1.field("path").as_deref(), Some("/ok"));
    assert_eq!(r2.field("path").as_deref(), Some("/smuggled"));
    assert_eq!(be.targets(), vec!["/ok", "/smuggled"]);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn lf_inside_a_field_value() {
    // A bare LF ends the line: "b" is then a line without a colon.
    expect_400(b"GET / HTTP/1.1\r\nHost: test\r\nX-Foo: a\nb\r\n\r\n");
}

#[test]
fn bare_lf_hiding_a_transfer_encoding() {
    // Whether the proxy accepts bare LF line ends or not, it and the server
    // must agree on the framing: the server never sees a bare LF, and the
    // request hidden behind never reaches it.
    let (p, addr, be) = start_http_s1("", "");
    let mut c = HttpClient::connect(addr);
    let mut req = b"POST /lf HTTP/1.1\r\nHost: test\r\nX-Foo: a\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n".to_vec();
    req.extend_from_slice(SMUGGLED.as_bytes());
    let _ = c.try_send(&req);
    let closed = c.expect_closed(CLOSE_BOUND);
    let text = String::from_utf8_lossy(&closed.data).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 400 ") || text.starts_with("HTTP/1.1 200 "),
        "{text:?}"
    );
    for s in be.seen() {
        let h = s.head_str();
        assert!(
            !h.replace("\r\n", "").contains('\n'),
            "bare LF forwarded: {h:?}"
        );
        if s.target == "/lf" {
            assert!(s.chunked, "{h}");
            assert!(s.parsed.header("content-length").is_none(), "{h}");
        }
    }
    assert_not_smuggled(addr, &be);
    p.stop().assert_clean();
}
