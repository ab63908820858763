//! Sample-rate conversion between the telephony rates (8/12/16/24/48 kHz, any rational ratio),
//! mono `i16`, by an in-tree polyphase FIR.
//!
//! Contract: [`Resampler::process`] appends the output for each input chunk and carries the
//! filter history and the fractional phase across calls, so processing a signal in 20 ms
//! chunks gives exactly the same samples as one pass. The output lags the input by the
//! filter's group delay (≈ 3 ms).
//!
//! Design: the ratio `to/from` is reduced to `L/M`; one Kaiser-windowed sinc prototype
//! (β = 7.86, ≈ 80 dB stop band) runs at `L·from` with its pass band edge at 0.8 and its stop
//! band edge at 1.0 × the lower Nyquist frequency, split into `L` phases of `K` taps so each
//! output sample costs `K` (~50) multiply-adds. `rubato` was the alternative; it is not a
//! dependency yet, works on `f32`/`f64` frames with its own chunk-size rules (its fixed-ratio
//! `FastFixedIn`/`SincFixedIn` want fixed input chunks), and the in-tree filter measures at a
//! few µs per 20 ms frame (see `codec_cost`), which is all the media path needs.

/// Polyphase FIR resampler. See the module docs.
#[derive(Clone, Debug)]
pub struct Resampler {
    up: usize,
    down: usize,
    taps: usize,
    /// `up` phases × `taps` coefficients, each phase stored in input order (oldest first).
    coeffs: Vec<f32>,
    /// Input history (`taps − 1` samples of the past) followed by not yet consumed input.
    buf: Vec<f32>,
    /// Position of the next output in the upsampled domain, relative to `buf[taps − 1]`.
    pos: usize,
    passthrough: bool,
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zeroth-order modified Bessel function of the first kind (series), for the Kaiser window.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / f64::from(k * k);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

impl Resampler {
    /// Stop band attenuation the prototype is designed for, dB.
    const ATTEN_DB: f64 = 80.0;

    /// A resampler from `from` Hz to `to` Hz. Equal rates (or a zero rate) copy the input.
    pub fn new(from: u32, to: u32) -> Self {
        if from == to || from == 0 || to == 0 {
            return Self {
                up: 1,
                down: 1,
                taps: 1,
                coeffs: vec![1.0],
                buf: Vec::new(),
                pos: 0,
                passthrough: true,
            };
        }
        let g = gcd(from, to);
        let (up, down) = ((to / g) as usize, (from / g) as usize);
        let fs_up = f64::from(from) * up as f64;
        let nyq = f64::from(from.min(to)) / 2.0;
        let (pass, stop) = (0.8 * nyq, nyq);
        let cutoff = (pass + stop) / 2.0 / fs_up; // cycles per upsampled sample
        let dw = 2.0 * std::f64::consts::PI * (stop - pass) / fs_up;
        // Kaiser's formulas (Oppenheim & Schafer 7.6): length and β for ATTEN_DB.
        let n_est = ((Self::ATTEN_DB - 7.95) / (2.285 * dw)).ceil() as usize + 1;
        let beta = 0.1102 * (Self::ATTEN_DB - 8.7);
        let taps = n_est.div_ceil(up).max(2);
        let n = taps * up;
        let mid = (n - 1) as f64 / 2.0;
        let i0b = bessel_i0(beta);
        let proto: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 - mid;
                let x = 2.0 * cutoff * t;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let r = t / mid.max(1.0);
                let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
                2.0 * cutoff * sinc * w * up as f64 // gain `up` restores the level after zero-stuffing
            })
            .collect();
        // Phase p, tap j (oldest input first) is proto[p + (taps − 1 − j)·up].
        let mut coeffs = vec![0.0f32; up * taps];
        for p in 0..up {
            for j in 0..taps {
                coeffs[p * taps + j] = proto[p + (taps - 1 - j) * up] as f32;
            }
        }
        Self {
            up,
            down,
            taps,
            coeffs,
            buf: vec![0.0; taps - 1],
            pos: 0,
            passthrough: false,
        }
    }

    /// Resamples `input`, appending to `out`. Filter state carries over to the next call.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        self.buf.extend(input.iter().map(|&s| f32::from(s)));
        let avail = self.buf.len() - (self.taps - 1); // inputs at indices taps−1 ..
        out.reserve(input.len() * self.up / self.down + 1);
        loop {
            let base = self.pos / self.up; // newest input used, counted from buf[taps − 1]
            if base >= avail {
                break;
            }
            let phase = self.pos % self.up;
            let c = &self.coeffs[phase * self.taps..(phase + 1) * self.taps];
            let x = &self.buf[base..base + self.taps];
            let y = dot(c, x);
            out.push(y.round().clamp(-32768.0, 32767.0) as i16);
            self.pos += self.down;
        }
        // Drop consumed input, keeping `taps − 1` samples of history before the next base.
        let next_base = self.pos / self.up;
        let drop = next_base.min(avail);
        self.buf.drain(..drop);
        self.pos -= drop * self.up;
    }

    /// The filter's group delay in output samples (for aligning test signals).
    pub fn delay(&self) -> f64 {
        if self.passthrough {
            0.0
        } else {
            ((self.taps * self.up - 1) as f64 / 2.0) / self.down as f64
        }
    }
}

/// Dot product with eight independent accumulators (lets the compiler vectorise).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::testsig::*;

    fn run(from: u32, to: u32, freq: f64, amp: f64, secs: f64) -> Vec<i16> {
        let mut r = Resampler::new(from, to);
        let x = tone(from, freq, amp, (f64::from(from) * secs) as usize);
        let mut y = Vec::new();
        r.process(&x, &mut y);
        y
    }

    fn db(p: f64, q: f64) -> f64 {
        10.0 * (p / q).log10()
    }

    const PAIRS: [(u32, u32); 12] = [
        (8000, 16_000),
        (16_000, 8000),
        (8000, 48_000),
        (48_000, 8000),
        (16_000, 48_000),
        (48_000, 16_000),
        (8000, 12_000),
        (12_000, 8000),
        (24_000, 48_000),
        (48_000, 24_000),
        (12_000, 16_000),
        (16_000, 24_000),
    ];

    #[test]
    fn a_tone_keeps_its_frequency_and_amplitude_within_1db() {
        for (from, to) in PAIRS {
            for freq in [440.0, 1000.0, 3000.0] {
                let y = run(from, to, freq, 10_000.0, 0.5);
                let expect = (f64::from(to) * 0.5) as usize;
                assert!(
                    y.len().abs_diff(expect) <= 1,
                    "{from}->{to}: {} samples",
                    y.len()
                );
                let body = &y[y.len() / 4..];
                let peak = peak_freq(body, to, 100.0, 3900.0, 10.0);
                assert!(
                    (peak - freq).abs() <= 10.0,
                    "{from}->{to} {freq}: peak {peak}"
                );
                let gain = db(power_at(body, to, freq), 10_000.0f64.powi(2) / 2.0);
                assert!(gain.abs() < 1.0, "{from}->{to} {freq}: gain {gain} dB");
            }
        }
    }

    #[test]
    fn images_of_an_upsampled_tone_are_below_40db() {
        for (from, to) in [
            (8000, 16_000),
            (8000, 48_000),
            (16_000, 48_000),
            (8000, 12_000),
        ] {
            let y = run(from, to, 1000.0, 10_000.0, 0.5);
            let body = &y[y.len() / 4..];
            let signal = power_at(body, to, 1000.0);
            let image = power_at(body, to, f64::from(from) - 1000.0);
            assert!(
                db(signal, image) > 40.0,
                "{from}->{to}: {} dB",
                db(signal, image)
            );
        }
    }

    #[test]
    fn out_of_band_input_does_not_alias_when_downsampling() {
        for (from, to, f) in [
            (48_000, 8000, 6000.0),
            (16_000, 8000, 5000.0),
            (48_000, 16_000, 10_000.0),
        ] {
            let y = run(from, to, f, 10_000.0, 0.5);
            let body = &y[y.len() / 4..];
            let alias = f64::from(to) - f;
            let p = power_at(body, to, alias);
            let rel = db(10_000.0f64.powi(2) / 2.0, p.max(1e-9));
            assert!(
                rel > 40.0,
                "{from}->{to}: alias at {alias} only {rel} dB down"
            );
        }
    }

    #[test]
    fn processing_in_20ms_chunks_equals_one_pass() {
        for (from, to) in PAIRS {
            let x = tone(from, 700.0, 9000.0, from as usize);
            let mut one = Vec::new();
            Resampler::new(from, to).process(&x, &mut one);
            let mut r = Resampler::new(from, to);
            let mut chunked = Vec::new();
            for c in x.chunks(from as usize / 50) {
                r.process(c, &mut chunked);
            }
            assert_eq!(one, chunked, "{from}->{to}");
            // odd chunk sizes too
            let mut r = Resampler::new(from, to);
            let mut odd = Vec::new();
            let mut rest = &x[..];
            let mut k = 1;
            while !rest.is_empty() {
                let n = k.min(rest.len());
                r.process(&rest[..n], &mut odd);
                rest = &rest[n..];
                k = k % 97 + 13;
            }
            assert_eq!(one, odd, "{from}->{to} odd chunks");
        }
    }

    #[test]
    fn equal_rates_pass_through_and_full_scale_saturates() {
        let mut r = Resampler::new(8000, 8000);
        let mut y = Vec::new();
        r.process(&[1, 2, 3], &mut y);
        assert_eq!(y, [1, 2, 3]);
        assert_eq!(r.delay(), 0.0);
        let mut r = Resampler::new(8000, 48_000);
        let sq: Vec<i16> = (0..800)
            .map(|i| if i % 8 < 4 { i16::MAX } else { i16::MIN })
            .collect();
        r.process(&sq, &mut y); // overshoot clamps instead of wrapping
        assert!(r.delay() > 0.0);
    }
}
