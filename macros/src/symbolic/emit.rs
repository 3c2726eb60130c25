//! Emission as Rust tokens: [`Expr::to_tokens`].
//!
//! Math goes through the runtime's `Scalar` trait by absolute path
//! (`::stackprop::__private::Scalar::exp(z)`), so the generated code does not depend on
//! what the user imported and works without `std`. Constants come from the caller's `lit`
//! (it knows the scalar type); this module never writes a float literal itself.
//!
//! Parentheses: an operand is wrapped only when its precedence requires it, and never
//! at the top of a function argument, an `if` condition or a block value, where rustc's
//! `unused_parens` lint would fire. A `select` (an `if` expression) is always wrapped when
//! it is an operand, so it can never start a statement. Sums on the right of `+`/`−` and
//! products on the right of `·`/`/` are wrapped too, which keeps the evaluation order of
//! the tree: floating-point addition is not associative.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::expr::{Cmp, Expr, Var};

/// Binding strength of an emitted expression, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    /// An `if` expression.
    Block,
    /// `a + b`, `a - b`
    Sum,
    /// `a * b`, `a / b`
    Product,
    /// `-a`
    Unary,
    /// literals, variables, calls
    Atom,
}

impl Expr {
    /// Rust code computing the expression.
    ///
    /// `lit(c)` gives the literal for a constant; it is called with finite, non-negative
    /// values only (a negative constant is emitted as `-lit(|c|)`, an infinite one as
    /// `lit(1) / lit(0)`). `var(v)` gives the tokens of a variable: an identifier, or
    /// anything that binds as tightly (a field or an index), since it is emitted as an
    /// operand without parentheses and may appear twice (`y * y`).
    pub fn to_tokens(&self, lit: &dyn Fn(f64) -> TokenStream, var: &dyn Fn(Var) -> TokenStream) -> TokenStream {
        Emitter { lit, var }.bare(self).0
    }
}

struct Emitter<'a> {
    lit: &'a dyn Fn(f64) -> TokenStream,
    var: &'a dyn Fn(Var) -> TokenStream,
}

impl Emitter<'_> {
    /// The expression at the given minimum precedence, parenthesized if weaker.
    fn at(&self, e: &Expr, min: Prec) -> TokenStream {
        let (tokens, prec) = self.bare(e);
        if prec < min { quote!((#tokens)) } else { tokens }
    }

    fn constant(&self, c: f64) -> (TokenStream, Prec) {
        let lit = |v: f64| (self.lit)(v);
        if c.is_nan() {
            let (zero, zero2) = (lit(0.0), lit(0.0));
            (quote!(#zero / #zero2), Prec::Product)
        } else if c.is_infinite() {
            let (one, zero) = (lit(1.0), lit(0.0));
            let sign = (c < 0.0).then(|| quote!(-));
            (quote!(#sign #one / #zero), Prec::Product)
        } else if c.is_sign_negative() {
            let l = lit(-c);
            (quote!(-#l), Prec::Unary)
        } else {
            (lit(c), Prec::Atom)
        }
    }

    fn bare(&self, e: &Expr) -> (TokenStream, Prec) {
        let rt = quote!(::stackprop::__private::Scalar);
        match e {
            Expr::Const(c) => self.constant(*c),
            Expr::Var(v) => ((self.var)(*v), Prec::Atom),
            Expr::Neg(u) => {
                let u = self.at(u, Prec::Atom);
                (quote!(-#u), Prec::Unary)
            }
            Expr::Add(u, v) => {
                let (u, v) = (self.at(u, Prec::Sum), self.at(v, Prec::Product));
                (quote!(#u + #v), Prec::Sum)
            }
            Expr::Sub(u, v) => {
                let (u, v) = (self.at(u, Prec::Sum), self.at(v, Prec::Product));
                (quote!(#u - #v), Prec::Sum)
            }
            Expr::Mul(u, v) => {
                let (u, v) = (self.at(u, Prec::Product), self.at(v, Prec::Unary));
                (quote!(#u * #v), Prec::Product)
            }
            Expr::Div(u, v) => {
                let (u, v) = (self.at(u, Prec::Product), self.at(v, Prec::Unary));
                (quote!(#u / #v), Prec::Product)
            }
            // A square of a variable is a multiplication: `y * y` reads like the maths
            // and saves the call.
            Expr::Powi(u, 2) if matches!(**u, Expr::Var(_)) => {
                let u = self.at(u, Prec::Atom);
                (quote!(#u * #u), Prec::Product)
            }
            Expr::Powi(u, n) => {
                let u = self.at(u, Prec::Block);
                let m = Literal::u32_unsuffixed(n.unsigned_abs());
                let sign = (*n < 0).then(|| quote!(-));
                (quote!(#rt::powi(#u, #sign #m)), Prec::Atom)
            }
            Expr::Powf(u, c) => {
                let u = self.at(u, Prec::Block);
                let c = self.constant(*c).0;
                (quote!(#rt::powf(#u, #c)), Prec::Atom)
            }
            Expr::Call(f, u) => {
                let u = self.at(u, Prec::Block);
                let name = format_ident!("{}", f.name());
                (quote!(#rt::#name(#u)), Prec::Atom)
            }
            Expr::Max(u, v) => {
                let (u, v) = (self.at(u, Prec::Block), self.at(v, Prec::Block));
                (quote!(#rt::max(#u, #v)), Prec::Atom)
            }
            Expr::Min(u, v) => {
                let (u, v) = (self.at(u, Prec::Block), self.at(v, Prec::Block));
                (quote!(#rt::min(#u, #v)), Prec::Atom)
            }
            Expr::Select { cmp, lhs, rhs, then, otherwise } => {
                // Comparison operands bind weaker than arithmetic: no parens for sums,
                // but an `if` must not appear bare in a condition.
                let (l, r) = (self.at(lhs, Prec::Sum), self.at(rhs, Prec::Sum));
                let op = match cmp {
                    Cmp::Gt => quote!(>),
                    Cmp::Ge => quote!(>=),
                    Cmp::Lt => quote!(<),
                    Cmp::Le => quote!(<=),
                };
                let then = self.at(then, Prec::Block);
                // `else if` chains instead of nested blocks
                let otherwise = match **otherwise {
                    Expr::Select { .. } => self.bare(otherwise).0,
                    _ => {
                        let o = self.at(otherwise, Prec::Block);
                        quote!({ #o })
                    }
                };
                (quote!(if #l #op #r { #then } else #otherwise), Prec::Block)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literals as the code generator writes them for `f64`: `0.5_f64`.
    fn lit(v: f64) -> TokenStream {
        format!("{v:?}_f64").parse().unwrap_or_default()
    }

    fn var(v: Var) -> TokenStream {
        let name = format_ident!("{}", v.name());
        quote!(#name)
    }

    /// The expression as a pretty-printed function body.
    fn pretty(e: &Expr) -> String {
        let body = e.to_tokens(&lit, &var);
        let file: syn::File = match syn::parse2(quote!(fn f() -> f64 { #body })) {
            Ok(file) => file,
            Err(err) => panic!("emitted code does not parse: {err}\n{body}"),
        };
        let text = prettyplease::unparse(&file);
        let inner = text.trim().strip_prefix("fn f() -> f64 {").and_then(|s| s.strip_suffix('}')).unwrap_or(&text);
        inner.split_whitespace().collect::<Vec<_>>().join(" ")
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
    fn sigmoid_and_tanh_derivatives() {
        assert_eq!(pretty(&(y() * (c(1.0) - y()))), "y * (1.0_f64 - y)");
        assert_eq!(pretty(&(c(1.0) - y().powi(2))), "1.0_f64 - y * y");
    }

    #[test]
    fn literals_come_from_the_caller() {
        let calls = std::cell::RefCell::new(Vec::new());
        let lit = |v: f64| {
            calls.borrow_mut().push(v);
            quote!(C)
        };
        let e = c(0.5) * x() - c(-2.0) + x().powf(-1.5);
        let t = e.to_tokens(&lit, &var).to_string();
        assert_eq!(t, "C * x - - C + :: stackprop :: __private :: Scalar :: powf (x , - C)");
        assert_eq!(*calls.borrow(), vec![0.5, 2.0, 1.5]);
    }

    #[test]
    fn calls_go_through_the_scalar_trait() {
        assert_eq!(pretty(&x().exp()), "::stackprop::__private::Scalar::exp(x)");
        assert_eq!(pretty(&(-x()).exp()), "::stackprop::__private::Scalar::exp(-x)");
        assert_eq!(pretty(&(x() + c(1.0)).powi(3)), "::stackprop::__private::Scalar::powi(x + 1.0_f64, 3)");
        assert_eq!(pretty(&x().powi(-2)), "::stackprop::__private::Scalar::powi(x, -2)");
        assert_eq!(
            pretty(&x().abs().powf(1.5)),
            "::stackprop::__private::Scalar::powf(::stackprop::__private::Scalar::abs(x), 1.5_f64)"
        );
        assert_eq!(pretty(&x().max_c(0.0)), "::stackprop::__private::Scalar::max(x, 0.0_f64)");
        assert_eq!(pretty(&x().min_c(-1.0)), "::stackprop::__private::Scalar::min(x, -1.0_f64)");
        for f in [Expr::logistic, Expr::softplus, Expr::erf, Expr::cbrt] {
            let text = pretty(&f(x()));
            assert!(text.starts_with("::stackprop::__private::Scalar::"), "{text}");
        }
    }

    #[test]
    fn parentheses_follow_precedence_and_tree_order() {
        assert_eq!(pretty(&(x() + y() * c(2.0))), "x + y * 2.0_f64");
        assert_eq!(pretty(&((x() + y()) * c(2.0))), "(x + y) * 2.0_f64");
        assert_eq!(pretty(&(x() - (y() - c(1.0)))), "x - (y - 1.0_f64)");
        assert_eq!(pretty(&((x() - y()) - c(1.0))), "x - y - 1.0_f64");
        assert_eq!(pretty(&(x() / (y() * c(2.0)))), "x / (y * 2.0_f64)");
        assert_eq!(pretty(&(x() * y() / c(2.0))), "x * y / 2.0_f64");
        assert_eq!(pretty(&(x() * -y())), "x * -y");
        assert_eq!(pretty(&-(x() + y())), "-(x + y)");
        assert_eq!(pretty(&-(-x())), "-(-x)");
        assert_eq!(pretty(&(c(-2.0) * x())), "-2.0_f64 * x");
        assert_eq!(pretty(&(x() - c(-2.0))), "x - -2.0_f64");
    }

    #[test]
    fn selects_are_if_expressions() {
        let relu = Expr::select(Cmp::Gt, y(), c(0.0), c(1.0), c(0.0));
        assert_eq!(pretty(&relu), "if y > 0.0_f64 { 1.0_f64 } else { 0.0_f64 }");
        assert_eq!(pretty(&(relu.clone() * x())), "(if y > 0.0_f64 { 1.0_f64 } else { 0.0_f64 }) * x");
        assert_eq!(pretty(&(x() * relu)), "x * (if y > 0.0_f64 { 1.0_f64 } else { 0.0_f64 })");
        assert_eq!(
            pretty(&Expr::sign(x() - c(1.0))),
            "if x - 1.0_f64 > 0.0_f64 { 1.0_f64 } else if x - 1.0_f64 < 0.0_f64 { -1.0_f64 } else { 0.0_f64 }"
        );
        let ge = Expr::select(Cmp::Ge, x(), y(), x().exp(), c(2.0) * y());
        assert_eq!(pretty(&ge), "if x >= y { ::stackprop::__private::Scalar::exp(x) } else { 2.0_f64 * y }");
    }

    #[test]
    fn non_finite_constants_need_no_special_literal() {
        assert_eq!(pretty(&c(f64::INFINITY)), "1.0_f64 / 0.0_f64");
        assert_eq!(pretty(&c(f64::NEG_INFINITY)), "-1.0_f64 / 0.0_f64");
        assert_eq!(pretty(&c(f64::NAN)), "0.0_f64 / 0.0_f64");
        assert_eq!(pretty(&(x() * c(f64::INFINITY))), "x * (1.0_f64 / 0.0_f64)");
    }
}
