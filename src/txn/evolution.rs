//! Schema and partition-spec evolution, committed through the transaction's commit
//! loop as metadata updates.
//!
//! Owns [`SchemaUpdate`] (`table.update_schema()`), [`SpecUpdate`]
//! (`table.update_spec()`), [`SchemaMode`] and the rules that decide which changes are
//! legal in format v2:
//!
//! - columns are identified by field id, never by name or position: a rename or a
//!   reorder changes no data file, a dropped column's values stay in old files and are
//!   no longer read, an added column reads as null from files written before it;
//! - only **optional** columns can be added: a required column would need an
//!   `initial-default` for the rows already written, which is a format-v3 feature
//!   (adding a required column is [`Error::InvalidArgument`]);
//! - types only widen the ways the spec allows: `int`→`long`, `float`→`double`,
//!   `decimal(P,S)`→`decimal(P',S)` with `P' > P`;
//! - a column used by any partition spec (old specs included) or named in the
//!   identifier fields cannot be dropped;
//! - a partition-spec change creates a new spec with a new id and makes it the
//!   default; files written with an older spec keep its id in their manifests and
//!   read as before.
//!
//! Promises: every change is checked against the table's current metadata before
//! anything is written (bad input is a typed error, nothing changes on disk), and
//! applied again to the newest metadata on every commit attempt. A schema or spec
//! change conflicts (docs/conflicts.md) with any commit that landed after it began other
//! than snapshot expiry: it fails with [`Error::ConcurrentModification`] rather than
//! be applied to a table it did not see.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;
use serde_json::Value;

use crate::data::partition::default_name;
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::spec::metadata::{PartitionField, PartitionSpec, TableMetadata};
use crate::spec::transform::Transform;
use crate::spec::types::{NestedField, PrimitiveType, Schema, Type};
use crate::table::{Table, properties};
use crate::txn::conflict::ConflictContext;
use crate::txn::{CommitReport, Transaction};

/// How an append treats batch columns the table schema does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaMode {
    /// A column the schema lacks is [`Error::SchemaMismatch`] (the default).
    #[default]
    Strict,
    /// Columns the schema lacks are added as optional columns in the same commit
    /// (types taken from Arrow as [`Schema::from_arrow`] maps them). Every other
    /// check of `crate::data::write::conform_batch` still applies.
    Merge,
}

#[derive(Debug, Clone)]
enum Change {
    Add { name: String, ty: Type, required: bool, doc: Option<String> },
    Drop(String),
    Rename(String, String),
    Widen(String, PrimitiveType),
    MakeOptional(String),
    Doc(String, String),
    MoveFirst(String),
    MoveBefore(String, String),
    MoveAfter(String, String),
}

/// A set of schema changes, applied in order and committed at once.
///
/// ```no_run
/// # fn main() -> floe::Result<()> {
/// use floe::PrimitiveType;
/// let table = floe::Table::open("./events")?;
/// table
///     .update_schema()
///     .add_column("country", PrimitiveType::String)
///     .rename_column("value", "amount")
///     .widen_column("count", PrimitiveType::Long)
///     .move_first("country")
///     .commit()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "nothing changes until commit()"]
pub struct SchemaUpdate {
    table: Table,
    changes: Vec<Change>,
}

impl Table {
    /// Starts a schema change (see [`SchemaUpdate`]).
    pub fn update_schema(&self) -> SchemaUpdate {
        SchemaUpdate { table: self.clone(), changes: Vec::new() }
    }

    /// Starts a partition-spec change (see [`SpecUpdate`]).
    pub fn update_spec(&self) -> SpecUpdate {
        SpecUpdate { table: self.clone(), adds: Vec::new(), removes: Vec::new() }
    }

    /// Appends batches in one commit; with [`SchemaMode::Merge`] columns the schema
    /// lacks are added to it (as optional columns) in that same commit.
    pub fn append_with_mode(&self, batches: &[RecordBatch], mode: SchemaMode) -> Result<CommitReport> {
        let mut tx = self.new_transaction();
        tx.set_schema_mode(mode);
        for b in batches {
            tx.append(b)?;
        }
        tx.commit()
    }
}

impl SchemaUpdate {
    /// Adds an optional column at the end.
    pub fn add_column(mut self, name: impl Into<String>, ty: PrimitiveType) -> Self {
        self.changes.push(Change::Add { name: name.into(), ty: ty.into(), required: false, doc: None });
        self
    }

    /// Adds an optional column of any type (struct, list, map included; nested field
    /// ids are assigned fresh, whatever `ty` says).
    pub fn add_column_of_type(mut self, name: impl Into<String>, ty: Type, doc: Option<String>) -> Self {
        self.changes.push(Change::Add { name: name.into(), ty, required: false, doc });
        self
    }

    /// Asks for a required column. Format v2 has no `initial-default` for the rows
    /// already written, so [`SchemaUpdate::commit`] refuses it with
    /// [`Error::InvalidArgument`]; add it optional instead.
    pub fn add_required_column(mut self, name: impl Into<String>, ty: PrimitiveType) -> Self {
        self.changes.push(Change::Add { name: name.into(), ty: ty.into(), required: true, doc: None });
        self
    }

    /// Drops a top-level column (its values stay in old files, unread).
    pub fn drop_column(mut self, name: impl Into<String>) -> Self {
        self.changes.push(Change::Drop(name.into()));
        self
    }

    /// Renames a top-level column (data files are untouched: columns are found by id).
    pub fn rename_column(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.changes.push(Change::Rename(from.into(), to.into()));
        self
    }

    /// Widens a column's type: `int`→`long`, `float`→`double`, or a decimal to a
    /// larger precision with the same scale.
    pub fn widen_column(mut self, name: impl Into<String>, to: PrimitiveType) -> Self {
        self.changes.push(Change::Widen(name.into(), to));
        self
    }

    /// Makes a required column optional.
    pub fn make_optional(mut self, name: impl Into<String>) -> Self {
        self.changes.push(Change::MakeOptional(name.into()));
        self
    }

    /// Sets a column's doc string.
    pub fn set_doc(mut self, name: impl Into<String>, doc: impl Into<String>) -> Self {
        self.changes.push(Change::Doc(name.into(), doc.into()));
        self
    }

    /// Moves a column to the front.
    pub fn move_first(mut self, name: impl Into<String>) -> Self {
        self.changes.push(Change::MoveFirst(name.into()));
        self
    }

    /// Moves a column just before another.
    pub fn move_before(mut self, name: impl Into<String>, other: impl Into<String>) -> Self {
        self.changes.push(Change::MoveBefore(name.into(), other.into()));
        self
    }

    /// Moves a column just after another.
    pub fn move_after(mut self, name: impl Into<String>, other: impl Into<String>) -> Self {
        self.changes.push(Change::MoveAfter(name.into(), other.into()));
        self
    }

    /// The schema the changes give when applied to the table's current metadata
    /// (as this handle last saw it), without committing.
    pub fn preview(&self) -> Result<Schema> {
        Ok(apply_schema_changes(&self.table.metadata(), &self.changes)?.0)
    }

    /// Refreshes the handle, checks the changes against the newest metadata and
    /// commits them as one new version (no new snapshot). Fails with
    /// [`Error::ConcurrentModification`] if another commit (other than snapshot
    /// expiry) lands first.
    pub fn commit(self) -> Result<CommitReport> {
        self.table.refresh()?;
        self.into_transaction()?.commit()
    }

    /// The change as a transaction pinned to the handle's current version (no
    /// refresh), checked against it, to commit later or together with other staged
    /// work. Its commit conflicts with anything but snapshot expiry that lands first.
    pub fn into_transaction(self) -> Result<Transaction> {
        apply_schema_changes(&self.table.metadata(), &self.changes)?;
        let mut tx = self.table.new_transaction();
        let changes = self.changes;
        tx.update_metadata(move |md| {
            let (schema, last_column_id) = apply_schema_changes(md, &changes)?;
            install_schema(md, schema, last_column_id);
            Ok(())
        });
        tx.add_validator(metadata_change_conflicts);
        Ok(tx)
    }
}

/// A partition-spec change: fields added and removed, committed as a new spec.
///
/// ```no_run
/// # fn main() -> floe::Result<()> {
/// use floe::Transform;
/// let table = floe::Table::open("./events")?;
/// table.update_spec().add_field("ts", Transform::Day).remove_field("id_bucket").commit()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "nothing changes until commit()"]
pub struct SpecUpdate {
    table: Table,
    adds: Vec<(String, Transform, Option<String>)>,
    removes: Vec<String>,
}

impl SpecUpdate {
    /// Adds `transform(column)` with the default partition field name.
    pub fn add_field(mut self, column: impl Into<String>, transform: Transform) -> Self {
        self.adds.push((column.into(), transform, None));
        self
    }

    /// Adds `transform(column)` named `name`.
    pub fn add_field_named(mut self, column: impl Into<String>, transform: Transform, name: impl Into<String>) -> Self {
        self.adds.push((column.into(), transform, Some(name.into())));
        self
    }

    /// Removes the partition field named `name` from the default spec.
    pub fn remove_field(mut self, name: impl Into<String>) -> Self {
        self.removes.push(name.into());
        self
    }

    /// The spec the change gives on the table's current metadata, without committing.
    pub fn preview(&self) -> Result<PartitionSpec> {
        Ok(apply_spec_changes(&self.table.metadata(), &self.adds, &self.removes)?.0)
    }

    /// Refreshes, checks and commits the new spec as the default (one new version, no
    /// new snapshot). Conflicts like [`SchemaUpdate::commit`].
    pub fn commit(self) -> Result<CommitReport> {
        self.table.refresh()?;
        self.into_transaction()?.commit()
    }

    /// The change as a transaction pinned to the handle's current version (see
    /// [`SchemaUpdate::into_transaction`]).
    pub fn into_transaction(self) -> Result<Transaction> {
        apply_spec_changes(&self.table.metadata(), &self.adds, &self.removes)?;
        let mut tx = self.table.new_transaction();
        let (adds, removes) = (self.adds, self.removes);
        tx.update_metadata(move |md| {
            let (spec, last_partition_id) = apply_spec_changes(md, &adds, &removes)?;
            if !md.partition_specs.iter().any(|s| s.spec_id == spec.spec_id) {
                md.partition_specs.push(spec.clone());
            }
            md.default_spec_id = spec.spec_id;
            md.last_partition_id = md.last_partition_id.max(last_partition_id);
            Ok(())
        });
        tx.add_validator(metadata_change_conflicts);
        Ok(tx)
    }
}

/// docs/conflicts.md, the schema/spec row: conflict with every commit that landed after
/// the change began, except snapshot expiry (which adds no snapshot).
pub(crate) fn metadata_change_conflicts(ctx: &ConflictContext<'_>) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    if ctx.schema_changed() {
        out.push(ctx.schema_conflict());
    }
    if ctx.spec_changed() {
        out.push(ctx.spec_conflict());
    }
    for c in ctx.landed()? {
        out.push(ctx.conflict_with(c, ConflictKind::CommittedSinceBase { snapshot_id: Some(c.snapshot_id) }));
    }
    if ctx.history_rewritten()? {
        out.push(ctx.conflict(ConflictKind::HistoryRewritten));
    }
    Ok(out)
}

/// Conflicts of an append that also adds columns ([`SchemaMode::Merge`]): the schema
/// or spec changed under it. Concurrent appends and other data commits are fine:
/// their files lack only the new optional columns.
pub(crate) fn merge_append_conflicts(ctx: &ConflictContext<'_>) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    if ctx.schema_changed() {
        out.push(ctx.schema_conflict());
    }
    Ok(out)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

fn position(fields: &[NestedField], name: &str) -> Result<usize> {
    fields.iter().position(|f| f.name == name).ok_or_else(|| invalid(format!("no column named {name:?}")))
}

/// True when a column of type `from` may be changed to `to` (v2 promotions; see
/// [`PrimitiveType::can_promote_to`]).
pub fn can_widen(from: &PrimitiveType, to: &PrimitiveType) -> bool {
    from.can_promote_to(to)
}

/// Renumbers every field id in `ty` from `*next` on.
fn assign_ids(ty: &mut Type, next: &mut i32) {
    match ty {
        Type::Primitive(_) => {}
        Type::Struct(s) => {
            for f in &mut s.fields {
                f.id = *next;
                *next += 1;
            }
            for f in &mut s.fields {
                assign_ids(&mut f.field_type, next);
            }
        }
        Type::List(l) => {
            l.element_id = *next;
            *next += 1;
            assign_ids(&mut l.element, next);
        }
        Type::Map(m) => {
            m.key_id = *next;
            m.value_id = *next + 1;
            *next += 2;
            assign_ids(&mut m.key, next);
            assign_ids(&mut m.value, next);
        }
    }
}

fn subtree_ids(f: &NestedField) -> Vec<i32> {
    match Schema::new(vec![f.clone()]) {
        Ok(s) => s.all_field_ids(),
        Err(_) => vec![f.id],
    }
}

/// Applies schema changes to `md`'s current schema: the new schema (id assigned: an
/// identical existing schema's, else one past the largest) and the new
/// `last-column-id`.
fn apply_schema_changes(md: &TableMetadata, changes: &[Change]) -> Result<(Schema, i32)> {
    let current = md.current_schema();
    let mut fields: Vec<NestedField> = current.fields().to_vec();
    let mut next_id = md.last_column_id.max(current.highest_field_id()) + 1;
    let partition_sources: Vec<i32> =
        md.partition_specs.iter().flat_map(|s| s.fields.iter().map(|f| f.source_id)).collect();
    for change in changes {
        match change {
            Change::Add { name, ty, required, doc } => {
                if *required {
                    return Err(invalid(format!(
                        "cannot add required column {name:?}: format v2 has no initial-default for existing rows \
                         (a v3 feature); add it as an optional column"
                    )));
                }
                if name.is_empty() {
                    return Err(invalid("a column name is empty"));
                }
                if fields.iter().any(|f| &f.name == name) {
                    return Err(invalid(format!("column {name:?} already exists")));
                }
                let id = next_id;
                next_id += 1;
                let mut ty = ty.clone();
                assign_ids(&mut ty, &mut next_id);
                fields.push(NestedField { id, name: name.clone(), required: false, field_type: ty, doc: doc.clone() });
            }
            Change::Drop(name) => {
                let i = position(&fields, name)?;
                let ids = subtree_ids(&fields[i]);
                if ids.iter().any(|id| current.identifier_field_ids.contains(id)) {
                    return Err(invalid(format!("cannot drop {name:?}: it is an identifier field")));
                }
                if ids.iter().any(|id| partition_sources.contains(id)) {
                    return Err(invalid(format!(
                        "cannot drop {name:?}: a partition spec (current or older) is built on it"
                    )));
                }
                fields.remove(i);
            }
            Change::Rename(from, to) => {
                let i = position(&fields, from)?;
                if to.is_empty() {
                    return Err(invalid("a column name is empty"));
                }
                if fields.iter().any(|f| &f.name == to) && from != to {
                    return Err(invalid(format!("cannot rename {from:?} to {to:?}: that column exists")));
                }
                fields[i].name = to.clone();
            }
            Change::Widen(name, to) => {
                let i = position(&fields, name)?;
                let from = fields[i]
                    .field_type
                    .as_primitive()
                    .ok_or_else(|| invalid(format!("cannot change the type of nested column {name:?}")))?;
                if !can_widen(from, to) {
                    return Err(invalid(format!(
                        "cannot change {name:?} from {from} to {to}: v2 allows int->long, float->double and \
                         decimal(P,S)->decimal(P',S) with P' >= P"
                    )));
                }
                fields[i].field_type = Type::Primitive(to.clone());
            }
            Change::MakeOptional(name) => {
                let i = position(&fields, name)?;
                fields[i].required = false;
            }
            Change::Doc(name, doc) => {
                let i = position(&fields, name)?;
                fields[i].doc = Some(doc.clone());
            }
            Change::MoveFirst(name) => {
                let i = position(&fields, name)?;
                let f = fields.remove(i);
                fields.insert(0, f);
            }
            Change::MoveBefore(name, other) | Change::MoveAfter(name, other) => {
                if name == other {
                    return Err(invalid(format!("cannot move {name:?} relative to itself")));
                }
                let i = position(&fields, name)?;
                let f = fields.remove(i);
                let j = position(&fields, other)?;
                let at = if matches!(change, Change::MoveAfter(..)) { j + 1 } else { j };
                fields.insert(at, f);
            }
        }
    }
    if fields.is_empty() {
        return Err(invalid("a schema needs at least one column"));
    }
    let mut schema = Schema::new(fields)?;
    schema.identifier_field_ids = current.identifier_field_ids.clone();
    let same = |s: &Schema| s.fields() == schema.fields() && s.identifier_field_ids == schema.identifier_field_ids;
    schema.schema_id = match md.schemas.iter().find(|s| same(s)) {
        Some(s) => s.schema_id,
        None => md.schemas.iter().map(|s| s.schema_id).max().unwrap_or(0) + 1,
    };
    let last = md.last_column_id.max(schema.highest_field_id());
    Ok((schema, last))
}

/// Makes `schema` current in `md` (adding it unless a schema with its id exists) and
/// keeps the name mapping in step: every name a field id ever had stays mapped, so
/// files written without field ids under an old name still resolve.
pub(crate) fn install_schema(md: &mut TableMetadata, schema: Schema, last_column_id: i32) {
    let mapping = merged_name_mapping(md.properties.get(properties::NAME_MAPPING).map(String::as_str), &schema);
    md.properties.insert(properties::NAME_MAPPING.to_string(), mapping);
    md.last_column_id = md.last_column_id.max(last_column_id);
    md.current_schema_id = schema.schema_id;
    if !md.schemas.iter().any(|s| s.schema_id == schema.schema_id) {
        md.schemas.push(schema);
    }
}

/// The name mapping of `schema` with the names of `old` (an existing mapping's JSON)
/// added for the same field ids; entries of dropped fields are kept.
fn merged_name_mapping(old: Option<&str>, schema: &Schema) -> String {
    let fresh: Value = serde_json::from_str(&schema.name_mapping_json()).unwrap_or(Value::Array(Vec::new()));
    let old: Value = old.and_then(|o| serde_json::from_str(o).ok()).unwrap_or(Value::Array(Vec::new()));
    fn merge(fresh: &Value, old: &Value) -> Value {
        let (Some(fresh), Some(old)) = (fresh.as_array(), old.as_array()) else { return fresh.clone() };
        let id_of = |v: &Value| v.get("field-id").and_then(Value::as_i64);
        let old_by_id: HashMap<i64, &Value> = old.iter().filter_map(|v| Some((id_of(v)?, v))).collect();
        let mut out: Vec<Value> = Vec::with_capacity(fresh.len());
        for entry in fresh {
            let mut entry = entry.clone();
            if let Some(prev) = id_of(&entry).and_then(|id| old_by_id.get(&id)) {
                if let (Some(names), Some(prev_names)) =
                    (entry.get("names").and_then(Value::as_array).cloned(), prev.get("names").and_then(Value::as_array))
                {
                    let mut names = names;
                    for n in prev_names {
                        if !names.contains(n) {
                            names.push(n.clone());
                        }
                    }
                    entry["names"] = Value::Array(names);
                }
                if let (Some(f), Some(p)) = (entry.get("fields"), prev.get("fields")) {
                    let merged = merge(f, p);
                    entry["fields"] = merged;
                }
            }
            out.push(entry);
        }
        // Dropped fields keep their entries: old files may still carry those columns.
        let fresh_ids: Vec<i64> = fresh.iter().filter_map(id_of).collect();
        for v in old {
            if id_of(v).is_some_and(|id| !fresh_ids.contains(&id)) {
                out.push(v.clone());
            }
        }
        Value::Array(out)
    }
    merge(&fresh, &old).to_string()
}

/// The new default spec: the current one minus `removes` plus `adds` (field ids reuse
/// the id an earlier spec gave the same source and transform, else go past
/// `last-partition-id`), with the id of an identical existing spec or a new one; and
/// the new `last-partition-id`.
fn apply_spec_changes(
    md: &TableMetadata,
    adds: &[(String, Transform, Option<String>)],
    removes: &[String],
) -> Result<(PartitionSpec, i32)> {
    let schema = md.current_schema();
    let current = md.default_spec().cloned().unwrap_or_else(PartitionSpec::unpartitioned);
    let mut fields = current.fields.clone();
    for name in removes {
        let i = fields
            .iter()
            .position(|f| &f.name == name)
            .ok_or_else(|| invalid(format!("the default partition spec has no field {name:?}")))?;
        fields.remove(i);
    }
    let mut last = md.last_partition_id.max(999);
    for (column, transform, name) in adds {
        let source = schema
            .field_by_name(column)
            .ok_or_else(|| invalid(format!("no column named {column:?} to partition by")))?;
        let prim = source
            .field_type
            .as_primitive()
            .ok_or_else(|| invalid(format!("cannot partition by nested column {column:?}")))?;
        transform.result_type(prim)?;
        let t = transform.to_string();
        if fields.iter().any(|f| f.source_id == source.id && f.transform == t) {
            return Err(invalid(format!("the spec already has {t}({column})")));
        }
        let name = name.clone().unwrap_or_else(|| default_name(column, *transform));
        if name.is_empty() || fields.iter().any(|f| f.name == name) {
            return Err(invalid(format!("partition field name {name:?} is empty or taken")));
        }
        if let Some(other) = schema.field_by_name(&name)
            && !(other.id == source.id && *transform == Transform::Identity)
        {
            return Err(invalid(format!("partition field name {name:?} is another column's name")));
        }
        let reused = md
            .partition_specs
            .iter()
            .flat_map(|s| &s.fields)
            .find(|f| f.source_id == source.id && f.transform == t)
            .map(|f| f.field_id)
            .filter(|id| !fields.iter().any(|f| f.field_id == *id));
        let field_id = match reused {
            Some(id) => id,
            None => {
                last += 1;
                last
            }
        };
        fields.push(PartitionField { source_id: source.id, field_id, name, transform: t });
    }
    let spec_id = match md.partition_specs.iter().find(|s| s.fields == fields) {
        Some(s) => s.spec_id,
        None => md.partition_specs.iter().map(|s| s.spec_id).max().unwrap_or(0) + 1,
    };
    let spec = PartitionSpec { spec_id, fields };
    crate::data::partition::validate_spec(schema, &spec)?;
    Ok((spec, last))
}

/// For [`SchemaMode::Merge`]: the schema with the batch's unknown top-level columns
/// added as optional columns (ids past `last_column_id`), or `None` when the batch
/// has no new column. Names are matched exactly, as [`crate::data::write::conform_batch`]
/// matches them.
pub(crate) fn merged_schema(md: &TableMetadata, base: &Schema, batch: &ArrowSchema) -> Result<Option<Schema>> {
    let new: Vec<_> = batch.fields().iter().filter(|f| base.field_by_name(f.name()).is_none()).cloned().collect();
    if new.is_empty() {
        return Ok(None);
    }
    let typed = Schema::from_arrow(&ArrowSchema::new(new))?;
    let mut next = md.last_column_id.max(base.highest_field_id()) + 1;
    let mut fields = base.fields().to_vec();
    for f in typed.fields() {
        let id = next;
        next += 1;
        let mut ty = f.field_type.clone();
        assign_ids(&mut ty, &mut next);
        fields.push(NestedField { id, name: f.name.clone(), required: false, field_type: ty, doc: None });
    }
    let mut schema = Schema::new(fields)?;
    schema.identifier_field_ids = base.identifier_field_ids.clone();
    schema.schema_id = md.schemas.iter().map(|x| x.schema_id).max().unwrap_or(0) + 1;
    Ok(Some(schema))
}

/// For [`SchemaMode::Merge`]: the metadata update that installs `schema` (built on
/// the schema with id `base_schema_id`) as a new schema of the newest metadata.
pub(crate) fn merge_update(
    base_schema_id: i32,
    schema: Schema,
) -> impl FnMut(&mut TableMetadata) -> Result<()> + Send + 'static {
    move |md: &mut TableMetadata| {
        if md.current_schema_id != base_schema_id {
            // The validator reports this as a conflict before we get here.
            return Err(Error::InvalidArgument("the schema changed while columns were being merged".into()));
        }
        let mut s = schema.clone();
        if md.schemas.iter().any(|x| x.schema_id == s.schema_id) {
            s.schema_id = md.schemas.iter().map(|x| x.schema_id).max().unwrap_or(0) + 1;
        }
        let last = s.highest_field_id();
        install_schema(md, s, last);
        Ok(())
    }
}

/// Used by [`Transaction`] for [`SchemaMode::Merge`].
pub(crate) fn register_merge(tx: &mut Transaction, base_schema_id: i32, schema: Schema) {
    tx.update_metadata(merge_update(base_schema_id, schema));
    tx.add_validator(merge_append_conflicts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_rules() {
        use PrimitiveType as P;
        assert!(can_widen(&P::Int, &P::Long));
        assert!(can_widen(&P::Float, &P::Double));
        assert!(can_widen(&P::Decimal { precision: 9, scale: 2 }, &P::Decimal { precision: 18, scale: 2 }));
        assert!(!can_widen(&P::Decimal { precision: 9, scale: 2 }, &P::Decimal { precision: 18, scale: 3 }));
        assert!(!can_widen(&P::Decimal { precision: 9, scale: 2 }, &P::Decimal { precision: 8, scale: 2 }));
        assert!(!can_widen(&P::Long, &P::Int));
        assert!(!can_widen(&P::Int, &P::String));
        assert!(!can_widen(&P::Date, &P::Timestamp));
    }

    #[test]
    fn name_mapping_keeps_old_names_and_dropped_fields() {
        let old = r#"[{"field-id":1,"names":["id"]},{"field-id":2,"names":["name"]},{"field-id":3,"names":["gone"]}]"#;
        let schema = Schema::new(vec![
            NestedField::required(1, "id", PrimitiveType::Long),
            NestedField::optional(2, "label", PrimitiveType::String),
        ])
        .unwrap();
        let merged: Value = serde_json::from_str(&merged_name_mapping(Some(old), &schema)).unwrap();
        assert_eq!(
            merged,
            serde_json::json!([
                {"field-id":1,"names":["id"]},
                {"field-id":2,"names":["label","name"]},
                {"field-id":3,"names":["gone"]}
            ])
        );
    }
}
