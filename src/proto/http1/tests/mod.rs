//! Tests of the HTTP/1 core, one file per part; most are tables of inputs
//! with the exact outcome expected.

use super::*;

mod body;
mod edit;
mod garbage;
mod request;
mod response;
mod status;

/// Shows bytes readably in assertion messages.
fn show(buf: &[u8]) -> String {
    buf.escape_ascii().to_string()
}

/// Parses `buf` as a request with a full set of slots and hands the outcome
/// to `f`.
fn with_request<R>(
    buf: &[u8],
    f: impl FnOnce(Result<Parsed<RequestHead<'_>>, HttpError>) -> R,
) -> R {
    let mut slots = [EMPTY_HEADER; MAX_HEADERS];
    f(parse_request(buf, &mut slots))
}

/// Parses `buf` as a response to `req`.
fn with_response<R>(
    buf: &[u8],
    req: RequestContext,
    f: impl FnOnce(Result<Parsed<ResponseHead<'_>>, HttpError>) -> R,
) -> R {
    let mut slots = [EMPTY_HEADER; MAX_HEADERS];
    f(parse_response(buf, &mut slots, req))
}

/// The request must parse completely; `f` inspects it.
fn req_ok<R>(buf: &[u8], f: impl FnOnce(&RequestHead<'_>) -> R) -> R {
    with_request(buf, |r| match r {
        Ok(Parsed::Complete(h)) => f(&h),
        other => panic!("{}: expected a request, got {other:?}", show(buf)),
    })
}

/// The request must be refused; returns why (after checking side and 400).
fn req_err(buf: &[u8]) -> ErrorKind {
    with_request(buf, |r| match r {
        Err(e) => {
            assert_eq!(e.side, Side::Request);
            assert_eq!(e.status(), 400);
            e.kind
        }
        Ok(p) => panic!("{}: expected an error, got {p:?}", show(buf)),
    })
}

fn resp_ok<R>(buf: &[u8], req: RequestContext, f: impl FnOnce(&ResponseHead<'_>) -> R) -> R {
    with_response(buf, req, |r| match r {
        Ok(Parsed::Complete(h)) => f(&h),
        other => panic!("{}: expected a response, got {other:?}", show(buf)),
    })
}

fn resp_err(buf: &[u8], req: RequestContext) -> ErrorKind {
    with_response(buf, req, |r| match r {
        Err(e) => {
            assert_eq!(e.side, Side::Response);
            assert_eq!(e.status(), 502);
            e.kind
        }
        Ok(p) => panic!("{}: expected an error, got {p:?}", show(buf)),
    })
}

/// A plain GET/1.1 context.
fn get11() -> RequestContext {
    RequestContext::new(Method::Get, Version::Http11)
}

/// Feeds `input` to a tracker in pieces of `step` bytes (the last one
/// shorter); returns the bytes consumed in total and whether the body is
/// done, or the first error. Checks each `consumed` against its piece.
fn track(
    framing: impl Into<Framing>,
    input: &[u8],
    step: usize,
) -> Result<(usize, bool), ErrorKind> {
    let mut t = BodyTracker::new(framing);
    let mut total = 0;
    let mut pos = 0;
    while pos < input.len() {
        let end = (pos + step).min(input.len());
        let p = t.feed(&input[pos..end]).map_err(|e| e.kind)?;
        assert!(p.consumed <= end - pos, "consumed past the piece");
        total += p.consumed;
        if p.done {
            assert!(t.is_done());
            return Ok((total, true));
        }
        assert_eq!(p.consumed, end - pos, "stopped early without being done");
        pos = end;
    }
    Ok((total, t.is_done()))
}
