//! Test support: a simulated clock (and, as the engine grows, a simulated world).
//!
//! Time in tests only moves when a test moves it: nothing here sleeps.

pub mod world;

/// Test data under `tests/` (RFC 4475 messages, phone captures): the only file reads the
/// sans-IO modules' tests need, kept here so those modules stay free of IO.
pub mod data {
    use std::path::{Path, PathBuf};

    /// `tests/<sub>` in the source tree.
    pub fn path(sub: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(sub)
    }

    /// The bytes of `tests/<sub>`.
    pub fn read(sub: &str) -> Vec<u8> {
        read_path(&path(sub))
    }

    /// Every `*.<ext>` file of `tests/<sub>` as (file name, bytes), by name.
    pub fn files_with_ext(sub: &str, ext: &str) -> Vec<(String, Vec<u8>)> {
        let dir = path(sub);
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .filter_map(|p| {
                let name = p.file_name()?.to_string_lossy().into_owned();
                Some((name, read_path(&p)))
            })
            .collect();
        out.sort();
        out
    }

    /// Reads any repository file (shipped config, sounds) for a test; errors are returned.
    pub fn read_file(p: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(p)
    }

    /// A repository text file, panicking with its path when it cannot be read.
    pub fn read_text(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The names of the entries of a repository directory.
    pub fn file_names(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn read_path(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Every data file of `tests/<sub>` (not dotfiles, not `.md`) as (stem, bytes), by name.
    pub fn read_dir_sorted(sub: &str) -> Vec<(String, Vec<u8>)> {
        let dir = path(sub);
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| p.extension().is_none_or(|x| x != "md"))
            .filter_map(|p| {
                let stem = p.file_stem()?.to_string_lossy().into_owned();
                (!stem.starts_with('.') && !stem.is_empty()).then(|| (stem, read_path(&p)))
            })
            .collect();
        out.sort();
        out
    }
}

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::time::{Now, UnixTime};

/// Wall-clock time since the call, for `#[ignore]`d throughput checks only (never for
/// protocol timers, which run on [`SimClock`]).
#[allow(clippy::disallowed_methods)] // a benchmark measures real time
pub fn stopwatch() -> impl Fn() -> Duration {
    let t0 = Instant::now();
    move || t0.elapsed()
}

/// 2026-01-05T09:00:00Z, a Monday: the wall time every simulation starts at.
pub const T0_WALL: u64 = 1_767_603_600;

/// A virtual clock: starts at an arbitrary monotonic instant and [`T0_WALL`].
#[derive(Debug)]
pub struct SimClock {
    now: Cell<Now>,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock {
    /// A clock at the start of the simulation.
    #[allow(clippy::disallowed_methods)] // the simulation's arbitrary origin; never read again
    pub fn new() -> Self {
        Self {
            now: Cell::new(Now {
                mono: Instant::now(),
                wall: UnixTime(T0_WALL),
            }),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Now {
        self.now.get()
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.now.set(self.now.get().advanced(d));
    }

    /// Moves time forward to `at` (no-op if `at` is in the past).
    pub fn advance_to(&self, at: Instant) {
        let now = self.now.get();
        if at > now.mono {
            self.advance(at - now.mono);
        }
    }
}

/// An arbitrary origin for virtual time in tests of sans-IO modules (std cannot build an
/// `Instant` without reading the clock); no test result depends on its value.
pub fn origin() -> Instant {
    SimClock::new().now().mono
}

/// Wall-clock time for micro-benchmarks run as ignored tests (never for logic).
#[allow(clippy::disallowed_methods)]
pub fn bench_clock() -> Instant {
    Instant::now()
}
