//! The mailbox menu (`*97` in the demo dial plan): PIN, the message counts, listening to new
//! then old messages, saving (marks heard) and deleting.
//!
//! Contract: no IO, no clock. Messages are played by name `file:voicemail/<box>/<id>.wav`; the
//! media worker reads that file (relative to the state directory) when the play starts.

use std::time::{Duration, Instant};

use crate::call::voicemail::LocalApp;
use crate::core::{Output, Pbx};
use crate::media::{MediaCommand, Side};
use crate::store::StoreCommand;
use crate::time::Now;

/// How long to wait for keys before giving up.
const KEY_TIMEOUT: Duration = Duration::from_secs(10);
/// PIN attempts.
const PIN_TRIES: u32 = 3;
/// Longest greeting.
const GREETING_MAX: Duration = Duration::from_secs(30);

/// Where the caller is in the menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Entering the PIN (digits so far, tries left).
    Pin(String, u32),
    /// Hearing the counts and the main menu.
    Main,
    /// Hearing message `i` of the list (its header, audio and options).
    Message(usize),
    /// Saying goodbye.
    Bye,
    /// Instructions and beep before recording the greeting.
    GreetingPrompt,
    /// Recording the greeting.
    GreetingRecording,
    /// Entering a new PIN (digits so far).
    NewPin(String),
}

/// One caller in their mailbox.
#[derive(Clone, Debug)]
pub struct MailboxMenu {
    mailbox: String,
    step: Step,
    /// Play id of what is playing.
    play: u64,
    /// Messages to listen to: new first, then old (ids).
    list: Vec<String>,
    /// Key timeout.
    pub(crate) deadline: Option<Instant>,
}

impl Pbx {
    fn menu_play(&mut self, id: u64, prompts: Vec<String>) -> u64 {
        self.calls.next += 1;
        let play = self.calls.next;
        if let Some(call) = self.calls.calls.get(&id) {
            let session = call.session;
            self.out.push_back(Output::Media(MediaCommand::Play {
                session,
                side: Side::A,
                id: play,
                language: call.lang.as_str().into(),
                prompts,
            }));
        }
        play
    }

    /// The language of the call's prompts (`"en"` when the call is gone).
    pub(crate) fn call_lang(&self, id: u64) -> &'static str {
        self.calls.calls.get(&id).map_or("en", |c| c.lang.as_str())
    }

    fn menu_state(&mut self, id: u64) -> Option<&mut MailboxMenu> {
        match self.calls.calls.get_mut(&id)?.local.as_mut()? {
            LocalApp::Mailbox(m) => Some(m),
            _ => None,
        }
    }

    /// Starts the menu on an answered call: "enter your PIN".
    pub(crate) fn start_mailbox(&mut self, now: Now, id: u64, mailbox: &str) {
        let play = self.menu_play(id, vec!["vm-enter-pin".into()]);
        if let Some(call) = self.calls.calls.get_mut(&id) {
            call.history.push(format!("mailbox:{mailbox}"));
            call.local = Some(LocalApp::Mailbox(Box::new(MailboxMenu {
                mailbox: mailbox.to_owned(),
                step: Step::Pin(String::new(), PIN_TRIES),
                play,
                list: Vec::new(),
                deadline: Some(now.mono + KEY_TIMEOUT),
            })));
        }
        self.arm_call(id);
    }

    fn mailbox_main(&mut self, now: Now, id: u64) {
        let Some(m) = self.menu_state(id) else { return };
        let mb = m.mailbox.clone();
        let (new, old) = self.mailbox(&mb);
        let mut prompts: Vec<String> =
            crate::ivr::say::say_message_count(self.call_lang(id), new, old)
                .into_iter()
                .map(String::from)
                .collect();
        prompts.push("vm-main-menu".into());
        let play = self.menu_play(id, prompts);
        if let Some(m) = self.menu_state(id) {
            m.step = Step::Main;
            m.play = play;
            m.deadline = Some(now.mono + KEY_TIMEOUT + Duration::from_secs(10));
        }
        self.arm_call(id);
    }

    fn mailbox_message(&mut self, now: Now, id: u64, i: usize) {
        let Some(m) = self.menu_state(id) else { return };
        let Some(msg) = m.list.get(i).cloned() else {
            let play = self.menu_play(id, vec!["vm-no-more-messages".into()]);
            if let Some(m) = self.menu_state(id) {
                m.step = Step::Main;
                m.play = play;
                m.deadline = None;
            }
            return;
        };
        let mb = m.mailbox.clone();
        let mut prompts = vec!["vm-message-number".to_owned()];
        prompts.extend(
            crate::ivr::say::say_number(
                self.call_lang(id),
                i as u32 + 1,
                crate::ivr::say::Gender::Neuter,
            )
            .into_iter()
            .map(String::from),
        );
        prompts.push(format!(
            "file:{}",
            crate::store::voicemail_path(&mb, &msg).display()
        ));
        prompts.push("vm-message-options".into());
        let play = self.menu_play(id, prompts);
        if let Some(m) = self.menu_state(id) {
            m.step = Step::Message(i);
            m.play = play;
            m.deadline = None;
        }
        // Listening marks a new message heard.
        self.set_heard(now, &mb, &msg, true, false);
        self.arm_call(id);
    }

    fn set_heard(&mut self, now: Now, mb: &str, msg: &str, heard: bool, deleted: bool) {
        let Some(list) = self.mwi.messages.get_mut(mb) else {
            return;
        };
        let Some(pos) = list.iter().position(|(m, _)| m == msg) else {
            return;
        };
        let was_heard = list[pos].1;
        if deleted {
            list.remove(pos);
        } else {
            list[pos].1 = heard;
        }
        let c = self.mwi.counts.entry(mb.to_owned()).or_default();
        if was_heard {
            c.1 = c.1.saturating_sub(1);
        } else {
            c.0 = c.0.saturating_sub(1);
        }
        if !deleted {
            c.1 += 1;
        }
        self.out
            .push_back(Output::Store(StoreCommand::VoicemailFlag {
                id: msg.to_owned(),
                heard: true,
                deleted,
            }));
        if !was_heard || deleted {
            self.notify_mailbox(now, mb);
        }
    }

    /// A key in the mailbox menu.
    pub(crate) fn mailbox_digit(&mut self, now: Now, id: u64, digit: char) {
        let Some(m) = self.menu_state(id) else { return };
        let step = m.step.clone();
        let mb = m.mailbox.clone();
        match step {
            Step::Pin(mut digits, tries) => {
                if digit != '#' && digits.len() < 10 {
                    digits.push(digit);
                    m.step = Step::Pin(digits, tries);
                    m.deadline = Some(now.mono + KEY_TIMEOUT);
                    return;
                }
                let pin = self.mwi.pins.get(&mb).cloned().or_else(|| {
                    self.s
                        .extensions
                        .get(&mb)
                        .and_then(|e| e.voicemail_pin.clone())
                });
                if pin.as_deref() == Some(digits.as_str()) {
                    let mut list: Vec<(String, bool)> =
                        self.mwi.messages.get(&mb).cloned().unwrap_or_default();
                    list.sort_by_key(|(_, heard)| *heard);
                    if let Some(m) = self.menu_state(id) {
                        m.list = list.into_iter().map(|(m, _)| m).collect();
                    }
                    tracing::info!(mailbox = %mb, "mailbox opened");
                    self.mailbox_main(now, id);
                } else if tries > 1 {
                    tracing::info!(mailbox = %mb, "wrong voicemail PIN");
                    let play =
                        self.menu_play(id, vec!["vm-invalid-pin".into(), "vm-enter-pin".into()]);
                    if let Some(m) = self.menu_state(id) {
                        m.step = Step::Pin(String::new(), tries - 1);
                        m.play = play;
                        m.deadline = Some(now.mono + KEY_TIMEOUT + Duration::from_secs(5));
                    }
                } else {
                    self.mailbox_bye(id, vec!["vm-invalid-pin".into(), "goodbye".into()]);
                }
            }
            Step::Main => match digit {
                '1' => self.mailbox_message(now, id, 0),
                '2' => {
                    let play = self.menu_play(id, vec!["vm-record-greeting".into(), "beep".into()]);
                    if let Some(m) = self.menu_state(id) {
                        m.step = Step::GreetingPrompt;
                        m.play = play;
                        m.deadline = None;
                    }
                }
                '3' => {
                    let play = self.menu_play(id, vec!["vm-enter-new-pin".into()]);
                    if let Some(m) = self.menu_state(id) {
                        m.step = Step::NewPin(String::new());
                        m.play = play;
                        m.deadline = Some(now.mono + KEY_TIMEOUT + Duration::from_secs(5));
                    }
                }
                '*' | '#' => self.mailbox_bye(id, vec!["goodbye".into()]),
                _ => {}
            },
            Step::Message(i) => {
                let msg = m.list.get(i).cloned();
                match (digit, msg) {
                    ('7', Some(msg)) => {
                        self.set_heard(now, &mb, &msg, true, true);
                        if let Some(m) = self.menu_state(id) {
                            m.list.remove(i);
                        }
                        let play = self.menu_play(id, vec!["vm-message-deleted".into()]);
                        if let Some(m) = self.menu_state(id) {
                            m.play = play;
                            m.step = Step::Message(usize::MAX - i);
                        }
                    }
                    ('9', Some(_)) => {
                        let play = self.menu_play(id, vec!["vm-message-saved".into()]);
                        if let Some(m) = self.menu_state(id) {
                            m.play = play;
                            m.step = Step::Message(usize::MAX - (i + 1));
                        }
                    }
                    ('2', Some(_)) => self.mailbox_message(now, id, i),
                    ('*', _) => self.mailbox_main(now, id),
                    _ => {}
                }
            }
            Step::GreetingRecording if digit == '#' => {
                if let Some(call) = self.calls.calls.get(&id) {
                    let session = call.session;
                    self.out.push_back(Output::Media(MediaCommand::StopRecord {
                        session,
                        side: Side::A,
                    }));
                }
            }
            Step::NewPin(mut digits) => {
                if digit != '#' {
                    if digits.len() < 11 && digit.is_ascii_digit() {
                        digits.push(digit);
                    }
                    m.step = Step::NewPin(digits);
                    m.deadline = Some(now.mono + KEY_TIMEOUT);
                    self.arm_call(id);
                    return;
                }
                if (4..=10).contains(&digits.len()) {
                    tracing::info!(mailbox = %mb, "voicemail PIN changed from the phone");
                    self.mwi.pins.insert(mb.clone(), digits.clone());
                    self.out
                        .push_back(Output::Store(StoreCommand::VoicemailPin {
                            mailbox: mb,
                            pin: digits,
                            at: i64::try_from(now.wall.secs()).unwrap_or(i64::MAX),
                        }));
                    let play = self.menu_play(id, vec!["vm-pin-changed".into()]);
                    if let Some(m) = self.menu_state(id) {
                        m.step = Step::Main;
                        m.play = play;
                        m.deadline = Some(now.mono + KEY_TIMEOUT + Duration::from_secs(5));
                    }
                } else {
                    // 4 to 10 digits: say so and ask again.
                    let play = self
                        .menu_play(id, vec!["vm-invalid-pin".into(), "vm-enter-new-pin".into()]);
                    if let Some(m) = self.menu_state(id) {
                        m.step = Step::NewPin(String::new());
                        m.play = play;
                        m.deadline = Some(now.mono + KEY_TIMEOUT + Duration::from_secs(5));
                    }
                }
            }
            Step::Bye | Step::GreetingPrompt | Step::GreetingRecording => {}
        }
        self.arm_call(id);
    }

    fn mailbox_bye(&mut self, id: u64, prompts: Vec<String>) {
        let play = self.menu_play(id, prompts);
        if let Some(m) = self.menu_state(id) {
            m.step = Step::Bye;
            m.play = play;
            m.deadline = None;
        }
    }

    /// A play of the menu ended.
    pub(crate) fn mailbox_play_done(&mut self, now: Now, id: u64, play: u64) {
        let Some(m) = self.menu_state(id) else { return };
        if m.play != play {
            return;
        }
        match m.step.clone() {
            Step::Bye => self.hangup(now, id, None, "normal", "system"),
            Step::GreetingPrompt => {
                m.step = Step::GreetingRecording;
                m.deadline = None;
                if let Some(call) = self.calls.calls.get(&id) {
                    let session = call.session;
                    self.out.push_back(Output::Media(MediaCommand::Record {
                        session,
                        side: Side::A,
                        max: GREETING_MAX,
                        silence: Duration::from_secs(3),
                    }));
                }
            }
            Step::GreetingRecording => {}
            // After "deleted"/"saved": the next message (encoded as usize::MAX - next).
            Step::Message(i) if i > usize::MAX / 2 => self.mailbox_message(now, id, usize::MAX - i),
            Step::Main | Step::Message(_) | Step::Pin(..) | Step::NewPin(_) => {
                m.deadline = Some(now.mono + KEY_TIMEOUT);
                self.arm_call(id);
            }
        }
    }

    /// The greeting recording ended: keep it and go back to the main menu.
    pub(crate) fn mailbox_recorded(
        &mut self,
        now: Now,
        id: u64,
        pcm: std::sync::Arc<[i16]>,
        rate: u32,
    ) {
        let Some(m) = self.menu_state(id) else { return };
        if m.step != Step::GreetingRecording {
            return;
        }
        let mb = m.mailbox.clone();
        if pcm.len() as u64 * 1000 / u64::from(rate.max(1)) >= 500 {
            tracing::info!(mailbox = %mb, "greeting recorded");
            self.out.push_back(Output::Store(StoreCommand::Greeting {
                mailbox: mb.clone(),
                pcm,
                rate,
            }));
            self.mwi.greetings.insert(mb);
            let play = self.menu_play(id, vec!["vm-greeting-saved".into()]);
            if let Some(m) = self.menu_state(id) {
                m.step = Step::Main;
                m.play = play;
                m.deadline = Some(now.mono + KEY_TIMEOUT + Duration::from_secs(5));
            }
        } else {
            self.mailbox_main(now, id);
        }
    }

    /// No key in time: goodbye.
    pub(crate) fn mailbox_timeout(&mut self, _now: Now, id: u64) {
        if let Some(m) = self.menu_state(id) {
            m.deadline = None;
        }
        self.mailbox_bye(id, vec!["goodbye".into()]);
    }
}
