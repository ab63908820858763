//! The store: SQLite owned by one writer thread.
