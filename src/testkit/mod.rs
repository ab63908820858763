//! Simulated clock and helpers for tests.
