//! HTTP/1.1 pieces of ringload: the target URL, the preformatted request, and
//! an incremental response parser that does the least work needed to find
//! where each response ends (status line, the three framing headers, then
//! Content-Length, chunked or until-EOF body).

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://HOST[:PORT][/PATH]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// `HOST[:PORT]` as written in the URL: the `Host` header.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Parses an `http://` URL. `https://`, user info and fragments are refused.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| format!("{s}: only http:// URLs are supported"))?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    if path.contains('#') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "{s}: the path may not contain '#', spaces or control characters"
        ));
    }
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{s}: expected http://HOST[:PORT]/PATH"));
    }
    let bad_port = |p: &str| format!("{s}: bad port {p:?}");
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let end = r
            .find(']')
            .ok_or_else(|| format!("{s}: unterminated IPv6 address"))?;
        let port = match &r[end + 1..] {
            "" => 80,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad_port(p))?,
        };
        (r[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad_port(p))?),
            None => (authority.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(format!("{s}: empty host"));
    }
    Ok(Url {
        host,
        port,
        authority: authority.to_string(),
        path,
    })
}

/// Resolves `host:port` once, at startup; the first address is used.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

/// The request every connection sends, preformatted once:
/// `GET PATH HTTP/1.1`, `Host` (unless given in `headers`), the extra
/// `headers` ("Name: value"), and `Connection: close` if `close`.
pub fn build_request(url: &Url, headers: &[String], close: bool) -> Result<Vec<u8>, String> {
    let mut req = format!("GET {} HTTP/1.1\r\n", url.path);
    let mut has_host = false;
    for h in headers {
        let (name, _) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h:?}: expected \"Name: value\""))?;
        if name.is_empty()
            || name.bytes().any(|b| !b.is_ascii_graphic())
            || h.contains(['\r', '\n'])
        {
            return Err(format!("--header {h:?}: bad header"));
        }
        has_host |= name.eq_ignore_ascii_case("host");
    }
    if !has_host {
        req.push_str(&format!("Host: {}\r\n", url.authority));
    }
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    Ok(req.into_bytes())
}

/// Longest status line, header line or chunk-size line accepted; it is also
/// the most bytes the parser ever buffers (only a line split across reads is
/// buffered, everything else is parsed in place).
const MAX_LINE: usize = 64 * 1024;

/// A complete response, as the parser reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The connection can carry the next response (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`, and
    /// a body not delimited by the end of the connection).
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    StatusLine,
    Header,
    ContentLength,
    Chunk,
    LineTooLong,
    UnexpectedEof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StatusLine,
    Headers,
    /// Content-Length body: bytes left.
    Body(u64),
    ChunkSize,
    /// Chunk data: bytes left.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    Trailers,
    /// No framing: the body ends with the connection.
    UntilEof,
}

/// Incremental HTTP/1.x response parser.
///
/// Contract: feed it the bytes of a connection in order, in pieces of any
/// size; it reports each response as it ends. It keeps no reference to the
/// input and copies only a line split across two `feed`s. Interim 1xx
/// responses (except 101) are skipped. Bodies are counted, not stored.
pub struct ResponseParser {
    state: State,
    /// The start of a line whose end has not arrived yet.
    carry: Vec<u8>,
    /// Some byte of the current response has been consumed.
    started: bool,
    status: u16,
    http10: bool,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    pub fn new() -> Self {
        ResponseParser {
            state: State::StatusLine,
            carry: Vec::new(),
            started: false,
            status: 0,
            http10: false,
            content_length: None,
            chunked: false,
            close: false,
            keep_alive: false,
        }
    }

    /// Forgets any partial response (the connection was closed). Keeps the
    /// carry buffer's capacity.
    pub fn reset(&mut self) {
        self.carry.clear();
        self.start_response();
    }

    fn start_response(&mut self) {
        self.state = State::StatusLine;
        self.started = false;
        self.status = 0;
        self.http10 = false;
        self.content_length = None;
        self.chunked = false;
        self.close = false;
        self.keep_alive = false;
    }

    /// True when part of a response has been consumed and its end has not.
    pub fn in_progress(&self) -> bool {
        self.started
    }

    /// Consumes bytes from the front of `data`, up to the end of at most one
    /// response. Returns how many bytes were consumed and the response if
    /// one ended there; when none ends, all of `data` is consumed. Call again
    /// with the rest to get the responses that follow (pipelining).
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Response>), ParseError> {
        let mut pos = 0;
        while pos < data.len() {
            self.started = true;
            match self.state {
                State::Body(left) => {
                    let take = left.min((data.len() - pos) as u64);
                    pos += take as usize;
                    if take == left {
                        return Ok((pos, Some(self.finish())));
                    }
                    self.state = State::Body(left - take);
                }
                State::ChunkData(left) => {
                    let take = left.min((data.len() - pos) as u64);
                    pos += take as usize;
                    self.state = if take == left {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left - take)
                    };
                }
                State::UntilEof => pos = data.len(),
                _ => {
                    let rest = &data[pos..];
                    let Some(nl) = find_byte(rest, b'\n') else {
                        if self.carry.len() + rest.len() > MAX_LINE {
                            return Err(ParseError::LineTooLong);
                        }
                        self.carry.extend_from_slice(rest);
                        return Ok((data.len(), None));
                    };
                    pos += nl + 1;
                    let done = if self.carry.is_empty() {
                        self.line(trim_cr(&rest[..nl]))?
                    } else {
                        if self.carry.len() + nl > MAX_LINE {
                            return Err(ParseError::LineTooLong);
                        }
                        let mut carry = std::mem::take(&mut self.carry);
                        carry.extend_from_slice(&rest[..nl]);
                        let r = self.line(trim_cr(&carry));
                        carry.clear();
                        self.carry = carry;
                        r?
                    };
                    if let Some(resp) = done {
                        return Ok((pos, Some(resp)));
                    }
                }
            }
        }
        Ok((pos, None))
    }

    /// The connection reached end of stream: ends a body delimited by it, or
    /// reports a truncated response. Ok(None) when no response was started.
    pub fn eof(&mut self) -> Result<Option<Response>, ParseError> {
        if self.state == State::UntilEof {
            Ok(Some(self.finish()))
        } else if self.started {
            Err(ParseError::UnexpectedEof)
        } else {
            Ok(None)
        }
    }

    fn finish(&mut self) -> Response {
        let resp = Response {
            status: self.status,
            keep_alive: !self.close
                && (!self.http10 || self.keep_alive)
                && self.state != State::UntilEof,
        };
        self.start_response();
        resp
    }

    /// Handles one complete line (without its CR LF).
    fn line(&mut self, line: &[u8]) -> Result<Option<Response>, ParseError> {
        match self.state {
            State::StatusLine => {
                if line.is_empty() {
                    // Stray CRLF between responses: tolerated.
                    self.started = false;
                    return Ok(None);
                }
                // "HTTP/1.x NNN[ reason]"
                let ok = line.len() >= 12
                    && line.starts_with(b"HTTP/1.")
                    && line[7].is_ascii_digit()
                    && line[8] == b' '
                    && line[9..12].iter().all(u8::is_ascii_digit)
                    && (line.len() == 12 || line[12] == b' ');
                if !ok {
                    return Err(ParseError::StatusLine);
                }
                self.status = line[9..12]
                    .iter()
                    .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
                self.http10 = line[7] == b'0';
                self.state = State::Headers;
                Ok(None)
            }
            State::Headers => {
                if line.is_empty() {
                    return Ok(self.end_of_head());
                }
                let colon = find_byte(line, b':').ok_or(ParseError::Header)?;
                let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
                // Dispatch on length first: most headers are skipped after
                // one comparison.
                match name.len() {
                    14 if name.eq_ignore_ascii_case(b"content-length") => {
                        let n = parse_decimal(value).ok_or(ParseError::ContentLength)?;
                        if self.content_length.is_some_and(|old| old != n) {
                            return Err(ParseError::ContentLength);
                        }
                        self.content_length = Some(n);
                    }
                    17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                        // Chunked only counts as the last coding.
                        let last = value.rsplit(|&b| b == b',').next().unwrap_or(b"");
                        self.chunked = trim(last).eq_ignore_ascii_case(b"chunked");
                    }
                    10 if name.eq_ignore_ascii_case(b"connection") => {
                        for token in value.split(|&b| b == b',') {
                            let token = trim(token);
                            self.close |= token.eq_ignore_ascii_case(b"close");
                            self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                        }
                    }
                    _ => {}
                }
                Ok(None)
            }
            State::ChunkSize => {
                let end = line
                    .iter()
                    .position(|&b| b == b';' || b == b' ' || b == b'\t')
                    .unwrap_or(line.len());
                let size = parse_hex(&line[..end]).ok_or(ParseError::Chunk)?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
                Ok(None)
            }
            State::ChunkEnd => {
                if !line.is_empty() {
                    return Err(ParseError::Chunk);
                }
                self.state = State::ChunkSize;
                Ok(None)
            }
            State::Trailers => Ok(if line.is_empty() {
                Some(self.finish())
            } else {
                None
            }),
            State::Body(_) | State::ChunkData(_) | State::UntilEof => {
                unreachable!("line() called in a body state")
            }
        }
    }

    /// The empty line after the headers: decides how the body is framed.
    fn end_of_head(&mut self) -> Option<Response> {
        let status = self.status;
        if (100..200).contains(&status) && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): the final
            // one follows.
            self.start_response();
            self.started = true;
            return None;
        }
        if (100..200).contains(&status) || status == 204 || status == 304 {
            if status == 101 {
                self.close = true;
            }
            return Some(self.finish());
        }
        if self.chunked {
            self.state = State::ChunkSize;
            return None;
        }
        match self.content_length {
            Some(0) => Some(self.finish()),
            Some(n) => {
                self.state = State::Body(n);
                None
            }
            None => {
                self.state = State::UntilEof;
                None
            }
        }
    }
}

/// Position of the first `b` in `hay` (glibc's vectorised memchr).
#[inline]
pub fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    // SAFETY: memchr reads at most `hay.len()` bytes from `hay`.
    let p = unsafe {
        libc::memchr(
            hay.as_ptr() as *const libc::c_void,
            b as libc::c_int,
            hay.len(),
        )
    };
    if p.is_null() {
        None
    } else {
        Some(p as usize - hay.as_ptr() as usize)
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 15 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        (d as char).to_digit(16).map(|v| n * 16 + u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of the given sizes (cycled) and collects the
    /// responses, checking that `feed` never consumes more than it is given.
    fn parse_in_pieces(input: &[u8], sizes: &[usize]) -> Result<Vec<Response>, ParseError> {
        let mut p = ResponseParser::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < input.len() {
            let end = (pos + sizes[i % sizes.len()].max(1)).min(input.len());
            i += 1;
            let mut chunk = &input[pos..end];
            while !chunk.is_empty() {
                let (used, resp) = p.feed(chunk)?;
                assert!(used <= chunk.len());
                assert!(used > 0 || chunk.is_empty());
                chunk = &chunk[used..];
                out.extend(resp);
            }
            pos = end;
        }
        out.extend(p.eof()?);
        Ok(out)
    }

    fn every_split(input: &[u8], expect: &[Response]) {
        assert_eq!(
            parse_in_pieces(input, &[input.len()]).unwrap(),
            expect,
            "whole"
        );
        for size in 1..input.len() {
            assert_eq!(
                parse_in_pieces(input, &[size]).unwrap(),
                expect,
                "pieces of {size}"
            );
        }
        for cut in 1..input.len() {
            assert_eq!(
                parse_in_pieces(input, &[cut, input.len()]).unwrap(),
                expect,
                "cut at {cut}"
            );
        }
    }

    const OK: Response = Response {
        status: 200,
        keep_alive: true,
    };

    #[test]
    fn content_length() {
        let r = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello";
        every_split(r, &[OK]);
    }

    #[test]
    fn content_length_zero_and_no_body_statuses() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\
                  HTTP/1.1 204 No Content\r\n\r\n\
                  HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n";
        let s = |status| Response {
            status,
            keep_alive: true,
        };
        every_split(r, &[s(200), s(204), s(304)]);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
        every_split(r, &[OK]);
    }

    #[test]
    fn chunked_overrides_content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n\
                  3\r\nabc\r\n0\r\n\r\n";
        every_split(r, &[OK]);
    }

    #[test]
    fn pipelined_responses_in_one_read() {
        let mut r = Vec::new();
        let first: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        for i in 0..10 {
            if i % 2 == 0 {
                r.extend_from_slice(first);
            } else {
                r.extend_from_slice(
                    b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
                );
            }
        }
        let expect: Vec<_> = (0..10)
            .map(|i| Response {
                status: if i % 2 == 0 { 200 } else { 500 },
                keep_alive: true,
            })
            .collect();
        // One feed returns one response and exactly its bytes.
        let mut p = ResponseParser::new();
        let (used, resp) = p.feed(&r).unwrap();
        assert_eq!(used, first.len());
        assert_eq!(resp, Some(OK));
        every_split(&r, &expect);
    }

    #[test]
    fn connection_close_and_http10() {
        let r = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx";
        every_split(
            r,
            &[Response {
                status: 200,
                keep_alive: false,
            }],
        );
        let r = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx";
        every_split(
            r,
            &[Response {
                status: 200,
                keep_alive: false,
            }],
        );
        let r = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx";
        every_split(r, &[OK]);
    }

    #[test]
    fn body_until_eof() {
        let r = b"HTTP/1.1 200 OK\r\n\r\nsome body bytes";
        every_split(
            r,
            &[Response {
                status: 200,
                keep_alive: false,
            }],
        );
    }

    #[test]
    fn interim_responses_are_skipped_and_bare_lf_accepted() {
        let r = b"HTTP/1.1 100 Continue\n\nHTTP/1.1 404 Not Found\nContent-Length: 2\n\nno";
        every_split(
            r,
            &[Response {
                status: 404,
                keep_alive: true,
            }],
        );
    }

    #[test]
    fn truncated_response_is_an_error_at_eof() {
        let mut p = ResponseParser::new();
        assert!(!p.in_progress());
        assert_eq!(p.eof(), Ok(None));
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(p.feed(r), Ok((r.len(), None)));
        assert!(p.in_progress());
        assert_eq!(p.eof(), Err(ParseError::UnexpectedEof));
        p.reset();
        assert!(!p.in_progress());
    }

    #[test]
    fn malformed_input() {
        let bad = |r: &[u8]| parse_in_pieces(r, &[r.len()]).unwrap_err();
        assert_eq!(bad(b"HTTP/2 200 OK\r\n\r\n"), ParseError::StatusLine);
        assert_eq!(bad(b"garbage\r\n"), ParseError::StatusLine);
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"),
            ParseError::Header
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            ParseError::ContentLength
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            ParseError::ContentLength
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ParseError::Chunk
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"),
            ParseError::Chunk
        );
        let mut long = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        long.resize(MAX_LINE + 100, b'a');
        assert_eq!(
            parse_in_pieces(&long, &[1000]).unwrap_err(),
            ParseError::LineTooLong
        );
    }

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/a/b?c=d").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            ("127.0.0.1", 8080, "127.0.0.1:8080", "/a/b?c=d")
        );
        let u = parse_url("http://example").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = parse_url("http://[::1]:81").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.authority.as_str()),
            ("::1", 81, "[::1]:81")
        );
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
        assert!(parse_url("http:///").is_err());
        assert!(parse_url("http://u@x/").is_err());
    }

    #[test]
    fn request_bytes() {
        let u = parse_url("http://h:1/p").unwrap();
        let r = build_request(&u, &["X-A: b".into()], false).unwrap();
        assert_eq!(r, b"GET /p HTTP/1.1\r\nHost: h:1\r\nX-A: b\r\n\r\n");
        let r = build_request(&u, &["host: other".into()], true).unwrap();
        assert_eq!(
            r,
            b"GET /p HTTP/1.1\r\nhost: other\r\nConnection: close\r\n\r\n"
        );
        assert!(build_request(&u, &["nocolon".into()], false).is_err());
    }
}
