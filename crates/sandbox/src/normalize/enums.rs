//! Constant evaluation for enum member initialisers, the way tsc folds them, and the JS
//! literals the generated code needs.

use std::collections::HashMap;

use oxc_ast::ast::{BinaryOperator, Expression, UnaryOperator};

/// A member's value when known at compile time.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Num(f64),
    Str(String),
}

/// What is known about an earlier member: its constant value, or only whether it is a string
/// (which decides whether it gets a reverse mapping).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Member {
    Const(Value),
    Runtime { string: bool },
}

/// Members declared so far in one enum, by name.
pub(super) struct Scope<'e> {
    pub enum_name: &'e str,
    pub members: HashMap<String, Member>,
}

impl Scope<'_> {
    /// A reference to a member: `A`, `E.A` or `E["A"]`.
    fn member_ref<'x>(&self, expr: &'x Expression<'_>) -> Option<&'x str> {
        match expr {
            Expression::Identifier(id) => Some(id.name.as_str()),
            Expression::StaticMemberExpression(m) => match &m.object {
                Expression::Identifier(o) if o.name.as_str() == self.enum_name => {
                    Some(m.property.name.as_str())
                }
                _ => None,
            },
            Expression::ComputedMemberExpression(m) => match (&m.object, &m.expression) {
                (Expression::Identifier(o), Expression::StringLiteral(s))
                    if o.name.as_str() == self.enum_name && !s.lone_surrogates =>
                {
                    Some(s.value.as_str())
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Fold `expr` to a constant, as tsc does for enum initialisers; `None` when it is not one.
    pub(super) fn eval(&self, expr: &Expression<'_>) -> Option<Value> {
        match expr {
            Expression::NumericLiteral(n) => Some(Value::Num(n.value)),
            Expression::StringLiteral(s) if !s.lone_surrogates => {
                Some(Value::Str(s.value.as_str().to_owned()))
            }
            Expression::TemplateLiteral(t) => {
                let mut out = String::new();
                for (i, quasi) in t.quasis.iter().enumerate() {
                    if quasi.lone_surrogates {
                        return None;
                    }
                    out.push_str(quasi.value.cooked.as_ref()?.as_str());
                    if let Some(e) = t.expressions.get(i) {
                        out.push_str(&to_js_string(&self.eval(e)?)?);
                    }
                }
                Some(Value::Str(out))
            }
            Expression::ParenthesizedExpression(p) => self.eval(&p.expression),
            Expression::UnaryExpression(u) => {
                let Value::Num(n) = self.eval(&u.argument)? else {
                    return None;
                };
                match u.operator {
                    UnaryOperator::UnaryPlus => Some(Value::Num(n)),
                    UnaryOperator::UnaryNegation => Some(Value::Num(-n)),
                    UnaryOperator::BitwiseNot => Some(Value::Num(f64::from(!to_int32(n)))),
                    _ => None,
                }
            }
            Expression::BinaryExpression(b) => {
                let (l, r) = (self.eval(&b.left)?, self.eval(&b.right)?);
                binary(b.operator, l, r)
            }
            _ => match self.members.get(self.member_ref(expr)?)? {
                Member::Const(v) => Some(v.clone()),
                Member::Runtime { .. } => None,
            },
        }
    }

    /// Whether a non-constant initialiser produces a string: tsc decides reverse mapping
    /// statically, and only strings (which must be constant in valid TS) skip it.
    pub(super) fn is_string(&self, expr: &Expression<'_>) -> bool {
        match expr {
            Expression::StringLiteral(_) | Expression::TemplateLiteral(_) => true,
            Expression::ParenthesizedExpression(p) => self.is_string(&p.expression),
            Expression::BinaryExpression(b) if b.operator == BinaryOperator::Addition => {
                self.is_string(&b.left) || self.is_string(&b.right)
            }
            _ => self
                .member_ref(expr)
                .and_then(|name| self.members.get(name))
                .is_some_and(|m| {
                    matches!(
                        m,
                        Member::Const(Value::Str(_)) | Member::Runtime { string: true }
                    )
                }),
        }
    }
}

fn binary(op: BinaryOperator, l: Value, r: Value) -> Option<Value> {
    use BinaryOperator as B;
    if op == B::Addition {
        return match (l, r) {
            (Value::Num(a), Value::Num(b)) => Some(Value::Num(a + b)),
            (a, b) => Some(Value::Str(to_js_string(&a)? + &to_js_string(&b)?)),
        };
    }
    let (Value::Num(a), Value::Num(b)) = (l, r) else {
        return None;
    };
    let shift = |b: f64| to_int32(b).cast_unsigned() & 31;
    let n = match op {
        B::Subtraction => a - b,
        B::Multiplication => a * b,
        B::Division => a / b,
        B::Remainder => a % b,
        // JS: `(±1) ** ±Infinity` is NaN, unlike `powf`.
        B::Exponential if a.abs() == 1.0 && b.is_infinite() => f64::NAN,
        B::Exponential => a.powf(b),
        B::ShiftLeft => f64::from(to_int32(a).wrapping_shl(shift(b))),
        B::ShiftRight => f64::from(to_int32(a).wrapping_shr(shift(b))),
        B::ShiftRightZeroFill => f64::from(to_int32(a).cast_unsigned().wrapping_shr(shift(b))),
        B::BitwiseOR => f64::from(to_int32(a) | to_int32(b)),
        B::BitwiseXOR => f64::from(to_int32(a) ^ to_int32(b)),
        B::BitwiseAnd => f64::from(to_int32(a) & to_int32(b)),
        _ => return None,
    };
    Some(Value::Num(n))
}

/// ECMAScript ToInt32.
fn to_int32(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    let m = n.trunc().rem_euclid(4_294_967_296.0);
    // `m` is an integer in [0, 2^32), so the casts are exact.
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let u = m as u32;
    u.cast_signed()
}

/// JS `String(v)` where it is easy to get exactly right (integers below 1e21); `None` otherwise,
/// and the member is then left to the runtime.
fn to_js_string(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Num(n) if n.is_nan() => Some("NaN".into()),
        Value::Num(n) if n.is_infinite() => {
            Some(if *n > 0.0 { "Infinity" } else { "-Infinity" }.into())
        }
        // `{:.0}` would print -0 as "-0"; JS prints "0".
        Value::Num(n) if *n == 0.0 => Some("0".into()),
        Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e21 => Some(format!("{n:.0}")),
        Value::Num(_) => None,
    }
}

/// A JS numeric expression for `n` (valid as an operand of `=`).
pub(super) fn js_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if n == 0.0 && n.is_sign_negative() {
        "-0".into()
    } else {
        // Rust prints the shortest digits that round-trip, never in exponent form: a valid JS
        // literal for the same number.
        format!("{n}")
    }
}

/// A double-quoted JS string literal.
pub(super) fn js_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int32_and_literals() {
        assert_eq!(to_int32(4_294_967_295.0), -1);
        assert_eq!(to_int32(-1.5), -1);
        assert_eq!(to_int32(f64::NAN), 0);
        assert_eq!(js_number(1.5), "1.5");
        assert_eq!(js_number(-0.0), "-0");
        assert_eq!(js_number(1e21), "1000000000000000000000");
        assert_eq!(js_string("a\"b\\\n\u{2028}é"), "\"a\\\"b\\\\\\n\\u2028é\"");
        assert_eq!(to_js_string(&Value::Num(-3.0)).as_deref(), Some("-3"));
        assert_eq!(to_js_string(&Value::Num(0.5)), None);
    }

    #[test]
    fn binary_ops_follow_js() {
        use BinaryOperator as B;
        let n = |x| Value::Num(x);
        assert_eq!(
            binary(B::ShiftLeft, n(1.0), n(31.0)),
            Some(n(-2_147_483_648.0))
        );
        assert_eq!(
            binary(B::ShiftRightZeroFill, n(-1.0), n(0.0)),
            Some(n(4_294_967_295.0))
        );
        assert_eq!(binary(B::Remainder, n(-7.0), n(2.0)), Some(n(-1.0)));
        assert_eq!(
            binary(B::Addition, Value::Str("a".into()), n(1.0)),
            Some(Value::Str("a1".into()))
        );
        assert!(
            matches!(binary(B::Exponential, n(1.0), n(f64::INFINITY)), Some(Value::Num(x)) if x.is_nan())
        );
        assert_eq!(binary(B::LessThan, n(1.0), n(2.0)), None);
    }
}
