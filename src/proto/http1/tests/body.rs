//! Bodies: where they end however the bytes arrive, every chunked framing
//! error, and whole pipelined exchanges.

use super::*;
use ErrorKind::*;

/// What follows a body in the tests: the next message must never be eaten.
const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

/// Feeds `body` + `NEXT` in every way that matters and checks the body
/// ends exactly at `body.len()`.
fn assert_ends_at_body(framing: Framing, body: &[u8]) {
    let mut input = body.to_vec();
    input.extend_from_slice(NEXT);
    let s = show(body);
    // Whole, then every piece size.
    for step in [input.len(), 1, 2, 3, 5, 7, 64] {
        assert_eq!(
            track(framing, &input, step),
            Ok((body.len(), true)),
            "{s} step {step}"
        );
    }
    // Split in two at every position.
    for cut in 0..=input.len() {
        let mut t = BodyTracker::new(framing);
        let a = t.feed(&input[..cut]).unwrap();
        assert!(a.consumed <= cut);
        let total = if a.done {
            a.consumed
        } else {
            assert_eq!(a.consumed, cut, "{s} cut {cut}");
            let b = t.feed(&input[cut..]).unwrap();
            assert!(b.done, "{s} cut {cut}");
            cut + b.consumed
        };
        assert_eq!(total, body.len(), "{s} cut {cut}");
        // Done is sticky and eats nothing more.
        assert_eq!(
            t.feed(b"more").unwrap(),
            Progress {
                consumed: 0,
                done: true
            }
        );
        assert!(t.eof().is_ok());
    }
}

#[test]
fn content_length() {
    for n in [1usize, 5, 100, 4096] {
        let body = vec![b'x'; n];
        assert_ends_at_body(BodyFraming::ContentLength(n as u64).into(), &body);
        assert_ends_at_body(RespFraming::ContentLength(n as u64).into(), &body);
    }
    // Length 0 and no body: done before any byte.
    for f in [
        Framing::from(BodyFraming::ContentLength(0)),
        BodyFraming::None.into(),
        RespFraming::ContentLength(0).into(),
        RespFraming::None.into(),
    ] {
        let mut t = BodyTracker::new(f);
        assert!(t.is_done());
        assert_eq!(
            t.feed(NEXT).unwrap(),
            Progress {
                consumed: 0,
                done: true
            }
        );
    }
    // A huge length is counted down without overflow.
    let mut t = BodyTracker::new(BodyFraming::ContentLength(u64::MAX / 2));
    assert_eq!(
        t.feed(&[0; 10]).unwrap(),
        Progress {
            consumed: 10,
            done: false
        }
    );
    assert_eq!(
        t.state(),
        BodyState::Length {
            remaining: u64::MAX / 2 - 10
        }
    );
}

const CHUNKED_OK: &[&[u8]] = &[
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
    b"0005\r\nhello\r\n000\r\n\r\n",
    b"0000000000000005\r\nhello\r\n0\r\n\r\n",
    // Extensions.
    b"5;ext\r\nhello\r\n0\r\n\r\n",
    b"5;name=value\r\nhello\r\n0;last\r\n\r\n",
    b"5 ; a=b ;c=\"quoted; \\\"str\"\r\nhello\r\n0\r\n\r\n",
    b"5;x=\xc3\xa9\t\r\nhello\r\n0\r\n\r\n",
    // Whitespace after the size (HAProxy accepts it).
    b"5 \t\r\nhello\r\n0\r\n\r\n",
    // Data holding CR, LF and what looks like framing.
    b"3\r\n\r\n\n\r\n5\r\n0\r\n\r\n\r\n0\r\n\r\n",
    b"1\r\n\r\r\n0\r\n\r\n",
    // Trailers.
    b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n",
    b"0\r\nA: 1\r\nB:\r\nC:  spaced \t\r\nD: caf\xc3\xa9\r\n\r\n",
    b"0;e=1\r\nExpires: never\r\n\r\n",
];

#[test]
fn chunked_bodies_end_exactly() {
    for body in CHUNKED_OK {
        assert_ends_at_body(BodyFraming::Chunked.into(), body);
        assert_ends_at_body(RespFraming::Chunked.into(), body);
    }
}

#[test]
fn chunk_size_limits() {
    // 2^52 - 1 (HAProxy's bound) is accepted, 2^52 is not.
    let mut t = BodyTracker::new(BodyFraming::Chunked);
    let p = t.feed(b"fffffffffffff\r\nabc").unwrap();
    assert_eq!(
        p,
        Progress {
            consumed: 18,
            done: false
        }
    );
    assert_eq!(
        t.state(),
        BodyState::Chunked(ChunkPhase::Data {
            remaining: MAX_CHUNK_SIZE - 3
        })
    );
    assert_eq!(MAX_CHUNK_SIZE, 0xf_ffff_ffff_ffff);
    // 16 digits with leading zeros are fine, 17 are not.
    let mut t = BodyTracker::new(BodyFraming::Chunked);
    assert!(t.feed(b"000000000000000f\r\n").is_ok());
}

const CHUNKED_ERRORS: &[(&str, &[u8], ErrorKind)] = &[
    ("empty size", b"\r\n", EmptyChunkSize),
    ("empty size, bare LF", b"\n", EmptyChunkSize),
    ("empty size before extension", b";ext\r\n", InvalidChunkSize),
    ("negative", b"-5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
    ("plus sign", b"+5\r\n", InvalidChunkSize),
    ("0x prefix", b"0x10\r\n", InvalidChunkSize),
    ("non-hex", b"g\r\n", InvalidChunkSize),
    ("non-hex after digits", b"5g\r\nhello\r\n", InvalidChunkSize),
    ("leading space", b" 5\r\nhello\r\n", InvalidChunkSize),
    ("two sizes", b"5 5\r\nhello\r\n", InvalidChunkSize),
    (
        "17 hex digits",
        b"00000000000000005\r\nhello\r\n",
        ChunkSizeTooLong,
    ),
    ("2^52", b"10000000000000\r\n", ChunkSizeOverflow),
    ("2^64 - 1", b"ffffffffffffffff\r\n", ChunkSizeOverflow),
    (
        "CTL in extension",
        b"5;a\x01b\r\nhello\r\n0\r\n\r\n",
        InvalidChunkExtension,
    ),
    (
        "DEL in extension",
        b"5;a=\x7f\r\nhello\r\n",
        InvalidChunkExtension,
    ),
    ("NUL in extension", b"5;a\0\r\nhello\r\n", NulByte),
    ("NUL after size", b"5\0\r\nhello\r\n", NulByte),
    ("bare LF after size", b"5\nhello\r\n0\r\n\r\n", BareLf),
    ("bare LF in extension", b"5;a\nhello\r\n0\r\n\r\n", BareLf),
    ("bare LF after whitespace", b"5 \nhello\r\n", BareLf),
    ("bare CR after size", b"5\rhello\r\n", BareCr),
    (
        "data too long",
        b"5\r\nhelloX\r\n0\r\n\r\n",
        MissingChunkCrlf,
    ),
    ("data too short", b"5\r\nhel\r\n0\r\n\r\n", MissingChunkCrlf),
    ("bare LF after data", b"5\r\nhello\n0\r\n\r\n", BareLf),
    (
        "CR then garbage after data",
        b"5\r\nhello\rX0\r\n\r\n",
        MissingChunkCrlf,
    ),
    ("bare LF ending last chunk", b"0\n\r\n", BareLf),
    ("bare LF as final line", b"0\r\n\n", BareLf),
    ("bare CR as final line", b"0\r\n\rX", BareCr),
    ("bare LF ending trailer", b"0\r\nX: a\n\r\n", BareLf),
    ("bare CR in trailer", b"0\r\nX: a\rb\r\n\r\n", BareCr),
    (
        "trailer starting with space",
        b"0\r\n X: a\r\n\r\n",
        ObsFold,
    ),
    ("folded trailer", b"0\r\nX: a\r\n b\r\n\r\n", ObsFold),
    (
        "folded trailer with HTAB",
        b"0\r\nX: a\r\n\tb\r\n\r\n",
        ObsFold,
    ),
    (
        "space before colon in trailer",
        b"0\r\nX : a\r\n\r\n",
        WhitespaceInHeaderName,
    ),
    ("empty trailer name", b"0\r\n: a\r\n\r\n", EmptyHeaderName),
    (
        "invalid trailer name",
        b"0\r\nX(: a\r\n\r\n",
        InvalidHeaderName,
    ),
    ("trailer without colon", b"0\r\nX\r\n\r\n", MissingColon),
    ("NUL in trailer value", b"0\r\nX: a\0\r\n\r\n", NulByte),
    (
        "CTL in trailer value",
        b"0\r\nX: a\x01\r\n\r\n",
        InvalidHeaderValue,
    ),
];

#[test]
fn chunked_errors() {
    for &(name, body, kind) in CHUNKED_ERRORS {
        for step in [body.len(), 1, 2, 3] {
            assert_eq!(
                track(BodyFraming::Chunked, body, step),
                Err(kind),
                "{name} step {step}"
            );
        }
        // The side decides the status; the error sticks.
        let mut t = BodyTracker::new(BodyFraming::Chunked);
        let e = t.feed(body).unwrap_err();
        assert_eq!(
            (e.kind, e.side, e.status()),
            (kind, Side::Request, 400),
            "{name}"
        );
        assert_eq!(t.feed(b"0\r\n\r\n").unwrap_err(), e);
        assert_eq!(t.state(), BodyState::Failed(kind));
        let mut t = BodyTracker::new(RespFraming::Chunked);
        let e = t.feed(body).unwrap_err();
        assert_eq!(
            (e.kind, e.side, e.status()),
            (kind, Side::Response, 502),
            "{name}"
        );
    }
}

#[test]
fn chunked_length_limits() {
    let mut long_ext = b"5;".to_vec();
    long_ext.resize(MAX_CHUNK_LINE_LEN as usize, b'a');
    let mut t = BodyTracker::new(BodyFraming::Chunked);
    assert!(t.feed(&long_ext).is_ok());
    assert_eq!(t.feed(b"a").unwrap_err().kind, ChunkLineTooLong);

    let mut trailers = b"0\r\n".to_vec();
    let line = format!("X: {}\r\n", "v".repeat(95));
    while trailers.len() < MAX_TRAILERS_LEN as usize {
        trailers.extend_from_slice(line.as_bytes());
    }
    trailers.extend_from_slice(b"\r\n");
    assert_eq!(
        track(BodyFraming::Chunked, &trailers, 4096),
        Err(TrailersTooLarge)
    );
    // Just under the limit is fine.
    let mut ok = b"0\r\n".to_vec();
    ok.extend_from_slice(
        format!("X: {}\r\n", "v".repeat(MAX_TRAILERS_LEN as usize - 7)).as_bytes(),
    );
    ok.extend_from_slice(b"\r\n");
    assert_eq!(ok.len() - 3, MAX_TRAILERS_LEN as usize);
    assert_eq!(track(BodyFraming::Chunked, &ok, 1000), Ok((ok.len(), true)));
}

#[test]
fn close_delimited_and_truncation() {
    for f in [RespFraming::CloseDelimited, RespFraming::Tunnel] {
        let mut t = BodyTracker::new(f);
        assert_eq!(
            t.feed(NEXT).unwrap(),
            Progress {
                consumed: NEXT.len(),
                done: false
            }
        );
        assert_eq!(
            t.feed(b"").unwrap(),
            Progress {
                consumed: 0,
                done: false
            }
        );
        assert_eq!(t.state(), BodyState::UntilClose);
        assert!(t.eof().is_ok());
        assert!(t.is_done());
    }
    for (f, input) in [
        (Framing::from(BodyFraming::ContentLength(10)), &b"12345"[..]),
        (BodyFraming::Chunked.into(), b"5\r\nhel"),
        (RespFraming::Chunked.into(), b"0\r\n"),
    ] {
        let mut t = BodyTracker::new(f);
        t.feed(input).unwrap();
        let e = t.eof().unwrap_err();
        assert_eq!(e.kind, Truncated);
        assert_eq!(t.feed(b"x").unwrap_err(), e);
    }
}

/// A stream of pipelined requests, read the way the proxy will: parse a
/// head from what is buffered, follow its body, go on with the rest.
/// Returns (method, target, body bytes) per request.
fn read_requests(stream: &[u8]) -> Result<Vec<(String, String, Vec<u8>)>, ErrorKind> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let (line, head_len, framing) = with_request(&stream[pos..], |r| match r {
            Ok(Parsed::Complete(h)) => Ok((
                (h.method_str.to_string(), h.target.to_string()),
                h.head_len,
                h.framing,
            )),
            Ok(Parsed::Partial) => Err(Truncated),
            Err(e) => Err(e.kind),
        })?;
        pos += head_len;
        let mut t = BodyTracker::new(framing);
        let p = t.feed(&stream[pos..]).map_err(|e| e.kind)?;
        if !p.done {
            return Err(Truncated);
        }
        out.push((line.0, line.1, stream[pos..pos + p.consumed].to_vec()));
        pos += p.consumed;
    }
    Ok(out)
}

/// The same, with bytes arriving `step` at a time: heads are re-parsed as
/// the buffer grows, bodies are fed piece by piece.
fn read_requests_trickled(stream: &[u8], step: usize) -> Vec<(String, String, Vec<u8>)> {
    enum Phase {
        Head,
        Body(BodyTracker, String, String, Vec<u8>),
    }
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut phase = Phase::Head;
    for piece in stream.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match &mut phase {
                Phase::Head => {
                    let parsed = with_request(&buf, |r| match r {
                        Ok(Parsed::Complete(h)) => Some((
                            h.method_str.to_string(),
                            h.target.to_string(),
                            h.head_len,
                            h.framing,
                        )),
                        Ok(Parsed::Partial) => None,
                        Err(e) => panic!("{e}"),
                    });
                    let Some((m, t, len, framing)) = parsed else {
                        break;
                    };
                    buf.drain(..len);
                    phase = Phase::Body(BodyTracker::new(framing), m, t, Vec::new());
                }
                Phase::Body(tracker, m, t, body) => {
                    let p = tracker.feed(&buf).unwrap();
                    body.extend(buf.drain(..p.consumed));
                    if !p.done {
                        break;
                    }
                    out.push((std::mem::take(m), std::mem::take(t), std::mem::take(body)));
                    phase = Phase::Head;
                }
            }
        }
    }
    assert!(
        matches!(phase, Phase::Head) && buf.is_empty(),
        "stream not fully read"
    );
    out
}

#[test]
fn pipelined_requests() {
    let stream: &[u8] = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
        POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nwiki\r\n0\r\nT: 1\r\n\r\n\
        \r\n\
        PUT /4 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
        GET /5 HTTP/1.0\r\n\r\n";
    let expected = vec![
        ("GET".to_string(), "/1".to_string(), b"".to_vec()),
        ("POST".into(), "/2".into(), b"hello".to_vec()),
        (
            "POST".into(),
            "/3".into(),
            b"4;x\r\nwiki\r\n0\r\nT: 1\r\n\r\n".to_vec(),
        ),
        ("PUT".into(), "/4".into(), b"3\r\nabc\r\n0\r\n\r\n".to_vec()),
        ("GET".into(), "/5".into(), b"".to_vec()),
    ];
    assert_eq!(read_requests(stream), Ok(expected.clone()));
    for step in [1, 2, 3, 4, 7, 13, 64, 1024] {
        assert_eq!(
            read_requests_trickled(stream, step),
            expected,
            "step {step}"
        );
    }
}

/// The classic desyncs: whatever the client hides behind a body, we see
/// the same message boundaries as a strict parser, or refuse.
#[test]
fn smuggling_attempts() {
    // CL.TE: TE wins, the "smuggled" request is chunk data; the connection
    // is closed after (conn: Close).
    let cl_te = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG";
    req_ok(cl_te, |h| {
        assert_eq!(
            (h.framing, h.conn),
            (BodyFraming::Chunked, ConnIntent::Close)
        );
        let rest = &cl_te[h.head_len..];
        let p = BodyTracker::new(h.framing).feed(rest).unwrap();
        assert_eq!((p.consumed, p.done), (5, true));
    });
    // TE.CL with a chunk size hiding a request: chunked framing followed.
    let te_cl = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n";
    req_ok(te_cl, |h| {
        let rest = &te_cl[h.head_len..];
        let p = BodyTracker::new(h.framing).feed(rest).unwrap();
        assert_eq!((p.consumed, p.done), (rest.len(), false));
    });
    // Obfuscated TE is refused, not ignored.
    for te in [
        &b"Transfer-Encoding: xchunked"[..],
        b"Transfer-Encoding : chunked",
        b"Transfer-Encoding:\tchunked\x0b",
        b"Transfer-Encoding: chunked\r\nTransfer-encoding: cow",
        b" Transfer-Encoding: chunked",
        b"X: x\r\n Transfer-Encoding: chunked",
        b"Transfer_Encoding: chunked",
    ] {
        let mut r = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n".to_vec();
        r.extend_from_slice(te);
        r.extend_from_slice(b"\r\n\r\n");
        let got = with_request(&r, |x| format!("{x:?}"));
        assert!(
            got.starts_with("Err") || te.starts_with(b"Transfer_"),
            "{}: {got}",
            show(te)
        );
    }
    // Chunk-extension and line-end tricks ("funky chunks").
    for body in [
        &b"2;\nxx\r\n0\r\n\r\n"[..],
        b"2\nxx\r\n0\r\n\r\n",
        b"2\r\nxx\n0\r\n\r\n",
        b"2\r\nxx\r\n0\n\n",
        b"2;a=\"\n\"\r\nxx\r\n0\r\n\r\n",
        b"0\r\nX: y\n\r\n",
    ] {
        assert!(
            track(BodyFraming::Chunked, body, 1).is_err(),
            "{}",
            show(body)
        );
    }
}

/// De-chunks `input` fed in pieces of `step` bytes; returns the content
/// and whether the body ended.
fn dechunk(framing: Framing, input: &[u8], step: usize) -> (Vec<u8>, bool) {
    let mut t = BodyTracker::new(framing);
    let mut out = Vec::new();
    for piece in input.chunks(step) {
        let p = t
            .feed_dechunked(piece, |r| out.extend_from_slice(&piece[r]))
            .unwrap();
        if p.done {
            return (out, true);
        }
    }
    (out, false)
}

#[test]
fn dechunking_yields_the_content_alone_however_it_is_split() {
    let body: &[u8] = b"5;ext=1\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n";
    let mut input = body.to_vec();
    input.extend_from_slice(NEXT);
    for step in 1..=input.len() {
        assert_eq!(
            dechunk(Framing::Response(RespFraming::Chunked), &input, step),
            (b"hello world!".to_vec(), true),
            "step {step}"
        );
    }
    // Other framings report everything they consume.
    assert_eq!(
        dechunk(
            Framing::Response(RespFraming::ContentLength(5)),
            b"hello+next",
            3
        ),
        (b"hello".to_vec(), true)
    );
    assert_eq!(
        dechunk(
            Framing::Response(RespFraming::CloseDelimited),
            b"all of it",
            4
        ),
        (b"all of it".to_vec(), false)
    );
}
