//! Hundreds of thousands of random and mutated messages: the parsers and
//! the body tracker never panic, never consume past their input, give the
//! same outcome however the bytes are split, and what they accept rebuilds
//! into a head they read the same way.

use super::*;

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Pieces random messages are made of, so that many get past the first
/// bytes and exercise the deep states.
const WORDS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"CONNECT",
    b"OPTIONS",
    b"HEAD",
    b" ",
    b"  ",
    b"/",
    b"*",
    b"/a?b",
    b"http://a/",
    b"a:443",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"\t",
    b":",
    b",",
    b";",
    b"Host: a",
    b"Host: b",
    b"Content-Length: ",
    b"Transfer-Encoding: ",
    b"chunked",
    b"gzip",
    b"Connection: ",
    b"close",
    b"keep-alive",
    b"upgrade",
    b"Upgrade: ws",
    b"Expect: 100-continue",
    b"0",
    b"5",
    b"a",
    b"ffffffffffff",
    b"hello",
    b"X: y",
    b"\x80",
    b"\x7f",
    b"\xff",
    b"#",
    b"@",
    b"HTTP/1.1 ",
    b"200 OK",
    b"101 ",
    b"204",
    b"304",
    b"100",
];

const VALID: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET http://a:80/x HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    b"OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n",
    b"\r\nGET /a HTTP/1.1\nHost: a\nContent-Length: 007, 7\n\n1234567GET / HTTP/1.1\r\nHost: a\r\n\r\n",
];

/// Bytes that matter to framing, for mutations.
const SPICY: &[u8] = b"\r\n\0 \t:,;0123456789abcdefxX-#@\x7f\x80\xff";

/// Random words and bytes; most of the time shaped as a start line, header
/// lines, an empty line and a body, so that the deep states are reached.
fn random_message(rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    let words = |rng: &mut Rng, v: &mut Vec<u8>, max: usize| {
        for _ in 0..rng.below(max) {
            if rng.below(5) == 0 {
                v.push(rng.next() as u8);
            } else {
                v.extend_from_slice(rng.pick(WORDS));
            }
        }
    };
    if rng.below(4) == 0 {
        words(rng, &mut v, 40);
        return v;
    }
    v.extend_from_slice(rng.pick(&[&b"GET"[..], b"POST", b"CONNECT", b"OPTIONS", b"PUT"]));
    v.push(b' ');
    v.extend_from_slice(rng.pick(&[
        &b"/"[..],
        b"/a?b",
        b"*",
        b"http://a/",
        b"http://a:80",
        b"a:443",
    ]));
    v.push(b' ');
    v.extend_from_slice(rng.pick(&[&b"HTTP/1.1"[..], b"HTTP/1.0"]));
    v.extend_from_slice(b"\r\n");
    for _ in 0..rng.below(6) {
        v.extend_from_slice(rng.pick(&[
            &b"Host: a"[..],
            b"Host: ",
            b"Content-Length: ",
            b"Transfer-Encoding: ",
            b"Transfer-Encoding: chunked",
            b"Content-Length: 5",
            b"Connection: ",
            b"Upgrade: ",
            b"Expect: ",
            b"X: ",
        ]));
        words(rng, &mut v, 3);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    words(rng, &mut v, 12);
    v
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if at < v.len() => v[at] = rng.pick(SPICY),
            1 => v.insert(at, rng.pick(SPICY)),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 => {
                let len = rng.below(8).min(v.len() - at);
                let piece = v[at..at + len].to_vec();
                v.splice(at..at, piece);
            }
            4 => v.truncate(at),
            _ => {
                let w = rng.pick(WORDS);
                v.splice(at..at, w.iter().copied());
            }
        }
    }
    v
}

/// Follows the body after a head in random pieces, checking `consumed`,
/// and compares with feeding it all at once.
fn follow_body(rng: &mut Rng, framing: Framing, rest: &[u8]) {
    let mut t = BodyTracker::new(framing);
    let mut pos = 0;
    let piecewise = loop {
        if pos == rest.len() {
            break Ok((pos, t.is_done()));
        }
        let end = pos + 1 + rng.below(rest.len() - pos);
        match t.feed(&rest[pos..end]) {
            Ok(p) => {
                assert!(p.consumed <= end - pos);
                assert_eq!(p.done, t.is_done());
                if p.done {
                    break Ok((pos + p.consumed, true));
                }
                assert_eq!(p.consumed, end - pos);
                pos = end;
            }
            Err(e) => {
                assert_eq!(t.feed(b"x"), Err(e));
                break Err(e.kind);
            }
        }
    };
    let at_once = BodyTracker::new(framing)
        .feed(rest)
        .map(|p| {
            assert!(p.consumed <= rest.len());
            (p.consumed, p.done)
        })
        .map_err(|e| e.kind);
    assert_eq!(piecewise, at_once, "{framing:?} {}", show(rest));
    let _ = t.eof();
}

/// Checks everything on one buffer.
fn check(rng: &mut Rng, buf: &[u8]) {
    let whole = with_request(buf, |r| format!("{r:?}"));
    // Any prefix is Partial or already the final outcome.
    let cut = rng.below(buf.len() + 1);
    let prefix = with_request(&buf[..cut], |r| format!("{r:?}"));
    assert!(
        prefix == "Ok(Partial)" || prefix == whole,
        "{}: {prefix} vs {whole}",
        show(buf)
    );

    let reparsed = with_request(buf, |r| {
        let Ok(Parsed::Complete(h)) = r else {
            return None;
        };
        assert!(h.head_len <= buf.len());
        assert!(h.headers.len() <= MAX_HEADERS);
        follow_body(rng, h.framing.into(), &buf[h.head_len..]);
        // What we would forward parses back the same.
        let mut out = Vec::new();
        let mut w = HeadWriter::request(&mut out, h.method_str, h.target, h.version).unwrap();
        w.end_to_end(h.headers, h.upgrade.is_some()).unwrap();
        w.connection(h.version, h.conn, h.upgrade.is_some());
        w.finish();
        Some((
            out,
            format!(
                "{:?}",
                (h.method, h.target, h.version, h.framing, h.host, h.conn)
            ),
        ))
    });
    if let Some((out, first)) = reparsed {
        let second = req_ok(&out, |h| {
            format!(
                "{:?}",
                (h.method, h.target, h.version, h.framing, h.host, h.conn)
            )
        });
        assert_eq!(first, second, "{}", show(buf));
    }

    // The same bytes as a response, to some request.
    let method = rng.pick(&[Method::Get, Method::Head, Method::Connect, Method::Post]);
    let version = rng.pick(&[Version::Http10, Version::Http11]);
    let req = RequestContext {
        method,
        version,
        upgrade_requested: rng.below(2) == 0,
    };
    let mut resp = b"HTTP/1.1 ".to_vec();
    resp.extend_from_slice(buf);
    for b in [&resp[..], buf] {
        with_response(b, req, |r| {
            if let Ok(Parsed::Complete(h)) = r {
                assert!(h.head_len <= b.len());
                follow_body(rng, h.framing.into(), &b[h.head_len..]);
            }
        });
    }
}

#[test]
fn random_buffers_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..200_000 {
        let buf = random_message(&mut rng);
        check(&mut rng, &buf);
    }
}

#[test]
fn mutated_requests_never_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..100_000 {
        let base = rng.pick(VALID);
        let buf = mutate(&mut rng, base);
        check(&mut rng, &buf);
    }
}

/// Random bytes straight into the body tracker, every framing.
#[test]
fn random_bodies_never_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let framings = [
        Framing::from(BodyFraming::Chunked),
        RespFraming::Chunked.into(),
        BodyFraming::ContentLength(17).into(),
        RespFraming::CloseDelimited.into(),
    ];
    for _ in 0..50_000 {
        let mut body = Vec::new();
        for _ in 0..rng.below(30) {
            match rng.below(3) {
                0 => body.push(rng.pick(SPICY)),
                1 => body.extend_from_slice(rng.pick(&[
                    &b"\r\n"[..],
                    b"0\r\n\r\n",
                    b"5\r\nhello\r\n",
                    b"X: y\r\n",
                    b";e",
                ])),
                _ => body.push(rng.next() as u8),
            }
        }
        let framing = rng.pick(&framings);
        follow_body(&mut rng, framing, &body);
    }
}
