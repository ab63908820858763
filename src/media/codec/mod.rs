//! STAND-IN: replaced by the codecs helper's module at merge.
//!
//! Decoder/encoder traits; only G.711 (ITU-T G.711) is implemented here.

use super::{Codec, Format};

/// Encoder knobs from the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Opus complexity 0–10.
    pub opus_complexity: i32,
    /// Opus bitrate, 0 = auto.
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

/// Why a codec could not be created or used.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Not available in this build.
    #[error("codec {0} not supported")]
    Unsupported(&'static str),
}

/// Payload → PCM.
pub trait Decoder: Send {
    /// Output sample rate.
    fn rate(&self) -> u32;
    /// Appends decoded samples.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Appends `samples` of concealment.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>);
}

/// PCM → payload.
pub trait Encoder: Send {
    /// Input sample rate.
    fn rate(&self) -> u32;
    /// Encodes one frame (clears `out`).
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError>;
}

struct G711 {
    alaw: bool,
}

impl Decoder for G711 {
    fn rate(&self) -> u32 {
        8000
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        out.extend(payload.iter().map(|&b| {
            if self.alaw {
                alaw_to_linear(b)
            } else {
                ulaw_to_linear(b)
            }
        }));
        Ok(())
    }
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.extend(std::iter::repeat_n(0, samples));
    }
}

impl Encoder for G711 {
    fn rate(&self) -> u32 {
        8000
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.clear();
        out.extend(pcm.iter().map(|&s| {
            if self.alaw {
                linear_to_alaw(s)
            } else {
                linear_to_ulaw(s)
            }
        }));
        Ok(())
    }
}

/// A decoder for `f`.
pub fn decoder(f: &Format) -> Result<Box<dyn Decoder>, CodecError> {
    match f.codec {
        Codec::Pcmu => Ok(Box::new(G711 { alaw: false })),
        Codec::Pcma => Ok(Box::new(G711 { alaw: true })),
        c => Err(CodecError::Unsupported(c.name())),
    }
}

/// An encoder for `f`.
pub fn encoder(f: &Format, _s: &EncoderSettings) -> Result<Box<dyn Encoder>, CodecError> {
    match f.codec {
        Codec::Pcmu => Ok(Box::new(G711 { alaw: false })),
        Codec::Pcma => Ok(Box::new(G711 { alaw: true })),
        c => Err(CodecError::Unsupported(c.name())),
    }
}

/// G.711 µ-law expansion.
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = ((i32::from(u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// G.711 µ-law compression.
pub fn linear_to_ulaw(s: i16) -> u8 {
    let mut pcm = i32::from(s);
    let mask = if pcm < 0 {
        pcm = -pcm;
        0x7f
    } else {
        0xff
    };
    pcm = (pcm + 0x84).min(0x7fff);
    let seg = (0..8).find(|&i| pcm < (0x100 << i)).unwrap_or(7);
    let uval = (seg << 4) | ((pcm >> (seg + 3)) & 0x0f);
    (uval ^ mask) as u8
}

/// G.711 A-law expansion.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = i32::from(a & 0x0f) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// G.711 A-law compression.
pub fn linear_to_alaw(s: i16) -> u8 {
    let mut pcm = i32::from(s) >> 3;
    let mask = if pcm >= 0 {
        0xd5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = (0..8).find(|&i| pcm < (0x20 << i)).unwrap_or(8);
    let aval = if seg >= 8 {
        0x7f
    } else {
        let mut v = seg << 4;
        v |= if seg < 2 {
            (pcm >> 1) & 0x0f
        } else {
            (pcm >> seg) & 0x0f
        };
        v
    };
    (aval ^ mask) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_within_tolerance() {
        for s in (-32000i32..32000).step_by(37) {
            let s = s as i16;
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            let tol = (i32::from(s).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= tol,
                "ulaw {s} -> {u}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= tol,
                "alaw {s} -> {a}"
            );
        }
    }
}
