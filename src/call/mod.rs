//! Call control: the B2BUA between two phones, its dialogs, and the CDR it leaves.
//!
//! Contract: no IO, no clock. The B2BUA runs inside the engine ([`crate::core::Pbx`]): an
//! INVITE from a phone (leg A, where Zvon is the UAS) becomes one INVITE per registered contact
//! of the called extension (legs B, where Zvon is the UAC; RFC 3261 §16.7-style parallel
//! forking done by a B2BUA). The first 2xx wins; the other branches are cancelled, and a late
//! 2xx from another branch is ACKed and BYEd. Media is always anchored: each leg talks to a Zvon
//! port and the media workers relay or transcode between them.
//!
//! Hold (re-INVITE or UPDATE with `sendonly`/`inactive`) is handled by Zvon itself: the holding
//! phone gets the mirrored answer, and the held phone hears music on hold from Zvon; the other
//! leg is not re-INVITEd, so phones that mishandle hold re-INVITEs never see one.

pub mod b2bua;
pub mod callback;
pub mod dialog;
pub mod features;
pub mod mailbox;
pub mod ports;
pub mod queue;
pub mod route;
pub mod trunk;
pub mod voicemail;

pub use dialog::Dialog;
pub use ports::PortPool;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod trunk_tests;
