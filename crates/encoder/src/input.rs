//! Document readers: JSONL, CSV/TSV and plain text (one document per line), from files or stdin.
//! Bad records are reported with their file and line number.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    Tsv,
    Text,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Format::Jsonl,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "text" | "txt" | "lines" => Format::Text,
            _ => bail!("unknown input format {s:?} (jsonl, csv, tsv, text)"),
        })
    }

    /// Guess from the file extension; stdin and unknown extensions are JSONL... no: text.
    pub fn guess(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            "txt" | "text" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Which fields make a document. `text` may name several fields/columns: their values are
/// joined with a single space (e.g. SciFact's `title` + `text`), empty values skipped.
#[derive(Debug, Clone)]
pub struct Fields {
    pub id: String,
    pub text: Vec<String>,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            id: "id".into(),
            text: vec!["text".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub id: String,
    pub text: String,
    /// Where it came from, for messages: `file:line`.
    pub source: String,
}

/// A record that could not be read, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub source: String,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

pub type Item = std::result::Result<Doc, BadRecord>;

/// An input: a path or `-` for stdin.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: Option<PathBuf>,
    pub format: Format,
}

impl Input {
    pub fn name(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<stdin>".into())
    }

    fn open(&self) -> Result<Box<dyn Read + Send>> {
        Ok(match &self.path {
            Some(p) => Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
            None => Box::new(io::stdin()),
        })
    }
}

/// Reads every input in order and calls `f` for each document or bad record. `f` returns
/// `false` to stop early. I/O errors (as opposed to bad records) are returned as errors.
/// `id_prefix`: for plain text, ids are line numbers, prefixed by the file name when
/// there are several inputs.
pub fn read_all(inputs: &[Input], fields: &Fields, mut f: impl FnMut(Item) -> bool) -> Result<()> {
    let multi = inputs.len() > 1;
    for inp in inputs {
        let r = inp.open()?;
        let name = inp.name();
        let keep_going = match inp.format {
            Format::Jsonl => read_jsonl(r, &name, fields, &mut f)?,
            Format::Text => read_text(r, &name, multi, &mut f)?,
            Format::Csv => read_csv(r, &name, fields, b',', &mut f)?,
            Format::Tsv => read_csv(r, &name, fields, b'\t', &mut f)?,
        };
        if !keep_going {
            break;
        }
    }
    Ok(())
}

fn json_scalar_to_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses one JSONL line into a document.
pub fn parse_json_doc(
    line: &str,
    fields: &Fields,
) -> std::result::Result<(String, String), String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let id = match obj.get(&fields.id) {
        None | Some(serde_json::Value::Null) => {
            return Err(format!("missing id field {:?}", fields.id))
        }
        Some(x) => json_scalar_to_string(x).ok_or(format!(
            "id field {:?} is not a string or number",
            fields.id
        ))?,
    };
    let mut parts = Vec::new();
    let mut found = false;
    for tf in &fields.text {
        match obj.get(tf) {
            None => {}
            Some(serde_json::Value::Null) => found = true,
            Some(serde_json::Value::String(s)) => {
                found = true;
                if !s.is_empty() {
                    parts.push(s.as_str());
                }
            }
            Some(_) => return Err(format!("text field {tf:?} is not a string")),
        }
    }
    if !found {
        return Err(format!("missing text field {:?}", fields.text.join(",")));
    }
    Ok((id, parts.join(" ")))
}

fn read_jsonl(
    r: impl Read,
    name: &str,
    fields: &Fields,
    f: &mut impl FnMut(Item) -> bool,
) -> Result<bool> {
    read_lines(r, name, f, |_, s| parse_json_doc(s, fields))
}

fn read_text(
    r: impl Read,
    name: &str,
    multi: bool,
    f: &mut impl FnMut(Item) -> bool,
) -> Result<bool> {
    read_lines(r, name, f, |lineno, s| {
        let id = if multi {
            format!("{name}:{lineno}")
        } else {
            lineno.to_string()
        };
        Ok((id, s.to_string()))
    })
}

/// One document per non-blank line: `parse` turns a line (without its line
/// ending) into `(id, text)` or an error message. Blank lines separate nothing
/// and are not documents; invalid UTF-8 is a bad record with its line number.
fn read_lines(
    r: impl Read,
    name: &str,
    f: &mut impl FnMut(Item) -> bool,
    mut parse: impl FnMut(u64, &str) -> std::result::Result<(String, String), String>,
) -> Result<bool> {
    let mut rd = BufReader::with_capacity(1 << 16, r);
    let mut buf = Vec::new();
    let mut lineno = 0u64;
    loop {
        buf.clear();
        let n = rd
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {name}"))?;
        if n == 0 {
            return Ok(true);
        }
        lineno += 1;
        let parsed = match std::str::from_utf8(&buf) {
            Err(e) => Err(format!("invalid UTF-8: {e}")),
            Ok(s) => {
                let s = s.trim_end_matches(['\n', '\r']);
                if s.trim().is_empty() {
                    continue;
                }
                parse(lineno, s)
            }
        };
        let item = match parsed {
            Ok((id, text)) => Ok(Doc {
                id,
                text,
                source: format!("{name}:{lineno}"),
            }),
            Err(message) => Err(BadRecord {
                source: name.into(),
                line: lineno,
                message,
            }),
        };
        if !f(item) {
            return Ok(false);
        }
    }
}

fn read_csv(
    r: impl Read,
    name: &str,
    fields: &Fields,
    delim: u8,
    f: &mut impl FnMut(Item) -> bool,
) -> Result<bool> {
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(false)
        .from_reader(r);
    let headers = rd
        .headers()
        .with_context(|| format!("{name}: reading the CSV header"))?
        .clone();
    let col = |c: &str| -> Result<usize> {
        headers.iter().position(|h| h == c).with_context(|| {
            format!(
                "{name}: no column {c:?} in the header (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let id_col = col(&fields.id)?;
    let text_cols: Vec<usize> = fields.text.iter().map(|c| col(c)).collect::<Result<_>>()?;
    let mut rec = csv::StringRecord::new();
    loop {
        let item = match rd.read_record(&mut rec) {
            Ok(false) => return Ok(true),
            Ok(true) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                let id = rec.get(id_col).unwrap_or("").to_string();
                if id.is_empty() {
                    Err(BadRecord {
                        source: name.into(),
                        line,
                        message: format!("empty id column {:?}", fields.id),
                    })
                } else {
                    let text = text_cols
                        .iter()
                        .filter_map(|&c| rec.get(c))
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    Ok(Doc {
                        id,
                        text,
                        source: format!("{name}:{line}"),
                    })
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                match e.kind() {
                    csv::ErrorKind::Io(_) => {
                        return Err(anyhow::Error::new(e).context(format!("reading {name}")))
                    }
                    _ => Err(BadRecord {
                        source: name.into(),
                        line,
                        message: format!("invalid CSV: {e}"),
                    }),
                }
            }
        };
        if !f(item) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(content: &str, format: Format, fields: &Fields) -> Vec<Item> {
        let mut tf = tempfile::NamedTempFile::new().unwrap();
        tf.write_all(content.as_bytes()).unwrap();
        let inp = Input {
            path: Some(tf.path().to_path_buf()),
            format,
        };
        let mut out = Vec::new();
        read_all(&[inp], fields, |it| {
            out.push(it);
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn jsonl_good_bad_and_empty() {
        let s = "{\"id\": \"a\", \"text\": \"hello\"}\n\n{\"id\": 7, \"text\": \"\"}\n{bad json\n{\"id\": \"c\"}\n{\"id\":\"d\",\"text\":null}\r\n";
        let items = collect(s, Format::Jsonl, &Fields::default());
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].as_ref().unwrap().id, "a");
        assert_eq!(items[1].as_ref().unwrap().id, "7");
        assert_eq!(items[1].as_ref().unwrap().text, "");
        let e = items[2].as_ref().unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("invalid JSON"));
        let e = items[3].as_ref().unwrap_err();
        assert_eq!(e.line, 5);
        assert!(e.message.contains("missing text field"));
        assert_eq!(items[4].as_ref().unwrap().text, "");
    }

    #[test]
    fn jsonl_custom_and_joined_fields() {
        let f = Fields {
            id: "_id".into(),
            text: vec!["title".into(), "body".into()],
        };
        let items = collect(
            "{\"_id\":\"x\",\"title\":\"T\",\"body\":\"B b\"}\n",
            Format::Jsonl,
            &f,
        );
        assert_eq!(items[0].as_ref().unwrap().text, "T B b");
    }

    #[test]
    fn csv_columns_and_bad_rows() {
        let s = "num,body,extra\n1,\"first, with comma\",x\n2,second\n3,\"multi\nline\",y\n4,,z\n";
        let f = Fields {
            id: "num".into(),
            text: vec!["body".into()],
        };
        let items = collect(s, Format::Csv, &f);
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].as_ref().unwrap().text, "first, with comma");
        let e = items[1].as_ref().unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert_eq!(items[2].as_ref().unwrap().text, "multi\nline");
        assert_eq!(items[3].as_ref().unwrap().text, "");
        assert_eq!(
            items[3]
                .as_ref()
                .unwrap()
                .source
                .rsplit(':')
                .next()
                .unwrap(),
            "6"
        );
    }

    #[test]
    fn csv_missing_column_is_an_error() {
        let mut tf = tempfile::NamedTempFile::new().unwrap();
        tf.write_all(b"a,b\n1,2\n").unwrap();
        let inp = Input {
            path: Some(tf.path().to_path_buf()),
            format: Format::Csv,
        };
        let e = read_all(&[inp], &Fields::default(), |_| true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column \"id\""), "{e}");
    }

    #[test]
    fn text_lines() {
        let items = collect("one\n\n  \nfour\r\nfive", Format::Text, &Fields::default());
        let docs: Vec<_> = items.into_iter().map(|i| i.unwrap()).collect();
        assert_eq!(
            docs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["1", "4", "5"]
        );
        assert_eq!(docs[1].text, "four");
    }
}
