//! `http-request` / `http-response` rules, `use_backend` selection and
//! `option forwardfor`.

use std::net::IpAddr;
use std::sync::Arc;

use super::acl::{Acl, Re, parse_condition};
use super::edits::is_token;
use super::errorfile::{ERRORFILE_CODES, ErrorFile};
use super::fmt::{FmtPart, LogFmt, parse_fmt};
use super::track::{TrackSpec, Tracking, gpc0_action, parse_track, track_sc};
use super::{
    Condition, Cx, HeaderEdits, ParseCx, RequestView, ResponseView, Side, StkCx, split_target,
};
use crate::config::{Backend, Frontend, Loc};

/// How `del-header -m METHOD` compares header names (case-insensitively,
/// header names are case-insensitive; `reg` too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    Str,
    Beg,
    End,
    Sub,
    Reg(Re),
}

impl NameMatch {
    /// Whether header `name` matches `pattern` (the rule's name).
    pub(crate) fn matches(&self, pattern: &[u8], name: &[u8]) -> bool {
        let ieq = |a: &[u8], b: &[u8]| a.eq_ignore_ascii_case(b);
        match self {
            NameMatch::Str => ieq(name, pattern),
            NameMatch::Beg => name.get(..pattern.len()).is_some_and(|h| ieq(h, pattern)),
            NameMatch::End => name
                .len()
                .checked_sub(pattern.len())
                .and_then(|at| name.get(at..))
                .is_some_and(|t| ieq(t, pattern)),
            NameMatch::Sub => {
                pattern.is_empty() || name.windows(pattern.len()).any(|w| ieq(w, pattern))
            }
            NameMatch::Reg(re) => re.is_match(name),
        }
    }
}

/// One `http-request` or `http-response` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub action: Action,
    pub cond: Option<Condition>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SetHeader {
        name: String,
        value: LogFmt,
    },
    AddHeader {
        name: String,
        value: LogFmt,
    },
    DelHeader {
        name: String,
        how: NameMatch,
    },
    /// Each value of `name` that `regex` matches becomes `with` rendered,
    /// with `\N` replaced by group N.
    ReplaceHeader {
        name: String,
        regex: Re,
        with: LogFmt,
    },
    SetPath(LogFmt),
    /// `set-pathq`: path and query.
    SetPathQ(LogFmt),
    SetQuery(LogFmt),
    SetUri(LogFmt),
    /// Stops this proxy's rules; the message goes on.
    Allow,
    /// Answers with the error page of `status` (403 by default).
    Deny {
        status: u16,
    },
    Return(ReturnSpec),
    Redirect(RedirectSpec),
    /// Hands the request to a built-in service (one of [`SERVICES`]).
    UseService(String),
    /// `track-scN KEY [table T]`: the stream tracks the key (its own entry,
    /// ended with the request).
    Track(TrackSpec),
    /// `sc-inc-gpc0(N)` / `sc-clr-gpc0(N)`.
    Gpc0 {
        sc: usize,
        inc: bool,
    },
}

/// `return [status N] [content-type T] [BODY] [hdr NAME FMT]...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnSpec {
    pub status: u16,
    /// Only with a non-empty `Raw` or a `Fmt` body.
    pub content_type: Option<String>,
    pub body: ReturnBody,
    /// Extra headers (not with errorfile bodies).
    pub headers: Vec<(String, LogFmt)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnBody {
    Empty,
    /// `string S` / `file F`.
    Raw(Arc<[u8]>),
    /// `lf-string S` / `lf-file F`.
    Fmt(LogFmt),
    /// `errorfile F`: a whole response, sent as is.
    ErrorFile(ErrorFile),
    /// `default-errorfiles`: the proxy's errorfile for the status, else the
    /// built-in page.
    DefaultErrorfile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location`: the value is the whole location.
    Location,
    /// `prefix`: the value is put before the request's path (and query).
    Prefix,
    /// `scheme`: `VALUE://HOST/PATH`.
    Scheme,
}

/// `redirect location|prefix|scheme VALUE [code N] [OPTIONS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSpec {
    pub kind: RedirectKind,
    pub value: LogFmt,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    pub drop_query: bool,
    pub append_slash: bool,
    /// `location` only: an empty location skips the rule.
    pub ignore_empty: bool,
}

/// What the rules decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'r> {
    /// Go on (also after `allow`).
    Continue,
    /// Answer with the error page of `status` ([`error_page`], else the
    /// built-in one) and close the request.
    Deny { status: u16 },
    /// Answer with this response ([`ReturnSpec::render`]).
    Return(&'r ReturnSpec),
    /// Answer `status` with `Location: location`, no body.
    Redirect { status: u16, location: String },
    /// Hand the request to this service.
    UseService(&'r str),
}

/// Applies one proxy's `http-request` rules in order, recording their edits
/// in `edits` (later conditions see earlier edits), until a final action.
/// HAProxy's order: the frontend's rules, then, once the backend is chosen,
/// the backend's (see [`backend_rules_apply`]): call it once per proxy with
/// the same `edits`.
pub fn apply_request_rules<'r>(
    rules: &'r [HttpRule],
    req: &RequestView<'_>,
    edits: &mut HeaderEdits,
    trk: &mut Tracking<'_>,
) -> Verdict<'r> {
    for rule in rules {
        let mut scratch = std::mem::take(&mut edits.scratch);
        scratch.clear();
        let (step, key) = {
            let stk = trk.cx();
            let cx = Cx {
                side: Side::Request,
                req,
                req_edits: edits,
                res: None,
                stk: Some(&stk),
            };
            if rule.cond.as_ref().is_some_and(|c| !c.eval_cx(&cx)) {
                (Step::Skip, None)
            } else {
                match &rule.action {
                    Action::Track(spec) => (Step::Skip, Some(trk.key(spec, &cx))),
                    Action::Gpc0 { sc, inc } => {
                        trk.gpc0(*sc, *inc);
                        (Step::Skip, None)
                    }
                    a => (prepare(a, &cx, &mut scratch), None),
                }
            }
        };
        if let (Action::Track(spec), Some(key)) = (&rule.action, key) {
            trk.track(spec, key);
        }
        let done = record(rule, step, req, edits, &scratch);
        edits.scratch = scratch;
        if let Some(v) = done {
            return v;
        }
    }
    Verdict::Continue
}

/// Applies one proxy's `http-response` rules: the backend's first, then the
/// frontend's (unless they are the same listen), with the same `edits`.
/// `req` may carry only what the data plane kept of the request (method,
/// addresses): response rules cannot read request headers. `stk`: the
/// stick counters the stream sees (its own, else its session's), read
/// by `sc*_` / `src_*` fetches.
pub fn apply_response_rules<'r>(
    rules: &'r [HttpRule],
    req: &RequestView<'_>,
    res: &ResponseView<'_>,
    edits: &mut HeaderEdits,
    stk: Option<&StkCx<'_>>,
) -> Verdict<'r> {
    for rule in rules {
        let mut scratch = std::mem::take(&mut edits.scratch);
        scratch.clear();
        let step = {
            let cx = Cx {
                side: Side::Response,
                req,
                req_edits: &super::NO_EDITS,
                res: Some((res, edits)),
                stk,
            };
            if rule.cond.as_ref().is_some_and(|c| !c.eval_cx(&cx)) {
                Step::Skip
            } else {
                prepare(&rule.action, &cx, &mut scratch)
            }
        };
        let done = record(rule, step, req, edits, &scratch);
        edits.scratch = scratch;
        if let Some(v) = done {
            return v;
        }
    }
    Verdict::Continue
}

/// The outcome of evaluating one rule, before its edit is recorded.
enum Step {
    Skip,
    /// Record the action's edit with the value rendered in the scratch.
    Edit,
    Redirect(String),
}

/// Evaluates what the action needs (formats rendered into `scratch`).
fn prepare(action: &Action, cx: &Cx<'_, '_>, scratch: &mut Vec<u8>) -> Step {
    match action {
        Action::SetHeader { value, .. } | Action::AddHeader { value, .. } => {
            value.render(cx, scratch);
        }
        Action::ReplaceHeader { with, .. } => with.render(cx, scratch),
        Action::SetPath(f) | Action::SetPathQ(f) | Action::SetQuery(f) | Action::SetUri(f) => {
            f.render(cx, scratch);
        }
        Action::Redirect(spec) => {
            return match location(spec, cx) {
                Some(l) => Step::Redirect(l),
                None => Step::Skip,
            };
        }
        _ => {}
    }
    Step::Edit
}

/// Records the edit of an evaluated rule; `Some` ends the rules.
fn record<'r>(
    rule: &'r HttpRule,
    step: Step,
    req: &RequestView<'_>,
    edits: &mut HeaderEdits,
    value: &[u8],
) -> Option<Verdict<'r>> {
    match step {
        Step::Skip => return None,
        Step::Redirect(location) => {
            if let Action::Redirect(spec) = &rule.action {
                return Some(Verdict::Redirect {
                    status: spec.code,
                    location,
                });
            }
            return None;
        }
        Step::Edit => {}
    }
    match &rule.action {
        Action::SetHeader { name, .. } => edits.set(name, value),
        Action::AddHeader { name, .. } => edits.add(name, value),
        Action::DelHeader { name, how } => edits.del(name, how),
        Action::ReplaceHeader { name, regex, .. } => edits.replace(name, regex, value),
        Action::SetPath(_) => edits.set_path(req, value),
        Action::SetPathQ(_) => edits.set_pathq(req, value),
        Action::SetQuery(_) => edits.set_query(req, value),
        Action::SetUri(_) => edits.set_uri(value),
        Action::Allow => return Some(Verdict::Continue),
        Action::Deny { status } => return Some(Verdict::Deny { status: *status }),
        Action::Return(spec) => return Some(Verdict::Return(spec)),
        Action::UseService(name) => return Some(Verdict::UseService(name)),
        Action::Redirect(_) | Action::Track(_) | Action::Gpc0 { .. } => {}
    }
    None
}

/// Builds a redirect's location as HAProxy's `http_apply_redirect_rule`;
/// `None` skips the rule (`ignore-empty` with an empty location).
fn location(spec: &RedirectSpec, cx: &Cx<'_, '_>) -> Option<String> {
    let mut out = Vec::new();
    let req = cx.req;
    // The request's path with its query (HAProxy's http_parse_path()).
    let path_and_query = || {
        let target = cx.req_edits.target(req);
        let (prefix, _, _) = split_target(target);
        let mut p = target.get(prefix.len()..).unwrap_or_default();
        if spec.drop_query {
            p = p.split('?').next().unwrap_or_default();
        }
        if p.is_empty() { "/" } else { p }
    };
    match spec.kind {
        RedirectKind::Location => {
            spec.value.render(cx, &mut out);
            if out.is_empty() && spec.ignore_empty {
                return None;
            }
        }
        RedirectKind::Prefix => {
            spec.value.render(cx, &mut out);
            out.extend_from_slice(path_and_query().as_bytes());
        }
        RedirectKind::Scheme => {
            spec.value.render(cx, &mut out);
            out.extend_from_slice(b"://");
            let mut host = None;
            cx.req_edits
                .for_each(req.headers, Some(b"host"), &mut |_, v| {
                    host = Some(v.into_owned());
                    true
                });
            if let Some(h) = host {
                out.extend_from_slice(&h);
            }
            out.extend_from_slice(path_and_query().as_bytes());
        }
    }
    if spec.append_slash && out.last().is_some_and(|&c| c != b'/') {
        out.push(b'/');
    }
    out.retain(|b| !matches!(b, b'\r' | b'\n' | 0));
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The backend for a request: the first `use_backend` whose condition
/// matches, else `default_backend`. Pass the edits of the frontend's
/// `http-request` rules (HAProxy evaluates switching rules after them).
/// `stk`: the stick counters conditions may read (`use_backend slow if {
/// sc0_http_req_rate gt 100 }`), when the stream has any.
pub fn select_backend(
    fe: &Frontend,
    req: &RequestView<'_>,
    edits: &HeaderEdits,
    stk: Option<&super::StkCx<'_>>,
) -> Option<usize> {
    let cx = Cx {
        side: Side::Request,
        req,
        req_edits: edits,
        res: None,
        stk,
    };
    fe.use_backends
        .iter()
        .find(|u| u.cond.as_ref().is_none_or(|c| c.eval_cx(&cx)))
        .map(|u| u.backend)
        .or(fe.default_backend)
}

/// Whether the backend's rules run after the frontend's: not when the
/// backend is the frontend's own listen section (HAProxy runs a proxy's
/// rules once). Same for response rules.
pub fn backend_rules_apply(fe: &Frontend, backend: usize) -> bool {
    fe.own_backend != Some(backend)
}

/// The errorfile for `code`: the backend's, else the frontend's (HAProxy's
/// order); `None` means the built-in page.
pub fn error_page<'c>(
    fe: &'c Frontend,
    be: Option<&'c Backend>,
    code: u16,
) -> Option<&'c ErrorFile> {
    let find = |files: &'c [ErrorFile]| files.iter().rev().find(|e| e.code == code);
    be.and_then(|b| find(&b.errorfiles))
        .or_else(|| find(&fe.errorfiles))
}

/// `option forwardfor` of the frontend or the backend: records the header
/// to add (`X-Forwarded-For: <client address>` by default) in `edits`, as
/// HAProxy does after both proxies' `http-request` rules. Returns whether a
/// header was added: not without the option, without a client address,
/// when the address is in an `except` network, or with `if-none` (on every
/// proxy that sets the option) when the header is already present.
pub fn apply_forwardfor(
    fe: &Frontend,
    be: &Backend,
    req: &RequestView<'_>,
    edits: &mut HeaderEdits,
) -> bool {
    use std::io::Write;
    let (f, b) = (fe.forwardfor.as_ref(), be.forwardfor.as_ref());
    let Some(header) = b.or(f).map(|o| o.header.as_str()) else {
        return false;
    };
    let Some(src) = req.src.map(|a| a.ip()) else {
        return false;
    };
    let always = f.is_some_and(|o| !o.if_none) || b.is_some_and(|o| !o.if_none);
    if !always && edits.for_each(req.headers, Some(header.as_bytes()), &mut |_, _| true) {
        return false;
    }
    let excepted = |o: Option<&crate::config::ForwardFor>| {
        o.and_then(|o| o.except)
            .is_some_and(|net| net.contains(src))
    };
    if excepted(f) || excepted(b) {
        return false;
    }
    let mut s = std::mem::take(&mut edits.scratch);
    s.clear();
    // An IPv4-mapped client is shown as IPv4, as HAProxy's sockets see it.
    let shown = match src {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(src, IpAddr::V4),
        v4 => v4,
    };
    let _ = write!(s, "{shown}");
    edits.add(header, &s);
    edits.scratch = s;
    true
}

impl ReturnSpec {
    /// Writes the response of a `return` rule: into `head` the status line
    /// and headers (each ending with CRLF, `content-length` included,
    /// WITHOUT the final empty line so the caller can add its connection
    /// headers), into `body` the payload. For `ReturnBody::DefaultErrorfile`
    /// it writes nothing and returns false: send the error page for
    /// `status` instead ([`error_page`], else the built-in one).
    pub fn render(
        &self,
        req: &RequestView<'_>,
        edits: &HeaderEdits,
        head: &mut Vec<u8>,
        body: &mut Vec<u8>,
    ) -> bool {
        use std::io::Write;
        let cx = Cx {
            side: Side::Request,
            req,
            req_edits: edits,
            res: None,
            stk: None,
        };
        match &self.body {
            ReturnBody::DefaultErrorfile => return false,
            ReturnBody::ErrorFile(e) => {
                let h = e.head();
                let h = h.strip_suffix(b"\r\n").unwrap_or(h);
                head.extend_from_slice(h);
                body.extend_from_slice(e.body());
                return true;
            }
            ReturnBody::Empty => {}
            ReturnBody::Raw(b) => body.extend_from_slice(b),
            ReturnBody::Fmt(f) => f.render(&cx, body),
        }
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if let Some(ct) = self.content_type.as_ref().filter(|_| !body.is_empty()) {
            let _ = write!(head, "content-type: {ct}\r\n");
        }
        if !matches!(self.status, 204 | 304) {
            let _ = write!(head, "content-length: {}\r\n", body.len());
        }
        let mut value = Vec::new();
        for (name, fmt) in &self.headers {
            value.clear();
            fmt.render(&cx, &mut value);
            value.retain(|b| !matches!(b, b'\r' | b'\n' | 0));
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(&value);
            head.extend_from_slice(b"\r\n");
        }
        true
    }
}

/// Reason phrases of the codes a `return` or `redirect` may use.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// Replaces named ACLs in the rules' conditions by their final definitions
/// (see `Condition::resolve`).
pub(crate) fn resolve_acls(rules: &mut [HttpRule], find: &dyn Fn(&str) -> Option<Arc<Acl>>) {
    for cond in rules.iter_mut().filter_map(|r| r.cond.as_mut()) {
        cond.resolve(find);
    }
}

/// HAProxy actions ringproxy does not implement yet (a clearer error than
/// "unknown action").
const LATER_ACTIONS: &[&str] = &[
    "auth",
    "cache-store",
    "cache-use",
    "capture",
    "del-acl",
    "del-map",
    "disable-l7-retry",
    "do-resolve",
    "early-hint",
    "lua",
    "normalize-uri",
    "reject",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "replace-value",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt",
    "sc-set-gpt0",
    "send-spoe-group",
    "set-bandwidth-limit",
    "set-dst",
    "set-dst-port",
    "set-log-level",
    "set-map",
    "set-mark",
    "set-method",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-src",
    "set-src-port",
    "set-status",
    "set-timeout",
    "set-tos",
    "set-var",
    "set-var-fmt",
    "silent-drop",
    "strict-mode",
    "tarpit",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "unset-var",
    "wait-for-body",
    "wait-for-handshake",
    "add-acl",
    "cache-use",
];

/// Built-in services (`crate::stats::service` answers them).
pub const SERVICES: &[&str] = &["prometheus-exporter"];

/// Parses `http-request ACTION ARGS [if|unless COND]` (`words[0]` is the
/// keyword; `side` is Request for `http-request`).
pub(crate) fn parse_http_rule(
    words: &[String],
    side: Side,
    loc: &Loc,
    cx: &mut ParseCx<'_>,
) -> Result<HttpRule, String> {
    let kw = words.first().map(String::as_str).unwrap_or_default();
    let Some(act) = words.get(1).map(String::as_str).filter(|a| !a.is_empty()) else {
        return Err(format!(
            "'{kw}' expects an action (e.g. set-header, deny, return)"
        ));
    };
    let what = format!("{kw} {act}");
    let arg = |i: usize| words.get(i).map(String::as_str).filter(|w| !w.is_empty());
    let fmt = |text: &str, cx: &mut ParseCx<'_>| {
        parse_fmt(text, side, cx.tables).map_err(|e| format!("'{what}': {e}"))
    };
    let n_args = |n: usize| -> Result<(), String> {
        if (2..2 + n).all(|i| arg(i).is_some()) {
            Ok(())
        } else {
            let s = if n == 1 { "" } else { "s" };
            Err(format!("'{what}' expects exactly {n} argument{s}"))
        }
    };
    let response_ok = matches!(
        act,
        "set-header" | "add-header" | "del-header" | "replace-header" | "allow"
    );
    if side == Side::Response && !response_ok {
        // `sc-inc-gpc0(0)`: the action's name is what precedes its argument.
        let base = act.split('(').next().unwrap_or(act);
        return Err(if is_request_action(act) || LATER_ACTIONS.contains(&base) {
            format!("'{what}' is not supported yet")
        } else {
            format!("unknown '{kw}' action '{act}'")
        });
    }
    let (action, next) = match act {
        "set-header" | "add-header" => {
            n_args(2)?;
            let name = header_name(&what, arg(2).unwrap_or_default())?;
            let value = fmt(arg(3).unwrap_or_default(), cx)?;
            check_literal(&what, &value)?;
            let action = if act == "set-header" {
                Action::SetHeader { name, value }
            } else {
                Action::AddHeader { name, value }
            };
            (action, 4)
        }
        "del-header" => {
            n_args(1)?;
            let name = arg(2).unwrap_or_default();
            let (how, next) = if arg(3) == Some("-m") {
                let m = arg(4).ok_or_else(|| format!("'{what}': '-m' expects a match method"))?;
                let how = match m {
                    "str" => NameMatch::Str,
                    "beg" => NameMatch::Beg,
                    "end" => NameMatch::End,
                    "sub" => NameMatch::Sub,
                    "reg" => {
                        NameMatch::Reg(Re::new(name, true).map_err(|e| format!("'{what}': {e}"))?)
                    }
                    other => {
                        return Err(format!(
                            "'{what}': unsupported match method '{other}' (expects str, beg, end, sub or reg)"
                        ));
                    }
                };
                (how, 5)
            } else {
                (NameMatch::Str, 3)
            };
            let name = if matches!(how, NameMatch::Reg(_)) {
                name.to_string()
            } else {
                header_name(&what, name)?
            };
            (Action::DelHeader { name, how }, next)
        }
        "replace-header" => {
            n_args(3)?;
            let name = header_name(&what, arg(2).unwrap_or_default())?;
            let regex =
                Re::new(arg(3).unwrap_or_default(), false).map_err(|e| format!("'{what}': {e}"))?;
            let with = fmt(arg(4).unwrap_or_default(), cx)?;
            check_literal(&what, &with)?;
            (Action::ReplaceHeader { name, regex, with }, 5)
        }
        "set-path" | "set-pathq" | "set-query" | "set-uri" => {
            n_args(1)?;
            let f = fmt(arg(2).unwrap_or_default(), cx)?;
            check_literal(&what, &f)?;
            let action = match act {
                "set-path" => Action::SetPath(f),
                "set-pathq" => Action::SetPathQ(f),
                "set-query" => Action::SetQuery(f),
                _ => Action::SetUri(f),
            };
            (action, 3)
        }
        "allow" => (Action::Allow, 2),
        a if track_sc(a).is_some() => {
            let (spec, next) = parse_track(words, 1, &what, cx)?;
            (Action::Track(spec), next)
        }
        a if a.starts_with("sc-inc-gpc0") || a.starts_with("sc-clr-gpc0") => {
            match gpc0_action(a, &what)? {
                Some((sc, inc)) => (Action::Gpc0 { sc, inc }, 2),
                None => return Err(format!("unknown '{kw}' action '{act}'")),
            }
        }
        "deny" => parse_deny(words, &what)?,
        "return" => {
            let (spec, next) = parse_return(words, &what, cx)?;
            (Action::Return(spec), next)
        }
        "redirect" => {
            let (spec, next) = parse_redirect(words, &what, cx)?;
            (Action::Redirect(spec), next)
        }
        "use-service" => {
            let name = arg(2).ok_or_else(|| format!("'{what}' expects a service name"))?;
            if !SERVICES.contains(&name) {
                return Err(format!("'{what}': unknown service '{name}'"));
            }
            (Action::UseService(name.to_string()), 3)
        }
        a if LATER_ACTIONS.contains(&a) => return Err(format!("'{what}' is not supported yet")),
        _ => {
            return Err(format!(
                "unknown '{kw}' action '{act}' (supported: set-header, add-header, del-header, \
                 replace-header, set-path, set-pathq, set-query, set-uri, allow, deny, return, \
                 redirect)"
            ));
        }
    };
    let cond = match words.get(next).map(String::as_str) {
        None => None,
        Some("if" | "unless") => {
            let where_ = format!("{kw} rules");
            let rest = words.get(next..).unwrap_or_default();
            Some(
                parse_condition(rest, side, &where_, cx).map_err(|e| {
                    format!("error detected while parsing an '{what}' condition : {e}")
                })?,
            )
        }
        Some(other) => {
            return Err(format!(
                "'{what}' cannot handle unexpected argument '{other}' (expects 'if', 'unless' or nothing)"
            ));
        }
    };
    Ok(HttpRule {
        action,
        cond,
        loc: loc.clone(),
    })
}

fn is_request_action(a: &str) -> bool {
    matches!(
        a,
        "set-path"
            | "set-pathq"
            | "set-query"
            | "set-uri"
            | "deny"
            | "return"
            | "redirect"
            | "use-service"
    )
}

fn header_name(what: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(format!("'{what}': invalid header name '{name}'"));
    }
    Ok(name.to_string())
}

/// Literal text may not hold CR, LF or NUL (it would split the head).
fn check_literal(what: &str, f: &LogFmt) -> Result<(), String> {
    let bad = f.parts.iter().any(|p| match p {
        FmtPart::Text(t) => t.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
        _ => false,
    });
    if bad {
        return Err(format!(
            "'{what}': CR, LF and NUL characters are not allowed"
        ));
    }
    Ok(())
}

/// `deny [deny_status N | status N]`.
fn parse_deny(words: &[String], what: &str) -> Result<(Action, usize), String> {
    let mut status = 403;
    let mut i = 2;
    while let Some(w) = words.get(i).map(String::as_str) {
        match w {
            "deny_status" | "status" => {
                let v = words
                    .get(i + 1)
                    .map(String::as_str)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("'{what}': '{w}' expects <status_code> as argument"))?;
                let code: u16 = v
                    .parse()
                    .map_err(|_| format!("'{what}': invalid status code '{v}'"))?;
                if !ERRORFILE_CODES.contains(&code) {
                    return Err(format!(
                        "'{what}': status code '{code}' not handled by default (expects one of {})",
                        codes_list()
                    ));
                }
                status = code;
                i += 2;
            }
            "content-type" | "errorfiles" | "default-errorfiles" | "errorfile" | "file"
            | "string" | "lf-file" | "lf-string" | "hdr" => {
                return Err(format!(
                    "'{what}': '{w}' is not supported yet (use 'return' for a custom response)"
                ));
            }
            _ => break,
        }
    }
    Ok((Action::Deny { status }, i))
}

fn codes_list() -> String {
    ERRORFILE_CODES
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `return ...` with HAProxy's `http_parse_http_reply()` checks.
fn parse_return(
    words: &[String],
    what: &str,
    cx: &mut ParseCx<'_>,
) -> Result<(ReturnSpec, usize), String> {
    let err = |m: String| format!("'{what}': {m}");
    let mut spec = ReturnSpec {
        status: 200,
        content_type: None,
        body: ReturnBody::Empty,
        headers: Vec::new(),
    };
    let mut body_arg: Option<&str> = None;
    let mut fmt_text: Option<String> = None;
    let mut i = 2;
    while let Some(w) = words.get(i).map(String::as_str) {
        let value = words
            .get(i + 1)
            .map(String::as_str)
            .filter(|v| !v.is_empty());
        let is_body = matches!(
            w,
            "errorfiles"
                | "default-errorfiles"
                | "errorfile"
                | "file"
                | "string"
                | "lf-file"
                | "lf-string"
        );
        if is_body && let Some(prev) = body_arg {
            return Err(err(format!(
                "unexpected '{w}' argument, '{prev}' already defined"
            )));
        }
        match w {
            "status" => {
                let v = value
                    .ok_or_else(|| err("'status' expects <status_code> as argument".into()))?;
                spec.status = v
                    .parse::<u16>()
                    .ok()
                    .filter(|s| (200..=599).contains(s))
                    .ok_or_else(|| err(format!("Unexpected status code '{v}'")))?;
                i += 2;
            }
            "content-type" => {
                let v = value
                    .ok_or_else(|| err("'content-type' expects <ctype> as argument".into()))?;
                if v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                    return Err(err("CR, LF and NUL characters are not allowed".into()));
                }
                spec.content_type = Some(v.to_string());
                i += 2;
            }
            "errorfiles" => {
                return Err(err(
                    "'errorfiles' (http-errors sections) is not supported yet".into(),
                ));
            }
            "default-errorfiles" => {
                spec.body = ReturnBody::DefaultErrorfile;
                i += 1;
            }
            "errorfile" => {
                let f = value.ok_or_else(|| err("'errorfile' expects <fmt> as argument".into()))?;
                let bytes =
                    (cx.read_file)(f).map_err(|_| err(format!("error opening file '{f}'")))?;
                let e = super::parse_errorfile(spec.status, f, bytes, cx.bufsize, &mut cx.warnings)
                    .map_err(err)?;
                spec.body = ReturnBody::ErrorFile(e);
                i += 2;
            }
            "file" | "lf-file" => {
                let f = value.ok_or_else(|| err(format!("'{w}' expects <file> as argument")))?;
                let bytes =
                    (cx.read_file)(f).map_err(|_| err(format!("error opening file '{f}'")))?;
                if bytes.len() > cx.bufsize {
                    return Err(err(format!(
                        "file '{f}' exceeds the buffer size ({} > {})",
                        bytes.len(),
                        cx.bufsize
                    )));
                }
                if w == "file" {
                    spec.body = ReturnBody::Raw(Arc::from(bytes));
                } else {
                    fmt_text = Some(String::from_utf8_lossy(&bytes).into_owned());
                }
                i += 2;
            }
            "string" => {
                let v = value.ok_or_else(|| err("'string' expects <str> as argument".into()))?;
                spec.body = ReturnBody::Raw(Arc::from(v.as_bytes()));
                i += 2;
            }
            "lf-string" => {
                let v = value.ok_or_else(|| err("'lf-string' expects <fmt> as argument".into()))?;
                fmt_text = Some(v.to_string());
                i += 2;
            }
            "hdr" => {
                let (Some(name), Some(v)) = (value, words.get(i + 2).filter(|v| !v.is_empty()))
                else {
                    return Err(err("'hdr' expects <name> and <value> as arguments".into()));
                };
                i += 3;
                if ["content-length", "transfer-encoding", "content-type"]
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h))
                {
                    cx.warnings
                        .push(format!("header '{name}' always ignored by the http reply"));
                    continue;
                }
                let name = header_name(what, name)?;
                let f = parse_fmt(v, Side::Request, cx.tables).map_err(err)?;
                check_literal(what, &f)?;
                spec.headers.push((name, f));
            }
            _ => break,
        }
        if is_body {
            body_arg = Some(w);
        }
    }
    if let Some(text) = fmt_text {
        spec.body = ReturnBody::Fmt(parse_fmt(&text, Side::Request, cx.tables).map_err(err)?);
    }
    let bodyless = matches!(spec.status, 204 | 304);
    match &spec.body {
        ReturnBody::Empty => {
            if let Some(ct) = spec.content_type.take() {
                cx.warnings.push(format!(
                    "content-type '{ct}' ignored by the http reply because neither errorfile nor payload defined"
                ));
            }
        }
        ReturnBody::ErrorFile(_) | ReturnBody::DefaultErrorfile => {
            if matches!(spec.body, ReturnBody::DefaultErrorfile)
                && !ERRORFILE_CODES.contains(&spec.status)
            {
                return Err(err(format!(
                    "status code '{}' not handled by default with 'default-errorfiles' argument",
                    spec.status
                )));
            }
            if let Some(ct) = spec.content_type.take() {
                cx.warnings.push(format!(
                    "content-type '{ct}' ignored by the http reply when used with an errorfile"
                ));
            }
            if !spec.headers.is_empty() {
                spec.headers.clear();
                cx.warnings.push(
                    "hdr parameters ignored by the http reply when used with an errorfile"
                        .to_string(),
                );
            }
        }
        ReturnBody::Raw(b) => {
            if bodyless && !b.is_empty() {
                return Err(err(format!(
                    "No body expected for {} responses",
                    spec.status
                )));
            }
            if spec.content_type.is_none() && !b.is_empty() {
                return Err(err(
                    "a content type must be defined when non-empty payload is configured".into(),
                ));
            }
            if b.is_empty()
                && let Some(ct) = spec.content_type.take()
            {
                cx.warnings.push(format!(
                    "content-type '{ct}' ignored by the http reply when used with an empty payload"
                ));
            }
        }
        ReturnBody::Fmt(_) => {
            if bodyless {
                return Err(err(format!(
                    "No body expected for {} responses",
                    spec.status
                )));
            }
            if spec.content_type.is_none() {
                return Err(err(
                    "a content type must be defined with a log-format payload".into(),
                ));
            }
        }
    }
    Ok((spec, i))
}

/// `redirect location|prefix|scheme VALUE [code N] [drop-query]
/// [append-slash] [ignore-empty]`.
fn parse_redirect(
    words: &[String],
    what: &str,
    cx: &mut ParseCx<'_>,
) -> Result<(RedirectSpec, usize), String> {
    let err = |m: String| format!("'{what}': {m}");
    let arg = |i: usize| words.get(i).map(String::as_str).filter(|w| !w.is_empty());
    let kind = match arg(2) {
        Some("location") => RedirectKind::Location,
        Some("prefix") => RedirectKind::Prefix,
        Some("scheme") => RedirectKind::Scheme,
        Some(other) => {
            return Err(err(format!(
                "expects 'location', 'prefix' or 'scheme', got '{other}'"
            )));
        }
        None => return Err(err("expects 'location', 'prefix' or 'scheme'".into())),
    };
    let value = arg(3).ok_or_else(|| err("expects a value after the redirect type".into()))?;
    // HAProxy: a prefix of "/" adds nothing (self-redirection).
    let value = if kind == RedirectKind::Prefix && value == "/" {
        LogFmt { parts: Vec::new() }
    } else {
        parse_fmt(value, Side::Request, cx.tables).map_err(err)?
    };
    check_literal(what, &value)?;
    let mut spec = RedirectSpec {
        kind,
        value,
        code: 302,
        drop_query: false,
        append_slash: false,
        ignore_empty: false,
    };
    let mut i = 4;
    while let Some(w) = arg(i) {
        match w {
            "code" => {
                let v = arg(i + 1).ok_or_else(|| err("'code' expects a status code".into()))?;
                spec.code = v
                    .parse::<u16>()
                    .ok()
                    .filter(|c| matches!(c, 301 | 302 | 303 | 307 | 308))
                    .ok_or_else(|| {
                        err(format!(
                            "unsupported HTTP code '{v}' (must be one of 301, 302, 303, 307 or 308)"
                        ))
                    })?;
                i += 2;
            }
            "drop-query" => {
                spec.drop_query = true;
                i += 1;
            }
            "append-slash" => {
                spec.append_slash = true;
                i += 1;
            }
            "ignore-empty" => {
                if kind != RedirectKind::Location {
                    return Err(err("'ignore-empty' is only valid with 'location'".into()));
                }
                spec.ignore_empty = true;
                i += 1;
            }
            "set-cookie" | "clear-cookie" | "keep-query" => {
                return Err(err(format!("'{w}' is not supported yet")));
            }
            _ => break,
        }
    }
    Ok((spec, i))
}
