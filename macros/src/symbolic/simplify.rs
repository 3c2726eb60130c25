//! Simplification: a bottom-up rewrite repeated to a fixpoint (at most [`MAX_PASSES`]).
//!
//! Sums and products are normalised through flat forms: a sum is a constant plus terms
//! `cᵢ·coreᵢ`, a product is a coefficient times factors `baseᵢ^nᵢ` with integer `nᵢ`.
//! Flattening folds constants, merges like terms (`x + x → 2·x`, `x − x → 0`) and like
//! factors (`x·x → x²`, `(uᵃ)ᵇ → uᵃᵇ`, `x/x → 1`), and drops neutral and absorbing
//! elements (`x + 0`, `x·1`, `x·0 → 0`, `x/1`, `0/x`, `−(−x)`). Terms and factors are then
//! sorted by a fixed total order, so equal expressions written in different orders become
//! structurally equal (which the reuse of forward values relies on), and rebuilt as
//! left-associated trees with positive terms first: `1 − y²`, `x − t`, `y·(1 − y)`.
//!
//! Other rules: `powf` with an integer exponent becomes `powi`; `(uᵃ)ᵇ → uᵃᵇ` for `powf`
//! with a non-integer `a`; `u·sign(u) → |u|` (the derivative of `|u|` times `u`, as in
//! softsign's quotient rule); `|−u| → |u|` and `|u| → u` for `u` never negative (`exp`,
//! `cosh`, `σ`, `|·|`, even powers); `max`/`min` of constants fold, `max(c, u)` is written
//! `max(u, c)` and nested constant bounds merge; a `select` with a constant condition or
//! equal branches becomes a branch; calls on constants fold (including `erf`).
//!
//! What it does not do, on purpose: expand products of sums (that grows the code);
//! distribute any factor but `−1` over a sum (`−(t − x) → x − t` is never longer, but
//! `2·(x + 1)` stays); cancel common factors between a sum and something else
//! (`(a·b + a·c)/a` stays); apply identities of the functions (`ln(exp(u))`,
//! `sin² + cos²`, `tanh = 2σ(2u) − 1`); or simplify the conditions of a select beyond
//! their two sides.
//!
//! Values: every rewrite gives the same value wherever the original expression is
//! finite, up to rounding (reassociation and folded constants). Rewrites that remove an
//! indeterminate form can turn a NaN or infinity of the original into a number:
//! `x·0 → 0` (NaN when `x` is infinite), `x/x → 1` and `x − x → 0` (NaN at `x = 0` or
//! `x = ∞`), `(uᵃ)ᵇ → uᵃᵇ` for non-integer `a` (NaN for `u < 0`), `powf(u, 0) → 1`.
//! These are the rules of algebra on the domain where the original is defined, and what
//! a derivative needs: `σ·(1 − σ)/σ` must become `1 − σ`. Constants fold only to finite
//! values, so `ln(0)` stays an expression and the emitted code never needs an infinite
//! literal for it.

use std::cmp::Ordering;

use super::expr::{Expr, Func};

/// The most passes [`Expr::simplify`] makes before it returns what it has.
pub const MAX_PASSES: usize = 32;

/// Integer powers beyond this are left alone (their exponent arithmetic could overflow).
const MAX_POW: i64 = 1 << 16;

impl Expr {
    /// The simplified expression; see the module documentation for the rules.
    ///
    /// Terminates (at most [`MAX_PASSES`] bottom-up passes) and is idempotent whenever a
    /// fixpoint is reached within them.
    pub fn simplify(&self) -> Expr {
        let mut current = pass(self);
        for _ in 1..MAX_PASSES {
            let next = pass(&current);
            if same(&next, &current) {
                return next;
            }
            current = next;
        }
        current
    }
}

/// One bottom-up pass: children first, then the node's own rules. A whole chain of sums
/// (or of products) is flattened and normalised at once, not once per link, so a pass
/// stays near-linear in the size of the tree.
fn pass(e: &Expr) -> Expr {
    match e {
        Expr::Neg(_) | Expr::Add(..) | Expr::Sub(..) => {
            let mut sum = Sum::new();
            sum.collect_raw(e, 1.0);
            build_sum(sum)
        }
        Expr::Mul(..) | Expr::Div(..) | Expr::Powi(..) => {
            let mut p = Product::new();
            p.collect_raw(e, 1);
            build_product(p.coef, p.factors)
        }
        _ => local(e.map_children(&mut |c| pass(c))),
    }
}

/// The rules of one node whose children are already simplified.
fn local(e: Expr) -> Expr {
    match e {
        // −0 and 0 differ only in the sign of an infinity they may produce; one spelling.
        Expr::Const(c) => Expr::Const(if c == 0.0 { 0.0 } else { c }),
        Expr::Var(_) => e,
        Expr::Neg(_) | Expr::Add(..) | Expr::Sub(..) => normalize_sum(e),
        Expr::Mul(..) | Expr::Div(..) | Expr::Powi(..) => normalize_product(e),
        Expr::Powf(u, k) => powf(*u, k),
        Expr::Call(f, u) => call(f, *u),
        Expr::Max(u, v) => extremum(true, *u, *v),
        Expr::Min(u, v) => extremum(false, *u, *v),
        Expr::Select { cmp, lhs, rhs, then, otherwise } => {
            if let (Expr::Const(a), Expr::Const(b)) = (&*lhs, &*rhs) {
                return if cmp.holds(*a, *b) { *then } else { *otherwise };
            }
            if same(&then, &otherwise) {
                return *then;
            }
            Expr::Select { cmp, lhs, rhs, then, otherwise }
        }
    }
}

/// A constant folds only to a finite value.
fn fold(v: f64) -> Option<Expr> {
    v.is_finite().then_some(Expr::Const(v))
}

fn call(f: Func, u: Expr) -> Expr {
    if let Some(folded) = u.as_const().and_then(|c| fold(f.apply(c))) {
        return folded;
    }
    match (f, u) {
        // |−u| = |u|
        (Func::Abs, Expr::Neg(inner)) => inner.abs(),
        // the argument is never negative: |u| = u
        (Func::Abs, u @ Expr::Call(Func::Abs | Func::Exp | Func::Cosh | Func::Logistic, _)) => u,
        (Func::Abs, u @ Expr::Powi(_, n)) if n % 2 == 0 => u,
        (f, u) => u.call(f),
    }
}

fn powf(u: Expr, k: f64) -> Expr {
    if let Some(folded) = u.as_const().and_then(|c| fold(c.powf(k))) {
        return folded;
    }
    if k == 0.0 {
        return Expr::c(1.0);
    }
    if k == 1.0 {
        return u;
    }
    match u {
        // (uᵃ)ᵏ = uᵃᵏ where defined: a non-integer `a` means u ≥ 0.
        Expr::Powf(inner, a) if a.fract() != 0.0 => powf(*inner, a * k),
        // An integer exponent: the same value for every base, and `powi` is cheaper.
        u if k.fract() == 0.0 && k.abs() <= MAX_POW as f64 => normalize_product(u.powi(k as i32)),
        u => u.powf(k),
    }
}

fn extremum(is_max: bool, u: Expr, v: Expr) -> Expr {
    let pick = |a: f64, b: f64| if is_max { a.max(b) } else { a.min(b) };
    let build = |a: Expr, b: Expr| if is_max { a.max(b) } else { a.min(b) };
    match (u, v) {
        (Expr::Const(a), Expr::Const(b)) => Expr::c(pick(a, b)),
        (u, v) if same(&u, &v) => u,
        // The constant goes second: the threshold side of the derivative rule.
        (c @ Expr::Const(_), v) => extremum(is_max, v, c),
        // max(max(u, a), b) = max(u, max(a, b)) for constants a, b
        (Expr::Max(inner, a), Expr::Const(b)) if is_max && a.as_const().is_some() => {
            let a = a.as_const().unwrap_or(b);
            inner.max_c(pick(a, b))
        }
        (Expr::Min(inner, a), Expr::Const(b)) if !is_max && a.as_const().is_some() => {
            let a = a.as_const().unwrap_or(b);
            inner.min_c(pick(a, b))
        }
        (u, v) => build(u, v),
    }
}

/// A sum of floats without rounding until the end (Shewchuk's partials, as in Python's
/// `math.fsum`): reordering the terms of a sum then cannot change the folded constant, so
/// `(a + b) − (b + a)` folds to exactly 0, as the original evaluates.
#[derive(Clone, Debug, Default)]
struct ExactSum {
    /// Non-overlapping partial sums, increasing in magnitude.
    partials: Vec<f64>,
    /// The plain sum, used once a partial overflows or a term is not finite.
    plain: f64,
    inexact: bool,
}

impl ExactSum {
    fn add(&mut self, value: f64) {
        self.plain += value;
        if self.inexact || !value.is_finite() {
            self.inexact = true;
            return;
        }
        let mut x = value;
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            if !hi.is_finite() {
                self.inexact = true;
                return;
            }
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    fn value(&self) -> f64 {
        if self.inexact {
            self.plain
        } else {
            // largest first: the small partials only round the last place
            self.partials.iter().rev().fold(0.0, |acc, p| acc + p)
        }
    }
}

/// A flattened sum: `konst + Σ cᵢ·coreᵢ`, the terms kept sorted by [`order`] so that like
/// terms meet by binary search.
struct Sum {
    konst: ExactSum,
    terms: Vec<(ExactSum, Expr)>,
}

impl Sum {
    fn new() -> Self {
        Sum { konst: ExactSum::default(), terms: Vec::new() }
    }

    fn add(&mut self, coef: f64, core: Expr) {
        match self.terms.binary_search_by(|(_, t)| order(t, &core)) {
            Ok(i) => self.terms[i].0.add(coef),
            Err(i) => {
                let mut c = ExactSum::default();
                c.add(coef);
                self.terms.insert(i, (c, core));
            }
        }
    }

    /// Adds `sign·e` for `e` not simplified yet: its terms are simplified as they are
    /// reached, so a chain of sums is normalised once.
    fn collect_raw(&mut self, e: &Expr, sign: f64) {
        match e {
            Expr::Add(u, v) => {
                self.collect_raw(u, sign);
                self.collect_raw(v, sign);
            }
            Expr::Sub(u, v) => {
                self.collect_raw(u, sign);
                self.collect_raw(v, -sign);
            }
            Expr::Neg(u) => self.collect_raw(u, -sign),
            Expr::Const(c) => self.konst.add(sign * c),
            _ => self.collect(pass(e), sign),
        }
    }

    /// Adds `sign·e` for a simplified `e`, taking it apart without copies.
    fn collect(&mut self, e: Expr, sign: f64) {
        match e {
            Expr::Add(u, v) => {
                self.collect(*u, sign);
                self.collect(*v, sign);
            }
            Expr::Sub(u, v) => {
                self.collect(*u, sign);
                self.collect(*v, -sign);
            }
            Expr::Neg(u) => self.collect(*u, -sign),
            Expr::Const(c) => self.konst.add(sign * c),
            e => match split_coef(e) {
                (coef, None) => self.konst.add(sign * coef),
                // ±(a + b) joins the outer sum; c·(a + b) stays one term.
                (coef, Some(core)) if coef.abs() == 1.0 && is_sum(&core) => {
                    self.collect(core, sign * coef);
                }
                (coef, Some(core)) => self.add(sign * coef, core),
            },
        }
    }
}

fn is_sum(e: &Expr) -> bool {
    matches!(e, Expr::Add(..) | Expr::Sub(..) | Expr::Neg(_))
}

fn normalize_sum(e: Expr) -> Expr {
    let mut sum = Sum::new();
    sum.collect(e, 1.0);
    build_sum(sum)
}

fn build_sum(sum: Sum) -> Expr {
    let k = sum.konst.value();
    // (coefficient, term) pieces: positive ones first (NaN counts as positive), the
    // constant at the outer edge of its group: `1 − y²`, `exp(x) − 1`.
    let negative = |c: f64| c < 0.0;
    let (neg, pos): (Vec<_>, Vec<_>) =
        sum.terms.into_iter().map(|(c, t)| (c.value(), t)).filter(|(c, _)| *c != 0.0).partition(|(c, _)| negative(*c));
    let mut pieces: Vec<(f64, Option<Expr>)> = Vec::with_capacity(pos.len() + neg.len() + 1);
    if k != 0.0 && !negative(k) {
        pieces.push((k, None));
    }
    pieces.extend(pos.into_iter().map(|(c, t)| (c, Some(t))));
    pieces.extend(neg.into_iter().map(|(c, t)| (c, Some(t))));
    if negative(k) {
        pieces.push((k, None));
    }
    let term = |c: f64, core: Option<Expr>| match core {
        None => Expr::c(c),
        Some(core) => normalize_product(Expr::c(c) * core),
    };
    let mut pieces = pieces.into_iter();
    let Some((c0, first)) = pieces.next() else {
        return Expr::c(0.0);
    };
    let mut acc = term(c0, first);
    for (c, core) in pieces {
        acc = if negative(c) { acc - term(-c, core) } else { acc + term(c, core) };
    }
    acc
}

/// A flattened product: `coef · Π baseᵢ^nᵢ`, the factors kept sorted by [`order`].
struct Product {
    coef: f64,
    factors: Vec<(Expr, i64)>,
}

impl Product {
    fn new() -> Self {
        Product { coef: 1.0, factors: Vec::new() }
    }

    /// Multiplies by `cᵏ`. Constants are factors like any other until the product is
    /// built, so that `a·b/a` cancels `a` exactly instead of rounding `a·b/a`.
    fn constant(&mut self, c: f64, k: i64) {
        if c == 0.0 && k > 0 {
            // absorbing: x·0 = 0
            self.coef = 0.0;
        } else {
            self.push(Expr::c(c), k);
        }
    }

    /// Multiplies by `eᵏ` for `e` not simplified yet: its factors are simplified as they
    /// are reached, so a chain of products is normalised once.
    fn collect_raw(&mut self, e: &Expr, k: i64) {
        match e {
            Expr::Const(c) => self.constant(*c, k),
            Expr::Mul(u, v) => {
                self.collect_raw(u, k);
                self.collect_raw(v, k);
            }
            Expr::Div(u, v) => {
                self.collect_raw(u, k);
                self.collect_raw(v, -k);
            }
            Expr::Neg(u) => {
                if k % 2 != 0 {
                    self.coef = -self.coef;
                }
                self.collect_raw(u, k);
            }
            Expr::Powi(u, n) => match k.checked_mul(i64::from(*n)) {
                Some(m) if m.abs() <= MAX_POW => self.collect_raw(u, m),
                _ => self.push(pass(u).powi(*n), k),
            },
            _ => self.collect(pass(e), k),
        }
    }

    /// Multiplies by `eᵏ` for a simplified `e`, taking it apart without copies.
    fn collect(&mut self, e: Expr, k: i64) {
        match e {
            Expr::Const(c) => self.constant(c, k),
            Expr::Mul(u, v) => {
                self.collect(*u, k);
                self.collect(*v, k);
            }
            Expr::Div(u, v) => {
                self.collect(*u, k);
                self.collect(*v, -k);
            }
            Expr::Neg(u) => {
                if k % 2 != 0 {
                    self.coef = -self.coef;
                }
                self.collect(*u, k);
            }
            Expr::Powi(u, n) => match k.checked_mul(i64::from(n)) {
                Some(m) if m.abs() <= MAX_POW => self.collect(*u, m),
                _ => self.push(Expr::Powi(u, n), k),
            },
            e => self.push(e, k),
        }
    }

    fn push(&mut self, base: Expr, k: i64) {
        match self.factors.binary_search_by(|(b, _)| order(b, &base)) {
            Ok(i) if (self.factors[i].1 + k).abs() <= MAX_POW => self.factors[i].1 += k,
            // a merged exponent too large stays a separate factor
            Ok(i) | Err(i) => self.factors.insert(i, (base, k)),
        }
    }
}

fn flatten_product(e: Expr) -> Product {
    let mut p = Product::new();
    p.collect(e, 1);
    p
}

/// Folds the constant factors `cᵏ` into the coefficient, in their sorted order, except
/// those whose power would overflow or underflow (kept symbolic).
fn fold_constants(coef: f64, factors: Vec<(Expr, i64)>) -> (f64, Vec<(Expr, i64)>) {
    let mut coef = coef;
    let mut rest = Vec::with_capacity(factors.len());
    for (base, k) in factors {
        if k == 0 {
            continue;
        }
        if let Expr::Const(c) = base {
            // |k| ≤ MAX_POW, so it fits an i32
            let v = c.powi(i32::try_from(k).unwrap_or(0));
            if v.is_finite() && v != 0.0 {
                coef *= v;
                continue;
            }
        }
        rest.push((base, k));
    }
    (coef, rest)
}

/// `(coefficient, rest)` of a simplified term; `rest` is `None` for a constant.
fn split_coef(e: Expr) -> (f64, Option<Expr>) {
    match e {
        Expr::Mul(..) | Expr::Div(..) | Expr::Neg(_) | Expr::Powi(..) => {
            let p = flatten_product(e);
            let (coef, factors) = fold_constants(p.coef, p.factors);
            match build_product(1.0, factors) {
                Expr::Const(c) => (coef * c, None),
                core => (coef, Some(core)),
            }
        }
        Expr::Const(c) => (c, None),
        e => (1.0, Some(e)),
    }
}

/// `(coef, factors)` with `e = coef · Π baseᵢ^nᵢ`, like bases merged: the monomial view
/// of a product, used to find powers of a forward value inside a derivative.
pub(super) fn monomial(e: Expr) -> (f64, Vec<(Expr, i64)>) {
    let p = flatten_product(e);
    fold_constants(p.coef, p.factors)
}

/// The product `coef · Π baseᵢ^nᵢ`, normalised as [`Expr::simplify`] would build it.
pub(super) fn build_monomial(coef: f64, factors: Vec<(Expr, i64)>) -> Expr {
    build_product(coef, factors)
}

fn normalize_product(e: Expr) -> Expr {
    let p = flatten_product(e);
    build_product(p.coef, p.factors)
}

fn build_product(coef: f64, factors: Vec<(Expr, i64)>) -> Expr {
    let (coef, factors) = fold_constants(coef, factors);
    if coef == 0.0 || coef.is_nan() {
        // x·0 = 0 (see the module documentation); NaN absorbs everything.
        return Expr::c(if coef.is_nan() { coef } else { 0.0 });
    }
    let mut factors = factors;
    if abs_from_sign(&mut factors) {
        factors.sort_by(|a, b| order(&a.0, &b.0).then(a.1.cmp(&b.1)));
    }
    if factors.is_empty() {
        return Expr::c(coef);
    }
    if coef == -1.0
        && factors.len() == 1
        && factors[0].1 == 1
        && is_sum(&factors[0].0)
        && let Some((base, _)) = factors.pop()
    {
        // −(t − x) → x − t
        return normalize_sum(-base);
    }
    let power = |base: Expr, n: i64| match (n, base) {
        (1, base) => base,
        // (uᵃ)ⁿ = uᵃⁿ where defined, as in `powf`
        (n, Expr::Powf(u, a)) if a.fract() != 0.0 => powf(*u, a * n as f64),
        // |n| ≤ MAX_POW, so it fits an i32
        (n, base) => base.powi(i32::try_from(n).unwrap_or(i32::MAX)),
    };
    let chain = |acc: Option<Expr>, p: Expr| match acc {
        Some(a) => Some(a * p),
        None => Some(p),
    };
    let (num, den): (Vec<_>, Vec<_>) = factors.into_iter().partition(|(_, n)| *n > 0);
    // With |coef| ≠ 1 the sign lives in the constant (`−2·x`), else in a negation (`−x`).
    let start = (coef.abs() != 1.0).then_some(Expr::c(coef));
    let numerator = num.into_iter().map(|(b, n)| power(b, n)).fold(start, chain).unwrap_or(Expr::c(1.0));
    let body = match den.into_iter().map(|(b, n)| power(b, -n)).fold(None, chain) {
        None => numerator,
        Some(d) => numerator / d,
    };
    if coef == -1.0 { -body } else { body }
}

/// `u · sign(u) = |u|`: the derivative of `|u|` multiplied by `u` (softsign's quotient
/// rule). Returns whether it rewrote anything.
fn abs_from_sign(factors: &mut Vec<(Expr, i64)>) -> bool {
    let mut changed = false;
    loop {
        let hit = factors.iter().enumerate().find_map(|(i, (s, n))| {
            let u = s.as_sign().filter(|_| *n == 1)?;
            let j = factors.iter().position(|(b, m)| same(b, u) && *m >= 1)?;
            Some((i, j))
        });
        let Some((i, j)) = hit else {
            return changed;
        };
        let u = factors[j].0.clone();
        factors[j].1 -= 1;
        factors[i] = (u.abs(), 1);
        factors.retain(|(_, n)| *n != 0);
        changed = true;
    }
}

fn rank(e: &Expr) -> u8 {
    match e {
        Expr::Const(_) => 0,
        Expr::Var(_) => 1,
        Expr::Call(..) => 2,
        Expr::Powi(..) => 3,
        Expr::Powf(..) => 4,
        Expr::Max(..) => 5,
        Expr::Min(..) => 6,
        Expr::Select { .. } => 7,
        Expr::Mul(..) => 8,
        Expr::Div(..) => 9,
        Expr::Neg(_) => 10,
        Expr::Add(..) => 11,
        Expr::Sub(..) => 12,
    }
}

/// A total order on expressions: the sort key of terms and factors. Leaves come first,
/// so products read `2·x·σ(x)·(1 − σ(x))`.
pub(super) fn order(a: &Expr, b: &Expr) -> Ordering {
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Expr::Const(x), Expr::Const(y)) => x.total_cmp(y),
        (Expr::Var(x), Expr::Var(y)) => x.cmp(y),
        (Expr::Call(f, u), Expr::Call(g, v)) => f.cmp(g).then_with(|| order(u, v)),
        (Expr::Powi(u, n), Expr::Powi(v, m)) => order(u, v).then(n.cmp(m)),
        (Expr::Powf(u, n), Expr::Powf(v, m)) => order(u, v).then(n.total_cmp(m)),
        (Expr::Select { cmp: c, .. }, Expr::Select { cmp: d, .. }) => c.cmp(d).then_with(|| children_order(a, b)),
        _ => children_order(a, b),
    })
}

fn children_order(a: &Expr, b: &Expr) -> Ordering {
    let (ca, cb) = (a.children(), b.children());
    ca.iter().zip(&cb).map(|(x, y)| order(x, y)).find(|o| o.is_ne()).unwrap_or_else(|| ca.len().cmp(&cb.len()))
}

/// Structural equality with constants compared bit for bit (so NaN equals NaN and the
/// fixpoint test terminates).
pub(super) fn same(a: &Expr, b: &Expr) -> bool {
    order(a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::expr::{Cmp, Var};

    fn x() -> Expr {
        Expr::x()
    }
    fn y() -> Expr {
        Expr::y()
    }
    fn t() -> Expr {
        Expr::t()
    }
    fn c(v: f64) -> Expr {
        Expr::c(v)
    }

    #[track_caller]
    fn simplifies(e: Expr, want: Expr) {
        let got = e.simplify();
        assert_eq!(got, want, "simplify({e:?})");
        assert_eq!(got.simplify(), got, "not idempotent on {got:?}");
    }

    #[test]
    fn neutral_and_absorbing_elements() {
        simplifies(x() + c(0.0), x());
        simplifies(c(0.0) + x(), x());
        simplifies(x() - c(0.0), x());
        simplifies(c(0.0) - x(), -x());
        simplifies(x() * c(1.0), x());
        simplifies(c(1.0) * x(), x());
        simplifies(x() * c(0.0), c(0.0));
        simplifies(x().exp() * c(0.0), c(0.0));
        simplifies(x() / c(1.0), x());
        simplifies(c(0.0) / x(), c(0.0));
        simplifies(-(-x()), x());
        simplifies(x() - x(), c(0.0));
        simplifies(x() / x(), c(1.0));
        simplifies(x().powi(1), x());
        simplifies(x().powi(0), c(1.0));
        simplifies(x().powf(1.0), x());
        simplifies(x().powf(0.0), c(1.0));
    }

    #[test]
    fn constants_fold() {
        simplifies(c(2.0) * c(3.0) + c(1.0), c(7.0));
        simplifies(c(0.0).exp(), c(1.0));
        simplifies(c(2.0).sqrt(), c(std::f64::consts::SQRT_2));
        simplifies(c(-3.0).abs(), c(3.0));
        simplifies(c(2.0).powi(10), c(1024.0));
        simplifies(c(4.0).powf(0.5), c(2.0));
        simplifies(c(0.0).logistic(), c(0.5));
        simplifies(c(3.0).max_c(4.0), c(4.0));
        simplifies(c(1.0).erf() - c(1.0).erf(), c(0.0));
        // Folding stops where the value would not be finite.
        simplifies(c(0.0).ln(), c(0.0).ln());
        simplifies(c(1.0) / c(0.0), c(1.0) / c(0.0));
        // Constant conditions pick their branch.
        simplifies(Expr::select(Cmp::Gt, c(1.0), c(0.0), x(), y()), x());
        simplifies(Expr::sign(c(-2.0)), c(-1.0));
        simplifies(Expr::sign(c(0.0)), c(0.0));
    }

    #[test]
    fn powers() {
        simplifies(x() * x(), x().powi(2));
        simplifies(x() * x() * x() / x(), x().powi(2));
        simplifies(x().powi(2).powi(3), x().powi(6));
        simplifies(x().powi(-1), c(1.0) / x());
        simplifies(x().powi(2) / x().powi(5), c(1.0) / x().powi(3));
        simplifies(x().powf(2.0), x().powi(2));
        simplifies(x().powf(0.5).powf(3.0), x().powf(1.5));
        simplifies(x().powf(0.5).powf(2.0), x());
        simplifies(x().powf(0.5) * x().powf(0.5), x());
        simplifies(x().powf(1.5).powi(2), x().powi(3));
        simplifies((c(2.0) * x()).powi(2), c(4.0) * x().powi(2));
        // integer powers of powf are left alone (the base may be negative)
        simplifies(x().powi(2).powf(0.5), x().powi(2).powf(0.5));
    }

    #[test]
    fn like_terms_and_constant_factors() {
        simplifies(x() + x(), c(2.0) * x());
        simplifies(c(2.0) * x() + c(3.0) * x() - x(), c(4.0) * x());
        simplifies(c(2.0) * (c(3.0) * x()), c(6.0) * x());
        simplifies(x() / c(4.0), c(0.25) * x());
        simplifies(-(c(2.0) * x()), c(-2.0) * x());
        simplifies(x() * y() - y() * x(), c(0.0));
        simplifies((c(1.0) + x()) - (x() + c(1.0)), c(0.0));
        simplifies(c(0.5) * (c(2.0) * (t() - x())) * c(-1.0), x() - t());
        simplifies(c(1.0) + (x() + (c(2.0) + y())), c(3.0) + x() + y());
    }

    #[test]
    fn readable_orders() {
        simplifies(-(y().powi(2)) + c(1.0), c(1.0) - y().powi(2));
        simplifies(-t() + x(), x() - t());
        simplifies((c(1.0) - y()) * y(), y() * (c(1.0) - y()));
        simplifies(x().exp() + c(-1.0), x().exp() - c(1.0));
        simplifies(-x() - c(1.0), -x() - c(1.0));
        simplifies(x().logistic() * x(), x() * x().logistic());
        // no expansion of products of sums
        let p = (c(1.0) + x()) * (c(1.0) - x());
        simplifies(p.clone(), p);
        let p = c(2.0) * (c(1.0) + x());
        simplifies(p.clone(), p);
    }

    #[test]
    fn abs_and_sign() {
        simplifies(x() * Expr::sign(x()), x().abs());
        simplifies(Expr::sign(x()) * x().powi(3), x().powi(2) * x().abs());
        simplifies((-x()).abs(), x().abs());
        simplifies(x().abs().abs(), x().abs());
        simplifies(x().exp().abs(), x().exp());
        simplifies(x().powi(2).abs(), x().powi(2));
        // softsign's quotient rule numerator
        let num = c(1.0) * (c(1.0) + x().abs()) - x() * (Expr::sign(x()) * c(1.0));
        simplifies(num, c(1.0));
    }

    #[test]
    fn max_min_select() {
        simplifies(c(0.0).max(x()), x().max_c(0.0));
        simplifies(x().max_c(0.0).max_c(1.0), x().max_c(1.0));
        simplifies(x().min_c(0.0).min_c(1.0), x().min_c(0.0));
        simplifies(x().max(x()), x());
        simplifies(Expr::select(Cmp::Gt, x(), c(0.0), y(), y()), y());
        simplifies(
            Expr::select(Cmp::Gt, x() + c(0.0), c(0.0), c(1.0) * c(1.0), c(0.0)),
            Expr::select(Cmp::Gt, x(), c(0.0), c(1.0), c(0.0)),
        );
    }

    #[test]
    fn values_are_kept() {
        let e = ((x() + c(1.0)) * (x() - c(2.0)) / (x() * x() + c(3.0))).exp() - x().tanh() * c(0.5)
            + Expr::var(Var::T).powi(2) * x().powf(1.5) / c(3.0);
        let s = e.simplify();
        for i in 1..20 {
            let at = f64::from(i) * 0.37;
            let env = |v: Var| if v == Var::T { 0.3 } else { at };
            let (a, b) = (e.eval(&env), s.eval(&env));
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b} at {at}");
        }
    }

    #[test]
    fn order_is_total_and_consistent() {
        let es = [c(1.0), c(f64::NAN), x(), y(), x().exp(), x().powi(2), x() + c(1.0), x() * y(), -x()];
        for a in &es {
            assert!(same(a, a));
            for b in &es {
                assert_eq!(order(a, b), order(b, a).reverse());
            }
        }
        assert!(!same(&c(0.0), &c(-0.0)));
    }
}
