//! Configuration: TOML files → typed, cross-checked [`Config`].
