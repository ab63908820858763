//! IVR: flows from `ivr.toml` ([`flow`]) and the per-call interpreter ([`interp`]).
//! Sans-IO: no files, sockets or clock (layering rule 1).

pub mod flow;
pub mod interp;
pub mod say;

#[cfg(test)]
mod tests;
