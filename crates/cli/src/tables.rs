//! Plain tables for people and programs: aligned text for a terminal, GitHub markdown for a
//! report pasted into an issue, and CSV files for spreadsheets. Cells are already-formatted
//! strings, so money reaches every format exactly as the views print it (decimal text, no floats).

use std::io::{self, Write};

/// How a column's cells line up in aligned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers: right-aligned so their decimal points line up (every amount has two decimals).
    Right,
}

/// A titled table of text cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table; `columns` pairs each header with its alignment.
    pub fn new(title: impl Into<String>, columns: &[(&str, Align)]) -> Table {
        Table {
            title: title.into(),
            headers: columns.iter().map(|(h, _)| (*h).to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per column (a programmer error otherwise).
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.headers.len(), "table {:?}: row width differs from the header", self.title);
        self.rows.push(row);
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Aligned text: the title, the header, a rule, the rows, then a blank line.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.title)?;
        let widths = self.widths();
        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(&self.align)
                .map(|((cell, w), a)| match a {
                    Align::Left => format!("{cell:<w$}"),
                    Align::Right => format!("{cell:>w$}"),
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        writeln!(out, "{}", line(&self.headers))?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(out, "{}", rule.join("  "))?;
        if self.rows.is_empty() {
            writeln!(out, "(none)")?;
        }
        for row in &self.rows {
            writeln!(out, "{}", line(row))?;
        }
        writeln!(out)
    }

    /// GitHub-flavoured markdown: a `###` title and a pipe table with alignment markers.
    pub fn write_markdown(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "### {}\n", self.title)?;
        let escape = |cell: &str| cell.replace('|', "\\|");
        let header: Vec<String> = self.headers.iter().map(|h| escape(h)).collect();
        writeln!(out, "| {} |", header.join(" | "))?;
        let markers: Vec<&str> = self
            .align
            .iter()
            .map(|a| match a {
                Align::Left => ":---",
                Align::Right => "---:",
            })
            .collect();
        writeln!(out, "| {} |", markers.join(" | "))?;
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        if self.rows.is_empty() {
            writeln!(out, "\n(none)")?;
        }
        writeln!(out)
    }

    /// RFC 4180 CSV: the header line, then one line per row, CRLF-free (`\n`) as most tools
    /// accept; fields holding a comma, quote or line break are quoted.
    pub fn write_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        write_csv_line(out, &self.headers)?;
        for row in &self.rows {
            write_csv_line(out, row)?;
        }
        Ok(())
    }
}

fn write_csv_line(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    let fields: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
    writeln!(out, "{}", fields.join(","))
}

/// One CSV field, quoted only when it must be.
pub fn csv_field(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new("Sample", &[("region", Align::Left), ("paid", Align::Right)]);
        t.push(vec!["Lanzhou".into(), "1234.50".into()]);
        t.push(vec!["Jiayuguan, \"JYG\"".into(), "7.00".into()]);
        t
    }

    #[test]
    fn text_right_aligns_numbers() {
        let mut out = Vec::new();
        sample().write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Sample");
        assert!(lines[3].ends_with("1234.50"));
        assert!(lines[4].ends_with("   7.00"), "{:?}", lines[4]);
        assert_eq!(lines[3].len(), lines[4].len());
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = Vec::new();
        sample().write_csv(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "region,paid\nLanzhou,1234.50\n\"Jiayuguan, \"\"JYG\"\"\",7.00\n");
    }

    #[test]
    fn markdown_marks_alignment_and_escapes_pipes() {
        let mut t = sample();
        t.push(vec!["a|b".into(), "0.00".into()]);
        let mut out = Vec::new();
        t.write_markdown(&mut out).unwrap();
        let md = String::from_utf8(out).unwrap();
        assert!(md.contains("| :--- | ---: |"));
        assert!(md.contains("| a\\|b | 0.00 |"));
    }
}
