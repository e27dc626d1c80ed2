//! HTTP-mode rules engine with HAProxy's meaning: ACLs and conditions,
//! sample fetches, log-format strings, `use_backend` selection and the
//! `http-request` / `http-response` rules.
//!
//! Two halves:
//!
//! - Configuration time: `config` hands the words of `acl`, `use_backend ...
//!   if`, `http-request` and `http-response` lines to the parsers here, which
//!   compile everything once (regexes, IP networks, integer ranges, format
//!   strings, files named by `-f`, `return file` or `errorfile`) into the
//!   model types exported below. Errors are text; `config` adds `file:line`.
//! - Run time: the data plane describes each head it parsed with a
//!   [`RequestView`] (and [`ResponseView`]) borrowing the head bytes, and
//!   calls, in HAProxy's order: [`apply_request_rules`] with the frontend's
//!   rules, [`select_backend`], [`apply_request_rules`] with the backend's
//!   rules (unless [`backend_rules_apply`] says the backend is the listen
//!   itself), [`apply_forwardfor`], then on the response
//!   [`apply_response_rules`] with the backend's then the frontend's rules.
//!   A final verdict (deny, return, redirect) stops there; [`error_page`]
//!   finds the errorfile to answer a deny with. Evaluation does no I/O.
//!   TCP streams use [`select_backend`] too, with [`RequestView::l4`].
//!
//! Headers are `httparse::Header` slices, the type the HTTP/1 codec parses
//! into (`proto::http1::Header`), so a view costs no copy. Rule effects on
//! headers and on the request target are not written into the head: they
//! accumulate in a [`HeaderEdits`] that later conditions see (HAProxy:
//! a `set-header` is visible to the ACLs of the following rules) and that
//! the data plane applies when it writes the head it forwards
//! ([`HeaderEdits::for_each_header`], [`HeaderEdits::target`]).
//!
//! Allocation: none per evaluation for matching strings, integers and
//! addresses, or for header lookups, except where a value has to be built:
//! `base` (Host + path), converters that change their input (`lower` on a
//! value that has uppercase letters), header values rewritten by an earlier
//! `replace-header` in the same transaction, redirect locations. Edits
//! reuse the buffers of their `HeaderEdits`; keep one per shard or stream
//! and `clear()` it between transactions.

mod acl;
mod edits;
mod errorfile;
mod fetch;
mod fmt;
mod rules;
mod track;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use acl::{Acl, AclExpr, Condition, IntRange, IpNet, MatchMethod, Patterns, Re, Term};
pub use edits::HeaderEdits;
pub use errorfile::{ERRORFILE_CODES, ErrorFile};
pub use fetch::{Conv, Dir, Fetch, HdrKind, SampleExpr, StkFrom, StkWhat};
pub use fmt::{Alias, FmtPart, LogFmt};
pub use rules::{
    Action, HttpRule, NameMatch, RedirectKind, RedirectSpec, ReturnBody, ReturnSpec, Verdict,
    apply_forwardfor, apply_request_rules, apply_response_rules, backend_rules_apply, error_page,
    select_backend,
};
pub use track::{
    StickKeys, StickKind, StickRule, TcpAction, TcpPhase, TcpRule, TcpVerdict, TrackSpec, Tracking,
    apply_tcp_rules, stick_keys,
};

pub use crate::config::{HttpConnMode, effective_conn_mode};

pub(crate) use acl::{parse_acl_line, parse_condition};
pub(crate) use errorfile::parse_errorfile;
pub(crate) use rules::{parse_http_rule, resolve_acls};
pub(crate) use track::{parse_stick_rule, parse_tcp_rule};

/// One header as parsed: `name` as received (matched case-insensitively),
/// `value` trimmed of surrounding whitespace by the codec.
pub type Header<'a> = httparse::Header<'a>;

/// What rules and ACLs can look at in a request. The data plane fills it
/// from the parsed head, borrowing its bytes: nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// As received (methods are case-sensitive). Empty for a TCP stream
    /// ([`RequestView::l4`]): every HTTP fetch then finds nothing.
    pub method: &'a str,
    /// The request target as received (origin, absolute, authority or
    /// asterisk form).
    pub target: &'a str,
    /// The target without its query; for the absolute form, only the path
    /// part (`http://h/a?b` -> `/a`). Empty when the target has no path.
    pub path: &'a str,
    /// What follows the first `?` of the target, without it.
    pub query: Option<&'a str>,
    /// `(1, 1)` for HTTP/1.1.
    pub version: (u8, u8),
    pub headers: &'a [Header<'a>],
    /// Client address (`src`, `%ci`).
    pub src: Option<SocketAddr>,
    /// Address the client connected to (`dst`, `%fi`).
    pub dst: Option<SocketAddr>,
}

impl<'a> RequestView<'a> {
    /// A view of a parsed request; `path` and `query` are derived from
    /// `target` as HAProxy's `path` and `query` fetches see them.
    pub fn new(
        method: &'a str,
        target: &'a str,
        version: (u8, u8),
        headers: &'a [Header<'a>],
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
    ) -> Self {
        let (_, path, query) = split_target(target);
        RequestView {
            method,
            target,
            path,
            query,
            version,
            headers,
            src,
            dst,
        }
    }

    /// A view with only the connection's addresses, for TCP streams (`use_backend`
    /// conditions on `src`, `dst_port`...).
    pub fn l4(src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Self {
        RequestView {
            method: "",
            target: "",
            path: "",
            query: None,
            version: (0, 0),
            headers: &[],
            src,
            dst,
        }
    }
}

/// What `http-response` rules can look at in a response.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    pub status: u16,
    pub headers: &'a [Header<'a>],
}

/// Splits a request target into (scheme + authority, path, query). The
/// first part is empty for the origin form; the path is empty for the
/// asterisk and authority forms and for an absolute form without a path.
pub(crate) fn split_target(target: &str) -> (&str, &str, Option<&str>) {
    let (before_query, query) = match target.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (target, None),
    };
    if before_query.starts_with('/') {
        return ("", before_query, query);
    }
    match before_query.find("://") {
        Some(i) => {
            let after = i + 3;
            let slash = before_query
                .get(after..)
                .and_then(|rest| rest.find('/'))
                .map_or(before_query.len(), |j| after + j);
            let (prefix, path) = before_query.split_at(slash);
            (prefix, path, query)
        }
        None => (before_query, "", query),
    }
}

/// Where an expression is evaluated: request rules (and `use_backend`) or
/// response rules. Request-header fetches are unavailable in response
/// rules and response fetches in request rules (HAProxy's sample
/// capabilities); using them is reported at configuration time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// Evaluation context: the views and the edits made so far.
pub(crate) struct Cx<'v, 'a> {
    pub side: Side,
    pub req: &'v RequestView<'a>,
    pub req_edits: &'v HeaderEdits,
    pub res: Option<(&'v ResponseView<'a>, &'v HeaderEdits)>,
    /// Stick counters; None where none can be seen (stick fetches then
    /// find nothing).
    pub stk: Option<&'v StkCx<'v>>,
}

/// What stick-counter fetches read: the counters the stream sees (its own,
/// else its session's) and the snapshot's tables.
#[derive(Clone, Copy)]
pub struct StkCx<'a> {
    pub sc: crate::stick::Sc<'a>,
    pub tables: &'a [std::sync::Arc<crate::stick::StickTable>],
    /// CLOCK_MONOTONIC ms (the shard's clock).
    pub now: u64,
}

/// Edits that are never changed: the context of evaluations without edits.
pub(crate) static NO_EDITS: HeaderEdits = HeaderEdits::new();

/// What the configuration parsers need besides the words of a line.
pub(crate) struct ParseCx<'c> {
    /// Reads a file named by `-f`, `errorfile` or `return file`.
    pub read_file: &'c dyn Fn(&str) -> Result<Vec<u8>, String>,
    /// `tune.bufsize`: the largest `return file` / `errorfile`.
    pub bufsize: usize,
    /// Named ACLs of the current proxy, declared so far.
    pub acls: &'c [std::sync::Arc<Acl>],
    /// Stick tables: `table T` arguments and `src_*` fetches become indices.
    pub tables: &'c mut crate::config::stick::TableRefs,
    pub warnings: Vec<String>,
}
