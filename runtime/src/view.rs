//! Typed views of a layer's parameters inside the flat parameter array.
//!
//! `net.hidden().weight()` is a `&[[T; IN]; OUT]` (PyTorch order, one row per output)
//! made from the flat slice with `as_chunks` and `try_from`: no copy, no `unsafe`.

use crate::scalar::Scalar;

/// Reinterprets `IN·OUT` scalars as `OUT` rows of `IN`.
///
/// # Panics
/// If `flat.len() != IN·OUT` (generated code passes exact ranges, so it never does).
#[inline]
#[must_use]
#[track_caller]
pub fn rows<T, const IN: usize, const OUT: usize>(flat: &[T]) -> &[[T; IN]; OUT] {
    let (chunks, rest) = flat.as_chunks::<IN>();
    assert!(rest.is_empty(), "weight slice is not a whole number of rows");
    match <&[[T; IN]; OUT]>::try_from(chunks) {
        Ok(rows) => rows,
        Err(_) => panic!("weight slice holds {} rows, expected {}", chunks.len(), OUT),
    }
}

/// Mutable [`rows`].
///
/// # Panics
/// If `flat.len() != IN·OUT`.
#[inline]
#[must_use]
#[track_caller]
pub fn rows_mut<T, const IN: usize, const OUT: usize>(flat: &mut [T]) -> &mut [[T; IN]; OUT] {
    let (chunks, rest) = flat.as_chunks_mut::<IN>();
    assert!(rest.is_empty(), "weight slice is not a whole number of rows");
    let n = chunks.len();
    match <&mut [[T; IN]; OUT]>::try_from(chunks) {
        Ok(rows) => rows,
        Err(_) => panic!("weight slice holds {n} rows, expected {OUT}"),
    }
}

/// Reinterprets `N` scalars as `&[T; N]`.
///
/// # Panics
/// If `flat.len() != N`.
#[inline]
#[must_use]
#[track_caller]
pub fn array<T, const N: usize>(flat: &[T]) -> &[T; N] {
    match <&[T; N]>::try_from(flat) {
        Ok(a) => a,
        Err(_) => panic!("slice holds {} scalars, expected {}", flat.len(), N),
    }
}

/// Mutable [`array()`].
///
/// # Panics
/// If `flat.len() != N`.
#[inline]
#[must_use]
#[track_caller]
pub fn array_mut<T, const N: usize>(flat: &mut [T]) -> &mut [T; N] {
    let n = flat.len();
    match <&mut [T; N]>::try_from(flat) {
        Ok(a) => a,
        Err(_) => panic!("slice holds {n} scalars, expected {N}"),
    }
}

/// The parameters of a dense layer: `weight` as `[OUT][IN]`, `bias` if the layer has one.
#[derive(Clone, Copy, Debug)]
pub struct DenseRef<'a, T, const IN: usize, const OUT: usize> {
    weight: &'a [[T; IN]; OUT],
    bias: Option<&'a [T; OUT]>,
}

impl<'a, T: Scalar, const IN: usize, const OUT: usize> DenseRef<'a, T, IN, OUT> {
    /// Makes a view from the layer's slice of the flat array: weight first, then bias.
    ///
    /// # Panics
    /// If the slice length is not `IN·OUT` (+ `OUT` with a bias).
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn new(flat: &'a [T], has_bias: bool) -> Self {
        let (w, b) = flat.split_at(IN * OUT);
        Self { weight: rows(w), bias: has_bias.then(|| array(b)) }
    }

    /// The weight, one row of `IN` per output (PyTorch `layer.weight`).
    #[inline]
    #[must_use]
    pub fn weight(&self) -> &'a [[T; IN]; OUT] {
        self.weight
    }

    /// The bias (PyTorch `layer.bias`), or `None` for a layer declared with `bias = false`.
    #[inline]
    #[must_use]
    pub fn bias(&self) -> Option<&'a [T; OUT]> {
        self.bias
    }
}

/// Mutable parameters of a dense layer.
#[derive(Debug)]
pub struct DenseMut<'a, T, const IN: usize, const OUT: usize> {
    weight: &'a mut [[T; IN]; OUT],
    bias: Option<&'a mut [T; OUT]>,
}

impl<'a, T: Scalar, const IN: usize, const OUT: usize> DenseMut<'a, T, IN, OUT> {
    /// Makes a mutable view from the layer's slice of the flat array.
    ///
    /// # Panics
    /// If the slice length is not `IN·OUT` (+ `OUT` with a bias).
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn new(flat: &'a mut [T], has_bias: bool) -> Self {
        let (w, b) = flat.split_at_mut(IN * OUT);
        Self { weight: rows_mut(w), bias: if has_bias { Some(array_mut(b)) } else { None } }
    }

    /// The weight, mutably.
    #[inline]
    #[must_use]
    pub fn weight_mut(&mut self) -> &mut [[T; IN]; OUT] {
        self.weight
    }

    /// The bias, mutably, or `None` without one.
    #[inline]
    #[must_use]
    pub fn bias_mut(&mut self) -> Option<&mut [T; OUT]> {
        self.bias.as_deref_mut()
    }
}
