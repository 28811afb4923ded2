//! HPACK: header blocks through one decoder (its dynamic table carried from block to block),
//! the first byte splitting the input into two blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_analyzer::l7::http2::hpack::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(rest.len());
    let mut d = Decoder::default();
    if cut % 2 == 1 {
        d.joined_mid_connection();
    }
    for block in [&rest[..cut], &rest[cut..]] {
        let _ = d.decode(block, |f| {
            std::hint::black_box((f.name.len(), f.value.len()));
        });
    }
});
