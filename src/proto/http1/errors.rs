//! Why a message was refused, and what HAProxy answers for it.

use std::fmt;

/// Which direction a message travels: decides the status of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// From the client: an invalid request is answered with 400.
    Request,
    /// From the server: an invalid response is answered with 502.
    Response,
}

/// One precise protocol violation. The same kind can come from a request or
/// a response; [`HttpError`] pairs it with the [`Side`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    // --- Syntax of the head (and of trailers for the field kinds) ---
    /// A NUL byte anywhere in a head, a chunk line or a trailer.
    NulByte,
    /// A CR not followed by LF.
    BareCr,
    /// The method is not a token, or the line starts with something else.
    InvalidMethod,
    /// The request line lacks a target or a version (HTTP/0.9 style).
    MalformedRequestLine,
    /// The request-target holds a byte outside visible ASCII, a space, or a
    /// fragment (`#`), or is of no known form.
    InvalidTarget,
    /// Two spaces where the request-target should be.
    EmptyTarget,
    /// The version is not `HTTP/DIGIT.DIGIT` (case-sensitive).
    InvalidVersion,
    /// `HTTP/x.y` with a major version other than 1.
    UnsupportedVersion,
    /// The status code is not three digits between 100 and 599.
    InvalidStatus,
    /// The reason phrase holds a control character.
    InvalidReason,
    /// A header name holds a byte that is not a token character.
    InvalidHeaderName,
    /// A header line starts with a colon.
    EmptyHeaderName,
    /// Whitespace inside a header name or before its colon (RFC 9112 §5.1:
    /// must be rejected with 400).
    WhitespaceInHeaderName,
    /// A header line without a colon.
    MissingColon,
    /// A header value holds a control character other than HTAB, or DEL.
    InvalidHeaderValue,
    /// A header line starting with whitespace: obsolete line folding, or
    /// whitespace between the start line and the first header (RFC 9112
    /// §5.2, §2.2).
    ObsFold,
    /// More header lines than slots (HAProxy's `tune.http.maxhdr`).
    TooManyHeaders,

    // --- Semantics of the head ---
    /// A target form the method does not allow: asterisk-form other than
    /// with OPTIONS, origin-form or absolute-form with CONNECT.
    TargetFormMismatch,
    /// The authority of an absolute-form or CONNECT target is empty, holds
    /// userinfo (RFC 9110 §4.2.4) or invalid bytes, or (CONNECT) lacks a
    /// port.
    InvalidAuthority,
    /// A `Content-Length` value that is not a list of decimal numbers.
    InvalidContentLength,
    /// A `Content-Length` above [`MAX_CONTENT_LENGTH`](super::MAX_CONTENT_LENGTH).
    ContentLengthTooLarge,
    /// `Content-Length` values (in one list or several fields) differ.
    ContentLengthMismatch,
    /// A request whose final transfer coding is not `chunked`.
    TransferEncodingNotChunked,
    /// An empty `Transfer-Encoding` value or list element.
    EmptyTransferCoding,
    /// `chunked` applied twice.
    ChunkedTwice,
    /// `Transfer-Encoding` in an HTTP/1.0 request.
    TransferEncodingHttp10,
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// Several `Host` fields with different values.
    MultipleHosts,
    /// A `Host` value that is not `host[:port]`.
    InvalidHost,
    /// `Host` does not match the authority of the request-target.
    HostMismatch,
    /// A 101 response to a request that did not ask to upgrade.
    UnsolicitedSwitch,
    /// A 101 response without `Upgrade`.
    MissingUpgrade,

    // --- Bodies ---
    /// A chunk-size line without a size.
    EmptyChunkSize,
    /// A chunk size that is not hexadecimal (sign, `0x`, garbage after it).
    InvalidChunkSize,
    /// More than [`MAX_CHUNK_SIZE_DIGITS`](super::MAX_CHUNK_SIZE_DIGITS) hex digits.
    ChunkSizeTooLong,
    /// A chunk size above [`MAX_CHUNK_SIZE`](super::MAX_CHUNK_SIZE).
    ChunkSizeOverflow,
    /// A control character in a chunk extension.
    InvalidChunkExtension,
    /// A chunk-size line longer than [`MAX_CHUNK_LINE_LEN`](super::MAX_CHUNK_LINE_LEN).
    ChunkLineTooLong,
    /// A LF without CR in chunked framing or trailers.
    BareLf,
    /// Chunk data not followed by CRLF.
    MissingChunkCrlf,
    /// A trailer section longer than [`MAX_TRAILERS_LEN`](super::MAX_TRAILERS_LEN).
    TrailersTooLarge,
    /// The connection ended before the body did.
    Truncated,
}

impl ErrorKind {
    /// Short human description.
    pub fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            NulByte => "NUL byte",
            BareCr => "CR not followed by LF",
            InvalidMethod => "invalid method",
            MalformedRequestLine => "request line without target or version",
            InvalidTarget => "invalid request-target",
            EmptyTarget => "empty request-target",
            InvalidVersion => "invalid HTTP version",
            UnsupportedVersion => "unsupported HTTP major version",
            InvalidStatus => "invalid status code",
            InvalidReason => "invalid reason phrase",
            InvalidHeaderName => "invalid header name",
            EmptyHeaderName => "empty header name",
            WhitespaceInHeaderName => "whitespace in header name or before colon",
            MissingColon => "header line without colon",
            InvalidHeaderValue => "control character in header value",
            ObsFold => "header line starting with whitespace (obs-fold)",
            TooManyHeaders => "too many headers",
            TargetFormMismatch => "request-target form not allowed for this method",
            InvalidAuthority => "invalid authority in request-target",
            InvalidContentLength => "invalid Content-Length",
            ContentLengthTooLarge => "Content-Length too large",
            ContentLengthMismatch => "differing Content-Length values",
            TransferEncodingNotChunked => "final transfer coding is not chunked",
            EmptyTransferCoding => "empty transfer coding",
            ChunkedTwice => "chunked applied more than once",
            TransferEncodingHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            MissingHost => "missing Host",
            MultipleHosts => "several different Host values",
            InvalidHost => "invalid Host value",
            HostMismatch => "Host does not match the request-target authority",
            UnsolicitedSwitch => "101 response to a request that did not ask to upgrade",
            MissingUpgrade => "101 response without Upgrade",
            EmptyChunkSize => "empty chunk size",
            InvalidChunkSize => "invalid chunk size",
            ChunkSizeTooLong => "too many chunk size digits",
            ChunkSizeOverflow => "chunk size too large",
            InvalidChunkExtension => "invalid chunk extension",
            ChunkLineTooLong => "chunk size line too long",
            BareLf => "LF without CR",
            MissingChunkCrlf => "chunk data not followed by CRLF",
            TrailersTooLarge => "trailer section too large",
            Truncated => "connection closed before the end of the body",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused message: what is wrong with it and which way it travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpError {
    pub kind: ErrorKind,
    pub side: Side,
}

impl HttpError {
    pub const fn new(kind: ErrorKind, side: Side) -> Self {
        HttpError { kind, side }
    }

    /// The status HAProxy answers with: 400 Bad Request for anything wrong
    /// with a request (head or body), 502 Bad Gateway for a response. The
    /// connection is closed after the answer in both cases.
    pub fn status(&self) -> u16 {
        match self.side {
            Side::Request => 400,
            Side::Response => 502,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.side {
            Side::Request => "invalid HTTP request",
            Side::Response => "invalid HTTP response",
        };
        write!(f, "{what}: {}", self.kind)
    }
}

impl std::error::Error for HttpError {}
