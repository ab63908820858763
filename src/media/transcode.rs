//! One direction of a transcoded bridge: jitter buffer → decode → (resample) → encode.
//!
//! Contract: [`Pipeline::push`] takes the RTP payloads of the `from` leg as they arrive;
//! [`Pipeline::pull`] is called every `to.ptime` (the session tick) and yields at most one
//! encoded frame for the `to` leg plus its RTP timestamp increment. Lost or late frames are
//! concealed by the `from` codec's PLC, so the `to` leg gets a continuous stream once playout
//! has started. No allocation per frame once the buffers have grown.
//!
//! Needless work is avoided: the Opus side always runs at the other side's rate (libopus
//! encodes and decodes 8/12/16/24/48 kHz natively, RFC 6716 §2; an Opus encoder fed from an
//! 8 kHz leg runs at 8 kHz, and at most at the far end's `maxplaybackrate`, RFC 7587 §6.1),
//! so PCMU/PCMA/G.722 ↔ Opus never resample; a resampler exists only when the two audio
//! rates still differ (G.711 ↔ G.722).

use std::time::Instant;

use super::codec::{
    self, CodecError, Decoder, Encoder, EncoderSettings, decoder_at, encoder_at, frame_samples,
};
use super::jitter::{JitterBuffer, Playout};
use super::resample::Resampler;
use super::{Codec, Format};

/// A transcoding pipeline for one direction. See the module docs.
pub struct Pipeline {
    jb: JitterBuffer,
    dec: Box<dyn Decoder>,
    rs: Option<Resampler>,
    enc: Box<dyn Encoder>,
    /// Samples of one `from` frame at the decoder's rate (concealment size).
    from_frame: usize,
    /// Samples of one `to` frame at the encoder's rate.
    to_frame: usize,
    ts_inc: u32,
    /// Try in-band FEC on loss (Opus; without LBRR data in the next packet libopus does PLC).
    fec: bool,
    dec_buf: Vec<i16>,
    fifo: Vec<i16>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("dec_rate", &self.dec.rate())
            .field("enc_rate", &self.enc.rate())
            .field("resampling", &self.rs.is_some())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline from a leg with format `from` to a leg with format `to`.
    pub fn new(from: &Format, to: &Format, s: &EncoderSettings) -> Result<Pipeline, CodecError> {
        // What the decoded audio can contain: an Opus stream may carry up to 48 kHz audio.
        let source_rate = from.codec.audio_rate();
        let enc = encoder_at(to, s, source_rate)?;
        let dec_rate = match from.codec {
            Codec::Opus => codec::opus::opus_rate(enc.rate()),
            c => c.audio_rate(),
        };
        let dec = decoder_at(from, dec_rate)?;
        let rs = (dec.rate() != enc.rate()).then(|| Resampler::new(dec.rate(), enc.rate()));
        let to_frame = frame_samples(enc.rate(), to.ptime);
        if to_frame == 0 {
            return Err(CodecError::UnsupportedPtime(to.ptime));
        }
        let ts_inc = frame_samples(to.codec.clock_rate(), to.ptime) as u32;
        Ok(Pipeline {
            jb: JitterBuffer::new(from.codec.clock_rate(), from.ptime),
            from_frame: frame_samples(dec.rate(), from.ptime).max(1),
            dec,
            rs,
            enc,
            to_frame,
            ts_inc,
            fec: from.codec == Codec::Opus,
            dec_buf: Vec::new(),
            fifo: Vec::new(),
            out: Vec::new(),
        })
    }

    /// An RTP payload from the `from` leg.
    pub fn push(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) {
        self.jb.push(now, seq, ts, payload);
    }

    /// Called every `to.ptime`: at most one encoded frame for the `to` leg and the RTP
    /// timestamp increment for it (`to.codec.clock_rate() × ptime`). `None` while the jitter
    /// buffer has not started.
    pub fn pull(&mut self, now: Instant) -> Option<(&[u8], u32)> {
        let mut pops = 0;
        while self.fifo.len() < self.to_frame {
            pops += 1;
            if pops > 8 {
                // a decoder that yields nothing: fill with silence rather than spin
                self.fifo.resize(self.to_frame, 0);
                break;
            }
            self.dec_buf.clear();
            match self.jb.pop(now) {
                Playout::Frame(p) => {
                    if self.dec.decode(p, &mut self.dec_buf).is_err() || self.dec_buf.is_empty() {
                        self.dec_buf.clear();
                        self.dec.conceal(self.from_frame, &mut self.dec_buf);
                    }
                }
                Playout::Missing => match self.jb.peek_next() {
                    // the lost frame was skipped and its successor is here: FEC (Opus)
                    Some(next) if self.fec => {
                        self.dec
                            .conceal_with_next(self.from_frame, next, &mut self.dec_buf)
                    }
                    _ => self.dec.conceal(self.from_frame, &mut self.dec_buf),
                },
                Playout::Empty => return None,
            }
            match &mut self.rs {
                Some(r) => r.process(&self.dec_buf, &mut self.fifo),
                None => self.fifo.extend_from_slice(&self.dec_buf),
            }
        }
        let res = self.enc.encode(&self.fifo[..self.to_frame], &mut self.out);
        self.fifo.drain(..self.to_frame);
        res.ok()?;
        Some((&self.out, self.ts_inc))
    }

    /// Forgets buffered audio, e.g. when the `from` leg's SSRC changes.
    pub fn reset(&mut self) {
        self.jb.reset();
    }

    /// The jitter buffer (for statistics).
    pub fn jitter_buffer(&self) -> &JitterBuffer {
        &self.jb
    }

    /// True if the pipeline resamples (only when the two audio rates cannot be matched).
    pub fn resamples(&self) -> bool {
        self.rs.is_some()
    }

    /// Decoder and encoder sample rates.
    pub fn rates(&self) -> (u32, u32) {
        (self.dec.rate(), self.enc.rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::OpusParams;
    use crate::media::codec::testsig::*;
    use crate::media::codec::{decoder_at, encoder, encoder_at};
    use std::time::Duration;

    const P: Duration = Duration::from_millis(20);

    fn fmt(codec: Codec) -> Format {
        Format {
            codec,
            pt: codec.static_pt().unwrap_or(111),
            ptime: P,
            opus: OpusParams::default(),
            dtmf_pt: None,
        }
    }

    /// Encodes a tone as the `from` leg would, pushes it through the pipeline with a little
    /// jitter, decodes the output as the `to` phone would, and returns the decoded audio.
    fn run(from: &Format, to: &Format, freq: f64, secs: u32) -> (Vec<i16>, u32, Pipeline) {
        let s = EncoderSettings::default();
        let mut pipe = Pipeline::new(from, to, &s).unwrap();
        let mut src_enc = encoder_at(from, &s, 48_000).unwrap();
        let src_rate = src_enc.rate();
        let n = frame_samples(src_rate, from.ptime);
        let frames = (secs * 50) as usize;
        let pcm = tone(src_rate, freq, 8000.0, n * frames);
        let mut phone_dec = decoder_at(to, 48_000).unwrap();
        let out_rate = phone_dec.rate();
        let t0 = origin();
        let step = frame_samples(from.codec.clock_rate(), from.ptime) as u32;
        let mut payload = Vec::new();
        let mut heard = Vec::new();
        let mut ts_out = 0u32;
        for i in 0..frames + 10 {
            let now = t0 + P * i as u32;
            if i < frames {
                src_enc
                    .encode(&pcm[i * n..(i + 1) * n], &mut payload)
                    .unwrap();
                let jitter = Duration::from_millis((i as u64 * 7) % 13);
                pipe.push(now + jitter, i as u16, i as u32 * step, &payload);
            }
            if let Some((frame, inc)) = pipe.pull(now + Duration::from_millis(15)) {
                assert_eq!(inc, frame_samples(to.codec.clock_rate(), to.ptime) as u32);
                ts_out = ts_out.wrapping_add(inc);
                phone_dec.decode(frame, &mut heard).unwrap();
            }
        }
        assert!(ts_out > 0);
        (heard, out_rate, pipe)
    }

    fn check(from: Codec, to: Codec, freq: f64) -> Pipeline {
        check_fmt(&fmt(from), &fmt(to), freq)
    }

    fn check_fmt(from: &Format, to: &Format, freq: f64) -> Pipeline {
        let (heard, rate, pipe) = run(from, to, freq, 2);
        let body = &heard[heard.len() / 4..heard.len() * 3 / 4];
        let peak = peak_freq(body, rate, 200.0, 3400.0, 10.0);
        assert!(
            (peak - freq).abs() <= 10.0,
            "{:?}→{:?}: peak {peak} Hz for {freq} Hz",
            from.codec,
            to.codec
        );
        let level = rms2(body).sqrt();
        assert!(
            (3000.0..9000.0).contains(&level),
            "{:?}→{:?}: rms {level}",
            from.codec,
            to.codec
        );
        pipe
    }

    #[test]
    fn pcmu_to_opus_keeps_the_tone_without_resampling() {
        let p = check(Codec::Pcmu, Codec::Opus, 440.0);
        assert!(!p.resamples());
        assert_eq!(p.rates(), (8000, 8000));
    }

    #[test]
    fn opus_to_pcmu_decodes_opus_at_8khz() {
        let p = check(Codec::Opus, Codec::Pcmu, 1000.0);
        assert!(!p.resamples());
        assert_eq!(p.rates(), (8000, 8000));
    }

    #[test]
    fn g722_to_pcma_resamples_16k_to_8k() {
        let p = check(Codec::G722, Codec::Pcma, 1000.0);
        assert!(p.resamples());
    }

    #[test]
    fn pcma_to_g722_resamples_8k_to_16k() {
        let p = check(Codec::Pcma, Codec::G722, 440.0);
        assert!(p.resamples());
    }

    #[test]
    fn pcmu_to_pcma_is_decode_and_encode_only() {
        let p = check(Codec::Pcmu, Codec::Pcma, 1000.0);
        assert!(!p.resamples());
    }

    #[test]
    fn opus_with_maxplaybackrate_16k_to_g722_runs_at_16k() {
        let mut from = fmt(Codec::Opus);
        from.opus.max_playback_rate = 16_000;
        let p = check_fmt(&from, &fmt(Codec::G722), 440.0);
        assert!(!p.resamples());
        assert_eq!(p.rates(), (16_000, 16_000));
        // and the other way: G.722 into an Opus leg limited to 16 kHz
        let mut to = fmt(Codec::Opus);
        to.opus.max_playback_rate = 16_000;
        let p = check_fmt(&fmt(Codec::G722), &to, 1000.0);
        assert_eq!(p.rates(), (16_000, 16_000));
    }

    #[test]
    fn nothing_comes_out_before_playout_starts_and_loss_is_concealed() {
        let s = EncoderSettings::default();
        let mut p = Pipeline::new(&fmt(Codec::Pcmu), &fmt(Codec::Opus), &s).unwrap();
        let t0 = origin();
        assert!(p.pull(t0).is_none());
        let mut enc = encoder_at(&fmt(Codec::Pcmu), &s, 8000).unwrap();
        let mut payload = Vec::new();
        let pcm = tone(8000, 440.0, 5000.0, 160 * 100);
        let mut out_frames = 0;
        for i in 0..100usize {
            let now = t0 + P * i as u32;
            enc.encode(&pcm[i * 160..(i + 1) * 160], &mut payload)
                .unwrap();
            if i % 10 != 5 {
                p.push(now, i as u16, i as u32 * 160, &payload);
            }
            if let Some((f, inc)) = p.pull(now) {
                assert!(!f.is_empty());
                assert_eq!(inc, 960);
                out_frames += 1;
            }
        }
        // one frame per tick once started (after ~40 ms), despite 10 % loss
        assert!(out_frames >= 96, "{out_frames}");
        assert!(p.jitter_buffer().counters().lost >= 9);
    }

    #[test]
    fn garbage_payloads_are_concealed_not_fatal() {
        let s = EncoderSettings::default();
        let mut p = Pipeline::new(&fmt(Codec::Opus), &fmt(Codec::Pcmu), &s).unwrap();
        let t0 = origin();
        for i in 0..20u16 {
            let now = t0 + P * u32::from(i);
            p.push(now, i, u32::from(i) * 960, &[0xFF; 3]);
            if let Some((f, _)) = p.pull(now) {
                assert_eq!(f.len(), 160);
            }
        }
    }

    /// A speech-like test signal: a gliding harmonic series with two formants, plus noise.
    fn speechlike(rate: u32, samples: usize) -> Vec<i16> {
        let w = 2.0 * std::f64::consts::PI;
        let mut x: u32 = 7;
        (0..samples)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let f0 = 120.0 + 20.0 * (w * 0.5 * t).sin();
                let mut v = 0.0;
                for h in 1..25 {
                    let fh = f0 * f64::from(h);
                    if fh > f64::from(rate) / 2.0 {
                        break;
                    }
                    let env = 1.0 / (1.0 + ((fh - 700.0) / 200.0).powi(2))
                        + 0.5 / (1.0 + ((fh - 1800.0) / 300.0).powi(2));
                    v += 3000.0 * env * (w * fh * t).sin();
                }
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                v += f64::from((x >> 20) as i32 - 2048) / 4.0;
                v.clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    /// Prints µs per 20 ms frame for each building block. Run in release:
    /// `cargo test --release --lib -- --ignored codec_cost --nocapture`.
    #[test]
    #[ignore]
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall time
    fn codec_cost() {
        use std::hint::black_box;
        const FRAMES: usize = 1500;
        let time = |label: &str, f: &mut dyn FnMut(usize)| {
            for i in 0..50 {
                f(i); // warm up
            }
            let t0 = crate::testkit::bench_clock();
            for i in 0..FRAMES {
                f(i);
            }
            let us = (crate::testkit::bench_clock() - t0).as_secs_f64() * 1e6 / FRAMES as f64;
            println!("codec_cost {label:<34} {us:>8.2} µs / 20 ms frame");
            us
        };
        let s = EncoderSettings::default();
        let sp8 = speechlike(8000, 160 * 64);
        let sp16 = speechlike(16_000, 320 * 64);
        let sp48 = speechlike(48_000, 960 * 64);
        let frame = |x: &[i16], n: usize, i: usize| -> Vec<i16> {
            x[(i % 64) * n..(i % 64 + 1) * n].to_vec()
        };
        let mut out = Vec::new();
        let mut pcm_out = Vec::new();

        for (name, c) in [("PCMU", Codec::Pcmu), ("G.722", Codec::G722)] {
            let (x, n) = if c == Codec::Pcmu {
                (&sp8, 160)
            } else {
                (&sp16, 320)
            };
            let frames: Vec<Vec<i16>> = (0..64).map(|i| frame(x, n, i)).collect();
            let mut enc = encoder(&fmt(c), &s).unwrap();
            time(&format!("{name} encode"), &mut |i| {
                enc.encode(black_box(&frames[i % 64]), &mut out).unwrap();
            });
            let mut enc = encoder(&fmt(c), &s).unwrap();
            let payloads: Vec<Vec<u8>> = frames
                .iter()
                .map(|f| {
                    let mut o = Vec::new();
                    enc.encode(f, &mut o).unwrap();
                    o
                })
                .collect();
            let mut dec = codec::decoder(&fmt(c)).unwrap();
            time(&format!("{name} decode"), &mut |i| {
                pcm_out.clear();
                dec.decode(black_box(&payloads[i % 64]), &mut pcm_out)
                    .unwrap();
            });
        }

        for rate in [8000u32, 16_000, 48_000] {
            let x = match rate {
                8000 => &sp8,
                16_000 => &sp16,
                _ => &sp48,
            };
            let n = frame_samples(rate, P);
            let frames: Vec<Vec<i16>> = (0..64).map(|i| frame(x, n, i)).collect();
            for cx in [0, 1, 2, 3, 5, 10] {
                let st = EncoderSettings {
                    opus_complexity: cx,
                    opus_bitrate: 0,
                };
                let mut enc = encoder_at(&fmt(Codec::Opus), &st, rate).unwrap();
                time(
                    &format!("Opus encode {} kHz cx {cx}", rate / 1000),
                    &mut |i| {
                        enc.encode(black_box(&frames[i % 64]), &mut out).unwrap();
                    },
                );
            }
            let mut enc = encoder_at(&fmt(Codec::Opus), &s, rate).unwrap();
            let payloads: Vec<Vec<u8>> = frames
                .iter()
                .map(|f| {
                    let mut o = Vec::new();
                    enc.encode(f, &mut o).unwrap();
                    o
                })
                .collect();
            let mut dec = decoder_at(&fmt(Codec::Opus), rate).unwrap();
            time(&format!("Opus decode {} kHz", rate / 1000), &mut |i| {
                pcm_out.clear();
                dec.decode(black_box(&payloads[i % 64]), &mut pcm_out)
                    .unwrap();
            });
        }

        for (from, to, x) in [
            (8000u32, 48_000u32, &sp8),
            (48_000, 8000, &sp48),
            (8000, 16_000, &sp8),
            (16_000, 8000, &sp16),
        ] {
            let n = frame_samples(from, P);
            let frames: Vec<Vec<i16>> = (0..64).map(|i| frame(x, n, i)).collect();
            let mut r = Resampler::new(from, to);
            time(
                &format!("resample {}→{} kHz", from / 1000, to / 1000),
                &mut |i| {
                    pcm_out.clear();
                    r.process(black_box(&frames[i % 64]), &mut pcm_out);
                },
            );
        }

        // A full transcoded call: PCMU phone ↔ Opus phone, both directions, per 20 ms tick.
        let mut enc_u = encoder(&fmt(Codec::Pcmu), &s).unwrap();
        let mut enc_o = encoder(&fmt(Codec::Opus), &s).unwrap();
        let pu: Vec<Vec<u8>> = (0..64)
            .map(|i| {
                let mut o = Vec::new();
                enc_u.encode(&frame(&sp8, 160, i), &mut o).unwrap();
                o
            })
            .collect();
        let po: Vec<Vec<u8>> = (0..64)
            .map(|i| {
                let mut o = Vec::new();
                enc_o.encode(&frame(&sp48, 960, i), &mut o).unwrap();
                o
            })
            .collect();
        let t0 = origin();
        for cx in [0, 1, 3, 5] {
            let st = EncoderSettings {
                opus_complexity: cx,
                opus_bitrate: 0,
            };
            let mut u2o = Pipeline::new(&fmt(Codec::Pcmu), &fmt(Codec::Opus), &st).unwrap();
            let mut o2u = Pipeline::new(&fmt(Codec::Opus), &fmt(Codec::Pcmu), &st).unwrap();
            let call = time(&format!("call PCMU↔Opus cx {cx} (both ways)"), &mut |i| {
                let now = t0 + P * i as u32;
                u2o.push(now, i as u16, i as u32 * 160, &pu[i % 64]);
                o2u.push(now, i as u16, i as u32 * 960, &po[i % 64]);
                black_box(u2o.pull(now));
                black_box(o2u.pull(now));
            });
            println!(
                "codec_cost => cx {cx}: {:.0} PCMU↔Opus calls per core (codec work only)",
                20_000.0 / call
            );
        }
        let mut g2a = Pipeline::new(&fmt(Codec::G722), &fmt(Codec::Pcma), &s).unwrap();
        let mut a2g = Pipeline::new(&fmt(Codec::Pcma), &fmt(Codec::G722), &s).unwrap();
        let mut enc_g = encoder(&fmt(Codec::G722), &s).unwrap();
        let pg: Vec<Vec<u8>> = (0..64)
            .map(|i| {
                let mut o = Vec::new();
                enc_g.encode(&frame(&sp16, 320, i), &mut o).unwrap();
                o
            })
            .collect();
        time("call G.722↔PCMA (both directions)", &mut |i| {
            let now = t0 + P * i as u32;
            g2a.push(now, i as u16, i as u32 * 160, &pg[i % 64]);
            a2g.push(now, i as u16, i as u32 * 160, &pu[i % 64]);
            black_box(g2a.pull(now));
            black_box(a2g.pull(now));
        });
    }
}
