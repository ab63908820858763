//! The composed sans-IO engine.
