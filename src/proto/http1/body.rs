//! Following a message body as it is forwarded, to find where it ends.
//!
//! Bodies pass through unchanged: a chunked body is validated and its end
//! found. The one exception is a chunked response to an HTTP/1.0 client,
//! which cannot read chunks: [`BodyTracker::feed_dechunked`] then reports
//! the chunk data alone, for the caller to send close-delimited. What is validated is exactly what the next hop
//! will parse, so anything two parsers could read differently (chunk sizes,
//! extensions, line ends, trailers) is held to the strict grammar of RFC
//! 9112 §7.1: CRLF only, no bare LF anywhere, no control characters.

use super::chars::{hex_val, is_tchar};
use super::errors::{ErrorKind, HttpError, Side};
use super::head::{BodyFraming, RespFraming};

/// Largest chunk size accepted: 2^52 - 1, as HAProxy's
/// `h1_parse_chunk_size()` ("to never feed possibly bogus values to
/// languages that use floats for their integers").
pub const MAX_CHUNK_SIZE: u64 = (1 << 52) - 1;
/// Most hex digits in a chunk size, leading zeros included.
pub const MAX_CHUNK_SIZE_DIGITS: u8 = 16;
/// Longest chunk-size line: size, extensions and the final CR.
pub const MAX_CHUNK_LINE_LEN: u32 = 4096;
/// Longest trailer section, final CRLF included: HAProxy's default
/// `tune.bufsize`, in which it has to fit.
pub const MAX_TRAILERS_LEN: u32 = 16384;

/// A message's framing, as parsed from a request or a response head; the
/// direction decides the status of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    Request(BodyFraming),
    Response(RespFraming),
}

impl From<BodyFraming> for Framing {
    fn from(f: BodyFraming) -> Self {
        Framing::Request(f)
    }
}

impl From<RespFraming> for Framing {
    fn from(f: RespFraming) -> Self {
        Framing::Response(f)
    }
}

/// Where a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyState {
    /// The body is over; bytes fed now belong to the next message.
    Done,
    /// `Content-Length`: this many bytes are still to come.
    Length {
        remaining: u64,
    },
    /// Ends when the connection closes (also used for tunnels).
    UntilClose,
    Chunked(ChunkPhase),
    /// An error was found; feeding again repeats it.
    Failed(ErrorKind),
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkPhase {
    /// Before the first hex digit of a chunk size.
    SizeStart,
    /// Reading hex digits.
    Size { size: u64, digits: u8 },
    /// Whitespace after the size (BWS before an extension, tolerated before
    /// CRLF as HAProxy does).
    SizeWs { size: u64 },
    /// Inside chunk extensions, up to CRLF.
    Ext { size: u64 },
    /// CR seen at the end of the size line, LF expected.
    SizeLf { size: u64 },
    /// Chunk data still to come.
    Data { remaining: u64 },
    /// CR expected after chunk data.
    DataCr,
    /// LF expected after chunk data.
    DataLf,
    /// At the start of a trailer line or of the final empty line.
    TrailerStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// CR seen at the end of a trailer line.
    TrailerLf,
    /// CR seen on the final empty line.
    FinalLf,
}

/// What [`BodyTracker::feed`] made of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Leading bytes of the input that belong to this body; never more than
    /// the input, never past the end of the body.
    pub consumed: usize,
    /// The body is complete: the bytes after `consumed` belong to the next
    /// message.
    pub done: bool,
}

/// Follows one message body as it passes through: feed it the bytes after
/// the head, in pieces of any size, and it says how many belong to the
/// body and when it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyTracker {
    state: BodyState,
    side: Side,
    /// Bytes of the current chunk-size line or of the trailer section.
    line_len: u32,
}

impl BodyTracker {
    /// A tracker for a body framed as `framing` (a [`BodyFraming`] for a
    /// request, a [`RespFraming`] for a response). A tunnel is tracked as a
    /// body ending at close.
    pub fn new(framing: impl Into<Framing>) -> Self {
        let framing = framing.into();
        let (state, side) = match framing {
            Framing::Request(f) => (
                match f {
                    BodyFraming::None => BodyState::Done,
                    BodyFraming::ContentLength(n) => length(n),
                    BodyFraming::Chunked => BodyState::Chunked(ChunkPhase::SizeStart),
                },
                Side::Request,
            ),
            Framing::Response(f) => (
                match f {
                    RespFraming::None => BodyState::Done,
                    RespFraming::ContentLength(n) => length(n),
                    RespFraming::Chunked => BodyState::Chunked(ChunkPhase::SizeStart),
                    RespFraming::CloseDelimited | RespFraming::Tunnel => BodyState::UntilClose,
                },
                Side::Response,
            ),
        };
        BodyTracker {
            state,
            side,
            line_len: 0,
        }
    }

    /// Where the body is.
    pub fn state(&self) -> BodyState {
        self.state
    }

    /// The body is complete.
    pub fn is_done(&self) -> bool {
        self.state == BodyState::Done
    }

    /// Feeds the next bytes received after the head (or after what was
    /// consumed before). Returns how many leading bytes of `input` belong
    /// to the body and whether it is complete; bytes after the end are left
    /// alone. A close-delimited body consumes everything and is never done
    /// here: see [`eof`](Self::eof). Errors carry the side the tracker was
    /// made for (status 400 for a request, 502 for a response); once failed,
    /// the tracker keeps failing.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        self.feed_dechunked(input, |_| {})
    }

    /// Like [`feed`](Self::feed), and calls `data` with the range of
    /// `input` of every piece of body content it consumes: for a chunked
    /// body the chunk data only (no size lines, extensions, CRLFs or
    /// trailers), otherwise everything consumed. Ranges come in order and
    /// never overlap.
    pub fn feed_dechunked(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(std::ops::Range<usize>),
    ) -> Result<Progress, HttpError> {
        let consumed = match self.state {
            BodyState::Done => 0,
            BodyState::Failed(kind) => return Err(HttpError::new(kind, self.side)),
            BodyState::UntilClose => {
                if !input.is_empty() {
                    data(0..input.len());
                }
                input.len()
            }
            BodyState::Length { remaining } => {
                let n = clamp(remaining, input.len());
                self.state = length(remaining - n as u64);
                if n > 0 {
                    data(0..n);
                }
                n
            }
            BodyState::Chunked(phase) => match self.chunked(phase, input, &mut data) {
                Ok(n) => n,
                Err(kind) => {
                    self.state = BodyState::Failed(kind);
                    return Err(HttpError::new(kind, self.side));
                }
            },
        };
        Ok(Progress {
            consumed,
            done: self.is_done(),
        })
    }

    /// The peer closed its side: a close-delimited body is complete, any
    /// other unfinished body is truncated ([`ErrorKind::Truncated`]).
    pub fn eof(&mut self) -> Result<(), HttpError> {
        match self.state {
            BodyState::Done => Ok(()),
            BodyState::UntilClose => {
                self.state = BodyState::Done;
                Ok(())
            }
            BodyState::Failed(kind) => Err(HttpError::new(kind, self.side)),
            BodyState::Length { .. } | BodyState::Chunked(_) => {
                self.state = BodyState::Failed(ErrorKind::Truncated);
                Err(HttpError::new(ErrorKind::Truncated, self.side))
            }
        }
    }

    /// Runs the chunked state machine over `input`, from `phase`; returns
    /// the bytes consumed and leaves `self.state` where it stopped.
    fn chunked(
        &mut self,
        mut phase: ChunkPhase,
        input: &[u8],
        data: &mut impl FnMut(std::ops::Range<usize>),
    ) -> Result<usize, ErrorKind> {
        use ChunkPhase::*;
        use ErrorKind::*;
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            phase = match phase {
                // Data is skipped in bulk; every other phase eats `b`.
                Data { remaining } => {
                    let n = clamp(remaining, input.len() - i);
                    data(i..i + n);
                    i += n;
                    let left = remaining - n as u64;
                    phase = if left == 0 {
                        DataCr
                    } else {
                        Data { remaining: left }
                    };
                    continue;
                }
                SizeStart => match hex_val(b) {
                    Some(d) => {
                        self.line_len = 1;
                        Size {
                            size: u64::from(d),
                            digits: 1,
                        }
                    }
                    None if b == b'\r' || b == b'\n' => return Err(EmptyChunkSize),
                    None => return Err(InvalidChunkSize),
                },
                Size { size, digits } => {
                    self.line(1)?;
                    match hex_val(b) {
                        Some(d) => {
                            if digits >= MAX_CHUNK_SIZE_DIGITS {
                                return Err(ChunkSizeTooLong);
                            }
                            let size = (size << 4) | u64::from(d);
                            if size > MAX_CHUNK_SIZE {
                                return Err(ChunkSizeOverflow);
                            }
                            Size {
                                size,
                                digits: digits + 1,
                            }
                        }
                        None => self.after_size(size, b)?,
                    }
                }
                SizeWs { size } => {
                    self.line(1)?;
                    self.after_size(size, b)?
                }
                Ext { size } => {
                    self.line(1)?;
                    match b {
                        b'\r' => SizeLf { size },
                        b'\n' => return Err(BareLf),
                        0 => return Err(NulByte),
                        b'\t' | 0x20..=0x7e | 0x80..=0xff => Ext { size },
                        _ => return Err(InvalidChunkExtension),
                    }
                }
                SizeLf { size } => match b {
                    b'\n' if size == 0 => {
                        self.line_len = 0;
                        TrailerStart
                    }
                    b'\n' => Data { remaining: size },
                    _ => return Err(BareCr),
                },
                DataCr => match b {
                    b'\r' => DataLf,
                    b'\n' => return Err(BareLf),
                    _ => return Err(MissingChunkCrlf),
                },
                DataLf => match b {
                    b'\n' => SizeStart,
                    _ => return Err(MissingChunkCrlf),
                },
                TrailerStart => {
                    self.trailer(1)?;
                    match b {
                        b'\r' => FinalLf,
                        b'\n' => return Err(BareLf),
                        b' ' | b'\t' => return Err(ObsFold),
                        b':' => return Err(EmptyHeaderName),
                        0 => return Err(NulByte),
                        _ if is_tchar(b) => TrailerName,
                        _ => return Err(InvalidHeaderName),
                    }
                }
                TrailerName => {
                    self.trailer(1)?;
                    match b {
                        b':' => TrailerValue,
                        _ if is_tchar(b) => TrailerName,
                        b' ' | b'\t' => return Err(WhitespaceInHeaderName),
                        b'\r' | b'\n' => return Err(MissingColon),
                        0 => return Err(NulByte),
                        _ => return Err(InvalidHeaderName),
                    }
                }
                TrailerValue => {
                    self.trailer(1)?;
                    match b {
                        b'\r' => TrailerLf,
                        b'\n' => return Err(BareLf),
                        0 => return Err(NulByte),
                        b'\t' | 0x20..=0x7e | 0x80..=0xff => TrailerValue,
                        _ => return Err(InvalidHeaderValue),
                    }
                }
                TrailerLf => {
                    self.trailer(1)?;
                    match b {
                        b'\n' => TrailerStart,
                        _ => return Err(BareCr),
                    }
                }
                FinalLf => {
                    self.trailer(1)?;
                    match b {
                        b'\n' => {
                            self.state = BodyState::Done;
                            return Ok(i + 1);
                        }
                        _ => return Err(BareCr),
                    }
                }
            };
            i += 1;
        }
        self.state = BodyState::Chunked(phase);
        Ok(i)
    }

    /// After the size digits: whitespace, an extension or the line end.
    fn after_size(&mut self, size: u64, b: u8) -> Result<ChunkPhase, ErrorKind> {
        match b {
            b' ' | b'\t' => Ok(ChunkPhase::SizeWs { size }),
            b';' => Ok(ChunkPhase::Ext { size }),
            b'\r' => Ok(ChunkPhase::SizeLf { size }),
            b'\n' => Err(ErrorKind::BareLf),
            0 => Err(ErrorKind::NulByte),
            _ => Err(ErrorKind::InvalidChunkSize),
        }
    }

    fn line(&mut self, n: u32) -> Result<(), ErrorKind> {
        self.line_len += n;
        if self.line_len > MAX_CHUNK_LINE_LEN {
            return Err(ErrorKind::ChunkLineTooLong);
        }
        Ok(())
    }

    fn trailer(&mut self, n: u32) -> Result<(), ErrorKind> {
        self.line_len += n;
        if self.line_len > MAX_TRAILERS_LEN {
            return Err(ErrorKind::TrailersTooLarge);
        }
        Ok(())
    }
}

fn length(remaining: u64) -> BodyState {
    if remaining == 0 {
        BodyState::Done
    } else {
        BodyState::Length { remaining }
    }
}

/// `min(remaining, available)` as a byte count.
#[inline]
fn clamp(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}
