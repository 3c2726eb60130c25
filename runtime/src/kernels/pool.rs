//! Pooling of one sample, with every size a constant of the layer's [`PoolGeometry`].
//!
//! ```text
//! max        y[c][oy][ox] = max_{ky,kx} x[c][oy·SH − PH + ky][ox·SW − PW + kx]     (padding = −∞)
//!            ∂L/∂x gains ∂L/∂y[c][oy][ox] at the window's argmax
//! average    y[c][oy][ox] = Σ_{ky,kx} x[c][oy·SH − PH + ky][ox·SW − PW + kx] / (K_H·K_W)   (padding = 0)
//!            ∂L/∂x gains ∂L/∂y[c][oy][ox] / (K_H·K_W) at every in-range cell of the window
//! global     y[c] = Σ_s x[c][s] / S,  ∂L/∂x[c][s] += ∂L/∂y[c] / S
//! ```
//!
//! PyTorch's `MaxPool1d/2d`, `AvgPool1d/2d` (`count_include_pad = True`: the divisor is always
//! `K_H·K_W`) and global average pooling, layouts `x [CH][IN_H][IN_W]`, `y [CH][OUT_H][OUT_W]`; a
//! 1-D pool has height 1. Max pooling follows PyTorch's CPU kernel exactly: a window's cells are
//! scanned in row-major order (`ky` outer, `kx` inner) and a cell `v` replaces the best so far if
//! `v > best || v is NaN`, so of tied maxima the first wins, and a NaN wins and propagates (of
//! several NaNs, the last one scanned takes the gradient); padding cells never win.
//! Entry points: [`max_pool_forward`], [`max_pool_backward`], [`avg_pool_forward`],
//! [`avg_pool_backward`], [`global_avg_pool_forward`], [`global_avg_pool_backward`].
//!
//! The forward passes and the average backward run row-wise: for each window row and column,
//! one loop over the output row's valid range, which the compiler vectorizes; the max backward
//! recomputes each window's argmax from `x`.

use crate::scalar::Scalar;

/// Geometry of a pooling window (PyTorch `MaxPool`/`AvgPool` 1d/2d; a 1-D pool has
/// `IN_H = K_H = OUT_H = 1`, `STRIDE_H = 1`, `PAD_H = 0`). Generated code defines one zero-sized
/// type per layer, so every kernel call is compiled with constant bounds.
pub trait PoolGeometry {
    /// Channels.
    const CH: usize;
    /// Input height.
    const IN_H: usize;
    /// Input width (length of a 1-D signal).
    const IN_W: usize;
    /// Window height.
    const K_H: usize;
    /// Window width.
    const K_W: usize;
    /// Vertical stride.
    const STRIDE_H: usize;
    /// Horizontal stride.
    const STRIDE_W: usize;
    /// Padding rows above and below (`−∞` for max pooling, 0 for average pooling).
    const PAD_H: usize;
    /// Padding columns left and right.
    const PAD_W: usize;
    /// Output height, `⌊(IN_H + 2·PAD_H − K_H)/STRIDE_H⌋ + 1`.
    const OUT_H: usize;
    /// Output width, `⌊(IN_W + 2·PAD_W − K_W)/STRIDE_W⌋ + 1`.
    const OUT_W: usize;
}

/// Checks the slices' lengths, and in debug builds the output size the geometry states.
pub(super) fn check<G: PoolGeometry>(x_len: usize, y_len: usize) {
    let out = |n: usize, k: usize, s: usize, p: usize| if n + 2 * p < k { 0 } else { (n + 2 * p - k) / s + 1 };
    debug_assert!(G::STRIDE_H > 0 && G::STRIDE_W > 0);
    debug_assert_eq!(G::OUT_H, out(G::IN_H, G::K_H, G::STRIDE_H, G::PAD_H), "pool output height");
    debug_assert_eq!(G::OUT_W, out(G::IN_W, G::K_W, G::STRIDE_W, G::PAD_W), "pool output width");
    assert_eq!(x_len, G::CH * G::IN_H * G::IN_W, "pool input");
    assert_eq!(y_len, G::CH * G::OUT_H * G::OUT_W, "pool output");
}

/// The window offsets `k` in `0..kernel` whose cell of output `o` lies in the input
/// (`0 ≤ o·s + k − p < n`).
#[inline(always)]
pub(super) fn taps(o: usize, n: usize, s: usize, p: usize, kernel: usize) -> (usize, usize) {
    let lo = p.saturating_sub(o * s);
    let hi = (n + p).saturating_sub(o * s).min(kernel);
    (lo, hi.max(lo))
}

/// The outputs `lo..hi` (of `out`) whose window cell `k` lies in the input: `0 ≤ o·s + k − p < n`.
#[inline(always)]
fn outputs(out: usize, n: usize, s: usize, p: usize, k: usize) -> (usize, usize) {
    let lo = p.saturating_sub(k).div_ceil(s);
    let hi = (n + p).saturating_sub(k).div_ceil(s).min(out);
    (lo, hi.max(lo))
}

/// `v` is NaN (`Scalar` has no `is_nan`; NaN is the one value unequal to itself).
#[inline(always)]
#[allow(clippy::eq_op)]
fn is_nan<T: Scalar>(v: T) -> bool {
    v != v
}

/// PyTorch's test `v > best || v is NaN`, without a branch (one unordered-or-greater compare).
#[inline(always)]
pub(super) fn beats<T: Scalar>(v: T, best: T) -> bool {
    (v > best) | is_nan(v)
}

/// Calls `f(outputs, inputs)` for every output row and window cell `(ky, kx)`, in window
/// row-major order per output row, where output `outputs[i]` reads `inputs[i·STRIDE_W]` (the
/// outputs whose cell lies in the input).
#[inline(always)]
fn rowwise<T: Scalar, G: PoolGeometry, Y>(
    x: &[T],
    y: &mut [Y],
    mut start: impl FnMut(&mut [Y]),
    mut f: impl FnMut(&mut [Y], &[T]),
    mut end: impl FnMut(&mut [Y]),
) {
    let (ow, plane) = (G::OUT_W, G::IN_H * G::IN_W);
    if ow == 0 || G::OUT_H == 0 {
        return;
    }
    for (c, yc) in y.chunks_exact_mut(G::OUT_H * ow).enumerate() {
        let xc = &x[c * plane..][..plane];
        for (oy, yrow) in yc.chunks_exact_mut(ow).enumerate() {
            start(yrow);
            let (klo, khi) = taps(oy, G::IN_H, G::STRIDE_H, G::PAD_H, G::K_H);
            for ky in klo..khi {
                let iy = oy * G::STRIDE_H + ky - G::PAD_H;
                let xrow = &xc[iy * G::IN_W..][..G::IN_W];
                for kx in 0..G::K_W {
                    let (lo, hi) = outputs(ow, G::IN_W, G::STRIDE_W, G::PAD_W, kx);
                    if hi > lo {
                        let from = lo * G::STRIDE_W + kx - G::PAD_W;
                        f(&mut yrow[lo..hi], &xrow[from..from + (hi - lo - 1) * G::STRIDE_W + 1]);
                    }
                }
            }
            end(yrow);
        }
    }
}

/// `y = max` over each window (padding cells `−∞`; NaN wins, as in PyTorch).
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn max_pool_forward<T: Scalar, G: PoolGeometry>(x: &[T], y: &mut [T]) {
    check::<G>(x.len(), y.len());
    rowwise::<T, G, T>(
        x,
        y,
        |yrow| yrow.fill(T::NEG_INFINITY),
        |ys, xs| {
            // Indexed, not `step_by`, so that strided reads vectorize.
            for (i, b) in ys.iter_mut().enumerate() {
                let v = xs[i * G::STRIDE_W];
                // The same test as PyTorch's CPU kernel, as a select.
                *b = if beats(v, *b) { v } else { *b };
            }
        },
        |_| {},
    );
}

/// `dx += ∂L/∂x` of max pooling: each `dy[c][oy][ox]` goes to its window's argmax, recomputed
/// from `x` with the forward pass's rule (first of tied maxima; NaN wins).
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn max_pool_backward<T: Scalar, G: PoolGeometry>(x: &[T], dy: &[T], dx: &mut [T]) {
    check::<G>(x.len(), dy.len());
    assert_eq!(dx.len(), x.len(), "pool input gradient");
    let (ow, plane) = (G::OUT_W, G::IN_H * G::IN_W);
    if ow == 0 || G::OUT_H == 0 {
        return;
    }
    for (c, dyc) in dy.chunks_exact(G::OUT_H * ow).enumerate() {
        let xc = &x[c * plane..][..plane];
        let dxc = &mut dx[c * plane..][..plane];
        for (oy, dyrow) in dyc.chunks_exact(ow).enumerate() {
            let (klo, khi) = taps(oy, G::IN_H, G::STRIDE_H, G::PAD_H, G::K_H);
            for (ox, &d) in dyrow.iter().enumerate() {
                let (xlo, xhi) = taps(ox, G::IN_W, G::STRIDE_W, G::PAD_W, G::K_W);
                let mut best = T::NEG_INFINITY;
                let mut at = None;
                for ky in klo..khi {
                    let first = (oy * G::STRIDE_H + ky - G::PAD_H) * G::IN_W + ox * G::STRIDE_W + xlo - G::PAD_W;
                    for (i, &v) in xc[first..first + (xhi - xlo)].iter().enumerate() {
                        // A branch, not a select: the maximum rarely moves, and a select would
                        // chain every cell on the previous one.
                        if v > best || is_nan(v) {
                            best = v;
                            at = Some(first + i);
                        }
                    }
                }
                if let Some(i) = at {
                    dxc[i] += d;
                }
            }
        }
    }
}

/// The R-operator of max pooling (a Hessian-vector product's forward): `ry[c][oy][ox] =
/// rx[argmax]`, each window's argmax of `x` by the forward pass's rule (first of tied maxima;
/// NaN wins); 0 for a window with no cell in the input. Overwrites `ry`.
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn max_pool_r_forward<T: Scalar, G: PoolGeometry>(x: &[T], rx: &[T], ry: &mut [T]) {
    check::<G>(x.len(), ry.len());
    assert_eq!(rx.len(), x.len(), "pool input direction");
    let (ow, plane) = (G::OUT_W, G::IN_H * G::IN_W);
    if ow == 0 || G::OUT_H == 0 {
        return;
    }
    for (c, ryc) in ry.chunks_exact_mut(G::OUT_H * ow).enumerate() {
        let xc = &x[c * plane..][..plane];
        let rxc = &rx[c * plane..][..plane];
        for (oy, ryrow) in ryc.chunks_exact_mut(ow).enumerate() {
            let (klo, khi) = taps(oy, G::IN_H, G::STRIDE_H, G::PAD_H, G::K_H);
            for (ox, r) in ryrow.iter_mut().enumerate() {
                let (xlo, xhi) = taps(ox, G::IN_W, G::STRIDE_W, G::PAD_W, G::K_W);
                let mut best = T::NEG_INFINITY;
                let mut at = None;
                for ky in klo..khi {
                    let first = (oy * G::STRIDE_H + ky - G::PAD_H) * G::IN_W + ox * G::STRIDE_W + xlo - G::PAD_W;
                    for (i, &v) in xc[first..first + (xhi - xlo)].iter().enumerate() {
                        if v > best || is_nan(v) {
                            best = v;
                            at = Some(first + i);
                        }
                    }
                }
                *r = at.map_or(T::ZERO, |i| rxc[i]);
            }
        }
    }
}

/// `y = Σ/(K_H·K_W)` over each window (padding cells 0, counted in the divisor).
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn avg_pool_forward<T: Scalar, G: PoolGeometry>(x: &[T], y: &mut [T]) {
    check::<G>(x.len(), y.len());
    let div = T::from_usize(G::K_H * G::K_W);
    rowwise::<T, G, T>(
        x,
        y,
        |yrow| yrow.fill(T::ZERO),
        |ys, xs| {
            for (i, s) in ys.iter_mut().enumerate() {
                *s += xs[i * G::STRIDE_W];
            }
        },
        |yrow| {
            for s in yrow {
                *s /= div;
            }
        },
    );
}

/// `dx += ∂L/∂x` of average pooling: every in-range cell of each window gains
/// `dy[c][oy][ox] / (K_H·K_W)`.
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn avg_pool_backward<T: Scalar, G: PoolGeometry>(dy: &[T], dx: &mut [T]) {
    check::<G>(dx.len(), dy.len());
    let div = T::from_usize(G::K_H * G::K_W);
    let (ow, plane) = (G::OUT_W, G::IN_H * G::IN_W);
    if ow == 0 || G::OUT_H == 0 {
        return;
    }
    for (c, dyc) in dy.chunks_exact(G::OUT_H * ow).enumerate() {
        let dxc = &mut dx[c * plane..][..plane];
        for (oy, dyrow) in dyc.chunks_exact(ow).enumerate() {
            let (klo, khi) = taps(oy, G::IN_H, G::STRIDE_H, G::PAD_H, G::K_H);
            for ky in klo..khi {
                let iy = oy * G::STRIDE_H + ky - G::PAD_H;
                let dxrow = &mut dxc[iy * G::IN_W..][..G::IN_W];
                for kx in 0..G::K_W {
                    let (lo, hi) = outputs(ow, G::IN_W, G::STRIDE_W, G::PAD_W, kx);
                    if hi > lo {
                        let from = lo * G::STRIDE_W + kx - G::PAD_W;
                        let es = &mut dxrow[from..from + (hi - lo - 1) * G::STRIDE_W + 1];
                        for (i, &d) in dyrow[lo..hi].iter().enumerate() {
                            es[i * G::STRIDE_W] += d / div;
                        }
                    }
                }
            }
        }
    }
}

/// `y[c] = Σ_s x[c][s] / SPATIAL`, for `x` of `CH` channels of `SPATIAL` positions.
///
/// # Panics
/// If a slice has the wrong length.
#[inline]
pub fn global_avg_pool_forward<T: Scalar, const CH: usize, const SPATIAL: usize>(x: &[T], y: &mut [T]) {
    assert_eq!(x.len(), CH * SPATIAL, "global pool input");
    assert_eq!(y.len(), CH, "global pool output");
    if SPATIAL == 0 {
        y.fill(T::ZERO);
        return;
    }
    let s = T::from_usize(SPATIAL);
    for (yc, xc) in y.iter_mut().zip(x.chunks_exact(SPATIAL)) {
        let (chunks, rest) = xc.as_chunks::<8>();
        let mut acc = [T::ZERO; 8];
        for c in chunks {
            for k in 0..8 {
                acc[k] += c[k];
            }
        }
        let [sum] = super::reduce_rows([acc]);
        *yc = rest.iter().fold(sum, |a, &b| a + b) / s;
    }
}

/// `dx[c][s] += dy[c] / SPATIAL`; accumulates.
///
/// # Panics
/// If a slice has the wrong length.
#[inline]
pub fn global_avg_pool_backward<T: Scalar, const CH: usize, const SPATIAL: usize>(dy: &[T], dx: &mut [T]) {
    assert_eq!(dy.len(), CH, "global pool output gradient");
    assert_eq!(dx.len(), CH * SPATIAL, "global pool input gradient");
    if SPATIAL == 0 {
        return;
    }
    let s = T::from_usize(SPATIAL);
    for (&d, dxc) in dy.iter().zip(dx.chunks_exact_mut(SPATIAL)) {
        let g = d / s;
        for v in dxc {
            *v += g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    /// A geometry from const parameters, the output size computed.
    struct Geo<
        const C: usize,
        const IH: usize,
        const IW: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PH: usize,
        const PW: usize,
    >;

    impl<
        const C: usize,
        const IH: usize,
        const IW: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PH: usize,
        const PW: usize,
    > PoolGeometry for Geo<C, IH, IW, KH, KW, SH, SW, PH, PW>
    {
        const CH: usize = C;
        const IN_H: usize = IH;
        const IN_W: usize = IW;
        const K_H: usize = KH;
        const K_W: usize = KW;
        const STRIDE_H: usize = SH;
        const STRIDE_W: usize = SW;
        const PAD_H: usize = PH;
        const PAD_W: usize = PW;
        const OUT_H: usize = (IH + 2 * PH - KH) / SH + 1;
        const OUT_W: usize = (IW + 2 * PW - KW) / SW + 1;
    }

    /// A deterministic pseudo-random value in [-1, 1).
    fn val(k: usize) -> f64 {
        ((k as f64 * 0.618_033_988_7 + 0.1).fract() - 0.5) * 2.0
    }

    /// The in-range cells of output `(c, oy, ox)`'s window, in row-major window order.
    fn window<G: PoolGeometry>(c: usize, oy: usize, ox: usize) -> Vec<usize> {
        let mut cells = Vec::new();
        for ky in 0..G::K_H {
            for kx in 0..G::K_W {
                let iy = (oy * G::STRIDE_H + ky) as isize - G::PAD_H as isize;
                let ix = (ox * G::STRIDE_W + kx) as isize - G::PAD_W as isize;
                if (0..G::IN_H as isize).contains(&iy) && (0..G::IN_W as isize).contains(&ix) {
                    cells.push((c * G::IN_H + iy as usize) * G::IN_W + ix as usize);
                }
            }
        }
        cells
    }

    fn same<T: Scalar>(a: T, b: T) -> bool {
        a == b || (is_nan(a) && is_nan(b))
    }

    /// The pools against PyTorch's loops, on `x` (values with ties, and NaNs where given).
    fn agree<T: Scalar, G: PoolGeometry>(x: &[T], tol: f64) {
        let (n_in, n_out) = (G::CH * G::IN_H * G::IN_W, G::CH * G::OUT_H * G::OUT_W);
        let dy: Vec<T> = (0..n_out).map(|k| T::from_f64(val(7 * k + 3))).collect();
        let dx0: Vec<T> = (0..n_in).map(|k| T::from_f64(val(k + 500))).collect();
        let div = T::from_usize(G::K_H * G::K_W);
        let (mut y_max, mut y_avg) = (vec![T::ZERO; n_out], vec![T::ZERO; n_out]);
        // A direction on the input, for the R-operator: each window passes on its argmax's.
        let dy_in: Vec<T> = (0..n_in).map(|k| T::from_f64(val(5 * k + 11))).collect();
        let mut ry_max = vec![T::ZERO; n_out];
        let (mut dx_max, mut dx_avg) = (dx0.clone(), dx0.clone());
        for c in 0..G::CH {
            for oy in 0..G::OUT_H {
                for ox in 0..G::OUT_W {
                    let o = (c * G::OUT_H + oy) * G::OUT_W + ox;
                    let (mut best, mut at, mut sum) = (T::NEG_INFINITY, None, T::ZERO);
                    for i in window::<G>(c, oy, ox) {
                        // PyTorch's CPU max_pool2d: `if ((val > maxval) || std::isnan(val))`.
                        if x[i] > best || is_nan(x[i]) {
                            best = x[i];
                            at = Some(i);
                        }
                        sum += x[i];
                    }
                    y_max[o] = best;
                    ry_max[o] = at.map_or(T::ZERO, |i| dy_in[i]);
                    y_avg[o] = sum / div;
                    if let Some(i) = at {
                        dx_max[i] += dy[o];
                    }
                    for i in window::<G>(c, oy, ox) {
                        dx_avg[i] += dy[o] / div;
                    }
                }
            }
        }
        let mut y = vec![T::from_f64(0.5); n_out];
        max_pool_forward::<T, G>(x, &mut y);
        (0..n_out).for_each(|o| assert!(same(y[o], y_max[o]), "max [{o}]: {} vs {}", y[o], y_max[o]));
        let mut ry = vec![T::from_f64(0.5); n_out];
        max_pool_r_forward::<T, G>(x, &dy_in, &mut ry);
        (0..n_out).for_each(|o| assert!(same(ry[o], ry_max[o]), "max R [{o}]: {} vs {}", ry[o], ry_max[o]));
        let mut dx = dx0.clone();
        max_pool_backward::<T, G>(x, &dy, &mut dx);
        (0..n_in).for_each(|i| assert!(same(dx[i], dx_max[i]), "max backward [{i}]: {} vs {}", dx[i], dx_max[i]));
        avg_pool_forward::<T, G>(x, &mut y);
        (0..n_out).for_each(|o| assert!(same(y[o], y_avg[o]), "avg [{o}]: {} vs {}", y[o], y_avg[o]));
        let mut dx = dx0.clone();
        avg_pool_backward::<T, G>(&dy, &mut dx);
        for i in 0..n_in {
            let (got, want) = (dx[i].to_f64(), dx_avg[i].to_f64());
            assert!((got - want).abs() <= tol * (1.0 + want.abs()), "avg backward [{i}]: {got} vs {want}");
        }
    }

    fn both<G: PoolGeometry>() {
        let n = G::CH * G::IN_H * G::IN_W;
        // Whole numbers in [-3, 3]: many tied maxima.
        let ties = |k: usize| (val(k) * 3.0).round();
        agree::<f64, G>(&(0..n).map(ties).collect::<Vec<_>>(), 1e-14);
        agree::<f32, G>(&(0..n).map(|k| ties(k) as f32).collect::<Vec<_>>(), 1e-6);
        // Distinct values, every 13th a NaN.
        let nan = |k: usize| if k % 13 == 5 { f64::NAN } else { val(k) };
        agree::<f64, G>(&(0..n).map(nan).collect::<Vec<_>>(), 1e-14);
        agree::<f32, G>(&(0..n).map(|k| nan(k) as f32).collect::<Vec<_>>(), 1e-6);
        // All negative, so that padding taken as 0 would win.
        agree::<f32, G>(&(0..n).map(|k| -2.0 - val(k) as f32).collect::<Vec<_>>(), 1e-6);
    }

    #[test]
    fn pools_match_pytorch_loops() {
        both::<Geo<6, 24, 24, 2, 2, 2, 2, 0, 0>>(); // LeNet
        both::<Geo<3, 7, 9, 3, 3, 2, 2, 1, 1>>();
        both::<Geo<2, 8, 11, 3, 2, 1, 3, 1, 1>>(); // non-square, overlapping rows
        both::<Geo<4, 9, 9, 5, 5, 3, 3, 2, 2>>(); // stride 3, padding 2
        both::<Geo<1, 5, 6, 2, 3, 1, 1, 0, 1>>(); // stride 1
        both::<Geo<3, 1, 50, 1, 4, 1, 2, 0, 2>>(); // 1-D
        both::<Geo<2, 1, 31, 1, 3, 1, 3, 0, 1>>(); // 1-D, stride 3
        both::<Geo<5, 1, 16, 1, 2, 1, 2, 0, 0>>(); // 1-D, LeNet-like
    }

    #[test]
    fn max_pool_ties_padding_and_nan() {
        type G = Geo<1, 1, 8, 1, 4, 1, 4, 0, 0>;
        // Ties: the first wins. NaN: propagates; of two NaNs the last takes the gradient
        // (PyTorch's `val > maxval || isnan(val)`).
        let x = [2.0_f32, 5.0, 5.0, 1.0, 1.0, f32::NAN, 3.0, f32::NAN];
        let mut y = [0.0; 2];
        max_pool_forward::<f32, G>(&x, &mut y);
        assert_eq!(y[0], 5.0);
        assert!(y[1].is_nan());
        let mut dx = [0.0; 8];
        max_pool_backward::<f32, G>(&x, &[1.0, 2.0], &mut dx);
        assert_eq!(dx, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]);

        // Padding is −∞: a window of padding and −7 gives −7, and the gradient reaches it.
        type P = Geo<1, 2, 2, 2, 2, 1, 1, 1, 1>;
        let x = [-7.0_f64, -8.0, -9.0, -10.0];
        let mut y = [0.0; 9];
        max_pool_forward::<f64, P>(&x, &mut y);
        assert_eq!(y, [-7.0, -7.0, -8.0, -7.0, -7.0, -8.0, -9.0, -9.0, -10.0]);
        let mut dx = [0.0; 4];
        max_pool_backward::<f64, P>(&x, &[1.0; 9], &mut dx);
        assert_eq!(dx, [4.0, 2.0, 2.0, 1.0]);
    }

    #[test]
    fn avg_pool_counts_padding_in_the_divisor() {
        type G = Geo<1, 1, 3, 1, 3, 1, 1, 0, 1>;
        let mut y = [0.0_f64; 3];
        avg_pool_forward::<f64, G>(&[1.0, 2.0, 3.0], &mut y);
        assert_eq!(y, [1.0, 2.0, 5.0 / 3.0]);
        let mut dx = [1.0; 3];
        avg_pool_backward::<f64, G>(&[3.0, 6.0, 9.0], &mut dx);
        assert_eq!(dx, [1.0 + 1.0 + 2.0, 1.0 + 1.0 + 2.0 + 3.0, 1.0 + 2.0 + 3.0]);
    }

    #[test]
    fn global_avg_pool_means_and_spreads() {
        fn check<T: Scalar, const CH: usize, const S: usize>(tol: f64) {
            let x: Vec<T> = (0..CH * S).map(|k| T::from_f64(val(k))).collect();
            let mut y = vec![T::ZERO; CH];
            global_avg_pool_forward::<T, CH, S>(&x, &mut y);
            for c in 0..CH {
                let want = (0..S).map(|s| x[c * S + s].to_f64()).sum::<f64>() / S as f64;
                assert!((y[c].to_f64() - want).abs() <= tol, "mean [{c}] ({CH}, {S})");
            }
            let dy: Vec<T> = (0..CH).map(|c| T::from_f64(val(c + 77))).collect();
            let mut dx = vec![T::ONE; CH * S];
            global_avg_pool_backward::<T, CH, S>(&dy, &mut dx);
            for k in 0..CH * S {
                assert_eq!(dx[k], T::ONE + dy[k / S] / T::from_usize(S), "spread [{k}] ({CH}, {S})");
            }
        }
        check::<f64, 3, 1>(1e-15);
        check::<f64, 16, 25>(1e-14);
        check::<f32, 8, 49>(1e-6);
        check::<f32, 5, 7>(1e-6);
        check::<f32, 2, 1000>(1e-5);
    }
}
