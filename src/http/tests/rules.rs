//! Rules, formats, backend selection and forwardfor on sample requests.

use super::{apply_req, config, config_errors, h, sa, view};
use crate::config::{Config, HttpConnMode, effective_conn_mode};
use crate::http::{
    Header, HeaderEdits, RequestView, ResponseView, ReturnBody, Verdict, apply_forwardfor,
    apply_response_rules, backend_rules_apply, error_page, select_backend,
};

/// A HTTP frontend `fe` with `lines` (indented proxy lines), default
/// backend `be`, and `extra` sections after it.
fn with_frontend(lines: &str, extra: &str) -> Config {
    config(&format!(
        "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n\
         frontend fe\n    bind :80\n{lines}    default_backend be\n\
         backend be\n    server s 10.0.0.1:80\n{extra}"
    ))
}

/// What the rules decided, owned.
#[derive(Debug, PartialEq)]
enum Outcome {
    Continue,
    Deny(u16),
    Return(u16),
    Redirect(u16, String),
}

fn outcome(v: &Verdict<'_>) -> Outcome {
    match v {
        Verdict::Continue => Outcome::Continue,
        Verdict::Deny { status } => Outcome::Deny(*status),
        Verdict::Return(spec) => Outcome::Return(spec.status),
        Verdict::Redirect { status, location } => Outcome::Redirect(*status, location.clone()),
        Verdict::UseService(s) => panic!("unexpected service {s}"),
    }
}

/// Runs the frontend's request rules on a request; returns the outcome,
/// the headers to forward (`name: value` lines) and the target.
fn run(lines: &str, req: &RequestView<'_>) -> (Outcome, String, String) {
    let cfg = with_frontend(lines, "");
    let mut edits = HeaderEdits::new();
    let v = apply_req(&cfg.frontends[0].http_request, req, &mut edits);
    let mut out = Vec::new();
    edits.write_headers(req.headers, &mut out);
    (
        outcome(&v),
        String::from_utf8_lossy(&out).into_owned(),
        edits.target(req).to_string(),
    )
}

fn headers_after(lines: &str, req: &RequestView<'_>) -> String {
    let (o, hdrs, _) = run(lines, req);
    assert_eq!(o, Outcome::Continue, "{lines}");
    hdrs
}

const BASE: &[Header<'static>] = &[
    Header {
        name: "Host",
        value: b"WWW.Example.com",
    },
    Header {
        name: "User-Agent",
        value: b"curl/8",
    },
    Header {
        name: "Cookie",
        value: b"a=1",
    },
    Header {
        name: "Accept",
        value: b"*/*",
    },
    Header {
        name: "cookie",
        value: b"b=2",
    },
];

fn base_req() -> RequestView<'static> {
    view("GET", "/shop/cart?item=3", BASE)
}

#[test]
fn set_add_del_header_with_formats() {
    let lines = "    http-request set-header X-Client %[src]:%[src_port]\n\
                 \x20   http-request add-header X-Path %[path]\n\
                 \x20   http-request set-header Host %[req.hdr(host),lower]\n\
                 \x20   http-request add-header X-Mix pre-%ci-%cp-%fi-%fp-%%-%[method]-%[url]\n\
                 \x20   http-request add-header X-Base %[base]|%[dst]|%[dst_port]|%[query]|%[req.ver]\n\
                 \x20   http-request set-header X-Up %[hdr(user-agent),upper]\n\
                 \x20   http-request add-header X-Missing <%[req.hdr(x-none)]>\n\
                 \x20   http-request add-header X-Alias %HM|%HP|%HU|%HQ|%HV\n\
                 \x20   http-request del-header Cookie\n";
    let got = headers_after(lines, &base_req());
    let want = "\
User-Agent: curl/8\r\n\
Accept: */*\r\n\
X-Client: 192.168.1.20:40000\r\n\
X-Path: /shop/cart\r\n\
Host: www.example.com\r\n\
X-Mix: pre-192.168.1.20-40000-10.0.0.1-8080-%-GET-/shop/cart?item=3\r\n\
X-Base: www.example.com/shop/cart|10.0.0.1|8080|item=3|1.1\r\n\
X-Up: CURL/8\r\n\
X-Missing: <>\r\n\
X-Alias: GET|/shop/cart|/shop/cart?item=3|?item=3|HTTP/1.1\r\n";
    assert_eq!(got, want);
}

#[test]
fn set_header_replaces_every_occurrence_and_add_appends() {
    let got = headers_after(
        "    http-request set-header cookie c=3\n    http-request add-header Accept text/html\n",
        &base_req(),
    );
    assert_eq!(
        got,
        "Host: WWW.Example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\ncookie: c=3\r\nAccept: text/html\r\n"
    );
    // A later set-header also replaces headers added by earlier rules.
    let got = headers_after(
        "    http-request add-header X-A 1\n    http-request add-header x-a 2\n    http-request set-header X-a 3\n",
        &view("GET", "/", &[]),
    );
    assert_eq!(got, "X-a: 3\r\n");
}

#[test]
fn del_header_match_methods() {
    let hdrs = [
        h("X-Debug-A", "1"),
        h("X-Debug-B", "2"),
        h("X-Trace", "3"),
        h("Trace-Id", "4"),
        h("Keep", "5"),
    ];
    let req = view("GET", "/", &hdrs);
    let cases: &[(&str, &str)] = &[
        ("x-debug-a", "X-Debug-B X-Trace Trace-Id Keep"),
        ("x-debug -m beg", "X-Trace Trace-Id Keep"),
        ("TRACE -m sub", "X-Debug-A X-Debug-B Keep"),
        ("-id -m end", "X-Debug-A X-Debug-B X-Trace Keep"),
        ("^x-(debug|trace) -m reg", "Trace-Id Keep"),
        (
            "x-debug -m str",
            "X-Debug-A X-Debug-B X-Trace Trace-Id Keep",
        ),
    ];
    for (args, want) in cases {
        let got = headers_after(&format!("    http-request del-header {args}\n"), &req);
        let names: Vec<&str> = got
            .lines()
            .filter_map(|l| l.split(':').next())
            .filter(|n| !n.is_empty())
            .collect();
        assert_eq!(names.join(" "), *want, "{args}");
    }
}

#[test]
fn later_conditions_see_earlier_edits() {
    let lines = "    http-request set-header X-Tag blue\n\
                 \x20   http-request set-header X-Seen yes if { hdr(x-tag) blue }\n\
                 \x20   http-request del-header X-Tag\n\
                 \x20   http-request set-header X-Gone yes if !{ hdr(x-tag) -m found }\n\
                 \x20   http-request set-path /v2%[path]\n\
                 \x20   http-request set-header X-V2 yes if { path_beg /v2/ }\n\
                 \x20   http-request set-header X-Cnt %[req.hdr_cnt(cookie)]\n\
                 \x20   http-request del-header cookie if { hdr_cnt(cookie) 2 }\n\
                 \x20   http-request set-header X-Cnt2 %[req.hdr_cnt(cookie)]\n";
    let (o, got, target) = run(lines, &base_req());
    assert_eq!(o, Outcome::Continue);
    assert_eq!(
        got,
        "Host: WWW.Example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\nX-Seen: yes\r\n\
         X-Gone: yes\r\nX-V2: yes\r\nX-Cnt: 2\r\nX-Cnt2: 0\r\n"
    );
    assert_eq!(target, "/v2/shop/cart?item=3");
}

#[test]
fn replace_header_with_backrefs() {
    // HAProxy's documentation example.
    let hdrs = [h(
        "Cookie",
        "foo=foobar; expires=Tue, 14-Jun-2016 01:40:45 GMT;",
    )];
    let got = headers_after(
        "    http-request replace-header Cookie foo=([^;]*);(.*) foo=\\1;ip=%ci;\\2\n",
        &view("GET", "/", &hdrs),
    );
    assert_eq!(
        got,
        "Cookie: foo=foobar;ip=192.168.1.20; expires=Tue, 14-Jun-2016 01:40:45 GMT;\r\n"
    );
    // Every occurrence is tried; non-matching values stay; a missing group
    // is empty; `\x` escapes a byte; added headers are rewritten too; later
    // ACLs see the new value.
    let hdrs = [h("X-Id", "user-42"), h("x-id", "none"), h("X-Id", "user-7")];
    let lines = "    http-request add-header X-Id user-9\n\
                 \x20   http-request replace-header X-Id ^user-([0-9]+)(z)?$ id\\x3d\\1\\2\n\
                 \x20   http-request set-header X-Ok 1 if { hdr(x-id) id=42 }\n";
    let got = headers_after(lines, &view("GET", "/", &hdrs));
    assert_eq!(
        got,
        "X-Id: id=42\r\nx-id: none\r\nX-Id: id=7\r\nX-Id: id=9\r\nX-Ok: 1\r\n"
    );
    // A header added after the replace is not rewritten.
    let lines = "    http-request replace-header X-Id (.*) <\\1>\n\
                 \x20   http-request add-header X-Id late\n";
    let got = headers_after(lines, &view("GET", "/", &[h("X-Id", "a")]));
    assert_eq!(got, "X-Id: <a>\r\nX-Id: late\r\n");
}

#[test]
fn set_path_uri_query() {
    let cases: &[(&str, &str, &str)] = &[
        ("set-path /new", "/old/p?q=1", "/new?q=1"),
        ("set-path /new%[path]", "/old?q", "/new/old?q"),
        ("set-path /new", "/old", "/new"),
        (
            "set-path /x",
            "http://h.example/old?q",
            "http://h.example/x?q",
        ),
        (
            "set-pathq /x?y",
            "http://h.example/old?q",
            "http://h.example/x?y",
        ),
        ("set-query a=%[src_port]", "/old?q", "/old?a=40000"),
        ("set-query a", "/old", "/old?a"),
        ("set-uri /u?%[method]", "/old?q", "/u?GET"),
        ("set-uri http://other/p", "/old", "http://other/p"),
        ("set-path /a%[req.fhdr(x-sp)]", "/old", "/a%20b%09c"),
        ("set-path /a%[req.hdr(x-sp)]", "/old", "/ab%09c"),
    ];
    let sp = [h("X-Sp", " b\tc")];
    for (rule, target, want) in cases {
        let (o, _, got) = run(
            &format!("    http-request {rule}\n"),
            &view("GET", target, &sp),
        );
        assert_eq!(
            (o, got.as_str()),
            (Outcome::Continue, *want),
            "{rule} on {target}"
        );
    }
    // The fetches of later rules see the new target.
    let lines = "    http-request set-uri http://other/p?z=1\n\
                 \x20   http-request set-header X %[path]|%[query]|%[url]\n";
    let got = headers_after(lines, &view("GET", "/old", &[]));
    assert_eq!(got, "X: /p|z=1|http://other/p?z=1\r\n");
}

#[test]
fn final_actions_stop_the_rules() {
    let req = base_req();
    let cases: &[(&str, Outcome)] = &[
        ("http-request deny", Outcome::Deny(403)),
        ("http-request deny deny_status 429", Outcome::Deny(429)),
        (
            "http-request deny status 503 if { path_beg /shop }",
            Outcome::Deny(503),
        ),
        (
            "http-request deny unless { path_beg /shop }",
            Outcome::Continue,
        ),
        ("http-request return", Outcome::Return(200)),
        ("http-request return status 404", Outcome::Return(404)),
        ("http-request allow", Outcome::Continue),
    ];
    for (rule, want) in cases {
        let lines = format!("    {rule}\n    http-request set-header X-After 1\n");
        let (o, hdrs, _) = run(&lines, &req);
        assert_eq!(o, *want, "{rule}");
        let stopped = *want != Outcome::Continue || rule.ends_with("allow");
        assert_eq!(!hdrs.contains("X-After"), stopped, "{rule}");
    }
}

#[test]
fn redirects() {
    let req = base_req();
    let cases: &[(&str, u16, &str)] = &[
        ("location https://example.org/", 302, "https://example.org/"),
        (
            "location /login?from=%[path] code 303",
            303,
            "/login?from=/shop/cart",
        ),
        (
            "prefix https://new.example",
            302,
            "https://new.example/shop/cart?item=3",
        ),
        (
            "prefix https://new.example drop-query",
            302,
            "https://new.example/shop/cart",
        ),
        (
            "prefix https://new.example drop-query append-slash",
            302,
            "https://new.example/shop/cart/",
        ),
        ("prefix / code 301", 301, "/shop/cart?item=3"),
        (
            "prefix /%[req.hdr(host),lower] code 308",
            308,
            "/www.example.com/shop/cart?item=3",
        ),
        (
            "scheme https",
            302,
            "https://WWW.Example.com/shop/cart?item=3",
        ),
        (
            "scheme https code 301 drop-query",
            301,
            "https://WWW.Example.com/shop/cart",
        ),
        ("location /x code 307", 307, "/x"),
        ("location /x append-slash", 302, "/x/"),
    ];
    for (args, code, want) in cases {
        let (o, _, _) = run(&format!("    http-request redirect {args}\n"), &req);
        assert_eq!(o, Outcome::Redirect(*code, want.to_string()), "{args}");
    }
    // ignore-empty skips the rule when the location is empty.
    let lines = "    http-request redirect location %[req.hdr(x-to)] ignore-empty\n\
                 \x20   http-request set-header X-Next 1\n";
    let (o, hdrs, _) = run(lines, &req);
    assert_eq!(o, Outcome::Continue);
    assert!(hdrs.contains("X-Next: 1"));
    let to = [h("X-To", "/there")];
    let (o, _, _) = run(lines, &view("GET", "/", &to));
    assert_eq!(o, Outcome::Redirect(302, "/there".to_string()));
    // The path of an absolute-form target, and an empty one.
    let (o, _, _) = run(
        "    http-request redirect prefix https://b\n",
        &view("GET", "http://a/p?q", &[]),
    );
    assert_eq!(o, Outcome::Redirect(302, "https://b/p?q".to_string()));
    let (o, _, _) = run(
        "    http-request redirect scheme https\n",
        &view("GET", "http://a", &[h("Host", "a")]),
    );
    assert_eq!(o, Outcome::Redirect(302, "https://a/".to_string()));
}

#[test]
fn return_renders_a_response() {
    let req = base_req();
    let render = |lines: &str| -> (String, String) {
        let cfg = with_frontend(lines, "");
        let mut edits = HeaderEdits::new();
        let v = apply_req(&cfg.frontends[0].http_request, &req, &mut edits);
        let Verdict::Return(spec) = v else {
            panic!("{lines}: {v:?}")
        };
        let (mut head, mut body) = (Vec::new(), Vec::new());
        assert!(spec.render(&req, &edits, &mut head, &mut body));
        (
            String::from_utf8_lossy(&head).into_owned(),
            String::from_utf8_lossy(&body).into_owned(),
        )
    };
    assert_eq!(
        render("    http-request return\n"),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n".to_string(),
            String::new()
        )
    );
    assert_eq!(
        render(
            "    http-request return status 403 content-type text/plain string denied hdr X-Path %[path] hdr X-Lit a\n"
        ),
        (
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nX-Path: /shop/cart\r\nX-Lit: a\r\n"
                .to_string(),
            "denied".to_string()
        )
    );
    assert_eq!(
        render("    http-request return status 503 content-type text/html file /r/body.txt\n"),
        (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 21\r\n"
                .to_string(),
            "<h1>maintenance</h1>\n".to_string()
        )
    );
    assert_eq!(
        render("    http-request return content-type text/plain lf-string %[method]:%[path]\n"),
        (
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 14\r\n".to_string(),
            "GET:/shop/cart".to_string()
        )
    );
    assert_eq!(
        render("    http-request return content-type text/plain lf-file /r/page.lf\n").1,
        "you asked for /shop/cart"
    );
    assert_eq!(
        render("    http-request return status 204\n").0,
        "HTTP/1.1 204 No Content\r\n"
    );
    // errorfile bodies are sent as written (line ends normalised).
    assert_eq!(
        render("    http-request return errorfile /e/503.http\n"),
        (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n"
                .to_string(),
            "down".to_string()
        )
    );
    // default-errorfiles: the caller sends the error page.
    let cfg = with_frontend(
        "    http-request return status 503 default-errorfiles\n",
        "",
    );
    let mut edits = HeaderEdits::new();
    let Verdict::Return(spec) = apply_req(&cfg.frontends[0].http_request, &req, &mut edits) else {
        panic!("return expected")
    };
    assert_eq!(spec.body, ReturnBody::DefaultErrorfile);
    assert!(!spec.render(&req, &edits, &mut Vec::new(), &mut Vec::new()));
}

#[test]
fn use_backend_selection_order() {
    let cfg = config(
        "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n\
         frontend fe\n    bind :80\n\
         \x20   acl api path_beg /api\n\
         \x20   acl is_get method GET\n\
         \x20   http-request set-path /api%[path] if { path_beg /legacy }\n\
         \x20   use_backend a if api\n\
         \x20   use_backend b if api\n\
         \x20   use_backend c if is_get\n\
         \x20   use_backend d unless { src 192.168.0.0/16 }\n\
         \x20   default_backend e\n\
         backend a\nbackend b\nbackend c\nbackend d\nbackend e\n",
    );
    let fe = &cfg.frontends[0];
    let pick = |req: &RequestView<'_>| {
        let mut edits = HeaderEdits::new();
        let v = apply_req(&fe.http_request, req, &mut edits);
        assert_eq!(v, Verdict::Continue);
        let b = select_backend(fe, req, &edits, None).expect("a backend");
        cfg.backends[b].name.clone()
    };
    assert_eq!(pick(&view("POST", "/api/x", &[])), "a");
    assert_eq!(pick(&view("GET", "/other", &[])), "c");
    assert_eq!(pick(&view("POST", "/other", &[])), "e");
    let outside = RequestView {
        src: sa("10.9.9.9:1"),
        ..view("POST", "/other", &[])
    };
    assert_eq!(pick(&outside), "d");
    // The switching rules see the frontend's edits.
    assert_eq!(pick(&view("POST", "/legacy/x", &[])), "a");
    // Without edits, the original path decides.
    let legacy = view("POST", "/legacy/x", &[]);
    assert_eq!(
        select_backend(fe, &legacy, &HeaderEdits::new(), None)
            .map(|b| cfg.backends[b].name.as_str()),
        Some("e")
    );
    // TCP streams: only layer 4 fetches can match.
    let l4 = RequestView::l4(sa("10.9.9.9:1"), sa("10.0.0.1:80"));
    assert_eq!(select_backend(fe, &l4, &HeaderEdits::new(), None), Some(3));
}

#[test]
fn acl_lines_after_a_rule_extend_it() {
    // HAProxy rules point to the ACL: lines added later are OR-ed in.
    let cfg = config(
        "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n\
         frontend fe\n    bind :80\n\
         \x20   acl api path_beg /api\n\
         \x20   http-request set-header X-Api 1 if api\n\
         \x20   use_backend a if api\n\
         \x20   acl api path_beg /v2\n\
         \x20   default_backend b\n\
         backend a\nbackend b\n",
    );
    let fe = &cfg.frontends[0];
    let req = view("GET", "/v2/x", &[]);
    let mut edits = HeaderEdits::new();
    apply_req(&fe.http_request, &req, &mut edits);
    let mut out = Vec::new();
    edits.write_headers(req.headers, &mut out);
    assert_eq!(out, b"X-Api: 1\r\n");
    assert_eq!(select_backend(fe, &req, &edits, None), Some(0));
    // But an ACL must exist before its first use.
    let errs = config_errors(
        "frontend fe\n    bind :80\n    use_backend a if later\n    acl later path /\nbackend a\n",
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("t.cfg:3: ") && e.contains("no such ACL : 'later'")),
        "{errs:?}"
    );
}

#[test]
fn response_rules() {
    let cfg = with_frontend(
        "    http-response set-header X-Status %[status] if { status 200:299 }\n\
         \x20   http-response del-header Server if { res.hdr(server) -m beg nginx }\n\
         \x20   http-response add-header X-Was-Ok yes if { res.hdr(x-status) -m found }\n\
         \x20   http-response replace-header Set-Cookie (.*) \\1;\\x20Secure\n\
         \x20   http-response set-header X-Meth %[method]\n\
         \x20   http-response set-header X-Client %ci\n",
        "",
    );
    let req = view("GET", "/", &[]);
    let hdrs = [
        h("Server", "nginx/1.25"),
        h("Set-Cookie", "a=1"),
        h("Content-Type", "text/plain"),
    ];
    let res = ResponseView {
        status: 200,
        headers: &hdrs,
    };
    let mut edits = HeaderEdits::new();
    let v = apply_response_rules(
        &cfg.frontends[0].http_response,
        &req,
        &res,
        &mut edits,
        None,
    );
    assert_eq!(v, Verdict::Continue);
    let mut out = Vec::new();
    edits.write_headers(res.headers, &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "Set-Cookie: a=1; Secure\r\nContent-Type: text/plain\r\nX-Status: 200\r\n\
         X-Was-Ok: yes\r\nX-Meth: GET\r\nX-Client: 192.168.1.20\r\n"
    );
    let res = ResponseView {
        status: 503,
        headers: &hdrs,
    };
    let mut edits = HeaderEdits::new();
    apply_response_rules(
        &cfg.frontends[0].http_response,
        &req,
        &res,
        &mut edits,
        None,
    );
    let mut out = Vec::new();
    edits.write_headers(res.headers, &mut out);
    assert!(!String::from_utf8_lossy(&out).contains("X-Status"));
}

#[test]
fn values_never_split_lines() {
    // CR/LF from a replace template's \x escapes (written `\\x` so that
    // the configuration lexer keeps them) are dropped.
    let got = headers_after(
        "    http-request replace-header X (.*) \\1\\\\x0d\\\\x0aInjected:\\\\x20yes\n",
        &view("GET", "/", &[h("X", "v")]),
    );
    assert_eq!(got, "X: vInjected: yes\r\n");
}

#[test]
fn forwardfor() {
    let run_ff = |fe_lines: &str, be_lines: &str, req: &RequestView<'_>| -> String {
        let cfg = config(&format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n\
             frontend fe\n    bind :80\n{fe_lines}    default_backend be\n\
             backend be\n{be_lines}"
        ));
        let mut edits = HeaderEdits::new();
        apply_forwardfor(&cfg.frontends[0], &cfg.backends[0], req, &mut edits);
        let mut out = Vec::new();
        edits.write_headers(req.headers, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let plain = view("GET", "/", &[]);
    let with_xff = [h("X-Forwarded-For", "9.9.9.9")];
    let has = view("GET", "/", &with_xff);
    assert_eq!(run_ff("", "", &plain), "");
    assert_eq!(
        run_ff("    option forwardfor\n", "", &plain),
        "X-Forwarded-For: 192.168.1.20\r\n"
    );
    assert_eq!(
        run_ff("", "    option forwardfor header X-Real-IP\n", &plain),
        "X-Real-IP: 192.168.1.20\r\n"
    );
    assert_eq!(
        run_ff(
            "    option forwardfor header X-Fe\n",
            "    option forwardfor header X-Be\n",
            &plain
        ),
        "X-Be: 192.168.1.20\r\n",
        "the backend's header name wins"
    );
    assert_eq!(
        run_ff("    option forwardfor\n", "", &has),
        "X-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 192.168.1.20\r\n"
    );
    assert_eq!(
        run_ff("    option forwardfor if-none\n", "", &has),
        "X-Forwarded-For: 9.9.9.9\r\n"
    );
    assert_eq!(
        run_ff(
            "    option forwardfor if-none\n",
            "    option forwardfor\n",
            &has
        ),
        "X-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 192.168.1.20\r\n",
        "if-none only when every proxy says so"
    );
    assert_eq!(
        run_ff("    option forwardfor except 192.168.0.0/16\n", "", &plain),
        ""
    );
    assert_eq!(
        run_ff("    option forwardfor except 10.0.0.0/8\n", "", &plain),
        "X-Forwarded-For: 192.168.1.20\r\n"
    );
    let mapped = RequestView {
        src: sa("[::ffff:192.168.1.20]:1"),
        ..view("GET", "/", &[])
    };
    assert_eq!(
        run_ff("    option forwardfor\n", "", &mapped),
        "X-Forwarded-For: 192.168.1.20\r\n"
    );
    let v6 = RequestView {
        src: sa("[2001:db8::5]:1"),
        ..view("GET", "/", &[])
    };
    assert_eq!(
        run_ff("    option forwardfor except 2001:db8::/32\n", "", &v6),
        ""
    );
}

#[test]
fn listen_rules_run_once_and_conn_modes() {
    let cfg = config(
        "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n\
         \x20   option http-server-close\n\
         listen li\n    bind :80\n    server s 10.0.0.1:80\n    http-request set-header X 1\n\
         frontend fe\n    bind :81\n    option httpclose\n    use_backend li\n\
         backend ka\n    no option http-server-close\n\
         frontend fe2\n    bind :82\n    no option http-server-close\n    default_backend ka\n",
    );
    let li = &cfg.frontends[0];
    let fe = &cfg.frontends[1];
    assert_eq!(li.own_backend, Some(0));
    assert!(!backend_rules_apply(li, 0), "a listen's rules run once");
    assert!(backend_rules_apply(fe, 0));
    assert_eq!(cfg.backends[0].http_request.len(), 1);
    let (be_li, be_ka) = (&cfg.backends[0], &cfg.backends[1]);
    let fe2 = &cfg.frontends[2];
    assert_eq!(effective_conn_mode(li, be_li), HttpConnMode::ServerClose);
    assert_eq!(effective_conn_mode(fe, be_li), HttpConnMode::Close);
    assert_eq!(effective_conn_mode(fe2, be_ka), HttpConnMode::KeepAlive);
    assert_eq!(effective_conn_mode(fe2, be_li), HttpConnMode::ServerClose);
}

#[test]
fn error_pages_backend_first() {
    let cfg = config(
        "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n\
         \x20   errorfile 503 /e/503.http\n\
         frontend fe\n    bind :80\n    errorfile 403 /e/503.http\n    default_backend be\n\
         backend be\n    errorfile 403 /e/503.http\n\
         backend plain\n",
    );
    let (fe, be, plain) = (&cfg.frontends[0], &cfg.backends[0], &cfg.backends[1]);
    assert_eq!(fe.errorfiles.len(), 2, "inherited + own");
    assert!(error_page(fe, Some(be), 403).is_some_and(|e| std::ptr::eq(e, &be.errorfiles[1])));
    assert!(error_page(fe, Some(plain), 403).is_some_and(|e| std::ptr::eq(e, &fe.errorfiles[1])));
    assert!(error_page(fe, None, 503).is_some());
    assert!(error_page(fe, None, 404).is_none());
    let e = error_page(fe, None, 503).expect("inherited");
    assert_eq!((e.code, e.status), (503, 503));
    assert_eq!(e.body(), b"down");
    assert!(e.head().ends_with(b"content-length: 4\r\n\r\n"));
}
