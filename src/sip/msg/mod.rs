//! SIP message parsing, printing and stream framing (RFC 3261 §7, §18.3, §20, §25; RFC 4475).
//!
//! Contract:
//! * Liberal in what is accepted (RFC 3261 §7.3.1): compact header names, any case, LWS around
//!   `:` and separators, line folding, CRLFs before the start line, LF-only line ends.
//! * Strict where it matters: Content-Length must be a number and agree with itself; on
//!   streams it is mandatory and frames the message. A bad mandatory header is a typed
//!   [`ParseError`] whose [`ParseError::reason`] is the 400 reason phrase.
//! * Hostile input never panics; size and header-count limits ([`Limits`]) are applied before
//!   the work they bound.
//! * Headers are stored as text in order and parsed into typed values on demand
//!   ([`Message::from`], [`Message::vias`], [`parse_contact`], [`Credentials::parse`], ...).
//!   [`Message::to_bytes`] prints a canonical form that parses back to an equal message.
//!
//! Sans-IO: no sockets, files or clocks here.

mod addr;
mod auth;
mod error;
pub mod fuzz;
mod header;
mod message;
mod method;
mod syntax;
mod uri;
mod via;

#[cfg(test)]
mod tests;

pub use addr::{
    Contact, ContactAddr, NameAddr, parse_contact, parse_delta_seconds, parse_name_addr_list,
};
pub use auth::{Challenge, Credentials};
pub use error::ParseError;
pub use fuzz::fuzz_check;
pub use header::{Header, HeaderName, Headers};
pub use message::{
    Frame, Limits, Message, StartLine, default_reason, frame, parse, response_for,
    validate_request, validate_response,
};
pub use method::{CSeq, Method};
pub use uri::Uri;
pub use via::{Via, parse_via_list};
