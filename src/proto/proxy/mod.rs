//! PROXY protocol codec, versions 1 (text) and 2 (binary), as specified by
//! HAProxy's `doc/proxy-protocol.txt`.
//!
//! A peer that sits in front of us (another load balancer, a TLS terminator)
//! prepends one PROXY header to a connection to tell us who the real client
//! is. [`decode`] classifies the bytes received so far; [`encode_v1`] and
//! [`encode_v2`] build the header we prepend when talking to servers that
//! expect one.
//!
//! Contract of [`decode`], which the listener relies on:
//!
//! - It is a pure function of the bytes given and never panics, whatever they
//!   are. Call it again with the same buffer plus whatever arrived since; it
//!   keeps no state.
//! - [`Decoded::Partial`] means every byte so far is a prefix of some valid
//!   header (grammar and length limits included), so waiting is useful.
//!   Otherwise decoding fails on the first byte that makes a valid header
//!   impossible, without waiting for a line end or a full length: the spec
//!   asks receivers to abort as soon as possible, and a client that is not
//!   speaking PROXY at all must not be able to park a connection in our
//!   accept path.
//! - Outcomes are stable under appending: once a buffer yields an error or a
//!   complete header, any longer buffer starting with the same bytes yields
//!   the same error or the same header. A caller may therefore decode
//!   whatever it has buffered without worrying about how reads were split.
//! - `Complete { consumed, .. }` never exceeds the buffer length; the bytes
//!   after `consumed` belong to the proxied stream and must be forwarded.
//! - The longest header accepted is [`MAX_V2_LEN`] bytes, so a fixed receive
//!   buffer of that size can always hold a header that may be accepted.
//!
//! What the header means for access control (only trusted peers may send
//! it; the spec forbids guessing whether one is present) is the listener's
//! business, not this module's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Addresses advertised by a PROXY header. `None` in `Header::addrs` means the
/// sender asked us to keep the connection's real addresses (v1 "UNKNOWN", v2
/// LOCAL command, or v2 AF_UNSPEC / AF_UNIX which we cannot represent).
///
/// The version is kept for logs: it tells the operator which format the
/// upstream is configured to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    pub addrs: Option<Addrs>,
}

/// Which of the two wire formats carried the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Human-readable line starting with `PROXY `.
    V1,
    /// Binary header starting with the 12-byte v2 signature.
    V2,
}

/// The original connection's endpoints as seen by the sender: `src` is the
/// client, `dst` is the address the client connected to.
///
/// Addresses are reported exactly as advertised: an IPv4-mapped IPv6 address
/// stays IPv6 (use `IpAddr::to_canonical` to fold it), and both ends always
/// have the same family when they come from [`decode`]. IPv6 flow info and
/// scope id are not carried by the protocol and are always zero after
/// decoding; encoders ignore them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// What the bytes received so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A whole header: `consumed` bytes belong to it; anything after is
    /// payload.
    Complete { header: Header, consumed: usize },
    /// Every byte so far is a valid prefix of a header; read more.
    /// `need_at_least` = minimum total length known so far: never more than
    /// the shortest valid header starting with these bytes, always more than
    /// the buffer length, at most [`MAX_V2_LEN`]. A caller may therefore
    /// wait for that many bytes before decoding again, or read exactly the
    /// missing count without ever taking payload bytes off the socket.
    Partial { need_at_least: usize },
}

/// Why a buffer cannot start with a valid PROXY header. Each variant names
/// the first rule the bytes broke, so a debug log tells the operator which
/// side is misconfigured. Every error is final: more bytes cannot fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Neither `PROXY ` nor the v2 signature: the peer is not speaking the
    /// PROXY protocol (typically a client connecting directly, or a sender
    /// not configured to send a header).
    BadSignature,
    /// v1: no valid CRLF-terminated line fits in [`MAX_V1_LEN`] bytes.
    V1TooLong,
    /// v1: the protocol field is not `TCP4`, `TCP6` or `UNKNOWN`.
    V1BadProtocol,
    /// v1: an address is not valid text for the announced family (an IPv6
    /// address under `TCP4` lands here). IPv4 follows the spec strictly: no
    /// leading zeros, exactly four parts.
    V1BadAddress,
    /// v1: a port is not 1 to 5 decimal digits with a value in 0..=65535.
    V1BadPort,
    /// v1: the line's shape is wrong: missing or extra fields, a separator
    /// other than exactly one space, or a line ending other than CRLF (a bare
    /// CR or LF is rejected as the spec requires).
    V1Malformed,
    /// v2: the version nibble of byte 13 is not 2.
    V2BadVersion,
    /// v2: the command nibble of byte 13 is neither LOCAL (0) nor PROXY (1).
    V2BadCommand,
    /// v2: the address family nibble of byte 14 is not UNSPEC, INET, INET6 or
    /// UNIX.
    V2BadFamily,
    /// v2: the transport nibble of byte 14 is not UNSPEC, STREAM or DGRAM.
    V2BadTransport,
    /// v2: the length field is smaller than the address block of the
    /// announced family (12 for INET, 36 for INET6, 216 for UNIX).
    V2LengthTooShort,
    /// v2: the header would be longer than [`MAX_V2_LEN`]; reported as soon
    /// as the length field is known so we never buffer such a header.
    V2TooLong,
    /// v2: the bytes after the address block are not a sequence of whole
    /// TLVs (a TLV header is cut short or a value overruns the header).
    V2BadTlv,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadSignature => {
                f.write_str("not a PROXY protocol header (no v1 or v2 signature)")
            }
            Error::V1TooLong => write!(
                f,
                "PROXY v1 line has no valid CRLF end within {MAX_V1_LEN} bytes"
            ),
            Error::V1BadProtocol => f.write_str("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN"),
            Error::V1BadAddress => {
                f.write_str("PROXY v1 address is invalid or does not match the protocol family")
            }
            Error::V1BadPort => f.write_str("PROXY v1 port is not a decimal number in 0..=65535"),
            Error::V1Malformed => {
                f.write_str("malformed PROXY v1 line (wrong field count, separator or line ending)")
            }
            Error::V2BadVersion => f.write_str("PROXY v2 header version is not 2"),
            Error::V2BadCommand => f.write_str("PROXY v2 command is neither LOCAL nor PROXY"),
            Error::V2BadFamily => {
                f.write_str("PROXY v2 address family is not UNSPEC, INET, INET6 or UNIX")
            }
            Error::V2BadTransport => {
                f.write_str("PROXY v2 transport protocol is not UNSPEC, STREAM or DGRAM")
            }
            Error::V2LengthTooShort => {
                f.write_str("PROXY v2 length is shorter than the announced family's address block")
            }
            Error::V2TooLong => write!(
                f,
                "PROXY v2 header is longer than the {MAX_V2_LEN} bytes we accept"
            ),
            Error::V2BadTlv => {
                f.write_str("PROXY v2 TLV region is truncated or overruns the header length")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Longest v1 line the spec allows, CRLF included:
/// `PROXY UNKNOWN <39-char IPv6> <39-char IPv6> 65535 65535\r\n`. A line
/// needing more is [`Error::V1TooLong`], and an encoder output buffer of this
/// size always suffices for [`encode_v1`].
pub const MAX_V1_LEN: usize = 107;

/// Longest header [`decode`] accepts: the 16-byte fixed part plus 4 KiB of
/// address block and TLVs.
///
/// The spec allows 16 + 65535 bytes, but no sender needs that: the largest
/// address block (AF_UNIX) is 216 bytes and the TLVs real senders emit (ALPN,
/// authority, SSL details, cloud endpoint ids, unique id of at most 128
/// bytes) are well under 1 KiB. Capping at 4 KiB lets the listener receive
/// the header into a small fixed buffer per connection and refuse, on the
/// 16th byte, a peer that announces more, instead of holding up to 64 KiB
/// per pending connection. A longer header is [`Error::V2TooLong`].
pub const MAX_V2_LEN: usize = V2_HEADER_LEN + 4096;

/// Largest header [`encode_v2`] writes: 16-byte fixed part plus the 36-byte
/// INET6 address block (no TLVs are ever emitted).
pub const V2_ENCODED_MAX: usize = V2_HEADER_LEN + V2_INET6_BLOCK;

const V1_SIGNATURE: &[u8; 6] = b"PROXY ";
/// Shortest v1 header, `PROXY UNKNOWN\r\n`: the least any v1 prefix can need.
const V1_MIN_LEN: usize = 15;
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_HEADER_LEN: usize = 16;
const V2_INET_BLOCK: usize = 12;
const V2_INET6_BLOCK: usize = 36;
const V2_UNIX_BLOCK: usize = 216;

/// Classifies the bytes received on a connection that must start with a
/// PROXY header (v1 or v2, detected from the first byte).
///
/// See the module documentation for the guarantees (fail-fast errors,
/// stability under appending, `consumed <= buf.len()`, never panics).
///
/// Policies where the spec leaves a choice:
///
/// - v1 ports may carry leading zeros (HAProxy accepts them) but at most five
///   digits, the field width the spec's 107-byte budget assumes.
/// - v1 addresses may use any textual form the standard library accepts for
///   the family, including IPv6 with an embedded dotted IPv4 tail (what
///   `inet_ntop` emits for mapped addresses); the line must still fit in
///   [`MAX_V1_LEN`] bytes.
/// - v2 LOCAL: the family byte and the whole block are ignored, as the spec
///   says ("discard the protocol block including the family"), and the
///   `len` bytes are consumed.
/// - v2 PROXY with an UNSPEC family or transport: the block's layout is
///   unknown, so its `len` bytes are skipped unread and `addrs` is `None`.
/// - v2 PROXY over AF_UNIX: the 216-byte block is required and skipped;
///   `addrs` is `None` since a `SocketAddr` cannot hold a path.
/// - v2 DGRAM over INET/INET6 is accepted and its addresses reported like
///   STREAM ones: [`Header`] does not carry the transport because we only
///   proxy TCP, so the listener should not expect to tell them apart.
/// - v2 TLVs after a known address block are walked to check that they
///   tile the rest of the header exactly, and a region that does not (a
///   truncated TLV header or a value running past `len`) is rejected with
///   [`Error::V2BadTlv`], as HAProxy does: the length field guarantees the
///   whole region has been received, so a bad one means a broken sender
///   rather than a short read. Their contents are not interpreted; in
///   particular a `PP2_TYPE_CRC32C` checksum is not verified, which the spec
///   permits for receivers that do not implement it.
pub fn decode(buf: &[u8]) -> Result<Decoded, Error> {
    match buf.first() {
        None => Ok(Decoded::Partial {
            need_at_least: V1_MIN_LEN,
        }),
        Some(b'P') => {
            let n = buf.len().min(V1_SIGNATURE.len());
            if buf[..n] != V1_SIGNATURE[..n] {
                Err(Error::BadSignature)
            } else if n < V1_SIGNATURE.len() {
                Ok(Decoded::Partial {
                    need_at_least: V1_MIN_LEN,
                })
            } else {
                decode_v1(buf)
            }
        }
        Some(b'\r') => {
            let n = buf.len().min(V2_SIGNATURE.len());
            if buf[..n] != V2_SIGNATURE[..n] {
                Err(Error::BadSignature)
            } else {
                decode_v2(buf)
            }
        }
        Some(_) => Err(Error::BadSignature),
    }
}

// ---------------------------------------------------------------------------
// v1 decoding

/// The v1 line's fields after `PROXY `, by position.
const V1_PROTO: usize = 0;
const V1_DST_ADDR: usize = 2;
const V1_DPORT: usize = 4;

/// Result of checking the text between `PROXY ` and the line end (or the end
/// of the buffer when no line end has arrived yet).
struct V1Body {
    /// Set only for a complete `TCP4`/`TCP6` body.
    addrs: Option<Addrs>,
    /// For an incomplete body: the fewest bytes that must follow it to form a
    /// valid line, CRLF included. Exact, so it drives both `need_at_least`
    /// and the 107-byte budget.
    min_rest: usize,
}

/// A broken rule and the offset (within the body) of the first byte that
/// broke it: `body[..offset]` is still a valid incomplete body.
type V1Fail = (Error, usize);

fn decode_v1(buf: &[u8]) -> Result<Decoded, Error> {
    let start = V1_SIGNATURE.len();
    // A CR at index MAX_V1_LEN - 1 or later would push the LF past the limit,
    // so only the first MAX_V1_LEN - 1 bytes can hold the line end.
    let scan_end = buf.len().min(MAX_V1_LEN - 1);
    let line_end = buf[start..scan_end]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|p| start + p);

    let Some(end) = line_end else {
        let body = &buf[start..scan_end];
        let checked = check_v1_body(body, false).map_err(|fail| v1_error(body, fail))?;
        let need = scan_end + checked.min_rest;
        return if need > MAX_V1_LEN {
            Err(Error::V1TooLong)
        } else {
            Ok(Decoded::Partial {
                need_at_least: need,
            })
        };
    };

    let body = &buf[start..end];
    let checked = check_v1_body(body, true).map_err(|fail| v1_error(body, fail))?;
    if buf[end] != b'\r' {
        return Err(Error::V1Malformed);
    }
    match buf.get(end + 1) {
        None => Ok(Decoded::Partial {
            need_at_least: end + 2,
        }),
        Some(b'\n') => Ok(Decoded::Complete {
            header: Header {
                version: Version::V1,
                addrs: checked.addrs,
            },
            consumed: end + 2,
        }),
        Some(_) => Err(Error::V1Malformed),
    }
}

/// Turns a grammar failure into the error of the earliest offending byte: if
/// the line was already over budget before the byte that broke the grammar,
/// the line is too long rather than malformed. This keeps errors stable when
/// the same bytes arrive in more pieces.
fn v1_error(body: &[u8], (error, offset): V1Fail) -> Error {
    let over_budget = body
        .get(..offset)
        .and_then(|valid| check_v1_body(valid, false).ok())
        .is_some_and(|v| V1_SIGNATURE.len() + offset + v.min_rest > MAX_V1_LEN);
    if over_budget { Error::V1TooLong } else { error }
}

/// Checks the body of a v1 line. `complete` says whether a line end follows
/// `body`; if not, the last field may still grow.
fn check_v1_body(body: &[u8], complete: bool) -> Result<V1Body, V1Fail> {
    let mut v6 = false;
    let mut ips = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); 2];
    let mut ports = [0u16; 2];
    let mut start = 0;
    let mut field = V1_PROTO;
    loop {
        let end = body[start..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(body.len(), |p| start + p);
        let tok = &body[start..end];
        let closed = end < body.len() || complete;
        if field > V1_DPORT {
            // A sixth field: the space that opened it is the offending byte.
            return Err((Error::V1Malformed, start.saturating_sub(1)));
        }
        if closed && tok.is_empty() {
            return Err((Error::V1Malformed, start));
        }
        match field {
            V1_PROTO => {
                let bad = || (Error::V1BadProtocol, start + keyword_prefix_len(tok));
                if !closed {
                    return proto_min_rest(tok)
                        .map(|min_rest| V1Body {
                            addrs: None,
                            min_rest,
                        })
                        .ok_or_else(bad);
                }
                match tok {
                    b"UNKNOWN" => {
                        // Anything up to the line end is ignored, per spec.
                        return Ok(V1Body {
                            addrs: None,
                            min_rest: 2,
                        });
                    }
                    b"TCP4" => v6 = false,
                    b"TCP6" => v6 = true,
                    _ => return Err(bad()),
                }
            }
            1..=V1_DST_ADDR => {
                let bad = || (Error::V1BadAddress, start + ip_prefix_len(tok, v6));
                if !closed {
                    let grow = ip_min_completion(tok, v6).ok_or_else(bad)?;
                    return Ok(V1Body {
                        addrs: None,
                        min_rest: grow + v1_min_tail(field, v6),
                    });
                }
                ips[field - 1] = parse_ip(tok, v6).ok_or_else(bad)?;
            }
            // Ports; fields past the destination port returned above.
            _ => {
                let valid = port_prefix_len(tok);
                if valid < tok.len() {
                    return Err((Error::V1BadPort, start + valid));
                }
                if !closed {
                    return Ok(V1Body {
                        addrs: None,
                        min_rest: usize::from(tok.is_empty()) + v1_min_tail(field, v6),
                    });
                }
                ports[field - 3] = parse_port(tok);
            }
        }
        if end == body.len() {
            break;
        }
        start = end + 1;
        field += 1;
    }
    // Only a complete body gets here; it must have had all five fields.
    if field < V1_DPORT {
        return Err((Error::V1Malformed, body.len()));
    }
    Ok(V1Body {
        addrs: Some(Addrs {
            src: SocketAddr::new(ips[0], ports[0]),
            dst: SocketAddr::new(ips[1], ports[1]),
        }),
        min_rest: 2,
    })
}

/// Fewest bytes needed after a finished field `field` of a TCP line: the
/// shortest remaining fields with their separators, then CRLF.
fn v1_min_tail(field: usize, v6: bool) -> usize {
    let min_addr = if v6 { "::".len() } else { "0.0.0.0".len() };
    (field + 1..=V1_DPORT)
        .map(|f| 1 + if f <= V1_DST_ADDR { min_addr } else { 1 })
        .sum::<usize>()
        + 2
}

const V1_KEYWORDS: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];

/// Longest prefix of `tok` that is a prefix of some protocol keyword.
fn keyword_prefix_len(tok: &[u8]) -> usize {
    V1_KEYWORDS
        .iter()
        .map(|k| k.iter().zip(tok).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0)
}

/// For an unfinished protocol field: fewest bytes completing the line, or
/// `None` if no keyword starts with `tok`.
fn proto_min_rest(tok: &[u8]) -> Option<usize> {
    V1_KEYWORDS
        .iter()
        .filter(|k| k.starts_with(tok))
        .map(|k| {
            let tail = match *k {
                b"TCP4" => v1_min_tail(V1_PROTO, false),
                b"TCP6" => v1_min_tail(V1_PROTO, true),
                _ => 2,
            };
            k.len() - tok.len() + tail
        })
        .min()
}

/// Longest textual address of a family: IPv4 `255.255.255.255`, IPv6 with a
/// dotted tail `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const fn max_ip_text(v6: bool) -> usize {
    if v6 { 45 } else { 15 }
}

fn parse_ip(text: &[u8], v6: bool) -> Option<IpAddr> {
    if text.len() > max_ip_text(v6) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    if v6 {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

/// For an unfinished address: the fewest bytes that turn `prefix` into a
/// valid address of the family, or `None` if none can.
///
/// Validity is delegated to the standard parser, tried on `prefix` followed
/// by each suffix below, shortest first. The lists are complete: whatever
/// state a valid prefix is in (inside a hex group, after one or two colons,
/// inside or after an octet of a dotted tail), one of these suffixes is a
/// shortest way to finish it. The `address_prefix_check_is_exact` test
/// checks this against brute force.
fn ip_min_completion(prefix: &[u8], v6: bool) -> Option<usize> {
    const V4: &[&[u8]] = &[
        b"", b"0", b".0", b"0.0", b".0.0", b"0.0.0", b".0.0.0", b"0.0.0.0",
    ];
    const V6: &[&[u8]] = &[
        b"", b"0", b":", b"::", b".0", b"0.0", b".0.0", b"0.0.0", b".0.0.0",
    ];
    let max = max_ip_text(v6);
    let allowed =
        |b: &u8| b.is_ascii_digit() || *b == b'.' || (v6 && (b.is_ascii_hexdigit() || *b == b':'));
    if prefix.len() > max || !prefix.iter().all(allowed) {
        return None;
    }
    let mut scratch = [0u8; 45];
    scratch[..prefix.len()].copy_from_slice(prefix);
    let suffixes = if v6 { V6 } else { V4 };
    suffixes.iter().find_map(|suffix| {
        let total = prefix.len() + suffix.len();
        if total > max {
            return None;
        }
        scratch[prefix.len()..total].copy_from_slice(suffix);
        parse_ip(&scratch[..total], v6).map(|_| suffix.len())
    })
}

/// Longest prefix of `tok` that can still become an address of the family.
fn ip_prefix_len(tok: &[u8], v6: bool) -> usize {
    (0..=tok.len().min(max_ip_text(v6)))
        .rev()
        .find(|&n| ip_min_completion(&tok[..n], v6).is_some())
        .unwrap_or(0)
}

/// Longest prefix of `tok` that can still become a port: at most five
/// decimal digits whose value stays within 0..=65535.
fn port_prefix_len(tok: &[u8]) -> usize {
    let mut value = 0u32;
    for (i, &b) in tok.iter().enumerate() {
        if i == 5 || !b.is_ascii_digit() {
            return i;
        }
        value = value * 10 + u32::from(b - b'0');
        if value > u32::from(u16::MAX) {
            return i;
        }
    }
    tok.len()
}

/// Value of a port already checked by [`port_prefix_len`] (wrapping
/// arithmetic only so that no input can make it panic).
fn parse_port(tok: &[u8]) -> u16 {
    tok.iter().fold(0u16, |v, &b| {
        v.wrapping_mul(10)
            .wrapping_add(u16::from(b.wrapping_sub(b'0')))
    })
}

// ---------------------------------------------------------------------------
// v2 decoding

/// How the address block of a v2 PROXY command is laid out.
#[derive(Clone, Copy)]
enum V2Block {
    Inet,
    Inet6,
    Unix,
    /// UNSPEC family or transport: layout unknown, skip `len` bytes unread.
    Unspec,
}

impl V2Block {
    fn from_byte(fam: u8) -> Result<V2Block, Error> {
        let (family, transport) = (fam >> 4, fam & 0x0f);
        if family > 3 {
            return Err(Error::V2BadFamily);
        }
        if transport > 2 {
            return Err(Error::V2BadTransport);
        }
        Ok(match (family, transport) {
            (0, _) | (_, 0) => V2Block::Unspec,
            (1, _) => V2Block::Inet,
            (2, _) => V2Block::Inet6,
            _ => V2Block::Unix,
        })
    }

    fn block_len(self) -> usize {
        match self {
            V2Block::Inet => V2_INET_BLOCK,
            V2Block::Inet6 => V2_INET6_BLOCK,
            V2Block::Unix => V2_UNIX_BLOCK,
            V2Block::Unspec => 0,
        }
    }
}

fn decode_v2(buf: &[u8]) -> Result<Decoded, Error> {
    let fixed_part = Ok(Decoded::Partial {
        need_at_least: V2_HEADER_LEN,
    });
    let Some(&ver_cmd) = buf.get(12) else {
        return fixed_part;
    };
    if ver_cmd >> 4 != 2 {
        return Err(Error::V2BadVersion);
    }
    let proxy = match ver_cmd & 0x0f {
        0 => false,
        1 => true,
        _ => return Err(Error::V2BadCommand),
    };
    let Some(&fam) = buf.get(13) else {
        return fixed_part;
    };
    // LOCAL ignores the family byte entirely (see `decode`).
    let block = if proxy {
        Some(V2Block::from_byte(fam)?)
    } else {
        None
    };
    let Some(&[hi, lo]) = buf.get(14..16).and_then(|b| b.first_chunk::<2>()) else {
        return fixed_part;
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let total = V2_HEADER_LEN + len;
    if total > MAX_V2_LEN {
        return Err(Error::V2TooLong);
    }
    if block.is_some_and(|b| len < b.block_len()) {
        return Err(Error::V2LengthTooShort);
    }
    let Some(body) = buf.get(V2_HEADER_LEN..total) else {
        return Ok(Decoded::Partial {
            need_at_least: total,
        });
    };
    let addrs = match block {
        None | Some(V2Block::Unspec) => None,
        Some(block) => {
            let (addr_block, tlvs) = body
                .split_at_checked(block.block_len())
                .ok_or(Error::V2LengthTooShort)?;
            check_tlvs(tlvs)?;
            match block {
                V2Block::Inet => read_inet::<4>(addr_block).map(|(src, dst, sp, dp)| Addrs {
                    src: SocketAddr::new(Ipv4Addr::from(src).into(), sp),
                    dst: SocketAddr::new(Ipv4Addr::from(dst).into(), dp),
                }),
                V2Block::Inet6 => read_inet::<16>(addr_block).map(|(src, dst, sp, dp)| Addrs {
                    src: SocketAddr::new(Ipv6Addr::from(src).into(), sp),
                    dst: SocketAddr::new(Ipv6Addr::from(dst).into(), dp),
                }),
                V2Block::Unix | V2Block::Unspec => None,
            }
        }
    };
    Ok(Decoded::Complete {
        header: Header {
            version: Version::V2,
            addrs,
        },
        consumed: total,
    })
}

/// Splits an INET/INET6 block: source address, destination address, source
/// port, destination port, all in network order.
fn read_inet<const N: usize>(block: &[u8]) -> Option<([u8; N], [u8; N], u16, u16)> {
    let (src, rest) = block.split_first_chunk::<N>()?;
    let (dst, rest) = rest.split_first_chunk::<N>()?;
    let (sport, rest) = rest.split_first_chunk::<2>()?;
    let (dport, _) = rest.split_first_chunk::<2>()?;
    Some((
        *src,
        *dst,
        u16::from_be_bytes(*sport),
        u16::from_be_bytes(*dport),
    ))
}

/// Checks that `region` is a whole number of TLVs (type, 16-bit big-endian
/// length, value), without interpreting them.
fn check_tlvs(mut region: &[u8]) -> Result<(), Error> {
    while !region.is_empty() {
        let Some(([_kind, hi, lo], rest)) = region.split_first_chunk::<3>() else {
            return Err(Error::V2BadTlv);
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        region = rest.get(len..).ok_or(Error::V2BadTlv)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Encoding

/// Writes the v1 line advertising `addrs` into `out` and returns its length.
/// `None` writes `PROXY UNKNOWN\r\n`, which asks the receiver to use the
/// connection's real addresses.
///
/// `TCP4` is used when both ends are IPv4, `TCP6` otherwise: a mixed pair is
/// sent as TCP6 with the IPv4 end as an IPv4-mapped address, since one line
/// carries one family. IPv6 addresses are written in RFC 5952 form with
/// hexadecimal groups only (never a dotted IPv4 tail), the strict form the
/// spec describes, so receivers stricter than us accept them too.
///
/// # Panics
///
/// If `out` is shorter than [`MAX_V1_LEN`]: the requirement does not depend
/// on `addrs`, so a too-small buffer fails on the first call rather than on
/// the first IPv6 client.
pub fn encode_v1(addrs: Option<&Addrs>, out: &mut [u8]) -> usize {
    assert!(
        out.len() >= MAX_V1_LEN,
        "encode_v1 needs a buffer of at least MAX_V1_LEN bytes"
    );
    let mut w = Writer { out, len: 0 };
    match addrs.map(same_family) {
        None => w.put(b"PROXY UNKNOWN\r\n"),
        Some((src, dst)) => {
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    w.put(b"PROXY TCP4 ");
                    w.put_ipv4(s);
                    w.put(b" ");
                    w.put_ipv4(d);
                }
                (s, d) => {
                    w.put(b"PROXY TCP6 ");
                    w.put_ipv6(as_v6(s));
                    w.put(b" ");
                    w.put_ipv6(as_v6(d));
                }
            }
            w.put(b" ");
            w.put_dec(src.port());
            w.put(b" ");
            w.put_dec(dst.port());
            w.put(b"\r\n");
        }
    }
    w.len
}

/// Writes the v2 header advertising `addrs` into `out` and returns its
/// length. `None` writes a LOCAL header (the receiver keeps the connection's
/// real addresses, as for our own health checks).
///
/// A PROXY header is always STREAM (we only proxy TCP), INET when both ends
/// are IPv4 and INET6 otherwise, mapping a lone IPv4 end like
/// [`encode_v1`]. No TLVs are written.
///
/// # Panics
///
/// If `out` is shorter than [`V2_ENCODED_MAX`], whatever `addrs` is.
pub fn encode_v2(addrs: Option<&Addrs>, out: &mut [u8]) -> usize {
    assert!(
        out.len() >= V2_ENCODED_MAX,
        "encode_v2 needs a buffer of at least V2_ENCODED_MAX bytes"
    );
    let mut w = Writer { out, len: 0 };
    w.put(V2_SIGNATURE);
    match addrs.map(same_family) {
        None => {
            // Version 2, LOCAL; UNSPEC family and transport; no block.
            w.put(&[0x20, 0x00, 0, 0]);
        }
        Some((src, dst)) => {
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    w.put(&[0x21, 0x11]);
                    w.put(&(V2_INET_BLOCK as u16).to_be_bytes());
                    w.put(&s.octets());
                    w.put(&d.octets());
                }
                (s, d) => {
                    w.put(&[0x21, 0x21]);
                    w.put(&(V2_INET6_BLOCK as u16).to_be_bytes());
                    w.put(&as_v6(s).octets());
                    w.put(&as_v6(d).octets());
                }
            }
            w.put(&src.port().to_be_bytes());
            w.put(&dst.port().to_be_bytes());
        }
    }
    w.len
}

/// Both ends in one family: unchanged if they already agree, otherwise the
/// IPv4 end becomes IPv4-mapped IPv6.
fn same_family(addrs: &Addrs) -> (SocketAddr, SocketAddr) {
    if addrs.src.is_ipv4() == addrs.dst.is_ipv4() {
        (addrs.src, addrs.dst)
    } else {
        let widen = |a: SocketAddr| SocketAddr::new(IpAddr::V6(as_v6(a.ip())), a.port());
        (widen(addrs.src), widen(addrs.dst))
    }
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Appends to a buffer whose size the encoders checked up front.
struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn put_dec(&mut self, mut v: u16) {
        let mut digits = [0u8; 5];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }

    fn put_hex(&mut self, v: u16) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let nibble = usize::from((v >> shift) & 0xf);
            if started || nibble != 0 || shift == 0 {
                started = true;
                self.put(&[HEX[nibble]]);
            }
        }
    }

    fn put_ipv4(&mut self, ip: Ipv4Addr) {
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.put(b".");
            }
            self.put_dec(u16::from(octet));
        }
    }

    /// RFC 5952: lowercase, no leading zeros, the longest run of two or more
    /// zero groups (leftmost on a tie) replaced by `::`.
    fn put_ipv6(&mut self, ip: Ipv6Addr) {
        let groups = ip.segments();
        let (mut run_start, mut run_len) = (groups.len(), 0);
        let mut i = 0;
        while i < groups.len() {
            let start = i;
            while i < groups.len() && groups[i] == 0 {
                i += 1;
            }
            if i - start > run_len.max(1) {
                (run_start, run_len) = (start, i - start);
            }
            i = i.max(start + 1);
        }
        let put_groups = |w: &mut Self, groups: &[u16]| {
            for (i, &g) in groups.iter().enumerate() {
                if i > 0 {
                    w.put(b":");
                }
                w.put_hex(g);
            }
        };
        if run_len == 0 {
            put_groups(self, &groups);
        } else {
            put_groups(self, &groups[..run_start]);
            self.put(b"::");
            put_groups(self, &groups[run_start + run_len..]);
        }
    }
}

#[cfg(test)]
mod tests;
