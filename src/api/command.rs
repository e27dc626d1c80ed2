//! Command lines of the runtime API: framing, words, the `Command` enum, the
//! level each command needs and HAProxy's usage text. Pure: no I/O and no
//! runtime state (names are resolved when a command runs).
//!
//! Framing and words follow HAProxy's `cli_io_handler`/`cli_parse_request`:
//! a command ends at the first `\n` or `;` not escaped by a backslash, a
//! trailing `\r` is dropped, words are separated by spaces or tabs, and a
//! backslash makes the next character literal (`\;`, `\ `, `\\`).

use std::time::Duration;

use crate::backend::Admin;
use crate::config::ApiLevel as Level;

/// The next command of `buf`: its bytes (without the delimiter and a
/// trailing `\r`) and how many bytes it used, or `None` while no delimiter
/// has arrived.
pub fn next_command(buf: &[u8]) -> Option<(&[u8], usize)> {
    let mut i = 0;
    while i < buf.len() {
        match buf[i] {
            b'\\' => i += 2,
            b'\n' | b';' => {
                let line = &buf[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Some((line, i + 1));
            }
            _ => i += 1,
        }
    }
    None
}

/// Splits a command into words: spaces and tabs separate them, a backslash
/// keeps the next character (including a space) in the word.
pub fn words(line: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' | b'\t' => {
                if in_word {
                    out.push(String::from_utf8_lossy(&cur).into_owned());
                    cur.clear();
                    in_word = false;
                }
            }
            b'\\' => {
                in_word = true;
                if let Some(&c) = line.get(i + 1) {
                    cur.push(c);
                }
                i += 1;
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
        i += 1;
    }
    if in_word {
        out.push(String::from_utf8_lossy(&cur).into_owned());
    }
    out
}

/// A server named on the command line (`<backend>/<server>`), resolved when
/// the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRef {
    pub backend: String,
    pub server: String,
}

/// `prompt` and its one-letter forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptMode {
    /// Bare `prompt`: interactive with prompt on, or back to non-interactive.
    Toggle,
    /// `prompt n`: non-interactive (one command line, then close).
    NonInteractive,
    /// `prompt i`: interactive without the `> ` prompt.
    Interactive,
    /// `prompt p`: interactive with the `> ` prompt.
    Prompt,
}

/// `show stat [{<iid>|<proxy>} <type> <sid>] [no-maint] [up]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatQuery {
    /// `(proxy, type, sid)`: proxy name or numeric id (-1: all), type mask
    /// (1 frontends, 2 backends, 4 servers; -1: all), server id (-1: all).
    pub bound: Option<(String, i64, i64)>,
    /// `no-maint`: servers in maintenance are left out.
    pub hide_maint: bool,
    /// `up`: only servers that are up are shown.
    pub hide_down: bool,
}

/// `set server <srv> ...` after the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetServer {
    State(Admin),
    Weight(String),
}

/// What `wait` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitCond {
    /// Just sleep.
    None,
    /// `srv-removable <backend>/<server>`.
    SrvRemovable(SrvRef),
}

/// One parsed command. Arguments whose meaning depends on the running
/// configuration (names, weights relative to the initial one) are kept as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help [words...]`: the words select the commands listed.
    Help(Vec<String>),
    Prompt(PromptMode),
    Quit,
    /// `_getsocks`: hand the listening sockets over (`xfer`), on a UNIX
    /// socket with `expose-fd listeners`.
    GetSocks,
    ShowInfo,
    ShowStat(StatQuery),
    ShowServersState(Option<String>),
    ShowBackend,
    /// `show sess [id|all]`: `None` lists every stream.
    ShowSess(Option<u64>),
    ShowVersion,
    ShowCliLevel,
    /// `operator` / `user`: lower the session's level.
    SetLevel(Level),
    /// `add server <b>/<s> <addr> [options]`: `args` starts at the address.
    AddServer {
        backend: String,
        server: String,
        args: Vec<String>,
    },
    DelServer(SrvRef),
    /// `set server <srv> state|weight ...`; the error is for the words after
    /// the server, reported only once the server is found (HAProxy's order).
    SetServer(SrvRef, Result<SetServer, String>),
    /// `enable server` / `disable server`.
    SetAdmin(SrvRef, Admin),
    /// `set weight <srv> <w>` (the weight as written: `N` or `N%`).
    SetWeight(SrvRef, String),
    GetWeight(SrvRef),
    SetMaxconn(SrvRef, String),
    /// `enable health` / `disable health`.
    SetHealth(SrvRef, bool),
    ShutdownServerSessions(SrvRef),
    ShutdownSession(u64),
    Wait {
        delay: Duration,
        cond: WaitCond,
    },
    /// `show|clear|set table [args]`: the words after `table`, checked
    /// against the table when the command runs.
    Table(super::table::TableAction, Vec<String>),
}

/// What a command line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// No command starts with these words: print the usage message.
    Unknown(Vec<String>),
    /// A command needing `level`; `Err` holds the exact text HAProxy prints
    /// for wrong arguments (printed only if the level allows the command).
    Known {
        level: Level,
        cmd: Result<Command, String>,
    },
}

fn known(level: Level, cmd: Result<Command, String>) -> Parsed {
    Parsed::Known { level, cmd }
}

/// HAProxy's messages for a missing `backend/server` argument.
pub const REQUIRE_BE_SRV: &str = "Require 'backend/server'.\n";

/// Splits `backend/server` as `cli_find_server` does: both parts required.
fn find_server_ref(arg: Option<&str>) -> Result<SrvRef, String> {
    match arg.unwrap_or_default().split_once('/') {
        Some((b, s)) if !b.is_empty() && !s.is_empty() => Ok(SrvRef {
            backend: b.to_string(),
            server: s.to_string(),
        }),
        _ => Err(REQUIRE_BE_SRV.to_string()),
    }
}

/// Splits `backend/server` as `add server`/`del server` do: the separator is
/// searched from the second character, and their message has no newline.
fn add_del_ref(arg: Option<&str>) -> Result<SrvRef, String> {
    let a = arg.unwrap_or_default();
    let split = a
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '/')
        .map(|(i, _)| (&a[..i], &a[i + 1..]));
    match split {
        Some((b, s)) if !s.is_empty() => Ok(SrvRef {
            backend: b.to_string(),
            server: s.to_string(),
        }),
        _ => Err("Require 'backend/server'.".to_string()),
    }
}

/// C's `strtoul(s, NULL, 0)`: `0x` hex, leading `0` octal, else decimal;
/// parses the longest valid prefix; 0 when nothing parses.
pub fn strtoul(s: &str) -> u64 {
    let s = s.trim_start();
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .char_indices()
        .find(|(_, c)| !c.is_digit(radix))
        .map_or(digits.len(), |(i, _)| i);
    u64::from_str_radix(&digits[..end], radix).unwrap_or(0)
}

/// C's `strtol` on a whole word: optional spaces and sign, digits, and the
/// rest of the word (`None` when no digit). Saturates like `strtol`.
pub fn strtol(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start();
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let n = body[..end].parse::<i64>().unwrap_or(i64::MAX);
    Some((if neg { -n } else { n }, &body[end..]))
}

/// C's `atoi`: `strtol`'s number, 0 when there is no digit.
pub fn atoi(s: &str) -> i64 {
    strtol(s).map_or(0, |(n, _)| n)
}

/// Parses one command's words.
pub fn parse(w: &[String]) -> Parsed {
    let v: Vec<&str> = w.iter().map(String::as_str).collect();
    let a = |i: usize| v.get(i).copied().filter(|s| !s.is_empty());
    let rest = |i: usize| w.get(i..).unwrap_or_default().to_vec();
    use Level::*;
    match v.as_slice() {
        ["help", ..] => known(User, Ok(Command::Help(rest(1)))),
        ["prompt", ..] => {
            let mode = match a(1) {
                Some("n") => PromptMode::NonInteractive,
                Some("i") => PromptMode::Interactive,
                Some("p") => PromptMode::Prompt,
                _ => PromptMode::Toggle,
            };
            known(User, Ok(Command::Prompt(mode)))
        }
        ["quit", ..] => known(User, Ok(Command::Quit)),
        ["_getsocks", ..] => known(Admin, Ok(Command::GetSocks)),
        ["show", "info", ..] => known(User, show_format(&v[2..]).map(|()| Command::ShowInfo)),
        ["show", "stat", ..] => known(User, show_stat(&v[2..]).map(Command::ShowStat)),
        ["show", "servers", "state", ..] => known(
            User,
            Ok(Command::ShowServersState(a(3).map(str::to_string))),
        ),
        ["show", "backend", ..] => known(User, Ok(Command::ShowBackend)),
        ["show", "sess", ..] => {
            let target = match a(2) {
                None | Some("all") => None,
                Some(id) => Some(strtoul(id)),
            };
            known(Operator, Ok(Command::ShowSess(target)))
        }
        ["show", "version", ..] => known(User, Ok(Command::ShowVersion)),
        ["show", "cli", "level", ..] => known(User, Ok(Command::ShowCliLevel)),
        ["operator", ..] => known(Operator, Ok(Command::SetLevel(Operator))),
        ["user", ..] => known(User, Ok(Command::SetLevel(User))),
        ["add", "server", ..] => {
            let cmd = add_del_ref(a(2)).map(|r| Command::AddServer {
                backend: r.backend,
                server: r.server,
                args: rest(3),
            });
            known(Admin, cmd)
        }
        ["del", "server", ..] => known(Admin, add_del_ref(a(2)).map(Command::DelServer)),
        ["enable", "server", ..] | ["disable", "server", ..] => {
            let admin = if v[0] == "enable" {
                crate::backend::Admin::Ready
            } else {
                crate::backend::Admin::Maint
            };
            known(
                Admin,
                find_server_ref(a(2)).map(|r| Command::SetAdmin(r, admin)),
            )
        }
        ["enable", "health", ..] | ["disable", "health", ..] => {
            let on = v[0] == "enable";
            known(
                Admin,
                find_server_ref(a(2)).map(|r| Command::SetHealth(r, on)),
            )
        }
        ["set", "server", ..] => {
            let cmd = find_server_ref(a(2)).map(|r| Command::SetServer(r, set_server(&v[3..])));
            known(Admin, cmd)
        }
        ["set", "weight", ..] => {
            let cmd = find_server_ref(a(2))
                .map(|r| Command::SetWeight(r, a(3).unwrap_or_default().to_string()));
            known(Admin, cmd)
        }
        ["get", "weight", ..] => known(User, get_weight_ref(a(2)).map(Command::GetWeight)),
        ["set", "maxconn", "server", ..] => {
            let cmd = find_server_ref(a(3))
                .map(|r| Command::SetMaxconn(r, a(4).unwrap_or_default().to_string()));
            known(Admin, cmd)
        }
        ["shutdown", "sessions", "server", ..] => known(
            Admin,
            find_server_ref(a(3)).map(Command::ShutdownServerSessions),
        ),
        ["shutdown", "session", ..] => {
            let cmd = match a(2) {
                None => Err("Session pointer expected (use 'show sess').\n".to_string()),
                Some(id) => Ok(Command::ShutdownSession(strtoul(id))),
            };
            known(Admin, cmd)
        }
        ["wait", ..] => known(Admin, wait(&v[1..])),
        ["show", "table", ..] => known(
            User,
            Ok(Command::Table(super::table::TableAction::Show, rest(2))),
        ),
        ["clear", "table", ..] => known(
            Operator,
            Ok(Command::Table(super::table::TableAction::Clear, rest(2))),
        ),
        ["set", "table", ..] => known(
            Operator,
            Ok(Command::Table(super::table::TableAction::Set, rest(2))),
        ),
        _ => Parsed::Unknown(w.to_vec()),
    }
}

/// `show info`/`show stat` output formats: only the default one exists.
fn show_format(args: &[&str]) -> Result<(), String> {
    match args.iter().find(|a| matches!(**a, "typed" | "json")) {
        Some(f) => Err(format!(
            "The '{f}' output format is not supported by ringproxy yet.\n"
        )),
        None => Ok(()),
    }
}

fn show_stat(args: &[&str]) -> Result<StatQuery, String> {
    let mut q = StatQuery::default();
    let mut rest = args;
    if let [px, ty, sid, tail @ ..] = args
        && !px.is_empty()
        && !ty.is_empty()
        && !sid.is_empty()
    {
        q.bound = Some((px.to_string(), atoi(ty), atoi(sid)));
        rest = tail;
    }
    show_format(rest)?;
    q.hide_maint = rest.contains(&"no-maint");
    q.hide_down = rest.contains(&"up");
    Ok(q)
}

/// `get weight` needs only the separator (the backend may be missing: it
/// says so when looking it up).
fn get_weight_ref(arg: Option<&str>) -> Result<SrvRef, String> {
    match arg.unwrap_or_default().split_once('/') {
        Some((b, s)) if !s.is_empty() => Ok(SrvRef {
            backend: b.to_string(),
            server: s.to_string(),
        }),
        _ => Err(REQUIRE_BE_SRV.to_string()),
    }
}

/// The words after `set server <srv>`.
fn set_server(args: &[&str]) -> Result<SetServer, String> {
    let value = args.get(1).copied().unwrap_or_default();
    match args.first().copied().unwrap_or_default() {
        "weight" => Ok(SetServer::Weight(value.to_string())),
        "state" => match value {
            "ready" => Ok(SetServer::State(Admin::Ready)),
            "drain" => Ok(SetServer::State(Admin::Drain)),
            "maint" => Ok(SetServer::State(Admin::Maint)),
            _ => {
                Err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".to_string())
            }
        },
        w @ ("addr" | "agent" | "agent-addr" | "agent-port" | "agent-send" | "check-addr"
        | "check-port" | "fqdn" | "health" | "ssl") => Err(format!(
            "'set server <srv> {w}' is not supported by ringproxy yet.\n"
        )),
        _ => Err(
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | \
                  agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"
                .to_string(),
        ),
    }
}

/// HAProxy's `wait -h` text (also printed for an unknown condition).
pub const WAIT_USAGE: &str = "Usage: wait {-h|<duration>} [condition [args...]]\n\
  - '-h' displays this help\n\
  - <duration> is the maximum wait time, optionally suffixed by the unit among\n    \
'us', 'ms', 's', 'm', 'h', and 'd'. ; the default unit is milliseconds.\n\
  - <condition> indicates what to wait for, no longer than the specified\n    \
duration. Supported conditions are:\n    \
- <none> : by default, just sleep for the specified duration.\n    \
- srv-removable <px>/<sv> : wait for this server to become removable.\n";

/// `wait {-h|<delay>} [srv-removable <b>/<s>]` (HAProxy's `cli_parse_wait`).
/// `-h` anywhere it is looked for prints the usage as a plain message, so it
/// comes back as `Err` with the usage text: the caller prints it either way.
fn wait(args: &[&str]) -> Result<Command, String> {
    let Some(first) = args.first().filter(|s| !s.is_empty()) else {
        return Err("Expects a duration in milliseconds.\n".to_string());
    };
    let (delay, cond_at) = match crate::config::time::parse_duration(first) {
        Ok(d) if d >= Duration::from_millis(1) => (d, 1),
        _ if *first == "-h" => (Duration::ZERO, 0),
        _ => return Err("Invalid duration.\n".to_string()),
    };
    let cond = args.get(cond_at).copied().unwrap_or_default();
    match cond {
        "" => Ok(Command::Wait {
            delay,
            cond: WaitCond::None,
        }),
        "srv-removable" => {
            let Some(name) = args.get(cond_at + 1).filter(|s| !s.is_empty()) else {
                return Err("Missing server name (<backend>/<server>).\n".to_string());
            };
            match name.split_once('/') {
                Some((b, s)) if !s.is_empty() => Ok(Command::Wait {
                    delay,
                    cond: WaitCond::SrvRemovable(SrvRef {
                        backend: b.to_string(),
                        server: s.to_string(),
                    }),
                }),
                _ => Err(REQUIRE_BE_SRV.to_string()),
            }
        }
        _ => Err(WAIT_USAGE.to_string()),
    }
}

/// One command in the help list.
struct Keyword {
    words: &'static [&'static str],
    usage: &'static str,
}

/// Every listed command, with HAProxy 2.6's usage line where ringproxy does
/// what it says (arguments ringproxy does not take are left out of it).
const KEYWORDS: &[Keyword] = &[
    kw(
        &["add", "server"],
        "add server <bk>/<srv>                   : create a new server",
    ),
    kw(
        &["del", "server"],
        "del server <bk>/<srv>                   : remove a dynamically added server",
    ),
    kw(
        &["clear", "table"],
        "clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)",
    ),
    kw(
        &["disable", "health"],
        "disable health                          : disable health checks",
    ),
    kw(
        &["disable", "server"],
        "disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
    ),
    kw(
        &["enable", "health"],
        "enable health                           : enable health checks",
    ),
    kw(
        &["enable", "server"],
        "enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
    ),
    kw(
        &["get", "weight"],
        "get weight <bk>/<srv>                   : report a server's current weight",
    ),
    kw(
        &["operator"],
        "operator                                : lower the level of the current CLI session to operator",
    ),
    kw(
        &["set", "maxconn", "server"],
        "set maxconn server <bk>/<srv>           : change a server's maxconn setting",
    ),
    kw(
        &["set", "server"],
        "set server <bk>/<srv> [opts]            : change a server's state or weight",
    ),
    kw(
        &["set", "table"],
        "set table <table> key <k> [data.* <v>]* : update or create a table entry's data",
    ),
    kw(
        &["set", "weight"],
        "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
    ),
    kw(
        &["show", "backend"],
        "show backend                            : list backends in the current running config",
    ),
    kw(
        &["show", "cli", "level"],
        "show cli level                          : display the level of the current CLI session",
    ),
    kw(
        &["show", "info"],
        "show info                               : report information about the running process",
    ),
    kw(
        &["show", "servers", "state"],
        "show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
    ),
    kw(
        &["show", "sess"],
        "show sess [id]                          : report the list of current sessions or dump this exact session",
    ),
    kw(
        &["show", "stat"],
        "show stat [no-maint|up]*                : report counters for each proxy and server",
    ),
    kw(
        &["show", "table"],
        "show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)",
    ),
    kw(
        &["show", "version"],
        "show version                            : show version of the current process",
    ),
    kw(
        &["shutdown", "session"],
        "shutdown session [id]                   : kill a specific session",
    ),
    kw(
        &["shutdown", "sessions", "server"],
        "shutdown sessions server <bk>/<srv>     : kill sessions on a server",
    ),
    kw(
        &["user"],
        "user                                    : lower the level of the current CLI session to user",
    ),
    kw(
        &["wait"],
        "wait {-h|<delay_ms>} cond [args...]     : wait the specified delay or condition (-h to see list)",
    ),
];

const fn kw(words: &'static [&'static str], usage: &'static str) -> Keyword {
    Keyword { words, usage }
}

/// The lines HAProxy always appends to the list.
const ALWAYS: &str = "  help [<command>]                        : list matching or all commands\n  \
prompt                                  : toggle interactive mode with prompt\n  \
quit                                    : disconnect\n";

/// HAProxy keeps the best few fuzzy matches (`CLI_MAX_MATCHES`).
const MAX_MATCHES: usize = 5;
/// Words of a keyword compared (`CLI_PREFIX_KW_NB`).
const PREFIX_KW_NB: usize = 5;

/// How many leading words of `args` equal the keyword's words.
fn matched(kw: &Keyword, args: &[String], limit: usize) -> usize {
    kw.words
        .iter()
        .zip(args)
        .take(limit)
        .take_while(|(k, a)| !a.is_empty() && **k == a.as_str())
        .count()
}

/// HAProxy's `update_word_fingerprint`: counts of letter-class transitions.
fn fingerprint(fp: &mut [u8; 1024], word: &str) {
    let class = |c: u8| match c.to_ascii_lowercase() {
        c @ b'a'..=b'z' => usize::from(c - b'a') + 1,
        b'0'..=b'9' => 27,
        _ => 28,
    };
    let mut from = 28;
    for &c in word.as_bytes() {
        let to = class(c);
        fp[32 * from + to] = fp[32 * from + to].wrapping_add(1);
        from = to;
    }
    fp[32 * from + 28] = fp[32 * from + 28].wrapping_add(1);
}

fn distance(a: &[u8; 1024], b: &[u8; 1024]) -> usize {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| usize::from(x.abs_diff(*y)))
        .sum()
}

/// HAProxy's `cli_gen_usage_msg`: for `help [words]` the list of matching
/// commands; for an unknown command a hint (commands sharing its first
/// words, or the closest ones by spelling), else the whole list.
pub fn usage(args: &[String]) -> String {
    let (is_help, args) = match args.split_first() {
        Some((h, rest)) if h == "help" => (true, rest),
        _ => (false, args),
    };
    let length = KEYWORDS
        .iter()
        .map(|k| matched(k, args, PREFIX_KW_NB))
        .max()
        .unwrap_or(0);
    let mut out = String::from(if is_help {
        "The following commands are valid at this level:\n"
    } else if length == 0 && args.first().is_none_or(|a| a.is_empty()) {
        "Unknown command. Please enter one of the following commands only:\n"
    } else {
        "Unknown command, but maybe one of the following ones is a better match:\n"
    });
    let mut matches: Vec<(usize, &Keyword)> = Vec::new();
    if args.get(length).is_some_and(|a| !a.is_empty()) {
        for k in KEYWORDS
            .iter()
            .filter(|k| matched(k, args, length) == length)
        {
            let mut word_sig = [0u8; 1024];
            let mut list_sig = [0u8; 1024];
            let mut total = 0;
            for a in args.iter().take(PREFIX_KW_NB).skip(length) {
                if a.is_empty() {
                    break;
                }
                fingerprint(&mut word_sig, a);
                total += a.len();
            }
            for w in k.words.iter().take(PREFIX_KW_NB).skip(length) {
                fingerprint(&mut list_sig, w);
                total += w.len();
            }
            let dist = distance(&word_sig, &list_sig);
            let worst = matches.get(MAX_MATCHES - 1).map_or(usize::MAX, |m| m.0);
            if dist < 5 * total / 2 && dist < worst {
                let at = matches.partition_point(|m| m.0 <= dist);
                matches.insert(at, (dist, k));
                matches.truncate(MAX_MATCHES);
            }
        }
    }
    let mut entries: Vec<&Keyword> = match matches.first() {
        Some(&(best, _)) => matches
            .iter()
            .take_while(|m| m.0 <= 5 * best / 2)
            .map(|m| m.1)
            .collect(),
        None => KEYWORDS
            .iter()
            .filter(|k| matched(k, args, length) == length)
            .collect(),
    };
    entries.sort_by_key(|k| k.usage);
    for k in entries {
        out.push_str("  ");
        out.push_str(k.usage);
        out.push('\n');
    }
    out.push_str(ALWAYS);
    out
}
