//! STAND-IN: replaced by the codecs helper's module at merge.
//!
//! Music on hold: looped PCM encoded for one leg (no resampling in this stand-in).

use std::sync::Arc;

use super::Format;
use super::codec::{self, CodecError, Encoder, EncoderSettings};

/// A looped PCM source.
pub struct MohSource {
    pcm: Arc<[i16]>,
    pos: usize,
    enc: Box<dyn Encoder>,
    frame: Vec<i16>,
    out: Vec<u8>,
    samples: usize,
    ts_inc: u32,
}

impl MohSource {
    /// A source for the leg format `to`.
    pub fn new(
        pcm: Arc<[i16]>,
        _pcm_rate: u32,
        to: &Format,
        s: &EncoderSettings,
    ) -> Result<Self, CodecError> {
        let ptime_ms = to.ptime.as_millis() as u32;
        Ok(Self {
            pcm,
            pos: 0,
            enc: codec::encoder(to, s)?,
            frame: Vec::new(),
            out: Vec::new(),
            samples: (to.codec.audio_rate() * ptime_ms / 1000) as usize,
            ts_inc: to.codec.clock_rate() * ptime_ms / 1000,
        })
    }

    /// The next encoded frame and its timestamp increment.
    pub fn next_frame(&mut self) -> (&[u8], u32) {
        self.frame.clear();
        for _ in 0..self.samples {
            let s = if self.pcm.is_empty() {
                0
            } else {
                self.pcm[self.pos % self.pcm.len()]
            };
            self.pos = self.pos.wrapping_add(1);
            self.frame.push(s);
        }
        if self.enc.encode(&self.frame, &mut self.out).is_err() {
            self.out.clear();
        }
        (&self.out, self.ts_inc)
    }
}
