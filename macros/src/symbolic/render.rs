//! Rendering as readable math for rustdoc: [`Expr::render`].
//!
//! `y·(1 − y)`, `1 − y²`, `1 / (1 + |x|)²`, `√x`, `σ(x)` for the logistic function,
//! `sign(x)`, `(1 if y > 0 else 0)` for a select. Parentheses are the minimal ones by the
//! usual precedence of mathematics (so `a + (b + c)` prints as `a + b + c`), except that
//! a quotient inside a product is parenthesized, `(a / b)·c`, to stay unambiguous.
//! The output contains no `*`, `_`, backtick or bracket, so it is safe in Markdown.

use std::f64::consts;

use super::expr::{Expr, Func, Var};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    /// `a if c else b`
    Select,
    /// `a + b`
    Sum,
    /// `a·b`, `a / b`
    Product,
    /// `−a`
    Unary,
    /// `a²`, `aᶜ`
    Power,
    /// names, numbers, calls, `|a|`
    Atom,
}

impl Expr {
    /// Readable math; `name(v)` gives the name of a variable (`x`, `y`, `s₀`, ...).
    pub fn render(&self, name: &dyn Fn(Var) -> String) -> String {
        Renderer { name }.bare(self).0
    }
}

struct Renderer<'a> {
    name: &'a dyn Fn(Var) -> String,
}

impl Renderer<'_> {
    fn at(&self, e: &Expr, min: Prec) -> String {
        let (text, prec) = self.bare(e);
        if prec < min { format!("({text})") } else { text }
    }

    /// A factor of a product: quotients are parenthesized inside products.
    fn factor(&self, e: &Expr, min: Prec) -> String {
        match e {
            Expr::Div(..) => self.at(e, Prec::Unary),
            _ => self.at(e, min),
        }
    }

    fn bare(&self, e: &Expr) -> (String, Prec) {
        match e {
            Expr::Const(c) => number(*c),
            Expr::Var(v) => ((self.name)(*v), Prec::Atom),
            Expr::Neg(u) => {
                let u = self.at(u, Prec::Product);
                let u = if u.starts_with('−') { format!("({u})") } else { u };
                (format!("−{u}"), Prec::Unary)
            }
            Expr::Add(u, v) => {
                let rhs = self.at(v, Prec::Sum);
                let rhs = if rhs.starts_with('−') { format!("({rhs})") } else { rhs };
                (format!("{} + {rhs}", self.at(u, Prec::Sum)), Prec::Sum)
            }
            Expr::Sub(u, v) => {
                let rhs = self.at(v, Prec::Product);
                let rhs = if rhs.starts_with('−') { format!("({rhs})") } else { rhs };
                (format!("{} − {rhs}", self.at(u, Prec::Sum)), Prec::Sum)
            }
            Expr::Mul(u, v) => {
                let (l, r) = (self.factor(u, Prec::Product), self.factor(v, Prec::Power));
                (format!("{l}·{r}"), Prec::Product)
            }
            Expr::Div(u, v) => {
                let (l, r) = (self.factor(u, Prec::Product), self.at(v, Prec::Power));
                (format!("{l} / {r}"), Prec::Product)
            }
            Expr::Powi(u, n) => (format!("{}{}", self.at(u, Prec::Atom), superscript(&n.to_string())), Prec::Power),
            Expr::Powf(u, c) => {
                let (exponent, prec) = number(*c);
                let exponent = if prec < Prec::Atom { format!("({exponent})") } else { exponent };
                (format!("{}^{exponent}", self.at(u, Prec::Atom)), Prec::Power)
            }
            Expr::Call(Func::Abs, u) => (format!("|{}|", self.bare(u).0), Prec::Atom),
            Expr::Call(Func::Sqrt, u) => (format!("√{}", self.at(u, Prec::Atom)), Prec::Atom),
            Expr::Call(Func::Cbrt, u) => (format!("∛{}", self.at(u, Prec::Atom)), Prec::Atom),
            Expr::Call(f, u) => {
                let name = match f {
                    Func::Logistic => "σ",
                    Func::Log2 => "log₂",
                    Func::Log10 => "log₁₀",
                    f => f.name(),
                };
                (format!("{name}({})", self.bare(u).0), Prec::Atom)
            }
            Expr::Max(u, v) => (format!("max({}, {})", self.bare(u).0, self.bare(v).0), Prec::Atom),
            Expr::Min(u, v) => (format!("min({}, {})", self.bare(u).0, self.bare(v).0), Prec::Atom),
            Expr::Select { cmp, lhs, rhs, then, otherwise } => {
                if let Some(u) = e.as_sign() {
                    return (format!("sign({})", self.bare(u).0), Prec::Atom);
                }
                let op = match cmp.rust() {
                    ">=" => "≥",
                    "<=" => "≤",
                    op => op,
                };
                (
                    format!(
                        "{} if {} {op} {} else {}",
                        self.at(then, Prec::Sum),
                        self.at(lhs, Prec::Sum),
                        self.at(rhs, Prec::Sum),
                        self.at(otherwise, Prec::Select),
                    ),
                    Prec::Select,
                )
            }
        }
    }
}

/// A number as it reads in a formula: well-known constants by name, at most six
/// significant digits, a Unicode minus.
fn number(c: f64) -> (String, Prec) {
    let named = [
        (consts::PI, "π", Prec::Atom),
        (consts::E, "e", Prec::Atom),
        (consts::SQRT_2, "√2", Prec::Atom),
        (consts::LN_2, "ln 2", Prec::Atom),
        (consts::LN_10, "ln 10", Prec::Atom),
        (consts::FRAC_2_SQRT_PI, "2/√π", Prec::Product),
        (consts::FRAC_1_SQRT_2, "1/√2", Prec::Product),
        (consts::FRAC_2_PI.sqrt(), "√(2/π)", Prec::Atom),
    ];
    for (value, text, prec) in named {
        if c == value {
            return (text.to_owned(), prec);
        }
        if c == -value {
            return (format!("−{text}"), Prec::Unary);
        }
    }
    if !c.is_finite() {
        let text = if c.is_nan() {
            "NaN"
        } else if c > 0.0 {
            "∞"
        } else {
            "−∞"
        };
        return (text.to_owned(), Prec::Atom);
    }
    let magnitude = c.abs();
    let text = if magnitude != 0.0 && !(1e-4..1e6).contains(&magnitude) {
        // 1.5·10⁻⁷
        let sci = format!("{magnitude:.5e}");
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
        let mantissa = trim_zeros(mantissa);
        format!("{mantissa}·10{}", superscript(exponent))
    } else {
        // Six significant digits, then the shortest form of that.
        let digits = 5 - magnitude.log10().floor().clamp(-10.0, 5.0) as i32;
        let rounded = format!("{magnitude:.prec$}", prec = digits.max(0) as usize);
        trim_zeros(&rounded)
    };
    if c < 0.0 {
        (format!("−{text}"), Prec::Unary)
    } else {
        let prec = if text.contains('·') { Prec::Product } else { Prec::Atom };
        (text, prec)
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s.to_owned() }
}

fn superscript(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            '-' => '⁻',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::expr::Cmp;

    fn show(e: &Expr) -> String {
        e.render(&|v| v.name())
    }
    fn x() -> Expr {
        Expr::x()
    }
    fn y() -> Expr {
        Expr::y()
    }
    fn c(v: f64) -> Expr {
        Expr::c(v)
    }

    #[test]
    fn derivatives_read_like_the_textbook() {
        assert_eq!(show(&(y() * (c(1.0) - y()))), "y·(1 − y)");
        assert_eq!(show(&(c(1.0) - y().powi(2))), "1 − y²");
        assert_eq!(show(&(c(1.0) / (c(1.0) + x().abs()).powi(2))), "1 / (1 + |x|)²");
        assert_eq!(show(&(x() - Expr::t())), "x − t");
        assert_eq!(show(&Expr::select(Cmp::Gt, y(), c(0.0), c(1.0), c(0.0))), "1 if y > 0 else 0");
        assert_eq!(show(&(c(2.0) * x().logistic())), "2·σ(x)");
        assert_eq!(show(&x().sqrt()), "√x");
        assert_eq!(show(&(c(1.0) + x()).sqrt()), "√(1 + x)");
        assert_eq!(show(&x().exp()), "exp(x)");
        assert_eq!(show(&x().abs().powf(1.5)), "|x|^1.5");
        assert_eq!(show(&x().powf(-0.5)), "x^(−0.5)");
        assert_eq!(show(&Expr::sign(x())), "sign(x)");
        assert_eq!(show(&x().log2()), "log₂(x)");
    }

    #[test]
    fn minimal_parentheses() {
        assert_eq!(show(&(x() + (y() + c(1.0)))), "x + y + 1");
        assert_eq!(show(&(x() - (y() + c(1.0)))), "x − (y + 1)");
        assert_eq!(show(&((x() + y()) * x())), "(x + y)·x");
        assert_eq!(show(&(x() / (c(2.0) * x().sqrt()))), "x / (2·√x)");
        assert_eq!(show(&(x() * y() / c(2.0))), "x·y / 2");
        assert_eq!(show(&((x() / y()) * c(2.0))), "(x / y)·2");
        assert_eq!(show(&(x() * -y())), "x·(−y)");
        assert_eq!(show(&-(x() + y())), "−(x + y)");
        assert_eq!(show(&-(-x())), "−(−x)");
        assert_eq!(show(&(x() - c(-2.0))), "x − (−2)");
        assert_eq!(show(&(-x()).exp()), "exp(−x)");
        assert_eq!(show(&(-x()).powi(2)), "(−x)²");
        let s = Expr::select(Cmp::Ge, x(), c(0.0), x(), c(0.1) * x());
        assert_eq!(show(&(s * c(2.0))), "(x if x ≥ 0 else 0.1·x)·2");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(0.5).0, "0.5");
        assert_eq!(number(2.0).0, "2");
        assert_eq!(number(0.044715).0, "0.044715");
        assert_eq!(number(consts::FRAC_2_PI.sqrt()).0, "√(2/π)");
        assert_eq!(number(consts::FRAC_2_SQRT_PI).0, "2/√π");
        assert_eq!(number(0.123456789).0, "0.123457");
        assert_eq!(number(123.456789).0, "123.457");
        assert_eq!(number(1.5e-7).0, "1.5·10⁻⁷");
        assert_eq!(number(-3.0).0, "−3");
        assert_eq!(number(1e6).0, "1·10⁶");
    }

    #[test]
    fn markdown_safe() {
        let e =
            (x() * y() - c(0.5)).exp() / (x().powi(2) + c(1.0)).sqrt() + Expr::select(Cmp::Lt, x(), c(0.0), x(), y());
        let text = show(&e);
        for bad in ['*', '_', '`', '[', ']'] {
            assert!(!text.contains(bad), "{text}");
        }
    }
}
