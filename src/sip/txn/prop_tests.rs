//! Property-style tests: many seeded random sequences of responses, retransmissions, ACKs,
//! transport errors and clock moves against every machine, checking the invariants that the
//! endpoint relies on. Hand-rolled over `StdRng` (no proptest dependency); a failing seed is
//! printed and replays exactly.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::test_support::origin;
use super::{
    ClientInvite, ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, State, TimerValues,
    TxnOutput,
};

const CODES: &[u16] = &[
    0, 99, 100, 180, 183, 200, 202, 299, 300, 302, 404, 486, 500, 603, 699, 700,
];

/// One machine of any kind.
enum Any {
    Ci(ClientInvite),
    Cn(ClientNonInvite),
    Si(ServerInvite),
    Sn(ServerNonInvite),
}

macro_rules! each {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            Any::Ci($m) => $e,
            Any::Cn($m) => $e,
            Any::Si($m) => $e,
            Any::Sn($m) => $e,
        }
    };
}

impl Any {
    fn poll_output(&mut self) -> Option<TxnOutput> {
        each!(self, m => m.poll_output())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        each!(self, m => m.poll_timeout())
    }
    fn handle_timeout(&mut self, now: Instant) {
        each!(self, m => m.handle_timeout(now))
    }
    fn state(&self) -> State {
        each!(self, m => m.state())
    }
    fn is_terminated(&self) -> bool {
        each!(self, m => m.is_terminated())
    }
    fn transport_error(&mut self, now: Instant) {
        each!(self, m => m.handle_transport_error(now))
    }
    fn is_client(&self) -> bool {
        matches!(self, Any::Ci(_) | Any::Cn(_))
    }
}

fn encode(code: u16) -> Bytes {
    Bytes::from(format!("SIP/2.0 {code} X\r\n\r\n"))
}

/// What the checker has seen so far of one machine's outputs.
#[derive(Default)]
struct Seen {
    terminated: bool,
    first_final: Option<u16>,
    acks_built: u32,
    /// Responses the TU handed a server machine (any of these may be transmitted).
    sent_by_tu: Vec<Bytes>,
}

struct Run {
    seed: u64,
    step: usize,
    rng: StdRng,
    now: Instant,
    rel: Reliability,
    m: Any,
    seen: Seen,
    request: Bytes,
    ack: Bytes,
}

impl Run {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let now = origin();
        let rel = if rng.random_bool(0.5) {
            Reliability::Unreliable
        } else {
            Reliability::Reliable
        };
        let tv = TimerValues::default();
        let request = Bytes::from_static(b"REQ sip:x SIP/2.0\r\n\r\n");
        let m = match rng.random_range(0..4) {
            0 => Any::Ci(ClientInvite::new(now, request.clone(), rel, tv)),
            1 => Any::Cn(ClientNonInvite::new(now, request.clone(), rel, tv)),
            2 => Any::Si(ServerInvite::new(now, rel, tv)),
            _ => Any::Sn(ServerNonInvite::new(now, rel, tv)),
        };
        Self {
            seed,
            step: 0,
            rng,
            now,
            rel,
            m,
            seen: Seen::default(),
            request,
            ack: Bytes::from_static(b"ACK sip:x SIP/2.0\r\n\r\n"),
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "seed {} step {} ({:?}): {what}",
            self.seed, self.step, self.rel
        )
    }

    /// Drain and check every output.
    fn drain(&mut self) {
        while let Some(o) = self.m.poll_output() {
            if self.seen.terminated {
                self.fail(&format!("{o:?} after Terminated"));
            }
            match o {
                TxnOutput::Terminated => self.seen.terminated = true,
                TxnOutput::Transmit(b) => {
                    let ok = if self.m.is_client() {
                        b == self.request
                            || (b == self.ack && self.seen.first_final.is_some_and(|c| c >= 300))
                    } else {
                        self.seen.sent_by_tu.contains(&b)
                    };
                    if !ok {
                        self.fail(&format!("unexpected transmit {b:?}"));
                    }
                }
                TxnOutput::Deliver(code) => {
                    if !self.m.is_client() {
                        self.fail("a server delivered a response");
                    }
                    if !(100..=699).contains(&code) {
                        self.fail("delivered an invalid code");
                    }
                    match (self.seen.first_final, code) {
                        (None, 200..) => self.seen.first_final = Some(code),
                        (None, _) => {}
                        // RFC 6026 §8.4: only 2xx after a first 2xx, and only for INVITE.
                        (Some(200..=299), 200..=299) if matches!(self.m, Any::Ci(_)) => {}
                        (Some(first), _) => {
                            self.fail(&format!("Deliver({code}) after final {first}"))
                        }
                    }
                }
                TxnOutput::Timeout | TxnOutput::TransportError => {}
            }
        }
        if self.m.is_terminated() != self.seen.terminated {
            self.fail("is_terminated() disagrees with the Terminated output");
        }
        if self.m.is_terminated() && self.m.poll_timeout().is_some() {
            self.fail("a timer is armed after Terminated");
        }
        if self.seen.acks_built > 1 {
            self.fail("the ACK was built more than once");
        }
    }

    fn fire(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.m.handle_timeout(self.now);
        if self.m.poll_timeout().is_some_and(|t| t <= self.now) {
            self.fail("a timer due at `now` was left armed by handle_timeout");
        }
    }

    fn random_step(&mut self) {
        let code = CODES[self.rng.random_range(0..CODES.len())];
        let now = self.now;
        match self.rng.random_range(0..10) {
            // the clock moves, by a little or a lot, and the runtime calls handle_timeout
            0..=2 => {
                let ms = if self.rng.random_bool(0.3) {
                    0
                } else {
                    self.rng.random_range(0..6_000)
                };
                let at = self.now + Duration::from_millis(ms);
                self.fire(at);
            }
            // jump to the next deadline, as the runtime does
            3 => {
                if let Some(t) = self.m.poll_timeout() {
                    self.fire(t);
                }
            }
            9 if self.rng.random_bool(0.1) => self.m.transport_error(now),
            _ => match &mut self.m {
                Any::Ci(m) => {
                    let (ack, built) = (&self.ack, &mut self.seen.acks_built);
                    m.handle_response(now, code, || {
                        *built += 1;
                        ack.clone()
                    });
                }
                Any::Cn(m) => m.handle_response(now, code),
                Any::Si(m) => match self.rng.random_range(0..3) {
                    0 => m.handle_request_retransmit(now),
                    1 => m.handle_ack(now),
                    _ => {
                        let b = encode(code);
                        self.seen.sent_by_tu.push(b.clone());
                        m.send_response(now, code, b);
                    }
                },
                Any::Sn(m) => {
                    if self.rng.random_bool(0.5) {
                        m.handle_request_retransmit(now);
                    } else {
                        let b = encode(code);
                        self.seen.sent_by_tu.push(b.clone());
                        m.send_response(now, code, b);
                    }
                }
            },
        }
        self.drain();
    }

    /// Liveness: once the TU gives a final (where it owes one), timers alone terminate the
    /// machine within a bounded number of steps.
    fn finish(&mut self) {
        let now = self.now;
        if self.m.state() == State::Proceeding {
            match &mut self.m {
                Any::Ci(m) => {
                    let (ack, built) = (&self.ack, &mut self.seen.acks_built);
                    m.handle_response(now, 486, || {
                        *built += 1;
                        ack.clone()
                    });
                }
                Any::Si(m) => {
                    self.seen.sent_by_tu.push(encode(486));
                    m.send_response(now, 486, encode(486));
                }
                _ => {}
            }
        }
        if let Any::Sn(m) = &mut self.m {
            self.seen.sent_by_tu.push(encode(200));
            m.send_response(now, 200, encode(200));
        }
        self.drain();
        for _ in 0..100 {
            let Some(t) = self.m.poll_timeout() else {
                break;
            };
            self.fire(t);
            self.drain();
        }
        if !self.m.is_terminated() {
            self.fail(&format!("never terminated, stuck in {:?}", self.m.state()));
        }
    }
}

#[test]
fn random_sequences_never_transmit_after_termination_nor_deliver_two_finals() {
    for seed in 0..4_000 {
        let mut run = Run::new(seed);
        run.drain();
        let steps = run.rng.random_range(0..40);
        for step in 0..steps {
            run.step = step;
            run.random_step();
        }
        run.step = usize::MAX;
        run.finish();
        // Inputs after Terminated are ignored.
        run.m.transport_error(run.now);
        run.fire(run.now + Duration::from_secs(100));
        run.drain();
    }
}
