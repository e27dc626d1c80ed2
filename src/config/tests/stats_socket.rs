//! `stats socket`, `stats timeout` and `stats maxconn` in `global`.

use std::time::Duration;

use super::{assert_has, assert_warns, errors, ok, sa};
use crate::config::{ApiLevel, IdSpec, StatsAddr};

#[test]
fn defaults_without_stats_lines() {
    let g = ok("global\n").config.global;
    assert!(g.stats_sockets.is_empty());
    assert_eq!(g.stats_timeout, Duration::from_secs(10));
    assert_eq!(g.stats_maxconn, 10);
}

#[test]
fn unix_socket_with_every_option() {
    let text = "global\n    stats socket /run/rp.sock mode 660 level admin user nobody group nogroup expose-fd listeners\n    stats timeout 30s\n    stats maxconn 3\n";
    let g = ok(text).config.global;
    let [s] = g.stats_sockets.as_slice() else {
        panic!("one socket expected: {:?}", g.stats_sockets)
    };
    assert_eq!(s.addr, StatsAddr::Unix("/run/rp.sock".into()));
    assert_eq!(s.mode, Some(0o660));
    assert_eq!(s.level, ApiLevel::Admin);
    assert_eq!(s.owner, Some(IdSpec::Name("nobody".into())));
    assert_eq!(s.group, Some(IdSpec::Name("nogroup".into())));
    assert!(s.expose_fd_listeners);
    assert_eq!(s.loc.to_string(), "t.cfg:2");
    assert_eq!(g.stats_timeout, Duration::from_secs(30));
    assert_eq!(g.stats_maxconn, 3);
}

#[test]
fn default_level_is_operator_as_in_haproxy() {
    let g = ok("global\n    stats socket /tmp/a.sock\n").config.global;
    assert_eq!(g.stats_sockets[0].level, ApiLevel::Operator);
    assert_eq!(g.stats_sockets[0].mode, None);
}

#[test]
fn address_forms_and_several_sockets() {
    let text = "global\n    stats socket /tmp/a.sock level user\n    stats socket unix@rel.sock\n    stats socket abns@rp-cli\n    stats socket ipv4@127.0.0.1:9999 level admin\n    stats socket 127.0.0.1:9998\n    stats socket ipv6@[::1]:9997 uid 0 gid 0\n";
    let g = ok(text).config.global;
    let addrs: Vec<&StatsAddr> = g.stats_sockets.iter().map(|s| &s.addr).collect();
    assert_eq!(
        addrs,
        [
            &StatsAddr::Unix("/tmp/a.sock".into()),
            &StatsAddr::Unix("rel.sock".into()),
            &StatsAddr::Abstract("rp-cli".into()),
            &StatsAddr::Tcp(sa("127.0.0.1:9999")),
            &StatsAddr::Tcp(sa("127.0.0.1:9998")),
            &StatsAddr::Tcp(sa("[::1]:9997")),
        ]
    );
    assert_eq!(g.stats_sockets[5].owner, Some(IdSpec::Id(0)));
    assert_eq!(g.stats_sockets[5].group, Some(IdSpec::Id(0)));
}

#[test]
fn mode_on_a_tcp_socket_warns() {
    let l = ok("global\n    stats socket 127.0.0.1:9999 mode 600\n");
    assert_warns(&l, "t.cfg:2", "only apply to UNIX socket files");
}

#[test]
fn errors_name_file_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "global\n    stats socket\n",
            "t.cfg:2",
            "'stats socket' in global section expects an address or a path to a UNIX socket",
        ),
        (
            "global\n    stats socket /a level root\n",
            "t.cfg:2",
            "'level' only supports 'user', 'operator', and 'admin' (got 'root')",
        ),
        (
            "global\n    stats socket /a level\n",
            "t.cfg:2",
            "'level' : missing level",
        ),
        (
            "global\n    stats socket /a mode 9x\n",
            "t.cfg:2",
            "'mode' : missing or invalid mode '9x' (octal integer expected)",
        ),
        (
            "global\n    stats socket /a expose-fd all\n",
            "t.cfg:2",
            "'expose-fd' only supports 'listeners' (got 'all')",
        ),
        (
            "global\n    stats socket /a frobnicate 1\n",
            "t.cfg:2",
            "'stats socket' : unknown keyword 'frobnicate'.",
        ),
        (
            "global\n    stats socket /a uid x\n",
            "t.cfg:2",
            "'uid' : missing or invalid uid 'x'",
        ),
        (
            "global\n    stats socket fd@2\n",
            "t.cfg:2",
            "'fd@2': expects an inherited file descriptor number above 2",
        ),
        (
            "global\n    stats socket sockpair@3\n",
            "t.cfg:2",
            "address family 'sockpair@' is not supported",
        ),
        (
            "global\n    stats socket localhost:9999\n",
            "t.cfg:2",
            "host names are not supported here",
        ),
        (
            "global\n    stats socket 127.0.0.1:9000-9001\n",
            "t.cfg:2",
            "must be exactly one address and port",
        ),
        (
            "global\n    stats socket 127.0.0.1\n",
            "t.cfg:2",
            "port is required",
        ),
        (
            "global\n    stats socket /a\n    stats socket unix@/a level admin\n",
            "t.cfg:3",
            "'unix@/a' is already used by the 'stats socket' at t.cfg:2",
        ),
        (
            "global\n    stats timeout 0\n",
            "t.cfg:2",
            "'stats timeout' expects a positive value",
        ),
        (
            "global\n    stats timeout 5x\n",
            "t.cfg:2",
            "'stats timeout' : invalid unit 'x'",
        ),
        (
            "global\n    stats maxconn 0\n",
            "t.cfg:2",
            "'stats maxconn' expects a positive value",
        ),
        (
            "global\n    stats sockets /a\n",
            "t.cfg:2",
            "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'sockets')",
        ),
    ];
    for (text, at, msg) in cases {
        assert_has(&errors(text), at, msg);
    }
}

#[test]
fn bind_process_is_accepted_with_a_warning() {
    let l = ok("global\n    stats bind-process all\n");
    assert_warns(&l, "t.cfg:2", "'stats bind-process' ignored");
}

#[test]
fn inherited_fd() {
    let l = ok("global\n    stats socket fd@4 level admin\n");
    assert_eq!(l.config.global.stats_sockets[0].addr, StatsAddr::Fd(4));
}

#[test]
fn an_inherited_fd_serves_one_listener_only() {
    let be = "backend b\n    server s 127.0.0.1:1\n";
    let e = errors(&format!(
        "global\n    stats socket fd@4\nfrontend f\n    bind fd@4\n    default_backend b\n{be}"
    ));
    assert_has(
        &e,
        "t.cfg:4",
        "frontend 'f': 'bind' : fd@4 is already used by the 'stats socket' at t.cfg:2",
    );
    let e = errors("global\n    stats socket fd@5\n    stats socket fd@5 level admin\n");
    assert_has(
        &e,
        "t.cfg:3",
        "'stats socket' : fd@5 is already used by the 'stats socket' at t.cfg:2",
    );
    let e = errors(&format!(
        "frontend f\n    bind fd@6\n    default_backend b\nlisten l\n    bind fd@6\n    server s 127.0.0.1:2\n{be}"
    ));
    assert_has(
        &e,
        "t.cfg:5",
        "listen 'l': 'bind' : fd@6 is already used by the bind of frontend 'f' at t.cfg:2",
    );
    // Different numbers are different sockets.
    ok(&format!(
        "global\n    stats socket fd@4\nfrontend f\n    bind fd@5\n    default_backend b\n{be}"
    ));
}
