//! Audio offer/answer for a media-anchoring B2BUA (RFC 3264 §5, §6, §7, §8.4).
//!
//! Leg A: the caller's offer is reduced to an [`AudioOffer`] ([`audio_offer`]), Zvon picks a
//! format ([`choose`]) and answers with [`build_answer`]. Leg B: Zvon offers its own codecs
//! from its own address ([`build_offer`]) and reads the callee's choice with
//! [`answer_format`]. Codecs are recognised by `a=rtpmap` name (case-insensitive, RFC 4855 §3)
//! and clock: `PCMU/8000`, `PCMA/8000`, `G722/8000`, `opus/48000[/2]` (RFC 7587 §7). Every
//! other codec (G729, iLBC, GSM, speex, G726, ...) is ignored.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::media::{Codec, Direction, Format, OpusParams};

use super::model::{Attr, MediaDesc, Origin, RtpMap, Sdp, digits, direction_name};

/// Every codec Zvon can relay and transcode, in its default preference order.
pub const ALL_CODECS: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

/// Dynamic payload type of Opus in Zvon's offers.
pub const PT_OPUS: u8 = 111;
/// Payload type of `telephone-event/8000` in Zvon's offers.
pub const PT_DTMF: u8 = 101;
/// Payload type of `telephone-event/48000` in Zvon's offers (listed when Opus is).
pub const PT_DTMF_48K: u8 = 110;
/// RFC 4733 events Zvon offers: DTMF 0–15 and flash (16).
pub const DTMF_EVENTS: &str = "0-16";
/// Packetisation time when the peer does not say (RFC 8866 §6.4 leaves it to the codec;
/// 20 ms is the RFC 3551 §4.5 default for G.711/G.722 and what every phone uses).
pub const DEFAULT_PTIME_MS: u32 = 20;

/// The audio offer of a phone, reduced to what Zvon can use.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioOffer {
    /// Offerer's order; only codecs we support; each with the offer's own PT, fmtp-derived
    /// [`OpusParams`], the offer's telephone-event PT (`dtmf_pt`) and ptime. Empty for a
    /// transport other than RTP/AVP(F) and RTP/SAVP(F).
    pub formats: Vec<Format>,
    /// `c=` (media level over session level) + `m=` port; `None` for `0.0.0.0` / `::`
    /// (RFC 2543 hold, or ICE without a default address) and when there is no `c=`.
    pub remote: Option<SocketAddr>,
    /// The phone's direction: media attribute over session attribute, default sendrecv
    /// (RFC 3264 §5.1); `c=0.0.0.0` without ICE reads as a hold (sendonly, or inactive when
    /// the phone said recvonly/inactive).
    pub direction: Direction,
    /// Which `m=` line (index into [`Sdp::media`]).
    pub index: usize,
    /// RTP/SAVP(F) profile: we cannot do SRTP yet, so this line cannot be answered.
    pub savp_only: bool,
}

/// Recognises a codec we support (RFC 3551 §6, RFC 7587 §7).
fn codec_of(map: &RtpMap) -> Option<Codec> {
    let n = &map.name;
    let c = if n.eq_ignore_ascii_case("PCMU") {
        Codec::Pcmu
    } else if n.eq_ignore_ascii_case("PCMA") {
        Codec::Pcma
    } else if n.eq_ignore_ascii_case("G722") {
        Codec::G722
    } else if n.eq_ignore_ascii_case("opus") {
        Codec::Opus
    } else {
        return None;
    };
    // RFC 3551 §4.5.2: G.722's RTP clock is 8000 although it samples at 16 kHz; a line saying
    // G722/16000 would time-stamp differently from what we send, so it is not G.722 to us.
    (map.clock_rate == c.clock_rate()).then_some(c)
}

fn is_telephone_event(map: &RtpMap) -> bool {
    map.name.eq_ignore_ascii_case("telephone-event")
}

/// RFC 4733 §2.1: telephone-event should use the clock of the audio it travels with. The
/// matching one wins; otherwise the first one offered (phones that offer only `/8000` with
/// Opus still expect DTMF on it).
fn dtmf_pt_for(maps: &[RtpMap], codec: Codec) -> Option<u8> {
    let te = || maps.iter().filter(|m| is_telephone_event(m));
    te().find(|m| m.clock_rate == codec.clock_rate())
        .or_else(|| te().next())
        .map(|m| m.pt)
}

/// Opus `a=fmtp` parameters (RFC 7587 §6.1) that change what we encode towards the peer:
/// `maxplaybackrate` (clamped to 8000–48000), `stereo`, `useinbandfec`, `usedtx`,
/// `maxaveragebitrate` (clamped to 6000–510000). `sprop-maxcapturerate` and `sprop-stereo`
/// describe what the peer sends and change nothing here; unknown keys are ignored.
/// Returns the parameters and `minptime` if given.
pub fn parse_opus_fmtp(fmtp: &str) -> (OpusParams, Option<u32>) {
    let mut p = OpusParams::default();
    let mut minptime = None;
    for kv in fmtp.split(';') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let flag = v == "1";
        if k.eq_ignore_ascii_case("maxplaybackrate") {
            if let Some(r) = digits::<u32>(v) {
                p.max_playback_rate = r.clamp(8000, 48_000);
            }
        } else if k.eq_ignore_ascii_case("maxaveragebitrate") {
            if let Some(r) = digits::<u32>(v) {
                p.max_average_bitrate = r.clamp(6000, 510_000);
            }
        } else if k.eq_ignore_ascii_case("stereo") {
            p.stereo = flag;
        } else if k.eq_ignore_ascii_case("useinbandfec") {
            p.fec = flag;
        } else if k.eq_ignore_ascii_case("usedtx") {
            p.dtx = flag;
        } else if k.eq_ignore_ascii_case("minptime") {
            minptime = digits::<u32>(v).filter(|&ms| ms > 0);
        }
    }
    (p, minptime)
}

/// The phone's declared direction for line `m` (RFC 3264 §5.1; §8.4 and RFC 2543 hold).
/// Returns the direction and the remote address.
fn direction_and_remote(sdp: &Sdp, m: &MediaDesc) -> (Direction, Option<SocketAddr>) {
    let conn = m.connection.or(sdp.connection);
    let declared = m
        .direction()
        .or_else(|| sdp.direction())
        .unwrap_or_default();
    let ice = m.has_ice() || sdp.attr("ice-ufrag").is_some();
    let unspecified = conn.is_some_and(|a| a.is_unspecified());
    let direction = if unspecified && !ice {
        // RFC 3264 §8.4: the RFC 2543 form of hold, c=0.0.0.0 — the phone will not receive.
        match declared {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    } else {
        declared
    };
    let remote = conn
        .filter(|a| !a.is_unspecified())
        .map(|a| SocketAddr::new(a, m.port));
    (direction, remote)
}

/// Describes audio line `index` of `sdp`.
fn describe(sdp: &Sdp, index: usize, m: &MediaDesc) -> AudioOffer {
    let (direction, remote) = direction_and_remote(sdp, m);
    let ptime = m
        .ptime()
        .or_else(|| sdp.ptime())
        .filter(|ms| (10..=120).contains(ms))
        .unwrap_or(DEFAULT_PTIME_MS);
    let maps = m.rtpmaps();
    // Only RTP/AVP(F) carries formats we can use; SAVP lines keep theirs for diagnostics.
    let usable = m.is_plain_rtp() || m.is_savp();
    let formats = maps
        .iter()
        .filter(|_| usable)
        .filter_map(|map| {
            let codec = codec_of(map)?;
            let (opus, ms) = match codec {
                Codec::Opus => {
                    let (p, minptime) = parse_opus_fmtp(m.fmtp(map.pt).unwrap_or(""));
                    // RFC 7587 §6.1: minptime is the least the receiver wants.
                    let ms = minptime.map_or(ptime, |min| ptime.max(min.min(120)));
                    (p, ms)
                }
                _ => (OpusParams::default(), ptime),
            };
            Some(Format {
                codec,
                pt: map.pt,
                ptime: Duration::from_millis(u64::from(ms)),
                opus,
                dtmf_pt: dtmf_pt_for(&maps, codec),
            })
        })
        .collect();
    AudioOffer {
        formats,
        remote,
        direction,
        index,
        savp_only: m.is_savp(),
    }
}

/// The audio line Zvon should work with: the first `m=audio` with port ≠ 0 that is plain RTP
/// and lists a codec we support; failing that, the first `m=audio` with port ≠ 0 (then
/// `formats` may be empty or `savp_only` set and the caller answers 488). The preference
/// matters for phones that offer the same audio twice, SRTP first and plain RTP second.
pub fn audio_offer(sdp: &Sdp) -> Option<AudioOffer> {
    let mut fallback = None;
    for (i, m) in sdp.media.iter().enumerate() {
        if !m.kind.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        let offer = describe(sdp, i, m);
        if !offer.savp_only && !offer.formats.is_empty() {
            return Some(offer);
        }
        fallback.get_or_insert(offer);
    }
    fallback
}

/// Chooses the format for a leg: the first format in the offer that is in `supported`
/// (offerer's preference wins, RFC 3264 §6.1). `None` for a `savp_only` offer.
pub fn choose(offer: &AudioOffer, supported: &[Codec]) -> Option<Format> {
    if offer.savp_only {
        return None;
    }
    offer
        .formats
        .iter()
        .find(|f| supported.contains(&f.codec))
        .copied()
}

fn pt_of(codec: Codec) -> u8 {
    codec.static_pt().unwrap_or(PT_OPUS)
}

fn our_rtpmap(codec: Codec, pt: u8) -> RtpMap {
    RtpMap {
        pt,
        name: codec.name().into(),
        clock_rate: codec.clock_rate(),
        // RFC 7587 §7: opus is always signalled as two channels.
        channels: if codec == Codec::Opus { 2 } else { 1 },
    }
}

fn session(origin: &Origin, addr: IpAddr, media: Vec<MediaDesc>) -> Sdp {
    Sdp {
        origin: origin.clone(),
        session_name: "Zvon".into(),
        connection: Some(addr),
        bandwidth: Vec::new(),
        attrs: Vec::new(),
        // RFC 3264 §5: t=0 0 for a session that is not bounded in time.
        extra: vec![('t', "0 0".into())],
        media,
    }
}

/// Zvon's offer towards a callee (RFC 3264 §5): one `m=audio` line at `addr:port`, RTP/AVP,
/// listing `codecs` in order (duplicates dropped) with static PTs where they exist (PCMU 0,
/// PCMA 8, G722 9) and 111 for Opus (`a=fmtp:111 useinbandfec=1;minptime=10`); with `dtmf`,
/// `telephone-event/8000` on 101 and, when Opus is listed, `telephone-event/48000` on 110
/// (both `0-16`); `a=ptime:20` and the direction attribute.
pub fn build_offer(
    origin: &Origin,
    addr: IpAddr,
    port: u16,
    codecs: &[Codec],
    dtmf: bool,
    direction: Direction,
) -> Sdp {
    let mut fmts = Vec::new();
    let mut attrs = Vec::new();
    let mut listed: Vec<Codec> = Vec::new();
    for &c in codecs {
        if listed.contains(&c) {
            continue;
        }
        listed.push(c);
        let pt = pt_of(c);
        fmts.push(pt.to_string());
        attrs.push(Attr::new("rtpmap", our_rtpmap(c, pt).to_string()));
        if c == Codec::Opus {
            attrs.push(Attr::new(
                "fmtp",
                format!("{PT_OPUS} useinbandfec=1;minptime=10"),
            ));
        }
    }
    if dtmf {
        let mut te = vec![(PT_DTMF, 8000)];
        if listed.contains(&Codec::Opus) {
            te.push((PT_DTMF_48K, 48_000));
        }
        for (pt, clock) in te {
            fmts.push(pt.to_string());
            attrs.push(Attr::new("rtpmap", format!("{pt} telephone-event/{clock}")));
            attrs.push(Attr::new("fmtp", format!("{pt} {DTMF_EVENTS}")));
        }
    }
    attrs.push(Attr::new("ptime", DEFAULT_PTIME_MS.to_string()));
    attrs.push(Attr::flag(direction_name(direction)));
    let m = MediaDesc {
        kind: "audio".into(),
        port,
        port_count: None,
        proto: "RTP/AVP".into(),
        fmts,
        connection: None,
        bandwidth: Vec::new(),
        attrs,
        extra: Vec::new(),
    };
    session(origin, addr, vec![m])
}

/// The direction seen from the other end (sendonly ↔ recvonly).
pub fn reverse(d: Direction) -> Direction {
    match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        other => other,
    }
}

fn sends(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

fn receives(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

fn from_flags(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// The direction of an answer (RFC 3264 §6.1): the reverse of what was offered, narrowed by
/// what the answerer wants (`wanted`, from the answerer's point of view). With
/// `wanted = SendRecv`: sendonly→recvonly, recvonly→sendonly, inactive→inactive,
/// sendrecv→sendrecv; the answer never enables a direction the offer did not.
pub fn answer_direction(offered: Direction, wanted: Direction) -> Direction {
    let r = reverse(offered);
    from_flags(sends(r) && sends(wanted), receives(r) && receives(wanted))
}

/// `m=<kind> 0 <proto> <first fmt>`: a rejected stream (RFC 3264 §6: port zero, formats
/// ignored but at least one present).
fn rejected(m: &MediaDesc) -> MediaDesc {
    MediaDesc {
        kind: m.kind.clone(),
        port: 0,
        port_count: None,
        proto: m.proto.clone(),
        fmts: m.fmts.first().cloned().into_iter().collect(),
        connection: None,
        bandwidth: Vec::new(),
        attrs: Vec::new(),
        extra: Vec::new(),
    }
}

fn answer_line(
    offer: &Sdp,
    m: &MediaDesc,
    chosen: &Format,
    port: u16,
    dir: Direction,
) -> MediaDesc {
    let maps = m.rtpmaps();
    let offered = |pt: u8| maps.iter().find(|r| r.pt == pt);
    let mut fmts = vec![chosen.pt.to_string()];
    let codec_map = offered(chosen.pt)
        .cloned()
        .unwrap_or_else(|| our_rtpmap(chosen.codec, chosen.pt));
    let mut attrs = vec![Attr::new("rtpmap", codec_map.to_string())];
    // RFC 3264 §6.1: the answer uses the offer's payload type numbers and format parameters.
    if let Some(p) = m.fmtp(chosen.pt).filter(|p| !p.is_empty()) {
        attrs.push(Attr::new("fmtp", format!("{} {p}", chosen.pt)));
    }
    if let Some(te) = chosen
        .dtmf_pt
        .filter(|&pt| pt != chosen.pt)
        .and_then(offered)
        .filter(|r| is_telephone_event(r))
    {
        fmts.push(te.pt.to_string());
        attrs.push(Attr::new("rtpmap", te.to_string()));
        if let Some(p) = m.fmtp(te.pt).filter(|p| !p.is_empty()) {
            attrs.push(Attr::new("fmtp", format!("{} {p}", te.pt)));
        }
    }
    let ms = chosen.ptime.as_millis();
    if ms > 0 {
        attrs.push(Attr::new("ptime", ms.to_string()));
    }
    let (offered_dir, _) = direction_and_remote(offer, m);
    attrs.push(Attr::flag(direction_name(answer_direction(
        offered_dir,
        dir,
    ))));
    MediaDesc {
        kind: m.kind.clone(),
        port,
        port_count: None,
        proto: m.proto.clone(),
        fmts,
        connection: None,
        bandwidth: Vec::new(),
        attrs,
        extra: Vec::new(),
    }
}

/// Zvon's answer to a phone's offer (RFC 3264 §6): the same number of `m=` lines in the same
/// order. Line `offer_index` gets `addr:port`, only `chosen` (with the offer's PT, rtpmap and
/// fmtp) and the offer's telephone-event PT when `chosen.dtmf_pt` names one the line lists,
/// `a=ptime`, and [`answer_direction`]`(offered, dir)`. Every other line — video, a second
/// audio, anything not plain RTP/AVP(F) (we do not do SRTP: no `a=crypto`, no ICE, no
/// `a=rtcp-mux` in the answer) and a line the offer itself disabled — is rejected with port 0.
pub fn build_answer(
    origin: &Origin,
    offer: &Sdp,
    offer_index: usize,
    chosen: &Format,
    addr: IpAddr,
    port: u16,
    dir: Direction,
) -> Sdp {
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let servable = i == offer_index
                && m.port != 0
                && m.kind.eq_ignore_ascii_case("audio")
                && m.is_plain_rtp();
            if servable {
                answer_line(offer, m, chosen, port, dir)
            } else {
                rejected(m)
            }
        })
        .collect();
    session(origin, addr, media)
}

/// Reads a callee's answer to [`build_offer`]: the first codec we support in its audio line
/// (RFC 3264 §7: the offerer may send any format listed in the answer; we take the first),
/// with the answer's PT, telephone-event PT, ptime and Opus parameters; where it receives; and
/// its direction. `None` when the audio was rejected (port 0) or lists nothing we support.
pub fn answer_format(answer: &Sdp) -> Option<(Format, Option<SocketAddr>, Direction)> {
    let a = audio_offer(answer)?;
    let f = *a.formats.first()?;
    Some((f, a.remote, a.direction))
}

/// The direction Zvon writes in its offer or answer towards the *other* leg when one leg
/// states direction `d` (from that phone's point of view, as in its SDP).
///
/// Zvon relays, so towards the other leg it stands in for the phone that stated `d`: it will
/// send to the other leg exactly when that phone sends to Zvon, and needs the other leg's
/// media exactly when that phone receives. An SDP direction is the author's own point of view
/// (RFC 3264 §5.1), so the mapping is the identity:
///
/// | leg A's SDP says     | Zvon writes towards B | B then answers |
/// |----------------------|-----------------------|----------------|
/// | `sendonly` (A holds) | `sendonly`            | `recvonly`     |
/// | `recvonly`           | `recvonly`            | `sendonly`     |
/// | `inactive`           | `inactive`            | `inactive`     |
/// | `sendrecv` (resume)  | `sendrecv`            | `sendrecv`     |
///
/// and B's answer `b` comes back to A as `build_answer(.., dir = mirror(b))`, which
/// [`answer_direction`] narrows against A's offer (A `sendonly`, B `recvonly` → A gets
/// `recvonly`). The *effective* direction of the other phone is [`reverse`]`(d)`, which is
/// what `LegMedia::direction` of that leg should hold. When Zvon plays music on hold instead
/// of relaying the hold, it keeps the other leg `sendrecv` and does not call this.
pub fn mirror(d: Direction) -> Direction {
    d
}
