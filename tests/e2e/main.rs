//! Black-box tests: the real `zvon` binary on loopback, driven by SIPp and baresip.
//!
//! The harness waits on real processes and sockets, so it reads the clock and sleeps in
//! short polling steps (always bounded); protocol logic is tested on a virtual clock in the lib.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used)] // test harness: a failed setup step should panic loudly

mod calls;
mod cli;
mod common;
mod control;
mod phones;
mod queues;
mod registrar;
mod report;
mod transfer;
mod transport;
mod trunks;
