//! Zvon: an on-premise IP-PBX and call center in one daemon.
//!
//! # Architecture
//!
//! A **sans-IO engine** ([`core::Pbx`]) owns all signalling state and is driven by a thin tokio
//! runtime ([`runtime`]) that alone touches sockets, the clock, files and signals. The store
//! thread ([`store`]) owns SQLite; [`report`] formats what it stored, reading it through
//! [`store`]'s read functions.
//!
//! # Layering rules
//!
//! 1. `sip`, `sdp`, `media`, `call`, `dialplan`, `ivr`, `acd` and `trunk` do no IO and read no clock:
//!    time comes in as [`time::Now`], randomness from a seeded RNG passed in. `.clippy.toml`
//!    bans the clock reads; `.ci/run` greps for sockets and SQLite in those modules.
//! 2. Each piece of state has one owner; owners talk through bounded channels carrying plain
//!    data. No `Mutex` around business state.
//! 3. After every input the runtime drains [`core::Pbx::poll_output`] until it gets
//!    `Output::Timeout`, then sleeps until that instant or the next input.
//! 4. A misbehaving peer is an outcome (a SIP response, a counter, a debug log line), never an
//!    `Err` that stops the engine and never a panic.
//! 5. Parse, don't validate: config and SIP messages become typed values at the edge.

pub mod acd;
pub mod api;
pub mod call;
pub mod config;
pub mod core;
pub mod dialplan;
pub mod ivr;
pub mod media;
pub mod report;
pub mod runtime;
pub mod sdp;
pub mod sip;
pub mod store;
pub mod time;
pub mod trunk;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
