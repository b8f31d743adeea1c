//! Rendering for the `floe` command: text tables (comfy-table), JSON documents,
//! colour, progress bars and the one-line error report.
//!
//! Promises: colour only when the stream is a terminal and `NO_COLOR` is unset (or
//! empty) and `TERM` is not `dumb`; progress bars only when stderr is a terminal;
//! tables wrap to the terminal's width on a terminal and are plain Markdown-style
//! tables (stable, diffable) when piped. Every write to stdout goes through here and
//! returns its I/O error, so a closed pipe ends the command quietly.

use std::io::{IsTerminal, Write};

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table as TextTable, presets};
use floe::Table;
use floe::spec::Datum;
use floe::spec::PrimitiveType;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// Where and how output goes.
pub struct Out {
    /// `--json` was given.
    pub json: bool,
    /// stdout is a terminal.
    pub stdout_tty: bool,
    color: bool,
}

/// True when colour is allowed on a stream that is a terminal (`NO_COLOR`, `TERM=dumb`).
fn color_allowed() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    !no_color && !dumb
}

impl Out {
    pub fn new(json: bool) -> Out {
        let stdout_tty = std::io::stdout().is_terminal();
        Out { json, stdout_tty, color: stdout_tty && color_allowed() }
    }

    /// Writes text to stdout.
    pub fn print(&self, text: &str) -> std::io::Result<()> {
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes())?;
        o.flush()
    }

    /// Writes one line to stdout.
    pub fn line(&self, text: &str) -> std::io::Result<()> {
        self.print(&format!("{text}\n"))
    }

    /// Writes a JSON document (pretty) to stdout.
    pub fn json(&self, v: &Value) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
        self.line(&text)
    }

    /// `text` in green/red/bold when colour is on.
    pub fn paint(&self, text: &str, style: Style) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Good => "32",
            Style::Bad => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// A text table with a header row; `right` right-aligns those columns.
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
        let mut t = TextTable::new();
        if self.stdout_tty {
            t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
        } else {
            t.load_preset(presets::ASCII_MARKDOWN).set_content_arrangement(ContentArrangement::Disabled);
        }
        t.set_header(header.iter().map(Cell::new));
        for r in rows {
            t.add_row(r.into_iter().map(Cell::new));
        }
        for &c in right {
            if let Some(col) = t.column_mut(c) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        format!("{t}\n")
    }

    /// Key/value lines, keys padded to one width.
    pub fn pairs(&self, pairs: &[(&str, String)]) -> String {
        let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut s = String::new();
        for (k, v) in pairs {
            s.push_str(&format!("{k:<w$}  {v}\n"));
        }
        s
    }
}

#[derive(Clone, Copy)]
pub enum Style {
    Good,
    Bad,
}

/// A byte progress bar on stderr, or a hidden one when stderr is not a terminal.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = if color_allowed() {
        "{msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
    } else {
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Prints `floe: error: …` (one line) and, with `verbose`, the cause chain.
pub fn report_error(e: &(dyn std::error::Error + 'static), verbose: bool) {
    let tty = std::io::stderr().is_terminal() && color_allowed();
    let prefix = if tty { "\x1b[31merror\x1b[0m" } else { "error" };
    // One line: messages that embed newlines (parquet, clap) are folded.
    let msg = e.to_string().replace('\n', " ");
    let mut text = format!("floe: {prefix}: {msg}\n");
    if verbose {
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(&format!("  caused by: {}\n", s.to_string().replace('\n', " ")));
            source = s.source();
        }
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// A point in time as milliseconds since the epoch (what `--json` prints and `fmt_ms`
/// formats); saturating.
pub fn epoch_ms(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map(|ms| -ms).unwrap_or(i64::MIN),
    }
}

/// Milliseconds since the epoch as a point in time (what `--as-of` and `--older-than`
/// parse to); saturating at the epoch.
pub fn from_epoch_ms(ms: i64) -> std::time::SystemTime {
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 { std::time::UNIX_EPOCH.checked_add(d) } else { std::time::UNIX_EPOCH.checked_sub(d) };
    t.unwrap_or(std::time::UNIX_EPOCH)
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn fmt_ms(ms: i64) -> String {
    let s = Datum::Timestamp(ms.saturating_mul(1000)).to_string().replacen('T', " ", 1);
    s.strip_suffix("000").map(str::to_string).unwrap_or(s)
}

/// `file:///t/data/x` -> `data/x` when under the table root, else unchanged.
pub fn rel_uri(table: &Table, uri: &str) -> String {
    let Ok(path) = table.resolve_path(uri) else { return uri.to_string() };
    match path.strip_prefix(table.path()) {
        Ok(r) => r.display().to_string(),
        Err(_) => uri.to_string(),
    }
}

/// A bound decoded with its column type; hex when undecodable or the type is unknown.
pub fn bound(ty: Option<&PrimitiveType>, bytes: &[u8]) -> String {
    let hex = || bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match ty {
        Some(ty) => match Datum::from_bytes(ty, bytes) {
            Ok(d) => d.to_string_typed(ty),
            Err(_) => format!("0x{}", hex()),
        },
        None => format!("0x{}", hex()),
    }
}

/// Bytes in human units (1.5 KiB).
pub fn human_bytes(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", units[u]) }
}
