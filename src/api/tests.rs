//! Unit tests of the runtime API: framing and words, every command's parse
//! and error, the usage text, HAProxy's output formats byte for byte, the
//! per-client protocol (prompt, closing) and running commands against a
//! real `Runtime` with a fake `Shards`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::command::{self, Command, Parsed, PromptMode, SetServer, SrvRef, StatQuery, WaitCond};
use super::conv::{Conversation, Next};
use super::exec::{self, Exec, JobResult, Outcome, WaitStep};
use super::format::{self, BeStat, FeStat, SrvState, SvStat};
use super::ops::{NotRemovable, ServerId, SessionRow, Shards};
use crate::backend::Admin as Adm;
use crate::check::{CheckSnapshot, CheckStatus};
use crate::config::{self, ApiLevel as Level};
use crate::runtime::Runtime;
use crate::stats::Snapshot;

fn w(line: &str) -> Vec<String> {
    command::words(line.as_bytes())
}

fn parse(line: &str) -> Parsed {
    command::parse(&w(line))
}

fn ok(line: &str) -> (Level, Command) {
    match parse(line) {
        Parsed::Known { level, cmd: Ok(c) } => (level, c),
        other => panic!("{line}: {other:?}"),
    }
}

fn err(line: &str) -> String {
    match parse(line) {
        Parsed::Known { cmd: Err(e), .. } => e,
        other => panic!("{line}: {other:?}"),
    }
}

fn sref(b: &str, s: &str) -> SrvRef {
    SrvRef {
        backend: b.into(),
        server: s.into(),
    }
}

#[test]
fn framing_splits_on_unescaped_newline_and_semicolon() {
    let buf = b"show info; show stat\r\nhelp";
    let (a, n) = command::next_command(buf).expect("first");
    assert_eq!((a, n), (&b"show info"[..], 10));
    let (b, m) = command::next_command(&buf[n..]).expect("second");
    assert_eq!(b, b" show stat");
    assert_eq!(
        command::next_command(&buf[n + m..]),
        None,
        "no delimiter yet"
    );
    let esc = b"set x a\\;b;next";
    assert_eq!(
        command::next_command(esc).map(|c| c.0),
        Some(&b"set x a\\;b"[..])
    );
    assert_eq!(command::next_command(b"trailing\\"), None);
}

#[test]
fn words_follow_haproxy_escapes() {
    assert_eq!(w("  show\t stat  "), ["show", "stat"]);
    assert_eq!(w("a\\ b c\\;d e\\\\f"), ["a b", "c;d", "e\\f"]);
    assert!(w("   ").is_empty());
}

#[test]
fn every_command_parses_with_its_level() {
    use Level::*;
    let cases: Vec<(&str, Level, Command)> = vec![
        ("help", User, Command::Help(vec![])),
        ("help show", User, Command::Help(vec!["show".into()])),
        ("prompt", User, Command::Prompt(PromptMode::Toggle)),
        (
            "prompt n",
            User,
            Command::Prompt(PromptMode::NonInteractive),
        ),
        ("prompt i", User, Command::Prompt(PromptMode::Interactive)),
        ("prompt p", User, Command::Prompt(PromptMode::Prompt)),
        ("quit", User, Command::Quit),
        ("show info", User, Command::ShowInfo),
        ("show stat", User, Command::ShowStat(StatQuery::default())),
        (
            "show stat -1 4 -1 no-maint up",
            User,
            Command::ShowStat(StatQuery {
                bound: Some(("-1".into(), 4, -1)),
                hide_maint: true,
                hide_down: true,
            }),
        ),
        ("show servers state", User, Command::ShowServersState(None)),
        (
            "show servers state be",
            User,
            Command::ShowServersState(Some("be".into())),
        ),
        ("show backend", User, Command::ShowBackend),
        ("show sess", Operator, Command::ShowSess(None)),
        ("show sess all", Operator, Command::ShowSess(None)),
        ("show sess 0x1f", Operator, Command::ShowSess(Some(31))),
        ("show version", User, Command::ShowVersion),
        ("show cli level", User, Command::ShowCliLevel),
        ("operator", Operator, Command::SetLevel(Operator)),
        ("user", User, Command::SetLevel(User)),
        (
            "add server be/s9 10.0.0.1:80 weight 5 check",
            Admin,
            Command::AddServer {
                backend: "be".into(),
                server: "s9".into(),
                args: vec![
                    "10.0.0.1:80".into(),
                    "weight".into(),
                    "5".into(),
                    "check".into(),
                ],
            },
        ),
        (
            "del server be/s1",
            Admin,
            Command::DelServer(sref("be", "s1")),
        ),
        (
            "enable server be/s1",
            Admin,
            Command::SetAdmin(sref("be", "s1"), Adm::Ready),
        ),
        (
            "disable server be/s1",
            Admin,
            Command::SetAdmin(sref("be", "s1"), Adm::Maint),
        ),
        (
            "set server be/s1 state drain",
            Admin,
            Command::SetServer(sref("be", "s1"), Ok(SetServer::State(Adm::Drain))),
        ),
        (
            "set server be/s1 weight 50%",
            Admin,
            Command::SetServer(sref("be", "s1"), Ok(SetServer::Weight("50%".into()))),
        ),
        (
            "set weight be/s1 7",
            Admin,
            Command::SetWeight(sref("be", "s1"), "7".into()),
        ),
        (
            "get weight be/s1",
            User,
            Command::GetWeight(sref("be", "s1")),
        ),
        (
            "set maxconn server be/s1 10",
            Admin,
            Command::SetMaxconn(sref("be", "s1"), "10".into()),
        ),
        (
            "enable health be/s1",
            Admin,
            Command::SetHealth(sref("be", "s1"), true),
        ),
        (
            "disable health be/s1",
            Admin,
            Command::SetHealth(sref("be", "s1"), false),
        ),
        (
            "shutdown sessions server be/s1",
            Admin,
            Command::ShutdownServerSessions(sref("be", "s1")),
        ),
        ("shutdown session 0x10", Admin, Command::ShutdownSession(16)),
        (
            "wait 2s",
            Admin,
            Command::Wait {
                delay: Duration::from_secs(2),
                cond: WaitCond::None,
            },
        ),
        (
            "wait 150 srv-removable be/s1",
            Admin,
            Command::Wait {
                delay: Duration::from_millis(150),
                cond: WaitCond::SrvRemovable(sref("be", "s1")),
            },
        ),
    ];
    for (line, level, cmd) in cases {
        assert_eq!(ok(line), (level, cmd), "{line}");
    }
}

#[test]
fn argument_errors_use_haproxy_wording() {
    let cases: &[(&str, &str)] = &[
        ("set server be state ready", "Require 'backend/server'.\n"),
        ("set server /s1 state ready", "Require 'backend/server'.\n"),
        ("set weight be 1", "Require 'backend/server'.\n"),
        ("get weight be", "Require 'backend/server'.\n"),
        ("set maxconn server be 1", "Require 'backend/server'.\n"),
        ("enable server", "Require 'backend/server'.\n"),
        ("disable health be", "Require 'backend/server'.\n"),
        ("shutdown sessions server x", "Require 'backend/server'.\n"),
        ("add server be", "Require 'backend/server'."),
        ("add server /x 1.2.3.4:80", "Require 'backend/server'."),
        ("del server be/", "Require 'backend/server'."),
        (
            "shutdown session",
            "Session pointer expected (use 'show sess').\n",
        ),
        ("wait", "Expects a duration in milliseconds.\n"),
        ("wait soon", "Invalid duration.\n"),
        ("wait 0", "Invalid duration.\n"),
        (
            "wait 1s srv-removable",
            "Missing server name (<backend>/<server>).\n",
        ),
        ("wait 1s srv-removable be", "Require 'backend/server'.\n"),
        ("wait 1s bogus", command::WAIT_USAGE),
        ("wait -h", command::WAIT_USAGE),
        (
            "show info typed",
            "The 'typed' output format is not supported by ringproxy yet.\n",
        ),
        (
            "show stat json",
            "The 'json' output format is not supported by ringproxy yet.\n",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(err(line), *want, "{line}");
    }
    let Command::SetServer(_, Err(e)) = ok("set server be/s1 state up").1 else {
        panic!("state error is carried")
    };
    assert_eq!(
        e,
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
    );
    let Command::SetServer(_, Err(e)) = ok("set server be/s1 frob 1").1 else {
        panic!("usage is carried")
    };
    assert!(
        e.starts_with("usage: set server <backend>/<server> addr | agent"),
        "{e}"
    );
    let Command::SetServer(_, Err(e)) = ok("set server be/s1 addr 1.2.3.4").1 else {
        panic!("unsupported is carried")
    };
    assert!(e.contains("not supported by ringproxy yet"), "{e}");
}

#[test]
fn unknown_commands_and_help() {
    assert_eq!(parse(""), Parsed::Unknown(vec![]));
    assert_eq!(parse("show foo"), Parsed::Unknown(w("show foo")));
    let all = command::usage(&[]);
    assert!(all.starts_with("Unknown command. Please enter one of the following commands only:\n"));
    let help = command::usage(&w("help"));
    assert!(help.starts_with("The following commands are valid at this level:\n  add server"));
    assert!(help.ends_with(
        "  help [<command>]                        : list matching or all commands\n  \
         prompt                                  : toggle interactive mode with prompt\n  \
         quit                                    : disconnect\n"
    ));
    // Sorted by usage string, as HAProxy does.
    let lines: Vec<&str> = help.lines().skip(1).collect();
    let listed = &lines[..lines.len() - 3];
    let mut sorted = listed.to_vec();
    sorted.sort();
    assert_eq!(listed, sorted.as_slice());
    let show = command::usage(&w("help show"));
    assert!(
        show.lines()
            .skip(1)
            .take_while(|l| !l.contains("help ["))
            .all(|l| l.starts_with("  show "))
    );
    let near = command::usage(&w("show stats"));
    assert!(
        near.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        )
    );
    assert!(near.contains("  show stat [no-maint|up]*"), "{near}");
    assert!(!near.contains("add server"), "{near}");
}

#[test]
fn numbers_like_c() {
    assert_eq!(command::strtoul("0x1A"), 26);
    assert_eq!(command::strtoul("017"), 15);
    assert_eq!(command::strtoul("42abc"), 42);
    assert_eq!(command::strtoul("zz"), 0);
    assert_eq!(command::atoi("-1"), -1);
    assert_eq!(command::atoi("3x"), 3);
    assert_eq!(command::atoi("px"), 0);
}

/// HAProxy 2.6's header, as a 2.6 process prints it before its per-module
/// columns (`-,ssl_sess,...`), which ringproxy does not print.
const HEADER_26: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_check_status,\n";

#[test]
fn stat_header_is_haproxy_26() {
    assert_eq!(format::stat_header(), HEADER_26);
}

fn counters() -> Snapshot {
    Snapshot {
        cur: 1,
        max: 3,
        total: 10,
        conn_tot: 12,
        bytes_in: 243,
        bytes_out: 2067,
        denied_req: 1,
        denied_resp: 2,
        denied_conn: 0,
        denied_sess: 0,
        err_req: 3,
        err_conn: 4,
        err_resp: 5,
        retries: 6,
        redispatches: 7,
        lb_total: 8,
        req_tot: 9,
        rsp: [0, 9, 0, 1, 0, 0],
        cli_abort: 1,
        srv_abort: 2,
        queue_cur: 0,
        queue_max: 2,
        intercepted: 4,
        rate: 5,
        rate_max: 7,
        req_rate: 3,
        req_rate_max: 4,
        conn_rate: 6,
        conn_rate_max: 8,
        qtime: 1,
        ctime: 2,
        rtime: 3,
        ttime: 4,
    }
}

#[test]
fn frontend_row_byte_for_byte() {
    let f = FeStat {
        name: "fe".into(),
        iid: 2,
        http: true,
        c: counters(),
        scur: 1,
        slim: 8192,
    };
    assert_eq!(
        format::fe_row(&f).csv(),
        "fe,FRONTEND,,,1,3,8192,10,243,2067,1,2,3,,,,,OPEN,,,,,,,,,1,2,0,,,,0,5,0,7,,,,0,9,0,1,0,0,,3,4,9,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,6,8,12,4,0,0,,,,0,0,,,,,,,,,,,,,,\n"
    );
    let tcp = FeStat { http: false, ..f };
    let row = format::fe_row(&tcp).csv();
    let cols: Vec<&str> = row.trim_end().split(',').collect();
    assert_eq!(cols.len(), 102, "101 fields, each followed by a comma");
    assert_eq!(cols[40], "", "no hrsp_2xx in TCP mode");
    assert_eq!(cols[75], "tcp");
    assert_eq!(cols[80], "", "no intercepted in TCP mode");
}

/// A checked server, fully up after a passed L4 check.
fn checked() -> CheckSnapshot {
    CheckSnapshot {
        status: "UP".into(),
        up: true,
        configured: true,
        enabled: true,
        health: 4,
        check_status: Some(CheckStatus::L4Ok),
        check_code: None,
        check_duration: Some(Duration::from_micros(2700)),
        check_desc: String::new(),
        chkfail: 1,
        chkdown: 1,
        lastchg: Duration::from_secs(547),
        downtime: Duration::from_millis(12900),
    }
}

/// A server without `check`.
fn unchecked() -> CheckSnapshot {
    CheckSnapshot {
        status: "no check".into(),
        configured: false,
        enabled: false,
        health: 0,
        check_status: None,
        check_duration: None,
        chkfail: 0,
        chkdown: 0,
        downtime: Duration::ZERO,
        ..checked()
    }
}

fn server() -> SvStat {
    SvStat {
        backend: "be".into(),
        name: "s1".into(),
        iid: 3,
        sid: 7,
        http: true,
        c: counters(),
        scur: 0,
        maxconn: 10,
        weight: 1,
        uweight: 1,
        backup: false,
        admin: Adm::Ready,
        check: checked(),
        rise: 2,
        fall: 3,
        addr: "[::1]:3000".parse().expect("addr"),
        pool_max_conn: None,
        lastchg: 547,
    }
}

/// Column `name` of a CSV row.
fn col(row: &str, name: &str) -> String {
    let i = format::STAT_FIELDS
        .iter()
        .position(|f| *f == name)
        .expect("column");
    row.split(',').nth(i).expect("field").to_string()
}

#[test]
fn server_row_byte_for_byte() {
    assert_eq!(
        format::sv_row(&server()).csv(),
        "be,s1,0,2,0,3,10,10,243,2067,,2,,4,5,6,7,UP,1,1,0,1,1,547,12,,1,3,7,,8,,2,5,,7,L4OK,,2,0,9,0,1,0,0,,,,9,1,2,,,,,,,,1,2,3,4,,,,Layer4 check passed,,2,3,4,,,,[::1]:3000,,http,,,,,,,,,,,,,,,,,,,,,,,,1,,\n"
    );
    let mut s = server();
    s.backup = true;
    s.check = unchecked();
    s.maxconn = 0;
    s.http = false;
    let row = format::sv_row(&s).csv();
    let cols: Vec<&str> = row.split(',').collect();
    assert_eq!((cols[6], cols[19], cols[20]), ("", "0", "1"));
    assert_eq!((cols[67], cols[48]), ("", ""));
    for name in [
        "chkfail",
        "chkdown",
        "downtime",
        "check_status",
        "check_duration",
        "check_desc",
        "check_health",
    ] {
        assert_eq!(col(&row, name), "", "{name} without check");
    }
    assert_eq!(col(&row, "status"), "no check");
}

#[test]
fn server_check_columns_follow_haproxy_conditions() {
    // A layer 7 result shows its code and the check's own text.
    let mut s = server();
    s.check.check_status = Some(CheckStatus::L7Sts);
    s.check.check_code = Some(500);
    s.check.check_desc = "Internal Server Error".into();
    s.check.status = "DOWN".into();
    let row = format::sv_row(&s).csv();
    assert_eq!(col(&row, "check_code"), "500");
    assert_eq!(col(&row, "check_desc"), "Layer7 wrong status");
    assert_eq!(col(&row, "last_chk"), "Internal Server Error");
    assert_eq!(col(&row, "status"), "DOWN");
    // No code for a layer 4 result, no duration before the first one.
    let mut s = server();
    s.check.check_code = Some(200);
    s.check.check_status = Some(CheckStatus::Ini);
    let row = format::sv_row(&s).csv();
    assert_eq!(
        (col(&row, "check_code"), col(&row, "check_duration")),
        (String::new(), String::new())
    );
    assert_eq!(col(&row, "check_desc"), "Initializing");
    // Paused by maintenance: counters stay, check details go.
    let mut s = server();
    s.admin = Adm::Maint;
    s.check.status = "MAINT".into();
    let row = format::sv_row(&s).csv();
    assert_eq!(
        (col(&row, "chkfail"), col(&row, "chkdown")),
        ("1".into(), "1".into())
    );
    assert_eq!(
        (col(&row, "check_status"), col(&row, "check_health")),
        (String::new(), String::new())
    );
    // `disable health`: nothing of the check is shown.
    let mut s = server();
    s.check.enabled = false;
    s.check.status = "no check".into();
    let row = format::sv_row(&s).csv();
    assert_eq!(
        (col(&row, "chkfail"), col(&row, "check_status")),
        (String::new(), String::new())
    );
}

#[test]
fn check_status_numbers_are_haproxys() {
    let n = format::hchk_number;
    assert_eq!(n(CheckStatus::Ini), 1);
    assert_eq!(n(CheckStatus::SockErr), 5);
    assert_eq!(n(CheckStatus::L4Ok), 6);
    assert_eq!(n(CheckStatus::L4Tout), 7);
    assert_eq!(n(CheckStatus::L4Con), 8);
    assert_eq!(n(CheckStatus::L7Tout), 12);
    assert_eq!(n(CheckStatus::L7Rsp), 13);
    assert_eq!(n(CheckStatus::L7Ok), 15);
    assert_eq!(n(CheckStatus::L7Sts), 17);
}

#[test]
fn backend_row_byte_for_byte() {
    let b = BeStat {
        name: "be".into(),
        iid: 3,
        http: true,
        c: counters(),
        qcur: 0,
        slim: 820,
        up: true,
        counts: None,
        weight: 2,
        uweight: 2,
        act: 2,
        bck: 0,
        algo: "roundrobin",
    };
    assert_eq!(
        format::be_row(&b).csv(),
        "be,BACKEND,0,2,1,3,820,10,243,2067,1,2,,4,5,6,7,UP,2,2,0,,,,,,1,3,0,,8,,1,5,,7,,,,0,9,0,1,0,0,,,,9,1,2,0,0,0,0,,,,1,2,3,4,,,,,,,,,,,,,,http,roundrobin,,,,,,,,,,0,0,,,,,,,,,,,,2,,\n"
    );
    let down = BeStat {
        up: false,
        counts: Some((0, 2)),
        ..b
    };
    assert!(format::be_row(&down).csv().contains(",DOWN (0/2),"));
}

#[test]
fn servers_state_rows() {
    let mut s = SrvState {
        be_id: 3,
        be_name: "be".into(),
        srv_id: 7,
        srv_name: "s1".into(),
        addr: "10.0.0.1:8080".parse().expect("addr"),
        admin: Adm::Ready,
        cfg_disabled: false,
        uweight: 1,
        iweight: 1,
        since_change: 96,
        check: unchecked(),
        rise: 2,
        check_port: None,
        check_addr: None,
    };
    assert!(
        format::SERVERS_STATE_HEADER.starts_with("1\n# be_id be_name srv_id srv_name srv_addr ")
    );
    assert!(
        format::SERVERS_STATE_HEADER.ends_with(" srv_check_addr srv_agent_addr srv_agent_port\n")
    );
    assert_eq!(
        format::servers_state_row(&s),
        "3 be 7 s1 10.0.0.1 2 0 1 1 96 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0\n"
    );
    s.check = checked();
    s.check_port = Some(9000);
    assert_eq!(
        format::servers_state_row(&s),
        "3 be 7 s1 10.0.0.1 2 0 1 1 96 6 3 4 6 0 0 0 - 8080 - 0 9000 - - 0\n"
    );
    // Down after a refused connect: stopped, failed, health 0.
    s.check.up = false;
    s.check.health = 0;
    s.check.check_status = Some(CheckStatus::L4Con);
    assert!(
        format::servers_state_row(&s).starts_with("3 be 7 s1 10.0.0.1 0 0 1 1 96 8 2 0 6 "),
        "{}",
        format::servers_state_row(&s)
    );
    // Before the first result: INI, result unknown.
    s.check.check_status = Some(CheckStatus::Ini);
    assert!(format::servers_state_row(&s).contains(" 96 1 0 0 6 "));
    // Checks disabled: configured only.
    s.check.enabled = false;
    assert!(format::servers_state_row(&s).contains(" 96 1 0 0 2 "));
    s.check = checked();
    s.admin = Adm::Maint;
    let maint = format::servers_state_row(&s);
    assert!(maint.starts_with("3 be 7 s1 10.0.0.1 0 1 "), "{maint}");
    assert!(maint.contains(" 96 6 3 4 14 "), "paused: {maint}");
    s.cfg_disabled = true;
    assert!(format::servers_state_row(&s).starts_with("3 be 7 s1 10.0.0.1 0 4 "));
    s.admin = Adm::Drain;
    assert!(format::servers_state_row(&s).starts_with("3 be 7 s1 10.0.0.1 2 8 "));
}

#[test]
fn info_and_times() {
    let i = format::Info {
        version: "0.1.0",
        nbthread: 2,
        pid: 77,
        uptime: Duration::from_secs(86400 + 3600 + 61),
        start_time_sec: 1000,
        ulimit_n: 1024,
        maxconn: 500,
        curr_conns: 3,
        cum_conns: 9,
        cum_req: 8,
        node: "lb1".into(),
        listeners: 2,
        total_bytes_out: 5,
        reloads: 3,
        failed_reloads: 1,
    };
    let text = format::info(&i);
    assert!(text.starts_with("Name: ringproxy\nVersion: 0.1.0\nNbthread: 2\nNbproc: 1\nProcess_num: 1\nPid: 77\nUptime: 1d 1h01m01s\nUptime_sec: 90061\n"));
    assert!(
        text.contains("\nMaxconn: 500\nHard_maxconn: 500\nCurrConns: 3\nCumConns: 9\nCumReq: 8\n")
    );
    assert!(text.ends_with("Start_time_sec: 1000\nTainted: 0\nReloads: 3\nFailedReloads: 1\n"));
    assert_eq!(format::human_time(Duration::ZERO), "0s");
    assert_eq!(format::human_time(Duration::from_secs(59)), "59s");
    assert_eq!(format::human_time(Duration::from_secs(3723)), "1h2m");
    assert_eq!(format::human_time(Duration::from_secs(90061)), "1d1h");
    assert_eq!(format::human_time(Duration::from_secs(120)), "2m");
}

fn row(id: u64) -> SessionRow {
    SessionRow {
        id,
        shard: 0,
        src: Some("1.2.3.4:5678".parse().expect("addr")),
        frontend: 0,
        backend: Some(0),
        server: Some("s1".into()),
        age: Duration::from_secs(3),
        calls: 12,
        expires_in: Some(Duration::from_secs(9)),
    }
}

#[test]
fn sess_line_fields_in_haproxy_order() {
    assert_eq!(
        format::sess_line(&row(0x2a), "fe", Some("be")),
        "0x2a: proto=tcpv4 src=1.2.3.4:5678 fe=fe be=be srv=s1 age=3s calls=12 exp=9s\n"
    );
    let r = SessionRow {
        src: None,
        backend: None,
        server: None,
        expires_in: None,
        ..row(1)
    };
    assert_eq!(
        format::sess_line(&r, "fe", None),
        "0x1: proto=? src=? fe=fe be=<NONE> srv=<none> age=3s calls=12 exp=\n"
    );
}

#[test]
fn conversation_closes_after_the_line_unless_interactive() {
    let mut c = Conversation::new(Level::Admin, 1024);
    c.feed(b"show info; show stat\n");
    assert_eq!(c.next(), Next::Line(b"show info".to_vec()));
    assert_eq!(c.after_command(), ("\n", false), "more input waiting");
    assert_eq!(c.next(), Next::Line(b" show stat".to_vec()));
    assert_eq!(c.after_command(), ("\n", true), "line done: close");
    c.feed(b"part");
    assert_eq!(c.next(), Next::NeedMore);
    c.eof();
    assert_eq!(c.next(), Next::End, "a command without newline is dropped");

    let mut p = Conversation::new(Level::User, 1024);
    p.set_prompt(PromptMode::Toggle);
    assert_eq!(p.after_command(), ("\n> ", false));
    p.set_prompt(PromptMode::Interactive);
    assert_eq!(p.after_command(), ("\n", false));
    p.set_prompt(PromptMode::Toggle);
    assert_eq!(p.after_command(), ("\n", true), "toggled back off");
    p.set_prompt(PromptMode::Prompt);
    p.set_prompt(PromptMode::NonInteractive);
    assert!(!p.interactive);

    let mut big = Conversation::new(Level::User, 8);
    big.feed(b"0123456789");
    assert_eq!(big.next(), Next::TooLong);
    assert!(!big.wants_input());
}

#[test]
fn weights_and_maxconn_like_haproxy() {
    assert_eq!(exec::parse_weight("7", 1, true), Ok(7));
    assert_eq!(exec::parse_weight("50%", 10, true), Ok(5));
    assert_eq!(exec::parse_weight("1000%", 100, true), Ok(256));
    assert_eq!(exec::parse_weight("0", 3, false), Ok(0));
    assert_eq!(exec::parse_weight("100%", 3, false), Ok(3));
    let errs: &[(&str, &str)] = &[
        ("", "Require <weight> or <weight%>.\n"),
        ("x", "Empty weight string empty or preceded by garbage"),
        ("-5%", "Relative weight must be positive.\n"),
        (
            "257",
            "Absolute weight can only be between 0 and 256 inclusive.\n",
        ),
        ("5x", "Trailing garbage in weight string"),
    ];
    for (v, want) in errs {
        assert_eq!(
            exec::parse_weight(v, 1, true).map_err(|e| e.to_string()),
            Err(want.to_string()),
            "{v}"
        );
    }
    assert_eq!(
        exec::parse_weight("2", 3, false).map_err(|e| e.to_string()),
        Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
                .to_string()
        )
    );
    assert_eq!(exec::parse_maxconn("10"), Ok(10));
    assert_eq!(exec::parse_maxconn("-1"), Ok(0));
    assert_eq!(
        exec::parse_maxconn("").map_err(|e| e.to_string()),
        Err("Require <maxconn>.\n".to_string())
    );
    assert_eq!(
        exec::parse_maxconn("x").map_err(|e| e.to_string()),
        Err("maxconn string empty or preceded by garbage".to_string())
    );
    assert_eq!(
        exec::parse_maxconn("1x").map_err(|e| e.to_string()),
        Err("Trailing garbage in maxconn string".to_string())
    );
}

#[test]
fn added_servers_use_the_configuration_parser() {
    let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let s = exec::parse_added_server(
        "s9",
        &args("10.0.0.1:80 weight 5 maxconn 3 check send-proxy-v2 backup"),
        true,
    )
    .expect("valid");
    assert_eq!(s.addr, "10.0.0.1:80".parse::<SocketAddr>().expect("addr"));
    assert_eq!((s.weight, s.maxconn, s.backup), (5, Some(3), true));
    assert_eq!(s.send_proxy, Some(config::ProxyVersion::V2));
    assert!(s.check.is_some());
    assert!(
        !s.disabled,
        "maintenance is the coordinator's to set (forced, not configured)"
    );
    let e = |a: &str| exec::parse_added_server("s9", &args(a), false).expect_err(a);
    assert_eq!(e("10.0.0.1:80 frob"), "unknown keyword 'frob'.");
    assert!(e("10.0.0.1:80 weight 300").contains("'weight' must be between 0 and 256"));
    assert!(e("host.example:80").contains("host names are not supported by 'add server'"));
    assert!(e("10.0.0.1").contains("port is required"));
    assert!(e("10.0.0.1:80 weight ${X}").starts_with("invalid character in argument"));
    assert_eq!(
        exec::parse_added_server("s9", &[], true).expect_err("no address"),
        "'server' expects <name> and <addr>[:<port>] as arguments."
    );
}

// ---------------------------------------------------------------------------
// Running commands against a real Runtime with a fake `Shards`
// ---------------------------------------------------------------------------

/// Records every call; answers as configured.
#[derive(Default)]
struct Fake {
    calls: Vec<String>,
    removable: Vec<Result<(), NotRemovable>>,
    /// The runtime whose names `add_server` refuses, as the coordinator.
    rt: Option<Arc<Runtime>>,
}

impl Shards for Fake {
    fn add_server(&mut self, b: usize, s: config::Server) -> Result<(), String> {
        if let Some(rt) = &self.rt
            && rt.backends[b]
                .servers_snapshot()
                .iter()
                .any(|(_, x)| x.name == s.name)
        {
            return Err("Already exists a server with the same name in backend.".into());
        }
        self.calls.push(format!("add {b} {}", s.name));
        Ok(())
    }
    fn del_server(&mut self, id: &ServerId) -> Result<(), String> {
        self.calls.push(format!("del {}", id.server.name));
        Err("Only servers in maintenance mode can be deleted.".into())
    }
    fn set_admin(&mut self, id: &ServerId, a: Adm) -> Result<(), String> {
        self.calls.push(format!("admin {} {a:?}", id.server.name));
        id.server.set_admin(a);
        Ok(())
    }
    fn set_weight(&mut self, id: &ServerId, w: u32) -> Result<(), String> {
        self.calls.push(format!("weight {} {w}", id.server.name));
        id.server
            .weight
            .store(w, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn set_maxconn(&mut self, id: &ServerId, m: u32) -> Result<(), String> {
        self.calls.push(format!("maxconn {} {m}", id.server.name));
        Ok(())
    }
    fn set_health(&mut self, id: &ServerId, on: bool) -> Result<(), String> {
        self.calls.push(format!("health {} {on}", id.server.name));
        Ok(())
    }
    fn sessions(&mut self) -> Result<Vec<SessionRow>, String> {
        Ok(vec![row(1), row(2)])
    }
    fn shutdown_session(&mut self, id: u64) -> Result<bool, String> {
        Ok(id == 1)
    }
    fn shutdown_server_sessions(&mut self, id: &ServerId) -> Result<(), String> {
        self.calls.push(format!("shutdown {}", id.server.name));
        Ok(())
    }
    fn removable(&mut self, _id: &ServerId) -> Result<(), NotRemovable> {
        self.removable.pop().unwrap_or(Ok(()))
    }
}

const CFG: &str = "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:1\n    default_backend be\nbackend be\n    server s1 10.0.0.1:80\n    server s2 10.0.0.2:80 weight 4 check\nlisten st\n    bind 127.0.0.1:2\n    balance source\n    server t1 10.0.0.3:80 disabled\n";

fn exec_for(cfg: &str) -> Exec {
    let resolve = |_: &str, _: u16| -> Result<SocketAddr, String> { Err("no".into()) };
    let loaded = config::parse(&[("t.cfg", cfg)], &|_| None, &resolve).expect("valid config");
    Exec::new(Arc::new(Runtime::new(loaded.config, 2, 100)))
}

/// Runs one line like the server does, jobs included; returns the reply.
fn run(e: &mut Exec, fake: &mut Fake, conv: &mut Conversation, line: &str) -> String {
    match e.run_line(line.as_bytes(), conv) {
        Outcome::Text(t) => t,
        Outcome::Quit => "<quit>".into(),
        Outcome::GetSocks => "<getsocks>".into(),
        Outcome::Job(job) => {
            let res = exec::perform(fake, &job);
            e.finish(&job, res)
        }
        Outcome::Wait(mut w) => loop {
            let now = Instant::now();
            match e.wait_step(&w, now) {
                WaitStep::Done(t) => break t,
                WaitStep::Sleep => std::thread::sleep(w.deadline.saturating_duration_since(now)),
                WaitStep::Ask(job) => {
                    let JobResult::Removable(r) = exec::perform(fake, &job) else {
                        panic!("removable job")
                    };
                    if let Some(t) = exec::wait_answer(&mut w, r, Instant::now()) {
                        break t;
                    }
                    std::thread::sleep(w.next_check.saturating_duration_since(Instant::now()));
                }
            }
        },
    }
}

#[test]
fn levels_are_enforced_before_arguments() {
    let mut e = exec_for(CFG);
    let mut f = Fake::default();
    let mut user = Conversation::new(Level::User, 1024);
    for line in [
        "set weight be/s1 2",
        "set weight",
        "show sess",
        "add server x",
        "wait 1",
        "operator",
    ] {
        assert_eq!(
            run(&mut e, &mut f, &mut user, line),
            "Permission denied\n",
            "{line}"
        );
    }
    assert_eq!(run(&mut e, &mut f, &mut user, "show cli level"), "user\n");
    assert_eq!(
        run(&mut e, &mut f, &mut user, "get weight be/s2"),
        "4 (initial 4)\n"
    );
    let mut admin = Conversation::new(Level::Admin, 1024);
    assert_eq!(run(&mut e, &mut f, &mut admin, "operator"), "");
    assert_eq!(
        run(&mut e, &mut f, &mut admin, "show cli level"),
        "operator\n"
    );
    assert_eq!(
        run(&mut e, &mut f, &mut admin, "set weight be/s1 2"),
        "Permission denied\n"
    );
    assert!(f.calls.is_empty());
}

#[test]
fn getsocks_needs_admin_and_expose_fd() {
    let mut e = exec_for(CFG);
    let mut f = Fake::default();
    let mut plain = Conversation::new(Level::Admin, 1024);
    assert_eq!(
        run(&mut e, &mut f, &mut plain, "_getsocks"),
        "Permission denied\n"
    );
    let mut operator = Conversation::new(Level::Operator, 1024);
    operator.expose_fd = true;
    assert_eq!(
        run(&mut e, &mut f, &mut operator, "_getsocks"),
        "Permission denied\n"
    );
    let mut admin = Conversation::new(Level::Admin, 1024);
    admin.expose_fd = true;
    assert_eq!(run(&mut e, &mut f, &mut admin, "_getsocks"), "<getsocks>");
}

#[test]
fn server_commands_reach_the_trait_with_haproxy_replies() {
    let mut e = exec_for(CFG);
    let mut f = Fake {
        rt: Some(e.rt.clone()),
        ..Fake::default()
    };
    let mut c = Conversation::new(Level::Admin, 1024);
    let mut r = |line: &str| run(&mut e, &mut f, &mut c, line);
    assert_eq!(r("set weight be/s2 50%"), "");
    assert_eq!(r("get weight be/s2"), "2 (initial 4)\n");
    assert_eq!(r("set server be/s1 weight 3"), "");
    assert_eq!(r("set server be/s1 state drain"), "");
    assert_eq!(r("disable server be/s1"), "");
    assert_eq!(r("enable server be/s1"), "");
    assert_eq!(r("set maxconn server be/s1 12"), "");
    assert_eq!(r("disable health be/s2"), "");
    assert_eq!(r("shutdown sessions server be/s2"), "");
    assert_eq!(r("set weight be/nope 1"), "No such server.\n");
    assert_eq!(r("set weight nope/s1 1"), "No such server.\n");
    assert_eq!(
        r("set server nope/s1 state up"),
        "No such server.\n",
        "lookup first"
    );
    assert_eq!(r("get weight nope/s1"), "No such backend.\n");
    assert_eq!(r("get weight be/nope"), "No such server.\n");
    assert_eq!(
        r("set weight st/t1 2"),
        "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
    );
    assert_eq!(
        r("add server be/s9 10.0.0.9:80 weight 2"),
        "New server registered.\n"
    );
    assert_eq!(
        r("add server be/s1 10.0.0.9:80"),
        "Already exists a server with the same name in backend."
    );
    assert_eq!(r("add server nope/s9 10.0.0.9:80"), "No such backend.");
    assert_eq!(
        r("add server st/s9 10.0.0.9:80"),
        "Backend must use a dynamic load balancing to support dynamic servers."
    );
    assert_eq!(
        r("add server be/s8 10.0.0.9:80 frob"),
        "unknown keyword 'frob'."
    );
    assert_eq!(
        r("del server be/s1"),
        "Only servers in maintenance mode can be deleted."
    );
    assert_eq!(r("del server be/zz"), "No such server.");
    assert_eq!(r("del server zz/s1"), "No such backend.");
    assert_eq!(
        r("show sess"),
        format::sess_line(&row(1), "fe", Some("be"))
            + &format::sess_line(&row(2), "fe", Some("be"))
    );
    assert_eq!(
        r("show sess 0x2"),
        format::sess_line(&row(2), "fe", Some("be"))
    );
    assert_eq!(r("show sess 0x9"), "Session not found.\n");
    assert_eq!(r("shutdown session 0x1"), "");
    assert_eq!(
        r("shutdown session 0x9"),
        "No such session (use 'show sess').\n"
    );
    assert_eq!(
        f.calls,
        [
            "weight s2 2",
            "weight s1 3",
            "admin s1 Drain",
            "admin s1 Maint",
            "admin s1 Ready",
            "maxconn s1 12",
            "health s2 false",
            "shutdown s2",
            "add 0 s9",
            "del s1",
        ]
    );
}

#[test]
fn wait_polls_until_removable_or_expired() {
    let mut e = exec_for(CFG);
    let mut c = Conversation::new(Level::Admin, 1024);
    let yet = || {
        Err(NotRemovable::Yet(
            "Server still has connections attached to it, cannot remove it.".into(),
        ))
    };
    let mut f = Fake {
        removable: vec![Ok(()), yet(), yet()],
        ..Fake::default()
    };
    assert_eq!(
        run(&mut e, &mut f, &mut c, "wait 2s srv-removable be/s1"),
        "Done.\n"
    );
    assert!(f.removable.is_empty(), "asked three times");
    let mut never = Fake {
        removable: (0..1000).map(|_| yet()).collect(),
        ..Fake::default()
    };
    let t0 = Instant::now();
    assert_eq!(
        run(&mut e, &mut never, &mut c, "wait 100 srv-removable be/s1"),
        "Wait delay expired.\n"
    );
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let mut fail = Fake {
        removable: vec![Err(NotRemovable::Never("nope".into()))],
        ..Fake::default()
    };
    assert_eq!(
        run(&mut e, &mut fail, &mut c, "wait 1s srv-removable be/s1"),
        "nope"
    );
    assert_eq!(
        run(&mut e, &mut fail, &mut c, "wait 1s srv-removable be/zz"),
        "No such server."
    );
    assert_eq!(
        run(&mut e, &mut fail, &mut c, "wait 1s srv-removable zz/s1"),
        "No such backend."
    );
    let t0 = Instant::now();
    assert_eq!(run(&mut e, &mut fail, &mut c, "wait 50"), "Done.\n");
    assert!(t0.elapsed() >= Duration::from_millis(50));
}

#[test]
fn read_only_views_of_the_runtime() {
    let mut e = exec_for(CFG);
    let mut f = Fake::default();
    let mut c = Conversation::new(Level::User, 1024);
    let mut r = |line: &str| run(&mut e, &mut f, &mut c, line);
    assert_eq!(r("show backend"), "# name\nbe\nst\n");
    let stat = r("show stat");
    let rows: Vec<Vec<&str>> = stat
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let names: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[27])).collect();
    assert_eq!(
        names,
        [
            ("fe", "FRONTEND", "1"),
            ("be", "s1", "2"),
            ("be", "s2", "2"),
            ("be", "BACKEND", "2"),
            ("st", "FRONTEND", "3"),
            ("st", "t1", "3"),
            ("st", "BACKEND", "3"),
        ]
    );
    // No checker runs here: s2's `check` is not configured in the checker,
    // so it is what the checker's snapshot says, `no check`.
    let status: Vec<&str> = rows.iter().map(|r| r[17]).collect();
    assert_eq!(
        status,
        [
            "OPEN", "no check", "no check", "UP", "OPEN", "MAINT", "DOWN"
        ]
    );
    let sids: Vec<&str> = rows.iter().map(|r| r[28]).collect();
    assert_eq!(sids, ["0", "1", "2", "0", "0", "1", "0"], "puid");
    assert!(
        rows[1][23].parse::<u64>().is_ok_and(|t| t < 60),
        "lastchg since creation: {}",
        rows[1][23]
    );
    assert_eq!(rows[3][6], "10", "fullconn: a tenth of fe's maxconn 100");
    assert_eq!(rows[3][18], "5", "backend weight: 1 + 4");
    let only_servers = r("show stat be 4 2");
    assert_eq!(only_servers.lines().count(), 2);
    assert!(
        only_servers
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("be,s2,"))
    );
    assert_eq!(
        r("show stat 3 1 -1").lines().nth(1).map(|l| &l[..12]),
        Some("st,FRONTEND,")
    );
    assert_eq!(r("show stat nope 1 -1"), "No such proxy.\n");
    let no_maint = r("show stat -1 -1 -1 no-maint");
    assert!(!no_maint.contains("st,t1,"));
    assert!(no_maint.contains("st,BACKEND,0,0,0,0,10,0,0,0,0,0,,0,0,0,0,DOWN (0/1),"));
    let state = r("show servers state st");
    assert_eq!(
        state
            .strip_prefix(format::SERVERS_STATE_HEADER)
            .map(|s| s.split(' ').take(9).collect::<Vec<_>>()),
        Some(vec!["3", "st", "1", "t1", "10.0.0.3", "0", "4", "1", "1"])
    );
    assert_eq!(r("show servers state nope"), "Can't find backend.\n");
    assert!(r("show info").starts_with("Name: ringproxy\n"));
    assert_eq!(
        r("show version"),
        format!("{}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(r("quit"), "<quit>");
}

#[test]
fn a_dynamic_server_in_maintenance_is_forced_maintenance() {
    let mut e = exec_for(CFG);
    let mut f = Fake::default();
    let mut c = Conversation::new(Level::User, 1024);
    // What the coordinator does for `add server be/d1 10.0.0.9:80`.
    let mut cfg = exec::parse_added_server("d1", &["10.0.0.9:80".into()], true).expect("valid");
    cfg.disabled = true;
    {
        let mut reg = e.rt.backends[0].registry();
        let (id, puid) = (reg.next_id(), reg.next_puid);
        reg.next_puid += 1;
        reg.insert(Arc::new(crate::backend::ServerShared::new(&cfg, id, puid)));
    }
    let state = run(&mut e, &mut f, &mut c, "show servers state be");
    let d1: Vec<&str> = state
        .lines()
        .find(|l| l.split(' ').nth(3) == Some("d1"))
        .expect("d1 listed")
        .split(' ')
        .collect();
    assert_eq!(
        d1[5..7],
        ["0", "1"],
        "stopped, SRV_ADMF_FMAINT (a `disabled` line is CMAINT, 4): {d1:?}"
    );
}

#[test]
fn socket_files_go_with_their_sockets() {
    let dir = std::env::temp_dir().join(format!("rp-api-bound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let first = dir.join("a.sock");
    let global = |paths: &[&std::path::Path]| {
        let text: String = paths
            .iter()
            .map(|p| format!("    stats socket {}\n", p.display()))
            .collect();
        let resolve = |_: &str, _: u16| -> Result<SocketAddr, String> { Err("no".into()) };
        config::parse(
            &[("t.cfg", &format!("global\n{text}"))],
            &|_| None,
            &resolve,
        )
        .expect("valid config")
        .config
        .global
    };
    let bound = super::bind_all(&global(&[&first]), false).expect("bound");
    assert!(first.exists());
    // A live socket is refused, unless a new process takes over (binary
    // upgrade): then the old process's exit leaves the new file alone.
    let err = super::bind_all(&global(&[&first]), false).expect_err("live");
    assert!(err.contains("another process is listening on it"), "{err}");
    let next = super::bind_all(&global(&[&first]), true).expect("replaced");
    drop(bound);
    assert!(first.exists(), "the new process's socket stays");
    drop(next);
    assert!(!first.exists(), "removed with its socket");
    // A failed startup leaves nothing behind either.
    let missing = dir.join("no-such-dir").join("b.sock");
    assert!(super::bind_all(&global(&[&first, &missing]), false).is_err());
    assert!(!first.exists(), "removed when a later socket fails");
    let _ = std::fs::remove_dir(&dir);
}
