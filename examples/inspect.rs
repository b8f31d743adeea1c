//! Print what is in a floe (Apache Iceberg v2) table: identity, schema, properties,
//! snapshots, the metadata log, and the manifests and data files of one snapshot with
//! their column bounds.
//!
//! `cargo run --example inspect -- TABLE_DIR [--snapshot ID]`
//!
//! TABLE_DIR may also be one metadata file (`.../metadata/v3.metadata.json`, or the
//! `00001-<uuid>.metadata.json` a catalog writes). Without `--snapshot` the current
//! snapshot is shown. Read-only: nothing is written.
//! Any error prints one line and exits with status 1.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use floe::spec::Datum;
use floe::{NestedField, PrimitiveType, Schema, Table, Type};

/// Appends a line to the report (writing to a `String` cannot fail).
macro_rules! say {
    ($o:expr) => {
        $o.push('\n')
    };
    ($o:expr, $($arg:tt)*) => {{
        let _ = writeln!($o, $($arg)*);
    }};
}

const USAGE: &str = "usage: inspect TABLE_DIR [--snapshot ID]";

struct Args {
    dir: PathBuf,
    snapshot: Option<i64>,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut snapshot = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--snapshot" => {
                let v = it.next().ok_or_else(|| format!("--snapshot needs a snapshot id ({USAGE})"))?;
                snapshot = Some(v.parse().map_err(|e| format!("--snapshot {v:?}: {e}"))?);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s} ({USAGE})")),
            s if dir.is_none() => dir = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s:?} ({USAGE})")),
        }
    }
    let dir = dir.ok_or_else(|| USAGE.to_string())?;
    Ok(Args { dir, snapshot })
}

fn main() {
    // The whole report is built first: an error prints one line and nothing else.
    let mut report = String::new();
    if let Err(e) = parse_args().and_then(|args| run(&args, &mut report)) {
        eprintln!("inspect: {e}");
        std::process::exit(1);
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(report.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => {}
        // `inspect … | head` closing the pipe early is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("inspect: writing to stdout: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: &Args, o: &mut String) -> Result<(), String> {
    // A directory is opened at its newest v<N>; a metadata file (e.g. the
    // `00001-<uuid>.metadata.json` of a catalog-managed table) is read as it is.
    let table = if args.dir.is_file() { Table::open_metadata_file(&args.dir) } else { Table::open(&args.dir) }
        .map_err(|e| e.to_string())?;
    let md = table.metadata();
    let root = table.path().to_path_buf();
    // The snapshot to show: the current one unless --snapshot names another.
    let scan = match args.snapshot {
        Some(id) => table.scan().snapshot_id(id),
        None => table.scan(),
    };
    let plan = scan.plan().map_err(|e| e.to_string())?;
    let manifests = match plan.snapshot.as_ref() {
        Some(s) => table.manifests(s).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };

    // Identity.
    let current_schema = md.current_schema();
    say!(o, "table           {}", root.display());
    say!(o, "location        {}", md.location());
    say!(o, "format version  {}", md.format_version());
    say!(o, "table uuid      {}", md.table_uuid());
    match table.version() {
        0 => say!(o, "version         - ({}, not a v<N> file)", rel(&root, &table.metadata_path())),
        n => say!(o, "version         v{n} ({})", rel(&root, &table.metadata_path())),
    }
    say!(o, "last updated    {}", fmt_time(md.last_updated()));
    say!(o, "last seq number {}", md.last_sequence_number());
    say!(o, "current snap    {}", md.current_snapshot_id().map_or("none (empty table)".to_string(), |s| s.to_string()));

    // Schema.
    say!(o);
    say!(
        o,
        "schema {} (current; {} schema(s) in metadata, last column id {})",
        current_schema.schema_id,
        md.schemas().len(),
        md.last_column_id()
    );
    let mut rows = vec![row(["id", "name", "type", "required"])];
    for f in current_schema.fields() {
        schema_rows(f, "", &mut rows);
    }
    print_table(o, &rows, &[true, false, false, false], 2);
    if let Some(spec) = md.default_spec() {
        if spec.fields.is_empty() {
            say!(o, "partition spec {}: unpartitioned", spec.spec_id);
        } else {
            let parts: Vec<String> = spec
                .fields
                .iter()
                .map(|p| format!("{}={}({})", p.name, p.transform, field_name(current_schema, p.source_id)))
                .collect();
            say!(o, "partition spec {}: {}", spec.spec_id, parts.join(", "));
        }
    }

    // Properties.
    say!(o);
    say!(o, "properties ({})", md.properties().len());
    let rows: Vec<Vec<String>> = md.properties().iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect();
    print_table(o, &rows, &[false, false], 2);

    // Snapshots.
    let snapshots = table.snapshots();
    say!(o);
    say!(o, "snapshots ({} retained, oldest first; * = current)", snapshots.len());
    let mut rows =
        vec![row(["", "snapshot id", "parent", "seq", "time (UTC)", "operation", "added", "total", "floe commit id"])];
    for s in &snapshots {
        let current = md.current_snapshot_id() == Some(s.snapshot_id);
        rows.push(vec![
            if current { "*" } else { "" }.to_string(),
            s.snapshot_id.to_string(),
            s.parent_snapshot_id.map_or("-".to_string(), |p| p.to_string()),
            s.sequence_number.to_string(),
            fmt_time(s.timestamp()),
            s.operation().to_string(),
            summary(s, "added-records"),
            summary(s, "total-records"),
            s.commit_id().unwrap_or("-").to_string(),
        ]);
    }
    print_table(o, &rows, &[false, true, true, true, false, false, true, true, false], 2);

    // Metadata log.
    say!(o);
    say!(o, "metadata log ({} previous version(s), oldest first)", md.metadata_log().len());
    let mut rows = vec![row(["written (UTC)", "file", ""])];
    for e in md.metadata_log() {
        let path = table.resolve_path(&e.metadata_file).unwrap_or_else(|_| e.metadata_file.clone().into());
        let gone = if path.exists() { "" } else { "(deleted)" };
        rows.push(vec![fmt_time(e.timestamp()), rel_uri(&table, &e.metadata_file), gone.to_string()]);
    }
    print_table(o, &rows, &[false, false, false], 2);

    // One snapshot: manifests and data files.
    let Some(snapshot) = plan.snapshot.as_ref() else {
        say!(o);
        say!(o, "no snapshot: the table is empty");
        return Ok(());
    };
    let which = if md.current_snapshot_id() == Some(snapshot.snapshot_id) { "current" } else { "time travel" };
    say!(o);
    say!(
        o,
        "snapshot {} ({which}, seq {}): manifest list {}",
        snapshot.snapshot_id,
        snapshot.sequence_number,
        rel_uri(&table, &snapshot.manifest_list)
    );
    say!(o, "manifests ({})", manifests.len());
    let mut rows = vec![row(["path", "content", "seq", "added", "existing", "deleted", "rows"])];
    for m in &manifests {
        rows.push(vec![
            rel_uri(&table, &m.manifest_path),
            m.content.as_str().to_string(),
            m.sequence_number.to_string(),
            m.added_files_count.to_string(),
            m.existing_files_count.to_string(),
            m.deleted_files_count.to_string(),
            (m.added_rows_count + m.existing_rows_count).to_string(),
        ]);
    }
    print_table(o, &rows, &[false, false, true, true, true, true, true], 2);
    say!(o, "  (added / existing / deleted count data files)");

    let total_bytes: i64 = plan.files.iter().map(|f| f.file_size_in_bytes).sum();
    say!(o);
    say!(o, "data files ({}, {} rows, {} bytes)", plan.files.len(), plan.record_count(), total_bytes);
    let columns = column_types(&plan.schema, md.schemas());
    for f in &plan.files {
        let missing =
            if table.resolve_path(&f.file_path).is_ok_and(|p| p.exists()) { "" } else { "  (missing on disk)" };
        say!(
            o,
            "  {}  rows {}  bytes {}{missing}",
            rel_uri(&table, &f.file_path),
            f.record_count,
            f.file_size_in_bytes
        );
        let ids: std::collections::BTreeSet<i32> =
            f.lower_bounds.keys().chain(f.upper_bounds.keys()).chain(f.null_value_counts.keys()).copied().collect();
        if ids.is_empty() {
            continue;
        }
        let mut rows = vec![row(["id", "column", "lower", "upper", "nulls"])];
        for id in ids {
            let (name, ty) = match columns.get(&id) {
                Some((n, t)) => (n.clone(), Some(t)),
                None => (format!("<field {id}>"), None),
            };
            rows.push(vec![
                id.to_string(),
                name,
                bound(ty, f.lower_bounds.get(&id)),
                bound(ty, f.upper_bounds.get(&id)),
                f.null_value_counts.get(&id).map_or("-".to_string(), |n| n.to_string()),
            ]);
        }
        print_table(o, &rows, &[true, false, false, false, true], 6);
    }
    Ok(())
}

/// A bound decoded with its column's type; hex when the type is unknown or the bytes
/// do not decode.
fn bound(ty: Option<&PrimitiveType>, bytes: Option<&Vec<u8>>) -> String {
    let Some(bytes) = bytes else { return "-".to_string() };
    let hex = || bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match ty {
        Some(ty) => match Datum::from_bytes(ty, bytes) {
            Ok(d) => d.to_string_typed(ty),
            Err(e) => format!("0x{} ({e})", hex()),
        },
        None => format!("0x{}", hex()),
    }
}

/// Field id -> (dotted name, primitive type) for every primitive field, from the scan's
/// schema first, then from any schema in the metadata (columns dropped since).
fn column_types(schema: &Schema, all: &[Schema]) -> BTreeMap<i32, (String, PrimitiveType)> {
    let mut out = BTreeMap::new();
    for s in std::iter::once(schema).chain(all.iter()) {
        for f in s.fields() {
            collect_primitives(&f.name, f.id, &f.field_type, &mut out);
        }
    }
    out
}

fn collect_primitives(name: &str, id: i32, ty: &Type, out: &mut BTreeMap<i32, (String, PrimitiveType)>) {
    match ty {
        Type::Primitive(p) => {
            out.entry(id).or_insert_with(|| (name.to_string(), p.clone()));
        }
        Type::Struct(s) => {
            for f in &s.fields {
                collect_primitives(&format!("{name}.{}", f.name), f.id, &f.field_type, out);
            }
        }
        Type::List(l) => collect_primitives(&format!("{name}.element"), l.element_id, &l.element, out),
        Type::Map(m) => {
            collect_primitives(&format!("{name}.key"), m.key_id, &m.key, out);
            collect_primitives(&format!("{name}.value"), m.value_id, &m.value, out);
        }
    }
}

/// Schema rows: nested fields indented under their parent.
fn schema_rows(f: &NestedField, indent: &str, rows: &mut Vec<Vec<String>>) {
    let req = if f.required { "required" } else { "optional" };
    rows.push(vec![f.id.to_string(), format!("{indent}{}", f.name), type_name(&f.field_type), req.to_string()]);
    let deeper = format!("{indent}  ");
    match &f.field_type {
        Type::Primitive(_) => {}
        Type::Struct(s) => s.fields.iter().for_each(|c| schema_rows(c, &deeper, rows)),
        Type::List(l) => {
            let req = if l.element_required { "required" } else { "optional" };
            rows.push(vec![l.element_id.to_string(), format!("{deeper}element"), type_name(&l.element), req.into()]);
        }
        Type::Map(m) => {
            rows.push(vec![m.key_id.to_string(), format!("{deeper}key"), type_name(&m.key), "required".into()]);
            let req = if m.value_required { "required" } else { "optional" };
            rows.push(vec![m.value_id.to_string(), format!("{deeper}value"), type_name(&m.value), req.into()]);
        }
    }
}

fn type_name(t: &Type) -> String {
    match t {
        Type::Primitive(p) => p.to_string(),
        Type::Struct(_) => "struct".to_string(),
        Type::List(l) => format!("list<{}>", type_name(&l.element)),
        Type::Map(m) => format!("map<{}, {}>", type_name(&m.key), type_name(&m.value)),
    }
}

fn field_name(schema: &Schema, id: i32) -> String {
    schema.field_by_id(id).map_or_else(|| format!("field {id}"), |f| f.name.clone())
}

fn summary(s: &floe::spec::Snapshot, key: &str) -> String {
    s.summary.get(key).cloned().unwrap_or_else(|| "-".to_string())
}

/// `file:///t/metadata/x` -> `metadata/x` when under the table root, else unchanged.
fn rel_uri(table: &Table, uri: &str) -> String {
    let Ok(path) = table.resolve_path(uri) else { return uri.to_string() };
    match path.strip_prefix(table.path()) {
        Ok(r) => r.display().to_string(),
        Err(_) => uri.to_string(),
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).map_or_else(|_| path.display().to_string(), |r| r.display().to_string())
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
fn fmt_time(t: std::time::SystemTime) -> String {
    let ms = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    fmt_ms(ms)
}

fn fmt_ms(ms: i64) -> String {
    // Datum's Display renders timestamps as ISO 8601 with microseconds.
    let s = Datum::Timestamp(ms.saturating_mul(1000)).to_string().replacen('T', " ", 1);
    s.strip_suffix("000").map(str::to_string).unwrap_or(s)
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Prints rows as aligned columns (`right[i]` right-aligns column i).
fn print_table(o: &mut String, rows: &[Vec<String>], right: &[bool], indent: usize) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let mut line = " ".repeat(indent);
        for (c, cell) in r.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c].saturating_sub(cell.chars().count());
            if right.get(c).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        say!(o, "{}", line.trim_end());
    }
}
