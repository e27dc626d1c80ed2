//! Log-format strings, as `set-header`, `redirect location` or `return hdr`
//! take them: literal text, `%[fetch,conv...]` samples, a few `%xx`
//! aliases and `%%` for a percent sign. Parsed once at configuration time.

use super::fetch::{Sample, SampleExpr, parse_expr, write_sample};
use super::{Cx, HeaderEdits, RequestView, ResponseView, Side};

/// HAProxy's log-format aliases that ringproxy renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alias {
    /// `%ci`: client address.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%fi`: address the client connected to.
    FrontendIp,
    /// `%fp`: port the client connected to.
    FrontendPort,
    /// `%HM`: method.
    Method,
    /// `%HP`: path.
    Path,
    /// `%HU`: request target.
    Uri,
    /// `%HQ`: query string with its leading `?` (empty without one).
    Query,
    /// `%HV`: `HTTP/1.1`.
    Version,
    /// `%ST`: response status (empty in request rules).
    Status,
    /// `%pid`: process id.
    Pid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FmtPart {
    Text(String),
    Sample(SampleExpr),
    Alias(Alias),
}

/// A parsed log-format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFmt {
    pub parts: Vec<FmtPart>,
}

impl LogFmt {
    /// A format that is only literal text (or empty).
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [FmtPart::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Renders the format for a request (and its edits so far), appending
    /// to `out`. Absent samples render as nothing.
    pub fn render_request(&self, req: &RequestView<'_>, edits: &HeaderEdits, out: &mut Vec<u8>) {
        let cx = Cx {
            side: Side::Request,
            req,
            req_edits: edits,
            res: None,
            stk: None,
        };
        self.render(&cx, out);
    }

    /// Renders the format for a response (response fetches see `edits`).
    pub fn render_response(
        &self,
        req: &RequestView<'_>,
        res: &ResponseView<'_>,
        edits: &HeaderEdits,
        out: &mut Vec<u8>,
    ) {
        let cx = Cx {
            side: Side::Response,
            req,
            req_edits: &super::NO_EDITS,
            res: Some((res, edits)),
            stk: None,
        };
        self.render(&cx, out);
    }

    pub(crate) fn render(&self, cx: &Cx<'_, '_>, out: &mut Vec<u8>) {
        use std::io::Write;
        for part in &self.parts {
            match part {
                FmtPart::Text(t) => out.extend_from_slice(t.as_bytes()),
                FmtPart::Sample(e) => {
                    if let Some(s) = e.one(cx) {
                        write_sample(&s, out);
                    }
                }
                FmtPart::Alias(a) => {
                    let req = cx.req;
                    let http = !req.method.is_empty();
                    match a {
                        Alias::ClientIp => {
                            if let Some(a) = req.src {
                                write_sample(&Sample::Ip(a.ip()), out);
                            }
                        }
                        Alias::ClientPort => {
                            if let Some(a) = req.src {
                                let _ = write!(out, "{}", a.port());
                            }
                        }
                        Alias::FrontendIp => {
                            if let Some(a) = req.dst {
                                write_sample(&Sample::Ip(a.ip()), out);
                            }
                        }
                        Alias::FrontendPort => {
                            if let Some(a) = req.dst {
                                let _ = write!(out, "{}", a.port());
                            }
                        }
                        Alias::Method => out.extend_from_slice(req.method.as_bytes()),
                        Alias::Path if http => {
                            out.extend_from_slice(cx.req_edits.path(req).as_bytes());
                        }
                        Alias::Uri if http => {
                            out.extend_from_slice(cx.req_edits.target(req).as_bytes());
                        }
                        Alias::Query if http => {
                            if let Some(q) = cx.req_edits.query(req) {
                                out.push(b'?');
                                out.extend_from_slice(q.as_bytes());
                            }
                        }
                        Alias::Version if http => {
                            let (a, b) = req.version;
                            let _ = write!(out, "HTTP/{a}.{b}");
                        }
                        Alias::Status => {
                            if let Some((res, _)) = cx.res {
                                let _ = write!(out, "{}", res.status);
                            }
                        }
                        Alias::Pid => {
                            let _ = write!(out, "{}", std::process::id());
                        }
                        Alias::Path | Alias::Uri | Alias::Query | Alias::Version => {}
                    }
                }
            }
        }
    }
}

fn alias(name: &str) -> Result<Alias, String> {
    Ok(match name {
        "ci" => Alias::ClientIp,
        "cp" => Alias::ClientPort,
        "fi" => Alias::FrontendIp,
        "fp" => Alias::FrontendPort,
        "HM" => Alias::Method,
        "HP" => Alias::Path,
        "HU" => Alias::Uri,
        "HQ" => Alias::Query,
        "HV" => Alias::Version,
        "ST" => Alias::Status,
        "pid" => Alias::Pid,
        "ID" => return Err("'%ID' (unique-id) is not supported yet".to_string()),
        _ => {
            return Err(format!(
                "no such format alias '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
            ));
        }
    })
}

/// Parses a log-format string for rules evaluated on `side`. A sample
/// fetch that is not available there is an error, as in HAProxy.
pub(crate) fn parse_fmt(
    text: &str,
    side: Side,
    tables: &mut crate::config::stick::TableRefs,
) -> Result<LogFmt, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        lit.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        let mut chars = after.chars();
        match chars.next() {
            None => {
                return Err(format!(
                    "unexpected end of log-format string after '%' in '{text}'"
                ));
            }
            Some('%') => {
                lit.push('%');
                rest = after.get(1..).unwrap_or_default();
            }
            Some('[') => {
                let inner_and_rest = after.get(1..).unwrap_or_default();
                let close = inner_and_rest
                    .find(']')
                    .ok_or_else(|| format!("missing closing ']' in log-format string '{text}'"))?;
                let inner = inner_and_rest.get(..close).unwrap_or_default();
                let (expr, _) = parse_expr(inner, false, tables)
                    .map_err(|e| format!("failed to parse sample expression <{inner}> : {e}"))?;
                let needs = expr.needs();
                if !needs.available(side) {
                    return Err(format!(
                        "sample fetch <{inner}> may not be reliably used here because it needs '{}' which is not available here",
                        needs.what()
                    ));
                }
                flush(&mut lit, &mut parts);
                parts.push(FmtPart::Sample(expr));
                rest = inner_and_rest.get(close + 1..).unwrap_or_default();
            }
            Some('{') => {
                return Err(format!(
                    "log-format options ('%{{...}}') are not supported yet in '{text}'"
                ));
            }
            Some(c) if c.is_ascii_alphanumeric() => {
                let len = after
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(after.len());
                let name = after.get(..len).unwrap_or_default();
                let a = alias(name)?;
                flush(&mut lit, &mut parts);
                parts.push(FmtPart::Alias(a));
                rest = after.get(len..).unwrap_or_default();
            }
            Some(c) => {
                return Err(format!(
                    "unexpected character '{c}' after '%' in log-format string '{text}' (use '%%' for a '%')"
                ));
            }
        }
    }
    lit.push_str(rest);
    flush(&mut lit, &mut parts);
    Ok(LogFmt { parts })
}

fn flush(lit: &mut String, parts: &mut Vec<FmtPart>) {
    if !lit.is_empty() {
        parts.push(FmtPart::Text(std::mem::take(lit)));
    }
}
