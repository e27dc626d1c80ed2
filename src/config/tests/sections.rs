//! Section rules: defaults inheritance, named defaults and `from`, several
//! files.

use super::{TIMEOUTS, assert_has, errors, ok, parse_files, secs};
use crate::config::*;

fn client(cfg: &Config, fe: &str) -> Option<std::time::Duration> {
    let f = cfg.frontends.iter().find(|f| f.name == fe);
    f.unwrap_or_else(|| panic!("no frontend {fe}"))
        .timeouts
        .client
}

#[test]
fn unnamed_defaults_apply_until_the_next_one_which_resets() {
    let text = "\
defaults
    mode http
    timeout client 1s
    maxconn 10
    default_backend b
frontend a
    bind :80
backend b
defaults
    timeout client 2s
frontend c
    bind :81
    default_backend d
backend d
";
    let cfg = ok(text).config;
    let (a, c) = (&cfg.frontends[0], &cfg.frontends[1]);
    assert_eq!(
        (a.mode, a.timeouts.client, a.maxconn, a.default_backend),
        (Mode::Http, secs(1), Some(10), Some(0))
    );
    assert_eq!(cfg.backends[0].mode, Mode::Http);
    assert_eq!(
        (c.mode, c.timeouts.client, c.maxconn),
        (Mode::Tcp, secs(2), None),
        "reset"
    );
    assert_eq!(
        (c.default_backend, cfg.backends[1].mode),
        (Some(1), Mode::Tcp)
    );
}

#[test]
fn named_defaults_and_from() {
    let text = "\
defaults base
    timeout client 1s
    balance leastconn
defaults web from base
    timeout client 2s
defaults
    timeout client 3s
frontend f1 from base
    bind :80
    default_backend b1
frontend f2 from web
    bind :81
    default_backend b1
frontend f3
    bind :82
    default_backend b1
backend b1 from web
backend b2
defaults last_named
    timeout client 4s
frontend f4
    bind :83
    default_backend b1
defaults from base
frontend f5
    bind :84
    default_backend b1
";
    let cfg = ok(text).config;
    let clients: Vec<_> = ["f1", "f2", "f3", "f4", "f5"]
        .iter()
        .map(|f| client(&cfg, f))
        .collect();
    assert_eq!(clients, [secs(1), secs(2), secs(3), secs(4), secs(1)]);
    assert_eq!(
        cfg.backends[0].balance,
        Balance::LeastConn,
        "inherited through web"
    );
    assert_eq!(
        cfg.backends[1].balance,
        Balance::RoundRobin,
        "unnamed defaults reset"
    );
}

#[test]
fn unreferenced_named_defaults_may_be_redeclared() {
    let text = "\
defaults d
    timeout client 1s
defaults d
    timeout client 2s
frontend f from d
    bind :80
    default_backend b
backend b
";
    assert_eq!(client(&ok(text).config, "f"), secs(2));
}

#[test]
fn referenced_named_defaults_may_not_be_redeclared() {
    let text = "\
defaults d
frontend f from d
    bind :80
    default_backend b
backend b
defaults d
";
    let errs = errors(text);
    assert_has(
        &errs,
        "t.cfg:6",
        "defaults section 'd' has the same name as another defaults section declared at t.cfg:1 which was explicitly referenced",
    );
    assert_eq!(errs.len(), 1);
}

#[test]
fn defaults_carry_over_files_but_sections_do_not() {
    let a = "defaults\n    timeout client 9s\nfrontend fe\n    bind :80\n    default_backend be\n";
    let b = "backend be\n    server s 10.0.0.1:80\n";
    let cfg = parse_files(&[("a.cfg", a), ("b.cfg", b)])
        .expect("valid")
        .config;
    assert_eq!(client(&cfg, "fe"), secs(9));
    assert_eq!(cfg.frontends[0].loc.to_string(), "a.cfg:3");
    assert_eq!(cfg.backends[0].servers[0].loc.to_string(), "b.cfg:2");

    let c = "    server x 10.0.0.2:80\n";
    let errs =
        parse_files(&[("a.cfg", a), ("c.cfg", c), ("b.cfg", b)]).expect_err("out of section");
    assert_has(&errs, "c.cfg:1", "unknown keyword 'server' out of section");
    assert_eq!(errs.len(), 1);
}

#[test]
fn errors_name_the_right_file_in_order() {
    let a = format!(
        "defaults\n{TIMEOUTS}frontend fe\n    bind :80\n    maxconn lots\n    default_backend be\n"
    );
    let b = "backend be\n    server s 10.0.0.1\n    balance first\n";
    let errs = parse_files(&[("conf/a.cfg", &a), ("conf/b.cfg", b)]).expect_err("errors");
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "conf/a.cfg:7: 'maxconn' expects an integer argument, got 'lots'",
            "conf/b.cfg:2: server s: port is required in '10.0.0.1' (expected [addr]:port)",
            "conf/b.cfg:3: balance algorithm 'first' is not supported (supported: roundrobin, leastconn, source, random, uri, hdr(<name>))",
        ]
    );
}

#[test]
fn special_variables() {
    let text =
        "frontend fe\n    bind :80 name ${.FILE}-${.LINE}\n    default_backend be\nbackend be\n";
    let cfg = ok(text).config;
    assert_eq!(cfg.frontends[0].binds[0].name, "t.cfg-2");
}
