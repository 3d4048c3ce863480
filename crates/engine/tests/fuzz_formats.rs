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

/// Valid literals with random spacing and number spellings, then possibly
/// one random edit (insert, delete or replace a byte): near misses are
/// where parsers go wrong.
fn mutated_literal() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<f32>().prop_map(|v| format!("{v}")),
        any::<f32>().prop_map(|v| format!("{v:e}")),
        (-999i32..999, 0u32..99999, -45i32..39).prop_map(|(i, f, e)| format!("{i}.{f}e{e}")),
    ];
    let space = prop_oneof![Just(""), Just(" "), Just("\t"), Just("\n  ")];
    let literal =
        proptest::collection::vec((space.clone(), number, space), 1..20).prop_map(|items| {
            let body: Vec<String> = items
                .into_iter()
                .map(|(a, n, b)| format!("{a}{n}{b}"))
                .collect();
            format!("[{}]", body.join(","))
        });
    (literal, 0usize..4, any::<usize>(), any::<u8>()).prop_map(|(mut s, edit, at, byte)| {
        let at = at % (s.len() + 1);
        let c = char::from(byte % 128);
        match edit {
            1 if at < s.len() => {
                s.remove(at);
            }
            2 => s.insert(at.min(s.len()), c),
            3 if at < s.len() => {
                s.replace_range(at..at + 1, &c.to_string());
            }
            _ => {}
        }
        s
    })
}

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
        .run(&prop_oneof![vectorish_text(), mutated_literal()], |text| {
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
    println!(
        "text parser: {CASES} inputs, {} parsed, no panic",
        parsed.get()
    );
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
    println!(
        "binary decoder: {CASES} inputs, {} decoded, no panic",
        decoded.get()
    );
}
