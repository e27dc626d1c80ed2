//! `show table`, `clear table`, `set table`: HAProxy's stick-table commands,
//! with its argument order, messages and output format
//! (`table_dump_head_to_buffer` / `table_dump_entry_to_buffer`).

use std::fmt::Write;
use std::sync::Arc;

use crate::config::ApiLevel as Level;
use crate::runtime::Runtime;
use crate::stick::{DataType, Entry, KeyBuf, StickTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    Show,
    Clear,
    Set,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "le" => Op::Le,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "gt" => Op::Gt,
            _ => return None,
        })
    }

    fn holds(self, v: i64, against: i64) -> bool {
        match self {
            Op::Eq => v == against,
            Op::Ne => v != against,
            Op::Le => v <= against,
            Op::Ge => v >= against,
            Op::Lt => v < against,
            Op::Gt => v > against,
        }
    }
}

/// `data.<type> <op> <value>`.
struct Filter {
    dt: DataType,
    op: Op,
    value: i64,
}

fn find<'r>(rt: &'r Runtime, name: &str) -> Option<&'r Arc<StickTable>> {
    rt.tables.iter().find(|t| t.def.name == name)
}

fn data_type(t: &StickTable, word: &str) -> Result<DataType, String> {
    let dt = word
        .strip_prefix("data.")
        .and_then(DataType::from_name)
        .ok_or("Unknown data type\n")?;
    if !t.def.stores.has(dt) && dt != DataType::ServerId {
        return Err("Data type not stored in this table\n".into());
    }
    Ok(dt)
}

fn int(s: Option<&String>) -> Option<i64> {
    s.filter(|s| !s.is_empty())?.parse().ok()
}

/// Runs a table command (`args` are the words after `show table` etc.);
/// `level` decides whether `show table NAME` lists entries (operator and
/// up, as HAProxy). Returns the reply.
pub fn run(rt: &Runtime, action: TableAction, args: &[String], level: Level, now: u64) -> String {
    match run_inner(rt, action, args, level, now) {
        Ok(s) | Err(s) => s,
    }
}

fn run_inner(
    rt: &Runtime,
    action: TableAction,
    args: &[String],
    level: Level,
    now: u64,
) -> Result<String, String> {
    let Some(name) = args.first().filter(|n| !n.is_empty()) else {
        if action != TableAction::Show {
            return Err(usage(action).into());
        }
        let mut out = String::new();
        for t in &rt.tables {
            t.purge(now);
            head(&mut out, t);
        }
        return Ok(out);
    };
    let t = find(rt, name).ok_or("No such table\n")?;
    // Expired entries leave before anyone looks (counts and lists exact).
    t.purge(now);
    match args.get(1).map(String::as_str) {
        Some("key") => by_key(t, action, &args[2..], level, now),
        Some(w) if w.starts_with("data.") => {
            if action == TableAction::Set {
                return Err(
                    "content-based lookup is only supported with the \"show\" and \"clear\" actions"
                        .into(),
                );
            }
            let dt = data_type(t, w)?;
            let op = args.get(2).and_then(|o| Op::parse(o)).ok_or(
                "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n",
            )?;
            let value =
                int(args.get(3)).ok_or("Require a valid integer value to compare against\n")?;
            let f = Filter { dt, op, value };
            Ok(dump_or_clear(t, action, Some(&f), level, now))
        }
        Some(_) => Err(usage(action).into()),
        None if action == TableAction::Set => Err(usage(action).into()),
        None => Ok(dump_or_clear(t, action, None, level, now)),
    }
}

fn usage(action: TableAction) -> &'static str {
    match action {
        TableAction::Show => {
            "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n"
        }
        TableAction::Clear => {
            "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"
        }
        TableAction::Set => {
            "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n"
        }
    }
}

/// `... key KEY [data.TYPE VALUE]*`.
fn by_key(
    t: &StickTable,
    action: TableAction,
    rest: &[String],
    level: Level,
    now: u64,
) -> Result<String, String> {
    let text = rest
        .first()
        .filter(|k| !k.is_empty())
        .ok_or("Key value expected\n")?;
    let key: KeyBuf = t.def.key.parse(text).ok_or("Invalid key\n")?;
    if level < Level::Operator {
        return Err(super::exec::PERMISSION_DENIED.into());
    }
    match action {
        TableAction::Show => {
            let mut out = String::new();
            if let Some(e) = t.lookup(&key, now) {
                head(&mut out, t);
                entry(&mut out, t, &e, now);
            }
            Ok(out)
        }
        TableAction::Clear => match t.remove(&key) {
            Ok(_) => Ok(String::new()),
            Err(_) => Err("Entry currently in use, cannot remove\n".into()),
        },
        TableAction::Set => {
            let mut values = Vec::new();
            let mut i = 1;
            while let Some(w) = rest.get(i) {
                if !w.starts_with("data.") {
                    return Err("\"data.<type>\" followed by a value expected\n".into());
                }
                let dt = data_type(t, w)?;
                let v = int(rest.get(i + 1)).ok_or("Require a valid integer value to store\n")?;
                values.push((dt, v));
                i += 2;
            }
            if !t.set(&key, &values, now) {
                return Err("Unable to allocate a new entry\n".into());
            }
            Ok(String::new())
        }
    }
}

/// Lists (show) or removes (clear) the entries the filter selects; clear
/// keeps those in use, silently, as HAProxy.
fn dump_or_clear(
    t: &StickTable,
    action: TableAction,
    f: Option<&Filter>,
    level: Level,
    now: u64,
) -> String {
    let keep = |e: &Entry| match f {
        None => true,
        Some(f) => {
            f.op.holds(e.get(&t.def.stores, f.dt, now).unwrap_or(0), f.value)
        }
    };
    let mut out = String::new();
    if action == TableAction::Clear {
        t.clear(|e| keep(e));
        return out;
    }
    head(&mut out, t);
    if level < Level::Operator {
        return out;
    }
    let mut list: Vec<_> = t.entries(now).into_iter().filter(|e| keep(e)).collect();
    // HAProxy walks its key tree: entries in key order.
    list.sort_by(|a, b| a.key().cmp(b.key()));
    for e in &list {
        entry(&mut out, t, e, now);
    }
    out
}

fn head(out: &mut String, t: &StickTable) {
    let _ = writeln!(
        out,
        "# table: {}, type: {}, size:{}, used:{}",
        t.def.name,
        t.def.key.name(),
        t.def.size,
        t.used()
    );
}

fn entry(out: &mut String, t: &StickTable, e: &Arc<Entry>, now: u64) {
    let exp = e.expire();
    let remain = if exp == 0 { 0 } else { exp.saturating_sub(now) };
    let _ = write!(
        out,
        "{:p}: key={} use={} exp={}",
        Arc::as_ptr(e),
        t.def.key.display(e.key()),
        e.refs(),
        remain
    );
    let st = &t.def.stores;
    for dt in st.iter() {
        let v = e.get(st, dt, now).unwrap_or(0);
        if dt.is_rate() {
            let _ = write!(out, " {}({})={v}", dt.name(), st.period(dt));
        } else {
            let _ = write!(out, " {}={v}", dt.name());
        }
    }
    out.push('\n');
}
