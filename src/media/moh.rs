//! Music on hold: a looped PCM source encoded frame by frame for one leg's format.
//!
//! Contract: the PCM is resampled once, at construction, to the leg encoder's rate (an Opus
//! leg's encoder runs at min(the PCM's rate, `maxplaybackrate`) rounded to an Opus rate, so
//! 8 kHz music is never upsampled for Opus); when the rates already match, the shared
//! `Arc<[i16]>` is used as is, without a copy. The loop is seamless: the resampler is primed
//! with one period so the filter sees the loop's end before its start.
//! [`MohSource::next_frame`] is called once per ptime and allocates nothing.

use std::sync::Arc;

use super::Format;
use super::codec::{CodecError, Encoder, EncoderSettings, encoder_at, frame_samples};
use super::resample::Resampler;

/// A looped, encoded music-on-hold source for one leg.
pub struct MohSource {
    pcm: Arc<[i16]>,
    pos: usize,
    enc: Box<dyn Encoder>,
    frame: Vec<i16>,
    out: Vec<u8>,
    ts_inc: u32,
}

impl std::fmt::Debug for MohSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MohSource")
            .field("samples", &self.pcm.len())
            .field("rate", &self.enc.rate())
            .finish_non_exhaustive()
    }
}

impl MohSource {
    /// A source playing `pcm` (mono, `pcm_rate` Hz) in a loop, encoded for a leg with `to`.
    pub fn new(
        pcm: Arc<[i16]>,
        pcm_rate: u32,
        to: &Format,
        s: &EncoderSettings,
    ) -> Result<Self, CodecError> {
        let enc = encoder_at(to, s, pcm_rate)?;
        let rate = enc.rate();
        let pcm = if rate == pcm_rate || pcm.is_empty() || pcm_rate == 0 {
            pcm
        } else {
            // Resample two periods; keep the second, whose filter history is the loop's end.
            let mut r = Resampler::new(pcm_rate, rate);
            let mut first = Vec::new();
            r.process(&pcm, &mut first);
            let mut second = Vec::with_capacity(first.len() + 1);
            r.process(&pcm, &mut second);
            Arc::from(second)
        };
        let n = frame_samples(rate, to.ptime);
        if n == 0 {
            return Err(CodecError::UnsupportedPtime(to.ptime));
        }
        Ok(Self {
            pcm,
            pos: 0,
            enc,
            frame: vec![0; n],
            out: Vec::new(),
            ts_inc: frame_samples(to.codec.clock_rate(), to.ptime) as u32,
        })
    }

    /// The next encoded frame and its RTP timestamp increment.
    pub fn next_frame(&mut self) -> (&[u8], u32) {
        if self.pcm.is_empty() {
            self.frame.fill(0);
        } else {
            let mut filled = 0;
            while filled < self.frame.len() {
                let take = (self.frame.len() - filled).min(self.pcm.len() - self.pos);
                self.frame[filled..filled + take]
                    .copy_from_slice(&self.pcm[self.pos..self.pos + take]);
                filled += take;
                self.pos = (self.pos + take) % self.pcm.len();
            }
        }
        if self.enc.encode(&self.frame, &mut self.out).is_err() {
            self.out.clear();
        }
        (&self.out, self.ts_inc)
    }

    /// Sample rate of the (resampled) loop.
    pub fn rate(&self) -> u32 {
        self.enc.rate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::decoder_at;
    use crate::media::codec::testsig::*;
    use crate::media::{Codec, OpusParams};
    use std::time::Duration;

    fn fmt(codec: Codec) -> Format {
        Format {
            codec,
            pt: codec.static_pt().unwrap_or(111),
            ptime: Duration::from_millis(20),
            opus: OpusParams::default(),
            dtmf_pt: None,
        }
    }

    fn play(pcm: &Arc<[i16]>, pcm_rate: u32, codec: Codec, frames: usize) -> (Vec<i16>, u32) {
        let s = EncoderSettings::default();
        let mut m = MohSource::new(pcm.clone(), pcm_rate, &fmt(codec), &s).unwrap();
        let mut dec = decoder_at(&fmt(codec), m.rate()).unwrap();
        let mut heard = Vec::new();
        for _ in 0..frames {
            let (f, inc) = m.next_frame();
            assert_eq!(
                inc,
                frame_samples(codec.clock_rate(), Duration::from_millis(20)) as u32
            );
            dec.decode(f, &mut heard).unwrap();
        }
        (heard, dec.rate())
    }

    #[test]
    fn music_loops_and_is_encoded_for_each_codec() {
        // 0.5 s of 16 kHz "music": a 600 Hz tone (an integer number of cycles, so it loops)
        let pcm: Arc<[i16]> = tone(16_000, 600.0, 6000.0, 8000).into();
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus] {
            let (heard, rate) = play(&pcm, 16_000, codec, 150); // 3 s = 6 loops
            let body = &heard[heard.len() / 3..];
            let peak = peak_freq(body, rate, 200.0, 3400.0, 10.0);
            assert!((peak - 600.0).abs() <= 10.0, "{codec:?}: {peak}");
            let level = rms2(body).sqrt();
            assert!((3000.0..6000.0).contains(&level), "{codec:?}: rms {level}");
        }
    }

    #[test]
    fn matching_rates_share_the_pcm_and_opus_follows_the_source_rate() {
        let pcm: Arc<[i16]> = tone(8000, 440.0, 6000.0, 4000).into();
        let s = EncoderSettings::default();
        let m = MohSource::new(pcm.clone(), 8000, &fmt(Codec::Pcmu), &s).unwrap();
        assert!(Arc::ptr_eq(&m.pcm, &pcm));
        let m = MohSource::new(pcm.clone(), 8000, &fmt(Codec::Opus), &s).unwrap();
        assert_eq!(m.rate(), 8000);
        assert!(Arc::ptr_eq(&m.pcm, &pcm));
        let m = MohSource::new(pcm, 8000, &fmt(Codec::G722), &s).unwrap();
        assert_eq!(m.pcm.len(), 8000);
    }

    #[test]
    fn empty_or_tiny_music_still_yields_frames() {
        let s = EncoderSettings::default();
        let mut m = MohSource::new(Arc::from(Vec::new()), 8000, &fmt(Codec::Pcmu), &s).unwrap();
        assert_eq!(m.next_frame().0, &[0xFF; 160][..]);
        let mut m =
            MohSource::new(Arc::from(vec![1000i16; 3]), 8000, &fmt(Codec::Pcma), &s).unwrap();
        for _ in 0..3 {
            assert_eq!(m.next_frame().0.len(), 160);
        }
    }
}
