//! How many requests the sender keeps in flight: additive increase, multiplicative decrease.
//!
//! The bound starts at the configured maximum. Every answer that is not a throttle (anything
//! but 429 or 503) raises it by `1 / bound`, about one more request per round trip, up to the
//! maximum; a throttle halves it (not below 1) and pauses every new request for the
//! gateway's `Retry-After` or, without one, a pause that doubles with each throttle in a row
//! (from 50 ms up to 2 s). Only a request sent after the last cut can cut again, so a burst of
//! throttles from requests sent together halves the bound once.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// First pause after a throttle without `Retry-After`.
const PAUSE_FIRST: Duration = Duration::from_millis(50);
/// Longest pause after a throttle without `Retry-After`.
const PAUSE_MAX: Duration = Duration::from_secs(2);
/// Longest `Retry-After` honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    /// The bound now, between 1 and the maximum.
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    /// When the bound was last cut.
    last_cut: Option<Instant>,
    /// The next pause without `Retry-After`.
    pause: Duration,
}

/// The shared in-flight bound of one send.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    state: Mutex<State>,
    changed: Notify,
}

/// Leave to send one request; give it back with [`Permit::answered`] or
/// [`Permit::throttled`] (dropping it counts as answered).
pub struct Permit<'a> {
    limiter: &'a Limiter,
    sent_at: Instant,
    done: bool,
}

impl Limiter {
    pub fn new(max: usize) -> Limiter {
        Limiter {
            max: max.max(1),
            state: Mutex::new(State {
                limit: max.max(1) as f64,
                in_flight: 0,
                paused_until: None,
                last_cut: None,
                pause: PAUSE_FIRST,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bound now, rounded down.
    pub fn limit(&self) -> usize {
        self.lock().limit as usize
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Waits until a request may go: fewer in flight than the bound, and no pause.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before the state is read, so no change in between is missed.
            let changed = self.changed.notified();
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => Some(until - now),
                    _ => {
                        if state.in_flight < (state.limit as usize).max(1) {
                            state.in_flight += 1;
                            return Permit {
                                limiter: self,
                                sent_at: now,
                                done: false,
                            };
                        }
                        None
                    }
                }
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => changed.await,
            }
        }
    }

    fn release(&self, sent_at: Instant, throttled: Option<Option<Duration>>) {
        {
            let mut state = self.lock();
            state.in_flight -= 1;
            match throttled {
                None => {
                    state.limit = (state.limit + 1.0 / state.limit).min(self.max as f64);
                    state.pause = PAUSE_FIRST;
                }
                Some(retry_after) => {
                    let now = Instant::now();
                    if state.last_cut.is_none_or(|cut| sent_at >= cut) {
                        state.limit = (state.limit / 2.0).max(1.0);
                        state.last_cut = Some(now);
                        let pause = match retry_after {
                            Some(wait) => wait.min(RETRY_AFTER_MAX),
                            None => {
                                let pause = state.pause;
                                state.pause = (state.pause * 2).min(PAUSE_MAX);
                                pause
                            }
                        };
                        let until = now + pause;
                        state.paused_until =
                            Some(state.paused_until.map_or(until, |u| u.max(until)));
                    }
                }
            }
        }
        self.changed.notify_waiters();
    }
}

impl Permit<'_> {
    /// The gateway answered (or the request failed) without asking to slow down.
    pub fn answered(mut self) {
        self.done = true;
        self.limiter.release(self.sent_at, None);
    }

    /// The gateway answered 429 or 503, maybe with a `Retry-After`.
    pub fn throttled(mut self, retry_after: Option<Duration>) {
        self.done = true;
        self.limiter.release(self.sent_at, Some(retry_after));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limiter.release(self.sent_at, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_throttle_halves_the_bound_once_per_burst_and_answers_raise_it() {
        let limiter = Limiter::new(64);
        let mut permits = Vec::new();
        for _ in 0..64 {
            permits.push(limiter.acquire().await);
        }
        assert_eq!(limiter.in_flight(), 64);
        // All 64 were sent before the first cut: the burst of throttles cuts once.
        for permit in permits {
            permit.throttled(Some(Duration::ZERO));
        }
        assert_eq!(limiter.limit(), 32);
        assert_eq!(limiter.in_flight(), 0);
        // One sent after the cut cuts again.
        limiter.acquire().await.throttled(Some(Duration::ZERO));
        assert_eq!(limiter.limit(), 16);
        for _ in 0..200 {
            limiter.acquire().await.answered();
        }
        assert!(limiter.limit() > 16, "{}", limiter.limit());
        for _ in 0..10_000 {
            limiter.acquire().await.answered();
        }
        assert_eq!(limiter.limit(), 64);
        for _ in 0..20 {
            limiter.acquire().await.throttled(Some(Duration::ZERO));
        }
        assert_eq!(limiter.limit(), 1, "never below one");
    }

    #[tokio::test]
    async fn no_more_than_the_bound_are_in_flight() {
        let limiter = std::sync::Arc::new(Limiter::new(3));
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let _c = limiter.acquire().await;
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let permit = limiter.acquire().await;
                permit.answered();
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(limiter.in_flight(), 3);
        a.answered();
        waiter.await.unwrap();
    }
}
