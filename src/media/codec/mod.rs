//! Audio codecs behind two small traits: G.711 µ-law/A-law ([`g711`], in-tree, ITU-T G.711),
//! G.722 at 64 kbit/s ([`g722`], in-tree SB-ADPCM, ITU-T G.722 §3–§4) and Opus ([`opus`],
//! `audiopus` over the system libopus, RFC 6716 / RFC 7587).
//!
//! Contract: mono `i16` PCM at [`Decoder::rate`] / [`Encoder::rate`]. Decoders append to the
//! output and never panic on hostile payloads (a bad payload is a [`CodecError`]); encoders
//! take exactly one packetisation time of PCM and clear the output first. Nothing allocates per
//! frame once the output buffers have grown.

pub mod g711;
pub mod g722;
pub mod opus;

use std::time::Duration;

use super::{Codec, Format};

/// Encoder knobs from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Opus complexity 0–10 (default 5; each step costs CPU on every transcoded call).
    pub opus_complexity: i32,
    /// Opus target bit rate, bit/s; 0 = automatic (capped by `maxaveragebitrate`).
    pub opus_bitrate: i32,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            opus_complexity: 5,
            opus_bitrate: 0,
        }
    }
}

/// Why a codec could not be created or could not process a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The encoder was handed a frame of the wrong length.
    #[error("frame of {got} samples, expected {expected}")]
    FrameSize {
        /// Samples expected (one ptime at the encoder's rate).
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// The packetisation time cannot be produced by this codec.
    #[error("unsupported ptime {0:?}")]
    UnsupportedPtime(Duration),
    /// The sample rate cannot be used by this codec.
    #[error("unsupported sample rate {0} Hz")]
    UnsupportedRate(u32),
    /// A payload could not be decoded.
    #[error("undecodable payload")]
    BadPayload,
    /// libopus reported an error.
    #[error("opus: {0}")]
    Opus(String),
}

/// Decodes RTP payloads of one codec to mono PCM.
pub trait Decoder: Send {
    /// Output sample rate, Hz.
    fn rate(&self) -> u32;
    /// Decodes one payload, appending the PCM to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Packet-loss concealment: appends exactly `samples` samples of substitute audio.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>);
    /// Concealment when the packet *after* the lost one is at hand: a codec with in-band
    /// forward error correction (Opus, RFC 6716 §2.1.7) recovers the lost frame from it.
    /// Appends exactly `samples` samples; the default is [`Decoder::conceal`].
    fn conceal_with_next(&mut self, samples: usize, next: &[u8], out: &mut Vec<i16>) {
        let _ = next;
        self.conceal(samples, out);
    }
}

/// Encodes mono PCM frames to RTP payloads of one codec.
pub trait Encoder: Send {
    /// Input sample rate, Hz.
    fn rate(&self) -> u32;
    /// Encodes one ptime frame of `pcm` at [`Encoder::rate`] into `out` (cleared first).
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError>;
}

/// A decoder for `f` at the codec's natural audio rate ([`Codec::audio_rate`]).
pub fn decoder(f: &Format) -> Result<Box<dyn Decoder>, CodecError> {
    decoder_at(f, f.codec.audio_rate())
}

/// A decoder for `f`; for Opus, decoding directly at `rate` (8/12/16/24/48 kHz, libopus decodes
/// at any of them natively, RFC 6716 §2), so that no resampler is needed. Other codecs ignore
/// `rate` and decode at their own.
pub fn decoder_at(f: &Format, rate: u32) -> Result<Box<dyn Decoder>, CodecError> {
    Ok(match f.codec {
        Codec::Pcmu => Box::new(g711::G711Decoder::new(g711::Law::Mu)),
        Codec::Pcma => Box::new(g711::G711Decoder::new(g711::Law::A)),
        Codec::G722 => Box::new(g722::G722Decoder::new()),
        Codec::Opus => Box::new(opus::OpusDecoder::new(opus::opus_rate(rate))?),
    })
}

/// An encoder for `f`. Opus encodes at min(48 kHz, `maxplaybackrate` rounded up to
/// 8/12/16/24/48 kHz) (RFC 7587 §6.1: no point in sending audio the far end will not play).
pub fn encoder(f: &Format, s: &EncoderSettings) -> Result<Box<dyn Encoder>, CodecError> {
    encoder_at(f, s, f.codec.audio_rate())
}

/// Like [`encoder`], but an Opus encoder is also limited to `source_rate` (rounded up to an Opus
/// rate): audio that came from an 8 kHz leg has nothing above 4 kHz, and encoding it at 8 kHz
/// skips both a resampler and most of the encoder's work. Other codecs ignore `source_rate`.
pub fn encoder_at(
    f: &Format,
    s: &EncoderSettings,
    source_rate: u32,
) -> Result<Box<dyn Encoder>, CodecError> {
    Ok(match f.codec {
        Codec::Pcmu => Box::new(g711::G711Encoder::new(g711::Law::Mu)),
        Codec::Pcma => Box::new(g711::G711Encoder::new(g711::Law::A)),
        Codec::G722 => Box::new(g722::G722Encoder::new()),
        Codec::Opus => {
            let rate = opus::opus_rate(f.opus.max_playback_rate.min(source_rate));
            Box::new(opus::OpusEncoder::new(rate, f, s)?)
        }
    })
}

/// The rate a codec's encoder runs at for a leg with format `f` whose audio comes from a leg
/// with audio rate `source_rate` (see [`encoder_at`]).
pub fn encoder_rate(f: &Format, source_rate: u32) -> u32 {
    match f.codec {
        Codec::Opus => opus::opus_rate(f.opus.max_playback_rate.min(source_rate)),
        c => c.audio_rate(),
    }
}

/// Samples in one `ptime` at `rate`.
pub fn frame_samples(rate: u32, ptime: Duration) -> usize {
    (u128::from(rate) * ptime.as_micros() / 1_000_000) as usize
}

/// Simple waveform-repetition concealment for the in-tree codecs: the last decoded frame is
/// replayed with a gain that halves on each consecutive lost frame (−6 dB per frame), reaching
/// silence after five. (G.711 Appendix I pitch-synchronous PLC would sound better; this keeps
/// a lost 20 ms from becoming a click.)
#[derive(Debug, Default)]
pub(crate) struct RepeatPlc {
    last: Vec<i16>,
    lost: u32,
}

impl RepeatPlc {
    /// At most this many samples of history are kept (60 ms at 16 kHz).
    const HISTORY: usize = 960;

    /// Remembers the tail of freshly decoded audio.
    pub(crate) fn good(&mut self, pcm: &[i16]) {
        self.lost = 0;
        let tail = &pcm[pcm.len().saturating_sub(Self::HISTORY)..];
        if tail.is_empty() {
            return;
        }
        self.last.clear();
        self.last.extend_from_slice(tail);
    }

    /// Appends `samples` samples of concealment.
    pub(crate) fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        self.lost = self.lost.saturating_add(1);
        if self.last.is_empty() || self.lost > 5 {
            out.resize(out.len() + samples, 0);
            return;
        }
        let shift = self.lost; // gain 2^-lost
        let n = self.last.len();
        out.extend((0..samples).map(|i| self.last[i % n] >> shift));
    }
}

#[cfg(test)]
pub(crate) mod testsig {
    //! Synthetic signals and measurements for the media tests.

    /// An arbitrary origin for virtual time; never read again.
    pub fn origin() -> std::time::Instant {
        crate::testkit::origin()
    }

    /// A sine tone.
    pub fn tone(rate: u32, freq: f64, amp: f64, samples: usize) -> Vec<i16> {
        tone_at(rate, freq, amp, 0, samples)
    }

    /// A sine tone starting at sample index `start` (for chunked generation).
    pub fn tone_at(rate: u32, freq: f64, amp: f64, start: usize, samples: usize) -> Vec<i16> {
        (start..start + samples)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amp * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
            })
            .collect()
    }

    /// Power of `x` at `freq` (Goertzel), normalised so that a sine of amplitude A gives A²/2.
    pub fn power_at(x: &[i16], rate: u32, freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let (mut re, mut im) = (0.0, 0.0);
        // Hann window against leakage from strong neighbours.
        let n = x.len() as f64;
        for (i, &s) in x.iter().enumerate() {
            let win = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos();
            let v = f64::from(s) * win;
            re += v * (w * i as f64).cos();
            im -= v * (w * i as f64).sin();
        }
        // Hann coherent gain 0.5
        let a = 2.0 * (re * re + im * im).sqrt() / (n * 0.5);
        a * a / 2.0
    }

    /// Mean square.
    pub fn rms2(x: &[i16]) -> f64 {
        x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
    }

    /// The frequency (Hz, at `step` resolution between `lo` and `hi`) with the most power.
    pub fn peak_freq(x: &[i16], rate: u32, lo: f64, hi: f64, step: f64) -> f64 {
        let mut best = (lo, 0.0);
        let mut f = lo;
        while f <= hi {
            let p = power_at(x, rate, f);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    }

    /// Best SNR (dB) of `y` against `x` over lags 0..max_lag, with least-squares gain.
    pub fn aligned_snr(x: &[i16], y: &[i16], max_lag: usize) -> (f64, usize) {
        let mut best = (f64::MIN, 0);
        for lag in 0..max_lag {
            let n = x.len().min(y.len().saturating_sub(lag));
            if n == 0 {
                break;
            }
            let xs = &x[..n];
            let ys = &y[lag..lag + n];
            let xy: f64 = xs
                .iter()
                .zip(ys)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let xx: f64 = xs.iter().map(|&a| f64::from(a) * f64::from(a)).sum();
            let g = if xx > 0.0 { xy / xx } else { 0.0 };
            let err: f64 = xs
                .iter()
                .zip(ys)
                .map(|(&a, &b)| (f64::from(b) - g * f64::from(a)).powi(2))
                .sum();
            let snr = 10.0 * ((g * g * xx) / err.max(1e-9)).log10();
            if snr > best.0 {
                best = (snr, lag);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::OpusParams;

    fn fmt(codec: Codec) -> Format {
        Format {
            codec,
            pt: codec.static_pt().unwrap_or(111),
            ptime: Duration::from_millis(20),
            opus: OpusParams::default(),
            dtmf_pt: None,
        }
    }

    #[test]
    fn factories_pick_the_natural_rates() {
        let s = EncoderSettings::default();
        for (c, r) in [
            (Codec::Pcmu, 8000),
            (Codec::Pcma, 8000),
            (Codec::G722, 16_000),
            (Codec::Opus, 48_000),
        ] {
            assert_eq!(decoder(&fmt(c)).unwrap().rate(), r);
            assert_eq!(encoder(&fmt(c), &s).unwrap().rate(), r);
        }
    }

    #[test]
    fn opus_encoder_follows_maxplaybackrate_and_the_source_rate() {
        let s = EncoderSettings::default();
        let mut f = fmt(Codec::Opus);
        f.opus.max_playback_rate = 16_000;
        assert_eq!(encoder(&f, &s).unwrap().rate(), 16_000);
        f.opus.max_playback_rate = 10_000;
        assert_eq!(encoder(&f, &s).unwrap().rate(), 12_000);
        f.opus.max_playback_rate = 48_000;
        assert_eq!(encoder_at(&f, &s, 8000).unwrap().rate(), 8000);
        assert_eq!(encoder_rate(&f, 8000), 8000);
        assert_eq!(decoder_at(&f, 16_000).unwrap().rate(), 16_000);
    }

    #[test]
    fn repeat_plc_fades_to_silence() {
        let mut p = RepeatPlc::default();
        let mut out = Vec::new();
        p.conceal(10, &mut out);
        assert_eq!(out, vec![0; 10]);
        p.good(&[1000; 160]);
        out.clear();
        p.conceal(160, &mut out);
        assert!(out.iter().all(|&s| s == 500));
        for _ in 0..5 {
            out.clear();
            p.conceal(160, &mut out);
        }
        assert!(out.iter().all(|&s| s == 0));
    }
}
