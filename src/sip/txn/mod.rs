//! The four SIP transaction state machines of RFC 3261 §17, updated by RFC 6026 (the INVITE
//! "Accepted" state), with Timers A–M. Sans-IO: no IO, no clock, no message types.
//!
//! # Contract
//!
//! * A machine deals in opaque encoded messages ([`Bytes`]) and status codes. The endpoint
//!   (`sip::endpoint`) parses, matches incoming messages to a machine with [`TxnKey`]
//!   (§17.1.3, §17.2.3), builds ACKs and responses, and feeds the machine the result. The
//!   machine decides *what* to send *when*.
//! * Every machine has the same surface: `handle_*` inputs taking `now`,
//!   `poll_output() -> Option<TxnOutput>` (pop queued effects until `None`),
//!   `poll_timeout() -> Option<Instant>` (earliest armed timer), `handle_timeout(now)` (fires
//!   every timer due at `now`; early or spurious calls are harmless), `state()` and
//!   `is_terminated()`.
//! * Retransmissions are byte-identical clones of the stored [`Bytes`] (a reference count, no
//!   copy). Each machine keeps a fixed-size timer table; nothing allocates per timer fire
//!   beyond the output queue.
//! * [`TxnOutput::Terminated`] is emitted exactly once, as the last output; afterwards every
//!   input is ignored, no timer is armed and nothing more is transmitted. The endpoint then
//!   drops the machine (§17.1.1.2: "destroyed the instant it enters Terminated").
//! * Input that does not fit the state (a response code out of 100–699, a 1xx after a final, a
//!   TU response after the final) is ignored, never a panic.
//! * Wait timers that are zero (D, I, J, K on reliable transports) terminate the machine in the
//!   same call that would have armed them, so the state goes straight to `Terminated`.
//!
//! # Machines
//!
//! * [`ClientInvite`] — §17.1.1, Figure 5, with RFC 6026 §8.4 Accepted (Timer M).
//! * [`ClientNonInvite`] — §17.1.2, Figure 6.
//! * [`ServerInvite`] — §17.2.1, Figure 7, with RFC 6026 §8.7 Accepted (Timer L).
//! * [`ServerNonInvite`] — §17.2.2, Figure 8.
//!
//! # Out of scope
//!
//! * RFC 2543 peers whose top Via branch lacks the magic cookie `z9hG4bK` (§17.2.3 fallback
//!   matching on Request-URI, tags, Call-ID, CSeq and Via): the endpoint must detect them with
//!   [`is_rfc3261_branch`] and match or reject them itself.
//! * Timer C (proxy INVITE timeout, §16.6) and the 200 ms "100 Trying" rule of §17.2.1: the TU
//!   sends 100 Trying itself, at once, through [`ServerInvite::send_response`].

mod client_invite;
mod client_non_invite;
mod key;
mod server_invite;
mod server_non_invite;
mod timers;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod test_support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use key::{MAGIC_COOKIE, TxnKey, is_rfc3261_branch};
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;
pub use timers::{Reliability, TimerValues};

/// An effect a machine asks the endpoint to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutput {
    /// Send these bytes to the transaction's peer: the request, a retransmission, a response or
    /// the ACK for a non-2xx final.
    Transmit(Bytes),
    /// Client transactions: pass the response with this status to the TU. Every provisional
    /// and the first final are delivered; retransmitted non-2xx finals are absorbed; 2xx
    /// retransmissions in the INVITE Accepted state are delivered again (RFC 6026 §8.4).
    Deliver(u16),
    /// Timer B, F or H fired: the TU treats it as a 408 (clients, §8.1.3.1) or as a dialog that
    /// never got its ACK (server INVITE, §17.2.1).
    Timeout,
    /// The endpoint reported a transport failure for this transaction (§17.1.4, §17.2.4): the
    /// TU treats it as a 503 (clients, §8.1.3.1) or as a failed response (servers).
    TransportError,
    /// The machine reached Terminated; the endpoint removes it. Always the last output.
    Terminated,
}

/// Transaction states of Figures 5–8 plus RFC 6026 Accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Client INVITE, request sent, nothing heard (§17.1.1.2).
    Calling,
    /// Non-INVITE, before any provisional (§17.1.2.2 client, §17.2.2 server).
    Trying,
    /// A provisional was received (client) or sent (server).
    Proceeding,
    /// A final response was received (client) or sent (server non-INVITE, server INVITE
    /// non-2xx); absorbing retransmissions.
    Completed,
    /// Server INVITE: the ACK for the non-2xx final arrived (§17.2.1).
    Confirmed,
    /// INVITE: a 2xx was received (client) or sent (server), RFC 6026 §8.4 / §8.7.
    Accepted,
    /// Done; the endpoint drops the machine.
    Terminated,
}

/// Status code classes as the machines see them. Codes outside 100–699 are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Provisional,
    Success,
    /// 300–699.
    Failure,
}

fn class(code: u16) -> Option<Class> {
    match code {
        100..=199 => Some(Class::Provisional),
        200..=299 => Some(Class::Success),
        300..=699 => Some(Class::Failure),
        _ => None,
    }
}

/// What every machine shares: state, transport kind, timer values, timers and the output queue.
#[derive(Debug)]
struct Core<const N: usize> {
    state: State,
    rel: Reliability,
    tv: TimerValues,
    timers: timers::TimerTable<N>,
    out: VecDeque<TxnOutput>,
}

impl<const N: usize> Core<N> {
    fn new(state: State, rel: Reliability, tv: TimerValues) -> Self {
        Self {
            state,
            rel,
            tv,
            timers: timers::TimerTable::default(),
            out: VecDeque::new(),
        }
    }

    fn push(&mut self, o: TxnOutput) {
        if self.state != State::Terminated {
            self.out.push_back(o);
        }
    }

    fn transmit(&mut self, bytes: &Bytes) {
        self.push(TxnOutput::Transmit(bytes.clone()));
    }

    fn arm(&mut self, timer: usize, now: Instant, d: Duration) {
        self.timers.set(timer, timers::deadline(now, d));
    }

    /// Enter the Terminated state: disarm every timer, emit `Terminated` once.
    fn terminate(&mut self) {
        if self.state != State::Terminated {
            self.push(TxnOutput::Terminated);
            self.state = State::Terminated;
            self.timers.clear();
        }
    }

    /// Enter a state that only waits out stray retransmissions (Completed / Confirmed) for
    /// `unreliable_wait`; reliable transports wait zero, i.e. terminate at once (§17.1.1.2
    /// Timer D, §17.1.2.2 Timer K, §17.2.1 Timer I, §17.2.2 Timer J).
    fn wait_then_terminate(
        &mut self,
        state: State,
        timer: usize,
        now: Instant,
        unreliable: Duration,
    ) {
        let wait = if self.rel.is_reliable() {
            Duration::ZERO
        } else {
            unreliable
        };
        if wait.is_zero() {
            self.terminate();
        } else {
            self.state = state;
            self.arm(timer, now, wait);
        }
    }
}

/// The common sans-IO surface over `self.core`.
macro_rules! common_surface {
    () => {
        /// Pop the next queued effect; call until `None` after every input.
        #[must_use]
        pub fn poll_output(&mut self) -> Option<$crate::sip::txn::TxnOutput> {
            self.core.out.pop_front()
        }

        /// The earliest armed timer, `None` once terminated.
        #[must_use]
        pub fn poll_timeout(&self) -> Option<std::time::Instant> {
            self.core.timers.next()
        }

        /// The current state.
        #[must_use]
        pub fn state(&self) -> $crate::sip::txn::State {
            self.core.state
        }

        /// True once the machine reached Terminated (it may still hold queued outputs).
        #[must_use]
        pub fn is_terminated(&self) -> bool {
            self.core.state == $crate::sip::txn::State::Terminated
        }
    };
}
use common_surface;
