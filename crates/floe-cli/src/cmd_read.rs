//! The read-only commands: `info`, `history`, `snapshots`, `files`, `stats`, `verify`.
//!
//! Each opens the table once and works on that one version (a consistent state even
//! while other processes commit), then renders text or, with `--json`, one JSON
//! document whose keys are stable for scripts.

use std::collections::BTreeMap;
use std::path::Path;

use floe::Table;
use floe::spec::{ATTEMPT_KEY, NestedField, PartitionSpec, PrimitiveType, REBASED_OVER_KEY, Schema, Snapshot, Type};
use serde_json::{Value, json};

use crate::out::{Out, Style, bound, epoch_ms, fmt_ms, human_bytes, rel_uri};
use crate::{CmdResult, Failure};

/// Opens a table directory at its newest version, or one metadata file as it is.
pub fn open_table(path: &Path) -> Result<Table, Failure> {
    if path.is_file() {
        Ok(Table::open_metadata_file(path)?)
    } else {
        Ok(Table::open_with(path, crate::input::base_options())?)
    }
}

// ------------------------------------------------------------------------ schema

pub fn type_name(t: &Type) -> String {
    match t {
        Type::Primitive(p) => p.to_string(),
        Type::Struct(s) => {
            let inner: Vec<String> =
                s.fields.iter().map(|f| format!("{}: {}", f.name, type_name(&f.field_type))).collect();
            format!("struct<{}>", inner.join(", "))
        }
        Type::List(l) => format!("list<{}>", type_name(&l.element)),
        Type::Map(m) => format!("map<{}, {}>", type_name(&m.key), type_name(&m.value)),
    }
}

/// A partition spec as `name=transform(column), …`, or `unpartitioned`.
pub fn spec_text(schema: &Schema, spec: Option<&PartitionSpec>) -> String {
    match spec {
        Some(s) if !s.fields.is_empty() => s
            .fields
            .iter()
            .map(|p| {
                let src = schema
                    .field_by_id(p.source_id)
                    .map_or_else(|| format!("field {}", p.source_id), |f| f.name.clone());
                format!("{}={}({src})", p.name, p.transform)
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "unpartitioned".to_string(),
    }
}

/// A partition spec in JSON: its id and fields.
pub fn spec_json(spec: &PartitionSpec) -> Value {
    json!({
        "spec_id": spec.spec_id,
        "fields": spec.fields.iter().map(|f| json!({
            "name": f.name, "transform": f.transform, "source_id": f.source_id, "field_id": f.field_id,
        })).collect::<Vec<_>>(),
    })
}

/// Schema rows (id, name, type, required); nested fields indented under their parent.
pub fn schema_rows(schema: &Schema) -> Vec<Vec<String>> {
    fn walk(f: &NestedField, indent: &str, rows: &mut Vec<Vec<String>>) {
        let req = if f.required { "required" } else { "optional" };
        rows.push(vec![f.id.to_string(), format!("{indent}{}", f.name), type_name(&f.field_type), req.into()]);
        if let Type::Struct(s) = &f.field_type {
            let deeper = format!("{indent}  ");
            s.fields.iter().for_each(|c| walk(c, &deeper, rows));
        }
    }
    let mut rows = Vec::new();
    for f in schema.fields() {
        walk(f, "", &mut rows);
    }
    rows
}

/// The schema as Iceberg's JSON form (field ids, types, required).
pub fn schema_json(schema: &Schema) -> Value {
    schema.to_json()
}

/// Field id -> (dotted name, primitive type), from `schema` first, then older schemas.
fn column_types(schemas: &[&Schema]) -> BTreeMap<i32, (String, PrimitiveType)> {
    fn collect(name: &str, id: i32, ty: &Type, out: &mut BTreeMap<i32, (String, PrimitiveType)>) {
        match ty {
            Type::Primitive(p) => {
                out.entry(id).or_insert_with(|| (name.to_string(), p.clone()));
            }
            Type::Struct(s) => {
                for f in &s.fields {
                    collect(&format!("{name}.{}", f.name), f.id, &f.field_type, out);
                }
            }
            Type::List(l) => collect(&format!("{name}.element"), l.element_id, &l.element, out),
            Type::Map(m) => {
                collect(&format!("{name}.key"), m.key_id, &m.key, out);
                collect(&format!("{name}.value"), m.value_id, &m.value, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    for s in schemas {
        for f in s.fields() {
            collect(&f.name, f.id, &f.field_type, &mut out);
        }
    }
    out
}

// ------------------------------------------------------------------------ info

pub fn info(o: &Out, path: &Path) -> CmdResult {
    let table = open_table(path)?;
    let md = table.metadata();
    let root = table.path().to_path_buf();
    let plan = table.scan().plan()?;
    // Row-level delete files (merge-on-read): the manifests' counts include deleted
    // rows, so count by reading.
    let rows: i64 = if plan.has_deletes() { table.scan().count()? } else { plan.record_count() };
    let delete_files = plan.metrics.delete_files;
    let files = plan.files.len();
    let bytes: i64 = plan.files.iter().map(|f| f.file_size_in_bytes).sum();
    let schema = md.current_schema();
    let spec = md.default_spec();
    let spec_text = spec_text(schema, spec);
    let current = md.current_snapshot();
    if o.json {
        o.json(&json!({
            "path": root,
            "location": md.location(),
            "format_version": md.format_version(),
            "table_uuid": md.table_uuid(),
            "version": table.version(),
            "metadata_file": table.metadata_path(),
            "last_updated_ms": epoch_ms(md.last_updated()),
            "last_sequence_number": md.last_sequence_number(),
            "current_snapshot_id": md.current_snapshot_id(),
            "schema": schema_json(schema),
            "partition_spec": spec.map(spec_json),
            "properties": md.properties(),
            "snapshots": md.snapshots().len(),
            "total_records": rows,
            "total_data_files": files,
            "total_data_bytes": bytes,
            "total_delete_files": delete_files,
        }))?;
        return Ok(());
    }
    let version = match table.version() {
        0 => format!("- ({})", table.metadata_path().display()),
        n => format!("v{n} ({})", rel_uri(&table, &table.metadata_path().display().to_string())),
    };
    let mut text = o.pairs(&[
        ("table", root.display().to_string()),
        ("location", md.location().to_string()),
        ("format version", md.format_version().to_string()),
        ("table uuid", md.table_uuid().to_string()),
        ("version", version),
        ("last updated", format!("{} UTC", fmt_ms(epoch_ms(md.last_updated())))),
        (
            "current snapshot",
            match current {
                Some(s) => format!(
                    "{} (sequence {}, {}, {} UTC)",
                    s.snapshot_id,
                    s.sequence_number,
                    s.operation(),
                    fmt_ms(epoch_ms(s.timestamp()))
                ),
                None => "none (empty table)".into(),
            },
        ),
        ("snapshots", format!("{} retained", md.snapshots().len())),
        ("rows", rows.to_string()),
        ("delete files", delete_files.to_string()),
        ("data files", files.to_string()),
        ("data size", format!("{bytes} bytes ({})", human_bytes(bytes))),
        ("partition spec", spec_text),
    ]);
    text.push_str(&format!("\nschema {} (last column id {})\n", schema.schema_id, md.last_column_id()));
    text.push_str(&o.table(&["id", "name", "type", "required"], schema_rows(schema), &[0]));
    text.push_str(&format!("\nproperties ({})\n", md.properties().len()));
    let props: Vec<Vec<String>> = md.properties().iter().map(|(k, v)| vec![k.clone(), shorten(v, 60)]).collect();
    text.push_str(&o.table(&["key", "value"], props, &[]));
    o.print(&text)?;
    Ok(())
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max - 1).collect::<String>()) }
}

// ------------------------------------------------------------------------ history / snapshots

fn summary(s: Option<&Snapshot>, key: &str) -> Option<i64> {
    s.and_then(|s| s.summary_i64(key))
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Rows of snapshot `s` with row-level deletes (merge-on-read) applied. Without delete
/// files (the summary's `total-delete-files` is 0) it is the manifests' total
/// (`total-records`); with them it is counted, exactly: the delete files are read, and
/// the footers of the data files they apply to (plus, for equality deletes, those
/// files' equality columns). `None` when the snapshot is expired or cannot be read.
fn live_rows(table: &Table, s: Option<&Snapshot>) -> Option<i64> {
    let s = s?;
    let total = s.summary_i64("total-records");
    if s.summary_i64("total-delete-files") == Some(0) && total.is_some() {
        return total;
    }
    table.scan().snapshot_id(s.snapshot_id).count().ok()
}

/// The per-snapshot change counters shared by `history` and `snapshots`.
fn change_json(s: Option<&Snapshot>) -> Value {
    json!({
        "added_records": summary(s, "added-records"),
        "deleted_records": summary(s, "deleted-records"),
        "added_data_files": summary(s, "added-data-files"),
        "deleted_data_files": summary(s, "deleted-data-files"),
        "total_records": summary(s, "total-records"),
        "total_data_files": summary(s, "total-data-files"),
    })
}

pub fn history(o: &Out, path: &Path) -> CmdResult {
    let table = open_table(path)?;
    let md = table.metadata();
    let entries = table.history();
    if o.json {
        let docs: Vec<Value> = entries
            .iter()
            .map(|e| {
                let snap = md.snapshot(e.snapshot_id);
                let mut v = json!({
                    "timestamp_ms": epoch_ms(e.timestamp),
                    "snapshot_id": e.snapshot_id,
                    "parent_snapshot_id": e.parent_snapshot_id,
                    "operation": e.operation,
                    "retained": snap.is_some(),
                    "current": md.current_snapshot_id() == Some(e.snapshot_id),
                    "commit_id": snap.and_then(|s| s.commit_id()),
                    "live_records": live_rows(&table, snap),
                });
                merge(&mut v, change_json(snap));
                v
            })
            .collect();
        o.json(&Value::Array(docs))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let snap = md.snapshot(e.snapshot_id);
            let current = if md.current_snapshot_id() == Some(e.snapshot_id) { "*" } else { "" };
            vec![
                format!("{}{current}", fmt_ms(epoch_ms(e.timestamp))),
                e.snapshot_id.to_string(),
                e.parent_snapshot_id.map_or("-".into(), |p| p.to_string()),
                e.operation.clone().unwrap_or_else(|| "(expired)".into()),
                opt(summary(snap, "added-records")),
                opt(summary(snap, "deleted-records")),
                opt(summary(snap, "added-data-files")),
                opt(summary(snap, "deleted-data-files")),
                opt(summary(snap, "total-records")),
                opt(live_rows(&table, snap)),
                snap.and_then(|s| s.commit_id()).unwrap_or("-").to_string(),
            ]
        })
        .collect();
    let mut text =
        format!("history of {} ({} entries, oldest first; * = current)\n", table.path().display(), entries.len());
    text.push_str(&o.table(
        &[
            "time (UTC)",
            "snapshot",
            "parent",
            "operation",
            "+rows",
            "-rows",
            "+files",
            "-files",
            "total rows",
            "live rows",
            "commit id",
        ],
        rows,
        &[1, 2, 4, 5, 6, 7, 8, 9],
    ));
    o.print(&text)?;
    Ok(())
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

pub fn snapshots(o: &Out, path: &Path) -> CmdResult {
    let table = open_table(path)?;
    let md = table.metadata();
    let snaps = table.snapshots();
    if o.json {
        let docs: Vec<Value> = snaps
            .iter()
            .map(|s| {
                let mut v = json!({
                    "snapshot_id": s.snapshot_id,
                    "parent_snapshot_id": s.parent_snapshot_id,
                    "sequence_number": s.sequence_number,
                    "timestamp_ms": epoch_ms(s.timestamp()),
                    "operation": s.operation(),
                    "current": md.current_snapshot_id() == Some(s.snapshot_id),
                    "commit_id": s.commit_id(),
                    "attempt": s.summary_i64(ATTEMPT_KEY),
                    "rebased_over": s.summary_i64(REBASED_OVER_KEY),
                    "manifest_list": s.manifest_list,
                    "schema_id": s.schema_id,
                    "summary": s.summary,
                    "live_records": live_rows(&table, Some(s)),
                });
                merge(&mut v, change_json(Some(s)));
                v
            })
            .collect();
        o.json(&Value::Array(docs))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = snaps
        .iter()
        .map(|s| {
            let current = if md.current_snapshot_id() == Some(s.snapshot_id) { "*" } else { "" };
            vec![
                format!("{}{current}", s.snapshot_id),
                s.parent_snapshot_id.map_or("-".into(), |p| p.to_string()),
                s.sequence_number.to_string(),
                fmt_ms(epoch_ms(s.timestamp())),
                s.operation().to_string(),
                opt(s.summary_i64("added-records")),
                opt(s.summary_i64("deleted-records")),
                opt(s.summary_i64("added-data-files")),
                opt(s.summary_i64("deleted-data-files")),
                opt(s.summary_i64("total-records")),
                opt(live_rows(&table, Some(s))),
                opt(s.summary_i64(ATTEMPT_KEY)),
                rel_uri(&table, &s.manifest_list),
            ]
        })
        .collect();
    let mut text =
        format!("{} snapshot(s) retained in {} (oldest first; * = current)\n", snaps.len(), table.path().display());
    text.push_str(&o.table(
        &[
            "snapshot",
            "parent",
            "seq",
            "time (UTC)",
            "operation",
            "+rows",
            "-rows",
            "+files",
            "-files",
            "total rows",
            "live rows",
            "attempt",
            "manifest list",
        ],
        rows,
        &[0, 1, 2, 5, 6, 7, 8, 9, 10, 11],
    ));
    o.print(&text)?;
    Ok(())
}

// ------------------------------------------------------------------------ files

pub fn files(o: &Out, path: &Path, snapshot: Option<i64>) -> CmdResult {
    let table = open_table(path)?;
    let md = table.metadata();
    let scan = match snapshot {
        Some(id) => table.scan().snapshot_id(id),
        None => table.scan(),
    };
    let plan = scan.plan()?;
    let mut schemas: Vec<&Schema> = vec![&plan.schema];
    schemas.extend(md.schemas().iter());
    let columns = column_types(&schemas);
    let spec_fields: Vec<String> =
        md.default_spec().map(|s| s.fields.iter().map(|f| f.name.clone()).collect()).unwrap_or_default();
    let partition_text = |f: &floe::spec::DataFile| -> String {
        if f.partition.is_empty() {
            return String::new();
        }
        f.partition
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let name = spec_fields.get(i).cloned().unwrap_or_else(|| format!("p{i}"));
                format!("{name}={}", v.as_ref().map_or("null".to_string(), |d| d.to_string()))
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    if o.json {
        let docs: Vec<Value> = plan
            .files
            .iter()
            .map(|f| {
                let ids: std::collections::BTreeSet<i32> = f
                    .lower_bounds
                    .keys()
                    .chain(f.upper_bounds.keys())
                    .chain(f.null_value_counts.keys())
                    .copied()
                    .collect();
                let cols: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        let (name, ty) = columns.get(id).map_or((None, None), |(n, t)| (Some(n.clone()), Some(t)));
                        json!({
                            "field_id": id,
                            "name": name,
                            "lower": f.lower_bounds.get(id).map(|b| bound(ty, b)),
                            "upper": f.upper_bounds.get(id).map(|b| bound(ty, b)),
                            "null_count": f.null_value_counts.get(id),
                            "value_count": f.value_counts.get(id),
                        })
                    })
                    .collect();
                json!({
                    "path": f.file_path,
                    "format": f.file_format,
                    "records": f.record_count,
                    "size_bytes": f.file_size_in_bytes,
                    "partition": partition_text(f),
                    "columns": cols,
                })
            })
            .collect();
        o.json(&json!({
            "snapshot_id": plan.snapshot.as_ref().map(|s| s.snapshot_id),
            "files": docs,
        }))?;
        return Ok(());
    }
    let Some(snap) = plan.snapshot.as_ref() else {
        o.line("no snapshot: the table is empty")?;
        return Ok(());
    };
    let bytes: i64 = plan.files.iter().map(|f| f.file_size_in_bytes).sum();
    let mut text = format!(
        "snapshot {}: {} data file(s), {} row(s), {} bytes\n",
        snap.snapshot_id,
        plan.files.len(),
        plan.record_count(),
        bytes
    );
    let partitioned = plan.files.iter().any(|f| !f.partition.is_empty());
    let rows: Vec<Vec<String>> = plan
        .files
        .iter()
        .map(|f| {
            let bounds: Vec<String> = columns
                .iter()
                .filter(|(id, _)| f.lower_bounds.contains_key(id) || f.upper_bounds.contains_key(id))
                .map(|(id, (name, ty))| {
                    let lo = f.lower_bounds.get(id).map_or("-".into(), |b| bound(Some(ty), b));
                    let hi = f.upper_bounds.get(id).map_or("-".into(), |b| bound(Some(ty), b));
                    let nulls = f.null_value_counts.get(id).copied().unwrap_or(0);
                    let nulls = if nulls > 0 { format!(" ({nulls} null)") } else { String::new() };
                    format!("{name} {}{nulls}", if lo == hi { lo } else { format!("{lo}..{hi}") })
                })
                .collect();
            let mut row =
                vec![rel_uri(&table, &f.file_path), f.record_count.to_string(), f.file_size_in_bytes.to_string()];
            if partitioned {
                row.push(partition_text(f));
            }
            row.push(bounds.join(", "));
            row
        })
        .collect();
    let header: Vec<&str> = if partitioned {
        vec!["path", "rows", "bytes", "partition", "column bounds"]
    } else {
        vec!["path", "rows", "bytes", "column bounds"]
    };
    text.push_str(&o.table(&header, rows, &[1, 2]));
    o.print(&text)?;
    Ok(())
}

// ------------------------------------------------------------------------ stats

pub fn stats(o: &Out, path: &Path) -> CmdResult {
    let table = open_table(path)?;
    let md = table.metadata();
    let snaps = table.snapshots();
    let mut by_op: BTreeMap<String, u64> = BTreeMap::new();
    let mut recorded = 0u64; // commits with floe's attempt record
    let mut attempts = 0i64;
    let mut lost_races = 0i64;
    let mut retried = 0u64;
    let mut rebased = 0u64;
    let mut rebased_over_total = 0i64;
    let mut rebased_over_max = 0i64;
    for s in &snaps {
        *by_op.entry(s.operation().to_string()).or_default() += 1;
        if let Some(a) = s.summary_i64(ATTEMPT_KEY) {
            recorded += 1;
            attempts += a;
            lost_races += (a - 1).max(0);
            if a > 1 {
                retried += 1;
            }
            let r = s.summary_i64(REBASED_OVER_KEY).unwrap_or(0);
            if r > 0 {
                rebased += 1;
            }
            rebased_over_total += r;
            rebased_over_max = rebased_over_max.max(r);
        }
    }
    let span_ms = match (snaps.first(), snaps.last()) {
        (Some(a), Some(b)) => epoch_ms(b.timestamp()) - epoch_ms(a.timestamp()),
        _ => 0,
    };
    let rate =
        if span_ms > 0 && snaps.len() > 1 { Some((snaps.len() - 1) as f64 / (span_ms as f64 / 1000.0)) } else { None };
    // Growth: up to 10 evenly spaced retained snapshots, always the first and last.
    let picks: Vec<&Snapshot> = if snaps.len() <= 10 {
        snaps.iter().collect()
    } else {
        let n = snaps.len();
        let mut idx: Vec<usize> = (0..10).map(|k| k * (n - 1) / 9).collect();
        idx.dedup();
        idx.into_iter().map(|i| &snaps[i]).collect()
    };
    let manifests = match md.current_snapshot() {
        Some(s) => Some(table.manifests(s)?.len()),
        None => None,
    };
    let metadata_bytes = std::fs::metadata(table.metadata_path()).map(|m| m.len()).ok();
    let growth: Vec<Value> = picks
        .iter()
        .map(|s| {
            json!({
                "snapshot_id": s.snapshot_id,
                "sequence_number": s.sequence_number,
                "timestamp_ms": epoch_ms(s.timestamp()),
                "total_records": s.summary_i64("total-records"),
                "live_records": live_rows(&table, Some(s)),
                "total_delete_files": s.summary_i64("total-delete-files"),
                "total_data_files": s.summary_i64("total-data-files"),
                "total_files_size": s.summary_i64("total-files-size"),
            })
        })
        .collect();
    if o.json {
        o.json(&json!({
            "version": table.version(),
            "snapshots_retained": snaps.len(),
            "snapshot_log_entries": md.snapshot_log().len(),
            "metadata_log_entries": md.metadata_log().len(),
            "metadata_file_bytes": metadata_bytes,
            "current_manifests": manifests,
            "operations": by_op,
            "commits_with_attempt_record": recorded,
            "attempts": attempts,
            "lost_races": lost_races,
            "commits_retried": retried,
            "commits_rebased": rebased,
            "rebased_over_total": rebased_over_total,
            "rebased_over_max": rebased_over_max,
            "span_ms": span_ms,
            "commits_per_second": rate,
            "growth": growth,
        }))?;
        return Ok(());
    }
    let ops = by_op.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "commit statistics of {} (v{}, {} retained snapshot(s))\n",
        table.path().display(),
        table.version(),
        snaps.len()
    );
    text.push_str(&o.pairs(&[
        ("operations", if ops.is_empty() { "none".into() } else { ops }),
        (
            "time span",
            if snaps.is_empty() {
                "-".into()
            } else {
                format!(
                    "{:.3} s ({})",
                    span_ms as f64 / 1000.0,
                    rate.map_or("-".into(), |r| format!("{r:.1} commits/s"))
                )
            },
        ),
        ("recorded by floe", format!("{recorded} commit(s) with attempt records")),
        ("attempts", attempts.to_string()),
        ("lost races", format!("{lost_races} (in {retried} commit(s) that retried)")),
        (
            "rebased commits",
            format!("{rebased} (over {rebased_over_total} version(s) in all, at most {rebased_over_max} at once)"),
        ),
        ("snapshot log", format!("{} entries", md.snapshot_log().len())),
        ("metadata log", format!("{} previous version(s)", md.metadata_log().len())),
        ("metadata file", metadata_bytes.map_or("-".into(), |b| format!("{b} bytes"))),
        ("manifests now", manifests.map_or("-".into(), |m| m.to_string())),
    ]));
    text.push_str("\ngrowth (retained snapshots, sampled)\n");
    let rows: Vec<Vec<String>> = picks
        .iter()
        .map(|s| {
            vec![
                s.sequence_number.to_string(),
                fmt_ms(epoch_ms(s.timestamp())),
                opt(s.summary_i64("total-records")),
                opt(live_rows(&table, Some(*s))),
                opt(s.summary_i64("total-delete-files")),
                opt(s.summary_i64("total-data-files")),
                opt(s.summary_i64("total-files-size")),
            ]
        })
        .collect();
    text.push_str(&o.table(
        &["seq", "time (UTC)", "rows", "live rows", "delete files", "data files", "bytes"],
        rows,
        &[0, 2, 3, 4, 5, 6],
    ));
    o.print(&text)?;
    Ok(())
}

// ------------------------------------------------------------------------ verify

pub fn verify(o: &Out, path: &Path, deep: bool) -> CmdResult {
    let table = open_table(path)?;
    let r = if deep { table.verify_deep()? } else { table.verify()? };
    if o.json {
        o.json(&json!({
            "ok": r.is_ok(),
            "version": r.version,
            "metadata_file": r.metadata_path,
            "current_snapshot_id": r.current_snapshot_id,
            "snapshots": r.snapshots,
            "manifests": r.manifests,
            "data_files": r.data_files,
            "data_bytes": r.data_bytes,
            "current_rows": r.current_rows,
            "rows_read": r.rows_read,
            "deep": r.deep,
            "problems": r.problems.iter().map(|p| json!({
                "kind": p.kind.as_str(), "path": p.path, "detail": p.detail,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut text = format!(
            "checked v{}: {} snapshot(s), {} manifest(s), {} data file(s) ({} bytes), {} row(s) in the current snapshot",
            r.version, r.snapshots, r.manifests, r.data_files, r.data_bytes, r.current_rows
        );
        if let Some(n) = r.rows_read {
            text.push_str(&format!(", {n} row(s) read"));
        }
        text.push('\n');
        if r.is_ok() {
            text.push_str(&format!("{}\n", o.paint("OK", Style::Good)));
        } else {
            text.push_str(&format!("{}: {} problem(s)\n", o.paint("FAILED", Style::Bad), r.problems.len()));
            for p in &r.problems {
                text.push_str(&format!("  {p}\n"));
            }
        }
        o.print(&text)?;
    }
    if r.is_ok() {
        Ok(())
    } else {
        Err(Failure::unhealthy(format!("verification found {} problem(s)", r.problems.len())))
    }
}
