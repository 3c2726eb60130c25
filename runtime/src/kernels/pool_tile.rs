//! Pooling over a tile of `N` samples (the mini-batch gradient), with every size a constant
//! of the layer's [`PoolGeometry`]: the per-sample rules of `pool.rs`, applied to every
//! sample of a feature-major tile at once (`xt[f]` holds feature `f` of each sample).
//!
//! Max pooling scans each window's cells in the same row-major order with the same test
//! (`v > best || v is NaN`), lane by lane, so every sample gets the value and the argmax
//! its per-sample pass gets. Its backward runs in place, on the tile that holds the input
//! ([`max_pool_tile_backward_in_place`]), which needs windows that do not overlap:
//! generated code uses it only where the stride equals the window.

use super::Tile;
use super::pool::{PoolGeometry, beats, taps};
use crate::scalar::Scalar;

/// `yt = max` over each window, per sample (padding cells `−∞`; NaN wins).
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn max_pool_tile_forward<T: Scalar, G: PoolGeometry, const N: usize>(xt: &[Tile<T, N>], yt: &mut [Tile<T, N>]) {
    super::pool::check::<G>(xt.len(), yt.len());
    windows::<G>(|w| {
        let mut best = [T::NEG_INFINITY; N];
        w.cells::<G>(|i| {
            let v = &xt[i];
            for k in 0..N {
                best[k] = if beats(v[k], best[k]) { v[k] } else { best[k] };
            }
        });
        yt[w.out] = best;
    });
}

/// The input gradient of max pooling, written over the input tile: on entry `xt` holds the
/// layer's input, on return `∂L/∂x` (`dt[o]` at each window's argmax, per sample, and 0
/// elsewhere, cells outside every window included).
///
/// # Panics
/// If the windows overlap (a stride smaller than the window), or a slice has the wrong
/// length for the geometry.
#[inline]
pub fn max_pool_tile_backward_in_place<T: Scalar, G: PoolGeometry, const N: usize>(
    dt: &[Tile<T, N>],
    xt: &mut [Tile<T, N>],
) {
    super::pool::check::<G>(xt.len(), dt.len());
    assert!(G::STRIDE_H >= G::K_H && G::STRIDE_W >= G::K_W, "windows overlap: the backward cannot run in place");
    // Cells that no window covers get no gradient; every other cell is written by its one
    // window below.
    let covered = |i: usize, s: usize, p: usize, k: usize, out: usize| {
        let j = i + p;
        j / s < out && j % s < k
    };
    for c in 0..G::CH {
        for iy in 0..G::IN_H {
            for ix in 0..G::IN_W {
                if !(covered(iy, G::STRIDE_H, G::PAD_H, G::K_H, G::OUT_H)
                    && covered(ix, G::STRIDE_W, G::PAD_W, G::K_W, G::OUT_W))
                {
                    xt[(c * G::IN_H + iy) * G::IN_W + ix] = [T::ZERO; N];
                }
            }
        }
    }
    windows::<G>(|w| {
        // The argmax of each sample, by the forward's rule, as the number of the winning
        // cell in scan order, kept as a scalar (exact for these small integers) so that
        // the selects run at the width of the values.
        let mut best = [T::NEG_INFINITY; N];
        let mut at = [-T::ONE; N];
        let mut tap = T::ZERO;
        w.cells::<G>(|i| {
            let v = &xt[i];
            for k in 0..N {
                let wins = beats(v[k], best[k]);
                best[k] = if wins { v[k] } else { best[k] };
                at[k] = if wins { tap } else { at[k] };
            }
            tap += T::ONE;
        });
        let d = &dt[w.out];
        let mut tap = T::ZERO;
        w.cells::<G>(|i| {
            let cell = &mut xt[i];
            for k in 0..N {
                cell[k] = if at[k] == tap { d[k] } else { T::ZERO };
            }
            tap += T::ONE;
        });
    });
}

/// `yt = Σ/(K_H·K_W)` over each window, per sample (padding cells 0, counted).
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn avg_pool_tile_forward<T: Scalar, G: PoolGeometry, const N: usize>(xt: &[Tile<T, N>], yt: &mut [Tile<T, N>]) {
    super::pool::check::<G>(xt.len(), yt.len());
    let div = T::from_usize(G::K_H * G::K_W);
    windows::<G>(|w| {
        let mut sum = [T::ZERO; N];
        w.cells::<G>(|i| {
            let v = &xt[i];
            for k in 0..N {
                sum[k] += v[k];
            }
        });
        for s in &mut sum {
            *s /= div;
        }
        yt[w.out] = sum;
    });
}

/// `et = ∂L/∂x` of average pooling (overwritten): every in-range cell of each window gains
/// `dt[o] / (K_H·K_W)`.
///
/// # Panics
/// If a slice has the wrong length for the geometry.
#[inline]
pub fn avg_pool_tile_backward<T: Scalar, G: PoolGeometry, const N: usize>(dt: &[Tile<T, N>], et: &mut [Tile<T, N>]) {
    super::pool::check::<G>(et.len(), dt.len());
    let div = T::from_usize(G::K_H * G::K_W);
    for e in et.iter_mut() {
        *e = [T::ZERO; N];
    }
    windows::<G>(|w| {
        let d = &dt[w.out];
        w.cells::<G>(|i| {
            let cell = &mut et[i];
            for k in 0..N {
                cell[k] += d[k] / div;
            }
        });
    });
}

/// `yt[c] = Σ_s xt[c·SPATIAL + s] / SPATIAL`, per sample.
///
/// # Panics
/// If a slice has the wrong length.
#[inline]
pub fn global_avg_pool_tile_forward<T: Scalar, const CH: usize, const SPATIAL: usize, const N: usize>(
    xt: &[Tile<T, N>],
    yt: &mut [Tile<T, N>],
) {
    assert_eq!(xt.len(), CH * SPATIAL, "global pool input");
    assert_eq!(yt.len(), CH, "global pool output");
    let s = T::from_usize(SPATIAL.max(1));
    for (y, xc) in yt.iter_mut().zip(xt.chunks_exact(SPATIAL.max(1))) {
        let mut sum = [T::ZERO; N];
        for v in xc.iter().take(SPATIAL) {
            for k in 0..N {
                sum[k] += v[k];
            }
        }
        for v in &mut sum {
            *v /= s;
        }
        *y = sum;
    }
}

/// `et[c·SPATIAL + s] = dt[c] / SPATIAL` (overwritten).
///
/// # Panics
/// If a slice has the wrong length.
#[inline]
pub fn global_avg_pool_tile_backward<T: Scalar, const CH: usize, const SPATIAL: usize, const N: usize>(
    dt: &[Tile<T, N>],
    et: &mut [Tile<T, N>],
) {
    assert_eq!(dt.len(), CH, "global pool output gradient");
    assert_eq!(et.len(), CH * SPATIAL, "global pool input gradient");
    let s = T::from_usize(SPATIAL.max(1));
    for (c, d) in dt.iter().enumerate() {
        let g: Tile<T, N> = core::array::from_fn(|k| d[k] / s);
        for e in &mut et[c * SPATIAL..(c + 1) * SPATIAL] {
            *e = g;
        }
    }
}

/// A window: its output index, the in-range window rows `ky_lo..ky_hi` and columns
/// `kx_lo..kx_hi`, and where its cells are.
#[derive(Clone, Copy)]
struct Window {
    out: usize,
    rows: (usize, usize),
    cols: (usize, usize),
    /// `(c·IN_H + oy·SH)·IN_W + ox·SW`: cell `(ky, kx)` is this plus `(ky − PH)·IN_W + kx − PW`.
    origin: usize,
}

impl Window {
    /// The input index of in-range cell `(ky, kx)`.
    #[inline(always)]
    fn cell<G: PoolGeometry>(&self, ky: usize, kx: usize) -> usize {
        self.origin + ky * G::IN_W + kx - G::PAD_H * G::IN_W - G::PAD_W
    }

    /// Calls `f(input index)` for the window's in-range cells in row-major order, over
    /// constant bounds (the loops unroll for small windows), skipping cells in the padding.
    #[inline(always)]
    fn cells<G: PoolGeometry>(&self, mut f: impl FnMut(usize)) {
        for ky in 0..G::K_H {
            if ky < self.rows.0 || ky >= self.rows.1 {
                continue;
            }
            for kx in 0..G::K_W {
                if kx < self.cols.0 || kx >= self.cols.1 {
                    continue;
                }
                f(self.cell::<G>(ky, kx));
            }
        }
    }
}

/// Calls `f` for every window, channel by channel in row-major order of the outputs.
#[inline(always)]
fn windows<G: PoolGeometry>(mut f: impl FnMut(Window)) {
    for c in 0..G::CH {
        for oy in 0..G::OUT_H {
            let rows = taps(oy, G::IN_H, G::STRIDE_H, G::PAD_H, G::K_H);
            for ox in 0..G::OUT_W {
                let cols = taps(ox, G::IN_W, G::STRIDE_W, G::PAD_W, G::K_W);
                let origin = (c * G::IN_H + oy * G::STRIDE_H) * G::IN_W + ox * G::STRIDE_W;
                f(Window { out: (c * G::OUT_H + oy) * G::OUT_W + ox, rows, cols, origin });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pool::{avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward};
    use super::super::{global_avg_pool_backward, global_avg_pool_forward};
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    macro_rules! geometry {
        ($name:ident: $c:literal, [$ih:literal, $iw:literal], [$kh:literal, $kw:literal],
         s [$sh:literal, $sw:literal], p [$ph:literal, $pw:literal]) => {
            struct $name;
            impl PoolGeometry for $name {
                const CH: usize = $c;
                const IN_H: usize = $ih;
                const IN_W: usize = $iw;
                const K_H: usize = $kh;
                const K_W: usize = $kw;
                const STRIDE_H: usize = $sh;
                const STRIDE_W: usize = $sw;
                const PAD_H: usize = $ph;
                const PAD_W: usize = $pw;
                const OUT_H: usize = ($ih + 2 * $ph - $kh) / $sh + 1;
                const OUT_W: usize = ($iw + 2 * $pw - $kw) / $sw + 1;
            }
        };
    }

    geometry!(Halves: 2, [6, 7], [2, 2], s [2, 2], p [0, 0]);
    geometry!(Padded: 3, [5, 5], [2, 3], s [2, 3], p [1, 1]);
    geometry!(OneD: 2, [1, 11], [1, 3], s [1, 3], p [0, 1]);
    geometry!(Overlap: 2, [7, 6], [3, 3], s [2, 1], p [1, 1]);

    /// Values with ties and, in some samples, NaN: the rules that decide the argmax.
    fn sample(n: usize, s: usize) -> Vec<f64> {
        (0..n)
            .map(|i| match (i * 7 + s * 3) % 11 {
                0 => 0.5,
                1 if s % 5 == 4 => f64::NAN,
                r => (r as f64 * 0.37 + s as f64 * 0.11).sin(),
            })
            .collect()
    }

    fn tile_of<const N: usize>(samples: &[Vec<f64>]) -> Vec<Tile<f64, N>> {
        (0..samples[0].len()).map(|f| core::array::from_fn(|s| samples[s][f])).collect()
    }

    fn same(a: f64, b: f64, what: &str) {
        assert!(a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-15, "{what}: {a} vs {b}");
    }

    /// Every tile kernel of `G` against the per-sample kernels, sample by sample.
    fn agrees<G: PoolGeometry, const N: usize>(in_place_max: bool) {
        let (n_in, n_out) = (G::CH * G::IN_H * G::IN_W, G::CH * G::OUT_H * G::OUT_W);
        let xs: Vec<Vec<f64>> = (0..N).map(|s| sample(n_in, s)).collect();
        let ds: Vec<Vec<f64>> = (0..N).map(|s| sample(n_out, s + 40).iter().map(|v| v * 2.0 + 0.1).collect()).collect();
        let (xt, dt) = (tile_of::<N>(&xs), tile_of::<N>(&ds));
        let mut max_y = vec![[0.0; N]; n_out];
        max_pool_tile_forward::<f64, G, N>(&xt, &mut max_y);
        let mut avg_y = vec![[0.0; N]; n_out];
        avg_pool_tile_forward::<f64, G, N>(&xt, &mut avg_y);
        let mut avg_e = vec![[7.0; N]; n_in];
        avg_pool_tile_backward::<f64, G, N>(&dt, &mut avg_e);
        let mut max_e = xt.clone();
        if in_place_max {
            max_pool_tile_backward_in_place::<f64, G, N>(&dt, &mut max_e);
        }
        for s in 0..N {
            let mut y = vec![0.0; n_out];
            max_pool_forward::<f64, G>(&xs[s], &mut y);
            (0..n_out).for_each(|o| same(max_y[o][s], y[o], "max forward"));
            avg_pool_forward::<f64, G>(&xs[s], &mut y);
            (0..n_out).for_each(|o| same(avg_y[o][s], y[o], "avg forward"));
            let mut e = vec![0.0; n_in];
            avg_pool_backward::<f64, G>(&ds[s], &mut e);
            (0..n_in).for_each(|i| same(avg_e[i][s], e[i], "avg backward"));
            if in_place_max {
                let mut e = vec![0.0; n_in];
                max_pool_backward::<f64, G>(&xs[s], &ds[s], &mut e);
                (0..n_in).for_each(|i| same(max_e[i][s], e[i], "max backward"));
            }
        }
    }

    #[test]
    fn tile_pools_agree_with_per_sample_pools() {
        agrees::<Halves, 16>(true);
        agrees::<Padded, 8>(true);
        agrees::<OneD, 4>(true);
        agrees::<Overlap, 16>(false);
    }

    #[test]
    #[should_panic(expected = "windows overlap")]
    fn in_place_max_backward_refuses_overlapping_windows() {
        let mut xt = vec![[0.0; 4]; 2 * 7 * 6];
        let dt = vec![[0.0; 4]; 2 * Overlap::OUT_H * Overlap::OUT_W];
        max_pool_tile_backward_in_place::<f64, Overlap, 4>(&dt, &mut xt);
    }

    #[test]
    fn global_tile_pool_agrees_with_per_sample_pool() {
        let wave = |n: usize, s: usize| -> Vec<f64> { (0..n).map(|i| (i as f64 * 0.3 + s as f64).sin()).collect() };
        let xs: Vec<Vec<f64>> = (0..8).map(|s| wave(3 * 10, s)).collect();
        let ds: Vec<Vec<f64>> = (0..8).map(|s| wave(3, s + 9)).collect();
        let mut yt = vec![[0.0; 8]; 3];
        global_avg_pool_tile_forward::<f64, 3, 10, 8>(&tile_of::<8>(&xs), &mut yt);
        let mut et = vec![[1.0; 8]; 30];
        global_avg_pool_tile_backward::<f64, 3, 10, 8>(&tile_of::<8>(&ds), &mut et);
        for s in 0..8 {
            let mut y = vec![0.0; 3];
            global_avg_pool_forward::<f64, 3, 10>(&xs[s], &mut y);
            (0..3).for_each(|c| assert!((yt[c][s] - y[c]).abs() <= 1e-15 * (1.0 + y[c].abs())));
            let mut e = vec![0.0; 30];
            global_avg_pool_backward::<f64, 3, 10>(&ds[s], &mut e);
            (0..30).for_each(|i| same(et[i][s], e[i], "global backward"));
        }
    }
}
