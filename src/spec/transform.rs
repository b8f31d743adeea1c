//! Iceberg partition transforms (spec "Partition Transforms" and Appendix B).
//!
//! Owns [`Transform`]: parsing and printing the spec's names (`identity`, `bucket[N]`,
//! `truncate[W]`, `year`, `month`, `day`, `hour`, `void`), the result type over a source
//! type, applying a transform to one [`Datum`] or to a whole Arrow array (the write path
//! splits batches by the result), the human string used in partition paths, and the
//! inclusive projection of a predicate on the source column to a predicate on the
//! partition value ([`Transform::project`], used for partition pruning).
//!
//! Promises:
//! - `bucket[N]` hashes exactly as Appendix B says (32-bit Murmur3 x86, seed 0): `int`,
//!   `long`, `date`, `time`, `timestamp`, `timestamptz` as the 8-byte little-endian long,
//!   `string` as its UTF-8 bytes, `uuid` as its 16 big-endian bytes, `fixed`/`binary` as
//!   their bytes, `decimal` as the minimal two's-complement big-endian bytes of the
//!   unscaled value; the bucket is `(hash & i32::MAX) % N`. Checked against the spec's
//!   test values (unit tests) and pyiceberg's (interop tests).
//! - `truncate[W]` floors integers and unscaled decimals (`v - (((v % W) + W) % W)`),
//!   keeps the first `W` code points of a string and the first `W` bytes of a binary.
//! - `year`/`month`/`day`/`hour` count whole units since 1970-01-01T00:00 (flooring for
//!   earlier values); `day` returns a `date`.
//! - The Arrow and `Datum` paths give the same values; nulls map to null; nothing here
//!   panics on any input (a value the transform cannot take is an `Err`).
//! - [`Transform::project`] is inclusive: every row that satisfies the source predicate
//!   has a partition value that satisfies the projected one (`None` = no projection,
//!   the partition may hold matching rows).

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Int32Type, Int64Type, Time64MicrosecondType, TimestampMicrosecondType,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float32Array,
    Float64Array, Int32Array, Int64Array, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
    new_null_array,
};
use arrow_schema::{DataType, TimeUnit};

use super::types::{PrimitiveType, primitive_to_arrow};
use super::values::{Datum, civil_from_days};
use crate::error::{Error, Result};

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// A partition transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// The source value unchanged.
    Identity,
    /// Murmur3 hash of the value modulo N (N > 0).
    Bucket(u32),
    /// The value truncated to width W (W > 0).
    Truncate(u32),
    /// Years since 1970.
    Year,
    /// Months since 1970-01.
    Month,
    /// Days since 1970-01-01 (a `date`).
    Day,
    /// Hours since 1970-01-01T00:00.
    Hour,
    /// Always null (a dropped partition field in a v1 table, or a placeholder).
    Void,
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transform::Identity => f.write_str("identity"),
            Transform::Bucket(n) => write!(f, "bucket[{n}]"),
            Transform::Truncate(w) => write!(f, "truncate[{w}]"),
            Transform::Year => f.write_str("year"),
            Transform::Month => f.write_str("month"),
            Transform::Day => f.write_str("day"),
            Transform::Hour => f.write_str("hour"),
            Transform::Void => f.write_str("void"),
        }
    }
}

impl std::str::FromStr for Transform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Transform> {
        Transform::parse(s)
    }
}

/// One predicate on a single column, in the form transforms project: the source side
/// (a predicate on the source column) and the projected side (a predicate on the
/// partition value) have the same shape.
#[derive(Debug, Clone, PartialEq)]
// Predicates produce no NaN or prefix bounds yet; their projection rules are kept and
// unit-tested.
#[allow(dead_code)]
pub(crate) enum Bound {
    /// `x IS NULL`
    IsNull,
    /// `x IS NOT NULL`
    NotNull,
    /// `x IS NaN`
    IsNan,
    /// `x IS NOT NaN`
    NotNan,
    /// `x < v`
    Lt(Datum),
    /// `x <= v`
    LtEq(Datum),
    /// `x > v`
    Gt(Datum),
    /// `x >= v`
    GtEq(Datum),
    /// `x = v`
    Eq(Datum),
    /// `x != v`
    NotEq(Datum),
    /// `x IN (v, …)`
    In(Vec<Datum>),
    /// `x NOT IN (v, …)`
    NotIn(Vec<Datum>),
    /// `x LIKE 'p%'` (strings)
    StartsWith(String),
    /// `x NOT LIKE 'p%'` (strings)
    NotStartsWith(String),
}

fn bad(what: impl Into<String>) -> Error {
    Error::InvalidArgument(what.into())
}

impl Transform {
    /// Parses the spec's name (`bucket[16]`, `truncate[4]`, `day`, …). Unknown names and
    /// zero or unparsable widths are [`Error::Unsupported`] (a table written by another
    /// engine may name a transform floe does not know).
    pub fn parse(s: &str) -> Result<Transform> {
        let s = s.trim();
        let width = |prefix: &str| -> Option<Result<u32>> {
            let inner = s.strip_prefix(prefix)?.strip_suffix(']')?;
            Some(
                inner
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0 && *n <= i32::MAX as u32)
                    .ok_or_else(|| Error::Unsupported { what: format!("partition transform {s:?} (bad width)") }),
            )
        };
        Ok(match s {
            "identity" => Transform::Identity,
            "year" => Transform::Year,
            "month" => Transform::Month,
            "day" => Transform::Day,
            "hour" => Transform::Hour,
            "void" => Transform::Void,
            _ => {
                if let Some(n) = width("bucket[") {
                    Transform::Bucket(n?)
                } else if let Some(w) = width("truncate[") {
                    Transform::Truncate(w?)
                } else {
                    return Err(Error::Unsupported { what: format!("partition transform {s:?}") });
                }
            }
        })
    }

    /// The partition value's type for a source column of type `source`: identity,
    /// truncate and void keep it, bucket/year/month/hour give `int`, day gives `date`.
    /// A source type the spec does not allow for the transform is
    /// [`Error::InvalidArgument`].
    pub fn result_type(&self, source: &PrimitiveType) -> Result<PrimitiveType> {
        use PrimitiveType as P;
        let time_like = matches!(source, P::Date | P::Timestamp | P::Timestamptz);
        let (allowed, result) = match self {
            Transform::Identity | Transform::Void => (true, source.clone()),
            Transform::Year | Transform::Month => (time_like, P::Int),
            Transform::Day => (time_like, P::Date),
            Transform::Hour => (matches!(source, P::Timestamp | P::Timestamptz), P::Int),
            Transform::Bucket(_) => (!matches!(source, P::Boolean | P::Float | P::Double), P::Int),
            Transform::Truncate(_) => {
                (matches!(source, P::Int | P::Long | P::Decimal { .. } | P::String | P::Binary), source.clone())
            }
        };
        if !allowed {
            return Err(bad(format!("partition transform {self} cannot apply to a {source} column")));
        }
        Ok(result)
    }

    /// Applies the transform to one value (`None` = null, which every transform maps to
    /// null). A value the transform does not take is [`Error::InvalidArgument`].
    pub fn apply(&self, value: Option<&Datum>) -> Result<Option<Datum>> {
        let Some(v) = value else { return Ok(None) };
        let wrong = || bad(format!("partition transform {self} cannot apply to {v:?}"));
        Ok(Some(match self {
            Transform::Identity => v.clone(),
            Transform::Void => return Ok(None),
            Transform::Bucket(n) => Datum::Int(bucket_of(hash_datum(v).ok_or_else(wrong)?, *n)),
            Transform::Truncate(w) => truncate_datum(v, *w).ok_or_else(wrong)?,
            Transform::Year => Datum::Int(year_of_days(days_of(v).ok_or_else(wrong)?)),
            Transform::Month => Datum::Int(month_of_days(days_of(v).ok_or_else(wrong)?)),
            Transform::Day => Datum::Date(clamp_i32(days_of(v).ok_or_else(wrong)?)),
            Transform::Hour => match v {
                Datum::Timestamp(t) | Datum::Timestamptz(t) => Datum::Int(clamp_i32(t.div_euclid(MICROS_PER_HOUR))),
                _ => return Err(wrong()),
            },
        }))
    }

    /// Applies the transform to an Arrow array holding values of the Iceberg type
    /// `source` in floe's Arrow representation ([`primitive_to_arrow`]; what
    /// `conform_batch` produces). The result has the Arrow type of
    /// [`Transform::result_type`] and the same nulls.
    pub(crate) fn apply_array(&self, array: &ArrayRef, source: &PrimitiveType) -> Result<ArrayRef> {
        let result = self.result_type(source)?;
        let mismatch =
            || bad(format!("partition transform {self} over {source}: array has Arrow type {}", array.data_type()));
        if array.data_type() != &primitive_to_arrow(source) {
            return Err(mismatch());
        }
        Ok(match self {
            Transform::Identity => array.clone(),
            Transform::Void => new_null_array(&primitive_to_arrow(&result), array.len()),
            Transform::Bucket(n) => {
                let n = *n;
                let out: Int32Array = match array.data_type() {
                    // Ints and dates hash as longs.
                    DataType::Int32 => array
                        .as_primitive::<Int32Type>()
                        .unary(|v| bucket_of(murmur3_32(&i64::from(v).to_le_bytes()), n)),
                    DataType::Date32 => array
                        .as_primitive::<Date32Type>()
                        .unary(|v| bucket_of(murmur3_32(&i64::from(v).to_le_bytes()), n)),
                    DataType::Int64 => {
                        array.as_primitive::<Int64Type>().unary(|v| bucket_of(murmur3_32(&v.to_le_bytes()), n))
                    }
                    DataType::Time64(TimeUnit::Microsecond) => array
                        .as_primitive::<Time64MicrosecondType>()
                        .unary(|v| bucket_of(murmur3_32(&v.to_le_bytes()), n)),
                    DataType::Timestamp(TimeUnit::Microsecond, _) => array
                        .as_primitive::<TimestampMicrosecondType>()
                        .unary(|v| bucket_of(murmur3_32(&v.to_le_bytes()), n)),
                    DataType::Decimal128(_, _) => array
                        .as_primitive::<Decimal128Type>()
                        .unary(|v| bucket_of(murmur3_32(&Datum::Decimal(v).to_bytes()), n)),
                    DataType::Utf8 => array
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.map(|s| bucket_of(murmur3_32(s.as_bytes()), n)))
                        .collect(),
                    DataType::Binary => {
                        array.as_binary::<i32>().iter().map(|v| v.map(|b| bucket_of(murmur3_32(b), n))).collect()
                    }
                    DataType::FixedSizeBinary(_) => {
                        array.as_fixed_size_binary().iter().map(|v| v.map(|b| bucket_of(murmur3_32(b), n))).collect()
                    }
                    _ => return Err(mismatch()),
                };
                Arc::new(out)
            }
            Transform::Truncate(w) => {
                let w = *w;
                match array.data_type() {
                    DataType::Int32 => {
                        let w = w as i32;
                        Arc::new(
                            array
                                .as_primitive::<Int32Type>()
                                .unary::<_, Int32Type>(|v| v.wrapping_sub(v.rem_euclid(w))),
                        )
                    }
                    DataType::Int64 => {
                        let w = i64::from(w);
                        Arc::new(
                            array
                                .as_primitive::<Int64Type>()
                                .unary::<_, Int64Type>(|v| v.wrapping_sub(v.rem_euclid(w))),
                        )
                    }
                    DataType::Decimal128(p, s) => {
                        let w = i128::from(w);
                        let a: Decimal128Array = array
                            .as_primitive::<Decimal128Type>()
                            .unary::<_, Decimal128Type>(|v| v.wrapping_sub(v.rem_euclid(w)));
                        Arc::new(a.with_precision_and_scale(*p, *s)?)
                    }
                    DataType::Utf8 => Arc::new(
                        array.as_string::<i32>().iter().map(|v| v.map(|s| truncate_str(s, w))).collect::<StringArray>(),
                    ),
                    DataType::Binary => Arc::new(
                        array
                            .as_binary::<i32>()
                            .iter()
                            .map(|v| v.map(|b| &b[..b.len().min(w as usize)]))
                            .collect::<BinaryArray>(),
                    ),
                    _ => return Err(mismatch()),
                }
            }
            Transform::Year | Transform::Month | Transform::Day | Transform::Hour => {
                let unit = *self;
                let days_fn = move |d: i64| -> i32 {
                    match unit {
                        Transform::Year => year_of_days(d),
                        Transform::Month => month_of_days(d),
                        _ => clamp_i32(d),
                    }
                };
                let out: ArrayRef = match array.data_type() {
                    DataType::Date32 => {
                        let a = array.as_primitive::<Date32Type>();
                        match unit {
                            Transform::Day => array.clone(),
                            _ => Arc::new(a.unary::<_, Int32Type>(|d| days_fn(i64::from(d)))),
                        }
                    }
                    DataType::Timestamp(TimeUnit::Microsecond, _) => {
                        let a = array.as_primitive::<TimestampMicrosecondType>();
                        match unit {
                            Transform::Hour => {
                                Arc::new(a.unary::<_, Int32Type>(|t| clamp_i32(t.div_euclid(MICROS_PER_HOUR))))
                            }
                            Transform::Day => {
                                Arc::new(a.unary::<_, Date32Type>(|t| clamp_i32(t.div_euclid(MICROS_PER_DAY))))
                                    as ArrayRef
                            }
                            _ => Arc::new(a.unary::<_, Int32Type>(|t| days_fn(t.div_euclid(MICROS_PER_DAY)))),
                        }
                    }
                    _ => return Err(mismatch()),
                };
                out
            }
        })
    }

    /// The human string of a partition value (what partition paths show): `null`, the
    /// year (`2017`), `2017-11` for months, `2017-11-16` for days, `2017-11-16-22` for
    /// hours, the bucket number, and the value itself otherwise (decimals with their
    /// scale, binary as hex).
    /// True when `a <= b` implies `transform(a) <= transform(b)` (identity, truncate and
    /// the time transforms); false for bucket and void.
    pub fn preserves_order(&self) -> bool {
        !matches!(self, Transform::Bucket(_) | Transform::Void)
    }

    #[allow(clippy::wrong_self_convention)] // `Transform` is `Copy`; kept by reference like its siblings
    pub(crate) fn to_human_string(&self, source: &PrimitiveType, value: Option<&Datum>) -> String {
        let Some(v) = value else { return "null".to_string() };
        match (self, v) {
            (Transform::Year, Datum::Int(y)) => format!("{:04}", 1970 + i64::from(*y)),
            (Transform::Month, Datum::Int(m)) => {
                let m = i64::from(*m);
                format!("{:04}-{:02}", 1970 + m.div_euclid(12), m.rem_euclid(12) + 1)
            }
            (Transform::Hour, Datum::Int(h)) => {
                let h = i64::from(*h);
                format!("{}-{:02}", Datum::Date(clamp_i32(h.div_euclid(24))), h.rem_euclid(24))
            }
            (Transform::Identity | Transform::Truncate(_), _) => v.to_string_typed(source),
            _ => v.to_string(),
        }
    }

    /// Inclusive projection: a predicate on the partition value that every row matching
    /// `bound` (a predicate on the source column of type `source`) also matches, or
    /// `None` when the transform loses too much to say anything (e.g. `<` on a bucket):
    /// `id < 10` on `truncate[5]` projects to `part <= 5`, and a bucket projects only
    /// equality and `IN` (unit test `project_examples`).
    pub(crate) fn project(&self, source: &PrimitiveType, bound: &Bound) -> Result<Option<Bound>> {
        self.result_type(source)?;
        let f = |d: &Datum| -> Result<Datum> {
            self.apply(Some(d))?.ok_or_else(|| bad(format!("transform {self} gave no value for {d:?}")))
        };
        let all = |ds: &[Datum]| -> Result<Vec<Datum>> {
            let mut out: Vec<Datum> = Vec::with_capacity(ds.len());
            for d in ds {
                let t = f(d)?;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            Ok(out)
        };
        Ok(match self {
            Transform::Identity => Some(bound.clone()),
            Transform::Void => None,
            Transform::Bucket(_) => match bound {
                Bound::IsNull => Some(Bound::IsNull),
                Bound::NotNull => Some(Bound::NotNull),
                Bound::Eq(d) => Some(Bound::Eq(f(d)?)),
                Bound::In(ds) => Some(Bound::In(all(ds)?)),
                _ => None,
            },
            Transform::Truncate(_) | Transform::Year | Transform::Month | Transform::Day | Transform::Hour => {
                match bound {
                    Bound::IsNull => Some(Bound::IsNull),
                    Bound::NotNull => Some(Bound::NotNull),
                    Bound::Eq(d) => Some(Bound::Eq(f(d)?)),
                    Bound::In(ds) => Some(Bound::In(all(ds)?)),
                    // x < v  =>  x <= v - 1  =>  f(x) <= f(v - 1) for discrete types;
                    // strings and binaries have no predecessor, f(x) <= f(v) holds.
                    Bound::Lt(d) => Some(Bound::LtEq(f(&step(d, -1).unwrap_or_else(|| d.clone()))?)),
                    Bound::LtEq(d) => Some(Bound::LtEq(f(d)?)),
                    Bound::Gt(d) => Some(Bound::GtEq(f(&step(d, 1).unwrap_or_else(|| d.clone()))?)),
                    Bound::GtEq(d) => Some(Bound::GtEq(f(d)?)),
                    Bound::StartsWith(p) => match self {
                        Transform::Truncate(w) => {
                            if p.chars().count() >= *w as usize {
                                Some(Bound::Eq(Datum::String(truncate_str(p, *w).to_string())))
                            } else {
                                Some(Bound::StartsWith(p.clone()))
                            }
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
        })
    }
}

/// The next (`delta` = 1) or previous (-1) value of a discrete type, `None` for types
/// without one or at the end of the range.
fn step(d: &Datum, delta: i8) -> Option<Datum> {
    let d64 = i64::from(delta);
    Some(match d {
        Datum::Int(v) => Datum::Int(v.checked_add(i32::from(delta))?),
        Datum::Date(v) => Datum::Date(v.checked_add(i32::from(delta))?),
        Datum::Long(v) => Datum::Long(v.checked_add(d64)?),
        Datum::Time(v) => Datum::Time(v.checked_add(d64)?),
        Datum::Timestamp(v) => Datum::Timestamp(v.checked_add(d64)?),
        Datum::Timestamptz(v) => Datum::Timestamptz(v.checked_add(d64)?),
        Datum::Decimal(v) => Datum::Decimal(v.checked_add(i128::from(delta))?),
        _ => return None,
    })
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn days_of(v: &Datum) -> Option<i64> {
    match v {
        Datum::Date(d) => Some(i64::from(*d)),
        Datum::Timestamp(t) | Datum::Timestamptz(t) => Some(t.div_euclid(MICROS_PER_DAY)),
        _ => None,
    }
}

fn year_of_days(days: i64) -> i32 {
    clamp_i32(civil_from_days(days).0 - 1970)
}

fn month_of_days(days: i64) -> i32 {
    let (y, m, _) = civil_from_days(days);
    clamp_i32((y - 1970) * 12 + i64::from(m) - 1)
}

fn truncate_str(s: &str, w: u32) -> &str {
    match s.char_indices().nth(w as usize) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn truncate_datum(v: &Datum, w: u32) -> Option<Datum> {
    Some(match v {
        Datum::Int(x) => {
            let w = i32::try_from(w).ok()?;
            Datum::Int(x.wrapping_sub(x.rem_euclid(w)))
        }
        Datum::Long(x) => Datum::Long(x.wrapping_sub(x.rem_euclid(i64::from(w)))),
        Datum::Decimal(x) => Datum::Decimal(x.wrapping_sub(x.rem_euclid(i128::from(w)))),
        Datum::String(s) => Datum::String(truncate_str(s, w).to_string()),
        Datum::Binary(b) => Datum::Binary(b[..b.len().min(w as usize)].to_vec()),
        _ => return None,
    })
}

/// The bytes Appendix B hashes for a value, hashed; `None` for types bucket does not take.
fn hash_datum(v: &Datum) -> Option<i32> {
    Some(match v {
        Datum::Int(x) | Datum::Date(x) => murmur3_32(&i64::from(*x).to_le_bytes()),
        Datum::Long(x) | Datum::Time(x) | Datum::Timestamp(x) | Datum::Timestamptz(x) => murmur3_32(&x.to_le_bytes()),
        Datum::Decimal(_) | Datum::String(_) | Datum::Uuid(_) | Datum::Fixed(_) | Datum::Binary(_) => {
            murmur3_32(&v.to_bytes())
        }
        Datum::Boolean(_) | Datum::Float(_) | Datum::Double(_) => return None,
    })
}

fn bucket_of(hash: i32, n: u32) -> i32 {
    // n <= i32::MAX (checked at parse); n = 0 cannot be built through parse.
    ((hash & i32::MAX) as u32 % n.max(1)) as i32
}

/// 32-bit Murmur3 x86 with seed 0, as Guava's `murmur3_32` (the hash Appendix B names),
/// returned as the signed int Java sees.
pub fn murmur3_32(data: &[u8]) -> i32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix_k = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h: u32 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        h ^= mix_k(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k: u32 = 0;
        for (i, b) in tail.iter().enumerate() {
            k ^= u32::from(*b) << (8 * i);
        }
        h ^= mix_k(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}

impl Datum {
    /// Row `row` of an Arrow array holding values of `ty` in floe's Arrow
    /// representation ([`PrimitiveType::to_arrow`]), as a value: `None` for a null, a
    /// row out of range, or an array of another Arrow type.
    pub fn from_arrow(array: &dyn Array, row: usize, ty: &PrimitiveType) -> Option<Datum> {
        if row >= array.len() {
            return None;
        }
        datum_at(array, row, ty)
    }
}

/// Row `row` of an array holding values of `ty` in floe's Arrow representation, as a
/// [`Datum`] (`None` for null or an array of another Arrow type).
pub fn datum_at(array: &dyn Array, row: usize, ty: &PrimitiveType) -> Option<Datum> {
    use PrimitiveType as P;
    if row >= array.len() || array.is_null(row) {
        return None;
    }
    let any = array.as_any();
    Some(match ty {
        P::Boolean => Datum::Boolean(any.downcast_ref::<BooleanArray>()?.value(row)),
        P::Int => Datum::Int(any.downcast_ref::<Int32Array>()?.value(row)),
        P::Long => Datum::Long(any.downcast_ref::<Int64Array>()?.value(row)),
        P::Float => Datum::Float(any.downcast_ref::<Float32Array>()?.value(row)),
        P::Double => Datum::Double(any.downcast_ref::<Float64Array>()?.value(row)),
        P::Decimal { .. } => Datum::Decimal(any.downcast_ref::<Decimal128Array>()?.value(row)),
        P::Date => Datum::Date(any.downcast_ref::<Date32Array>()?.value(row)),
        P::Time => Datum::Time(any.downcast_ref::<Time64MicrosecondArray>()?.value(row)),
        P::Timestamp => Datum::Timestamp(any.downcast_ref::<TimestampMicrosecondArray>()?.value(row)),
        P::Timestamptz => Datum::Timestamptz(any.downcast_ref::<TimestampMicrosecondArray>()?.value(row)),
        P::String => Datum::String(any.downcast_ref::<StringArray>()?.value(row).to_string()),
        P::Uuid => Datum::Uuid(any.downcast_ref::<FixedSizeBinaryArray>()?.value(row).try_into().ok()?),
        P::Fixed(_) => Datum::Fixed(any.downcast_ref::<FixedSizeBinaryArray>()?.value(row).to_vec()),
        P::Binary => Datum::Binary(any.downcast_ref::<BinaryArray>()?.value(row).to_vec()),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn project_examples() {
        use super::{Bound, Transform};
        use crate::spec::types::PrimitiveType;
        use crate::spec::values::Datum;
        // id < 10 on truncate[5] -> part <= 5
        let p = Transform::Truncate(5).project(&PrimitiveType::Long, &Bound::Lt(Datum::Long(10))).unwrap();
        assert_eq!(p, Some(Bound::LtEq(Datum::Long(5))));
        // bucket only projects equality and IN
        assert_eq!(Transform::Bucket(4).project(&PrimitiveType::Long, &Bound::Lt(Datum::Long(10))).unwrap(), None);
    }

    use super::*;
    use PrimitiveType as P;

    const TIME_22_31_08: i64 = (22 * 3600 + 31 * 60 + 8) * 1_000_000;
    const DAY_2017_11_16: i32 = 17486;

    fn bucket_hash(v: Datum) -> i32 {
        hash_datum(&v).unwrap()
    }

    #[test]
    fn murmur3_matches_the_spec_appendix_b() {
        // The spec's "hash values for each type" table.
        assert_eq!(bucket_hash(Datum::Int(34)), 2017239379);
        assert_eq!(bucket_hash(Datum::Long(34)), 2017239379);
        assert_eq!(bucket_hash(Datum::Decimal(1420)), -500754589); // 14.20
        assert_eq!(bucket_hash(Datum::Date(DAY_2017_11_16)), -653330422);
        assert_eq!(bucket_hash(Datum::Time(TIME_22_31_08)), -662762989);
        let ts = i64::from(DAY_2017_11_16) * MICROS_PER_DAY + TIME_22_31_08;
        assert_eq!(bucket_hash(Datum::Timestamp(ts)), -2047944441);
        // 2017-11-16T14:31:08-08:00 is the same instant.
        assert_eq!(bucket_hash(Datum::Timestamptz(ts)), -2047944441);
        assert_eq!(bucket_hash(Datum::String("iceberg".into())), 1210000089);
        let uuid = [0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd, 0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7];
        assert_eq!(bucket_hash(Datum::Uuid(uuid)), 1488055340);
        assert_eq!(bucket_hash(Datum::Fixed(vec![0, 1, 2, 3])), -188683207);
        assert_eq!(bucket_hash(Datum::Binary(vec![0, 1, 2, 3])), -188683207);
        assert_eq!(hash_datum(&Datum::Double(1.0)), None);
        // Every tail length is exercised.
        let lens: Vec<i32> = (0..8).map(|n| murmur3_32(&b"abcdefgh"[..n])).collect();
        assert_eq!(lens.iter().collect::<std::collections::HashSet<_>>().len(), 8);
        assert_eq!(murmur3_32(b""), 0);
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in ["identity", "bucket[16]", "truncate[4]", "year", "month", "day", "hour", "void"] {
            assert_eq!(Transform::parse(s).unwrap().to_string(), s);
            assert_eq!(s.parse::<Transform>().unwrap().to_string(), s);
        }
        assert_eq!(Transform::parse(" bucket[ 8 ] ").unwrap(), Transform::Bucket(8));
        for s in [
            "zorder",
            "bucket",
            "",
            "Identity",
            "bucket[0]",
            "bucket[]",
            "truncate[-1]",
            "bucket[x]",
            "bucket[3000000000]",
        ] {
            assert!(matches!(Transform::parse(s), Err(Error::Unsupported { .. })), "{s}");
        }
    }

    #[test]
    fn result_types_follow_the_spec() {
        let t = |s: &str| Transform::parse(s).unwrap();
        assert_eq!(t("bucket[4]").result_type(&P::String).unwrap(), P::Int);
        assert_eq!(t("day").result_type(&P::Timestamptz).unwrap(), P::Date);
        assert_eq!(t("truncate[3]").result_type(&P::String).unwrap(), P::String);
        assert_eq!(t("void").result_type(&P::Double).unwrap(), P::Double);
        assert!(t("bucket[4]").result_type(&P::Double).is_err());
        assert!(t("hour").result_type(&P::Date).is_err());
        assert!(t("truncate[2]").result_type(&P::Uuid).is_err());
        assert!(t("year").result_type(&P::Long).is_err());
        assert!(t("identity").preserves_order() && t("day").preserves_order() && t("truncate[2]").preserves_order());
        assert!(!t("bucket[2]").preserves_order() && !t("void").preserves_order());
    }

    #[test]
    fn truncate_follows_the_spec_examples() {
        let tr = |w, d: Datum| Transform::Truncate(w).apply(Some(&d)).unwrap().unwrap();
        assert_eq!(tr(10, Datum::Int(1)), Datum::Int(0));
        assert_eq!(tr(10, Datum::Int(-1)), Datum::Int(-10));
        assert_eq!(tr(10, Datum::Long(1)), Datum::Long(0));
        assert_eq!(tr(10, Datum::Long(-1)), Datum::Long(-10));
        assert_eq!(tr(50, Datum::Decimal(1065)), Datum::Decimal(1050)); // 10.65 -> 10.50
        assert_eq!(tr(3, Datum::String("iceberg".into())), Datum::String("ice".into()));
        assert_eq!(tr(2, Datum::String("héllo".into())), Datum::String("hé".into()));
        assert_eq!(tr(3, Datum::Binary(vec![1, 2, 3, 4])), Datum::Binary(vec![1, 2, 3]));
        // Java int arithmetic wraps: MIN - 2 = MAX - 1.
        assert_eq!(tr(10, Datum::Int(i32::MIN)), Datum::Int(i32::MAX - 1));
        assert!(Transform::Truncate(2).apply(Some(&Datum::Double(1.0))).is_err());
    }

    #[test]
    fn time_transforms_floor() {
        let ts = i64::from(DAY_2017_11_16) * MICROS_PER_DAY + TIME_22_31_08;
        let ap = |t: Transform, d: Datum| t.apply(Some(&d)).unwrap().unwrap();
        assert_eq!(ap(Transform::Year, Datum::Timestamp(ts)), Datum::Int(47));
        assert_eq!(ap(Transform::Month, Datum::Timestamp(ts)), Datum::Int(47 * 12 + 10));
        assert_eq!(ap(Transform::Day, Datum::Timestamp(ts)), Datum::Date(DAY_2017_11_16));
        assert_eq!(ap(Transform::Hour, Datum::Timestamptz(ts)), Datum::Int(DAY_2017_11_16 * 24 + 22));
        assert_eq!(ap(Transform::Year, Datum::Date(DAY_2017_11_16)), Datum::Int(47));
        // Before the epoch: floor, not truncation toward zero.
        assert_eq!(ap(Transform::Year, Datum::Date(-1)), Datum::Int(-1));
        assert_eq!(ap(Transform::Month, Datum::Date(-1)), Datum::Int(-1));
        assert_eq!(ap(Transform::Day, Datum::Timestamp(-1)), Datum::Date(-1));
        assert_eq!(ap(Transform::Hour, Datum::Timestamp(-1)), Datum::Int(-1));
        assert_eq!(Transform::Void.apply(Some(&Datum::Int(1))).unwrap(), None);
        assert_eq!(Transform::Bucket(3).apply(None).unwrap(), None);
        assert!(Transform::Hour.apply(Some(&Datum::Date(1))).is_err());
        let hs = |t: Transform, d: Datum| t.to_human_string(&P::Timestamp, t.apply(Some(&d)).unwrap().as_ref());
        assert_eq!(hs(Transform::Year, Datum::Timestamp(ts)), "2017");
        assert_eq!(hs(Transform::Month, Datum::Timestamp(ts)), "2017-11");
        assert_eq!(hs(Transform::Day, Datum::Timestamp(ts)), "2017-11-16");
        assert_eq!(hs(Transform::Hour, Datum::Timestamp(ts)), "2017-11-16-22");
        assert_eq!(Transform::Identity.to_human_string(&P::Int, None), "null");
        let dec = P::Decimal { precision: 9, scale: 2 };
        assert_eq!(Transform::Identity.to_human_string(&dec, Some(&Datum::Decimal(1420))), "14.20");
    }

    /// Arrays of every source type with a null; the Arrow path must equal the Datum path.
    #[test]
    fn arrow_path_equals_datum_path() {
        use arrow_array::*;
        let ts = i64::from(DAY_2017_11_16) * MICROS_PER_DAY + TIME_22_31_08;
        let uuid = [7u8; 16];
        let cases: Vec<(P, ArrayRef)> = vec![
            (P::Int, Arc::new(Int32Array::from(vec![Some(34), None, Some(-7), Some(i32::MIN)]))),
            (P::Long, Arc::new(Int64Array::from(vec![Some(34), None, Some(-7), Some(i64::MAX)]))),
            (
                P::Decimal { precision: 9, scale: 2 },
                Arc::new(
                    Decimal128Array::from(vec![Some(1420), None, Some(-1065)]).with_precision_and_scale(9, 2).unwrap(),
                ),
            ),
            (P::Date, Arc::new(Date32Array::from(vec![Some(DAY_2017_11_16), None, Some(-1), Some(0)]))),
            (P::Time, Arc::new(Time64MicrosecondArray::from(vec![Some(TIME_22_31_08), None]))),
            (P::Timestamp, Arc::new(TimestampMicrosecondArray::from(vec![Some(ts), None, Some(-1), Some(0)]))),
            (
                P::Timestamptz,
                Arc::new(TimestampMicrosecondArray::from(vec![Some(ts), None, Some(-1)]).with_timezone("UTC")),
            ),
            (P::String, Arc::new(StringArray::from(vec![Some("iceberg"), None, Some("é✓x"), Some("")]))),
            (P::Binary, Arc::new(BinaryArray::from(vec![Some(&[0u8, 1, 2, 3][..]), None, Some(&[][..])]))),
            (
                P::Uuid,
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size([Some(uuid), None].into_iter(), 16).unwrap(),
                ),
            ),
            (
                P::Fixed(2),
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size([Some([1u8, 2]), None].into_iter(), 2)
                        .unwrap(),
                ),
            ),
            (P::Boolean, Arc::new(BooleanArray::from(vec![Some(true), None]))),
            (P::Double, Arc::new(Float64Array::from(vec![Some(f64::NAN), None]))),
        ];
        let transforms = [
            Transform::Identity,
            Transform::Bucket(16),
            Transform::Bucket(1),
            Transform::Truncate(3),
            Transform::Truncate(50),
            Transform::Year,
            Transform::Month,
            Transform::Day,
            Transform::Hour,
            Transform::Void,
        ];
        let mut checked = 0;
        for (ty, array) in &cases {
            for t in transforms {
                let Ok(rt) = t.result_type(ty) else {
                    assert!(t.apply_array(array, ty).is_err());
                    continue;
                };
                let out = t.apply_array(array, ty).unwrap();
                assert_eq!(out.data_type(), &primitive_to_arrow(&rt), "{t} over {ty}");
                assert_eq!(out.len(), array.len());
                for row in 0..array.len() {
                    let want = t.apply(datum_at(array.as_ref(), row, ty).as_ref()).unwrap();
                    let got = datum_at(out.as_ref(), row, &rt);
                    assert_eq!(
                        got.as_ref().map(|g| g.compare(want.as_ref().unwrap()) == Some(std::cmp::Ordering::Equal)),
                        want.as_ref().map(|_| true),
                        "{t} over {ty} row {row}: {got:?} vs {want:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100);
        // A wrong Arrow type is an error, not a panic.
        let wrong: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert!(Transform::Bucket(2).apply_array(&wrong, &P::Int).is_err());
    }

    #[test]
    fn inclusive_projection() {
        let pr = |t: Transform, ty: P, b: Bound| t.project(&ty, &b).unwrap();
        // The brief's example: id < 10 on truncate[5] -> part <= 5.
        assert_eq!(pr(Transform::Truncate(5), P::Int, Bound::Lt(Datum::Int(10))), Some(Bound::LtEq(Datum::Int(5))));
        assert_eq!(pr(Transform::Truncate(5), P::Int, Bound::LtEq(Datum::Int(10))), Some(Bound::LtEq(Datum::Int(10))));
        assert_eq!(pr(Transform::Truncate(5), P::Int, Bound::Gt(Datum::Int(9))), Some(Bound::GtEq(Datum::Int(10))));
        assert_eq!(pr(Transform::Truncate(5), P::Int, Bound::GtEq(Datum::Int(9))), Some(Bound::GtEq(Datum::Int(5))));
        assert_eq!(pr(Transform::Truncate(5), P::Int, Bound::NotEq(Datum::Int(9))), None);
        assert_eq!(
            pr(Transform::Truncate(5), P::Long, Bound::In(vec![Datum::Long(1), Datum::Long(3), Datum::Long(7)])),
            Some(Bound::In(vec![Datum::Long(0), Datum::Long(5)]))
        );
        assert_eq!(
            pr(Transform::Truncate(3), P::String, Bound::StartsWith("icebe".into())),
            Some(Bound::Eq(Datum::String("ice".into())))
        );
        assert_eq!(
            pr(Transform::Truncate(3), P::String, Bound::StartsWith("ic".into())),
            Some(Bound::StartsWith("ic".into()))
        );
        assert_eq!(
            pr(Transform::Truncate(3), P::String, Bound::Lt(Datum::String("iceberg".into()))),
            Some(Bound::LtEq(Datum::String("ice".into())))
        );
        // bucket: eq / in / null checks only.
        let b = Transform::Bucket(16);
        let b34 = b.apply(Some(&Datum::Long(34))).unwrap().unwrap();
        assert_eq!(pr(b, P::Long, Bound::Eq(Datum::Long(34))), Some(Bound::Eq(b34)));
        assert_eq!(pr(b, P::Long, Bound::Lt(Datum::Long(34))), None);
        assert_eq!(pr(b, P::Long, Bound::NotEq(Datum::Long(34))), None);
        assert_eq!(pr(b, P::Long, Bound::IsNull), Some(Bound::IsNull));
        // time: ts < 2017-11-17T00:00 on day -> day <= 2017-11-16.
        let midnight = i64::from(DAY_2017_11_16 + 1) * MICROS_PER_DAY;
        assert_eq!(
            pr(Transform::Day, P::Timestamp, Bound::Lt(Datum::Timestamp(midnight))),
            Some(Bound::LtEq(Datum::Date(DAY_2017_11_16)))
        );
        assert_eq!(
            pr(Transform::Day, P::Timestamp, Bound::Gt(Datum::Timestamp(midnight - 1))),
            Some(Bound::GtEq(Datum::Date(DAY_2017_11_16 + 1)))
        );
        assert_eq!(pr(Transform::Identity, P::Int, Bound::NotEq(Datum::Int(1))), Some(Bound::NotEq(Datum::Int(1))));
        assert_eq!(pr(Transform::Void, P::Int, Bound::Eq(Datum::Int(1))), None);
        assert!(Transform::Hour.project(&P::Date, &Bound::IsNull).is_err());
    }

    /// Property: for many values and every comparison, projection is inclusive.
    #[test]
    fn projection_is_inclusive_exhaustively() {
        let ops: [fn(Datum) -> Bound; 5] = [Bound::Lt, Bound::LtEq, Bound::Gt, Bound::GtEq, Bound::Eq];
        let holds = |b: &Bound, v: &Datum| -> bool {
            let c = |d: &Datum| v.compare(d).unwrap();
            use std::cmp::Ordering::*;
            match b {
                Bound::Lt(d) => c(d) == Less,
                Bound::LtEq(d) => c(d) != Greater,
                Bound::Gt(d) => c(d) == Greater,
                Bound::GtEq(d) => c(d) != Less,
                Bound::Eq(d) => c(d) == Equal,
                Bound::In(ds) => ds.iter().any(|d| c(d) == Equal),
                _ => unreachable!(),
            }
        };
        let cases: Vec<(Transform, P, Vec<Datum>)> = vec![
            (Transform::Truncate(7), P::Long, (-30..30).map(Datum::Long).collect()),
            (Transform::Truncate(4), P::Int, (-20..20).map(Datum::Int).collect()),
            (Transform::Bucket(5), P::Int, (-20..20).map(Datum::Int).collect()),
            (Transform::Month, P::Date, (-800..800).step_by(7).map(Datum::Date).collect()),
            (Transform::Year, P::Date, (-800..800).step_by(13).map(Datum::Date).collect()),
            (
                Transform::Hour,
                P::Timestamp,
                (-100..100).map(|h| Datum::Timestamp(h * MICROS_PER_HOUR / 3 - 1)).collect(),
            ),
            (
                Transform::Truncate(2),
                P::String,
                ["", "a", "ab", "abc", "abd", "b", "ba", "bz"].iter().map(|s| Datum::String(s.to_string())).collect(),
            ),
        ];
        for (t, ty, values) in cases {
            for lit in &values {
                for op in ops {
                    let bound = op(lit.clone());
                    let Some(projected) = t.project(&ty, &bound).unwrap() else { continue };
                    for v in &values {
                        if holds(&bound, v) {
                            let pv = t.apply(Some(v)).unwrap().unwrap();
                            assert!(
                                holds(&projected, &pv),
                                "{t}: {v:?} matches {bound:?} but {pv:?} fails {projected:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
