//! HTTP/1.x protocol core: pure functions and state machines over byte
//! slices, with HAProxy 2.x's semantics (`src/h1.c`, `src/http.c`) and RFC
//! 9110 / 9112. No I/O, no `unsafe`, no allocation: parsers borrow the
//! caller's buffer and header slots, writers append to a caller-provided
//! `Vec<u8>` whose capacity is reused.
//!
//! What each part does, and how the HTTP mode is expected to use it:
//!
//! - [`parse_request`] / [`parse_response`] classify the bytes buffered so
//!   far: [`Parsed::Partial`] (read more, unless the buffer is full: see
//!   [`head_too_large`]), a complete head, or an [`HttpError`] whose
//!   [`status`](HttpError::status) is the answer HAProxy gives (400 for a
//!   request, 502 for a response). They keep no state: call them again on
//!   the same buffer plus whatever arrived. Outcomes are stable under
//!   appending, so how reads were split never matters.
//! - The parsed head says how the body is framed ([`BodyFraming`],
//!   [`RespFraming`]) and whether the connection may be reused
//!   ([`ConnIntent`]). [`BodyTracker`] then follows the body as its bytes are
//!   forwarded *unchanged* (chunked bodies are validated, never de-chunked)
//!   and says exactly where it ends, so a pipelined next message is never
//!   swallowed.
//! - [`HeadWriter`] rebuilds the head to forward (request/status line,
//!   headers minus the hop-by-hop ones, rule edits, `connection`), always
//!   with CRLF line ends: the received head bytes are never forwarded as
//!   they are, which is what makes the parser's tolerances (bare LF line
//!   ends in heads, duplicate identical `Host` / `Content-Length`) safe.
//! - [`default_error`] and [`reason_phrase`] are HAProxy's canned answers.
//!
//! # Header representation
//!
//! Heads are parsed into caller-provided [`Header`] slots (`httparse`'s
//! type: `name: &str`, `value: &[u8]`), borrowed from the caller's buffer,
//! which must therefore keep the head bytes until it is done with the head.
//! The slice returned in a parsed head is the header list *as HAProxy
//! indexes it*, ready to forward: values are trimmed of surrounding
//! whitespace, duplicate identical `Host` and `Content-Length` fields are
//! dropped, a `Content-Length` list of identical values is collapsed to one
//! value, `Content-Length` is removed when `Transfer-Encoding` is present,
//! and a lone request `Transfer-Encoding: chunked` is normalised to the
//! lowercase token (a few values may then point to static bytes instead of
//! the buffer). Everything else is in received order, names as received.
//!
//! The number of slots given is the header limit (HAProxy's
//! `tune.http.maxhdr`, [`MAX_HEADERS`] by default); one slot per header
//! line received.

#![forbid(unsafe_code)]

mod body;
mod chars;
mod edit;
mod errors;
mod head;
mod status;

#[cfg(test)]
mod tests;

pub use body::{
    BodyState, BodyTracker, ChunkPhase, Framing, MAX_CHUNK_LINE_LEN, MAX_CHUNK_SIZE,
    MAX_CHUNK_SIZE_DIGITS, MAX_TRAILERS_LEN, Progress,
};
pub use edit::{
    ConnectionTokens, EditError, HeadWriter, TargetParts, connection_tokens, end_head,
    is_hop_by_hop, split_target, write_header, write_header_display, write_request_line,
    write_request_line_parts, write_status_line,
};
pub use errors::{ErrorKind, HttpError, Side};
pub use head::{
    BodyFraming, ConnIntent, DEFAULT_BUFSIZE, DEFAULT_MAX_HEAD_LEN, DEFAULT_MAXREWRITE,
    MAX_CONTENT_LENGTH, REQUEST_HEAD_TOO_LARGE_STATUS, RESPONSE_HEAD_TOO_LARGE_STATUS,
    RequestContext, RequestHead, RespFraming, ResponseHead, TargetForm, head_too_large,
    parse_request, parse_response,
};
pub use httparse::{EMPTY_HEADER, Header};
pub use status::{default_error, default_error_close, reason_phrase};

/// HAProxy's default `tune.http.maxhdr`: at most 101 header lines per head.
pub const MAX_HEADERS: usize = 101;

/// A full set of header slots for one head at the default limit.
pub type HeaderSlots<'b> = [Header<'b>; MAX_HEADERS];

/// Outcome of parsing a head from the bytes buffered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole head.
    Complete(T),
    /// Every byte so far may start a valid head: read more.
    Partial,
}

impl<T> Parsed<T> {
    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Parsed::Complete(t) => Some(t),
            Parsed::Partial => None,
        }
    }

    /// True for [`Parsed::Partial`].
    pub fn is_partial(&self) -> bool {
        matches!(self, Parsed::Partial)
    }
}

/// Request method, as HAProxy's `find_http_meth` classifies it (with PATCH
/// added). Methods are case-sensitive (RFC 9110 §9.1): `get` is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    /// Any other token; the text is in [`RequestHead::method_str`].
    Other,
}

impl Method {
    /// Classifies a method token (no validation: any bytes give `Other`).
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    /// The method's token; `None` for `Other`.
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other => return None,
        })
    }
}

/// Protocol version of a message. `HTTP/1.2` to `HTTP/1.9` are read as 1.1
/// (RFC 9110 §2.5: a recipient treats a higher minor version as the highest
/// it supports); other major versions are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}
