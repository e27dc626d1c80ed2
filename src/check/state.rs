//! The health-check state machine as pure functions: HAProxy's health
//! counter (`rise`/`fall`), which interval applies, how the first checks are
//! spread, what a check result is called, and the status text `show stat`
//! prints. No I/O, no clock: callers pass the time.

use std::time::Duration;

use crate::backend::Admin;
use crate::config::CheckSettings;

/// HAProxy's check health counter (`struct check.health`).
///
/// `health` runs from 0 to `rise + fall - 1`. The server is up while
/// `health >= rise`. A failure decrements it, and falling below `rise`
/// drops it to 0 (down); a success increments it, and reaching `rise`
/// lifts it to the top (fully up). So from fully up it takes `fall`
/// consecutive failures to go down, and from down `rise` consecutive
/// successes to go up. Kept in `u64` so that `rise + fall` never overflows
/// (both may be up to `u32::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    health: u64,
    rise: u64,
    fall: u64,
}

/// An up/down transition caused by a check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    WentUp,
    WentDown,
}

/// What recording one result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The failure counts in `chkfail` (HAProxy counts failed checks only
    /// while health is above 0, i.e. not while already fully down).
    pub counted_failure: bool,
    pub transition: Option<Transition>,
}

impl Health {
    /// HAProxy's starting point for a checked server (`health = rise`, "up,
    /// but will fall down at first failure"): up, shown as `UP 1/FALL`, and
    /// down at the first failed check. Also where a server leaving
    /// maintenance restarts.
    pub fn starting(rise: u32, fall: u32) -> Health {
        let (rise, fall) = (u64::from(rise.max(1)), u64::from(fall.max(1)));
        Health {
            health: rise,
            rise,
            fall,
        }
    }

    /// Fully down (`health = 0`), as a server entering maintenance is.
    pub fn down(rise: u32, fall: u32) -> Health {
        Health {
            health: 0,
            ..Health::starting(rise, fall)
        }
    }

    pub fn value(&self) -> u64 {
        self.health
    }

    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    fn top(&self) -> u64 {
        self.rise + self.fall - 1
    }

    pub fn is_fully_up(&self) -> bool {
        self.health == self.top()
    }

    pub fn is_fully_down(&self) -> bool {
        self.health == 0
    }

    /// Records one check result (HAProxy's `set_server_check_status`).
    pub fn record(&mut self, passed: bool) -> Recorded {
        let was_up = self.is_up();
        let mut counted_failure = false;
        if passed {
            if self.health < self.top() {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.top();
                }
            }
        } else if self.health > 0 {
            counted_failure = true;
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        let transition = match (was_up, self.is_up()) {
            (false, true) => Some(Transition::WentUp),
            (true, false) => Some(Transition::WentDown),
            _ => None,
        };
        Recorded {
            counted_failure,
            transition,
        }
    }

    /// Delay before the next check (HAProxy's `srv_getinter`): `inter` when
    /// fully up, `downinter` (else `inter`) when fully down, `fastinter`
    /// (else `inter`) while transitioning.
    pub fn interval(&self, s: &CheckSettings) -> Duration {
        if self.is_fully_up() {
            s.inter
        } else if self.is_fully_down() {
            s.downinter.unwrap_or(s.inter)
        } else {
            s.fastinter.unwrap_or(s.inter)
        }
    }

    /// The `N/M` of a transitional status: `UP N/FALL` counts the failures
    /// still needed to go down, `DOWN N/RISE` the successes already seen.
    /// `None` when fully up or fully down.
    pub fn progress(&self) -> Option<(u64, u64)> {
        if self.is_fully_up() || self.is_fully_down() {
            None
        } else if self.is_up() {
            Some((self.health - self.rise + 1, self.fall))
        } else {
            Some((self.health, self.rise))
        }
    }
}

/// The server status `show stat` prints (HAProxy's `srv_hlt_st`): `MAINT`,
/// `DRAIN`, `UP`, `UP 1/3`, `DOWN`, `DOWN 1/2`, `no check`.
///
/// `checked`: checks are configured and enabled (`disable health` makes a
/// server "unchecked": `no check` while up, `DOWN` while down). `health`
/// matters only when checked; `up` is the operational state.
pub fn status_text(admin: Admin, checked: bool, health: Option<Health>, up: bool) -> String {
    if admin == Admin::Maint {
        return "MAINT".to_string();
    }
    let progress = health.filter(|_| checked).and_then(|h| h.progress());
    let drain = admin == Admin::Drain;
    match (up, progress) {
        (true, Some((n, m))) => format!("{} {n}/{m}", if drain { "DRAIN" } else { "UP" }),
        (true, None) if drain => "DRAIN".to_string(),
        (true, None) if checked => "UP".to_string(),
        (true, None) => "no check".to_string(),
        (false, Some((n, m))) => format!("DOWN {n}/{m}"),
        (false, None) => "DOWN".to_string(),
    }
}

/// HAProxy's `SRV_CHK_INTER_THRES`: intervals below this do not count when
/// choosing the spreading interval.
pub const SPREAD_THRESHOLD: Duration = Duration::from_secs(1);

/// Delays of the first checks of `n` servers whose current intervals are
/// `inters` (HAProxy's `start_checks`): spread evenly over the smallest
/// interval of at least one second, server i at `min * i / n`; all at once
/// when every interval is shorter than that.
pub fn first_check_delays(inters: &[Duration]) -> Vec<Duration> {
    let n = inters.len() as u32;
    let min = inters
        .iter()
        .copied()
        .filter(|d| *d >= SPREAD_THRESHOLD)
        .min()
        .unwrap_or(Duration::ZERO);
    (0..n).map(|i| min * i / n.max(1)).collect()
}

/// A check's outcome (HAProxy's `HCHK_STATUS_*` that ringproxy produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Before the first result.
    Ini,
    /// The socket could not be created, or an I/O error after connecting.
    SockErr,
    /// TCP connection established (the whole L4 check).
    L4Ok,
    /// The connection was not established in time.
    L4Tout,
    /// The connection was refused or failed.
    L4Con,
    /// No complete HTTP answer in time.
    L7Tout,
    /// Not a valid HTTP answer, or a body expectation failed.
    L7Rsp,
    /// Every `http-check expect` rule passed.
    L7Ok,
    /// A status expectation failed.
    L7Sts,
}

impl CheckStatus {
    /// `check_status` of `show stat`.
    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::Ini => "INI",
            CheckStatus::SockErr => "SOCKERR",
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7Sts => "L7STS",
        }
    }

    /// The `reason:` of HAProxy's log lines.
    pub fn description(self) -> &'static str {
        match self {
            CheckStatus::Ini => "Initializing",
            CheckStatus::SockErr => "Socket error",
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7Sts => "Layer7 wrong status",
        }
    }

    pub fn passed(self) -> bool {
        matches!(self, CheckStatus::L4Ok | CheckStatus::L7Ok)
    }

    /// Layer 5-7 data is available: HAProxy's log lines then show `code:`.
    pub fn shows_code(self) -> bool {
        matches!(self, CheckStatus::L7Ok | CheckStatus::L7Sts)
    }
}

/// One finished check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: CheckStatus,
    /// The HTTP status received, if any.
    pub code: Option<u16>,
    /// HAProxy's `info:` (e.g. `Connection refused`, the reason phrase of
    /// a wrong status); empty when HAProxy has none.
    pub desc: String,
    pub duration: Duration,
}
