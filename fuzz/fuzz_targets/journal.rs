#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vasooli_domain::fuzzing::journal_bytes(data);
});
