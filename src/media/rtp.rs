//! STAND-IN: replaced by the codecs helper's module at merge.
//!
//! RTP fixed header (RFC 3550 §5.1), parsed zero-copy: CSRC list, header extension (§5.3.1)
//! and padding (§5.1 `P`) are skipped so that `payload_offset..len` is the payload.

/// The fields of an RTP header that media code uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// `M` bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Offset of the payload in the packet.
    pub payload_offset: usize,
}

/// Parses an RTP header; `None` for anything that is not RTP version 2 or is truncated.
pub fn parse_rtp(pkt: &[u8]) -> Option<RtpHeader> {
    if pkt.len() < 12 || pkt[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(pkt[0] & 0x0f);
    let mut off = 12 + 4 * cc;
    if pkt[0] & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16-bit profile id, 16-bit length in 32-bit words.
        let ext = pkt.get(off..off + 4)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        off += 4 + 4 * words;
    }
    let mut end = pkt.len();
    if pkt[0] & 0x20 != 0 {
        // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
        let pad = usize::from(pkt[pkt.len() - 1]);
        if pad == 0 {
            return None;
        }
        end = end.checked_sub(pad)?;
    }
    if off > end {
        return None;
    }
    Some(RtpHeader {
        marker: pkt[1] & 0x80 != 0,
        pt: pkt[1] & 0x7f,
        seq: u16::from_be_bytes([pkt[2], pkt[3]]),
        ts: u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
        ssrc: u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]),
        payload_offset: off,
    })
}

/// RFC 5761 §4: an RTCP packet has 200–204 in the second octet.
pub fn is_rtcp(pkt: &[u8]) -> bool {
    pkt.len() >= 8 && pkt[0] >> 6 == 2 && (200..=204).contains(&pkt[1])
}

/// Writes a 12-byte header and the payload into `out` (cleared first).
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
    out.push(0x80);
    out.push(if marker { 0x80 } else { 0 } | (pt & 0x7f));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Rewrites the payload type in place, keeping the marker bit.
pub fn set_pt(pkt: &mut [u8], pt: u8) {
    if let Some(b) = pkt.get_mut(1) {
        *b = (*b & 0x80) | (pt & 0x7f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_header() {
        let mut v = Vec::new();
        write_rtp(&mut v, true, 8, 7, 160, 0xdead_beef, &[1, 2, 3]);
        let h = parse_rtp(&v).unwrap();
        assert_eq!(
            (h.marker, h.pt, h.seq, h.ts, h.ssrc),
            (true, 8, 7, 160, 0xdead_beef)
        );
        assert_eq!(&v[h.payload_offset..], &[1, 2, 3]);
        set_pt(&mut v, 0);
        assert_eq!(parse_rtp(&v).unwrap().pt, 0);
        assert!(parse_rtp(&v[..11]).is_none());
    }
}
