//! Moving a network's weights in and out.
//!
//! - [`bytes`]: the flat parameters as little-endian bytes behind a 24-byte header
//!   (magic, version, scalar type, parameter count, a hash of the layout), to and from a
//!   caller's byte slice: no heap, for `#![no_std]` targets without `alloc`.
//! - [`dtype`]: the element types of weight files (`F16`, `BF16`, `F32`, `F64`, ...) and
//!   their conversion to and from `f64`.
//! - `safetensors` (feature `safetensors`): the safetensors format, read and written
//!   under PyTorch's names and shapes, with strict checking, name mapping and a parser
//!   that returns an `Err` on any malformed file.
//!
//! - `buffers` (feature `safetensors`): parameters and buffers (running statistics,
//!   `num_batches_tracked` as `I64`) of networks with batch normalization.
//!
//! Every loader checks the whole input before it writes a single parameter, so a network
//! is left exactly as it was on any error.

#[cfg(feature = "safetensors")]
pub mod buffers;
pub mod bytes;
pub mod dtype;
#[cfg(feature = "safetensors")]
pub mod safetensors;

pub use bytes::{BytesError, layout_hash};
pub use dtype::Dtype;
