//! The vector type over the wire in binary: parameters, results and binary
//! COPY, including malformed messages, which must fail cleanly without
//! touching rows already stored.

use diskvec_e2e::{binary_copy, copy_in, db_error, fresh_database};
use diskvec_engine::vector_text::encode_vector_binary;
use postgres::types::{FromSql, IsNull, ToSql, Type};

/// A client-side vector, encoded like pgvector's client libraries do.
#[derive(Debug, PartialEq)]
struct Vector(Vec<f32>);

impl ToSql for Vector {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mut bytes = Vec::new();
        encode_vector_binary(&self.0, &mut bytes);
        out.extend_from_slice(&bytes);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Vector {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let (values, used) =
            diskvec_engine::vector_text::decode_vector_binary(raw).map_err(|e| format!("{e:?}"))?;
        assert_eq!(used, raw.len());
        Ok(Vector(values))
    }
    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
}

fn vector_field(values: &[f32]) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    encode_vector_binary(values, &mut bytes);
    Some(bytes)
}

#[test]
fn binary_parameters_and_results_round_trip() {
    let mut db = fresh_database("binary_params");
    let values = vec![1.5, -0.0, 1e-45, f32::MAX, -f32::MAX, 0.1];
    let row = db
        .query_one(
            "SELECT $1::vector AS v, $1::vector <-> $1::vector AS d",
            &[&Vector(values.clone())],
        )
        .unwrap();
    let back: Vector = row.get(0);
    assert_eq!(
        back.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(row.get::<_, f64>(1), 0.0);
    let text: String = db
        .query_one("SELECT $1::vector::text", &[&Vector(vec![1.0, 2.0, 3.0])])
        .unwrap()
        .get(0);
    assert_eq!(text, "[1,2,3]");
}

#[test]
fn malformed_binary_copy_is_rejected_and_stored_rows_survive() {
    let mut db = fresh_database("binary_bad");
    db.batch_execute("CREATE TABLE items (v vector); CREATE TABLE items3 (v vector(3))")
        .unwrap();
    let good = binary_copy(&[vec![vector_field(&[1.0, 2.0])], vec![vector_field(&[3.0])]]);
    assert_eq!(
        copy_in(&mut db, "COPY items FROM STDIN (FORMAT binary)", &good).unwrap(),
        2
    );

    let field = |bytes: &[u8]| vec![Some(bytes.to_vec())];
    let nan = [0, 1, 0, 0, 0x7f, 0xc0, 0, 0];
    let inf = [0, 1, 0, 0, 0xff, 0x80, 0, 0];
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "truncated floats",
            vec![0, 3, 0, 0, 0x3f, 0x80, 0, 0],
            "08P01",
            "insufficient data left in message",
        ),
        (
            "truncated header",
            vec![0, 3],
            "08P01",
            "insufficient data left in message",
        ),
        (
            "zero dimensions",
            vec![0, 0, 0, 0],
            "22000",
            "vector must have at least 1 dimension",
        ),
        (
            "negative dimensions",
            vec![0xff, 0xfe, 0, 0],
            "22000",
            "vector must have at least 1 dimension",
        ),
        (
            "too many dimensions",
            vec![0x3e, 0x81, 0, 0],
            "54000",
            "vector cannot have more than 16000 dimensions",
        ),
        (
            "unused not zero",
            vec![0, 1, 0, 7, 0, 0, 0, 0],
            "22000",
            "expected unused to be 0, not 7",
        ),
        ("NaN", nan.to_vec(), "22000", "NaN not allowed in vector"),
        (
            "infinity",
            inf.to_vec(),
            "22000",
            "infinite value not allowed in vector",
        ),
        (
            "trailing bytes",
            vec![0, 1, 0, 0, 0, 0, 0, 0, 9],
            "22P03",
            "incorrect binary data format",
        ),
    ];
    for (what, bytes, code, message) in cases {
        let data = binary_copy(&[vec![vector_field(&[9.0])], field(&bytes)]);
        let err = copy_in(&mut db, "COPY items FROM STDIN (FORMAT binary)", &data).expect_err(what);
        let (got_code, got_message) = db_error(&err);
        assert_eq!(
            (got_code.as_str(), got_message.as_str()),
            (code, message),
            "{what}"
        );
    }
    // Typmod is enforced on binary input too.
    let data = binary_copy(&[vec![vector_field(&[1.0, 2.0])]]);
    let err = copy_in(&mut db, "COPY items3 FROM STDIN (FORMAT binary)", &data).unwrap_err();
    assert_eq!(db_error(&err).1, "expected 3 dimensions, not 2");

    let stored: Vec<String> = db
        .query("SELECT v::text FROM items ORDER BY v", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        stored,
        ["[1,2]", "[3]"],
        "failed COPYs must not change stored rows"
    );
}

#[test]
fn many_dimensions_over_the_wire() {
    let mut db = fresh_database("binary_wide");
    let wide: Vec<f32> = (0..16000).map(|i| (i as f32).sin()).collect();
    db.batch_execute("CREATE TABLE wide (v vector(16000))")
        .unwrap();
    db.execute("INSERT INTO wide VALUES ($1)", &[&Vector(wide.clone())])
        .unwrap();
    let back: Vector = db.query_one("SELECT v FROM wide", &[]).unwrap().get(0);
    assert_eq!(back, Vector(wide));
    let err = db
        .execute("INSERT INTO wide VALUES ($1)", &[&Vector(vec![1.0; 16001])])
        .unwrap_err();
    assert_eq!(
        db_error(&err).1,
        "vector cannot have more than 16000 dimensions"
    );
}
