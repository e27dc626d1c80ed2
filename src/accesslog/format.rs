//! HAProxy's `option tcplog` and `option httplog` lines, byte for byte.
//!
//! The formats are HAProxy's default log-format strings (log.c,
//! `default_tcp_log_format` and `default_http_log_format`; configuration.txt
//! 8.2.2 and 8.2.3):
//!
//! ```text
//! tcplog:  %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
//! httplog: %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r
//! ```
//!
//! rendered as HAProxy's `sess_build_logline` renders them:
//!
//! - `%ci` is the address as glibc's `inet_ntop` prints it (IPv6 without
//!   brackets, `::ffff:1.2.3.4` for mapped addresses), then `:` and `%cp`.
//! - `%t` is the accept date, `%tr` the request date (accept date + `Ti` +
//!   `Th` when `Ti` is known), both `dd/Mmm/yyyy:hh:mm:ss.sss` in local time.
//! - `%ft` is the frontend name, followed by `~` when the listener is TLS.
//! - `%s` is `<NOSRV>` when no server was assigned.
//! - Timers print `-1` when the step was not reached (any negative value
//!   here prints as `-1`). With `option logasap`, `%Tt`, `%Ta` and `%B`
//!   get a `+` prefix.
//! - `%ST` prints `-1` when there is no status (no response).
//! - `%CC`/`%CS` print `-` when no cookie was captured.
//! - `%ts` is 2 characters, `%tsc` 4 (the last two are the cookie state,
//!   `--` when the backend has no cookie).
//! - `%rc` is prefixed with `+` when the stream was redispatched.
//! - `%hr`/`%hs` print `{c1|c2}` only when captures are configured, each
//!   value encoded with `#XX` for `"#{|}`, controls and bytes >= 127; when
//!   none are configured the field and its separator disappear (HAProxy
//!   collapses consecutive separators).
//! - `%{+Q}r` is the request line in quotes, `#XX`-encoding `"`, `#`,
//!   controls and bytes >= 127, or `"<BADREQ>"` when there is none.
//!
//! Formatting appends to the caller's `Vec<u8>` and allocates nothing
//! itself: once the vector has grown to the largest line, it never
//! reallocates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

use super::clock::{self, DateCache};

/// Everything one tcplog or httplog line says. Values are the ones to print:
/// the data plane computes HAProxy's derived timers (`%TR = t_request -
/// t_idle - t_handshake`, `%Tw = t_queue - t_request`, ...) before filling
/// this. Timers are milliseconds; negative means "not reached" (`-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// `%ci:%cp`
    pub client: SocketAddr,
    /// Accept date, milliseconds since the Unix epoch (see
    /// [`clock::unix_ms`]).
    pub accept_ms: i64,
    /// `%ft` (without the `~`)
    pub frontend: &'a str,
    /// The listener is TLS: `%ft` gets a `~`.
    pub frontend_ssl: bool,
    /// `%b`
    pub backend: &'a str,
    /// `%s`: None prints `<NOSRV>`. Applets use their names (`<STATS>`...).
    pub server: Option<&'a str>,
    /// `%Th`: handshake time; only used for `%tr`.
    pub t_handshake: i64,
    /// `%Ti`: idle time before the request; only used for `%tr` (`%tr` is
    /// the accept date when it is negative).
    pub t_idle: i64,
    /// `%TR`: time to receive the request (httplog).
    pub t_request: i64,
    /// `%Tw`: time waiting in queues.
    pub t_queue: i64,
    /// `%Tc`: time to connect to the server.
    pub t_connect: i64,
    /// `%Tr`: server response time (httplog).
    pub t_response: i64,
    /// `%Ta`: active time of the request (httplog).
    pub t_active: i64,
    /// `%Tt`: total session time (tcplog).
    pub t_total: i64,
    /// `%ST`: None prints `-1`.
    pub status: Option<u16>,
    /// `%B`: bytes sent to the client.
    pub bytes_read: u64,
    /// `option logasap`: `%Tt`, `%Ta` and `%B` get a `+` prefix.
    pub logasap: bool,
    /// `%ts`: termination cause and session state at disconnection
    /// (`--` for a normal end).
    pub term: [u8; 2],
    /// The cookie part of `%tsc` (`--` when the backend uses no cookie).
    pub cookie_term: [u8; 2],
    /// `%CC`: captured request cookie; None or empty prints `-`.
    pub client_cookie: Option<&'a [u8]>,
    /// `%CS`: captured response cookie; None or empty prints `-`.
    pub server_cookie: Option<&'a [u8]>,
    /// `%ac`: process-wide active connections.
    pub actconn: u32,
    /// `%fc`: frontend connections.
    pub feconn: u32,
    /// `%bc`: backend connections.
    pub beconn: u32,
    /// `%sc`: server connections (0 without a server).
    pub srv_conn: u32,
    /// `%rc`: connection retries.
    pub retries: u32,
    /// Redispatched to another server: `%rc` gets a `+` prefix.
    pub redispatched: bool,
    /// `%sq`: position in the server queue.
    pub srv_queue: u32,
    /// `%bq`: position in the backend queue.
    pub backend_queue: u32,
    /// `%hr`: one entry per `capture request header` (None: not seen);
    /// empty when none is configured.
    pub req_captures: &'a [Option<&'a [u8]>],
    /// `%hs`: the same for `capture response header`.
    pub res_captures: &'a [Option<&'a [u8]>],
    /// `%r`: the request line as received (HAProxy keeps up to
    /// `tune.http.logurilen`, 1024 bytes); None prints `<BADREQ>`.
    pub request_line: Option<&'a [u8]>,
}

impl<'a> LogRecord<'a> {
    /// A record with every other field at its "nothing happened" value:
    /// timers -1, counters 0, no server, no status, `--` states, no
    /// captures, no request line.
    pub fn new(
        client: SocketAddr,
        accept_ms: i64,
        frontend: &'a str,
        backend: &'a str,
    ) -> LogRecord<'a> {
        LogRecord {
            client,
            accept_ms,
            frontend,
            frontend_ssl: false,
            backend,
            server: None,
            t_handshake: 0,
            t_idle: -1,
            t_request: -1,
            t_queue: -1,
            t_connect: -1,
            t_response: -1,
            t_active: -1,
            t_total: -1,
            status: None,
            bytes_read: 0,
            logasap: false,
            term: *b"--",
            cookie_term: *b"--",
            client_cookie: None,
            server_cookie: None,
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srv_conn: 0,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            backend_queue: 0,
            req_captures: &[],
            res_captures: &[],
            request_line: None,
        }
    }

    /// Sets `accept_ms` from a `SystemTime`.
    pub fn with_accept_date(mut self, t: SystemTime) -> Self {
        self.accept_ms = clock::unix_ms(t);
        self
    }

    /// `%tr`'s instant: accept date + `Ti` + `Th` when `Ti` is known.
    pub fn request_ms(&self) -> i64 {
        if self.t_idle >= 0 {
            self.accept_ms + self.t_idle + self.t_handshake
        } else {
            self.accept_ms
        }
    }
}

/// Appends the `option tcplog` line for `rec` (no trailing newline), with
/// this thread's date cache.
pub fn format_tcplog(rec: &LogRecord<'_>, out: &mut Vec<u8>) {
    clock::with_thread_cache(|dates| format_tcplog_with(dates, rec, out));
}

/// Appends the `option httplog` line for `rec` (no trailing newline), with
/// this thread's date cache.
pub fn format_httplog(rec: &LogRecord<'_>, out: &mut Vec<u8>) {
    clock::with_thread_cache(|dates| format_httplog_with(dates, rec, out));
}

/// [`format_tcplog`] with an explicit date cache.
pub fn format_tcplog_with(dates: &mut DateCache, rec: &LogRecord<'_>, out: &mut Vec<u8>) {
    // %ci:%cp [%t] %ft %b/%s
    head(dates, rec, rec.accept_ms, out);
    // %Tw/%Tc/%Tt
    push_timer(out, rec.t_queue);
    out.push(b'/');
    push_timer(out, rec.t_connect);
    out.push(b'/');
    if rec.logasap {
        out.push(b'+');
    }
    push_timer(out, rec.t_total);
    out.push(b' ');
    // %B
    push_bytes(out, rec);
    out.push(b' ');
    // %ts
    out.extend_from_slice(&rec.term);
    out.push(b' ');
    // %ac/%fc/%bc/%sc/%rc %sq/%bq
    counters(rec, out);
}

/// [`format_httplog`] with an explicit date cache.
pub fn format_httplog_with(dates: &mut DateCache, rec: &LogRecord<'_>, out: &mut Vec<u8>) {
    // %ci:%cp [%tr] %ft %b/%s
    head(dates, rec, rec.request_ms(), out);
    // %TR/%Tw/%Tc/%Tr/%Ta
    push_timer(out, rec.t_request);
    out.push(b'/');
    push_timer(out, rec.t_queue);
    out.push(b'/');
    push_timer(out, rec.t_connect);
    out.push(b'/');
    push_timer(out, rec.t_response);
    out.push(b'/');
    if rec.logasap {
        out.push(b'+');
    }
    push_timer(out, rec.t_active);
    out.push(b' ');
    // %ST
    match rec.status {
        Some(s) => push_u64(out, u64::from(s)),
        None => out.extend_from_slice(b"-1"),
    }
    out.push(b' ');
    // %B
    push_bytes(out, rec);
    out.push(b' ');
    // %CC %CS
    push_text(out, rec.client_cookie);
    out.push(b' ');
    push_text(out, rec.server_cookie);
    out.push(b' ');
    // %tsc
    out.extend_from_slice(&rec.term);
    out.extend_from_slice(&rec.cookie_term);
    out.push(b' ');
    // %ac/%fc/%bc/%sc/%rc %sq/%bq
    counters(rec, out);
    // " %hr %hs %{+Q}r": an empty capture block emits nothing and HAProxy
    // never writes two separators in a row, so each block brings its own
    // leading space.
    if !rec.req_captures.is_empty() {
        out.push(b' ');
        push_captures(out, rec.req_captures);
    }
    if !rec.res_captures.is_empty() {
        out.push(b' ');
        push_captures(out, rec.res_captures);
    }
    out.extend_from_slice(b" \"");
    match rec.request_line {
        Some(r) => push_encoded(out, r, &URL_ENCODE),
        None => out.extend_from_slice(b"<BADREQ>"),
    }
    out.push(b'"');
}

/// `%ci:%cp [date] %ft %b/%s ` (with the trailing space).
fn head(dates: &mut DateCache, rec: &LogRecord<'_>, date_ms: i64, out: &mut Vec<u8>) {
    push_ip(out, rec.client.ip());
    out.push(b':');
    push_u64(out, u64::from(rec.client.port()));
    out.extend_from_slice(b" [");
    dates.push_log_date(date_ms, out);
    out.extend_from_slice(b"] ");
    out.extend_from_slice(rec.frontend.as_bytes());
    if rec.frontend_ssl {
        out.push(b'~');
    }
    out.push(b' ');
    out.extend_from_slice(rec.backend.as_bytes());
    out.push(b'/');
    out.extend_from_slice(rec.server.unwrap_or("<NOSRV>").as_bytes());
    out.push(b' ');
}

fn push_bytes(out: &mut Vec<u8>, rec: &LogRecord<'_>) {
    if rec.logasap {
        out.push(b'+');
    }
    push_u64(out, rec.bytes_read);
}

/// `%ac/%fc/%bc/%sc/%rc %sq/%bq`
fn counters(rec: &LogRecord<'_>, out: &mut Vec<u8>) {
    push_u64(out, u64::from(rec.actconn));
    out.push(b'/');
    push_u64(out, u64::from(rec.feconn));
    out.push(b'/');
    push_u64(out, u64::from(rec.beconn));
    out.push(b'/');
    push_u64(out, u64::from(rec.srv_conn));
    out.push(b'/');
    if rec.redispatched {
        out.push(b'+');
    }
    push_u64(out, u64::from(rec.retries));
    out.push(b' ');
    push_u64(out, u64::from(rec.srv_queue));
    out.push(b'/');
    push_u64(out, u64::from(rec.backend_queue));
}

/// HAProxy's `lf_text` with the default (mandatory) option: `-` when empty.
fn push_text(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) if !v.is_empty() => out.extend_from_slice(v),
        _ => out.push(b'-'),
    }
}

fn push_captures(out: &mut Vec<u8>, caps: &[Option<&[u8]>]) {
    out.push(b'{');
    for (i, c) in caps.iter().enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        if let Some(c) = c {
            push_encoded(out, c, &HDR_ENCODE);
        }
    }
    out.push(b'}');
}

/// Bytes that HAProxy encodes as `#XX`: controls and >= 127, plus `extra`.
const fn encode_map(extra: &[u8]) -> [bool; 256] {
    let mut m = [false; 256];
    let mut i = 0;
    while i < 256 {
        m[i] = i < 32 || i >= 127;
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        m[extra[j] as usize] = true;
        j += 1;
    }
    m
}

/// log.c `url_encode_map`: for `%r`.
static URL_ENCODE: [bool; 256] = encode_map(b"\"#");
/// log.c `hdr_encode_map`: for `%hr`/`%hs`.
static HDR_ENCODE: [bool; 256] = encode_map(b"\"#{|}");

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// HAProxy's `encode_string` with `#` as the escape character.
fn push_encoded(out: &mut Vec<u8>, s: &[u8], map: &[bool; 256]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if map[b as usize] {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(&[b'#', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&s[start..]);
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_timer(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.extend_from_slice(b"-1");
    } else {
        push_u64(out, v as u64);
    }
}

/// The address as glibc's `inet_ntop` writes it (what HAProxy logs).
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => push_ipv6(out, v6),
    }
}

fn push_ipv4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    let o = ip.octets();
    push_u64(out, u64::from(o[0]));
    for b in &o[1..] {
        out.push(b'.');
        push_u64(out, u64::from(*b));
    }
}

/// glibc `inet_ntop6`: the first longest run of two or more zero words is
/// `::`; lowercase hex without leading zeros; the last 32 bits are dotted
/// IPv4 when the address is `::ffff:a.b.c.d` or `::a.b.c.d` (the run of
/// zeros is words 0..5 or exactly 0..6).
fn push_ipv6(out: &mut Vec<u8>, ip: Ipv6Addr) {
    let w = ip.segments();
    let (mut best_base, mut best_len) = (usize::MAX, 0);
    let (mut cur_base, mut cur_len) = (usize::MAX, 0);
    for (i, &word) in w.iter().enumerate() {
        if word == 0 {
            if cur_base == usize::MAX {
                (cur_base, cur_len) = (i, 1);
            } else {
                cur_len += 1;
            }
        } else if cur_base != usize::MAX {
            if best_base == usize::MAX || cur_len > best_len {
                (best_base, best_len) = (cur_base, cur_len);
            }
            cur_base = usize::MAX;
        }
    }
    if cur_base != usize::MAX && (best_base == usize::MAX || cur_len > best_len) {
        (best_base, best_len) = (cur_base, cur_len);
    }
    if best_base != usize::MAX && best_len < 2 {
        best_base = usize::MAX;
    }
    let in_best = |i: usize| best_base != usize::MAX && i >= best_base && i < best_base + best_len;
    for (i, &word) in w.iter().enumerate() {
        if in_best(i) {
            if i == best_base {
                out.push(b':');
            }
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let o = ip.octets();
            push_ipv4(out, Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            return;
        }
        push_hex16(out, word);
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.push(b':');
    }
}

fn push_hex16(out: &mut Vec<u8>, v: u16) {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let d = ((v >> shift) & 15) as usize;
        if d != 0 || started || shift == 0 {
            out.push(LOWER[d]);
            started = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-21T05:40:01.123Z
    const T0_MS: i64 = 1_795_239_601_123;

    fn client() -> SocketAddr {
        "127.0.0.1:41234".parse().unwrap()
    }

    fn tcp(rec: &LogRecord<'_>) -> String {
        let mut c = DateCache::fixed(0);
        let mut v = Vec::new();
        format_tcplog_with(&mut c, rec, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn http(rec: &LogRecord<'_>) -> String {
        let mut c = DateCache::fixed(0);
        let mut v = Vec::new();
        format_httplog_with(&mut c, rec, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn tcp_ok() -> LogRecord<'static> {
        LogRecord {
            server: Some("s1"),
            t_queue: 0,
            t_connect: 1,
            t_total: 5003,
            bytes_read: 1024,
            actconn: 1,
            feconn: 1,
            ..LogRecord::new(client(), T0_MS, "fe", "be")
        }
    }

    fn http_ok() -> LogRecord<'static> {
        LogRecord {
            server: Some("s1"),
            t_handshake: 0,
            t_idle: 0,
            t_request: 0,
            t_queue: 0,
            t_connect: 1,
            t_response: 2,
            t_active: 3,
            status: Some(200),
            bytes_read: 1234,
            actconn: 1,
            feconn: 1,
            request_line: Some(b"GET /path HTTP/1.1"),
            ..LogRecord::new(client(), T0_MS, "fe", "be")
        }
    }

    #[test]
    fn tcplog_examples() {
        assert_eq!(
            tcp(&tcp_ok()),
            "127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 0/1/5003 1024 -- 1/1/0/0/0 0/0"
        );
        // no server: connection refused by the proxy before choosing one
        let rec = LogRecord {
            t_total: 0,
            term: *b"PR",
            actconn: 3,
            feconn: 2,
            beconn: 1,
            ..LogRecord::new(client(), T0_MS, "fe", "be")
        };
        assert_eq!(
            tcp(&rec),
            "127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/<NOSRV> -1/-1/0 0 PR 3/2/1/0/0 0/0"
        );
        // redispatched after a failed connect, queued, server timeout
        let rec = LogRecord {
            t_queue: 12,
            t_connect: 3001,
            t_total: 33_017,
            bytes_read: 0,
            term: *b"sC",
            srv_conn: 7,
            retries: 1,
            redispatched: true,
            srv_queue: 4,
            backend_queue: 9,
            ..tcp_ok()
        };
        assert_eq!(
            tcp(&rec),
            "127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 12/3001/33017 0 sC 1/1/0/7/+1 4/9"
        );
        // logasap, TLS frontend, IPv6 client
        let rec = LogRecord {
            client: "[2001:db8::1]:443".parse().unwrap(),
            logasap: true,
            frontend_ssl: true,
            ..tcp_ok()
        };
        assert_eq!(
            tcp(&rec),
            "2001:db8::1:443 [21/Nov/2026:05:40:01.123] fe~ be/s1 0/1/+5003 +1024 -- 1/1/0/0/0 0/0"
        );
    }

    #[test]
    fn httplog_examples() {
        assert_eq!(
            http(&http_ok()),
            "127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 0/0/1/2/3 200 1234 - - ---- 1/1/0/0/0 0/0 \"GET /path HTTP/1.1\""
        );
        // unparsable request, rejected with a 400 by the proxy
        let rec = LogRecord {
            t_idle: 0,
            t_request: -1,
            t_active: 5,
            status: Some(400),
            bytes_read: 187,
            term: *b"PR",
            actconn: 2,
            feconn: 2,
            ..LogRecord::new(client(), T0_MS, "fe", "fe")
        };
        assert_eq!(
            http(&rec),
            "127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe fe/<NOSRV> -1/-1/-1/-1/5 400 187 - - PR-- 2/2/0/0/0 0/0 \"<BADREQ>\""
        );
        // client gone before the response: no status, `%tr` = accept + Ti + Th
        let rec = LogRecord {
            t_handshake: 2,
            t_idle: 1000,
            t_response: -1,
            t_active: 60_000,
            status: None,
            bytes_read: 0,
            term: *b"CD",
            retries: 2,
            redispatched: true,
            ..http_ok()
        };
        assert_eq!(
            http(&rec),
            "127.0.0.1:41234 [21/Nov/2026:05:40:02.125] fe be/s1 0/0/1/-1/60000 -1 0 - - CD-- 1/1/0/0/+2 0/0 \"GET /path HTTP/1.1\""
        );
    }

    #[test]
    fn httplog_cookies_captures_and_encoding() {
        let req_caps: [Option<&[u8]>; 2] = [Some(b"example.com"), Some(b"a|b{c}\"#")];
        let res_caps: [Option<&[u8]>; 2] = [None, Some(b"\x01\x7f\xc3\xa9")];
        let rec = LogRecord {
            client_cookie: Some(b"SRV=s1"),
            server_cookie: Some(b""),
            cookie_term: *b"VN",
            req_captures: &req_caps,
            res_captures: &res_caps,
            request_line: Some(b"GET /a\"b#c|{}\t\xff HTTP/1.1"),
            ..http_ok()
        };
        assert_eq!(
            http(&rec),
            "127.0.0.1:41234 [21/Nov/2026:05:40:01.123] fe be/s1 0/0/1/2/3 200 1234 SRV=s1 - --VN 1/1/0/0/0 0/0 \
             {example.com|a#7Cb#7Bc#7D#22#23} {|#01#7F#C3#A9} \"GET /a#22b#23c|{}#09#FF HTTP/1.1\""
        );
        // only response captures
        let rec = LogRecord {
            res_captures: &res_caps[..1],
            ..http_ok()
        };
        assert!(http(&rec).ends_with(" 0/0 {} \"GET /path HTTP/1.1\""));
        // only request captures
        let rec = LogRecord {
            req_captures: &req_caps[..1],
            ..http_ok()
        };
        assert!(http(&rec).ends_with(" 0/0 {example.com} \"GET /path HTTP/1.1\""));
    }

    /// Splits an httplog line the way a log parser would, following the
    /// field list of configuration.txt 8.2.3, and checks every field.
    #[test]
    fn httplog_fields_parse() {
        let caps: [Option<&[u8]>; 1] = [Some(b"h")];
        let rec = LogRecord {
            client: "[::ffff:10.1.2.3]:5555".parse().unwrap(),
            server: Some("srv-2"),
            t_request: 10,
            t_queue: 20,
            t_connect: 30,
            t_response: 40,
            t_active: 150,
            status: Some(503),
            bytes_read: 99,
            term: *b"sH",
            actconn: 11,
            feconn: 12,
            beconn: 13,
            srv_conn: 14,
            retries: 3,
            srv_queue: 15,
            backend_queue: 16,
            req_captures: &caps,
            ..http_ok()
        };
        let line = http(&rec);
        let f: Vec<&str> = line.splitn(13, ' ').collect();
        assert_eq!(f[0], "::ffff:10.1.2.3:5555"); // client_ip ':' client_port
        let (ip, port) = f[0].rsplit_once(':').unwrap();
        assert_eq!((ip, port), ("::ffff:10.1.2.3", "5555"));
        assert_eq!(f[1], "[21/Nov/2026:05:40:01.123]"); // '[' request_date ']'
        assert_eq!(f[2], "fe"); // frontend_name
        assert_eq!(f[3], "be/srv-2"); // backend_name '/' server_name
        let t: Vec<&str> = f[4].split('/').collect(); // TR '/' Tw '/' Tc '/' Tr '/' Ta*
        assert_eq!(t, ["10", "20", "30", "40", "150"]);
        assert_eq!(f[5], "503"); // status_code
        assert_eq!(f[6], "99"); // bytes_read*
        assert_eq!(f[7], "-"); // captured_request_cookie
        assert_eq!(f[8], "-"); // captured_response_cookie
        assert_eq!(f[9], "sH--"); // termination_state
        let c: Vec<&str> = f[10].split('/').collect(); // actconn/feconn/beconn/srv_conn/retries*
        assert_eq!(c, ["11", "12", "13", "14", "3"]);
        assert_eq!(f[11], "15/16"); // srv_queue '/' backend_queue
        assert_eq!(f[12], "{h} \"GET /path HTTP/1.1\""); // captures, '"' http_request '"'
    }

    /// The same for a tcplog line (configuration.txt 8.2.2).
    #[test]
    fn tcplog_fields_parse() {
        let rec = LogRecord {
            t_queue: 7,
            t_connect: 8,
            t_total: 9,
            bytes_read: 10,
            term: *b"cD",
            actconn: 1,
            feconn: 2,
            beconn: 3,
            srv_conn: 4,
            retries: 5,
            srv_queue: 6,
            backend_queue: 7,
            ..tcp_ok()
        };
        let line = tcp(&rec);
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 9);
        assert_eq!(f[0], "127.0.0.1:41234");
        assert_eq!(f[1], "[21/Nov/2026:05:40:01.123]");
        assert_eq!(f[2], "fe");
        assert_eq!(f[3], "be/s1");
        assert_eq!(f[4], "7/8/9"); // Tw '/' Tc '/' Tt*
        assert_eq!(f[5], "10"); // bytes_read
        assert_eq!(f[6], "cD"); // termination_state
        assert_eq!(f[7], "1/2/3/4/5");
        assert_eq!(f[8], "6/7");
    }

    #[test]
    fn ipv6_like_inet_ntop() {
        let cases = [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("2001:db8::1", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::2:3", "::0.2.0.3"),
            ("fe80::abcd:ef01", "fe80::abcd:ef01"),
            (
                "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789",
                "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
            ),
        ];
        for (input, want) in cases {
            let mut v = Vec::new();
            push_ip(&mut v, input.parse().unwrap());
            assert_eq!(String::from_utf8(v).unwrap(), want, "{input}");
            assert_eq!(libc_ntop6(input.parse().unwrap()), want, "{input}");
        }
    }

    unsafe extern "C" {
        fn inet_ntop(
            af: libc::c_int,
            src: *const libc::c_void,
            dst: *mut libc::c_char,
            size: libc::socklen_t,
        ) -> *const libc::c_char;
    }

    fn libc_ntop6(ip: Ipv6Addr) -> String {
        let src = ip.octets();
        let mut dst = [0 as libc::c_char; 64];
        // SAFETY: src is 16 bytes; dst is large enough and its length given.
        let r = unsafe {
            inet_ntop(
                libc::AF_INET6,
                src.as_ptr().cast(),
                dst.as_mut_ptr(),
                dst.len() as libc::socklen_t,
            )
        };
        assert!(!r.is_null());
        // SAFETY: inet_ntop wrote a NUL-terminated string into dst.
        unsafe { std::ffi::CStr::from_ptr(dst.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn ipv6_random_against_libc() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // make zero words frequent so that runs and ties are exercised
            let mut seg = [0u16; 8];
            for (i, s) in seg.iter_mut().enumerate() {
                let r = (x >> (i * 8)) as u16;
                *s = match r % 4 {
                    0 | 1 => 0,
                    2 => 0xffff,
                    _ => r.wrapping_mul(2654),
                };
            }
            let ip = Ipv6Addr::from(seg);
            let mut v = Vec::new();
            push_ip(&mut v, IpAddr::V6(ip));
            assert_eq!(String::from_utf8(v).unwrap(), libc_ntop6(ip), "{seg:x?}");
        }
    }

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        for n in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            v.clear();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
        v.clear();
        push_timer(&mut v, -5);
        assert_eq!(v, b"-1");
        v.clear();
        push_timer(&mut v, i64::MAX);
        assert_eq!(v, i64::MAX.to_string().as_bytes());
    }

    #[test]
    fn no_reallocation_once_warm() {
        let caps: [Option<&[u8]>; 1] = [Some(b"host")];
        let rec = LogRecord {
            req_captures: &caps,
            client: "[2001:db8::dead:beef]:65535".parse().unwrap(),
            ..http_ok()
        };
        let mut c = DateCache::fixed(0);
        let mut v = Vec::new();
        format_httplog_with(&mut c, &rec, &mut v);
        let (ptr, cap) = (v.as_ptr(), v.capacity());
        for i in 0..1000 {
            v.clear();
            let r = LogRecord {
                accept_ms: T0_MS + i * 1000,
                ..rec.clone()
            };
            format_httplog_with(&mut c, &r, &mut v);
            format_tcplog_with(&mut c, &r, &mut Vec::new());
        }
        assert_eq!((v.as_ptr(), v.capacity()), (ptr, cap));
    }

    #[test]
    fn thread_cache_wrappers() {
        let mut v = Vec::new();
        format_tcplog(&tcp_ok(), &mut v);
        assert!(v.starts_with(b"127.0.0.1:41234 ["));
        assert!(v.ends_with(b"] fe be/s1 0/1/5003 1024 -- 1/1/0/0/0 0/0"));
        v.clear();
        format_httplog(&http_ok(), &mut v);
        assert!(v.ends_with(b" 200 1234 - - ---- 1/1/0/0/0 0/0 \"GET /path HTTP/1.1\""));
        let r = LogRecord::new(client(), 0, "f", "b").with_accept_date(SystemTime::UNIX_EPOCH);
        assert_eq!(r.accept_ms, 0);
    }
}
