//! A tiny expression algebra for scalar functions: build, differentiate, simplify, emit.
//!
//! Every derivative the macro generates comes from here, derived from the forward
//! expression, never written by hand per activation or loss. Entry points:
//!
//! - [`Expr`], with constructors (`Expr::x()`, `Expr::c(0.5)`, `.exp()`, `.powi(3)`,
//!   `.max_c(0.0)`, [`Expr::select`], ...) and the operators `+ − · / −u`, is a scalar
//!   function of the variables [`Var`]: `X` the argument, `Y = f(X)` the forward value,
//!   `T` a target, `Saved(k)` a value the forward pass kept. [`parse()`] builds one from
//!   the user's Rust expression of `x` (`x * x.logistic()`).
//! - [`Expr::diff`] differentiates with the rule table in `rules.rs` (one rule per
//!   primitive, and the conventions at kinks), then [`Expr::simplify`] (`simplify.rs`
//!   says what it rewrites and what it leaves alone).
//! - [`compile_activation`] gives an activation's first and second derivatives in
//!   terms of forward values (`σ' = y·(1 − y)`), and [`derive_loss`] a loss's derivative
//!   with respect to the network output (`y − t` for cross-entropy on a logit); see
//!   `reuse.rs`.
//! - [`Expr::to_tokens`] emits Rust code that calls `::stackprop::__private::Scalar`;
//!   [`Expr::render`] writes readable math for the generated rustdoc.
//!
//! ```text
//! let f = parse(&syn::parse_quote!(x.tanh()), "x")?;      // tanh(x)
//! let a = compile_activation(&f)?;                          // a.derivative = 1 − y²
//! a.derivative.to_tokens(&lit, &var)                        // 1.0_f32 - y * y
//! ```
//!
//! Nothing here panics on user input: parse errors are `syn::Error`s at the offending
//! tokens, and expressions the engine cannot differentiate give a [`SymError`].

// The algebra is complete on purpose (a constructor and a rule for every primitive);
// the code generator calls the part its layers need.
#![allow(dead_code, reason = "a complete algebra; the code generator uses part of it")]

mod emit;
mod erf;
mod expr;
mod parse;
#[cfg(test)]
mod proptests;
mod render;
mod reuse;
mod rules;
mod simplify;

#[allow(unused_imports, reason = "the code generator names only the items it needs")]
pub use {
    expr::{Cmp, Expr, Func, SymError, Var},
    parse::{CONSTANTS, parse},
    reuse::{Elementwise, compile_activation, derive_loss},
    simplify::MAX_PASSES,
};
