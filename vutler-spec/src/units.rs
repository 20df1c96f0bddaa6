//! Typed units, parsed once from the spec's text and rendered in each target's own syntax.
//!
//! - [`Cpus`]: `2`, `0.5`, `"1.25"`, kept as thousandths of a CPU.
//! - [`ByteSize`]: `512MB`, `4GB`, `1.5GiB`, `10m`. `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB` and
//!   `T`/`TB`/`TiB` are all powers of 1024, as Docker, Compose and Redis read them, so a figure
//!   means the same in every rendered file.
//! - [`Duration`]: `30s`, `1m30s`, `10m`, `2h`, `30d`, `500ms`: units in descending order, each once.
//! - [`Schedule`]: a five-field crontab schedule (`0 2 * * *`) or a `@daily`-style nickname.

use std::fmt;

/// CPU share, in thousandths of a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cpus(u32);

impl Cpus {
    /// From thousandths of a CPU.
    pub fn from_millis(millis: u32) -> Self {
        Self(millis)
    }

    /// Thousandths of a CPU.
    pub fn millis(self) -> u32 {
        self.0
    }

    /// Parses a CPU count written as a number.
    pub fn from_f64(value: f64) -> Result<Self, String> {
        let millis = value * 1000.0;
        if !value.is_finite() || value <= 0.0 || value > 1024.0 {
            return Err(format!("expected a CPU count above 0 (like 0.5 or 2), found {value}"));
        }
        if (millis - millis.round()).abs() > 1e-6 {
            return Err(format!("CPU counts have at most three decimals, found {value}"));
        }
        Ok(Self(millis.round() as u32))
    }

    /// Parses a CPU count written as a string (`"0.5"`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!("expected a CPU count like 0.5 or 2, found `{text}`"));
        }
        t.parse::<f64>()
            .map_err(|_| format!("expected a CPU count like 0.5 or 2, found `{text}`"))
            .and_then(Self::from_f64)
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl std::ops::Add for Cpus {
    type Output = Cpus;
    fn add(self, rhs: Cpus) -> Cpus {
        Cpus(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Mul<u32> for Cpus {
    type Output = Cpus;
    fn mul(self, rhs: u32) -> Cpus {
        Cpus(self.0.saturating_mul(rhs))
    }
}

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

const UNITS: [(&str, u32); 5] = [("T", 4), ("G", 3), ("M", 2), ("K", 1), ("", 0)];

impl ByteSize {
    /// From a number of bytes.
    pub fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `512MB`, `4GB`, `1.5GiB`, `10m`, `100` (bytes).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("expected a size like 512MB or 4GB, found `{text}`");
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let unit = unit.trim_start().to_ascii_uppercase();
        let prefix = unit
            .strip_suffix("IB")
            .or_else(|| unit.strip_suffix('B'))
            .unwrap_or(&unit);
        let power = UNITS
            .iter()
            .find(|(p, _)| *p == prefix)
            .map(|(_, n)| *n)
            .ok_or_else(bad)?;
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let too_large = || format!("`{text}` is too large");
        if frac.len() > 12 {
            return Err(format!("`{text}` has more decimals than a size needs"));
        }
        let scale = 1024u128.pow(power);
        let whole: u128 = whole.parse().map_err(|_| too_large())?;
        let frac_value: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let denom = 10u128.pow(u32::try_from(frac.len()).map_err(|_| bad())?);
        let frac_bytes = frac_value.checked_mul(scale).ok_or_else(too_large)?;
        if frac_bytes % denom != 0 {
            return Err(format!("`{text}` is not a whole number of bytes"));
        }
        let total = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_bytes / denom))
            .ok_or_else(too_large)?;
        if total == 0 {
            return Err(format!("a size must be above zero, found `{text}`"));
        }
        u64::try_from(total)
            .map(Self)
            .map_err(|_| format!("`{text}` is too large"))
    }

    /// The largest unit that divides the size: `(512, "M")`, `(4, "G")`, `(100, "")`.
    pub fn whole_unit(self) -> (u64, &'static str) {
        for (prefix, power) in UNITS {
            let scale = 1024u64.pow(power);
            if self.0 % scale == 0 {
                return (self.0 / scale, prefix);
            }
        }
        (self.0, "")
    }
}

impl ByteSize {
    /// The size as the spec writes it when that is short (`512MB`, `4GB`), else in the largest
    /// unit it reaches with one decimal (`10.8GB` rather than `11072MB`); `0B` for nothing. For
    /// people: it is rounded, so it does not parse back to the same size.
    pub fn readable(self) -> String {
        const UNITS: [(&str, u32); 4] = [("TB", 4), ("GB", 3), ("MB", 2), ("KB", 1)];
        let bytes = self.0;
        let (whole, _) = self.whole_unit();
        if bytes == 0 {
            return "0B".into();
        }
        if whole < 1024 {
            return self.to_string();
        }
        for (unit, power) in UNITS {
            let scale = 1024u64.pow(power);
            if bytes >= scale {
                // Tenths, rounded, in u128: no size overflows.
                let tenths = (u128::from(bytes) * 10 + u128::from(scale / 2)) / u128::from(scale);
                return format!("{}.{}{unit}", tenths / 10, tenths % 10);
            }
        }
        self.to_string()
    }
}

impl fmt::Display for ByteSize {
    /// `512MB`, `4GB`, `100B`: the canonical spec form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, prefix) = self.whole_unit();
        write!(f, "{n}{prefix}B")
    }
}

impl std::ops::Add for ByteSize {
    type Output = ByteSize;
    fn add(self, rhs: ByteSize) -> ByteSize {
        ByteSize(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Mul<u32> for ByteSize {
    type Output = ByteSize;
    fn mul(self, rhs: u32) -> ByteSize {
        ByteSize(self.0.saturating_mul(u64::from(rhs)))
    }
}

/// A span of time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

const DURATION_UNITS: [(&str, u64); 6] = [
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

impl Duration {
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds.
    pub fn millis(self) -> u64 {
        self.0
    }

    /// Whole seconds, rounded down.
    pub fn secs(self) -> u64 {
        self.0 / 1000
    }

    /// Parses `30s`, `1m30s`, `30d`, `500ms`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("expected a duration like 30s, 1m30s, 10m or 30d, found `{text}`");
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        let mut last_rank = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            // `ms` must be tried before `m`.
            let (rank, (unit, scale)) = DURATION_UNITS
                .iter()
                .enumerate()
                .filter(|(_, (u, _))| rest.starts_with(u))
                .max_by_key(|(_, (u, _))| u.len())
                .ok_or_else(bad)?;
            if last_rank != usize::MAX && rank <= last_rank {
                return Err(format!("`{text}`: write units from largest to smallest, each once"));
            }
            last_rank = rank;
            rest = &rest[unit.len()..];
            total = n
                .checked_mul(*scale)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
        if total == 0 {
            return Err(format!("a duration must be above zero, found `{text}`"));
        }
        Ok(Self(total))
    }

    /// Whole days, when the duration is a whole number of days.
    pub fn whole_days(self) -> Option<u64> {
        (self.0 % 86_400_000 == 0).then_some(self.0 / 86_400_000)
    }
}

impl std::ops::Mul<u64> for Duration {
    type Output = Duration;
    fn mul(self, rhs: u64) -> Duration {
        Duration(self.0.saturating_mul(rhs))
    }
}

impl fmt::Display for Duration {
    /// The canonical form, which Compose, Prometheus and Alertmanager all read: `1m30s`, `30d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        // Weeks are left out: `30d` reads better than `4w2d`.
        for (unit, scale) in DURATION_UNITS.iter().skip(1) {
            if rest >= *scale {
                write!(f, "{}{unit}", rest / scale)?;
                rest %= scale;
            }
        }
        Ok(())
    }
}

/// A crontab schedule, checked to be one that cron itself (not only a cron library) accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schedule(String);

impl Schedule {
    /// Parses five fields (minute, hour, day of month, month, day of week) or a nickname such as
    /// `@daily`. Extensions that crontab does not know (`L`, `W`, `#`, `?`, seconds) are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
        const NICKNAMES: [&str; 7] = [
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ];
        if t.starts_with('@') {
            return if NICKNAMES.contains(&t.as_str()) {
                Ok(Self(t))
            } else {
                Err(format!(
                    "unknown cron nickname `{text}`, expected one of {}",
                    NICKNAMES.join(", ")
                ))
            };
        }
        let fields = t.split(' ').count();
        if fields != 5 {
            return Err(format!(
                "expected five cron fields (minute hour day-of-month month day-of-week), found {fields} in `{text}`"
            ));
        }
        if let Some(c) = t
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '*' | ',' | '-' | '/')))
        {
            return Err(format!("`{c}` is not valid in a crontab schedule (`{text}`)"));
        }
        if t.chars().any(|c| c.is_ascii_alphabetic()) {
            // Only month and weekday names are letters in crontab; L and W are library extensions.
            let words_ok = t
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty())
                .all(|w| {
                    w.len() == 3
                        && [
                            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "sun",
                            "mon", "tue", "wed", "thu", "fri", "sat",
                        ]
                        .contains(&w.to_ascii_lowercase().as_str())
                });
            if !words_ok {
                return Err(format!(
                    "only month and weekday names may be written in letters (`{text}`)"
                ));
            }
        }
        cron_parser()
            .parse(&t)
            .map_err(|e| format!("invalid cron schedule `{text}`: {e}"))?;
        let schedule = Self(t);
        // Over two years from a fixed date, a leap day included.
        if schedule.most_runs_within(Duration::from_millis(366 * 86_400_000), 1) == 0 {
            return Err(format!("the cron schedule `{text}` never fires (no such date)"));
        }
        Ok(schedule)
    }

    /// The schedule as crontab reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The most runs that start within any span of `window` (both ends included), over a year
    /// of the schedule; at most `cap` (counting stops there). A schedule that runs more often
    /// than 100 000 times a year is only followed for its first 100 000 runs.
    pub fn most_runs_within(&self, window: Duration, cap: u64) -> u64 {
        // Following a schedule over a year costs hundreds of cron steps, and every environment
        // of a folder asks for the same few: the answers are kept (a bounded number of them).
        type Answers = std::collections::HashMap<(String, u64, u64), u64>;
        static ANSWERS: std::sync::OnceLock<std::sync::Mutex<Answers>> = std::sync::OnceLock::new();
        const KEPT: usize = 1024;
        let answers = ANSWERS.get_or_init(Default::default);
        let key = (self.0.clone(), window.millis(), cap);
        if let Some(most) = answers.lock().ok().and_then(|a| a.get(&key).copied()) {
            return most;
        }
        let most = self.count_most_runs_within(window, cap);
        if let Ok(mut answers) = answers.lock() {
            if answers.len() >= KEPT {
                answers.clear();
            }
            answers.insert(key, most);
        }
        most
    }

    fn count_most_runs_within(&self, window: Duration, cap: u64) -> u64 {
        use chrono::{TimeZone, Utc};
        let Ok(cron) = cron_parser().parse(&self.0) else {
            return 0;
        };
        // A fixed year (2027 starts on a Friday), so that the count is the same on every run.
        let start = Utc
            .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid date");
        let span = chrono::Duration::milliseconds(i64::try_from(window.millis()).unwrap_or(i64::MAX / 2));
        let end = start + chrono::Duration::days(366) + span;
        let mut runs = std::collections::VecDeque::new();
        let mut most = 0u64;
        for at in cron.iter_from(start, croner::Direction::Forward).take(100_000) {
            if at > end {
                break;
            }
            while runs.front().is_some_and(|first| at - *first > span) {
                runs.pop_front();
            }
            runs.push_back(at);
            most = most.max(runs.len() as u64);
            if most >= cap {
                return cap;
            }
        }
        most
    }
}

/// Crontab's five fields: no seconds, no year.
fn cron_parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus() {
        assert_eq!(Cpus::from_f64(0.5).map(Cpus::millis), Ok(500));
        assert_eq!(Cpus::parse("2").map(|c| c.to_string()), Ok("2".into()));
        assert_eq!(Cpus::parse("1.25").map(|c| c.to_string()), Ok("1.25".into()));
        assert!(Cpus::parse("two").is_err());
        assert!(Cpus::from_f64(0.0).is_err());
        assert!(Cpus::from_f64(0.0001).is_err());
        assert!(Cpus::parse("-1").is_err());
    }

    #[test]
    fn runs_within_a_window() {
        let day = Duration::from_millis(86_400_000);
        let runs = |s: &str, days: u64| {
            Schedule::parse(s)
                .unwrap_or_else(|e| panic!("{e}"))
                .most_runs_within(day * days, 100_000)
        };
        // Daily, three days: a backup now and the ones of the three days before.
        assert_eq!(runs("0 2 * * *", 3), 4);
        assert_eq!(runs("@daily", 1), 2);
        assert_eq!(runs("0 */6 * * *", 1), 5);
        // Twice on weekdays: Monday 02:00 to Friday 02:00.
        assert_eq!(runs("0 2,14 * * 1-5", 4), 9);
        // Monthly: February 2027 has 28 days.
        assert_eq!(runs("0 3 1 * *", 27), 1);
        assert_eq!(runs("0 3 1 * *", 28), 2);
        assert_eq!(runs("* * * * *", 30), 43_201);
        let minutely = Schedule::parse("* * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(minutely.most_runs_within(day * 30, 1000), 1000);
    }

    #[test]
    fn sizes_are_binary() {
        assert_eq!(ByteSize::parse("512MB").map(ByteSize::bytes), Ok(512 << 20));
        assert_eq!(ByteSize::parse("4GB").map(ByteSize::bytes), Ok(4 << 30));
        assert_eq!(ByteSize::parse("4GiB"), ByteSize::parse("4g"));
        assert_eq!(ByteSize::parse("1.5GB").map(|s| s.to_string()), Ok("1536MB".into()));
        assert_eq!(ByteSize::parse("10m").map(|s| s.whole_unit()), Ok((10, "M")));
        for bad in [
            "",
            "MB",
            "4 GBs",
            "1.2.3G",
            "0MB",
            "-1GB",
            "4XB",
            ".5G",
            "0.1B",
            "999999999999999999999999999999TB",
            "1.5000000000000000000000000000TB",
            "1.5000000000000000000000000000000B",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("1m30s").map(Duration::millis), Ok(90_000));
        assert_eq!(Duration::parse("500ms").map(Duration::millis), Ok(500));
        assert_eq!(Duration::parse("30d").map(|d| d.to_string()), Ok("30d".into()));
        assert_eq!(Duration::parse("90s").map(|d| d.to_string()), Ok("1m30s".into()));
        assert_eq!(Duration::parse("1w").map(|d| d.whole_days()), Ok(Some(7)));
        for bad in ["", "30", "s", "30sec", "1s1m", "1m1m", "0s", "1.5h", "-1s"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules() {
        assert!(Schedule::parse("0 2 * * *").is_ok());
        assert!(Schedule::parse("30  2 * * mon-fri").is_ok());
        assert!(Schedule::parse("@daily").is_ok());
        assert!(Schedule::parse("*/15 * * * *").is_ok());
        for bad in [
            "0 2 * *",
            "0 0 2 * * *",
            "61 2 * * *",
            "0 25 * * *",
            "0 2 L * *",
            "0 2 * * 1#2",
            "@often",
            "0 2 * * *; rm -rf /",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
