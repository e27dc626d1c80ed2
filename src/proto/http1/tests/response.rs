//! Response heads: framing for every status and request method, interim
//! and switching responses, errors (all 502).

use super::*;
use ConnIntent::{Close, KeepAlive};
use ErrorKind::*;
use RespFraming as RF;

fn ctx(method: Method, version: Version, upgrade_requested: bool) -> RequestContext {
    RequestContext {
        method,
        version,
        upgrade_requested,
    }
}

struct Case {
    req: RequestContext,
    input: &'static [u8],
    status: u16,
    framing: RespFraming,
    conn: ConnIntent,
    interim: bool,
}

#[test]
fn framing_and_connection() {
    use Method::{Connect, Get, Head, Post};
    use Version::{Http10 as V10, Http11 as V11};
    let g = ctx(Get, V11, false);
    let cases = [
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", status: 200, framing: RF::ContentLength(12), conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, framing: RF::ContentLength(0), conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, framing: RF::Chunked, conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 200, framing: RF::Chunked, conn: KeepAlive, interim: false },
        // Final coding not chunked: read until close (RFC 9112 §6.3 rule 4).
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", status: 200, framing: RF::CloseDelimited, conn: Close, interim: false },
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 200, framing: RF::CloseDelimited, conn: Close, interim: false },
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", status: 200, framing: RF::CloseDelimited, conn: Close, interim: false },
        // TE + CL: chunked wins, close after.
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, framing: RF::Chunked, conn: Close, interim: false },
        // No length at all: close-delimited.
        Case { req: g, input: b"HTTP/1.1 200 OK\r\n\r\n", status: 200, framing: RF::CloseDelimited, conn: Close, interim: false },
        Case { req: g, input: b"HTTP/1.0 200 OK\r\n\r\n", status: 200, framing: RF::CloseDelimited, conn: Close, interim: false },
        // No body whatever the fields say.
        Case { req: ctx(Head, V11, false), input: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", status: 200, framing: RF::None, conn: KeepAlive, interim: false },
        Case { req: ctx(Head, V11, false), input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, framing: RF::None, conn: KeepAlive, interim: false },
        Case { req: ctx(Head, V11, false), input: b"HTTP/1.1 404 Not Found\r\n\r\n", status: 404, framing: RF::None, conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", status: 204, framing: RF::None, conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 204 No Content\r\n\r\n", status: 204, framing: RF::None, conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", status: 304, framing: RF::None, conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", status: 304, framing: RF::None, conn: KeepAlive, interim: false },
        // Interim responses.
        Case { req: ctx(Post, V11, false), input: b"HTTP/1.1 100 Continue\r\n\r\n", status: 100, framing: RF::None, conn: KeepAlive, interim: true },
        Case { req: g, input: b"HTTP/1.1 102 Processing\r\n\r\n", status: 102, framing: RF::None, conn: KeepAlive, interim: true },
        Case { req: g, input: b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", status: 103, framing: RF::None, conn: KeepAlive, interim: true },
        // Tunnels.
        Case { req: ctx(Get, V11, true), input: b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", status: 101, framing: RF::Tunnel, conn: Close, interim: false },
        Case { req: ctx(Connect, V11, false), input: b"HTTP/1.1 200 Connection established\r\n\r\n", status: 200, framing: RF::Tunnel, conn: Close, interim: false },
        Case { req: ctx(Connect, V11, false), input: b"HTTP/1.1 204 OK\r\nContent-Length: 4\r\n\r\n", status: 204, framing: RF::Tunnel, conn: Close, interim: false },
        // A refused CONNECT is a normal response.
        Case { req: ctx(Connect, V11, false), input: b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\n", status: 407, framing: RF::ContentLength(3), conn: KeepAlive, interim: false },
        // Keep-alive rules.
        Case { req: g, input: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", status: 200, framing: RF::ContentLength(1), conn: Close, interim: false },
        Case { req: g, input: b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", status: 200, framing: RF::ContentLength(1), conn: Close, interim: false },
        Case { req: ctx(Get, V10, false), input: b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", status: 200, framing: RF::ContentLength(1), conn: KeepAlive, interim: false },
        // TE in HTTP/1.0: honoured, then close (RFC 9112 §6.1, HAProxy).
        Case { req: g, input: b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200, framing: RF::Chunked, conn: Close, interim: false },
        // Status line corners: no reason, bare LF, leading empty line.
        Case { req: g, input: b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", status: 200, framing: RF::ContentLength(0), conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", status: 200, framing: RF::ContentLength(0), conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.1 500 Internal Server Error\nContent-Length: 0\n\n", status: 500, framing: RF::ContentLength(0), conn: KeepAlive, interim: false },
        Case { req: g, input: b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, framing: RF::ContentLength(0), conn: KeepAlive, interim: false },
        Case { req: g, input: b"HTTP/1.2 599 Odd\r\nContent-Length: 0\r\n\r\n", status: 599, framing: RF::ContentLength(0), conn: KeepAlive, interim: false },
    ];
    for c in &cases {
        resp_ok(c.input, c.req, |h| {
            let s = show(c.input);
            assert_eq!(h.status, c.status, "{s}");
            assert_eq!(h.framing, c.framing, "{s}");
            assert_eq!(h.conn, c.conn, "{s}");
            assert_eq!(h.is_interim(), c.interim, "{s}");
            assert_eq!(h.upgrade_accepted, c.status == 101, "{s}");
            assert_eq!(h.head_len, c.input.len(), "{s}");
        });
        for cut in 0..c.input.len() {
            with_response(&c.input[..cut], c.req, |r| {
                assert!(
                    matches!(r, Ok(Parsed::Partial)),
                    "{} cut at {cut}",
                    show(c.input)
                )
            });
        }
    }
}

#[test]
fn reason_and_headers() {
    resp_ok(b"HTTP/1.1 404 Not  Found\t\r\nX: 1\r\n\r\n", get11(), |h| {
        assert_eq!(h.reason, "Not  Found\t");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.header("x"), Some(&b"1"[..]));
    });
    // obs-text in the reason: accepted, reported as empty.
    resp_ok(
        b"HTTP/1.1 200 \xffOK\r\nContent-Length: 0\r\n\r\n",
        get11(),
        |h| assert_eq!(h.reason, ""),
    );
    // Duplicate CLs collapse; CL is removed on TE; Host is not special.
    resp_ok(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nHost: a\r\nHost: b\r\ncontent-length: 3, 3\r\n\r\n",
        get11(),
        |h| {
            let names: Vec<_> = h.headers.iter().map(|h| h.name).collect();
            assert_eq!(names, ["Content-Length", "Host", "Host"]);
            assert_eq!(h.framing, RF::ContentLength(3));
        },
    );
    resp_ok(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        get11(),
        |h| {
            assert!(h.te_cl_conflict);
            assert_eq!(h.header("content-length"), None);
            // Response codings are forwarded as received.
            assert_eq!(h.header("transfer-encoding"), Some(&b"chunked"[..]));
        },
    );
}

/// An interim response is followed by the final one in the same buffer.
#[test]
fn interim_then_final() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let first = resp_ok(buf, get11(), |h| {
        assert!(h.is_interim());
        h.head_len
    });
    resp_ok(&buf[first..], get11(), |h| {
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, RF::ContentLength(2));
        assert_eq!(&buf[first + h.head_len..], b"ok");
    });
}

#[test]
fn invalid_responses() {
    let up = ctx(Method::Get, Version::Http11, true);
    let cases: &[(&str, RequestContext, &[u8], ErrorKind)] = &[
        ("not HTTP", get11(), b"ICY 200 OK\r\n\r\n", InvalidVersion),
        ("lowercase version", get11(), b"http/1.1 200 OK\r\n\r\n", InvalidVersion),
        ("short version", get11(), b"HTTP/1 200 OK\r\n\r\n", InvalidVersion),
        ("two spaces", get11(), b"HTTP/1.1  200 OK\r\n\r\n", InvalidStatus),
        ("HTTP/2.0", get11(), b"HTTP/2.0 200 OK\r\n\r\n", UnsupportedVersion),
        ("status two digits", get11(), b"HTTP/1.1 20 OK\r\n\r\n", InvalidStatus),
        ("status four digits", get11(), b"HTTP/1.1 2000 OK\r\n\r\n", InvalidStatus),
        ("status below 100", get11(), b"HTTP/1.1 099 Low\r\n\r\n", InvalidStatus),
        ("status above 599", get11(), b"HTTP/1.1 600 High\r\n\r\n", InvalidStatus),
        ("status not digits", get11(), b"HTTP/1.1 2x0 OK\r\n\r\n", InvalidStatus),
        ("CTL in reason", get11(), b"HTTP/1.1 200 O\x01K\r\n\r\n", InvalidReason),
        ("NUL in reason", get11(), b"HTTP/1.1 200 O\0K\r\n\r\n", NulByte),
        ("bare CR in reason", get11(), b"HTTP/1.1 200 O\rK\r\n\r\n", BareCr),
        ("obs-fold", get11(), b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", ObsFold),
        ("space before colon", get11(), b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", WhitespaceInHeaderName),
        ("invalid name", get11(), b"HTTP/1.1 200 OK\r\nX@: 5\r\n\r\n", InvalidHeaderName),
        ("NUL in value", get11(), b"HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", NulByte),
        ("CLs differ", get11(), b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ContentLengthMismatch),
        ("CL invalid", get11(), b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", InvalidContentLength),
        ("CL invalid on 304", get11(), b"HTTP/1.1 304 Not Modified\r\nContent-Length: -1\r\n\r\n", InvalidContentLength),
        ("chunked twice", get11(), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", ChunkedTwice),
        ("empty coding", get11(), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n\r\n", EmptyTransferCoding),
        ("unsolicited 101", get11(), b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", UnsolicitedSwitch),
        ("101 to HTTP/1.0", ctx(Method::Get, Version::Http10, true), b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", UnsolicitedSwitch),
        ("101 in HTTP/1.0", up, b"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", UnsolicitedSwitch),
        ("101 without Upgrade", up, b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n", MissingUpgrade),
    ];
    for &(name, req, input, kind) in cases {
        assert_eq!(resp_err(input, req), kind, "{name}: {}", show(input));
    }
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(resp_err(&many, get11()), TooManyHeaders);
}
