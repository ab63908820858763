//! SIP: messages, framing, transactions (RFC 3261 §17), registrar and digest auth.
//! No IO, no clock: everything here takes `now` as a parameter.

pub mod msg;
pub mod txn;
