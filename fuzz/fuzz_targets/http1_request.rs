//! Fuzzes the HTTP/1 request parser and the body tracker with arbitrary
//! bytes, checking the contract the HTTP mode relies on: no panic, the head
//! and the body never reach past the buffer, outcomes stable under
//! appending, the body ends at the same byte however it is split, and an
//! accepted head rebuilt for forwarding parses back as the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringproxy::proto::http1::{
    BodyTracker, EMPTY_HEADER, HeadWriter, MAX_HEADERS, Parsed, RequestHead, parse_request,
};

/// What must survive a rebuild of the head.
fn meaning(h: &RequestHead<'_>) -> String {
    format!(
        "{:?}",
        (
            h.method, h.target, h.version, h.framing, h.host, h.conn, h.upgrade
        )
    )
}

/// Feeds `rest` to a tracker in two pieces cut at `cut`; returns the bytes
/// of the body and whether it ended, or the error.
fn track(h: &RequestHead<'_>, rest: &[u8], cut: usize) -> Result<(usize, bool), String> {
    let mut t = BodyTracker::new(h.framing);
    let first = t.feed(&rest[..cut]).map_err(|e| e.to_string())?;
    assert!(first.consumed <= cut, "consumed past the input");
    if first.done {
        return Ok((first.consumed, true));
    }
    assert_eq!(
        first.consumed, cut,
        "stopped before the end without being done"
    );
    let second = t.feed(&rest[cut..]).map_err(|e| e.to_string())?;
    assert!(
        second.consumed <= rest.len() - cut,
        "consumed past the input"
    );
    assert_eq!(second.done, t.is_done());
    Ok((cut + second.consumed, second.done))
}

fuzz_target!(|data: &[u8]| {
    let seed = data.last().map_or(0, |&b| usize::from(b));
    let mut slots = [EMPTY_HEADER; MAX_HEADERS];
    let whole = parse_request(data, &mut slots);
    let outcome = format!("{whole:?}");

    // An error or a complete head on a prefix is final.
    let cut = seed % (data.len() + 1);
    let mut prefix_slots = [EMPTY_HEADER; MAX_HEADERS];
    match parse_request(&data[..cut], &mut prefix_slots) {
        Ok(Parsed::Partial) => {}
        early => assert_eq!(format!("{early:?}"), outcome, "prefix of {cut} bytes"),
    }

    let Ok(Parsed::Complete(h)) = whole else {
        return;
    };
    assert!(h.head_len <= data.len());
    assert!(h.headers.len() <= MAX_HEADERS);

    // The body ends at the same byte whole or split anywhere.
    let rest = &data[h.head_len..];
    let at_once = track(&h, rest, rest.len());
    for cut in [0, 1, seed % (rest.len() + 1), rest.len() / 2] {
        if cut <= rest.len() {
            assert_eq!(track(&h, rest, cut), at_once, "body split at {cut}");
        }
    }

    // What would be forwarded reads back as the same message.
    let mut out = Vec::new();
    let mut w = HeadWriter::request(&mut out, h.method_str, h.target, h.version)
        .expect("a parsed request line is writable");
    w.end_to_end(h.headers, h.upgrade.is_some())
        .expect("parsed fields are writable");
    w.connection(h.version, h.conn, h.upgrade.is_some());
    w.finish();
    let mut again = [EMPTY_HEADER; MAX_HEADERS];
    match parse_request(&out, &mut again) {
        Ok(Parsed::Complete(h2)) => {
            assert_eq!(meaning(&h2), meaning(&h));
            assert_eq!(h2.head_len, out.len());
            assert!(!h2.te_cl_conflict);
        }
        other => panic!("rebuilt head refused: {other:?}"),
    }
});
