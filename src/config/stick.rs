//! `stick-table` lines, and the table names rules and fetches refer to.
//!
//! A table is named after the proxy that declares it. Rules may name a
//! table declared further down (`track-sc0 src table other`), so names are
//! numbered as they are met ([`TableRefs::id`]) and checked once the whole
//! file is read ([`TableRefs::finish`]): the rules keep plain indices into
//! `Config::tables`, with no name lookup on the data path.

use super::args::arg;
use super::time::parse_duration;
use super::{ConfigError, Loc};
use crate::stick::{DEFAULT_STRING_LEN, DataType, KeyType, MAX_KEY_LEN, Stores, TableDef};

/// Table names met while parsing, numbered in order of first mention.
#[derive(Debug, Default)]
pub struct TableRefs {
    names: Vec<String>,
    /// Where each name was first referred to (for "not found").
    first_use: Vec<Option<Loc>>,
    defs: Vec<Option<(TableDef, Loc)>>,
    /// The proxy whose line is being parsed: its table is the default one.
    pub current: String,
    /// The line being parsed.
    pub loc: Option<Loc>,
}

impl TableRefs {
    fn slot(&mut self, name: &str) -> usize {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i;
        }
        self.names.push(name.to_string());
        self.first_use.push(None);
        self.defs.push(None);
        self.names.len() - 1
    }

    /// The index of table `name` (None: the current proxy's table).
    pub fn id(&mut self, name: Option<&str>) -> usize {
        let name = name.map_or_else(|| self.current.clone(), str::to_string);
        let i = self.slot(&name);
        if self.first_use[i].is_none() {
            self.first_use[i] = self.loc.clone();
        }
        i
    }

    fn declare(&mut self, def: TableDef, loc: &Loc) -> Result<(), String> {
        let i = self.slot(&def.name);
        if let Some((_, at)) = &self.defs[i] {
            return Err(format!(
                "stick-table name '{}' conflicts with the table declared at {at}",
                def.name
            ));
        }
        self.defs[i] = Some((def, loc.clone()));
        Ok(())
    }

    /// The tables in index order; a name used but never declared is an
    /// error at its first use.
    pub(super) fn finish(self, errors: &mut Vec<ConfigError>) -> Vec<TableDef> {
        let mut out = Vec::with_capacity(self.names.len());
        for ((name, def), used) in self.names.into_iter().zip(self.defs).zip(self.first_use) {
            match def {
                Some((d, _)) => out.push(d),
                None => {
                    errors.push(ConfigError {
                        loc: used,
                        msg: format!("stick-table '{name}' not found (no 'stick-table' in a proxy of that name)"),
                    });
                    out.push(TableDef {
                        name,
                        key: KeyType::Ip,
                        size: 0,
                        expire_ms: None,
                        stores: Stores::default(),
                    });
                }
            }
        }
        out
    }
}

/// HAProxy's size suffixes: `k`, `m`, `g` (powers of 1024).
fn size_arg(v: Option<&str>) -> Result<usize, String> {
    let v = v.ok_or("'size' expects a number of entries")?;
    let (digits, mult) = match v.char_indices().last() {
        Some((i, 'k' | 'K')) => (&v[..i], 1 << 10),
        Some((i, 'm' | 'M')) => (&v[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    let n: usize = digits
        .parse()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("'size' expects a number of entries, got '{v}'"))?;
    n.checked_mul(mult)
        .filter(|n| (1..=(1 << 30)).contains(n))
        .ok_or_else(|| format!("'size' must be between 1 and 1g (got '{v}')"))
}

/// `store a,b(P),...`: the data types and the periods of rates.
fn parse_store(list: &str, stores: &mut Stores) -> Result<(), String> {
    for item in list.split(',') {
        let (name, period) = match item.split_once('(') {
            Some((n, rest)) => {
                let p = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("missing ')' after '{item}' in 'store'"))?;
                (n, Some(p))
            }
            None => (item, None),
        };
        let dt = DataType::from_name(name).ok_or_else(|| {
            format!(
                "'store': unknown data type '{name}' (supported: {})",
                DataType::ALL.map(DataType::name).join(", ")
            )
        })?;
        if dt == DataType::ServerId {
            return Err("'store': 'server_id' is stored by 'stick' rules, not declared".into());
        }
        let ms = match (dt.is_rate(), period) {
            (true, Some(p)) => {
                let d = parse_duration(p).map_err(|e| format!("'store {name}': {e}"))?;
                u32::try_from(d.as_millis())
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| {
                        format!("'store {name}': the period must be between 1ms and 49 days")
                    })?
            }
            (true, None) => {
                return Err(format!(
                    "'store': data type '{name}' expects a period: '{name}(<period>)'"
                ));
            }
            (false, Some(_)) => {
                return Err(format!("'store': data type '{name}' takes no argument"));
            }
            (false, None) => 0,
        };
        stores.add(dt, ms);
    }
    Ok(())
}

/// `stick-table type T [len N] size N [expire T] [nopurge] [store ...]`
/// in the proxy `name`.
pub(super) fn stick_table(
    refs: &mut TableRefs,
    name: &str,
    loc: &Loc,
    words: &[String],
) -> Result<(), String> {
    let mut key = None;
    let mut size = None;
    let mut expire_ms = None;
    let mut stores = Stores::default();
    let mut len = None;
    let mut i = 1;
    while let Some(w) = arg(words, i) {
        let v = arg(words, i + 1);
        match w {
            "type" => {
                key = Some(match v {
                    Some("ip") => KeyType::Ip,
                    Some("ipv6") => KeyType::Ipv6,
                    Some("integer") => KeyType::Integer,
                    Some("string") => KeyType::String {
                        len: DEFAULT_STRING_LEN,
                    },
                    Some("binary") => {
                        return Err(
                            "'stick-table': type 'binary' is not supported (use 'string')".into(),
                        );
                    }
                    other => {
                        return Err(format!(
                            "'stick-table': 'type' expects ip, ipv6, integer or string, got '{}'",
                            other.unwrap_or_default()
                        ));
                    }
                });
                i += 2;
            }
            "len" => {
                let n: usize = v
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=MAX_KEY_LEN).contains(n))
                    .ok_or_else(|| {
                        format!("'stick-table': 'len' expects a length between 1 and {MAX_KEY_LEN}")
                    })?;
                len = Some(n);
                i += 2;
            }
            "size" => {
                size = Some(size_arg(v).map_err(|e| format!("'stick-table': {e}"))?);
                i += 2;
            }
            "expire" => {
                let d = parse_duration(v.ok_or("'stick-table': 'expire' expects a delay")?)
                    .map_err(|e| format!("'stick-table': 'expire': {e}"))?;
                expire_ms = Some(
                    u64::try_from(d.as_millis())
                        .ok()
                        .filter(|ms| *ms <= i32::MAX as u64)
                        .ok_or("'stick-table': 'expire' is too large (at most 24 days)")?,
                );
                i += 2;
            }
            "nopurge" => i += 1,
            "store" => {
                parse_store(
                    v.ok_or("'stick-table': 'store' expects a list of data types")?,
                    &mut stores,
                )
                .map_err(|e| format!("'stick-table': {e}"))?;
                i += 2;
            }
            "peers" | "srvkey" | "write-to" | "recv-only" => {
                return Err(format!(
                    "'stick-table': '{w}' is not supported (tables are shared by every thread of one process; there are no peers)"
                ));
            }
            other => {
                return Err(format!(
                    "'stick-table': unknown argument '{other}' (expects type, len, size, expire, nopurge or store)"
                ));
            }
        }
    }
    let mut key = key.ok_or("'stick-table': missing 'type'")?;
    match (&mut key, len) {
        (KeyType::String { len: l }, Some(n)) => *l = n,
        (_, Some(_)) => return Err("'stick-table': 'len' only applies to 'type string'".into()),
        _ => {}
    }
    let size = size.ok_or("'stick-table': missing 'size'")?;
    refs.declare(
        TableDef {
            name: name.to_string(),
            key,
            size,
            expire_ms,
            stores,
        },
        loc,
    )
}
