//! Sign-in throttling: after too many failures within a window for one username from
//! one client address, for one address, or for one username from everywhere, further
//! attempts are refused until the oldest failure ages out. A user whose name is guessed
//! at from one address can still sign in from another.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Failures of one username from one address in a window.
pub const MAX_FAILURES: usize = 5;
/// Failures from one address in a window, whatever the names.
pub const MAX_FAILURES_PER_ADDRESS: usize = 10;
/// Failures of one username from every address in a window: guessing spread over many
/// addresses is slowed, and the owner still has room from their own.
pub const MAX_FAILURES_PER_USER: usize = 50;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// What an attempt is counted against, with the most failures it may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub key: String,
    pub limit: usize,
}

/// The keys of a sign-in as `username` from `address`: the username there, the address,
/// and the username everywhere.
pub fn sign_in_keys(username: &str, address: &str) -> [ThrottleKey; 3] {
    [
        ThrottleKey { key: format!("user-at:{username}@{address}"), limit: MAX_FAILURES },
        ThrottleKey { key: format!("addr:{address}"), limit: MAX_FAILURES_PER_ADDRESS },
        ThrottleKey { key: format!("user:{username}"), limit: MAX_FAILURES_PER_USER },
    ]
}

/// Attempt times per key (see [`sign_in_keys`]), and how many password checks may run
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
    pub fn reserve(&self, keys: &[ThrottleKey], now: Instant) -> Result<Attempt, Refused> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|ThrottleKey { key, limit }| {
                let times = attempts.get_mut(key)?;
                forget_old(times, now);
                // Of the failures at the limit, the oldest that must age out first.
                (times.len() >= *limit).then(|| {
                    let oldest = times[times.len() - limit];
                    WINDOW.saturating_sub(now.duration_since(oldest))
                })
            })
            .max();
        if let Some(wait) = wait {
            return Err(Refused::Throttled(wait));
        }
        let verifying =
            Arc::clone(&self.verifications).try_acquire_owned().map_err(|_| Refused::Busy)?;
        // Keep the map small: drop keys whose attempts have all aged out.
        attempts.retain(|_, times| {
            forget_old(times, now);
            !times.is_empty()
        });
        for ThrottleKey { key, .. } in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Attempt { at: now, _verifying: verifying })
    }

    /// The attempt's password was right: the username's failures from this address are
    /// cleared, and the attempt no longer counts against the other keys.
    pub fn succeeded(&self, attempt: Attempt, keys: &[ThrottleKey]) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = keys.first() {
            attempts.remove(&first.key);
        }
        for ThrottleKey { key, .. } in keys {
            if let Some(times) = attempts.get_mut(key)
                && let Some(position) = times.iter().rposition(|t| *t == attempt.at)
            {
                times.remove(position);
            }
        }
    }
}

fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(user: &str, addr: &str) -> [ThrottleKey; 3] {
        sign_in_keys(user, addr)
    }

    #[test]
    fn five_failures_lock_the_user_at_that_address_only() {
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
        assert_eq!(
            throttle.reserve(&keys("alice", "1.1.1.1"), later).err(),
            Some(Refused::Throttled(WINDOW - Duration::from_secs(60)))
        );
        // The owner from elsewhere, and another user from that address, may still try.
        assert!(throttle.reserve(&keys("alice", "2.2.2.2"), later).is_ok());
        assert!(throttle.reserve(&keys("bob", "1.1.1.1"), later).is_ok());
        // The window passes.
        assert!(throttle.reserve(&keys("alice", "1.1.1.1"), t0 + WINDOW).is_ok());
    }

    #[test]
    fn an_address_trying_many_names_and_a_name_tried_from_many_addresses_are_slowed() {
        let throttle = SignInThrottle::with_verifications(64);
        let now = Instant::now();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            drop(throttle.reserve(&keys(&format!("user{i}"), "6.6.6.6"), now).unwrap());
        }
        assert!(matches!(
            throttle.reserve(&keys("someone-else", "6.6.6.6"), now),
            Err(Refused::Throttled(_))
        ));
        for i in 0..MAX_FAILURES_PER_USER {
            drop(throttle.reserve(&keys("carol", &format!("10.0.0.{i}")), now).unwrap());
        }
        assert!(matches!(
            throttle.reserve(&keys("carol", "10.0.1.1"), now),
            Err(Refused::Throttled(_))
        ));
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
        assert_eq!(throttle.reserve(&keys("c", "3"), now).err(), Some(Refused::Busy));
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
        throttle.succeeded(attempt, &keys);
        // The user at this address starts again: five more; the address keeps its four
        // failures, so it is at nine, and one more name may try once.
        for _ in 0..MAX_FAILURES {
            drop(throttle.reserve(&keys, now).unwrap());
        }
        assert!(throttle.reserve(&sign_in_keys("bob", "1.1.1.1"), now).is_ok());
        assert!(
            throttle.reserve(&sign_in_keys("bob", "1.1.1.1"), now).is_err(),
            "the address is at its limit"
        );
    }
}
