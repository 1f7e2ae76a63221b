//! Printing results: aligned `key: value` text and tables for people, one
//! JSON document for scripts (`--output json`).

use std::io::Write;

use serde::Serialize;

use crate::{CliError, Format, Result};

pub fn emit<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    value: &T,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let r = match format {
        Format::Json => serde_json::to_writer_pretty(&mut *out, value)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        Format::Text => text(out),
    };
    r.map_err(CliError::Output)
}

/// `key: value` lines with the values aligned.
pub fn kv(out: &mut dyn Write, rows: &[(&str, String)]) -> std::io::Result<()> {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        writeln!(out, "{k:<w$}  {v}")?;
    }
    Ok(())
}

/// A plain table: header, then rows, columns padded to fit.
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(
        out,
        "{}",
        line(header.iter().map(|s| s.to_string()).collect())
    )?;
    for r in rows {
        writeln!(out, "{}", line(r.clone()))?;
    }
    Ok(())
}

/// A short form of a base58 address for tables.
pub fn short(key: &impl ToString) -> String {
    let s = key.to_string();
    if s.len() > 12 {
        format!("{}..{}", &s[..6], &s[s.len() - 4..])
    } else {
        s
    }
}
