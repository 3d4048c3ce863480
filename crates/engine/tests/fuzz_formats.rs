//! Long fuzz runs of the vector text parser and binary decoder: a million
//! inputs each, shaped to look like vectors (brackets, digits, exponents,
//! separators, stray bytes) so they reach deep into the parsers. Ignored in
//! CI (the unit tests run a shorter version); run them with
//!   cargo test --release -p diskvec-engine --test fuzz_formats -- --ignored --nocapture
//! They assert the parsers never panic and that whatever parses also
//! round-trips through the formatter.

use diskvec_engine::vector_text::{
    decode_vector_binary, encode_vector_binary, format_vector_text, parse_vector_text,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CASES: u32 = 1_000_000;

fn vectorish_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("-".to_string()),
        Just("+".to_string()),
        Just(".".to_string()),
        Just("e".to_string()),
        Just("E-".to_string()),
        Just("inf".to_string()),
        Just("NaN".to_string()),
        "[0-9]{1,12}",
        "[0-9]{1,3}\\.[0-9]{0,9}(e[-+]?[0-9]{1,3})?",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

#[test]
#[ignore]
fn fuzz_text_parser() {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let parsed = std::cell::Cell::new(0u64);
    runner
        .run(&vectorish_text(), |text| {
            if let Ok(values) = parse_vector_text(&text) {
                parsed.set(parsed.get() + 1);
                let again = parse_vector_text(&format_vector_text(&values)).unwrap();
                prop_assert_eq!(
                    again.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
            Ok(())
        })
        .unwrap();
    println!("text parser: {CASES} inputs, {} parsed, no panic", parsed.get());
}

#[test]
#[ignore]
fn fuzz_binary_decoder() {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        // A plausible header followed by arbitrary payload.
        (0i16..40, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(dim, rest)| {
            let mut b = dim.to_be_bytes().to_vec();
            b.extend_from_slice(&[0, 0]);
            b.extend(rest);
            b
        }),
    ];
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let decoded = std::cell::Cell::new(0u64);
    runner
        .run(&bytes, |b| {
            if let Ok((values, used)) = decode_vector_binary(&b) {
                decoded.set(decoded.get() + 1);
                let mut again = Vec::new();
                encode_vector_binary(&values, &mut again);
                prop_assert_eq!(&again[..], &b[..used]);
            }
            Ok(())
        })
        .unwrap();
    println!("binary decoder: {CASES} inputs, {} decoded, no panic", decoded.get());
}
