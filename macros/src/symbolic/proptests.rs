//! Property tests of the whole engine: derivatives against finite differences, and
//! simplification, differentiation, emission and parsing on random trees.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{Cmp, Elementwise, Expr, Func, Var, compile_activation, derive_loss, parse};

/// An activation to check, written as a user would: its source, the interval sampled,
/// and the points where it or its derivatives are not smooth, with the distance kept
/// from them.
struct Case {
    src: &'static str,
    lo: f64,
    hi: f64,
    kinks: &'static [f64],
    margin: f64,
}

/// Points closer than this to a kink are skipped, unless a case says otherwise.
const KINK_MARGIN: f64 = 1e-3;

const fn case(src: &'static str, lo: f64, hi: f64, kinks: &'static [f64]) -> Case {
    Case { src, lo, hi, kinks, margin: KINK_MARGIN }
}

/// A case whose derivatives grow without bound near its kinks (`∛x'' ~ x^(−5/3)`), where
/// finite differences lose their accuracy: keep further away.
const fn singular(src: &'static str, lo: f64, hi: f64, kinks: &'static [f64], margin: f64) -> Case {
    Case { src, lo, hi, kinks, margin }
}

fn cases() -> Vec<Case> {
    vec![
        case("x.logistic()", -8.0, 8.0, &[]),
        case("x.tanh()", -5.0, 5.0, &[]),
        case("x.max(0.0)", -3.0, 3.0, &[0.0]),
        case("x.max(0.01 * x)", -3.0, 3.0, &[0.0]),
        case("x.exp()", -4.0, 4.0, &[]),
        case("x.softplus()", -6.0, 6.0, &[]),
        case("x / (1.0 + x.abs())", -4.0, 4.0, &[0.0]),
        case("x * x.logistic()", -6.0, 6.0, &[]),
        case("0.5 * x * (1.0 + ((2.0 / PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())", -4.0, 4.0, &[]),
        case("0.5 * x * (1.0 + (x / 2f64.sqrt()).erf())", -4.0, 4.0, &[]),
        case("x * (1.0 / (1.0 + (-1.702 * x).exp()))", -5.0, 5.0, &[]),
        case("1.0 / (1.0 + (-x).exp())", -8.0, 8.0, &[]),
        case("if x > 0.0 { x } else { x.exp() - 1.0 }", -3.0, 3.0, &[0.0]),
        case("1.0507 * if x > 0.0 { x } else { 1.67326 * x.exp_m1() }", -3.0, 3.0, &[0.0]),
        case("x * x.softplus().tanh()", -5.0, 5.0, &[]),
        case("x.powi(3) - 2 * x", -3.0, 3.0, &[]),
        case("(x * x + 1.0).sqrt()", -4.0, 4.0, &[]),
        case("x.atan()", -4.0, 4.0, &[]),
        case("x.sinh() * x.cosh()", -2.0, 2.0, &[]),
        case("(1.0 + x * x).ln()", -4.0, 4.0, &[]),
        singular("x.cbrt()", -3.0, 3.0, &[0.0], 0.1),
        case("x.erf()", -3.0, 3.0, &[]),
        singular("x.abs().powf(1.5)", -3.0, 3.0, &[0.0], 0.05),
        case("x.log2()", 0.1, 5.0, &[]),
        case("x.log10()", 0.1, 5.0, &[]),
        case("x.sin() * x.cos()", -4.0, 4.0, &[]),
        case("x.tanh().powi(2)", -4.0, 4.0, &[]),
        case("x.min(1.0).max(-1.0)", -3.0, 3.0, &[-1.0, 1.0]),
        case("(x.exp() - (-x).exp()) / (x.exp() + (-x).exp())", -4.0, 4.0, &[]),
        case("x.cos().exp() / (2.0 + x.sin())", -4.0, 4.0, &[]),
        case("x.powf(-0.5)", 0.1, 5.0, &[]),
        case("x * (x * x + 1.0).sqrt().recip()", -4.0, 4.0, &[]),
        case("x.ln_1p()", -0.8, 4.0, &[]),
        case("1.0 / x.cosh()", -4.0, 4.0, &[]),
        case("x / (1.0 + x * x).powi(2)", -3.0, 3.0, &[]),
        case("x.sqrt().ln() * x", 0.1, 5.0, &[]),
    ]
}

struct Compiled {
    src: &'static str,
    f: Expr,
    d: Expr,
    d2: Expr,
    reuse: Elementwise,
}

fn compile(c: &Case) -> Compiled {
    let parsed: syn::Expr = match syn::parse_str(c.src) {
        Ok(e) => e,
        Err(e) => panic!("`{}` is not an expression: {e}", c.src),
    };
    let f = match parse(&parsed, "x") {
        Ok(f) => f,
        Err(e) => panic!("`{}`: {e}", c.src),
    };
    let d = f.diff(Var::X).unwrap_or_else(|e| panic!("`{}`: {e}", c.src));
    let d2 = d.diff(Var::X).unwrap_or_else(|e| panic!("`{}`: {e}", c.src));
    let reuse = compile_activation(&f).unwrap_or_else(|e| panic!("`{}`: {e}", c.src));
    Compiled { src: c.src, f, d, d2, reuse }
}

/// The environment the backward pass sees at `x`: `Y = f(x)` and the saved values.
fn backward_env(a: &Elementwise, x: f64) -> impl Fn(Var) -> f64 {
    let mut saved: Vec<f64> = Vec::new();
    for s in &a.saved {
        let v = s.eval(&|v| match v {
            Var::Saved(j) => saved.get(j).copied().unwrap_or(f64::NAN),
            _ => x,
        });
        saved.push(v);
    }
    let y = a.forward.eval(&|_| x);
    move |v| match v {
        Var::X => x,
        Var::Y => y,
        Var::T => f64::NAN,
        Var::Saved(j) => saved.get(j).copied().unwrap_or(f64::NAN),
    }
}

/// Tolerances. First derivatives: central difference with `h = 1e-6·max(1, |x|)`, whose
/// error is about `h²·|f'''| + ε·|f|/h ≈ 1e-10` relative; we allow `1e-6` relative to
/// `max(1, |f'|, |f|)`. Second derivatives: `(f(x+h) − 2f(x) + f(x−h)) / h²` with
/// `h = 1e-4·max(1, |x|)`, error about `h²·|f''''| + 4ε·|f|/h² ≈ 1e-7`; we allow `1e-4`
/// relative to `max(1, |f''|, |f|)`. Points near kinks are skipped (see [`Case`]).
const REL_FIRST: f64 = 1e-6;
const REL_SECOND: f64 = 1e-4;

fn check_point(c: &Compiled, x: f64) -> Result<(), TestCaseError> {
    let f = |x: f64| c.f.eval(&|_| x);
    let scale = x.abs().max(1.0);
    let h1 = 1e-6 * scale;
    let fd1 = (f(x + h1) - f(x - h1)) / (2.0 * h1);
    let h2 = 1e-4 * scale;
    let fd2 = (f(x + h2) - 2.0 * f(x) + f(x - h2)) / (h2 * h2);
    let fx = f(x);
    let env = backward_env(&c.reuse, x);
    let plain = |e: &Expr| e.eval(&|_| x);
    let checks = [
        ("f'", plain(&c.d), fd1, REL_FIRST),
        ("f' with reuse", c.reuse.derivative.eval(&env), fd1, REL_FIRST),
        ("f''", plain(&c.d2), fd2, REL_SECOND),
        ("f'' with reuse", c.reuse.second.eval(&env), fd2, REL_SECOND),
        ("forward with saved", c.reuse.forward_with_saved.eval(&env), fx, 1e-12),
    ];
    for (what, got, want, rel) in checks {
        let tol = rel * want.abs().max(fx.abs()).max(1.0);
        prop_assert!(
            (got - want).abs() <= tol,
            "{what} of `{}` at x = {x}: symbolic {got}, numeric {want}, tolerance {tol}",
            c.src
        );
    }
    Ok(())
}

#[test]
fn derivatives_match_finite_differences() {
    let cases = cases();
    assert!(cases.len() >= 25);
    let compiled: Vec<(Compiled, &Case)> = cases.iter().map(|c| (compile(c), c)).collect();
    let mut runner = TestRunner::new(Config { cases: 1000, failure_persistence: None, ..Config::default() });
    let result = runner.run(&(0.0f64..1.0), |u| {
        for (c, case) in &compiled {
            let x = case.lo + u * (case.hi - case.lo);
            if case.kinks.iter().any(|k| (x - k).abs() < case.margin) {
                continue;
            }
            check_point(c, x)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Random expression trees of `x` and `t`, with the shapes the simplifier rewrites
/// (`u − u`, `u·u`, `u/u`, `u·sign(u)`) made likely.
fn arb_expr(with_t: bool) -> impl Strategy<Value = Expr> {
    let var = if with_t { prop_oneof![Just(Expr::x()), Just(Expr::t())].boxed() } else { Just(Expr::x()).boxed() };
    let leaf = prop_oneof![
        (-3.0f64..3.0).prop_map(Expr::c),
        (-3i32..=3).prop_map(|i| Expr::c(f64::from(i))),
        var.clone(),
        var,
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        let cmp = prop::sample::select(vec![Cmp::Gt, Cmp::Ge, Cmp::Lt, Cmp::Le]);
        let exponent = prop::sample::select(vec![0.0, 0.5, 1.0, 1.5, 2.0, -0.5, 3.0]);
        prop_oneof![
            inner.clone().prop_map(|e| -e),
            (inner.clone(), 0..Func::ALL.len()).prop_map(|(e, i)| e.call(Func::ALL[i])),
            (inner.clone(), -3i32..=4).prop_map(|(e, n)| e.powi(n)),
            (inner.clone(), exponent).prop_map(|(e, c)| e.powf(c)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a + b),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a - b),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a * b),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a / b),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.max(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.min(b)),
            (cmp, inner.clone(), inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, l, r, a, b)| Expr::select(c, l, r, a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| (a.clone() + b.clone()) - (b + a)),
            inner.clone().prop_map(|a| a.clone() * a),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.clone() * b / a),
            inner.clone().prop_map(|a| a.clone() * Expr::sign(a)),
        ]
    })
}

/// Evaluation that also reports how trustworthy the value is: the largest magnitude of
/// any intermediate value (rounding errors scale with it), whether any intermediate was
/// not finite, the smallest gap between the sides of a comparison (a select whose sides
/// are within rounding of each other may branch differently after reassociation), and
/// the smallest argument of a function singular at 0 (`√u`, `ln u`, `1/u`, ...), where
/// a rounding error of the argument is amplified without bound or flips its domain.
struct Tracked {
    largest: f64,
    non_finite: bool,
    closest_comparison: f64,
    closest_singularity: f64,
}

impl Tracked {
    fn new() -> Self {
        Tracked {
            largest: 1.0,
            non_finite: false,
            closest_comparison: f64::INFINITY,
            closest_singularity: f64::INFINITY,
        }
    }

    /// Whether rounding alone cannot explain a difference larger than `1e-9·largest`.
    fn well_conditioned(&self) -> bool {
        !self.non_finite && self.largest < 1e12 && self.closest_comparison > 1e-9 && self.closest_singularity > 1e-6
    }
}

fn eval_tracked(e: &Expr, env: &dyn Fn(Var) -> f64, t: &mut Tracked) -> f64 {
    let v = match e {
        Expr::Select { cmp, lhs, rhs, then, otherwise } => {
            let (l, r) = (eval_tracked(lhs, env, t), eval_tracked(rhs, env, t));
            let gap = (l - r).abs() / l.abs().max(r.abs()).max(1.0);
            if gap.is_finite() {
                t.closest_comparison = t.closest_comparison.min(gap);
            }
            let taken = if cmp.holds(l, r) { then } else { otherwise };
            eval_tracked(taken, env, t)
        }
        _ => {
            // children first, so their intermediates are tracked; then the node itself
            let args: Vec<f64> = e.children().into_iter().map(|c| eval_tracked(c, env, t)).collect();
            let singular_arg = match e {
                Expr::Call(Func::Sqrt | Func::Ln | Func::Log2 | Func::Log10 | Func::Cbrt, _) => args.first(),
                Expr::Powf(_, c) if c.fract() != 0.0 || *c < 0.0 => args.first(),
                Expr::Powi(_, n) if *n < 0 => args.first(),
                Expr::Div(..) => args.get(1),
                _ => None,
            };
            if let Some(a) = singular_arg {
                t.closest_singularity = t.closest_singularity.min(a.abs());
            }
            e.eval(env)
        }
    };
    if v.is_finite() {
        t.largest = t.largest.max(v.abs());
    } else {
        t.non_finite = true;
    }
    v
}

fn env(x: f64, t: f64) -> impl Fn(Var) -> f64 {
    move |v| match v {
        Var::X => x,
        Var::T => t,
        Var::Y => 0.5,
        Var::Saved(_) => 0.25,
    }
}

/// Rust source for an expression of `x`, using method syntax: what a user might write.
fn rust_source(e: &Expr) -> String {
    match e {
        Expr::Const(c) => format!("({c:?})"),
        Expr::Var(_) => "x".to_owned(),
        Expr::Neg(u) => format!("(-{})", rust_source(u)),
        Expr::Add(u, v) => format!("({} + {})", rust_source(u), rust_source(v)),
        Expr::Sub(u, v) => format!("({} - {})", rust_source(u), rust_source(v)),
        Expr::Mul(u, v) => format!("({} * {})", rust_source(u), rust_source(v)),
        Expr::Div(u, v) => format!("({} / {})", rust_source(u), rust_source(v)),
        Expr::Powi(u, n) => format!("{}.powi({n})", rust_source(u)),
        Expr::Powf(u, c) => format!("{}.powf({c:?})", rust_source(u)),
        Expr::Call(f, u) => format!("{}.{}()", rust_source(u), f.name()),
        Expr::Max(u, v) => format!("{}.max({})", rust_source(u), rust_source(v)),
        Expr::Min(u, v) => format!("min({}, {})", rust_source(u), rust_source(v)),
        Expr::Select { cmp, lhs, rhs, then, otherwise } => format!(
            "(if {} {} {} {{ {} }} else {{ {} }})",
            rust_source(lhs),
            cmp.rust(),
            rust_source(rhs),
            rust_source(then),
            rust_source(otherwise)
        ),
    }
}

proptest! {
    #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

    /// Simplification keeps the value wherever the original evaluates without NaN or
    /// infinity, up to rounding relative to the largest intermediate value.
    #[test]
    fn simplify_preserves_values(e in arb_expr(true), x in -2.0f64..2.0, t in -2.0f64..2.0) {
        let s = e.simplify();
        let mut tracked = Tracked::new();
        let want = eval_tracked(&e, &env(x, t), &mut tracked);
        prop_assume!(tracked.well_conditioned());
        let got = s.eval(&env(x, t));
        let tol = 1e-9 * tracked.largest;
        prop_assert!(
            (got - want).abs() <= tol,
            "simplify changed the value at x = {x}, t = {t}: {want} → {got}\n{e:?}\n→ {s:?}"
        );
    }

    /// Simplifying twice gives the same tree as simplifying once.
    #[test]
    fn simplify_is_idempotent(e in arb_expr(true)) {
        let s = e.simplify();
        prop_assert_eq!(s.simplify(), s);
    }

    /// Nothing panics on random input: differentiation (also of expressions using `y`,
    /// an error), compilation, emission, rendering.
    #[test]
    fn engine_never_panics(e in arb_expr(true), use_y in any::<bool>()) {
        let e = if use_y { e * Expr::y() } else { e };
        for v in [Var::X, Var::T, Var::Y] {
            if let Ok(d) = e.diff(v) {
                let _ = d.diff(v);
            }
        }
        let _ = compile_activation(&e);
        let _ = derive_loss(&e, Some(&Expr::x().logistic()));
        let lit = |c: f64| format!("{c:?}_f64").parse().unwrap_or_default();
        let var = |v: Var| v.name().parse().unwrap_or_default();
        let tokens = e.simplify().to_tokens(&lit, &var);
        prop_assert!(syn::parse2::<syn::Expr>(tokens).is_ok());
        let _ = e.render(&|v| v.name());
    }

    /// Compiled activations of random expressions agree with the plain derivatives.
    #[test]
    fn reuse_keeps_values(e in arb_expr(false), x in -2.0f64..2.0) {
        let Ok(a) = compile_activation(&e) else {
            return Err(TestCaseError::fail(format!("no activation for {e:?}")));
        };
        let d = e.diff(Var::X).map_err(|err| TestCaseError::fail(err.to_string()))?;
        let mut tracked = Tracked::new();
        let want = eval_tracked(&d, &|_| x, &mut tracked);
        let mut tracked_f = Tracked::new();
        eval_tracked(&e, &|_| x, &mut tracked_f);
        prop_assume!(tracked.well_conditioned() && tracked_f.well_conditioned());
        let got = a.derivative.eval(&backward_env(&a, x));
        let tol = 1e-9 * tracked.largest.max(tracked_f.largest);
        prop_assert!((got - want).abs() <= tol, "{want} vs {got} at {x}: {e:?}\n{a:?}");
    }

    /// What `parse` reads back from Rust source evaluates like the tree it came from.
    #[test]
    fn parse_round_trips(e in arb_expr(false), x in -2.0f64..2.0) {
        let src = rust_source(&e);
        let syntax: syn::Expr = syn::parse_str(&src).map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        let parsed = parse(&syntax, "x").map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        let (a, b) = (e.eval(&|_| x), parsed.eval(&|_| x));
        prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{src}: {a} vs {b}");
    }

    /// Random token soup: `parse` returns a value or an error, never panics.
    #[test]
    fn parse_never_panics(words in prop::collection::vec(prop::sample::select(vec![
        "x", "y", "1.0", "2", "-", "+", "*", "/", "%", "(", ")", ".exp()", ".powi(", ".powf(",
        ".max(", ".foo()", ",", "if", ">", "==", "{", "}", "else", "PI", "f64::consts::E",
        "core::f32::consts::FOO", "exp(", "max(", "[0]", "!", "\"s\"", "2u8", "as f32", "1e999",
        "::<f32>", "x.mul_add(", "sigmoid(", "bar::baz(", ";", "let", "=",
    ]), 1..24)) {
        let src = words.join(" ");
        if let Ok(syntax) = syn::parse_str::<syn::Expr>(&src) {
            match parse(&syntax, "x") {
                Ok(e) => { let _ = e.diff(Var::X); }
                Err(err) => {
                    for msg in err {
                        let text = msg.to_string();
                        prop_assert!(!text.is_empty() && !text.ends_with('.'), "{text}");
                    }
                }
            }
        }
    }
}
