//! DataFusion filter expressions translated into floe predicates, for floe's own
//! planning (manifest and data-file pruning by partition values and column bounds).
//!
//! Promises: a translation is never wider or narrower than the expression: an
//! expression floe's predicate language cannot state exactly (functions, casts,
//! arithmetic, column-to-column comparisons, LIKE) is not translated at all; the
//! translated conjuncts of a filter are checked against the table schema, and a
//! conjunct that does not bind (a literal that does not fit its column) is left to
//! DataFusion. Untranslated filters still prune row groups and pages inside DataFusion's
//! Parquet reader and are always evaluated exactly by DataFusion above the scan.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use floe::expr::Literal;
use floe::spec::Datum;
use floe::{Predicate, Schema, col};

/// `expr` as a floe predicate, or `None` when it cannot be stated exactly.
pub fn to_predicate(expr: &Expr) -> Option<Predicate> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => Some(to_predicate(left)?.and(to_predicate(right)?)),
            Operator::Or => Some(to_predicate(left)?.or(to_predicate(right)?)),
            _ => compare(left, *op, right),
        },
        Expr::Not(e) => Some(to_predicate(e)?.not()),
        Expr::IsNull(e) => Some(col(column(e)?).is_null()),
        Expr::IsNotNull(e) => Some(col(column(e)?).not_null()),
        Expr::InList(l) => {
            let name = column(&l.expr)?;
            let values = l.list.iter().map(literal).collect::<Option<Vec<_>>>()?;
            Some(if l.negated { col(name).not_in(values) } else { col(name).is_in(values) })
        }
        Expr::Between(Between { expr, negated, low, high }) => {
            let name = column(expr)?;
            let p = col(name.clone()).ge(literal(low)?).and(col(name).le(literal(high)?));
            Some(if *negated { p.not() } else { p })
        }
        Expr::Literal(ScalarValue::Boolean(Some(b)), _) => Some(if *b { Predicate::True } else { Predicate::False }),
        _ => None,
    }
}

/// The conjuncts of `filters` that translate and bind to `schema`, and-ed (`None`: none).
pub fn conjunction(filters: &[Expr], schema: &Schema) -> Option<Predicate> {
    let mut out: Option<Predicate> = None;
    for f in filters {
        for c in split_and(f) {
            if let Some(p) = to_predicate(c)
                && p.check(schema).is_ok()
            {
                out = Some(match out {
                    Some(acc) => acc.and(p),
                    None => p,
                });
            }
        }
    }
    out
}

fn split_and(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            let mut v = split_and(left);
            v.extend(split_and(right));
            v
        }
        other => vec![other],
    }
}

fn compare(left: &Expr, op: Operator, right: &Expr) -> Option<Predicate> {
    // `column op literal`, or `literal op column` with the operator mirrored.
    let (name, value, op) = match (column(left), column(right)) {
        (Some(n), None) => (n, literal(right)?, op),
        (None, Some(n)) => (n, literal(left)?, op.swap()?),
        _ => return None,
    };
    let c = col(name);
    Some(match op {
        Operator::Eq => c.eq(value),
        Operator::NotEq => c.ne(value),
        Operator::Lt => c.lt(value),
        Operator::LtEq => c.le(value),
        Operator::Gt => c.gt(value),
        Operator::GtEq => c.ge(value),
        _ => return None,
    })
}

/// The column an expression is, if it is a bare column.
pub fn column(e: &Expr) -> Option<String> {
    match e {
        Expr::Column(c) => Some(c.name.clone()),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<Literal> {
    let Expr::Literal(v, _) = e else { return None };
    Some(match v {
        ScalarValue::Boolean(Some(b)) => Literal::Boolean(*b),
        ScalarValue::Int8(Some(x)) => Literal::Int(i64::from(*x)),
        ScalarValue::Int16(Some(x)) => Literal::Int(i64::from(*x)),
        ScalarValue::Int32(Some(x)) => Literal::Int(i64::from(*x)),
        ScalarValue::Int64(Some(x)) => Literal::Int(*x),
        ScalarValue::UInt8(Some(x)) => Literal::Int(i64::from(*x)),
        ScalarValue::UInt16(Some(x)) => Literal::Int(i64::from(*x)),
        ScalarValue::UInt32(Some(x)) => Literal::Int(i64::from(*x)),
        ScalarValue::UInt64(Some(x)) => Literal::Int(i64::try_from(*x).ok()?),
        ScalarValue::Float32(Some(x)) => Literal::Float(f64::from(*x)),
        ScalarValue::Float64(Some(x)) => Literal::Float(*x),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Literal::String(s.clone())
        }
        ScalarValue::Date32(Some(d)) => Literal::Typed(Datum::Date(*d)),
        ScalarValue::TimestampMicrosecond(Some(t), tz) => {
            Literal::Typed(if tz.is_some() { Datum::Timestamptz(*t) } else { Datum::Timestamp(*t) })
        }
        ScalarValue::Decimal128(Some(v), _, scale) => Literal::Numeral(decimal_text(*v, *scale)),
        _ => return None,
    })
}

/// An unscaled decimal as exact text (`1234`, scale 2 → `12.34`).
fn decimal_text(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        return format!("{unscaled}{zeros}");
    }
    let s = usize::from(scale.unsigned_abs());
    let digits = unscaled.unsigned_abs().to_string();
    let padded = if digits.len() <= s { format!("{}{digits}", "0".repeat(s + 1 - digits.len())) } else { digits };
    let (int, frac) = padded.split_at(padded.len() - s);
    let sign = if unscaled < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::decimal_text;

    #[test]
    fn decimals_print_exactly() {
        assert_eq!(decimal_text(1234, 2), "12.34");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(7, -2), "700");
    }
}
