//! SIP message parsing and printing (RFC 3261 §7, §25).
