//! HTTP health checks as pure functions: the request bytes, and the
//! verdict on the bytes received so far (HAProxy's
//! `tcpcheck_eval_expect_http`, with its statuses and info messages).

use crate::config::{ExpectMatch, HttpCheck, HttpExpect};
use crate::proto::http1::{
    BodyTracker, EMPTY_HEADER, MAX_HEADERS, Method, Parsed, RequestContext, RespFraming, Version,
    parse_response,
};

use super::state::CheckStatus;

/// The request of `hc`: request line, configured headers, `Connection:
/// close` (one response is read, then the connection closed), and the body
/// with its length.
pub fn build_request(hc: &HttpCheck) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", hc.method, hc.uri, hc.version).into_bytes();
    for (name, value) in &hc.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n");
    if !hc.body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", hc.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(hc.body.as_bytes());
    out
}

/// The verdict on an HTTP check's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: CheckStatus,
    pub code: Option<u16>,
    pub desc: String,
}

impl Verdict {
    fn new(status: CheckStatus, code: Option<u16>, desc: &str) -> Verdict {
        Verdict {
            status,
            code,
            desc: desc.to_string(),
        }
    }
}

/// HAProxy's info for a connection closed before any byte of response
/// (the first expect rule of an `option httpchk` rule set is its step 2).
pub const EMPTY_RESPONSE: &str = "TCPCHK got an empty response at step 2";

/// Judges the response bytes received so far. `None`: read more. `eof`: the
/// server closed (or reset after sending some bytes); `full`: the receive
/// bound is reached. Either makes the verdict final on what was received,
/// as HAProxy's `last_read` does.
///
/// The head is parsed with the proxy's strict response parser (an invalid
/// head is `L7RSP`, as HAProxy's parsing error); interim 1xx answers are
/// skipped. The body is only waited for when a rule looks at it; it is then
/// de-chunked, and a missing or empty one fails such a rule as HAProxy does.
pub fn assess(buf: &[u8], eof: bool, full: bool, hc: &HttpCheck) -> Option<Verdict> {
    let version = if hc.version == "HTTP/1.1" {
        Version::Http11
    } else {
        Version::Http10
    };
    let req = RequestContext::new(Method::from_bytes(hc.method.as_bytes()), version);
    let last_read = eof || full;
    let mut start = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        let mut slots = [EMPTY_HEADER; MAX_HEADERS];
        let (code, reason, head_len, framing) = match parse_response(rest, &mut slots, req) {
            Err(_) => return Some(Verdict::new(CheckStatus::L7Rsp, None, "")),
            Ok(Parsed::Partial) if !last_read => return None,
            Ok(Parsed::Partial) if buf.is_empty() => {
                return Some(Verdict::new(CheckStatus::L7Rsp, None, EMPTY_RESPONSE));
            }
            Ok(Parsed::Partial) => return Some(Verdict::new(CheckStatus::L7Rsp, None, "")),
            Ok(Parsed::Complete(head)) if head.is_interim() => {
                start += head.head_len;
                continue;
            }
            Ok(Parsed::Complete(head)) => (
                head.status,
                head.reason.to_string(),
                head.head_len,
                head.framing,
            ),
        };
        let needs_body = hc.expects.iter().any(|e| e.matcher.needs_body());
        let body = if needs_body {
            let raw = rest.get(head_len..).unwrap_or_default();
            match body_so_far(raw, framing, eof, last_read) {
                BodyRead::More => return None,
                BodyRead::Invalid => return Some(Verdict::new(CheckStatus::L7Rsp, Some(code), "")),
                BodyRead::Body(b) => b,
            }
        } else {
            Vec::new()
        };
        return Some(evaluate(&hc.expects, code, &reason, &body));
    }
}

enum BodyRead {
    More,
    Invalid,
    Body(Vec<u8>),
}

/// The de-chunked body once complete, or as far as received when no more
/// will be read.
fn body_so_far(raw: &[u8], framing: RespFraming, eof: bool, last_read: bool) -> BodyRead {
    let mut tracker = BodyTracker::new(framing);
    let mut body = Vec::new();
    let fed = tracker.feed_dechunked(raw, |r| {
        body.extend_from_slice(raw.get(r).unwrap_or_default());
    });
    if fed.is_err() {
        return BodyRead::Invalid;
    }
    if !tracker.is_done() {
        if eof && tracker.eof().is_ok() {
            // Close-delimited: complete now.
        } else if !last_read {
            return BodyRead::More;
        }
    }
    BodyRead::Body(body)
}

/// Applies every rule in order to a final response; the first failing rule
/// gives the verdict, with HAProxy's status and info.
pub fn evaluate(expects: &[HttpExpect], code: u16, reason: &str, body: &[u8]) -> Verdict {
    for e in expects {
        let (matched, fail_status, info) = match &e.matcher {
            ExpectMatch::Status(ranges) => (
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code)),
                CheckStatus::L7Sts,
                reason,
            ),
            ExpectMatch::Rstatus(re) => (
                re.is_match(format!("{code:03}").as_bytes()),
                CheckStatus::L7Sts,
                reason,
            ),
            ExpectMatch::String(_) | ExpectMatch::Rstring(_) if body.is_empty() => {
                return Verdict::new(
                    CheckStatus::L7Rsp,
                    Some(code),
                    "HTTP content check could not find a response body",
                );
            }
            ExpectMatch::String(s) => (contains(body, s.as_bytes()), CheckStatus::L7Rsp, ""),
            ExpectMatch::Rstring(re) => (re.is_match(body), CheckStatus::L7Rsp, ""),
        };
        if matched == e.inverse {
            let info = match (&e.matcher, e.inverse) {
                (ExpectMatch::String(_) | ExpectMatch::Rstring(_), true) => {
                    "HTTP check matched unwanted content"
                }
                (ExpectMatch::String(_) | ExpectMatch::Rstring(_), false) => {
                    "HTTP content check did not match"
                }
                _ => info,
            };
            return Verdict::new(fail_status, Some(code), info);
        }
    }
    Verdict::new(CheckStatus::L7Ok, Some(code), "")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
