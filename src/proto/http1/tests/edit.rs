//! Head writing: exact bytes, validation of edits, hop-by-hop fields,
//! target rewriting, and parse -> rebuild -> parse round trips.

use super::*;
use std::net::{IpAddr, Ipv6Addr};

fn hdrs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<Header<'a>> {
    pairs
        .iter()
        .map(|&(name, value)| Header {
            name,
            value: value.as_bytes(),
        })
        .collect()
}

#[test]
fn request_head_bytes() {
    let mut out = b"stale".to_vec();
    let mut w = HeadWriter::request(&mut out, "POST", "/a?b", Version::Http11).unwrap();
    w.header("host", b"example.com").unwrap();
    w.header("X-Empty", b"").unwrap();
    w.header_display("x-forwarded-for", IpAddr::V6(Ipv6Addr::LOCALHOST))
        .unwrap();
    w.header_display("content-length", 42u64).unwrap();
    let len = w.finish();
    let expected: &[u8] = b"POST /a?b HTTP/1.1\r\nhost: example.com\r\nX-Empty: \r\nx-forwarded-for: ::1\r\ncontent-length: 42\r\n\r\n";
    assert_eq!(show(&out), show(expected));
    assert_eq!(len, expected.len());
}

#[test]
fn response_head_bytes() {
    let mut out = Vec::new();
    let w = HeadWriter::response(&mut out, Version::Http11, 503, reason_phrase(503)).unwrap();
    assert_eq!(w.len(), 34);
    assert!(!w.is_empty());
    w.finish();
    assert_eq!(out, b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
    let mut out = Vec::new();
    HeadWriter::response(&mut out, Version::Http10, 204, "")
        .unwrap()
        .finish();
    assert_eq!(out, b"HTTP/1.0 204 \r\n\r\n");
}

#[test]
fn invalid_edits_are_refused() {
    let mut out = b"kept".to_vec();
    let cases: [(Result<(), EditError>, EditError); 14] = [
        (
            write_header(&mut out, "X\r\nEvil", b"1"),
            EditError::InvalidName,
        ),
        (write_header(&mut out, "", b"1"), EditError::InvalidName),
        (write_header(&mut out, "X Y", b"1"), EditError::InvalidName),
        (write_header(&mut out, "X:", b"1"), EditError::InvalidName),
        (
            write_header(&mut out, "X", b"a\r\nEvil: 1"),
            EditError::InvalidValue,
        ),
        (
            write_header(&mut out, "X", b"a\nb"),
            EditError::InvalidValue,
        ),
        (
            write_header(&mut out, "X", b"a\0b"),
            EditError::InvalidValue,
        ),
        (
            write_header(&mut out, "X", b"a\x7f"),
            EditError::InvalidValue,
        ),
        (
            write_header_display(&mut out, "X", "a\r\nb"),
            EditError::InvalidValue,
        ),
        (
            write_request_line(&mut out, "GE T", "/", Version::Http11),
            EditError::InvalidMethod,
        ),
        (
            write_request_line(&mut out, "GET", "/a b", Version::Http11),
            EditError::InvalidTarget,
        ),
        (
            write_request_line(&mut out, "GET", "", Version::Http11),
            EditError::InvalidTarget,
        ),
        (
            write_status_line(&mut out, Version::Http11, 99, "x"),
            EditError::InvalidStatus,
        ),
        (
            write_status_line(&mut out, Version::Http11, 200, "O\r\nK"),
            EditError::InvalidReason,
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, Err(want), "case {i}");
    }
    // Nothing was appended by any failed edit.
    assert_eq!(out, b"kept");
    assert_eq!(EditError::InvalidValue.status(), 500);
    assert_eq!(
        EditError::InvalidValue.to_string(),
        "control character in header value"
    );
    // HTAB and obs-text are valid in values.
    write_header(&mut out, "X", "a\tcaf\u{e9}".as_bytes()).unwrap();
    assert_eq!(out, "keptX: a\tcaf\u{e9}\r\n".as_bytes());
}

#[test]
fn hop_by_hop_fields() {
    let h = hdrs(&[
        ("Connection", "close, X-Secret, content-length"),
        ("connection", "Transfer-Encoding, host"),
        ("X-Secret", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Upgrade", "websocket"),
        ("Trailer", "X-Checksum"),
        ("Content-Length", "5"),
        ("Transfer-Encoding", "chunked"),
        ("Host", "a"),
        ("X-Other", "2"),
    ]);
    let dropped: Vec<&str> = h
        .iter()
        .filter(|f| is_hop_by_hop(f.name, &h))
        .map(|f| f.name)
        .collect();
    assert_eq!(
        dropped,
        [
            "Connection",
            "connection",
            "X-Secret",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "Upgrade"
        ]
    );
    let mut out = Vec::new();
    let mut w = HeadWriter::request(&mut out, "GET", "/", Version::Http11).unwrap();
    w.end_to_end(&h, false).unwrap();
    w.finish();
    assert_eq!(
        show(&out),
        show(b"GET / HTTP/1.1\r\nTrailer: X-Checksum\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: a\r\nX-Other: 2\r\n\r\n")
    );
    // Upgrading: Upgrade kept, connection re-added by the caller.
    let mut w = HeadWriter::request(&mut out, "GET", "/", Version::Http11).unwrap();
    w.end_to_end_except(&h, true, |n| {
        n.eq_ignore_ascii_case("x-other") || n == "Trailer"
    })
    .unwrap();
    w.connection(Version::Http11, ConnIntent::KeepAlive, true);
    w.finish();
    assert_eq!(
        show(&out),
        show(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: a\r\nconnection: upgrade\r\n\r\n")
    );
    // Without any Connection field, only the fixed list is hop-by-hop.
    let plain = hdrs(&[("X-Secret", "1"), ("te", "trailers")]);
    assert!(!is_hop_by_hop("X-Secret", &plain));
    assert!(is_hop_by_hop("te", &plain));
}

#[test]
fn connection_field() {
    use ConnIntent::{Close, KeepAlive};
    use Version::{Http10, Http11};
    let cases = [
        (Http11, KeepAlive, false, ""),
        (Http11, Close, false, "connection: close\r\n"),
        (Http11, KeepAlive, true, "connection: upgrade\r\n"),
        (Http11, Close, true, "connection: close, upgrade\r\n"),
        (Http10, KeepAlive, false, "connection: keep-alive\r\n"),
        (Http10, Close, false, ""),
        (Http10, Close, true, ""),
    ];
    for (version, intent, upgrade, expected) in cases {
        let mut out = Vec::new();
        let mut w = HeadWriter::response(&mut out, version, 200, "OK").unwrap();
        let line = w.len();
        w.connection(version, intent, upgrade);
        assert_eq!(show(&out[line..]), show(expected.as_bytes()));
    }
}

#[test]
fn connection_token_iteration() {
    let got: Vec<&str> =
        connection_tokens(b" close ,, Keep-Alive ,\tUpgrade\t, bad tok, \"q\", x").collect();
    assert_eq!(got, ["close", "Keep-Alive", "Upgrade", "x"]);
    assert_eq!(connection_tokens(b"").count(), 0);
    assert_eq!(connection_tokens(b",,,").count(), 0);
    assert_eq!(connection_tokens(b"\xff, a").collect::<Vec<_>>(), ["a"]);
}

#[test]
fn target_splitting_and_set_path() {
    let cases = [
        ("/", "", "/", ""),
        ("/a/b?x=1&y", "", "/a/b", "?x=1&y"),
        ("/?", "", "/", "?"),
        ("*", "", "*", ""),
        ("http://a.example", "http://a.example", "", ""),
        ("http://a.example?q", "http://a.example", "", "?q"),
        ("https://a:8443/p/q?r", "https://a:8443", "/p/q", "?r"),
        ("a.example:443", "a.example:443", "", ""),
    ];
    for (target, prefix, path, query) in cases {
        let p = split_target(target);
        assert_eq!(
            p,
            TargetParts {
                prefix,
                path,
                query
            },
            "{target}"
        );
        assert_eq!(format!("{prefix}{path}{query}"), target);
    }
    // set-path and set-query keep the rest of the target.
    let p = split_target("http://a/old?q=1");
    let mut out = Vec::new();
    HeadWriter::request_parts(&mut out, "GET", &p.with_path("/new/path"), Version::Http11)
        .unwrap()
        .finish();
    assert_eq!(out, b"GET http://a/new/path?q=1 HTTP/1.1\r\n\r\n");
    let p = split_target("/old?q=1");
    HeadWriter::request_parts(&mut out, "GET", &p.with_query(""), Version::Http10)
        .unwrap()
        .finish();
    assert_eq!(out, b"GET /old HTTP/1.0\r\n\r\n");
}

/// Once warm, the output buffer is reused without reallocating.
#[test]
fn output_buffer_is_reused() {
    let mut out = Vec::with_capacity(256);
    let ptr = out.as_ptr();
    for i in 0..100 {
        let mut w = HeadWriter::request(&mut out, "GET", "/", Version::Http11).unwrap();
        w.header_display("x-n", i).unwrap();
        w.finish();
    }
    assert_eq!(out.as_ptr(), ptr);
    assert_eq!(out.capacity(), 256);
}

/// What we forward is read by a strict parser (ours) as the same message:
/// same method, target, framing and host.
#[test]
fn parse_rebuild_parse() {
    let inputs: &[&[u8]] = &[
        b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nX-Keep: 2\r\n\r\n",
        b"POST /u HTTP/1.1\nHost: a\nContent-Length: 5, 5\nContent-Length: 5\n\n",
        b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
        b"\r\nPUT http://a:80/p HTTP/1.1\r\nHost: a\r\nHost: A\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ];
    for input in inputs {
        let mut out = Vec::new();
        let first = req_ok(input, |h| {
            let mut w = HeadWriter::request(&mut out, h.method_str, h.target, h.version).unwrap();
            w.end_to_end(h.headers, h.upgrade.is_some()).unwrap();
            w.connection(h.version, h.conn, h.upgrade.is_some());
            w.finish();
            format!(
                "{:?}",
                (
                    h.method, h.target, h.version, h.framing, h.host, h.conn, h.upgrade
                )
            )
        });
        let second = req_ok(&out, |h| {
            assert!(!h.te_cl_conflict);
            assert!(!h.headers.iter().any(|f| f.name == "X-Drop"));
            format!(
                "{:?}",
                (
                    h.method, h.target, h.version, h.framing, h.host, h.conn, h.upgrade
                )
            )
        });
        assert_eq!(first, second, "{}", show(input));
    }
}
