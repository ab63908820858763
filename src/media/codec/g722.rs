//! G.722 sub-band ADPCM at 64 kbit/s (ITU-T G.722 (09/2012) mode 1), in-tree.
//!
//! Contract: 16 kHz mono PCM in and out; one payload octet carries two input samples (RFC 3551
//! §4.5.2: the RTP clock says 8000 although audio is sampled at 16 kHz). The arithmetic follows
//! the ITU-T fixed-point reference blocks (names such as `QUANTL`, `LOGSCL`, `UPPOL2` below
//! are the recommendation's block names, §3–§6) in the form popularised by the public-domain
//! CMU/SpanDSP implementation. Every intermediate is bounded by the saturations of the
//! recommendation, so arbitrary payload bytes cannot overflow (checked by a test).
//!
//! Why in-tree: the only crate found (`ezk-g722` 0.1) pulls in the `ezk` media framework and
//! its 8 kHz-mode code packing is mistranslated; the 64 kbit/s codec is ~300 lines.

use super::{CodecError, Decoder, Encoder, RepeatPlc};

/// QMF coefficients (G.722 Table 11/§3.3, half of the 24 symmetric taps).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
/// Log-scale factor adaptation, lower band (Table 14 WL).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// 4-bit code → WL index (Table 14 RIL→IL4).
const RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log-scale table (Table 16 ILB).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// 4-bit inverse quantiser (Table 7 QQ4, with sign).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// 6-bit inverse quantiser (Table 6 QQ6, with sign).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Higher band: 2-bit inverse quantiser, log-scale adaptation (Tables 9, 15).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [i32; 4] = [2, 1, 2, 1];
/// Lower-band quantiser decision levels (Table 5 Q6) and code assignment (ILN/ILP).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];

#[inline]
fn sat(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// The adaptive predictor and scale factor state of one sub-band.
#[derive(Clone, Debug, Default)]
struct Band {
    s: i32,
    sp: i32,
    sz: i32,
    r: [i32; 3],
    a: [i32; 3],
    ap: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    b: [i32; 7],
    bp: [i32; 7],
    sg: [i32; 7],
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Self {
            det,
            ..Self::default()
        }
    }

    /// Blocks 3L/3H LOGSCL+SCALEL (or LOGSCH+SCALEH): log-domain scale factor update.
    fn scale(&mut self, wl: i32, nb_max: i32, shift_base: i32) {
        let nb = ((self.nb * 127) >> 7) + wl;
        self.nb = nb.clamp(0, nb_max);
        let wd1 = (self.nb >> 6) & 31;
        let wd2 = shift_base - (self.nb >> 11);
        let wd3 = if wd2 < 0 {
            ILB[wd1 as usize] << -wd2
        } else {
            ILB[wd1 as usize] >> wd2
        };
        self.det = wd3 << 2;
    }

    /// Block 4 (RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC).
    fn block4(&mut self, d: i32) {
        // RECONS, PARREC
        self.d[0] = d;
        self.r[0] = sat(self.s + d);
        self.p[0] = sat(self.sz + d);

        // UPPOL2
        for i in 0..3 {
            self.sg[i] = self.p[i] >> 15;
        }
        let wd1 = sat(self.a[1] << 2);
        let wd2 = if self.sg[0] == self.sg[1] { -wd1 } else { wd1 }.min(32767);
        let mut wd3 = (wd2 >> 7) + if self.sg[0] == self.sg[2] { 128 } else { -128 };
        wd3 += (self.a[2] * 32512) >> 15;
        self.ap[2] = wd3.clamp(-12288, 12288);

        // UPPOL1
        self.sg[0] = self.p[0] >> 15;
        self.sg[1] = self.p[1] >> 15;
        let wd1 = if self.sg[0] == self.sg[1] { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        self.ap[1] = sat(wd1 + wd2);
        let wd3 = sat(15360 - self.ap[2]);
        self.ap[1] = self.ap[1].clamp(-wd3, wd3);

        // UPZERO
        let wd1 = if d == 0 { 0 } else { 128 };
        self.sg[0] = d >> 15;
        for i in 1..7 {
            self.sg[i] = self.d[i] >> 15;
            let wd2 = if self.sg[i] == self.sg[0] { wd1 } else { -wd1 };
            let wd3 = (self.b[i] * 32640) >> 15;
            self.bp[i] = sat(wd2 + wd3);
        }

        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = self.bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
            self.a[i] = self.ap[i];
        }

        // FILTEP
        let wd1 = (self.a[1] * sat(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat(self.r[2] + self.r[2])) >> 15;
        self.sp = sat(wd1 + wd2);

        // FILTEZ
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat(sz);

        // PREDIC
        self.s = sat(self.sp + self.sz);
    }
}

/// 64 kbit/s G.722 encoder: 16 kHz PCM → one octet per two samples.
#[derive(Clone, Debug)]
pub struct G722Encoder {
    x: [i32; 24],
    band: [Band; 2],
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// A fresh encoder (reset state per G.722 §6.2.1: DETL=32, DETH=8).
    pub fn new() -> Self {
        Self {
            x: [0; 24],
            band: [Band::new(32), Band::new(8)],
        }
    }

    /// Encodes one pair of samples into a 64 kbit/s code word.
    fn encode_pair(&mut self, s0: i16, s1: i16) -> u8 {
        // Transmit QMF (§3.3): shift the delay line, compute the two sub-band samples.
        self.x.copy_within(2.., 0);
        self.x[22] = i32::from(s0);
        self.x[23] = i32::from(s1);
        let (mut sumodd, mut sumeven) = (0, 0);
        for i in 0..12 {
            sumodd += self.x[2 * i] * QMF[i];
            sumeven += self.x[2 * i + 1] * QMF[11 - i];
        }
        let xlow = (sumeven + sumodd) >> 14;
        let xhigh = (sumeven - sumodd) >> 14;

        // Lower band: SUBTRA, QUANTL (§4.2.1–4.2.2)
        let lo = &mut self.band[0];
        let el = sat(xlow - lo.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && wd >= (Q6[i] * lo.det) >> 12 {
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // INVQAL, LOGSCL, SCALEL, then the predictor
        let ril = (ilow >> 2) as usize;
        let dlow = (lo.det * QM4[ril]) >> 15;
        lo.scale(WL[RL42[ril] as usize], 18432, 8);
        lo.block4(dlow);

        // Higher band: SUBTRA, QUANTH (§4.3.1–4.3.2)
        let hi = &mut self.band[1];
        let eh = sat(xhigh - hi.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (564 * hi.det) >> 12 { 2 } else { 1 };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        // INVQAH, LOGSCH, SCALEH
        let dhigh = (hi.det * QM2[ihigh as usize]) >> 15;
        hi.scale(WH[RH2[ihigh as usize] as usize], 22528, 10);
        hi.block4(dhigh);

        ((ihigh << 6) | ilow) as u8
    }
}

impl Encoder for G722Encoder {
    fn rate(&self) -> u32 {
        16_000
    }

    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.clear();
        if pcm.len() % 2 != 0 {
            return Err(CodecError::FrameSize {
                expected: pcm.len() + 1,
                got: pcm.len(),
            });
        }
        out.reserve(pcm.len() / 2);
        for pair in pcm.chunks_exact(2) {
            let code = self.encode_pair(pair[0], pair[1]);
            out.push(code);
        }
        Ok(())
    }
}

/// 64 kbit/s G.722 decoder: one octet → two 16 kHz samples.
#[derive(Debug)]
pub struct G722Decoder {
    x: [i32; 24],
    band: [Band; 2],
    plc: RepeatPlc,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A fresh decoder (reset state per G.722 §6.2.1).
    pub fn new() -> Self {
        Self {
            x: [0; 24],
            band: [Band::new(32), Band::new(8)],
            plc: RepeatPlc::default(),
        }
    }

    fn decode_octet(&mut self, code: u8) -> (i16, i16) {
        let code = i32::from(code);
        let ilr = code & 0x3F;
        let ihigh = (code >> 6) & 0x03;

        // Lower band: INVQBL, RECONS, LIMIT (§5.2, mode 1: 6-bit inverse quantiser)
        let lo = &mut self.band[0];
        let wd2 = (lo.det * QM6[ilr as usize]) >> 15;
        let rlow = (lo.s + wd2).clamp(-16384, 16383);
        // INVQAL (4-bit, for the predictor), LOGSCL, SCALEL
        let ril = (ilr >> 2) as usize;
        let dlowt = (lo.det * QM4[ril]) >> 15;
        lo.scale(WL[RL42[ril] as usize], 18432, 8);
        lo.block4(dlowt);

        // Higher band: INVQAH, RECONS, LIMIT, LOGSCH, SCALEH
        let hi = &mut self.band[1];
        let dhigh = (hi.det * QM2[ihigh as usize]) >> 15;
        let rhigh = (dhigh + hi.s).clamp(-16384, 16383);
        hi.scale(WH[RH2[ihigh as usize] as usize], 22528, 10);
        hi.block4(dhigh);

        // Receive QMF (§3.4)
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let (mut xout1, mut xout2) = (0, 0);
        for i in 0..12 {
            xout2 += self.x[2 * i] * QMF[i];
            xout1 += self.x[2 * i + 1] * QMF[11 - i];
        }
        (sat(xout1 >> 11) as i16, sat(xout2 >> 11) as i16)
    }
}

impl Decoder for G722Decoder {
    fn rate(&self) -> u32 {
        16_000
    }

    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let start = out.len();
        out.reserve(payload.len() * 2);
        for &c in payload {
            let (a, b) = self.decode_octet(c);
            out.push(a);
            out.push(b);
        }
        self.plc.good(&out[start..]);
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        self.plc.conceal(samples, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::testsig::*;

    fn round_trip(pcm: &[i16]) -> Vec<i16> {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut bytes = Vec::new();
        let mut out = Vec::new();
        for frame in pcm.chunks(320) {
            enc.encode(frame, &mut bytes).unwrap();
            assert_eq!(bytes.len(), frame.len() / 2);
            dec.decode(&bytes, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_1khz_tone_survives_with_snr_above_20db_and_its_frequency() {
        let pcm = tone(16_000, 1000.0, 8000.0, 16_000);
        let out = round_trip(&pcm);
        assert_eq!(out.len(), pcm.len());
        // skip the adaptation start-up, then align the QMF delay
        let (snr, lag) = aligned_snr(&pcm[1600..12_000], &out[1600..], 64);
        assert!(snr > 20.0, "snr {snr} dB at lag {lag}");
        let peak = peak_freq(&out[1600..], 16_000, 200.0, 7800.0, 50.0);
        assert_eq!(peak, 1000.0);
        let ratio = rms2(&out[1600..]) / rms2(&pcm[1600..]);
        assert!((0.7..1.4).contains(&ratio), "energy ratio {ratio}");
    }

    #[test]
    fn high_band_content_is_carried() {
        // 6 kHz lies in the upper sub-band (4–8 kHz)
        let pcm = tone(16_000, 6000.0, 6000.0, 16_000);
        let out = round_trip(&pcm);
        let peak = peak_freq(&out[1600..], 16_000, 200.0, 7800.0, 50.0);
        assert_eq!(peak, 6000.0);
    }

    #[test]
    fn arbitrary_payload_bytes_decode_without_overflow() {
        let mut dec = G722Decoder::new();
        let mut out = Vec::new();
        let mut x: u32 = 1;
        for _ in 0..200 {
            let payload: Vec<u8> = (0..160)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            dec.decode(&payload, &mut out).unwrap();
        }
        for c in [0u8, 0xFF, 0x3F, 0xC0] {
            dec.decode(&[c; 4000], &mut out).unwrap();
        }
        // and a full-scale square wave into the encoder
        let mut enc = G722Encoder::new();
        let sq: Vec<i16> = (0..32_000)
            .map(|i| if i % 7 < 3 { i16::MAX } else { i16::MIN })
            .collect();
        let mut bytes = Vec::new();
        enc.encode(&sq, &mut bytes).unwrap();
    }

    #[test]
    fn odd_frames_are_rejected() {
        let mut enc = G722Encoder::new();
        let mut out = Vec::new();
        assert!(matches!(
            enc.encode(&[0; 3], &mut out),
            Err(CodecError::FrameSize { .. })
        ));
    }
}
