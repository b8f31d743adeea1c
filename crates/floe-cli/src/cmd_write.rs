//! `floe create` and `floe append`: the commands that change a table.
//!
//! `append` opens every input before writing anything (an unknown format, a missing
//! file or a CSV header naming an unknown column fails with nothing written), streams
//! each file in batches into one transaction, and commits once: all rows or none.

use floe::Table;
use floe::spec::{PartitionSpec, Transform};
use floe_cli::import::FileReader;
use serde_json::json;

use crate::cmd_read::{schema_json, schema_rows};
use crate::out::{self, Out};
use crate::{AppendArgs, CmdResult, CreateArgs, Failure};

pub fn create(o: &Out, a: &CreateArgs, warehouse: Option<&(std::path::PathBuf, String)>) -> CmdResult {
    let schema = match (&a.schema, &a.like) {
        (Some(text), _) => floe_cli::import::parse_schema(text)?,
        (None, Some(file)) => floe_cli::import::schema_of_file(file, None)?,
        (None, None) => return Err(Failure::usage("give the columns with --schema or a sample file with --like")),
    };
    let mut opts = crate::input::base_options();
    for p in &a.properties {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| Failure::usage(format!("--property {p:?}: expected KEY=VALUE")))?;
        opts = opts.property(k.trim(), v);
    }
    let fields: Vec<&str> = a
        .partition
        .iter()
        .flat_map(|p| floe_cli::import::split_top_level(p))
        .filter(|f| !f.trim().is_empty())
        .collect();
    if !fields.is_empty() {
        let mut builder = PartitionSpec::builder(&schema);
        for f in fields {
            let (column, transform) = parse_partition_field(f, "--partition")?;
            builder = builder.add(column, transform);
        }
        opts = opts.partition_spec(builder.build()?);
    }
    let table = match warehouse {
        Some((root, name)) => floe::Warehouse::open(root)?.create_table_with(name, schema, opts)?,
        None => Table::create_with(&a.table, schema, opts)?,
    };
    let md = table.metadata();
    if o.json {
        o.json(&json!({
            "path": table.path(),
            "location": md.location(),
            "version": table.version(),
            "table_uuid": md.table_uuid(),
            "schema": schema_json(md.current_schema()),
        }))?;
        return Ok(());
    }
    let mut text =
        format!("created table {} (v{}, uuid {})\n", table.path().display(), table.version(), md.table_uuid());
    text.push_str(&o.table(&["id", "name", "type", "required"], schema_rows(md.current_schema()), &[0]));
    o.print(&text)?;
    Ok(())
}

/// One `--partition` field: `col`, `day(col)` (also `days(col)`), `bucket(16, col)`,
/// `truncate(4, col)`, or Iceberg's own `bucket[16](col)`.
pub fn parse_partition_field(text: &str, what: &str) -> Result<(String, Transform), Failure> {
    let t = text.trim();
    let bad = |why: &str| {
        Failure::usage(format!(
            "{what} {t:?}: {why} (expected COLUMN, day(COLUMN), bucket(N, COLUMN), truncate(W, COLUMN), …)"
        ))
    };
    let Some(open) = t.find('(') else {
        if t.contains(|c: char| c.is_whitespace() || "[]),".contains(c)) {
            return Err(bad("not a column name"));
        }
        return Ok((t.to_string(), Transform::Identity));
    };
    let inner = t[open + 1..].strip_suffix(')').ok_or_else(|| bad("missing ')'"))?;
    let name = t[..open].trim().to_ascii_lowercase();
    let (transform_text, column) = match inner.split_once(',') {
        // bucket(16, id) / truncate(4, name)
        Some((n, col)) => (format!("{name}[{}]", n.trim()), col.trim()),
        None => {
            // years/months/days/hours are Spark's names for the same transforms.
            let name = match name.as_str() {
                "years" | "months" | "days" | "hours" => name[..name.len() - 1].to_string(),
                _ => name,
            };
            (name, inner.trim())
        }
    };
    if column.is_empty() {
        return Err(bad("no column"));
    }
    let transform = Transform::parse(&transform_text).map_err(|e| bad(&e.to_string()))?;
    Ok((column.to_string(), transform))
}

pub fn append(o: &Out, a: &AppendArgs) -> CmdResult {
    let input = &a.input;
    let table = Table::open_with(&a.table, input.table_options())?;
    let schema = table.schema();
    let readers = input.open(&schema)?;
    let total: u64 = readers.iter().map(FileReader::bytes_total).sum();
    let bar = out::progress(total, if input.dry_run { "checking" } else { "appending" });
    // A dry run reads and checks every row but stages nothing.
    let mut tx = (!input.dry_run).then(|| table.new_transaction());
    let mut done = 0u64;
    let mut inputs = Vec::with_capacity(readers.len());
    for mut r in readers {
        while let Some(batch) = r.next() {
            let batch = batch.inspect_err(|_| bar.finish_and_clear())?;
            if let Some(tx) = tx.as_mut() {
                tx.append(&batch).inspect_err(|_| bar.finish_and_clear())?;
            }
            bar.set_position(done + r.bytes_read());
        }
        done += r.bytes_total();
        bar.set_position(done);
        inputs.push((r.path().display().to_string(), r.format().name(), r.rows_read()));
    }
    let Some(tx) = tx else {
        bar.finish_and_clear();
        let rows: u64 = inputs.iter().map(|(_, _, rows)| rows).sum();
        if o.json {
            let files: Vec<_> =
                inputs.iter().map(|(p, f, rows)| json!({"path": p, "format": f, "rows": rows})).collect();
            o.json(
                &json!({"dry_run": true, "version": null, "added_records": rows, "added_files": null, "inputs": files}),
            )?;
        } else {
            let mut text = format!("(dry run) append would add {rows} row(s); nothing written\n");
            for (p, f, rows) in &inputs {
                text.push_str(&format!("  {p} ({f}): {rows} row(s)\n"));
            }
            o.print(&text)?;
        }
        return Ok(());
    };
    if inputs.iter().all(|(_, _, rows)| *rows == 0) {
        // An empty snapshot would only be noise in the history.
        bar.finish_and_clear();
        tx.abort();
        if o.json {
            o.json(&json!({"dry_run": false, "version": null, "added_records": 0, "added_files": 0}))?;
        } else {
            o.line("no rows in the input: nothing committed")?;
        }
        return Ok(());
    }
    bar.set_message("committing");
    let report = floe::Warehouse::commit_table_transaction(tx);
    bar.finish_and_clear();
    let report = report?;
    if o.json {
        let files: Vec<_> = inputs.iter().map(|(p, f, rows)| json!({"path": p, "format": f, "rows": rows})).collect();
        o.json(&json!({
            "dry_run": false,
            "version": report.version,
            "snapshot_id": report.snapshot_id,
            "sequence_number": report.sequence_number,
            "commit_id": report.commit_id,
            "added_records": report.added_records,
            "added_files": report.added_files,
            "attempts": report.attempts,
            "lost_races": report.conflicts,
            "rebased_over": report.rebased_over,
            "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0,
            "inputs": files,
        }))?;
        return Ok(());
    }
    let mut text = format!(
        "committed v{} (snapshot {}, sequence {}): {} row(s) in {} data file(s)\n",
        report.version, report.snapshot_id, report.sequence_number, report.added_records, report.added_files
    );
    for (p, f, rows) in &inputs {
        text.push_str(&format!("  {p} ({f}): {rows} row(s)\n"));
    }
    text.push_str(&format!(
        "  attempts {}, lost races {}, rebased over {} version(s), {:.1} ms, commit id {}\n",
        report.attempts,
        report.conflicts,
        report.rebased_over,
        report.elapsed.as_secs_f64() * 1000.0,
        report.commit_id
    ));
    o.print(&text)?;
    Ok(())
}
