//! INVITE server transaction, RFC 3261 §17.2.1 (Figure 7), with the RFC 6026 §8.7 "Accepted"
//! state. No IO, no clock.
//!
//! Choices:
//! * The machine starts in Proceeding and sends nothing by itself: the TU sends 100 Trying at
//!   once through [`ServerInvite::send_response`] (the RFC asks for one within 200 ms if the TU
//!   will not answer sooner; answering at once always satisfies that).
//! * A 2xx moves to Accepted (RFC 6026 §8.7) for Timer L = 64*T1 on every transport.
//!   Retransmitting the 2xx is the TU's job (§13.3.1.4); the TU's copies pass straight through.
//!   Retransmitted INVITEs are absorbed there. The ACK for a 2xx belongs to the dialog, so the
//!   endpoint passes it to the TU and need not call [`ServerInvite::handle_ack`] (it is ignored
//!   outside Completed and Confirmed).
//! * A transport error in Accepted is reported but the machine stays in Accepted, so that it
//!   keeps absorbing retransmitted INVITEs; the TU decides about the dialog.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Class, Core, Reliability, State, TimerValues, TxnOutput, class, common_surface};

/// RFC 3261 §17.2.1 Timers G, H, I and RFC 6026 Timer L, as indices into the timer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Final response retransmission (unreliable only): T1, doubling up to T2.
    G = 0,
    /// Wait for the ACK: 64*T1.
    H = 1,
    /// Wait in Confirmed: T4 (unreliable), 0 (reliable).
    I = 2,
    /// Wait in Accepted: 64*T1.
    L = 3,
}

/// The INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    core: Core<4>,
    /// The last provisional (Proceeding) or the non-2xx final (Completed).
    last: Option<Bytes>,
    /// The current Timer G interval.
    interval_g: Duration,
}

impl ServerInvite {
    /// Create the transaction for a new INVITE; state Proceeding, nothing sent yet.
    #[must_use]
    pub fn new(_now: Instant, rel: Reliability, tv: TimerValues) -> Self {
        Self {
            core: Core::new(State::Proceeding, rel, tv),
            last: None,
            interval_g: tv.t1,
        }
    }

    /// A retransmission of the INVITE arrived (§17.2.1): in Proceeding and Completed resend the
    /// last response, if any; in Accepted and Confirmed absorb it (RFC 6026 §8.7).
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
            // §17.2.1: provisionals are sent and remembered; stay in Proceeding.
            (State::Proceeding, Class::Provisional) => {
                self.core.transmit(&bytes);
                self.last = Some(bytes);
            }
            // RFC 6026 §8.7: a 2xx moves to Accepted and starts Timer L.
            (State::Proceeding, Class::Success) => {
                self.core.transmit(&bytes);
                self.last = None;
                self.core.state = State::Accepted;
                let l = self.core.tv.t1_x64();
                self.core.arm(Timer::L as usize, now, l);
            }
            // §17.2.1: a 300–699 moves to Completed; Timer G (unreliable) and Timer H start.
            (State::Proceeding, Class::Failure) => {
                self.core.transmit(&bytes);
                self.last = Some(bytes);
                self.core.state = State::Completed;
                let tv = self.core.tv;
                if !self.core.rel.is_reliable() {
                    self.interval_g = tv.t1;
                    self.core.arm(Timer::G as usize, now, tv.t1);
                }
                self.core.arm(Timer::H as usize, now, tv.t1_x64());
            }
            // RFC 6026 §8.7: the TU's 2xx retransmissions (or further 2xx) pass through.
            (State::Accepted, Class::Success) => self.core.transmit(&bytes),
            // Anything else after a final is a TU bug; nothing is sent.
            _ => {
                tracing::debug!(code, state = ?self.core.state, "TU response discarded")
            }
        }
    }

    /// The ACK for our non-2xx final arrived (§17.2.1): Completed → Confirmed, Timer I starts
    /// (T4 unreliable, zero reliable: terminate at once); absorbed in Confirmed.
    pub fn handle_ack(&mut self, now: Instant) {
        if self.core.state == State::Completed {
            self.core.timers.stop(Timer::G as usize);
            self.core.timers.stop(Timer::H as usize);
            let i = self.core.tv.t4;
            self.core
                .wait_then_terminate(State::Confirmed, Timer::I as usize, now, i);
        }
    }

    /// The endpoint failed to send a response (§17.2.4): inform the TU; terminate, except in
    /// Accepted (see module docs).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        match self.core.state {
            State::Proceeding | State::Completed => {
                self.core.push(TxnOutput::TransportError);
                self.core.terminate();
            }
            State::Accepted => self.core.push(TxnOutput::TransportError),
            _ => {}
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // §17.2.1: Timer H in Completed: the ACK never came; inform the TU and terminate.
        if self.core.timers.take_expired(Timer::H as usize, now) {
            self.core.push(TxnOutput::Timeout);
            self.core.terminate();
            return;
        }
        // §17.2.1: Timer G: retransmit the final, next interval MIN(2*previous, T2).
        if self.core.timers.take_expired(Timer::G as usize, now) {
            if let Some(r) = &self.last {
                self.core.transmit(r);
            }
            self.interval_g = self.interval_g.saturating_mul(2).min(self.core.tv.t2);
            self.core.arm(Timer::G as usize, now, self.interval_g);
        }
        // §17.2.1 Timer I ends Confirmed; RFC 6026 §8.7 Timer L ends Accepted.
        if self.core.timers.take_expired(Timer::I as usize, now)
            | self.core.timers.take_expired(Timer::L as usize, now)
        {
            self.core.terminate();
        }
    }

    common_surface!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::txn::test_support::{Sim, every, outputs, transmit_ms};
    use TxnOutput::{Terminated, Timeout, Transmit};

    const TRYING: &[u8] = b"SIP/2.0 100 Trying\r\n\r\n";
    const RINGING: &[u8] = b"SIP/2.0 180 Ringing\r\n\r\n";
    const BUSY: &[u8] = b"SIP/2.0 486 Busy Here\r\n\r\n";
    const OK: &[u8] = b"SIP/2.0 200 OK\r\n\r\n";

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    fn start(sim: &Sim, rel: Reliability) -> ServerInvite {
        ServerInvite::new(sim.now, rel, TimerValues::default())
    }

    #[test]
    fn retransmitted_invite_in_proceeding_resends_the_last_provisional() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        assert_eq!(tx.state(), State::Proceeding);
        tx.handle_request_retransmit(sim.now);
        assert_eq!(
            tx.poll_output(),
            None,
            "nothing to resend before the first response"
        );
        tx.send_response(sim.now, 100, b(TRYING));
        tx.send_response(sim.now, 180, b(RINGING));
        tx.handle_request_retransmit(sim.now);
        sim.drain(&mut tx);
        assert_eq!(
            outputs(&sim.take()),
            [
                Transmit(b(TRYING)),
                Transmit(b(RINGING)),
                Transmit(b(RINGING))
            ]
        );
        assert_eq!(tx.poll_timeout(), None, "no timers in Proceeding");
    }

    #[test]
    fn unacknowledged_failure_over_udp_is_retransmitted_capped_at_t2_until_timer_h() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        tx.send_response(sim.now, 486, b(BUSY));
        assert_eq!(tx.state(), State::Completed);
        sim.run(&mut tx);
        let log = sim.take();
        // G: 0.5, 1, 2, 4, 4, 4 … (§17.2.1: doubling "unless that value exceeds T2").
        let mut want = vec![0, 500, 1500, 3500];
        want.extend(every(7500, 4000, 32_000));
        assert_eq!(transmit_ms(&log), want);
        let n = log.len();
        assert!(
            outputs(&log[..n - 2])
                .iter()
                .all(|o| *o == Transmit(b(BUSY)))
        );
        assert_eq!(log[n - 2].0.as_millis(), 32_000);
        assert_eq!(outputs(&log[n - 2..]), [Timeout, Terminated]);
    }

    #[test]
    fn unacknowledged_failure_over_tcp_is_sent_once_then_times_out() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        tx.send_response(sim.now, 486, b(BUSY));
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0]);
        assert_eq!(log[1].0.as_millis(), 32_000);
        assert_eq!(outputs(&log[1..]), [Timeout, Terminated]);
    }

    #[test]
    fn ack_stops_retransmission_and_confirmed_ends_after_timer_i() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        tx.send_response(sim.now, 486, b(BUSY));
        sim.run_until(&mut tx, 2.0);
        // A retransmitted INVITE in Completed resends the final.
        let now = sim.set(2.0);
        tx.handle_request_retransmit(now);
        sim.drain(&mut tx);
        let now = sim.set(2.5);
        tx.handle_ack(now);
        assert_eq!(tx.state(), State::Confirmed);
        let now = sim.set(3.0);
        tx.handle_ack(now);
        tx.handle_request_retransmit(now);
        tx.send_response(now, 500, b(BUSY));
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0, 500, 1500, 2000]);
        let last = log.last().unwrap();
        assert_eq!((last.0.as_millis(), &last.1), (7500, &Terminated));
        assert_eq!(log.len(), 5);
    }

    #[test]
    fn ack_over_tcp_terminates_at_once() {
        let sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        tx.send_response(sim.now, 486, b(BUSY));
        tx.handle_ack(sim.now);
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn success_enters_accepted_absorbs_invites_passes_tu_retransmissions_and_ends_after_64_t1() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.input(&mut tx, 0.0, |tx, now| {
            tx.send_response(now, 180, b(RINGING))
        });
        sim.input(&mut tx, 1.0, |tx, now| tx.send_response(now, 200, b(OK)));
        assert_eq!(tx.state(), State::Accepted);
        sim.input(&mut tx, 1.5, |tx, now| {
            tx.handle_request_retransmit(now);
            tx.handle_ack(now);
            tx.send_response(now, 486, b(BUSY));
        });
        // the TU's own 2xx retransmission (§13.3.1.4)
        sim.input(&mut tx, 2.0, |tx, now| tx.send_response(now, 200, b(OK)));
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0, 1000, 2000]);
        assert_eq!(
            outputs(&log),
            [
                Transmit(b(RINGING)),
                Transmit(b(OK)),
                Transmit(b(OK)),
                Terminated
            ]
        );
        assert_eq!(log[3].0.as_millis(), 33_000);
    }

    #[test]
    fn transport_error_in_accepted_is_reported_without_leaving_accepted() {
        let sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        tx.send_response(sim.now, 200, b(OK));
        tx.handle_transport_error(sim.now);
        assert_eq!(tx.state(), State::Accepted);
        assert_eq!(tx.poll_output(), Some(Transmit(b(OK))));
        assert_eq!(tx.poll_output(), Some(TxnOutput::TransportError));

        let mut tx = start(&sim, Reliability::Reliable);
        tx.send_response(sim.now, 180, b(RINGING));
        tx.handle_transport_error(sim.now);
        assert!(tx.is_terminated());
    }
}
