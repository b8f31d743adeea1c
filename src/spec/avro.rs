//! Avro object container files (OCF) for the manifest codecs, written and read
//! through `apache-avro`, with checks of our own on the read side.
//!
//! Writing: the caller builds its writer schema in code as `apache-avro`'s schema model
//! (which keeps custom attributes on records' fields and on arrays, so `field-id`,
//! `element-id` and the `"logicalType": "map"` Iceberg readers need on the int-keyed
//! metric maps all survive: pyiceberg and polars fail without that annotation, DuckDB
//! aborts — docs/format.md §3), and [`ContainerWriter`] serializes each object against
//! it with `apache-avro`'s serde writer, into blocks `apache-avro` frames. Two parts are
//! assembled here: the header, whose metadata map `apache-avro` encodes but whose
//! schema text floe supplies, because the model has no attribute on `timestamp-micros`
//! and Iceberg marks timestamp vs timestamptz with `adjust-to-utc` there
//! ([`WriterSchema`]); and, for manifest lists, the block framing around objects
//! encoded once and written into many files ([`EncodedContainerWriter`]), which
//! `apache-avro`'s writer cannot take. Files are written with the `null` codec.
//!
//! Why the read side checks before `apache-avro` decodes: its `Reader` handles the
//! null, deflate and snappy codecs and the writer schema of any producer, but on a
//! damaged file it would zero-fill up to 512 MiB for a bogus block length, and a
//! hostile schema (recursive records, arrays of zero-byte items) can make it spin.
//! [`read_container`] therefore parses the header itself (also keeping the exact
//! writer schema JSON, which carries annotations such as `adjust-to-utc` that
//! `apache-avro`'s model drops), walks the block framing (sizes inside the file, sync
//! markers) and rejects schemas that could decode an item from zero bytes. After
//! that, decoding takes time linear in the input. A reader that wants one string
//! field of each object ([`read_container_string_field`]: the manifest paths of a
//! list) walks the same checked blocks and reads past every other field by the
//! encoding rules of its schema type, because `apache-avro` has no reader that skips
//! (its `Value` reader decodes everything; its serde reader cannot pass over a nested
//! record). Every failure is a
//! [`Error::CorruptMetadata`] for the file (or [`Error::Unsupported`] for a codec this
//! build cannot decompress); nothing here panics on input bytes.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// The four magic bytes that open every object container file.
const MAGIC: &[u8; 4] = b"Obj\x01";

/// A data block is closed once its encoded objects reach this size, so that readers
/// that hold one block in memory at a time stay small on big manifests.
const BLOCK_TARGET_BYTES: usize = 1 << 20;

/// Header key under which floe records how many objects the file holds. Avro has no
/// footer, so a file cut exactly at a block boundary is otherwise a valid, shorter
/// file; with the count in the header such a truncation is detected. Other readers
/// ignore unknown header keys.
pub(crate) const RECORD_COUNT_KEY: &str = "floe.record-count";

// ---------------------------------------------------------------------------------
// Writing containers.

/// A writer schema: `apache-avro`'s model (what objects are serialized against) and
/// the text that goes into the header. Built once per schema and kept by the caller:
/// building and serializing the model costs more than encoding a small manifest.
pub(crate) struct WriterSchema {
    pub(crate) schema: AvroSchema,
    text: String,
}

impl WriterSchema {
    /// The header text is `apache-avro`'s serialization of `schema`, with Iceberg's
    /// `adjust-to-utc` attribute on timestamps. The model has no attributes on
    /// `timestamp-micros` (its parser drops them too), yet the attribute is how Iceberg
    /// readers, floe's included, tell `timestamptz` from `timestamp`. So the caller's
    /// schema writes `timestamptz` as the model's `TimestampMicros` and `timestamp` as
    /// `LocalTimestampMicros`, and both become the spec's form here. The two texts
    /// replaced are exactly what `apache-avro` writes for those two types and nothing
    /// else: names in a schema are `[A-Za-z0-9_]`, and floe's schemas have no defaults
    /// but `null` and no docs.
    pub(crate) fn new(schema: AvroSchema) -> Result<Self, String> {
        let text = serde_json::to_string(&schema).map_err(|e| format!("Avro schema does not serialize: {e}"))?;
        let text = text
            .replace(
                r#"{"type":"long","logicalType":"local-timestamp-micros"}"#,
                r#"{"type":"long","logicalType":"timestamp-micros","adjust-to-utc":false}"#,
            )
            .replace(
                r#"{"type":"long","logicalType":"timestamp-micros"}"#,
                r#"{"type":"long","logicalType":"timestamp-micros","adjust-to-utc":true}"#,
            );
        Ok(WriterSchema { schema, text })
    }
}

/// `bytes` (Avro `bytes`, or `fixed` of the same length) for serde, which would
/// otherwise write a `&[u8]` as an array of ints.
pub(crate) struct Bytes<'a>(pub &'a [u8]);

impl serde::Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The header's metadata map, in the order given (serde's map, so `apache-avro`
/// encodes it as one block).
struct HeaderMap<'a>(&'a [(&'a str, &'a [u8])]);

impl serde::Serialize for HeaderMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (*k, Bytes(v))))
    }
}

/// Builds an object container file in memory through `apache-avro`: `null` codec, a
/// random 16-byte sync marker, objects serialized against the schema (which checks
/// each against it) and gathered into blocks of about [`BLOCK_TARGET_BYTES`].
///
/// The header is assembled here, from parts `apache-avro` encodes, because its own
/// writer can only put its serialization of the schema model there, which lacks the
/// `adjust-to-utc` attribute (see [`WriterSchema::new`]). Its keys: `avro.schema`,
/// `avro.codec` (`null`), [`RECORD_COUNT_KEY`], then the caller's, in that order.
pub(crate) struct ContainerWriter<'s> {
    writer: apache_avro::Writer<'s, Vec<u8>>,
}

impl<'s> ContainerWriter<'s> {
    /// Writes the header for `record_count` objects of `schema` with the caller's
    /// `metadata` keys.
    pub(crate) fn new(
        schema: &'s WriterSchema,
        metadata: &[(&str, String)],
        record_count: usize,
    ) -> Result<Self, String> {
        let (out, sync) = header(schema, metadata, record_count)?;
        let writer = apache_avro::Writer::builder()
            .schema(&schema.schema)
            .writer(out)
            .has_header(true)
            .marker(sync)
            .block_size(BLOCK_TARGET_BYTES)
            .build()
            .map_err(|e| format!("Avro writer: {e}"))?;
        Ok(ContainerWriter { writer })
    }

    /// Appends one object. On error the writer must be dropped (the block may hold a
    /// partial object).
    pub(crate) fn append(&mut self, object: &impl serde::Serialize) -> Result<(), String> {
        self.writer.append_ser(object).map(drop).map_err(|e| e.to_string())
    }

    /// Closes the last block and returns the file's bytes.
    pub(crate) fn finish(self) -> Result<Vec<u8>, String> {
        self.writer.into_inner().map_err(|e| format!("Avro writer: {e}"))
    }
}

/// The header of a container of `record_count` objects of `schema` (see
/// [`ContainerWriter`]) and its sync marker.
fn header(
    schema: &WriterSchema,
    metadata: &[(&str, String)],
    record_count: usize,
) -> Result<(Vec<u8>, [u8; 16]), String> {
    let count = record_count.to_string();
    let mut keys: Vec<(&str, &[u8])> = Vec::with_capacity(metadata.len() + 3);
    keys.push(("avro.schema", schema.text.as_bytes()));
    keys.push(("avro.codec", b"null"));
    keys.push((RECORD_COUNT_KEY, count.as_bytes()));
    keys.extend(metadata.iter().map(|(k, v)| (*k, v.as_bytes())));
    let map_schema = AvroSchema::map(AvroSchema::Bytes).build();
    let map = apache_avro::writer::datum::GenericDatumWriter::builder(&map_schema)
        .build()
        .and_then(|w| w.write_ser_to_vec(&HeaderMap(&keys)))
        .map_err(|e| format!("Avro header: {e}"))?;
    let sync: [u8; 16] = rand::random();
    let mut out = Vec::with_capacity(MAGIC.len() + map.len() + sync.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&map);
    out.extend_from_slice(&sync);
    Ok((out, sync))
}

/// Encodes single objects of one schema, for [`EncodedContainerWriter`]: the bytes
/// `apache-avro`'s serde writer gives (each checked against the schema as it goes).
pub(crate) struct ObjectEncoder<'s>(apache_avro::writer::datum::GenericDatumWriter<'s>);

impl<'s> ObjectEncoder<'s> {
    pub(crate) fn new(schema: &'s WriterSchema) -> Result<Self, String> {
        let w = apache_avro::writer::datum::GenericDatumWriter::builder(&schema.schema)
            .build()
            .map_err(|e| format!("Avro writer: {e}"))?;
        Ok(ObjectEncoder(w))
    }

    pub(crate) fn encode(&self, object: &impl serde::Serialize) -> Result<Vec<u8>, String> {
        self.0.write_ser_to_vec(object).map_err(|e| e.to_string())
    }
}

/// A container like [`ContainerWriter`]'s (same header, `null` codec, blocks closed at
/// [`BLOCK_TARGET_BYTES`]) of objects the caller encoded with [`ObjectEncoder`], so an
/// object written into many files (a manifest-list row carried from each snapshot to
/// the next) is encoded once. The framing is Avro's: per block the object count and the
/// byte size (zig-zag varints), the objects, the sync marker; written here because
/// `apache-avro`'s writer takes only objects to encode.
pub(crate) struct EncodedContainerWriter {
    out: Vec<u8>,
    sync: [u8; 16],
    block: Vec<u8>,
    objects: u64,
}

impl EncodedContainerWriter {
    pub(crate) fn new(schema: &WriterSchema, metadata: &[(&str, String)], record_count: usize) -> Result<Self, String> {
        let (out, sync) = header(schema, metadata, record_count)?;
        Ok(EncodedContainerWriter { out, sync, block: Vec::new(), objects: 0 })
    }

    /// Appends one object's encoding (from [`ObjectEncoder::encode`] with this schema).
    pub(crate) fn append_encoded(&mut self, object: &[u8]) {
        self.block.extend_from_slice(object);
        self.objects += 1;
        if self.block.len() >= BLOCK_TARGET_BYTES {
            self.close_block();
        }
    }

    fn close_block(&mut self) {
        if self.objects == 0 {
            return;
        }
        zigzag(self.objects as i64, &mut self.out);
        zigzag(self.block.len() as i64, &mut self.out);
        self.out.append(&mut self.block);
        self.out.extend_from_slice(&self.sync);
        self.objects = 0;
    }

    /// Closes the last block and returns the file's bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.close_block();
        self.out
    }
}

/// Avro's `long`: zig-zag, then 7 bits per byte, low first.
fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

// ---------------------------------------------------------------------------------
// Reading containers.

/// A decoded container file.
pub(crate) struct Container {
    /// User metadata (every header key except `avro.*`), values as raw bytes.
    pub metadata: HashMap<String, Vec<u8>>,
    /// The writer schema exactly as stored in the header (shared by every container
    /// read with the same schema text).
    pub schema: Arc<Json>,
    /// The objects, in file order, as `apache-avro` decoded them with the writer schema.
    pub values: Vec<Value>,
}

/// A bounds-checked reader over the raw bytes, for the header and the block framing.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut acc: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or("unexpected end of file in a varint")?;
            self.pos += 1;
            // The 10th byte may only carry the single remaining bit of a 64-bit value.
            if shift == 63 && b & 0x7e != 0 || shift > 63 {
                return Err("varint longer than 64 bits".into());
            }
            acc |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((acc >> 1) as i64) ^ -((acc & 1) as i64))
    }

    /// A non-negative count; not bounded by the remaining bytes (compressed blocks).
    fn count(&mut self, what: &str) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("negative {what} {n}"))
    }

    /// A length that must fit in the bytes that remain.
    fn len(&mut self, what: &str) -> Result<usize, String> {
        let n = self.count(what)?;
        if n > self.remaining() {
            return Err(format!("{what} {n} runs past the end of the file ({} bytes left)", self.remaining()));
        }
        Ok(n)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or("unexpected end of file")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.len(what)?;
        self.take(n)
    }
}

/// The header fields the framing check needs.
struct Header {
    metadata: HashMap<String, Vec<u8>>,
    schema: Arc<Json>,
    /// The schema text as stored (the key of the known-schema cache).
    schema_text: String,
    /// The schema's model when the text was read and checked before (the cache).
    known: Option<Arc<AvroSchema>>,
    codec: String,
    sync: [u8; 16],
}

fn read_header(c: &mut Cursor<'_>) -> Result<Header, String> {
    if c.take(4).map_err(|_| "file shorter than the Avro magic")? != MAGIC {
        return Err("not an Avro object container file (bad magic)".into());
    }
    let mut all: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        let raw = c.long()?;
        if raw == 0 {
            break;
        }
        // A negative count is followed by the block's byte size (Avro spec), unused here.
        if raw < 0 {
            c.long()?;
        }
        let n = raw.unsigned_abs();
        for _ in 0..n {
            // Each entry takes at least two bytes, so a bogus count ends at end of file.
            let key = std::str::from_utf8(c.bytes("metadata key length")?)
                .map_err(|_| "metadata key is not UTF-8")?
                .to_string();
            let value = c.bytes("metadata value length")?.to_vec();
            all.insert(key, value);
        }
    }
    let sync: [u8; 16] =
        c.take(16).map_err(|_| "file ends inside the header sync marker")?.try_into().map_err(|_| "bad sync marker")?;
    let schema_bytes = all.remove("avro.schema").ok_or("header has no avro.schema")?;
    let (schema, known) = match std::str::from_utf8(&schema_bytes).ok().and_then(known_schema) {
        Some(k) => (k.json.clone(), Some(k.avro.clone())),
        None => {
            let json: Json =
                serde_json::from_slice(&schema_bytes).map_err(|e| format!("avro.schema is not valid JSON: {e}"))?;
            (Arc::new(json), None)
        }
    };
    let schema_text = String::from_utf8(schema_bytes).map_err(|_| "avro.schema is not UTF-8")?;
    let codec = match all.remove("avro.codec") {
        None => "null".to_string(),
        Some(b) => String::from_utf8(b).map_err(|_| "avro.codec is not UTF-8")?,
    };
    let metadata = all.into_iter().filter(|(k, _)| !k.starts_with("avro.")).collect();
    Ok(Header { metadata, schema, schema_text, known, codec, sync })
}

/// Walks every data block: sizes inside the file, sync markers equal to the header's.
/// Returns the total object count.
fn check_blocks(c: &mut Cursor<'_>, header: &Header) -> Result<usize, String> {
    let mut total: usize = 0;
    while !c.at_end() {
        let count = c.count("block object count")?;
        let size = c.len("block size")?;
        c.take(size)?;
        if c.take(16).map_err(|_| "file ends inside a block sync marker")? != header.sync {
            return Err("block sync marker does not match the header (damaged or truncated file)".into());
        }
        // Every object takes at least one byte (see `check_schema`), so an uncompressed
        // block cannot hold more objects than bytes.
        if header.codec == "null" && count > size {
            return Err(format!("block claims {count} objects in {size} bytes"));
        }
        total = total.checked_add(count).ok_or("object count overflows")?;
    }
    Ok(total)
}

/// Rejects writer schemas that could make decoding spin: recursive named types, and
/// array items or top-level objects that could encode in zero bytes (a huge count of
/// those would otherwise be "decoded" without consuming input).
fn check_schema(schema: &Json) -> Result<(), String> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut open: HashSet<String> = HashSet::new();
    if min_size(schema, &mut names, &mut open)? == 0 {
        return Err("the writer schema encodes objects in zero bytes".into());
    }
    Ok(())
}

fn short_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// The least number of bytes a value of `s` can encode in.
fn min_size(s: &Json, names: &mut HashMap<String, usize>, open: &mut HashSet<String>) -> Result<usize, String> {
    match s {
        Json::String(t) => match t.as_str() {
            "null" => Ok(0),
            "boolean" | "int" | "long" | "bytes" | "string" => Ok(1),
            "float" => Ok(4),
            "double" => Ok(8),
            other => {
                let short = short_name(other);
                if open.contains(short) {
                    return Err(format!("recursive schema type {other}"));
                }
                names.get(short).copied().ok_or_else(|| format!("unknown schema type {other}"))
            }
        },
        Json::Array(branches) => {
            if branches.is_empty() {
                return Err("empty union in schema".into());
            }
            for b in branches {
                min_size(b, names, open)?;
            }
            Ok(1)
        }
        Json::Object(o) => {
            let name = || {
                o.get("name")
                    .and_then(Json::as_str)
                    .map(|n| short_name(n).to_string())
                    .ok_or("named schema type without a name")
            };
            match o.get("type") {
                Some(Json::String(t)) if t == "record" || t == "error" => {
                    let n = name()?;
                    open.insert(n.clone());
                    let fields = o.get("fields").and_then(Json::as_array).ok_or("record without fields")?;
                    let mut total: usize = 0;
                    for f in fields {
                        let ft = f.get("type").ok_or("record field without a type")?;
                        total = total.saturating_add(min_size(ft, names, open)?);
                    }
                    open.remove(&n);
                    names.insert(n, total);
                    Ok(total)
                }
                Some(Json::String(t)) if t == "enum" => {
                    names.insert(name()?, 1);
                    Ok(1)
                }
                Some(Json::String(t)) if t == "fixed" => {
                    let size = o.get("size").and_then(Json::as_u64).ok_or("fixed without a valid size")?;
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    names.insert(name()?, size);
                    Ok(size)
                }
                Some(Json::String(t)) if t == "array" => {
                    let items = o.get("items").ok_or("array without items")?;
                    if min_size(items, names, open)? == 0 {
                        return Err("array items encode in zero bytes".into());
                    }
                    Ok(1)
                }
                Some(Json::String(t)) if t == "map" => {
                    // Map entries carry a string key, so they are never empty.
                    min_size(o.get("values").ok_or("map without values")?, names, open)?;
                    Ok(1)
                }
                Some(inner) => min_size(inner, names, open),
                None => Err("schema object without a type".into()),
            }
        }
        _ => Err("schema is neither a name, a union nor an object".into()),
    }
}

/// A writer schema that passed every check: its JSON and `apache-avro`'s model.
struct KnownSchema {
    json: Arc<Json>,
    avro: Arc<AvroSchema>,
}

/// Writer schemas already read, keyed by their exact text. Every manifest of a table
/// carries the same text, and reading one is most of a small manifest's decode time:
/// `apache-avro`'s model costs about a millisecond, the JSON parse and
/// [`check_schema`] about as much as decoding a one-entry manifest (a merge of ~100
/// manifests another process wrote spent half its time parsing their headers). Only
/// schemas that passed every check are kept, so a hit skips them all.
fn known_schemas() -> &'static Mutex<HashMap<String, Arc<KnownSchema>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<KnownSchema>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn known_schema(text: &str) -> Option<Arc<KnownSchema>> {
    known_schemas().lock().unwrap_or_else(|p| p.into_inner()).get(text).cloned()
}

fn remember_schema(text: &str, json: Arc<Json>, avro: Arc<AvroSchema>) {
    let mut guard = known_schemas().lock().unwrap_or_else(|p| p.into_inner());
    // Bounded: a process reading many tables with many schemas just re-parses.
    if guard.len() >= 64 {
        guard.clear();
    }
    guard.insert(text.to_string(), Arc::new(KnownSchema { json, avro }));
}

/// Decodes a whole container file. `path` names the file in errors.
pub(crate) fn read_container(path: &Path, bytes: &[u8]) -> Result<Container> {
    let corrupt = |reason: String| Error::corrupt(path, reason);
    let file = open_container(path, bytes)?;
    let datum_reader = apache_avro::reader::datum::GenericDatumReader::builder(&file.model)
        .build()
        .map_err(|e| corrupt(format!("Avro schema: {e}")))?;
    // `total` is bounded by the file size for uncompressed files; for compressed ones
    // the decoder's own allocation cap bounds it, so only reserve what the bytes justify.
    let mut values = Vec::with_capacity(file.total.min(bytes.len()));
    file.for_each_block(path, bytes, |count, mut input| {
        for _ in 0..count {
            values.push(datum_reader.read_value(&mut input).map_err(|e| format!("Avro data: {e}"))?);
        }
        Ok(input.len())
    })?;
    if values.len() != file.total {
        return Err(corrupt(format!("decoded {} objects, blocks declare {}", values.len(), file.total)));
    }
    Ok(Container { metadata: file.header.metadata, schema: file.header.schema, values })
}

/// The string field `field` of every object of a container file whose objects are
/// records, in file order, with every other field read past without being decoded:
/// for a reader that needs one field of each object (the commit-time cleanup pass
/// wants only the manifest paths of the few hundred lists a process that lives for
/// one commit has not seen). The file gets [`read_container`]'s checks.
///
/// Why by hand: `apache-avro` has no reader that skips. Its `Value` reader builds every
/// field of every object, and its schema-aware serde reader cannot pass over a nested
/// record (it refuses `deserialize_ignored_any` on the record's field names). The
/// skipping follows the Avro specification's encoding of each schema type; a type
/// this does not know (a newer `apache-avro` schema variant) is an error, never a guess.
pub(crate) fn read_container_string_field(path: &Path, bytes: &[u8], field: &str) -> Result<Vec<String>> {
    let corrupt = |reason: String| Error::corrupt(path, reason);
    let file = open_container(path, bytes)?;
    let AvroSchema::Record(record) = &*file.model else {
        return Err(corrupt("the objects are not records".into()));
    };
    let resolved = apache_avro::schema::ResolvedSchema::try_from(&*file.model)
        .map_err(|e| corrupt(format!("Avro schema: {e}")))?;
    let names = resolved.get_names();
    let mut out = Vec::with_capacity(file.total.min(bytes.len()));
    file.for_each_block(path, bytes, |count, input| {
        let mut c = Cursor { buf: input, pos: 0 };
        for _ in 0..count {
            let mut found = None;
            for f in &record.fields {
                if f.name == field && found.is_none() {
                    let AvroSchema::String = f.schema else {
                        return Err(format!("field {field} is not a string"));
                    };
                    let text = c.bytes(field)?;
                    found = Some(String::from_utf8(text.to_vec()).map_err(|_| format!("field {field} is not UTF-8"))?);
                } else {
                    skip(&f.schema, names, &mut c, 0)?;
                }
            }
            out.push(found.ok_or_else(|| format!("the objects have no field {field}"))?);
        }
        Ok(c.remaining())
    })?;
    if out.len() != file.total {
        return Err(corrupt(format!("decoded {} objects, blocks declare {}", out.len(), file.total)));
    }
    Ok(out)
}

/// Reads past one value of `schema`. Terminates in time linear in the input: the
/// writer schema passed [`check_schema`] (no recursive type, no array item that
/// encodes in zero bytes), and nesting deeper than 64 is refused anyway.
fn skip(
    schema: &AvroSchema,
    names: &HashMap<apache_avro::schema::Name, &AvroSchema>,
    c: &mut Cursor<'_>,
    depth: usize,
) -> std::result::Result<(), String> {
    use apache_avro::schema::{InnerDecimalSchema, UuidSchema};
    if depth > 64 {
        return Err("schema nested too deeply".into());
    }
    match schema {
        AvroSchema::Null => {}
        AvroSchema::Boolean => {
            c.take(1)?;
        }
        AvroSchema::Int
        | AvroSchema::Long
        | AvroSchema::Enum(_)
        | AvroSchema::Date
        | AvroSchema::TimeMillis
        | AvroSchema::TimeMicros
        | AvroSchema::TimestampMillis
        | AvroSchema::TimestampMicros
        | AvroSchema::TimestampNanos
        | AvroSchema::LocalTimestampMillis
        | AvroSchema::LocalTimestampMicros
        | AvroSchema::LocalTimestampNanos => {
            c.long()?;
        }
        AvroSchema::Float => {
            c.take(4)?;
        }
        AvroSchema::Double => {
            c.take(8)?;
        }
        AvroSchema::Bytes
        | AvroSchema::String
        | AvroSchema::BigDecimal
        | AvroSchema::Uuid(UuidSchema::Bytes)
        | AvroSchema::Uuid(UuidSchema::String) => {
            c.bytes("a bytes or string value")?;
        }
        AvroSchema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Bytes => {
                c.bytes("a decimal value")?;
            }
            InnerDecimalSchema::Fixed(f) => {
                c.take(f.size)?;
            }
        },
        AvroSchema::Fixed(f) | AvroSchema::Duration(f) | AvroSchema::Uuid(UuidSchema::Fixed(f)) => {
            c.take(f.size)?;
        }
        AvroSchema::Array(a) => skip_blocks(c, |c| skip(&a.items, names, c, depth + 1))?,
        AvroSchema::Map(m) => skip_blocks(c, |c| {
            c.bytes("a map key")?;
            skip(&m.types, names, c, depth + 1)
        })?,
        AvroSchema::Union(u) => {
            let i = c.long()?;
            let branch = usize::try_from(i).ok().and_then(|i| u.variants().get(i));
            skip(branch.ok_or_else(|| format!("union branch {i} out of range"))?, names, c, depth + 1)?;
        }
        AvroSchema::Record(r) => {
            for f in &r.fields {
                skip(&f.schema, names, c, depth + 1)?;
            }
        }
        AvroSchema::Ref { name } => {
            let named = names.get(name).ok_or_else(|| format!("unknown schema type {name:?}"))?;
            skip(named, names, c, depth + 1)?;
        }
        #[allow(unreachable_patterns)]
        other => return Err(format!("cannot skip a value of schema {other:?}")),
    }
    Ok(())
}

/// Reads past an array's or a map's blocks: a count, then that many items (a negative
/// count is followed by the block's size in bytes, which is skipped at once), until a
/// count of zero.
fn skip_blocks(
    c: &mut Cursor<'_>,
    mut item: impl FnMut(&mut Cursor<'_>) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    loop {
        let n = c.long()?;
        if n == 0 {
            return Ok(());
        }
        if n < 0 {
            let size = c.len("an array block size")?;
            c.take(size)?;
        } else {
            for _ in 0..n {
                item(c)?;
            }
        }
    }
}

/// A container file whose header, schema and block framing passed the checks.
struct OpenContainer {
    header: Header,
    /// The writer schema's model.
    model: Arc<AvroSchema>,
    /// Where the first block starts.
    data_start: usize,
    /// Objects the blocks declare.
    total: usize,
}

/// Reads and checks a container's header, writer schema and block framing.
fn open_container(path: &Path, bytes: &[u8]) -> Result<OpenContainer> {
    let corrupt = |reason: String| Error::corrupt(path, reason);
    let mut c = Cursor { buf: bytes, pos: 0 };
    let header = read_header(&mut c).map_err(corrupt)?;
    match header.codec.as_str() {
        "null" | "deflate" | "snappy" => {}
        "zstandard" | "bzip2" | "xz" => {
            return Err(Error::Unsupported { what: format!("Avro codec {} in {}", header.codec, path.display()) });
        }
        other => return Err(corrupt(format!("unknown Avro codec {other:?}"))),
    }
    if header.known.is_none() {
        check_schema(&header.schema).map_err(corrupt)?;
    }
    let data_start = c.pos;
    let total = check_blocks(&mut c, &header).map_err(corrupt)?;
    let expected = match header.metadata.get(RECORD_COUNT_KEY) {
        None => None,
        Some(v) => Some(
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| corrupt(format!("bad {RECORD_COUNT_KEY} header value")))?,
        ),
    };
    if let Some(n) = expected.filter(|n| *n != total) {
        return Err(corrupt(format!("header says {n} objects, blocks hold {total} (truncated file?)")));
    }
    let model = match &header.known {
        Some(s) => s.clone(),
        None => {
            let parsed =
                AvroSchema::parse_str(&header.schema_text).map_err(|e| corrupt(format!("Avro schema: {e}")))?;
            let parsed = Arc::new(parsed);
            remember_schema(&header.schema_text, header.schema.clone(), parsed.clone());
            parsed
        }
    };
    Ok(OpenContainer { header, model, data_start, total })
}

impl OpenContainer {
    /// Hands each block's object count and (decompressed) bytes to `f`, which returns
    /// how many bytes it left unread: any is corruption.
    fn for_each_block(
        &self,
        path: &Path,
        bytes: &[u8],
        mut f: impl FnMut(usize, &[u8]) -> std::result::Result<usize, String>,
    ) -> Result<()> {
        let corrupt = |reason: String| Error::corrupt(path, reason);
        let mut c = Cursor { buf: bytes, pos: self.data_start };
        while !c.at_end() {
            let count = c.count("block object count").map_err(corrupt)?;
            let size = c.len("block size").map_err(corrupt)?;
            let raw = c.take(size).map_err(corrupt)?;
            c.take(16).map_err(corrupt)?;
            let block: std::borrow::Cow<'_, [u8]> = match self.header.codec.as_str() {
                "null" => std::borrow::Cow::Borrowed(raw),
                codec => {
                    let mut buf = raw.to_vec();
                    let codec = if codec == "deflate" {
                        apache_avro::Codec::Deflate(apache_avro::DeflateSettings::default())
                    } else {
                        apache_avro::Codec::Snappy
                    };
                    codec.decompress(&mut buf).map_err(|e| corrupt(format!("Avro block: {e}")))?;
                    std::borrow::Cow::Owned(buf)
                }
            };
            let left = f(count, &block).map_err(corrupt)?;
            if left != 0 {
                return Err(corrupt(format!("{left} bytes left over after a block's {count} objects")));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Reading decoded values.

/// The value inside a union branch (or the value itself when it is not a union).
pub(crate) fn strip_union(v: &Value) -> &Value {
    match v {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

/// A decoded record, read by field name (the way other writers' extra fields, such as
/// datashard's 9001–9003, are skipped without knowing them).
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    fields: &'a [(String, Value)],
}

impl<'a> Record<'a> {
    /// `v` as a record (through a union), if it is one.
    pub(crate) fn of(v: &'a Value) -> Option<Self> {
        match strip_union(v) {
            Value::Record(fields) => Some(Record { fields }),
            _ => None,
        }
    }

    /// True when the writer schema has the field (even if this value is null).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// The field's value, union stripped; `None` when absent or null.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| strip_union(v)).filter(|v| !matches!(v, Value::Null))
    }

    /// The fields in writer-schema order.
    pub(crate) fn fields(&self) -> &'a [(String, Value)] {
        self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_spec_examples() {
        // Avro spec "Binary Encoding" table, and apache-avro's encoder.
        let long = AvroSchema::Long;
        let w = apache_avro::writer::datum::GenericDatumWriter::builder(&long).build().unwrap();
        for (v, enc) in [(0i64, vec![0u8]), (-1, vec![1]), (1, vec![2]), (-64, vec![0x7f]), (64, vec![0x80, 1])] {
            let out = w.write_value_to_vec(v).unwrap();
            assert_eq!(out, enc, "{v}");
            let mut c = Cursor { buf: &out, pos: 0 };
            assert_eq!(c.long().unwrap(), v);
        }
        for v in [i64::MIN, i64::MAX, 1 << 40, -(1 << 40)] {
            let out = w.write_value_to_vec(v).unwrap();
            assert_eq!(Cursor { buf: &out, pos: 0 }.long().unwrap(), v);
        }
        // 11 continuation bytes: rejected, not wrapped.
        assert!(Cursor { buf: &[0xff; 11], pos: 0 }.long().is_err());
    }

    /// An empty container file (no blocks) whose header carries `schema` as its text.
    fn empty_container(schema: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        zigzag(1, &mut out);
        for field in [&b"avro.schema"[..], schema.as_bytes()] {
            zigzag(field.len() as i64, &mut out);
            out.extend_from_slice(field);
        }
        zigzag(0, &mut out);
        out.extend_from_slice(&[7; 16]);
        out
    }

    #[test]
    fn a_schema_read_before_is_shared_and_a_refused_one_is_refused_every_time() {
        // A text no other test uses, so the first read is a miss.
        let good = r#"{"type":"record","name":"cache_probe","fields":[{"name":"x","type":"long"}]}"#;
        let first = read_container(Path::new("a.avro"), &empty_container(good)).unwrap();
        let second = read_container(Path::new("b.avro"), &empty_container(good)).unwrap();
        assert!(Arc::ptr_eq(&first.schema, &second.schema), "the second read reuses the first's schema");
        assert_eq!(first.schema["name"], "cache_probe");
        // Only schemas that passed every check are remembered: a refused one stays refused.
        let bad = r#"{"type":"record","name":"cache_probe_bad","fields":[]}"#;
        for _ in 0..2 {
            let err = read_container(Path::new("c.avro"), &empty_container(bad)).err().unwrap();
            assert!(err.to_string().contains("zero bytes"), "{err}");
        }
    }

    #[test]
    fn zero_size_and_recursive_schemas_are_rejected() {
        let bad = [
            r#"{"type":"array","items":"null"}"#,
            r#"{"type":"record","name":"e","fields":[]}"#,
            r#"{"type":"record","name":"a","fields":[{"name":"x","type":"a"}]}"#,
            r#"{"type":"array","items":{"type":"record","name":"e","fields":[]}}"#,
            r#"[]"#,
        ];
        for s in bad {
            let j: Json = serde_json::from_str(s).unwrap();
            assert!(check_schema(&j).is_err(), "{s}");
        }
        let ok = r#"{"type":"record","name":"a","fields":[{"name":"x","type":{"type":"record","name":"b","fields":[]}},
                   {"name":"y","type":["null","b"]},{"name":"z","type":{"type":"array","items":"int"}}]}"#;
        check_schema(&serde_json::from_str(ok).unwrap()).unwrap();
    }

    #[derive(serde::Serialize)]
    struct Row<'a> {
        a: i64,
        b: Option<&'a str>,
        ts: Option<i64>,
        tz: i64,
    }

    #[test]
    fn container_round_trips_through_apache_avro() {
        let schema = WriterSchema::new(
            AvroSchema::parse_str(
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"],"default":null},
               {"name":"ts","type":["null",{"type":"long","logicalType":"local-timestamp-micros"}]},
               {"name":"tz","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let mut w = ContainerWriter::new(&schema, &[("k", "v".to_string())], 2).unwrap();
        w.append(&Row { a: 0, b: None, ts: Some(5), tz: -1 }).unwrap();
        w.append(&Row { a: 1, b: Some("x"), ts: None, tz: 2 }).unwrap();
        // A value of the wrong kind is refused, not written.
        assert!(w.append(&"not a record").is_err());
        let bytes = w.finish().unwrap();
        let c = read_container(Path::new("t.avro"), &bytes).unwrap();
        assert_eq!(c.metadata.get("k").map(Vec::as_slice), Some(&b"v"[..]));
        assert_eq!(c.metadata.get(RECORD_COUNT_KEY).map(Vec::as_slice), Some(&b"2"[..]));
        assert_eq!(c.values.len(), 2);
        let r = Record::of(&c.values[1]).unwrap();
        assert_eq!(r.get("b"), Some(&Value::String("x".into())));
        assert_eq!(Record::of(&c.values[0]).unwrap().get("b"), None);
        assert!(r.has("b") && !r.has("c"));
        assert_eq!(r.fields().len(), 4);
        // The header text has Iceberg's timestamp annotations.
        let ts = &c.schema["fields"][2]["type"][1];
        assert_eq!(ts, &serde_json::json!({"type": "long", "logicalType": "timestamp-micros", "adjust-to-utc": false}));
        let tz = &c.schema["fields"][3]["type"];
        assert_eq!(tz, &serde_json::json!({"type": "long", "logicalType": "timestamp-micros", "adjust-to-utc": true}));
    }

    #[test]
    fn blocks_close_at_the_target_size() {
        let schema = WriterSchema::new(AvroSchema::String).unwrap();
        let item = "x".repeat(1000);
        let n = 3 * BLOCK_TARGET_BYTES / 1000;
        let mut w = ContainerWriter::new(&schema, &[], n).unwrap();
        for _ in 0..n {
            w.append(&item).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut c = Cursor { buf: &bytes, pos: 0 };
        let header = read_header(&mut c).unwrap();
        let mut counts = Vec::new();
        while !c.at_end() {
            counts.push(c.count("count").unwrap());
            let size = c.len("size").unwrap();
            assert!(size >= BLOCK_TARGET_BYTES || c.remaining() == size + 16, "a short block before the last");
            c.take(size + 16).unwrap();
        }
        assert!(counts.len() >= 3, "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), n);
        assert_eq!(read_container(Path::new("t.avro"), &bytes).unwrap().values.len(), n);
        assert_eq!(header.codec, "null");
    }
}
