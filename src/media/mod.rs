//! Media: RTP/RTCP, codecs, jitter buffer, DTMF, quality, and the per-call media session.
//!
//! Contract: no IO, no clock. The engine ([`crate::core::Pbx`]) decides what each call's media
//! does and sends [`MediaCommand`]s; a media worker in [`crate::runtime`] owns the sockets and
//! one [`session`] per call, and reports [`MediaEvent`]s back. Everything here is plain data so
//! that the two sides can run on different threads.

pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod moh;
pub mod play;
pub mod quality;
pub mod resample;
pub mod rtp;
pub mod session;
pub mod transcode;

use std::net::SocketAddr;
use std::time::Duration;

/// Identifies one call's media (both legs) across the engine and the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// One of the two legs of a bridged session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller's leg.
    A,
    /// The callee's leg.
    B,
}

impl Side {
    /// The other leg.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    /// 0 for A, 1 for B (array index).
    pub fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// An audio codec Zvon can relay and transcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// G.722, 16 kHz audio (RTP clock 8000 by RFC 3551's historical error).
    G722,
    /// Opus, RTP clock 48 kHz (RFC 7587).
    Opus,
}

impl Codec {
    /// Encoding name as in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        }
    }

    /// RTP clock rate (`a=rtpmap`).
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus => 48_000,
        }
    }

    /// Sample rate of the decoded audio we work with.
    pub fn audio_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722 => 16_000,
            Self::Opus => 48_000,
        }
    }

    /// Static payload type, if any (RFC 3551).
    pub fn static_pt(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }
}

/// Opus parameters from `a=fmtp` (RFC 7587 §6.1) that change what we encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpusParams {
    /// `maxplaybackrate`: the far end does not want audio above this rate (Hz).
    pub max_playback_rate: u32,
    /// `stereo=1`
    pub stereo: bool,
    /// `useinbandfec=1`
    pub fec: bool,
    /// `usedtx=1`
    pub dtx: bool,
    /// `maxaveragebitrate`, bit/s (0 = encoder default).
    pub max_average_bitrate: u32,
}

impl Default for OpusParams {
    fn default() -> Self {
        Self {
            max_playback_rate: 48_000,
            stereo: false,
            fec: false,
            dtx: false,
            max_average_bitrate: 0,
        }
    }
}

/// The negotiated audio format of one leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Format {
    /// The codec.
    pub codec: Codec,
    /// Payload type on this leg.
    pub pt: u8,
    /// Packetisation time.
    pub ptime: Duration,
    /// Opus parameters (ignored for other codecs).
    pub opus: OpusParams,
    /// RFC 4733 `telephone-event` payload type on this leg, if negotiated.
    pub dtmf_pt: Option<u8>,
}

/// `a=sendrecv` and friends (RFC 3264 §5.1), from the leg's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// The phone only sends (it put the other side on hold).
    SendOnly,
    /// The phone only receives.
    RecvOnly,
    /// No media.
    Inactive,
}

/// What one leg of a session looks like to the media worker.
#[derive(Clone, Debug, PartialEq)]
pub struct LegMedia {
    /// Our local RTP port for this leg (RTCP is `port + 1`).
    pub port: u16,
    /// Where the phone said it receives (SDP `c=`/`m=`); `None` until known. Symmetric RTP
    /// latching replaces it with the source of the phone's first packets.
    pub remote: Option<SocketAddr>,
    /// Negotiated format.
    pub format: Format,
    /// Media direction of this leg.
    pub direction: Direction,
}

/// Commands from the engine to a media worker.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    /// Open (or replace) a session bridging two legs.
    Open {
        /// The session.
        session: SessionId,
        /// Leg A.
        a: LegMedia,
        /// Leg B, or `None` while the callee has not answered (early media / ringing).
        b: Option<LegMedia>,
    },
    /// One leg changed (answer arrived, re-INVITE, hold/unhold).
    Update {
        /// The session.
        session: SessionId,
        /// Which leg.
        side: Side,
        /// Its new description.
        leg: LegMedia,
    },
    /// Send an RFC 4733 DTMF event on a leg (e.g. converted from SIP INFO).
    SendDtmf {
        /// The session.
        session: SessionId,
        /// Towards which phone.
        side: Side,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// Tone length.
        duration: Duration,
    },
    /// Play music on hold towards a leg instead of relaying to it (until `StopMoh`).
    StartMoh {
        /// The session.
        session: SessionId,
        /// Towards which phone.
        side: Side,
    },
    /// Resume relaying towards a leg.
    StopMoh {
        /// The session.
        session: SessionId,
        /// Which phone.
        side: Side,
    },
    /// Play prompts (by name, in a language) towards a leg; [`MediaEvent::PlayDone`] follows.
    /// A new `Play` replaces the current one.
    Play {
        /// The session.
        session: SessionId,
        /// Towards which phone.
        side: Side,
        /// Echoed in `PlayDone`.
        id: u64,
        /// `en`, `ru`, … (missing prompts fall back to English, then are skipped).
        language: String,
        /// Prompt names (`sounds/<lang>/<name>.wav`).
        prompts: Vec<String>,
    },
    /// Stop playing prompts towards a leg (barge-in). No `PlayDone` follows.
    StopPlay {
        /// The session.
        session: SessionId,
        /// Which phone.
        side: Side,
    },
    /// Record what a phone says; [`MediaEvent::Recorded`] follows.
    Record {
        /// The session.
        session: SessionId,
        /// Whose audio.
        side: Side,
        /// Longest recording.
        max: Duration,
        /// End after this much silence following speech (zero = only at `max`).
        silence: Duration,
    },
    /// End a recording now ([`MediaEvent::Recorded`] follows with what was recorded).
    StopRecord {
        /// The session.
        session: SessionId,
        /// Whose audio.
        side: Side,
    },
    /// Close the session; the worker answers with [`MediaEvent::Closed`].
    Close {
        /// The session.
        session: SessionId,
    },
}

/// Quality of one leg as received by Zvon (RFC 3550 §6.4 / A.8) with an E-model estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LegStats {
    /// RTP packets received from the phone.
    pub packets: u64,
    /// Packets lost (expected − received, never negative).
    pub lost: u64,
    /// Interarrival jitter, milliseconds.
    pub jitter_ms: f64,
    /// Estimated MOS (ITU-T G.107 simplified), 1.0–4.5; 0 if nothing was received.
    pub mos: f64,
    /// Packets sent to the phone.
    pub sent: u64,
}

/// Events from a media worker to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    /// A leg sent no RTP for the configured time.
    RtpTimeout {
        /// The session.
        session: SessionId,
        /// The silent leg.
        side: Side,
    },
    /// An RFC 4733 event (or an in-band tone later) ended on a leg.
    Dtmf {
        /// The session.
        session: SessionId,
        /// The leg it came from.
        side: Side,
        /// The digit.
        digit: char,
    },
    /// The worker could not open a port (the engine fails the call).
    OpenFailed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: String,
    },
    /// A `Play` finished.
    PlayDone {
        /// The session.
        session: SessionId,
        /// The `Play`'s id.
        id: u64,
    },
    /// A recording ended.
    Recorded {
        /// The session.
        session: SessionId,
        /// Whose audio.
        side: Side,
        /// Mono samples.
        pcm: std::sync::Arc<[i16]>,
        /// Their rate.
        rate: u32,
        /// Why it ended.
        end: play::RecordEnd,
    },
    /// The session closed; final statistics for the CDR.
    Closed {
        /// The session.
        session: SessionId,
        /// Leg A, leg B.
        stats: [LegStats; 2],
    },
}
