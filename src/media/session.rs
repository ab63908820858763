//! The per-call media state machine: two legs, relay or transcode, MOH, DTMF, timeouts.
//!
//! Contract: sans-IO. The worker hands in every datagram with the instant it was read and a
//! `send` callback; the session decides what to transmit, on which leg's socket, to which
//! address. Nothing here reads the clock, allocates per relayed packet, or panics on input.
//!
//! - **Symmetric RTP** (RFC 4961 §4 spirit, the "latching" every SBC does behind NAT): a leg
//!   sends to its SDP address until the phone's first RTP arrives, then to that packet's source.
//!   Another source is accepted only once the latched one has been silent for 1 s, or right after
//!   an explicit [`MediaSession::update`]. RTCP goes to the latched RTP address with port + 1
//!   (RFC 3550 §11) unless RTCP packets arrive from elsewhere.
//! - **Relay** (same codec and ptime on both legs): the packet is forwarded as is, with its
//!   payload type rewritten in place when the legs' PTs differ (RFC 3551 §6: dynamic PTs are
//!   per-leg), including the RFC 4733 `telephone-event` PT.
//! - **Transcode**: per direction a [`Pipeline`]; every tick pulls one frame per leg and sends it
//!   with the leg's own SSRC, sequence number and timestamp (RFC 3550 §5.1), continuous across
//!   MOH and DTMF. RFC 4733 packets bypass the pipeline and are re-stamped for the other leg.
//! - **Direction** (RFC 3264 §5.1, from the phone's point of view): nothing is sent to a
//!   `sendonly`/`inactive` phone; what a `recvonly`/`inactive` phone sends is dropped.
//! - **RTP timeout**: a `sendrecv` leg that is not on music on hold and stays silent for
//!   [`SessionConfig::rtp_timeout`] yields one [`MediaEvent::RtpTimeout`] per silence.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::Decoder;
use super::codec::EncoderSettings;
use super::dtmf::Goertzel;
use super::dtmf::{self, DtmfEvent, DtmfSender};
use super::moh::MohSource;
use super::play::{PromptLibrary, PromptPlayer, RecordEnd, Recorder};
use super::quality::RxStats;
use super::rtp;
use super::transcode::Pipeline;
use super::{Direction, Format, LegMedia, LegStats, MediaEvent, SessionId, Side};

/// A latched source must be silent this long before another source may take its place.
const RELATCH_AFTER: Duration = Duration::from_secs(1);
/// Volume of the DTMF events we generate (RFC 4733 §2.3.4: −10 dBm0).
const DTMF_VOLUME: u8 = 10;
/// At most this many DTMF digits wait behind the one being sent.
const DTMF_QUEUE: usize = 32;
/// A late tick catches up at most this many frames, then the schedule restarts.
const MAX_CATCH_UP: u32 = 3;
/// Used when a leg's ptime is zero (a broken SDP).
const DEFAULT_PTIME: Duration = Duration::from_millis(20);

/// Per-session settings (from the config).
pub struct SessionConfig {
    /// Silence after which a leg reports [`MediaEvent::RtpTimeout`]; zero turns it off.
    pub rtp_timeout: Duration,
    /// Encoder settings for transcoding and MOH.
    pub encoder: EncoderSettings,
    /// Music on hold, mono PCM; `None` plays silence.
    pub moh: Option<Arc<[i16]>>,
    /// Sample rate of [`SessionConfig::moh`].
    pub moh_rate: u32,
    /// Prompts for IVR and voicemail.
    pub prompts: Arc<PromptLibrary>,
    /// [`SessionConfig::moh`] resampled at start to the rates encoders run at (8, 12, 16, 24,
    /// 48 kHz), so starting music on hold never resamples on the media worker.
    pub moh_by_rate: Arc<std::collections::HashMap<u32, Arc<[i16]>>>,
    /// Where `file:` prompts (recorded messages) are read from: the state directory.
    pub files_dir: std::path::PathBuf,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            rtp_timeout: Duration::from_secs(30),
            encoder: EncoderSettings {
                opus_complexity: 5,
                opus_bitrate: 0,
            },
            moh: None,
            moh_rate: 8000,
            prompts: Arc::new(PromptLibrary::default()),
            moh_by_rate: Arc::default(),
            files_dir: std::path::PathBuf::from("."),
        }
    }
}

impl Clone for SessionConfig {
    fn clone(&self) -> Self {
        Self {
            rtp_timeout: self.rtp_timeout,
            encoder: copy_settings(&self.encoder),
            moh: self.moh.clone(),
            moh_rate: self.moh_rate,
            prompts: self.prompts.clone(),
            moh_by_rate: self.moh_by_rate.clone(),
            files_dir: self.files_dir.clone(),
        }
    }
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("rtp_timeout", &self.rtp_timeout)
            .field("moh_samples", &self.moh.as_ref().map(|m| m.len()))
            .field("moh_rate", &self.moh_rate)
            .finish_non_exhaustive()
    }
}

fn copy_settings(s: &EncoderSettings) -> EncoderSettings {
    EncoderSettings {
        opus_complexity: s.opus_complexity,
        opus_bitrate: s.opus_bitrate,
    }
}

/// The phone receives what we send (RFC 3264 §5.1).
fn phone_receives(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

/// The phone is allowed to send.
fn phone_sends(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

/// One learned remote address (symmetric RTP).
#[derive(Debug, Clone, Copy)]
struct Latch {
    addr: Option<SocketAddr>,
    /// `addr` came from a packet (not from SDP) and may not be replaced before [`RELATCH_AFTER`].
    learned: bool,
    last: Option<Instant>,
}

impl Latch {
    fn new(addr: Option<SocketAddr>) -> Self {
        Self {
            addr,
            learned: false,
            last: None,
        }
    }

    /// Whether a packet from `src` is accepted; latches to it when allowed.
    fn observe(&mut self, now: Instant, src: SocketAddr) -> bool {
        if self.learned && self.addr == Some(src) {
            self.last = Some(now);
            return true;
        }
        let silent = self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= RELATCH_AFTER);
        if !self.learned || silent {
            self.addr = Some(src);
            self.learned = true;
            self.last = Some(now);
            return true;
        }
        false
    }
}

struct DtmfTx {
    sender: DtmfSender,
    digit: char,
    pt: u8,
    /// RTP timestamp of the event (RFC 4733 §2.5.1.2: all packets of one event share it).
    ts: Option<u32>,
}

/// Our own RTP stream towards one phone (transcoded audio, MOH, generated DTMF).
struct Gen {
    ssrc: u32,
    seq: u16,
    ts: u32,
    next_slot: Option<Instant>,
    last_slot: Option<Instant>,
    /// Audio went out in the previous slot (the marker bit starts a talkspurt, RFC 3551 §4.1).
    talking: bool,
    moh: Option<MohSource>,
    /// Prompts being played (their `Play` id).
    play: Option<(u64, PromptPlayer)>,
    dtmf: Option<DtmfTx>,
    dtmf_queue: VecDeque<(char, Duration)>,
}

struct Leg {
    media: LegMedia,
    rtp: Latch,
    rtcp: Latch,
    rx: RxStats,
    sent: u64,
    silent_since: Instant,
    timed_out: bool,
    /// RTP timestamp of the last incoming event already reported (RFC 4733 §2.5.1.4 sends the
    /// end packet three times).
    dtmf_reported: Option<u32>,
    /// Incoming event timestamp → the timestamp we re-stamp it with on the other leg.
    dtmf_map: Option<(u32, u32)>,
    own: Gen,
    /// Decoding of this phone's audio when its media ends at Zvon (IVR, voicemail): in-band
    /// DTMF detection and recording.
    local: Option<Local>,
}

/// Terminating this phone's audio at Zvon.
struct Local {
    dec: Box<dyn Decoder>,
    goertzel: Goertzel,
    pcm: Vec<i16>,
    record: Option<Recorder>,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Leg {
    fn new(now: Instant, id: SessionId, side: Side, media: LegMedia) -> Self {
        // RFC 3550 §5.1: SSRC, initial seq and timestamp should be unpredictable; a hash of the
        // session id keeps the session deterministic (and the worker assigns ids).
        let h = mix(id.0.wrapping_mul(2).wrapping_add(side.index() as u64));
        Self {
            rtp: Latch::new(media.remote),
            rtcp: Latch::new(None),
            rx: RxStats::new(media.format.codec.clock_rate()),
            sent: 0,
            silent_since: now,
            timed_out: false,
            dtmf_reported: None,
            dtmf_map: None,
            local: None,
            own: Gen {
                ssrc: h as u32,
                seq: (h >> 32) as u16,
                ts: (h >> 48) as u32 * 4099,
                next_slot: None,
                last_slot: None,
                talking: false,
                moh: None,
                play: None,
                dtmf: None,
                dtmf_queue: VecDeque::new(),
            },
            media,
        }
    }

    fn ptime(&self) -> Duration {
        if self.media.format.ptime.is_zero() {
            DEFAULT_PTIME
        } else {
            self.media.format.ptime
        }
    }

    fn clock(&self) -> u32 {
        self.media.format.codec.clock_rate()
    }

    /// RTCP destination: where RTCP came from, else the RTP address with port + 1.
    fn rtcp_dst(&self) -> Option<SocketAddr> {
        if self.rtcp.learned {
            return self.rtcp.addr;
        }
        let mut a = self.rtp.addr?;
        a.set_port(a.port().checked_add(1)?);
        Some(a)
    }

    /// The phone is expected to keep sending RTP (for the timeout).
    fn expects_rtp(&self) -> bool {
        self.media.direction == Direction::SendRecv && self.own.moh.is_none()
    }

    /// Decodes a payload from this phone for detection and recording (media ending here).
    fn terminate(&mut self, payload: &[u8]) -> (Option<char>, Option<RecordEnd>) {
        if self.local.is_none() {
            let Ok(dec) = super::codec::decoder_at(&self.media.format, 8000) else {
                return (None, None);
            };
            let rate = dec.rate();
            self.local = Some(Local {
                dec,
                goertzel: Goertzel::new(rate),
                pcm: Vec::with_capacity(960),
                record: None,
            });
        }
        let Some(l) = self.local.as_mut() else {
            return (None, None);
        };
        l.pcm.clear();
        if l.dec.decode(payload, &mut l.pcm).is_err() {
            return (None, None);
        }
        let digit = l.goertzel.push(&l.pcm);
        let end = l.record.as_mut().and_then(|r| r.push(&l.pcm));
        (digit, end)
    }

    fn rearm_timeout(&mut self, now: Instant) {
        self.silent_since = now;
        self.timed_out = false;
    }
}

fn pair(legs: &mut [Leg; 2], from: Side) -> (&mut Leg, &mut Leg) {
    let [a, b] = legs;
    match from {
        Side::A => (a, b),
        Side::B => (b, a),
    }
}

/// One call's media: leg A, optionally leg B, and what flows between them.
pub struct MediaSession {
    id: SessionId,
    legs: [Leg; 2],
    has_b: bool,
    transcode: bool,
    /// `pipes[i]`: from leg `i` to the other leg, built for `pipe_formats`.
    pipes: [Option<Pipeline>; 2],
    pipe_formats: Option<(Format, Format)>,
    cfg: SessionConfig,
    events: VecDeque<MediaEvent>,
    out: Vec<u8>,
    scratch: Vec<u8>,
    dropped: u64,
    /// The latest instant seen (for calls that take none, like [`MediaSession::stop_moh`]).
    last_now: Instant,
}

impl MediaSession {
    /// A session for leg `a` and (once answered) leg `b`.
    pub fn new(
        now: Instant,
        id: SessionId,
        a: LegMedia,
        b: Option<LegMedia>,
        cfg: SessionConfig,
    ) -> Self {
        let has_b = b.is_some();
        let b = b.unwrap_or_else(|| LegMedia {
            remote: None,
            direction: Direction::Inactive,
            ..a.clone()
        });
        let mut s = Self {
            id,
            legs: [Leg::new(now, id, Side::A, a), Leg::new(now, id, Side::B, b)],
            has_b,
            transcode: false,
            pipes: [None, None],
            pipe_formats: None,
            cfg,
            events: VecDeque::new(),
            out: Vec::with_capacity(1500),
            scratch: Vec::with_capacity(16),
            dropped: 0,
            last_now: now,
        };
        s.reconfigure();
        s
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Whether leg B is known.
    pub fn has_b(&self) -> bool {
        self.has_b
    }

    /// A leg changed (answer, re-INVITE, hold). A changed SDP address replaces the latched one;
    /// either way the next packets may re-latch.
    pub fn update(&mut self, now: Instant, side: Side, leg: LegMedia) {
        self.last_now = self.last_now.max(now);
        if side == Side::B && !self.has_b {
            self.legs[1] = Leg::new(now, self.id, Side::B, leg);
            self.has_b = true;
        } else {
            let l = &mut self.legs[side.index()];
            if l.media.remote != leg.remote {
                l.rtp = Latch::new(leg.remote);
                l.rtcp = Latch::new(None);
            } else {
                l.rtp.learned = false;
                l.rtcp.learned = false;
            }
            if l.media.format.codec.clock_rate() != leg.format.codec.clock_rate() {
                l.rx = RxStats::new(leg.format.codec.clock_rate());
            }
            l.media = leg;
            l.rearm_timeout(now);
        }
        self.reconfigure();
    }

    /// Chooses relay or transcode and (re)builds the pipelines when the formats changed.
    fn reconfigure(&mut self) {
        if !self.has_b {
            self.transcode = false;
            self.pipes = [None, None];
            self.pipe_formats = None;
            return;
        }
        let fa = self.legs[0].media.format;
        let fb = self.legs[1].media.format;
        self.transcode = fa.codec != fb.codec || fa.ptime != fb.ptime;
        if !self.transcode {
            self.pipes = [None, None];
            self.pipe_formats = None;
            return;
        }
        if self.pipe_formats == Some((fa, fb)) {
            return;
        }
        let mk = |from: &Format, to: &Format, s: &EncoderSettings| match Pipeline::new(from, to, s)
        {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::debug!(from = from.codec.name(), to = to.codec.name(), error = %e, "no transcoding pipeline");
                None
            }
        };
        self.pipes = [
            mk(&fa, &fb, &self.cfg.encoder),
            mk(&fb, &fa, &self.cfg.encoder),
        ];
        self.pipe_formats = Some((fa, fb));
    }

    /// An RTP packet arrived on `side`'s port from `src`.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        side: Side,
        src: SocketAddr,
        pkt: &mut [u8],
        send: &mut impl FnMut(Side, SocketAddr, &[u8]),
    ) {
        self.last_now = self.last_now.max(now);
        if side == Side::B && !self.has_b {
            self.dropped += 1;
            return;
        }
        // RFC 5761 §4: RTCP on the RTP port (we do not negotiate rtcp-mux) is dropped.
        if rtp::is_rtcp(pkt) {
            self.dropped += 1;
            return;
        }
        let Some(h) = rtp::parse_rtp(pkt) else {
            self.dropped += 1;
            return;
        };
        let has_b = self.has_b;
        let transcode = self.transcode;
        let (from, to) = pair(&mut self.legs, side);
        if !from.rtp.observe(now, src) {
            // Another source while the latched one is alive: a duplicate stream or a hijack.
            self.dropped += 1;
            return;
        }
        from.rx.on_packet(now, h.seq, h.ts);
        from.rearm_timeout(now);
        if !phone_sends(from.media.direction) {
            return;
        }
        let is_audio = h.pt == from.media.format.pt;
        let is_dtmf = Some(h.pt) == from.media.format.dtmf_pt;
        let payload = pkt.get(h.payload_offset..).unwrap_or(&[]);
        let mut event = None;
        if is_dtmf {
            // RFC 4733 §2.5.1.4: the end packet is retransmitted; report the event once.
            if let Some(ev) = dtmf::parse_event(payload)
                && ev.end
                && from.dtmf_reported != Some(h.ts)
            {
                from.dtmf_reported = Some(h.ts);
                event = Some(ev);
            }
        } else if !is_audio {
            self.dropped += 1;
            return;
        }
        if let Some(ev) = event {
            self.events.push_back(MediaEvent::Dtmf {
                session: self.id,
                side,
                digit: ev.digit,
            });
        }
        if !has_b && is_audio {
            // Media ends at Zvon: in-band DTMF (Goertzel) and recording.
            let (digit, end) = from.terminate(payload);
            if let Some(digit) = digit {
                self.events.push_back(MediaEvent::Dtmf {
                    session: self.id,
                    side,
                    digit,
                });
            }
            if let Some(end) = end {
                if let Some(r) = from.local.as_mut().and_then(|l| l.record.take()) {
                    self.events.push_back(MediaEvent::Recorded {
                        session: self.id,
                        side,
                        pcm: Arc::from(r.pcm),
                        rate: r.rate,
                        end,
                    });
                }
            }
        }
        if !has_b || !phone_receives(to.media.direction) || to.own.moh.is_some() {
            return;
        }
        let Some(dst) = to.rtp.addr else { return };
        if transcode {
            if is_audio {
                if let Some(p) = self.pipes[side.index()].as_mut() {
                    p.push(now, h.seq, h.ts, payload);
                }
                return;
            }
            let Some(pt) = to.media.format.dtmf_pt else {
                return;
            };
            let Some(ev) = dtmf::parse_event(payload) else {
                return;
            };
            // Re-stamp on the other leg's clock and stream (RFC 4733 §2.5.1.2, §2.3.5).
            let out_ts = match from.dtmf_map {
                Some((i, o)) if i == h.ts => o,
                _ => {
                    from.dtmf_map = Some((h.ts, to.own.ts));
                    to.own.ts
                }
            };
            let dur =
                u64::from(ev.duration) * u64::from(to.clock()) / u64::from(from.clock().max(1));
            let ev = DtmfEvent {
                duration: dur.min(u64::from(u16::MAX)) as u16,
                ..ev
            };
            self.scratch.clear();
            dtmf::write_event(&mut self.scratch, &ev);
            rtp::write_rtp(
                &mut self.out,
                h.marker,
                pt,
                to.own.seq,
                out_ts,
                to.own.ssrc,
                &self.scratch,
            );
            to.own.seq = to.own.seq.wrapping_add(1);
            to.sent += 1;
            send(side.other(), dst, &self.out);
            return;
        }
        // Relay: rewrite the PT in place (RFC 3551 §6), no copy, no decode.
        let out_pt = if is_audio {
            Some(to.media.format.pt)
        } else {
            to.media.format.dtmf_pt
        };
        let Some(out_pt) = out_pt else {
            // The other leg did not negotiate telephone-event: drop (the event was reported).
            return;
        };
        if out_pt != h.pt {
            rtp::set_pt(pkt, out_pt);
        }
        to.sent += 1;
        send(side.other(), dst, pkt);
    }

    /// An RTCP packet arrived on `side`'s RTCP port: relayed to the other leg in relay mode.
    /// In transcode mode the reports describe streams the other phone never sees, so they are
    /// dropped (we do not generate our own RTCP yet).
    pub fn handle_rtcp(
        &mut self,
        now: Instant,
        side: Side,
        src: SocketAddr,
        pkt: &[u8],
        send: &mut impl FnMut(Side, SocketAddr, &[u8]),
    ) {
        self.last_now = self.last_now.max(now);
        if (side == Side::B && !self.has_b) || !rtp::is_rtcp(pkt) {
            self.dropped += 1;
            return;
        }
        let (from, to) = pair(&mut self.legs, side);
        if !from.rtcp.observe(now, src) {
            self.dropped += 1;
            return;
        }
        if !self.has_b || self.transcode {
            return;
        }
        if let Some(dst) = to.rtcp_dst() {
            send(side.other(), dst, pkt);
        }
    }

    fn own_active(&self, side: Side) -> bool {
        let leg = &self.legs[side.index()];
        (self.has_b || (side == Side::A && leg.own.play.is_some()))
            && phone_receives(leg.media.direction)
            && leg.rtp.addr.is_some()
            && (leg.own.moh.is_some()
                || leg.own.play.is_some()
                || leg.own.dtmf.is_some()
                || !leg.own.dtmf_queue.is_empty()
                || (self.transcode && self.pipes[side.other().index()].is_some()))
    }

    /// Whether the worker must call [`MediaSession::handle_tick`] every 20 ms (otherwise about
    /// once a second is enough, for the RTP timeout).
    pub fn needs_tick(&self) -> bool {
        self.own_active(Side::A) || self.own_active(Side::B)
    }

    /// Timer: sends the frames due (transcoded audio, MOH, generated DTMF) and detects RTP
    /// timeouts.
    pub fn handle_tick(&mut self, now: Instant, send: &mut impl FnMut(Side, SocketAddr, &[u8])) {
        self.last_now = self.last_now.max(now);
        let timeout = self.cfg.rtp_timeout;
        for side in [Side::A, Side::B] {
            if side == Side::B && !self.has_b {
                continue;
            }
            let leg = &mut self.legs[side.index()];
            if !timeout.is_zero()
                && !leg.timed_out
                && leg.expects_rtp()
                && now.saturating_duration_since(leg.silent_since) >= timeout
            {
                leg.timed_out = true;
                self.events.push_back(MediaEvent::RtpTimeout {
                    session: self.id,
                    side,
                });
            }
        }
        for side in [Side::A, Side::B] {
            if !self.own_active(side) {
                let leg = &mut self.legs[side.index()];
                leg.own.next_slot = None;
                if !phone_receives(leg.media.direction) {
                    leg.own.dtmf = None;
                    leg.own.dtmf_queue.clear();
                }
                continue;
            }
            let leg = &mut self.legs[side.index()];
            let ptime = leg.ptime();
            let clock = leg.clock();
            let next = match leg.own.next_slot {
                Some(t) => t,
                None => {
                    // Resuming our stream: advance the timestamp by the time it was idle so that
                    // it stays a clock (RFC 3550 §5.1), the sequence number just continues.
                    if let Some(last) = leg.own.last_slot {
                        let idle = now.saturating_duration_since(last).saturating_sub(ptime);
                        let ticks = idle.as_micros() * u128::from(clock) / 1_000_000;
                        leg.own.ts = leg.own.ts.wrapping_add(ticks as u32);
                    }
                    leg.own.talking = false;
                    now
                }
            };
            let mut next = next;
            let mut n = 0;
            while now >= next && n < MAX_CATCH_UP {
                self.produce(now, side, send);
                next += ptime;
                n += 1;
            }
            if now >= next {
                next = now + ptime;
            }
            self.legs[side.index()].own.next_slot = Some(next);
        }
    }

    /// One frame slot of our own stream towards `side`.
    fn produce(
        &mut self,
        now: Instant,
        side: Side,
        send: &mut impl FnMut(Side, SocketAddr, &[u8]),
    ) {
        let transcode = self.transcode;
        let Self {
            legs,
            pipes,
            out,
            scratch,
            events,
            id: session_id,
            ..
        } = self;
        let leg = &mut legs[side.index()];
        let Some(dst) = leg.rtp.addr else { return };
        let clock = leg.media.format.codec.clock_rate();
        let default_inc = (u128::from(clock) * leg.ptime().as_micros() / 1_000_000) as u32;
        let g = &mut leg.own;
        if g.dtmf.is_none()
            && let Some((digit, duration)) = g.dtmf_queue.pop_front()
            && let Some(pt) = leg.media.format.dtmf_pt
        {
            let ptime = if leg.media.format.ptime.is_zero() {
                DEFAULT_PTIME
            } else {
                leg.media.format.ptime
            };
            g.dtmf = DtmfSender::new(digit, duration, clock, ptime).map(|sender| DtmfTx {
                sender,
                digit,
                pt,
                ts: None,
            });
        }
        // Pull audio every slot, even under a DTMF event, so the sources keep their pace.
        let mut play_done = None;
        let audio = if let Some((id, p)) = g.play.as_mut() {
            let f = p.next_frame();
            if f.is_none() {
                play_done = Some(*id);
            }
            f
        } else if let Some(m) = g.moh.as_mut() {
            Some(m.next_frame())
        } else if transcode {
            pipes[side.other().index()]
                .as_mut()
                .and_then(|p| p.pull(now))
        } else {
            None
        };
        let inc = audio.as_ref().map_or(default_inc, |a| a.1);
        let mut sent = false;
        let mut dtmf_done = false;
        if let Some(d) = g.dtmf.as_mut() {
            match d.sender.next() {
                Some((marker, duration, end)) => {
                    let ts = *d.ts.get_or_insert(g.ts);
                    scratch.clear();
                    dtmf::write_event(
                        scratch,
                        &DtmfEvent {
                            digit: d.digit,
                            end,
                            volume: DTMF_VOLUME,
                            duration,
                        },
                    );
                    // RFC 4733 §2.5.1.1: marker on the first packet of the event.
                    rtp::write_rtp(out, marker, d.pt, g.seq, ts, g.ssrc, scratch);
                    sent = true;
                }
                None => dtmf_done = true,
            }
        }
        if dtmf_done {
            g.dtmf = None;
        }
        let mut talking = false;
        if !sent
            && g.dtmf.is_none()
            && let Some((payload, _)) = audio
        {
            rtp::write_rtp(
                out,
                !g.talking,
                leg.media.format.pt,
                g.seq,
                g.ts,
                g.ssrc,
                payload,
            );
            sent = true;
            talking = true;
        }
        g.talking = talking;
        if let Some(id) = play_done {
            g.play = None;
            events.push_back(MediaEvent::PlayDone {
                session: *session_id,
                id,
            });
        }
        g.ts = g.ts.wrapping_add(inc);
        g.last_slot = Some(now);
        if sent {
            g.seq = g.seq.wrapping_add(1);
            leg.sent += 1;
            send(side, dst, out);
        }
    }

    /// Sends an RFC 4733 digit towards `side` (e.g. from SIP INFO); ignored when that leg did
    /// not negotiate telephone-event, does not receive, or the digit is not a DTMF digit.
    pub fn send_dtmf(&mut self, now: Instant, side: Side, digit: char, duration: Duration) {
        self.last_now = self.last_now.max(now);
        if side == Side::B && !self.has_b {
            return;
        }
        let leg = &mut self.legs[side.index()];
        if leg.media.format.dtmf_pt.is_none()
            || !phone_receives(leg.media.direction)
            || !"0123456789*#ABCDabcd".contains(digit)
            || leg.own.dtmf_queue.len() >= DTMF_QUEUE
        {
            return;
        }
        leg.own.dtmf_queue.push_back((digit, duration));
    }

    /// Plays music on hold towards `side` instead of relaying to it.
    pub fn start_moh(&mut self, side: Side) {
        if side == Side::B && !self.has_b {
            return;
        }
        let pcm = self
            .cfg
            .moh
            .clone()
            .unwrap_or_else(|| Arc::from(vec![0i16; 160]));
        let rate = if self.cfg.moh.is_some() {
            self.cfg.moh_rate
        } else {
            8000
        };
        let leg = &mut self.legs[side.index()];
        // Prefer the copy prepared at start for this leg's encoder rate (no resampling here).
        let want = super::codec::encoder_rate(&leg.media.format, rate);
        let (pcm, rate) = match self.cfg.moh_by_rate.get(&want) {
            Some(p) => (p.clone(), want),
            None => (pcm, rate),
        };
        match MohSource::new(pcm, rate, &leg.media.format, &self.cfg.encoder) {
            Ok(m) => leg.own.moh = Some(m),
            Err(e) => tracing::debug!(error = %e, "cannot play music on hold"),
        }
    }

    /// Resumes relaying towards `side` (our own stream's seq/ts continue if it starts again).
    pub fn stop_moh(&mut self, side: Side) {
        let now = self.last_now;
        let leg = &mut self.legs[side.index()];
        if leg.own.moh.take().is_some() {
            leg.rearm_timeout(now);
        }
    }

    /// Plays audio already resolved to PCM at the prompt library's rate (the worker resolves
    /// `file:` names, which need a file read).
    pub fn play_pcm(&mut self, now: Instant, side: Side, id: u64, pcm: Vec<Arc<[i16]>>) {
        self.last_now = self.last_now.max(now);
        let rate = self.cfg.prompts.rate.max(8000);
        let leg = &mut self.legs[side.index()];
        match PromptPlayer::new(pcm, rate, &leg.media.format, &self.cfg.encoder) {
            Ok(p) => leg.own.play = Some((id, p)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot play");
                self.events.push_back(MediaEvent::PlayDone {
                    session: self.id,
                    id,
                });
            }
        }
    }

    /// The prompt library in use (for the worker resolving names).
    pub fn prompts(&self) -> &Arc<PromptLibrary> {
        &self.cfg.prompts
    }

    /// Plays prompts towards `side` (replacing any playing); `PlayDone { id }` follows.
    pub fn play(&mut self, now: Instant, side: Side, id: u64, lang: &str, names: &[String]) {
        self.last_now = self.last_now.max(now);
        let lib = self.cfg.prompts.clone();
        let pcm: Vec<Arc<[i16]>> = names
            .iter()
            .filter_map(|n| {
                let p = lib.get(lang, n);
                if p.is_none() {
                    tracing::debug!(prompt = %n, lang, "missing prompt skipped");
                }
                p
            })
            .collect();
        let leg = &mut self.legs[side.index()];
        match PromptPlayer::new(
            pcm,
            lib.rate.max(8000),
            &leg.media.format,
            &self.cfg.encoder,
        ) {
            Ok(p) => leg.own.play = Some((id, p)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot play prompts");
                self.events.push_back(MediaEvent::PlayDone {
                    session: self.id,
                    id,
                });
            }
        }
    }

    /// Stops prompts towards `side` (no `PlayDone`).
    pub fn stop_play(&mut self, side: Side) {
        self.legs[side.index()].own.play = None;
    }

    /// Starts recording `side`'s audio.
    pub fn record(&mut self, side: Side, max: Duration, silence: Duration) {
        let leg = &mut self.legs[side.index()];
        if leg.local.is_none() {
            let _ = leg.terminate(&[]);
        }
        let rate = leg.local.as_ref().map_or(8000, |l| l.dec.rate());
        if let Some(l) = leg.local.as_mut() {
            l.record = Some(Recorder::new(rate, max, silence));
        }
    }

    /// Ends a recording of `side` now; `Recorded` follows.
    pub fn stop_record(&mut self, side: Side) {
        let leg = &mut self.legs[side.index()];
        if let Some(r) = leg.local.as_mut().and_then(|l| l.record.take()) {
            self.events.push_back(MediaEvent::Recorded {
                session: self.id,
                side,
                pcm: Arc::from(r.pcm),
                rate: r.rate,
                end: RecordEnd::Stopped,
            });
        }
    }

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Receive statistics per leg (A, B).
    pub fn stats(&self) -> [LegStats; 2] {
        let snap = |l: &Leg| l.rx.snapshot(l.media.format.codec, l.sent);
        [
            snap(&self.legs[0]),
            if self.has_b {
                snap(&self.legs[1])
            } else {
                LegStats::default()
            },
        ]
    }

    /// Packets dropped as garbage, unknown payload types, or from a non-latched source.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The current RTP destination of a leg (SDP address or latched source).
    pub fn rtp_dst(&self, side: Side) -> Option<SocketAddr> {
        self.legs[side.index()].rtp.addr
    }
}

#[cfg(test)]
mod tests;

impl SessionConfig {
    /// Prepares [`SessionConfig::moh_by_rate`] from [`SessionConfig::moh`] (done once at start).
    pub fn prepare_moh(&mut self) {
        let Some(pcm) = self.moh.clone() else { return };
        let mut map = std::collections::HashMap::new();
        for rate in [8000u32, 12_000, 16_000, 24_000, 48_000] {
            let p = if rate == self.moh_rate {
                pcm.clone()
            } else {
                // Two passes: keep the second, whose filter history is the loop's end (seamless).
                let mut r = super::resample::Resampler::new(self.moh_rate, rate);
                let mut first = Vec::new();
                r.process(&pcm, &mut first);
                let mut second = Vec::with_capacity(first.len() + 1);
                r.process(&pcm, &mut second);
                Arc::from(second)
            };
            map.insert(rate, p);
        }
        self.moh_by_rate = Arc::new(map);
    }
}
