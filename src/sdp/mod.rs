//! SDP (RFC 8866, which obsoletes RFC 4566) and audio offer/answer for a media-anchoring
//! B2BUA (RFC 3264).
//!
//! Contract:
//! * [`parse`] turns a body into an [`Sdp`]: liberal (LF or CRLF, unknown lines and attributes
//!   kept, `a=crypto`/ICE/`a=rtcp-mux` kept but unused), strict on structure (`v=0` first,
//!   `o=` present, numeric `m=` port, IP literal in `c=`), typed [`SdpError`]s, never a panic.
//! * [`Sdp`]'s `Display` prints CRLF lines in RFC 8866 §5 order; the printed form parses back
//!   to an equal value ([`fuzz_check`] states the whole property).
//! * Offer/answer ([`audio_offer`], [`choose`], [`build_offer`], [`build_answer`],
//!   [`answer_format`], [`mirror`]) works on audio only, with PCMU, PCMA, G.722 and Opus,
//!   RFC 4733 telephone-event, plain RTP/AVP(F): SRTP offers are recognised (`savp_only`) and
//!   cannot be answered yet.
//!
//! Sans-IO: no sockets, files or clocks here.

mod fuzz;
mod model;
mod negotiate;

#[cfg(test)]
mod tests;

pub use fuzz::fuzz_check;
pub use model::{Attr, MediaDesc, Origin, RtpMap, Sdp, SdpError, direction_name, parse};
pub use negotiate::{
    ALL_CODECS, AudioOffer, DEFAULT_PTIME_MS, DTMF_EVENTS, PT_DTMF, PT_DTMF_48K, PT_OPUS,
    answer_direction, answer_format, audio_offer, build_answer, build_offer, choose, mirror,
    parse_opus_fmtp, reverse,
};
