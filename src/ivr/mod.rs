//! IVR: flows from `ivr.toml` ([`flow`]), the per-call interpreter ([`interp`]), the shipped
//! voice prompts ([`prompts`]) and the grammar for saying numbers, digits and durations
//! ([`say`]).
//!
//! Contract: no IO, no clock (ARCHITECTURE.md rule 1). [`prompts`] is the prompt catalogue
//! (embedded from `sounds/prompts.tsv` at compile time); [`say`] turns numbers, digit strings
//! and durations into sequences of prompt names with the grammar of each language. Prompt
//! names are language-independent: the runtime plays `sounds/<lang>/<name>.wav`.

pub mod flow;
pub mod interp;
pub mod prompts;
pub mod say;

#[cfg(test)]
mod tests;
