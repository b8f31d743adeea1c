//! Typed single values and the spec's single-value binary encoding (Appendix D),
//! used for column bounds and partition summaries.

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// boolean
    Boolean(bool),
    /// int
    Int(i32),
    /// long
    Long(i64),
    /// float
    Float(f32),
    /// double
    Double(f64),
    /// decimal, unscaled
    Decimal(i128),
    /// date (days)
    Date(i32),
    /// time (µs)
    Time(i64),
    /// timestamp (µs)
    Timestamp(i64),
    /// timestamptz (µs)
    Timestamptz(i64),
    /// string
    String(String),
    /// uuid
    Uuid([u8; 16]),
    /// fixed
    Fixed(Vec<u8>),
    /// binary
    Binary(Vec<u8>),
}
