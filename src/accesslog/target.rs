//! Log targets: the arguments of HAProxy's `log` keyword.
//!
//! HAProxy's syntax (configuration.txt, `log` in section 3.1 and 4.2):
//!
//! ```text
//! log <address> [len <length>] [format <format>] [sample ...] <facility> [<level> [<minlevel>]]
//! ```
//!
//! [`parse_log_target`] takes the words after `log`. Differences from HAProxy,
//! all of them supersets: `len` and `format` may come in either order, the
//! facility may be left out for `stdout`/`stderr` (it then defaults to
//! `user`, which only matters for the formats that carry a PRI), and IPv6
//! addresses may be written in brackets (`[::1]:514`) besides HAProxy's
//! "the port is after the last colon" form (`::1:514`, `:::514`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// Syslog facilities with their RFC 5424 (and RFC 3164) numeric codes, named
/// as HAProxy names them (`auth2` is `authpriv`, `cron2` is clock daemon 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    Auth2 = 10,
    Ftp = 11,
    Ntp = 12,
    Audit = 13,
    Alert = 14,
    Cron2 = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

const FACILITIES: [(Facility, &str); 24] = [
    (Facility::Kern, "kern"),
    (Facility::User, "user"),
    (Facility::Mail, "mail"),
    (Facility::Daemon, "daemon"),
    (Facility::Auth, "auth"),
    (Facility::Syslog, "syslog"),
    (Facility::Lpr, "lpr"),
    (Facility::News, "news"),
    (Facility::Uucp, "uucp"),
    (Facility::Cron, "cron"),
    (Facility::Auth2, "auth2"),
    (Facility::Ftp, "ftp"),
    (Facility::Ntp, "ntp"),
    (Facility::Audit, "audit"),
    (Facility::Alert, "alert"),
    (Facility::Cron2, "cron2"),
    (Facility::Local0, "local0"),
    (Facility::Local1, "local1"),
    (Facility::Local2, "local2"),
    (Facility::Local3, "local3"),
    (Facility::Local4, "local4"),
    (Facility::Local5, "local5"),
    (Facility::Local6, "local6"),
    (Facility::Local7, "local7"),
];

impl Facility {
    /// The facility HAProxy spells `name` (case-sensitive, as HAProxy).
    pub fn from_name(name: &str) -> Option<Facility> {
        FACILITIES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    pub fn name(self) -> &'static str {
        FACILITIES[self as usize].1
    }

    /// The numeric code (0..=23).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Syslog severities, most severe first; the numeric value is the RFC 5424
/// code, so `Emerg < Debug` in the derived order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

const LEVELS: [(Level, &str); 8] = [
    (Level::Emerg, "emerg"),
    (Level::Alert, "alert"),
    (Level::Crit, "crit"),
    (Level::Err, "err"),
    (Level::Warning, "warning"),
    (Level::Notice, "notice"),
    (Level::Info, "info"),
    (Level::Debug, "debug"),
];

impl Level {
    pub fn from_name(name: &str) -> Option<Level> {
        LEVELS.iter().find(|(_, n)| *n == name).map(|(l, _)| *l)
    }

    pub fn name(self) -> &'static str {
        LEVELS[self as usize].1
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The syslog PRI value: `facility * 8 + level` (RFC 3164 section 4.1.1,
/// RFC 5424 section 6.2.1), 0..=191.
pub fn pri(facility: Facility, level: Level) -> u8 {
    facility.code() * 8 + level.code()
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAddr {
    /// `stdout` (HAProxy's alias for `fd@1`).
    Stdout,
    /// `stderr` (`fd@2`).
    Stderr,
    /// A UDP syslog server.
    Udp(SocketAddr),
    /// A unix datagram socket, e.g. `/dev/log`.
    Unix(PathBuf),
}

impl TargetAddr {
    /// Datagram targets (UDP, unix) and file descriptors (stdout, stderr)
    /// truncate differently, as in HAProxy (see `syslog::Framer::frame`).
    pub fn is_datagram(&self) -> bool {
        matches!(self, TargetAddr::Udp(_) | TargetAddr::Unix(_))
    }
}

/// The `format` argument. HAProxy's default when no `format` is given is
/// `local`: RFC 3164 without the hostname field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `format local`, the default: `<PRI>Mmm dd hh:mm:ss tag[pid]: msg`.
    Local,
    /// `format rfc3164`: `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`; the host is
    /// `log-send-hostname`'s or, as in HAProxy, `localhost`.
    Rfc3164,
    /// `format priority`: `<PRI>msg`.
    Priority,
    /// `format short`: `<L>msg` where L is the level alone (0..7), as HAProxy
    /// does (the facility is not included; systemd reads this).
    Short,
    /// `format raw`: the message alone.
    Raw,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Local => "local",
            LogFormat::Rfc3164 => "rfc3164",
            LogFormat::Priority => "priority",
            LogFormat::Short => "short",
            LogFormat::Raw => "raw",
        }
    }
}

/// HAProxy's default `len` (MAX_SYSLOG_LEN).
pub const DEFAULT_MAX_LEN: usize = 1024;
/// HAProxy accepts `len` from 80 to 65535.
pub const MIN_MAX_LEN: usize = 80;
pub const MAX_MAX_LEN: usize = 65535;
/// The default syslog port.
pub const SYSLOG_PORT: u16 = 514;
/// Facility used when `stdout`/`stderr` is given none.
pub const DEFAULT_FD_FACILITY: Facility = Facility::User;

/// One parsed `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub addr: TargetAddr,
    pub format: LogFormat,
    pub facility: Facility,
    /// Lines less severe than this are not sent (None: all are sent).
    pub max_level: Option<Level>,
    /// Lines more severe than this are sent with this level (None: no cap).
    pub min_level: Option<Level>,
    /// `len`: maximum line length (see `syslog::Framer::frame` for exactly
    /// what it bounds).
    pub max_len: usize,
}

impl LogTarget {
    /// A target with HAProxy's defaults for everything but the address.
    pub fn new(addr: TargetAddr, facility: Facility) -> LogTarget {
        LogTarget {
            addr,
            format: LogFormat::Local,
            facility,
            max_level: None,
            min_level: None,
            max_len: DEFAULT_MAX_LEN,
        }
    }

    /// Whether a line of `level` goes to this target (HAProxy: `level >
    /// logsrv->level` is skipped).
    pub fn accepts(&self, level: Level) -> bool {
        self.max_level.is_none_or(|max| level <= max)
    }

    /// The level the line is sent with: capped to `min_level` (HAProxy:
    /// `MAX(level, logsrv->minlvl)`).
    pub fn effective_level(&self, level: Level) -> Level {
        match self.min_level {
            Some(min) if level < min => min,
            _ => level,
        }
    }
}

/// Parses the words after `log` (not including it). Errors say what is wrong;
/// the caller adds the file and line.
pub fn parse_log_target(words: &[&str]) -> Result<LogTarget, String> {
    let Some(&addr_word) = words.first().filter(|w| !w.is_empty()) else {
        return Err("expects <address> and <facility> as arguments".into());
    };
    let addr = parse_addr(addr_word)?;
    let is_fd = matches!(addr, TargetAddr::Stdout | TargetAddr::Stderr);

    let mut format = None;
    let mut max_len = None;
    let mut i = 1;
    while let Some(&w) = words.get(i) {
        match w {
            "len" => {
                if max_len.is_some() {
                    return Err("'len' given twice".into());
                }
                let v = words.get(i + 1).copied().unwrap_or("");
                max_len = Some(parse_len(v)?);
                i += 2;
            }
            "format" => {
                if format.is_some() {
                    return Err("'format' given twice".into());
                }
                let v = words.get(i + 1).copied().unwrap_or("");
                format = Some(parse_format(v)?);
                i += 2;
            }
            "sample" => return Err("'sample' is not supported yet".into()),
            _ => break,
        }
    }

    let facility = match words.get(i) {
        Some(&w) => {
            i += 1;
            Facility::from_name(w).ok_or_else(|| format!("unknown log facility '{w}'"))?
        }
        None if is_fd => DEFAULT_FD_FACILITY,
        None => return Err("expects <address> and <facility> as arguments".into()),
    };
    let mut max_level = None;
    if let Some(&w) = words.get(i) {
        i += 1;
        max_level =
            Some(Level::from_name(w).ok_or_else(|| format!("unknown optional log level '{w}'"))?);
    }
    let mut min_level = None;
    if let Some(&w) = words.get(i) {
        i += 1;
        min_level = Some(
            Level::from_name(w)
                .ok_or_else(|| format!("unknown optional minimum log level '{w}'"))?,
        );
    }
    if let Some(&w) = words.get(i) {
        return Err(format!("cannot handle unexpected argument '{w}'"));
    }
    Ok(LogTarget {
        addr,
        format: format.unwrap_or(LogFormat::Local),
        facility,
        max_level,
        min_level,
        max_len: max_len.unwrap_or(DEFAULT_MAX_LEN),
    })
}

fn parse_len(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (MIN_MAX_LEN..=MAX_MAX_LEN).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid log length '{v}', must be between {MIN_MAX_LEN} and {MAX_MAX_LEN}"
        )),
    }
}

fn parse_format(v: &str) -> Result<LogFormat, String> {
    Ok(match v {
        "local" => LogFormat::Local,
        "rfc3164" => LogFormat::Rfc3164,
        "priority" => LogFormat::Priority,
        "short" => LogFormat::Short,
        "raw" => LogFormat::Raw,
        "rfc5424" | "timed" | "iso" => {
            return Err(format!("log format '{v}' is not supported yet"));
        }
        "" => return Err("'format' expects a format name".into()),
        _ => return Err(format!("unknown log format '{v}'")),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Any,
    V4,
    V6,
}

/// Longest unix socket path (sun_path is 108 bytes with the final NUL).
const UNIX_PATH_MAX: usize = 107;

fn parse_addr(word: &str) -> Result<TargetAddr, String> {
    match word {
        "stdout" | "fd@1" => return Ok(TargetAddr::Stdout),
        "stderr" | "fd@2" => return Ok(TargetAddr::Stderr),
        _ => {}
    }
    if word.starts_with('/') {
        return unix_path(word, word);
    }
    let (prefix, rest) = match word.find('@') {
        Some(at) => (&word[..at], &word[at + 1..]),
        None => ("", word),
    };
    let family = match prefix {
        "" | "udp" => Family::Any,
        "ipv4" | "udp4" => Family::V4,
        "ipv6" | "udp6" => Family::V6,
        "unix" | "uxdg" => return unix_path(rest, word),
        "fd" => {
            return Err(format!(
                "'{word}': only fd@1 (stdout) and fd@2 (stderr) are supported"
            ));
        }
        "ring" | "tcp" | "tcp4" | "tcp6" | "uxst" => {
            return Err(format!(
                "'{word}': ring and stream log targets are not supported yet"
            ));
        }
        "abns" => {
            return Err(format!(
                "'{word}': abstract unix sockets are not supported yet"
            ));
        }
        _ => return Err(format!("unknown address family '{prefix}@' in '{word}'")),
    };
    parse_inet(rest, family, word).map(TargetAddr::Udp)
}

fn unix_path(path: &str, word: &str) -> Result<TargetAddr, String> {
    if path.is_empty() {
        return Err(format!("missing socket path in '{word}'"));
    }
    if path.len() > UNIX_PATH_MAX {
        return Err(format!(
            "socket path '{path}' too long (max {UNIX_PATH_MAX})"
        ));
    }
    Ok(TargetAddr::Unix(PathBuf::from(path)))
}

fn parse_inet(s: &str, family: Family, word: &str) -> Result<SocketAddr, String> {
    if s.is_empty() {
        return Err(format!("missing address in '{word}'"));
    }
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(format!("missing ']' in '{word}'"));
        };
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => p,
            None if after.is_empty() => "",
            None => return Err(format!("unexpected '{after}' after ']' in '{word}'")),
        };
        let host = &inner[..close];
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address '{host}' in '{word}'"));
        }
        (host, port)
    } else {
        // HAProxy (str2sa_range): the port is after the last colon.
        match s.rfind(':') {
            Some(c) => (&s[..c], &s[c + 1..]),
            None => (s, ""),
        }
    };
    let port = parse_port(port, word)?;
    let ip = resolve(host, family, word)?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_port(p: &str, word: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Ok(SYSLOG_PORT);
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port '{p}' in '{word}'"));
    }
    match p.parse::<u16>() {
        // HAProxy treats port 0 as "not given" and uses 514.
        Ok(0) => Ok(SYSLOG_PORT),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("invalid port '{p}' in '{word}'")),
    }
}

/// IP literal, or a host name resolved now (HAProxy resolves log server names
/// when it parses the configuration, PA_O_RESOLVE). This may block on DNS:
/// it is meant for configuration loading, never for a shard.
fn resolve(host: &str, family: Family, word: &str) -> Result<IpAddr, String> {
    if host.is_empty() {
        return Err(format!("missing address in '{word}'"));
    }
    let literal = if host == "*" {
        Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else {
        host.parse::<IpAddr>().ok()
    };
    let fits = |ip: &IpAddr| match family {
        Family::Any => true,
        Family::V4 => ip.is_ipv4(),
        Family::V6 => ip.is_ipv6(),
    };
    if let Some(ip) = literal {
        if !fits(&ip) {
            return Err(format!(
                "address '{host}' is not of the family asked in '{word}'"
            ));
        }
        return Ok(ip);
    }
    if host.contains(':') {
        return Err(format!(
            "invalid address '{host}' in '{word}' (IPv6: write [addr]:port, or put the port after the last colon)"
        ));
    }
    let addrs = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| format!("could not resolve address '{host}' in '{word}': {e}"))?;
    addrs
        .map(|sa| sa.ip())
        .find(fits)
        .ok_or_else(|| format!("could not resolve address '{host}' in '{word}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<LogTarget, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        parse_log_target(&words)
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn stdout_and_stderr() {
        let t = p("stdout format raw local0 info").unwrap();
        assert_eq!(t.addr, TargetAddr::Stdout);
        assert_eq!(t.format, LogFormat::Raw);
        assert_eq!(t.facility, Facility::Local0);
        assert_eq!(t.max_level, Some(Level::Info));
        assert_eq!(t.min_level, None);
        assert_eq!(t.max_len, 1024);

        let t = p("stdout format raw local0").unwrap();
        assert_eq!((t.facility, t.max_level), (Facility::Local0, None));

        let t = p("stderr format raw").unwrap();
        assert_eq!(t.addr, TargetAddr::Stderr);
        assert_eq!(t.format, LogFormat::Raw);
        assert_eq!(t.facility, DEFAULT_FD_FACILITY);

        assert_eq!(p("stdout").unwrap().format, LogFormat::Local);
        assert_eq!(p("fd@1 local1").unwrap().addr, TargetAddr::Stdout);
        assert_eq!(p("fd@2 local1").unwrap().addr, TargetAddr::Stderr);
        assert!(p("fd@3 local1").unwrap_err().contains("fd@1"));
    }

    #[test]
    fn udp_forms() {
        let t = p("127.0.0.1:514 local0 info").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("127.0.0.1:514")));
        assert_eq!(t.format, LogFormat::Local);
        assert_eq!(t.max_level, Some(Level::Info));

        let t = p("127.0.0.1 local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("127.0.0.1:514")));
        assert_eq!(t.max_level, None);

        let t = p("udp@1.2.3.4:1514 local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("1.2.3.4:1514")));
        let t = p("ipv4@10.0.0.1 daemon").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("10.0.0.1:514")));
        assert_eq!(t.facility, Facility::Daemon);
        let t = p("udp4@10.0.0.1:600 kern").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("10.0.0.1:600")));
        // port 0 is "not given" in HAProxy
        let t = p("10.0.0.1:0 kern").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("10.0.0.1:514")));
        // an empty port after the colon too
        let t = p("10.0.0.1: kern").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("10.0.0.1:514")));
    }

    #[test]
    fn ipv6_forms() {
        let t = p("ipv6@[::1]:514 local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("[::1]:514")));
        let t = p("[::1] local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("[::1]:514")));
        let t = p("udp6@[2001:db8::7]:1514 local3").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("[2001:db8::7]:1514")));
        // HAProxy's own form: the port is after the last colon.
        let t = p("ipv6@::1:514 local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("[::1]:514")));
        let t = p(":::1514 local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("[::]:1514")));
        // ... so a bare "::1" is "::" + port 1 in HAProxy's reading: we
        // refuse the ambiguous ":" host with a hint instead.
        assert!(p("::1 local0").unwrap_err().contains("[addr]:port"));
        // family mismatch
        assert!(p("ipv6@127.0.0.1 local0").unwrap_err().contains("family"));
        assert!(p("ipv4@[::1]:514 local0").unwrap_err().contains("family"));
        assert!(p("[::1 local0").unwrap_err().contains("']'"));
        assert!(p("[::1]x local0").unwrap_err().contains("after ']'"));
        assert!(p("[1.2.3.4]:514 local0").unwrap_err().contains("IPv6"));
    }

    #[test]
    fn hostnames_are_resolved() {
        // localhost resolves through /etc/hosts, no network needed.
        let t = p("ipv4@localhost:1514 local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Udp(sa("127.0.0.1:1514")));
        assert!(
            p("no-such-host.invalid local0")
                .unwrap_err()
                .contains("could not resolve")
        );
    }

    #[test]
    fn unix_forms() {
        let t = p("/dev/log local0 notice").unwrap();
        assert_eq!(t.addr, TargetAddr::Unix("/dev/log".into()));
        assert_eq!(t.max_level, Some(Level::Notice));
        let t = p("unix@/dev/log local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Unix("/dev/log".into()));
        let t = p("unix@relative.sock local0").unwrap();
        assert_eq!(t.addr, TargetAddr::Unix("relative.sock".into()));
        let long = format!("/{} local0", "x".repeat(UNIX_PATH_MAX));
        assert!(p(&long).unwrap_err().contains("too long"));
        let ok = format!("/{} local0", "x".repeat(UNIX_PATH_MAX - 1));
        assert!(p(&ok).is_ok());
        assert!(p("unix@ local0").unwrap_err().contains("missing"));
    }

    #[test]
    fn len_and_format() {
        let t = p("127.0.0.1 len 4096 format rfc3164 local0").unwrap();
        assert_eq!((t.max_len, t.format), (4096, LogFormat::Rfc3164));
        // either order
        let t = p("127.0.0.1 format short len 80 local0").unwrap();
        assert_eq!((t.max_len, t.format), (80, LogFormat::Short));
        assert_eq!(p("stdout format local").unwrap().format, LogFormat::Local);
        assert_eq!(
            p("stdout format priority").unwrap().format,
            LogFormat::Priority
        );
        assert_eq!(p("stdout len 65535").unwrap().max_len, 65535);

        for bad in ["79", "65536", "abc", "-1", ""] {
            let line = format!("stdout len {bad} local0");
            let e = p(&line).unwrap_err();
            assert!(e.contains("invalid log length"), "{line}: {e}");
        }
        let e = p("stdout format rfc5424 local0").unwrap_err();
        assert!(e.contains("not supported yet"), "{e}");
        assert!(
            p("stdout format iso")
                .unwrap_err()
                .contains("not supported yet")
        );
        assert!(
            p("stdout format json")
                .unwrap_err()
                .contains("unknown log format 'json'")
        );
        assert!(p("stdout format").unwrap_err().contains("expects a format"));
        assert!(p("stdout len 100 len 200").unwrap_err().contains("twice"));
        assert!(
            p("stdout format raw format raw")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            p("127.0.0.1 sample 1:2 local0")
                .unwrap_err()
                .contains("sample")
        );
    }

    #[test]
    fn facilities_and_levels() {
        let t = p("127.0.0.1 local7 debug emerg").unwrap();
        assert_eq!(t.facility, Facility::Local7);
        assert_eq!(t.max_level, Some(Level::Debug));
        assert_eq!(t.min_level, Some(Level::Emerg));
        for (f, name) in FACILITIES {
            assert_eq!(Facility::from_name(name), Some(f));
            assert_eq!(f.name(), name);
        }
        for (l, name) in LEVELS {
            assert_eq!(Level::from_name(name), Some(l));
            assert_eq!(l.name(), name);
        }
        assert_eq!(Facility::from_name("LOCAL0"), None);
        assert_eq!(
            p("127.0.0.1 local8").unwrap_err(),
            "unknown log facility 'local8'"
        );
        assert_eq!(
            p("127.0.0.1 local0 inf").unwrap_err(),
            "unknown optional log level 'inf'"
        );
        assert_eq!(
            p("127.0.0.1 local0 info nope").unwrap_err(),
            "unknown optional minimum log level 'nope'"
        );
        assert_eq!(
            p("127.0.0.1 local0 info err extra").unwrap_err(),
            "cannot handle unexpected argument 'extra'"
        );
    }

    #[test]
    fn errors() {
        assert!(
            parse_log_target(&[])
                .unwrap_err()
                .contains("expects <address>")
        );
        assert!(
            parse_log_target(&[""])
                .unwrap_err()
                .contains("expects <address>")
        );
        assert!(p("127.0.0.1").unwrap_err().contains("<facility>"));
        assert!(p("/dev/log").unwrap_err().contains("<facility>"));
        assert!(p("127.0.0.1 len 100").unwrap_err().contains("<facility>"));
        assert!(
            p("1.2.3.4:abc local0")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(
            p("1.2.3.4:10-20 local0")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(
            p("1.2.3.4:70000 local0")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(p("ring@buf local0").unwrap_err().contains("not supported"));
        assert!(
            p("tcp@1.2.3.4:514 local0")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(p("abns@x local0").unwrap_err().contains("not supported"));
        assert!(
            p("foo@x local0")
                .unwrap_err()
                .contains("unknown address family")
        );
        assert!(p("udp@ local0").unwrap_err().contains("missing address"));
        assert!(p(":514 local0").unwrap_err().contains("missing address"));
    }

    #[test]
    fn pri_values() {
        assert_eq!(pri(Facility::Kern, Level::Emerg), 0);
        assert_eq!(pri(Facility::User, Level::Notice), 13);
        assert_eq!(pri(Facility::Local0, Level::Info), 134);
        assert_eq!(pri(Facility::Local0, Level::Err), 131);
        assert_eq!(pri(Facility::Local7, Level::Debug), 191);
        assert_eq!(pri(Facility::Auth2, Level::Warning), 84);
    }

    #[test]
    fn level_filter_and_cap() {
        let mut t = LogTarget::new(TargetAddr::Stdout, Facility::Local0);
        assert!(t.accepts(Level::Debug));
        t.max_level = Some(Level::Notice);
        assert!(t.accepts(Level::Emerg));
        assert!(t.accepts(Level::Notice));
        assert!(!t.accepts(Level::Info));
        assert_eq!(t.effective_level(Level::Emerg), Level::Emerg);
        t.min_level = Some(Level::Err);
        assert_eq!(t.effective_level(Level::Emerg), Level::Err);
        assert_eq!(t.effective_level(Level::Err), Level::Err);
        assert_eq!(t.effective_level(Level::Info), Level::Info);
    }
}
