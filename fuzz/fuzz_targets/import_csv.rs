#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vasooli_domain::fuzzing::import_csv_any(data);
});
