//! HAProxy time values (`timeout client 30s`, `inter 2s`).

use std::time::Duration;

/// Largest time value HAProxy accepts: 2^31-1 milliseconds (~24.8 days).
/// Timers beyond this overflow HAProxy's tick arithmetic; refusing them here
/// keeps configurations portable between the two and lets the runtime store
/// any timeout in 32 bits of milliseconds.
pub const MAX_MILLIS: u64 = i32::MAX as u64;

/// HAProxy time value: number followed by an optional unit us, ms, s, m, h, d
/// (no unit = ms). Errors say what is wrong.
///
/// Contract: only plain decimal digits and one of the listed units,
/// case-sensitive, nothing else (no sign, no spaces, no fractions), and at
/// most `MAX_MILLIS` milliseconds. Never panics.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("empty time value".to_string());
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    if number.is_empty() {
        return Err(format!(
            "invalid time value '{s}': expected a number followed by an optional unit \
             (us, ms, s, m, h, d)"
        ));
    }
    let micros_per_unit: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(format!(
                "invalid unit '{unit}' in time value '{s}' (expected us, ms, s, m, h or d)"
            ));
        }
    };
    let overflow = || {
        format!("timer overflow in time value '{s}' (maximum value is {MAX_MILLIS} ms, ~24.8 days)")
    };
    // A digit string too long for u64 is an overflow too, not a syntax error.
    let n: u64 = number.parse().map_err(|_| overflow())?;
    let micros = n.checked_mul(micros_per_unit).ok_or_else(overflow)?;
    if micros > MAX_MILLIS * 1_000 {
        return Err(overflow());
    }
    Ok(Duration::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_values() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("10", Duration::from_millis(10)),
            ("10ms", Duration::from_millis(10)),
            ("250us", Duration::from_micros(250)),
            ("5s", Duration::from_secs(5)),
            ("2m", Duration::from_secs(120)),
            ("3h", Duration::from_secs(3 * 3600)),
            ("1d", Duration::from_secs(86400)),
            ("24d", Duration::from_secs(24 * 86400)),
            ("007s", Duration::from_secs(7)),
            ("2147483647", Duration::from_millis(2_147_483_647)),
            ("2147483647ms", Duration::from_millis(2_147_483_647)),
            ("2147483647000us", Duration::from_millis(2_147_483_647)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn invalid_values() {
        let cases: &[(&str, &str)] = &[
            ("", "empty time value"),
            ("s", "invalid time value 's'"),
            ("-1s", "invalid time value '-1s'"),
            ("+1s", "invalid time value '+1s'"),
            (" 1s", "invalid time value"),
            ("1 s", "invalid unit ' s'"),
            ("1.5s", "invalid unit '.5s'"),
            ("10S", "invalid unit 'S'"),
            ("10sec", "invalid unit 'sec'"),
            ("10mn", "invalid unit 'mn'"),
            ("1w", "invalid unit 'w'"),
            ("10é", "invalid unit 'é'"),
            ("25d", "timer overflow"),
            ("2147483648", "timer overflow"),
            ("2147483648ms", "timer overflow"),
            ("2147483647001us", "timer overflow"),
            ("18446744073709551615", "timer overflow"),
            ("18446744073709551616", "timer overflow"),
            ("99999999999999999999999999d", "timer overflow"),
            ("9999999999999d", "timer overflow"),
        ];
        for (input, want) in cases {
            let err = parse_duration(input).expect_err(input);
            assert!(
                err.contains(want),
                "input {input:?}: {err:?} lacks {want:?}"
            );
        }
    }
}
