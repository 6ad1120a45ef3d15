//! What storage needs from the outside world: the time and fresh ids. Injected so tests can
//! fix both.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, in ms since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// Fresh, unique, URL-safe identifiers.
pub trait IdGen: Send + Sync + fmt::Debug {
    /// A new id, never returned before by this generator.
    fn next_id(&self) -> String;
}

/// The operating system's clock: what production uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock stopped at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    /// Moves the clock to `now_ms` (backwards too, to test clock skew).
    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the clock `ms` forward, e.g. past a schedule's due time.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 128 random bits as 32 lowercase hex digits.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGen for RandomIds {
    fn next_id(&self) -> String {
        let mut bytes = [0u8; 16];
        // The OS random source failing is not something storage can recover from; fall back
        // to time-derived bits rather than panic, uniqueness then rests on the counter.
        if getrandom::fill(&mut bytes).is_err() {
            static FALLBACK: AtomicU64 = AtomicU64::new(0);
            let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
            bytes[..8].copy_from_slice(&SystemClock.now_ms().to_le_bytes());
            bytes[8..].copy_from_slice(&n.to_le_bytes());
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// `prefix-1`, `prefix-2`, … (tests).
#[derive(Debug)]
pub struct SequentialIds {
    prefix: String,
    next: AtomicU64,
}

impl SequentialIds {
    /// Ids `prefix-1`, `prefix-2`, … in order, so tests can predict them.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            next: AtomicU64::new(1),
        }
    }
}

impl IdGen for SequentialIds {
    fn next_id(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// The clock and id generator everything in a data directory uses.
#[derive(Debug, Clone)]
pub struct Env {
    /// Where every timestamp comes from.
    pub clock: Arc<dyn Clock>,
    /// Where every generated id comes from.
    pub ids: Arc<dyn IdGen>,
}

impl Env {
    /// The clock's current time (ms since the Unix epoch).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A fresh id from the id generator.
    pub fn next_id(&self) -> String {
        self.ids.next_id()
    }
}

impl Default for Env {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
        }
    }
}
