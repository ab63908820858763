//! RTP fixed header (RFC 3550 §5.1): zero-copy parse, write, and in-place payload-type rewrite.
//!
//! Contract: every function is total over arbitrary bytes — hostile input yields `None` or is
//! left alone, never a panic. Parsing is by hand (12 bytes + CSRC list + extension + padding);
//! nothing is allocated except by [`write_rtp`], which reuses the caller's buffer.
//!
//! Implemented: RFC 3550 §5.1 (fixed header, CSRC list, padding), §5.3.1 (header extension),
//! RFC 5761 §4 (telling RTCP from RTP by the second octet).

/// The parts of an RTP header the media path uses. The payload is
/// `pkt[payload_offset..pkt.len() - padding]`; [`RtpHeader::payload`] applies the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// M bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Offset of the payload (after CSRCs and the header extension).
    pub payload_offset: usize,
}

impl RtpHeader {
    /// The payload of `pkt` (the packet this header was parsed from), without padding.
    pub fn payload<'a>(&self, pkt: &'a [u8]) -> &'a [u8] {
        let end = payload_end(pkt).unwrap_or(pkt.len());
        pkt.get(self.payload_offset..end).unwrap_or(&[])
    }
}

/// End of the payload: the packet length minus the padding count (RFC 3550 §5.1, P bit).
fn payload_end(pkt: &[u8]) -> Option<usize> {
    let first = *pkt.first()?;
    if first & 0x20 == 0 {
        return Some(pkt.len());
    }
    // RFC 3550 §5.1: "The last octet of the padding contains a count of how many padding
    // octets should be ignored, including itself."
    let pad = usize::from(*pkt.last()?);
    if pad == 0 {
        return None;
    }
    pkt.len().checked_sub(pad)
}

/// Parses the RTP header of `pkt`. `None` for anything that is not a well-formed RTP version 2
/// packet, including RTCP (RFC 5761 §4) and packets whose CSRC list, extension or padding
/// overrun the datagram.
pub fn parse_rtp(pkt: &[u8]) -> Option<RtpHeader> {
    if pkt.len() < 12 || pkt[0] >> 6 != 2 || is_rtcp(pkt) {
        return None;
    }
    let cc = usize::from(pkt[0] & 0x0F);
    let mut off = 12 + 4 * cc; // RFC 3550 §5.1: CSRC list, 0 to 15 items
    if pkt.len() < off {
        return None;
    }
    if pkt[0] & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16-bit profile-defined id, 16-bit length in 32-bit words
        let ext = pkt.get(off..off + 4)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        off += 4 + 4 * words;
        if pkt.len() < off {
            return None;
        }
    }
    let end = payload_end(pkt)?;
    if end < off {
        return None;
    }
    Some(RtpHeader {
        marker: pkt[1] & 0x80 != 0,
        pt: pkt[1] & 0x7F,
        seq: u16::from_be_bytes([pkt[2], pkt[3]]),
        ts: u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
        ssrc: u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]),
        payload_offset: off,
    })
}

/// The payload of an RTP packet with header `h`, padding removed.
pub fn rtp_payload<'a>(pkt: &'a [u8], h: &RtpHeader) -> &'a [u8] {
    h.payload(pkt)
}

/// True if `pkt` looks like RTCP: version 2 and a second octet in 192–223, the range
/// RFC 5761 §4 keeps free of RTP (it covers SR/RR/SDES/BYE/APP 200–204 and the feedback and
/// XR types 205–207).
pub fn is_rtcp(pkt: &[u8]) -> bool {
    pkt.len() >= 8 && pkt[0] >> 6 == 2 && (192..=223).contains(&pkt[1])
}

/// Writes a 12-byte RTP header (V=2, no padding, extension or CSRCs) and `payload` into `out`,
/// which is cleared first.
pub fn write_rtp(
    out: &mut Vec<u8>,
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: &[u8],
) {
    out.clear();
    out.reserve(12 + payload.len());
    out.push(0x80);
    out.push((u8::from(marker) << 7) | (pt & 0x7F));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Rewrites the payload type in place, keeping the marker bit. Too-short input is left alone.
pub fn set_pt(pkt: &mut [u8], pt: u8) {
    if let Some(b) = pkt.get_mut(1) {
        *b = (*b & 0x80) | (pt & 0x7F);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse_round_trips_every_field() {
        let mut out = vec![1, 2, 3];
        write_rtp(
            &mut out,
            true,
            111,
            0xBEEF,
            0xDEAD_BEEF,
            0x1234_5678,
            b"abc",
        );
        assert_eq!(out.len(), 15);
        let h = parse_rtp(&out).unwrap();
        assert_eq!(
            h,
            RtpHeader {
                marker: true,
                pt: 111,
                seq: 0xBEEF,
                ts: 0xDEAD_BEEF,
                ssrc: 0x1234_5678,
                payload_offset: 12
            }
        );
        assert_eq!(h.payload(&out), b"abc");
    }

    #[test]
    fn csrc_list_extension_and_padding_are_skipped() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(&[0; 8]); // 2 CSRCs
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension, one word
        p.extend_from_slice(b"pay");
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let h = parse_rtp(&p).unwrap();
        assert_eq!(h.payload_offset, 12 + 8 + 8);
        assert_eq!(h.payload(&p), b"pay");
        assert_eq!(rtp_payload(&p, &h), b"pay");
    }

    #[test]
    fn malformed_packets_are_rejected() {
        assert!(parse_rtp(&[]).is_none());
        assert!(parse_rtp(&[0x80; 11]).is_none());
        let mut v1 = vec![0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse_rtp(&v1).is_none()); // version 1
        v1[0] = 0x8F; // 15 CSRCs but no room
        assert!(parse_rtp(&v1).is_none());
        let ext = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 9];
        assert!(parse_rtp(&ext).is_none()); // extension longer than the packet
        let pad = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50];
        assert!(parse_rtp(&pad).is_none()); // padding longer than the packet
        let pad0 = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse_rtp(&pad0).is_none()); // a padding count of 0 is invalid
    }

    #[test]
    fn rtcp_is_recognised_and_not_parsed_as_rtp() {
        let rr = [0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(is_rtcp(&rr));
        assert!(parse_rtp(&rr).is_none());
        let mut rtp = Vec::new();
        write_rtp(&mut rtp, true, 0, 1, 2, 3, &[0; 160]);
        assert!(!is_rtcp(&rtp));
        assert!(!is_rtcp(&[0x81, 200]));
    }

    #[test]
    fn set_pt_keeps_the_marker_and_ignores_short_input() {
        let mut p = Vec::new();
        write_rtp(&mut p, true, 0, 1, 2, 3, &[]);
        set_pt(&mut p, 8);
        let h = parse_rtp(&p).unwrap();
        assert!(h.marker);
        assert_eq!(h.pt, 8);
        let mut short = [0x80u8];
        set_pt(&mut short, 9);
        assert_eq!(short, [0x80]);
        set_pt(&mut [], 9);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 12345;
        for len in 0..200usize {
            let mut p = vec![0u8; len];
            for b in &mut p {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *b = (x >> 16) as u8;
            }
            if let Some(first) = p.first_mut() {
                *first = (*first & 0x3F) | 0x80;
            }
            if let Some(h) = parse_rtp(&p) {
                let _ = h.payload(&p);
            }
            let _ = is_rtcp(&p);
        }
    }
}
