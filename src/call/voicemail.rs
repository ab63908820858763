//! Voicemail deposit and message-waiting indication (RFC 3842 `message-summary`).
//!
//! Contract: no IO, no clock. A call that nobody answers (or that finds the callee busy or in
//! DND) and whose callee has a mailbox (`voicemail_pin`) is answered by Zvon: greeting, beep,
//! recording (up to [`MAX_MESSAGE`], ending after [`SILENCE_END`] of silence or when the caller
//! hangs up), goodbye. The message goes to the store thread, which writes the WAV next to the
//! database and then its row. Phones that SUBSCRIBE to `message-summary` get a NOTIFY with the
//! counts at once and whenever they change; a mailbox's counts survive restarts (they are
//! rebuilt from the store).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::call::Dialog;
use crate::call::b2bua::{CallState, LegRef, ReqKind, WithHeader};
use crate::core::{Datagram, Output, Pbx};
use crate::media::{MediaCommand, MediaEvent, Side};
use crate::sdp;
use crate::sip::msg::{HeaderName, Message, Method};
use crate::sip::registrar::Flow;
use crate::store::{Disposition, StoreCommand, VoicemailRecord};
use crate::time::Now;

/// Longest message.
pub const MAX_MESSAGE: Duration = Duration::from_secs(120);
/// A message ends after this much silence following speech.
pub const SILENCE_END: Duration = Duration::from_secs(5);
/// Messages shorter than this are not kept (hang-ups during the beep).
const MIN_MESSAGE_MS: u64 = 700;
/// Longest subscription we grant.
const MAX_SUB: u32 = 3600;

/// Prompts of the deposit flow (sounds/<lang>/<name>.wav).
pub const GREETING: &[&str] = &["person-unavailable", "vm-leave-message"];
/// The tone before recording.
pub const BEEP: &str = "beep";
/// After the message.
pub const GOODBYE: &str = "goodbye";

/// What Zvon itself is doing on a call it answered.
#[derive(Debug)]
pub enum LocalApp {
    /// Leaving a message in `mailbox`.
    Voicemail {
        /// The mailbox.
        mailbox: String,
        /// Where in the flow.
        stage: Stage,
    },
    /// An IVR flow.
    Ivr(Box<crate::ivr::interp::IvrSession>),
    /// The mailbox menu.
    Mailbox(Box<crate::call::mailbox::MailboxMenu>),
    /// Playing a last prompt (this play id), then hanging up.
    Bye(u64),
    /// Waiting in a queue (music and announcements; digits go to the ACD).
    Queue,
    /// Waiting in a queue and confirming a callback number.
    Callback(Box<crate::call::callback::CallbackMenu>),
}

/// The deposit flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Playing the greeting (play id).
    Greeting(u64),
    /// Playing the beep (play id).
    Beep(u64),
    /// Recording.
    Recording,
    /// Playing goodbye (play id).
    Goodbye(u64),
}

impl LocalApp {
    /// True while the caller's audio is being recorded.
    pub fn recording(&self) -> bool {
        matches!(
            self,
            Self::Voicemail {
                stage: Stage::Recording,
                ..
            }
        )
    }

    /// The IVR's next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Ivr(s) => s.poll_timeout(),
            Self::Mailbox(m) => m.deadline,
            _ => None,
        }
    }
}

/// A `message-summary` subscription (RFC 6665, RFC 3842).
#[derive(Clone, Debug)]
pub struct Subscription {
    mailbox: String,
    dialog: Dialog,
    expires_at: Instant,
}

/// Mailbox counts and subscriptions.
#[derive(Debug, Default)]
pub struct Mwi {
    /// mailbox → (new, old).
    pub(crate) counts: HashMap<String, (u32, u32)>,
    /// SIP Call-ID of the SUBSCRIBE dialog → subscription.
    pub(crate) subs: HashMap<String, Subscription>,
    /// mailbox → messages (oldest first): id, heard.
    pub(crate) messages: HashMap<String, Vec<(String, bool)>>,
    /// Mailboxes with a recorded greeting (`voicemail/<box>/greeting.wav`).
    pub(crate) greetings: std::collections::HashSet<String>,
    /// PINs changed from the phone (override extensions.toml).
    pub(crate) pins: HashMap<String, String>,
}

impl Mwi {
    /// Earliest subscription expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.subs.values().map(|s| s.expires_at).min()
    }
}

impl Pbx {
    /// Mailboxes that have a recorded greeting (found at start).
    pub fn restore_greetings(&mut self, mailboxes: Vec<String>) {
        self.mwi.greetings.extend(mailboxes);
    }

    /// PINs changed from the phone (read at start).
    pub fn restore_voicemail_pins(&mut self, pins: Vec<(String, String)>) {
        self.mwi.pins.extend(pins);
    }

    /// Rebuilds mailbox counts from the store at start.
    pub fn restore_voicemail(&mut self, entries: &[crate::store::VoicemailEntry]) {
        for e in entries {
            self.mwi
                .messages
                .entry(e.mailbox.clone())
                .or_default()
                .push((e.id.clone(), e.heard));
            let c = self.mwi.counts.entry(e.mailbox.clone()).or_default();
            if e.heard {
                c.1 += 1;
            } else {
                c.0 += 1;
            }
        }
    }

    /// Mailbox counts (new, old).
    pub fn mailbox(&self, mailbox: &str) -> (u32, u32) {
        self.mwi.counts.get(mailbox).copied().unwrap_or_default()
    }

    /// True if `ext` has a mailbox.
    pub(crate) fn has_mailbox(&self, ext: &str) -> bool {
        self.s
            .extensions
            .get(ext)
            .is_some_and(|e| e.voicemail_pin.is_some())
    }

    /// A call the callee did not take (`kind`): follow their forward, else go to their
    /// mailbox. False when neither applies (the caller then gets the failure).
    pub(crate) fn forward_or_voicemail(
        &mut self,
        now: Now,
        id: u64,
        kind: crate::call::features::Forward,
    ) -> bool {
        if self.forward_on(now, id, kind) {
            return true;
        }
        let callee = self
            .calls
            .calls
            .get(&id)
            .map(|c| c.callee.clone())
            .unwrap_or_default();
        self.send_to_voicemail(now, id, &callee)
    }

    /// Answers a ringing call with the mailbox of `mailbox`. Returns false if it cannot.
    pub(crate) fn send_to_voicemail(&mut self, now: Now, id: u64, mailbox: &str) -> bool {
        if !self.has_mailbox(mailbox) {
            return false;
        }
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        if call.state != CallState::Proceeding {
            return false;
        }
        let pending: Vec<usize> = (0..call.branches.len()).collect();
        for j in pending {
            self.cancel_branch(now, id, j);
        }
        if !self.answer_locally(now, id) {
            return false;
        }
        self.begin_deposit(now, id, mailbox)
    }

    /// Greeting, beep, record: the deposit flow on an answered call.
    pub(crate) fn begin_deposit(&mut self, _now: Now, id: u64, mailbox: &str) -> bool {
        let play = self.next_play();
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return false;
        };
        tracing::info!(call = %call.uniqueid, %mailbox, "to voicemail");
        call.history.push(format!("voicemail:{mailbox}"));
        call.local = Some(LocalApp::Voicemail {
            mailbox: mailbox.to_owned(),
            stage: Stage::Greeting(play),
        });
        let session = call.session;
        self.out.push_back(Output::Media(MediaCommand::Play {
            session,
            side: Side::A,
            id: play,
            language: call.lang.as_str().into(),
            prompts: if self.mwi.greetings.contains(mailbox) {
                vec![format!(
                    "file:{}",
                    crate::store::greeting_path(mailbox).display()
                )]
            } else {
                GREETING.iter().map(|p| (*p).to_owned()).collect()
            },
        }));
        true
    }

    fn next_play(&mut self) -> u64 {
        self.calls.next += 1;
        self.calls.next
    }

    /// Zvon answers the caller itself: 200 OK with our SDP, media with leg A only.
    pub(crate) fn answer_locally(&mut self, now: Now, id: u64) -> bool {
        let codecs = self.codecs.clone();
        let t1 = self.s.timers.t1;
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return false;
        };
        let Some(fmt) = sdp::choose(&call.a_offer, &codecs) else {
            return false;
        };
        call.a.format = Some(fmt);
        let answer = sdp::build_answer(
            &call.a.origin,
            &call.a_sdp,
            call.a_offer.index,
            &fmt,
            call.a.media_ip,
            call.a.port,
            crate::call::b2bua::answer_direction(call.a.direction),
        );
        let body = Bytes::from(answer.to_string());
        call.a_answer = Some(body.clone());
        call.state = CallState::Answered;
        call.no_answer_at = None;
        call.answer_wall = Some(now.wall.secs());
        call.answer_mono = Some(now.mono);
        call.disposition = Disposition::Answered;
        let session = call.session;
        if let Some(a) = call.a.media() {
            call.media_open = true;
            self.out.push_back(Output::Media(MediaCommand::Open {
                session,
                a,
                b: None,
            }));
        }
        let call = self.calls.calls.get_mut(&id).expect("call exists");
        let (tag, contact, inv, txn) = (
            call.a.dialog.local_tag.clone(),
            call.a.dialog.contact.clone(),
            call.a_invite.clone(),
            call.a_txn,
        );
        let mut ok = self.dialog_response(&inv, 200, "OK", &tag, Some(&contact));
        ok.headers.push(HeaderName::Allow, crate::core::ALLOW);
        ok.headers.push(HeaderName::ContentType, "application/sdp");
        ok.body = body;
        let bytes = ok.to_bytes();
        let cseq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.a.set_pending_2xx(bytes.clone(), cseq, now.mono, t1);
        }
        if let Some(t) = self.txns.get_mut(&txn) {
            t.send_response(now.mono, 200, bytes);
        }
        self.pump(now, txn);
        self.arm_call(id);
        true
    }

    /// Prompt and recording events of calls Zvon answered itself.
    pub(crate) fn on_local_media(&mut self, now: Now, ev: MediaEvent) {
        let session = match &ev {
            MediaEvent::PlayDone { session, .. } | MediaEvent::Recorded { session, .. } => *session,
            _ => return,
        };
        let Some(&id) = self.calls.sessions.get(&session) else {
            return;
        };
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        match (&call.local, &ev) {
            (Some(LocalApp::Ivr(_)), MediaEvent::PlayDone { id: p, .. }) => {
                let p = *p;
                return self.ivr_play_done(now, id, p);
            }
            (Some(LocalApp::Bye(b)), MediaEvent::PlayDone { id: p, .. }) if b == p => {
                return self.hangup(now, id, None, "normal", "system");
            }
            (Some(LocalApp::Mailbox(_)), MediaEvent::PlayDone { id: p, .. }) => {
                let p = *p;
                return self.mailbox_play_done(now, id, p);
            }
            (Some(LocalApp::Mailbox(_)), MediaEvent::Recorded { pcm, rate, .. }) => {
                let (pcm, rate) = (pcm.clone(), *rate);
                return self.mailbox_recorded(now, id, pcm, rate);
            }
            _ => {}
        }
        let Some(LocalApp::Voicemail { mailbox, stage }) = &call.local else {
            return;
        };
        let (mailbox, stage) = (mailbox.clone(), *stage);
        match (ev, stage) {
            (MediaEvent::PlayDone { id: p, .. }, Stage::Greeting(g))
                if p == g && call.state != CallState::Ending =>
            {
                let play = self.next_play();
                self.set_stage(id, &mailbox, Stage::Beep(play));
                self.out.push_back(Output::Media(MediaCommand::Play {
                    session,
                    side: Side::A,
                    id: play,
                    language: self.call_lang(id).into(),
                    prompts: vec![BEEP.into()],
                }));
            }
            (MediaEvent::PlayDone { id: p, .. }, Stage::Beep(b))
                if p == b && call.state != CallState::Ending =>
            {
                self.set_stage(id, &mailbox, Stage::Recording);
                self.out.push_back(Output::Media(MediaCommand::Record {
                    session,
                    side: Side::A,
                    max: MAX_MESSAGE,
                    silence: SILENCE_END,
                }));
            }
            (MediaEvent::Recorded { pcm, rate, .. }, Stage::Recording) => {
                let ms = pcm.len() as u64 * 1000 / u64::from(rate.max(1));
                if ms >= MIN_MESSAGE_MS {
                    let msg_id = format!("{:016x}", rand::Rng::random::<u64>(&mut self.rng));
                    self.mwi
                        .messages
                        .entry(mailbox.clone())
                        .or_default()
                        .push((msg_id.clone(), false));
                    let rec = VoicemailRecord {
                        id: msg_id,
                        mailbox: mailbox.clone(),
                        uniqueid: call.uniqueid.clone(),
                        caller: call.caller.clone(),
                        caller_name: call.caller_name.clone(),
                        at: now.wall.secs(),
                        duration_ms: ms,
                        pcm,
                        rate,
                    };
                    tracing::info!(%mailbox, from = %rec.caller, ms, "voicemail left");
                    self.out
                        .push_back(Output::Store(StoreCommand::Voicemail(Box::new(rec))));
                    self.mwi.counts.entry(mailbox.clone()).or_default().0 += 1;
                    self.notify_mailbox(now, &mailbox);
                }
                if self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state != CallState::Ending)
                {
                    let play = self.next_play();
                    self.set_stage(id, &mailbox, Stage::Goodbye(play));
                    self.out.push_back(Output::Media(MediaCommand::Play {
                        session,
                        side: Side::A,
                        id: play,
                        language: self.call_lang(id).into(),
                        prompts: vec![GOODBYE.into()],
                    }));
                }
            }
            (MediaEvent::PlayDone { id: p, .. }, Stage::Goodbye(g)) if p == g => {
                self.hangup(now, id, None, "voicemail left", "system");
            }
            _ => {}
        }
    }

    /// A key on a call Zvon answered: `#` ends a message being recorded.
    pub(crate) fn on_local_digit(
        &mut self,
        _now: Now,
        session: crate::media::SessionId,
        digit: char,
    ) {
        let Some(&id) = self.calls.sessions.get(&session) else {
            return;
        };
        if matches!(
            self.calls.calls.get(&id).and_then(|c| c.local.as_ref()),
            Some(LocalApp::Ivr(_))
        ) {
            return self.ivr_digit(_now, id, digit);
        }
        if matches!(
            self.calls.calls.get(&id).and_then(|c| c.local.as_ref()),
            Some(LocalApp::Mailbox(_))
        ) {
            return self.mailbox_digit(_now, id, digit);
        }
        if matches!(
            self.calls.calls.get(&id).and_then(|c| c.local.as_ref()),
            Some(LocalApp::Queue)
        ) {
            return self.queue_digit(_now, id, digit);
        }
        if matches!(
            self.calls.calls.get(&id).and_then(|c| c.local.as_ref()),
            Some(LocalApp::Callback(_))
        ) {
            return self.callback_digit(_now, id, digit);
        }
        let recording = self
            .calls
            .calls
            .get(&id)
            .and_then(|c| c.local.as_ref())
            .is_some_and(LocalApp::recording);
        if recording && digit == '#' {
            self.out.push_back(Output::Media(MediaCommand::StopRecord {
                session,
                side: Side::A,
            }));
        }
    }

    fn set_stage(&mut self, id: u64, mailbox: &str, stage: Stage) {
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.local = Some(LocalApp::Voicemail {
                mailbox: mailbox.to_owned(),
                stage,
            });
        }
    }

    /// RFC 3842 §5.2 body.
    fn summary(&self, mailbox: &str) -> String {
        let (new, old) = self.mailbox(mailbox);
        format!(
            "Messages-Waiting: {}\r\nMessage-Account: sip:{mailbox}@{}\r\nVoice-Message: {new}/{old} (0/0)\r\n",
            if new > 0 { "yes" } else { "no" },
            self.s.domain
        )
    }

    fn send_notify(&mut self, now: Now, call_id: &str, terminated: bool) {
        let branch = format!("z9hG4bK{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let ua = self.s.user_agent.clone();
        let t = now.mono;
        let Some(sub) = self.mwi.subs.get(call_id) else {
            return;
        };
        let body = self.summary(&sub.mailbox);
        let Some(sub) = self.mwi.subs.get_mut(call_id) else {
            return;
        };
        let left = sub.expires_at.saturating_duration_since(t).as_secs();
        let mut m = sub.dialog.request(Method::Notify, &branch, &ua);
        m.headers.push(HeaderName::Event, "message-summary");
        m.headers.push(
            HeaderName::SubscriptionState,
            if terminated {
                "terminated;reason=timeout".to_owned()
            } else {
                format!("active;expires={left}")
            },
        );
        m.headers.push(
            HeaderName::ContentType,
            "application/simple-message-summary",
        );
        m.body = Bytes::from(body);
        let flow = sub.dialog.flow;
        self.send_request(now, 0, ReqKind::Notify, &branch, m, flow);
    }

    /// NOTIFY every subscriber of a mailbox.
    pub(crate) fn notify_mailbox(&mut self, now: Now, mailbox: &str) {
        let ids: Vec<String> = self
            .mwi
            .subs
            .iter()
            .filter(|(_, s)| s.mailbox == mailbox)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ids {
            self.send_notify(now, &k, false);
        }
        // Phones configured for unsolicited MWI (no SUBSCRIBE) get an out-of-dialog NOTIFY.
        if self
            .s
            .extensions
            .get(mailbox)
            .is_some_and(|e| e.mwi_unsolicited)
        {
            self.notify_unsolicited(now, mailbox);
        }
    }

    /// An out-of-dialog NOTIFY with the counts to every registered phone of `mailbox`.
    fn notify_unsolicited(&mut self, now: Now, mailbox: &str) {
        let body = self.summary(mailbox);
        let targets: Vec<(String, Flow)> = self
            .registrar
            .bindings(mailbox)
            .iter()
            .map(|b| (b.uri.clone(), b.flow))
            .collect();
        for (uri, flow) in targets {
            let Some((mut m, branch)) = self.out_of_dialog_request(
                Method::Notify,
                &uri,
                mailbox,
                flow,
                Bytes::from(body.clone()),
            ) else {
                continue;
            };
            m.headers.push(HeaderName::Event, "message-summary");
            m.headers.push(HeaderName::SubscriptionState, "active");
            m.headers.push(
                HeaderName::ContentType,
                "application/simple-message-summary",
            );
            self.send_request(now, 0, ReqKind::Notify, &branch, m, flow);
        }
    }

    /// Expires subscriptions (a final NOTIFY, RFC 6665 §4.2.2).
    pub(crate) fn mwi_handle_timeout(&mut self, now: Now) {
        let due: Vec<String> = self
            .mwi
            .subs
            .iter()
            .filter(|(_, s)| s.expires_at <= now.mono)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.send_notify(now, &k, true);
            self.mwi.subs.remove(&k);
        }
    }

    /// SUBSCRIBE (RFC 6665) to `message-summary` (RFC 3842).
    pub(crate) fn on_subscribe(&mut self, now: Now, txn: u64, d: &Datagram, req: &Message) {
        let event = req
            .headers
            .get(&HeaderName::Event)
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !event.eq_ignore_ascii_case("message-summary") {
            let rsp = self
                .response(req, 489, "Bad Event")
                .with_header(HeaderName::Other("Allow-Events".into()), "message-summary");
            return self.reply(now, txn, rsp);
        }
        let expires = req
            .headers
            .get(&HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(MAX_SUB)
            .min(MAX_SUB);
        let call_id = req.call_id().unwrap_or("").to_owned();
        let refresh = req
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .is_some();
        if refresh {
            let Some(sub) = self.mwi.subs.get_mut(&call_id) else {
                let rsp = self.response(req, 481, "Subscription Does Not Exist");
                return self.reply(now, txn, rsp);
            };
            sub.expires_at = now.mono + Duration::from_secs(u64::from(expires));
            sub.dialog.remote_cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
            let tag = sub.dialog.local_tag.clone();
            let rsp = self
                .dialog_response(req, 200, "OK", &tag, None)
                .with_header(HeaderName::Expires, &expires.to_string());
            self.reply(now, txn, rsp);
            self.send_notify(now, &call_id, expires == 0);
            if expires == 0 {
                self.mwi.subs.remove(&call_id);
            }
            return;
        }
        let user = match self.authenticate(now, d, req, true) {
            Ok(u) => u,
            Err(rsp) => return self.reply(now, txn, *rsp),
        };
        let mailbox = req
            .request_uri()
            .and_then(|u| u.user.clone())
            .unwrap_or_else(|| user.clone());
        if mailbox != user || !self.has_mailbox(&mailbox) {
            let rsp = self.response(req, 403, "Forbidden");
            return self.reply(now, txn, rsp);
        }
        let tag = format!("{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let contact = format!(
            "sip:{mailbox}@{};transport={}",
            d.local,
            d.transport.as_str()
        );
        let dialog = crate::call::Dialog::uas(
            req,
            Flow {
                transport: d.transport,
                remote: d.remote,
                local: d.local,
            },
            &tag,
            contact.clone(),
            &user,
        );
        let rsp = self
            .dialog_response(req, 200, "OK", &tag, Some(&contact))
            .with_header(HeaderName::Expires, &expires.to_string());
        self.reply(now, txn, rsp);
        tracing::info!(%mailbox, source = %d.remote, "MWI subscription");
        self.mwi.subs.insert(
            call_id.clone(),
            Subscription {
                mailbox,
                dialog,
                expires_at: now.mono + Duration::from_secs(u64::from(expires)),
            },
        );
        // RFC 6665 §4.2.1.2: a NOTIFY right after accepting.
        self.send_notify(now, &call_id, expires == 0);
        if expires == 0 {
            self.mwi.subs.remove(&call_id);
        }
    }
}

#[allow(dead_code)]
fn _unused(_: LegRef) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voicemail_prompt_is_in_the_catalogue() {
        for p in GREETING.iter().chain([&BEEP, &GOODBYE]) {
            assert!(crate::ivr::prompts::contains(p), "{p}");
        }
    }
}
