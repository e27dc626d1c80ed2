//! Request heads: valid shapes, every smuggling vector and each precise
//! error, prefixes, normalisation of the forwarded header list.

use super::*;
use BodyFraming as BF;
use ConnIntent::{Close, KeepAlive};
use ErrorKind::*;

/// One valid request and what it must parse to.
struct Ok_ {
    input: &'static [u8],
    method: Method,
    target: &'static str,
    form: TargetForm,
    version: Version,
    framing: BodyFraming,
    conn: ConnIntent,
    host: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
const fn ok(
    input: &'static [u8],
    method: Method,
    target: &'static str,
    form: TargetForm,
    version: Version,
    framing: BodyFraming,
    conn: ConnIntent,
    host: Option<&'static str>,
) -> Ok_ {
    Ok_ {
        input,
        method,
        target,
        form,
        version,
        framing,
        conn,
        host,
    }
}

use Method as M;
use TargetForm as F;
use Version::{Http10 as V10, Http11 as V11};

const VALID: &[Ok_] = &[
    ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    ok(b"GET /p?q=1&r HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", M::Get, "/p?q=1&r", F::Origin, V11, BF::None, KeepAlive, Some("a.example:8080")),
    // Bare LF line ends (RFC 9112 §2.2 MAY, HAProxy accepts).
    ok(b"GET / HTTP/1.1\nHost: a\n\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    // Leading empty lines are skipped and counted.
    ok(b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    ok(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", M::Post, "/up", F::Origin, V11, BF::ContentLength(5), KeepAlive, Some("a")),
    ok(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", M::Post, "/up", F::Origin, V11, BF::ContentLength(0), KeepAlive, Some("a")),
    ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", M::Post, "/", F::Origin, V11, BF::Chunked, KeepAlive, Some("a")),
    ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", M::Post, "/", F::Origin, V11, BF::Chunked, KeepAlive, Some("a")),
    ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n", M::Post, "/", F::Origin, V11, BF::Chunked, KeepAlive, Some("a")),
    // CL + TE: accepted, chunked wins, connection closed after.
    ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n", M::Post, "/", F::Origin, V11, BF::Chunked, Close, Some("a")),
    ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n", M::Post, "/", F::Origin, V11, BF::Chunked, Close, Some("a")),
    // Identical Content-Lengths, as a list or repeated.
    ok(b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7,7\r\n\r\n", M::Put, "/x", F::Origin, V11, BF::ContentLength(7), KeepAlive, Some("a")),
    ok(b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 007\r\n\r\n", M::Put, "/x", F::Origin, V11, BF::ContentLength(7), KeepAlive, Some("a")),
    // Keep-alive rules.
    ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, Close, Some("a")),
    ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, Close, Some("a")),
    ok(b"GET / HTTP/1.0\r\n\r\n", M::Get, "/", F::Origin, V10, BF::None, Close, None),
    ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", M::Get, "/", F::Origin, V10, BF::None, KeepAlive, None),
    ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", M::Get, "/", F::Origin, V10, BF::None, Close, None),
    ok(b"POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\n", M::Post, "/", F::Origin, V10, BF::ContentLength(3), Close, Some("a")),
    // A higher minor version reads as 1.1 (RFC 9110 §2.5).
    ok(b"GET / HTTP/1.7\r\nHost: a\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    // Target forms.
    ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", M::Options, "*", F::Asterisk, V11, BF::None, KeepAlive, Some("a")),
    ok(b"GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", M::Get, "http://a.example/x?y", F::Absolute, V11, BF::None, KeepAlive, Some("a.example")),
    ok(b"GET http://A.Example HTTP/1.1\r\nHost: a.example\r\n\r\n", M::Get, "http://A.Example", F::Absolute, V11, BF::None, KeepAlive, Some("A.Example")),
    ok(b"GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n", M::Get, "http://a:80/", F::Absolute, V11, BF::None, KeepAlive, Some("a:80")),
    ok(b"GET http://a/ HTTP/1.1\r\nHost: a:80\r\n\r\n", M::Get, "http://a/", F::Absolute, V11, BF::None, KeepAlive, Some("a")),
    ok(b"GET https://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n", M::Get, "https://a:443/", F::Absolute, V11, BF::None, KeepAlive, Some("a:443")),
    ok(b"GET http://[::1]:8080/ HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", M::Get, "http://[::1]:8080/", F::Absolute, V11, BF::None, KeepAlive, Some("[::1]:8080")),
    ok(b"GET http://a/ HTTP/1.0\r\n\r\n", M::Get, "http://a/", F::Absolute, V10, BF::None, Close, Some("a")),
    ok(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", M::Connect, "a.example:443", F::Authority, V11, BF::None, KeepAlive, Some("a.example:443")),
    ok(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n", M::Connect, "a.example:443", F::Authority, V11, BF::None, KeepAlive, Some("a.example:443")),
    ok(b"CONNECT 10.0.0.1:8443 HTTP/1.0\r\n\r\n", M::Connect, "10.0.0.1:8443", F::Authority, V10, BF::None, Close, Some("10.0.0.1:8443")),
    // Methods are case-sensitive; unknown ones are fine.
    ok(b"get / HTTP/1.1\r\nHost: a\r\n\r\n", M::Other, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    ok(b"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", M::Patch, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    ok(b"PROPFIND /d/ HTTP/1.1\r\nHost: a\r\n\r\n", M::Other, "/d/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    // Empty Host (RFC 9112 §3.2), duplicate identical Hosts (HAProxy keeps one).
    ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("")),
    ok(b"GET / HTTP/1.1\r\nHost: a\r\nHost: A\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
    // Field syntax corners: OWS, empty values, obs-text, tokens.
    ok(b"GET / HTTP/1.1\r\nHost:a\r\nX:\r\nY: \t v \t\r\nZ: caf\xc3\xa9\r\n!#$%&'*+-.^_`|~09az: t\r\n\r\n", M::Get, "/", F::Origin, V11, BF::None, KeepAlive, Some("a")),
];

#[test]
fn valid_requests() {
    for c in VALID {
        req_ok(c.input, |h| {
            let ctx = show(c.input);
            assert_eq!(h.method, c.method, "{ctx}");
            assert_eq!(h.target, c.target, "{ctx}");
            assert_eq!(h.target_form, c.form, "{ctx}");
            assert_eq!(h.version, c.version, "{ctx}");
            assert_eq!(h.framing, c.framing, "{ctx}");
            assert_eq!(h.conn, c.conn, "{ctx}");
            assert_eq!(h.host, c.host, "{ctx}");
            assert_eq!(h.head_len, c.input.len(), "{ctx}");
            assert_eq!(
                h.te_cl_conflict,
                h.headers
                    .iter()
                    .all(|h| !h.name.eq_ignore_ascii_case("content-length"))
                    && c.input
                        .windows(15)
                        .any(|w| w.eq_ignore_ascii_case(b"content-length:")),
                "{ctx}"
            );
        });
    }
}

/// Every strict prefix of a valid head is Partial; what follows the head
/// (body, next request, garbage) never changes the outcome.
#[test]
fn prefixes_are_partial_and_suffixes_ignored() {
    for c in VALID {
        for cut in 0..c.input.len() {
            with_request(&c.input[..cut], |r| {
                assert!(
                    matches!(r, Ok(Parsed::Partial)),
                    "{} cut at {cut}: {r:?}",
                    show(c.input)
                )
            });
        }
        let whole = with_request(c.input, |r| format!("{r:?}"));
        for tail in [
            &b"x"[..],
            b"\r\n",
            b"\0\0\0",
            b"GET / HTTP/1.1\r\n\r\n",
            b" \t",
        ] {
            let mut buf = c.input.to_vec();
            buf.extend_from_slice(tail);
            assert_eq!(
                with_request(&buf, |r| format!("{r:?}")),
                whole,
                "{}",
                show(&buf)
            );
        }
    }
}

const ERRORS: &[(&str, &[u8], ErrorKind)] = &[
    // --- request line ---
    ("leading space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", InvalidMethod),
    ("TLS ClientHello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", InvalidMethod),
    ("separator in method", b"GE/T / HTTP/1.1\r\n", InvalidMethod),
    ("HTAB after method", b"GET\t/ HTTP/1.1\r\n", InvalidMethod),
    ("NUL in method", b"G\0T / HTTP/1.1\r\n", NulByte),
    ("method only", b"GET\r\n\r\n", MalformedRequestLine),
    ("HTTP/0.9", b"GET /\r\n\r\n", MalformedRequestLine),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ("two spaces before target", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ("empty target", b"GET  HTTP/1.1\r\nHost: a\r\n\r\n", EmptyTarget),
    ("CTL in target", b"GET /a\x01b HTTP/1.1\r\n", InvalidTarget),
    ("HTAB in target", b"GET /a\tb HTTP/1.1\r\n", InvalidTarget),
    ("ESC in target", b"GET /\x1b[0m HTTP/1.1\r\n", InvalidTarget),
    ("DEL in target", b"GET /a\x7f HTTP/1.1\r\n", InvalidTarget),
    ("0x80 in target", b"GET /\x80 HTTP/1.1\r\n", InvalidTarget),
    ("UTF-8 in target", b"GET /caf\xc3\xa9 HTTP/1.1\r\n", InvalidTarget),
    ("0xff in target", b"GET /\xff HTTP/1.1\r\n", InvalidTarget),
    ("fragment in target", b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ("NUL in target", b"GET /a\0 HTTP/1.1\r\n", NulByte),
    ("bare CR in target", b"GET /a\rb HTTP/1.1\r\n", BareCr),
    ("asterisk with GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", TargetFormMismatch),
    ("asterisk with OTHER", b"PRI * HTTP/1.1\r\nHost: a\r\n\r\n", TargetFormMismatch),
    ("asterisk and more", b"OPTIONS *a HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ("origin-form with CONNECT", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", TargetFormMismatch),
    ("absolute-form with CONNECT", b"CONNECT http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n", TargetFormMismatch),
    ("authority-form with GET", b"GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", TargetFormMismatch),
    ("relative target", b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ("scheme without //", b"GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ("CONNECT without port", b"CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", InvalidAuthority),
    ("CONNECT empty port", b"CONNECT a.example: HTTP/1.1\r\nHost: a\r\n\r\n", InvalidAuthority),
    ("CONNECT with userinfo", b"CONNECT u@a:443 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidAuthority),
    ("userinfo in absolute-form", b"GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", InvalidAuthority),
    ("empty authority", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidAuthority),
    ("bad port in authority", b"GET http://a:8o/ HTTP/1.1\r\nHost: a\r\n\r\n", InvalidAuthority),
    ("lowercase version", b"GET / http/1.1\r\nHost: a\r\n\r\n", InvalidVersion),
    ("short version", b"GET / HTTP/1\r\nHost: a\r\n\r\n", InvalidVersion),
    ("long version", b"GET / HTTP/1.11\r\nHost: a\r\n\r\n", InvalidVersion),
    ("trailing space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", InvalidVersion),
    ("CTL in version", b"GET / HTTP/1.\x01\r\n", InvalidVersion),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", UnsupportedVersion),
    ("HTTP/0.9 version", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", UnsupportedVersion),
    ("bare CR after version", b"GET / HTTP/1.1\rHost: a\r\n\r\n", BareCr),
    // --- header fields ---
    ("space in header name", b"GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n", WhitespaceInHeaderName),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", WhitespaceInHeaderName),
    ("HTAB before colon", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n", WhitespaceInHeaderName),
    ("leading colon", b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", EmptyHeaderName),
    ("separator in name", b"GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n", InvalidHeaderName),
    ("quote in name", b"GET / HTTP/1.1\r\nHost: a\r\n\"X\": 1\r\n\r\n", InvalidHeaderName),
    ("non-ASCII name", b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: 1\r\n\r\n", InvalidHeaderName),
    ("NUL in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n", NulByte),
    ("line without colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-Y\r\n\r\n", MissingColon),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", NulByte),
    ("bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", BareCr),
    ("bare CR ending value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", BareCr),
    ("CTL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", InvalidHeaderValue),
    ("DEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", InvalidHeaderValue),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", ObsFold),
    ("obs-fold with HTAB", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", ObsFold),
    ("folded Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", ObsFold),
    ("space before first header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", ObsFold),
    ("bare CR ending head", b"GET / HTTP/1.1\r\nHost: a\r\n\rX", BareCr),
    // --- Content-Length ---
    ("CL with plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", InvalidContentLength),
    ("CL negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", InvalidContentLength),
    ("CL with inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", InvalidContentLength),
    ("CL hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", InvalidContentLength),
    ("CL decimal point", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", InvalidContentLength),
    ("CL empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", InvalidContentLength),
    ("CL trailing comma", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", InvalidContentLength),
    ("CL leading comma", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", InvalidContentLength),
    ("CL overflow u64", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", ContentLengthTooLarge),
    ("CL 2^63", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", ContentLengthTooLarge),
    ("CLs differ", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ContentLengthMismatch),
    ("CL list differs", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", ContentLengthMismatch),
    ("second CL invalid", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5a\r\n\r\n", InvalidContentLength),
    ("invalid CL with TE", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n", InvalidContentLength),
    // --- Transfer-Encoding ---
    ("TE gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", TransferEncodingNotChunked),
    ("TE chunked, gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", TransferEncodingNotChunked),
    ("TE identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", TransferEncodingNotChunked),
    ("TE chunked with parameter", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", TransferEncodingNotChunked),
    ("TE xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", TransferEncodingNotChunked),
    ("TE chunked then gzip field", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", TransferEncodingNotChunked),
    ("TE gzip with CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", TransferEncodingNotChunked),
    ("TE empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", EmptyTransferCoding),
    ("TE trailing comma", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", EmptyTransferCoding),
    ("TE empty element", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, , chunked\r\n\r\n", EmptyTransferCoding),
    ("TE chunked, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", ChunkedTwice),
    ("TE chunked twice in two fields", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ChunkedTwice),
    ("TE with HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", TransferEncodingHttp10),
    ("TE and CL with HTTP/1.0", b"POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", TransferEncodingHttp10),
    // --- Host ---
    ("missing Host", b"GET / HTTP/1.1\r\n\r\n", MissingHost),
    ("missing Host with absolute-form", b"GET http://a/ HTTP/1.1\r\n\r\n", MissingHost),
    ("differing Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", MultipleHosts),
    ("Host port differs", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a:80\r\n\r\n", MultipleHosts),
    ("Host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", InvalidHost),
    ("Host with path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", InvalidHost),
    ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", InvalidHost),
    ("Host port only", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", InvalidHost),
    ("Host two colons", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", InvalidHost),
    ("Host unclosed literal", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", InvalidHost),
    ("Host non-ASCII", b"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", InvalidHost),
    ("Host differs from authority", b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", HostMismatch),
    ("Host lacks non-default port", b"GET http://a:8080/ HTTP/1.1\r\nHost: a\r\n\r\n", HostMismatch),
    ("Host adds non-default port", b"GET http://a/ HTTP/1.1\r\nHost: a:8080\r\n\r\n", HostMismatch),
    ("https default is not 80", b"GET https://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n", HostMismatch),
    ("CONNECT Host other host", b"CONNECT a:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", HostMismatch),
    ("CONNECT Host other port", b"CONNECT a:443 HTTP/1.1\r\nHost: a:444\r\n\r\n", HostMismatch),
    ("CONNECT non-default port, Host without", b"CONNECT a:8443 HTTP/1.1\r\nHost: a\r\n\r\n", HostMismatch),
];

#[test]
fn invalid_requests() {
    for &(name, input, kind) in ERRORS {
        assert_eq!(req_err(input), kind, "{name}: {}", show(input));
    }
}

/// Errors are reported as soon as the offending byte is there, and stay
/// the same whatever follows.
#[test]
fn errors_are_final() {
    for &(name, input, kind) in ERRORS {
        let mut longer = input.to_vec();
        longer.extend_from_slice(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req_err(&longer), kind, "{name} with a suffix");
        for cut in 0..input.len() {
            with_request(&input[..cut], |r| match r {
                Ok(Parsed::Partial) => {}
                Err(e) => assert_eq!(e.kind, kind, "{name} cut at {cut}"),
                Ok(h) => panic!("{name} cut at {cut}: {h:?}"),
            });
        }
    }
}

/// Early rejection: garbage is refused from its first bytes, without
/// waiting for a line end.
#[test]
fn early_rejection() {
    for (input, kind) in [
        (&b"\x16\x03"[..], InvalidMethod),
        (b"GET /\x01", InvalidTarget),
        (b"GET / HTTP/1.1\r\nX\0", NulByte),
        (b"GET / HTTP/1.1\r\nHost: a\r\n ", ObsFold),
        (b"GET / HTTP/1.1\r\nX Y", WhitespaceInHeaderName),
        (b"GET / HTTP/1.1\r\nX: \x01", InvalidHeaderValue),
    ] {
        assert_eq!(req_err(input), kind, "{}", show(input));
    }
}

#[test]
fn header_limit() {
    let head = |n: usize| {
        let mut h = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..n {
            h.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    };
    req_ok(&head(MAX_HEADERS), |h| {
        assert_eq!(h.headers.len(), MAX_HEADERS)
    });
    assert_eq!(req_err(&head(MAX_HEADERS + 1)), TooManyHeaders);
    // The limit is the number of slots given (tune.http.maxhdr).
    let buf = head(4);
    let mut few = [EMPTY_HEADER; 3];
    let r = parse_request(&buf, &mut few);
    assert_eq!(r.unwrap_err().kind, TooManyHeaders);
    let mut four = [EMPTY_HEADER; 4];
    assert!(matches!(
        parse_request(&buf, &mut four),
        Ok(Parsed::Complete(_))
    ));
}

#[test]
fn head_size_limit_helper() {
    assert!(!head_too_large(100, DEFAULT_MAX_HEAD_LEN));
    assert!(head_too_large(DEFAULT_MAX_HEAD_LEN, DEFAULT_MAX_HEAD_LEN));
    assert_eq!(DEFAULT_MAX_HEAD_LEN, 15360);
    assert_eq!(REQUEST_HEAD_TOO_LARGE_STATUS, 400);
    assert_eq!(RESPONSE_HEAD_TOO_LARGE_STATUS, 502);
}

fn names_values(h: &RequestHead<'_>) -> Vec<(String, String)> {
    h.headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The header list is what HAProxy would forward.
#[test]
fn forwarded_header_list() {
    type Case = (&'static [u8], &'static [(&'static str, &'static str)]);
    let cases: &[Case] = &[
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX:  padded \t\r\nY:\r\n\r\n",
            &[("Host", "a"), ("X", "padded"), ("Y", "")],
        ),
        // Identical CLs: one kept, list collapsed, leading zeros trimmed.
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05, 5\r\nX: 1\r\ncontent-length: 5\r\n\r\n",
            &[("Host", "a"), ("Content-Length", "5"), ("X", "1")],
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n",
            &[("Host", "a"), ("Content-Length", "0")],
        ),
        // TE + CL: every CL removed, lone chunked normalised.
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\nContent-Length: 3\r\n\r\n",
            &[("Host", "a"), ("Transfer-Encoding", "chunked")],
        ),
        // Other codings forwarded as received.
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
            &[("Host", "a"), ("Transfer-Encoding", "gzip, Chunked")],
        ),
        // Duplicate identical Host dropped.
        (
            b"GET / HTTP/1.1\r\nHost: a.example\r\nX: 1\r\nHost: A.EXAMPLE\r\n\r\n",
            &[("Host", "a.example"), ("X", "1")],
        ),
        // Connection fields stay (the writer drops them).
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            &[("Host", "a"), ("Connection", "close")],
        ),
    ];
    for &(input, expected) in cases {
        req_ok(input, |h| {
            assert_eq!(names_values(h), pairs(expected), "{}", show(input))
        });
    }
}

#[test]
fn te_cl_conflict_closes() {
    req_ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
        |h| {
            assert!(h.te_cl_conflict);
            assert_eq!(h.framing, BF::Chunked);
            assert_eq!(h.conn, Close);
            assert_eq!(h.header("content-length"), None);
        },
    );
    req_ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert!(!h.te_cl_conflict);
            assert_eq!(h.conn, KeepAlive);
        },
    );
}

#[test]
fn expect_continue() {
    let cases: &[(&[u8], bool)] = &[
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: foo, 100-continue\r\n\r\n",
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continued\r\n\r\n",
            false,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n",
            false,
        ),
        // Ignored in HTTP/1.0 (RFC 9110 §10.1.1).
        (
            b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            false,
        ),
    ];
    for &(input, expected) in cases {
        req_ok(input, |h| {
            assert_eq!(h.expect_continue, expected, "{}", show(input))
        });
    }
}

#[test]
fn upgrade_requests() {
    let cases: &[(&[u8], Option<&str>)] = &[
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", Some("websocket")),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: keep-alive, upgrade\r\n\r\n", Some("h2c")),
        // Upgrade without the Connection token, or the token alone.
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", None),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", None),
        // Ignored in HTTP/1.0 (RFC 9110 §7.8).
        (b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", None),
    ];
    for &(input, expected) in cases {
        req_ok(input, |h| {
            assert_eq!(h.upgrade, expected, "{}", show(input));
            assert_eq!(h.context().upgrade_requested, expected.is_some());
        });
    }
}

#[test]
fn pipelined_heads_stop_at_their_end() {
    let one = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut buf = one.to_vec();
    buf.extend_from_slice(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTT");
    req_ok(&buf, |h| {
        assert_eq!(h.head_len, one.len());
        assert_eq!(h.target, "/1");
    });
    req_ok(&buf[one.len()..], |h| assert_eq!(h.target, "/2"));
}

#[test]
fn methods() {
    for (m, e) in [
        ("GET", M::Get),
        ("HEAD", M::Head),
        ("POST", M::Post),
        ("PUT", M::Put),
        ("DELETE", M::Delete),
        ("CONNECT", M::Connect),
        ("OPTIONS", M::Options),
        ("TRACE", M::Trace),
        ("PATCH", M::Patch),
    ] {
        assert_eq!(Method::from_bytes(m.as_bytes()), e);
        assert_eq!(e.as_str(), Some(m));
    }
    assert_eq!(Method::from_bytes(b"Get"), M::Other);
    assert_eq!(Method::from_bytes(b""), M::Other);
    assert_eq!(M::Other.as_str(), None);
    assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
    assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
}

#[test]
fn error_display() {
    let e = HttpError::new(ContentLengthMismatch, Side::Request);
    assert_eq!(
        e.to_string(),
        "invalid HTTP request: differing Content-Length values"
    );
    assert_eq!(e.status(), 400);
    let e = HttpError::new(ObsFold, Side::Response);
    assert_eq!(
        e.to_string(),
        "invalid HTTP response: header line starting with whitespace (obs-fold)"
    );
    assert_eq!(e.status(), 502);
}
