//! Unit tests of the pure parts: the rise/fall state machine and its
//! timing decisions, status texts, HTTP verdicts, log lines; and the
//! shards' side of a transition (backup takeover in `LocalBackend::pick`).

use std::time::Duration;

use super::http::{EMPTY_RESPONSE, assess, build_request};
use super::report::{Counts, down_message, no_server_message, up_message};
use super::state::{Transition, first_check_delays, status_text};
use super::*;
use crate::backend::{BackendShared, LocalBackend, Pick};
use crate::config::{self, ExpectMatch, HttpCheck, HttpExpect};
use crate::http::Re;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn settings(inter: u64, fast: Option<u64>, down: Option<u64>) -> CheckSettings {
    CheckSettings {
        inter: ms(inter),
        fastinter: fast.map(ms),
        downinter: down.map(ms),
        ..CheckSettings::default()
    }
}

fn text(h: Health) -> String {
    status_text(Admin::Ready, true, Some(h), h.is_up())
}

#[test]
fn a_checked_server_starts_up_and_falls_at_the_first_failure() {
    let mut h = Health::starting(2, 3);
    assert!(h.is_up());
    assert_eq!(text(h), "UP 1/3");
    let r = h.record(false);
    assert_eq!(r.transition, Some(Transition::WentDown));
    assert!(r.counted_failure);
    assert_eq!(text(h), "DOWN");
    // Already fully down: further failures are not counted (chkfail).
    let r = h.record(false);
    assert_eq!((r.transition, r.counted_failure), (None, false));
}

#[test]
fn fall_failures_from_fully_up_and_rise_successes_from_down() {
    let (rise, fall) = (3, 2);
    let mut h = Health::starting(rise, fall);
    assert_eq!(h.record(true).transition, None);
    assert!(h.is_fully_up());
    assert_eq!(text(h), "UP");
    let mut seen = Vec::new();
    for _ in 0..fall {
        seen.push(text(h));
        let r = h.record(false);
        if r.transition.is_some() {
            assert_eq!(r.transition, Some(Transition::WentDown));
            break;
        }
    }
    assert_eq!(
        seen,
        ["UP", "UP 1/2"],
        "down exactly at the {fall}th failure"
    );
    assert!(h.is_fully_down());
    let mut seen = Vec::new();
    for n in 1..=rise {
        let r = h.record(true);
        seen.push(text(h));
        assert_eq!(r.transition.is_some(), n == rise, "success #{n}");
    }
    assert_eq!(seen, ["DOWN 1/3", "DOWN 2/3", "UP"]);
    // A failure in the middle of rising starts over.
    let mut h = Health::down(3, 2);
    h.record(true);
    h.record(true);
    h.record(false);
    assert_eq!(text(h), "DOWN");
    // rise 1 / fall 1: every result decides.
    let mut h = Health::starting(1, 1);
    assert_eq!(text(h), "UP");
    assert_eq!(h.record(false).transition, Some(Transition::WentDown));
    assert_eq!(h.record(true).transition, Some(Transition::WentUp));
    // Huge values do not overflow.
    let mut h = Health::starting(u32::MAX, u32::MAX);
    assert_eq!(h.record(true).transition, None);
    assert!(h.is_fully_up());
}

#[test]
fn interval_follows_srv_getinter() {
    let s = settings(2000, Some(100), Some(5000));
    let mut h = Health::starting(2, 3);
    assert_eq!(h.interval(&s), ms(100), "transitioning: fastinter");
    h.record(true);
    assert_eq!(h.interval(&s), ms(2000), "fully up: inter");
    h.record(false);
    assert_eq!(h.interval(&s), ms(100), "going down: fastinter");
    h.record(false);
    h.record(false);
    assert!(h.is_fully_down());
    assert_eq!(h.interval(&s), ms(5000), "fully down: downinter");
    h.record(true);
    assert_eq!(h.interval(&s), ms(100), "going up: fastinter");
    // Without fastinter/downinter: inter everywhere.
    let s = settings(700, None, None);
    assert_eq!(Health::starting(2, 3).interval(&s), ms(700));
    assert_eq!(Health::down(2, 3).interval(&s), ms(700));
}

#[test]
fn status_texts_as_show_stat_prints_them() {
    let up = Health::starting(2, 3);
    let down = Health::down(2, 3);
    let mut rising = down;
    rising.record(true);
    assert_eq!(status_text(Admin::Maint, true, Some(up), true), "MAINT");
    assert_eq!(status_text(Admin::Ready, false, None, true), "no check");
    assert_eq!(status_text(Admin::Drain, false, None, true), "DRAIN");
    assert_eq!(status_text(Admin::Drain, true, Some(up), true), "DRAIN 1/3");
    assert_eq!(
        status_text(Admin::Ready, true, Some(rising), false),
        "DOWN 1/2"
    );
    // `disable health`: unchecked; a frozen down server stays DOWN.
    assert_eq!(status_text(Admin::Ready, false, Some(down), false), "DOWN");
    assert_eq!(status_text(Admin::Ready, false, Some(up), true), "no check");
}

#[test]
fn first_checks_are_spread_over_the_smallest_interval_of_a_second_or_more() {
    assert_eq!(
        first_check_delays(&[ms(100), ms(200), ms(300)]),
        vec![Duration::ZERO; 3],
        "all below 1s: all at once"
    );
    assert_eq!(
        first_check_delays(&[ms(2000); 4]),
        vec![ms(0), ms(500), ms(1000), ms(1500)]
    );
    assert_eq!(
        first_check_delays(&[ms(100), ms(3000), ms(1500)]),
        vec![ms(0), ms(500), ms(1000)]
    );
    assert!(first_check_delays(&[]).is_empty());
}

fn hc(expects: Vec<HttpExpect>) -> HttpCheck {
    HttpCheck {
        method: "GET".into(),
        uri: "/health".into(),
        version: "HTTP/1.1".into(),
        headers: vec![("Host".into(), "www".into())],
        body: String::new(),
        expects,
    }
}

fn expect(inverse: bool, matcher: ExpectMatch) -> HttpExpect {
    HttpExpect { inverse, matcher }
}

fn default_expect() -> Vec<HttpExpect> {
    vec![expect(false, ExpectMatch::Status(vec![(200, 399)]))]
}

fn verdict(buf: &str, eof: bool, c: &HttpCheck) -> Option<(CheckStatus, Option<u16>, String)> {
    assess(buf.as_bytes(), eof, false, c).map(|v| (v.status, v.code, v.desc))
}

#[test]
fn request_bytes() {
    let c = hc(default_expect());
    assert_eq!(
        String::from_utf8(build_request(&c)).unwrap(),
        "GET /health HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n"
    );
    let c = HttpCheck {
        method: "POST".into(),
        body: "ping".into(),
        headers: vec![],
        version: "HTTP/1.0".into(),
        ..c
    };
    assert_eq!(
        String::from_utf8(build_request(&c)).unwrap(),
        "POST /health HTTP/1.0\r\nConnection: close\r\nContent-Length: 4\r\n\r\nping"
    );
}

#[test]
fn status_expectations() {
    let c = hc(default_expect());
    assert_eq!(verdict("HTTP/1.1 200 OK\r\nContent-Le", false, &c), None);
    assert_eq!(
        verdict("HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n", false, &c),
        Some((CheckStatus::L7Ok, Some(301), String::new()))
    );
    assert_eq!(
        verdict(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
            false,
            &c
        ),
        Some((
            CheckStatus::L7Sts,
            Some(500),
            "Internal Server Error".to_string()
        ))
    );
    // Interim answers are skipped.
    assert_eq!(
        verdict(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            false,
            &c
        )
        .map(|v| v.0),
        Some(CheckStatus::L7Ok)
    );
    let c = hc(vec![expect(
        false,
        ExpectMatch::Status(vec![(200, 200), (302, 304)]),
    )]);
    let codes: Vec<bool> = [200, 204, 302, 304, 305]
        .iter()
        .map(|code| {
            let r = verdict(&format!("HTTP/1.1 {code} X\r\n\r\n"), true, &c).unwrap();
            r.0 == CheckStatus::L7Ok
        })
        .collect();
    assert_eq!(codes, [true, false, true, true, false]);
    let c = hc(vec![expect(
        true,
        ExpectMatch::Rstatus(Re::new("^5", false).unwrap()),
    )]);
    assert_eq!(
        verdict("HTTP/1.1 404 Not Found\r\n\r\n", true, &c).map(|v| v.0),
        Some(CheckStatus::L7Ok)
    );
    assert_eq!(
        verdict("HTTP/1.1 503 Busy\r\n\r\n", true, &c),
        Some((CheckStatus::L7Sts, Some(503), "Busy".into()))
    );
}

#[test]
fn broken_or_missing_responses() {
    let c = hc(default_expect());
    assert_eq!(
        verdict("", true, &c),
        Some((CheckStatus::L7Rsp, None, EMPTY_RESPONSE.to_string()))
    );
    assert_eq!(
        verdict("HTTP/1.1 200 OK\r\nX: y", true, &c),
        Some((CheckStatus::L7Rsp, None, String::new())),
        "head cut by the close"
    );
    assert_eq!(
        verdict("this is not http\r\n\r\n", false, &c).map(|v| v.0),
        Some(CheckStatus::L7Rsp)
    );
    assert_eq!(verdict("", false, &c), None, "nothing yet: wait");
}

#[test]
fn body_expectations() {
    let c = hc(vec![expect(false, ExpectMatch::String("healthy".into()))]);
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
    assert_eq!(
        verdict(&format!("{head}I am hea"), false, &c),
        None,
        "wait for the body"
    );
    assert_eq!(
        verdict(&format!("{head}I am healthy"), false, &c),
        Some((CheckStatus::L7Ok, Some(200), String::new()))
    );
    assert_eq!(
        verdict(&format!("{head}I am broken!"), false, &c),
        Some((
            CheckStatus::L7Rsp,
            Some(200),
            "HTTP content check did not match".into()
        ))
    );
    // Cut by the close: judged on what came.
    assert_eq!(
        verdict(&format!("{head}I am hea"), true, &c).map(|v| v.2),
        Some("HTTP content check did not match".into())
    );
    // Close-delimited and chunked bodies (matched once de-chunked).
    assert_eq!(
        verdict("HTTP/1.0 200 OK\r\n\r\nstill healthy", true, &c).map(|v| v.0),
        Some(CheckStatus::L7Ok)
    );
    let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nheal\r\n3\r\nthy\r\n0\r\n\r\n";
    assert_eq!(
        verdict(chunked, false, &c).map(|v| v.0),
        Some(CheckStatus::L7Ok)
    );
    assert_eq!(
        verdict("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, &c),
        Some((
            CheckStatus::L7Rsp,
            Some(200),
            "HTTP content check could not find a response body".into()
        ))
    );
    let c = hc(vec![
        expect(false, ExpectMatch::Status(vec![(200, 200)])),
        expect(true, ExpectMatch::String("maintenance".into())),
        expect(false, ExpectMatch::Rstring(Re::new("^ok", false).unwrap())),
    ]);
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nok all";
    assert_eq!(verdict(ok, false, &c).map(|v| v.0), Some(CheckStatus::L7Ok));
    let unwanted = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nok maintenance";
    assert_eq!(
        verdict(unwanted, false, &c),
        Some((
            CheckStatus::L7Rsp,
            Some(200),
            "HTTP check matched unwanted content".into()
        ))
    );
    let first_fails = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(
        verdict(first_fails, false, &c).map(|v| v.0),
        Some(CheckStatus::L7Sts),
        "the first failing rule gives the verdict"
    );
    // The receive bound makes the verdict final.
    let c = hc(vec![expect(false, ExpectMatch::String("needle".into()))]);
    let big = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nhay hay";
    assert_eq!(
        assess(big.as_bytes(), false, true, &c).map(|v| v.status),
        Some(CheckStatus::L7Rsp)
    );
}

fn result(status: CheckStatus, code: Option<u16>, desc: &str, ms_: u64) -> CheckResult {
    CheckResult {
        status,
        code,
        desc: desc.into(),
        duration: ms(ms_),
    }
}

#[test]
fn log_lines_in_haproxys_words() {
    let refused = result(CheckStatus::L4Con, None, "Connection refused", 0);
    assert_eq!(
        down_message(
            "be",
            "s1",
            false,
            &refused,
            Counts {
                active: 1,
                backup: 0
            },
            0
        ),
        "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", \
         check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, \
         0 remaining in queue."
    );
    let ok = result(CheckStatus::L7Ok, Some(200), "", 1);
    assert_eq!(
        up_message(
            "be",
            "s1",
            false,
            &ok,
            Counts {
                active: 2,
                backup: 0
            }
        ),
        "Server be/s1 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms. 2 active \
         and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    );
    let sts = result(
        CheckStatus::L7Sts,
        Some(500),
        "Internal \"Server\" Error",
        3,
    );
    assert_eq!(
        down_message(
            "be",
            "b1",
            true,
            &sts,
            Counts {
                active: 0,
                backup: 1
            },
            4
        ),
        "Backup Server be/b1 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal \
         <22>Server<22> Error\", check duration: 3ms. 0 active and 1 backup servers left. Running \
         on backup. 4 sessions active, 0 requeued, 0 remaining in queue."
    );
    // No code shown below layer 7 data (L7RSP, timeouts).
    let tout = result(CheckStatus::L4Tout, None, "", 2001);
    assert!(
        down_message(
            "be",
            "s",
            false,
            &tout,
            Counts {
                active: 0,
                backup: 0
            },
            0
        )
        .starts_with(
            "Server be/s is DOWN, reason: Layer4 timeout, check duration: 2001ms. 0 active"
        )
    );
    let rsp = result(
        CheckStatus::L7Rsp,
        Some(200),
        "HTTP content check did not match",
        1,
    );
    assert!(
        down_message(
            "be",
            "s",
            false,
            &rsp,
            Counts {
                active: 0,
                backup: 0
            },
            0
        )
        .contains(
            "reason: Layer7 invalid response, info: \"HTTP content check did not match\", check"
        )
    );
    assert_eq!(
        no_server_message("be"),
        "backend 'be' has no server available!"
    );
}

#[test]
fn snapshot_of_an_unchecked_server() {
    let c = CheckShared::new();
    let s = c.snapshot(Admin::Ready);
    assert_eq!(
        (s.status.as_str(), s.up, s.configured, s.check_status),
        ("no check", true, false, None)
    );
    assert_eq!(c.snapshot(Admin::Maint).status, "MAINT");
    assert_eq!(c.snapshot(Admin::Drain).status, "DRAIN");
}

fn backend_cfg(text: &str) -> config::Backend {
    let mut cfg = config::parse(&[("t.cfg", text)], &|_| None, &|_, _| Err("no".into()))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config;
    cfg.backends.remove(0)
}

fn backend(text: &str) -> BackendShared {
    BackendShared::new(&backend_cfg(text))
}

fn srv(shared: &BackendShared, i: usize) -> Arc<ServerShared> {
    shared.servers_snapshot()[i].1.clone()
}

fn picks(local: &mut LocalBackend, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| match local.pick(None, None, None) {
            Pick::Server(i) => {
                let s = local.server(i).expect("picked").clone();
                s.release();
                s.name.clone()
            }
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn pick_follows_check_state_and_backups_take_over() {
    let cfg = backend_cfg(
        "backend be\n    server a1 10.0.0.1:80 check\n    server a2 10.0.0.2:80 check\n    \
         server b1 10.0.0.3:80 check backup\n    server b2 10.0.0.4:80 check backup\n",
    );
    let shared = BackendShared::new(&cfg);
    let mut local = LocalBackend::new(&shared, &cfg, 0);
    assert_eq!(picks(&mut local, 4), ["a1", "a2", "a1", "a2"]);
    srv(&shared, 0).check.set_up(false);
    assert_eq!(picks(&mut local, 2), ["a2", "a2"]);
    srv(&shared, 1).check.set_up(false);
    assert_eq!(
        picks(&mut local, 2),
        ["b1", "b1"],
        "no active server up: the first usable backup"
    );
    srv(&shared, 2).check.set_up(false);
    assert_eq!(picks(&mut local, 1), ["b2"]);
    srv(&shared, 3).check.set_up(false);
    assert_eq!(picks(&mut local, 1), ["NoServer"]);
    srv(&shared, 1).check.set_up(true);
    assert_eq!(picks(&mut local, 2), ["a2", "a2"], "an active one is back");
}

#[test]
fn usable_counts_are_ready_up_and_weighted_servers() {
    let shared = backend(
        "backend be\n    server a1 10.0.0.1:80 check\n    server a2 10.0.0.2:80\n    \
         server a3 10.0.0.3:80 disabled\n    server a4 10.0.0.4:80 weight 0\n    \
         server b1 10.0.0.5:80 backup\n",
    );
    let counts = |s: &BackendShared| {
        let c = usable_counts(s);
        (c.active, c.backup)
    };
    assert_eq!(counts(&shared), (2, 1));
    srv(&shared, 0).check.set_up(false);
    assert_eq!(counts(&shared), (1, 1), "down by check");
    srv(&shared, 1).set_admin(Admin::Drain);
    assert_eq!(counts(&shared), (0, 1), "draining");
}

#[test]
fn the_handle_shows_check_settings_before_the_thread_applies_them() {
    let cfg = config::parse(
        &[(
            "t.cfg",
            "backend be\n    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2 check\n",
        )],
        &|_| None,
        &|_, _| Err("no".into()),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
    .config;
    let rt = crate::runtime::Runtime::new(cfg, 1, 0);
    let (mesh, _inboxes) = crate::mesh::Mesh::new(1);
    let checker = Checker::spawn(&rt, Arc::new(mesh)).expect("checker thread");
    let link = checker.link();
    // A server added with `check`, its checks disabled (as `add server`).
    let added = Arc::new(ServerShared::new(
        &rt.config.backends[0].servers[1],
        crate::backend::ServerId {
            slot: 9,
            generation: 1,
        },
        9,
    ));
    link.add(0, added.clone(), added.cfg.check, false);
    let s = snapshot_of(&added);
    assert_eq!(
        (s.configured, s.enabled, s.status.as_str()),
        (true, false, "no check")
    );
    link.set_enabled(&added, true);
    let s = snapshot_of(&added);
    assert_eq!((s.configured, s.enabled), (true, true), "{}", s.status);
    link.set_enabled(&added, false);
    assert!(!snapshot_of(&added).enabled);
    // Nothing to enable without `check`.
    let plain = srv(&rt.backends[0], 0);
    link.set_enabled(&plain, true);
    let s = snapshot_of(&plain);
    assert_eq!((s.configured, s.enabled), (false, false));
    link.remove(&added);
    drop(checker);
}
