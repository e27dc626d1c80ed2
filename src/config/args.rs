//! Small argument checks shared by every keyword parser.
//!
//! Error wording follows HAProxy's where it has one (`'maxconn' expects an
//! integer argument`, `cannot handle unexpected argument`).

/// Word `i` of a line, if present and non-empty: like HAProxy, an empty
/// (quoted) argument counts as missing.
pub(super) fn arg(words: &[String], i: usize) -> Option<&str> {
    words.get(i).map(String::as_str).filter(|w| !w.is_empty())
}

/// Fails when the line has words beyond the first `n` (`kw` names the
/// directive in the message).
pub(super) fn no_extra(words: &[String], n: usize, kw: &str) -> Result<(), String> {
    match words.get(n) {
        Some(extra) => Err(format!(
            "'{kw}' cannot handle unexpected argument '{extra}'"
        )),
        None => Ok(()),
    }
}

/// Parses a decimal integer in `min..=max` for keyword `kw`.
///
/// Only ASCII digits are accepted (no sign, no hex, no suffix): HAProxy's
/// `atol()` would silently read `10k` as 10, which hides mistakes.
pub(super) fn int_in(kw: &str, v: Option<&str>, min: u64, max: u64) -> Result<u64, String> {
    let v = v.ok_or_else(|| format!("'{kw}' expects an integer argument"))?;
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{kw}' expects an integer argument, got '{v}'"));
    }
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("'{kw}' must be between {min} and {max} (got {v})")),
    }
}

/// Like `int_in` for a `u32` over its whole range.
pub(super) fn u32_arg(kw: &str, v: Option<&str>) -> Result<u32, String> {
    let n = int_in(kw, v, 0, u64::from(u32::MAX))?;
    u32::try_from(n).map_err(|_| format!("'{kw}' must be between 0 and {} (got {n})", u32::MAX))
}

/// Parses a signed decimal integer (`-2`, `3`) for keyword `kw`.
pub(super) fn i32_arg(kw: &str, v: &str) -> Result<i32, String> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{kw}' expects an integer argument, got '{v}'"));
    }
    v.parse().map_err(|_| {
        format!(
            "'{kw}' must be between {} and {} (got {v})",
            i32::MIN,
            i32::MAX
        )
    })
}

/// Checks a proxy or server name with HAProxy's `invalid_char()` rule:
/// letters, digits, `-`, `_`, `.` and `:` only. `what` is e.g. `'frontend'
/// name`.
pub(super) fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    match name.chars().find(|&c| !ok(c)) {
        Some(c) => Err(format!(
            "character '{}' is not permitted in {what} '{name}'",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        let ok: &[(&str, u64, u64, u64)] =
            &[("0", 0, 10, 0), ("10", 0, 10, 10), ("0010", 1, 10, 10)];
        for &(v, min, max, want) in ok {
            assert_eq!(int_in("k", Some(v), min, max), Ok(want), "{v}");
        }
        let bad: &[(Option<&str>, &str)] = &[
            (None, "'k' expects an integer argument"),
            (Some("x"), "expects an integer argument, got 'x'"),
            (Some("-1"), "expects an integer argument, got '-1'"),
            (Some("1k"), "got '1k'"),
            (Some("11"), "'k' must be between 0 and 10 (got 11)"),
            (Some("99999999999999999999999"), "must be between"),
        ];
        for (v, want) in bad {
            let err = int_in("k", *v, 0, 10).expect_err("must fail");
            assert!(err.contains(want), "{v:?}: {err}");
        }
        assert_eq!(u32_arg("k", Some("4294967295")), Ok(u32::MAX));
        assert!(u32_arg("k", Some("4294967296")).is_err());
        assert_eq!(i32_arg("k", "-3"), Ok(-3));
        assert!(i32_arg("k", "-").is_err());
        assert!(i32_arg("k", "2147483648").is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("'frontend' name", "fe-1_a.b:c").is_ok());
        let err = check_name("'frontend' name", "fe/1").expect_err("slash");
        assert_eq!(
            err,
            "character '/' is not permitted in 'frontend' name 'fe/1'"
        );
    }
}
