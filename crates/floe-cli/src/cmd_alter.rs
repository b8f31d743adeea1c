//! `floe alter`: schema and partition-spec evolution through the library's
//! `SchemaUpdate` (`Table::update_schema`) and `SpecUpdate` (`Table::update_spec`).
//!
//! Grammar: `floe alter TABLE CHANGE [CHANGE …]`, each CHANGE one of `add-column`,
//! `rename-column`, `drop-column`, `widen`, `set-partition`. Column changes given
//! together are applied in order and committed as **one** new version (so `rename-column
//! a b add-column a string` is atomic); `set-partition` is committed on its own (the
//! library commits a spec change separately from a schema change) and cannot be combined
//! with column changes. clap parses one change at a time: each change takes the words
//! after it as the next changes, parsed again by the same grammar, so every change keeps
//! clap's own help and error messages.
//!
//! Promises: types, partition fields and column names are parsed and the whole change is
//! checked by the library (`preview`) before anything is written; a refused change is
//! exit status 2 with the library's reason (unknown column, a widening v2 does not
//! allow, a required column, a column a partition spec uses, …). `--dry-run` prints the
//! resulting diff (by field id) and writes nothing. A change that changes nothing
//! commits nothing. The library evolves top-level columns only; a dotted name that is
//! not a top-level column is refused as a nested path rather than taken literally.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use floe::Table;
use floe::spec::{NestedField, PartitionSpec, PrimitiveType, Schema, Transform, Type};
use serde_json::{Value, json};

use crate::cmd_read::{schema_json, spec_json, spec_text, type_name};
use crate::cmd_write::parse_partition_field;
use crate::out::Out;
use crate::{CmdResult, Failure};

#[derive(Debug, Args)]
pub struct AlterArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// Print what would change; write nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    #[command(subcommand)]
    change: Change,
}

/// One change. `then` holds the words after it: the next changes.
#[derive(Debug, Clone, Subcommand)]
pub enum Change {
    /// Add an optional column (at the end, unless --first or --after).
    #[command(after_help = "Examples:\n  \
floe alter ./events add-column country string\n  \
floe alter ./events add-column price 'decimal(10,2)' --after id --doc 'list price'")]
    AddColumn {
        /// The new column's name.
        name: String,
        /// Its type: boolean int long float double decimal(P,S) date time timestamp
        /// timestamptz string uuid binary fixed[N].
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Ask for a required column. Refused: format v2 has no default for the rows
        /// already written (a v3 feature).
        #[arg(long)]
        required: bool,
        /// Place it just after this column.
        #[arg(long, value_name = "COLUMN", conflicts_with = "first")]
        after: Option<String>,
        /// Place it first.
        #[arg(long)]
        first: bool,
        /// A description stored with the column.
        #[arg(long, value_name = "TEXT")]
        doc: Option<String>,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        then: Vec<String>,
    },
    /// Rename a column (data files are untouched: columns are found by field id).
    #[command(after_help = "Examples:\n  floe alter ./events rename-column name label")]
    RenameColumn {
        /// The column's name now.
        old: String,
        /// Its new name.
        new: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        then: Vec<String>,
    },
    /// Drop a column (its values stay in old files, unread; not one a partition spec uses).
    #[command(after_help = "Examples:\n  floe alter ./events drop-column notes --dry-run")]
    DropColumn {
        /// The column to drop.
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        then: Vec<String>,
    },
    /// Widen a column's type: int to long, float to double, decimal(P,S) to decimal(P',S).
    #[command(
        after_help = "Examples:\n  floe alter ./events widen n long\n  floe alter ./prices widen price 'decimal(18,2)'"
    )]
    Widen {
        /// The column.
        name: String,
        /// The wider type.
        #[arg(value_name = "TYPE")]
        ty: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        then: Vec<String>,
    },
    /// Make SPEC the partition spec of new data (`none` for unpartitioned); files already
    /// written keep theirs.
    #[command(after_help = "Examples:\n  \
floe alter ./events set-partition 'day(ts), bucket(16, id)'\n  \
floe alter ./events set-partition none\n\n\
Fields: COLUMN (identity), year(COL), month(COL), day(COL), hour(COL), bucket(N, COL), truncate(W, COL).")]
    SetPartition {
        /// Partition fields, comma-separated, or `none`.
        spec: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        then: Vec<String>,
    },
}

impl Change {
    /// The words after this change, and the change without them.
    fn split(mut self) -> (Change, Vec<String>) {
        let then = match &mut self {
            Change::AddColumn { then, .. }
            | Change::RenameColumn { then, .. }
            | Change::DropColumn { then, .. }
            | Change::Widen { then, .. }
            | Change::SetPartition { then, .. } => std::mem::take(then),
        };
        (self, then)
    }
}

/// The words after a change, parsed as the next change. The flags `floe` and `alter`
/// take are accepted here too, so they may come last.
#[derive(Debug, Parser)]
#[command(name = "floe alter TABLE", no_binary_name = true, disable_help_subcommand = true)]
struct Next {
    #[arg(long, global = true, hide = true)]
    dry_run: bool,
    #[arg(long, global = true, hide = true)]
    json: bool,
    #[arg(short, long, global = true, hide = true)]
    verbose: bool,
    #[command(subcommand)]
    change: Change,
}

/// Flags found among the chained changes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flags {
    pub dry_run: bool,
    pub json: bool,
    pub verbose: bool,
}

/// Every change given, in order, and the flags given after the first change.
fn changes(a: &AlterArgs) -> Result<(Vec<Change>, Flags), Failure> {
    let mut flags = Flags { dry_run: a.dry_run, ..Flags::default() };
    let mut out = Vec::new();
    let (first, mut rest) = a.change.clone().split();
    out.push(first);
    while !rest.is_empty() {
        let next = Next::try_parse_from(&rest).map_err(|e| {
            // clap's message is several lines: what is wrong (possibly a list), then the
            // usage and a hint, which are about the inner parser and would mislead.
            let text = e.to_string();
            let what: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            Failure::usage(format!("alter: {}", what.join(" ").trim_start_matches("error: ")))
        })?;
        flags.dry_run |= next.dry_run;
        flags.json |= next.json;
        flags.verbose |= next.verbose;
        let (change, more) = next.change.split();
        out.push(change);
        rest = more;
    }
    Ok((out, flags))
}

/// The flags given after the first change (`floe alter t add-column a int --json`):
/// main honours `--json` and `--verbose` from here too.
pub fn trailing_flags(a: &AlterArgs) -> Flags {
    changes(a).map(|(_, f)| f).unwrap_or_default()
}

fn parse_type(text: &str, what: &str) -> Result<PrimitiveType, Failure> {
    text.trim().to_ascii_lowercase().parse().map_err(|e: String| {
        Failure::usage(format!(
            "{what} type {text:?}: {e} (types: boolean int long float double decimal(P,S) date time timestamp \
             timestamptz string uuid binary fixed[N])"
        ))
    })
}

/// A new column name: not empty, and no `.` (which other engines read as a nested path).
fn new_name(name: &str, what: &str) -> Result<(), Failure> {
    if name.trim().is_empty() {
        return Err(Failure::usage(format!("{what}: the column name is empty")));
    }
    if name.contains('.') {
        return Err(Failure::usage(format!(
            "{what} {name:?}: a column name with '.' reads as a nested path; floe changes top-level columns only"
        )));
    }
    Ok(())
}

/// An existing column: a dotted name that is not a top-level column is a nested path,
/// which the library does not evolve. (Other unknown names are the library's error.)
fn existing_name(schema: &Schema, name: &str, what: &str) -> Result<(), Failure> {
    if schema.field_by_name(name).is_none()
        && let Some((head, _)) = name.split_once('.')
        && schema.field_by_name(head).is_some()
    {
        return Err(Failure::usage(format!(
            "{what} {name:?}: nested columns cannot be changed; floe evolves top-level columns only"
        )));
    }
    Ok(())
}

pub fn alter(o: &Out, a: &AlterArgs) -> CmdResult {
    let (changes, flags) = changes(a)?;
    let json_out;
    let o = if flags.json && !o.json {
        json_out = Out::new(true);
        &json_out
    } else {
        o
    };
    let partition: Vec<&String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::SetPartition { spec, .. } => Some(spec),
            _ => None,
        })
        .collect();
    if !partition.is_empty() {
        if changes.len() > 1 {
            return Err(Failure::usage(
                "alter: set-partition is committed on its own; give column changes in another `floe alter`",
            ));
        }
        return set_partition(o, a, partition[0], flags.dry_run);
    }
    alter_schema(o, a, &changes, flags.dry_run)
}

fn alter_schema(o: &Out, a: &AlterArgs, changes: &[Change], dry_run: bool) -> CmdResult {
    // Types first: a typo changes nothing, and needs no table.
    let mut types = Vec::with_capacity(changes.len());
    for c in changes {
        types.push(match c {
            Change::AddColumn { ty, .. } => Some(parse_type(ty, "add-column")?),
            Change::Widen { ty, .. } => Some(parse_type(ty, "widen")?),
            _ => None,
        });
    }
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let before = table.schema();
    let mut update = table.update_schema();
    for (c, ty) in changes.iter().zip(types) {
        update = match (c, ty) {
            (Change::AddColumn { name, required, after, first, doc, .. }, Some(ty)) => {
                new_name(name, "add-column")?;
                if let Some(other) = after {
                    existing_name(&before, other, "add-column --after")?;
                }
                let mut u = if *required {
                    update.add_required_column(name, ty)
                } else {
                    update.add_column_of_type(name, Type::Primitive(ty), doc.clone())
                };
                if *first {
                    u = u.move_first(name);
                } else if let Some(other) = after {
                    u = u.move_after(name, other);
                }
                u
            }
            (Change::RenameColumn { old, new, .. }, _) => {
                existing_name(&before, old, "rename-column")?;
                new_name(new, "rename-column")?;
                update.rename_column(old, new)
            }
            (Change::DropColumn { name, .. }, _) => {
                existing_name(&before, name, "drop-column")?;
                update.drop_column(name)
            }
            (Change::Widen { name, .. }, Some(ty)) => {
                existing_name(&before, name, "widen")?;
                update.widen_column(name, ty)
            }
            _ => return Err(Failure::usage("alter: a change without its type (internal)")),
        };
    }
    let after = update.preview()?;
    let diff = schema_diff(&before, &after);
    let spec = table.metadata().default_spec().cloned().unwrap_or_else(PartitionSpec::unpartitioned);
    if diff.is_empty() {
        return unchanged(o, "the schema would not change", dry_run, &after, &spec);
    }
    let version = if dry_run { None } else { Some(update.commit()?.version) };
    if o.json {
        o.json(&json!({
            "operation": "alter",
            "dry_run": dry_run,
            "version": version,
            "changes": diff.iter().map(|d| d.json()).collect::<Vec<_>>(),
            "schema_id": after.schema_id,
            "schema": schema_json(&after),
            "partition_spec": spec_json(&spec),
        }))?;
        return Ok(());
    }
    let mut text = match version {
        Some(v) => format!("altered {}: committed v{v} (schema {})\n", table.path().display(), after.schema_id),
        None => format!("(dry run) alter would commit schema {}; nothing written\n", after.schema_id),
    };
    for d in &diff {
        text.push_str(&format!("  {}\n", d.text()));
    }
    o.print(&text)?;
    Ok(())
}

fn set_partition(o: &Out, a: &AlterArgs, text: &str, dry_run: bool) -> CmdResult {
    let none = matches!(text.trim().to_ascii_lowercase().as_str(), "none" | "unpartitioned");
    let mut fields: Vec<(String, Transform)> = Vec::new();
    if !none {
        for f in floe_cli::import::split_top_level(text) {
            if !f.trim().is_empty() {
                fields.push(parse_partition_field(f, "set-partition")?);
            }
        }
        if fields.is_empty() {
            return Err(Failure::usage("set-partition: no fields given (use `none` for an unpartitioned table)"));
        }
    }
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let md = table.metadata();
    let schema = md.current_schema().clone();
    for (column, _) in &fields {
        existing_name(&schema, column, "set-partition")?;
    }
    let before = md.default_spec().cloned().unwrap_or_else(PartitionSpec::unpartitioned);
    let mut update = table.update_spec();
    for f in &before.fields {
        update = update.remove_field(&f.name);
    }
    for (column, transform) in fields {
        update = update.add_field(column, transform);
    }
    let after = update.preview()?;
    if after.fields == before.fields {
        return unchanged(o, "the partition spec would not change", dry_run, &schema, &before);
    }
    let version = if dry_run { None } else { Some(update.commit()?.version) };
    let (was, now) = (spec_text(&schema, Some(&before)), spec_text(&schema, Some(&after)));
    if o.json {
        o.json(&json!({
            "operation": "alter",
            "dry_run": dry_run,
            "version": version,
            "changes": [{"change": "partition-spec", "from": was, "to": now, "spec_id": after.spec_id}],
            "schema_id": schema.schema_id,
            "schema": schema_json(&schema),
            "partition_spec": spec_json(&after),
        }))?;
        return Ok(());
    }
    let head = match version {
        Some(v) => format!("altered {}: committed v{v} (partition spec {})\n", table.path().display(), after.spec_id),
        None => format!("(dry run) alter would commit partition spec {}; nothing written\n", after.spec_id),
    };
    o.print(&format!("{head}  partition spec: {now} (was: {was})\n  files already written keep their spec\n"))?;
    Ok(())
}

fn unchanged(o: &Out, why: &str, dry_run: bool, schema: &Schema, spec: &PartitionSpec) -> CmdResult {
    if o.json {
        o.json(&json!({
            "operation": "alter",
            "dry_run": dry_run,
            "version": null,
            "changes": [],
            "schema_id": schema.schema_id,
            "schema": schema_json(schema),
            "partition_spec": spec_json(spec),
        }))?;
    } else {
        o.line(&format!("{why}: nothing {}", if dry_run { "would be committed" } else { "committed" }))?;
    }
    Ok(())
}

/// One difference between two schemas, by field id.
enum Diff {
    Add { field: NestedField, after: Option<String> },
    Rename { id: i32, from: String, to: String },
    Widen { id: i32, name: String, from: String, to: String },
    Optional { id: i32, name: String },
    Doc { id: i32, name: String, doc: Option<String> },
    Drop { id: i32, name: String },
}

impl Diff {
    fn text(&self) -> String {
        match self {
            Diff::Add { field, after } => {
                let req = if field.required { "required" } else { "optional" };
                let place = match after {
                    Some(a) => format!(", after {a}"),
                    None => ", first".to_string(),
                };
                let doc = field.doc.as_ref().map(|d| format!(", doc {d:?}")).unwrap_or_default();
                format!("add     {} {} (id {}, {req}{place}{doc})", field.name, type_name(&field.field_type), field.id)
            }
            Diff::Rename { id, from, to } => format!("rename  {from} -> {to} (id {id})"),
            Diff::Widen { id, name, from, to } => format!("widen   {name} {from} -> {to} (id {id})"),
            Diff::Optional { id, name } => format!("optional {name} (id {id})"),
            Diff::Doc { id, name, doc } => format!("doc     {name}: {doc:?} (id {id})"),
            Diff::Drop { id, name } => format!("drop    {name} (id {id})"),
        }
    }

    fn json(&self) -> Value {
        match self {
            Diff::Add { field, after } => json!({
                "change": "add", "id": field.id, "name": field.name, "type": type_name(&field.field_type),
                "required": field.required, "after": after, "doc": field.doc,
            }),
            Diff::Rename { id, from, to } => json!({"change": "rename", "id": id, "from": from, "to": to}),
            Diff::Widen { id, name, from, to } => {
                json!({"change": "widen", "id": id, "name": name, "from": from, "to": to})
            }
            Diff::Optional { id, name } => json!({"change": "optional", "id": id, "name": name}),
            Diff::Doc { id, name, doc } => json!({"change": "doc", "id": id, "name": name, "doc": doc}),
            Diff::Drop { id, name } => json!({"change": "drop", "id": id, "name": name}),
        }
    }
}

/// The top-level differences from `before` to `after`, by field id: in `after`'s order,
/// then the dropped columns in `before`'s.
fn schema_diff(before: &Schema, after: &Schema) -> Vec<Diff> {
    let mut out = Vec::new();
    let old = |id: i32| before.fields().iter().find(|f| f.id == id);
    for (i, f) in after.fields().iter().enumerate() {
        let Some(was) = old(f.id) else {
            let prev = i.checked_sub(1).and_then(|j| after.fields().get(j)).map(|p| p.name.clone());
            out.push(Diff::Add { field: f.clone(), after: prev });
            continue;
        };
        if was.name != f.name {
            out.push(Diff::Rename { id: f.id, from: was.name.clone(), to: f.name.clone() });
        }
        if was.field_type != f.field_type {
            out.push(Diff::Widen {
                id: f.id,
                name: f.name.clone(),
                from: type_name(&was.field_type),
                to: type_name(&f.field_type),
            });
        }
        if was.required && !f.required {
            out.push(Diff::Optional { id: f.id, name: f.name.clone() });
        }
        if was.doc != f.doc {
            out.push(Diff::Doc { id: f.id, name: f.name.clone(), doc: f.doc.clone() });
        }
    }
    for f in before.fields() {
        if !after.fields().iter().any(|n| n.id == f.id) {
            out.push(Diff::Drop { id: f.id, name: f.name.clone() });
        }
    }
    out
}
