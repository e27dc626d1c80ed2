//! Health-check keywords of proxy sections: `option httpchk` and
//! `http-check send|expect` (HAProxy 2.6 forms). Server-side check settings
//! (`check`, `inter`, `rise`...) are in `server`.
//!
//! The request is merged in declaration order, as HAProxy merges the
//! implicit send rule of `option httpchk` with an explicit `http-check
//! send`: a later line overrides what it names (headers as a whole set).
//! `http-check expect` rules accumulate; a section inherits its defaults'
//! rules until it writes one of its own, which then replaces them
//! (ringproxy's rule: HAProxy's sharing of rule sets between a defaults
//! section and its proxies is not reproduced).
//!
//! Values are literal: log-format (`%[...]`) in `hdr`, `uri-lf`,
//! `body-lf` is refused by name, as are the options of HAProxy's generic
//! tcp-check engine that ringproxy does not have.

use super::args::{arg, no_extra};
use super::proxy::{BE, Ctx, DEF, LI, allowed, is_token};
use super::{ExpectMatch, HttpCheck, HttpExpect, Loc};
use crate::http::Re;

/// `option httpchk` and `http-check` lines of a section so far (what a
/// `defaults` section passes down, see `parser::Settings`).
#[derive(Clone, Debug, Default)]
pub(super) struct HttpCheckDraft {
    /// `option httpchk` is in effect.
    pub enabled: bool,
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    pub headers: Option<Vec<(String, String)>>,
    pub body: Option<String>,
    pub expects: Vec<HttpExpect>,
    /// The section (its header's location) that wrote `expects`: the first
    /// `http-check expect` of another section starts a new list.
    pub expects_from: Option<Loc>,
    /// Where the first `http-check` line of the draft's lineage was
    /// written (for the "rules ignored" warning).
    pub rules_loc: Option<Loc>,
}

impl HttpCheckDraft {
    /// The backend's HTTP check, with HAProxy's defaults, or `None` without
    /// `option httpchk`.
    pub(super) fn build(&self) -> Option<HttpCheck> {
        if !self.enabled {
            return None;
        }
        let expects = if self.expects.is_empty() {
            // HAProxy's implicit rule: 2xx and 3xx pass.
            vec![HttpExpect {
                inverse: false,
                matcher: ExpectMatch::Status(vec![(200, 399)]),
            }]
        } else {
            self.expects.clone()
        };
        Some(HttpCheck {
            method: self.method.clone().unwrap_or_else(|| "OPTIONS".into()),
            uri: self.uri.clone().unwrap_or_else(|| "/".into()),
            version: self.version.clone().unwrap_or_else(|| "HTTP/1.0".into()),
            headers: self.headers.clone().unwrap_or_default(),
            body: self.body.clone().unwrap_or_default(),
            expects,
        })
    }
}

const DEPRECATED_HIDDEN: &str = "hiding headers or body at the end of the version string is \
                                 deprecated. Please, consider to use 'http-check send' directive \
                                 instead.";

/// `option httpchk [[METHOD] URI [VERSION]]` (`rest` starts at `httpchk`).
/// One argument is the URI. A VERSION followed by `\r\n` and header lines
/// (and `\r\n\r\n` and a body) is HAProxy's deprecated way to send a
/// `Host`: accepted with HAProxy's warning.
pub(super) fn option_httpchk(
    ctx: &mut Ctx<'_>,
    rest: &[String],
    negated: bool,
) -> Result<(), String> {
    const KW: &str = "option httpchk";
    allowed(ctx, KW, DEF | BE | LI)?;
    if negated {
        return Err("negation/default is not supported for option 'httpchk'".to_string());
    }
    no_extra(rest, 4, KW)?;
    let (a, b, c) = (arg(rest, 1), arg(rest, 2), arg(rest, 3));
    let (method, uri) = match (a, b) {
        (Some(uri), None) => (None, Some(uri)),
        (m, u) => (m, u),
    };
    let hc = &mut ctx.draft.s.http_check;
    if let Some(m) = method {
        hc.method = Some(check_method(KW, m)?);
    }
    if let Some(u) = uri {
        hc.uri = Some(check_uri(KW, u)?);
    }
    if let Some(v) = c {
        let (version, hidden) = split_hidden(v);
        hc.version = Some(check_version(KW, version)?);
        if let Some((headers, body)) = hidden {
            ctx.warnings.push(format!("'{KW}' : {DEPRECATED_HIDDEN}"));
            let headers = headers
                .split("\r\n")
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let (n, v) = line.split_once(':').ok_or_else(|| {
                        format!("'{KW}' : unable to parse the request header '{line}'")
                    })?;
                    header(KW, n, v.trim())
                })
                .collect::<Result<Vec<_>, String>>()?;
            let hc = &mut ctx.draft.s.http_check;
            if !headers.is_empty() {
                hc.headers = Some(headers);
            }
            if let Some(body) = body {
                hc.body = Some(body.to_string());
            }
        }
    }
    ctx.draft.s.http_check.enabled = true;
    Ok(())
}

/// Splits `HTTP/1.1\r\nHost: x\r\n\r\nbody` into the version and the
/// hidden headers and body, if any (HAProxy's `proxy_parse_httpchk_req`).
fn split_hidden(v: &str) -> (&str, Option<(&str, Option<&str>)>) {
    let Some(at) = v.find("\r\n") else {
        return (v, None);
    };
    let (version, after) = v.split_at(at);
    let after = after.get(2..).unwrap_or_default();
    if let Some(rest) = v.get(at..).and_then(|r| r.strip_prefix("\r\n\r\n")) {
        // The first CRLF starts the body: no header.
        return (version, Some(("", Some(rest))));
    }
    match after.split_once("\r\n\r\n") {
        Some((headers, body)) => (version, Some((headers, Some(body)))),
        None => (version, Some((after, None))),
    }
}

/// `http-check send|expect|comment ...`.
pub(super) fn http_check(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    let sub = arg(w, 1).unwrap_or_default();
    let result = match sub {
        "send" => send(ctx, w),
        "expect" => expect(ctx, w),
        // A comment rule only names the following rules in HAProxy's
        // reports; there is nothing to keep.
        "comment" => {
            arg(w, 2).ok_or("'http-check comment' expects a string as argument")?;
            no_extra(w, 3, "http-check comment")
        }
        "disable-on-404" | "send-state" | "connect" | "set-var" | "unset-var" => Err(format!(
            "'http-check {sub}' is not supported (supported: 'send', 'expect', 'comment')"
        )),
        _ => Err(format!(
            "'http-check' only supports 'send', 'expect' and 'comment' (got '{sub}')"
        )),
    };
    result?;
    let hc = &mut ctx.draft.s.http_check;
    if hc.rules_loc.is_none() {
        hc.rules_loc = Some(ctx.loc.clone());
    }
    Ok(())
}

/// `http-check send [meth M] [uri U] [ver V] [hdr NAME VALUE]* [body B]
/// [comment C]`.
fn send(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    const KW: &str = "http-check send";
    let (mut method, mut uri, mut version, mut body) = (None, None, None, None);
    let mut headers = Vec::new();
    let mut i = 2;
    while let Some(opt) = w.get(i).map(String::as_str) {
        let value = |n: usize, what: &str| {
            arg(w, i + n).ok_or_else(|| format!("'{KW}' : '{opt}' expects {what} as argument"))
        };
        match opt {
            "meth" => method = Some(check_method(KW, value(1, "a string")?)?),
            "uri" => uri = Some(check_uri(KW, value(1, "a string")?)?),
            "ver" => version = Some(check_version(KW, value(1, "a string")?)?),
            "body" => body = Some(literal(KW, value(1, "a string")?)?),
            "comment" => {
                value(1, "a string")?;
            }
            "hdr" => {
                let name = value(1, "<name> and <value>")?;
                let v = value(2, "<name> and <value>")?;
                headers.push(header(KW, name, &literal(KW, v)?)?);
                i += 1;
            }
            "uri-lf" | "body-lf" => {
                return Err(format!(
                    "'{KW}' : '{opt}' (log-format) is not supported; use '{}' with a literal \
                     value",
                    opt.trim_end_matches("-lf")
                ));
            }
            _ => {
                return Err(format!(
                    "'{KW}' only supports 'comment', 'meth', 'uri', 'ver', 'hdr' and 'body' \
                     (got '{opt}')"
                ));
            }
        }
        i += 2;
    }
    let hc = &mut ctx.draft.s.http_check;
    hc.method = method.or(hc.method.take());
    hc.uri = uri.or(hc.uri.take());
    hc.version = version.or(hc.version.take());
    hc.body = body.or(hc.body.take());
    if !headers.is_empty() {
        hc.headers = Some(headers);
    }
    Ok(())
}

/// `http-check expect [comment C] [!] status|rstatus|string|rstring PATTERN`.
fn expect(ctx: &mut Ctx<'_>, w: &[String]) -> Result<(), String> {
    const KW: &str = "http-check expect";
    let mut inverse = false;
    let mut matcher = None;
    let mut i = 2;
    while let Some(word) = w.get(i).map(String::as_str) {
        // `!status` and `! status` are both HAProxy's.
        let (neg, kw) = match word.strip_prefix('!') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, word),
        };
        if neg {
            inverse = true;
            if kw.is_empty() {
                i += 1;
                continue;
            }
        }
        match kw {
            "comment" => {
                arg(w, i + 1).ok_or_else(|| format!("'{KW}' : 'comment' expects a string"))?;
            }
            "status" | "rstatus" | "string" | "rstring" => {
                if matcher.is_some() {
                    return Err(format!(
                        "'{KW}' : only one pattern expected (got a second one: '{kw}')"
                    ));
                }
                let pattern = arg(w, i + 1)
                    .ok_or_else(|| format!("'{KW} {kw}' expects <pattern> as an argument"))?;
                matcher = Some(parse_match(kw, pattern)?);
            }
            "hdr" | "fhdr" | "min-recv" | "ok-status" | "error-status" | "tout-status"
            | "on-success" | "on-error" | "status-code" | "string-lf" => {
                return Err(format!("'{KW}' : '{kw}' is not supported"));
            }
            _ => {
                return Err(format!(
                    "'{KW}' expects a matching pattern among 'status', 'rstatus', 'string' and \
                     'rstring', optionally preceded by '!' (got '{word}')"
                ));
            }
        }
        i += 2;
    }
    let matcher = matcher.ok_or_else(|| {
        format!(
            "'{KW}' expects a matching pattern among 'status', 'rstatus', 'string' and 'rstring'"
        )
    })?;
    let section = ctx.draft.loc.clone();
    let hc = &mut ctx.draft.s.http_check;
    if hc.expects_from.as_ref() != Some(&section) {
        hc.expects.clear();
        hc.expects_from = Some(section);
    }
    hc.expects.push(HttpExpect { inverse, matcher });
    Ok(())
}

fn parse_match(kw: &str, pattern: &str) -> Result<ExpectMatch, String> {
    let what = format!("http-check expect {kw}");
    Ok(match kw {
        "status" => ExpectMatch::Status(status_codes(&what, pattern)?),
        "rstatus" => {
            ExpectMatch::Rstatus(Re::new(pattern, false).map_err(|e| format!("'{what}' : {e}"))?)
        }
        "string" => ExpectMatch::String(pattern.to_string()),
        _ => ExpectMatch::Rstring(Re::new(pattern, false).map_err(|e| format!("'{what}' : {e}"))?),
    })
}

/// `200`, `200-399`, `200,301-302`: inclusive ranges of status codes.
fn status_codes(what: &str, list: &str) -> Result<Vec<(u16, u16)>, String> {
    let code = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c) && s.len() == 3)
    };
    list.split(',')
        .map(|item| {
            let range = match item.split_once('-') {
                Some((lo, hi)) => code(lo).zip(code(hi)).filter(|(lo, hi)| lo <= hi),
                None => code(item).map(|c| (c, c)),
            };
            range.ok_or_else(|| {
                format!(
                    "'{what}' : invalid status code or range '{item}' (expected a comma-separated \
                     list of codes like 200 or ranges like 200-399)"
                )
            })
        })
        .collect()
}

fn check_method(kw: &str, m: &str) -> Result<String, String> {
    if !m.bytes().all(is_token) {
        return Err(format!("'{kw}' : invalid HTTP method '{m}'"));
    }
    Ok(m.to_string())
}

fn check_uri(kw: &str, u: &str) -> Result<String, String> {
    if u.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "'{kw}' : invalid URI '{}' (spaces and control characters are not allowed)",
            u.escape_default()
        ));
    }
    Ok(u.to_string())
}

fn check_version(kw: &str, v: &str) -> Result<String, String> {
    match v {
        "HTTP/1.0" | "HTTP/1.1" => Ok(v.to_string()),
        _ => Err(format!(
            "'{kw}' : unsupported HTTP version '{}' (expected HTTP/1.0 or HTTP/1.1)",
            v.escape_default()
        )),
    }
}

/// A header to send: a token name and a value without CR, LF or NUL.
fn header(kw: &str, name: &str, value: &str) -> Result<(String, String), String> {
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(format!(
            "'{kw}' : invalid header name '{}'",
            name.escape_default()
        ));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(format!(
            "'{kw}' : invalid value for header '{name}' (CR, LF and NUL are not allowed)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// A value HAProxy reads as log-format: `%%` is a `%`; any other `%` would
/// start a format element, which ringproxy does not evaluate here.
fn literal(kw: &str, v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find('%') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        match after.strip_prefix('%') {
            Some(tail) => {
                out.push('%');
                rest = tail;
            }
            None => {
                return Err(format!(
                    "'{kw}' : log-format values are not supported ('{v}'); write '%%' for a \
                     literal '%'"
                ));
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}
