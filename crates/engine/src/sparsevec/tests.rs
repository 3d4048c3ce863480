use super::SparseFormatError::*;
use super::*;
use proptest::prelude::*;

fn parse(text: &str) -> Result<SparseVec, SparseFormatError> {
    parse_sparsevec_text(text, -1)
}

fn text(v: &SparseVec) -> String {
    format_sparsevec_text(v.as_ref())
}

#[test]
fn parses_like_pgvector() {
    let v = parse(" { 3:2 , 1:1.5, 2:0 } / 5 ").unwrap();
    assert_eq!(v.indices, [0, 2]);
    assert_eq!(text(&v), "{1:1.5,3:2}/5");
    assert_eq!(text(&parse("{}/3").unwrap()), "{}/3");
    assert!(norm(parse("{}/3").unwrap().as_ref()).is_sign_positive());
    assert_eq!(parse("[1]/3"), Err(MissingOpenBrace));
    assert_eq!(parse("{1:1}"), Err(UnexpectedEnd));
    assert_eq!(parse("{1:1}/3x"), Err(JunkAfterClose));
    assert_eq!(parse("{1:}/3"), Err(Syntax));
    assert_eq!(parse("{:1}/3"), Err(Syntax));
    assert_eq!(parse("{1:1,}/3"), Err(Syntax));
    assert_eq!(parse("{1:1}/"), Err(Syntax));
    assert_eq!(parse("{1:1}/0"), Err(Empty));
    assert_eq!(parse("{1:1}/1000000001"), Err(TooManyDimensions));
    assert_eq!(parse("{4:1}/3"), Err(IndexOutOfBounds));
    assert_eq!(parse("{0:1}/3"), Err(IndexOutOfBounds));
    assert_eq!(parse("{-2147483649:1}/3"), Err(IndexOutOfBounds));
    assert_eq!(parse("{1:1,1:2}/3"), Err(Duplicate));
    assert_eq!(parse("{1:1,1:0}/3").unwrap().indices, [0]);
    assert_eq!(parse("{1:NaN}/3"), Err(NaN));
    assert_eq!(parse("{1:-inf}/3"), Err(Infinite));
    assert_eq!(parse("{1:1e39}/3"), Err(OutOfRange("1e39".into())));
    assert_eq!(parse("{1:1e-50}/3"), Err(OutOfRange("1e-50".into())));
    assert_eq!(parse("{1:0e-50}/3").unwrap().indices, Vec::<i32>::new());
    assert_eq!(parse_sparsevec_text("{1:1}/3", 2), Err(ExpectedDim(2, 3)));
    let many = format!("{{{}}}/20000", vec!["1:1"; MAX_NNZ + 1].join(","));
    assert_eq!(parse(&many), Err(TooManyNonZero));
}

#[test]
fn binary_layout() {
    let v = parse("{1:1.5,3:2}/5").unwrap();
    let mut buf = Vec::new();
    encode_sparsevec_binary(v.as_ref(), &mut buf);
    assert_eq!(
        buf,
        [
            0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x3f, 0xc0, 0, 0, 0x40, 0,
            0, 0
        ]
    );
    assert_eq!(decode_sparsevec_binary(&buf, -1), Ok((v, buf.len())));
    assert_eq!(decode_sparsevec_binary(&buf[..27], -1), Err(Truncated));
    assert_eq!(decode_sparsevec_binary(&buf, 4), Err(ExpectedDim(4, 5)));
    let mut zero = buf.clone();
    zero[24..].fill(0);
    assert_eq!(decode_sparsevec_binary(&zero, -1), Err(ZeroInBinary));
    let mut swapped = buf.clone();
    swapped[12..20].copy_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
    assert_eq!(decode_sparsevec_binary(&swapped, -1), Err(NotAscending));
    let mut neg = buf.clone();
    neg[4..8].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(decode_sparsevec_binary(&neg, -1), Err(NegativeNonZero));
    neg[4..8].copy_from_slice(&6i32.to_be_bytes());
    assert_eq!(
        decode_sparsevec_binary(&neg, -1),
        Err(MoreElementsThanDimensions)
    );
}

fn dense(v: &SparseVec) -> Vec<f32> {
    let mut out = vec![0f32; v.dim as usize];
    for (&i, &x) in v.indices.iter().zip(&v.values) {
        out[i as usize] = x;
    }
    out
}

fn sparse_pair() -> impl Strategy<Value = (SparseVec, SparseVec)> {
    let one = |n: usize| {
        proptest::collection::vec(
            prop_oneof![3 => Just(0i32), 1 => -8i32..8].prop_map(|x| x as f32),
            n,
        )
        .prop_map(SparseVec::from_dense)
    };
    (1usize..40).prop_flat_map(move |n| (one(n), one(n)))
}

proptest! {
    /// Small integers sum exactly: the merges equal the dense sums.
    #[test]
    fn merges_match_dense((a, b) in sparse_pair()) {
        let (x, y) = (dense(&a), dense(&b));
        let l2: f32 = x.iter().zip(&y).map(|(p, q)| (p - q) * (p - q)).sum();
        let ip: f32 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
        let l1d: f32 = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).sum();
        prop_assert_eq!(l2_squared(a.as_ref(), b.as_ref()), l2);
        prop_assert_eq!(dot(a.as_ref(), b.as_ref()), ip);
        prop_assert_eq!(l1(a.as_ref(), b.as_ref()), l1d);
        let order = x.partial_cmp(&y).unwrap();
        prop_assert_eq!(compare(a.as_ref(), b.as_ref()), order);
    }

    #[test]
    fn text_and_binary_round_trip((a, _) in sparse_pair()) {
        prop_assert_eq!(parse(&text(&a)).unwrap(), a.clone());
        let mut buf = Vec::new();
        encode_sparsevec_binary(a.as_ref(), &mut buf);
        prop_assert_eq!(decode_sparsevec_binary(&buf, -1).unwrap(), (a, buf.len()));
    }

    #[test]
    fn parser_never_panics(text in "[{}0-9:,/. e+-]{0,30}") {
        let _ = parse(&text);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..60)) {
        let _ = decode_sparsevec_binary(&bytes, -1);
    }
}
