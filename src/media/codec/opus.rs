//! Opus (RFC 6716) over the system libopus via `audiopus`, RTP payload format RFC 7587.
//!
//! Contract: mono PCM at 8/12/16/24/48 kHz. The decoder is always mono: libopus downmixes a
//! stereo stream itself (RFC 6716 §2.1.2 / RFC 7587 §3.4 — a receiver may always decode to
//! mono). Loss concealment is libopus's own PLC (decoding a missing packet, RFC 6716 §4.4).
//! The encoder uses the VoIP application, the configured complexity and bit rate capped by
//! `maxaveragebitrate`, and in-band FEC / DTX as the far end asked in `a=fmtp` (RFC 7587 §6.1).
//! Packet durations are 10, 20, 40 or 60 ms (the frame sizes libopus produces in one packet).

use std::time::Duration;

use audiopus::coder::{Decoder as RawDecoder, Encoder as RawEncoder};
use audiopus::{Application, Bitrate, Channels, SampleRate, Signal};

use super::{CodecError, Decoder, Encoder, frame_samples};
use crate::media::Format;

/// The Opus rate at or above `rate` (8/12/16/24/48 kHz), 48 kHz above 24 kHz.
pub fn opus_rate(rate: u32) -> u32 {
    match rate {
        0..=8000 => 8000,
        8001..=12_000 => 12_000,
        12_001..=16_000 => 16_000,
        16_001..=24_000 => 24_000,
        _ => 48_000,
    }
}

fn sample_rate(rate: u32) -> Result<SampleRate, CodecError> {
    Ok(match rate {
        8000 => SampleRate::Hz8000,
        12_000 => SampleRate::Hz12000,
        16_000 => SampleRate::Hz16000,
        24_000 => SampleRate::Hz24000,
        48_000 => SampleRate::Hz48000,
        r => return Err(CodecError::UnsupportedRate(r)),
    })
}

fn opus_err(e: audiopus::Error) -> CodecError {
    CodecError::Opus(e.to_string())
}

/// Opus decoder (mono output; stereo streams are downmixed by libopus).
#[derive(Debug)]
pub struct OpusDecoder {
    raw: RawDecoder,
    rate: u32,
    /// Scratch for one packet: 120 ms, the longest Opus packet (RFC 6716 §3.2.5).
    scratch: Vec<i16>,
}

impl OpusDecoder {
    /// A mono decoder producing `rate` Hz (8/12/16/24/48 kHz).
    pub fn new(rate: u32) -> Result<Self, CodecError> {
        let raw = RawDecoder::new(sample_rate(rate)?, Channels::Mono).map_err(opus_err)?;
        Ok(Self {
            raw,
            rate,
            scratch: vec![0; rate as usize * 120 / 1000],
        })
    }
}

impl Decoder for OpusDecoder {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        if payload.is_empty() {
            // RFC 7587 §4.2 forbids empty payloads; treat as loss upstream.
            return Err(CodecError::BadPayload);
        }
        let n = self
            .raw
            .decode(Some(payload), &mut self.scratch[..], false)
            .map_err(|_| CodecError::BadPayload)?;
        out.extend_from_slice(&self.scratch[..n.min(self.scratch.len())]);
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        // libopus conceals in multiples of 2.5 ms; ask for whole 2.5 ms blocks and pad the rest.
        let block = (self.rate / 400) as usize;
        let want = (samples / block.max(1) * block).min(self.scratch.len());
        let got = if want > 0 {
            self.raw
                .decode(None::<&[u8]>, &mut self.scratch[..want], false)
                .unwrap_or(0)
        } else {
            0
        };
        let got = got.min(samples);
        out.extend_from_slice(&self.scratch[..got]);
        out.resize(out.len() + (samples - got), 0);
    }

    fn conceal_with_next(&mut self, samples: usize, next: &[u8], out: &mut Vec<i16>) {
        // RFC 6716 §2.1.7 / opus_decode(decode_fec=1): decode the LBRR copy of the lost frame
        // carried in the next packet; without one libopus falls back to PLC by itself.
        let block = (self.rate / 400) as usize;
        let want = (samples / block.max(1) * block).min(self.scratch.len());
        if next.is_empty() || want == 0 {
            return self.conceal(samples, out);
        }
        match self.raw.decode(Some(next), &mut self.scratch[..want], true) {
            Ok(n) => {
                let got = n.min(samples);
                out.extend_from_slice(&self.scratch[..got]);
                out.resize(out.len() + (samples - got), 0);
            }
            Err(_) => self.conceal(samples, out),
        }
    }
}

/// Opus encoder (mono input at one of the Opus rates).
#[derive(Debug)]
pub struct OpusEncoder {
    raw: RawEncoder,
    rate: u32,
    frame: usize,
}

impl OpusEncoder {
    /// An encoder at `rate` for a leg with format `f`.
    pub fn new(rate: u32, f: &Format, s: &super::EncoderSettings) -> Result<Self, CodecError> {
        let ms = f.ptime.as_millis();
        if f.ptime.subsec_micros() % 1000 != 0 || ![10, 20, 40, 60].contains(&ms) {
            return Err(CodecError::UnsupportedPtime(f.ptime));
        }
        let mut raw = RawEncoder::new(sample_rate(rate)?, Channels::Mono, Application::Voip)
            .map_err(opus_err)?;
        raw.set_complexity(s.opus_complexity.clamp(0, 10) as u8)
            .map_err(opus_err)?;
        raw.set_signal(Signal::Voice).map_err(opus_err)?;
        let cap = i32::try_from(f.opus.max_average_bitrate).unwrap_or(i32::MAX);
        let bitrate = match (s.opus_bitrate, cap) {
            (b, 0) if b > 0 => Some(b),
            (b, c) if b > 0 => Some(b.min(c)),
            // RFC 7587 §6.1: maxaveragebitrate 6000..=510000
            (_, c) if c > 0 => Some(c),
            _ => None,
        };
        if let Some(b) = bitrate {
            raw.set_bitrate(Bitrate::BitsPerSecond(b.clamp(6000, 510_000)))
                .map_err(opus_err)?;
        }
        // RFC 7587 §6.1 useinbandfec: the receiver can use FEC, so send it; FEC needs a loss
        // estimate to be spent on, 10 % is the usual default for VoIP.
        raw.set_inband_fec(f.opus.fec).map_err(opus_err)?;
        if f.opus.fec {
            raw.set_packet_loss_perc(10).map_err(opus_err)?;
        }
        // RFC 7587 §6.1 usedtx
        raw.set_encoder_ctl_request(audiopus::ffi::OPUS_SET_DTX_REQUEST, i32::from(f.opus.dtx))
            .map_err(opus_err)?;
        Ok(Self {
            raw,
            rate,
            frame: frame_samples(rate, Duration::from_millis(ms as u64)),
        })
    }
}

impl Encoder for OpusEncoder {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.clear();
        if pcm.len() != self.frame {
            return Err(CodecError::FrameSize {
                expected: self.frame,
                got: pcm.len(),
            });
        }
        // 1275 octets is the largest single Opus frame (RFC 6716 §3.2.1); 60 ms = 3 frames.
        out.resize(4000, 0);
        let n = self.raw.encode(pcm, &mut out[..]).map_err(opus_err)?;
        out.truncate(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::testsig::*;
    use crate::media::codec::{EncoderSettings, encoder_at};
    use crate::media::{Codec, OpusParams};

    fn fmt(mpr: u32) -> Format {
        Format {
            codec: Codec::Opus,
            pt: 111,
            ptime: Duration::from_millis(20),
            opus: OpusParams {
                max_playback_rate: mpr,
                ..OpusParams::default()
            },
            dtmf_pt: None,
        }
    }

    fn round_trip(rate: u32, freq: f64) -> (Vec<i16>, Vec<i16>) {
        let s = EncoderSettings::default();
        let mut enc = encoder_at(&fmt(48_000), &s, rate).unwrap();
        assert_eq!(enc.rate(), rate);
        let mut dec = OpusDecoder::new(rate).unwrap();
        let n = frame_samples(rate, Duration::from_millis(20));
        let pcm = tone(rate, freq, 8000.0, n * 50);
        let mut out = Vec::new();
        let mut bytes = Vec::new();
        for frame in pcm.chunks(n) {
            enc.encode(frame, &mut bytes).unwrap();
            assert!(!bytes.is_empty() && bytes.len() < 400);
            dec.decode(&bytes, &mut out).unwrap();
        }
        assert_eq!(out.len(), pcm.len());
        (pcm, out)
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_energy_at_every_rate() {
        for rate in [8000, 12_000, 16_000, 24_000, 48_000] {
            for freq in [440.0, 1000.0] {
                let (pcm, out) = round_trip(rate, freq);
                let skip = rate as usize / 5; // 200 ms of encoder start-up
                let peak = peak_freq(&out[skip..], rate, 200.0, 3400.0, 20.0);
                assert!(
                    (peak - freq).abs() <= 20.0,
                    "{rate} Hz: peak {peak} for {freq}"
                );
                let ratio = rms2(&out[skip..]) / rms2(&pcm[skip..]);
                assert!(
                    (0.5..2.0).contains(&ratio),
                    "{rate} Hz: energy ratio {ratio}"
                );
            }
        }
    }

    #[test]
    fn concealment_appends_the_requested_samples() {
        let (_, _) = round_trip(16_000, 440.0);
        let mut dec = OpusDecoder::new(16_000).unwrap();
        let mut out = vec![7];
        dec.conceal(320, &mut out);
        assert_eq!(out.len(), 321);
        dec.conceal(3, &mut out); // less than a 2.5 ms block: padded with silence
        assert_eq!(out.len(), 324);
    }

    #[test]
    fn in_band_fec_recovers_a_lost_frame_from_the_next_packet() {
        let mut f = fmt(16_000);
        f.opus.fec = true;
        let s = EncoderSettings::default();
        let mut enc = OpusEncoder::new(16_000, &f, &s).unwrap();
        let pcm = tone(16_000, 440.0, 8000.0, 320 * 50);
        let packets: Vec<Vec<u8>> = pcm
            .chunks(320)
            .map(|c| {
                let mut o = Vec::new();
                enc.encode(c, &mut o).unwrap();
                o
            })
            .collect();
        let mut dec = OpusDecoder::new(16_000).unwrap();
        let mut out = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if i == 30 {
                dec.conceal_with_next(320, &packets[31], &mut out);
            } else {
                dec.decode(p, &mut out).unwrap();
            }
        }
        assert_eq!(out.len(), pcm.len());
        let lost = &out[30 * 320..31 * 320];
        let ratio = rms2(lost) / rms2(&pcm[30 * 320..31 * 320]);
        assert!(
            (0.3..2.0).contains(&ratio),
            "recovered energy ratio {ratio}"
        );
    }

    #[test]
    fn stereo_streams_are_downmixed_to_mono() {
        let enc =
            RawEncoder::new(SampleRate::Hz48000, Channels::Stereo, Application::Voip).unwrap();
        let mono = tone(48_000, 1000.0, 8000.0, 960 * 20);
        let mut dec = OpusDecoder::new(48_000).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4000];
        for frame in mono.chunks(960) {
            let stereo: Vec<i16> = frame.iter().flat_map(|&s| [s, s]).collect();
            let n = enc.encode(&stereo, &mut buf).unwrap();
            dec.decode(&buf[..n], &mut out).unwrap();
        }
        assert_eq!(out.len(), mono.len());
        let peak = peak_freq(&out[9600..], 48_000, 200.0, 3400.0, 20.0);
        assert!((peak - 1000.0).abs() <= 20.0);
    }

    #[test]
    fn garbage_and_wrong_frames_are_errors_not_panics() {
        let mut dec = OpusDecoder::new(8000).unwrap();
        let mut out = Vec::new();
        assert_eq!(dec.decode(&[], &mut out), Err(CodecError::BadPayload));
        for len in 1..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = dec.decode(&junk, &mut out);
        }
        let s = EncoderSettings::default();
        let mut enc = encoder_at(&fmt(8000), &s, 8000).unwrap();
        let mut bytes = Vec::new();
        assert!(matches!(
            enc.encode(&[0; 100], &mut bytes),
            Err(CodecError::FrameSize {
                expected: 160,
                got: 100
            })
        ));
        let mut f = fmt(8000);
        f.ptime = Duration::from_millis(30);
        assert!(matches!(
            OpusEncoder::new(8000, &f, &s),
            Err(CodecError::UnsupportedPtime(_))
        ));
    }

    #[test]
    fn fec_dtx_and_bitrate_settings_are_accepted() {
        let mut f = fmt(16_000);
        f.opus.fec = true;
        f.opus.dtx = true;
        f.opus.max_average_bitrate = 20_000;
        let s = EncoderSettings {
            opus_complexity: 10,
            opus_bitrate: 32_000,
        };
        let mut enc = OpusEncoder::new(16_000, &f, &s).unwrap();
        let mut bytes = Vec::new();
        let pcm = tone(16_000, 440.0, 8000.0, 320);
        enc.encode(&pcm, &mut bytes).unwrap();
        // ≤ 20 kbit/s ⇒ ≈ 50 bytes per 20 ms (VBR may overshoot a little)
        assert!(bytes.len() < 120, "{} bytes", bytes.len());
    }
}
