//! G.711 µ-law and A-law (ITU-T G.711 (11/88) Tables 1a/1b and 2a/2b), table-driven.
//!
//! Contract: [`encode_ulaw`]/[`decode_ulaw`]/[`encode_alaw`]/[`decode_alaw`] are table look-ups
//! (tables computed at compile time), allocation-free and total. One payload byte is one
//! sample at 8 kHz (RFC 3551 §4.5.14).

use super::{CodecError, Decoder, Encoder, RepeatPlc};

/// Which companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU).
    Mu,
    /// A-law (PCMA).
    A,
}

/// G.711 µ-law expansion (G.711 Table 2a); the decoded value is the 14-bit level scaled by 4.
const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t: i32 = (((u & 0x0F) as i32) << 3) + 0x84;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

/// G.711 A-law expansion (G.711 Table 1a, even bits inverted: XOR 0x55); 13-bit level × 8.
const fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t: i32 = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

/// µ-law compression of a 14-bit sample (G.711 Table 2a, bias 33).
const fn linear14_to_ulaw(pcm14: i32) -> u8 {
    const SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let (mut v, mask) = if pcm14 < 0 {
        (-pcm14, 0x7Fu8)
    } else {
        (pcm14, 0xFFu8)
    };
    if v > 8159 {
        v = 8159;
    }
    v += 33;
    let mut seg = 0;
    while seg < 8 && v > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let u = ((seg as i32) << 4) | ((v >> (seg + 1)) & 0x0F);
    (u as u8) ^ mask
}

/// A-law compression of a 13-bit sample (G.711 Table 1a).
const fn linear13_to_alaw(pcm13: i32) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let (v, mask) = if pcm13 >= 0 {
        (pcm13, 0xD5u8)
    } else {
        (-pcm13 - 1, 0x55u8)
    };
    let mut seg = 0;
    while seg < 8 && v > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut a = (seg as i32) << 4;
    if seg < 2 {
        a |= (v >> 1) & 0x0F;
    } else {
        a |= (v >> seg) & 0x0F;
    }
    (a as u8) ^ mask
}

static ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_to_linear(i as u8);
        i += 1;
    }
    t
};

static ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_to_linear(i as u8);
        i += 1;
    }
    t
};

/// Indexed by the top 14 bits of the sample, as an unsigned 14-bit pattern.
static ULAW_ENCODE: [u8; 16384] = {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        let pcm14 = if i >= 8192 {
            i as i32 - 16384
        } else {
            i as i32
        };
        t[i] = linear14_to_ulaw(pcm14);
        i += 1;
    }
    t
};

/// Indexed by the top 13 bits of the sample, as an unsigned 13-bit pattern.
static ALAW_ENCODE: [u8; 8192] = {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        let pcm13 = if i >= 4096 { i as i32 - 8192 } else { i as i32 };
        t[i] = linear13_to_alaw(pcm13);
        i += 1;
    }
    t
};

/// µ-law code for a 16-bit sample.
#[inline]
pub fn encode_ulaw(s: i16) -> u8 {
    ULAW_ENCODE[((s >> 2) as u16 & 0x3FFF) as usize]
}

/// 16-bit sample for a µ-law code.
#[inline]
pub fn decode_ulaw(c: u8) -> i16 {
    ULAW_DECODE[c as usize]
}

/// A-law code for a 16-bit sample.
#[inline]
pub fn encode_alaw(s: i16) -> u8 {
    ALAW_ENCODE[((s >> 3) as u16 & 0x1FFF) as usize]
}

/// 16-bit sample for an A-law code.
#[inline]
pub fn decode_alaw(c: u8) -> i16 {
    ALAW_DECODE[c as usize]
}

/// G.711 decoder (8 kHz, one byte per sample).
#[derive(Debug)]
pub struct G711Decoder {
    table: &'static [i16; 256],
    plc: RepeatPlc,
}

impl G711Decoder {
    /// A decoder for `law`.
    pub fn new(law: Law) -> Self {
        let table = match law {
            Law::Mu => &ULAW_DECODE,
            Law::A => &ALAW_DECODE,
        };
        Self {
            table,
            plc: RepeatPlc::default(),
        }
    }
}

impl Decoder for G711Decoder {
    fn rate(&self) -> u32 {
        8000
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let start = out.len();
        out.extend(payload.iter().map(|&c| self.table[c as usize]));
        self.plc.good(&out[start..]);
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        self.plc.conceal(samples, out);
    }
}

/// G.711 encoder (8 kHz, one byte per sample). Any frame length is accepted.
#[derive(Debug)]
pub struct G711Encoder {
    law: Law,
}

impl G711Encoder {
    /// An encoder for `law`.
    pub fn new(law: Law) -> Self {
        Self { law }
    }
}

impl Encoder for G711Encoder {
    fn rate(&self) -> u32 {
        8000
    }

    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.clear();
        match self.law {
            Law::Mu => out.extend(pcm.iter().map(|&s| encode_ulaw(s))),
            Law::A => out.extend(pcm.iter().map(|&s| encode_alaw(s))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_code_points() {
        assert_eq!(encode_ulaw(0), 0xFF);
        assert_eq!(decode_ulaw(0xFF), 0);
        assert_eq!(decode_ulaw(0x7F), 0);
        assert_eq!(decode_ulaw(0x00), -32124);
        assert_eq!(decode_ulaw(0x80), 32124);
        assert_eq!(encode_ulaw(i16::MAX), 0x80);
        assert_eq!(encode_ulaw(i16::MIN), 0x00);
        assert_eq!(encode_ulaw(-1), 0x7E); // −1 → 14-bit −1 → first negative step (−8)
        assert_eq!(decode_ulaw(0xFE), 8);
        assert_eq!(decode_ulaw(0xF0), 120); // segment 0, step 15
    }

    #[test]
    fn alaw_known_code_points() {
        assert_eq!(encode_alaw(0), 0xD5);
        assert_eq!(decode_alaw(0xD5), 8);
        assert_eq!(decode_alaw(0x55), -8);
        assert_eq!(decode_alaw(0xAA), 32256);
        assert_eq!(decode_alaw(0x2A), -32256);
        assert_eq!(encode_alaw(i16::MAX), 0xAA);
        assert_eq!(encode_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for c in 0..=255u8 {
            let u = encode_ulaw(decode_ulaw(c));
            // 0x7F (−0) and 0xFF (+0) both decode to 0
            assert!(u == c || (c == 0x7F && u == 0xFF), "ulaw {c:#x} -> {u:#x}");
            assert_eq!(encode_alaw(decode_alaw(c)), c, "alaw {c:#x}");
        }
    }

    #[test]
    fn quantisation_error_is_within_half_a_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let x = i32::from(s);
            let mu = i32::from(decode_ulaw(encode_ulaw(s)));
            let a = i32::from(decode_alaw(encode_alaw(s)));
            // Steps double per segment: ≤ 1/16 of the magnitude (+ the smallest step) is generous
            // enough to catch any table error, strict enough to catch a wrong segment.
            assert!((mu - x).abs() <= x.abs() / 16 + 8, "mu {s} {mu}");
            assert!((a - x).abs() <= x.abs() / 16 + 8, "a {s} {a}");
            // monotone companding keeps the sign
            assert!(x.abs() < 16 || mu.signum() == x.signum());
            assert!(x.abs() < 16 || a.signum() == x.signum());
        }
        // the 8159-clip is exact at full scale
        assert_eq!(decode_ulaw(encode_ulaw(32124)), 32124);
    }

    #[test]
    fn codec_objects_round_trip_a_frame() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 397) % 20000 - 10000) as i16)
            .collect();
        for law in [Law::Mu, Law::A] {
            let mut enc = G711Encoder::new(law);
            let mut dec = G711Decoder::new(law);
            let mut bytes = vec![9; 3];
            enc.encode(&pcm, &mut bytes).unwrap();
            assert_eq!(bytes.len(), 160);
            let mut out = vec![1];
            dec.decode(&bytes, &mut out).unwrap();
            assert_eq!(out.len(), 161);
            for (a, b) in pcm.iter().zip(&out[1..]) {
                assert!((i32::from(*a) - i32::from(*b)).abs() <= i32::from(*a).abs() / 16 + 16);
            }
            dec.conceal(160, &mut out);
            assert_eq!(out.len(), 321);
        }
    }
}
