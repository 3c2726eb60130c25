//! The expression tree: variables, primitives, constructors, and the traversals every
//! other stage shares (`eval`, `substitute`, `uses`, `vars`, `op_count`).

use std::collections::BTreeSet;
use std::fmt;
use std::ops;

use super::erf::erf;

/// A variable an expression may refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Var {
    /// The function's argument: a pre-activation `z`, or for a loss the network output (or logit).
    X,
    /// The forward value `f(X)` of the activation, available from the forward pass.
    Y,
    /// A target value (losses).
    T,
    /// The `k`-th saved forward subexpression (see [`super::Elementwise`]).
    Saved(usize),
}

impl Var {
    /// The name used in messages: `x`, `y`, `t`, `s0`, ...
    pub fn name(self) -> String {
        match self {
            Var::X => "x".to_owned(),
            Var::Y => "y".to_owned(),
            Var::T => "t".to_owned(),
            Var::Saved(k) => format!("s{k}"),
        }
    }
}

/// A comparison, the condition of a [`Expr::Select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Cmp {
    /// Whether `a <cmp> b` holds (false if either is NaN, as in Rust).
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
        }
    }

    /// The Rust operator.
    pub fn rust(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }
}

/// The one-argument primitives. Each is a method of the runtime's `Scalar` trait of the
/// same name, and has exactly one derivative rule (`rules.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Func {
    /// `eᵘ`
    Exp,
    /// natural logarithm
    Ln,
    /// base-2 logarithm
    Log2,
    /// base-10 logarithm
    Log10,
    /// square root
    Sqrt,
    /// cube root
    Cbrt,
    /// hyperbolic tangent
    Tanh,
    /// hyperbolic sine
    Sinh,
    /// hyperbolic cosine
    Cosh,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// arctangent
    Atan,
    /// absolute value
    Abs,
    /// the error function
    Erf,
    /// the logistic sigmoid `1 / (1 + e⁻ᵘ)`
    Logistic,
    /// `ln(1 + eᵘ)`
    Softplus,
}

impl Func {
    /// Every function, in declaration order.
    pub const ALL: [Func; 16] = [
        Func::Exp,
        Func::Ln,
        Func::Log2,
        Func::Log10,
        Func::Sqrt,
        Func::Cbrt,
        Func::Tanh,
        Func::Sinh,
        Func::Cosh,
        Func::Sin,
        Func::Cos,
        Func::Atan,
        Func::Abs,
        Func::Erf,
        Func::Logistic,
        Func::Softplus,
    ];

    /// The method name, in the runtime's `Scalar` trait and in Rust's float types.
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Log2 => "log2",
            Func::Log10 => "log10",
            Func::Sqrt => "sqrt",
            Func::Cbrt => "cbrt",
            Func::Tanh => "tanh",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Atan => "atan",
            Func::Abs => "abs",
            Func::Erf => "erf",
            Func::Logistic => "logistic",
            Func::Softplus => "softplus",
        }
    }

    /// The function by its method name.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The value in `f64`, computed the way the runtime computes it.
    pub fn apply(self, u: f64) -> f64 {
        match self {
            Func::Exp => u.exp(),
            Func::Ln => u.ln(),
            Func::Log2 => u.log2(),
            Func::Log10 => u.log10(),
            Func::Sqrt => u.sqrt(),
            Func::Cbrt => u.cbrt(),
            Func::Tanh => u.tanh(),
            Func::Sinh => u.sinh(),
            Func::Cosh => u.cosh(),
            Func::Sin => u.sin(),
            Func::Cos => u.cos(),
            Func::Atan => u.atan(),
            Func::Abs => u.abs(),
            Func::Erf => erf(u),
            // Same formulas as the runtime's `Scalar::logistic` and `Scalar::softplus`:
            // no overflow for any input.
            Func::Logistic => 1.0 / (1.0 + (-u).exp()),
            Func::Softplus => u.max(0.0) + (-u.abs()).exp().ln_1p(),
        }
    }
}

/// A scalar expression. Constants are `f64`; the code emitter turns them into literals of
/// the network's scalar type.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Const(f64),
    /// A variable.
    Var(Var),
    /// `−u`
    Neg(Box<Expr>),
    /// `u + v`
    Add(Box<Expr>, Box<Expr>),
    /// `u − v`
    Sub(Box<Expr>, Box<Expr>),
    /// `u · v`
    Mul(Box<Expr>, Box<Expr>),
    /// `u / v`
    Div(Box<Expr>, Box<Expr>),
    /// `uⁿ` for an integer `n`.
    Powi(Box<Expr>, i32),
    /// `uᶜ` for a constant real `c`.
    Powf(Box<Expr>, f64),
    /// A one-argument primitive `f(u)`.
    Call(Func, Box<Expr>),
    /// `max(u, v)`; see the derivative rule for which side is the threshold.
    Max(Box<Expr>, Box<Expr>),
    /// `min(u, v)`
    Min(Box<Expr>, Box<Expr>),
    /// `if lhs <cmp> rhs { then } else { otherwise }`
    Select {
        /// The comparison.
        cmp: Cmp,
        /// Its left side.
        lhs: Box<Expr>,
        /// Its right side.
        rhs: Box<Expr>,
        /// The value where the comparison holds.
        then: Box<Expr>,
        /// The value where it does not (also where a side is NaN).
        otherwise: Box<Expr>,
    },
}

/// Why an expression could not be differentiated or compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymError {
    message: String,
}

impl SymError {
    /// An error with this message (lower case, no final period, code in backticks).
    pub fn new(message: impl Into<String>) -> Self {
        SymError { message: message.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error as a `syn::Error` pointing at `tokens` (the layer or attribute it belongs to).
    pub fn to_syn_error(&self, tokens: impl quote::ToTokens) -> syn::Error {
        syn::Error::new_spanned(tokens, &self.message)
    }
}

impl fmt::Display for SymError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SymError {}

/// Constructors. Operators `+ − · / −u` are the `std::ops` impls below.
impl Expr {
    /// A constant.
    pub fn c(value: f64) -> Expr {
        Expr::Const(value)
    }

    /// A variable.
    pub fn var(v: Var) -> Expr {
        Expr::Var(v)
    }

    /// The argument `x`.
    pub fn x() -> Expr {
        Expr::Var(Var::X)
    }

    /// The forward value `y`.
    pub fn y() -> Expr {
        Expr::Var(Var::Y)
    }

    /// The target `t`.
    pub fn t() -> Expr {
        Expr::Var(Var::T)
    }

    /// `f(self)` for a one-argument primitive.
    pub fn call(self, f: Func) -> Expr {
        Expr::Call(f, Box::new(self))
    }

    /// `eˢᵉˡᶠ`
    pub fn exp(self) -> Expr {
        self.call(Func::Exp)
    }

    /// `ln(self)`
    pub fn ln(self) -> Expr {
        self.call(Func::Ln)
    }

    /// `log₂(self)`
    pub fn log2(self) -> Expr {
        self.call(Func::Log2)
    }

    /// `log₁₀(self)`
    pub fn log10(self) -> Expr {
        self.call(Func::Log10)
    }

    /// `√self`
    pub fn sqrt(self) -> Expr {
        self.call(Func::Sqrt)
    }

    /// `∛self`
    pub fn cbrt(self) -> Expr {
        self.call(Func::Cbrt)
    }

    /// `tanh(self)`
    pub fn tanh(self) -> Expr {
        self.call(Func::Tanh)
    }

    /// `sinh(self)`
    pub fn sinh(self) -> Expr {
        self.call(Func::Sinh)
    }

    /// `cosh(self)`
    pub fn cosh(self) -> Expr {
        self.call(Func::Cosh)
    }

    /// `sin(self)`
    pub fn sin(self) -> Expr {
        self.call(Func::Sin)
    }

    /// `cos(self)`
    pub fn cos(self) -> Expr {
        self.call(Func::Cos)
    }

    /// `atan(self)`
    pub fn atan(self) -> Expr {
        self.call(Func::Atan)
    }

    /// `|self|`
    pub fn abs(self) -> Expr {
        self.call(Func::Abs)
    }

    /// `erf(self)`
    pub fn erf(self) -> Expr {
        self.call(Func::Erf)
    }

    /// The logistic sigmoid `1 / (1 + e⁻ˢᵉˡᶠ)`.
    pub fn logistic(self) -> Expr {
        self.call(Func::Logistic)
    }

    /// `ln(1 + eˢᵉˡᶠ)`
    pub fn softplus(self) -> Expr {
        self.call(Func::Softplus)
    }

    /// `selfⁿ`
    pub fn powi(self, n: i32) -> Expr {
        Expr::Powi(Box::new(self), n)
    }

    /// `selfᶜ` for a constant `c`.
    pub fn powf(self, c: f64) -> Expr {
        Expr::Powf(Box::new(self), c)
    }

    /// `max(self, other)`
    pub fn max(self, other: Expr) -> Expr {
        Expr::Max(Box::new(self), Box::new(other))
    }

    /// `min(self, other)`
    pub fn min(self, other: Expr) -> Expr {
        Expr::Min(Box::new(self), Box::new(other))
    }

    /// `max(self, c)` for a constant `c` (`relu` is `x.max_c(0.0)`).
    pub fn max_c(self, c: f64) -> Expr {
        self.max(Expr::c(c))
    }

    /// `min(self, c)` for a constant `c`.
    pub fn min_c(self, c: f64) -> Expr {
        self.min(Expr::c(c))
    }

    /// `if lhs <cmp> rhs { then } else { otherwise }`.
    pub fn select(cmp: Cmp, lhs: Expr, rhs: Expr, then: Expr, otherwise: Expr) -> Expr {
        Expr::Select {
            cmp,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        }
    }

    /// `sign(u)`: `1` where `u > 0`, `−1` where `u < 0`, `0` at `0` (and for NaN).
    ///
    /// Not a primitive: the runtime has no `signum`, and as a select it needs no rule of
    /// its own (its derivative is 0 almost everywhere, which is what the select rule gives).
    pub fn sign(u: Expr) -> Expr {
        Expr::select(
            Cmp::Gt,
            u.clone(),
            Expr::c(0.0),
            Expr::c(1.0),
            Expr::select(Cmp::Lt, u, Expr::c(0.0), Expr::c(-1.0), Expr::c(0.0)),
        )
    }

    /// `Some(u)` if `self` is [`Expr::sign`]`(u)`.
    pub fn as_sign(&self) -> Option<&Expr> {
        let Expr::Select { cmp: Cmp::Gt, lhs, rhs, then, otherwise } = self else {
            return None;
        };
        let Expr::Select { cmp: Cmp::Lt, lhs: lhs2, rhs: rhs2, then: then2, otherwise: otherwise2 } = &**otherwise
        else {
            return None;
        };
        let is = |e: &Expr, v: f64| matches!(e, Expr::Const(c) if *c == v);
        let shape =
            is(rhs, 0.0) && is(then, 1.0) && lhs2 == lhs && is(rhs2, 0.0) && is(then2, -1.0) && is(otherwise2, 0.0);
        shape.then_some(&**lhs)
    }

    /// The value of a constant expression node, if it is one.
    pub fn as_const(&self) -> Option<f64> {
        match self {
            Expr::Const(c) => Some(*c),
            _ => None,
        }
    }
}

/// Traversals.
impl Expr {
    /// The direct children, in order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Const(_) | Expr::Var(_) => Vec::new(),
            Expr::Neg(u) | Expr::Powi(u, _) | Expr::Powf(u, _) | Expr::Call(_, u) => vec![u],
            Expr::Add(u, v)
            | Expr::Sub(u, v)
            | Expr::Mul(u, v)
            | Expr::Div(u, v)
            | Expr::Max(u, v)
            | Expr::Min(u, v) => vec![u, v],
            Expr::Select { lhs, rhs, then, otherwise, .. } => vec![lhs, rhs, then, otherwise],
        }
    }

    /// The same node with every child replaced by `f(child)`.
    pub fn map_children(&self, f: &mut dyn FnMut(&Expr) -> Expr) -> Expr {
        let mut b = |e: &Expr| Box::new(f(e));
        match self {
            Expr::Const(_) | Expr::Var(_) => self.clone(),
            Expr::Neg(u) => Expr::Neg(b(u)),
            Expr::Add(u, v) => {
                let u = b(u);
                Expr::Add(u, b(v))
            }
            Expr::Sub(u, v) => {
                let u = b(u);
                Expr::Sub(u, b(v))
            }
            Expr::Mul(u, v) => {
                let u = b(u);
                Expr::Mul(u, b(v))
            }
            Expr::Div(u, v) => {
                let u = b(u);
                Expr::Div(u, b(v))
            }
            Expr::Powi(u, n) => Expr::Powi(b(u), *n),
            Expr::Powf(u, c) => Expr::Powf(b(u), *c),
            Expr::Call(func, u) => Expr::Call(*func, b(u)),
            Expr::Max(u, v) => {
                let u = b(u);
                Expr::Max(u, b(v))
            }
            Expr::Min(u, v) => {
                let u = b(u);
                Expr::Min(u, b(v))
            }
            Expr::Select { cmp, lhs, rhs, then, otherwise } => {
                let lhs = b(lhs);
                let rhs = b(rhs);
                let then = b(then);
                Expr::Select { cmp: *cmp, lhs, rhs, then, otherwise: b(otherwise) }
            }
        }
    }

    /// The node with every child replaced by `f(child)`, consuming it (no copies).
    pub fn into_map_children(self, f: &mut dyn FnMut(Expr) -> Expr) -> Expr {
        let mut b = |e: Box<Expr>| Box::new(f(*e));
        match self {
            Expr::Const(_) | Expr::Var(_) => self,
            Expr::Neg(u) => Expr::Neg(b(u)),
            Expr::Add(u, v) => {
                let u = b(u);
                Expr::Add(u, b(v))
            }
            Expr::Sub(u, v) => {
                let u = b(u);
                Expr::Sub(u, b(v))
            }
            Expr::Mul(u, v) => {
                let u = b(u);
                Expr::Mul(u, b(v))
            }
            Expr::Div(u, v) => {
                let u = b(u);
                Expr::Div(u, b(v))
            }
            Expr::Powi(u, n) => Expr::Powi(b(u), n),
            Expr::Powf(u, c) => Expr::Powf(b(u), c),
            Expr::Call(func, u) => Expr::Call(func, b(u)),
            Expr::Max(u, v) => {
                let u = b(u);
                Expr::Max(u, b(v))
            }
            Expr::Min(u, v) => {
                let u = b(u);
                Expr::Min(u, b(v))
            }
            Expr::Select { cmp, lhs, rhs, then, otherwise } => {
                let lhs = b(lhs);
                let rhs = b(rhs);
                let then = b(then);
                Expr::Select { cmp, lhs, rhs, then, otherwise: b(otherwise) }
            }
        }
    }

    /// Replaces every subtree structurally equal to `from` by `to` (outermost first, so a
    /// replaced subtree is not searched again).
    pub fn substitute(&self, from: &Expr, to: &Expr) -> Expr {
        if self == from { to.clone() } else { self.map_children(&mut |c| c.substitute(from, to)) }
    }

    /// Renames every variable by `f`, in one pass (so a permutation of saved indices works).
    pub fn rename_vars(&self, f: &dyn Fn(Var) -> Var) -> Expr {
        match self {
            Expr::Var(v) => Expr::Var(f(*v)),
            _ => self.map_children(&mut |c| c.rename_vars(f)),
        }
    }

    /// Whether `self` contains `sub` as a subtree.
    pub fn contains(&self, sub: &Expr) -> bool {
        self == sub || self.children().into_iter().any(|c| c.contains(sub))
    }

    /// Whether the expression refers to `v`.
    pub fn uses(&self, v: Var) -> bool {
        match self {
            Expr::Var(w) => *w == v,
            _ => self.children().into_iter().any(|c| c.uses(v)),
        }
    }

    /// Every variable the expression refers to.
    pub fn vars(&self) -> BTreeSet<Var> {
        let mut out = BTreeSet::new();
        self.collect_vars(&mut out);
        out
    }

    fn collect_vars(&self, out: &mut BTreeSet<Var>) {
        if let Expr::Var(v) = self {
            out.insert(*v);
        }
        for c in self.children() {
            c.collect_vars(out);
        }
    }

    /// The value with `f64` semantics; `select` evaluates its condition.
    pub fn eval(&self, env: &dyn Fn(Var) -> f64) -> f64 {
        match self {
            Expr::Const(c) => *c,
            Expr::Var(v) => env(*v),
            Expr::Neg(u) => -u.eval(env),
            Expr::Add(u, v) => u.eval(env) + v.eval(env),
            Expr::Sub(u, v) => u.eval(env) - v.eval(env),
            Expr::Mul(u, v) => u.eval(env) * v.eval(env),
            Expr::Div(u, v) => u.eval(env) / v.eval(env),
            Expr::Powi(u, n) => u.eval(env).powi(*n),
            Expr::Powf(u, c) => u.eval(env).powf(*c),
            Expr::Call(f, u) => f.apply(u.eval(env)),
            Expr::Max(u, v) => u.eval(env).max(v.eval(env)),
            Expr::Min(u, v) => u.eval(env).min(v.eval(env)),
            Expr::Select { cmp, lhs, rhs, then, otherwise } => {
                if cmp.holds(lhs.eval(env), rhs.eval(env)) {
                    then.eval(env)
                } else {
                    otherwise.eval(env)
                }
            }
        }
    }

    /// The number of nodes that cost an operation (constants and variables are free; a
    /// select counts its comparison and both branches), to report code size.
    pub fn op_count(&self) -> usize {
        let own = usize::from(!matches!(self, Expr::Const(_) | Expr::Var(_)));
        own + self.children().into_iter().map(Expr::op_count).sum::<usize>()
    }

    /// The number of nodes, leaves included.
    pub fn node_count(&self) -> usize {
        1 + self.children().into_iter().map(Expr::node_count).sum::<usize>()
    }

    /// Every subtree, parents before children.
    pub fn subtrees(&self) -> Vec<&Expr> {
        let mut out = vec![self];
        let mut i = 0;
        while let Some(e) = out.get(i).copied() {
            out.extend(e.children());
            i += 1;
        }
        out
    }
}

impl From<f64> for Expr {
    fn from(value: f64) -> Self {
        Expr::Const(value)
    }
}

impl From<Var> for Expr {
    fn from(v: Var) -> Self {
        Expr::Var(v)
    }
}

macro_rules! binary_op {
    ($trait:ident, $method:ident, $variant:ident) => {
        impl ops::$trait for Expr {
            type Output = Expr;
            fn $method(self, rhs: Expr) -> Expr {
                Expr::$variant(Box::new(self), Box::new(rhs))
            }
        }
    };
}

binary_op!(Add, add, Add);
binary_op!(Sub, sub, Sub);
binary_op!(Mul, mul, Mul);
binary_op!(Div, div, Div);

impl ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr::Neg(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64) -> impl Fn(Var) -> f64 {
        move |v| match v {
            Var::X => x,
            Var::Y => 10.0,
            Var::T => 100.0,
            Var::Saved(k) => 1000.0 + k as f64,
        }
    }

    #[test]
    fn eval_follows_f64() {
        let x = Expr::x();
        let e = (x.clone() * Expr::c(2.0) + Expr::c(1.0)).exp() / (-x.clone()).abs();
        let v = e.eval(&at(0.5));
        assert_eq!(v, (0.5f64 * 2.0 + 1.0).exp() / 0.5);
        let s = Expr::select(Cmp::Ge, x.clone(), Expr::c(0.0), x.clone(), -x.clone());
        assert_eq!(s.eval(&at(-3.0)), 3.0);
        assert_eq!(s.eval(&at(0.0)), 0.0);
        assert_eq!(Expr::y().eval(&at(0.0)), 10.0);
        assert_eq!(Expr::var(Var::Saved(2)).eval(&at(0.0)), 1002.0);
    }

    #[test]
    fn sign_is_recognised_and_evaluates() {
        let s = Expr::sign(Expr::x());
        assert_eq!(s.as_sign(), Some(&Expr::x()));
        assert_eq!(s.eval(&at(-2.0)), -1.0);
        assert_eq!(s.eval(&at(0.0)), 0.0);
        assert_eq!(s.eval(&at(3.0)), 1.0);
        assert_eq!(Expr::x().as_sign(), None);
    }

    #[test]
    fn substitute_replaces_every_equal_subtree() {
        let x = Expr::x();
        let l = x.clone().logistic();
        let e = l.clone() * (Expr::c(1.0) - l.clone());
        let r = e.substitute(&l, &Expr::y());
        assert_eq!(r, Expr::y() * (Expr::c(1.0) - Expr::y()));
        assert!(!r.uses(Var::X));
        assert!(r.uses(Var::Y));
        assert_eq!(r.vars().into_iter().collect::<Vec<_>>(), vec![Var::Y]);
    }

    #[test]
    fn counts_operations_not_leaves() {
        let x = Expr::x();
        assert_eq!(x.op_count(), 0);
        assert_eq!(Expr::c(1.0).op_count(), 0);
        assert_eq!((x.clone() * x.clone() + Expr::c(1.0)).op_count(), 2);
        assert_eq!(x.clone().exp().ln().op_count(), 2);
        let s = Expr::select(Cmp::Gt, x.clone(), Expr::c(0.0), x.clone().exp(), x);
        assert_eq!(s.op_count(), 2);
    }

    #[test]
    fn functions_by_name_round_trip() {
        for f in Func::ALL {
            assert_eq!(Func::from_name(f.name()), Some(f));
        }
        assert_eq!(Func::from_name("signum"), None);
    }

    #[test]
    fn logistic_and_softplus_do_not_overflow() {
        assert_eq!(Func::Logistic.apply(-1000.0), 0.0);
        assert_eq!(Func::Logistic.apply(1000.0), 1.0);
        assert_eq!(Func::Softplus.apply(1000.0), 1000.0);
        assert!(Func::Softplus.apply(-1000.0) >= 0.0);
        assert!((Func::Softplus.apply(0.3) - (1.0f64 + 0.3f64.exp()).ln()).abs() < 1e-15);
    }
}
