//! The one place that reads the clock.

use std::time::SystemTime;

use crate::time::{Now, UnixTime};

/// Reads both clocks once.
#[allow(clippy::disallowed_methods)] // the single sanctioned clock read (ARCHITECTURE.md rule 1)
pub fn now() -> Now {
    let wall = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Now {
        mono: tokio::time::Instant::now().into_std(),
        wall: UnixTime(wall),
    }
}

/// The monotonic clock as a tokio instant (for bounded waits in the runtime glue).
#[allow(clippy::disallowed_methods)] // the same sanctioned read
pub fn tokio_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
