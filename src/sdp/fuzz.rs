//! The property a fuzz target and the in-tree mutation test check (always compiled; tiny).
//!
//! For any input: [`parse`] does not panic; if it succeeds, the printed form parses to an
//! equal [`Sdp`] and is a fixed point of print∘parse; accessors and offer/answer do not panic;
//! answering the offer with [`choose`]'s format gives an answer that parses and from which
//! [`answer_format`] reads back exactly that format.

use std::net::{IpAddr, Ipv4Addr};

use crate::media::Direction;

use super::{
    ALL_CODECS, Origin, Sdp, answer_format, audio_offer, build_answer, build_offer, choose, parse,
};

/// Panics if the property fails for `data`.
pub fn fuzz_check(data: &[u8]) {
    let Ok(sdp) = parse(data) else {
        return;
    };
    let printed = sdp.to_string();
    let again = match parse(printed.as_bytes()) {
        Ok(s) => s,
        Err(e) => panic!("printed SDP does not parse ({e}): {printed:?}"),
    };
    assert_eq!(sdp, again, "print → parse changed the SDP: {printed:?}");
    assert_eq!(again.to_string(), printed, "print is not a fixed point");
    exercise(&sdp);
}

fn exercise(sdp: &Sdp) {
    let _ = (sdp.direction(), sdp.ptime());
    for m in &sdp.media {
        let _ = (
            m.rtpmaps(),
            m.direction(),
            m.ptime(),
            m.maxptime(),
            m.has_ice(),
        );
        for pt in 0..128 {
            let _ = m.fmtp(pt);
        }
    }
    let _ = answer_format(sdp);
    let here = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let origin = Origin::new(1, here);
    let offer = build_offer(&origin, here, 4000, &ALL_CODECS, true, Direction::SendRecv);
    assert_eq!(parse(offer.to_string().as_bytes()).as_ref(), Ok(&offer));
    let Some(audio) = audio_offer(sdp) else {
        return;
    };
    let Some(chosen) = choose(&audio, &ALL_CODECS) else {
        return;
    };
    let answer = build_answer(
        &origin,
        sdp,
        audio.index,
        &chosen,
        here,
        4000,
        Direction::SendRecv,
    );
    assert_eq!(
        answer.media.len(),
        sdp.media.len(),
        "answer keeps every m= line"
    );
    let reparsed = match parse(answer.to_string().as_bytes()) {
        Ok(a) => a,
        Err(e) => panic!("our answer does not parse ({e}): {answer}"),
    };
    assert_eq!(reparsed, answer);
    let read = answer_format(&answer).map(|(f, _, _)| f);
    assert_eq!(
        read,
        Some(chosen),
        "answer_format reads back the chosen format"
    );
}
