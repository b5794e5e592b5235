//! JSON on stdout, for `--json`.

use std::io::{self, Write};

use serde::Serialize;

/// Pretty JSON on stdout.
pub fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}
