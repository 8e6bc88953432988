//! Header parsing and series assembly on arbitrary bytes (several files per input).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| foramen::fuzz_harness::header_and_series(data));
