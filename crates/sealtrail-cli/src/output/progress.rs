//! Progress bars for the long commands (export download, verify, verify
//! --data, migrate, ingest of a file, bench populate), drawn by indicatif on
//! stderr.
//!
//! A bar shows only where someone watches: stderr is a terminal and the
//! command is not `quiet` (asked for `--json`, or writing its own output to
//! that terminal). Piped, redirected or machine-readable runs get a hidden
//! bar, which draws nothing and writes no escape codes, so what they print
//! stays clean. Bars redraw when the work advances (no timer
//! thread), so nothing is drawn between the last step and the report.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a bar would be seen: stderr is a terminal and not `quiet`.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar on stderr with `template`, or a hidden one when not [`wanted`].
fn on_stderr(total: Option<u64>, template: &str, quiet: bool) -> ProgressBar {
    if !wanted(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    // The templates are constants of this file: a bad one would be a bug
    // here, and the default style still shows the progress.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// A bar counting `unit`s towards a total that the work reports as it goes
/// (see [`reporter`]).
pub fn bar(unit: &str, quiet: bool) -> ProgressBar {
    on_stderr(
        Some(0),
        &format!("{{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{per_sec:0}}, {{eta}} left)"),
        quiet,
    )
}

/// A counter of `unit`s when the total is not known (input from a pipe,
/// pages of a query).
pub fn counter(unit: &str, quiet: bool) -> ProgressBar {
    on_stderr(
        None,
        &format!("{{spinner}} {{human_pos}} {unit} ({{per_sec:0}}, {{elapsed}})"),
        quiet,
    )
}

/// Bytes read or written, against `total` when known.
pub fn bytes(total: Option<u64>, quiet: bool) -> ProgressBar {
    let template = match total {
        Some(_) => "{wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        None => "{spinner} {bytes} ({bytes_per_sec}, {elapsed})",
    };
    on_stderr(total, template, quiet)
}

/// The `progress(done, total)` callback the libraries take, moving `bar`;
/// the bar clears itself when the work is done, before the report prints.
pub fn reporter(bar: &ProgressBar) -> impl FnMut(u64, u64) + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_never_gets_a_bar() {
        assert!(!wanted(true));
        assert!(bar("entries", true).is_hidden());
        assert!(counter("events", true).is_hidden());
        assert!(bytes(Some(10), true).is_hidden());
    }

    #[test]
    fn a_reporter_moves_and_then_clears_its_bar() {
        let bar = ProgressBar::hidden();
        let mut report = reporter(&bar);
        report(3, 10);
        assert_eq!((bar.position(), bar.length()), (3, Some(10)));
        report(10, 10);
        assert!(bar.is_finished());
    }
}
