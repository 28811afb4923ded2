//! The config loader: any text as a tapflow / DeepFlow v7 YAML file (errors are fine, panics
//! are not).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tapflow_control::Config::from_yaml(text);
    }
});
