//! Request and response heads: start line, header fields, and what they say
//! about the message's framing and the connection.
//!
//! The parsers are strict where a lenient reading could make two agents
//! disagree on where a message ends (request smuggling, response
//! splitting), and follow HAProxy 2.x (`h1_headers_to_hdr_list()`) and RFC
//! 9112 elsewhere. Differences from HAProxy are stricter, never looser;
//! they are listed in the docs of [`parse_request`] and [`parse_response`].

use super::chars::{
    is_bad_value_byte, is_ows, is_reg_name_char, is_tchar, is_vchar, list_elements,
};
use super::errors::{ErrorKind, HttpError, Side};
use super::{Header, Method, Parsed, Version};

/// HAProxy's default `tune.bufsize`.
pub const DEFAULT_BUFSIZE: usize = 16384;
/// HAProxy's default `tune.maxrewrite` (room kept in a buffer for rewrites).
pub const DEFAULT_MAXREWRITE: usize = 1024;
/// The longest head HAProxy accepts by default: it must fit in a buffer
/// minus the rewrite reserve.
pub const DEFAULT_MAX_HEAD_LEN: usize = DEFAULT_BUFSIZE - DEFAULT_MAXREWRITE;
/// What HAProxy answers to a request head that does not fit in its buffer:
/// 400 Bad Request (it has no 431 for this; the request is just invalid).
pub const REQUEST_HEAD_TOO_LARGE_STATUS: u16 = 400;
/// What HAProxy answers to the client when the server's response head does
/// not fit in its buffer: 502 Bad Gateway.
pub const RESPONSE_HEAD_TOO_LARGE_STATUS: u16 = 502;
/// Largest `Content-Length` accepted: 2^63 - 1, so that a length we accept
/// fits the signed 64-bit integers most servers use (HAProxy accepts up to
/// 2^64 - 1).
pub const MAX_CONTENT_LENGTH: u64 = i64::MAX as u64;

/// After a parser said [`Parsed::Partial`]: true when no more bytes can be
/// buffered for this head (`buffered` already reached `limit`, e.g.
/// [`DEFAULT_MAX_HEAD_LEN`]), so the head is too large. Answer
/// [`REQUEST_HEAD_TOO_LARGE_STATUS`] for a request,
/// [`RESPONSE_HEAD_TOO_LARGE_STATUS`] for a response, then close.
pub fn head_too_large(buffered: usize, limit: usize) -> bool {
    buffered >= limit
}

/// How a request body is delimited (RFC 9112 §6.3). Requests are never
/// delimited by the connection's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes (possibly 0).
    ContentLength(u64),
    /// `Transfer-Encoding` whose final coding is `chunked`.
    Chunked,
}

impl BodyFraming {
    /// False when the message certainly has no body bytes.
    pub fn has_body(self) -> bool {
        !matches!(self, BodyFraming::None | BodyFraming::ContentLength(0))
    }
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RespFraming {
    /// No body: response to HEAD, 1xx, 204, 304.
    None,
    /// Exactly this many bytes (possibly 0).
    ContentLength(u64),
    /// `Transfer-Encoding` whose final coding is `chunked`.
    Chunked,
    /// Until the server closes: no length given, or a final transfer coding
    /// other than `chunked` (RFC 9112 §6.3 rules 4 and 8). The connection
    /// cannot be reused.
    CloseDelimited,
    /// No body; from the end of this head on, both directions are opaque
    /// bytes until one side closes: 2xx to CONNECT, or 101 to an upgrade.
    Tunnel,
}

impl RespFraming {
    /// False when the message certainly has no body bytes.
    pub fn has_body(self) -> bool {
        !matches!(
            self,
            RespFraming::None | RespFraming::ContentLength(0) | RespFraming::Tunnel
        )
    }
}

/// Whether the sender lets the connection be reused after this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnIntent {
    KeepAlive,
    Close,
}

/// The four forms of request-target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`
    Origin,
    /// `scheme://authority/path?query`
    Absolute,
    /// `host:port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// A parsed request head. Everything borrows the caller's buffer (or, for
/// a few normalised values, static bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'b> {
    pub method: Method,
    /// The method token as received.
    pub method_str: &'b str,
    /// The request-target as received (visible ASCII, no `#`).
    pub target: &'b str,
    pub target_form: TargetForm,
    pub version: Version,
    /// Header fields to forward, normalised (see the module docs).
    pub headers: &'b [Header<'b>],
    /// Bytes of the head in the buffer, leading empty lines and the final
    /// empty line included: the body (or the next request) starts there.
    pub head_len: usize,
    pub framing: BodyFraming,
    /// Close for HTTP/1.1 with `Connection: close`, for HTTP/1.0 without
    /// `Connection: keep-alive`, and after a `Transfer-Encoding` +
    /// `Content-Length` conflict (RFC 9112 §6.1).
    pub conn: ConnIntent,
    /// HTTP/1.1 with `Expect: 100-continue` (ignored in HTTP/1.0, RFC 9110
    /// §10.1.1).
    pub expect_continue: bool,
    /// The `Upgrade` value when HTTP/1.1 and `Connection` holds `upgrade`
    /// (RFC 9110 §7.8: ignored in HTTP/1.0).
    pub upgrade: Option<&'b str>,
    /// The host the request is for: the authority of an absolute-form or
    /// authority-form target, else the `Host` value; `None` only for an
    /// HTTP/1.0 request without either.
    pub host: Option<&'b str>,
    /// Both `Transfer-Encoding` and `Content-Length` were received:
    /// `Content-Length` was dropped from `headers`, the body is chunked and
    /// `conn` is `Close`.
    pub te_cl_conflict: bool,
}

impl<'b> RequestHead<'b> {
    /// What [`parse_response`] needs to know about this request.
    pub fn context(&self) -> RequestContext {
        RequestContext {
            method: self.method,
            version: self.version,
            upgrade_requested: self.upgrade.is_some(),
        }
    }

    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        find_header(self.headers, name)
    }
}

/// The parts of a request that decide how its response is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestContext {
    pub method: Method,
    pub version: Version,
    /// The request asked to upgrade ([`RequestHead::upgrade`] is set): only
    /// then may the response be a 101.
    pub upgrade_requested: bool,
}

impl RequestContext {
    /// A request that did not ask to upgrade.
    pub fn new(method: Method, version: Version) -> Self {
        RequestContext {
            method,
            version,
            upgrade_requested: false,
        }
    }
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead<'b> {
    pub version: Version,
    pub status: u16,
    /// The reason phrase as received; empty if absent or not UTF-8.
    pub reason: &'b str,
    /// Header fields to forward, normalised (see the module docs).
    pub headers: &'b [Header<'b>],
    /// Bytes of the head in the buffer, final empty line included.
    pub head_len: usize,
    pub framing: RespFraming,
    /// Close for HTTP/1.1 with `Connection: close`, HTTP/1.0 without
    /// `Connection: keep-alive`, a close-delimited body or tunnel, a
    /// `Transfer-Encoding` + `Content-Length` conflict, or HTTP/1.0 with
    /// `Transfer-Encoding`.
    pub conn: ConnIntent,
    /// A 101 switching to the protocol the request asked for: framing is
    /// `Tunnel`.
    pub upgrade_accepted: bool,
    /// Both `Transfer-Encoding` and `Content-Length` were received:
    /// `Content-Length` was dropped from `headers` and `conn` is `Close`.
    pub te_cl_conflict: bool,
}

impl<'b> ResponseHead<'b> {
    /// An interim response (1xx other than 101): forward it, then parse the
    /// next head from the bytes after `head_len`. Do not forward it to an
    /// HTTP/1.0 client (RFC 9110 §15.2).
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        find_header(self.headers, name)
    }
}

fn find_header<'b>(headers: &[Header<'b>], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Parses a request head from the start of `buf`.
///
/// `headers` provides one slot per header line allowed (HAProxy's
/// `tune.http.maxhdr`; pass a `[EMPTY_HEADER; MAX_HEADERS]`). The bytes
/// after `head_len` are the body, then the next request.
///
/// Stateless and stable under appending: call it again with the same
/// buffer plus what arrived since; once it returns a head or an error, any
/// longer buffer gives the same. A head can only complete on a LF, so a
/// caller receiving a few bytes at a time may skip calls until new bytes
/// hold one, keeping re-parsing linear. Invalid bytes are reported as soon
/// as they are seen, without waiting for the end of the line.
///
/// Leading empty lines are skipped (RFC 9112 §2.2, HAProxy); line ends may
/// be CRLF or a bare LF (RFC 9112 §2.2 MAY, HAProxy does), which is safe
/// because the forwarded head is rebuilt by [`HeadWriter`](super::HeadWriter)
/// with CRLF. Refused with 400, HAProxy's answer, beyond what HAProxy 2.6
/// refuses by default:
/// - obs-fold (HAProxy unfolds it in place; we never mutate the buffer, and
///   RFC 9112 §5.2 lets a server reject it);
/// - more than one space between request line parts, or HTAB there (RFC
///   9112 §3: no autocorrection of invalid request lines);
/// - control characters other than HTAB in header values (HAProxy rejects
///   only NUL, CR, LF; RFC 9110 §5.5 calls the others invalid);
/// - a missing `Host` in HTTP/1.1 (RFC 9112 §3.2 MUST);
/// - userinfo in an absolute-form target (RFC 9110 §4.2.4; HAProxy strips
///   it) and `Host` values that are not `host[:port]` (RFC 9110 §7.2);
/// - `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1 says the
///   framing is faulty; HAProxy decodes it and closes).
///
/// As HAProxy does: a `Host` differing from the authority of an
/// absolute-form target is refused unless they differ only by the scheme's
/// default port (`h1_validate_mismatch_authority()`), and the forwarded
/// `Host` is kept as received (being equal, it already is what RFC 9112
/// §3.2.2 asks a proxy to send); a CONNECT target needs a port and a `Host`,
/// if any, must name the same host and port (`h1_validate_connect_authority()`).
pub fn parse_request<'b>(
    buf: &'b [u8],
    headers: &'b mut [Header<'b>],
) -> Result<Parsed<RequestHead<'b>>, HttpError> {
    finish(request(buf, headers), Side::Request)
}

/// Parses a response head from the start of `buf`, for the request
/// described by `req` (see [`RequestHead::context`]).
///
/// Same contract as [`parse_request`]; errors are answered with 502.
/// Framing follows RFC 9112 §6.3 and HAProxy: no body for 1xx, 204, 304 and
/// responses to HEAD; a 2xx to CONNECT and a 101 to an upgrade request are
/// tunnels; then `Transfer-Encoding` (chunked if its final coding is
/// `chunked`, else close-delimited, as HAProxy forwards it), then
/// `Content-Length`, else close-delimited. A 101 is refused unless the
/// request asked to upgrade over HTTP/1.1 and the response names the
/// protocol in `Upgrade` (a server must not switch on its own, RFC 9110
/// §15.2.2, and following it would turn the client connection into an
/// unfiltered tunnel). `Transfer-Encoding` in an HTTP/1.0 response is
/// honoured and the connection closed (RFC 9112 §6.1, HAProxy).
pub fn parse_response<'b>(
    buf: &'b [u8],
    headers: &'b mut [Header<'b>],
    req: RequestContext,
) -> Result<Parsed<ResponseHead<'b>>, HttpError> {
    finish(response(buf, headers, req), Side::Response)
}

/// Why parsing stopped early.
enum Stop {
    /// Out of bytes, every byte so far valid.
    Partial,
    Bad(ErrorKind),
}

type Step<T> = Result<T, Stop>;

impl From<ErrorKind> for Stop {
    fn from(k: ErrorKind) -> Self {
        Stop::Bad(k)
    }
}

fn finish<T>(r: Step<T>, side: Side) -> Result<Parsed<T>, HttpError> {
    match r {
        Ok(t) => Ok(Parsed::Complete(t)),
        Err(Stop::Partial) => Ok(Parsed::Partial),
        Err(Stop::Bad(kind)) => Err(HttpError::new(kind, side)),
    }
}

#[inline]
fn at(buf: &[u8], p: usize) -> Step<u8> {
    buf.get(p).copied().ok_or(Stop::Partial)
}

/// Index of the first byte of `buf[from..]` matching `pred`, absolute.
#[inline]
fn find(buf: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> Step<usize> {
    match buf
        .get(from..)
        .and_then(|s| s.iter().position(|&b| pred(b)))
    {
        Some(i) => Ok(from + i),
        None => Err(Stop::Partial),
    }
}

/// Position after the line end at `p`, where `buf[p]` is `b`, CR or LF.
#[inline]
fn after_eol(buf: &[u8], p: usize, b: u8) -> Step<usize> {
    if b == b'\r' {
        match at(buf, p + 1)? {
            b'\n' => Ok(p + 2),
            _ => Err(ErrorKind::BareCr.into()),
        }
    } else {
        Ok(p + 1)
    }
}

fn skip_empty_lines(buf: &[u8]) -> Step<usize> {
    let mut p = 0;
    loop {
        match at(buf, p)? {
            b @ (b'\r' | b'\n') => p = after_eol(buf, p, b)?,
            _ => return Ok(p),
        }
    }
}

fn ascii(b: &[u8]) -> Result<&str, ErrorKind> {
    // Callers only pass bytes already checked to be ASCII.
    std::str::from_utf8(b).map_err(|_| ErrorKind::InvalidTarget)
}

fn parse_version(v: &[u8]) -> Result<Version, ErrorKind> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ErrorKind::UnsupportedVersion),
            }
        }
        _ => Err(ErrorKind::InvalidVersion),
    }
}

struct RequestLine<'b> {
    method: &'b [u8],
    target: &'b [u8],
    version: Version,
}

/// `method SP request-target SP HTTP-version EOL`, single spaces.
fn request_line(buf: &[u8], start: usize) -> Step<(RequestLine<'_>, usize)> {
    use ErrorKind::*;
    let m_end = find(buf, start, |b| !is_tchar(b))?;
    match buf[m_end] {
        b' ' if m_end > start => {}
        0 => return Err(NulByte.into()),
        b'\r' | b'\n' if m_end > start => return Err(MalformedRequestLine.into()),
        _ => return Err(InvalidMethod.into()),
    }
    // Target and version: visible ASCII and spaces up to the line end. The
    // version follows the last space; a bad byte after a space is taken as
    // part of the version (the only reading for a valid request).
    let seg = m_end + 1;
    let mut p = seg;
    let mut last_sp = None;
    let (eol, eol_byte) = loop {
        p = find(buf, p, |b| !is_vchar(b))?;
        match buf[p] {
            b' ' => {
                last_sp = Some(p);
                p += 1;
            }
            b @ (b'\r' | b'\n') => break (p, b),
            0 => return Err(NulByte.into()),
            _ if last_sp.is_some() => return Err(InvalidVersion.into()),
            _ => return Err(InvalidTarget.into()),
        }
    };
    let next = after_eol(buf, eol, eol_byte)?;
    let Some(sp) = last_sp else {
        return Err(MalformedRequestLine.into());
    };
    // The version first: with a trailing space it is empty, and the target
    // would wrongly be blamed for holding the real one.
    let version = parse_version(&buf[sp + 1..eol])?;
    let target = &buf[seg..sp];
    if target.is_empty() {
        return Err(EmptyTarget.into());
    }
    // A space in the target (the line had extra spaces), or a fragment,
    // which a request-target never carries (HAProxy rejects '#' too).
    if target.iter().any(|&b| b == b' ' || b == b'#') {
        return Err(InvalidTarget.into());
    }
    Ok((
        RequestLine {
            method: &buf[start..m_end],
            target,
            version,
        },
        next,
    ))
}

struct StatusLine<'b> {
    version: Version,
    status: u16,
    reason: &'b [u8],
}

/// `HTTP-version SP 3DIGIT [SP reason] EOL`.
fn status_line(buf: &[u8], start: usize) -> Step<(StatusLine<'_>, usize)> {
    use ErrorKind::*;
    for i in 0..9 {
        let b = at(buf, start + i)?;
        let ok = match i {
            0..=4 => b == b"HTTP/"[i],
            5 | 7 => b.is_ascii_digit(),
            6 => b == b'.',
            _ => b == b' ',
        };
        if !ok {
            return Err(if b == 0 { NulByte } else { InvalidVersion }.into());
        }
    }
    let version = parse_version(&buf[start..start + 8])?;
    let mut status = 0u16;
    for i in 9..12 {
        let b = at(buf, start + i)?;
        if !b.is_ascii_digit() {
            return Err(if b == 0 { NulByte } else { InvalidStatus }.into());
        }
        status = status * 10 + u16::from(b - b'0');
    }
    if !(100..=599).contains(&status) {
        return Err(InvalidStatus.into());
    }
    let p = start + 12;
    let (reason_start, eol) = match at(buf, p)? {
        b' ' => {
            let eol = find(buf, p + 1, is_bad_value_byte)?;
            (p + 1, eol)
        }
        b'\r' | b'\n' => (p, p),
        0 => return Err(NulByte.into()),
        _ => return Err(InvalidStatus.into()),
    };
    let b = buf[eol];
    match b {
        b'\r' | b'\n' => {}
        0 => return Err(NulByte.into()),
        _ => return Err(InvalidReason.into()),
    }
    let next = after_eol(buf, eol, b)?;
    Ok((
        StatusLine {
            version,
            status,
            reason: &buf[reason_start..eol],
        },
        next,
    ))
}

/// Header lines from `p` through the empty line ending the head. Returns
/// the number of slots filled and the position after the head.
fn header_lines<'b>(buf: &'b [u8], mut p: usize, slots: &mut [Header<'b>]) -> Step<(usize, usize)> {
    use ErrorKind::*;
    let mut n = 0;
    loop {
        match at(buf, p)? {
            b @ (b'\r' | b'\n') => return Ok((n, after_eol(buf, p, b)?)),
            b' ' | b'\t' => return Err(ObsFold.into()),
            _ => {}
        }
        if n == slots.len() {
            return Err(TooManyHeaders.into());
        }
        let name_start = p;
        p = find(buf, p, |b| !is_tchar(b))?;
        match buf[p] {
            b':' if p > name_start => {}
            b':' => return Err(EmptyHeaderName.into()),
            b' ' | b'\t' => return Err(WhitespaceInHeaderName.into()),
            b'\r' | b'\n' => return Err(MissingColon.into()),
            0 => return Err(NulByte.into()),
            _ => return Err(InvalidHeaderName.into()),
        }
        let name = ascii(&buf[name_start..p]).map_err(|_| InvalidHeaderName)?;
        p += 1;
        while let Some(&b) = buf.get(p)
            && is_ows(b)
        {
            p += 1;
        }
        let value_start = p;
        p = find(buf, p, is_bad_value_byte)?;
        let b = buf[p];
        match b {
            b'\r' | b'\n' => {}
            0 => return Err(NulByte.into()),
            _ => return Err(InvalidHeaderValue.into()),
        }
        let mut value_end = p;
        while value_end > value_start && is_ows(buf[value_end - 1]) {
            value_end -= 1;
        }
        p = after_eol(buf, p, b)?;
        slots[n] = Header {
            name,
            value: &buf[value_start..value_end],
        };
        n += 1;
    }
}

/// What the header fields say, gathered in one pass.
#[derive(Default)]
struct Fields<'b> {
    content_length: Option<u64>,
    /// Some `Transfer-Encoding` field was received.
    te: bool,
    te_fields: u32,
    te_codings: u32,
    te_chunked: bool,
    te_final_chunked: bool,
    te_cl_conflict: bool,
    close: bool,
    keep_alive: bool,
    upgrade_token: bool,
    upgrade: Option<&'b [u8]>,
    host: Option<&'b [u8]>,
    expect_continue: bool,
}

/// Reads the framing and connection fields of `slots[..n]` and compacts the
/// list into what is to be forwarded (see the module docs). Returns the
/// fields and the new length.
fn analyze<'b>(
    slots: &mut [Header<'b>],
    n: usize,
    side: Side,
) -> Result<(Fields<'b>, usize), ErrorKind> {
    use ErrorKind::*;
    let mut f = Fields::default();
    let mut kept = 0;
    for i in 0..n {
        let mut h = slots[i];
        let name = h.name;
        let mut keep = true;
        match name.len() {
            14 if name.eq_ignore_ascii_case("content-length") => {
                let (len, digits) = parse_content_length(h.value)?;
                match f.content_length {
                    Some(prev) if prev != len => return Err(ContentLengthMismatch),
                    Some(_) => keep = false,
                    None => {
                        f.content_length = Some(len);
                        h.value = digits;
                    }
                }
            }
            17 if name.eq_ignore_ascii_case("transfer-encoding") => {
                f.te = true;
                f.te_fields += 1;
                for coding in list_elements(h.value) {
                    if coding.is_empty() {
                        return Err(EmptyTransferCoding);
                    }
                    f.te_codings += 1;
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        if f.te_chunked {
                            return Err(ChunkedTwice);
                        }
                        f.te_chunked = true;
                        f.te_final_chunked = true;
                    } else {
                        // A request must end with chunked: a coding after it
                        // is fatal (HAProxy: -2, never hidden by config).
                        if side == Side::Request && f.te_chunked {
                            return Err(TransferEncodingNotChunked);
                        }
                        f.te_final_chunked = false;
                    }
                }
            }
            10 if name.eq_ignore_ascii_case("connection") => {
                for token in list_elements(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        f.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        f.keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        f.upgrade_token = true;
                    }
                }
            }
            7 if name.eq_ignore_ascii_case("upgrade")
                && f.upgrade.is_none()
                && !h.value.is_empty() =>
            {
                f.upgrade = Some(h.value);
            }
            4 if side == Side::Request && name.eq_ignore_ascii_case("host") => {
                if split_authority(h.value).is_none() {
                    return Err(InvalidHost);
                }
                match f.host {
                    // HAProxy keeps the first and skips identical ones.
                    Some(prev) if prev.eq_ignore_ascii_case(h.value) => keep = false,
                    Some(_) => return Err(MultipleHosts),
                    None => f.host = Some(h.value),
                }
            }
            6 if side == Side::Request
                && name.eq_ignore_ascii_case("expect")
                && list_elements(h.value).any(|e| e.eq_ignore_ascii_case(b"100-continue")) =>
            {
                f.expect_continue = true;
            }
            _ => {}
        }
        if keep {
            slots[kept] = h;
            kept += 1;
        }
    }
    if f.te && f.content_length.is_some() {
        // RFC 9112 §6.3 rule 3: Transfer-Encoding overrides Content-Length,
        // which an intermediary must remove before forwarding (HAProxy
        // deletes it and forces close).
        f.te_cl_conflict = true;
        let mut w = 0;
        for i in 0..kept {
            if !slots[i].name.eq_ignore_ascii_case("content-length") {
                slots[w] = slots[i];
                w += 1;
            }
        }
        kept = w;
    }
    if side == Side::Request && f.te_fields == 1 && f.te_codings == 1 && f.te_final_chunked {
        // A lone `chunked` in any case and spacing is forwarded as the
        // canonical token, so a server comparing case-sensitively cannot
        // miss it and read the chunks as a next request.
        for h in &mut slots[..kept] {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                h.value = b"chunked";
            }
        }
    }
    Ok((f, kept))
}

/// `Content-Length = 1*DIGIT`, possibly a list of identical values (RFC 9110
/// §8.6). Returns the length and the canonical digits to forward (first
/// value, leading zeros trimmed as HAProxy does).
fn parse_content_length(value: &[u8]) -> Result<(u64, &[u8]), ErrorKind> {
    use ErrorKind::*;
    let mut result: Option<(u64, &[u8])> = None;
    for elem in list_elements(value) {
        if elem.is_empty() || !elem.iter().all(u8::is_ascii_digit) {
            return Err(InvalidContentLength);
        }
        let zeros = elem.iter().take_while(|&&b| b == b'0').count();
        let digits = &elem[zeros.min(elem.len() - 1)..];
        let mut len: u64 = 0;
        for &d in digits {
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(u64::from(d - b'0')))
                .filter(|&l| l <= MAX_CONTENT_LENGTH)
                .ok_or(ContentLengthTooLarge)?;
        }
        match result {
            Some((prev, _)) if prev != len => return Err(ContentLengthMismatch),
            Some(_) => {}
            None => result = Some((len, digits)),
        }
    }
    result.ok_or(InvalidContentLength)
}

/// Splits `host[:port]` (RFC 3986 §3.2.2-3: reg-name, IPv4 or bracketed IP
/// literal; the port may be empty), or `None` if malformed. An empty value
/// is valid (RFC 9112 §3.2) and gives an empty host.
fn split_authority(v: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if v.is_empty() {
        return Some((v, None));
    }
    let host_end = if v[0] == b'[' {
        let close = v.iter().position(|&b| b == b']')?;
        let inner = &v[1..close];
        if inner.is_empty() || !inner.iter().all(|&b| is_reg_name_char(b) || b == b':') {
            return None;
        }
        close + 1
    } else {
        let end = v
            .iter()
            .position(|&b| !is_reg_name_char(b))
            .unwrap_or(v.len());
        if end == 0 {
            return None;
        }
        end
    };
    match &v[host_end..] {
        [] => Some((&v[..host_end], None)),
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => {
            Some((&v[..host_end], Some(port)))
        }
        _ => None,
    }
}

/// HAProxy's `http_is_default_port()`: an empty port is the default; with a
/// scheme, 80 for http and 443 for https; without, either.
fn is_default_port(scheme: Option<&[u8]>, port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    match scheme {
        None => port == b"80" || port == b"443",
        Some(s) => {
            (port == b"80" && s.eq_ignore_ascii_case(b"http"))
                || (port == b"443" && s.eq_ignore_ascii_case(b"https"))
        }
    }
}

/// `scheme "://" authority [path-abempty] ["?" query]`: returns the scheme
/// and the authority.
pub(crate) fn split_absolute(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = target.iter().position(|&b| b == b':')?;
    let scheme = &target[..colon];
    let first = *scheme.first()?;
    if !first.is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        || !target[colon..].starts_with(b"://")
    {
        return None;
    }
    let rest = &target[colon + 3..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    Some((scheme, &rest[..end]))
}

/// A request-target's form, with its scheme and authority when it has them.
struct Target<'b> {
    form: TargetForm,
    scheme: &'b [u8],
    authority: Option<&'b [u8]>,
}

/// The target's form, checked against the method (RFC 9112 §3.2, HAProxy's
/// checks at the end of `h1_headers_to_hdr_list()`).
fn classify_target(method: Method, target: &[u8]) -> Result<Target<'_>, ErrorKind> {
    use ErrorKind::*;
    let plain = |form| {
        Ok(Target {
            form,
            scheme: b"",
            authority: None,
        })
    };
    if target[0] == b'/' {
        if method == Method::Connect {
            return Err(TargetFormMismatch);
        }
        return plain(TargetForm::Origin);
    }
    if target == b"*" {
        if method != Method::Options {
            return Err(TargetFormMismatch);
        }
        return plain(TargetForm::Asterisk);
    }
    if let Some((scheme, authority)) = split_absolute(target) {
        if method == Method::Connect {
            return Err(TargetFormMismatch);
        }
        match split_authority(authority) {
            Some((host, _)) if !host.is_empty() => {}
            _ => return Err(InvalidAuthority),
        }
        return Ok(Target {
            form: TargetForm::Absolute,
            scheme,
            authority: Some(authority),
        });
    }
    let authority_ok = matches!(
        split_authority(target),
        Some((host, Some(port))) if !host.is_empty() && !port.is_empty()
    );
    match (method == Method::Connect, authority_ok) {
        (true, true) => Ok(Target {
            form: TargetForm::Authority,
            scheme: b"",
            authority: Some(target),
        }),
        (true, false) => Err(InvalidAuthority),
        (false, true) => Err(TargetFormMismatch),
        (false, false) => Err(InvalidTarget),
    }
}

/// HAProxy's `h1_validate_mismatch_authority()`, after an exact
/// (case-insensitive) comparison failed: equal hosts, ports equal up to the
/// scheme's default.
fn absolute_matches_host(scheme: &[u8], authority: &[u8], host: &[u8]) -> bool {
    let (Some((a_host, a_port)), Some((h_host, h_port))) =
        (split_authority(authority), split_authority(host))
    else {
        return false;
    };
    match (a_port, h_port) {
        (None, None) => false,
        (Some(p), _) if !is_default_port(Some(scheme), p) => false,
        (_, Some(p)) if !is_default_port(Some(scheme), p) => false,
        _ => a_host.eq_ignore_ascii_case(h_host),
    }
}

/// HAProxy's `h1_validate_connect_authority()` for the `Host` part.
fn connect_matches_host(authority: &[u8], host: &[u8]) -> bool {
    let (Some((a_host, Some(a_port))), Some((h_host, h_port))) =
        (split_authority(authority), split_authority(host))
    else {
        return false;
    };
    match h_port {
        Some(p) if !p.is_empty() => a_host.eq_ignore_ascii_case(h_host) && p == a_port,
        _ => is_default_port(None, a_port) && a_host.eq_ignore_ascii_case(h_host),
    }
}

fn intent(version: Version, close: bool, keep_alive: bool) -> ConnIntent {
    let keep = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive && !close,
    };
    if keep {
        ConnIntent::KeepAlive
    } else {
        ConnIntent::Close
    }
}

fn request<'b>(buf: &'b [u8], slots: &'b mut [Header<'b>]) -> Step<RequestHead<'b>> {
    use ErrorKind::*;
    let start = skip_empty_lines(buf)?;
    let (line, p) = request_line(buf, start)?;
    let (n, head_len) = header_lines(buf, p, slots)?;
    let (f, kept) = analyze(slots, n, Side::Request)?;
    let method = Method::from_bytes(line.method);
    let version = line.version;
    let target = classify_target(method, line.target)?;
    if f.te {
        if version == Version::Http10 {
            return Err(TransferEncodingHttp10.into());
        }
        if !f.te_final_chunked {
            return Err(TransferEncodingNotChunked.into());
        }
    }
    if version == Version::Http11 && f.host.is_none() {
        return Err(MissingHost.into());
    }
    let host = match (target.form, target.authority, f.host) {
        (TargetForm::Absolute, Some(a), h) => {
            if let Some(h) = h
                && !a.eq_ignore_ascii_case(h)
                && !absolute_matches_host(target.scheme, a, h)
            {
                return Err(HostMismatch.into());
            }
            Some(a)
        }
        (TargetForm::Authority, Some(a), h) => {
            if let Some(h) = h
                && !connect_matches_host(a, h)
            {
                return Err(HostMismatch.into());
            }
            Some(a)
        }
        (_, _, h) => h,
    };
    let framing = if f.te {
        BodyFraming::Chunked
    } else if let Some(len) = f.content_length {
        BodyFraming::ContentLength(len)
    } else {
        BodyFraming::None
    };
    let mut conn = intent(version, f.close, f.keep_alive);
    if f.te_cl_conflict {
        conn = ConnIntent::Close;
    }
    let upgrade = match (version, f.upgrade_token, f.upgrade) {
        (Version::Http11, true, Some(u)) => std::str::from_utf8(u).ok(),
        _ => None,
    };
    let slots: &'b [Header<'b>] = slots;
    Ok(RequestHead {
        method,
        method_str: ascii(line.method)?,
        target: ascii(line.target)?,
        target_form: target.form,
        version,
        headers: &slots[..kept],
        head_len,
        framing,
        conn,
        expect_continue: f.expect_continue && version == Version::Http11,
        upgrade,
        host: match host {
            Some(h) => Some(std::str::from_utf8(h).map_err(|_| InvalidHost)?),
            None => None,
        },
        te_cl_conflict: f.te_cl_conflict,
    })
}

fn response<'b>(
    buf: &'b [u8],
    slots: &'b mut [Header<'b>],
    req: RequestContext,
) -> Step<ResponseHead<'b>> {
    use ErrorKind::*;
    let start = skip_empty_lines(buf)?;
    let (line, p) = status_line(buf, start)?;
    let (n, head_len) = header_lines(buf, p, slots)?;
    let (f, kept) = analyze(slots, n, Side::Response)?;
    let status = line.status;
    let version = line.version;
    let mut upgrade_accepted = false;
    let framing = if req.method == Method::Connect && (200..300).contains(&status) {
        RespFraming::Tunnel
    } else if status == 101 {
        if !req.upgrade_requested || req.version != Version::Http11 || version != Version::Http11 {
            return Err(UnsolicitedSwitch.into());
        }
        if f.upgrade.is_none() {
            return Err(MissingUpgrade.into());
        }
        upgrade_accepted = true;
        RespFraming::Tunnel
    } else if status < 200 || status == 204 || status == 304 || req.method == Method::Head {
        RespFraming::None
    } else if f.te {
        if f.te_final_chunked {
            RespFraming::Chunked
        } else {
            RespFraming::CloseDelimited
        }
    } else if let Some(len) = f.content_length {
        RespFraming::ContentLength(len)
    } else {
        RespFraming::CloseDelimited
    };
    let mut conn = intent(version, f.close, f.keep_alive);
    if f.te_cl_conflict
        || (f.te && version == Version::Http10)
        || matches!(framing, RespFraming::CloseDelimited | RespFraming::Tunnel)
    {
        conn = ConnIntent::Close;
    }
    let slots: &'b [Header<'b>] = slots;
    Ok(ResponseHead {
        version,
        status,
        reason: std::str::from_utf8(line.reason).unwrap_or(""),
        headers: &slots[..kept],
        head_len,
        framing,
        conn,
        upgrade_accepted,
        te_cl_conflict: f.te_cl_conflict,
    })
}
