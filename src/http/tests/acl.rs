//! Fetches, match methods, flags and conditions.

use super::{anon, cond, h, sa, view, words};
use crate::http::{Cx, Header, IpNet, NO_EDITS, RequestView, ResponseView, Side};

const HEADERS: &[Header<'static>] = &[
    Header {
        name: "Host",
        value: b"www.Example.com",
    },
    Header {
        name: "X-Forwarded-For",
        value: b"1.1.1.1, 2.2.2.2",
    },
    Header {
        name: "Accept",
        value: b"text/html",
    },
    Header {
        name: "X-Num",
        value: b"42",
    },
    Header {
        name: "cookie",
        value: b"a=1",
    },
    Header {
        name: "Cookie",
        value: b"b=2",
    },
    Header {
        name: "X-Ip",
        value: b"10.1.2.3",
    },
    Header {
        name: "User-Agent",
        value: b"Mozilla/5.0 (X11)",
    },
    Header {
        name: "X-Dash",
        value: b"-x",
    },
    Header {
        name: "Content-Length",
        value: b"5",
    },
];

fn sample() -> RequestView<'static> {
    view("GET", "/api/v1/Users?id=5&x=1", HEADERS)
}

fn eval(line: &str, req: &RequestView<'_>) -> bool {
    let acl = anon(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let cx = Cx {
        side: Side::Request,
        req,
        req_edits: &NO_EDITS,
        res: None,
        stk: None,
    };
    acl.matches(&cx)
}

fn check(req: &RequestView<'_>, cases: &[(&str, bool)]) {
    for (line, want) in cases {
        assert_eq!(eval(line, req), *want, "{line}");
    }
}

#[test]
fn path_url_base_query() {
    check(
        &sample(),
        &[
            ("path /api/v1/Users", true),
            ("path /api/v1/users", false),
            ("path -i /api/v1/users", true),
            ("path /api/v1/Users?id=5&x=1", false),
            ("path_beg /api", true),
            ("path_beg /API", false),
            ("path_beg -i /API", true),
            ("path_beg /static /api", true),
            ("path_end Users", true),
            ("path_end users", false),
            ("path_end -i users", true),
            ("path_sub v1", true),
            ("path_sub V1", false),
            ("path_sub -i V1", true),
            ("path_reg ^/api/v[0-9]+/", true),
            ("path_reg ^/API", false),
            ("path_reg -i ^/API", true),
            ("path_dir v1", true),
            ("path_dir api/v1", true),
            ("path_dir pi", false),
            ("path_dir -i users", true),
            ("path_dom v1", true),
            ("path_len 13", true),
            ("path_len 10:20", true),
            ("path_len gt 20", false),
            ("url /api/v1/Users?id=5&x=1", true),
            ("url_beg /api/v1/Users?id", true),
            ("url_end x=1", true),
            ("url_sub ?id=", true),
            ("query id=5&x=1", true),
            ("base www.Example.com/api/v1/Users", true),
            ("base_beg -i www.example.com/api", true),
            ("base_end /Users", true),
            ("base_sub ?id", false),
        ],
    );
}

#[test]
fn absolute_form_and_missing_parts() {
    let req = view("GET", "http://h.example/a/b?q", &[]);
    check(
        &req,
        &[
            ("path /a/b", true),
            ("url http://h.example/a/b?q", true),
            ("query q", true),
            ("base /a/b", true),
            ("hdr(host) -m found", false),
        ],
    );
    let star = view("OPTIONS", "*", &[]);
    check(
        &star,
        &[
            ("path -m found", false),
            ("url *", true),
            ("query -m found", false),
        ],
    );
}

#[test]
fn headers_with_and_without_case_folding() {
    check(
        &sample(),
        &[
            ("hdr(host) www.Example.com", true),
            ("hdr(host) www.example.com", false),
            ("hdr(host) -i www.example.com", true),
            ("hdr(Host) -i WWW.EXAMPLE.COM", true),
            ("req.hdr(HOST) www.Example.com", true),
            ("hdr_beg(host) www.", true),
            ("hdr_beg(host) WWW.", false),
            ("hdr_beg(host) -i WWW.", true),
            ("hdr_end(host) .com", true),
            ("hdr_sub(host) Example", true),
            ("hdr_sub(host) example", false),
            ("hdr_sub(host) -i example", true),
            ("hdr_reg(user-agent) ^Mozilla/[0-9]", true),
            ("hdr_reg(user-agent) ^mozilla", false),
            ("hdr_reg(user-agent) -i ^mozilla", true),
            ("hdr_len(host) 15", true),
            ("hdr(accept) -m found", true),
            ("hdr(x-nope) -m found", false),
            ("hdr(x-nope) -m len 0", false),
            ("hdr() -m sub Mozilla", true),
            ("hdr(x-dash) -- -x", true),
        ],
    );
}

#[test]
fn hdr_dom_is_dot_delimited() {
    check(
        &sample(),
        &[
            ("hdr_dom(host) -i example.com", true),
            ("hdr_dom(host) -i example", true),
            ("hdr_dom(host) -i www", true),
            ("hdr_dom(host) -i www.example.com", true),
            ("hdr_dom(host) -i xample.com", false),
            ("hdr_dom(host) -i ww", false),
            ("hdr_dom(host) -i com.", true),
            ("hdr_dom(host) -i .example.com.", true),
            ("hdr_dom(host) Example.com", true),
            ("hdr_dom(host) example.com", false),
            ("hdr_dom(host) -i example.co", false),
        ],
    );
    let port = [h("Host", "api.example.com:8443")];
    check(
        &view("GET", "/", &port),
        &[
            ("hdr_dom(host) example.com", true),
            ("hdr_dom(host) 8443", true),
            ("hdr_dom(host) api", true),
            ("hdr_dom(host) pi.example", false),
        ],
    );
}

#[test]
fn list_headers_occurrences_and_counts() {
    check(
        &sample(),
        &[
            ("hdr(x-forwarded-for) 2.2.2.2", true),
            ("hdr(x-forwarded-for) 1.1.1.1", true),
            ("hdr(x-forwarded-for,1) 1.1.1.1", true),
            ("hdr(x-forwarded-for,1) 2.2.2.2", false),
            ("hdr(x-forwarded-for,-1) 2.2.2.2", true),
            ("hdr(x-forwarded-for,-2) 1.1.1.1", true),
            ("hdr(x-forwarded-for,-3) -m found", false),
            ("fhdr(x-forwarded-for) 2.2.2.2", false),
            ("fhdr(x-forwarded-for) -m end 2.2.2.2", true),
            ("hdr(cookie) b=2", true),
            ("hdr_cnt(cookie) 2", true),
            ("hdr_cnt(COOKIE) 2", true),
            ("hdr_cnt(x-forwarded-for) 2", true),
            ("req.hdr_cnt(x-forwarded-for) eq 2", true),
            ("req.fhdr_cnt(x-forwarded-for) 1", true),
            ("hdr_cnt(nope) 0", true),
            ("hdr_cnt(cookie) gt 2", false),
            ("hdr_cnt(cookie) ge 2", true),
            ("hdr_cnt(cookie) lt 3", true),
            ("hdr_cnt(cookie) le 1", false),
            ("hdr_cnt() gt 9", true),
            ("hdr_val(x-num) 42", true),
            ("hdr_val(x-num) 40:50", true),
            ("hdr_val(x-num) gt 42", false),
            ("hdr_ip(x-ip) 10.0.0.0/8", true),
            ("hdr_ip(x-forwarded-for) 2.2.2.0/24", true),
            ("hdr_ip(x-forwarded-for,1) 2.2.2.0/24", false),
        ],
    );
    // A quoted comma does not split a value.
    let quoted = [h("X-List", "\"a,b\", c")];
    check(
        &view("GET", "/", &quoted),
        &[
            ("hdr(x-list) \"a,b\"", true),
            ("hdr(x-list) c", true),
            ("hdr_cnt(x-list) 2", true),
        ],
    );
}

#[test]
fn match_method_overrides() {
    check(
        &sample(),
        &[
            ("hdr(host) -m beg www.", true),
            ("hdr(host) -m end -i EXAMPLE.COM", true),
            ("hdr(host) -m sub Exam", true),
            ("hdr(host) -m reg ^www\\.", true),
            ("hdr(host) -m dom -i example.com", true),
            ("hdr(host) -m dir www.Example.com", true),
            ("hdr(host) -m len 15", true),
            ("path -m beg /api", true),
            ("path_beg -m str /api", false),
            ("path_beg -m str /api/v1/Users", true),
            ("path -m dir v1", true),
            ("path -m found", true),
            ("hdr(x-num) -m int gt 40", true),
            ("hdr(x-num) -m str 42", true),
            ("hdr(x-ip) -m ip 10.1.2.3", true),
            ("dst_port -m str 8080", true),
            ("dst_port -m beg 80", true),
            ("src -m beg 192.168.", true),
            ("src -m found", true),
            ("method -m beg G", true),
        ],
    );
}

#[test]
fn methods_versions_and_addresses() {
    check(
        &sample(),
        &[
            ("method GET", true),
            ("method POST", false),
            ("method get", false),
            ("method -i get", true),
            ("method POST GET", true),
            ("req.ver 1.1", true),
            ("req.ver 1.0", false),
            ("req.proto_http", true),
            ("always_true", true),
            ("always_false", false),
            ("src 192.168.1.0/24", true),
            ("src 192.168.2.0/24", false),
            ("src 192.168.1.20", true),
            ("src 192.168.1.21", false),
            ("src 192.168.0.0/255.255.0.0", true),
            ("src 10.0.0.0/8 192.168.0.0/16", true),
            ("src ::ffff:192.168.1.0/120", true),
            ("src 2001:db8::/32", false),
            ("src_port 40000", true),
            ("dst 10.0.0.1", true),
            ("dst 10.0.0.0/31", true),
            ("dst_port 8080", true),
            ("dst_port 80 443", false),
            ("dst_port 8000:8100", true),
            ("dst_port 1024:", true),
            ("dst_port :1023", false),
            ("dst_port 1024:2048", false),
            ("dst_port lt 1024", false),
            ("dst_port le 8080", true),
            ("dst_port ge 8080", true),
            ("dst_port gt 8080", false),
            ("dst_port eq 8080", true),
            ("dst_port 1 eq 8080", true),
            ("status 200", false),
            ("res.hdr(server) -m found", false),
        ],
    );
}

#[test]
fn ipv6_sources_and_mapping() {
    let mapped = RequestView {
        src: sa("[::ffff:192.168.1.20]:1"),
        ..view("GET", "/", &[])
    };
    check(
        &mapped,
        &[
            ("src 192.168.1.0/24", true),
            ("src ::ffff:192.168.1.20", true),
            ("src 10.0.0.0/8", false),
        ],
    );
    let v6 = RequestView {
        src: sa("[2001:db8::1]:1"),
        ..view("GET", "/", &[])
    };
    check(
        &v6,
        &[
            ("src 2001:db8::/32", true),
            ("src 2001:db8::1", true),
            ("src 2001:db9::/32", false),
            ("src 192.168.0.0/16", false),
            ("src ::/0", true),
            ("src 0.0.0.0/0", false),
        ],
    );
    // 6to4 addresses carry an IPv4 address, as HAProxy reads them.
    let six_to_four = RequestView {
        src: sa("[2002:c0a8:0114::1]:1"),
        ..view("GET", "/", &[])
    };
    check(&six_to_four, &[("src 192.168.1.20", true)]);
    let net = IpNet::parse("10.1.2.3/8").expect("valid");
    assert_eq!(net.addr.to_string(), "10.0.0.0", "host bits are masked");
}

#[test]
fn regexes_are_byte_oriented() {
    let accents = [h("X-Name", "café")];
    check(
        &view("GET", "/a1", &accents),
        &[
            ("hdr_reg(x-name) é$", true),
            ("hdr_reg(x-name) ^caf.{2}$", true),
            ("hdr_reg(x-name) -i ^CAFÉ$", false),
            ("path_reg ^/a\\d$", true),
            ("path_reg (?i)^/A", true),
        ],
    );
}

#[test]
fn converters() {
    check(
        &sample(),
        &[
            ("req.hdr(host),lower www.example.com", true),
            ("req.hdr(host),lower www.Example.com", false),
            ("hdr(host),upper -m beg WWW.EX", true),
            ("path,lower,upper /API/V1/USERS", true),
            ("dst_port,lower 8080", true),
        ],
    );
}

#[test]
fn pattern_files() {
    let admin = view("GET", "/admin/x", &[]);
    let health = view("GET", "/health", &[]);
    check(
        &admin,
        &[
            ("path_beg -f /p/paths.lst", false),
            ("path_beg -i -f /p/paths.lst", true),
        ],
    );
    check(
        &health,
        &[
            ("path -f /p/paths.lst", true),
            ("path -f /p/paths.lst /other", true),
        ],
    );
}

#[test]
fn response_fetches() {
    let req = view("GET", "/x", &[]);
    let headers = [h("Server", "nginx/1.25"), h("Set-Cookie", "a=1")];
    let res = ResponseView {
        status: 503,
        headers: &headers,
    };
    let cx = Cx {
        side: Side::Response,
        req: &req,
        req_edits: &NO_EDITS,
        res: Some((&res, &NO_EDITS)),
        stk: None,
    };
    let cases: &[(&str, bool)] = &[
        ("status 503", true),
        ("status 500:599", true),
        ("status lt 500", false),
        ("res.hdr(server) -m beg nginx", true),
        ("shdr(server) -m sub /1.", true),
        ("res.hdr_cnt(set-cookie) 1", true),
        ("method GET", true),
        ("src 192.168.1.20", true),
        // Request headers and the URI are not available to responses.
        ("path /x", false),
        ("hdr(server) -m found", false),
    ];
    for (line, want) in cases {
        let acl = anon(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(acl.matches(&cx), *want, "{line}");
    }
}

#[test]
fn acl_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "nosuch /a",
            "unknown fetch method 'nosuch' in ACL expression 'nosuch'",
        ),
        (
            "path_beg -x /a",
            "'-x' is not a valid ACL option. Please use '--'",
        ),
        ("path -m foo /a", "unknown matching method 'foo'"),
        ("path -m bin 00", "'bin' is not supported yet"),
        ("path -m", "'-m' expects a match method name"),
        (
            "dst_port abc",
            "'abc' is neither a number nor a supported operator",
        ),
        ("dst_port 10:5", "low > high"),
        ("dst_port :", "not a valid integer range"),
        ("dst_port lt", "missing value after operator 'lt'"),
        (
            "src 300.1.1.1",
            "'300.1.1.1' is not a valid IPv4 or IPv6 address",
        ),
        ("src 10.0.0.0/33", "invalid netmask '33'"),
        ("src 10.0.0.0/255.0.255.0", "non-contiguous netmask"),
        ("src ::1/200", "invalid netmask '200'"),
        ("src www.example.com", "is not a valid IPv4 or IPv6 address"),
        ("path_reg (", "regex '(' is invalid"),
        ("path -f /nope", "failed to open pattern file </nope>"),
        ("path -f", "'-f' expects a file name"),
        ("hdr(host,x) a", "invalid occurrence 'x'"),
        ("hdr(host,1,2) a", "unexpected argument '2'"),
        ("hdr(a/b) a", "invalid header name 'a/b'"),
        ("hdr_cnt(a,1) 1", "too many arguments"),
        (
            "src(x) 1.1.1.1",
            "fetch method 'src' : no argument supported, but got 'x'",
        ),
        ("path,nosuch /a", "unknown converter 'nosuch'"),
        ("path,lower(x) /a", "converter 'lower' takes no argument"),
        ("hdr(host /a", "missing closing ')'"),
        ("always_true x", "takes no pattern, got 'x'"),
        ("path_foo /a", "unknown fetch method 'path_foo'"),
        ("method_beg G", "unknown fetch method 'method_beg'"),
        ("", "missing ACL expression"),
    ];
    for (line, want) in cases {
        let err = anon(line).expect_err(line);
        assert!(err.contains(want), "{line:?}: {err:?} lacks {want:?}");
    }
}

#[test]
fn conditions() {
    let acls = [
        "api path_beg /api",
        "api path_beg /v2",
        "get method GET",
        "local src 127.0.0.1",
        "json hdr(accept) -m sub json",
    ];
    let json = [h("Accept", "application/json")];
    let r1 = view("GET", "/api/x", &[]);
    let r2 = view("POST", "/v2/y", &json);
    let r3 = view("GET", "/other", &[]);
    let local = RequestView {
        src: sa("127.0.0.1:9"),
        ..view("HEAD", "/other", &[])
    };
    let local6 = RequestView {
        src: sa("[::1]:9"),
        ..view("PUT", "/x", &[])
    };
    let reqs = [&r1, &r2, &r3, &local, &local6];
    // Expected outcome on r1, r2, r3, local, local6.
    let cases: &[(&str, [bool; 5])] = &[
        ("if api", [true, true, false, false, false]),
        ("if api get", [true, false, false, false, false]),
        ("if get api", [true, false, false, false, false]),
        ("if !api", [false, false, true, true, true]),
        ("if ! api", [false, false, true, true, true]),
        ("if !!api", [true, true, false, false, false]),
        ("if api || local", [true, true, false, true, false]),
        ("if api or local", [true, true, false, true, false]),
        ("if api OR local", [true, true, false, true, false]),
        ("if get !api || json", [false, true, true, false, false]),
        ("unless api", [false, false, true, true, true]),
        ("unless api || local", [false, false, true, false, true]),
        ("if { path_beg /other }", [false, false, true, true, false]),
        (
            "if !{ path_beg /other } get",
            [true, false, false, false, false],
        ),
        (
            "if { method POST } { hdr(accept) -m sub json }",
            [false, true, false, false, false],
        ),
        ("if TRUE", [true; 5]),
        ("if FALSE", [false; 5]),
        ("if !FALSE", [true; 5]),
        ("if METH_GET", [true, false, true, true, false]),
        ("if METH_POST", [false, true, false, false, false]),
        ("if METH_PUT", [false, false, false, false, true]),
        ("if LOCALHOST", [false, false, false, true, true]),
        ("if HTTP_1.1 HTTP", [true; 5]),
        ("if HTTP_1.0", [false; 5]),
        ("if HTTP_URL_SLASH", [true; 5]),
        ("if HTTP_URL_ABS", [false; 5]),
        ("if api ||", [true, true, false, false, false]),
    ];
    for (text, want) in cases {
        let c = cond(&acls, text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let got: Vec<bool> = reqs.iter().map(|r| c.eval(r, None)).collect();
        assert_eq!(got, want.to_vec(), "{text}");
    }
    let body = [h("Content-Length", "12")];
    let c = cond(&[], "if HTTP_CONTENT").expect("builtin");
    assert!(c.eval(&view("POST", "/", &body), None));
    assert!(!c.eval(&view("POST", "/", &[]), None));
    // A user ACL named like a predefined one takes precedence.
    let c = cond(&["TRUE always_false"], "if TRUE").expect("user acl");
    assert!(!c.eval(&r1, None));
}

#[test]
fn condition_errors() {
    let cases: &[(&str, &str)] = &[
        ("if nosuch", "no such ACL : 'nosuch'"),
        ("if { path_beg /x", "missing closing '}' in condition"),
        ("if", "missing condition after 'if'"),
        ("unless ||", "missing condition after 'unless'"),
        (
            "when x",
            "conditions must start with either 'if' or 'unless'",
        ),
        (
            "if WAIT_END",
            "predefined ACL 'WAIT_END' is not supported yet",
        ),
        ("if }", "unexpected '}' in condition"),
        ("if { nosuch x }", "unknown fetch method 'nosuch'"),
        ("if { }", "missing ACL expression"),
    ];
    for (text, want) in cases {
        let err = cond(&[], text).expect_err(text);
        assert!(err.contains(want), "{text:?}: {err:?} lacks {want:?}");
    }
    let acl_line_errors: &[(&str, &str)] = &[
        (
            "a/b path /",
            "character '/' is not permitted in acl name 'a/b'",
        ),
        ("or path /", "acl name 'or' will never match"),
        (
            "x nosuch",
            "error detected while parsing ACL 'x' : unknown fetch method 'nosuch'",
        ),
    ];
    for (line, want) in acl_line_errors {
        let err = cond(&[line], "if TRUE").expect_err(line);
        assert!(err.contains(want), "{line:?}: {err:?} lacks {want:?}");
    }
}

#[test]
fn conflicting_fetches_warn() {
    let mut p = super::pcx(&[]);
    let c = crate::http::acl::parse_condition(
        &words("if { status 200 }"),
        Side::Request,
        "http-request rules",
        &mut p,
    );
    assert!(c.is_ok());
    assert_eq!(
        p.warnings,
        vec![
            "anonymous acl will never match because it uses keyword 'status' which is \
             incompatible with 'http-request rules'"
                .to_string()
        ]
    );
}
