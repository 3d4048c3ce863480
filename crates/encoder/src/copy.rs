//! Writer for PostgreSQL's binary `COPY ... FROM STDIN (FORMAT BINARY)` stream.
//!
//! Layout (PostgreSQL docs, "Binary Format" of COPY):
//! * header: 11-byte signature `PGCOPY\n\xff\r\n\0`, int32 flags (0), int32 header-extension length (0)
//! * per tuple: int16 field count, then per field int32 byte length (-1 = NULL) and the bytes
//! * trailer: int16 -1
//!
//! All integers are big-endian. Field payloads use each type's binary send/recv format.
//! The `vector` payload is pgvector's: int16 dim, int16 unused (0), dim × float4, big-endian.

use std::io::{self, Write};

/// The 11-byte signature that starts every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// One field of a tuple, in the type's binary wire format.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Null,
    /// `text` / `varchar`: the UTF-8 bytes.
    Text(&'a str),
    /// `int4`.
    Int4(i32),
    /// `int8`.
    Int8(i64),
    /// `float4[]`-free pgvector `vector`: int16 dim, int16 0, dim × float4.
    Vector(&'a [f32]),
    /// Raw bytes (`bytea`, or any type whose binary form the caller built).
    Bytes(&'a [u8]),
}

/// Encodes `v` in pgvector's binary wire format (what `vector_send` produces and
/// `vector_recv` accepts).
pub fn vector_wire_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * v.len());
    push_vector(&mut out, v);
    out
}

/// pgvector's binary wire format (int16 dim, int16 0, big-endian float4s),
/// shared with the extension through the engine crate.
fn push_vector(out: &mut Vec<u8>, v: &[f32]) {
    assert!(
        v.len() <= i16::MAX as usize,
        "vector dimension {} exceeds int16",
        v.len()
    );
    diskvec_engine::vector_text::encode_vector_binary(v, out);
}

/// Decodes pgvector's binary wire format; `None` if malformed or if bytes
/// are left over.
pub fn parse_vector_wire(b: &[u8]) -> Option<Vec<f32>> {
    match diskvec_engine::vector_text::decode_vector_binary(b) {
        Ok((values, used)) if used == b.len() => Some(values),
        _ => None,
    }
}

/// Streams tuples in binary COPY format to any writer. Tuples are staged in an
/// internal buffer and written in large pieces.
pub struct CopyWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    rows: u64,
    finished: bool,
}

const FLUSH_AT: usize = 1 << 16;

impl<W: Write> CopyWriter<W> {
    /// Writes the header and returns the writer.
    pub fn new(inner: W) -> io::Result<Self> {
        let mut buf = Vec::with_capacity(FLUSH_AT * 2);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Ok(Self {
            inner,
            buf,
            rows: 0,
            finished: false,
        })
    }

    /// Appends one tuple.
    pub fn write_row(&mut self, fields: &[Field<'_>]) -> io::Result<()> {
        assert!(!self.finished, "write_row after finish");
        let n = i16::try_from(fields.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many fields"))?;
        self.buf.extend_from_slice(&n.to_be_bytes());
        for f in fields {
            match *f {
                Field::Null => self.buf.extend_from_slice(&(-1i32).to_be_bytes()),
                Field::Text(s) => self.push_len_bytes(s.as_bytes())?,
                Field::Bytes(b) => self.push_len_bytes(b)?,
                Field::Int4(x) => {
                    self.buf.extend_from_slice(&4i32.to_be_bytes());
                    self.buf.extend_from_slice(&x.to_be_bytes());
                }
                Field::Int8(x) => {
                    self.buf.extend_from_slice(&8i32.to_be_bytes());
                    self.buf.extend_from_slice(&x.to_be_bytes());
                }
                Field::Vector(v) => {
                    let len = 4 + 4 * v.len();
                    self.buf.extend_from_slice(&(len as i32).to_be_bytes());
                    push_vector(&mut self.buf, v);
                }
            }
        }
        self.rows += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn push_len_bytes(&mut self, b: &[u8]) -> io::Result<()> {
        let len = i32::try_from(b.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "field longer than 2 GiB"))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(b);
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes any staged bytes through to the inner writer and flushes it
    /// (the stream stays open for more tuples).
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.inner.flush()
    }

    /// Number of tuples written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the trailer, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.finished = true;
        self.flush()?;
        // Move the inner writer out without running Drop logic (there is none).
        let CopyWriter { inner, .. } = self;
        Ok(inner)
    }
}

/// A parsed binary COPY stream (for tests and tools): rows of optional field bytes.
pub fn parse_copy(mut b: &[u8]) -> Result<Vec<Vec<Option<Vec<u8>>>>, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!(
                "truncated stream: wanted {n} bytes, {} left",
                b.len()
            ));
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h)
    }
    if take(&mut b, 11)? != SIGNATURE {
        return Err("bad signature".into());
    }
    let _flags = take(&mut b, 4)?;
    let ext = i32::from_be_bytes(take(&mut b, 4)?.try_into().unwrap());
    take(&mut b, ext as usize)?;
    let mut rows = Vec::new();
    loop {
        let n = i16::from_be_bytes(take(&mut b, 2)?.try_into().unwrap());
        if n == -1 {
            if !b.is_empty() {
                return Err(format!("{} bytes after trailer", b.len()));
            }
            return Ok(rows);
        }
        let mut row = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let len = i32::from_be_bytes(take(&mut b, 4)?.try_into().unwrap());
            if len == -1 {
                row.push(None);
            } else {
                row.push(Some(take(&mut b, len as usize)?.to_vec()));
            }
        }
        rows.push(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stream_is_header_and_trailer() {
        let w = CopyWriter::new(Vec::new()).unwrap();
        let out = w.finish().unwrap();
        let mut want = b"PGCOPY\n\xff\r\n\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(out, want);
        assert_eq!(parse_copy(&out).unwrap().len(), 0);
    }

    #[test]
    fn exact_bytes_of_one_row() {
        let mut w = CopyWriter::new(Vec::new()).unwrap();
        w.write_row(&[
            Field::Text("ab"),
            Field::Int4(-2),
            Field::Null,
            Field::Vector(&[1.0, -0.5]),
        ])
        .unwrap();
        let out = w.finish().unwrap();
        let body = &out[19..];
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0, 4,                         // 4 fields
            0, 0, 0, 2, b'a', b'b',       // text
            0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe, // int4 -2
            0xff, 0xff, 0xff, 0xff,       // NULL
            0, 0, 0, 12, 0, 2, 0, 0,      // vector: len 12, dim 2, unused 0
            0x3f, 0x80, 0, 0,             // 1.0
            0xbf, 0, 0, 0,                // -0.5
            0xff, 0xff,                   // trailer
        ];
        assert_eq!(body, &want[..]);
    }

    #[test]
    fn round_trip_many_rows_bit_exact() {
        let specials = [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            -f32::MAX,
            0.1,
            1.0 / 3.0,
        ];
        let mut w = CopyWriter::new(Vec::new()).unwrap();
        let mut vecs = Vec::new();
        let mut state = 0x1234_5678u32;
        for i in 0..5000 {
            let v: Vec<f32> = (0..384)
                .map(|j| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    if j < specials.len() {
                        specials[(i + j) % specials.len()]
                    } else {
                        f32::from_bits(state & 0xbf7f_ffff)
                    }
                })
                .collect();
            let id = format!("doc-{i}");
            w.write_row(&[
                Field::Text(&id),
                Field::Int4(i as i32),
                Field::Text("héllo"),
                Field::Vector(&v),
            ])
            .unwrap();
            vecs.push(v);
        }
        assert_eq!(w.rows(), 5000);
        let out = w.finish().unwrap();
        let rows = parse_copy(&out).unwrap();
        assert_eq!(rows.len(), 5000);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r[0].as_deref().unwrap(), format!("doc-{i}").as_bytes());
            assert_eq!(r[1].as_deref().unwrap(), &(i as i32).to_be_bytes());
            let got = parse_vector_wire(r[3].as_deref().unwrap()).unwrap();
            let a: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
            let b: Vec<u32> = vecs[i].iter().map(|x| x.to_bits()).collect();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn vector_wire_rejects_malformed() {
        assert!(parse_vector_wire(&[0, 1, 0, 0]).is_none());
        assert!(parse_vector_wire(&[0, 1, 0, 1, 0, 0, 0, 0]).is_none());
        assert_eq!(
            parse_vector_wire(&vector_wire_bytes(&[2.5])).unwrap(),
            vec![2.5]
        );
        // Zero dimensions and NaN are rejected, as pgvector rejects them.
        assert!(parse_vector_wire(&[0, 0, 0, 0]).is_none());
        assert!(parse_vector_wire(&[0, 1, 0, 0, 0x7f, 0xc0, 0, 0]).is_none());
    }
}
