//! Valid configurations -> expected model fields.

use std::sync::Arc;
use std::time::Duration;

use super::{TIMEOUTS, assert_has, assert_warns, errors, ms, ok, sa, secs};
use crate::config::*;

fn loc(line: u32) -> Loc {
    Loc {
        file: Arc::from("t.cfg"),
        line,
    }
}

#[test]
fn minimal_tcp_config_is_fully_modelled() {
    let text = "\
global
    nbthread 4
    maxconn 1000

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 1m

frontend fe
    bind :80
    default_backend be

backend be
    server s1 10.0.0.1:8080
";
    let loaded = ok(text);
    assert_eq!(loaded.warnings, vec![]);
    let want = Config {
        global: Global {
            nbthread: Some(4),
            maxconn: Some(1000),
            ..Global::default()
        },
        frontends: vec![Frontend {
            name: "fe".into(),
            loc: loc(11),
            iid: 1,
            mode: Mode::Tcp,
            binds: vec![Bind {
                on: ListenOn::Addr(sa("0.0.0.0:80")),
                accept_proxy: false,
                name: "0.0.0.0:80".into(),
                v6only: false,
                loc: loc(12),
            }],
            maxconn: None,
            timeouts: Timeouts {
                client: secs(30),
                ..Timeouts::default()
            },
            default_backend: Some(0),
            use_backends: vec![],
            own_backend: None,
            logs: vec![],
            log_format: None,
            dontlognull: false,
            idle_close_on_response: false,
            conn_mode: HttpConnMode::KeepAlive,
            forwardfor: None,
            errorfiles: vec![],
            http_request: vec![],
            http_response: vec![],
            tcp_req_conn: vec![],
            tcp_req_sess: vec![],
            tcp_req_cont: vec![],
            services: Services::default(),
            retired: false,
        }],
        backends: vec![Backend {
            name: "be".into(),
            loc: loc(15),
            iid: 2,
            mode: Mode::Tcp,
            balance: Balance::RoundRobin,
            servers: vec![Server {
                name: "s1".into(),
                loc: loc(16),
                addr: sa("10.0.0.1:8080"),
                weight: 1,
                maxconn: None,
                send_proxy: None,
                backup: false,
                disabled: false,
                check: None,
                pool_max_conn: None,
                pool_purge_delay: Duration::from_secs(5),
            }],
            retries: 3,
            redispatch: None,
            allbackups: false,
            timeouts: Timeouts {
                connect: secs(5),
                server: secs(60),
                ..Timeouts::default()
            },
            logs: vec![],
            conn_mode: HttpConnMode::KeepAlive,
            forwardfor: None,
            http_reuse: HttpReuse::Safe,
            errorfiles: vec![],
            http_request: vec![],
            http_response: vec![],
            tcp_req_cont: vec![],
            stick_rules: vec![],
            http_check: None,
            services: Services::default(),
            retired: false,
        }],
        tables: vec![],
    };
    assert_eq!(loaded.config, want);
    assert_eq!(loaded.config.frontends[0].target_backend(), Some(0));
}

#[test]
fn global_keywords() {
    let text = "\
global
    nbthread 4096
    maxconn 0
    daemon
    pidfile /run/rp.pid
    tune.bufsize 1024
    tune.ring.buffers 64
    tune.ring.entries 32768
    pidfile /other.pid
    log /dev/log local0
    user haproxy
    group haproxy
    uid 99
    gid 99
    chroot /var/empty
    ulimit-n 100000
    description my lb
    node lb1
    stats socket /run/haproxy.sock mode 600 level admin
    stats timeout 30s
";
    let loaded = ok(text);
    let g = &loaded.config.global;
    assert_eq!(g.nbthread, Some(4096));
    assert_eq!(g.maxconn, None, "maxconn 0 = not set");
    assert!(g.daemon);
    assert_eq!(g.pidfile.as_deref(), Some("/run/rp.pid"));
    assert_eq!(
        (g.bufsize, g.ring_buffers, g.ring_entries),
        (1024, 64, 32768)
    );
    assert_warns(&loaded, "t.cfg:9", "'pidfile' already specified");
    assert_eq!(
        g.logs,
        vec![LogTargetSpec {
            words: vec!["/dev/log".into(), "local0".into()],
            loc: loc(10),
        }]
    );
    assert_warns(&loaded, "t.cfg:11", "'user' ignored");
    assert_warns(&loaded, "t.cfg:15", "'chroot' ignored");
    assert_warns(&loaded, "t.cfg:16", "'ulimit-n' ignored");
    // `stats` lines configure the runtime API (see tests/stats_socket.rs).
    assert_eq!(g.stats_sockets.len(), 1);
    assert_eq!(g.stats_timeout, std::time::Duration::from_secs(30));
    assert_eq!(loaded.warnings.len(), 9);
    // An empty configuration is valid (nothing to run, which is the
    // caller's call) and keeps every default.
    assert_eq!(ok("").config.global, Global::default());
}

#[test]
fn binds() {
    let text = "\
frontend fe
    bind :80
    bind 127.0.0.1:81,[::1]:82 accept-proxy name local
    bind :::8000-8002 v6only
    bind ipv4@*:9000 v6only
    bind :${FE_PORT}
    default_backend be
backend be
";
    let fe = &ok(text).config.frontends[0];
    let got: Vec<(String, bool, &str, bool, u32)> = (fe.binds.iter())
        .map(|b| {
            (
                b.on.to_string(),
                b.accept_proxy,
                b.name.as_str(),
                b.v6only,
                b.loc.line,
            )
        })
        .collect();
    let want: Vec<(String, bool, &str, bool, u32)> = vec![
        ("0.0.0.0:80".into(), false, "0.0.0.0:80", false, 2),
        ("127.0.0.1:81".into(), true, "local", false, 3),
        ("[::1]:82".into(), true, "local", false, 3),
        ("[::]:8000".into(), false, "[::]:8000", true, 4),
        ("[::]:8001".into(), false, "[::]:8001", true, 4),
        ("[::]:8002".into(), false, "[::]:8002", true, 4),
        ("0.0.0.0:9000".into(), false, "0.0.0.0:9000", false, 5),
        ("0.0.0.0:8080".into(), false, "0.0.0.0:8080", false, 6),
    ];
    assert_eq!(got, want);
}

#[test]
fn servers_and_options() {
    let text = format!(
        "\
defaults
{TIMEOUTS}
backend be
    server a 10.0.0.1:80
    server b [fd00::2]:81 weight 0 maxconn 100 send-proxy backup disabled id 7
    server c 10.0.0.3:82 weight 256 send-proxy-v2 send-proxy check inter 500ms fastinter 100ms downinter 5s rise 1 fall 9 port 9000 addr 10.9.9.9
    server d app.local:83 inter 1s rise 5 maxconn 0
    server e ${{BE_HOST}}:84 send-proxy-v2 no-send-proxy-v2 send-proxy check no-check
    server f app6.local:85 check addr [::1]
"
    );
    let be = &ok(&text).config.backends[0];
    let s: Vec<&Server> = be.servers.iter().collect();
    assert_eq!(s.len(), 6);
    assert_eq!(
        (s[0].weight, s[0].maxconn, s[0].send_proxy, s[0].check),
        (1, None, None, None)
    );
    assert_eq!(s[1].addr, sa("[fd00::2]:81"));
    assert_eq!((s[1].weight, s[1].maxconn), (0, Some(100)));
    assert_eq!(s[1].send_proxy, Some(ProxyVersion::V1));
    assert!(s[1].backup && s[1].disabled);
    assert_eq!(
        (s[2].weight, s[2].send_proxy),
        (256, Some(ProxyVersion::V2))
    );
    let check = CheckSettings {
        inter: Duration::from_millis(500),
        fastinter: ms(100),
        downinter: secs(5),
        rise: 1,
        fall: 9,
        port: Some(9000),
        addr: Some([10, 9, 9, 9].into()),
    };
    assert_eq!(s[2].check, Some(check));
    assert_eq!(
        s[3].addr,
        sa("10.1.0.1:83"),
        "resolved through the resolver"
    );
    assert_eq!(
        (s[3].check, s[3].maxconn),
        (None, None),
        "no 'check': settings validated, not kept"
    );
    assert_eq!(
        (s[4].addr, s[4].send_proxy, s[4].check),
        (sa("10.0.0.9:84"), Some(ProxyVersion::V1), None)
    );
    assert_eq!(s[5].addr, sa("[fd00::1]:85"));
    let f_check = s[5].check.expect("check on f");
    assert_eq!(
        (f_check.inter, f_check.addr),
        (Duration::from_secs(2), Some("::1".parse().unwrap()))
    );
    assert_eq!(s[4].loc.line, 11);
}

#[test]
fn default_server_from_defaults_and_backend() {
    let text = format!(
        "\
defaults
{TIMEOUTS}    default-server inter 3s rise 4 send-proxy
backend be
    server a 10.0.0.1:80 check
    default-server weight 10 check maxconn 50
    server b 10.0.0.2:80
    server c 10.0.0.3:80 weight 2 no-check no-send-proxy
    default-server backup
    server d 10.0.0.4:80 no-backup
backend other
    server e 10.0.0.5:80
"
    );
    let cfg = ok(&text).config;
    let s = &cfg.backends[0].servers;
    let inter3 = CheckSettings {
        inter: Duration::from_secs(3),
        rise: 4,
        ..CheckSettings::default()
    };
    assert_eq!(
        (s[0].weight, s[0].check, s[0].send_proxy),
        (1, Some(inter3), Some(ProxyVersion::V1))
    );
    assert_eq!(
        (s[1].weight, s[1].maxconn, s[1].check),
        (10, Some(50), Some(inter3))
    );
    assert_eq!((s[2].weight, s[2].check, s[2].send_proxy), (2, None, None));
    assert!(!s[3].backup, "no-backup undoes default-server backup");
    assert_eq!(s[3].check, Some(inter3));
    // A backend's default-server does not leak into the next backend.
    let e = &cfg.backends[1].servers[0];
    assert_eq!(
        (e.weight, e.maxconn, e.check, e.backup),
        (1, None, None, false)
    );
    assert_eq!(
        e.send_proxy,
        Some(ProxyVersion::V1),
        "defaults' default-server applies"
    );
}

#[test]
fn timeouts_are_split_by_side() {
    let text = "\
defaults
    timeout connect 1s
    timeout client 2s
    timeout client-hs 3s
    timeout client-fin 4s
    timeout server 5s
    timeout server-fin 6s
    timeout tunnel 1h
    timeout queue 8s
    timeout check 9s
    timeout http-request 10s
    timeout http-keep-alive 11s
    timeout tarpit 12s
frontend fe
    bind :80
    timeout client 0
    default_backend be
backend be
    timeout server ${TIMEOUT}
    server s 10.0.0.1:80
listen li
    bind :81
    server s 10.0.0.1:81
";
    let loaded = ok(text);
    let cfg = &loaded.config;
    let fe_side = Timeouts {
        client: secs(2),
        client_hs: secs(3),
        client_fin: secs(4),
        http_request: secs(10),
        http_keep_alive: secs(11),
        ..Timeouts::default()
    };
    let be_side = Timeouts {
        connect: secs(1),
        server: secs(5),
        server_fin: secs(6),
        tunnel: secs(3600),
        queue: secs(8),
        check: secs(9),
        http_request: secs(10),
        http_keep_alive: secs(11),
        ..Timeouts::default()
    };
    assert_eq!(
        cfg.frontends[0].timeouts,
        Timeouts {
            client: None,
            ..fe_side
        },
        "0 unsets"
    );
    assert_eq!(
        cfg.backends[0].timeouts,
        Timeouts {
            server: secs(7),
            ..be_side
        }
    );
    assert_eq!(
        (cfg.frontends[1].name.as_str(), cfg.frontends[1].timeouts),
        ("li", fe_side)
    );
    assert_eq!(
        (cfg.backends[1].name.as_str(), cfg.backends[1].timeouts),
        ("li", be_side)
    );
    assert_warns(&loaded, "t.cfg:13", "'timeout tarpit' ignored");
    assert_warns(&loaded, "t.cfg:14", "missing timeouts for frontend 'fe'");
    assert_eq!(loaded.warnings.len(), 2, "{:#?}", loaded.warnings);
}

#[test]
fn timeout_for_the_missing_side_warns() {
    let text = format!(
        "\
frontend fe
{TIMEOUTS}    bind :80
    default_backend be
backend be
{TIMEOUTS}"
    );
    let loaded = ok(&text);
    let cfg = &loaded.config;
    assert_eq!(
        cfg.frontends[0].timeouts,
        Timeouts {
            client: secs(30),
            ..Timeouts::default()
        }
    );
    assert_eq!(
        cfg.backends[0].timeouts,
        Timeouts {
            connect: secs(5),
            server: secs(30),
            ..Timeouts::default()
        }
    );
    let fe_msg =
        "'timeout connect' will be ignored because frontend 'fe' has no backend capability";
    assert_warns(&loaded, "t.cfg:2", fe_msg);
    assert_warns(&loaded, "t.cfg:4", "'timeout server' will be ignored");
    assert_warns(
        &loaded,
        "t.cfg:9",
        "'timeout client' will be ignored because backend 'be' has no frontend capability",
    );
    assert_eq!(loaded.warnings.len(), 3, "{:#?}", loaded.warnings);
}

#[test]
fn missing_timeouts_warnings() {
    let text = "\
frontend fe
    bind :80
    default_backend be
backend be
    timeout connect 1s
    timeout tunnel 1h
    server s 10.0.0.1:80
backend empty
backend noconnect
    timeout server 1s
    server s 10.0.0.1:80
listen li
    bind :81
    timeout client 1s
    server s 10.0.0.1:80
";
    let loaded = ok(text);
    assert_warns(
        &loaded,
        "t.cfg:1",
        "missing timeouts for frontend 'fe'. While not properly invalid",
    );
    assert_warns(
        &loaded,
        "t.cfg:9",
        "missing timeouts for backend 'noconnect'",
    );
    assert_warns(&loaded, "t.cfg:12", "missing timeouts for listen 'li'");
    // `be`: tunnel covers server in TCP; `empty`: no server to wait for.
    assert_eq!(loaded.warnings.len(), 3, "{:#?}", loaded.warnings);
}

#[test]
fn balance_retries_and_backend_options() {
    let text = format!(
        "\
defaults
{TIMEOUTS}    balance leastconn
    retries 5
    option redispatch
    option allbackups
backend a
backend b
    balance source
    retries 0
    option redispatch 2
    no option allbackups
backend c
    balance random
    option redispatch -3
backend d
    balance random(5)
    no option redispatch
backend e
    balance roundrobin
    option redispatch 0
"
    );
    let cfg = ok(&text).config;
    let got: Vec<(Balance, u32, Option<i32>, bool)> = cfg
        .backends
        .iter()
        .map(|b| (b.balance.clone(), b.retries, b.redispatch, b.allbackups))
        .collect();
    let want = vec![
        (Balance::LeastConn, 5, Some(-1), true),
        (Balance::Source, 0, Some(2), false),
        (Balance::Random { draws: 2 }, 5, Some(-3), true),
        (Balance::Random { draws: 5 }, 5, None, true),
        (Balance::RoundRobin, 5, None, true),
    ];
    assert_eq!(got, want);
}

#[test]
fn dynamic_algorithms_are_haproxys() {
    let dynamic = [
        Balance::RoundRobin,
        Balance::LeastConn,
        Balance::Random { draws: 2 },
    ];
    assert!(dynamic.iter().all(Balance::is_dynamic));
    let map_based = [
        Balance::Source,
        Balance::Uri {
            whole: false,
            path_only: false,
            len: None,
            depth: None,
        },
        Balance::Hdr {
            name: "host".into(),
            use_domain_only: false,
        },
    ];
    assert!(!map_based.iter().any(Balance::is_dynamic));
}

#[test]
fn ignored_options_and_log_lines() {
    let text = format!(
        "\
defaults
{TIMEOUTS}    log global
    option tcplog
    option httplog clf
    option dontlognull
    option splice-auto
    option splice-request
    option splice-response
    option tcpka
    option clitcpka
    option srvtcpka
    no log
    no option dontlognull
frontend fe
    bind :80
    default_backend be
backend be
"
    );
    let loaded = ok(&text);
    let lines: Vec<u32> = loaded
        .warnings
        .iter()
        .filter_map(|w| w.loc.as_ref().map(|l| l.line))
        .collect();
    // 7: httplog overrides tcplog in defaults; 12-14: TCP keep-alive
    // options; 7 again: httplog falls back to tcplog in a TCP frontend.
    assert_eq!(lines, vec![7, 12, 13, 14, 7], "{:#?}", loaded.warnings);
    assert_warns(
        &loaded,
        "t.cfg:7",
        "'option httplog' overrides previous 'option tcplog' in 'defaults' section",
    );
    assert_warns(
        &loaded,
        "t.cfg:7",
        "'option httplog' not usable with frontend 'fe' (needs 'mode http'). Falling back to 'option tcplog'",
    );
    assert_warns(&loaded, "t.cfg:12", "'option tcpka' ignored");
    let fe = &loaded.config.frontends[0];
    assert_eq!(
        (fe.log_format, fe.dontlognull, fe.logs.len()),
        (Some(LogStyle::Tcp), false, 0)
    );
}

#[test]
fn frontend_maxconn_mode_and_use_backend() {
    let text = format!(
        "\
defaults
{TIMEOUTS}    maxconn 500
    mode http
frontend fe
    bind :80
    maxconn 0
    use_backend b2
    use_backend b1
    default_backend b1
frontend fe2
    bind :81
    default_backend b2
backend b1
backend b2
"
    );
    let cfg = ok(&text).config;
    let fe = &cfg.frontends[0];
    assert_eq!((fe.mode, fe.maxconn), (Mode::Http, None));
    let uses: Vec<(usize, u32)> = fe
        .use_backends
        .iter()
        .map(|u| (u.backend, u.loc.line))
        .collect();
    assert_eq!(uses, vec![(1, 10), (0, 11)]);
    assert_eq!(
        (fe.default_backend, fe.target_backend()),
        (Some(0), Some(1))
    );
    assert_eq!(
        (cfg.frontends[1].maxconn, cfg.backends[0].mode),
        (Some(500), Mode::Http)
    );
}

#[test]
fn listen_is_a_frontend_and_a_backend() {
    let text = format!(
        "\
defaults
{TIMEOUTS}
backend before
listen li
    bind :80
    balance leastconn
    server s 10.0.0.1:80
listen routed
    bind :81
    default_backend before
    server unused 10.0.0.2:80
frontend fe
    bind :82
    use_backend li
"
    );
    let cfg = ok(&text).config;
    let fe_names: Vec<&str> = cfg.frontends.iter().map(|f| f.name.as_str()).collect();
    let be_names: Vec<&str> = cfg.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(fe_names, ["li", "routed", "fe"]);
    assert_eq!(be_names, ["before", "li", "routed"]);
    assert_eq!(
        cfg.frontends[0].default_backend,
        Some(1),
        "a listen serves itself"
    );
    assert_eq!(cfg.backends[1].balance, Balance::LeastConn);
    assert_eq!(
        cfg.frontends[1].default_backend,
        Some(0),
        "default_backend wins over own servers"
    );
    assert_eq!(cfg.frontends[2].target_backend(), Some(1));
    assert_eq!(
        (cfg.frontends[0].loc.line, cfg.backends[1].loc.line),
        (7, 7)
    );
}

#[test]
fn names_and_quoting() {
    let text = format!(
        "\
defaults
{TIMEOUTS}
frontend \"fe.1:a_b-c\"
    bind \":80\" name 'my bind' # comment
    default_backend fe.1:a_b-c
backend fe.1:a_b-c
"
    );
    let cfg = ok(&text).config;
    assert_eq!(cfg.frontends[0].name, "fe.1:a_b-c");
    assert_eq!(cfg.frontends[0].binds[0].name, "my bind");
    assert_eq!(
        cfg.frontends[0].default_backend,
        Some(0),
        "a frontend and a backend may share a name"
    );
}

#[test]
fn hard_stop_after() {
    let l = ok("global\n    hard-stop-after 30s\n");
    assert_eq!(l.config.global.hard_stop_after, secs(30));
    assert_eq!(ok("global\n").config.global.hard_stop_after, None);
    let e = errors("global\n    hard-stop-after\n");
    assert_has(
        &e,
        "t.cfg:2",
        "'hard-stop-after' expects <time> as argument",
    );
    let e = errors("global\n    hard-stop-after soon\n");
    assert_has(&e, "t.cfg:2", "'hard-stop-after'");
}

#[test]
fn bind_on_an_inherited_fd() {
    let l = ok(
        "frontend f\n    bind fd@3 name inherited accept-proxy\n    bind fd@7\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n",
    );
    let b = &l.config.frontends[0].binds;
    assert_eq!(b[0].on, ListenOn::Fd(3));
    assert_eq!(b[0].name, "inherited");
    assert!(b[0].accept_proxy);
    assert_eq!(b[1].name, "fd@7");
    for bad in ["fd@", "fd@x", "fd@2", "fd@-1"] {
        let e = errors(&format!("frontend f\n    bind {bad}\n"));
        assert_has(
            &e,
            "t.cfg:2",
            "expects an inherited file descriptor number above 2",
        );
    }
}

#[test]
fn proxy_ids_follow_declaration_order_across_files() {
    let a = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f1\n    bind :80\n    default_backend b2\nbackend b1\n    server s 10.0.0.1:80\n";
    let b =
        "listen l\n    bind :81\n    server s 10.0.0.2:80\nbackend b2\n    server s 10.0.0.3:80\n";
    let cfg = super::parse_files(&[("a.cfg", a), ("b.cfg", b)])
        .unwrap_or_else(|e| panic!("{}", super::show(&e)))
        .config;
    let fe: Vec<(&str, u32)> = cfg
        .frontends
        .iter()
        .map(|f| (f.name.as_str(), f.iid))
        .collect();
    let be: Vec<(&str, u32)> = cfg
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.iid))
        .collect();
    assert_eq!(fe, [("f1", 1), ("l", 3)]);
    assert_eq!(
        be,
        [("b1", 2), ("l", 3), ("b2", 4)],
        "a listen is one proxy"
    );
}
