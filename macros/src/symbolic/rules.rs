//! The derivative rules: one per primitive, all in [`derivative`]'s single `match`.
//!
//! Conventions at points where a primitive has no derivative (documented, tested):
//!
//! - `abs'(u) = sign(u)` with `sign(0) = 0`.
//! - `max(u, v)' = u'` where `max(u, v) > v`, else `v'`; so at a tie the threshold's
//!   derivative wins and `relu'(0) = max(x, 0)'(0) = 0`, as in PyTorch. When one side is
//!   constant it is the threshold, whichever side it was written on.
//! - `min(u, v)' = u'` where `min(u, v) < v`, else `v'` (same tie rule).
//! - `select(cond, a, b)' = select(cond, a', b')`: the condition is not differentiated, so
//!   at a kink the derivative is the derivative of the branch taken there.
//!
//! Where it is cheaper, a rule refers to its own node (`exp(u)' = exp(u)·u'`) so that the
//! backward pass can reuse the forward value instead of recomputing it (`reuse.rs`).
//!
//! Errors are rare by construction: `powf` takes a constant exponent and `max`/`min`
//! take any two expressions, so every tree built from the primitives has a derivative.
//! What remains is differentiating with respect to `X` an expression that uses `Y` or
//! `Saved(k)` (values computed from `X`, which the engine cannot see through), and
//! `powi` with the exponent `i32::MIN` (whose `n − 1` does not exist). Domains are the
//! user's business: `ln(u)' = u'/u` is emitted without checking `u > 0`.

use std::f64::consts::{FRAC_2_SQRT_PI, LN_2, LN_10};

use super::expr::{Cmp, Expr, Func, SymError, Var};

impl Expr {
    /// `∂self/∂wrt`, simplified.
    ///
    /// Other variables are independent of `wrt`, except that `Y` and `Saved(k)` are
    /// functions of `X`: differentiating an expression that uses them with respect to `X`
    /// is an error (differentiate first, then substitute forward values).
    pub fn diff(&self, wrt: Var) -> Result<Expr, SymError> {
        Ok(derivative(self, wrt)?.simplify())
    }
}

/// The derivative of `e` with respect to `wrt`, before simplification: the rule table.
/// The `match` is exhaustive, so a new primitive cannot be added without its rule.
pub(super) fn derivative(e: &Expr, wrt: Var) -> Result<Expr, SymError> {
    let d = |u: &Expr| derivative(u, wrt);
    let c = Expr::c;
    let own = || e.clone();
    let u_of = |u: &Expr| u.clone();
    Ok(match e {
        // c' = 0
        Expr::Const(_) => c(0.0),
        // v' = 1 for the variable itself, 0 for an independent one
        Expr::Var(v) => {
            let depends_on_x = matches!(v, Var::Y | Var::Saved(_));
            if *v == wrt {
                c(1.0)
            } else if wrt == Var::X && depends_on_x {
                return Err(SymError::new(format!(
                    "cannot differentiate an expression that uses `{}` with respect to `x`, \
                     because `{}` is computed from `x`; write it in terms of `x`",
                    v.name(),
                    v.name()
                )));
            } else {
                c(0.0)
            }
        }
        // (−u)' = −u'
        Expr::Neg(u) => -d(u)?,
        // (u + v)' = u' + v'
        Expr::Add(u, v) => d(u)? + d(v)?,
        // (u − v)' = u' − v'
        Expr::Sub(u, v) => d(u)? - d(v)?,
        // (u·v)' = u'·v + u·v'
        Expr::Mul(u, v) => d(u)? * u_of(v) + u_of(u) * d(v)?,
        // (u / v)' = (u'·v − u·v') / v²
        Expr::Div(u, v) => (d(u)? * u_of(v) - u_of(u) * d(v)?) / u_of(v).powi(2),
        // (uⁿ)' = n·uⁿ⁻¹·u'
        Expr::Powi(u, n) => {
            let Some(m) = n.checked_sub(1) else {
                return Err(SymError::new(format!("exponent `{n}` is out of range")));
            };
            c(f64::from(*n)) * u_of(u).powi(m) * d(u)?
        }
        // (uᶜ)' = c·uᶜ⁻¹·u'
        Expr::Powf(u, k) => c(*k) * u_of(u).powf(k - 1.0) * d(u)?,
        // exp(u)' = exp(u)·u'
        Expr::Call(Func::Exp, u) => own() * d(u)?,
        // ln(u)' = u' / u
        Expr::Call(Func::Ln, u) => d(u)? / u_of(u),
        // log₂(u)' = u' / (u·ln 2)
        Expr::Call(Func::Log2, u) => d(u)? / (u_of(u) * c(LN_2)),
        // log₁₀(u)' = u' / (u·ln 10)
        Expr::Call(Func::Log10, u) => d(u)? / (u_of(u) * c(LN_10)),
        // √u' = u' / (2·√u)
        Expr::Call(Func::Sqrt, u) => d(u)? / (c(2.0) * own()),
        // ∛u' = u' / (3·∛u²)
        Expr::Call(Func::Cbrt, u) => d(u)? / (c(3.0) * own().powi(2)),
        // tanh(u)' = (1 − tanh(u)²)·u'
        Expr::Call(Func::Tanh, u) => (c(1.0) - own().powi(2)) * d(u)?,
        // sinh(u)' = cosh(u)·u'
        Expr::Call(Func::Sinh, u) => u_of(u).cosh() * d(u)?,
        // cosh(u)' = sinh(u)·u'
        Expr::Call(Func::Cosh, u) => u_of(u).sinh() * d(u)?,
        // sin(u)' = cos(u)·u'
        Expr::Call(Func::Sin, u) => u_of(u).cos() * d(u)?,
        // cos(u)' = −sin(u)·u'
        Expr::Call(Func::Cos, u) => -(u_of(u).sin() * d(u)?),
        // atan(u)' = u' / (1 + u²)
        Expr::Call(Func::Atan, u) => d(u)? / (c(1.0) + u_of(u).powi(2)),
        // |u|' = sign(u)·u', with sign(0) = 0
        Expr::Call(Func::Abs, u) => Expr::sign(u_of(u)) * d(u)?,
        // erf(u)' = 2/√π·exp(−u²)·u'
        Expr::Call(Func::Erf, u) => c(FRAC_2_SQRT_PI) * (-u_of(u).powi(2)).exp() * d(u)?,
        // σ(u)' = σ(u)·(1 − σ(u))·u'
        Expr::Call(Func::Logistic, u) => own() * (c(1.0) - own()) * d(u)?,
        // softplus(u)' = σ(u)·u'
        Expr::Call(Func::Softplus, u) => u_of(u).logistic() * d(u)?,
        // max(u, v)' = u' where max(u, v) > v, else v' (v: the constant side if any)
        Expr::Max(a, b) => {
            let (u, v) = threshold_last(a, b);
            Expr::select(Cmp::Gt, own(), v.clone(), d(u)?, d(v)?)
        }
        // min(u, v)' = u' where min(u, v) < v, else v'
        Expr::Min(a, b) => {
            let (u, v) = threshold_last(a, b);
            Expr::select(Cmp::Lt, own(), v.clone(), d(u)?, d(v)?)
        }
        // select(cond, a, b)' = select(cond, a', b')
        Expr::Select { cmp, lhs, rhs, then, otherwise } => {
            Expr::select(*cmp, u_of(lhs), u_of(rhs), d(then)?, d(otherwise)?)
        }
    })
}

/// The arguments of `max`/`min` as (value, threshold): a side without variables is the
/// threshold, so `0.max(x)` and `x.max(0)` have the same derivative.
fn threshold_last<'a>(a: &'a Expr, b: &'a Expr) -> (&'a Expr, &'a Expr) {
    if a.vars().is_empty() && !b.vars().is_empty() { (b, a) } else { (a, b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> Expr {
        Expr::x()
    }

    fn c(v: f64) -> Expr {
        Expr::c(v)
    }

    /// The symbolic derivative at `at` against a central difference, relative 1e-7.
    fn check(f: &Expr, at: f64, want: f64) {
        let d = f.diff(Var::X).expect("differentiable");
        let got = d.eval(&|_| at);
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "d/dx {f:?} at {at}: got {got}, want {want}; derivative {d:?}"
        );
        let h = 1e-5;
        let fd = (f.eval(&|_| at + h) - f.eval(&|_| at - h)) / (2.0 * h);
        assert!((got - fd).abs() <= 1e-7 * fd.abs().max(1.0), "finite difference of {f:?} at {at}: {fd} vs {got}");
    }

    #[test]
    fn one_rule_per_primitive() {
        let a = 0.7_f64;
        check(&c(3.0), a, 0.0);
        check(&x(), a, 1.0);
        check(&-x(), a, -1.0);
        check(&(x() + x().exp()), a, 1.0 + a.exp());
        check(&(x() - x().sin()), a, 1.0 - a.cos());
        check(&(x() * x().exp()), a, a.exp() + a * a.exp());
        check(&(x() / x().exp()), a, (1.0 - a) / a.exp());
        check(&x().powi(3), a, 3.0 * a * a);
        check(&x().powi(-2), a, -2.0 / a.powi(3));
        check(&x().powi(0), a, 0.0);
        check(&x().powf(2.5), a, 2.5 * a.powf(1.5));
        check(&x().exp(), a, a.exp());
        check(&x().ln(), a, 1.0 / a);
        check(&x().log2(), a, 1.0 / (a * LN_2));
        check(&x().log10(), a, 1.0 / (a * LN_10));
        check(&x().sqrt(), a, 0.5 / a.sqrt());
        check(&x().cbrt(), a, 1.0 / (3.0 * a.cbrt().powi(2)));
        check(&x().tanh(), a, 1.0 - a.tanh().powi(2));
        check(&x().sinh(), a, a.cosh());
        check(&x().cosh(), a, a.sinh());
        check(&x().sin(), a, a.cos());
        check(&x().cos(), a, -a.sin());
        check(&x().atan(), a, 1.0 / (1.0 + a * a));
        check(&x().abs(), a, 1.0);
        check(&x().abs(), -a, -1.0);
        check(&x().erf(), a, FRAC_2_SQRT_PI * (-a * a).exp());
        let s = 1.0 / (1.0 + (-a).exp());
        check(&x().logistic(), a, s * (1.0 - s));
        check(&x().softplus(), a, s);
        check(&x().max_c(0.0), a, 1.0);
        check(&x().max_c(0.0), -a, 0.0);
        check(&x().min_c(1.0), a, 1.0);
        check(&x().min_c(0.0), a, 0.0);
        check(&x().max(x().powi(2)), a, 1.0);
        check(&x().max(x().powi(2)), 1.5, 3.0);
        let elu = Expr::select(Cmp::Gt, x(), c(0.0), x(), x().exp() - c(1.0));
        check(&elu, a, 1.0);
        check(&elu, -a, (-a).exp());
    }

    #[test]
    fn chain_rule_composes() {
        let a = 0.3_f64;
        let f = (x() * x() + c(1.0)).sqrt().ln();
        check(&f, a, a / (a * a + 1.0));
        let g = (c(2.0) * x()).tanh().powi(2);
        let t = (2.0 * a).tanh();
        check(&g, a, 2.0 * t * (1.0 - t * t) * 2.0);
    }

    #[test]
    fn conventions_at_kinks() {
        let at0 = |e: &Expr| e.diff(Var::X).map(|d| d.eval(&|_| 0.0));
        // relu'(0) = 0, as PyTorch; the constant is the threshold on either side.
        assert_eq!(at0(&x().max_c(0.0)), Ok(0.0));
        assert_eq!(at0(&c(0.0).max(x())), Ok(0.0));
        assert_eq!(at0(&x().min_c(0.0)), Ok(0.0));
        // |x|'(0) = sign(0) = 0
        assert_eq!(at0(&x().abs()), Ok(0.0));
        // select: the branch taken at the kink
        let ge = Expr::select(Cmp::Ge, x(), c(0.0), c(2.0) * x(), c(3.0) * x());
        assert_eq!(at0(&ge), Ok(2.0));
        let gt = Expr::select(Cmp::Gt, x(), c(0.0), c(2.0) * x(), c(3.0) * x());
        assert_eq!(at0(&gt), Ok(3.0));
    }

    #[test]
    fn rules_reuse_their_own_node() {
        // The rule's result contains the node itself, so the forward value can be reused.
        for f in [x().exp(), x().tanh(), x().logistic(), x().sqrt(), x().cbrt(), x().max_c(0.0), x().min_c(0.0)] {
            let d = derivative(&f, Var::X).expect("differentiable");
            assert!(d.contains(&f), "{f:?}' = {d:?} does not refer to {f:?}");
        }
    }

    #[test]
    fn other_variables() {
        let t = Expr::t();
        // ∂/∂t (t·x) = x; ∂/∂x (t·x) = t
        let e = t.clone() * x();
        assert_eq!(e.diff(Var::T), Ok(x()));
        assert_eq!(e.diff(Var::X), Ok(t));
        // y depends on x: refuse rather than silently treating it as a constant.
        let err = (Expr::y() * x()).diff(Var::X).expect_err("y depends on x");
        assert!(err.message().contains("`y`"), "{err}");
        let err = Expr::var(Var::Saved(0)).diff(Var::X).expect_err("s0 depends on x");
        assert!(err.message().contains("`s0`"), "{err}");
        // but y is independent of t
        assert_eq!(Expr::y().diff(Var::T), Ok(c(0.0)));
    }
}
