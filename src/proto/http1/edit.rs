//! Building the head to forward: start line, the received headers minus the
//! hop-by-hop ones, rule edits (set/add/del/replace-header, set-path,
//! set-uri, forwardfor) and the `connection` field, always with CRLF.
//!
//! Everything is appended to a caller-provided `Vec<u8>` (cleared by
//! [`HeadWriter`], capacity kept), so once warm no allocation happens. Every
//! piece is validated before it is written: a rule producing a header value
//! with CR or LF, say, fails with an [`EditError`] (HAProxy's
//! `strict-mode`: answer 500) instead of smuggling a line into the head.

use std::fmt;
use std::io::Write as _;

use super::chars::{is_bad_value_byte, is_token, is_vchar, trim_ows};
use super::head::{ConnIntent, split_absolute};
use super::{Header, Version};

/// A rewrite that would produce an invalid head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EditError {
    /// The method is not a token.
    InvalidMethod,
    /// The target is empty or holds a byte outside visible ASCII.
    InvalidTarget,
    /// The status is not between 100 and 599.
    InvalidStatus,
    /// The reason phrase holds a control character.
    InvalidReason,
    /// The header name is not a token.
    InvalidName,
    /// The header value holds a control character other than HTAB, or DEL.
    InvalidValue,
}

impl EditError {
    /// HAProxy's answer to a failed rewrite with `strict-mode on` (its
    /// default): 500 Internal Server Error.
    pub fn status(&self) -> u16 {
        500
    }
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EditError::InvalidMethod => "method is not a token",
            EditError::InvalidTarget => "invalid request-target",
            EditError::InvalidStatus => "status out of 100-599",
            EditError::InvalidReason => "control character in reason phrase",
            EditError::InvalidName => "header name is not a token",
            EditError::InvalidValue => "control character in header value",
        })
    }
}

impl std::error::Error for EditError {}

const CRLF: &[u8] = b"\r\n";

/// Appends `method SP target SP version CRLF`.
pub fn write_request_line(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    version: Version,
) -> Result<(), EditError> {
    write_request_line_parts(out, method, &[target], version)
}

/// Like [`write_request_line`] with the target given as pieces written back
/// to back, e.g. `[prefix, new_path, query]` for `set-path` (see
/// [`TargetParts::with_path`]).
pub fn write_request_line_parts(
    out: &mut Vec<u8>,
    method: &str,
    target: &[&str],
    version: Version,
) -> Result<(), EditError> {
    if !is_token(method.as_bytes()) {
        return Err(EditError::InvalidMethod);
    }
    if target.iter().all(|p| p.is_empty()) || !target.iter().all(|p| p.bytes().all(is_vchar)) {
        return Err(EditError::InvalidTarget);
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    for piece in target {
        out.extend_from_slice(piece.as_bytes());
    }
    out.push(b' ');
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(CRLF);
    Ok(())
}

/// Appends `version SP status SP reason CRLF`.
pub fn write_status_line(
    out: &mut Vec<u8>,
    version: Version,
    status: u16,
    reason: &str,
) -> Result<(), EditError> {
    if !(100..=599).contains(&status) {
        return Err(EditError::InvalidStatus);
    }
    if reason.bytes().any(is_bad_value_byte) {
        return Err(EditError::InvalidReason);
    }
    out.extend_from_slice(version.as_str().as_bytes());
    // Three ASCII digits: status is in 100..=599.
    out.extend_from_slice(&[
        b' ',
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(CRLF);
    Ok(())
}

/// Appends `name: value CRLF`.
pub fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), EditError> {
    if !is_token(name.as_bytes()) {
        return Err(EditError::InvalidName);
    }
    if value.iter().any(|&b| is_bad_value_byte(b)) {
        return Err(EditError::InvalidValue);
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(CRLF);
    Ok(())
}

/// Appends `name: value CRLF` with the value formatted in place (e.g. an
/// address for `x-forwarded-for`), without an intermediate string. On error
/// nothing is left appended.
pub fn write_header_display(
    out: &mut Vec<u8>,
    name: &str,
    value: impl fmt::Display,
) -> Result<(), EditError> {
    if !is_token(name.as_bytes()) {
        return Err(EditError::InvalidName);
    }
    let mark = out.len();
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let start = out.len();
    // Writing into a Vec cannot fail; a Display impl that errors leaves a
    // partial value, which is validated like any other.
    let _ = write!(out, "{value}");
    if out[start..].iter().any(|&b| is_bad_value_byte(b)) {
        out.truncate(mark);
        return Err(EditError::InvalidValue);
    }
    out.extend_from_slice(CRLF);
    Ok(())
}

/// Appends the empty line ending a head.
pub fn end_head(out: &mut Vec<u8>) {
    out.extend_from_slice(CRLF);
}

/// Fields that concern one connection only (RFC 9110 §7.6.1): never
/// forwarded as received.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

/// Fields never dropped because `Connection` names them: removing framing
/// or `Host` would make the next hop read another message than the one we
/// checked (a known abuse of `Connection: close, Content-Length`).
const PROTECTED: [&str; 3] = ["content-length", "transfer-encoding", "host"];

/// True when a proxy must not forward the field `name` of a message whose
/// fields are `headers`: `Connection`, `Keep-Alive`, `Proxy-Connection`,
/// `TE`, `Upgrade` (re-add it when upgrading), and any field named in a
/// `Connection` value, except `Content-Length`, `Transfer-Encoding` and
/// `Host`. `Trailer` is end-to-end; `Transfer-Encoding` stays since chunked
/// bodies are forwarded as they are.
pub fn is_hop_by_hop(name: &str, headers: &[Header<'_>]) -> bool {
    hop_by_hop(name, headers, true)
}

fn hop_by_hop(name: &str, headers: &[Header<'_>], has_connection: bool) -> bool {
    if HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return true;
    }
    if !has_connection || PROTECTED.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return false;
    }
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .any(|h| connection_tokens(h.value).any(|t| t.eq_ignore_ascii_case(name)))
}

/// The tokens of a `Connection` value: comma-separated, trimmed, empty
/// elements and non-tokens skipped. Compare them case-insensitively.
pub fn connection_tokens(value: &[u8]) -> ConnectionTokens<'_> {
    ConnectionTokens { rest: Some(value) }
}

/// Iterator returned by [`connection_tokens`].
#[derive(Debug, Clone)]
pub struct ConnectionTokens<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for ConnectionTokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.rest?;
            let elem = match rest.iter().position(|&b| b == b',') {
                Some(i) => {
                    self.rest = Some(&rest[i + 1..]);
                    &rest[..i]
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            let token = trim_ows(elem);
            if is_token(token)
                && let Ok(s) = std::str::from_utf8(token)
            {
                return Some(s);
            }
        }
    }
}

/// A request-target cut for path rewrites: `prefix` + `path` + `query` is
/// the target. `prefix` is `scheme://authority` for absolute-form, the
/// whole target for authority-form, else empty; `query` starts with `?`
/// or is empty. `path` is what HAProxy's `path` fetch returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetParts<'a> {
    pub prefix: &'a str,
    pub path: &'a str,
    pub query: &'a str,
}

impl<'a> TargetParts<'a> {
    /// Pieces of the target with `path` replaced (`set-path`), for
    /// [`write_request_line_parts`].
    pub fn with_path<'x>(&'x self, path: &'x str) -> [&'x str; 3] {
        [self.prefix, path, self.query]
    }

    /// Pieces of the target with the query replaced (`set-query`; pass it
    /// with its leading `?`, or empty to remove it).
    pub fn with_query<'x>(&'x self, query: &'x str) -> [&'x str; 3] {
        [self.prefix, self.path, query]
    }
}

/// Cuts a request-target (as accepted by the parser) into its parts.
pub fn split_target(target: &str) -> TargetParts<'_> {
    let prefix_len = if target.starts_with('/') || target == "*" {
        0
    } else {
        match split_absolute(target.as_bytes()) {
            Some((scheme, authority)) => scheme.len() + 3 + authority.len(),
            None => target.len(),
        }
    };
    let (prefix, rest) = target.split_at(prefix_len);
    let (path, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    TargetParts {
        prefix,
        path,
        query,
    }
}

/// Builds a head to forward into a caller-provided buffer.
///
/// ```
/// use ringproxy::proto::http1::{ConnIntent, HeadWriter, Version};
/// let mut out = Vec::new();
/// let mut w = HeadWriter::request(&mut out, "GET", "/", Version::Http11).unwrap();
/// w.header("host", b"example.com").unwrap();
/// w.connection(Version::Http11, ConnIntent::Close, false);
/// let len = w.finish();
/// assert_eq!(&out[..len], b"GET / HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n");
/// ```
#[derive(Debug)]
pub struct HeadWriter<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> HeadWriter<'o> {
    /// Clears `out` and writes a request line.
    pub fn request(
        out: &'o mut Vec<u8>,
        method: &str,
        target: &str,
        version: Version,
    ) -> Result<Self, EditError> {
        Self::request_parts(out, method, &[target], version)
    }

    /// Clears `out` and writes a request line whose target is `target`'s
    /// pieces back to back (see [`TargetParts`]).
    pub fn request_parts(
        out: &'o mut Vec<u8>,
        method: &str,
        target: &[&str],
        version: Version,
    ) -> Result<Self, EditError> {
        out.clear();
        write_request_line_parts(out, method, target, version)?;
        Ok(HeadWriter { out })
    }

    /// Clears `out` and writes a status line.
    pub fn response(
        out: &'o mut Vec<u8>,
        version: Version,
        status: u16,
        reason: &str,
    ) -> Result<Self, EditError> {
        out.clear();
        write_status_line(out, version, status, reason)?;
        Ok(HeadWriter { out })
    }

    /// Adds a field (`add-header`; `set-header` is [`end_to_end`](Self::end_to_end)
    /// skipping the name, then this).
    pub fn header(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, EditError> {
        write_header(self.out, name, value)?;
        Ok(self)
    }

    /// Adds a field whose value is formatted in place.
    pub fn header_display(
        &mut self,
        name: &str,
        value: impl fmt::Display,
    ) -> Result<&mut Self, EditError> {
        write_header_display(self.out, name, value)?;
        Ok(self)
    }

    /// Adds the received fields that are end-to-end (see [`is_hop_by_hop`]);
    /// `Upgrade` too when `keep_upgrade` (the caller adds `connection:
    /// upgrade` with [`connection`](Self::connection)).
    pub fn end_to_end(
        &mut self,
        headers: &[Header<'_>],
        keep_upgrade: bool,
    ) -> Result<&mut Self, EditError> {
        self.end_to_end_except(headers, keep_upgrade, |_| false)
    }

    /// Like [`end_to_end`](Self::end_to_end), also skipping the fields for
    /// which `skip(name)` is true (`del-header`, or `set-header` before
    /// adding the new value).
    pub fn end_to_end_except(
        &mut self,
        headers: &[Header<'_>],
        keep_upgrade: bool,
        skip: impl Fn(&str) -> bool,
    ) -> Result<&mut Self, EditError> {
        let has_connection = headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("connection"));
        for h in headers {
            let upgrade = keep_upgrade && h.name.eq_ignore_ascii_case("upgrade");
            if (!upgrade && hop_by_hop(h.name, headers, has_connection)) || skip(h.name) {
                continue;
            }
            write_header(self.out, h.name, h.value)?;
        }
        Ok(self)
    }

    /// Adds the `connection` field a message of `version` needs to say
    /// `intent` (and `upgrade`, HTTP/1.1 only), as HAProxy does: nothing for
    /// the version's default, else `close`, `keep-alive` or `upgrade`.
    pub fn connection(&mut self, version: Version, intent: ConnIntent, upgrade: bool) -> &mut Self {
        let mut tokens: [&str; 2] = [""; 2];
        let mut n = 0;
        match (version, intent) {
            (Version::Http11, ConnIntent::Close) => {
                tokens[n] = "close";
                n += 1;
            }
            (Version::Http10, ConnIntent::KeepAlive) => {
                tokens[n] = "keep-alive";
                n += 1;
            }
            _ => {}
        }
        if upgrade && version == Version::Http11 {
            tokens[n] = "upgrade";
            n += 1;
        }
        if n > 0 {
            self.out.extend_from_slice(b"connection: ");
            for (i, t) in tokens[..n].iter().enumerate() {
                if i > 0 {
                    self.out.extend_from_slice(b", ");
                }
                self.out.extend_from_slice(t.as_bytes());
            }
            self.out.extend_from_slice(CRLF);
        }
        self
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True if nothing was written (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Ends the head with its empty line; returns the head's length.
    pub fn finish(self) -> usize {
        end_head(self.out);
        self.out.len()
    }
}
