//! Levels and foramina on small arbitrary volumes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| foramen::fuzz_harness::pipeline(data));
