//! Iceberg schemas and types: the JSON form of the spec (Appendix C) and the mapping to
//! Arrow with `PARQUET:field_id` metadata.
//!
//! Promises: a [`Schema`] always has unique field ids (checked on construction and on
//! decode); `to_arrow` / `from_arrow` round-trip every primitive type; JSON round-trips
//! byte-for-byte modulo whitespace.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema as ArrowSchema, TimeUnit};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Arrow field-metadata key that carries the Iceberg field id into Parquet.
pub const PARQUET_FIELD_ID_KEY: &str = "PARQUET:field_id";

/// Iceberg primitive types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrimitiveType {
    /// `boolean`
    Boolean,
    /// `int` (32-bit)
    Int,
    /// `long` (64-bit)
    Long,
    /// `float` (32-bit IEEE 754)
    Float,
    /// `double` (64-bit IEEE 754)
    Double,
    /// `decimal(P,S)`
    Decimal {
        /// Precision, at most 38.
        precision: u32,
        /// Scale.
        scale: u32,
    },
    /// `date`: days since 1970-01-01.
    Date,
    /// `time`: microseconds since midnight.
    Time,
    /// `timestamp`: microseconds since the epoch, no zone.
    Timestamp,
    /// `timestamptz`: microseconds since the epoch, UTC.
    Timestamptz,
    /// `string` (UTF-8)
    String,
    /// `uuid` (16 bytes)
    Uuid,
    /// `fixed[L]`
    Fixed(u64),
    /// `binary`
    Binary,
}

impl fmt::Display for PrimitiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrimitiveType::Boolean => f.write_str("boolean"),
            PrimitiveType::Int => f.write_str("int"),
            PrimitiveType::Long => f.write_str("long"),
            PrimitiveType::Float => f.write_str("float"),
            PrimitiveType::Double => f.write_str("double"),
            PrimitiveType::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            PrimitiveType::Date => f.write_str("date"),
            PrimitiveType::Time => f.write_str("time"),
            PrimitiveType::Timestamp => f.write_str("timestamp"),
            PrimitiveType::Timestamptz => f.write_str("timestamptz"),
            PrimitiveType::String => f.write_str("string"),
            PrimitiveType::Uuid => f.write_str("uuid"),
            PrimitiveType::Fixed(len) => write!(f, "fixed[{len}]"),
            PrimitiveType::Binary => f.write_str("binary"),
        }
    }
}

impl std::str::FromStr for PrimitiveType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        Ok(match s {
            "boolean" => PrimitiveType::Boolean,
            "int" => PrimitiveType::Int,
            "long" => PrimitiveType::Long,
            "float" => PrimitiveType::Float,
            "double" => PrimitiveType::Double,
            "date" => PrimitiveType::Date,
            "time" => PrimitiveType::Time,
            "timestamp" => PrimitiveType::Timestamp,
            "timestamptz" => PrimitiveType::Timestamptz,
            "string" => PrimitiveType::String,
            "uuid" => PrimitiveType::Uuid,
            "binary" => PrimitiveType::Binary,
            other => {
                if let Some(inner) = other.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
                    let (p, sc) = inner.split_once(',').ok_or_else(|| format!("bad decimal type {other:?}"))?;
                    let precision: u32 = p.trim().parse().map_err(|_| format!("bad decimal precision in {other:?}"))?;
                    let scale: u32 = sc.trim().parse().map_err(|_| format!("bad decimal scale in {other:?}"))?;
                    if precision == 0 || precision > 38 || scale > precision {
                        return Err(format!("decimal({precision}, {scale}) is out of range"));
                    }
                    PrimitiveType::Decimal { precision, scale }
                } else if let Some(inner) = other.strip_prefix("fixed[").and_then(|r| r.strip_suffix(']')) {
                    let len: u64 = inner.trim().parse().map_err(|_| format!("bad fixed length in {other:?}"))?;
                    if len == 0 || len > i32::MAX as u64 {
                        return Err(format!("fixed[{len}] is out of range"));
                    }
                    PrimitiveType::Fixed(len)
                } else {
                    return Err(format!("unknown or unsupported type {other:?}"));
                }
            }
        })
    }
}

/// An Iceberg type: primitive or nested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// A primitive.
    Primitive(PrimitiveType),
    /// `struct<...>`
    Struct(StructType),
    /// `list<...>`
    List(ListType),
    /// `map<...>`
    Map(MapType),
}

/// A struct: ordered named fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructType {
    /// The fields, in order.
    pub fields: Vec<NestedField>,
}

/// A list with a field id for its element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListType {
    /// Element field id.
    pub element_id: i32,
    /// Whether elements may not be null.
    pub element_required: bool,
    /// Element type.
    pub element: Box<Type>,
}

/// A map with field ids for key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapType {
    /// Key field id.
    pub key_id: i32,
    /// Key type.
    pub key: Box<Type>,
    /// Value field id.
    pub value_id: i32,
    /// Whether values may not be null.
    pub value_required: bool,
    /// Value type.
    pub value: Box<Type>,
}

/// A named field with an Iceberg field id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedField {
    /// Field id, unique within the schema.
    pub id: i32,
    /// Column name.
    pub name: String,
    /// True when the field may not be null.
    pub required: bool,
    /// Its type.
    pub field_type: Type,
    /// Optional documentation.
    pub doc: Option<String>,
}

impl NestedField {
    /// A required (non-null) field.
    pub fn required(id: i32, name: impl Into<String>, ty: impl Into<Type>) -> Self {
        NestedField { id, name: name.into(), required: true, field_type: ty.into(), doc: None }
    }

    /// An optional (nullable) field.
    pub fn optional(id: i32, name: impl Into<String>, ty: impl Into<Type>) -> Self {
        NestedField { id, name: name.into(), required: false, field_type: ty.into(), doc: None }
    }

    /// Sets the doc string.
    pub fn with_doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = Some(doc.into());
        self
    }
}

impl From<PrimitiveType> for Type {
    fn from(p: PrimitiveType) -> Self {
        Type::Primitive(p)
    }
}

impl Type {
    /// The primitive type, if this is one.
    pub fn as_primitive(&self) -> Option<&PrimitiveType> {
        match self {
            Type::Primitive(p) => Some(p),
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Type::Primitive(p) => Value::String(p.to_string().replace(", ", ",")),
            Type::Struct(s) => {
                json!({"type": "struct", "fields": s.fields.iter().map(NestedField::to_json).collect::<Vec<_>>()})
            }
            Type::List(l) => json!({
                "type": "list",
                "element-id": l.element_id,
                "element-required": l.element_required,
                "element": l.element.to_json(),
            }),
            Type::Map(m) => json!({
                "type": "map",
                "key-id": m.key_id,
                "key": m.key.to_json(),
                "value-id": m.value_id,
                "value-required": m.value_required,
                "value": m.value.to_json(),
            }),
        }
    }

    fn from_json(v: &Value) -> Result<Type, String> {
        match v {
            Value::String(s) => s.parse::<PrimitiveType>().map(Type::Primitive),
            Value::Object(o) => {
                let kind = o.get("type").and_then(Value::as_str).ok_or("nested type without \"type\"")?;
                match kind {
                    "struct" => {
                        let fields = o.get("fields").and_then(Value::as_array).ok_or("struct without fields")?;
                        let fields = fields.iter().map(NestedField::from_json).collect::<Result<Vec<_>, _>>()?;
                        Ok(Type::Struct(StructType { fields }))
                    }
                    "list" => Ok(Type::List(ListType {
                        element_id: get_i32(o, "element-id")?,
                        element_required: get_bool(o, "element-required")?,
                        element: Box::new(Type::from_json(o.get("element").ok_or("list without element")?)?),
                    })),
                    "map" => Ok(Type::Map(MapType {
                        key_id: get_i32(o, "key-id")?,
                        key: Box::new(Type::from_json(o.get("key").ok_or("map without key")?)?),
                        value_id: get_i32(o, "value-id")?,
                        value_required: get_bool(o, "value-required")?,
                        value: Box::new(Type::from_json(o.get("value").ok_or("map without value")?)?),
                    })),
                    other => Err(format!("unknown nested type {other:?}")),
                }
            }
            other => Err(format!("a type must be a string or an object, found {other}")),
        }
    }
}

fn get_i32(o: &Map<String, Value>, key: &str) -> Result<i32, String> {
    o.get(key)
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| format!("missing or invalid {key:?}"))
}

fn get_bool(o: &Map<String, Value>, key: &str) -> Result<bool, String> {
    o.get(key).and_then(Value::as_bool).ok_or_else(|| format!("missing or invalid {key:?}"))
}

impl NestedField {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("required".into(), json!(self.required));
        m.insert("type".into(), self.field_type.to_json());
        if let Some(doc) = &self.doc {
            m.insert("doc".into(), json!(doc));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Result<NestedField, String> {
        let o = v.as_object().ok_or("a field must be an object")?;
        Ok(NestedField {
            id: get_i32(o, "id")?,
            name: o.get("name").and_then(Value::as_str).ok_or("field without name")?.to_string(),
            required: get_bool(o, "required")?,
            field_type: Type::from_json(o.get("type").ok_or("field without type")?)?,
            doc: o.get("doc").and_then(Value::as_str).map(str::to_string),
        })
    }
}

/// A table schema: a struct with a schema id and optional identifier fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// Schema id inside the table metadata.
    pub schema_id: i32,
    /// Field ids that identify a row (informational).
    pub identifier_field_ids: Vec<i32>,
    fields: Vec<NestedField>,
}

impl Schema {
    /// Builds a schema from top-level fields; field ids must be unique and positive.
    pub fn new(fields: Vec<NestedField>) -> Result<Schema> {
        let s = Schema { schema_id: 0, identifier_field_ids: Vec::new(), fields };
        s.validate().map_err(Error::InvalidArgument)?;
        Ok(s)
    }

    /// Starts a builder that assigns field ids in order (1, 2, 3 …).
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// The top-level fields.
    pub fn fields(&self) -> &[NestedField] {
        &self.fields
    }

    /// A top-level field by name.
    pub fn field_by_name(&self, name: &str) -> Option<&NestedField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Any field (nested included) by id.
    pub fn field_by_id(&self, id: i32) -> Option<&NestedField> {
        fn walk(fields: &[NestedField], id: i32) -> Option<&NestedField> {
            for f in fields {
                if f.id == id {
                    return Some(f);
                }
                if let Some(found) = walk_type(&f.field_type, id) {
                    return Some(found);
                }
            }
            None
        }
        fn walk_type(t: &Type, id: i32) -> Option<&NestedField> {
            match t {
                Type::Struct(s) => walk(&s.fields, id),
                Type::List(l) => walk_type(&l.element, id),
                Type::Map(m) => walk_type(&m.key, id).or_else(|| walk_type(&m.value, id)),
                Type::Primitive(_) => None,
            }
        }
        walk(&self.fields, id)
    }

    /// The highest field id used anywhere in the schema (0 for an empty schema).
    pub(crate) fn highest_field_id(&self) -> i32 {
        let mut ids = Vec::new();
        collect_ids(&self.fields, &mut ids);
        ids.into_iter().max().unwrap_or(0)
    }

    /// Every field id, nested ones included, in depth-first order.
    pub fn all_field_ids(&self) -> Vec<i32> {
        let mut ids = Vec::new();
        collect_ids(&self.fields, &mut ids);
        ids
    }

    fn validate(&self) -> Result<(), String> {
        let ids = self.all_field_ids();
        let mut seen = HashSet::new();
        for id in ids {
            if id <= 0 {
                return Err(format!("field id {id} must be positive"));
            }
            if !seen.insert(id) {
                return Err(format!("field id {id} is used twice"));
            }
        }
        let mut names = HashSet::new();
        for f in &self.fields {
            if f.name.is_empty() {
                return Err("a field name is empty".into());
            }
            if !names.insert(f.name.as_str()) {
                return Err(format!("field name {:?} is used twice", f.name));
            }
        }
        Ok(())
    }

    /// The JSON object of the spec (`{"type":"struct","schema-id":..,"fields":[..]}`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!("struct"));
        m.insert("schema-id".into(), json!(self.schema_id));
        if !self.identifier_field_ids.is_empty() {
            m.insert("identifier-field-ids".into(), json!(self.identifier_field_ids));
        }
        m.insert("fields".into(), Value::Array(self.fields.iter().map(NestedField::to_json).collect()));
        Value::Object(m)
    }

    /// The text of [`to_json`](Self::to_json), from a small process-wide cache: every
    /// data file and every manifest records its schema, and a single-row append writes
    /// one of each (building the JSON value and its text twice was ~2.5 % of such an
    /// append's CPU, perf). An entry is used only for an equal schema, so it cannot go
    /// stale.
    pub(crate) fn json_text(&self) -> Arc<str> {
        /// Schemas the cache holds (a process writes to a few tables, each with one
        /// current schema; the oldest entry goes first).
        const ENTRIES: usize = 8;
        type Cache = std::sync::Mutex<Vec<(Schema, Arc<str>)>>;
        static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some((_, text)) = crate::sync::lock(cache).iter().find(|(s, _)| s == self) {
            return text.clone();
        }
        let text: Arc<str> = self.to_json().to_string().into();
        let mut cache = crate::sync::lock(cache);
        if cache.len() >= ENTRIES {
            cache.remove(0);
        }
        cache.push((self.clone(), text.clone()));
        text
    }

    /// Parses the spec's JSON object.
    pub fn from_json(v: &Value) -> Result<Schema, String> {
        let o = v.as_object().ok_or("a schema must be an object")?;
        let fields = o.get("fields").and_then(Value::as_array).ok_or("schema without fields")?;
        let fields = fields.iter().map(NestedField::from_json).collect::<Result<Vec<_>, _>>()?;
        let schema_id = match o.get("schema-id") {
            None => 0,
            Some(_) => get_i32(o, "schema-id")?,
        };
        let identifier_field_ids = match o.get("identifier-field-ids").and_then(Value::as_array) {
            None => Vec::new(),
            Some(a) => a
                .iter()
                .map(|v| v.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or("bad identifier-field-ids"))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let s = Schema { schema_id, identifier_field_ids, fields };
        s.validate()?;
        Ok(s)
    }

    /// The Arrow schema floe writes and reads: Iceberg field ids in `PARQUET:field_id`.
    pub fn to_arrow(&self) -> ArrowSchema {
        ArrowSchema::new(self.fields.iter().map(field_to_arrow).collect::<Vec<_>>())
    }

    /// Builds a schema from Arrow, assigning fresh field ids 1, 2, 3 … depth-first
    /// (ids in the Arrow metadata are ignored: a new table gets a clean numbering).
    pub fn from_arrow(arrow: &ArrowSchema) -> Result<Schema> {
        let mut next = 1;
        let mut fields = Vec::with_capacity(arrow.fields().len());
        // Top-level ids first, as Iceberg's reassignment does, so columns are 1..n.
        next += arrow.fields().len() as i32;
        for (i, f) in arrow.fields().iter().enumerate() {
            fields.push(NestedField {
                id: i as i32 + 1,
                name: f.name().clone(),
                required: !f.is_nullable(),
                field_type: arrow_to_type(f.data_type(), f.name(), &mut next)?,
                doc: None,
            });
        }
        Schema::new(fields)
    }

    /// The `schema.name-mapping.default` JSON for this schema (maps column names to ids,
    /// so readers that find Parquet files without ids still resolve them).
    pub(crate) fn name_mapping_json(&self) -> String {
        fn map_fields(fields: &[NestedField]) -> Vec<Value> {
            fields
                .iter()
                .map(|f| {
                    let mut m = Map::new();
                    m.insert("field-id".into(), json!(f.id));
                    m.insert("names".into(), json!([f.name]));
                    let nested = map_type(&f.field_type);
                    if !nested.is_empty() {
                        m.insert("fields".into(), Value::Array(nested));
                    }
                    Value::Object(m)
                })
                .collect()
        }
        fn map_type(t: &Type) -> Vec<Value> {
            match t {
                Type::Primitive(_) => Vec::new(),
                Type::Struct(s) => map_fields(&s.fields),
                Type::List(l) => vec![nested_entry(l.element_id, "element", &l.element)],
                Type::Map(m) => {
                    vec![nested_entry(m.key_id, "key", &m.key), nested_entry(m.value_id, "value", &m.value)]
                }
            }
        }
        fn nested_entry(id: i32, name: &str, t: &Type) -> Value {
            let mut m = Map::new();
            m.insert("field-id".into(), json!(id));
            m.insert("names".into(), json!([name]));
            let nested = map_type(t);
            if !nested.is_empty() {
                m.insert("fields".into(), Value::Array(nested));
            }
            Value::Object(m)
        }
        Value::Array(map_fields(&self.fields)).to_string()
    }

    /// True when files written with `other` can be read as this schema without loss:
    /// every field of `other` that is required here exists there with the same type
    /// or one the spec promotes to it (`int`→`long`, `float`→`double`, decimal
    /// precision widening).
    pub(crate) fn accepts_files_of(&self, other: &Schema) -> bool {
        self.fields.iter().all(|f| match other.field_by_id(f.id) {
            Some(o) => o.field_type == f.field_type || !f.required || promotes(&o.field_type, &f.field_type),
            None => !f.required,
        })
    }
}

fn promotes(from: &Type, to: &Type) -> bool {
    match (from.as_primitive(), to.as_primitive()) {
        (Some(a), Some(b)) => a.can_promote_to(b),
        _ => false,
    }
}

impl PrimitiveType {
    /// The Arrow type floe reads and writes this type as (`timestamptz` is a UTC
    /// microsecond timestamp, `uuid` a 16-byte fixed-size binary, …).
    pub fn to_arrow(&self) -> DataType {
        primitive_to_arrow(self)
    }

    /// True when a column of this type may become `to` (the v2 type promotions:
    /// `int`→`long`, `float`→`double`, `decimal(P,S)`→`decimal(P',S)` with `P' >= P`;
    /// and any type to itself). Readers cast old files' values.
    pub fn can_promote_to(&self, to: &PrimitiveType) -> bool {
        use PrimitiveType as P;
        match (self, to) {
            (P::Int, P::Long) | (P::Float, P::Double) => true,
            (P::Decimal { precision: p1, scale: s1 }, P::Decimal { precision: p2, scale: s2 }) => s1 == s2 && p2 >= p1,
            (a, b) => a == b,
        }
    }
}

fn collect_ids(fields: &[NestedField], out: &mut Vec<i32>) {
    for f in fields {
        out.push(f.id);
        collect_type_ids(&f.field_type, out);
    }
}

fn collect_type_ids(t: &Type, out: &mut Vec<i32>) {
    match t {
        Type::Primitive(_) => {}
        Type::Struct(s) => collect_ids(&s.fields, out),
        Type::List(l) => {
            out.push(l.element_id);
            collect_type_ids(&l.element, out);
        }
        Type::Map(m) => {
            out.push(m.key_id);
            collect_type_ids(&m.key, out);
            out.push(m.value_id);
            collect_type_ids(&m.value, out);
        }
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Schema::from_json(&v).map_err(D::Error::custom)
    }
}

/// Builds a schema, assigning field ids in order.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    fields: Vec<NestedField>,
}

impl SchemaBuilder {
    /// Adds a required primitive column.
    pub fn required(mut self, name: impl Into<String>, ty: PrimitiveType) -> Self {
        let id = self.fields.len() as i32 + 1;
        self.fields.push(NestedField::required(id, name, ty));
        self
    }

    /// Adds an optional primitive column.
    pub fn optional(mut self, name: impl Into<String>, ty: PrimitiveType) -> Self {
        let id = self.fields.len() as i32 + 1;
        self.fields.push(NestedField::optional(id, name, ty));
        self
    }

    /// Finishes the schema.
    pub fn build(self) -> Result<Schema> {
        Schema::new(self.fields)
    }
}

/// The Arrow timezone floe writes for `timestamptz` (what pyiceberg writes).
pub const UTC_TZ: &str = "UTC";

fn field_to_arrow(f: &NestedField) -> Field {
    let dt = type_to_arrow(&f.field_type);
    with_id(Field::new(&f.name, dt, !f.required), f.id)
}

fn with_id(field: Field, id: i32) -> Field {
    field.with_metadata(HashMap::from([(PARQUET_FIELD_ID_KEY.to_string(), id.to_string())]))
}

/// The Arrow type floe uses for an Iceberg type.
pub fn type_to_arrow(t: &Type) -> DataType {
    match t {
        Type::Primitive(p) => primitive_to_arrow(p),
        Type::Struct(s) => DataType::Struct(Fields::from(s.fields.iter().map(field_to_arrow).collect::<Vec<_>>())),
        Type::List(l) => DataType::List(Arc::new(with_id(
            Field::new("element", type_to_arrow(&l.element), !l.element_required),
            l.element_id,
        ))),
        Type::Map(m) => {
            let entries = Field::new(
                "key_value",
                DataType::Struct(Fields::from(vec![
                    with_id(Field::new("key", type_to_arrow(&m.key), false), m.key_id),
                    with_id(Field::new("value", type_to_arrow(&m.value), !m.value_required), m.value_id),
                ])),
                false,
            );
            DataType::Map(Arc::new(entries), false)
        }
    }
}

/// The Arrow type floe uses for an Iceberg primitive.
pub fn primitive_to_arrow(p: &PrimitiveType) -> DataType {
    match p {
        PrimitiveType::Boolean => DataType::Boolean,
        PrimitiveType::Int => DataType::Int32,
        PrimitiveType::Long => DataType::Int64,
        PrimitiveType::Float => DataType::Float32,
        PrimitiveType::Double => DataType::Float64,
        PrimitiveType::Decimal { precision, scale } => DataType::Decimal128(*precision as u8, *scale as i8),
        PrimitiveType::Date => DataType::Date32,
        PrimitiveType::Time => DataType::Time64(TimeUnit::Microsecond),
        PrimitiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PrimitiveType::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_TZ.into())),
        PrimitiveType::String => DataType::Utf8,
        PrimitiveType::Uuid => DataType::FixedSizeBinary(16),
        PrimitiveType::Fixed(len) => DataType::FixedSizeBinary(*len as i32),
        PrimitiveType::Binary => DataType::Binary,
    }
}

fn arrow_to_type(dt: &DataType, name: &str, next_id: &mut i32) -> Result<Type> {
    let unsupported = || Error::SchemaMismatch {
        field: name.to_string(),
        reason: format!("Arrow type {dt} has no Iceberg equivalent"),
    };
    let p = match dt {
        DataType::Boolean => PrimitiveType::Boolean,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => PrimitiveType::Int,
        DataType::Int64 | DataType::UInt32 => PrimitiveType::Long,
        DataType::Float16 | DataType::Float32 => PrimitiveType::Float,
        DataType::Float64 => PrimitiveType::Double,
        DataType::Decimal128(p, s) if *s >= 0 && *p <= 38 => {
            PrimitiveType::Decimal { precision: *p as u32, scale: *s as u32 }
        }
        DataType::Date32 | DataType::Date64 => PrimitiveType::Date,
        DataType::Time32(_) | DataType::Time64(_) => PrimitiveType::Time,
        DataType::Timestamp(_, None) => PrimitiveType::Timestamp,
        DataType::Timestamp(_, Some(_)) => PrimitiveType::Timestamptz,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PrimitiveType::String,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => PrimitiveType::Binary,
        DataType::FixedSizeBinary(16) if name.to_ascii_lowercase().contains("uuid") => PrimitiveType::Uuid,
        DataType::FixedSizeBinary(len) if *len > 0 => PrimitiveType::Fixed(*len as u64),
        DataType::Struct(children) => {
            let base = *next_id;
            *next_id += children.len() as i32;
            let mut fields = Vec::with_capacity(children.len());
            for (i, c) in children.iter().enumerate() {
                fields.push(NestedField {
                    id: base + i as i32,
                    name: c.name().clone(),
                    required: !c.is_nullable(),
                    field_type: arrow_to_type(c.data_type(), c.name(), next_id)?,
                    doc: None,
                });
            }
            return Ok(Type::Struct(StructType { fields }));
        }
        DataType::List(el) | DataType::LargeList(el) => {
            let element_id = *next_id;
            *next_id += 1;
            return Ok(Type::List(ListType {
                element_id,
                element_required: !el.is_nullable(),
                element: Box::new(arrow_to_type(el.data_type(), name, next_id)?),
            }));
        }
        DataType::Map(entries, _) => {
            let DataType::Struct(kv) = entries.data_type() else { return Err(unsupported()) };
            if kv.len() != 2 {
                return Err(unsupported());
            }
            let key_id = *next_id;
            let value_id = *next_id + 1;
            *next_id += 2;
            return Ok(Type::Map(MapType {
                key_id,
                key: Box::new(arrow_to_type(kv[0].data_type(), name, next_id)?),
                value_id,
                value_required: !kv[1].is_nullable(),
                value: Box::new(arrow_to_type(kv[1].data_type(), name, next_id)?),
            }));
        }
        _ => return Err(unsupported()),
    };
    Ok(Type::Primitive(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_primitives() -> Vec<PrimitiveType> {
        vec![
            PrimitiveType::Boolean,
            PrimitiveType::Int,
            PrimitiveType::Long,
            PrimitiveType::Float,
            PrimitiveType::Double,
            PrimitiveType::Decimal { precision: 10, scale: 2 },
            PrimitiveType::Date,
            PrimitiveType::Time,
            PrimitiveType::Timestamp,
            PrimitiveType::Timestamptz,
            PrimitiveType::String,
            PrimitiveType::Uuid,
            PrimitiveType::Fixed(7),
            PrimitiveType::Binary,
        ]
    }

    #[test]
    fn primitive_strings_round_trip() {
        for p in all_primitives() {
            let s = p.to_string();
            assert_eq!(s.parse::<PrimitiveType>().unwrap(), p, "{s}");
        }
        assert!("decimal(39,1)".parse::<PrimitiveType>().is_err());
        assert!("fixed[0]".parse::<PrimitiveType>().is_err());
        assert!("varchar".parse::<PrimitiveType>().is_err());
    }

    #[test]
    fn schema_json_round_trip_with_nested() {
        let mut fields: Vec<NestedField> = all_primitives()
            .into_iter()
            .enumerate()
            .map(|(i, p)| NestedField::optional(i as i32 + 1, format!("c{i}"), p))
            .collect();
        fields.push(NestedField::required(
            100,
            "s",
            Type::Struct(StructType { fields: vec![NestedField::optional(101, "x", PrimitiveType::Int)] }),
        ));
        fields.push(NestedField::optional(
            102,
            "l",
            Type::List(ListType {
                element_id: 103,
                element_required: true,
                element: Box::new(PrimitiveType::Long.into()),
            }),
        ));
        fields.push(NestedField::optional(
            104,
            "m",
            Type::Map(MapType {
                key_id: 105,
                key: Box::new(PrimitiveType::String.into()),
                value_id: 106,
                value_required: false,
                value: Box::new(PrimitiveType::Double.into()),
            }),
        ));
        let schema = Schema::new(fields).unwrap();
        let json = serde_json::to_string(&schema).unwrap();
        let back: Schema = serde_json::from_str(&json).unwrap();
        assert_eq!(back, schema);
        assert_eq!(schema.highest_field_id(), 106);
        // Arrow carries the ids.
        let arrow = schema.to_arrow();
        assert_eq!(arrow.field(0).metadata().get(PARQUET_FIELD_ID_KEY).unwrap(), "1");
    }

    #[test]
    fn json_text_is_the_json_of_the_schema_asked_about() {
        let a = Schema::new(vec![NestedField::required(1, "id", PrimitiveType::Long)]).unwrap();
        assert_eq!(&*a.json_text(), a.to_json().to_string());
        // Equal but for the id, or one field more: never the cached text of another.
        let mut b = a.clone();
        b.schema_id = 7;
        let c = Schema::new(vec![
            NestedField::required(1, "id", PrimitiveType::Long),
            NestedField::optional(2, "name", PrimitiveType::String),
        ])
        .unwrap();
        for s in [&a, &b, &c, &a] {
            assert_eq!(&*s.json_text(), s.to_json().to_string());
        }
        assert!(b.json_text().contains(r#""schema-id":7"#));
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let err = Schema::new(vec![
            NestedField::required(1, "a", PrimitiveType::Int),
            NestedField::required(1, "b", PrimitiveType::Int),
        ])
        .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }

    #[test]
    fn from_arrow_assigns_ids() {
        let arrow = ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let s = Schema::from_arrow(&arrow).unwrap();
        assert_eq!(s.fields()[0].id, 1);
        assert!(s.fields()[0].required);
        assert_eq!(s.fields()[1].id, 2);
        assert_eq!(s.fields()[2].id, 3);
        match &s.fields()[1].field_type {
            Type::List(l) => assert_eq!(l.element_id, 4),
            other => panic!("{other:?}"),
        }
        assert!(Schema::from_arrow(&ArrowSchema::new(vec![Field::new("x", DataType::Null, true)])).is_err());
    }
}
