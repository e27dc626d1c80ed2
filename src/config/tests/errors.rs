//! Invalid configurations: each error names `file:line` and says what is
//! wrong.

use super::{TIMEOUTS, assert_has, errors};

/// (configuration, where, message substring).
type Case = (&'static str, &'static str, &'static str);

fn check(cases: &[Case]) {
    for (text, at, msg) in cases {
        assert_has(&errors(text), at, msg);
    }
}

#[test]
fn lexer_and_section_errors() {
    check(&[
        (
            "global\n    pidfile \"/run/x\n",
            "t.cfg:2",
            "unterminated double quote (opened at column 13)",
        ),
        (
            "global\n    pidfile '/run/x\n",
            "t.cfg:2",
            "unterminated single quote",
        ),
        (
            "global\n    pidfile ${X\n",
            "t.cfg:2",
            "missing closing '}'",
        ),
        (
            "global\n    pidfile \\xZZ\n",
            "t.cfg:2",
            "invalid or incomplete '\\x' escape",
        ),
        (
            "maxconn 10\n",
            "t.cfg:1",
            "unknown keyword 'maxconn' out of section",
        ),
        (
            "global extra\n",
            "t.cfg:1",
            "'global' cannot handle unexpected argument 'extra'",
        ),
        (
            "resolvers dns\n    nameserver a 1.1.1.1:53\n",
            "t.cfg:1",
            "'resolvers' sections are not supported",
        ),
        (
            "userlist u\n    user a password x\n",
            "t.cfg:1",
            "'userlist' sections are not supported",
        ),
        (
            ".if defined(X)\n.endif\n",
            "t.cfg:1",
            "'.if': conditional blocks",
        ),
        (
            "global\n.endif\n",
            "t.cfg:2",
            "'.endif': conditional blocks",
        ),
    ]);
}

#[test]
fn global_errors() {
    check(&[
        (
            "global\n    foo bar\n",
            "t.cfg:2",
            "unknown keyword 'foo' in 'global' section",
        ),
        (
            "global\n    ssl-default-bind-ciphers X\n",
            "t.cfg:2",
            "unknown keyword 'ssl-default-bind-ciphers'",
        ),
        (
            "global\n    nbthread 0\n",
            "t.cfg:2",
            "'nbthread' must be between 1 and 4096 (got 0)",
        ),
        (
            "global\n    nbthread 4097\n",
            "t.cfg:2",
            "'nbthread' must be between 1 and 4096 (got 4097)",
        ),
        (
            "global\n    nbthread\n",
            "t.cfg:2",
            "'nbthread' expects an integer argument",
        ),
        (
            "global\n    nbthread 2 4\n",
            "t.cfg:2",
            "'nbthread' cannot handle unexpected argument '4'",
        ),
        (
            "global\n    maxconn -1\n",
            "t.cfg:2",
            "'maxconn' expects an integer argument, got '-1'",
        ),
        (
            "global\n    maxconn 99999999999\n",
            "t.cfg:2",
            "'maxconn' must be between 0 and 4294967295",
        ),
        (
            "global\n    tune.bufsize 1023\n",
            "t.cfg:2",
            "'tune.bufsize' must be between 1024 and 1048576",
        ),
        (
            "global\n    tune.bufsize 1048577\n",
            "t.cfg:2",
            "'tune.bufsize' must be between",
        ),
        (
            "global\n    tune.ring.buffers 100\n",
            "t.cfg:2",
            "power of two between 64 and 32768 (got 100)",
        ),
        (
            "global\n    tune.ring.buffers 32\n",
            "t.cfg:2",
            "'tune.ring.buffers' must be a power of two",
        ),
        (
            "global\n    tune.ring.entries 65536\n",
            "t.cfg:2",
            "'tune.ring.entries' must be a power of two",
        ),
        ("global\n    tune.ring.entries 0\n", "t.cfg:2", "(got 0)"),
        (
            "global\n    daemon now\n",
            "t.cfg:2",
            "'daemon' cannot handle unexpected argument 'now'",
        ),
        (
            "global\n    pidfile\n",
            "t.cfg:2",
            "'pidfile' expects a file name",
        ),
    ]);
}

#[test]
fn section_header_errors() {
    check(&[
        (
            "frontend\n",
            "t.cfg:1",
            "'frontend' expects <name> as an argument",
        ),
        (
            "listen \"\"\n",
            "t.cfg:1",
            "'listen' expects <name> as an argument",
        ),
        (
            "backend b/x\n",
            "t.cfg:1",
            "character '/' is not permitted in 'backend' name 'b/x'",
        ),
        (
            "defaults d$\n",
            "t.cfg:1",
            "character '$' is not permitted in 'defaults' name 'd$'",
        ),
        (
            "frontend fe extra\n",
            "t.cfg:1",
            "'frontend' cannot handle unexpected argument 'extra'",
        ),
        (
            "frontend fe from\n",
            "t.cfg:1",
            "'from' on 'frontend' line expects exactly one defaults section name",
        ),
        (
            "frontend fe from a b\n",
            "t.cfg:1",
            "expects exactly one defaults section name",
        ),
        (
            "frontend fe from nope\n",
            "t.cfg:1",
            "defaults section 'nope' (for frontend 'fe') not found",
        ),
        (
            "defaults d from nope\n",
            "t.cfg:1",
            "defaults section 'nope' (for defaults 'd') not found",
        ),
        (
            "backend b\nbackend b\n",
            "t.cfg:2",
            "backend 'b' has the same name as backend 'b' declared at t.cfg:1",
        ),
        (
            "frontend x\nlisten x\n",
            "t.cfg:2",
            "listen 'x' has the same name as frontend 'x' declared at t.cfg:1",
        ),
        (
            "listen x\nbackend x\n",
            "t.cfg:2",
            "backend 'x' has the same name as listen 'x' declared at t.cfg:1",
        ),
        (
            "listen x\nfrontend x\n",
            "t.cfg:2",
            "frontend 'x' has the same name as listen 'x'",
        ),
    ]);
}

#[test]
fn keyword_in_wrong_section() {
    check(&[
        (
            "backend b\n    bind :80\n",
            "t.cfg:2",
            "'bind' is not supported in a 'backend' section",
        ),
        (
            "defaults\n    bind :80\n",
            "t.cfg:2",
            "'bind' is not supported in a 'defaults' section",
        ),
        (
            "frontend f\n    server s 10.0.0.1:80\n",
            "t.cfg:2",
            "'server' is not supported in a 'frontend' section",
        ),
        (
            "frontend f\n    default-server weight 2\n",
            "t.cfg:2",
            "'default-server' is not supported in a 'frontend'",
        ),
        (
            "frontend f\n    balance roundrobin\n",
            "t.cfg:2",
            "'balance' is not supported in a 'frontend' section",
        ),
        (
            "frontend f\n    retries 3\n",
            "t.cfg:2",
            "'retries' is not supported in a 'frontend' section",
        ),
        (
            "backend b\n    maxconn 10\n",
            "t.cfg:2",
            "'maxconn' is not supported in a 'backend' section",
        ),
        (
            "backend b\n    default_backend x\n",
            "t.cfg:2",
            "'default_backend' is not supported in a 'backend'",
        ),
        (
            "defaults\n    use_backend b\n",
            "t.cfg:2",
            "'use_backend' is not supported in a 'defaults' section",
        ),
        (
            "frontend f\n    option redispatch\n",
            "t.cfg:2",
            "'option redispatch' is not supported in a 'frontend'",
        ),
        (
            "frontend f\n    no option allbackups\n",
            "t.cfg:2",
            "'option allbackups' is not supported in a 'frontend'",
        ),
        (
            "backend b\n    foo\n",
            "t.cfg:2",
            "unknown keyword 'foo' in 'backend' section",
        ),
        (
            "defaults\n    nbthread 2\n",
            "t.cfg:2",
            "unknown keyword 'nbthread' in 'defaults' section",
        ),
        (
            "global\n    mode tcp\n",
            "t.cfg:2",
            "unknown keyword 'mode' in 'global' section",
        ),
    ]);
}

#[test]
fn proxy_keyword_errors() {
    check(&[
        (
            "backend b\n    mode health\n",
            "t.cfg:2",
            "'mode' expects one of 'tcp' or 'http', got 'health'",
        ),
        (
            "backend b\n    mode\n",
            "t.cfg:2",
            "'mode' expects one of 'tcp' or 'http'",
        ),
        (
            "backend b\n    mode tcp http\n",
            "t.cfg:2",
            "'mode' cannot handle unexpected argument 'http'",
        ),
        (
            "frontend f\n    bind\n",
            "t.cfg:2",
            "'bind' expects [addr]:port[-end][,...]",
        ),
        (
            "frontend f\n    bind :80 ssl crt x.pem\n",
            "t.cfg:2",
            "unknown keyword 'ssl' on 'bind' line",
        ),
        (
            "frontend f\n    bind :80 name\n",
            "t.cfg:2",
            "'name' on 'bind' line expects a name",
        ),
        (
            "frontend f\n    bind 1.2.3.4\n",
            "t.cfg:2",
            "port is required in '1.2.3.4'",
        ),
        (
            "frontend f\n    bind :99999\n",
            "t.cfg:2",
            "invalid port '99999'",
        ),
        (
            "frontend f\n    bind :81-80\n",
            "t.cfg:2",
            "invalid port range '81-80'",
        ),
        (
            "frontend f\n    bind unix@/x.sock\n",
            "t.cfg:2",
            "address family 'unix@' is not supported",
        ),
        (
            "frontend f\n    bind nosuch:80\n",
            "t.cfg:2",
            "could not resolve address 'nosuch'",
        ),
        (
            "frontend f\n    maxconn\n",
            "t.cfg:2",
            "'maxconn' expects an integer argument",
        ),
        (
            "frontend f\n    maxconn 1e3\n",
            "t.cfg:2",
            "'maxconn' expects an integer argument, got '1e3'",
        ),
        (
            "defaults\n    timeout client\n",
            "t.cfg:2",
            "'timeout client' expects a time value",
        ),
        (
            "defaults\n    timeout client 10x\n",
            "t.cfg:2",
            "'timeout client': invalid unit 'x'",
        ),
        (
            "defaults\n    timeout server 30d\n",
            "t.cfg:2",
            "'timeout server': timer overflow",
        ),
        (
            "defaults\n    timeout foo 1s\n",
            "t.cfg:2",
            "'timeout' supports 'client'",
        ),
        ("defaults\n    timeout foo 1s\n", "t.cfg:2", "(got 'foo')"),
        (
            "defaults\n    timeout\n",
            "t.cfg:2",
            "'timeout' expects 'client'",
        ),
        (
            "defaults\n    timeout client 1s 2s\n",
            "t.cfg:2",
            "'timeout client' cannot handle unexpected argument '2s'",
        ),
        (
            "defaults\n    contimeout 5s\n",
            "t.cfg:2",
            "'contimeout' is not supported anymore since HAProxy 2.1; use 'timeout connect'",
        ),
        (
            "defaults\n    clitimeout 5s\n",
            "t.cfg:2",
            "use 'timeout client'",
        ),
        (
            "defaults\n    srvtimeout 5s\n",
            "t.cfg:2",
            "use 'timeout server'",
        ),
        (
            "frontend f\n    use_backend b if nosuch\n",
            "t.cfg:2",
            "error detected while parsing switching rule : no such ACL : 'nosuch'",
        ),
        (
            "frontend f\n    use_backend b unless x\n",
            "t.cfg:2",
            "no such ACL : 'x'",
        ),
        (
            "frontend f\n    use_backend b x\n",
            "t.cfg:2",
            "'use_backend' cannot handle unexpected argument 'x'",
        ),
        (
            "frontend f\n    use_backend\n",
            "t.cfg:2",
            "'use_backend' expects a backend name",
        ),
        (
            "frontend f\n    default_backend\n",
            "t.cfg:2",
            "'default_backend' expects a backend name",
        ),
        (
            "frontend f\n    default_backend a b\n",
            "t.cfg:2",
            "'default_backend' cannot handle unexpected argument 'b'",
        ),
    ]);
}

#[test]
fn backend_keyword_errors() {
    check(&[
        (
            "backend b\n    balance static-rr\n",
            "t.cfg:2",
            "balance algorithm 'static-rr' is not supported",
        ),
        (
            "backend b\n    balance first\n",
            "t.cfg:2",
            "balance algorithm 'first' is not supported",
        ),
        (
            "backend b\n    balance uri bogus\n",
            "t.cfg:2",
            "uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got 'bogus')",
        ),
        (
            "backend b\n    balance hdr()\n",
            "t.cfg:2",
            "hdr requires an http header field name",
        ),
        (
            "backend b\n    balance random(0)\n",
            "t.cfg:2",
            "'balance random(<draws>)' must be between 1",
        ),
        (
            "backend b\n    balance random(x)\n",
            "t.cfg:2",
            "'balance random(<draws>)' expects an integer argument",
        ),
        (
            "backend b\n    balance random(2\n",
            "t.cfg:2",
            "invalid balance algorithm 'random(2'",
        ),
        (
            "backend b\n    balance randomly\n",
            "t.cfg:2",
            "balance algorithm 'randomly' is not supported",
        ),
        (
            "backend b\n    balance\n",
            "t.cfg:2",
            "'balance' expects an algorithm",
        ),
        (
            "backend b\n    balance roundrobin x\n",
            "t.cfg:2",
            "'balance' cannot handle unexpected argument 'x'",
        ),
        (
            "backend b\n    retries x\n",
            "t.cfg:2",
            "'retries' expects an integer argument, got 'x'",
        ),
        (
            "backend b\n    option redispatch x\n",
            "t.cfg:2",
            "'option redispatch' expects an integer argument, got 'x'",
        ),
        (
            "backend b\n    option redispatch 1 2\n",
            "t.cfg:2",
            "'option redispatch' cannot handle unexpected argument '2'",
        ),
        (
            "backend b\n    no option redispatch 3\n",
            "t.cfg:2",
            "'option redispatch' cannot handle unexpected argument '3'",
        ),
        (
            "backend b\n    option allbackups x\n",
            "t.cfg:2",
            "'option allbackups' cannot handle unexpected argument",
        ),
        (
            "backend b\n    option forwardfour\n",
            "t.cfg:2",
            "unknown option 'forwardfour'",
        ),
        (
            "backend b\n    option\n",
            "t.cfg:2",
            "'option' expects an option name",
        ),
        (
            "backend b\n    no server\n",
            "t.cfg:2",
            "'no' expects 'option' or 'log'",
        ),
        (
            "backend b\n    no\n",
            "t.cfg:2",
            "'no' expects 'option' or 'log'",
        ),
    ]);
}

#[test]
fn server_errors() {
    check(&[
        (
            "backend b\n    server\n",
            "t.cfg:2",
            "'server' expects <name> and <addr>[:<port>] as arguments",
        ),
        (
            "backend b\n    server s\n",
            "t.cfg:2",
            "'server' expects <name> and <addr>[:<port>]",
        ),
        (
            "backend b\n    server s 10.0.0.1\n",
            "t.cfg:2",
            "server s: port is required",
        ),
        (
            "backend b\n    server s app.local\n",
            "t.cfg:2",
            "server s: port is required",
        ),
        (
            "backend b\n    server s ::1\n",
            "t.cfg:2",
            "server s: port is required in '::1' (an IPv6 address",
        ),
        (
            "backend b\n    server s :80\n",
            "t.cfg:2",
            "server s: invalid address ':80': a host is required",
        ),
        (
            "backend b\n    server s 10.0.0.1:80-81\n",
            "t.cfg:2",
            "port range '80-81' is not supported",
        ),
        (
            "backend b\n    server s 10.0.0.1:+1\n",
            "t.cfg:2",
            "relative port '+1' is not supported",
        ),
        (
            "backend b\n    server s nosuch.host:80\n",
            "t.cfg:2",
            "server s: could not resolve address 'nosuch.host': Name or service not known",
        ),
        (
            "backend b\n    server s/1 10.0.0.1:80\n",
            "t.cfg:2",
            "character '/' is not permitted in server name 's/1'",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 weight 257\n",
            "t.cfg:2",
            "server s: 'weight' must be between 0 and 256 (got 257)",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 weight\n",
            "t.cfg:2",
            "server s: 'weight' expects an integer argument",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 maxconn x\n",
            "t.cfg:2",
            "'maxconn' expects an integer argument, got 'x'",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 inter 0\n",
            "t.cfg:2",
            "'inter' has to be > 0",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 inter 5x\n",
            "t.cfg:2",
            "'inter': invalid unit 'x'",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 fastinter\n",
            "t.cfg:2",
            "'fastinter' expects a time value",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 downinter 0s\n",
            "t.cfg:2",
            "'downinter' has to be > 0",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 rise 0\n",
            "t.cfg:2",
            "'rise' must be between 1",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 fall x\n",
            "t.cfg:2",
            "'fall' expects an integer argument",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 port 0\n",
            "t.cfg:2",
            "'port' must be between 1 and 65535",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 addr host.name\n",
            "t.cfg:2",
            "'addr' expects an IPv4 or IPv6 address",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 id 0\n",
            "t.cfg:2",
            "'id' must be between 1",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 foo\n",
            "t.cfg:2",
            "server s: unknown keyword 'foo' on server line",
        ),
        (
            "backend b\n    server s 10.0.0.1:80 check ssl\n",
            "t.cfg:2",
            "unknown keyword 'ssl' on server line",
        ),
        (
            "backend b\n    default-server id 3\n",
            "t.cfg:2",
            "unknown keyword 'id' on default-server line",
        ),
        (
            "backend b\n    default-server weight 300\n",
            "t.cfg:2",
            "'weight' must be between 0 and 256 (got 300)",
        ),
        (
            "defaults\n    default-server rise x\n",
            "t.cfg:2",
            "'rise' expects an integer argument, got 'x'",
        ),
        (
            "backend b\n    server s 10.0.0.1:80\n    server s 10.0.0.2:80\n",
            "t.cfg:3",
            "server 's' has the same name as another server of backend 'b' (declared at t.cfg:2)",
        ),
    ]);
}

#[test]
fn reference_and_completeness_errors() {
    check(&[
        (
            "frontend f\n    default_backend b\nbackend b\n",
            "t.cfg:1",
            "frontend 'f' has no 'bind' directive",
        ),
        (
            "listen l\n    server s 10.0.0.1:80\n",
            "t.cfg:1",
            "listen 'l' has no 'bind' directive",
        ),
        (
            "frontend f\n    bind :80\n",
            "t.cfg:1",
            "frontend 'f' has no backend (no 'default_backend' nor 'use_backend')",
        ),
        (
            "listen l\n    bind :80\n",
            "t.cfg:1",
            "listen 'l' has no server and no backend",
        ),
        (
            "frontend f\n    bind :80\n    default_backend nope\n",
            "t.cfg:3",
            "frontend 'f': unable to find required default_backend: 'nope'",
        ),
        (
            "frontend f\n    bind :80\n    use_backend nope\n",
            "t.cfg:3",
            "frontend 'f': unable to find required use_backend: 'nope'",
        ),
        (
            "frontend f\n    bind :80\n    use_backend f\n",
            "t.cfg:3",
            "unable to find required use_backend: 'f'",
        ),
        (
            "defaults\n    default_backend nope\nfrontend f\n    bind :80\n",
            "t.cfg:2",
            "frontend 'f': unable to find required default_backend: 'nope'",
        ),
        (
            "frontend f\n    bind :80\n    default_backend b\nbackend b\n    mode http\n",
            "t.cfg:3",
            "frontend 'f': unable to use proxy 'b' with wrong mode, required: tcp, has: http",
        ),
        (
            "frontend f\n    mode http\n    bind :80\n    use_backend b\nbackend b\n",
            "t.cfg:4",
            "unable to use proxy 'b' with wrong mode, required: http, has: tcp",
        ),
    ]);
}

#[test]
fn every_error_is_reported_once_without_cascades() {
    let text = format!(
        "\
global
    nbthread lots
defaults
{TIMEOUTS}    timeout client 1y
frontend fe
    bind :http
    default_backend be
listen li
    bind :81
    server s1 10.0.0.1
backend be
    server s2 10.0.0.2:80 weight -1
    balance first
"
    );
    let errs = errors(&text);
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "t.cfg:2: 'nbthread' expects an integer argument, got 'lots'",
            "t.cfg:7: 'timeout client': invalid unit 'y' in time value '1y' (expected us, ms, s, m, h or d)",
            "t.cfg:9: invalid port 'http' in ':http' (expected 1 to 65535)",
            "t.cfg:13: server s1: port is required in '10.0.0.1' (expected [addr]:port)",
            "t.cfg:15: server s2: 'weight' expects an integer argument, got '-1'",
            "t.cfg:16: balance algorithm 'first' is not supported (supported: roundrobin, leastconn, source, random, uri, hdr(<name>))",
        ]
    );
}

#[test]
fn skipped_section_reports_once() {
    let text =
        "peers p\n    peer a 1.2.3.4:10000\n    peer b 1.2.3.5:10000\nfrontend f\n    bind :80\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_has(
        &errs,
        "t.cfg:1",
        "'peers' sections are not supported (section skipped)",
    );
    assert_has(&errs, "t.cfg:4", "frontend 'f' has no backend");
}

#[test]
fn display_without_location() {
    let e = crate::config::ConfigError {
        loc: None,
        msg: "boom".into(),
    };
    assert_eq!(e.to_string(), "boom");
}

#[test]
fn listeners_are_capped_across_the_configuration() {
    let text = "\
frontend a
    bind :1-40000
    default_backend be
frontend b
    bind [::1]:1-25536
    bind [::1]:30000
    default_backend be
backend be
";
    let errs = errors(text);
    assert_has(
        &errs,
        "t.cfg:6",
        "too many listeners: the configuration declares more than 65536 bind addresses",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
}
