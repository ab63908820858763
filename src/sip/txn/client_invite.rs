//! INVITE client transaction, RFC 3261 §17.1.1 (Figure 5), with the RFC 6026 §8.4 "Accepted"
//! state. No IO, no clock.
//!
//! Choices:
//! * A provisional stops Timers A **and** B: Figure 5 only has Timer B in Calling, and in
//!   Proceeding the no-answer timeout belongs to the TU (a UAC's own ring timer, §13.3.1.1;
//!   Timer C for proxies, §16.6). The TU then ends the call with CANCEL or gives up.
//! * After the TU sends a CANCEL, Timer B is armed again at 64*T1: a peer that never sends
//!   the 487 no longer keeps the transaction forever (§9.1: "consider the original
//!   transaction cancelled and destroy" it). The TU gets a timeout.
//! * A 2xx moves to Accepted (RFC 6026 §8.4) for Timer M = 64*T1 on every transport. Each 2xx
//!   received there (retransmission or another fork) is delivered again, because the TU, not
//!   the transaction, acknowledges 2xx responses (§13.2.2.4). Nothing is transmitted there.

use std::time::Instant;

use bytes::Bytes;

use super::{Class, Core, Reliability, State, TimerValues, TxnOutput, class, common_surface};

/// RFC 3261 §17.1.1.2 Timers A, B, D and RFC 6026 Timer M, as indices into the timer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// INVITE retransmission (unreliable only): T1, doubling.
    A = 0,
    /// Transaction timeout in Calling: 64*T1.
    B = 1,
    /// Wait in Completed: `timer_d` (unreliable), 0 (reliable).
    D = 2,
    /// Wait in Accepted: 64*T1.
    M = 3,
}

/// The INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    core: Core<4>,
    request: Bytes,
    /// The current Timer A interval.
    interval_a: std::time::Duration,
    /// The ACK for the non-2xx final, resent for each retransmission of that final.
    ack: Option<Bytes>,
}

impl ClientInvite {
    /// Start the transaction: transmit `request` now, arm Timer A (unreliable only) at T1 and
    /// Timer B at 64*T1 (§17.1.1.2).
    #[must_use]
    pub fn new(now: Instant, request: Bytes, rel: Reliability, tv: TimerValues) -> Self {
        let mut core = Core::new(State::Calling, rel, tv);
        core.transmit(&request);
        if !rel.is_reliable() {
            core.arm(Timer::A as usize, now, tv.t1);
        }
        core.arm(Timer::B as usize, now, tv.t1_x64());
        Self {
            core,
            request,
            interval_a: tv.t1,
            ack: None,
        }
    }

    /// A response matched to this transaction arrived. `ack` builds the ACK for a 3xx–6xx final
    /// (§17.1.1.3); it is called at most once, and its bytes are reused for retransmitted finals.
    pub fn handle_response(&mut self, now: Instant, code: u16, ack: impl FnOnce() -> Bytes) {
        let Some(c) = class(code) else { return };
        match (self.core.state, c) {
            // §17.1.1.2: a provisional moves Calling → Proceeding; stop retransmitting. Every
            // provisional is passed to the TU.
            (State::Calling | State::Proceeding, Class::Provisional) => {
                self.core.timers.stop(Timer::A as usize);
                self.core.timers.stop(Timer::B as usize);
                self.core.state = State::Proceeding;
                self.core.push(TxnOutput::Deliver(code));
            }
            // RFC 6026 §8.4: a 2xx moves to Accepted and starts Timer M.
            (State::Calling | State::Proceeding, Class::Success) => {
                self.core.timers.stop(Timer::A as usize);
                self.core.timers.stop(Timer::B as usize);
                self.core.push(TxnOutput::Deliver(code));
                self.core.state = State::Accepted;
                let m = self.core.tv.t1_x64();
                self.core.arm(Timer::M as usize, now, m);
            }
            // §17.1.1.2: a 300–699 is passed up, ACKed, and Completed waits out Timer D.
            (State::Calling | State::Proceeding, Class::Failure) => {
                self.core.timers.stop(Timer::A as usize);
                self.core.timers.stop(Timer::B as usize);
                self.core.push(TxnOutput::Deliver(code));
                let ack = ack();
                self.core.transmit(&ack);
                self.ack = Some(ack);
                let d = self.core.tv.timer_d;
                self.core
                    .wait_then_terminate(State::Completed, Timer::D as usize, now, d);
            }
            // §17.1.1.2: a retransmitted final in Completed is ACKed again, not passed up.
            (State::Completed, Class::Failure) => {
                if let Some(ack) = &self.ack {
                    self.core.transmit(ack);
                }
            }
            // RFC 6026 §8.4: 2xx in Accepted go to the TU, which ACKs them.
            (State::Accepted, Class::Success) => self.core.push(TxnOutput::Deliver(code)),
            _ => {}
        }
    }

    /// The endpoint failed to send our request or ACK (§17.1.4): inform the TU and terminate.
    /// Ignored in Accepted, where the transaction sends nothing.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if matches!(
            self.core.state,
            State::Calling | State::Proceeding | State::Completed
        ) {
            self.core.push(TxnOutput::TransportError);
            self.core.terminate();
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // §17.1.1.2: Timer B in Calling: the TU gets a timeout (it reports 408).
        if self.core.timers.take_expired(Timer::B as usize, now) {
            self.core.push(TxnOutput::Timeout);
            self.core.terminate();
            return;
        }
        // §17.1.1.2: Timer A: retransmit, and double the interval (no T2 cap for INVITE).
        if self.core.timers.take_expired(Timer::A as usize, now)
            && self.core.state == State::Calling
        {
            self.core.transmit(&self.request);
            self.interval_a = self.interval_a.saturating_mul(2);
            self.core.arm(Timer::A as usize, now, self.interval_a);
        }
        // §17.1.1.2 Timer D, RFC 6026 §8.4 Timer M.
        if self.core.timers.take_expired(Timer::D as usize, now)
            | self.core.timers.take_expired(Timer::M as usize, now)
        {
            self.core.terminate();
        }
    }

    /// The TU sent a CANCEL for this INVITE: if no final arrives within 64*T1, give up
    /// (§9.1). Only meaningful in Proceeding.
    pub fn cancel_sent(&mut self, now: Instant) {
        if self.core.state == State::Proceeding {
            let b = self.core.tv.t1_x64();
            self.core.arm(Timer::B as usize, now, b);
        }
    }

    /// §9.1: a CANCEL may be sent only once a provisional arrived, and is pointless after a
    /// final, so this is true exactly in Proceeding.
    #[must_use]
    pub fn cancel_allowed(&self) -> bool {
        self.core.state == State::Proceeding
    }

    common_surface!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::txn::test_support::{Sim, outputs, transmit_ms};
    use TxnOutput::{Deliver, Terminated, Timeout, Transmit};

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n";
    const ACK: &[u8] = b"ACK sip:bob@example.com SIP/2.0\r\n\r\n";

    fn start(sim: &Sim, rel: Reliability) -> ClientInvite {
        ClientInvite::new(
            sim.now,
            Bytes::from_static(INVITE),
            rel,
            TimerValues::default(),
        )
    }

    fn ack() -> Bytes {
        Bytes::from_static(ACK)
    }

    #[test]
    fn unanswered_invite_over_udp_is_retransmitted_with_doubling_interval_then_times_out() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert!(
            log.iter()
                .filter_map(|(_, o)| match o {
                    Transmit(b) => Some(b),
                    _ => None,
                })
                .all(|b| b.as_ref() == INVITE)
        );
        let tail: Vec<_> = log.iter().rev().take(2).rev().cloned().collect();
        assert_eq!(
            tail,
            [
                (sim.at(32.0) - sim.t0, Timeout),
                (sim.at(32.0) - sim.t0, Terminated)
            ]
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn unanswered_invite_over_tcp_is_sent_once_then_times_out_at_64_t1() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0]);
        assert_eq!(log[1].0.as_millis(), 32_000);
        assert_eq!(outputs(&log)[1..], [Timeout, Terminated]);
    }

    #[test]
    fn a_cancelled_invite_without_a_final_gives_up_64_t1_after_the_cancel() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        let now = sim.set(0.2);
        tx.handle_response(now, 180, || unreachable!());
        sim.run_until(&mut tx, 60.0);
        assert_eq!(tx.poll_timeout(), None, "ringing has no timeout");
        let now = sim.set(60.0);
        tx.cancel_sent(now);
        sim.take();
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(
            log,
            [
                (sim.at(92.0) - sim.t0, Timeout),
                (sim.at(92.0) - sim.t0, Terminated)
            ]
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn the_487_after_a_cancel_completes_the_transaction_normally() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        let now = sim.set(0.2);
        tx.handle_response(now, 180, || unreachable!());
        let now = sim.set(1.0);
        tx.cancel_sent(now);
        let now = sim.set(1.1);
        tx.handle_response(now, 487, ack);
        assert_eq!(tx.state(), State::Terminated);
        sim.take();
        sim.run(&mut tx);
        assert!(
            !sim.take().iter().any(|(_, o)| *o == Timeout),
            "no timeout after the final"
        );
    }

    #[test]
    fn provisional_stops_retransmission_and_failure_is_acked_once_per_copy_and_delivered_once() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.run_until(&mut tx, 0.7);
        assert!(!tx.cancel_allowed());
        let now = sim.set(0.7);
        tx.handle_response(now, 180, || unreachable!("no ACK for a provisional"));
        assert!(tx.cancel_allowed());
        assert_eq!(tx.state(), State::Proceeding);
        sim.run_until(&mut tx, 10.0);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0, 500]);
        assert_eq!(outputs(&log)[2], Deliver(180));
        // Timer B no longer applies in Proceeding (see module docs).
        assert_eq!(tx.poll_timeout(), None);

        let mut built = 0;
        for s in [40.0, 41.0, 42.0] {
            sim.input(&mut tx, s, |tx, now| {
                tx.handle_response(now, 486, || {
                    built += 1;
                    ack()
                });
                assert_eq!(tx.state(), State::Completed);
                assert!(!tx.cancel_allowed());
            });
        }
        assert_eq!(built, 1, "the ACK is built once and reused");
        let ms = std::time::Duration::from_millis;
        assert_eq!(
            sim.take(),
            [
                (ms(40_000), Deliver(486)),
                (ms(40_000), Transmit(ack())),
                (ms(41_000), Transmit(ack())),
                (ms(42_000), Transmit(ack())),
            ]
        );
        // Timer D = 32 s after the first 486.
        sim.run(&mut tx);
        assert_eq!(sim.take(), [(ms(72_000), Terminated)]);
    }

    #[test]
    fn failure_over_tcp_is_acked_and_terminates_at_once() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        sim.drain(&mut tx);
        let now = sim.set(1.0);
        tx.handle_response(now, 603, ack);
        assert!(tx.is_terminated());
        sim.drain(&mut tx);
        assert_eq!(
            outputs(&sim.take()),
            [
                Transmit(Bytes::from_static(INVITE)),
                Deliver(603),
                Transmit(ack()),
                Terminated
            ]
        );
        tx.handle_response(now, 603, ack);
        assert_eq!(tx.poll_output(), None);
    }

    #[test]
    fn success_enters_accepted_delivers_retransmitted_2xx_and_terminates_after_64_t1() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.run_until(&mut tx, 1.0);
        sim.input(&mut tx, 1.0, |tx, now| {
            tx.handle_response(now, 200, || unreachable!("the TU ACKs 2xx"));
            assert_eq!(tx.state(), State::Accepted);
        });
        sim.input(&mut tx, 2.0, |tx, now| {
            tx.handle_response(now, 200, || unreachable!());
            tx.handle_response(now, 180, || unreachable!());
            tx.handle_response(now, 486, || unreachable!());
        });
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0, 500], "nothing is sent after the 2xx");
        let tail: Vec<_> = log[2..]
            .iter()
            .map(|(t, o)| (t.as_millis(), o.clone()))
            .collect();
        assert_eq!(
            tail,
            [
                (1000, Deliver(200)),
                (2000, Deliver(200)),
                (33_000, Terminated)
            ]
        );
    }

    #[test]
    fn out_of_range_status_codes_are_ignored() {
        let sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        let _ = tx.poll_output();
        for code in [0, 99, 700, 999, u16::MAX] {
            tx.handle_response(sim.now, code, || unreachable!());
        }
        assert_eq!(tx.poll_output(), None);
        assert_eq!(tx.state(), State::Calling);
    }

    #[test]
    fn early_and_late_timeout_calls_are_harmless() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.drain(&mut tx);
        tx.handle_timeout(sim.at(0.1));
        tx.handle_timeout(sim.at(0.1));
        assert_eq!(tx.poll_output(), None);
        // One very late call: B wins over the overdue A; nothing follows Terminated.
        tx.handle_timeout(sim.at(100.0));
        sim.drain(&mut tx);
        assert_eq!(
            outputs(&sim.take()),
            [Transmit(Bytes::from_static(INVITE)), Timeout, Terminated]
        );
    }

    #[test]
    fn transport_error_informs_the_tu_and_terminates() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        sim.drain(&mut tx);
        tx.handle_transport_error(sim.now);
        tx.handle_transport_error(sim.now);
        sim.drain(&mut tx);
        assert_eq!(
            outputs(&sim.take())[1..],
            [TxnOutput::TransportError, Terminated]
        );
        assert_eq!(tx.poll_timeout(), None);
    }
}
