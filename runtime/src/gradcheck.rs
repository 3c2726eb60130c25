//! Gradient checking by central differences, for any [`Network`].
//!
//! [`check_gradients`] perturbs each parameter and each input by `±h`, takes
//! `(L(θ+h) − L(θ−h)) / 2h`, and compares it with what the network's backward pass
//! computed. Run it in `f64`: in `f32` the difference quotient itself loses most digits.

use crate::network::{Buffer, Network};
use crate::scalar::Scalar;

/// Which number a gradient entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrt {
    /// The parameter at this index of the flat array.
    Param(usize),
    /// The input at this index.
    Input(usize),
}

/// The entry where backward and central differences disagreed most.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mismatch {
    /// Where.
    pub wrt: Wrt,
    /// From the backward pass.
    pub analytic: f64,
    /// From central differences.
    pub numeric: f64,
    /// `|analytic − numeric| / max(|analytic|, |numeric|, floor)`.
    pub rel_error: f64,
}

/// Result of [`check_gradients`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// The largest relative error over all parameters and inputs.
    pub max_rel_error: f64,
    /// Where it occurred (`None` for a network without parameters or inputs).
    pub worst: Option<Mismatch>,
    /// Number of entries compared.
    pub checked: usize,
}

/// Options of [`check_gradients`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheckOptions {
    /// Step `h` of the central difference.
    pub step: f64,
    /// Below this magnitude errors are measured absolutely (scaled by the floor), so that
    /// entries that are zero up to rounding do not produce huge relative errors.
    pub floor: f64,
}

impl Default for GradCheckOptions {
    /// `h = 1e-6`, floor `1e-3`: for `f64`.
    fn default() -> Self {
        Self { step: 1e-6, floor: 1e-3 }
    }
}

/// Compares the network's parameter and input gradients at `(x, t)` with central
/// differences. The network's parameters are restored before returning.
pub fn check_gradients<N: Network>(net: &mut N, x: &N::Input, t: &N::Output, options: GradCheckOptions) -> GradCheck {
    let mut grad = N::Params::zeroed();
    let mut dx = N::Input::zeroed();
    let mut trace = N::Trace::zeroed();
    net.forward_trace(x, &mut trace);
    net.backward(x, &trace, t, N::Scalar::ONE, &mut grad, Some(&mut dx));

    let h = N::Scalar::from_f64(options.step);
    let mut report = GradCheck { max_rel_error: 0.0, worst: None, checked: 0 };
    let mut record = |wrt: Wrt, analytic: f64, numeric: f64| {
        let denom = analytic.abs().max(numeric.abs()).max(options.floor);
        let rel_error = (analytic - numeric).abs() / denom;
        report.checked += 1;
        if report.worst.is_none() || rel_error > report.max_rel_error || rel_error.is_nan() {
            report.max_rel_error = rel_error;
            report.worst = Some(Mismatch { wrt, analytic, numeric, rel_error });
        }
    };

    for i in 0..N::PARAMS {
        let orig = net.params().as_ref()[i];
        net.params_mut().as_mut()[i] = orig + h;
        let up = net.loss(x, t);
        net.params_mut().as_mut()[i] = orig - h;
        let down = net.loss(x, t);
        net.params_mut().as_mut()[i] = orig;
        let numeric = (up.to_f64() - down.to_f64()) / (2.0 * options.step);
        record(Wrt::Param(i), grad.as_ref()[i].to_f64(), numeric);
    }
    let mut xp = x.clone();
    for i in 0..N::INPUT {
        let orig = x.as_ref()[i];
        xp.as_mut()[i] = orig + h;
        let up = net.loss(&xp, t);
        xp.as_mut()[i] = orig - h;
        let down = net.loss(&xp, t);
        xp.as_mut()[i] = orig;
        let numeric = (up.to_f64() - down.to_f64()) / (2.0 * options.step);
        record(Wrt::Input(i), dx.as_ref()[i].to_f64(), numeric);
    }
    report
}
