//! Hostile input never panics, and whatever is accepted honours the model's
//! contract. A tiny xorshift generator keeps this deterministic and free of
//! extra crates.

use super::parse_files;
use crate::config::Config;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Words that reach deep into the parser: keywords, values and the
/// characters the lexer treats specially.
const VOCAB: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "from",
    "fe",
    "be",
    "d",
    "mode",
    "tcp",
    "http",
    "bind",
    ":80",
    "*:81",
    ":::82",
    "[::1]:83",
    "1.2.3.4:84",
    ":85-90",
    ":1-65535",
    "ipv4@:86",
    "ipv6@",
    "unix@/x",
    "app.local:87",
    "nosuch:1",
    "accept-proxy",
    "name",
    "v6only",
    "maxconn",
    "0",
    "1",
    "4294967296",
    "99999999999999999999",
    "-1",
    "timeout",
    "client",
    "connect",
    "server",
    "tunnel",
    "check",
    "http-request",
    "http-response",
    "acl",
    "path_beg",
    "hdr(host)",
    "req.hdr(x,-1),lower",
    "/api",
    "-i",
    "-m",
    "-f",
    "/p/nets.lst",
    "dom",
    "{",
    "}",
    "!",
    "||",
    "unless",
    "TRUE",
    "set-header",
    "replace-header",
    "(a)(",
    "\\1",
    "%[src]",
    "%[",
    "%ci",
    "%",
    "deny",
    "return",
    "string",
    "content-type",
    "redirect",
    "location",
    "prefix",
    "errorfile",
    "503",
    "/e/503.http",
    "forwardfor",
    "except",
    "httplog",
    "http-server-close",
    "http-reuse",
    "safe",
    "pool-max-conn",
    "30s",
    "25d",
    "1us",
    "default_backend",
    "use_backend",
    "if",
    "balance",
    "roundrobin",
    "leastconn",
    "source",
    "random",
    "random(3)",
    "random(",
    "retries",
    "option",
    "no",
    "redispatch",
    "allbackups",
    "tcplog",
    "splice-auto",
    "log",
    "server",
    "s1",
    "10.0.0.1:80",
    "::1",
    "weight",
    "256",
    "send-proxy",
    "send-proxy-v2",
    "backup",
    "disabled",
    "inter",
    "fastinter",
    "option",
    "httpchk",
    "http-check",
    "send",
    "expect",
    "!",
    "status",
    "rstatus",
    "string",
    "hdr",
    "HTTP/1.1\\r\\nHost:\\ x",
    "rise",
    "fall",
    "port",
    "addr",
    "id",
    "default-server",
    "nbthread",
    "tune.bufsize",
    "tune.ring.buffers",
    "64",
    "pidfile",
    "daemon",
    "stats",
    "peers",
    "\"",
    "'",
    "\\",
    "\\x",
    "\\xZ",
    "\\x41",
    "${",
    "}",
    "${FE_PORT}",
    "${UNSET-x}",
    "${A B}",
    "#",
    "[",
    "]",
    ":",
    "-",
    ",",
    "@",
    ".if",
    "\t",
    "é",
    "\u{0}",
];

/// A line of random bytes (lossily made UTF-8) or of random vocabulary.
fn line(rng: &mut XorShift) -> String {
    if rng.below(4) == 0 {
        let len = rng.below(60);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let words = rng.below(8);
    let mut out = String::new();
    for _ in 0..words {
        out.push_str(rng.pick(VOCAB));
        if rng.below(4) != 0 {
            out.push(' ');
        }
    }
    out
}

/// The model contract from model.rs: every frontend has a bind and a
/// backend, every index is in range.
fn assert_contract(cfg: &Config, text: &str) {
    let n = cfg.backends.len();
    for fe in &cfg.frontends {
        assert!(
            !fe.binds.is_empty(),
            "frontend without bind accepted:\n{text}"
        );
        let target = fe.target_backend().unwrap_or(usize::MAX);
        assert!(
            target < n,
            "frontend without usable backend accepted:\n{text}"
        );
        assert!(fe.default_backend.is_none_or(|b| b < n));
        assert!(fe.use_backends.iter().all(|u| u.backend < n));
    }
    for be in &cfg.backends {
        assert!(
            be.servers
                .iter()
                .all(|s| s.weight <= 256 && s.addr.port() != 0)
        );
    }
}

#[test]
fn random_lines_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..3000 {
        let lines = 1 + rng.below(25);
        let text: Vec<String> = (0..lines).map(|_| line(&mut rng)).collect();
        let text = text.join(if rng.below(8) == 0 { "\r\n" } else { "\n" });
        let split = rng.below(text.len() + 1);
        let split = (0..=split)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let (a, b) = text.split_at(split);
        for files in [
            vec![("g.cfg", text.as_str())],
            vec![("a.cfg", a), ("b.cfg", b)],
        ] {
            match parse_files(&files) {
                Ok(loaded) => {
                    accepted += 1;
                    assert_contract(&loaded.config, &text);
                }
                Err(errors) => assert!(errors.iter().all(|e| !e.msg.is_empty())),
            }
        }
    }
    // Empty or comment-only inputs are valid; make sure some were seen so
    // the contract check actually ran.
    assert!(accepted > 0);
}

#[test]
fn structured_random_configs_never_panic() {
    // Valid skeletons with one random line spliced in: most rejections then
    // come from deep inside a section rather than from "out of section".
    let skeleton = [
        "global",
        "defaults",
        "    timeout client 1s",
        "frontend fe",
        "    bind :80",
        "    default_backend be",
        "backend be",
        "    server s 10.0.0.1:80",
        "listen li",
        "    bind :81",
        "    server s 10.0.0.1:80",
    ];
    let mut rng = XorShift(42);
    for _ in 0..3000 {
        let mut lines: Vec<String> = skeleton.iter().map(|s| s.to_string()).collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(lines.len() + 1);
            lines.insert(at, format!("    {}", line(&mut rng)));
        }
        let text = lines.join("\n");
        if let Ok(loaded) = parse_files(&[("s.cfg", &text)]) {
            assert_contract(&loaded.config, &text);
        }
    }
}

#[test]
fn pathological_inputs() {
    let long_word = "a".repeat(100_000);
    let many_quotes = "\"".repeat(10_001);
    let deep_vars = "${A-".repeat(1000);
    let inputs = [
        "\"",
        "'",
        "\\",
        "${",
        "\u{0}",
        "frontend \u{feff}fe",
        long_word.as_str(),
        many_quotes.as_str(),
        deep_vars.as_str(),
        "frontend fe\n    bind :1-65535\n    default_backend be\nbackend be",
        "backend be\n    server s 4294967296.1.1.1:80",
        "global\n    nbthread 18446744073709551616",
        "defaults\n    timeout client 18446744073709551615d",
    ];
    for text in inputs {
        let _ = parse_files(&[("p.cfg", text)]);
    }
}
