//! cargo-fuzz target: open a table from arbitrary bytes in its metadata file.
//! `cargo +nightly fuzz run open_metadata` (see docs/reliability.md).
#![no_main]

mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    entry::open_metadata(data);
});
