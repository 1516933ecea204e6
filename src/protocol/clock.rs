//! Stamps in whole seconds, read against a host clock that may be set back.
//!
//! The two predicates here share one rule: a stamp after `now` (the clock went back since) is
//! never old and no interval from it is over. Callers that want a clock set back to count the
//! other way (a notice due again at once, a sent text dropped) say so where they call them.

/// Whether at least `interval` seconds passed from `stamp` to `now`; never when the clock was
/// set back before `stamp`. Once true at `now`, true at any later `now`.
pub(crate) fn interval_passed(stamp: u64, interval: u64, now: u64) -> bool {
    now.checked_sub(stamp).is_some_and(|age| age >= interval)
}

/// Whether `stamp` is more than `secs` seconds before `now`; never when the clock was set
/// back before `stamp`. Once true at `now`, true at any later `now`.
pub(crate) fn older_than(stamp: u64, secs: u64, now: u64) -> bool {
    now.checked_sub(stamp).is_some_and(|age| age > secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_a_clock_set_back() {
        assert!(!interval_passed(100, 30, 129));
        assert!(interval_passed(100, 30, 130));
        assert!(!older_than(100, 30, 130));
        assert!(older_than(100, 30, 131));
        // A stamp after `now`: never passed, never old, however far.
        assert!(!interval_passed(100, 0, 99));
        assert!(!older_than(u64::MAX, 0, 0));
        assert!(interval_passed(0, 0, 0) && !older_than(0, 0, 0));
        assert!(older_than(0, u64::MAX - 1, u64::MAX));
    }
}
