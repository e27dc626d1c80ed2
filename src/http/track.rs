//! Stick-counter actions (`track-scN`, `sc-inc-gpc0`, `sc-clr-gpc0`) shared
//! by `http-request` and `tcp-request` rules, and the `tcp-request
//! connection|session|content` rules themselves.
//!
//! Which slots a rule fills is the data plane's choice, made by the
//! [`Tracking`] it passes: `tcp-request connection` and `session` rules
//! fill the session's slots (their entries live as long as the connection
//! and count it once in `conn_cur`), `tcp-request content` and
//! `http-request` rules fill the stream's (ended with the stream, that is
//! with the request in HTTP mode). A counter already tracked by either is
//! never tracked again (seed 002).

use std::sync::Arc;

use super::acl::{Condition, parse_condition, warn_needs_request};
use super::fetch::{Sample, SampleExpr, parse_expr};
use super::{Cx, ParseCx, RequestView, Side, StkCx};
use crate::config::Loc;
use crate::stick::{DataType, KeyBuf, MAX_SC, Sc, StickTable, Trackers};

/// `track-scN KEY [table T]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSpec {
    pub sc: usize,
    pub key: SampleExpr,
    /// Index into `Config::tables`.
    pub table: usize,
}

/// The counters a rule evaluation sees and the slots its `track-scN`
/// actions fill.
pub struct Tracking<'a> {
    /// The session's counters, when the slots filled are a stream's.
    pub sess: Option<&'a Trackers>,
    /// The slots `track-scN` fills.
    pub own: &'a mut Trackers,
    pub tables: &'a [Arc<StickTable>],
    pub now: u64,
    /// HTTP rules: an entry tracked now also counts the current request
    /// (its `http_req_*` were counted before it was tracked).
    pub http_request: bool,
}

impl<'a> Tracking<'a> {
    /// What conditions see: the slots filled so far, then the session's.
    pub fn cx(&self) -> StkCx<'_> {
        StkCx {
            sc: Sc::new(self.sess, Some(&*self.own)),
            tables: self.tables,
            now: self.now,
        }
    }

    /// The key `spec` would track, evaluated in `cx`; None when the sample
    /// is missing or does not fit the table's key type.
    pub(crate) fn key(&self, spec: &TrackSpec, cx: &Cx<'_, '_>) -> Option<KeyBuf> {
        sample_key(self.tables.get(spec.table)?, &spec.key, cx)
    }

    /// Tracks `key` in counter `spec.sc` unless it is tracked already.
    pub fn track(&mut self, spec: &TrackSpec, key: Option<KeyBuf>) {
        if Sc::new(self.sess, Some(&*self.own)).tracked(spec.sc) {
            return;
        }
        let (Some(key), Some(table)) = (key, self.tables.get(spec.table)) else {
            return;
        };
        if let Some(t) = table.track(&key, self.now) {
            if self.http_request {
                t.bump(DataType::HttpReqCnt, DataType::HttpReqRate, 1, self.now);
            }
            self.own.set(spec.sc, t);
        }
    }

    /// `sc-inc-gpc0(N)` / `sc-clr-gpc0(N)`.
    pub fn gpc0(&self, n: usize, inc: bool) {
        if let Some(t) = Sc::new(self.sess, Some(&*self.own)).get(n) {
            if inc {
                t.inc_gpc0(self.now);
            } else {
                t.clr_gpc0(self.now);
            }
        }
    }
}

/// Parses `track-scN KEY [table T]` (`words[at]` is the action); returns
/// the spec and the index of the next word.
pub(crate) fn parse_track(
    words: &[String],
    at: usize,
    what: &str,
    cx: &mut ParseCx<'_>,
) -> Result<(TrackSpec, usize), String> {
    let act = words.get(at).map(String::as_str).unwrap_or_default();
    let sc = track_sc(act).ok_or_else(|| format!("'{what}': unknown action"))?;
    let (key, table, next) = parse_key_table(words, at + 1, what, cx)?;
    Ok((TrackSpec { sc, key, table }, next))
}

/// The key `expr` gives in `cx` for `table`; None when the sample is
/// missing or does not fit the table's key type (`track-scN`, `stick`).
fn sample_key(table: &StickTable, expr: &SampleExpr, cx: &Cx<'_, '_>) -> Option<KeyBuf> {
    let k = table.def.key;
    match expr.one(cx)? {
        Sample::Ip(ip) => k.key_of_ip(ip),
        Sample::Int(n) => k.key_of_int(n),
        Sample::Bool(b) => k.key_of_int(i64::from(b)),
        Sample::Str(s) => k.key_of_str(&s),
    }
}

/// `EXPR [table T]` from `words[at]` (`track-scN`, `stick`): the sample
/// expression, the table's index (the current proxy's by default) and the
/// index of the next word.
fn parse_key_table(
    words: &[String],
    at: usize,
    what: &str,
    cx: &mut ParseCx<'_>,
) -> Result<(SampleExpr, usize, usize), String> {
    let key_text = words
        .get(at)
        .filter(|w| !w.is_empty() && !matches!(w.as_str(), "if" | "unless" | "table"))
        .ok_or_else(|| format!("'{what}' expects a sample expression (e.g. 'src') as key"))?;
    let (key, _) = parse_expr(key_text, false, cx.tables).map_err(|e| format!("'{what}': {e}"))?;
    let mut next = at + 1;
    let table_name = match words.get(next).map(String::as_str) {
        Some("table") => {
            let t = words
                .get(next + 1)
                .filter(|w| !w.is_empty())
                .ok_or_else(|| format!("'{what}': 'table' expects a table name"))?;
            next += 2;
            Some(t.as_str())
        }
        _ => None,
    };
    Ok((key, cx.tables.id(table_name), next))
}

/// `track-sc0`.. → 0..
pub(crate) fn track_sc(act: &str) -> Option<usize> {
    act.strip_prefix("track-sc")?
        .parse::<usize>()
        .ok()
        .filter(|n| *n < MAX_SC)
}

/// `sc-inc-gpc0(N)` / `sc-clr-gpc0(N)` → (N, inc).
pub(crate) fn gpc0_action(act: &str, what: &str) -> Result<Option<(usize, bool)>, String> {
    let (inc, rest) = if let Some(r) = act.strip_prefix("sc-inc-gpc0") {
        (true, r)
    } else if let Some(r) = act.strip_prefix("sc-clr-gpc0") {
        (false, r)
    } else {
        return Ok(None);
    };
    let n = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|n| *n < MAX_SC)
        .ok_or_else(|| {
            format!(
                "'{what}' expects a stick counter number between 0 and {}: '{}(<N>)'",
                MAX_SC - 1,
                act.split('(').next().unwrap_or(act)
            )
        })?;
    Ok(Some((n, inc)))
}

/// When a `tcp-request` rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpPhase {
    /// Right after accept, before any handshake: the cheapest place to
    /// refuse a client.
    Connection,
    /// Once the handshake (PROXY header) is done: addresses are final.
    Session,
    /// When a stream starts (each request in HTTP mode).
    Content,
}

/// One `tcp-request connection|session|content` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRule {
    pub action: TcpAction,
    pub cond: Option<Condition>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpAction {
    Accept,
    Reject,
    Track(TrackSpec),
    Gpc0 { sc: usize, inc: bool },
}

/// Whether the connection (or stream) goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    Accept,
    Reject,
}

/// Runs `rules` in order until `accept` or `reject`; the end of the list
/// accepts. `req` holds the addresses (and the request, for content rules
/// in HTTP mode).
pub fn apply_tcp_rules(
    rules: &[TcpRule],
    req: &RequestView<'_>,
    trk: &mut Tracking<'_>,
) -> TcpVerdict {
    for rule in rules {
        let (pass, key) = {
            let stk = trk.cx();
            let cx = Cx {
                side: Side::Request,
                req,
                req_edits: &super::NO_EDITS,
                res: None,
                stk: Some(&stk),
            };
            let pass = rule.cond.as_ref().is_none_or(|c| c.eval_cx(&cx));
            let key = match &rule.action {
                TcpAction::Track(spec) if pass => trk.key(spec, &cx),
                _ => None,
            };
            (pass, key)
        };
        if !pass {
            continue;
        }
        match &rule.action {
            TcpAction::Accept => return TcpVerdict::Accept,
            TcpAction::Reject => return TcpVerdict::Reject,
            TcpAction::Track(spec) => trk.track(spec, key),
            TcpAction::Gpc0 { sc, inc } => trk.gpc0(*sc, *inc),
        }
    }
    TcpVerdict::Accept
}

/// Parses `tcp-request connection|session|content ACTION ... [if|unless
/// COND]` (`words[0]` is `tcp-request`).
pub(crate) fn parse_tcp_rule(
    words: &[String],
    loc: &Loc,
    cx: &mut ParseCx<'_>,
) -> Result<(TcpPhase, TcpRule), String> {
    let phase_word = words.get(1).map(String::as_str).unwrap_or_default();
    let phase = match phase_word {
        "connection" => TcpPhase::Connection,
        "session" => TcpPhase::Session,
        "content" => TcpPhase::Content,
        other => {
            return Err(format!(
                "'tcp-request' expects 'connection', 'session', 'content' or 'inspect-delay', got '{other}'"
            ));
        }
    };
    let act = words
        .get(2)
        .map(String::as_str)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            format!("'tcp-request {phase_word}' expects an action (accept, reject, track-sc0...)")
        })?;
    let what = format!("tcp-request {phase_word} {act}");
    let (action, next) = match act {
        "accept" => (TcpAction::Accept, 3),
        "reject" => (TcpAction::Reject, 3),
        a if track_sc(a).is_some() => {
            let (spec, next) = parse_track(words, 2, &what, cx)?;
            (TcpAction::Track(spec), next)
        }
        a => match gpc0_action(a, &what)? {
            Some((sc, inc)) => (TcpAction::Gpc0 { sc, inc }, 3),
            None => {
                return Err(format!(
                    "'tcp-request {phase_word}': unknown or unsupported action '{a}' (supported: accept, reject, track-sc0, track-sc1, track-sc2, sc-inc-gpc0(N), sc-clr-gpc0(N))"
                ));
            }
        },
    };
    let cond = trailing_condition(
        words,
        next,
        &what,
        "tcp-request rules",
        "'if', 'unless'",
        cx,
    )?;
    if let Some(c) = &cond
        && phase != TcpPhase::Content
    {
        warn_needs_request(c, &format!("frontend tcp-request {phase_word} rule"), cx);
    }
    Ok((
        phase,
        TcpRule {
            action,
            cond,
            loc: loc.clone(),
        },
    ))
}

/// What a `stick` rule does with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickKind {
    /// `stick match`: send the stream to the server the key names.
    Match,
    /// `stick store-request`: remember the server the stream went to.
    Store,
    /// `stick on`: both.
    On,
}

/// One `stick on|match|store-request EXPR [table T] [if|unless COND]`
/// rule of a backend (persistence: a key keeps going to one server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickRule {
    pub kind: StickKind,
    pub key: SampleExpr,
    /// Index into `Config::tables`.
    pub table: usize,
    pub cond: Option<Condition>,
    pub loc: Loc,
}

/// The keys a stream's `stick` rules chose, evaluated while the request
/// was at hand, used when the stream gets a server.
#[derive(Debug, Default)]
pub struct StickKeys {
    /// (table, key) to look a server up in, in rule order.
    pub matches: Vec<(usize, KeyBuf)>,
    /// (table, key) to store the chosen server in.
    pub stores: Vec<(usize, KeyBuf)>,
}

/// Evaluates `rules` on the request: the keys of those whose condition
/// holds (None when none does).
pub fn stick_keys(
    rules: &[StickRule],
    req: &RequestView<'_>,
    tables: &[Arc<StickTable>],
) -> Option<Box<StickKeys>> {
    let mut out: Option<Box<StickKeys>> = None;
    let cx = Cx {
        side: Side::Request,
        req,
        req_edits: &super::NO_EDITS,
        res: None,
        stk: None,
    };
    for r in rules {
        if r.cond.as_ref().is_some_and(|c| !c.eval_cx(&cx)) {
            continue;
        }
        let Some(key) = tables.get(r.table).and_then(|t| sample_key(t, &r.key, &cx)) else {
            continue;
        };
        let keys = out.get_or_insert_with(Box::default);
        if matches!(r.kind, StickKind::Match | StickKind::On) {
            keys.matches.push((r.table, key));
        }
        if matches!(r.kind, StickKind::Store | StickKind::On) {
            keys.stores.push((r.table, key));
        }
    }
    out
}

/// Parses a `stick` line (`words[0]` is `stick`).
pub(crate) fn parse_stick_rule(
    words: &[String],
    loc: &Loc,
    cx: &mut ParseCx<'_>,
) -> Result<StickRule, String> {
    let kind = match words.get(1).map(String::as_str).unwrap_or_default() {
        "on" => StickKind::On,
        "match" => StickKind::Match,
        "store-request" => StickKind::Store,
        "store-response" => {
            return Err(
                "'stick store-response' is not supported (use 'stick store-request' or 'stick on')"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "'stick' expects 'on', 'match' or 'store-request', got '{other}'"
            ));
        }
    };
    let what = format!("stick {}", words[1]);
    let (key, table, next) = parse_key_table(words, 2, &what, cx)?;
    let cond = trailing_condition(
        words,
        next,
        &what,
        "stick rules",
        "'table', 'if', 'unless'",
        cx,
    )?;
    Ok(StickRule {
        kind,
        key,
        table,
        cond,
        loc: loc.clone(),
    })
}

/// The optional `if|unless COND` ending a `tcp-request` or `stick` rule at
/// `words[next]` (`where_` names the rules in warnings; `expects` lists
/// what could stand there instead, for the error).
fn trailing_condition(
    words: &[String],
    next: usize,
    what: &str,
    where_: &str,
    expects: &str,
    cx: &mut ParseCx<'_>,
) -> Result<Option<Condition>, String> {
    match words.get(next).map(String::as_str) {
        None => Ok(None),
        Some("if" | "unless") => parse_condition(&words[next..], Side::Request, where_, cx)
            .map(Some)
            .map_err(|e| format!("error detected while parsing a '{what}' condition : {e}")),
        Some(other) => Err(format!(
            "'{what}' cannot handle unexpected argument '{other}' (expects {expects} or nothing)"
        )),
    }
}
