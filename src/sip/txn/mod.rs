//! The four transaction state machines of RFC 3261 §17.
