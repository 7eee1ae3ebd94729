//! Sign-in throttling: after too many failures for one username or one client address
//! within a window, further attempts are refused until the oldest failure ages out.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failure times per key (`user:NAME`, `addr:IP`). In memory: a restart forgets them,
/// which only ever helps a legitimate operator.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SignInThrottle {
    /// `Some(wait)` when any of the keys has used up its attempts.
    pub fn retry_after(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|key| {
                let times = failures.get_mut(key)?;
                forget_old(times, now);
                (times.len() >= MAX_FAILURES)
                    .then(|| WINDOW.saturating_sub(now.duration_since(times[0])))
            })
            .max()
    }

    pub fn record_failure(&self, keys: &[String], now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the map small: drop keys whose failures have all aged out.
        failures.retain(|_, times| {
            forget_old(times, now);
            !times.is_empty()
        });
        for key in keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
    }

    /// A successful sign-in clears the username's failures (not the address's).
    pub fn clear(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(user: &str, addr: &str) -> Vec<String> {
        vec![format!("user:{user}"), format!("addr:{addr}")]
    }

    #[test]
    fn five_failures_lock_the_user_and_the_address_for_the_window() {
        let throttle = SignInThrottle::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(
                throttle.retry_after(&keys("alice", "1.1.1.1"), t0),
                None,
                "{i}"
            );
            throttle.record_failure(&keys("alice", "1.1.1.1"), t0);
        }
        let later = t0 + Duration::from_secs(60);
        // The user from another address, and the address for another user, are refused.
        assert_eq!(
            throttle.retry_after(&keys("alice", "2.2.2.2"), later),
            Some(WINDOW - Duration::from_secs(60))
        );
        assert!(
            throttle
                .retry_after(&keys("bob", "1.1.1.1"), later)
                .is_some()
        );
        // Others are unaffected.
        assert_eq!(throttle.retry_after(&keys("bob", "2.2.2.2"), later), None);
        // The window passes.
        assert_eq!(
            throttle.retry_after(&keys("alice", "1.1.1.1"), t0 + WINDOW),
            None
        );
    }

    #[test]
    fn a_success_clears_the_username() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.record_failure(&["user:alice".to_owned()], now);
        }
        throttle.clear("user:alice");
        assert_eq!(throttle.retry_after(&["user:alice".to_owned()], now), None);
    }
}
