//! Non-INVITE client transaction, RFC 3261 §17.1.2 (Figure 6). No IO, no clock.
//!
//! Timer E retransmits the request (unreliable only): T1, doubling up to T2 in Trying, fixed
//! at T2 in Proceeding. Timer F = 64*T1 times the transaction out in Trying and Proceeding.
//! Timer K = T4 (unreliable) / 0 (reliable) absorbs retransmitted finals in Completed.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Class, Core, Reliability, State, TimerValues, TxnOutput, class, common_surface};

/// RFC 3261 §17.1.2.2 timers, as indices into the timer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    E = 0,
    F = 1,
    K = 2,
}

/// The non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    core: Core<3>,
    request: Bytes,
    /// The current Timer E interval.
    interval_e: Duration,
}

impl ClientNonInvite {
    /// Start the transaction: transmit `request` now, arm Timer E (unreliable only) at T1 and
    /// Timer F at 64*T1 (§17.1.2.2).
    #[must_use]
    pub fn new(now: Instant, request: Bytes, rel: Reliability, tv: TimerValues) -> Self {
        let mut core = Core::new(State::Trying, rel, tv);
        core.transmit(&request);
        if !rel.is_reliable() {
            core.arm(Timer::E as usize, now, tv.t1);
        }
        core.arm(Timer::F as usize, now, tv.t1_x64());
        Self {
            core,
            request,
            interval_e: tv.t1,
        }
    }

    /// A response matched to this transaction arrived.
    pub fn handle_response(&mut self, now: Instant, code: u16) {
        let Some(c) = class(code) else { return };
        match (self.core.state, c) {
            // §17.1.2.2: provisionals go to the TU; Trying → Proceeding. Timer E keeps its
            // current deadline and is reset to T2 when it next fires.
            (State::Trying | State::Proceeding, Class::Provisional) => {
                self.core.state = State::Proceeding;
                self.core.push(TxnOutput::Deliver(code));
            }
            // §17.1.2.2: a final (200–699) goes to the TU; Completed waits out Timer K.
            (State::Trying | State::Proceeding, Class::Success | Class::Failure) => {
                self.core.timers.stop(Timer::E as usize);
                self.core.timers.stop(Timer::F as usize);
                self.core.push(TxnOutput::Deliver(code));
                let k = self.core.tv.t4;
                self.core
                    .wait_then_terminate(State::Completed, Timer::K as usize, now, k);
            }
            // §17.1.2.2: retransmitted finals in Completed are absorbed.
            _ => {}
        }
    }

    /// The endpoint failed to send the request (§17.1.4): inform the TU and terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if matches!(self.core.state, State::Trying | State::Proceeding) {
            self.core.push(TxnOutput::TransportError);
            self.core.terminate();
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // §17.1.2.2: Timer F in Trying or Proceeding: the TU gets a timeout (it reports 408).
        if self.core.timers.take_expired(Timer::F as usize, now) {
            self.core.push(TxnOutput::Timeout);
            self.core.terminate();
            return;
        }
        // §17.1.2.2: Timer E: retransmit; next interval MIN(2*previous, T2) in Trying, T2 in
        // Proceeding.
        if self.core.timers.take_expired(Timer::E as usize, now) {
            let t2 = self.core.tv.t2;
            self.interval_e = match self.core.state {
                State::Trying => self.interval_e.saturating_mul(2).min(t2),
                _ => t2,
            };
            self.core.transmit(&self.request);
            self.core.arm(Timer::E as usize, now, self.interval_e);
        }
        // §17.1.2.2: Timer K ends Completed.
        if self.core.timers.take_expired(Timer::K as usize, now) {
            self.core.terminate();
        }
    }

    common_surface!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::txn::test_support::{Sim, every, outputs, transmit_ms};
    use TxnOutput::{Deliver, Terminated, Timeout, Transmit};

    const BYE: &[u8] = b"BYE sip:bob@example.com SIP/2.0\r\n\r\n";

    fn start(sim: &Sim, rel: Reliability) -> ClientNonInvite {
        ClientNonInvite::new(
            sim.now,
            Bytes::from_static(BYE),
            rel,
            TimerValues::default(),
        )
    }

    #[test]
    fn unanswered_request_over_udp_backs_off_to_t2_then_times_out_at_64_t1() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.run(&mut tx);
        let log = sim.take();
        let mut want = vec![0, 500, 1500, 3500];
        want.extend(every(7500, 4000, 32_000));
        assert_eq!(*want.last().unwrap(), 31_500);
        assert_eq!(transmit_ms(&log), want);
        let n = log.len();
        assert_eq!(log[n - 2].0.as_millis(), 32_000);
        assert_eq!(outputs(&log[n - 2..]), [Timeout, Terminated]);
        assert!(
            outputs(&log[..n - 2])
                .iter()
                .all(|o| *o == Transmit(Bytes::from_static(BYE)))
        );
    }

    #[test]
    fn unanswered_request_over_tcp_is_sent_once() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0]);
        assert_eq!(outputs(&log)[1..], [Timeout, Terminated]);
        assert_eq!(log[1].0.as_millis(), 32_000);
    }

    #[test]
    fn after_a_provisional_the_request_is_retransmitted_every_t2() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.run_until(&mut tx, 0.6);
        let now = sim.set(0.6);
        tx.handle_response(now, 100);
        tx.handle_response(now, 180);
        assert_eq!(tx.state(), State::Proceeding);
        sim.run(&mut tx);
        let log = sim.take();
        // 1.5 s is the pending Timer E (armed in Trying); from then on every T2.
        let mut want = vec![0, 500];
        want.extend(every(1500, 4000, 32_000));
        assert_eq!(transmit_ms(&log), want);
        assert_eq!(outputs(&log)[2..4], [Deliver(100), Deliver(180)]);
        assert_eq!(outputs(&log[log.len() - 2..]), [Timeout, Terminated]);
    }

    #[test]
    fn final_is_delivered_once_and_retransmissions_absorbed_until_timer_k() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.run_until(&mut tx, 2.0);
        sim.input(&mut tx, 2.0, |tx, now| tx.handle_response(now, 200));
        assert_eq!(tx.state(), State::Completed);
        sim.input(&mut tx, 3.0, |tx, now| {
            tx.handle_response(now, 200);
            tx.handle_response(now, 180);
        });
        sim.run(&mut tx);
        let log = sim.take();
        assert_eq!(transmit_ms(&log), [0, 500, 1500]);
        let tail: Vec<_> = log[3..]
            .iter()
            .map(|(t, o)| (t.as_millis(), o.clone()))
            .collect();
        assert_eq!(tail, [(2000, Deliver(200)), (7000, Terminated)]);
    }

    #[test]
    fn final_over_tcp_terminates_at_once() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Reliable);
        sim.drain(&mut tx);
        tx.handle_response(sim.now, 404);
        assert!(tx.is_terminated());
        tx.handle_response(sim.now, 404);
        sim.drain(&mut tx);
        assert_eq!(outputs(&sim.take())[1..], [Deliver(404), Terminated]);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn transport_error_informs_the_tu_and_terminates() {
        let mut sim = Sim::new();
        let mut tx = start(&sim, Reliability::Unreliable);
        sim.drain(&mut tx);
        tx.handle_transport_error(sim.now);
        sim.run(&mut tx);
        assert_eq!(
            outputs(&sim.take())[1..],
            [TxnOutput::TransportError, Terminated]
        );
    }
}
