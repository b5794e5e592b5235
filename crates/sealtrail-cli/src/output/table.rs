//! Aligned tables and `field  value` record views, laid out by comfy-table:
//! no borders, columns two spaces apart, numbers right-aligned, no trailing
//! blanks. Widths are display widths (a CJK character counts two columns).

use std::io::{self, Write};

use comfy_table::{CellAlignment, ContentLineStyle, Table, TableStyle};

/// Columns two spaces apart: one space of right padding in each column but
/// the last, then a blank junction. No borders, no rules.
const STYLE: TableStyle = TableStyle::new()
    .header_lines(ContentLineStyle::none().junction(' '))
    .content_lines(ContentLineStyle::none().junction(' '));

/// `s` with control characters escaped (`\n`, `\u{1b}`), so a cell cannot
/// break the layout or send escape sequences to the terminal.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A borderless table of `rows` under `header` (none for a record view);
/// the columns in `right` are right-aligned.
fn layout(header: Option<&[String]>, rows: &[Vec<String>], right: &[bool]) -> Table {
    let mut table = Table::new();
    table.load_style(STYLE);
    if let Some(h) = header {
        table.set_header(h.iter().map(|c| clean(c)));
    }
    for r in rows {
        table.add_row(r.iter().map(|c| clean(c)));
    }
    let columns = table.column_count();
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, u16::from(i + 1 < columns)));
        if right.get(i).copied().unwrap_or(false) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Writes `table` line by line, each without trailing blanks.
fn write_lines(out: &mut impl Write, table: &Table) -> io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Columns padded to their widest cell, two spaces apart; a column whose
/// every cell is a number is right-aligned (header included). Control
/// characters in cells are escaped.
pub fn write_table(
    out: &mut impl Write,
    header: &[String],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.get(i)
                        .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()))
                })
        })
        .collect();
    write_lines(out, &layout(Some(header), rows, &numeric))
}

/// An aligned table on stdout.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = io::BufWriter::new(io::stdout().lock());
    write_table(&mut out, &header, rows)?;
    out.flush()
}

/// One record as `field  value` lines, the names padded to the longest.
pub fn write_fields(out: &mut impl Write, fields: &[(&str, String)]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|(k, v)| vec![k.to_string(), v.clone()])
        .collect();
    write_lines(out, &layout(None, &rows, &[]))
}

/// One record as `field  value` lines on stdout.
pub fn print_fields(fields: &[(&str, String)]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    write_fields(&mut out, fields)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_escape() {
        let mut out = Vec::new();
        let header = vec!["index".to_string(), "agent".into(), "kind".into()];
        let rows = vec![
            vec!["7".to_string(), "billing".into(), "tool_call".into()],
            vec!["12".to_string(), "a\nb".into(), "decision".into()],
        ];
        write_table(&mut out, &header, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "index  agent    kind\n    7  billing  tool_call\n   12  a\\nb     decision\n"
        );
    }

    #[test]
    fn a_header_without_rows_is_one_line() {
        let mut out = Vec::new();
        write_table(&mut out, &["count".to_string()], &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "count\n");
    }

    #[test]
    fn numbers_right_align_under_a_wider_header() {
        let mut out = Vec::new();
        let header = vec!["agent".to_string(), "count".into()];
        let rows = vec![
            vec!["a".to_string(), "7".into()],
            vec!["bb".to_string(), "1234".into()],
        ];
        write_table(&mut out, &header, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "agent  count\na          7\nbb      1234\n"
        );
    }

    #[test]
    fn fields_pad_names_and_escape_values() {
        let mut out = Vec::new();
        write_fields(
            &mut out,
            &[("id", "k_1".into()), ("name", "two\tparts".into())],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id    k_1\nname  two\\tparts\n"
        );
    }
}
