//! Parsing a user's Rust expression of one variable into an [`Expr`]: [`parse`].
//!
//! The grammar, a subset of Rust expressions over `f32`/`f64`:
//!
//! - the variable (normally `x`); float and integer literals, optionally suffixed `f32`
//!   or `f64`; named constants ([`CONSTANTS`]) bare (`PI`) or by path (`consts::PI`,
//!   `f64::consts::PI`, `core::f32::consts::E`, `::std::f64::consts::LN_2`), taken in
//!   `f64` and rounded to the network's scalar type like every constant;
//! - parentheses, binary `+ - * /`, unary `-`;
//! - methods on any operand, as on floats and the runtime's `Scalar` trait: the
//!   functions of [`Func`] (`x.exp()`, `x.tanh()`, `x.logistic()`, ...), plus
//!   `x.exp_m1()` (`exp(x) − 1`), `x.ln_1p()` (`ln(1 + x)`), `x.recip()` (`1 / x`),
//!   `x.powi(n)` (integer literal `n`), `x.powf(c)` (constant `c`), `x.max(v)`,
//!   `x.min(v)` (either side may be the constant: `0.0.max(x)`), `x.mul_add(a, b)`;
//! - the same as functions: `exp(x)`, `f64::exp(x)`, `powi(x, 3)`, `max(x, 0.0)`, with
//!   `sigmoid` as another name of `logistic`;
//! - `if a > b { u } else { v }` with `>`, `>=`, `<`, `<=`, chains of `else if`, and
//!   blocks holding a single expression.
//!
//! Errors point at the offending tokens, say what was found and what is supported, and
//! are collected, so one parse reports every mistake it can see.

use proc_macro2::TokenStream;
use quote::ToTokens;

use super::expr::{Cmp, Expr, Func};

/// Where the expression appears, for messages.
const CONTEXT: &str = "activation";

/// Nesting beyond this is refused rather than risking the macro's stack.
const MAX_DEPTH: usize = 200;

/// Named constants, as in `core::f64::consts`.
pub const CONSTANTS: [(&str, f64); 19] = {
    use std::f64::consts as c;
    [
        ("PI", c::PI),
        ("E", c::E),
        ("TAU", c::TAU),
        ("SQRT_2", c::SQRT_2),
        ("LN_2", c::LN_2),
        ("LN_10", c::LN_10),
        ("LOG2_E", c::LOG2_E),
        ("LOG10_E", c::LOG10_E),
        ("LOG2_10", c::LOG2_10),
        ("LOG10_2", c::LOG10_2),
        ("FRAC_PI_2", c::FRAC_PI_2),
        ("FRAC_PI_3", c::FRAC_PI_3),
        ("FRAC_PI_4", c::FRAC_PI_4),
        ("FRAC_PI_6", c::FRAC_PI_6),
        ("FRAC_PI_8", c::FRAC_PI_8),
        ("FRAC_1_PI", c::FRAC_1_PI),
        ("FRAC_2_PI", c::FRAC_2_PI),
        ("FRAC_2_SQRT_PI", c::FRAC_2_SQRT_PI),
        ("FRAC_1_SQRT_2", c::FRAC_1_SQRT_2),
    ]
};

/// The methods besides the [`Func`] ones.
const EXTRA_METHODS: [&str; 8] = ["exp_m1", "ln_1p", "recip", "powi", "powf", "max", "min", "mul_add"];

/// Parses `expr`, a Rust expression of the variable `var_name`.
///
/// # Errors
///
/// A `syn::Error` at each unsupported or malformed part (combined).
pub fn parse(expr: &syn::Expr, var_name: &str) -> syn::Result<Expr> {
    Parser { var: var_name }.expr(expr, 0)
}

struct Parser<'a> {
    var: &'a str,
}

/// A method call `receiver.name(args)` or a function call `name(receiver, args)`.
struct Call<'a> {
    name: &'a str,
    name_tokens: &'a dyn ToTokens,
    receiver: syn::Result<Expr>,
    args: &'a [&'a syn::Expr],
    args_tokens: &'a dyn ToTokens,
    is_method: bool,
}

/// Both results, or every error of the two.
fn both<A, B>(a: syn::Result<A>, b: syn::Result<B>) -> syn::Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(mut e), Err(f)) => {
            e.combine(f);
            Err(e)
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
    }
}

/// Source text of tokens for a message: `x.exp()` rather than the token printer's
/// `x . exp ()`.
fn code(tokens: &dyn ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next = chars.get(i + 1).copied();
            let after_next = chars.get(i + 2).copied();
            let glued_before = out.ends_with(['.', '(', '[', '!']) || out.ends_with("::");
            let glued_after = matches!(next, Some('.' | '(' | ')' | '[' | ']' | ','))
                || (next == Some(':') && after_next == Some(':'));
            // a unary minus: `-` at the start or after an opening parenthesis or comma
            let unary = out == "-" || out.ends_with("(-") || out.ends_with("[-");
            if glued_before || glued_after || unary {
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn error(tokens: &dyn ToTokens, message: String) -> syn::Error {
    syn::Error::new_spanned(tokens.to_token_stream(), message)
}

fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names.into_iter().map(|n| format!("`{}`", n.as_ref())).collect::<Vec<_>>().join(", ")
}

fn supported_methods() -> String {
    list(Func::ALL.iter().map(|f| f.name()).chain(EXTRA_METHODS.iter().copied()))
}

fn supported_functions() -> String {
    list(Func::ALL.iter().map(|f| f.name()).chain(["sigmoid"]).chain(EXTRA_METHODS.iter().copied()))
}

impl Parser<'_> {
    fn expr(&self, e: &syn::Expr, depth: usize) -> syn::Result<Expr> {
        if depth > MAX_DEPTH {
            return Err(error(
                e,
                format!("expression is nested too deeply in {CONTEXT}; the limit is {MAX_DEPTH} levels"),
            ));
        }
        let depth = depth + 1;
        if let Some(attr) = attrs(e).first() {
            return Err(error(attr, format!("attributes are not supported in {CONTEXT}, found `{}`", code(attr))));
        }
        match e {
            syn::Expr::Lit(lit) => self.literal(&lit.lit),
            syn::Expr::Path(path) => self.path(path),
            syn::Expr::Paren(p) => self.expr(&p.expr, depth),
            syn::Expr::Group(g) => self.expr(&g.expr, depth),
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => Ok(-self.expr(&u.expr, depth)?),
                _ => Err(error(
                    &u.op,
                    format!("unsupported operator `{}` in {CONTEXT}; supported: unary `-`", code(&u.op)),
                )),
            },
            syn::Expr::Binary(b) => self.binary(b, depth),
            syn::Expr::MethodCall(m) => self.method(m, depth),
            syn::Expr::Call(c) => self.call(c, depth),
            syn::Expr::If(i) => self.if_else(i, depth),
            syn::Expr::Block(b) if b.label.is_none() => self.block(&b.block, depth),
            _ => Err(error(
                e,
                format!(
                    "unsupported expression `{}` in {CONTEXT}; expected arithmetic on `{}` with \
                     numbers, named constants such as `PI`, and methods such as `{}.exp()`",
                    code(e),
                    self.var,
                    self.var
                ),
            )),
        }
    }

    fn literal(&self, lit: &syn::Lit) -> syn::Result<Expr> {
        let (value, suffix) = match lit {
            syn::Lit::Float(f) => (f.base10_parse::<f64>(), f.suffix()),
            syn::Lit::Int(i) => (i.base10_parse::<f64>(), i.suffix()),
            _ => {
                return Err(error(lit, format!("unsupported literal `{}` in {CONTEXT}; expected a number", code(lit))));
            }
        };
        if !matches!(suffix, "" | "f32" | "f64") {
            return Err(error(
                lit,
                format!("unsupported literal suffix `{suffix}` in {CONTEXT}; expected `f32`, `f64` or none"),
            ));
        }
        match value {
            Ok(v) if v.is_finite() => Ok(Expr::c(v)),
            _ => Err(error(lit, format!("literal `{}` is not a finite number", code(lit)))),
        }
    }

    fn path(&self, p: &syn::ExprPath) -> syn::Result<Expr> {
        let segments: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
        let plain =
            p.qself.is_none() && p.path.segments.iter().all(|s| matches!(s.arguments, syn::PathArguments::None));
        if let ([name], true, None) = (segments.as_slice(), plain, p.path.leading_colon) {
            if name == self.var {
                return Ok(Expr::x());
            }
            if let Some(value) = constant(name) {
                return Ok(Expr::c(value));
            }
            return Err(error(p, format!("unknown variable `{name}` in {CONTEXT}; the argument is `{}`", self.var)));
        }
        let names: Vec<&str> = segments.iter().map(String::as_str).collect();
        let prefix_ok = match names.as_slice() {
            [head @ .., "consts", _] => {
                matches!(head, [] | ["f32" | "f64"] | ["core" | "std", "f32" | "f64"])
                    && (p.path.leading_colon.is_none() || head.len() == 2)
            }
            _ => false,
        };
        let value = names.last().and_then(|n| constant(n));
        match value {
            Some(v) if plain && prefix_ok => Ok(Expr::c(v)),
            _ => Err(error(
                p,
                format!(
                    "unknown constant `{}` in {CONTEXT}; supported: {}, bare or as `f64::consts::PI`",
                    code(p),
                    list(CONSTANTS.iter().map(|(n, _)| n))
                ),
            )),
        }
    }

    fn binary(&self, b: &syn::ExprBinary, depth: usize) -> syn::Result<Expr> {
        let op = match b.op {
            syn::BinOp::Add(_) => std::ops::Add::add,
            syn::BinOp::Sub(_) => std::ops::Sub::sub,
            syn::BinOp::Mul(_) => std::ops::Mul::mul,
            syn::BinOp::Div(_) => std::ops::Div::div,
            _ => {
                let found = error(
                    &b.op,
                    format!("unsupported operator `{}` in {CONTEXT}; supported: `+`, `-`, `*`, `/`", code(&b.op)),
                );
                // Still report mistakes inside the operands.
                let operands = both(self.expr(&b.left, depth), self.expr(&b.right, depth));
                return Err(match operands {
                    Ok(_) => found,
                    Err(e) => {
                        let mut found = found;
                        found.combine(e);
                        found
                    }
                });
            }
        };
        let (l, r) = both(self.expr(&b.left, depth), self.expr(&b.right, depth))?;
        Ok(op(l, r))
    }

    fn method(&self, m: &syn::ExprMethodCall, depth: usize) -> syn::Result<Expr> {
        let name = m.method.to_string();
        if let Some(turbofish) = &m.turbofish {
            return Err(error(turbofish, format!("unexpected generic arguments on `{name}` in {CONTEXT}")));
        }
        let args: Vec<&syn::Expr> = m.args.iter().collect();
        let call = Call {
            name: &name,
            name_tokens: &m.method,
            receiver: self.expr(&m.receiver, depth),
            args: &args,
            args_tokens: &m.args,
            is_method: true,
        };
        self.apply(call, depth)
    }

    fn call(&self, c: &syn::ExprCall, depth: usize) -> syn::Result<Expr> {
        let syn::Expr::Path(p) = &*c.func else {
            return Err(error(
                &c.func,
                format!("unsupported call of `{}` in {CONTEXT}; expected a function such as `exp`", code(&c.func)),
            ));
        };
        let names: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
        let plain = p.qself.is_none()
            && p.path.leading_colon.is_none()
            && p.path.segments.iter().all(|s| matches!(s.arguments, syn::PathArguments::None));
        let name = match names.as_slice() {
            [name] => Some(name.as_str()),
            [ty, name] if ty == "f32" || ty == "f64" => Some(name.as_str()),
            _ => None,
        };
        let Some(name) = name.filter(|_| plain) else {
            return Err(error(
                p,
                format!("unsupported function `{}` in {CONTEXT}; supported: {}", code(p), supported_functions()),
            ));
        };
        let name = if name == "sigmoid" { "logistic" } else { name };
        let args: Vec<&syn::Expr> = c.args.iter().collect();
        let Some((first, rest)) = args.split_first() else {
            return Err(error(c, format!("`{name}` takes {} in {CONTEXT}, found none", arity_text(name, false))));
        };
        let rest_tokens: TokenStream = rest.iter().map(|a| a.to_token_stream()).collect();
        let call = Call {
            name,
            name_tokens: p,
            receiver: self.expr(first, depth),
            args: rest,
            args_tokens: &rest_tokens,
            is_method: false,
        };
        self.apply(call, depth)
    }

    /// A method or function applied to its receiver (first argument) and further ones.
    fn apply(&self, call: Call<'_>, depth: usize) -> syn::Result<Expr> {
        let Call { name, name_tokens, receiver, args, args_tokens, is_method } = call;
        let wanted = match name {
            "powi" | "powf" | "max" | "min" => 1,
            "mul_add" => 2,
            _ => 0,
        };
        let known = Func::from_name(name).is_some() || EXTRA_METHODS.contains(&name);
        if !known {
            let (kind, supported) =
                if is_method { ("method", supported_methods()) } else { ("function", supported_functions()) };
            let mut e = error(name_tokens, format!("unsupported {kind} `{name}` in {CONTEXT}; supported: {supported}"));
            if let Err(inner) = receiver {
                e.combine(inner);
            }
            return Err(e);
        }
        if args.len() != wanted {
            let tokens: &dyn ToTokens = if args.is_empty() { name_tokens } else { args_tokens };
            let mut e = error(
                tokens,
                format!(
                    "`{name}` takes {} in {CONTEXT}, found {}",
                    arity_text(name, is_method),
                    args.len() + usize::from(!is_method)
                ),
            );
            if let Err(inner) = receiver {
                e.combine(inner);
            }
            return Err(e);
        }
        if let Some(f) = Func::from_name(name) {
            return Ok(receiver?.call(f));
        }
        match (name, args) {
            ("exp_m1", []) => Ok(receiver?.exp() - Expr::c(1.0)),
            ("ln_1p", []) => Ok((Expr::c(1.0) + receiver?).ln()),
            ("recip", []) => Ok(Expr::c(1.0) / receiver?),
            ("powi", [n]) => {
                let (u, n) = both(receiver, self.integer_exponent(n))?;
                Ok(u.powi(n))
            }
            ("powf", [c]) => {
                let (u, c) = both(receiver, self.constant_exponent(c, depth))?;
                Ok(u.powf(c))
            }
            ("max", [v]) => {
                let (u, v) = both(receiver, self.expr(v, depth))?;
                Ok(u.max(v))
            }
            ("min", [v]) => {
                let (u, v) = both(receiver, self.expr(v, depth))?;
                Ok(u.min(v))
            }
            ("mul_add", [a, b]) => {
                let (u, (a, b)) = both(receiver, both(self.expr(a, depth), self.expr(b, depth)))?;
                Ok(u * a + b)
            }
            _ => Err(error(
                name_tokens,
                format!("unsupported method `{name}` in {CONTEXT}; supported: {}", supported_methods()),
            )),
        }
    }

    fn integer_exponent(&self, n: &syn::Expr) -> syn::Result<i32> {
        let found = || error(n, format!("`powi` needs an integer literal exponent, found `{}`", code(n)));
        let value = int_literal(n).ok_or_else(found)?;
        i32::try_from(value).map_err(|_| error(n, format!("`powi` exponent `{}` is out of range for `i32`", code(n))))
    }

    fn constant_exponent(&self, c: &syn::Expr, depth: usize) -> syn::Result<f64> {
        let e = self.expr(c, depth)?;
        if !e.vars().is_empty() {
            return Err(error(c, format!("`powf` needs a constant exponent, found `{}`", code(c))));
        }
        match e.simplify() {
            Expr::Const(v) => Ok(v),
            _ => Err(error(c, format!("`powf` needs a finite constant exponent, found `{}`", code(c)))),
        }
    }

    fn if_else(&self, i: &syn::ExprIf, depth: usize) -> syn::Result<Expr> {
        let cond = self.condition(&i.cond, depth);
        let then = self.block(&i.then_branch, depth);
        let otherwise = match &i.else_branch {
            Some((_, e)) => self.expr(e, depth),
            None => Err(error(i, format!("`if` needs an `else` branch in {CONTEXT}"))),
        };
        let ((cmp, lhs, rhs), (then, otherwise)) = both(cond, both(then, otherwise))?;
        Ok(Expr::select(cmp, lhs, rhs, then, otherwise))
    }

    fn condition(&self, c: &syn::Expr, depth: usize) -> syn::Result<(Cmp, Expr, Expr)> {
        let unsupported = || {
            error(
                c,
                format!(
                    "unsupported condition `{}` in {CONTEXT}; expected a comparison with `>`, `>=`, `<` or `<=`",
                    code(c)
                ),
            )
        };
        match c {
            syn::Expr::Paren(p) => self.condition(&p.expr, depth),
            syn::Expr::Group(g) => self.condition(&g.expr, depth),
            syn::Expr::Binary(b) => {
                let cmp = match b.op {
                    syn::BinOp::Gt(_) => Cmp::Gt,
                    syn::BinOp::Ge(_) => Cmp::Ge,
                    syn::BinOp::Lt(_) => Cmp::Lt,
                    syn::BinOp::Le(_) => Cmp::Le,
                    _ => return Err(unsupported()),
                };
                let (l, r) = both(self.expr(&b.left, depth), self.expr(&b.right, depth))?;
                Ok((cmp, l, r))
            }
            _ => Err(unsupported()),
        }
    }

    fn block(&self, b: &syn::Block, depth: usize) -> syn::Result<Expr> {
        match b.stmts.as_slice() {
            [syn::Stmt::Expr(e, None)] => self.expr(e, depth),
            _ => Err(error(b, format!("expected a single expression in this block in {CONTEXT}"))),
        }
    }
}

fn attrs(e: &syn::Expr) -> &[syn::Attribute] {
    match e {
        syn::Expr::Lit(x) => &x.attrs,
        syn::Expr::Path(x) => &x.attrs,
        syn::Expr::Paren(x) => &x.attrs,
        syn::Expr::Group(x) => &x.attrs,
        syn::Expr::Unary(x) => &x.attrs,
        syn::Expr::Binary(x) => &x.attrs,
        syn::Expr::MethodCall(x) => &x.attrs,
        syn::Expr::Call(x) => &x.attrs,
        syn::Expr::If(x) => &x.attrs,
        syn::Expr::Block(x) => &x.attrs,
        _ => &[],
    }
}

fn constant(name: &str) -> Option<f64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// An integer literal, possibly negated or parenthesized: `3`, `-2`, `(-1)`.
fn int_literal(e: &syn::Expr) -> Option<i64> {
    match e {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) if matches!(i.suffix(), "" | "i32") => {
            i.base10_parse::<i64>().ok()
        }
        syn::Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => {
            int_literal(expr).and_then(i64::checked_neg)
        }
        syn::Expr::Paren(p) => int_literal(&p.expr),
        syn::Expr::Group(g) => int_literal(&g.expr),
        _ => None,
    }
}

fn arity_text(name: &str, is_method: bool) -> &'static str {
    match (name, is_method) {
        ("powi" | "powf" | "max" | "min", true) => "1 argument",
        ("mul_add", true) | ("powi" | "powf" | "max" | "min", false) => "2 arguments",
        ("mul_add", false) => "3 arguments",
        (_, true) => "no arguments",
        (_, false) => "1 argument",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::erf::erf;
    use std::f64::consts::PI;

    fn parse_str(src: &str) -> syn::Result<Expr> {
        let e: syn::Expr = syn::parse_str(src)?;
        parse(&e, "x")
    }

    /// Every message of the (combined) error.
    fn errors(src: &str) -> Vec<String> {
        match parse_str(src) {
            Ok(e) => panic!("`{src}` parsed as {e:?}"),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn grammar_evaluates_like_rust() {
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        type Reference = Box<dyn Fn(f64) -> f64>;
        let cases: Vec<(&str, Reference)> = vec![
            ("x", Box::new(|x| x)),
            ("2", Box::new(|_| 2.0)),
            ("2.5f32 * x", Box::new(|x| 2.5 * x)),
            ("1e-3 * x + 1_000.0", Box::new(|x| 1e-3 * x + 1000.0)),
            ("-x", Box::new(|x| -x)),
            ("(x + 1.0) * (x - 2.0) / 3.0", Box::new(|x| (x + 1.0) * (x - 2.0) / 3.0)),
            ("x - 1.0 - 2.0", Box::new(|x| x - 1.0 - 2.0)),
            ("x.exp()", Box::new(f64::exp)),
            ("x.ln()", Box::new(f64::ln)),
            ("x.log2() + x.log10()", Box::new(|x: f64| x.log2() + x.log10())),
            ("x.sqrt() * x.cbrt()", Box::new(|x: f64| x.sqrt() * x.cbrt())),
            ("x.tanh() + x.sinh() - x.cosh()", Box::new(|x: f64| x.tanh() + x.sinh() - x.cosh())),
            ("x.sin() * x.cos() + x.atan()", Box::new(|x: f64| x.sin() * x.cos() + x.atan())),
            ("(-x).abs()", Box::new(f64::abs)),
            ("x.erf()", Box::new(erf)),
            ("x.logistic() + sigmoid(x)", Box::new(move |x| 2.0 * sigmoid(x))),
            ("x.softplus()", Box::new(|x: f64| (1.0 + x.exp()).ln())),
            ("x.powi(3)", Box::new(|x: f64| x.powi(3))),
            ("x.powi(-2)", Box::new(|x: f64| x.powi(-2))),
            ("x.powf(2.5)", Box::new(|x: f64| x.powf(2.5))),
            ("x.powf(-PI / 2.0)", Box::new(|x: f64| x.powf(-PI / 2.0))),
            ("x.max(0.0)", Box::new(|x: f64| x.max(0.0))),
            ("0.0.max(x)", Box::new(|x: f64| x.max(0.0))),
            ("x.min(1.0)", Box::new(|x: f64| x.min(1.0))),
            ("x.max(0.01 * x)", Box::new(|x: f64| x.max(0.01 * x))),
            ("x.exp_m1() + x.ln_1p() + x.recip()", Box::new(|x: f64| x.exp_m1() + x.ln_1p() + x.recip())),
            ("x.mul_add(2.0, 1.0)", Box::new(|x: f64| x.mul_add(2.0, 1.0))),
            ("exp(x) + erf(x) + f64::tanh(x)", Box::new(|x: f64| x.exp() + erf(x) + x.tanh())),
            ("max(x, 0.0) + min(x, 1.0)", Box::new(|x: f64| x.max(0.0) + x.min(1.0))),
            ("powi(x, 2) + f32::powf(x, 0.5)", Box::new(|x: f64| x.powi(2) + x.powf(0.5))),
            ("PI * x + E", Box::new(|x| PI * x + std::f64::consts::E)),
            ("core::f64::consts::PI", Box::new(|_| PI)),
            ("std::f32::consts::E", Box::new(|_| std::f64::consts::E)),
            ("f64::consts::PI", Box::new(|_| PI)),
            ("consts::FRAC_2_SQRT_PI", Box::new(|_| std::f64::consts::FRAC_2_SQRT_PI)),
            ("::core::f64::consts::LN_2", Box::new(|_| std::f64::consts::LN_2)),
            ("0.5 * x * (1.0 + (x / 2f64.sqrt()).erf())", Box::new(|x: f64| 0.5 * x * (1.0 + erf(x / 2f64.sqrt())))),
            ("x * (1.0 / (1.0 + (-1.702 * x).exp()))", Box::new(|x: f64| x * (1.0 / (1.0 + (-1.702 * x).exp())))),
            ("if x > 0.0 { x } else { x.exp() - 1.0 }", Box::new(|x: f64| if x > 0.0 { x } else { x.exp_m1() })),
            ("if x < -1.0 { -1.0 } else if x <= 1.0 { x } else { 1.0 }", Box::new(|x: f64| x.clamp(-1.0, 1.0))),
            ("{ (x) }", Box::new(|x| x)),
        ];
        for (src, f) in cases {
            let e = match parse_str(src) {
                Ok(e) => e,
                Err(err) => panic!("`{src}`: {err}"),
            };
            for at in [0.25, 0.7, 1.3, 2.9] {
                let (got, want) = (e.eval(&|_| at), f(at));
                assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "`{src}` at {at}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn structure() {
        assert_eq!(parse_str("x.max(0.0)").ok(), Some(Expr::x().max_c(0.0)));
        assert_eq!(parse_str("x.powi(3)").ok(), Some(Expr::x().powi(3)));
        assert_eq!(parse_str("x.powf(2.0 * 0.75)").ok(), Some(Expr::x().powf(1.5)));
        // another argument name
        let e: syn::Expr = syn::parse_quote!(z.tanh());
        assert_eq!(parse(&e, "z").ok(), Some(Expr::x().tanh()));
    }

    #[test]
    fn error_messages() {
        let methods = supported_methods();
        assert!(methods.starts_with("`exp`, `ln`, `log2`"), "{methods}");
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("x.foo()", vec![format!("unsupported method `foo` in activation; supported: {methods}")]),
            ("z + 1.0", vec!["unknown variable `z` in activation; the argument is `x`".into()]),
            ("x.powf(x)", vec!["`powf` needs a constant exponent, found `x`".into()]),
            ("x.powf(0.0.ln())", vec!["`powf` needs a finite constant exponent, found `0.0.ln()`".into()]),
            ("x.powi(2.5)", vec!["`powi` needs an integer literal exponent, found `2.5`".into()]),
            ("x.powi(x)", vec!["`powi` needs an integer literal exponent, found `x`".into()]),
            ("x.powi(10000000000)", vec!["`powi` exponent `10000000000` is out of range for `i32`".into()]),
            ("x.exp(1.0)", vec!["`exp` takes no arguments in activation, found 1".into()]),
            ("x.max()", vec!["`max` takes 1 argument in activation, found 0".into()]),
            ("exp(x, 1.0)", vec!["`exp` takes 1 argument in activation, found 2".into()]),
            ("max(x)", vec!["`max` takes 2 arguments in activation, found 1".into()]),
            ("exp()", vec!["`exp` takes 1 argument in activation, found none".into()]),
            ("x % 2.0", vec!["unsupported operator `%` in activation; supported: `+`, `-`, `*`, `/`".into()]),
            ("!x", vec!["unsupported operator `!` in activation; supported: unary `-`".into()]),
            ("2u8 * x", vec!["unsupported literal suffix `u8` in activation; expected `f32`, `f64` or none".into()]),
            ("\"a\"", vec!["unsupported literal `\"a\"` in activation; expected a number".into()]),
            ("1e999", vec!["literal `1e999` is not a finite number".into()]),
            (
                "x[0]",
                vec![
                    "unsupported expression `x[0]` in activation; expected arithmetic on `x` with numbers, \
                      named constants such as `PI`, and methods such as `x.exp()`"
                        .into(),
                ],
            ),
            (
                "if x == 0.0 { x } else { 1.0 }",
                vec![
                    "unsupported condition `x == 0.0` in activation; expected a comparison with `>`, `>=`, `<` or `<=`"
                        .into(),
                ],
            ),
            ("if x > 0.0 { x }", vec!["`if` needs an `else` branch in activation".into()]),
            (
                "f64::consts::FOO",
                vec![format!(
                    "unknown constant `f64::consts::FOO` in activation; supported: {}, bare or as `f64::consts::PI`",
                    list(CONSTANTS.iter().map(|(n, _)| n))
                )],
            ),
            (
                "foo::bar(x)",
                vec![format!("unsupported function `foo::bar` in activation; supported: {}", supported_functions())],
            ),
            ("x.exp::<f32>()", vec!["unexpected generic arguments on `exp` in activation".into()]),
            // several mistakes, all reported
            (
                "y.exp() + x.foo() * z",
                vec![
                    "unknown variable `y` in activation; the argument is `x`".into(),
                    format!("unsupported method `foo` in activation; supported: {methods}"),
                    "unknown variable `z` in activation; the argument is `x`".into(),
                ],
            ),
            (
                "x.powf(x) - x.powi(1.5)",
                vec![
                    "`powf` needs a constant exponent, found `x`".into(),
                    "`powi` needs an integer literal exponent, found `1.5`".into(),
                ],
            ),
        ];
        for (src, want) in cases {
            assert_eq!(errors(src), want, "`{src}`");
        }
    }

    #[test]
    fn messages_quote_code_readably() {
        let e: syn::Expr = syn::parse_quote!(x.powf(-(x + 1.0)));
        assert_eq!(code(&e), "x.powf(-(x + 1.0))");
        let e: syn::Expr = syn::parse_quote!(core::f64::consts::PI * a[0]);
        assert_eq!(code(&e), "core::f64::consts::PI * a[0]");
        let e: syn::Expr = syn::parse_quote!(-x - 1.0);
        assert_eq!(code(&e), "-x - 1.0");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // syn itself needs a deep stack for this input; give the test one.
        let run = || {
            let src = format!("{}x{}", "(".repeat(300), ")".repeat(300));
            errors(&src)
        };
        let msgs = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(run)
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(msgs, vec!["expression is nested too deeply in activation; the limit is 200 levels".to_owned()]);
    }
}
