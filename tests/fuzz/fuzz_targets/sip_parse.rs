//! parse → to_bytes → parse must agree; frame must not panic. The property lives in
//! `zvon::sip::msg::fuzz_check` so `cargo test` replays this corpus too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zvon::sip::msg::fuzz_check(data);
});
