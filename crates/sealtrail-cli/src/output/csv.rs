//! CSV rows as RFC 4180 writes them, for `query --format csv`, `stats
//! --format csv` and `export --format csv`.
//!
//! Our own dozen lines rather than the csv crate: the rows are already
//! strings, the output is asserted byte for byte, and the crate differs at
//! the edges (it quotes a record that is one empty field).

use std::io::{self, Write};

/// One CSV record, RFC 4180: fields with a comma, quote, CR or LF are
/// quoted (quotes doubled); records end with CRLF.
pub fn write_csv_row(out: &mut impl Write, fields: &[String]) -> io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if f.contains([',', '"', '\r', '\n']) {
            write!(out, "\"{}\"", f.replace('"', "\"\""))?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_as_rfc_4180_says() {
        let mut out = Vec::new();
        let row: Vec<String> = ["plain", "a,b", "say \"hi\"", "two\nlines", ""]
            .map(String::from)
            .to_vec();
        write_csv_row(&mut out, &row).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }
}
