//! Splits one configuration line into words, as HAProxy's `parse_line()`.
//!
//! Rules (HAProxy's): words are separated by unquoted blanks; `#` outside
//! quotes starts a comment, even in the middle of a word; double quotes
//! group blanks and allow `\` escapes and `${VAR}` expansion; single quotes
//! group blanks literally (no escape, no expansion); quotes may appear in the
//! middle of a word (`a"b c"d` is one word `ab cd`). Outside quotes `\` escapes
//! too, and `${VAR}` also expands (HAProxy warns there; we simply expand).
//! Expansion never splits words: a value with blanks stays inside its word.
//! An unquoted word that expands to nothing disappears, as in a shell, so
//! `bind :80 ${OPTS}` with an empty `OPTS` is just `bind :80`.

/// Variable lookup: `None` = not set (then `${VAR-default}` uses its default).
pub(super) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Splits `line` into words, expanding escapes and `${VAR}` references.
///
/// Contract: a pure function of `(line, env)`; never panics on any input.
/// Errors (unterminated quote, bad `\x` escape, malformed `${...}`, escapes
/// producing invalid UTF-8) describe the problem without a location: the
/// caller knows the file and line.
pub(super) fn split(line: &str, env: &Env<'_>) -> Result<Vec<String>, String> {
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    // A quoted word exists even when empty (`""` is an empty argument).
    let mut quoted = false;
    let mut quote = Quote::None;
    let mut quote_col = 0;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (quote, c) {
            (Quote::Single, b'\'') | (Quote::Double, b'"') => quote = Quote::None,
            (Quote::Single, _) => cur.push(c),
            (_, b'\\') => i += escape(b, i, &mut cur)?,
            (_, b'$') => i += expand(b, i, env, &mut cur)?,
            (Quote::Double, _) => cur.push(c),
            (Quote::None, b'#') => break,
            (Quote::None, b'\'' | b'"') => {
                quote = if c == b'\'' {
                    Quote::Single
                } else {
                    Quote::Double
                };
                quote_col = i + 1;
                quoted = true;
            }
            (Quote::None, _) if is_blank(c) => {
                end_word(&mut words, &mut cur, &mut quoted)?;
            }
            (Quote::None, _) => cur.push(c),
        }
        i += 1;
    }
    match quote {
        Quote::None => {}
        Quote::Single => {
            return Err(format!(
                "unterminated single quote (opened at column {quote_col})"
            ));
        }
        Quote::Double => {
            return Err(format!(
                "unterminated double quote (opened at column {quote_col})"
            ));
        }
    }
    end_word(&mut words, &mut cur, &mut quoted)?;
    Ok(words)
}

/// HAProxy separates words with any `isspace()` byte.
fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// Closes the current word, if there is one, and resets the accumulator.
fn end_word(words: &mut Vec<String>, cur: &mut Vec<u8>, quoted: &mut bool) -> Result<(), String> {
    if !cur.is_empty() || *quoted {
        let bytes = std::mem::take(cur);
        let word = String::from_utf8(bytes)
            .map_err(|_| "'\\x' escapes produce an invalid UTF-8 sequence".to_string())?;
        words.push(word);
    }
    *quoted = false;
    Ok(())
}

/// Handles the backslash at `b[i]`; returns how many bytes after it were used.
///
/// Known escapes are HAProxy's; any other `\c` keeps the backslash and lets
/// `c` be processed normally (HAProxy: "other combinations are not escape
/// sequences"), so regexes like `\d` survive.
fn escape(b: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
    let simple = match b.get(i + 1) {
        Some(&c @ (b' ' | b'\\' | b'#' | b'\'' | b'"' | b'$')) => Some(c),
        Some(b't') => Some(b'\t'),
        Some(b'n') => Some(b'\n'),
        Some(b'r') => Some(b'\r'),
        Some(b'x') => {
            let hex = |k: usize| b.get(i + k).and_then(|&h| (h as char).to_digit(16));
            return match (hex(2), hex(3)) {
                (Some(hi), Some(lo)) => {
                    // Both digits are < 16, so the value fits a byte.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                    Ok(3)
                }
                _ => {
                    Err("invalid or incomplete '\\x' escape (expected two hex digits)".to_string())
                }
            };
        }
        _ => None,
    };
    match simple {
        Some(c) => {
            out.push(c);
            Ok(1)
        }
        None => {
            out.push(b'\\');
            Ok(0)
        }
    }
}

/// Handles the `$` at `b[i]`; returns how many bytes after it were used.
///
/// Only `${NAME}` and `${NAME-default}` expand (HAProxy's forms); a `$` not
/// followed by `{` is literal. NAME is letters, digits and `_`, optionally
/// led by `.` (HAProxy's `.FILE`, `.LINE`). The default is taken verbatim up
/// to the first `}` and applies only when the variable is unset.
fn expand(b: &[u8], i: usize, env: &Env<'_>, out: &mut Vec<u8>) -> Result<usize, String> {
    if b.get(i + 1) != Some(&b'{') {
        out.push(b'$');
        return Ok(0);
    }
    let start = i + 2;
    let mut end = start;
    if b.get(end) == Some(&b'.') {
        end += 1;
    }
    while b
        .get(end)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        end += 1;
    }
    // The scanned bytes are ASCII, so this slice is valid UTF-8.
    let name = std::str::from_utf8(b.get(start..end).unwrap_or_default()).unwrap_or_default();
    if name.is_empty() || name == "." {
        return Err("missing or invalid variable name after '${'".to_string());
    }
    let (default, close) = match b.get(end) {
        Some(b'}') => (None, end),
        Some(b'-') => {
            let rest = b.get(end + 1..).unwrap_or_default();
            let Some(len) = rest.iter().position(|&c| c == b'}') else {
                return Err(format!("missing closing '}}' in '${{{name}-...'"));
            };
            (rest.get(..len), end + 1 + len)
        }
        Some(_) => {
            let rest = String::from_utf8_lossy(b.get(end..).unwrap_or_default());
            let shown: String = rest.chars().next().into_iter().collect();
            return Err(format!(
                "invalid character '{shown}' in variable name '${{{name}...'"
            ));
        }
        None => return Err(format!("missing closing '}}' in '${{{name}'")),
    };
    match (env(name), default) {
        (Some(value), _) => out.extend_from_slice(value.as_bytes()),
        (None, Some(default)) => out.extend_from_slice(default),
        (None, None) => {}
    }
    Ok(close - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".into()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a b".into()),
            "_X1" => Some("x1".into()),
            ".LINE" => Some("7".into()),
            _ => None,
        }
    }

    fn words(line: &str) -> Result<Vec<String>, String> {
        split(line, &env)
    }

    fn check(cases: &[(&str, &[&str])]) {
        for (line, want) in cases {
            let got = words(line).unwrap_or_else(|e| panic!("line {line:?}: {e}"));
            assert_eq!(got, *want, "line {line:?}");
        }
    }

    #[test]
    fn splits_words() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   \t  ", &[]),
            ("global", &["global"]),
            (
                "  bind  :80\taccept-proxy  ",
                &["bind", ":80", "accept-proxy"],
            ),
            ("a\rb\x0bc\x0cd", &["a", "b", "c", "d"]),
            ("# a comment", &[]),
            ("   # indented comment", &[]),
            ("mode tcp # trailing", &["mode", "tcp"]),
            ("mode tcp#glued", &["mode", "tcp"]),
            ("héllo wörld", &["héllo", "wörld"]),
            ("a\0b", &["a\0b"]),
        ];
        check(cases);
    }

    #[test]
    fn quotes() {
        let cases: &[(&str, &[&str])] = &[
            (r#"a "b c" d"#, &["a", "b c", "d"]),
            ("a 'b c' d", &["a", "b c", "d"]),
            (r#"a"b c"d"#, &["ab cd"]),
            (r#"'x'"y"z"#, &["xyz"]),
            (r#""""#, &[""]),
            ("''", &[""]),
            (r#"a "" b"#, &["a", "", "b"]),
            (r##""# not a comment""##, &["# not a comment"]),
            ("'# not a comment'", &["# not a comment"]),
            (r#"'single "keeps" double'"#, &["single \"keeps\" double"]),
            (r#""double 'keeps' single""#, &["double 'keeps' single"]),
            (r"'no \t escape'", &["no \\t escape"]),
            ("'${PORT}'", &["${PORT}"]),
            (r#""esc \" quote""#, &["esc \" quote"]),
            (r#""tab\there""#, &["tab\there"]),
            (r#""\x41\x42""#, &["AB"]),
        ];
        check(cases);
    }

    #[test]
    fn escapes_outside_quotes() {
        let cases: &[(&str, &[&str])] = &[
            (r"a\ b", &["a b"]),
            (r"a\#b", &["a#b"]),
            (r"a\\b", &["a\\b"]),
            (r#"a\"b"#, &["a\"b"]),
            (r"a\'b", &["a'b"]),
            (r"\t\n\r", &["\t\n\r"]),
            (r"\x41\x7a", &["Az"]),
            (r"\xc3\xa9", &["é"]),
            (r"\${PORT}", &["${PORT}"]),
            (r"^\d+$", &["^\\d+$"]),
            (r"end\", &["end\\"]),
            (r"\ ", &[" "]),
        ];
        check(cases);
    }

    #[test]
    fn env_expansion() {
        let cases: &[(&str, &[&str])] = &[
            ("bind :${PORT}", &["bind", ":8080"]),
            (r#"bind ":${PORT}""#, &["bind", ":8080"]),
            ("x ${UNSET}", &["x"]),
            (r#"x "${UNSET}""#, &["x", ""]),
            ("x ${EMPTY} y", &["x", "y"]),
            ("x a${UNSET}b", &["x", "ab"]),
            ("x ${UNSET-dflt}", &["x", "dflt"]),
            (r#"x "${UNSET-two words}""#, &["x", "two words"]),
            ("x ${PORT-9}", &["x", "8080"]),
            ("x ${EMPTY-9}", &["x"]),
            ("x ${UNSET-}", &["x"]),
            ("x ${SPACED}", &["x", "a b"]),
            ("x ${_X1}", &["x", "x1"]),
            ("x ${.LINE}", &["x", "7"]),
            ("x $PORT", &["x", "$PORT"]),
            ("x $", &["x", "$"]),
            (r#"x "\${PORT}""#, &["x", "${PORT}"]),
            ("x ${UNSET-a#b}", &["x", "a#b"]),
        ];
        check(cases);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            (r#"a "b"#, "unterminated double quote (opened at column 3)"),
            ("a 'b", "unterminated single quote (opened at column 3)"),
            (r#"""#, "unterminated double quote"),
            (r#""\""#, "unterminated double quote"),
            ("x ${PORT", "missing closing '}' in '${PORT'"),
            ("x ${PORT-abc", "missing closing '}'"),
            ("x ${}", "missing or invalid variable name"),
            ("x ${.}", "missing or invalid variable name"),
            ("x ${-a}", "missing or invalid variable name"),
            ("x ${A B}", "invalid character ' '"),
            ("x ${A:-b}", "invalid character ':'"),
            ("x ${A[*]}", "invalid character '['"),
            ("x ${Aé}", "invalid character 'é'"),
            (r"\x4", "invalid or incomplete '\\x' escape"),
            (r"\xzz", "invalid or incomplete '\\x' escape"),
            (r"\x", "invalid or incomplete '\\x' escape"),
            (r"\xff", "invalid UTF-8"),
            (r"\xc3", "invalid UTF-8"),
        ];
        for (line, want) in cases {
            let err = words(line).expect_err(line);
            assert!(err.contains(want), "line {line:?}: {err:?} lacks {want:?}");
        }
    }
}
