//! Prompt playback, in-band DTMF detection and recording for calls whose media ends at Zvon
//! (IVR menus, voicemail).
//!
//! Contract: no IO. Prompts are PCM loaded once at start into a [`PromptLibrary`]; a
//! [`PromptPlayer`] encodes a sequence of them frame by frame for one leg's format and tells
//! when it is done. A [`Recorder`] collects a phone's decoded audio until a length limit or a
//! stretch of silence.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Format;
use super::codec::{CodecError, Encoder, EncoderSettings, encoder_at, frame_samples};
use super::resample::Resampler;

/// Every prompt, by `"<lang>/<name>"`, as mono PCM at one rate.
#[derive(Debug, Default, Clone)]
pub struct PromptLibrary {
    /// Sample rate of every prompt (the shipped set is 16 kHz).
    pub rate: u32,
    /// `"en/greeting"` → samples.
    pub prompts: HashMap<String, Arc<[i16]>>,
}

impl PromptLibrary {
    /// The prompt `name` in `lang`, else in English.
    pub fn get(&self, lang: &str, name: &str) -> Option<Arc<[i16]>> {
        self.prompts
            .get(&format!("{lang}/{name}"))
            .or_else(|| self.prompts.get(&format!("en/{name}")))
            .cloned()
    }
}

/// Plays a sequence of prompts towards one leg.
pub struct PromptPlayer {
    queue: std::collections::VecDeque<Arc<[i16]>>,
    current: Option<(Arc<[i16]>, usize)>,
    resampler: Option<Resampler>,
    pending: Vec<i16>,
    enc: Box<dyn Encoder>,
    frame: Vec<i16>,
    out: Vec<u8>,
    ts_inc: u32,
    /// Frames of silence still to send after the last prompt (so the end is not clipped).
    tail: u32,
}

impl std::fmt::Debug for PromptPlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptPlayer")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl PromptPlayer {
    /// A player for `prompts` (PCM at `rate`) encoded for `to`.
    pub fn new(
        prompts: Vec<Arc<[i16]>>,
        rate: u32,
        to: &Format,
        s: &EncoderSettings,
    ) -> Result<Self, CodecError> {
        let enc = encoder_at(to, s, rate)?;
        let enc_rate = enc.rate();
        let n = frame_samples(enc_rate, to.ptime);
        if n == 0 {
            return Err(CodecError::UnsupportedPtime(to.ptime));
        }
        Ok(Self {
            queue: prompts.into(),
            current: None,
            resampler: (enc_rate != rate).then(|| Resampler::new(rate, enc_rate)),
            pending: Vec::with_capacity(2 * n),
            enc,
            frame: vec![0; n],
            out: Vec::new(),
            ts_inc: frame_samples(to.codec.clock_rate(), to.ptime) as u32,
            tail: 2,
        })
    }

    /// The next encoded frame and its timestamp increment, or `None` when finished.
    pub fn next_frame(&mut self) -> Option<(&[u8], u32)> {
        let n = self.frame.len();
        while self.pending.len() < n {
            if self.current.is_none() {
                match self.queue.pop_front() {
                    Some(p) => self.current = Some((p, 0)),
                    None => break,
                }
            }
            let Some((pcm, pos)) = self.current.as_mut() else {
                break;
            };
            // Feed the resampler in frame-sized chunks so memory stays bounded.
            let take = (pcm.len() - *pos).min(n);
            let chunk = &pcm[*pos..*pos + take];
            *pos += take;
            match self.resampler.as_mut() {
                Some(r) => r.process(chunk, &mut self.pending),
                None => self.pending.extend_from_slice(chunk),
            }
            if *pos >= pcm.len() {
                self.current = None;
            }
        }
        if self.pending.is_empty() {
            if self.tail == 0 {
                return None;
            }
            self.tail -= 1;
        }
        let k = self.pending.len().min(n);
        self.frame[..k].copy_from_slice(&self.pending[..k]);
        self.frame[k..].fill(0);
        self.pending.drain(..k);
        if self.enc.encode(&self.frame, &mut self.out).is_err() {
            self.out.clear();
        }
        Some((&self.out, self.ts_inc))
    }
}

/// Why a recording ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordEnd {
    /// The maximum length was reached.
    MaxLength,
    /// The caller stopped talking.
    Silence,
    /// Stopped by the engine (a key was pressed, or the caller hung up).
    Stopped,
}

/// Collects decoded audio.
#[derive(Debug)]
pub struct Recorder {
    /// Samples so far.
    pub pcm: Vec<i16>,
    /// Their rate.
    pub rate: u32,
    max: usize,
    silence_limit: usize,
    silent_run: usize,
    heard_voice: bool,
}

/// Mean absolute amplitude under which a frame counts as silence.
const SILENCE_LEVEL: i32 = 300;

impl Recorder {
    /// A recorder of at most `max` audio, ending after `silence` without voice (zero = never).
    pub fn new(rate: u32, max: Duration, silence: Duration) -> Self {
        let samples = |d: Duration| (d.as_millis() as usize) * rate as usize / 1000;
        Self {
            pcm: Vec::new(),
            rate,
            max: samples(max),
            silence_limit: samples(silence),
            silent_run: 0,
            heard_voice: false,
        }
    }

    /// Appends decoded audio; returns why the recording is over, if it is.
    pub fn push(&mut self, pcm: &[i16]) -> Option<RecordEnd> {
        let room = self.max.saturating_sub(self.pcm.len());
        self.pcm.extend_from_slice(&pcm[..pcm.len().min(room)]);
        let level = if pcm.is_empty() {
            0
        } else {
            pcm.iter().map(|s| i32::from(*s).abs()).sum::<i32>() / pcm.len() as i32
        };
        if level < SILENCE_LEVEL {
            self.silent_run += pcm.len();
        } else {
            self.silent_run = 0;
            self.heard_voice = true;
        }
        if self.pcm.len() >= self.max {
            return Some(RecordEnd::MaxLength);
        }
        if self.silence_limit > 0 && self.heard_voice && self.silent_run >= self.silence_limit {
            // Drop the trailing silence.
            let keep = self.pcm.len().saturating_sub(self.silent_run);
            self.pcm.truncate(keep.max(1));
            return Some(RecordEnd::Silence);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::decoder_at;
    use crate::media::codec::testsig::{peak_freq, tone};
    use crate::media::{Codec, OpusParams};

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
    fn a_prompt_sequence_plays_in_order_then_ends() {
        let a: Arc<[i16]> = tone(16_000, 500.0, 8000.0, 16_000).into();
        let b: Arc<[i16]> = tone(16_000, 1500.0, 8000.0, 8000).into();
        for codec in [Codec::Pcmu, Codec::G722, Codec::Opus] {
            let f = fmt(codec);
            let mut p = PromptPlayer::new(
                vec![a.clone(), b.clone()],
                16_000,
                &f,
                &EncoderSettings::default(),
            )
            .unwrap();
            let mut dec = decoder_at(&f, 8000).unwrap();
            let mut heard = Vec::new();
            let mut frames = 0;
            while let Some((payload, inc)) = p.next_frame() {
                assert_eq!(
                    inc,
                    crate::media::codec::frame_samples(codec.clock_rate(), f.ptime) as u32
                );
                dec.decode(payload, &mut heard).unwrap();
                frames += 1;
                assert!(frames < 200, "never ends");
            }
            // 1.5 s of audio at 20 ms per frame, plus the short tail.
            assert!((75..=78).contains(&frames), "{codec:?}: {frames} frames");
            let r = dec.rate() as usize;
            let at = |s: f64| (s * r as f64) as usize;
            let first = peak_freq(&heard[at(0.1)..at(0.4)], r as u32, 300.0, 2000.0, 10.0);
            let second = peak_freq(&heard[at(1.1)..at(1.4)], r as u32, 300.0, 2000.0, 10.0);
            assert!((first - 500.0).abs() < 30.0, "{codec:?}: {first}");
            assert!((second - 1500.0).abs() < 30.0, "{codec:?}: {second}");
        }
    }

    #[test]
    fn recorder_stops_at_max_length_or_after_silence_following_voice() {
        let mut r = Recorder::new(8000, Duration::from_secs(3), Duration::from_millis(500));
        let loud = tone(8000, 400.0, 6000.0, 160);
        let quiet = vec![0i16; 160];
        // Silence before any voice does not end it.
        for _ in 0..40 {
            assert_eq!(r.push(&quiet), None);
        }
        for _ in 0..5 {
            assert_eq!(r.push(&loud), None);
        }
        let mut end = None;
        for _ in 0..30 {
            if let Some(e) = r.push(&quiet) {
                end = Some(e);
                break;
            }
        }
        assert_eq!(end, Some(RecordEnd::Silence));
        let mut r = Recorder::new(8000, Duration::from_millis(100), Duration::ZERO);
        let mut end = None;
        for _ in 0..10 {
            if let Some(e) = r.push(&loud) {
                end = Some(e);
                break;
            }
        }
        assert_eq!((end, r.pcm.len()), (Some(RecordEnd::MaxLength), 800));
    }

    #[test]
    fn library_falls_back_to_english() {
        let mut lib = PromptLibrary {
            rate: 16_000,
            prompts: HashMap::new(),
        };
        lib.prompts
            .insert("en/goodbye".into(), Arc::from(vec![1i16, 2]));
        assert!(lib.get("ru", "goodbye").is_some());
        assert!(lib.get("ru", "nothing").is_none());
    }
}
