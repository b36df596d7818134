//! Unit tests of `host.rs`.

use super::*;

#[test]
fn map_round_trip_and_malformed() {
    let enc = encode_map(&[(":path", "/a"), ("x", "")]);
    let dec = decode_map(&enc).unwrap();
    assert_eq!(
        dec,
        vec![
            (b":path".to_vec(), b"/a".to_vec()),
            (b"x".to_vec(), Vec::new())
        ]
    );
    for cut in 0..enc.len() {
        let _ = decode_map(&enc[..cut]);
    }
    assert!(decode_map(&[255, 255, 255, 255]).is_err());
    assert!(decode_map(&[1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]).is_err());
}

#[test]
fn counters_are_in_definition_order() {
    for (i, c) in Counter::ALL.iter().enumerate() {
        assert_eq!(c.index(), i);
        assert!(c.name().starts_with("vigil_"));
    }
}
