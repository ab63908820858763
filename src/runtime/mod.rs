//! The only IO: clock, sockets, store thread, signals.
