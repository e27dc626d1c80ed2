//! `stats ...`, `monitor-uri`, `monitor fail` and `use-service`: the model
//! they build, HAProxy's inheritance from `defaults`, and located errors.

use std::time::Duration;

use super::{assert_has, assert_warns, errors, ok};
use crate::config::*;

const HEAD: &str = "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n";

fn stats_of(cfg: &Config, backend: &str) -> Option<StatsCfg> {
    cfg.backends
        .iter()
        .find(|b| b.name == backend)
        .and_then(|b| b.services.stats.as_deref().cloned())
}

#[test]
fn stats_keywords_build_the_page_settings() {
    let l = ok(&format!(
        "{HEAD}\nlisten st\n    bind :8404\n    stats uri /s\n    stats realm \"My stats\"\n    stats auth a:b\n    stats auth c:d:e\n    stats refresh 10s\n    stats hide-version\n    server s1 10.0.0.1:80\n"
    ));
    let s = stats_of(&l.config, "st").expect("stats enabled");
    assert_eq!(
        s,
        StatsCfg {
            uri: "/s".into(),
            realm: "My stats".into(),
            auth: vec![("a".into(), "b".into()), ("c".into(), "d:e".into())],
            refresh: Some(Duration::from_secs(10)),
            hide_version: true,
        }
    );
    // The listen's frontend half has the same settings.
    assert_eq!(l.config.frontends[0].services.stats.as_deref(), Some(&s));
}

#[test]
fn stats_enable_defaults_and_inheritance() {
    let l = ok(&format!(
        "{HEAD}    stats enable\n    stats uri /from-defaults\n\nbackend inherits\n    server s1 10.0.0.1:80\n\nbackend own\n    stats refresh 3s\n    server s1 10.0.0.1:80\n\nbackend off\n    stats disable\n    server s1 10.0.0.1:80\n"
    ));
    let inherited = stats_of(&l.config, "inherits").expect("inherited");
    assert_eq!(inherited.uri, "/from-defaults");
    // A proxy's own stats line starts from HAProxy's defaults.
    let own = stats_of(&l.config, "own").expect("own");
    assert_eq!(own.uri, DEFAULT_STATS_URI);
    assert_eq!(own.realm, DEFAULT_STATS_REALM);
    assert_eq!(own.refresh, Some(Duration::from_secs(3)));
    assert_eq!(stats_of(&l.config, "off"), None);
}

#[test]
fn monitor_and_service_frontends_need_no_backend() {
    let l = ok(&format!(
        "{HEAD}\nfrontend mon\n    bind :8080\n    monitor-uri /ping\n    monitor fail if {{ path_beg /x }} || {{ hdr(x) -m found }}\n\nfrontend prom\n    bind :8405\n    http-request use-service prometheus-exporter if {{ path /metrics }}\n\nfrontend st\n    bind :8406\n    stats enable\n"
    ));
    let fe = &l.config.frontends[0];
    assert_eq!(fe.services.monitor_uri.as_deref(), Some("/ping"));
    assert_eq!(fe.services.monitor_fail.len(), 1);
    assert_eq!(fe.services.monitor_fail[0].suites.len(), 2);
    assert_eq!(l.config.frontends.len(), 3);
}

#[test]
fn tcp_mode_ignores_them_with_haproxy_warnings() {
    let l = ok(
        "defaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\nlisten t\n    bind :9000\n    stats enable\n    monitor-uri /x\n    server s1 10.0.0.1:80\n",
    );
    assert_warns(
        &l,
        "t.cfg:7",
        "'stats' statement ignored for listen 't' as it requires HTTP mode.",
    );
    assert_warns(
        &l,
        "t.cfg:7",
        "'monitor-uri' statement ignored for listen 't' as it requires HTTP mode.",
    );
    assert!(l.config.frontends[0].services.is_empty());
    assert!(l.config.backends[0].services.is_empty());
}

#[test]
fn bad_arguments_are_located() {
    let e = errors(&format!(
        "{HEAD}\nlisten l\n    bind :80\n    stats auth nocolon\n    stats refresh soon\n    stats uri\n    stats scope x\n    stats socket /tmp/s\n    stats\n    monitor-uri\n    monitor fail\n    monitor other\n    http-request use-service lua.x\n    server s1 10.0.0.1:80\n\nbackend b\n    monitor-uri /x\n    monitor fail if TRUE\n    server s1 10.0.0.1:80\n"
    ));
    assert_has(&e, "t.cfg:9", "'stats auth' needs a user:password account.");
    assert_has(&e, "t.cfg:10", "'stats refresh'");
    assert_has(&e, "t.cfg:11", "'stats uri' needs an URI prefix.");
    assert_has(&e, "t.cfg:12", "'stats scope' is not supported yet");
    assert_has(
        &e,
        "t.cfg:13",
        "'stats socket' is only supported in the 'global' section",
    );
    assert_has(&e, "t.cfg:14", "'stats' expects 'enable'");
    assert_has(&e, "t.cfg:15", "'monitor-uri' expects an URI.");
    assert_has(&e, "t.cfg:16", "'monitor fail' expects 'if' or 'unless'");
    assert_has(&e, "t.cfg:17", "'monitor' expects 'fail'");
    assert_has(&e, "t.cfg:18", "unknown service 'lua.x'");
    assert_has(
        &e,
        "t.cfg:22",
        "'monitor-uri' is not supported in a 'backend' section",
    );
    assert_has(
        &e,
        "t.cfg:23",
        "'monitor' is not supported in a 'backend' section",
    );
}
