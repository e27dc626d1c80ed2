//! Local-time dates for log lines and syslog headers, without calling into
//! libc for each line.
//!
//! HAProxy prints `%t`/`%tr` (`dd/Mmm/yyyy:hh:mm:ss.sss`) and the RFC 3164
//! header date (`Mmm dd hh:mm:ss`) in **local time**. It calls
//! `localtime_r` for each log line's date and rebuilds the syslog header
//! date once a second. `localtime_r` takes glibc's process-wide `tzset_lock`
//! and walks the zone's transition table, so a shard must not call it per
//! request.
//!
//! # The choice made here
//!
//! A [`DateCache`] (one per thread, see [`with_thread_cache`]) keeps:
//!
//! 1. **The UTC offset per UTC minute**, for the two most recently used
//!    minutes. A miss calls `localtime_r` once and keeps `tm_gmtoff` for
//!    the whole minute that contains the instant. Transitions happen at
//!    whole local minutes and, since January 1972 (when Liberia's -00:44:30
//!    ended), every zone's offset is a whole number of minutes: transitions
//!    fall on whole UTC minutes and the offset is constant within one. In
//!    steady state that is one
//!    `localtime_r` per thread per minute; two slots keep an old accept
//!    date (a long TCP connection) from evicting the current minute.
//! 2. **The formatted date of the last second seen**, one for each format
//!    (log date and syslog date), so a line in the same second as the
//!    previous one costs a 20-byte copy plus the milliseconds. A new second
//!    in a known minute is plain arithmetic (days-to-civil), no libc.
//!
//! Computing local time as `civil(utc + offset)` gives exactly what
//! `localtime_r` gives (tested against it in child processes with `TZ` set to
//! zones with DST, half-hour and 45-minute offsets).
//!
//! As in glibc, the zone is read once per process: call [`init`] at start-up
//! (before the shards start) so that the first `localtime_r`, which reads
//! `/etc/localtime` or `TZ`'s file, does not happen on a shard. A change of
//! `/etc/localtime` while running is not noticed (HAProxy doesn't either).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Length of `dd/Mmm/yyyy:hh:mm:ss.sss`.
pub const LOG_DATE_LEN: usize = 24;
/// Length of `Mmm dd hh:mm:ss`.
pub const SYSLOG_DATE_LEN: usize = 15;

/// Reads the process's time zone now (`tzset`), so that it is not read by the
/// first log line of a shard. Cheap to call more than once.
pub fn init() {
    // SAFETY: tzset has no preconditions; glibc serialises it internally.
    unsafe { tzset() };
}

unsafe extern "C" {
    fn tzset();
}

/// Milliseconds since the Unix epoch (negative before 1970).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => {
            let d = e.duration();
            -(d.as_millis() as i64) - i64::from(d.subsec_nanos() % 1_000_000 != 0)
        }
    }
}

/// Which zone a [`DateCache`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The process's zone, through `localtime_r` once per minute.
    System,
    /// A fixed offset east of UTC, in seconds (for tests, or `TZ=UTC`).
    Fixed(i32),
}

#[derive(Clone, Copy)]
struct Window {
    /// `unix_secs.div_euclid(60)`; `i64::MIN` when empty.
    minute: i64,
    offset: i32,
}

const EMPTY: Window = Window {
    minute: i64::MIN,
    offset: 0,
};

/// Per-thread cache of the UTC offset and of the formatted current second.
/// See the module documentation.
pub struct DateCache {
    zone: Zone,
    /// Most recently used first.
    windows: [Window; 2],
    log_sec: i64,
    log_buf: [u8; 20],
    sys_sec: i64,
    sys_buf: [u8; SYSLOG_DATE_LEN],
    localtime_calls: u64,
}

impl DateCache {
    /// A cache for the process's zone.
    pub const fn system() -> DateCache {
        DateCache::new(Zone::System)
    }

    /// A cache for a fixed offset (seconds east of UTC).
    pub const fn fixed(offset_secs: i32) -> DateCache {
        DateCache::new(Zone::Fixed(offset_secs))
    }

    pub const fn new(zone: Zone) -> DateCache {
        DateCache {
            zone,
            windows: [EMPTY; 2],
            log_sec: i64::MIN,
            log_buf: [0; 20],
            sys_sec: i64::MIN,
            sys_buf: [0; SYSLOG_DATE_LEN],
            localtime_calls: 0,
        }
    }

    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// How many times this cache called `localtime_r`.
    pub fn localtime_calls(&self) -> u64 {
        self.localtime_calls
    }

    /// The UTC offset (seconds east) in force at `unix_secs`.
    pub fn utc_offset(&mut self, unix_secs: i64) -> i32 {
        if let Zone::Fixed(off) = self.zone {
            return off;
        }
        let minute = unix_secs.div_euclid(60);
        if self.windows[0].minute == minute {
            return self.windows[0].offset;
        }
        if self.windows[1].minute == minute {
            self.windows.swap(0, 1);
            return self.windows[0].offset;
        }
        self.localtime_calls += 1;
        let offset = system_offset(unix_secs).unwrap_or(0);
        self.windows[1] = self.windows[0];
        self.windows[0] = Window { minute, offset };
        offset
    }

    /// Appends `dd/Mmm/yyyy:hh:mm:ss.sss` (HAProxy's `date2str_log`) for the
    /// local time of `unix_ms`.
    pub fn push_log_date(&mut self, unix_ms: i64, out: &mut Vec<u8>) {
        let secs = unix_ms.div_euclid(1000);
        let ms = unix_ms.rem_euclid(1000) as u32;
        if secs != self.log_sec {
            let c = self.local(secs);
            let b = &mut self.log_buf;
            put2(&mut b[0..2], c.day);
            b[2] = b'/';
            b[3..6].copy_from_slice(MONTHS[c.month as usize - 1]);
            b[6] = b'/';
            put4(&mut b[7..11], c.year);
            b[11] = b':';
            put2(&mut b[12..14], c.hour);
            b[14] = b':';
            put2(&mut b[15..17], c.minute);
            b[17] = b':';
            put2(&mut b[18..20], c.second);
            self.log_sec = secs;
        }
        let mut tail = [b'.', 0, 0, 0];
        tail[1] = b'0' + (ms / 100) as u8;
        tail[2] = b'0' + (ms / 10 % 10) as u8;
        tail[3] = b'0' + (ms % 10) as u8;
        out.extend_from_slice(&self.log_buf);
        out.extend_from_slice(&tail);
    }

    /// Appends `Mmm dd hh:mm:ss` (RFC 3164 TIMESTAMP: the day is padded with
    /// a space, `Nov  1`) for the local time of `unix_secs`.
    pub fn push_syslog_date(&mut self, unix_secs: i64, out: &mut Vec<u8>) {
        if unix_secs != self.sys_sec {
            let c = self.local(unix_secs);
            let b = &mut self.sys_buf;
            b[0..3].copy_from_slice(MONTHS[c.month as usize - 1]);
            b[3] = b' ';
            put2(&mut b[4..6], c.day);
            if b[4] == b'0' {
                b[4] = b' ';
            }
            b[6] = b' ';
            put2(&mut b[7..9], c.hour);
            b[9] = b':';
            put2(&mut b[10..12], c.minute);
            b[12] = b':';
            put2(&mut b[13..15], c.second);
            self.sys_sec = unix_secs;
        }
        out.extend_from_slice(&self.sys_buf);
    }

    /// Local civil time of `unix_secs`.
    pub fn local(&mut self, unix_secs: i64) -> Civil {
        let off = self.utc_offset(unix_secs);
        Civil::from_unix(unix_secs + i64::from(off))
    }
}

/// `tm_gmtoff` from `localtime_r`, None if it failed.
fn system_offset(unix_secs: i64) -> Option<i32> {
    let t = unix_secs as libc::time_t;
    // SAFETY: `tm` is plain data, all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is
    // thread-safe and does not keep them.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        None
    } else {
        Some(tm.tm_gmtoff as i32)
    }
}

/// A broken-down civil date and time (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Civil {
    /// The civil time of `secs` seconds after 1970-01-01T00:00:00 (of
    /// whatever zone `secs` is already shifted into).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (sod / 3600) as u8,
            minute: (sod / 60 % 60) as u8,
            second: (sod % 60) as u8,
        }
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn put2(b: &mut [u8], v: u8) {
    b[0] = b'0' + v / 10;
    b[1] = b'0' + v % 10;
}

fn put4(b: &mut [u8], year: i64) {
    let y = year.rem_euclid(10_000) as u16;
    b[0] = b'0' + (y / 1000) as u8;
    b[1] = b'0' + (y / 100 % 10) as u8;
    b[2] = b'0' + (y / 10 % 10) as u8;
    b[3] = b'0' + (y % 10) as u8;
}

thread_local! {
    static CACHE: RefCell<DateCache> = const { RefCell::new(DateCache::system()) };
}

/// Runs `f` with this thread's cache (process zone). Not re-entrant: `f`
/// must not call `with_thread_cache` again.
pub fn with_thread_cache<R>(f: impl FnOnce(&mut DateCache) -> R) -> R {
    CACHE.with_borrow_mut(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn log_date(c: &mut DateCache, ms: i64) -> String {
        let mut v = Vec::new();
        c.push_log_date(ms, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn sys_date(c: &mut DateCache, secs: i64) -> String {
        let mut v = Vec::new();
        c.push_syslog_date(secs, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn month(m: i32) -> &'static str {
        std::str::from_utf8(MONTHS[m as usize]).unwrap()
    }

    /// Reference formatting of a `struct tm`, independent of the cache.
    fn tm_strings(tm: &libc::tm, ms: i64) -> (String, String) {
        (
            format!(
                "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
                tm.tm_mday,
                month(tm.tm_mon),
                tm.tm_year + 1900,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
                ms
            ),
            format!(
                "{} {:2} {:02}:{:02}:{:02}",
                month(tm.tm_mon),
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec
            ),
        )
    }

    fn libc_tm(secs: i64, local: bool) -> libc::tm {
        let t = secs as libc::time_t;
        // SAFETY: plain data; valid pointers for the calls.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            let r = if local {
                libc::localtime_r(&t, &mut tm)
            } else {
                libc::gmtime_r(&t, &mut tm)
            };
            assert!(!r.is_null());
            tm
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    // 2026-11-21T05:40:01.123Z
    const T0_MS: i64 = 1_795_239_601_123;

    #[test]
    fn fixed_offset_formats() {
        let mut c = DateCache::fixed(0);
        assert_eq!(log_date(&mut c, T0_MS), "21/Nov/2026:05:40:01.123");
        assert_eq!(sys_date(&mut c, T0_MS / 1000), "Nov 21 05:40:01");
        let mut c = DateCache::fixed(5 * 3600 + 45 * 60);
        assert_eq!(log_date(&mut c, T0_MS), "21/Nov/2026:11:25:01.123");
        let mut c = DateCache::fixed(-10 * 3600);
        assert_eq!(log_date(&mut c, T0_MS), "20/Nov/2026:19:40:01.123");
        assert_eq!(sys_date(&mut c, T0_MS / 1000), "Nov 20 19:40:01");
        // single-digit day: zero-padded in the log date, space-padded in
        // the syslog date. 2026-11-01T00:00:00Z = 1_793_491_200.
        let mut c = DateCache::fixed(0);
        assert_eq!(
            log_date(&mut c, 1_793_491_200_007),
            "01/Nov/2026:00:00:00.007"
        );
        assert_eq!(sys_date(&mut c, 1_793_491_200), "Nov  1 00:00:00");
        assert_eq!(log_date(&mut c, 0), "01/Jan/1970:00:00:00.000");
        assert_eq!(log_date(&mut c, -1), "31/Dec/1969:23:59:59.999");
        assert_eq!(c.localtime_calls(), 0);
    }

    #[test]
    fn second_boundaries() {
        let mut c = DateCache::fixed(3600);
        // 2026-12-31T22:59:59.998Z = 23:59:59.998 at +01:00
        let t = 1_798_757_999_998;
        assert_eq!(log_date(&mut c, t), "31/Dec/2026:23:59:59.998");
        assert_eq!(log_date(&mut c, t + 1), "31/Dec/2026:23:59:59.999");
        assert_eq!(log_date(&mut c, t + 2), "01/Jan/2027:00:00:00.000");
        assert_eq!(log_date(&mut c, t + 1), "31/Dec/2026:23:59:59.999");
        assert_eq!(sys_date(&mut c, t / 1000), "Dec 31 23:59:59");
        assert_eq!(sys_date(&mut c, t / 1000 + 1), "Jan  1 00:00:00");
        // a leap day: 2028-02-29T23:59:59Z
        let mut c = DateCache::fixed(0);
        let t = 1_835_481_599_000;
        assert_eq!(log_date(&mut c, t), "29/Feb/2028:23:59:59.000");
        assert_eq!(log_date(&mut c, t + 1000), "01/Mar/2028:00:00:00.000");
        // every millisecond across a second gets the right prefix
        let base = T0_MS - 123 + 999_000; // ...:40:01.000 + 999 s
        for ms in base - 5..base + 2005 {
            let s = log_date(&mut c, ms);
            let tm = libc_tm(ms.div_euclid(1000), false);
            assert_eq!(s, tm_strings(&tm, ms.rem_euclid(1000)).0);
        }
    }

    #[test]
    fn arithmetic_matches_gmtime_r() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for off in [
            0,
            3600,
            -3 * 3600 - 30 * 60,
            12 * 3600 + 45 * 60,
            -12 * 3600,
        ] {
            let mut c = DateCache::fixed(off);
            for _ in 0..50_000 {
                // 1900..2100 roughly
                let secs = (rng.next() % 6_311_390_400) as i64 - 2_208_988_800;
                let ms = (rng.next() % 1000) as i64;
                let tm = libc_tm(secs + i64::from(off), false);
                let (l, s) = tm_strings(&tm, ms);
                assert_eq!(
                    log_date(&mut c, secs * 1000 + ms),
                    l,
                    "secs={secs} off={off}"
                );
                assert_eq!(sys_date(&mut c, secs), s, "secs={secs} off={off}");
            }
        }
    }

    #[test]
    fn system_zone_matches_localtime_r_in_this_process() {
        // Whatever zone this process has (often UTC): same answer as libc.
        init();
        let mut c = DateCache::system();
        let mut rng = Rng(42);
        for _ in 0..20_000 {
            let secs = (rng.next() % 4_102_444_800) as i64; // 1970..2100
            let tm = libc_tm(secs, true);
            let (l, s) = tm_strings(&tm, 5);
            assert_eq!(log_date(&mut c, secs * 1000 + 5), l);
            assert_eq!(sys_date(&mut c, secs), s);
        }
    }

    #[test]
    fn localtime_r_once_per_minute() {
        let mut c = DateCache::system();
        let start = T0_MS / 60_000 * 60_000;
        let mut v = Vec::new();
        // ten minutes, every 7 ms
        let mut ms = start;
        while ms < start + 600_000 {
            v.clear();
            c.push_log_date(ms, &mut v);
            ms += 7;
        }
        assert_eq!(c.localtime_calls(), 10);
        // old dates (one minute of them, a day ago) between current lines do
        // not evict the current minute: one call for each minute
        let now = start + 600_000;
        let old = start - 86_400_000;
        for i in 0..100 {
            c.push_log_date(now + i, &mut v);
            c.push_log_date(old + i * 500, &mut v);
        }
        assert_eq!(c.localtime_calls(), 12);
        // syslog dates share the offset windows
        c.push_syslog_date(now / 1000, &mut v);
        assert_eq!(c.localtime_calls(), 12);
    }

    #[test]
    fn unix_ms_of_system_time() {
        use std::time::Duration;
        assert_eq!(
            unix_ms(UNIX_EPOCH + Duration::from_millis(T0_MS as u64)),
            T0_MS
        );
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_micros(1500)), -2);
        assert!(unix_ms(SystemTime::now()) > T0_MS - 10 * 365 * 86_400_000);
    }

    #[test]
    fn thread_cache_is_usable() {
        let mut v = Vec::new();
        with_thread_cache(|c| c.push_log_date(T0_MS, &mut v));
        assert_eq!(v.len(), LOG_DATE_LEN);
        v.clear();
        with_thread_cache(|c| c.push_syslog_date(T0_MS / 1000, &mut v));
        assert_eq!(v.len(), SYSLOG_DATE_LEN);
    }

    const CHILD_ENV: &str = "RINGPROXY_ACCESSLOG_TZ_CHILD";

    /// POSIX TZ strings need no tzdata; named zones are added when the
    /// machine has them.
    fn zones() -> Vec<&'static str> {
        let mut z = vec![
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "EST5EDT,M3.2.0,M11.1.0",
            "<+0545>-5:45",
            "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
            "<-0330>3:30<-0230>,M3.2.0,M11.1.0",
        ];
        for named in [
            "Europe/Paris",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
        ] {
            if std::path::Path::new("/usr/share/zoneinfo")
                .join(named)
                .exists()
            {
                z.push(named);
            }
        }
        z
    }

    /// TZ is process-wide: each zone is checked in a child process (this
    /// test binary running only `tz_child`), never by setting TZ here.
    #[test]
    fn matches_localtime_r_in_non_utc_zones() {
        let exe = std::env::current_exe().unwrap();
        let path = module_path!();
        let name = format!("{}::tz_child", &path[path.find("::").unwrap() + 2..]);
        for tz in zones() {
            let out = Command::new(&exe)
                .args([&name, "--exact", "--ignored", "--nocapture"])
                .args(["--test-threads", "1"])
                .env("TZ", tz)
                .env(CHILD_ENV, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stdout.contains("tz-child-ok"),
                "TZ={tz}: status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                out.status
            );
        }
    }

    /// Run by `matches_localtime_r_in_non_utc_zones` with TZ set; also
    /// meaningful alone (`cargo test -- --ignored`) for the current zone.
    #[test]
    #[ignore = "helper: run in a child process by matches_localtime_r_in_non_utc_zones"]
    fn tz_child() {
        init();
        let in_child = std::env::var_os(CHILD_ENV).is_some();
        let tz = std::env::var("TZ").unwrap_or_default();
        let mut checked = 0u64;
        let mut check = |c: &mut DateCache, secs: i64, ms: i64| {
            let tm = libc_tm(secs, true);
            let (l, s) = tm_strings(&tm, ms);
            assert_eq!(log_date(c, secs * 1000 + ms), l, "TZ={tz} secs={secs}");
            assert_eq!(sys_date(c, secs), s, "TZ={tz} secs={secs}");
            assert_eq!(
                c.utc_offset(secs),
                tm.tm_gmtoff as i32,
                "TZ={tz} secs={secs}"
            );
            checked += 1;
        };

        // 1. In time order, as a shard sees it: 2024..2028 every 599 s, and
        // every second within two minutes of each offset change found.
        let mut c = DateCache::system();
        let mut transitions = 0;
        let mut nonzero = false;
        let (from, to) = (1_704_067_200i64, 1_830_297_600i64);
        let mut prev_off = libc_tm(from, true).tm_gmtoff;
        let mut t = from;
        while t < to {
            let off = libc_tm(t, true).tm_gmtoff;
            nonzero |= off != 0;
            if off != prev_off {
                transitions += 1;
                for s in t - 599 - 120..t + 120 {
                    check(&mut c, s, s.rem_euclid(1000));
                }
                prev_off = off;
            }
            check(&mut c, t, t.rem_euclid(1000));
            t += 599;
        }
        // 2. In random order over 1972..2100, alternating with "now".
        let mut c = DateCache::system();
        let mut rng = Rng(7);
        let now = unix_ms(SystemTime::now()) / 1000;
        for i in 0..100_000 {
            let secs = 63_072_000 + (rng.next() % 4_039_372_800) as i64;
            check(&mut c, secs, i % 1000);
            check(&mut c, now + i / 10, i % 1000);
        }
        if in_child {
            assert!(nonzero, "TZ={tz} did not take effect");
        }
        println!("tz-child-ok TZ={tz} checked={checked} transitions={transitions}");
    }
}
