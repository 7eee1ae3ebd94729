//! Sign-in throttling: after too many failures for one username or one client address
//! within a window, further attempts are refused until the oldest failure ages out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Attempt times per key (`user:NAME`, `addr:IP`), and how many password checks may run
/// at once. In memory: a restart forgets them, which only ever helps a legitimate
/// operator.
///
/// An attempt is counted *before* its password is checked ([`SignInThrottle::reserve`]),
/// in the same lock as the check of the limit: counted after, forty parallel attempts
/// all passed the check before the first failure was recorded.
#[derive(Debug)]
pub struct SignInThrottle {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// One argon2 check holds a 7 MiB block for tens of milliseconds: beyond one per
    /// core they only queue memory. A sign-in that finds none free is answered at once.
    verifications: Arc<Semaphore>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_verifications(cores)
    }
}

/// An attempt counted by [`SignInThrottle::reserve`]; give it back with
/// [`SignInThrottle::succeeded`] when the password was right.
#[derive(Debug)]
pub struct Attempt {
    at: Instant,
    _verifying: OwnedSemaphorePermit,
}

/// Why [`SignInThrottle::reserve`] refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many attempts for a key in the window: retry after this long.
    Throttled(Duration),
    /// Every password check is busy: retry in a moment.
    Busy,
}

impl SignInThrottle {
    /// A throttle that runs at most `verifications` password checks at once.
    pub fn with_verifications(verifications: usize) -> Self {
        SignInThrottle {
            attempts: Mutex::default(),
            verifications: Arc::new(Semaphore::new(verifications.max(1))),
        }
    }

    /// Counts an attempt against every key, unless one of them has used up its attempts
    /// or every password check is busy. The check and the count are one step.
    pub fn reserve(&self, keys: &[String], now: Instant) -> Result<Attempt, Refused> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|key| {
                let times = attempts.get_mut(key)?;
                forget_old(times, now);
                (times.len() >= MAX_FAILURES)
                    .then(|| WINDOW.saturating_sub(now.duration_since(times[0])))
            })
            .max();
        if let Some(wait) = wait {
            return Err(Refused::Throttled(wait));
        }
        let verifying = Arc::clone(&self.verifications)
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        // Keep the map small: drop keys whose attempts have all aged out.
        attempts.retain(|_, times| {
            forget_old(times, now);
            !times.is_empty()
        });
        for key in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Attempt {
            at: now,
            _verifying: verifying,
        })
    }

    /// The attempt's password was right: the username's failures are cleared, and the
    /// attempt no longer counts against the other keys (the address).
    pub fn succeeded(&self, attempt: Attempt, keys: &[String], user_key: &str) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        attempts.remove(user_key);
        for key in keys {
            if let Some(times) = attempts.get_mut(key)
                && let Some(position) = times.iter().rposition(|t| *t == attempt.at)
            {
                times.remove(position);
            }
        }
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
    fn five_attempts_lock_the_user_and_the_address_for_the_window() {
        let throttle = SignInThrottle::with_verifications(64);
        let t0 = Instant::now();
        let mut held = Vec::new();
        for i in 0..MAX_FAILURES {
            held.push(
                throttle
                    .reserve(&keys("alice", "1.1.1.1"), t0)
                    .unwrap_or_else(|e| panic!("attempt {i}: {e:?}")),
            );
        }
        let later = t0 + Duration::from_secs(60);
        // The user from another address, and the address for another user, are refused.
        assert_eq!(
            throttle.reserve(&keys("alice", "2.2.2.2"), later).err(),
            Some(Refused::Throttled(WINDOW - Duration::from_secs(60)))
        );
        assert!(throttle.reserve(&keys("bob", "1.1.1.1"), later).is_err());
        // Others are unaffected.
        assert!(throttle.reserve(&keys("bob", "2.2.2.2"), later).is_ok());
        // The window passes.
        assert!(
            throttle
                .reserve(&keys("alice", "1.1.1.1"), t0 + WINDOW)
                .is_ok()
        );
    }

    #[test]
    fn attempts_count_while_their_passwords_are_checked() {
        // Every attempt still holds its check: none has failed yet, and the sixth is
        // refused all the same.
        let throttle = SignInThrottle::with_verifications(64);
        let now = Instant::now();
        let held: Vec<_> = (0..MAX_FAILURES)
            .map(|_| throttle.reserve(&keys("alice", "1.1.1.1"), now).unwrap())
            .collect();
        assert!(matches!(
            throttle.reserve(&keys("alice", "1.1.1.1"), now),
            Err(Refused::Throttled(_))
        ));
        drop(held);
    }

    #[test]
    fn checks_beyond_the_bound_are_refused_at_once() {
        let throttle = SignInThrottle::with_verifications(2);
        let now = Instant::now();
        let first = throttle.reserve(&keys("a", "1"), now).unwrap();
        let _second = throttle.reserve(&keys("b", "2"), now).unwrap();
        assert_eq!(
            throttle.reserve(&keys("c", "3"), now).err(),
            Some(Refused::Busy)
        );
        drop(first);
        assert!(throttle.reserve(&keys("c", "3"), now).is_ok());
    }

    #[test]
    fn a_success_clears_the_username_and_gives_the_address_its_attempt_back() {
        let throttle = SignInThrottle::with_verifications(64);
        let now = Instant::now();
        let keys = keys("alice", "1.1.1.1");
        for _ in 0..MAX_FAILURES - 1 {
            drop(throttle.reserve(&keys, now).unwrap());
        }
        let attempt = throttle.reserve(&keys, now).unwrap();
        throttle.succeeded(attempt, &keys, "user:alice");
        // The address has four attempts left counted, the user none: one more passes.
        assert!(throttle.reserve(&keys, now).is_ok());
        assert!(
            throttle.reserve(&keys, now).is_err(),
            "the address is at five"
        );
    }
}
