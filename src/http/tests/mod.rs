//! Engine tests: matchers, conditions, rules and formats on sample
//! requests. ACLs and rules are compiled by the same parsers the
//! configuration uses.

mod acl;
mod rules;

use std::net::SocketAddr;
use std::sync::Arc;

use super::acl::{parse_acl_expr, parse_acl_line, parse_condition};
use super::{Acl, Condition, Header, ParseCx, RequestView, Side};
use crate::config::{self, Config};

/// The fake file system of the engine tests.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let text: &[u8] = match path {
        "/p/paths.lst" => b"# static paths\n/static\n  /ADMIN\n\n/health\r\n",
        "/r/body.txt" => b"<h1>maintenance</h1>\n",
        "/r/page.lf" => b"you asked for %[path]",
        "/e/503.http" => {
            b"HTTP/1.1 503 Service Unavailable\ncontent-type: text/plain\ncontent-length: 4\n\ndown"
        }
        _ => return Err("No such file or directory".to_string()),
    };
    Ok(text.to_vec())
}

fn pcx<'c>(acls: &'c [Arc<Acl>]) -> ParseCx<'c> {
    ParseCx {
        read_file: &read_file,
        bufsize: 16384,
        acls,
        // Leaked: each test parses a handful of lines.
        tables: Box::leak(Box::default()),
        warnings: Vec::new(),
    }
}

/// `apply_request_rules` without stick counters.
pub(super) fn apply_req<'r>(
    rules: &'r [super::HttpRule],
    req: &super::RequestView<'_>,
    edits: &mut super::HeaderEdits,
) -> super::Verdict<'r> {
    let mut own = crate::stick::Trackers::default();
    let mut trk = super::Tracking {
        sess: None,
        own: &mut own,
        tables: &[],
        now: 0,
        http_request: true,
    };
    super::apply_request_rules(rules, req, edits, &mut trk)
}

/// Splits on blanks (tests avoid quoting).
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn h(name: &'static str, value: &'static str) -> Header<'static> {
    Header {
        name,
        value: value.as_bytes(),
    }
}

fn sa(s: &str) -> Option<SocketAddr> {
    Some(s.parse().unwrap_or_else(|_| panic!("bad test address {s}")))
}

/// A request from 192.168.1.20:40000 to 10.0.0.1:8080.
fn view<'a>(method: &'a str, target: &'a str, headers: &'a [Header<'a>]) -> RequestView<'a> {
    RequestView::new(
        method,
        target,
        (1, 1),
        headers,
        sa("192.168.1.20:40000"),
        sa("10.0.0.1:8080"),
    )
}

/// An anonymous ACL from `CRITERION [FLAGS] PATTERNS`.
fn anon(line: &str) -> Result<Acl, String> {
    let expr = parse_acl_expr(&words(line), &mut pcx(&[]))?;
    Ok(Acl {
        name: None,
        exprs: vec![expr],
    })
}

/// A condition with named ACLs defined by `acl` lines (without `acl`).
fn cond(acls: &[&str], text: &str) -> Result<Condition, String> {
    let mut table: Vec<Arc<Acl>> = Vec::new();
    for line in acls {
        let (name, expr) = parse_acl_line(&words(&format!("acl {line}")), &mut pcx(&[]))?;
        match table.iter_mut().find(|a| a.name.as_deref() == Some(&name)) {
            Some(a) => Arc::make_mut(a).exprs.push(expr),
            None => table.push(Arc::new(Acl {
                name: Some(name),
                exprs: vec![expr],
            })),
        }
    }
    parse_condition(&words(text), Side::Request, "test rules", &mut pcx(&table))
}

/// Parses a whole configuration with the fake file system.
fn config(text: &str) -> Config {
    let env = |_: &str| None;
    let resolve = |_: &str, _: u16| Err("no resolver".to_string());
    match config::parse_with_files(&[("t.cfg", text)], &env, &resolve, &read_file) {
        Ok(l) => l.config,
        Err(e) => {
            let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
            panic!("configuration rejected:\n{}", shown.join("\n"))
        }
    }
}

/// The errors of a configuration that must be rejected.
fn config_errors(text: &str) -> Vec<String> {
    let env = |_: &str| None;
    let resolve = |_: &str, _: u16| Err("no resolver".to_string());
    match config::parse_with_files(&[("t.cfg", text)], &env, &resolve, &read_file) {
        Ok(_) => panic!("configuration accepted:\n{text}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}
