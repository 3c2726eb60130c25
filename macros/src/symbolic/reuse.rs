//! Derivatives that reuse forward values: [`compile_activation`] and [`derive_loss`].
//!
//! The backward pass of a layer can read what its forward pass computed. So after
//! differentiating, every subtree equal to the whole forward expression becomes `Y`
//! (`σ' = σ·(1 − σ)` becomes `y·(1 − y)`), also inside products where the forward value
//! appears as a power of its factors (`exp(−x)/(1 + exp(−x))²` becomes `exp(−x)·y²` for
//! `y = 1/(1 + exp(−x))`). Then expensive subexpressions of the forward expression that
//! the derivatives still need are saved by the forward pass and read back as `Saved(k)`
//! (silu's `σ(x)`, gelu's `tanh(...)`): those the first derivative needs, since it is
//! what the backward pass computes; the second derivative reads whatever is saved.

use super::expr::{Expr, Func, SymError, Var};
use super::simplify::{build_monomial, monomial, same};

/// An element-wise activation compiled for the forward and the backward pass.
///
/// The code generator emits, per element,
/// `let s0 = <saved[0]>; let s1 = <saved[1]>; ...; let y = <forward_with_saved>;`
/// and keeps `y` and the `sₖ` for the backward pass, which computes `derivative`.
#[derive(Clone, Debug, PartialEq)]
pub struct Elementwise {
    /// `f(X)`, simplified.
    pub forward: Expr,
    /// The saved subexpressions of the forward expression, in evaluation order:
    /// `saved[k]` is in `X` and may use `Saved(j)` for `j < k` (never a later one), so
    /// each is computed once. [`Elementwise::saved_in_x`] gives them in `X` alone.
    pub saved: Vec<Expr>,
    /// The forward expression computed from the saved values: in `X` and `Saved(k)`.
    pub forward_with_saved: Expr,
    /// `f'(X)`, in `X`, `Y` and `Saved(k)`.
    pub derivative: Expr,
    /// `f''(X)`, in `X`, `Y` and `Saved(k)`.
    pub second: Expr,
}

impl Elementwise {
    /// The saved subexpressions with earlier saved values expanded: each in `X` alone.
    pub fn saved_in_x(&self) -> Vec<Expr> {
        let mut out: Vec<Expr> = Vec::with_capacity(self.saved.len());
        for s in &self.saved {
            let expanded = out
                .iter()
                .enumerate()
                .fold(s.clone(), |e, (j, earlier)| e.substitute(&Expr::var(Var::Saved(j)), earlier));
            out.push(expanded);
        }
        out
    }
}

/// Below this [`cost`], recomputing a subexpression is cheaper than saving and reloading
/// it: a few additions or multiplications are, a transcendental call is not.
const SAVE_COST: u32 = 8;

/// A rough cost in additions: what a saved value spares the backward pass.
fn cost(e: &Expr) -> u32 {
    let own = match e {
        Expr::Const(_) | Expr::Var(_) => 0,
        Expr::Neg(_)
        | Expr::Add(..)
        | Expr::Sub(..)
        | Expr::Mul(..)
        | Expr::Max(..)
        | Expr::Min(..)
        | Expr::Call(Func::Abs, _) => 1,
        Expr::Select { .. } => 2,
        Expr::Div(..) | Expr::Call(Func::Sqrt, _) => 4,
        // square-and-multiply
        Expr::Powi(_, n) => 2 * (32 - n.unsigned_abs().leading_zeros()),
        Expr::Powf(..) | Expr::Call(..) => 20,
    };
    e.children().into_iter().fold(own, |acc, c| acc.saturating_add(cost(c)))
}

/// Compiles an element-wise activation `f(X)`: its first and second derivatives,
/// simplified and rewritten to reuse `Y = f(X)` and saved forward subexpressions.
///
/// # Errors
///
/// If `forward` uses a variable other than `X`, or cannot be differentiated.
pub fn compile_activation(forward: &Expr) -> Result<Elementwise, SymError> {
    if let Some(v) = forward.vars().into_iter().find(|v| *v != Var::X) {
        return Err(SymError::new(format!("an activation is a function of `x` alone, found `{}`", v.name())));
    }
    let f = forward.simplify();
    let first = f.diff(Var::X)?;
    let second = first.diff(Var::X)?;
    let mut work = [reuse_output(&first, &f), reuse_output(&second, &f)];

    // Largest first, so a saved value covers as much as possible; a smaller one is still
    // saved if the derivative needs it outside the larger ones. Only the first derivative
    // decides what is saved (it is what the backward pass computes); the second one
    // reads whatever is saved anyway.
    let mut candidates: Vec<&Expr> = Vec::new();
    for s in f.subtrees().into_iter().skip(1) {
        if cost(s) >= SAVE_COST && !candidates.iter().any(|c| same(c, s)) {
            candidates.push(s);
        }
    }
    candidates.sort_by(|a, b| cost(b).cmp(&cost(a)).then(b.node_count().cmp(&a.node_count())));
    let mut chosen: Vec<Expr> = Vec::new();
    for cand in candidates {
        if work[0].contains(cand) {
            let slot = Expr::var(Var::Saved(chosen.len()));
            for w in &mut work {
                *w = w.substitute(cand, &slot);
            }
            chosen.push(cand.clone());
        }
    }

    // Each saved value in terms of the smaller ones inside it (chosen later). One that is
    // cheap given those (`1 + tanh(...)` once `tanh(...)` is saved) is computed again
    // instead: put its expression back.
    let mut rewritten: Vec<Option<Expr>> = (0..chosen.len())
        .map(|i| {
            let inner = chosen.iter().enumerate().skip(i + 1);
            Some(inner.fold(chosen[i].clone(), |e, (j, c)| e.substitute(c, &Expr::var(Var::Saved(j)))))
        })
        .collect();
    while let Some(i) = rewritten.iter().position(|r| r.as_ref().is_some_and(|r| cost(r) < SAVE_COST)) {
        let Some(expr) = rewritten[i].take() else {
            break;
        };
        let slot = Expr::var(Var::Saved(i));
        for w in &mut work {
            *w = w.substitute(&slot, &expr);
        }
        for r in rewritten.iter_mut().flatten() {
            *r = r.substitute(&slot, &expr);
        }
    }

    // Number the survivors so that inner values come first: chosen later = inner.
    let kept: Vec<usize> = (0..chosen.len()).rev().filter(|i| rewritten[*i].is_some()).collect();
    let renumber = |v: Var| match v {
        Var::Saved(old) => Var::Saved(kept.iter().position(|k| *k == old).unwrap_or(old)),
        v => v,
    };
    let saved: Vec<Expr> =
        kept.iter().filter_map(|i| rewritten[*i].as_ref().map(|r| r.rename_vars(&renumber))).collect();
    let mut forward_with_saved = f.clone();
    for (new, old) in kept.iter().enumerate().rev() {
        forward_with_saved = forward_with_saved.substitute(&chosen[*old], &Expr::var(Var::Saved(new)));
    }
    let [derivative, second] = work.map(|w| w.rename_vars(&renumber).simplify());
    Ok(Elementwise { forward: f, saved, forward_with_saved, derivative, second })
}

/// `∂loss/∂X`, simplified; where the loss is taken on an output activation `Y = output(X)`
/// (a loss on logits), subtrees equal to the output become `Y`: binary cross-entropy on a
/// logit, `softplus(x) − t·x` with output `σ(x)`, gives `y − t`.
///
/// # Errors
///
/// If the loss uses a variable other than `X` and `T`, the output one other than `X`, or
/// the loss cannot be differentiated.
pub fn derive_loss(loss: &Expr, output: Option<&Expr>) -> Result<Expr, SymError> {
    if let Some(v) = loss.vars().into_iter().find(|v| !matches!(v, Var::X | Var::T)) {
        return Err(SymError::new(format!(
            "a loss is a function of the output `x` and the target `t`, found `{}`",
            v.name()
        )));
    }
    let d = loss.diff(Var::X)?;
    let Some(output) = output else {
        return Ok(d);
    };
    if let Some(v) = output.vars().into_iter().find(|v| *v != Var::X) {
        return Err(SymError::new(format!("an output activation is a function of `x` alone, found `{}`", v.name())));
    }
    Ok(reuse_output(&d, &output.simplify()))
}

/// `e` with the forward value `f` replaced by `Y`, as a subtree and as a power of its
/// factors inside products, then simplified.
fn reuse_output(e: &Expr, f: &Expr) -> Expr {
    if matches!(f, Expr::Const(_) | Expr::Var(_)) {
        return e.clone();
    }
    let y = Expr::y();
    let e = e.substitute(f, &y);
    let (coef, factors) = monomial(f.clone());
    // Worth it only if the product holds something more than bare variables.
    let target = (coef.is_finite() && coef != 0.0 && factors.iter().any(|(b, _)| !matches!(b, Expr::Var(_))))
        .then_some((coef, factors));
    let e = match &target {
        Some(target) => replace_powers(e, target),
        None => e,
    };
    let e = e.simplify();
    // simplification can bring the forward expression back together
    if e.contains(f) { e.substitute(f, &y).simplify() } else { e }
}

/// Replaces, in every product, the largest power `Πbᵢ^(k·nᵢ)` of the target monomial
/// `c·Πbᵢ^nᵢ = Y` by `(Y/c)ᵏ`.
fn replace_powers(e: Expr, target: &(f64, Vec<(Expr, i64)>)) -> Expr {
    match e {
        Expr::Mul(..) | Expr::Div(..) | Expr::Powi(..) | Expr::Neg(_) => {
            let (mut coef, factors) = monomial(e);
            let mut factors: Vec<(Expr, i64)> =
                factors.into_iter().map(|(b, n)| (replace_powers(b, target), n)).collect();
            // Πbᵢ^(k·nᵢ) = (Y/c)ᵏ; skipped if c⁻ᵏ is not a usable number
            let replacement = power_of(&factors, &target.1)
                .map(|k| (k, target.0.powi(-k as i32)))
                .filter(|(_, scale)| scale.is_finite() && *scale != 0.0);
            if let Some((k, scale)) = replacement {
                for (b, n) in &target.1 {
                    if let Some(f) = factors.iter_mut().find(|(fb, _)| same(fb, b)) {
                        f.1 -= k * n;
                    }
                }
                coef *= scale;
                factors.push((Expr::y(), k));
            }
            build_monomial(coef, factors)
        }
        e => e.into_map_children(&mut |c| replace_powers(c, target)),
    }
}

/// The exponent `k ≠ 0` of the largest power of the target monomial contained in the
/// product, if any.
fn power_of(factors: &[(Expr, i64)], target: &[(Expr, i64)]) -> Option<i64> {
    let mut k: Option<i64> = None;
    for (b, n) in target {
        let have = factors.iter().find(|(fb, _)| same(fb, b)).map(|(_, m)| *m)?;
        let q = have.checked_div(*n)?;
        if q == 0 || k.is_some_and(|k| k.signum() != q.signum()) {
            return None;
        }
        k = Some(match k {
            Some(k) if k.abs() <= q.abs() => k,
            _ => q,
        });
    }
    k.filter(|k| k.abs() <= 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::expr::Cmp;

    fn x() -> Expr {
        Expr::x()
    }
    fn c(v: f64) -> Expr {
        Expr::c(v)
    }
    fn show(e: &Expr) -> String {
        e.render(&|v| v.name())
    }

    fn compile(f: Expr) -> Elementwise {
        match compile_activation(&f) {
            Ok(c) => c,
            Err(e) => panic!("{f:?}: {e}"),
        }
    }

    /// Checks the compiled activation numerically at a few points (the property tests do
    /// this broadly): saved values, forward, and both derivatives against the plain ones.
    fn consistent(a: &Elementwise) {
        let d = a.forward.diff(Var::X).expect("differentiable");
        let d2 = d.diff(Var::X).expect("differentiable");
        for at in [-1.7, -0.4, 0.3, 1.1, 2.5] {
            let mut saved: Vec<f64> = Vec::new();
            for s in &a.saved {
                let v = s.eval(&|v| match v {
                    Var::Saved(j) => saved.get(j).copied().unwrap_or(f64::NAN),
                    _ => at,
                });
                saved.push(v);
            }
            let y = a.forward.eval(&|_| at);
            let env = |v: Var| match v {
                Var::X => at,
                Var::Y => y,
                Var::T => f64::NAN,
                Var::Saved(j) => saved.get(j).copied().unwrap_or(f64::NAN),
            };
            for (got, want) in [
                (a.forward_with_saved.eval(&env), y),
                (a.derivative.eval(&env), d.eval(&|_| at)),
                (a.second.eval(&env), d2.eval(&|_| at)),
            ] {
                assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{got} vs {want} at {at}: {a:?}");
            }
            for s in a.saved_in_x() {
                assert!(s.vars().iter().all(|v| *v == Var::X), "{s:?}");
            }
        }
    }

    #[test]
    fn sigmoid_uses_only_y() {
        let a = compile(x().logistic());
        assert_eq!(show(&a.derivative), "y·(1 − y)");
        assert!(a.saved.is_empty());
        assert_eq!(a.forward_with_saved, a.forward);
        // σ'' = σ(1−σ)(1−2σ)
        assert!(!a.second.uses(Var::X), "{}", show(&a.second));
        consistent(&a);
    }

    #[test]
    fn tanh_uses_only_y() {
        let a = compile(x().tanh());
        assert_eq!(show(&a.derivative), "1 − y²");
        assert!(!a.second.uses(Var::X), "{}", show(&a.second));
        consistent(&a);
    }

    #[test]
    fn relu_uses_only_y() {
        let a = compile(x().max_c(0.0));
        assert_eq!(show(&a.derivative), "1 if y > 0 else 0");
        assert_eq!(a.second, c(0.0));
        consistent(&a);
    }

    #[test]
    fn exp_is_its_own_derivative() {
        let a = compile(x().exp());
        assert_eq!(a.derivative, Expr::y());
        assert_eq!(a.second, Expr::y());
        consistent(&a);
    }

    #[test]
    fn softsign() {
        let a = compile(x() / (c(1.0) + x().abs()));
        assert_eq!(show(&a.derivative), "1 / (1 + |x|)²");
        consistent(&a);
    }

    #[test]
    fn silu_saves_the_sigmoid() {
        let a = compile(x() * x().logistic());
        assert_eq!(a.saved, vec![x().logistic()]);
        assert_eq!(show(&a.forward_with_saved), "x·s0");
        assert_eq!(show(&a.derivative), "s0 + y·(1 − s0)");
        consistent(&a);
    }

    #[test]
    fn gelu_tanh_saves_the_tanh() {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        let f = c(0.5) * x() * (c(1.0) + (c(k) * (x() + c(0.044715) * x().powi(3))).tanh());
        let a = compile(f);
        assert_eq!(a.saved.len(), 1, "{:?}", a.saved);
        assert!(matches!(a.saved[0], Expr::Call(Func::Tanh, _)), "{:?}", a.saved);
        assert!(!a.derivative.contains(&a.saved[0]));
        consistent(&a);
    }

    #[test]
    fn custom_sigmoid_reuses_y_and_the_exponential() {
        let a = compile(c(1.0) / (c(1.0) + (-x()).exp()));
        assert_eq!(a.saved, vec![(-x()).exp()]);
        assert_eq!(show(&a.derivative), "y²·s0");
        assert_eq!(show(&a.forward_with_saved), "1 / (1 + s0)");
        consistent(&a);
    }

    #[test]
    fn nested_saved_values_are_computed_once() {
        // sin(x) is needed by the derivative outside exp(sin(x)), so both are saved and
        // the second is computed from the first.
        let f = x().sin().exp() + x().sin().powi(3);
        let a = compile(f);
        assert_eq!(a.saved.len(), 2, "{:?}", a.saved);
        assert_eq!(a.saved[0], x().sin());
        assert_eq!(a.saved[1], Expr::var(Var::Saved(0)).exp());
        assert_eq!(a.saved_in_x()[1], x().sin().exp());
        consistent(&a);
    }

    #[test]
    fn more_activations_stay_consistent() {
        let elu = Expr::select(Cmp::Gt, x(), c(0.0), x(), x().exp() - c(1.0));
        for f in [
            elu,
            x(),
            c(2.0) * x(),
            x().softplus(),
            (x() * x() + c(1.0)).sqrt(),
            c(0.5) * x() * (c(1.0) + (x() / c(2.0).sqrt()).erf()),
            x() * (c(1.0) / (c(1.0) + (c(-1.702) * x()).exp())),
            x().sinh() * x().cosh(),
            x().atan(),
            x().tanh().powi(2),
            x().max(c(0.01) * x()),
        ] {
            consistent(&compile(f));
        }
    }

    #[test]
    fn activation_errors() {
        let e = compile_activation(&(x() * Expr::t())).expect_err("uses t");
        assert_eq!(e.message(), "an activation is a function of `x` alone, found `t`");
    }

    #[test]
    fn losses() {
        let t = Expr::t();
        // binary cross-entropy on a logit with a sigmoid output
        let bce = x().softplus() - t.clone() * x();
        let d = derive_loss(&bce, Some(&x().logistic())).expect("differentiable");
        assert_eq!(show(&d), "y − t");
        // half squared error
        let half_sse = c(0.5) * (t.clone() - x()).powi(2);
        let d = derive_loss(&half_sse, None).expect("differentiable");
        assert_eq!(show(&d), "x − t");
        // squared error through a sigmoid output
        let through = c(0.5) * (x().logistic() - t.clone()).powi(2);
        let d = derive_loss(&through, Some(&x().logistic())).expect("differentiable");
        assert!(!d.uses(Var::X), "{}", show(&d));
        let e = derive_loss(&(x() * Expr::y()), None).expect_err("uses y");
        assert_eq!(e.message(), "a loss is a function of the output `x` and the target `t`, found `y`");
    }
}
