//! Predicates: built in Rust or parsed from text, bound to a table schema, and evaluated
//! against partition values, column statistics and Arrow batches.
//!
//! Owns the unbound [`Predicate`] (column names and loosely typed [`Literal`]s), its
//! builder ([`col`]), its text syntax ([`Predicate::parse`], the inverse of its
//! `Display`), the bound form `BoundPredicate` (field ids and `Datum`s of the
//! column's type), and the three evaluations scans, deletes and conflict checks need:
//! - `BoundPredicate::might_match`: "can any row described by these statistics match?"
//!   over `ColumnStats` (manifest partition summaries, partition values, column bounds
//!   in manifests, Parquet row-group and page statistics);
//! - `BoundPredicate::project`: the inclusive projection of a predicate on source
//!   columns onto the partition fields of a spec (`project_leaf` is the per-transform
//!   hook; identity is implemented here);
//! - `BoundPredicate::evaluate`: the exact row mask of an Arrow batch.
//!
//! It also owns floe's one grammar for dates, times and timestamps written as text
//! ([`date_from_text`], [`time_from_text`], [`timestamp_from_text`]): arrow-cast's
//! parsers with floe's exactness checks, used for literals here and by the `floe`
//! command's file importer, so the two accept the same text.
//!
//! Promises:
//! - Binding checks every column name and literal against the schema and fails with a
//!   typed [`PredicateError`] (unknown column, non-primitive column, literal that does
//!   not fit the column type); a predicate that binds evaluates without error on batches
//!   of that schema. Columns are resolved to field ids once, at bind time, so statistics
//!   and files are matched by id: a file written before a rename is pruned and read
//!   correctly.
//! - Semantics are SQL's: a comparison with a null value is unknown and a row is selected
//!   only when the predicate is true, so `not (x = 1)` selects neither `x = 1` nor
//!   `x is null`. Floats compare by IEEE 754 total order (as Arrow's kernels do): NaN
//!   equals NaN and is greater than every number, `-0.0 < 0.0`.
//! - `might_match` is conservative: it returns false only when no row can match
//!   (pruning never changes a result, only the work), whatever statistics are missing,
//!   truncated (strings cut at 16 characters) or written before a type promotion.
//! - Parsing never panics; errors name the character position (0-based) and what was
//!   expected.
//! - Size costs time, never stack: `and`/`or` chains are single n-ary nodes (the builder
//!   and the parser flatten them), and everything that walks a predicate recurses once
//!   per level of *nesting* only, which is bounded: [`MAX_TEXT_NESTING`] levels of
//!   parentheses/`not` in text, [`MAX_DEPTH`] levels of and/or/not at bind time, with
//!   [`PredicateError::TooDeep`] beyond.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow_arith::boolean::{and, is_not_null, is_null, not, or};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int32Type, Int64Type, Time64MicrosecondType, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float32Array,
    Float64Array, Int32Array, Int64Array, RecordBatch, Scalar, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow_schema::DataType;
use arrow_select::filter::prep_null_mask_filter;

use crate::error::{Error, Result};
use crate::spec::manifest::{DataFile, FieldSummary, partition_field_type};
use crate::spec::metadata::PartitionSpec;
use crate::spec::types::{PARQUET_FIELD_ID_KEY, PrimitiveType, Schema};
use crate::spec::values::Datum;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

pub use crate::error::PredicateError;

impl From<PredicateError> for Error {
    fn from(e: PredicateError) -> Self {
        Error::Predicate(e)
    }
}

// ---------------------------------------------------------------------------------------
// Unbound predicates
// ---------------------------------------------------------------------------------------

/// A literal before it is checked against a column type.
///
/// Integers, floats, strings and booleans convert with `From`; a [`Datum`] is an already
/// typed value. Strings are coerced by the column type at bind time: dates
/// (`'2024-01-31'`), times (`'12:30:00'`), timestamps (`'2024-01-31 12:30:00.5'`, with
/// `Z` or `+hh:mm` for `timestamptz`), uuids, decimals written as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `true` / `false`
    Boolean(bool),
    /// An integer.
    Int(i64),
    /// A binary floating-point number.
    Float(f64),
    /// A number written with a fraction or exponent, kept as text so decimal columns get
    /// it exactly (`12.30`).
    Numeral(String),
    /// A string.
    String(String),
    /// A value of a known Iceberg type.
    Typed(Datum),
}

macro_rules! literal_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Literal {
            fn from(v: $t) -> Self {
                Literal::Int(i64::from(v))
            }
        }
    )*};
}
literal_from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f32> for Literal {
    fn from(v: f32) -> Self {
        Literal::Float(f64::from(v))
    }
}
impl From<f64> for Literal {
    fn from(v: f64) -> Self {
        Literal::Float(v)
    }
}
impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Literal::Boolean(v)
    }
}
impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Literal::String(v.to_string())
    }
}
impl From<String> for Literal {
    fn from(v: String) -> Self {
        Literal::String(v)
    }
}
impl From<&String> for Literal {
    fn from(v: &String) -> Self {
        Literal::String(v.clone())
    }
}
impl From<Datum> for Literal {
    fn from(v: Datum) -> Self {
        Literal::Typed(v)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// The operator that selects exactly the non-null rows this one does not.
    pub(crate) fn negate(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
        }
    }

    /// `a op b` ⇔ `b flip(op) a`.
    pub(crate) fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            op => op,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A row predicate over column names, not yet checked against a schema.
///
/// Build one with [`col`] and the combinators, or parse one with [`Predicate::parse`]:
///
/// ```
/// use floe::expr::{col, Predicate};
/// let p = col("id").gt(5).and(col("name").eq("a"));
/// assert_eq!(p, Predicate::parse("id > 5 and name = 'a'").unwrap());
/// assert_eq!(p.to_string(), "id > 5 and name = 'a'");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Every row.
    True,
    /// No row.
    False,
    /// `column op value`
    Compare {
        /// Column name.
        column: String,
        /// Operator.
        op: CmpOp,
        /// The value compared with.
        value: Literal,
    },
    /// `column is null`
    IsNull(String),
    /// `column is not null`
    NotNull(String),
    /// `column in (v, …)` (or `not in` when `negated`).
    In {
        /// Column name.
        column: String,
        /// The values.
        values: Vec<Literal>,
        /// `not in`.
        negated: bool,
    },
    /// `not p`
    Not(Box<Predicate>),
    /// `a and b and …`: every term holds (no term: `true`). Chains are flat: the
    /// builder and the parser never nest an `And` directly in an `And`.
    And(Vec<Predicate>),
    /// `a or b or …`: some term holds (no term: `false`). Flat like `And`.
    Or(Vec<Predicate>),
}

/// How deeply parentheses and `not` may nest in predicate text
/// ([`Predicate::parse`]); deeper text is [`PredicateError::TooDeep`].
pub const MAX_TEXT_NESTING: usize = 200;

/// How deeply `and`, `or` and `not` may nest in a predicate however it was built
/// (chains of one operator do not nest: `a and b and c` is one level); binding (`Predicate::check`, every scan and delete)
/// refuses deeper ones with [`PredicateError::TooDeep`]. Parsed text always fits: each
/// of its [`MAX_TEXT_NESTING`] levels adds at most three.
pub const MAX_DEPTH: usize = 1000;

/// A column reference, the start of a predicate: `col("id").gt(5)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
}

/// Refers to the top-level column `name`.
pub fn col(name: impl Into<String>) -> Column {
    Column { name: name.into() }
}

impl Column {
    fn cmp(self, op: CmpOp, v: impl Into<Literal>) -> Predicate {
        Predicate::Compare { column: self.name, op, value: v.into() }
    }
    /// `column < v`
    pub fn lt(self, v: impl Into<Literal>) -> Predicate {
        self.cmp(CmpOp::Lt, v)
    }
    /// `column <= v`
    pub fn le(self, v: impl Into<Literal>) -> Predicate {
        self.cmp(CmpOp::Le, v)
    }
    /// `column > v`
    pub fn gt(self, v: impl Into<Literal>) -> Predicate {
        self.cmp(CmpOp::Gt, v)
    }
    /// `column >= v`
    pub fn ge(self, v: impl Into<Literal>) -> Predicate {
        self.cmp(CmpOp::Ge, v)
    }
    /// `column = v`
    pub fn eq(self, v: impl Into<Literal>) -> Predicate {
        self.cmp(CmpOp::Eq, v)
    }
    /// `column != v`
    pub fn ne(self, v: impl Into<Literal>) -> Predicate {
        self.cmp(CmpOp::Ne, v)
    }
    /// `column is null`
    pub fn is_null(self) -> Predicate {
        Predicate::IsNull(self.name)
    }
    /// `column is not null`
    pub fn not_null(self) -> Predicate {
        Predicate::NotNull(self.name)
    }
    /// `column in (values…)`; an empty list matches no row.
    pub fn is_in<I, V>(self, values: I) -> Predicate
    where
        I: IntoIterator<Item = V>,
        V: Into<Literal>,
    {
        Predicate::In { column: self.name, values: values.into_iter().map(Into::into).collect(), negated: false }
    }
    /// `column not in (values…)`; an empty list matches every non-null row.
    pub fn not_in<I, V>(self, values: I) -> Predicate
    where
        I: IntoIterator<Item = V>,
        V: Into<Literal>,
    {
        Predicate::In { column: self.name, values: values.into_iter().map(Into::into).collect(), negated: true }
    }
    /// `column between lo and hi` (both inclusive): `column >= lo and column <= hi`.
    pub fn between(self, lo: impl Into<Literal>, hi: impl Into<Literal>) -> Predicate {
        let name = self.name.clone();
        self.ge(lo).and(col(name).le(hi))
    }
}

impl Predicate {
    /// `self and other`, flattened: a chain of `and`s of any length is one `And` node
    /// (so building, evaluating and dropping it never recurses per term). Extending a
    /// chain on the right (`chain.and(p)`, a left fold) costs O(1); putting a term in
    /// front of a chain (`p.and(chain)`) copies the chain.
    pub fn and(self, other: Predicate) -> Predicate {
        match (self, other) {
            (Predicate::And(mut a), Predicate::And(b)) => {
                a.extend(b);
                Predicate::And(a)
            }
            (Predicate::And(mut a), b) => {
                a.push(b);
                Predicate::And(a)
            }
            (a, Predicate::And(mut b)) => {
                b.insert(0, a);
                Predicate::And(b)
            }
            (a, b) => Predicate::And(vec![a, b]),
        }
    }
    /// `self or other`, flattened like [`and`](Self::and).
    pub fn or(self, other: Predicate) -> Predicate {
        match (self, other) {
            (Predicate::Or(mut a), Predicate::Or(b)) => {
                a.extend(b);
                Predicate::Or(a)
            }
            (Predicate::Or(mut a), b) => {
                a.push(b);
                Predicate::Or(a)
            }
            (a, Predicate::Or(mut b)) => {
                b.insert(0, a);
                Predicate::Or(b)
            }
            (a, b) => Predicate::Or(vec![a, b]),
        }
    }
    /// `not self`; `not (not p)` is `p` (equivalent in SQL's three-valued logic too), so
    /// a chain of `not`s never nests deeper than one.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Predicate {
        match self {
            Predicate::Not(p) => *p,
            p => Predicate::Not(Box::new(p)),
        }
    }

    /// Parses the text syntax (see [`parse`](crate::expr::Predicate::parse) grammar in
    /// `docs/predicates.md`): comparisons `= == != <> < <= > >=`, `is [not] null`,
    /// `[not] in (…)`, `[not] between a and b`, `and`, `or`, `not`, parentheses,
    /// `true`/`false`; identifiers bare or in double quotes, strings in single quotes
    /// (`''` escapes a quote), numbers with an optional sign, fraction and exponent.
    /// Keywords are case-insensitive.
    pub fn parse(text: &str) -> Result<Predicate, PredicateError> {
        Parser::new(text)?.parse_all()
    }

    /// The column names this predicate mentions, sorted.
    pub fn columns(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut BTreeSet<String>) {
        // An explicit stack: no recursion, whatever the predicate's shape.
        let mut todo = vec![self];
        while let Some(p) = todo.pop() {
            match p {
                Predicate::True | Predicate::False => {}
                Predicate::Compare { column, .. }
                | Predicate::IsNull(column)
                | Predicate::NotNull(column)
                | Predicate::In { column, .. } => {
                    out.insert(column.clone());
                }
                Predicate::Not(p) => todo.push(p),
                Predicate::And(ps) | Predicate::Or(ps) => todo.extend(ps),
            }
        }
    }

    /// How deeply `and`/`or`/`not` nodes nest (a leaf is 0, `a and b` is 1), counted
    /// without recursion and only up to `limit + 1`.
    fn depth_up_to(&self, limit: usize) -> usize {
        let mut deepest = 0;
        let mut todo = vec![(self, 0usize)];
        while let Some((p, d)) = todo.pop() {
            deepest = deepest.max(d);
            if deepest > limit {
                break;
            }
            match p {
                Predicate::Not(c) => todo.push((c, d + 1)),
                Predicate::And(ps) | Predicate::Or(ps) => todo.extend(ps.iter().map(|c| (c, d + 1))),
                _ => {}
            }
        }
        deepest
    }

    /// Checks the predicate against `schema` as a scan, delete or overwrite does before
    /// it runs: every column exists and is primitive, every literal fits its column's
    /// type, nesting is within [`MAX_DEPTH`]. For validating user input up front.
    pub fn check(&self, schema: &Schema) -> Result<(), PredicateError> {
        self.bind(schema).map(|_| ())
    }

    /// The rows of `batch` (a batch of `schema`'s Arrow form, as scans return and
    /// [`Schema::conform`] makes) this predicate selects, evaluated as a scan, delete or
    /// overwrite evaluates it (SQL semantics: a null comparison does not select).
    ///
    /// Errors: [`Error::Predicate`] when it does not fit `schema` (see
    /// [`Predicate::check`]), [`Error::InvalidArgument`] when `batch` lacks a column it
    /// reads.
    pub fn evaluate(&self, schema: &Schema, batch: &RecordBatch) -> Result<BooleanArray> {
        self.bind(schema)?.evaluate(batch)
    }

    /// Binds the predicate to `schema`: resolves column names to field ids,
    /// coerces each literal to its column's type, pushes `not` down to the leaves and
    /// folds constants. A predicate nested deeper than [`MAX_DEPTH`] is
    /// [`PredicateError::TooDeep`] (binding and evaluation recurse once per level).
    pub(crate) fn bind(&self, schema: &Schema) -> Result<BoundPredicate, PredicateError> {
        if self.depth_up_to(MAX_DEPTH) > MAX_DEPTH {
            return Err(PredicateError::TooDeep { limit: MAX_DEPTH, position: None });
        }
        Ok(self.bind_inner(schema, false)?.simplify())
    }

    fn bind_inner(&self, schema: &Schema, negate: bool) -> Result<BoundPredicate, PredicateError> {
        Ok(match self {
            Predicate::True => {
                if negate {
                    BoundPredicate::False
                } else {
                    BoundPredicate::True
                }
            }
            Predicate::False => {
                if negate {
                    BoundPredicate::True
                } else {
                    BoundPredicate::False
                }
            }
            Predicate::Not(p) => p.bind_inner(schema, !negate)?,
            Predicate::And(ps) | Predicate::Or(ps) => {
                let terms = ps.iter().map(|p| p.bind_inner(schema, negate)).collect::<Result<Vec<_>, _>>()?;
                // De Morgan holds in SQL's three-valued logic, so negation moves inward.
                if matches!(self, Predicate::And(_)) != negate {
                    BoundPredicate::And(terms)
                } else {
                    BoundPredicate::Or(terms)
                }
            }
            Predicate::IsNull(c) => {
                let (id, name, ty) = resolve(schema, c)?;
                let op = if negate { LeafOp::NotNull } else { LeafOp::IsNull };
                BoundPredicate::Leaf(BoundLeaf { field_id: id, name, ty, op })
            }
            Predicate::NotNull(c) => {
                let (id, name, ty) = resolve(schema, c)?;
                let op = if negate { LeafOp::IsNull } else { LeafOp::NotNull };
                BoundPredicate::Leaf(BoundLeaf { field_id: id, name, ty, op })
            }
            Predicate::Compare { column, op, value } => {
                let (id, name, ty) = resolve(schema, column)?;
                let v = coerce(value, &ty, &name)?;
                let op = if negate { op.negate() } else { *op };
                BoundPredicate::Leaf(BoundLeaf { field_id: id, name, ty, op: LeafOp::Cmp(op, v) })
            }
            Predicate::In { column, values, negated } => {
                let (id, name, ty) = resolve(schema, column)?;
                let mut datums: Vec<Datum> = Vec::with_capacity(values.len());
                for v in values {
                    datums.push(coerce(v, &ty, &name)?);
                }
                datums.sort_by(|a, b| a.compare(b).unwrap_or(std::cmp::Ordering::Equal));
                datums.dedup_by(|a, b| a.compare(b) == Some(std::cmp::Ordering::Equal));
                let op = if *negated != negate { LeafOp::NotIn(datums) } else { LeafOp::In(InList::new(datums)) };
                BoundPredicate::Leaf(BoundLeaf { field_id: id, name, ty, op })
            }
        })
    }
}

impl std::ops::Not for Predicate {
    type Output = Predicate;
    fn not(self) -> Predicate {
        Predicate::not(self)
    }
}

fn resolve(schema: &Schema, column: &str) -> Result<(i32, String, PrimitiveType), PredicateError> {
    let f = schema.field_by_name(column).ok_or_else(|| PredicateError::UnknownColumn { column: column.to_string() })?;
    let ty = f.field_type.as_primitive().ok_or_else(|| PredicateError::NotPrimitive {
        column: column.to_string(),
        column_type: format!("{:?}", f.field_type).chars().take(60).collect(),
    })?;
    Ok((f.id, f.name.clone(), ty.clone()))
}

// ---------------------------------------------------------------------------------------
// Display (the text syntax)
// ---------------------------------------------------------------------------------------

const KEYWORDS: [&str; 9] = ["and", "or", "not", "in", "is", "null", "between", "true", "false"];

fn write_ident(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let simple = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name));
    if simple { f.write_str(name) } else { write!(f, "\"{}\"", name.replace('"', "\"\"")) }
}

fn write_str_lit(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Float(v) => write!(f, "{v:?}"),
            Literal::Numeral(s) => f.write_str(s),
            Literal::String(s) => write_str_lit(f, s),
            Literal::Typed(d) => match d {
                Datum::Boolean(_)
                | Datum::Int(_)
                | Datum::Long(_)
                | Datum::Float(_)
                | Datum::Double(_)
                | Datum::Decimal(_) => write!(f, "{d}"),
                other => write_str_lit(f, &other.to_string()),
            },
        }
    }
}

impl Predicate {
    fn precedence(&self) -> u8 {
        match self {
            Predicate::Or(..) => 1,
            Predicate::And(..) => 2,
            Predicate::Not(_) => 3,
            _ => 4,
        }
    }

    fn write_child(f: &mut fmt::Formatter<'_>, child: &Predicate, min: u8) -> fmt::Result {
        if child.precedence() < min { write!(f, "({child})") } else { write!(f, "{child}") }
    }

    /// `a op b op …`; a child needs parentheses below precedence `min` (an `or` inside an
    /// `and`, or a nested chain of the same operator, which the builder never makes).
    fn write_chain(f: &mut fmt::Formatter<'_>, terms: &[Predicate], op: &str, empty: &str, min: u8) -> fmt::Result {
        if terms.is_empty() {
            return f.write_str(empty);
        }
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                f.write_str(op)?;
            }
            Predicate::write_child(f, t, min)?;
        }
        Ok(())
    }
}

/// The text syntax; `Predicate::parse(&p.to_string())` gives `p` back (for literals the
/// parser can produce).
impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::True => f.write_str("true"),
            Predicate::False => f.write_str("false"),
            Predicate::Compare { column, op, value } => {
                write_ident(f, column)?;
                write!(f, " {op} {value}")
            }
            Predicate::IsNull(c) => {
                write_ident(f, c)?;
                f.write_str(" is null")
            }
            Predicate::NotNull(c) => {
                write_ident(f, c)?;
                f.write_str(" is not null")
            }
            Predicate::In { column, values, negated } => {
                write_ident(f, column)?;
                f.write_str(if *negated { " not in (" } else { " in (" })?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Predicate::Not(p) => {
                f.write_str("not ")?;
                // `not` binds tighter than and/or, and a bare comparison after `not`
                // parses as well, but parentheses keep the text obvious.
                write!(f, "({p})")
            }
            Predicate::And(terms) => Predicate::write_chain(f, terms, " and ", "true", 3),
            Predicate::Or(terms) => Predicate::write_chain(f, terms, " or ", "false", 2),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Keyword(&'static str),
    Str(String),
    Int(i64),
    Numeral(String),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier {s:?}"),
            Tok::Keyword(k) => write!(f, "keyword {k}"),
            Tok::Str(s) => write!(f, "string '{s}'"),
            Tok::Int(v) => write!(f, "number {v}"),
            Tok::Numeral(s) => write!(f, "number {s}"),
            Tok::Op(op) => write!(f, "operator {op}"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
            Tok::End => f.write_str("end of input"),
        }
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

fn parse_err(position: usize, expected: impl Into<String>, found: impl Into<String>) -> PredicateError {
    PredicateError::Parse { position, expected: expected.into(), found: found.into() }
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, PredicateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                } else {
                    return Err(parse_err(start, "'!='", "'!'"));
                }
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' | '"' => {
                let quote = c;
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(parse_err(start, format!("a closing {quote}"), "end of input")),
                        Some(&ch) if ch == quote => {
                            if chars.get(i + 1) == Some(&quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                if quote == '\'' { Tok::Str(s) } else { Tok::Ident(s) }
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '.'))
                || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let mut s = String::new();
                if c == '-' || c == '+' {
                    s.push(c);
                    i += 1;
                }
                let mut fractional = false;
                while let Some(&d) = chars.get(i) {
                    if d.is_ascii_digit() {
                        s.push(d);
                        i += 1;
                    } else if d == '.' && !fractional {
                        fractional = true;
                        s.push(d);
                        i += 1;
                    } else if (d == 'e' || d == 'E')
                        && (chars.get(i + 1).is_some_and(|x| x.is_ascii_digit())
                            || (matches!(chars.get(i + 1), Some('+' | '-'))
                                && chars.get(i + 2).is_some_and(|x| x.is_ascii_digit())))
                    {
                        fractional = true;
                        s.push(d);
                        s.push(chars[i + 1]);
                        i += 2;
                    } else {
                        break;
                    }
                }
                if chars.get(i).is_some_and(|d| d.is_alphanumeric() || *d == '_') {
                    return Err(parse_err(start, "a number", format!("{s}{}", chars[i])));
                }
                if fractional {
                    if s.parse::<f64>().is_err() {
                        return Err(parse_err(start, "a number", s));
                    }
                    Tok::Numeral(s)
                } else {
                    match s.parse::<i64>() {
                        Ok(v) => Tok::Int(v),
                        // Too big for a long: only a decimal column can take it.
                        Err(_) => Tok::Numeral(s),
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some(&d) = chars.get(i) {
                    if d.is_alphanumeric() || d == '_' || d == '.' {
                        s.push(d);
                        i += 1;
                    } else {
                        break;
                    }
                }
                match KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(&s)) {
                    Some(k) => Tok::Keyword(k),
                    None => Tok::Ident(s),
                }
            }
            other => return Err(parse_err(start, "a predicate", format!("'{other}'"))),
        };
        toks.push((start, tok));
    }
    toks.push((chars.len(), Tok::End));
    Ok(toks)
}

impl Parser {
    fn new(text: &str) -> Result<Parser, PredicateError> {
        Ok(Parser { toks: lex(text)?, pos: 0 })
    }

    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map(|(_, t)| t).unwrap_or(&Tok::End)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(p, _)| *p).unwrap_or(0)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err(&self, expected: &str) -> PredicateError {
        parse_err(self.at(), expected, self.peek().to_string())
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Tok::Keyword(x) if *x == k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<(), PredicateError> {
        if *self.peek() == t {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn parse_all(mut self) -> Result<Predicate, PredicateError> {
        let p = self.parse_or(0)?;
        if *self.peek() != Tok::End {
            return Err(self.err("'and', 'or' or end of input"));
        }
        Ok(p)
    }

    fn parse_or(&mut self, depth: usize) -> Result<Predicate, PredicateError> {
        let mut p = self.parse_and(depth)?;
        while self.eat_keyword("or") {
            p = p.or(self.parse_and(depth)?);
        }
        Ok(p)
    }

    fn parse_and(&mut self, depth: usize) -> Result<Predicate, PredicateError> {
        let mut p = self.parse_unary(depth)?;
        while self.eat_keyword("and") {
            p = p.and(self.parse_unary(depth)?);
        }
        Ok(p)
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Predicate, PredicateError> {
        // Deeply nested input must not overflow the stack: the parser recurses once per
        // level of parentheses or `not` (chains of and/or are loops).
        if depth > MAX_TEXT_NESTING {
            return Err(PredicateError::TooDeep { limit: MAX_TEXT_NESTING, position: Some(self.at()) });
        }
        if self.eat_keyword("not") {
            return Ok(self.parse_unary(depth + 1)?.not());
        }
        self.parse_primary(depth)
    }

    fn parse_primary(&mut self, depth: usize) -> Result<Predicate, PredicateError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.pos += 1;
                let p = self.parse_or(depth + 1)?;
                self.expect(Tok::RParen, "')'")?;
                Ok(p)
            }
            Tok::Keyword("true") if !self.next_is_op() => {
                self.pos += 1;
                Ok(Predicate::True)
            }
            Tok::Keyword("false") if !self.next_is_op() => {
                self.pos += 1;
                Ok(Predicate::False)
            }
            Tok::Ident(name) => {
                self.pos += 1;
                self.parse_after_column(name)
            }
            Tok::Str(_) | Tok::Int(_) | Tok::Numeral(_) | Tok::Keyword("true" | "false") => {
                // `5 < id`: a literal first, then an operator and a column.
                let lit = self.parse_literal()?;
                let op = match self.bump() {
                    Tok::Op(op) => op,
                    _ => {
                        self.pos -= 1;
                        return Err(self.err("a comparison operator"));
                    }
                };
                match self.bump() {
                    Tok::Ident(name) => Ok(Predicate::Compare { column: name, op: op.flip(), value: lit }),
                    _ => {
                        self.pos -= 1;
                        Err(self.err("a column name"))
                    }
                }
            }
            _ => Err(self.err("a column name, 'not', '(' or true/false")),
        }
    }

    fn next_is_op(&self) -> bool {
        matches!(self.toks.get(self.pos + 1), Some((_, Tok::Op(_))))
    }

    fn parse_after_column(&mut self, column: String) -> Result<Predicate, PredicateError> {
        match self.peek().clone() {
            Tok::Op(op) => {
                self.pos += 1;
                if matches!(self.peek(), Tok::Keyword("null")) {
                    return Err(self.err("a value (use 'is null' / 'is not null' to test for nulls)"));
                }
                let value = self.parse_literal()?;
                Ok(Predicate::Compare { column, op, value })
            }
            Tok::Keyword("is") => {
                self.pos += 1;
                let negated = self.eat_keyword("not");
                if !self.eat_keyword("null") {
                    return Err(self.err("'null'"));
                }
                Ok(if negated { Predicate::NotNull(column) } else { Predicate::IsNull(column) })
            }
            Tok::Keyword("in") => {
                self.pos += 1;
                self.parse_in(column, false)
            }
            Tok::Keyword("between") => {
                self.pos += 1;
                self.parse_between(column, false)
            }
            Tok::Keyword("not") => {
                self.pos += 1;
                if self.eat_keyword("in") {
                    self.parse_in(column, true)
                } else if self.eat_keyword("between") {
                    self.parse_between(column, true)
                } else {
                    Err(self.err("'in' or 'between'"))
                }
            }
            _ => Err(self.err("a comparison operator, 'is', 'in' or 'between'")),
        }
    }

    fn parse_in(&mut self, column: String, negated: bool) -> Result<Predicate, PredicateError> {
        self.expect(Tok::LParen, "'('")?;
        let mut values = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                values.push(self.parse_literal()?);
                if *self.peek() == Tok::Comma {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(Tok::RParen, "',' or ')'")?;
        Ok(Predicate::In { column, values, negated })
    }

    fn parse_between(&mut self, column: String, negated: bool) -> Result<Predicate, PredicateError> {
        let lo = self.parse_literal()?;
        if !self.eat_keyword("and") {
            return Err(self.err("'and'"));
        }
        let hi = self.parse_literal()?;
        let p = col(column).between(lo, hi);
        Ok(if negated { p.not() } else { p })
    }

    fn parse_literal(&mut self) -> Result<Literal, PredicateError> {
        let lit = match self.peek().clone() {
            Tok::Str(s) => Literal::String(s),
            Tok::Int(v) => Literal::Int(v),
            Tok::Numeral(s) => Literal::Numeral(s),
            Tok::Keyword("true") => Literal::Boolean(true),
            Tok::Keyword("false") => Literal::Boolean(false),
            _ => return Err(self.err("a value (number, 'string', true or false)")),
        };
        self.pos += 1;
        Ok(lit)
    }
}

// ---------------------------------------------------------------------------------------
// Literal coercion
// ---------------------------------------------------------------------------------------

fn coerce(lit: &Literal, ty: &PrimitiveType, column: &str) -> Result<Datum, PredicateError> {
    use PrimitiveType as P;
    let fail = |reason: &str| PredicateError::LiteralType {
        column: column.to_string(),
        column_type: ty.to_string(),
        literal: lit.to_string(),
        reason: reason.to_string(),
    };
    let wrong_kind = || {
        let kind = match lit {
            Literal::Boolean(_) => "a boolean",
            Literal::Int(_) | Literal::Float(_) | Literal::Numeral(_) => "a number",
            Literal::String(_) => "a string",
            Literal::Typed(_) => "a typed value",
        };
        fail(&format!("{kind} literal cannot be compared with a {ty} column"))
    };
    let temporal = |e: TemporalTextError| match e {
        TemporalTextError::Syntax => {
            let example = match ty {
                P::Date => "'2024-01-31'",
                P::Time => "'12:30:00'",
                P::Timestamp => "'2024-01-31 12:30:00'",
                _ => "'2024-01-31T12:30:00Z'",
            };
            fail(&format!("not a {ty} (such as {example})"))
        }
        other => fail(&other.to_string()),
    };
    Ok(match (ty, lit) {
        (_, Literal::Typed(d)) => match (ty, d) {
            (P::Long, Datum::Int(v)) => Datum::Long(i64::from(*v)),
            (P::Double, Datum::Float(v)) => Datum::Double(f64::from(*v)),
            (P::Decimal { .. }, Datum::Decimal(v)) => Datum::Decimal(*v),
            (P::Fixed(len), Datum::Fixed(b)) if b.len() as u64 == *len => d.clone(),
            (_, d) if d.primitive_type() == *ty => d.clone(),
            (_, Datum::Int(v)) => return coerce(&Literal::Int(i64::from(*v)), ty, column),
            (_, Datum::Long(v)) => return coerce(&Literal::Int(*v), ty, column),
            (_, Datum::String(s)) => return coerce(&Literal::String(s.clone()), ty, column),
            _ => return Err(fail(&format!("a {} value cannot be compared with a {ty} column", d.primitive_type()))),
        },
        (P::Boolean, Literal::Boolean(b)) => Datum::Boolean(*b),
        (P::Int, Literal::Int(v)) => Datum::Int(i32::try_from(*v).map_err(|_| fail("out of range for int"))?),
        (P::Long, Literal::Int(v)) => Datum::Long(*v),
        (P::Float, Literal::Int(v)) => Datum::Float(*v as f32),
        (P::Float, Literal::Float(v)) => Datum::Float(*v as f32),
        (P::Float, Literal::Numeral(s)) => Datum::Float(s.parse().map_err(|_| fail("not a number"))?),
        (P::Double, Literal::Int(v)) => Datum::Double(*v as f64),
        (P::Double, Literal::Float(v)) => Datum::Double(*v),
        (P::Double, Literal::Numeral(s)) => Datum::Double(s.parse().map_err(|_| fail("not a number"))?),
        (P::Decimal { precision, scale }, Literal::Int(v)) => {
            Datum::Decimal(parse_decimal(&v.to_string(), *precision, *scale).map_err(|r| fail(&r))?)
        }
        (P::Decimal { precision, scale }, Literal::Numeral(s) | Literal::String(s)) => {
            Datum::Decimal(parse_decimal(s, *precision, *scale).map_err(|r| fail(&r))?)
        }
        (P::Decimal { precision, scale }, Literal::Float(v)) => {
            if !v.is_finite() {
                return Err(fail("not a finite number"));
            }
            // The shortest text that round-trips the double, read exactly.
            Datum::Decimal(parse_decimal(&format!("{v}"), *precision, *scale).map_err(|r| fail(&r))?)
        }
        (P::String, Literal::String(s)) => Datum::String(s.clone()),
        (P::Date, Literal::String(s)) => Datum::Date(date_from_text(s.trim()).map_err(temporal)?),
        (P::Time, Literal::String(s)) => Datum::Time(time_from_text(s.trim()).map_err(temporal)?),
        (P::Timestamp, Literal::String(s)) => {
            Datum::Timestamp(timestamp_from_text(s.trim(), Offsets::Refused).map_err(temporal)?)
        }
        (P::Timestamptz, Literal::String(s)) => {
            Datum::Timestamptz(timestamp_from_text(s.trim(), Offsets::ToUtc).map_err(temporal)?)
        }
        (P::Uuid, Literal::String(s)) => {
            Datum::Uuid(*uuid::Uuid::parse_str(s.trim()).map_err(|e| fail(&format!("not a uuid: {e}")))?.as_bytes())
        }
        (P::Binary, Literal::String(s)) => Datum::Binary(s.as_bytes().to_vec()),
        (P::Fixed(len), Literal::String(s)) => {
            if s.len() as u64 != *len {
                return Err(fail(&format!("a fixed[{len}] value needs exactly {len} bytes")));
            }
            Datum::Fixed(s.as_bytes().to_vec())
        }
        _ => return Err(wrong_kind()),
    })
}

/// Exact decimal text (`-12.30`, `1e3`) to the unscaled value at `scale`.
fn parse_decimal(s: &str, precision: u32, scale: u32) -> Result<i128, String> {
    let s = s.trim();
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| "bad exponent".to_string())?),
        None => (s, 0),
    };
    let (neg, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err("not a decimal number".into());
    }
    let mut all: String = format!("{int}{frac}");
    // Value = all * 10^(exp - frac.len()); we want unscaled = value * 10^scale.
    let shift = i64::from(exp) - frac.len() as i64 + i64::from(scale);
    if shift >= 0 {
        if shift > 80 {
            return Err("too large".into());
        }
        all.push_str(&"0".repeat(shift as usize));
    } else {
        let cut = (-shift) as usize;
        let keep = all.len().saturating_sub(cut);
        if all[keep..].chars().any(|c| c != '0') {
            return Err(format!("has more than {scale} digits after the decimal point"));
        }
        all.truncate(keep);
    }
    let trimmed = all.trim_start_matches('0');
    if trimmed.len() > precision as usize {
        return Err(format!("more than {precision} digits"));
    }
    let v: i128 = if trimmed.is_empty() { 0 } else { trimmed.parse().map_err(|_| "too large".to_string())? };
    Ok(if neg { -v } else { v })
}

// ---------------------------------------------------------------------------------------
// Dates, times and timestamps written as text
// ---------------------------------------------------------------------------------------
//
// One grammar for predicate literals and the file importer (crates/floe-cli): arrow-cast's
// parsers, which is also what Arrow's casts from text accept, plus floe's exactness rules
// (a value is refused rather than rounded or cut). The importer adds its own rule before
// these (an integer is the stored value) and nothing else.

/// Why a date, time or timestamp written as text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemporalTextError {
    /// Not in a form arrow-cast reads (or not a valid calendar date or time).
    Syntax,
    /// A date written with a time of day (a date column would drop it).
    HasTimeOfDay,
    /// Digits finer than the microseconds Iceberg stores.
    TooPrecise,
    /// A time that is not within a day (`23:59:60`).
    NotTimeOfDay,
    /// A zone offset where [`Offsets::Refused`].
    HasOffset,
}

impl fmt::Display for TemporalTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TemporalTextError::Syntax => "not a form of date, time or timestamp floe reads",
            TemporalTextError::HasTimeOfDay => "it has a time of day",
            TemporalTextError::TooPrecise => "more precise than the microseconds it holds",
            TemporalTextError::NotTimeOfDay => "not a time of day",
            TemporalTextError::HasOffset => "a timestamp without time zone takes no zone offset",
        })
    }
}

/// How [`timestamp_from_text`] treats a zone offset (`Z`, `+05:30`) in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offsets {
    /// Applied: the value is the instant in UTC (text without an offset is UTC).
    ToUtc,
    /// Refused with [`TemporalTextError::HasOffset`].
    Refused,
}

/// Significant digits of the fraction of a second in a time or date-time text
/// (`10:00:00.120` has 2). arrow-cast reads at most nine and ignores the rest, so the
/// digits are counted here.
fn subsecond_digits(text: &str) -> usize {
    let Some(colon) = text.find(':') else { return 0 };
    let rest = &text[colon..];
    let Some(dot) = rest.find('.') else { return 0 };
    let digits: String = rest[dot + 1..].chars().take_while(char::is_ascii_digit).collect();
    digits.trim_end_matches('0').len()
}

/// Days since 1970-01-01 of a date in arrow-cast's forms (`2024-01-31`, `2024-1-31`,
/// signed years such as `-0044-03-15` or `+10000-01-01`). Text with a time of day is
/// refused, and so is text of digits only (arrow-cast would read `20240131` as a date,
/// which the importer reads as a stored number of days).
pub fn date_from_text(text: &str) -> std::result::Result<i32, TemporalTextError> {
    if text.contains(['T', ' ', ':']) {
        return Err(TemporalTextError::HasTimeOfDay);
    }
    if text.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit()) {
        return Err(TemporalTextError::Syntax);
    }
    let days = <Date32Type as arrow_cast::parse::Parser>::parse(text).ok_or(TemporalTextError::Syntax)?;
    // Longer unsigned text arrow-cast reads as a date-time and keeps the date of
    // (`2024-01-31t10:00:00`).
    if text.len() > 10 && !text.starts_with(['+', '-']) {
        return Err(TemporalTextError::HasTimeOfDay);
    }
    Ok(days)
}

/// Microseconds since midnight of a time in arrow-cast's forms (`HH:MM`, `HH:MM:SS`,
/// up to nine fraction digits, `H:MM`, 12-hour `H:MM[:SS] AM`), no finer than a
/// microsecond. A leap second (`:60`) reads as the next second, as in Arrow; at the end
/// of the day that is [`TemporalTextError::NotTimeOfDay`].
pub fn time_from_text(text: &str) -> std::result::Result<i64, TemporalTextError> {
    if subsecond_digits(text) > 6 {
        return Err(TemporalTextError::TooPrecise);
    }
    let nanos = arrow_cast::parse::string_to_time_nanoseconds(text).map_err(|_| TemporalTextError::Syntax)?;
    let micros = nanos / 1_000;
    if !(0..86_400_000_000).contains(&micros) {
        return Err(TemporalTextError::NotTimeOfDay);
    }
    Ok(micros)
}

/// Microseconds since 1970-01-01T00:00Z of a timestamp in arrow-cast's forms (RFC 3339
/// and its relatives: `YYYY-MM-DD`, then `T`, `t` or a space and `HH:MM:SS[.f]` or
/// `HHMMSS`, then optionally `Z` or an offset `±HH[:MM]`/`±HHMM`), no finer than a
/// microsecond. Text without an offset is read as UTC; `offsets` says what an offset
/// does.
pub fn timestamp_from_text(text: &str, offsets: Offsets) -> std::result::Result<i64, TemporalTextError> {
    use arrow_array::timezone::Tz;
    if subsecond_digits(text) > 6 {
        return Err(TemporalTextError::TooPrecise);
    }
    let zone = |offset: &str| offset.parse::<Tz>().map_err(|_| TemporalTextError::Syntax);
    let parse = |tz: &Tz| arrow_cast::parse::string_to_datetime(tz, text).map_err(|_| TemporalTextError::Syntax);
    let utc = parse(&zone("+00:00")?)?;
    if offsets == Offsets::Refused {
        // Text without an offset is read in the zone given, text with one is not: the
        // same instant in two zones means the text named its own.
        let shifted = parse(&zone("+01:00")?)?;
        if shifted.timestamp_micros() == utc.timestamp_micros() {
            return Err(TemporalTextError::HasOffset);
        }
    }
    Ok(utc.timestamp_micros())
}

// ---------------------------------------------------------------------------------------
// Bound predicates
// ---------------------------------------------------------------------------------------

/// What a bound leaf tests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LeafOp {
    /// `is null`
    IsNull,
    /// `is not null`
    NotNull,
    /// A comparison with a value of the column's type.
    Cmp(CmpOp, Datum),
    /// `in` a sorted, de-duplicated set (empty: no row).
    In(InList),
    /// `not in` a sorted, de-duplicated set (empty: every non-null row).
    NotIn(Vec<Datum>),
}

/// The values of an `in` test, sorted and de-duplicated, with the hash set that tests
/// integer-like columns built once, on first use, and shared by every clone (a
/// row-level delete by a 50,000-value list evaluates it on every batch of every file,
/// from several threads).
#[derive(Debug, Clone)]
pub(crate) struct InList {
    values: Vec<Datum>,
    ints: Arc<std::sync::OnceLock<HashSet<i64>>>,
}

impl InList {
    pub(crate) fn new(values: Vec<Datum>) -> InList {
        InList { values, ints: Arc::default() }
    }

    fn ints(&self) -> &HashSet<i64> {
        self.ints.get_or_init(|| int_set(&self.values))
    }
}

impl std::ops::Deref for InList {
    type Target = Vec<Datum>;
    fn deref(&self) -> &Vec<Datum> {
        &self.values
    }
}

impl PartialEq for InList {
    fn eq(&self, other: &InList) -> bool {
        self.values == other.values
    }
}

/// One test on one column, resolved to its field id and type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BoundLeaf {
    /// The column's field id (for statistics and files, which are keyed by id).
    pub field_id: i32,
    /// The column's name in the schema it was bound to (for messages).
    pub name: String,
    /// The column's type; every literal in `op` has this type.
    pub ty: PrimitiveType,
    /// The test.
    pub op: LeafOp,
}

/// A predicate bound to a schema, with `not` pushed into the leaves.
///
/// [`Predicate::bind`] gives one no deeper than [`MAX_DEPTH`], with flat chains;
/// evaluation, pruning and projection recurse once per level of nesting, never per term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BoundPredicate {
    /// Every row.
    True,
    /// No row.
    False,
    /// Every term (no term: every row).
    And(Vec<BoundPredicate>),
    /// Some term (no term: no row).
    Or(Vec<BoundPredicate>),
    /// One column test.
    Leaf(BoundLeaf),
}

/// What is known about one column (or partition field) over a set of rows: a file, a
/// row group, a page, a manifest's partition summary. `None` means unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ColumnStats {
    /// A value ≤ every non-null, non-NaN value.
    pub lower: Option<Datum>,
    /// A value ≥ every non-null, non-NaN value.
    pub upper: Option<Datum>,
    /// Rows whose value is null.
    pub null_count: Option<i64>,
    /// Rows in the set (nulls and NaNs included).
    pub value_count: Option<i64>,
    /// Rows whose value is NaN (float and double columns).
    pub nan_count: Option<i64>,
}

impl BoundPredicate {
    /// Folds `true`/`false` through `and`/`or` and empty `in` lists, and flattens an
    /// `and` inside an `and` (an `or` inside an `or`).
    pub fn simplify(self) -> BoundPredicate {
        use BoundPredicate as B;
        match self {
            B::And(terms) => {
                let mut out = Vec::with_capacity(terms.len());
                for t in terms {
                    match t.simplify() {
                        B::False => return B::False,
                        B::True => {}
                        B::And(inner) => out.extend(inner),
                        t => out.push(t),
                    }
                }
                match out.len() {
                    0 => B::True,
                    1 => out.pop().unwrap_or(B::True),
                    _ => B::And(out),
                }
            }
            B::Or(terms) => {
                let mut out = Vec::with_capacity(terms.len());
                for t in terms {
                    match t.simplify() {
                        B::True => return B::True,
                        B::False => {}
                        B::Or(inner) => out.extend(inner),
                        t => out.push(t),
                    }
                }
                match out.len() {
                    0 => B::False,
                    1 => out.pop().unwrap_or(B::False),
                    _ => B::Or(out),
                }
            }
            B::Leaf(BoundLeaf { op: LeafOp::In(v), .. }) if v.is_empty() => B::False,
            B::Leaf(BoundLeaf { field_id, name, ty, op: LeafOp::NotIn(v) }) if v.is_empty() => {
                B::Leaf(BoundLeaf { field_id, name, ty, op: LeafOp::NotNull })
            }
            other => other,
        }
    }

    /// The field ids of the columns this predicate reads.
    pub fn field_ids(&self) -> BTreeSet<i32> {
        let mut out = BTreeSet::new();
        self.visit_leaves(&mut |l| {
            out.insert(l.field_id);
        });
        out
    }

    /// Calls `f` on every leaf, in order, without recursion.
    pub(crate) fn visit_leaves(&self, f: &mut dyn FnMut(&BoundLeaf)) {
        let mut todo = vec![self];
        while let Some(p) = todo.pop() {
            match p {
                BoundPredicate::True | BoundPredicate::False => {}
                BoundPredicate::And(ps) | BoundPredicate::Or(ps) => todo.extend(ps.iter().rev()),
                BoundPredicate::Leaf(l) => f(l),
            }
        }
    }

    /// False only if no row described by `stats` (field id → what is known about that
    /// column) can match. Columns without statistics might match anything.
    pub fn might_match(&self, stats: &dyn Fn(i32) -> Option<ColumnStats>) -> bool {
        self.might_match_leaves(&|l| stats(l.field_id))
    }

    /// [`might_match`](Self::might_match) with statistics looked up per leaf (which
    /// knows its column's type).
    fn might_match_leaves(&self, stats: &dyn Fn(&BoundLeaf) -> Option<ColumnStats>) -> bool {
        match self {
            BoundPredicate::True => true,
            BoundPredicate::False => false,
            BoundPredicate::And(ps) => ps.iter().all(|p| p.might_match_leaves(stats)),
            BoundPredicate::Or(ps) => ps.iter().any(|p| p.might_match_leaves(stats)),
            BoundPredicate::Leaf(l) => match stats(l) {
                Some(s) => l.might_match(&s),
                None => true,
            },
        }
    }

    /// False only if no row of `file` can match, judged by its column bounds, null, value
    /// and NaN counts (keyed by field id, decoded with the types of `schema`, the schema
    /// this predicate was bound to).
    pub fn might_match_file(&self, file: &DataFile) -> bool {
        self.might_match_leaves(&|l| file_column_stats(file, l.field_id, Some(&l.ty)))
    }

    /// The inclusive projection onto the partition fields of `spec`: a predicate on
    /// partition field ids (typed as the partition values) that is true for every
    /// partition that may hold a matching row. Leaves on columns that no field of the
    /// spec can project become `true`. See [`project_leaf`].
    pub fn project(&self, spec: &PartitionSpec) -> BoundPredicate {
        self.project_inner(spec).simplify()
    }

    fn project_inner(&self, spec: &PartitionSpec) -> BoundPredicate {
        use BoundPredicate as B;
        match self {
            B::True => B::True,
            B::False => B::False,
            B::And(ps) => B::And(ps.iter().map(|p| p.project_inner(spec)).collect()),
            B::Or(ps) => B::Or(ps.iter().map(|p| p.project_inner(spec)).collect()),
            B::Leaf(leaf) => {
                let mut out = Vec::new();
                for pf in spec.fields.iter().filter(|pf| pf.source_id == leaf.field_id) {
                    let Ok(pt) = partition_field_type(&pf.transform, &leaf.ty) else { continue };
                    if let Some(p) = project_leaf(&pf.transform, leaf, pf.field_id, &pt) {
                        out.push(B::Leaf(p));
                    }
                }
                B::And(out)
            }
        }
    }

    /// The exact row mask of `batch`: true where the predicate holds (nulls false).
    /// Columns are found by their `PARQUET:field_id` metadata, else by name.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let mask = self.eval_inner(batch)?;
        Ok(mask)
    }

    fn eval_inner(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let n = batch.num_rows();
        Ok(match self {
            BoundPredicate::True => BooleanArray::from(vec![true; n]),
            BoundPredicate::False => BooleanArray::from(vec![false; n]),
            BoundPredicate::And(ps) => {
                let mut acc = BooleanArray::from(vec![true; n]);
                for p in ps {
                    // Every row already false: the rest cannot change the result.
                    if acc.true_count() == 0 {
                        break;
                    }
                    acc = and(&acc, &p.eval_inner(batch)?)?;
                }
                acc
            }
            BoundPredicate::Or(ps) => {
                let mut acc = BooleanArray::from(vec![false; n]);
                for p in ps {
                    if acc.true_count() == n {
                        break;
                    }
                    acc = or(&acc, &p.eval_inner(batch)?)?;
                }
                acc
            }
            BoundPredicate::Leaf(l) => {
                let column = column_by_id(batch, l.field_id, &l.name).ok_or_else(|| {
                    Error::InvalidArgument(format!("batch has no column {:?} (field id {})", l.name, l.field_id))
                })?;
                let m = eval_leaf(l, column)?;
                // SQL: unknown (null) is not true; with `not` pushed into the leaves,
                // and/or never need the unknowns again.
                if m.null_count() > 0 { prep_null_mask_filter(&m) } else { m }
            }
        })
    }
}

/// The inclusive projection of one leaf on a source column through a partition transform:
/// a test on the partition value that holds for every partition that may contain a row
/// satisfying `leaf`, or `None` when the transform cannot narrow it (no pruning).
///
/// The per-transform rules live in [`Transform::project`](crate::spec::transform::Transform::project)
/// (identity keeps the test; bucket projects `=`/`in`/null tests; truncate and the time
/// transforms also project ranges); an unknown transform projects nothing.
/// `partition_type` is the result type of the transform ([`partition_field_type`]).
pub(crate) fn project_leaf(
    transform: &str,
    leaf: &BoundLeaf,
    partition_field_id: i32,
    partition_type: &PrimitiveType,
) -> Option<BoundLeaf> {
    use crate::spec::transform::{Bound, Transform};
    let t = Transform::parse(transform).ok()?;
    let bound = match &leaf.op {
        LeafOp::IsNull => Bound::IsNull,
        LeafOp::NotNull => Bound::NotNull,
        LeafOp::Cmp(op, v) => match op {
            CmpOp::Lt => Bound::Lt(v.clone()),
            CmpOp::Le => Bound::LtEq(v.clone()),
            CmpOp::Gt => Bound::Gt(v.clone()),
            CmpOp::Ge => Bound::GtEq(v.clone()),
            CmpOp::Eq => Bound::Eq(v.clone()),
            CmpOp::Ne => Bound::NotEq(v.clone()),
        },
        LeafOp::In(vs) => Bound::In(vs.to_vec()),
        LeafOp::NotIn(vs) => Bound::NotIn(vs.clone()),
    };
    let projected = t.project(&leaf.ty, &bound).ok()??;
    let sorted = |mut vs: Vec<Datum>| {
        vs.sort_by(|a, b| a.compare(b).unwrap_or(std::cmp::Ordering::Equal));
        vs.dedup_by(|a, b| a.compare(b) == Some(std::cmp::Ordering::Equal));
        vs
    };
    let op = match projected {
        Bound::IsNull => LeafOp::IsNull,
        Bound::NotNull => LeafOp::NotNull,
        Bound::Lt(v) => LeafOp::Cmp(CmpOp::Lt, v),
        Bound::LtEq(v) => LeafOp::Cmp(CmpOp::Le, v),
        Bound::Gt(v) => LeafOp::Cmp(CmpOp::Gt, v),
        Bound::GtEq(v) => LeafOp::Cmp(CmpOp::Ge, v),
        Bound::Eq(v) => LeafOp::Cmp(CmpOp::Eq, v),
        Bound::NotEq(v) => LeafOp::Cmp(CmpOp::Ne, v),
        Bound::In(vs) => LeafOp::In(InList::new(sorted(vs))),
        Bound::NotIn(vs) => LeafOp::NotIn(sorted(vs)),
        // Tests this predicate language cannot express prune nothing.
        _ => return None,
    };
    Some(BoundLeaf { field_id: partition_field_id, name: leaf.name.clone(), ty: partition_type.clone(), op })
}

/// The statistics of column `id` in a manifest entry (`ty`: its type now; bounds written
/// before a promotion decode leniently).
pub(crate) fn file_column_stats(file: &DataFile, id: i32, ty: Option<&PrimitiveType>) -> Option<ColumnStats> {
    let decode = |b: &Vec<u8>| ty.and_then(|ty| Datum::from_bytes(ty, b).ok());
    let s = ColumnStats {
        lower: file.lower_bounds.get(&id).and_then(decode),
        upper: file.upper_bounds.get(&id).and_then(decode),
        null_count: file.null_value_counts.get(&id).copied(),
        value_count: file.value_counts.get(&id).copied(),
        nan_count: file.nan_value_counts.get(&id).copied(),
    };
    Some(s)
}

/// Statistics of the partition fields of one file: its partition values (`partition`,
/// aligned with `spec.fields`) as single-value ranges, keyed by partition field id.
pub(crate) fn partition_value_stats(
    spec: &PartitionSpec,
    schema: &Schema,
    partition: &[Option<Datum>],
    record_count: i64,
    id: i32,
) -> Option<ColumnStats> {
    let i = spec.fields.iter().position(|f| f.field_id == id)?;
    let pt = partition_type(spec, schema, i)?;
    let value = partition.get(i)?;
    Some(match value {
        None => {
            ColumnStats { null_count: Some(record_count), value_count: Some(record_count), ..ColumnStats::default() }
        }
        Some(v) => {
            // Partition values are typed from the Avro writer schema; re-type them as
            // the partition type (an Avro int may be a date).
            let v = Datum::from_bytes(&pt, &v.to_bytes()).ok()?;
            let is_nan = matches!(v, Datum::Float(f) if f.is_nan()) || matches!(v, Datum::Double(f) if f.is_nan());
            if is_nan {
                ColumnStats {
                    null_count: Some(0),
                    value_count: Some(record_count),
                    nan_count: Some(record_count),
                    ..ColumnStats::default()
                }
            } else {
                ColumnStats {
                    lower: Some(v.clone()),
                    upper: Some(v),
                    null_count: Some(0),
                    value_count: Some(record_count),
                    nan_count: Some(0),
                }
            }
        }
    })
}

/// Statistics of partition field `id` from a manifest-list row's partition summaries
/// (`summaries`, aligned with `spec.fields`).
pub(crate) fn partition_summary_stats(
    spec: &PartitionSpec,
    schema: &Schema,
    summaries: &[FieldSummary],
    id: i32,
) -> Option<ColumnStats> {
    let i = spec.fields.iter().position(|f| f.field_id == id)?;
    let pt = partition_type(spec, schema, i)?;
    let s = summaries.get(i)?;
    let decode = |b: &Vec<u8>| Datum::from_bytes(&pt, b).ok();
    Some(ColumnStats {
        lower: s.lower_bound.as_ref().and_then(decode),
        upper: s.upper_bound.as_ref().and_then(decode),
        null_count: if s.contains_null { None } else { Some(0) },
        value_count: None,
        nan_count: match s.contains_nan {
            Some(false) => Some(0),
            _ => None,
        },
    })
}

fn partition_type(spec: &PartitionSpec, schema: &Schema, i: usize) -> Option<PrimitiveType> {
    let f = spec.fields.get(i)?;
    let source = schema.field_by_id(f.source_id)?.field_type.as_primitive()?;
    partition_field_type(&f.transform, source).ok()
}

fn is_float(ty: &PrimitiveType) -> bool {
    matches!(ty, PrimitiveType::Float | PrimitiveType::Double)
}

/// Widens float bounds over signed zeros: Parquet writers may record `0.0` as the
/// minimum of a set holding `-0.0` (and the reverse for the maximum), and totalOrder
/// separates them.
// `v == 0.0` (true for both zeros) says what is meant better than a `0.0` pattern.
#[allow(clippy::redundant_guards)]
fn widen_zero(d: Datum, lower: bool) -> Datum {
    match d {
        Datum::Float(v) if v == 0.0 => Datum::Float(if lower { -0.0 } else { 0.0 }),
        Datum::Double(v) if v == 0.0 => Datum::Double(if lower { -0.0 } else { 0.0 }),
        d => d,
    }
}

impl BoundLeaf {
    /// False only if no row described by `s` (statistics of this leaf's column) can
    /// satisfy this leaf.
    pub fn might_match(&self, s: &ColumnStats) -> bool {
        leaf_might_match(self, s)
    }
}

fn leaf_might_match(l: &BoundLeaf, s: &ColumnStats) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let all_null = matches!((s.null_count, s.value_count), (Some(n), Some(v)) if n >= v);
    match &l.op {
        LeafOp::IsNull => s.null_count != Some(0),
        LeafOp::NotNull => !all_null,
        op => {
            if all_null {
                return false;
            }
            // NaN lies outside the bounds; with NaNs possibly present the bounds do not
            // describe every value, so they cannot rule anything out.
            if is_float(&l.ty) && s.nan_count != Some(0) {
                return true;
            }
            let lo = s.lower.clone().map(|d| widen_zero(d, true));
            let hi = s.upper.clone().map(|d| widen_zero(d, false));
            // `None` (unknown bound or an incomparable value) might match.
            let cmp = |b: &Option<Datum>, v: &Datum| b.as_ref().and_then(|b| b.compare(v));
            match op {
                LeafOp::Cmp(CmpOp::Lt, v) => cmp(&lo, v) != Some(Greater) && cmp(&lo, v) != Some(Equal),
                LeafOp::Cmp(CmpOp::Le, v) => cmp(&lo, v) != Some(Greater),
                LeafOp::Cmp(CmpOp::Gt, v) => cmp(&hi, v) != Some(Less) && cmp(&hi, v) != Some(Equal),
                LeafOp::Cmp(CmpOp::Ge, v) => cmp(&hi, v) != Some(Less),
                LeafOp::Cmp(CmpOp::Eq, v) => cmp(&lo, v) != Some(Greater) && cmp(&hi, v) != Some(Less),
                LeafOp::Cmp(CmpOp::Ne, v) => !(cmp(&lo, v) == Some(Equal) && cmp(&hi, v) == Some(Equal)),
                LeafOp::In(vs) => in_list_might_match(vs, &lo, &hi, !is_float(&l.ty)),
                // Only a single-valued set whose value is excluded cannot match.
                LeafOp::NotIn(vs) => match (&lo, &hi) {
                    (Some(l), Some(h)) if l.compare(h) == Some(Equal) => {
                        !vs.iter().any(|v| l.compare(v) == Some(Equal))
                    }
                    _ => true,
                },
                LeafOp::IsNull | LeafOp::NotNull => true,
            }
        }
    }
}

/// Whether a value of the sorted `in` list `vs` may lie within `[lo, hi]` (a `None`
/// bound is unknown). With `search` (not floats, whose NaN breaks the order) a binary
/// search finds the one candidate, the first value not below `lo`, instead of testing
/// the list value by value at every file, row group and page; when a comparison near it
/// is undefined every value is tested.
fn in_list_might_match(vs: &[Datum], lo: &Option<Datum>, hi: &Option<Datum>, search: bool) -> bool {
    use std::cmp::Ordering::{Greater, Less};
    let cmp = |b: &Option<Datum>, v: &Datum| b.as_ref().and_then(|b| b.compare(v));
    let inside = |v: &Datum| cmp(lo, v) != Some(Greater) && cmp(hi, v) != Some(Less);
    if search {
        let defined = |v: &Datum| (lo.is_none() || cmp(lo, v).is_some()) && (hi.is_none() || cmp(hi, v).is_some());
        let i = vs.partition_point(|v| cmp(lo, v) == Some(Greater));
        let probe = vs.get(i);
        if probe.is_some_and(inside) {
            return true;
        }
        if probe.is_none_or(defined) && (i == 0 || defined(&vs[i - 1])) {
            return false;
        }
    }
    vs.iter().any(inside)
}

fn column_by_id<'a>(batch: &'a RecordBatch, id: i32, name: &str) -> Option<&'a ArrayRef> {
    let fields = batch.schema_ref().fields();
    let by_id = fields
        .iter()
        .position(|f| f.metadata().get(PARQUET_FIELD_ID_KEY).and_then(|v| v.parse::<i32>().ok()) == Some(id));
    let i = by_id.or_else(|| fields.iter().position(|f| f.name() == name))?;
    batch.columns().get(i)
}

/// A one-element array holding `d`, of the Arrow type `dt` of the column it is compared
/// with.
fn scalar_array(d: &Datum, dt: &DataType) -> Result<ArrayRef> {
    let arr: ArrayRef = match d {
        Datum::Boolean(v) => Arc::new(BooleanArray::from(vec![*v])),
        Datum::Int(v) => Arc::new(Int32Array::from(vec![*v])),
        Datum::Long(v) => Arc::new(Int64Array::from(vec![*v])),
        Datum::Float(v) => Arc::new(Float32Array::from(vec![*v])),
        Datum::Double(v) => Arc::new(Float64Array::from(vec![*v])),
        Datum::Decimal(v) => match dt {
            DataType::Decimal128(p, s) => Arc::new(Decimal128Array::from(vec![*v]).with_precision_and_scale(*p, *s)?),
            _ => Arc::new(Decimal128Array::from(vec![*v])),
        },
        Datum::Date(v) => Arc::new(Date32Array::from(vec![*v])),
        Datum::Time(v) => Arc::new(Time64MicrosecondArray::from(vec![*v])),
        Datum::Timestamp(v) | Datum::Timestamptz(v) => {
            let tz = match dt {
                DataType::Timestamp(_, tz) => tz.clone(),
                _ => None,
            };
            Arc::new(TimestampMicrosecondArray::from(vec![*v]).with_timezone_opt(tz))
        }
        Datum::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Datum::Uuid(b) => Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once(b.to_vec()))?),
        Datum::Fixed(b) => Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once(b.clone()))?),
        Datum::Binary(b) => Arc::new(BinaryArray::from_vec(vec![b.as_slice()])),
    };
    if arr.data_type() != dt {
        return Ok(arrow_cast::cast(&arr, dt)?);
    }
    Ok(arr)
}

fn cmp_kernel(op: CmpOp, column: &dyn arrow_array::Datum, value: &dyn arrow_array::Datum) -> Result<BooleanArray> {
    use arrow_ord::cmp;
    Ok(match op {
        CmpOp::Lt => cmp::lt(column, value)?,
        CmpOp::Le => cmp::lt_eq(column, value)?,
        CmpOp::Gt => cmp::gt(column, value)?,
        CmpOp::Ge => cmp::gt_eq(column, value)?,
        CmpOp::Eq => cmp::eq(column, value)?,
        CmpOp::Ne => cmp::neq(column, value)?,
    })
}

/// Past this many values an `in` list is tested with a hash set, not one kernel per value.
const IN_HASH_THRESHOLD: usize = 8;

/// The integer-like values of an `in` list, as i64.
fn int_set(values: &[Datum]) -> HashSet<i64> {
    values
        .iter()
        .filter_map(|d| match d {
            Datum::Int(v) | Datum::Date(v) => Some(i64::from(*v)),
            Datum::Long(v) | Datum::Time(v) | Datum::Timestamp(v) | Datum::Timestamptz(v) => Some(*v),
            _ => None,
        })
        .collect()
}

/// `cached`: the list the values come from, whose integer set is built once.
fn eval_in(values: &[Datum], cached: Option<&InList>, column: &ArrayRef) -> Result<BooleanArray> {
    let n = column.len();
    if values.is_empty() {
        return Ok(BooleanArray::from(vec![false; n]));
    }
    if values.len() > IN_HASH_THRESHOLD {
        let ints = || -> std::borrow::Cow<'_, HashSet<i64>> {
            match cached {
                Some(list) => std::borrow::Cow::Borrowed(list.ints()),
                None => std::borrow::Cow::Owned(int_set(values)),
            }
        };
        match column.data_type() {
            DataType::Int32 => {
                let set = ints();
                return Ok(column
                    .as_primitive::<Int32Type>()
                    .iter()
                    .map(|v| v.map(|v| set.contains(&i64::from(v))))
                    .collect());
            }
            DataType::Date32 => {
                let set = ints();
                return Ok(column
                    .as_primitive::<Date32Type>()
                    .iter()
                    .map(|v| v.map(|v| set.contains(&i64::from(v))))
                    .collect());
            }
            DataType::Int64 => {
                let set = ints();
                return Ok(column.as_primitive::<Int64Type>().iter().map(|v| v.map(|v| set.contains(&v))).collect());
            }
            DataType::Time64(_) => {
                let set = ints();
                return Ok(column
                    .as_primitive::<Time64MicrosecondType>()
                    .iter()
                    .map(|v| v.map(|v| set.contains(&v)))
                    .collect());
            }
            DataType::Timestamp(_, _) => {
                let set = ints();
                return Ok(column
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .map(|v| v.map(|v| set.contains(&v)))
                    .collect());
            }
            DataType::Utf8 => {
                let set: HashSet<&str> = values
                    .iter()
                    .filter_map(|d| match d {
                        Datum::String(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect();
                return Ok(column.as_string::<i32>().iter().map(|v| v.map(|v| set.contains(v))).collect());
            }
            _ => {}
        }
    }
    let mut acc: Option<BooleanArray> = None;
    for v in values {
        let scalar = Scalar::new(scalar_array(v, column.data_type())?);
        let m = cmp_kernel(CmpOp::Eq, column, &scalar)?;
        acc = Some(match acc {
            None => m,
            Some(a) => arrow_arith::boolean::or_kleene(&a, &m)?,
        });
    }
    Ok(acc.unwrap_or_else(|| BooleanArray::from(vec![false; n])))
}

fn eval_leaf(l: &BoundLeaf, column: &ArrayRef) -> Result<BooleanArray> {
    Ok(match &l.op {
        LeafOp::IsNull => is_null(column.as_ref())?,
        LeafOp::NotNull => is_not_null(column.as_ref())?,
        LeafOp::Cmp(op, v) => {
            let scalar = Scalar::new(scalar_array(v, column.data_type())?);
            cmp_kernel(*op, column, &scalar)?
        }
        LeafOp::In(vs) => eval_in(vs, Some(vs), column)?,
        LeafOp::NotIn(vs) => {
            // Null rows stay null (unknown) through `not`.
            not(&eval_in(vs, None, column)?)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::NestedField;

    fn schema() -> Schema {
        Schema::new(vec![
            NestedField::required(1, "id", PrimitiveType::Long),
            NestedField::optional(2, "name", PrimitiveType::String),
            NestedField::optional(3, "small", PrimitiveType::Int),
            NestedField::optional(4, "x", PrimitiveType::Double),
            NestedField::optional(5, "d", PrimitiveType::Date),
            NestedField::optional(6, "ts", PrimitiveType::Timestamp),
            NestedField::optional(7, "tz", PrimitiveType::Timestamptz),
            NestedField::optional(8, "amount", PrimitiveType::Decimal { precision: 9, scale: 2 }),
            NestedField::optional(9, "flag", PrimitiveType::Boolean),
            NestedField::optional(10, "u", PrimitiveType::Uuid),
            NestedField::optional(11, "t", PrimitiveType::Time),
        ])
        .unwrap()
    }

    fn leaf(p: &BoundPredicate) -> &BoundLeaf {
        match p {
            BoundPredicate::Leaf(l) => l,
            other => panic!("not a leaf: {other:?}"),
        }
    }

    #[test]
    fn builder_and_text_agree() {
        let cases: Vec<(Predicate, &str)> = vec![
            (col("id").gt(5).and(col("name").eq("a")), "id > 5 and name = 'a'"),
            (col("x").is_in([1, 2]), "x in (1, 2)"),
            (col("y").is_null(), "y is null"),
            (col("y").not_null(), "y is not null"),
            (col("id").lt(3).or(col("id").ge(10)).not(), "not (id < 3 or id >= 10)"),
            (col("id").between(1, 9), "id >= 1 and id <= 9"),
            (col("name").ne("it's"), "name != 'it''s'"),
            (col("a").eq(1).or(col("b").eq(2)).and(col("c").eq(3)), "(a = 1 or b = 2) and c = 3"),
            // Chains are flat, whichever way they were grouped.
            (col("a").eq(1).and(col("b").eq(2).and(col("c").eq(3))), "a = 1 and b = 2 and c = 3"),
            (
                col("a").eq(1).or(col("b").eq(2).and(col("c").eq(3).or(col("d").eq(4)))),
                "a = 1 or b = 2 and (c = 3 or d = 4)",
            ),
            (col("a").eq(1).not().not(), "a = 1"),
            (col("my col").le(-2), "\"my col\" <= -2"),
            (col("id").not_in([1]), "id not in (1)"),
        ];
        for (built, text) in cases {
            assert_eq!(built.to_string(), text);
            assert_eq!(Predicate::parse(text).unwrap(), built, "{text}");
        }
    }

    #[test]
    fn parse_variants() {
        let p = |s: &str| Predicate::parse(s).unwrap();
        assert_eq!(p("ID > 5 AND name = 'a'"), col("ID").gt(5).and(col("name").eq("a")));
        assert_eq!(p("x between 1 and 2"), col("x").between(1, 2));
        assert_eq!(p("x not between 1 and 2"), col("x").between(1, 2).not());
        assert_eq!(p("x <> 1"), col("x").ne(1));
        assert_eq!(p("x == 1"), col("x").eq(1));
        assert_eq!(p("5 < x"), col("x").gt(5));
        assert_eq!(p("x = 1.50"), col("x").eq(Literal::Numeral("1.50".into())));
        assert_eq!(p("x = 1e3"), col("x").eq(Literal::Numeral("1e3".into())));
        assert_eq!(p("x in ()"), col("x").is_in(Vec::<i64>::new()));
        assert_eq!(p("((x = 1))"), col("x").eq(1));
        assert_eq!(p("not not x = 1"), col("x").eq(1).not().not());
        assert_eq!(p("true"), Predicate::True);
        assert_eq!(p("flag = true"), col("flag").eq(true));
        assert_eq!(p("a = 1 or b = 2 and c = 3"), col("a").eq(1).or(col("b").eq(2).and(col("c").eq(3))));
        assert_eq!(p("x = -3"), col("x").eq(-3));
    }

    #[test]
    fn parse_errors_name_the_position() {
        let err = |s: &str| match Predicate::parse(s) {
            Err(PredicateError::Parse { position, .. }) => position,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(err("id >"), 4);
        assert_eq!(err("id > 5 and"), 10);
        assert_eq!(err("id > 5 name = 'a'"), 7);
        assert_eq!(err("(id > 5"), 7);
        assert_eq!(err("name = 'abc"), 7);
        assert_eq!(err("id ! 5"), 3);
        assert_eq!(err("id = null"), 5);
        assert_eq!(err("id is 5"), 6);
        assert_eq!(err("id in 1, 2"), 6);
        assert_eq!(err("id between 1 2"), 13);
        assert_eq!(err("id = 5x"), 5);
        assert_eq!(err("id = #"), 5);
        assert_eq!(err(""), 0);
        assert_eq!(err("x = 1 )"), 6);
        let deep = format!("{}x = 1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(Predicate::parse(&deep), Err(PredicateError::TooDeep { limit: 200, position: Some(201) })));
        assert_eq!(
            Predicate::parse("a = 1 and (b = 2 and c = 3)").unwrap(),
            Predicate::parse("a = 1 and b = 2 and c = 3").unwrap()
        );
        let msg = Predicate::parse("id >").unwrap_err().to_string();
        assert!(msg.contains("position 4") && msg.contains("end of input"), "{msg}");
    }

    #[test]
    fn bind_resolves_ids_and_coerces_literals() {
        let s = schema();
        let b = col("id").gt(5).bind(&s).unwrap();
        assert_eq!(leaf(&b).field_id, 1);
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Gt, Datum::Long(5)));
        let b = col("small").eq(7i64).bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Int(7)));
        let b = col("x").lt(2).bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Lt, Datum::Double(2.0)));
        let b = Predicate::parse("d >= '2024-03-01'").unwrap().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Ge, Datum::Date(19783)));
        let b = Predicate::parse("ts < '2024-03-01 12:00:00.5'").unwrap().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Lt, Datum::Timestamp(19783 * 86_400_000_000 + 43_200_500_000)));
        let b = Predicate::parse("tz = '2024-03-01T01:00:00+01:00'").unwrap().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Timestamptz(19783 * 86_400_000_000)));
        let b = Predicate::parse("tz = '2024-03-01'").unwrap().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Timestamptz(19783 * 86_400_000_000)));
        let b = Predicate::parse("amount = 12.3").unwrap().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Decimal(1230)));
        let b = col("amount").eq(2).bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Decimal(200)));
        let b = col("amount").eq(0.25).bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Decimal(25)));
        let b = Predicate::parse("t = '01:02:03.000004'").unwrap().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Time(3_723_000_004)));
        let b = Predicate::parse("u = 'f79c3e09-677c-4bbd-a479-3f349cb785e7'").unwrap().bind(&s).unwrap();
        assert!(matches!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Uuid(_))));
        let b = col("id").is_in([3, 1, 3, 2]).bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::In(InList::new(vec![Datum::Long(1), Datum::Long(2), Datum::Long(3)])));
        let b = col("id").eq(Datum::Int(4)).bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::Cmp(CmpOp::Eq, Datum::Long(4)));
    }

    /// The shared text grammar (arrow-cast's) and floe's exactness rules on top.
    #[test]
    fn dates_times_and_timestamps_from_text() {
        use TemporalTextError as E;
        let day = 19_753; // 2024-01-31
        for t in ["2024-01-31", "2024-1-31", "+2024-01-31"] {
            assert_eq!(date_from_text(t), Ok(day), "{t}");
        }
        assert_eq!(date_from_text("-0001-12-31"), Ok(-719_529));
        assert_eq!(date_from_text("+10000-01-01"), Ok(2_932_897));
        for t in ["2024-01-31T00:00:00", "2024-01-31 00:00", "2024-01-31t00:00:00"] {
            assert_eq!(date_from_text(t), Err(E::HasTimeOfDay), "{t}");
        }
        for t in ["20240131", "19753", "2024-02-30", "yesterday", "", "2024-01-31Z"] {
            assert_eq!(date_from_text(t), Err(E::Syntax), "{t}");
        }
        let noon = 43_200_000_000;
        for t in ["12:00", "12:00:00", "12:00:00.000000000", "12:00 PM", "12:00:00 pm"] {
            assert_eq!(time_from_text(t), Ok(noon), "{t}");
        }
        assert_eq!(time_from_text("1:02:03.000004"), Ok(3_723_000_004));
        assert_eq!(time_from_text("00:00:00.1234567"), Err(E::TooPrecise));
        assert_eq!(time_from_text("23:59:60"), Err(E::NotTimeOfDay));
        for t in ["25:00:00", "12", "12:00:00.", "43200000000", "noon"] {
            assert_eq!(time_from_text(t), Err(E::Syntax), "{t}");
        }
        let at = day as i64 * 86_400_000_000 + noon;
        for t in ["2024-01-31T12:00:00", "2024-01-31 12:00:00.000000", "2024-01-31t120000"] {
            assert_eq!(timestamp_from_text(t, Offsets::Refused), Ok(at), "{t}");
            assert_eq!(timestamp_from_text(t, Offsets::ToUtc), Ok(at), "{t}");
        }
        assert_eq!(timestamp_from_text("2024-01-31", Offsets::Refused), Ok(at - noon));
        for t in
            ["2024-01-31T12:00:00Z", "2024-01-31T13:00:00+01:00", "2024-01-31 14:00:00+0200", "2024-01-31T11:00:00-01"]
        {
            assert_eq!(timestamp_from_text(t, Offsets::ToUtc), Ok(at), "{t}");
            assert_eq!(timestamp_from_text(t, Offsets::Refused), Err(E::HasOffset), "{t}");
        }
        assert_eq!(timestamp_from_text("2024-01-31T12:00:00.0000001Z", Offsets::ToUtc), Err(E::TooPrecise));
        assert_eq!(timestamp_from_text("2024-01-31T12:00:00.1234560", Offsets::ToUtc), Ok(at + 123_456));
        for t in ["2024-01-31 12:00", "2024-01-31T25:00:00", "1706702400000000", "-2024-01-31T00:00:00", "x"] {
            assert_eq!(timestamp_from_text(t, Offsets::ToUtc), Err(E::Syntax), "{t}");
        }
    }

    #[test]
    fn bind_errors_are_typed() {
        let s = schema();
        let lit_err = |p: Predicate| match p.bind(&s) {
            Err(PredicateError::LiteralType { column, .. }) => column,
            other => panic!("{other:?}"),
        };
        assert_eq!(lit_err(col("id").eq("5")), "id");
        assert_eq!(lit_err(col("name").eq(5)), "name");
        assert_eq!(lit_err(col("small").eq(1i64 << 40)), "small");
        assert_eq!(lit_err(col("flag").eq(1)), "flag");
        assert_eq!(lit_err(Predicate::parse("d = '2024-02-30'").unwrap()), "d");
        assert_eq!(lit_err(Predicate::parse("d = 'yesterday'").unwrap()), "d");
        assert_eq!(lit_err(Predicate::parse("ts = '2024-01-01T00:00:00Z'").unwrap()), "ts");
        assert_eq!(lit_err(Predicate::parse("amount = 1.234").unwrap()), "amount");
        assert_eq!(lit_err(Predicate::parse("amount = 12345678.9").unwrap()), "amount");
        assert_eq!(lit_err(Predicate::parse("t = '25:00:00'").unwrap()), "t");
        assert_eq!(lit_err(col("id").eq(1.5)), "id");
        assert_eq!(lit_err(col("id").eq(Datum::String("x".into()))), "id");
        assert!(matches!(col("nope").eq(1).bind(&s), Err(PredicateError::UnknownColumn { .. })));
        let e: Error = col("name").eq(5).bind(&s).unwrap_err().into();
        assert!(e.to_string().contains("string"), "{e}");
    }

    #[test]
    fn not_is_pushed_into_leaves() {
        let s = schema();
        let b = col("id").lt(3).or(col("name").is_null()).not().bind(&s).unwrap();
        match b {
            BoundPredicate::And(terms) => {
                assert_eq!(terms.len(), 2);
                assert_eq!(leaf(&terms[0]).op, LeafOp::Cmp(CmpOp::Ge, Datum::Long(3)));
                assert_eq!(leaf(&terms[1]).op, LeafOp::NotNull);
            }
            other => panic!("{other:?}"),
        }
        let b = col("id").is_in([1]).not().bind(&s).unwrap();
        assert_eq!(leaf(&b).op, LeafOp::NotIn(vec![Datum::Long(1)]));
        assert_eq!(Predicate::True.not().bind(&s).unwrap(), BoundPredicate::False);
        assert_eq!(col("id").eq(1).and(Predicate::False).bind(&s).unwrap(), BoundPredicate::False);
        assert_eq!(col("id").is_in(Vec::<i64>::new()).bind(&s).unwrap(), BoundPredicate::False);
    }

    fn stats(lo: i64, hi: i64, nulls: i64, values: i64) -> ColumnStats {
        ColumnStats {
            lower: Some(Datum::Long(lo)),
            upper: Some(Datum::Long(hi)),
            null_count: Some(nulls),
            value_count: Some(values),
            nan_count: None,
        }
    }

    #[test]
    fn might_match_uses_bounds_by_field_id() {
        let s = schema();
        let st = stats(10, 20, 0, 100);
        let m = |p: Predicate| p.bind(&s).unwrap().might_match(&|id| (id == 1).then(|| st.clone()));
        assert!(!m(col("id").lt(10)));
        assert!(m(col("id").le(10)));
        assert!(!m(col("id").gt(20)));
        assert!(m(col("id").ge(20)));
        assert!(!m(col("id").eq(9)));
        assert!(m(col("id").eq(15)));
        assert!(!m(col("id").is_in([1, 2, 30])));
        assert!(m(col("id").is_in([1, 12])));
        assert!(!m(col("id").is_null()));
        assert!(m(col("id").not_null()));
        assert!(m(col("id").ne(15)));
        assert!(!m(col("id").eq(1).or(col("id").eq(25))));
        assert!(m(col("id").eq(1).or(col("name").eq("a"))));
        // No statistics for `name`: might match.
        assert!(m(col("name").eq("zzz")));
        let one = stats(5, 5, 0, 3);
        let m1 = |p: Predicate| p.bind(&s).unwrap().might_match(&|id| (id == 1).then(|| one.clone()));
        assert!(!m1(col("id").ne(5)));
        assert!(!m1(col("id").not_in([5, 6])));
        assert!(m1(col("id").not_in([6])));
        let nulls = stats(0, 0, 3, 3);
        let mn = |p: Predicate| p.bind(&s).unwrap().might_match(&|id| (id == 1).then(|| nulls.clone()));
        assert!(!mn(col("id").not_null()));
        assert!(!mn(col("id").eq(0)));
        assert!(mn(col("id").is_null()));
    }

    #[test]
    fn float_bounds_are_ignored_when_nans_may_exist() {
        let s = schema();
        let st = |nan: Option<i64>| ColumnStats {
            lower: Some(Datum::Double(1.0)),
            upper: Some(Datum::Double(2.0)),
            null_count: Some(0),
            value_count: Some(10),
            nan_count: nan,
        };
        let p = col("x").gt(5).bind(&s).unwrap();
        assert!(p.might_match(&|_| Some(st(None))));
        assert!(p.might_match(&|_| Some(st(Some(1)))));
        assert!(!p.might_match(&|_| Some(st(Some(0)))));
        // A +0.0 lower bound might hide -0.0.
        let z = ColumnStats {
            lower: Some(Datum::Double(0.0)),
            upper: Some(Datum::Double(1.0)),
            null_count: Some(0),
            value_count: Some(10),
            nan_count: Some(0),
        };
        assert!(col("x").eq(-0.0).bind(&s).unwrap().might_match(&|_| Some(z.clone())));
    }

    #[test]
    fn truncated_string_bounds_are_safe() {
        let s = schema();
        // A file holding "abcdefghijklmnopqrs" has bounds "abcdefghijklmnop" / "abcdefghijklmnoq".
        let st = ColumnStats {
            lower: Some(Datum::String("abcdefghijklmnop".into())),
            upper: Some(Datum::String("abcdefghijklmnoq".into())),
            null_count: Some(0),
            value_count: Some(1),
            nan_count: None,
        };
        let m = |p: Predicate| p.bind(&s).unwrap().might_match(&|id| (id == 2).then(|| st.clone()));
        assert!(m(col("name").eq("abcdefghijklmnopqrs")));
        assert!(m(col("name").gt("abcdefghijklmnopq")));
        assert!(!m(col("name").gt("abcdefghijklmnoq")));
        assert!(!m(col("name").lt("abcdefghijklmnop")));
    }

    fn batch() -> RecordBatch {
        let s = Schema::new(vec![
            NestedField::required(1, "id", PrimitiveType::Long),
            NestedField::optional(2, "name", PrimitiveType::String),
            NestedField::optional(4, "x", PrimitiveType::Double),
        ])
        .unwrap();
        RecordBatch::try_new(
            Arc::new(s.to_arrow()),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c"), Some("a"), None])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(f64::NAN), None, Some(-0.0), Some(0.0)])),
            ],
        )
        .unwrap()
    }

    fn rows(p: Predicate) -> Vec<i64> {
        let b = batch();
        let mask = p.bind(&schema()).unwrap().evaluate(&b).unwrap();
        let ids = b.column(0).as_primitive::<Int64Type>();
        (0..b.num_rows()).filter(|&i| mask.value(i)).map(|i| ids.value(i)).collect()
    }

    #[test]
    fn evaluate_follows_sql_null_semantics() {
        assert_eq!(rows(col("name").eq("a")), vec![1, 4]);
        assert_eq!(rows(col("name").ne("a")), vec![3]);
        assert_eq!(rows(col("name").eq("a").not()), vec![3]);
        assert_eq!(rows(col("name").is_null()), vec![2, 5]);
        assert_eq!(rows(col("name").eq("a").or(col("name").is_null())), vec![1, 2, 4, 5]);
        assert_eq!(rows(col("name").not_in(["a"])), vec![3]);
        assert_eq!(rows(col("name").is_in(["c", "a"])), vec![1, 3, 4]);
        assert_eq!(rows(col("id").between(2, 4)), vec![2, 3, 4]);
        assert_eq!(rows(col("id").is_in((0..20).collect::<Vec<i64>>())), vec![1, 2, 3, 4, 5]);
        assert_eq!(rows(col("id").not_in((3..20).collect::<Vec<i64>>())), vec![1, 2]);
        assert_eq!(rows(col("name").is_in(["a", "b", "c", "d", "e", "f", "g", "h", "i"])), vec![1, 3, 4]);
        assert_eq!(rows(Predicate::True), vec![1, 2, 3, 4, 5]);
        assert_eq!(rows(Predicate::False), Vec::<i64>::new());
        // IEEE total order: NaN is above every number; -0.0 < 0.0.
        assert_eq!(rows(col("x").gt(100)), vec![2]);
        assert_eq!(rows(col("x").lt(0.0)), vec![4]);
        assert_eq!(rows(col("x").eq(0.0)), vec![5]);
    }

    #[test]
    fn partition_projection_identity_and_unknown_transforms() {
        use crate::spec::metadata::PartitionField;
        let s = schema();
        let spec = PartitionSpec {
            spec_id: 1,
            fields: vec![
                PartitionField { source_id: 2, field_id: 1000, name: "name".into(), transform: "identity".into() },
                PartitionField { source_id: 1, field_id: 1001, name: "id_b".into(), transform: "bucket[4]".into() },
            ],
        };
        let p = col("name").eq("a").and(col("id").lt(3)).bind(&s).unwrap().project(&spec);
        // bucket does not project `<`: only the identity field remains.
        assert_eq!(p.field_ids(), BTreeSet::from([1000]));
        let values = vec![Some(Datum::String("b".into())), Some(Datum::Int(1))];
        assert!(!p.might_match(&|id| partition_value_stats(&spec, &s, &values, 10, id)));
        let values = vec![Some(Datum::String("a".into())), Some(Datum::Int(1))];
        assert!(p.might_match(&|id| partition_value_stats(&spec, &s, &values, 10, id)));
        let summaries = vec![
            FieldSummary {
                contains_null: false,
                contains_nan: None,
                lower_bound: Some(b"c".to_vec()),
                upper_bound: Some(b"f".to_vec()),
            },
            FieldSummary { contains_null: false, contains_nan: None, lower_bound: None, upper_bound: None },
        ];
        assert!(!p.might_match(&|id| partition_summary_stats(&spec, &s, &summaries, id)));
        let q = col("name").eq("d").bind(&s).unwrap().project(&spec);
        assert!(q.might_match(&|id| partition_summary_stats(&spec, &s, &summaries, id)));
        // `or` with an unprojectable side keeps everything.
        let r = col("name").eq("a").or(col("id").gt(1)).bind(&s).unwrap().project(&spec);
        assert_eq!(r, BoundPredicate::True);
        // `=` on a bucketed column projects to the bucket of the value.
        let b = col("id").eq(3).bind(&s).unwrap().project(&spec);
        assert_eq!(b.field_ids(), BTreeSet::from([1001]));
    }
}
