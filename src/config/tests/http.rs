//! HTTP-mode keywords: logging, connection modes, reuse, forwardfor,
//! errorfiles, ACLs, rules; their errors and warnings with `file:line`,
//! defaults inheritance and HAProxy's TCP-mode fallbacks.

use std::sync::Arc;
use std::time::Duration;

use super::{TIMEOUTS, assert_has, assert_warns, errors, ok, parse_files};
use crate::config::*;
use crate::http::{Action, IpNet, RedirectKind, ReturnBody};

fn loc(line: u32) -> Loc {
    Loc {
        file: Arc::from("t.cfg"),
        line,
    }
}

fn spec(words: &[&str], line: u32) -> LogTargetSpec {
    LogTargetSpec {
        words: words.iter().map(|w| w.to_string()).collect(),
        loc: loc(line),
    }
}

#[test]
fn http_keywords_are_modelled_and_inherited() {
    let text = format!(
        "\
global
    log 127.0.0.1:514 local0
    log stdout format raw daemon
defaults
    mode http
{TIMEOUTS}    log global
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor except 10.0.0.0/8 header X-Client if-none
    http-reuse aggressive
    errorfile 503 /e/503.http
    default-server pool-max-conn 10 pool-purge-delay 1s
    timeout http-request 5s
    timeout http-keep-alive 2s
frontend fe
    bind :80
    log 10.0.0.5:514 local1
    log global
    no option http-server-close
    acl api path_beg /api
    use_backend api if api
    http-request set-header X-Fe 1
    http-response set-header X-Fe 1
    default_backend web
backend web
    option httpclose
    http-reuse never
    server w1 10.0.0.1:80
    server w2 10.0.0.2:80 pool-max-conn -1 pool-purge-delay 0
backend api
    no log
    errorfile 503 /e/ok.http
    option forwardfor
    server a1 10.0.0.3:80 pool-max-conn 0
"
    );
    let loaded = ok(&text);
    assert_eq!(loaded.warnings, vec![]);
    let cfg = loaded.config;
    let g1 = spec(&["127.0.0.1:514", "local0"], 2);
    let g2 = spec(&["stdout", "format", "raw", "daemon"], 3);
    assert_eq!(cfg.global.logs, vec![g1.clone(), g2.clone()]);

    let fe = &cfg.frontends[0];
    assert_eq!(
        fe.logs,
        vec![
            g1.clone(),
            g2.clone(),
            spec(&["10.0.0.5:514", "local1"], 21)
        ],
        "inherited, own, and `log global` only once"
    );
    assert_eq!(
        (fe.log_format, fe.dontlognull, fe.conn_mode),
        (Some(LogStyle::Http), true, HttpConnMode::KeepAlive)
    );
    let ff = ForwardFor {
        header: "X-Client".into(),
        except: Some(IpNet::parse("10.0.0.0/8").expect("net")),
        if_none: true,
    };
    assert_eq!(fe.forwardfor.as_ref(), Some(&ff));
    assert_eq!(fe.errorfiles.len(), 1);
    assert_eq!(
        (fe.errorfiles[0].code, fe.errorfiles[0].body()),
        (503, &b"down"[..])
    );
    assert_eq!(
        (fe.timeouts.http_request, fe.timeouts.http_keep_alive),
        (Some(Duration::from_secs(5)), Some(Duration::from_secs(2)))
    );
    assert_eq!(fe.use_backends.len(), 1);
    let u = &fe.use_backends[0];
    assert_eq!((u.backend, u.loc.line), (1, 25));
    assert!(u.cond.as_ref().is_some_and(|c| !c.unless));
    assert_eq!((fe.http_request.len(), fe.http_response.len()), (1, 1));
    assert_eq!(fe.http_request[0].loc, loc(26));
    assert_eq!(fe.own_backend, None);

    let web = &cfg.backends[0];
    assert_eq!(
        (web.conn_mode, web.http_reuse, web.logs.len()),
        (HttpConnMode::Close, HttpReuse::Never, 2)
    );
    assert_eq!(web.forwardfor.as_ref(), Some(&ff));
    let pools: Vec<(Option<u32>, Duration)> = web
        .servers
        .iter()
        .map(|s| (s.pool_max_conn, s.pool_purge_delay))
        .collect();
    assert_eq!(
        pools,
        vec![(Some(10), Duration::from_secs(1)), (None, Duration::ZERO)]
    );
    assert_eq!(effective_conn_mode(fe, web), HttpConnMode::Close);

    let api = &cfg.backends[1];
    assert_eq!(api.logs, vec![], "no log");
    assert_eq!(api.http_reuse, HttpReuse::Aggressive);
    let codes: Vec<(u16, u16)> = api.errorfiles.iter().map(|e| (e.code, e.status)).collect();
    assert_eq!(codes, vec![(503, 503), (503, 200)], "the last one wins");
    assert_eq!(
        api.forwardfor
            .as_ref()
            .map(|f| (f.header.as_str(), f.except, f.if_none)),
        Some(("X-Forwarded-For", None, false)),
        "a new option forwardfor replaces the inherited one"
    );
    assert_eq!(api.servers[0].pool_max_conn, Some(0));
    assert_eq!(effective_conn_mode(fe, api), HttpConnMode::ServerClose);
}

#[test]
fn builtin_defaults() {
    let text = format!(
        "defaults\n    mode http\n{TIMEOUTS}frontend fe\n    bind :80\n    default_backend be\nbackend be\n    server s 10.0.0.1:80\n"
    );
    let cfg = ok(&text).config;
    let (fe, be) = (&cfg.frontends[0], &cfg.backends[0]);
    assert_eq!(
        (fe.log_format, fe.dontlognull, fe.conn_mode, &fe.logs),
        (None, false, HttpConnMode::KeepAlive, &vec![])
    );
    assert_eq!(
        (be.http_reuse, be.conn_mode, be.forwardfor.is_none()),
        (HttpReuse::Safe, HttpConnMode::KeepAlive, true)
    );
    assert_eq!(
        (be.servers[0].pool_max_conn, be.servers[0].pool_purge_delay),
        (None, Duration::from_secs(5))
    );
}

#[test]
fn log_global_copies_what_global_has_declared() {
    let text = format!(
        "\
defaults
{TIMEOUTS}    log global
global
    log 127.0.0.1:514 local0
frontend early
    bind :80
    default_backend be
frontend late
    bind :81
    log global
    log global
    log 10.0.0.1:514 local2 info
    default_backend be
backend be
    log global
    no log
    log 10.0.0.2:514 local3
"
    );
    let cfg = ok(&text).config;
    assert_eq!(cfg.frontends[0].logs, vec![], "no global target yet");
    assert_eq!(
        cfg.frontends[1].logs,
        vec![
            spec(&["127.0.0.1:514", "local0"], 7),
            spec(&["10.0.0.1:514", "local2", "info"], 15)
        ]
    );
    assert_eq!(
        cfg.backends[0].logs,
        vec![spec(&["10.0.0.2:514", "local3"], 20)]
    );
}

#[test]
fn log_target_host_names_are_not_resolved_while_parsing() {
    let text = format!(
        "defaults\n{TIMEOUTS}frontend fe\n    bind :80\n    log syslog.example:514 local0\n\
         \x20   log ipv6@syslog6.example local1 info\n    log /dev/log local2\n    default_backend be\nbackend be\n"
    );
    let fe = &ok(&text).config.frontends[0];
    let first: Vec<&str> = fe.logs.iter().map(|l| l.words[0].as_str()).collect();
    assert_eq!(
        first,
        ["syslog.example:514", "ipv6@syslog6.example", "/dev/log"]
    );
}

#[test]
fn connection_mode_options_cancel_only_themselves() {
    let text = format!(
        "\
defaults
    mode http
{TIMEOUTS}    option httpclose
backend a
    no option http-server-close
backend b
    no option httpclose
backend c
    option http-server-close
    option http-keep-alive
backend d
    option http-server-close
    no option http-keep-alive
"
    );
    let cfg = ok(&text).config;
    let modes: Vec<HttpConnMode> = cfg.backends.iter().map(|b| b.conn_mode).collect();
    assert_eq!(
        modes,
        vec![
            HttpConnMode::Close,
            HttpConnMode::KeepAlive,
            HttpConnMode::KeepAlive,
            HttpConnMode::ServerClose
        ]
    );
}

#[test]
fn rules_and_acls_are_modelled() {
    let text = format!(
        "\
defaults
    mode http
{TIMEOUTS}frontend fe
    bind :80
    acl api path_beg /api
    acl api path_beg -i /v2
    acl bad src -f /p/nets.lst
    http-request deny deny_status 429 if bad !api
    http-request return status 503 content-type text/plain string down unless api
    http-request redirect scheme https code 301 if {{ hdr(x-forwarded-proto) http }}
    http-request set-header X-A %[src]
    http-request del-header X-B -m beg
    http-request replace-header X-C (.*) <\\1>
    http-request set-path /p%[path]
    http-request set-uri /u
    http-request set-query q
    http-request set-pathq /p?q
    http-request add-header X-D d
    http-request allow
    http-response del-header Server
    default_backend be
backend be
"
    );
    let cfg = ok(&text).config;
    let fe = &cfg.frontends[0];
    let names: Vec<&str> = fe
        .http_request
        .iter()
        .map(|r| match &r.action {
            Action::Deny { status: 429 } => "deny429",
            Action::Return(s) if s.status == 503 => "return503",
            Action::Redirect(r) if r.kind == RedirectKind::Scheme && r.code == 301 => "redirect",
            Action::SetHeader { .. } => "set-header",
            Action::DelHeader { .. } => "del-header",
            Action::ReplaceHeader { .. } => "replace-header",
            Action::SetPath(_) => "set-path",
            Action::SetUri(_) => "set-uri",
            Action::SetQuery(_) => "set-query",
            Action::SetPathQ(_) => "set-pathq",
            Action::AddHeader { .. } => "add-header",
            Action::Allow => "allow",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "deny429",
            "return503",
            "redirect",
            "set-header",
            "del-header",
            "replace-header",
            "set-path",
            "set-uri",
            "set-query",
            "set-pathq",
            "add-header",
            "allow"
        ]
    );
    let deny = fe.http_request[0].cond.as_ref().expect("condition");
    assert_eq!(deny.suites.len(), 1);
    assert_eq!(deny.suites[0].len(), 2);
    assert!(deny.suites[0][1].neg);
    let api = &deny.suites[0][1].acl;
    assert_eq!(
        (api.name.as_deref(), api.exprs.len()),
        (Some("api"), 2),
        "same-name lines are one ACL"
    );
    let Action::Return(r) = &fe.http_request[1].action else {
        panic!()
    };
    assert_eq!(r.body, ReturnBody::Raw(Arc::from(&b"down"[..])));
    assert!(fe.http_request[1].cond.as_ref().is_some_and(|c| c.unless));
    assert_eq!(fe.http_response.len(), 1);
}

#[test]
fn http_settings_in_tcp_mode_warn_and_are_ignored() {
    let text = format!(
        "\
defaults
{TIMEOUTS}    option httplog
frontend fe
    bind :80
    option forwardfor
    http-request deny
    http-response del-header X
    default_backend be
backend be
    http-request set-header X 1
listen li
    bind :81
    mode http
    http-request deny
    server s 10.0.0.1:80
"
    );
    let loaded = ok(&text);
    assert_warns(
        &loaded,
        "t.cfg:5",
        "'option httplog' not usable with frontend 'fe' (needs 'mode http'). Falling back to 'option tcplog'",
    );
    assert_warns(
        &loaded,
        "t.cfg:6",
        "'http-request' rules ignored for frontend 'fe' as they require HTTP mode",
    );
    assert_warns(
        &loaded,
        "t.cfg:6",
        "'http-response' rules ignored for frontend 'fe' as they require HTTP mode",
    );
    assert_warns(
        &loaded,
        "t.cfg:6",
        "'option forwardfor' ignored for frontend 'fe' as it requires HTTP mode",
    );
    assert_warns(
        &loaded,
        "t.cfg:12",
        "'http-request' rules ignored for backend 'be' as they require HTTP mode",
    );
    assert_eq!(loaded.warnings.len(), 5, "{:#?}", loaded.warnings);
    let cfg = loaded.config;
    let fe = &cfg.frontends[0];
    assert_eq!(fe.log_format, Some(LogStyle::Tcp));
    assert!(fe.http_request.is_empty() && fe.http_response.is_empty());
    assert!(fe.forwardfor.is_none());
    assert!(cfg.backends[0].http_request.is_empty());
    let li = &cfg.frontends[1];
    assert_eq!(
        (li.log_format, li.http_request.len()),
        (Some(LogStyle::Http), 1)
    );
    assert_eq!(li.own_backend, Some(1));
    assert_eq!(cfg.backends[1].http_request.len(), 1);
}

#[test]
fn parse_warnings() {
    let text = format!(
        "\
global
    tune.bufsize 1024
defaults
    mode http
{TIMEOUTS}    option tcplog
    option httplog
    errorfile 503 /e/big.http
frontend fe
    bind :80
    http-request return content-type text/plain
    http-request return errorfile /e/503.http content-type t hdr X y
    http-request return content-type t string x hdr content-length 5
    http-request set-header X 1 if {{ status 200 }}
    http-response set-header X 1 if {{ path / }}
    acl p path /
    http-response set-header X 1 if p
    default_backend be
backend be
"
    );
    let loaded = ok(&text);
    let cases: &[(&str, &str)] = &[
        (
            "t.cfg:9",
            "'option httplog' overrides previous 'option tcplog' in 'defaults' section",
        ),
        (
            "t.cfg:10",
            "custom error message file '/e/big.http' larger than 1024 bytes. Truncating.",
        ),
        (
            "t.cfg:13",
            "content-type 'text/plain' ignored by the http reply because neither errorfile nor payload defined",
        ),
        (
            "t.cfg:14",
            "content-type 't' ignored by the http reply when used with an errorfile",
        ),
        (
            "t.cfg:14",
            "hdr parameters ignored by the http reply when used with an errorfile",
        ),
        (
            "t.cfg:15",
            "header 'content-length' always ignored by the http reply",
        ),
        (
            "t.cfg:16",
            "anonymous acl will never match because it uses keyword 'status' which is incompatible with 'http-request rules'",
        ),
        (
            "t.cfg:17",
            "anonymous acl will never match because it uses keyword 'path' which is incompatible with 'http-response rules'",
        ),
        (
            "t.cfg:19",
            "acl 'p' will never match because it only involves keywords that are incompatible with 'http-response rules'",
        ),
    ];
    for (at, msg) in cases {
        assert_warns(&loaded, at, msg);
    }
    assert_eq!(loaded.warnings.len(), cases.len(), "{:#?}", loaded.warnings);
    let e = &loaded.config.frontends[0].errorfiles[0];
    assert_eq!(e.raw.len() - e.head_len, 1024 - 36, "truncated body kept");
}

/// (configuration, where, message substring).
type Case = (&'static str, &'static str, &'static str);

fn check(cases: &[Case]) {
    for (text, at, msg) in cases {
        assert_has(&errors(text), at, msg);
    }
}

#[test]
fn log_and_option_errors() {
    check(&[
        (
            "frontend f\n    log\n",
            "t.cfg:2",
            "'log' expects either <address[:port]> and <facility> or 'global' as arguments",
        ),
        (
            "frontend f\n    log global x\n",
            "t.cfg:2",
            "'log global' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    no log x\n",
            "t.cfg:2",
            "'no log' cannot handle unexpected argument 'x'",
        ),
        (
            "global\n    log global\n",
            "t.cfg:2",
            "'log global' is only valid in proxy sections",
        ),
        ("global\n    log\n", "t.cfg:2", "'log' expects either"),
        (
            "global\n    log 127.0.0.1:514 nofacility\n",
            "t.cfg:2",
            "'log' : unknown log facility 'nofacility'",
        ),
        (
            "frontend f\n    log 127.0.0.1:514\n",
            "t.cfg:2",
            "'log' : expects <address> and <facility> as arguments",
        ),
        (
            "frontend f\n    log 127.0.0.1:99999 local0\n",
            "t.cfg:2",
            "invalid port '99999'",
        ),
        (
            "frontend f\n    log tcp@10.0.0.1:514 local0\n",
            "t.cfg:2",
            "stream log targets are not supported yet",
        ),
        (
            "frontend f\n    log syslog.example local0 nolevel\n",
            "t.cfg:2",
            "unknown optional log level 'nolevel'",
        ),
        (
            "backend b\n    option httplog\n",
            "t.cfg:2",
            "'option httplog' is not supported in a 'backend' section",
        ),
        (
            "backend b\n    option tcplog\n",
            "t.cfg:2",
            "'option tcplog' is not supported in a 'backend' section",
        ),
        (
            "backend b\n    option dontlognull\n",
            "t.cfg:2",
            "'option dontlognull' is not supported in a 'backend' section",
        ),
        (
            "frontend f\n    option httplog foo\n",
            "t.cfg:2",
            "keyword 'httplog' only supports option 'clf'",
        ),
        (
            "frontend f\n    option httplog clf x\n",
            "t.cfg:2",
            "'option httplog' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    option tcplog x\n",
            "t.cfg:2",
            "'option tcplog' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    no option httplog\n",
            "t.cfg:2",
            "negation/default is not supported for option 'httplog'",
        ),
        (
            "frontend f\n    no option tcplog\n",
            "t.cfg:2",
            "negation/default is not supported for option 'tcplog'",
        ),
        (
            "frontend f\n    option dontlognull x\n",
            "t.cfg:2",
            "'option dontlognull' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    option http-keep-alive x\n",
            "t.cfg:2",
            "'option http-keep-alive' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    no option httpclose x\n",
            "t.cfg:2",
            "'option httpclose' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    option forwardfor except\n",
            "t.cfg:2",
            "'option forwardfor' : 'except' expects <address>[/mask] as argument",
        ),
        (
            "frontend f\n    option forwardfor except nope\n",
            "t.cfg:2",
            "'nope' is not a valid IPv4 or IPv6 address or network",
        ),
        (
            "frontend f\n    option forwardfor header\n",
            "t.cfg:2",
            "'header' expects <header_name> as argument",
        ),
        (
            "frontend f\n    option forwardfor header a:b\n",
            "t.cfg:2",
            "invalid header name 'a:b'",
        ),
        (
            "frontend f\n    option forwardfor bogus\n",
            "t.cfg:2",
            "'option forwardfor' only supports optional values: 'except', 'header' and 'if-none' (got 'bogus')",
        ),
        (
            "frontend f\n    no option forwardfor\n",
            "t.cfg:2",
            "negation/default is not supported for option 'forwardfor'",
        ),
    ]);
}

#[test]
fn reuse_pool_and_errorfile_errors() {
    check(&[
        (
            "frontend f\n    http-reuse safe\n",
            "t.cfg:2",
            "'http-reuse' is not supported in a 'frontend' section",
        ),
        (
            "backend b\n    http-reuse sometimes\n",
            "t.cfg:2",
            "'http-reuse' expects one of 'never', 'safe', 'aggressive' or 'always', got 'sometimes'",
        ),
        (
            "backend b\n    http-reuse\n",
            "t.cfg:2",
            "'http-reuse' expects one of",
        ),
        (
            "backend b\n    http-reuse safe x\n",
            "t.cfg:2",
            "'http-reuse' cannot handle unexpected argument 'x'",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 pool-max-conn -2\n",
            "t.cfg:2",
            "server s: 'pool-max-conn' must be >= -1 (got -2)",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 pool-max-conn x\n",
            "t.cfg:2",
            "'pool-max-conn' expects an integer argument, got 'x'",
        ),
        (
            "backend b\n    default-server pool-purge-delay 5x\n",
            "t.cfg:2",
            "'pool-purge-delay': invalid unit 'x'",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 pool-purge-delay\n",
            "t.cfg:2",
            "'pool-purge-delay' expects a time value",
        ),
        (
            "backend b\n    errorfile 503\n",
            "t.cfg:2",
            "errorfile : expects <status_code> and <file> as arguments",
        ),
        (
            "backend b\n    errorfile 999 /e/503.http\n",
            "t.cfg:2",
            "errorfile : status code '999' not handled",
        ),
        (
            "backend b\n    errorfile abc /e/503.http\n",
            "t.cfg:2",
            "errorfile : status code 'abc' not handled",
        ),
        (
            "backend b\n    errorfile 503 /nope\n",
            "t.cfg:2",
            "errorfile : error opening file '/nope'",
        ),
        (
            "backend b\n    errorfile 503 /e/503.http x\n",
            "t.cfg:2",
            "'errorfile' cannot handle unexpected argument 'x'",
        ),
        (
            "backend b\n    errorfile 503 /e/cl-mismatch.http\n",
            "t.cfg:2",
            "errorfile : '/e/cl-mismatch.http': payload size does not match the announced content-length (3 != 10)",
        ),
        (
            "backend b\n    errorfile 503 /e/chunked.http\n",
            "t.cfg:2",
            "chunk-encoded payload not supported",
        ),
        (
            "backend b\n    errorfile 503 /e/100.http\n",
            "t.cfg:2",
            "invalid http status code for an error message (100)",
        ),
        (
            "backend b\n    errorfile 503 /e/204-body.http\n",
            "t.cfg:2",
            "message payload not expected",
        ),
        (
            "backend b\n    errorfile 503 /e/cl0-body.http\n",
            "t.cfg:2",
            "message payload not expected",
        ),
        (
            "backend b\n    errorfile 503 /e/garbage\n",
            "t.cfg:2",
            "'/e/garbage': unable to parse headers",
        ),
        (
            "backend b\n    errorfile 503 /e/partial.http\n",
            "t.cfg:2",
            "unable to parse headers (incomplete head)",
        ),
    ]);
}

#[test]
fn acl_and_use_backend_errors() {
    check(&[
        (
            "defaults\n    acl a path /\n",
            "t.cfg:2",
            "'acl' is not supported in a 'defaults' section",
        ),
        (
            "frontend f\n    acl\n",
            "t.cfg:2",
            "'acl' expects an ACL name and a criterion",
        ),
        (
            "frontend f\n    acl x\n",
            "t.cfg:2",
            "error detected while parsing ACL 'x' : missing ACL expression",
        ),
        (
            "frontend f\n    acl x nosuch\n",
            "t.cfg:2",
            "error detected while parsing ACL 'x' : unknown fetch method 'nosuch'",
        ),
        (
            "frontend f\n    acl a/b path /\n",
            "t.cfg:2",
            "character '/' is not permitted in acl name 'a/b'",
        ),
        (
            "frontend f\n    acl x path -f /nope\n",
            "t.cfg:2",
            "failed to open pattern file </nope>",
        ),
        (
            "frontend f\n    acl x src -f /p/bad.lst\n",
            "t.cfg:2",
            "'/ok' is not a valid IPv4 or IPv6 address",
        ),
        (
            "frontend f\n    acl x path_reg (\n",
            "t.cfg:2",
            "regex '(' is invalid",
        ),
        (
            "frontend f\n    use_backend %[req.hdr(host)]\n",
            "t.cfg:2",
            "dynamic 'use_backend' names (log-format) are not supported yet",
        ),
        (
            "frontend f\n    use_backend b if\n",
            "t.cfg:2",
            "error detected while parsing switching rule : missing condition after 'if'",
        ),
        (
            "frontend f\n    use_backend b if { path /\n",
            "t.cfg:2",
            "missing closing '}' in condition",
        ),
        (
            "frontend f\n    use_backend b x\n",
            "t.cfg:2",
            "'use_backend' cannot handle unexpected argument 'x'",
        ),
    ]);
    // Every frontend with only conditional rules is valid (HAProxy: 503
    // when none matches).
    let text = format!(
        "defaults\n{TIMEOUTS}frontend f\n    bind :80\n    use_backend b if {{ src 10.0.0.0/8 }}\nbackend b\n"
    );
    assert_eq!(ok(&text).config.frontends[0].default_backend, None);
}

#[test]
fn http_request_errors() {
    let rule = |r: &str| format!("frontend f\n    http-request {r}\n");
    let cases: Vec<(String, &str)> = vec![
        (
            "defaults\n    http-request deny\n".to_string(),
            "'http-request' is not supported in a 'defaults' section",
        ),
        (
            "frontend f\n    http-request\n".to_string(),
            "'http-request' expects an action",
        ),
        (
            rule("set-header X"),
            "'http-request set-header' expects exactly 2 arguments",
        ),
        (
            rule("add-header"),
            "'http-request add-header' expects exactly 2 arguments",
        ),
        (
            rule("set-header X y z"),
            "'http-request set-header' cannot handle unexpected argument 'z' (expects 'if', 'unless' or nothing)",
        ),
        (
            rule("set-header a:b y"),
            "'http-request set-header': invalid header name 'a:b'",
        ),
        (
            rule("set-header X \"a\\r\\nb\""),
            "CR, LF and NUL characters are not allowed",
        ),
        (
            rule("set-header X %[nosuch]"),
            "failed to parse sample expression <nosuch> : unknown fetch method 'nosuch'",
        ),
        (
            rule("set-header X %[path_beg]"),
            "unknown fetch method 'path_beg'",
        ),
        (
            rule("set-header X %[res.hdr(a)]"),
            "sample fetch <res.hdr(a)> may not be reliably used here because it needs 'response headers' which is not available here",
        ),
        (
            rule("set-header X %[status]"),
            "sample fetch <status> may not be reliably used here",
        ),
        (rule("set-header X %zz"), "no such format alias 'zz'"),
        (rule("set-header X %[path"), "missing closing ']'"),
        (rule("set-header X %{+Q}o"), "log-format options"),
        (
            rule("set-header X %ID"),
            "'%ID' (unique-id) is not supported yet",
        ),
        (
            rule("set-header X 100%"),
            "unexpected end of log-format string",
        ),
        (
            rule("set-header X %-"),
            "unexpected character '-' after '%'",
        ),
        (
            rule("set-header X a if nosuch"),
            "error detected while parsing an 'http-request set-header' condition : no such ACL : 'nosuch'",
        ),
        (
            rule("del-header"),
            "'http-request del-header' expects exactly 1 argument",
        ),
        (
            rule("del-header X -m foo"),
            "unsupported match method 'foo'",
        ),
        (rule("del-header X -m"), "'-m' expects a match method"),
        (rule("del-header ( -m reg"), "regex '(' is invalid"),
        (
            rule("replace-header X a"),
            "'http-request replace-header' expects exactly 3 arguments",
        ),
        (rule("replace-header X ( y"), "regex '(' is invalid"),
        (
            rule("set-path"),
            "'http-request set-path' expects exactly 1 argument",
        ),
        (
            rule("set-uri"),
            "'http-request set-uri' expects exactly 1 argument",
        ),
        (
            rule("deny deny_status 418"),
            "status code '418' not handled by default",
        ),
        (
            rule("deny deny_status"),
            "'deny_status' expects <status_code> as argument",
        ),
        (
            rule("deny x"),
            "'http-request deny' cannot handle unexpected argument 'x'",
        ),
        (rule("deny string x"), "'string' is not supported yet"),
        (rule("allow x"), "cannot handle unexpected argument 'x'"),
        (rule("tarpit"), "'http-request tarpit' is not supported yet"),
        (
            rule("set-var(txn.x) str(a)"),
            "unknown 'http-request' action 'set-var(txn.x)'",
        ),
        (rule("foo"), "unknown 'http-request' action 'foo'"),
        (rule("use-service x"), "unknown service 'x'"),
        (rule("use-service"), "expects a service name"),
        (rule("return status 99"), "Unexpected status code '99'"),
        (
            rule("return status"),
            "'status' expects <status_code> as argument",
        ),
        (
            rule("return string x"),
            "a content type must be defined when non-empty payload is configured",
        ),
        (
            rule("return status 204 content-type t string x"),
            "No body expected for 204 responses",
        ),
        (
            rule("return lf-string x"),
            "a content type must be defined with a log-format payload",
        ),
        (
            rule("return status 304 content-type t lf-string x"),
            "No body expected for 304 responses",
        ),
        (
            rule("return content-type t string a file b"),
            "unexpected 'file' argument, 'string' already defined",
        ),
        (
            rule("return content-type t file /nope"),
            "error opening file '/nope'",
        ),
        (
            rule("return content-type t lf-string %[nosuch]"),
            "unknown fetch method 'nosuch'",
        ),
        (
            rule("return status 418 default-errorfiles"),
            "status code '418' not handled by default with 'default-errorfiles' argument",
        ),
        (
            rule("return errorfile /e/chunked.http"),
            "chunk-encoded payload not supported",
        ),
        (
            rule("return errorfiles x"),
            "'errorfiles' (http-errors sections) is not supported yet",
        ),
        (
            rule("return hdr x"),
            "'hdr' expects <name> and <value> as arguments",
        ),
        (
            rule("return content-type"),
            "'content-type' expects <ctype> as argument",
        ),
        (rule("redirect"), "expects 'location', 'prefix' or 'scheme'"),
        (
            rule("redirect foo x"),
            "expects 'location', 'prefix' or 'scheme', got 'foo'",
        ),
        (
            rule("redirect location"),
            "expects a value after the redirect type",
        ),
        (
            rule("redirect location /x code 304"),
            "unsupported HTTP code '304' (must be one of 301, 302, 303, 307 or 308)",
        ),
        (
            rule("redirect location /x code"),
            "'code' expects a status code",
        ),
        (
            rule("redirect prefix /x ignore-empty"),
            "'ignore-empty' is only valid with 'location'",
        ),
        (
            rule("redirect location /x set-cookie a"),
            "'set-cookie' is not supported yet",
        ),
        (
            rule("redirect location /x bogus"),
            "cannot handle unexpected argument 'bogus'",
        ),
        (
            "frontend f\n    http-response deny\n".to_string(),
            "'http-response deny' is not supported yet",
        ),
        (
            "frontend f\n    http-response set-header X %[path]\n".to_string(),
            "sample fetch <path> may not be reliably used here because it needs 'request headers'",
        ),
        (
            "frontend f\n    http-response bogus\n".to_string(),
            "unknown 'http-response' action 'bogus'",
        ),
    ];
    for (text, msg) in &cases {
        assert_has(&errors(text), "t.cfg:2", msg);
    }
    // A `return file` larger than tune.bufsize.
    let text = "global\n    tune.bufsize 1024\nfrontend f\n    http-request return content-type t file /r/big.txt\n";
    assert_has(
        &errors(text),
        "t.cfg:4",
        "file '/r/big.txt' exceeds the buffer size (2000 > 1024)",
    );
    // `parse` has no file access: errors say so.
    let text = "backend b\n    errorfile 503 /e/503.http\n";
    let env = |_: &str| None;
    let resolve = |_: &str, _: u16| Err(String::new());
    let errs = crate::config::parse(&[("t.cfg", text)], &env, &resolve).expect_err("no files");
    assert_has(&errs, "t.cfg:2", "file access is not available");
    assert!(parse_files(&[("t.cfg", text)]).is_ok());
}

#[test]
fn layer7_balance() {
    let text = format!(
        "\
defaults
    mode http
{TIMEOUTS}    balance uri
backend a
backend b
    balance uri whole len 20 depth 3 path-only
backend c
    balance hdr(Host)
backend d
    balance hdr(X-User) use_domain_only
backend e
    mode tcp
    balance hdr(host)
"
    );
    let loaded = ok(&text);
    assert_warns(
        &loaded,
        "t.cfg:14",
        "Layer 7 hash not possible for backend 'e' (needs 'mode http'). Falling back to round robin",
    );
    let got: Vec<Balance> = loaded
        .config
        .backends
        .iter()
        .map(|b| b.balance.clone())
        .collect();
    let uri = |whole, path_only, len, depth| Balance::Uri {
        whole,
        path_only,
        len,
        depth,
    };
    assert_eq!(
        got,
        vec![
            uri(false, false, None, None),
            uri(true, true, Some(20), Some(3)),
            Balance::Hdr {
                name: "Host".into(),
                use_domain_only: false
            },
            Balance::Hdr {
                name: "X-User".into(),
                use_domain_only: true
            },
            Balance::RoundRobin,
        ]
    );
    check(&[
        (
            "backend b\n    balance uri len 0\n",
            "t.cfg:2",
            "uri : 'len' expects a positive integer (got '0')",
        ),
        (
            "backend b\n    balance uri depth\n",
            "t.cfg:2",
            "uri : 'depth' expects a positive integer (got '')",
        ),
        (
            "backend b\n    balance hdr(host\n",
            "t.cfg:2",
            "hdr requires an http header field name",
        ),
        (
            "backend b\n    balance hdr(host) x\n",
            "t.cfg:2",
            "hdr(host) only accepts 'use_domain_only' modifier (got 'x')",
        ),
        (
            "backend b\n    balance hdr(host) use_domain_only x\n",
            "t.cfg:2",
            "'balance' cannot handle unexpected argument 'x'",
        ),
    ]);
}

#[test]
fn idle_close_on_response_is_a_frontend_option() {
    let cfg = ok("\
defaults
    mode http
    option idle-close-on-response
frontend fe
    bind :80
    default_backend be
frontend other
    bind :81
    no option idle-close-on-response
    default_backend be
backend be
    server s1 10.0.0.1:80
")
    .config;
    assert!(cfg.frontends[0].idle_close_on_response, "from defaults");
    assert!(!cfg.frontends[1].idle_close_on_response, "`no option`");
    let e = errors("backend be\n    option idle-close-on-response\n    server s1 10.0.0.1:80\n");
    assert!(!e.is_empty(), "not a backend option");
}
