//! Non-INVITE server transaction, RFC 3261 §17.2.2 (Figure 8). No IO, no clock.
//!
//! Timer J = 64*T1 (unreliable) / 0 (reliable) absorbs request retransmissions in Completed.

use std::time::Instant;

use bytes::Bytes;

use super::{Class, Core, Reliability, State, TimerValues, TxnOutput, class, common_surface};

/// RFC 3261 §17.2.2 Timer J, as an index into the timer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    J = 0,
}

/// The non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    core: Core<1>,
    /// The last provisional (Proceeding) or the final (Completed).
    last: Option<Bytes>,
}

impl ServerNonInvite {
    /// Create the transaction for a new request; state Trying, nothing sent.
    #[must_use]
    pub fn new(_now: Instant, rel: Reliability, tv: TimerValues) -> Self {
        Self {
            core: Core::new(State::Trying, rel, tv),
            last: None,
        }
    }

    /// A retransmission of the request arrived (§17.2.2): discarded in Trying; the last
    /// provisional (Proceeding) or the final (Completed) is sent again.
    pub fn handle_request_retransmit(&mut self, _now: Instant) {
        if matches!(self.core.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last {
                self.core.transmit(r);
            }
        }
    }

    /// The TU sends a response (`bytes` is its encoding, `code` its status).
    pub fn send_response(&mut self, now: Instant, code: u16, bytes: Bytes) {
        let Some(c) = class(code) else { return };
        match (self.core.state, c) {
            // §17.2.2: a provisional moves Trying → Proceeding.
            (State::Trying | State::Proceeding, Class::Provisional) => {
                self.core.transmit(&bytes);
                self.last = Some(bytes);
                self.core.state = State::Proceeding;
            }
            // §17.2.2: a final moves to Completed and starts Timer J.
            (State::Trying | State::Proceeding, Class::Success | Class::Failure) => {
                self.core.transmit(&bytes);
                self.last = Some(bytes);
                let j = self.core.tv.t1_x64();
                self.core
                    .wait_then_terminate(State::Completed, Timer::J as usize, now, j);
            }
            // §17.2.2: "Any other final responses passed by the TU … MUST be discarded".
            _ => {
                tracing::debug!(code, state = ?self.core.state, "TU response discarded")
            }
        }
    }

    /// The endpoint failed to send a response (§17.2.4): inform the TU and terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if matches!(self.core.state, State::Proceeding | State::Completed) {
            self.core.push(TxnOutput::TransportError);
            self.core.terminate();
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // §17.2.2: Timer J ends Completed.
        if self.core.timers.take_expired(Timer::J as usize, now) {
            self.core.terminate();
        }
    }

    common_surface!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::txn::test_support::{Sim, outputs, transmit_ms};
    use TxnOutput::{Terminated, Transmit};

    const TRYING: &[u8] = b"SIP/2.0 100 Trying\r\n\r\n";
    const OK: &[u8] = b"SIP/2.0 200 OK\r\n\r\n";

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    #[test]
    fn retransmitted_request_gets_nothing_then_the_provisional_then_the_final() {
        let mut sim = Sim::new();
        let mut tx = ServerNonInvite::new(sim.now, Reliability::Unreliable, TimerValues::default());
        assert_eq!(tx.state(), State::Trying);
        tx.handle_request_retransmit(sim.now);
        assert_eq!(tx.poll_output(), None);
        sim.input(&mut tx, 0.1, |tx, now| {
            tx.send_response(now, 100, b(TRYING))
        });
        assert_eq!(tx.state(), State::Proceeding);
        sim.input(&mut tx, 0.5, |tx, now| tx.handle_request_retransmit(now));
        sim.input(&mut tx, 1.0, |tx, now| tx.send_response(now, 200, b(OK)));
        assert_eq!(tx.state(), State::Completed);
        sim.input(&mut tx, 1.5, |tx, now| {
            tx.handle_request_retransmit(now);
            tx.send_response(now, 500, b(TRYING)); // discarded
        });
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [100, 500, 1000, 1500]);
        assert_eq!(
            outputs(&log),
            [
                Transmit(b(TRYING)),
                Transmit(b(TRYING)),
                Transmit(b(OK)),
                Transmit(b(OK)),
                Terminated
            ]
        );
        assert_eq!(
            log[4].0.as_millis(),
            33_000,
            "Timer J = 64*T1 after the final"
        );
    }

    #[test]
    fn final_over_tcp_terminates_at_once() {
        let sim = Sim::new();
        let mut tx = ServerNonInvite::new(sim.now, Reliability::Reliable, TimerValues::default());
        tx.send_response(sim.now, 404, b(OK));
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_output(), Some(Transmit(b(OK))));
        assert_eq!(tx.poll_output(), Some(Terminated));
        tx.handle_request_retransmit(sim.now);
        assert_eq!(tx.poll_output(), None);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn transport_error_informs_the_tu_and_terminates() {
        let sim = Sim::new();
        let mut tx = ServerNonInvite::new(sim.now, Reliability::Reliable, TimerValues::default());
        tx.send_response(sim.now, 180, b(TRYING));
        tx.handle_transport_error(sim.now);
        assert!(tx.is_terminated());
        let all: Vec<_> = std::iter::from_fn(|| tx.poll_output()).collect();
        assert_eq!(
            all,
            [Transmit(b(TRYING)), TxnOutput::TransportError, Terminated]
        );
    }
}
