//! The filter's reading of proxy-wasm's serialised header map (what Envoy hands filter.wasm):
//! arbitrary bytes must decode or be refused, never panic or allocate past the input; and any
//! map the filter could encode decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_filter::host::{decode_map, encode_map};

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = decode_map(data) {
        let bytes: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        assert!(bytes <= data.len(), "decoded more than the input holds");
    }
    // Pairs from the input (NUL-separated), encoded and decoded again.
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split('\0').collect();
    let pairs: Vec<(&str, &str)> = parts
        .chunks(2)
        .map(|c| {
            (
                c.first().copied().unwrap_or(""),
                c.get(1).copied().unwrap_or(""),
            )
        })
        .collect();
    let decoded = decode_map(&encode_map(&pairs)).expect("an encoded map decodes");
    let want: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(decoded, want);
});
