//! STAND-IN: replaced by the codecs helper's module at merge.
//!
//! One direction of a transcoded bridge; this stand-in has no jitter buffer or resampler: a
//! FIFO of payloads, decode, encode (G.711 only, same rate and ptime).

use std::collections::VecDeque;
use std::time::Instant;

use super::Format;
use super::codec::{self, CodecError, Decoder, Encoder, EncoderSettings};

/// from-leg payloads → to-leg payloads.
pub struct Pipeline {
    dec: Box<dyn Decoder>,
    enc: Box<dyn Encoder>,
    queue: VecDeque<Vec<u8>>,
    started: bool,
    pcm: Vec<i16>,
    out: Vec<u8>,
    samples: usize,
    ts_inc: u32,
}

impl Pipeline {
    /// A pipeline from `from` to `to`.
    pub fn new(from: &Format, to: &Format, s: &EncoderSettings) -> Result<Pipeline, CodecError> {
        let ptime_ms = to.ptime.as_millis() as u32;
        Ok(Pipeline {
            dec: codec::decoder(from)?,
            enc: codec::encoder(to, s)?,
            queue: VecDeque::new(),
            started: false,
            pcm: Vec::new(),
            out: Vec::new(),
            samples: (to.codec.audio_rate() * ptime_ms / 1000) as usize,
            ts_inc: to.codec.clock_rate() * ptime_ms / 1000,
        })
    }

    /// A payload from the `from` leg.
    pub fn push(&mut self, _now: Instant, _seq: u16, _ts: u32, payload: &[u8]) {
        self.started = true;
        if self.queue.len() < 50 {
            self.queue.push_back(payload.to_vec());
        }
    }

    /// One frame for the `to` leg.
    pub fn pull(&mut self, _now: Instant) -> Option<(&[u8], u32)> {
        if !self.started {
            return None;
        }
        self.pcm.clear();
        match self.queue.pop_front() {
            Some(p) => {
                let _ = self.dec.decode(&p, &mut self.pcm);
            }
            None => self.dec.conceal(self.samples, &mut self.pcm),
        }
        self.pcm.resize(self.samples, 0);
        self.enc.encode(&self.pcm, &mut self.out).ok()?;
        Some((&self.out, self.ts_inc))
    }
}
