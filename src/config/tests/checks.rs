//! Health-check configuration: server check settings as HAProxy 2.6 reads
//! them, `option httpchk` in its historical forms, `http-check send` and
//! `http-check expect`, `timeout check`; errors and warnings with
//! `file:line`, and inheritance from `defaults`.

use std::time::Duration;

use super::{TIMEOUTS, assert_has, assert_warns, errors, ms, ok, secs};
use crate::config::*;

fn backend_check(text: &str) -> Option<HttpCheck> {
    ok(text).config.backends[0].http_check.clone()
}

fn status(ranges: &[(u16, u16)]) -> HttpExpect {
    HttpExpect {
        inverse: false,
        matcher: ExpectMatch::Status(ranges.to_vec()),
    }
}

#[test]
fn server_check_settings_follow_haproxy_defaults() {
    let text = format!(
        "defaults\n{TIMEOUTS}    default-server inter 3s\n\
         backend be\n    timeout check 500ms\n\
         \x20   server a 10.0.0.1:80 check\n\
         \x20   server b 10.0.0.2:80 check fastinter 1s downinter 10s rise 1 fall 1 port 8081\n\
         \x20   server c 10.0.0.3:80 inter 1s\n"
    );
    let be = &ok(&text).config.backends[0];
    let a = be.servers[0].check.expect("a has check");
    assert_eq!(
        a,
        CheckSettings {
            inter: Duration::from_secs(3),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
        },
        "default-server inter applies; rise 2 / fall 3 are HAProxy's defaults"
    );
    let b = be.servers[1].check.expect("b has check");
    assert_eq!(
        (b.fastinter, b.downinter, b.rise, b.fall, b.port),
        (secs(1), secs(10), 1, 1, Some(8081))
    );
    assert_eq!(be.servers[2].check, None, "settings without 'check'");
    assert_eq!(be.timeouts.check, ms(500));
    assert_eq!(be.http_check, None, "no option httpchk: TCP checks");
}

#[test]
fn option_httpchk_forms() {
    let base = |line: &str| {
        format!("defaults\n{TIMEOUTS}backend be\n    {line}\n    server a 10.0.0.1:80 check\n")
    };
    let hc = backend_check(&base("option httpchk")).expect("httpchk");
    assert_eq!(
        (hc.method.as_str(), hc.uri.as_str(), hc.version.as_str()),
        ("OPTIONS", "/", "HTTP/1.0"),
        "HAProxy's default request"
    );
    assert_eq!(hc.expects, vec![status(&[(200, 399)])], "2xx/3xx pass");
    assert!(hc.headers.is_empty() && hc.body.is_empty());

    let hc = backend_check(&base("option httpchk /health")).expect("httpchk");
    assert_eq!(
        (hc.method.as_str(), hc.uri.as_str()),
        ("OPTIONS", "/health")
    );

    let hc = backend_check(&base("option httpchk GET /health")).expect("httpchk");
    assert_eq!((hc.method.as_str(), hc.uri.as_str()), ("GET", "/health"));

    let hc = backend_check(&base("option httpchk HEAD /h HTTP/1.1")).expect("httpchk");
    assert_eq!(
        (hc.method.as_str(), hc.uri.as_str(), hc.version.as_str()),
        ("HEAD", "/h", "HTTP/1.1")
    );
}

#[test]
fn option_httpchk_hidden_host_header_is_accepted_with_haproxys_warning() {
    let text = format!(
        "defaults\n{TIMEOUTS}backend be\n    option httpchk HEAD / HTTP/1.1\\r\\nHost:\\ www.example.com\\r\\nAccept:\\ */*\n    server a 10.0.0.1:80 check\n"
    );
    let loaded = ok(&text);
    assert_warns(
        &loaded,
        "t.cfg:6",
        "'option httpchk' : hiding headers or body at the end of the version string is deprecated",
    );
    let hc = loaded.config.backends[0]
        .http_check
        .clone()
        .expect("httpchk");
    assert_eq!(hc.version, "HTTP/1.1");
    assert_eq!(
        hc.headers,
        vec![
            ("Host".to_string(), "www.example.com".to_string()),
            ("Accept".to_string(), "*/*".to_string())
        ]
    );
    let text = format!(
        "defaults\n{TIMEOUTS}backend be\n    option httpchk POST /p HTTP/1.0\\r\\nHost:\\ h\\r\\n\\r\\nping\n    server a 10.0.0.1:80 check\n"
    );
    let hc = backend_check(&text).expect("httpchk");
    assert_eq!(hc.body, "ping");
    assert_eq!(hc.headers, vec![("Host".to_string(), "h".to_string())]);
}

#[test]
fn http_check_send_merges_with_option_httpchk() {
    let text = format!(
        "defaults\n{TIMEOUTS}backend be\n    option httpchk GET /old\n    \
         http-check send uri /health ver HTTP/1.1 hdr Host www hdr X-Pct 100%% comment c\n    \
         server a 10.0.0.1:80 check\n"
    );
    let hc = backend_check(&text).expect("httpchk");
    assert_eq!(
        (hc.method.as_str(), hc.uri.as_str(), hc.version.as_str()),
        ("GET", "/health", "HTTP/1.1")
    );
    assert_eq!(
        hc.headers,
        vec![
            ("Host".to_string(), "www".to_string()),
            ("X-Pct".to_string(), "100%".to_string())
        ]
    );
    // A send line before the option: the option's given parts win.
    let text = format!(
        "defaults\n{TIMEOUTS}backend be\n    http-check send meth HEAD body x\n    \
         option httpchk /later\n    server a 10.0.0.1:80 check\n"
    );
    let hc = backend_check(&text).expect("httpchk");
    assert_eq!(
        (hc.method.as_str(), hc.uri.as_str(), hc.body.as_str()),
        ("HEAD", "/later", "x")
    );
}

#[test]
fn http_check_expect_forms() {
    let text = format!(
        "defaults\n{TIMEOUTS}backend be\n    option httpchk\n    \
         http-check expect status 200,301-302\n    \
         http-check expect ! rstatus ^5\n    \
         http-check expect !string maintenance\n    \
         http-check expect comment body-ok rstring ^ok\n    \
         server a 10.0.0.1:80 check\n"
    );
    let hc = backend_check(&text).expect("httpchk");
    assert_eq!(hc.expects.len(), 4);
    assert_eq!(hc.expects[0], status(&[(200, 200), (301, 302)]));
    assert!(hc.expects[1].inverse);
    assert!(matches!(&hc.expects[1].matcher, ExpectMatch::Rstatus(re) if re.as_str() == "^5"));
    assert_eq!(
        hc.expects[2],
        HttpExpect {
            inverse: true,
            matcher: ExpectMatch::String("maintenance".into())
        }
    );
    assert!(!hc.expects[3].inverse);
    assert!(matches!(&hc.expects[3].matcher, ExpectMatch::Rstring(re) if re.as_str() == "^ok"));
    assert!(hc.expects[3].matcher.needs_body() && !hc.expects[0].matcher.needs_body());
}

#[test]
fn http_checks_inherit_from_defaults_until_overridden() {
    let text = format!(
        "defaults\n{TIMEOUTS}    option httpchk GET /d\n    http-check expect status 204\n    timeout check 2s\n\
         backend inherits\n    server a 10.0.0.1:80 check\n\
         backend own\n    http-check expect string up\n    http-check expect status 200\n    server a 10.0.0.1:80 check\n\
         backend tcp_only\n    server a 10.0.0.1:80 check\n"
    );
    let cfg = ok(&text).config;
    let inherits = cfg.backends[0].http_check.clone().expect("inherited");
    assert_eq!(
        (inherits.method.as_str(), inherits.uri.as_str()),
        ("GET", "/d")
    );
    assert_eq!(inherits.expects, vec![status(&[(204, 204)])]);
    assert_eq!(cfg.backends[0].timeouts.check, secs(2));
    let own = cfg.backends[1]
        .http_check
        .clone()
        .expect("inherited option");
    assert_eq!(own.uri, "/d");
    assert_eq!(
        own.expects,
        vec![
            HttpExpect {
                inverse: false,
                matcher: ExpectMatch::String("up".into())
            },
            status(&[(200, 200)])
        ],
        "the backend's own rules replace the inherited ones"
    );
    assert!(cfg.backends[2].http_check.is_some());
}

#[test]
fn http_check_rules_without_option_httpchk_warn() {
    let text = format!(
        "defaults\n{TIMEOUTS}backend be\n    http-check expect status 200\n    server a 10.0.0.1:80 check\n"
    );
    let loaded = ok(&text);
    assert_warns(
        &loaded,
        "t.cfg:6",
        "backend 'be' uses http-check rules without 'option httpchk', so the rules are ignored",
    );
    assert_eq!(loaded.config.backends[0].http_check, None);
}

#[test]
fn check_keyword_errors_name_the_line() {
    let cases: &[(&str, &str)] = &[
        (
            "option httpchk GET / HTTP/1.1 extra",
            "'option httpchk' cannot handle unexpected argument 'extra'",
        ),
        (
            "no option httpchk",
            "negation/default is not supported for option 'httpchk'",
        ),
        (
            "option httpchk GET / HTTP/2",
            "unsupported HTTP version 'HTTP/2'",
        ),
        ("option httpchk G(T /", "invalid HTTP method 'G(T'"),
        (
            "option httpchk HEAD / HTTP/1.1\\r\\nbroken",
            "unable to parse the request header 'broken'",
        ),
        ("http-check expect", "expects a matching pattern"),
        (
            "http-check expect status",
            "'http-check expect status' expects <pattern>",
        ),
        (
            "http-check expect status 2xx",
            "invalid status code or range '2xx'",
        ),
        (
            "http-check expect status 399-200",
            "invalid status code or range '399-200'",
        ),
        ("http-check expect rstatus (", "regex '(' is invalid"),
        (
            "http-check expect status 200 string ok",
            "only one pattern expected",
        ),
        ("http-check expect hdr name x", "'hdr' is not supported"),
        ("http-check expect match 200", "(got 'match')"),
        (
            "http-check disable-on-404",
            "'http-check disable-on-404' is not supported",
        ),
        (
            "http-check foo",
            "'http-check' only supports 'send', 'expect' and 'comment' (got 'foo')",
        ),
        (
            "http-check send meth",
            "'meth' expects a string as argument",
        ),
        (
            "http-check send hdr Host",
            "'hdr' expects <name> and <value>",
        ),
        (
            "http-check send hdr Host %[req.hdr(host)]",
            "log-format values are not supported",
        ),
        (
            "http-check send uri-lf /%[x]",
            "'uri-lf' (log-format) is not supported",
        ),
        ("http-check send verb GET", "(got 'verb')"),
        (
            "http-check send hdr Bad:Name x",
            "invalid header name 'Bad:Name'",
        ),
    ];
    for (line, msg) in cases {
        let text = format!("backend be\n    {line}\n    server a 10.0.0.1:80 check\n");
        assert_has(&errors(&text), "t.cfg:2", msg);
    }
    // Backend-only keywords in a frontend.
    let text = "frontend fe\n    bind :80\n    option httpchk\n    http-check expect status 200\n";
    let errs = errors(text);
    assert_has(
        &errs,
        "t.cfg:3",
        "'option httpchk' is not supported in a 'frontend' section",
    );
    assert_has(
        &errs,
        "t.cfg:4",
        "'http-check' is not supported in a 'frontend' section",
    );
}
