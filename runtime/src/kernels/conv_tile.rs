//! Convolutions over a tile of `N` samples (the mini-batch gradient; `N` is [`TILE`] or a
//! smaller tile), with every size a constant of the layer's [`ConvGeometry`].
//!
//! Activations and deltas are feature-major, as for the dense tile kernels: `at[f]` holds
//! feature `f` (`f = (c·IN_H + y)·IN_W + x` for the input, `(o·OUT_H + y)·OUT_W + x` for
//! the output) of every sample of the tile, the samples contiguous. Every product is then a
//! broadcast scalar times a tile, the samples being the vector dimension, whatever the
//! geometry: no padded copy, no stride phases, no im2col; a padding tap is skipped, as the
//! valid taps of a kernel row are one contiguous range.
//!
//! ```text
//! forward        zt[o,y,x] = b[o] + Σ_{c,ky,kx} w[o][c][ky][kx]·at[c, y·SH − PH + ky·DH, x·SW − PW + kx·DW]
//! weight grad    g[o][c][ky][kx] += Σ_{y,x,s} dt[o,y,x][s]·at[c, y·SH − PH + ky·DH, x·SW − PW + kx·DW][s]
//!                g_b[o] += Σ_{y,x,s} dt[o,y,x][s]
//! input grad     et[c,iy,ix] = Σ w[o][c][ky][kx]·dt[o,y,x] over every tap that reads (iy, ix)
//! ```
//!
//! Register blocks: the forward keeps `R` output channels of one position in registers
//! (each loaded input tile feeds `R` filters); the weight gradient keeps `R` output channels
//! of one tap (each loaded input tile feeds `R` channels' δ); the input gradient keeps `R`
//! consecutive taps of one kernel row (each loaded δ tile feeds `R` taps). `R` is the dense
//! tile kernels' block for the scalar and target.

#[cfg(doc)]
use super::TILE;
use super::conv::ConvGeometry;
use super::{Tile, madd_tile, rows_for};
use crate::scalar::Scalar;

/// `acc[k] += d[k]·a[k]` over a tile.
#[inline(always)]
fn madd_tiles<T: Scalar, const N: usize>(acc: &mut Tile<T, N>, d: &Tile<T, N>, a: &Tile<T, N>) {
    for k in 0..N {
        acc[k] = d[k].mul_add(a[k], acc[k]);
    }
}

/// The input coordinate of output coordinate `o` and kernel tap `k`, if inside the input.
#[inline(always)]
const fn tap(o: usize, k: usize, stride: usize, pad: usize, dil: usize, n: usize) -> Option<usize> {
    let i = o * stride + k * dil;
    if i < pad || i - pad >= n { None } else { Some(i - pad) }
}

/// The taps `lo..hi` of a kernel row of `k` taps that read inside an input of `n` for output
/// coordinate `o`: a contiguous range, as the input coordinate grows with the tap.
#[inline(always)]
const fn tap_range(o: usize, k: usize, stride: usize, pad: usize, dil: usize, n: usize) -> (usize, usize) {
    let mut lo = 0;
    while lo < k && tap(o, lo, stride, pad, dil, n).is_none() {
        lo += 1;
    }
    let mut hi = lo;
    while hi < k && tap(o, hi, stride, pad, dil, n).is_some() {
        hi += 1;
    }
    (lo, hi)
}

/// Calls `$f::<G, T, R, N>($args)` with the block size of `T` on this target.
macro_rules! by_block {
    ($f:ident, $g:ty, $t:ty, $n:ident, ($($arg:expr),*)) => {
        match rows_for::<$t>() {
            8 => $f::<$g, $t, 8, $n>($($arg),*),
            6 => $f::<$g, $t, 6, $n>($($arg),*),
            4 => $f::<$g, $t, 4, $n>($($arg),*),
            3 => $f::<$g, $t, 3, $n>($($arg),*),
            2 => $f::<$g, $t, 2, $n>($($arg),*),
            _ => $f::<$g, $t, 1, $n>($($arg),*),
        }
    };
}

/// Checks the lengths every tile kernel of `G` relies on.
fn check<G: ConvGeometry, T>(w: &[T], at: usize, zt: usize) {
    let row = G::IN_CH * G::K_H * G::K_W;
    assert_eq!(w.len(), G::OUT_CH * row, "weights of the convolution");
    assert_eq!(at, G::IN_CH * G::IN_H * G::IN_W, "input features of the convolution");
    assert_eq!(zt, G::OUT_CH * G::OUT_H * G::OUT_W, "output features of the convolution");
}

/// The forward product of a convolution on a tile: `zt = conv(w, at) + b`.
///
/// # Panics
/// If a slice has the wrong length for `G`.
#[inline]
pub fn conv_tile_forward<G: ConvGeometry, T: Scalar, const N: usize>(
    w: &[T],
    bias: Option<&[T]>,
    at: &[Tile<T, N>],
    zt: &mut [Tile<T, N>],
) {
    check::<G, T>(w, at.len(), zt.len());
    if let Some(b) = bias {
        assert_eq!(b.len(), G::OUT_CH, "biases of the convolution");
    }
    by_block!(forward_blocks, G, T, N, (w, bias, at, zt));
}

#[inline(always)]
fn forward_blocks<G: ConvGeometry, T: Scalar, const R: usize, const N: usize>(
    w: &[T],
    bias: Option<&[T]>,
    at: &[Tile<T, N>],
    zt: &mut [Tile<T, N>],
) {
    let mut o = 0;
    while o + R <= G::OUT_CH {
        forward_block::<G, T, R, N>(w, bias, at, zt, o);
        o += R;
    }
    while o < G::OUT_CH {
        forward_block::<G, T, 1, N>(w, bias, at, zt, o);
        o += 1;
    }
}

/// Output channels `o0..o0 + R` at every position.
#[inline(always)]
fn forward_block<G: ConvGeometry, T: Scalar, const R: usize, const N: usize>(
    w: &[T],
    bias: Option<&[T]>,
    at: &[Tile<T, N>],
    zt: &mut [Tile<T, N>],
    o0: usize,
) {
    let (khw, row, hw, p) = (G::K_H * G::K_W, G::IN_CH * G::K_H * G::K_W, G::IN_H * G::IN_W, G::OUT_H * G::OUT_W);
    let rows: [&[T]; R] = core::array::from_fn(|r| &w[(o0 + r) * row..(o0 + r + 1) * row]);
    let b: [T; R] = core::array::from_fn(|r| bias.map_or(T::ZERO, |b| b[o0 + r]));
    for oy in 0..G::OUT_H {
        for ox in 0..G::OUT_W {
            let (lo, hi) = tap_range(ox, G::K_W, G::STRIDE_W, G::PAD_W, G::DIL_W, G::IN_W);
            let mut acc: [Tile<T, N>; R] = core::array::from_fn(|r| [b[r]; N]);
            for ky in 0..G::K_H {
                let Some(iy) = tap(oy, ky, G::STRIDE_H, G::PAD_H, G::DIL_H, G::IN_H) else { continue };
                for c in 0..G::IN_CH {
                    let base = c * hw + iy * G::IN_W;
                    for kx in lo..hi {
                        let ix = ox * G::STRIDE_W + kx * G::DIL_W - G::PAD_W;
                        let a = &at[base + ix];
                        let t = c * khw + ky * G::K_W + kx;
                        for r in 0..R {
                            madd_tile(&mut acc[r], rows[r][t], a);
                        }
                    }
                }
            }
            let q = oy * G::OUT_W + ox;
            for (r, acc) in acc.iter().enumerate() {
                zt[(o0 + r) * p + q] = *acc;
            }
        }
    }
}

/// Accumulates the parameter gradient of a convolution over the first `n` samples of a
/// tile into `g` (the weights, then the biases if `bias`); the columns of `dt` and `at`
/// past `n` are read but not counted.
///
/// # Panics
/// If `n > N` or a slice has the wrong length for `G`.
#[inline]
pub fn conv_tile_weight_grad<G: ConvGeometry, T: Scalar, const N: usize>(
    dt: &[Tile<T, N>],
    at: &[Tile<T, N>],
    n: usize,
    bias: bool,
    g: &mut [T],
) {
    let row = G::IN_CH * G::K_H * G::K_W;
    let weights = G::OUT_CH * row;
    assert!(n <= N, "a tile holds at most {N} samples");
    assert_eq!(g.len(), weights + if bias { G::OUT_CH } else { 0 }, "gradient of the convolution");
    check::<G, T>(&g[..weights], at.len(), dt.len());
    let (gw, gb) = g.split_at_mut(weights);
    by_block!(weight_blocks, G, T, N, (dt, at, n, gw));
    if bias {
        let p = G::OUT_H * G::OUT_W;
        for (o, gb) in gb.iter_mut().enumerate() {
            let mut acc = [T::ZERO; N];
            for d in &dt[o * p..(o + 1) * p] {
                for k in 0..N {
                    acc[k] += d[k];
                }
            }
            *gb += acc[..n].iter().fold(T::ZERO, |s, &v| s + v);
        }
    }
}

#[inline(always)]
fn weight_blocks<G: ConvGeometry, T: Scalar, const R: usize, const N: usize>(
    dt: &[Tile<T, N>],
    at: &[Tile<T, N>],
    n: usize,
    gw: &mut [T],
) {
    let mut o = 0;
    while o + R <= G::OUT_CH {
        weight_block::<G, T, R, N>(dt, at, n, gw, o);
        o += R;
    }
    while o < G::OUT_CH {
        weight_block::<G, T, 1, N>(dt, at, n, gw, o);
        o += 1;
    }
}

/// Output channels `o0..o0 + R`, every tap.
#[inline(always)]
fn weight_block<G: ConvGeometry, T: Scalar, const R: usize, const N: usize>(
    dt: &[Tile<T, N>],
    at: &[Tile<T, N>],
    n: usize,
    gw: &mut [T],
    o0: usize,
) {
    let (row, hw, p) = (G::IN_CH * G::K_H * G::K_W, G::IN_H * G::IN_W, G::OUT_H * G::OUT_W);
    let ds: [&[Tile<T, N>]; R] = core::array::from_fn(|r| &dt[(o0 + r) * p..(o0 + r + 1) * p]);
    for c in 0..G::IN_CH {
        for ky in 0..G::K_H {
            for kx in 0..G::K_W {
                let mut acc = [[T::ZERO; N]; R];
                for oy in 0..G::OUT_H {
                    let Some(iy) = tap(oy, ky, G::STRIDE_H, G::PAD_H, G::DIL_H, G::IN_H) else { continue };
                    let base = c * hw + iy * G::IN_W;
                    for ox in 0..G::OUT_W {
                        let Some(ix) = tap(ox, kx, G::STRIDE_W, G::PAD_W, G::DIL_W, G::IN_W) else { continue };
                        let a = &at[base + ix];
                        let q = oy * G::OUT_W + ox;
                        for r in 0..R {
                            madd_tiles(&mut acc[r], &ds[r][q], a);
                        }
                    }
                }
                let t = (c * G::K_H + ky) * G::K_W + kx;
                for (r, acc) in acc.iter().enumerate() {
                    gw[(o0 + r) * row + t] += acc[..n].iter().fold(T::ZERO, |s, &v| s + v);
                }
            }
        }
    }
}

/// The input delta of a convolution on a tile: `et[i] = Σ w·dt` over the taps that read
/// input feature `i` (the full correlation of δ with the flipped kernel), overwriting `et`.
///
/// # Panics
/// If a slice has the wrong length for `G`.
#[inline]
pub fn conv_tile_input_grad<G: ConvGeometry, T: Scalar, const N: usize>(
    w: &[T],
    dt: &[Tile<T, N>],
    et: &mut [Tile<T, N>],
) {
    check::<G, T>(w, et.len(), dt.len());
    for e in et.iter_mut() {
        *e = [T::ZERO; N];
    }
    by_block!(input_blocks, G, T, N, (w, dt, et));
}

#[inline(always)]
fn input_blocks<G: ConvGeometry, T: Scalar, const R: usize, const N: usize>(
    w: &[T],
    dt: &[Tile<T, N>],
    et: &mut [Tile<T, N>],
) {
    let (khw, row, hw, p) = (G::K_H * G::K_W, G::IN_CH * G::K_H * G::K_W, G::IN_H * G::IN_W, G::OUT_H * G::OUT_W);
    for oy in 0..G::OUT_H {
        for ox in 0..G::OUT_W {
            let q = oy * G::OUT_W + ox;
            let (lo, hi) = tap_range(ox, G::K_W, G::STRIDE_W, G::PAD_W, G::DIL_W, G::IN_W);
            for ky in 0..G::K_H {
                let Some(iy) = tap(oy, ky, G::STRIDE_H, G::PAD_H, G::DIL_H, G::IN_H) else { continue };
                for c in 0..G::IN_CH {
                    let base = c * hw + iy * G::IN_W;
                    let t0 = c * khw + ky * G::K_W;
                    let mut kx = lo;
                    while kx + R <= hi {
                        input_taps::<G, T, R, N>(w, dt, et, row, p, q, base, t0, ox, kx);
                        kx += R;
                    }
                    while kx < hi {
                        input_taps::<G, T, 1, N>(w, dt, et, row, p, q, base, t0, ox, kx);
                        kx += 1;
                    }
                }
            }
        }
    }
}

/// Taps `kx0..kx0 + R` of one kernel row at output position `q`: each δ tile feeds `R` taps.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the position and tap coordinates of the caller's loops
fn input_taps<G: ConvGeometry, T: Scalar, const R: usize, const N: usize>(
    w: &[T],
    dt: &[Tile<T, N>],
    et: &mut [Tile<T, N>],
    row: usize,
    p: usize,
    q: usize,
    base: usize,
    t0: usize,
    ox: usize,
    kx0: usize,
) {
    let idx: [usize; R] = core::array::from_fn(|r| base + ox * G::STRIDE_W + (kx0 + r) * G::DIL_W - G::PAD_W);
    let mut acc: [Tile<T, N>; R] = core::array::from_fn(|r| et[idx[r]]);
    for o in 0..G::OUT_CH {
        let d = &dt[o * p + q];
        let ws = &w[o * row + t0 + kx0..o * row + t0 + kx0 + R];
        for r in 0..R {
            madd_tile(&mut acc[r], ws[r], d);
        }
    }
    for r in 0..R {
        et[idx[r]] = acc[r];
    }
}

#[cfg(test)]
mod tests {
    use super::super::TILE;
    use super::super::conv::{conv_forward, conv_input_grad, conv_weight_grad};
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    macro_rules! geometry {
        ($name:ident: $ic:literal, $oc:literal, [$ih:literal, $iw:literal], [$kh:literal, $kw:literal],
         s [$sh:literal, $sw:literal], p [$ph:literal, $pw:literal], d [$dh:literal, $dw:literal]) => {
            struct $name;
            impl ConvGeometry for $name {
                const IN_CH: usize = $ic;
                const OUT_CH: usize = $oc;
                const IN_H: usize = $ih;
                const IN_W: usize = $iw;
                const K_H: usize = $kh;
                const K_W: usize = $kw;
                const STRIDE_H: usize = $sh;
                const STRIDE_W: usize = $sw;
                const PAD_H: usize = $ph;
                const PAD_W: usize = $pw;
                const DIL_H: usize = $dh;
                const DIL_W: usize = $dw;
                const OUT_H: usize = ($ih + 2 * $ph - $dh * ($kh - 1) - 1) / $sh + 1;
                const OUT_W: usize = ($iw + 2 * $pw - $dw * ($kw - 1) - 1) / $sw + 1;
            }
        };
    }

    geometry!(Plain: 2, 3, [6, 7], [3, 3], s [1, 1], p [0, 0], d [1, 1]);
    geometry!(Odd: 3, 7, [9, 8], [3, 2], s [2, 3], p [1, 2], d [2, 1]);
    geometry!(OneD: 2, 5, [1, 13], [1, 4], s [1, 2], p [0, 3], d [1, 2]);
    geometry!(Wide: 1, 9, [5, 5], [5, 5], s [1, 1], p [2, 2], d [1, 1]);

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    /// Sample `s` of a feature-major tile.
    fn column<const N: usize>(tile: &[Tile<f64, N>], s: usize) -> Vec<f64> {
        tile.iter().map(|f| f[s]).collect()
    }

    fn tile_of<const N: usize>(samples: &[Vec<f64>]) -> Vec<Tile<f64, N>> {
        (0..samples[0].len()).map(|f| core::array::from_fn(|s| samples[s][f])).collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "element {i}: {x} against {y}");
        }
    }

    /// Every tile kernel against the per-sample kernels, sample by sample.
    fn agrees<G: ConvGeometry, const N: usize>() {
        let row = G::IN_CH * G::K_H * G::K_W;
        let (n_in, n_out) = (G::IN_CH * G::IN_H * G::IN_W, G::OUT_CH * G::OUT_H * G::OUT_W);
        let w = values(G::OUT_CH * row, 1);
        let b = values(G::OUT_CH, 2);
        let xs: Vec<Vec<f64>> = (0..N).map(|s| values(n_in, 10 + s as u64)).collect();
        let ds: Vec<Vec<f64>> = (0..N).map(|s| values(n_out, 100 + s as u64)).collect();
        let (at, dt) = (tile_of::<N>(&xs), tile_of::<N>(&ds));

        let mut zt = vec![[0.0; N]; n_out];
        conv_tile_forward::<G, f64, N>(&w, Some(&b), &at, &mut zt);
        let mut et = vec![[7.0; N]; n_in];
        conv_tile_input_grad::<G, f64, N>(&w, &dt, &mut et);
        let mut g = values(w.len() + b.len(), 3);
        let mut want = g.clone();
        conv_tile_weight_grad::<G, f64, N>(&dt, &at, N, true, &mut g);
        for s in 0..N {
            let mut z = vec![0.0; n_out];
            conv_forward::<f64, G>(&w, Some(&b), &xs[s], &mut z);
            close(&column(&zt, s), &z);
            let mut e = vec![0.0; n_in];
            conv_input_grad::<f64, G>(&w, &ds[s], &mut e);
            close(&column(&et, s), &e);
            let (gw, gb) = want.split_at_mut(w.len());
            conv_weight_grad::<f64, G>(&xs[s], &ds[s], 1.0, gw, Some(gb));
        }
        close(&g, &want);
    }

    /// A partial tile: the columns past `n` hold NaN, and the gradient counts `n` samples.
    fn partial<G: ConvGeometry>(n: usize) {
        let row = G::IN_CH * G::K_H * G::K_W;
        let (n_in, n_out) = (G::IN_CH * G::IN_H * G::IN_W, G::OUT_CH * G::OUT_H * G::OUT_W);
        let xs: Vec<Vec<f64>> =
            (0..TILE).map(|s| if s < n { values(n_in, 40 + s as u64) } else { vec![f64::NAN; n_in] }).collect();
        let ds: Vec<Vec<f64>> =
            (0..TILE).map(|s| if s < n { values(n_out, 80 + s as u64) } else { vec![f64::NAN; n_out] }).collect();
        let mut g = vec![0.0; G::OUT_CH * row + G::OUT_CH];
        conv_tile_weight_grad::<G, f64, TILE>(&tile_of(&ds), &tile_of(&xs), n, true, &mut g);
        let mut want = vec![0.0; g.len()];
        for s in 0..n {
            let (gw, gb) = want.split_at_mut(G::OUT_CH * row);
            conv_weight_grad::<f64, G>(&xs[s], &ds[s], 1.0, gw, Some(gb));
        }
        close(&g, &want);
    }

    #[test]
    fn weight_gradient_counts_only_the_samples_of_a_partial_tile() {
        for n in [0, 1, 5, TILE] {
            partial::<Odd>(n);
            partial::<Plain>(n);
        }
    }

    #[test]
    fn tile_kernels_agree_with_per_sample_kernels() {
        agrees::<Plain, TILE>();
        agrees::<Odd, TILE>();
        agrees::<OneD, TILE>();
        agrees::<Wide, TILE>();
        agrees::<Odd, 8>();
        agrees::<Wide, 4>();
    }
}
