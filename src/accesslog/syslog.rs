//! Syslog framing: the bytes one line becomes on one target, as HAProxy
//! builds them (log.c `build_log_header` and `__do_send_log`).
//!
//! | format | bytes |
//! | --- | --- |
//! | `local` (default) | `<PRI>Mmm dd hh:mm:ss ringproxy[PID]: msg` |
//! | `rfc3164` | `<PRI>Mmm dd hh:mm:ss HOST ringproxy[PID]: msg` |
//! | `priority` | `<PRI>msg` |
//! | `short` | `<L>msg` (level only, no facility) |
//! | `raw` | `msg` |
//!
//! followed by `\n` on every target (HAProxy appends the LF to datagrams
//! too). PRI is `facility * 8 + level`; the date is the local time of the
//! moment of sending, the day padded with a space (`Nov  1`). HOST is the
//! `log-send-hostname` value when one is set ([`Framer::with_hostname`]),
//! otherwise `localhost`, as HAProxy does for an explicit `format rfc3164`.
//! HAProxy's default format is `local`, which has no hostname field.
//!
//! Trailing `\n` and NUL bytes of the message are removed first (HAProxy
//! does the same). Then `len` bounds the line as HAProxy bounds it:
//! - datagram targets (UDP, unix): header + message are cut at `len` bytes,
//!   then the `\n` is added (a datagram is at most `len + 1` bytes);
//! - stdout/stderr: header + message are cut at `len - 1` bytes, then the
//!   `\n` is added (a line is at most `len` bytes; `fd_write_frag_line`).

use std::time::SystemTime;

use super::clock::{self, DateCache};
use super::target::{Level, LogFormat, LogTarget, pri};

/// The per-process part of the header: tag, pid and hostname. Framing is
/// pure (no I/O), so the data plane can frame into its own buffers and
/// send them however it likes (io_uring included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framer {
    /// `program[pid]: `, or empty when the program name is empty (HAProxy
    /// then omits the whole tag).
    tag: Vec<u8>,
    /// `host ` for `format rfc3164`.
    host: Vec<u8>,
}

impl Framer {
    /// `program` is the syslog tag (`log-tag`, HAProxy's default is the
    /// program name), `pid` the process id printed in brackets.
    pub fn new(program: &str, pid: u32) -> Framer {
        let mut tag = Vec::new();
        if !program.is_empty() {
            tag.extend_from_slice(program.as_bytes());
            tag.push(b'[');
            tag.extend_from_slice(pid.to_string().as_bytes());
            tag.extend_from_slice(b"]: ");
        }
        Framer {
            tag,
            host: b"localhost ".to_vec(),
        }
    }

    /// The hostname written by `format rfc3164` (`log-send-hostname`).
    pub fn with_hostname(mut self, host: &str) -> Framer {
        self.host.clear();
        self.host.extend_from_slice(host.as_bytes());
        self.host.push(b' ');
        self
    }

    /// The longest header any format adds (for sizing buffers).
    pub fn max_header_len(&self) -> usize {
        "<191>".len() + clock::SYSLOG_DATE_LEN + 1 + self.host.len() + self.tag.len()
    }

    /// Appends the framed line for `target`, dated now, with this thread's
    /// date cache. `level` is the line's level before `min_level` capping
    /// (the cap is applied here; filtering on `max_level` is the caller's
    /// job: [`LogTarget::accepts`]).
    pub fn frame(&self, target: &LogTarget, level: Level, msg: &[u8], out: &mut Vec<u8>) {
        let now = clock::unix_ms(SystemTime::now()).div_euclid(1000);
        clock::with_thread_cache(|dates| self.frame_at(dates, now, target, level, msg, out));
    }

    /// [`Framer::frame`] with an explicit date cache and time (seconds since
    /// the epoch).
    pub fn frame_at(
        &self,
        dates: &mut DateCache,
        now_secs: i64,
        target: &LogTarget,
        level: Level,
        msg: &[u8],
        out: &mut Vec<u8>,
    ) {
        let level = target.effective_level(level);
        let mut msg = msg;
        while let [rest @ .., b'\n' | 0] = msg {
            msg = rest;
        }
        let limit = if target.addr.is_datagram() {
            target.max_len
        } else {
            target.max_len.saturating_sub(1)
        };
        let start = out.len();
        let end = start + limit;
        let mut pri_buf = [0u8; 5];
        match target.format {
            LogFormat::Local | LogFormat::Rfc3164 | LogFormat::Priority => {
                let p = pri_digits(pri(target.facility, level), &mut pri_buf);
                out.extend_from_slice(p);
            }
            LogFormat::Short => {
                let p = pri_digits(level.code(), &mut pri_buf);
                out.extend_from_slice(p);
            }
            LogFormat::Raw => {}
        }
        if matches!(target.format, LogFormat::Local | LogFormat::Rfc3164) {
            dates.push_syslog_date(now_secs, out);
            out.push(b' ');
            if target.format == LogFormat::Rfc3164 {
                out.extend_from_slice(&self.host);
            }
            out.extend_from_slice(&self.tag);
        }
        // The header is short (and bounded by max_header_len); cut the
        // message before copying it so a huge message is never copied.
        if out.len() >= end {
            out.truncate(end);
        } else {
            let room = end - out.len();
            out.extend_from_slice(&msg[..msg.len().min(room)]);
        }
        out.push(b'\n');
    }
}

/// `<N>` into `buf`, returning the used part.
fn pri_digits(v: u8, buf: &mut [u8; 5]) -> &[u8] {
    let mut i = buf.len() - 1;
    buf[i] = b'>';
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + v % 10;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    i -= 1;
    buf[i] = b'<';
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accesslog::target::{Facility, TargetAddr, parse_log_target};

    // 2026-11-21T05:40:01Z
    const NOW: i64 = 1_795_239_601;

    fn target(line: &str) -> LogTarget {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse_log_target(&words).unwrap()
    }

    fn frame(f: &Framer, t: &LogTarget, level: Level, now: i64, msg: &[u8]) -> String {
        let mut c = DateCache::fixed(0);
        let mut v = Vec::new();
        f.frame_at(&mut c, now, t, level, msg, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn local_format_is_haproxy_default() {
        let f = Framer::new("ringproxy", 1234);
        let t = target("127.0.0.1:514 local0");
        assert_eq!(
            frame(&f, &t, Level::Info, NOW, b"hello"),
            "<134>Nov 21 05:40:01 ringproxy[1234]: hello\n"
        );
        // day padded with a space; local0.err = 131
        assert_eq!(
            frame(&f, &t, Level::Err, 1_793_491_200, b"x"),
            "<131>Nov  1 00:00:00 ringproxy[1234]: x\n"
        );
        let t = target("/dev/log kern");
        assert_eq!(
            frame(&f, &t, Level::Emerg, NOW, b"boom"),
            "<0>Nov 21 05:40:01 ringproxy[1234]: boom\n"
        );
        // empty program: no tag at all
        let f = Framer::new("", 1);
        assert_eq!(
            frame(&f, &target("/dev/log user"), Level::Notice, NOW, b"m"),
            "<13>Nov 21 05:40:01 m\n"
        );
    }

    #[test]
    fn local_time_in_header() {
        let f = Framer::new("ringproxy", 7);
        let t = target("/dev/log local7");
        let mut c = DateCache::fixed(-5 * 3600);
        let mut v = Vec::new();
        f.frame_at(&mut c, NOW, &t, Level::Debug, b"m", &mut v);
        assert_eq!(v, b"<191>Nov 21 00:40:01 ringproxy[7]: m\n");
    }

    #[test]
    fn other_formats() {
        let f = Framer::new("ringproxy", 1234);
        let t = target("127.0.0.1 format rfc3164 local0");
        assert_eq!(
            frame(&f, &t, Level::Info, NOW, b"hello"),
            "<134>Nov 21 05:40:01 localhost ringproxy[1234]: hello\n"
        );
        let fh = Framer::new("ringproxy", 1234).with_hostname("lb1");
        assert_eq!(
            frame(&fh, &t, Level::Info, NOW, b"hello"),
            "<134>Nov 21 05:40:01 lb1 ringproxy[1234]: hello\n"
        );
        let t = target("127.0.0.1 format priority local0");
        assert_eq!(frame(&f, &t, Level::Info, NOW, b"hello"), "<134>hello\n");
        let t = target("stdout format short local0");
        assert_eq!(frame(&f, &t, Level::Info, NOW, b"hello"), "<6>hello\n");
        assert_eq!(frame(&f, &t, Level::Emerg, NOW, b"hello"), "<0>hello\n");
        let t = target("stdout format raw");
        assert_eq!(frame(&f, &t, Level::Info, NOW, b"hello"), "hello\n");
        let t = target("stderr format raw local0 info");
        assert_eq!(frame(&f, &t, Level::Info, NOW, b"hello\n\n\0"), "hello\n");
    }

    #[test]
    fn min_level_caps() {
        let f = Framer::new("ringproxy", 1);
        let t = target("127.0.0.1 format priority local0 debug notice");
        assert_eq!(frame(&f, &t, Level::Err, NOW, b"m"), "<133>m\n");
        assert_eq!(frame(&f, &t, Level::Info, NOW, b"m"), "<134>m\n");
    }

    #[test]
    fn truncation_at_len() {
        let f = Framer::new("ringproxy", 1234);
        let msg = vec![b'a'; 5000];
        // default len 1024, datagram: 1024 bytes + LF
        let t = target("127.0.0.1 local0");
        let s = frame(&f, &t, Level::Info, NOW, &msg);
        assert_eq!(s.len(), 1025);
        assert!(s.starts_with("<134>Nov 21 05:40:01 ringproxy[1234]: aaa"));
        assert!(s.ends_with("a\n"));
        // len 80 on a unix socket
        let t = target("/dev/log len 80 local0");
        let s = frame(&f, &t, Level::Info, NOW, &msg);
        assert_eq!(s.len(), 81);
        // stdout: the LF is within len
        let t = target("stdout len 100 format raw");
        let s = frame(&f, &t, Level::Info, NOW, &msg);
        assert_eq!(s.len(), 100);
        assert_eq!(s, format!("{}\n", "a".repeat(99)));
        // exactly at the limit: unchanged
        let t = target("stdout len 80 format raw");
        let s = frame(&f, &t, Level::Info, NOW, &msg[..79]);
        assert_eq!(s.len(), 80);
        // a header longer than len is cut too
        let long = "p".repeat(200);
        let f = Framer::new(&long, 1);
        let t = target("/dev/log len 80 local0");
        let s = frame(&f, &t, Level::Info, NOW, b"m");
        assert_eq!(s.len(), 81);
        assert!(s.ends_with("ppp\n"));
    }

    #[test]
    fn frame_appends_and_does_not_reallocate_once_warm() {
        let f = Framer::new("ringproxy", 1234);
        let t = LogTarget::new(TargetAddr::Stdout, Facility::Local0);
        let mut v = b"prev|".to_vec();
        let mut c = DateCache::fixed(0);
        f.frame_at(&mut c, NOW, &t, Level::Info, b"m", &mut v);
        assert_eq!(v, b"prev|<134>Nov 21 05:40:01 ringproxy[1234]: m\n");
        let mut v = Vec::with_capacity(t.max_len + 1);
        let ptr = v.as_ptr();
        for i in 0..100 {
            v.clear();
            f.frame_at(&mut c, NOW + i, &t, Level::Info, &[b'x'; 3000], &mut v);
            assert_eq!(v.len(), t.max_len);
        }
        assert_eq!(v.as_ptr(), ptr);
        assert!(f.max_header_len() >= "<134>Nov 21 05:40:01 localhost ringproxy[1234]: ".len());
    }

    #[test]
    fn frame_with_real_clock() {
        let f = Framer::new("ringproxy", 1234);
        let t = target("127.0.0.1 local0");
        let mut v = Vec::new();
        f.frame(&t, Level::Info, b"now", &mut v);
        let s = String::from_utf8(v).unwrap();
        assert!(s.starts_with("<134>"), "{s}");
        assert!(s.ends_with(" ringproxy[1234]: now\n"), "{s}");
        assert_eq!(s.len(), "<134>Nov 21 05:40:01 ringproxy[1234]: now\n".len());
    }

    #[test]
    fn pri_digits_bounds() {
        let mut b = [0u8; 5];
        assert_eq!(pri_digits(0, &mut b), b"<0>");
        assert_eq!(pri_digits(13, &mut b), b"<13>");
        assert_eq!(pri_digits(191, &mut b), b"<191>");
    }
}
