//! Typed single values and the spec's single-value binary encoding (Appendix D),
//! used for column bounds (`lower_bounds` / `upper_bounds`) and partition summaries.
//!
//! Owns [`Datum`] and its three faces: the binary encoding ([`Datum::to_bytes`] /
//! [`Datum::from_bytes`]), the ordering Iceberg uses for bounds ([`Datum::compare`]) and a
//! human form ([`std::fmt::Display`]).
//!
//! Promises:
//! - `from_bytes(ty, to_bytes(d))` returns `d` for every variant (decimals lose nothing:
//!   the unscaled value is what is stored).
//! - `from_bytes` never panics on arbitrary bytes; a malformed value is an `Err` naming the
//!   type and the length found.
//! - Decoding is as lenient as the Java reference where other writers legitimately differ:
//!   a 4-byte `long`/`double` bound (written before an `int`→`long` / `float`→`double`
//!   promotion) is widened, and `fixed[L]` bounds shorter than `L` (truncated bounds) are
//!   accepted.

use std::cmp::Ordering;
use std::fmt;

use super::types::PrimitiveType;

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

impl Datum {
    /// The spec's binary single-value serialization (Appendix D).
    ///
    /// Little-endian for the fixed-width numbers, UTF-8 without a length for strings,
    /// big-endian for uuids, the raw bytes for fixed and binary, and the minimal
    /// two's-complement big-endian form of the unscaled value for decimals.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Datum::Boolean(b) => vec![u8::from(*b)],
            Datum::Int(v) | Datum::Date(v) => v.to_le_bytes().to_vec(),
            Datum::Long(v) | Datum::Time(v) | Datum::Timestamp(v) | Datum::Timestamptz(v) => v.to_le_bytes().to_vec(),
            Datum::Float(v) => v.to_le_bytes().to_vec(),
            Datum::Double(v) => v.to_le_bytes().to_vec(),
            Datum::Decimal(v) => decimal_to_bytes(*v),
            Datum::String(s) => s.as_bytes().to_vec(),
            Datum::Uuid(u) => u.to_vec(),
            Datum::Fixed(b) | Datum::Binary(b) => b.clone(),
        }
    }

    /// Decodes the binary single-value serialization of a value of type `ty`.
    pub fn from_bytes(ty: &PrimitiveType, bytes: &[u8]) -> Result<Datum, String> {
        let wrong_len = |expected: &str| format!("a {ty} value must be {expected} bytes, found {}", bytes.len());
        Ok(match ty {
            PrimitiveType::Boolean => match bytes {
                // Any non-zero byte is true (spec: "non-zero byte for true").
                [b] => Datum::Boolean(*b != 0),
                _ => return Err(wrong_len("1")),
            },
            PrimitiveType::Int => Datum::Int(i32::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("4"))?)),
            PrimitiveType::Date => Datum::Date(i32::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("4"))?)),
            PrimitiveType::Long => match bytes.len() {
                8 => Datum::Long(i64::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?)),
                // A bound written while the column was still an `int` (type promotion).
                4 => Datum::Long(i64::from(i32::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?))),
                _ => return Err(wrong_len("8 (or 4)")),
            },
            PrimitiveType::Float => Datum::Float(f32::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("4"))?)),
            PrimitiveType::Double => match bytes.len() {
                8 => Datum::Double(f64::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?)),
                // A bound written while the column was still a `float` (type promotion).
                4 => Datum::Double(f64::from(f32::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?))),
                _ => return Err(wrong_len("8 (or 4)")),
            },
            PrimitiveType::Time => Datum::Time(i64::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?)),
            PrimitiveType::Timestamp => {
                Datum::Timestamp(i64::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?))
            }
            PrimitiveType::Timestamptz => {
                Datum::Timestamptz(i64::from_le_bytes(fixed_array(bytes).ok_or_else(|| wrong_len("8"))?))
            }
            PrimitiveType::Decimal { .. } => {
                Datum::Decimal(decimal_from_bytes(bytes).ok_or_else(|| wrong_len("1 to 16"))?)
            }
            PrimitiveType::String => Datum::String(
                std::str::from_utf8(bytes).map_err(|e| format!("a string value is not valid UTF-8: {e}"))?.to_string(),
            ),
            PrimitiveType::Uuid => Datum::Uuid(fixed_array(bytes).ok_or_else(|| wrong_len("16"))?),
            PrimitiveType::Fixed(len) => {
                // Truncated bounds (Java truncates fixed like binary) may be shorter than L.
                if bytes.len() as u64 > *len {
                    return Err(wrong_len(&format!("at most {len}")));
                }
                Datum::Fixed(bytes.to_vec())
            }
            PrimitiveType::Binary => Datum::Binary(bytes.to_vec()),
        })
    }

    /// The Iceberg type of this value. A decimal does not carry its precision and scale,
    /// so it reports the widest type that holds any unscaled value, `decimal(38, 0)`;
    /// a fixed reports its own length.
    pub fn primitive_type(&self) -> PrimitiveType {
        match self {
            Datum::Boolean(_) => PrimitiveType::Boolean,
            Datum::Int(_) => PrimitiveType::Int,
            Datum::Long(_) => PrimitiveType::Long,
            Datum::Float(_) => PrimitiveType::Float,
            Datum::Double(_) => PrimitiveType::Double,
            Datum::Decimal(_) => PrimitiveType::Decimal { precision: 38, scale: 0 },
            Datum::Date(_) => PrimitiveType::Date,
            Datum::Time(_) => PrimitiveType::Time,
            Datum::Timestamp(_) => PrimitiveType::Timestamp,
            Datum::Timestamptz(_) => PrimitiveType::Timestamptz,
            Datum::String(_) => PrimitiveType::String,
            Datum::Uuid(_) => PrimitiveType::Uuid,
            Datum::Fixed(b) => PrimitiveType::Fixed(b.len() as u64),
            Datum::Binary(_) => PrimitiveType::Binary,
        }
    }

    /// Orders two values of the same variant the way Iceberg orders bounds: numbers
    /// numerically (floats by IEEE total order, so `-0.0 < 0.0` and NaN sorts last),
    /// strings by UTF-8 bytes (= code points), uuid/fixed/binary as unsigned bytes.
    /// `None` for different variants (e.g. `Timestamp` vs `Timestamptz`).
    pub fn compare(&self, other: &Datum) -> Option<Ordering> {
        Some(match (self, other) {
            (Datum::Boolean(a), Datum::Boolean(b)) => a.cmp(b),
            (Datum::Int(a), Datum::Int(b)) | (Datum::Date(a), Datum::Date(b)) => a.cmp(b),
            (Datum::Long(a), Datum::Long(b))
            | (Datum::Time(a), Datum::Time(b))
            | (Datum::Timestamp(a), Datum::Timestamp(b))
            | (Datum::Timestamptz(a), Datum::Timestamptz(b)) => a.cmp(b),
            (Datum::Float(a), Datum::Float(b)) => a.total_cmp(b),
            (Datum::Double(a), Datum::Double(b)) => a.total_cmp(b),
            (Datum::Decimal(a), Datum::Decimal(b)) => a.cmp(b),
            (Datum::String(a), Datum::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Datum::Uuid(a), Datum::Uuid(b)) => a.cmp(b),
            (Datum::Fixed(a), Datum::Fixed(b)) | (Datum::Binary(a), Datum::Binary(b)) => a.cmp(b),
            _ => return None,
        })
    }

    /// The human form with the type's scale applied to decimals (`Display` shows the
    /// unscaled value because a `Datum` does not know its scale). Other types render as
    /// `Display` does.
    pub fn to_string_typed(&self, ty: &PrimitiveType) -> String {
        match (self, ty) {
            (Datum::Decimal(v), PrimitiveType::Decimal { scale, .. }) => format_decimal(*v, *scale),
            _ => self.to_string(),
        }
    }
}

/// Minimal two's-complement big-endian bytes: drop leading bytes that only repeat the
/// sign (0x00 before a byte with the top bit clear, 0xFF before one with it set).
fn decimal_to_bytes(v: i128) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < bytes.len() - 1 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// Sign-extends 1..=16 big-endian two's-complement bytes (longer-than-minimal input,
/// as some writers produce from fixed-width Parquet decimals, is accepted).
fn decimal_from_bytes(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xFF } else { 0x00 };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

fn fixed_array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

fn format_decimal(unscaled: i128, scale: u32) -> String {
    if scale == 0 {
        return unscaled.to_string();
    }
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded =
        if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Proleptic Gregorian (year, month, day) for days since 1970-01-01
/// (H. Hinnant's `civil_from_days`); exact for every i32 day count.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn write_date(f: &mut fmt::Formatter<'_>, days: i64) -> fmt::Result {
    let (y, m, d) = civil_from_days(days);
    // ISO 8601 expanded years carry a sign outside 0000..=9999.
    if (0..=9999).contains(&y) {
        write!(f, "{y:04}-{m:02}-{d:02}")
    } else if y < 0 {
        write!(f, "-{:04}-{m:02}-{d:02}", -y)
    } else {
        write!(f, "+{y}-{m:02}-{d:02}")
    }
}

fn write_time_of_day(f: &mut fmt::Formatter<'_>, micros: i64) -> fmt::Result {
    let secs = micros / MICROS_PER_SECOND;
    let frac = micros % MICROS_PER_SECOND;
    write!(f, "{:02}:{:02}:{:02}.{frac:06}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn write_timestamp(f: &mut fmt::Formatter<'_>, micros: i64) -> fmt::Result {
    write_date(f, micros.div_euclid(MICROS_PER_DAY))?;
    f.write_str("T")?;
    write_time_of_day(f, micros.rem_euclid(MICROS_PER_DAY))
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// Human form: ISO 8601 dates, times and timestamps with microseconds (`+00:00` for
/// timestamptz, as in the spec's JSON form), canonical lowercase uuids, lowercase hex for
/// fixed and binary, and the *unscaled* integer for decimals (see
/// [`Datum::to_string_typed`]).
impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Boolean(b) => write!(f, "{b}"),
            Datum::Int(v) => write!(f, "{v}"),
            Datum::Long(v) => write!(f, "{v}"),
            // Debug formatting: shortest round-trip digits, exponent for huge/tiny values
            // (Display would print 1e300 as 301 digits).
            Datum::Float(v) => write!(f, "{v:?}"),
            Datum::Double(v) => write!(f, "{v:?}"),
            Datum::Decimal(v) => write!(f, "{v}"),
            Datum::Date(d) => write_date(f, i64::from(*d)),
            Datum::Time(t) => {
                if (0..MICROS_PER_DAY).contains(t) {
                    write_time_of_day(f, *t)
                } else {
                    // Not a valid time of day; show the raw count rather than wrap it.
                    write!(f, "{t}us")
                }
            }
            Datum::Timestamp(t) => write_timestamp(f, *t),
            Datum::Timestamptz(t) => {
                write_timestamp(f, *t)?;
                f.write_str("+00:00")
            }
            Datum::String(s) => f.write_str(s),
            Datum::Uuid(u) => write!(f, "{}", uuid::Uuid::from_bytes(*u).hyphenated()),
            Datum::Fixed(b) | Datum::Binary(b) => write_hex(f, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(d: Datum, ty: PrimitiveType) {
        let bytes = d.to_bytes();
        let back = Datum::from_bytes(&ty, &bytes).unwrap();
        // Compare through `compare` so NaN round-trips count as equal.
        assert_eq!(back.compare(&d), Some(Ordering::Equal), "{d:?} via {bytes:02x?}");
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn boolean() {
        assert_eq!(Datum::Boolean(false).to_bytes(), [0x00]);
        assert_eq!(Datum::Boolean(true).to_bytes(), [0x01]);
        // Spec: any non-zero byte is true.
        assert_eq!(Datum::from_bytes(&PrimitiveType::Boolean, &[0x7f]).unwrap(), Datum::Boolean(true));
        assert!(Datum::from_bytes(&PrimitiveType::Boolean, &[]).is_err());
        assert!(Datum::from_bytes(&PrimitiveType::Boolean, &[0, 0]).is_err());
        round_trip(Datum::Boolean(true), PrimitiveType::Boolean);
        assert_eq!(Datum::Boolean(false).compare(&Datum::Boolean(true)), Some(Ordering::Less));
        assert_eq!(Datum::Boolean(true).to_string(), "true");
    }

    #[test]
    fn int_and_date() {
        assert_eq!(Datum::Int(34).to_bytes(), [0x22, 0, 0, 0]);
        assert_eq!(Datum::Int(-1).to_bytes(), [0xff; 4]);
        for v in [0, 1, -1, i32::MIN, i32::MAX] {
            round_trip(Datum::Int(v), PrimitiveType::Int);
            round_trip(Datum::Date(v), PrimitiveType::Date);
        }
        // 2017-11-16 is day 17486 (spec Appendix B example).
        assert_eq!(Datum::Date(17486).to_bytes(), 17486i32.to_le_bytes());
        assert_eq!(Datum::Date(17486).to_string(), "2017-11-16");
        assert_eq!(Datum::Date(0).to_string(), "1970-01-01");
        assert_eq!(Datum::Date(-1).to_string(), "1969-12-31");
        assert_eq!(Datum::Date(11016).to_string(), "2000-02-29");
        assert_eq!(Datum::Date(-719_528).to_string(), "0000-01-01");
        assert_eq!(Datum::Date(-719_529).to_string(), "-0001-12-31");
        assert_eq!(Datum::Date(2_932_897).to_string(), "+10000-01-01");
        assert!(Datum::Date(i32::MIN).to_string().starts_with('-'));
        assert!(Datum::from_bytes(&PrimitiveType::Int, &[1, 2, 3]).is_err());
        assert_eq!(Datum::Int(-5).compare(&Datum::Int(3)), Some(Ordering::Less));
        assert_eq!(Datum::Int(1).compare(&Datum::Date(1)), None);
    }

    #[test]
    fn long_time_timestamps() {
        assert_eq!(Datum::Long(34).to_bytes(), [0x22, 0, 0, 0, 0, 0, 0, 0]);
        for v in [0, 1, -1, i64::MIN, i64::MAX] {
            round_trip(Datum::Long(v), PrimitiveType::Long);
            round_trip(Datum::Time(v), PrimitiveType::Time);
            round_trip(Datum::Timestamp(v), PrimitiveType::Timestamp);
            round_trip(Datum::Timestamptz(v), PrimitiveType::Timestamptz);
        }
        // int -> long promotion: a 4-byte bound still decodes.
        assert_eq!(Datum::from_bytes(&PrimitiveType::Long, &(-7i32).to_le_bytes()).unwrap(), Datum::Long(-7));
        assert!(Datum::from_bytes(&PrimitiveType::Long, &[0; 5]).is_err());
        assert!(Datum::from_bytes(&PrimitiveType::Timestamp, &[0; 4]).is_err());
        // Spec JSON examples: time "22:31:08.123456", timestamp "2017-11-16T22:31:08.123456".
        let time = ((22 * 3600 + 31 * 60 + 8) * 1_000_000) + 123_456;
        assert_eq!(Datum::Time(time).to_string(), "22:31:08.123456");
        assert_eq!(Datum::Time(0).to_string(), "00:00:00.000000");
        let ts = 17486 * MICROS_PER_DAY + time;
        assert_eq!(Datum::Timestamp(ts).to_string(), "2017-11-16T22:31:08.123456");
        assert_eq!(Datum::Timestamptz(ts).to_string(), "2017-11-16T22:31:08.123456+00:00");
        assert_eq!(Datum::Timestamp(-1).to_string(), "1969-12-31T23:59:59.999999");
        assert_eq!(Datum::Timestamp(ts).to_bytes(), ts.to_le_bytes());
        assert_eq!(Datum::Timestamp(1).compare(&Datum::Timestamptz(1)), None);
        // Extremes must not panic.
        let _ = Datum::Timestamp(i64::MIN).to_string();
        let _ = Datum::Timestamptz(i64::MAX).to_string();
        let _ = Datum::Time(-1).to_string();
    }

    #[test]
    fn float_and_double() {
        assert_eq!(Datum::Float(1.0).to_bytes(), [0x00, 0x00, 0x80, 0x3f]);
        assert_eq!(Datum::Double(1.0).to_bytes(), [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
        for v in [0.0f32, -0.0, 1.5, f32::MIN, f32::MAX, f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            round_trip(Datum::Float(v), PrimitiveType::Float);
            round_trip(Datum::Double(f64::from(v)), PrimitiveType::Double);
        }
        // float -> double promotion.
        assert_eq!(Datum::from_bytes(&PrimitiveType::Double, &2.5f32.to_le_bytes()).unwrap(), Datum::Double(2.5));
        // Total order: -0.0 < 0.0 < inf < NaN.
        assert_eq!(Datum::Float(-0.0).compare(&Datum::Float(0.0)), Some(Ordering::Less));
        assert_eq!(Datum::Double(f64::INFINITY).compare(&Datum::Double(f64::NAN)), Some(Ordering::Less));
        assert_eq!(Datum::Double(1.0).compare(&Datum::Float(1.0)), None);
        assert_eq!(Datum::Double(1.5).to_string(), "1.5");
        assert_eq!(Datum::Double(1.0).to_string(), "1.0");
        assert_eq!(Datum::Double(1e300).to_string(), "1e300");
        assert_eq!(Datum::Float(f32::NAN).to_string(), "NaN");
    }

    #[test]
    fn decimal() {
        // 14.20 as decimal(4,2): unscaled 1420 = 0x058C.
        assert_eq!(Datum::Decimal(1420).to_bytes(), [0x05, 0x8c]);
        assert_eq!(Datum::Decimal(0).to_bytes(), [0x00]);
        assert_eq!(Datum::Decimal(127).to_bytes(), [0x7f]);
        assert_eq!(Datum::Decimal(128).to_bytes(), [0x00, 0x80]);
        assert_eq!(Datum::Decimal(-1).to_bytes(), [0xff]);
        assert_eq!(Datum::Decimal(-128).to_bytes(), [0x80]);
        assert_eq!(Datum::Decimal(-129).to_bytes(), [0xff, 0x7f]);
        assert_eq!(Datum::Decimal(i128::MIN).to_bytes().len(), 16);
        let ty = PrimitiveType::Decimal { precision: 38, scale: 2 };
        for v in [
            0,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            1420,
            -1420,
            10i128.pow(38) - 1,
            -(10i128.pow(38) - 1),
            i128::MIN,
            i128::MAX,
        ] {
            round_trip(Datum::Decimal(v), ty.clone());
        }
        // Non-minimal (sign-extended) input decodes too.
        assert_eq!(Datum::from_bytes(&ty, &[0xff, 0xff, 0xff, 0x7f]).unwrap(), Datum::Decimal(-129));
        assert_eq!(Datum::from_bytes(&ty, &[0x00, 0x00, 0x05, 0x8c]).unwrap(), Datum::Decimal(1420));
        assert!(Datum::from_bytes(&ty, &[]).is_err());
        assert!(Datum::from_bytes(&ty, &[0; 17]).is_err());
        assert_eq!(Datum::Decimal(1420).to_string_typed(&PrimitiveType::Decimal { precision: 4, scale: 2 }), "14.20");
        assert_eq!(Datum::Decimal(-5).to_string_typed(&PrimitiveType::Decimal { precision: 4, scale: 3 }), "-0.005");
        assert_eq!(Datum::Decimal(-5).to_string_typed(&PrimitiveType::Decimal { precision: 4, scale: 0 }), "-5");
        assert_eq!(Datum::Decimal(1420).to_string(), "1420");
        assert_eq!(Datum::Decimal(1).primitive_type(), PrimitiveType::Decimal { precision: 38, scale: 0 });
        assert_eq!(Datum::Decimal(-3).compare(&Datum::Decimal(2)), Some(Ordering::Less));
    }

    #[test]
    fn string() {
        assert_eq!(Datum::String("iceberg".into()).to_bytes(), b"iceberg");
        assert_eq!(Datum::String("".into()).to_bytes(), b"");
        round_trip(Datum::String("".into()), PrimitiveType::String);
        round_trip(Datum::String("héllo ✓ 🦀".into()), PrimitiveType::String);
        assert!(Datum::from_bytes(&PrimitiveType::String, &[0xff, 0xfe]).is_err());
        // Byte order = code point order: U+FFFF < U+10000 even though UTF-16 would disagree.
        assert_eq!(Datum::String("\u{ffff}".into()).compare(&Datum::String("\u{10000}".into())), Some(Ordering::Less));
        assert_eq!(Datum::String("a".into()).compare(&Datum::String("ab".into())), Some(Ordering::Less));
        assert_eq!(Datum::String("x y".into()).to_string(), "x y");
    }

    #[test]
    fn uuid() {
        // Spec example uuid f79c3e09-677c-4bbd-a479-3f349cb785e7, stored big-endian.
        let bytes = [0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd, 0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7];
        let d = Datum::from_bytes(&PrimitiveType::Uuid, &bytes).unwrap();
        assert_eq!(d.to_string(), "f79c3e09-677c-4bbd-a479-3f349cb785e7");
        assert_eq!(d.to_bytes(), bytes);
        round_trip(d.clone(), PrimitiveType::Uuid);
        assert!(Datum::from_bytes(&PrimitiveType::Uuid, &bytes[..15]).is_err());
        assert_eq!(Datum::Uuid([0; 16]).compare(&d), Some(Ordering::Less));
        // Unsigned: 0x80.. sorts after 0x7f..
        let mut hi = [0u8; 16];
        hi[0] = 0x80;
        let mut lo = [0u8; 16];
        lo[0] = 0x7f;
        assert_eq!(Datum::Uuid(lo).compare(&Datum::Uuid(hi)), Some(Ordering::Less));
    }

    #[test]
    fn fixed_and_binary() {
        let v = vec![0x00, 0x01, 0x02, 0xff];
        assert_eq!(Datum::Fixed(v.clone()).to_bytes(), v);
        assert_eq!(Datum::Binary(v.clone()).to_bytes(), v);
        round_trip(Datum::Fixed(v.clone()), PrimitiveType::Fixed(4));
        round_trip(Datum::Binary(v.clone()), PrimitiveType::Binary);
        round_trip(Datum::Binary(vec![]), PrimitiveType::Binary);
        // Spec JSON form of fixed/binary is lowercase hex: "000102ff".
        assert_eq!(Datum::Binary(v.clone()).to_string(), "000102ff");
        assert_eq!(Datum::Fixed(v.clone()).to_string(), "000102ff");
        // Truncated fixed bounds are accepted, longer ones are not.
        assert!(Datum::from_bytes(&PrimitiveType::Fixed(8), &v).is_ok());
        assert!(Datum::from_bytes(&PrimitiveType::Fixed(3), &v).is_err());
        assert_eq!(Datum::Fixed(v.clone()).primitive_type(), PrimitiveType::Fixed(4));
        assert_eq!(Datum::Binary(vec![0x7f]).compare(&Datum::Binary(vec![0x80])), Some(Ordering::Less));
        assert_eq!(Datum::Binary(vec![1]).compare(&Datum::Fixed(vec![1])), None);
    }

    #[test]
    fn primitive_types() {
        let cases = [
            (Datum::Boolean(true), PrimitiveType::Boolean),
            (Datum::Int(1), PrimitiveType::Int),
            (Datum::Long(1), PrimitiveType::Long),
            (Datum::Float(1.0), PrimitiveType::Float),
            (Datum::Double(1.0), PrimitiveType::Double),
            (Datum::Date(1), PrimitiveType::Date),
            (Datum::Time(1), PrimitiveType::Time),
            (Datum::Timestamp(1), PrimitiveType::Timestamp),
            (Datum::Timestamptz(1), PrimitiveType::Timestamptz),
            (Datum::String("s".into()), PrimitiveType::String),
            (Datum::Uuid([1; 16]), PrimitiveType::Uuid),
            (Datum::Binary(vec![1]), PrimitiveType::Binary),
        ];
        for (d, ty) in cases {
            assert_eq!(d.primitive_type(), ty);
            round_trip(d, ty);
        }
    }

    #[test]
    fn from_bytes_never_panics_on_garbage() {
        let types = [
            PrimitiveType::Boolean,
            PrimitiveType::Int,
            PrimitiveType::Long,
            PrimitiveType::Float,
            PrimitiveType::Double,
            PrimitiveType::Decimal { precision: 9, scale: 2 },
            PrimitiveType::Date,
            PrimitiveType::Time,
            PrimitiveType::Timestamp,
            PrimitiveType::Timestamptz,
            PrimitiveType::String,
            PrimitiveType::Uuid,
            PrimitiveType::Fixed(3),
            PrimitiveType::Binary,
        ];
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            for ty in &types {
                if let Ok(d) = Datum::from_bytes(ty, &bytes) {
                    let _ = d.to_string();
                }
            }
        }
    }
}
