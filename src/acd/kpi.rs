//! The queue numbers' definitions, shared by the manager reports (`report::metrics`) and
//! the live counters of `zvon status queues` ([`super::Acd::queues`]): one function per
//! definition, pure, written out in README.md ("Reports", `zvon report queues`).
//!
//! ```text
//! offered         visits = ENTERQUEUE + FULL + JOINEMPTY
//! answered_in_sl  answered visits with hold <= T (whole seconds, as CONNECT logs it)
//! abandoned       ABANDON after waiting >= S (short abandons: < S)
//! service_level   answered_in_sl / offered
//! abandon_rate    abandoned / offered
//! asa_s           sum of hold / answered
//! ```

/// The default short-abandon threshold S, seconds.
pub const DEFAULT_SHORT_ABANDON: u64 = 5;

/// A hold of `hold_s` seconds is within the service-level threshold `t_s`: hold ≤ T.
pub fn in_service_level(hold_s: u64, t_s: u64) -> bool {
    hold_s <= t_s
}

/// An abandon after `wait_s` seconds is a short abandon for threshold `short_s`: wait < S.
pub fn is_short_abandon(wait_s: u64, short_s: u64) -> bool {
    wait_s < short_s
}

fn ratio(num: f64, den: u64) -> Option<f64> {
    (den > 0).then(|| num / den as f64)
}

/// Service level: answered_in_sl / offered (`None` for 0 offered).
pub fn service_level(answered_in_sl: u64, offered: u64) -> Option<f64> {
    ratio(answered_in_sl as f64, offered)
}

/// Abandon rate: abandoned (short abandons not counted) / offered.
pub fn abandon_rate(abandoned: u64, offered: u64) -> Option<f64> {
    ratio(abandoned as f64, offered)
}

/// Average speed of answer: Σ hold / answered, seconds.
pub fn asa_s(hold_s: u64, answered: u64) -> Option<f64> {
    ratio(hold_s as f64, answered)
}

/// The live counters of one queue, kept from the queue events as the engine writes them
/// (the events the reports read), with the definitions above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueKpis {
    pub offered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    /// Σ hold of the answered, whole seconds.
    pub hold_s: u64,
    /// ABANDON after waiting ≥ S.
    pub abandoned: u64,
    /// ABANDON after waiting < S.
    pub short_abandoned: u64,
    /// EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY, FULL, JOINEMPTY, CALLBACKFAILED.
    pub overflowed: u64,
}

impl QueueKpis {
    /// Counts queue event `event` with `data` for a queue with service-level threshold
    /// `t_s` and short-abandon threshold `short_s`, reading the fields as the reports do
    /// (CONNECT data1 = hold, ABANDON data3 = wait).
    pub fn event(&mut self, event: &str, data: &[String], t_s: u64, short_s: u64) {
        let num = |i: usize| {
            data.get(i)
                .and_then(|d| d.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        match event {
            "ENTERQUEUE" => self.offered += 1,
            "FULL" | "JOINEMPTY" => {
                self.offered += 1;
                self.overflowed += 1;
            }
            "CONNECT" => {
                let hold = num(0);
                self.answered += 1;
                self.hold_s += hold;
                if in_service_level(hold, t_s) {
                    self.answered_in_sl += 1;
                }
            }
            "ABANDON" => {
                if is_short_abandon(num(2), short_s) {
                    self.short_abandoned += 1;
                } else {
                    self.abandoned += 1;
                }
            }
            "EXITWITHTIMEOUT" | "EXITWITHKEY" | "EXITEMPTY" | "CALLBACKFAILED" => {
                self.overflowed += 1;
            }
            _ => {}
        }
    }

    /// [`service_level`].
    pub fn service_level(&self) -> Option<f64> {
        service_level(self.answered_in_sl, self.offered)
    }

    /// [`abandon_rate`].
    pub fn abandon_rate(&self) -> Option<f64> {
        abandon_rate(self.abandoned, self.offered)
    }

    /// [`asa_s`].
    pub fn asa_s(&self) -> Option<f64> {
        asa_s(self.hold_s, self.answered)
    }
}
