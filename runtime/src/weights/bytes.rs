//! The flat parameter array as little-endian bytes, behind a small header: for
//! `#![no_std]` targets without a heap, and for any place where a network's weights are
//! kept as one blob (flash, EEPROM, a file).
//!
//! Entry points: [`encoded_len`], [`write()`], [`read`], [`layout_hash`]; for networks
//! with buffers [`write_with_buffers`] and [`read_with_buffers`].
//!
//! # Format (version 1)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"SPW\0"` |
//! | 4 | 2 | version, `u16` LE (`1`) |
//! | 6 | 1 | scalar type: `1` = `f32`, `2` = `f64` |
//! | 7 | 1 | reserved, `0` |
//! | 8 | 8 | parameter count, `u64` LE |
//! | 16 | 8 | layout hash, `u64` LE ([`layout_hash`]) |
//! | 24 | count × 4 or 8 | the parameters in layout order, LE |
//!
//! The layout hash covers every tensor's name and shape in order, so bytes written by a
//! network with the same parameter count but other layers are refused.
//!
//! A network with buffers (batch normalization's running statistics) is written by
//! [`write_with_buffers`]: the same header, whose count is parameters + float buffers +
//! counters and whose hash also covers every buffer's name, shape and kind
//! ([`buffers_hash`]); then the parameters, the float buffers in the same scalar type,
//! and the counters (`num_batches_tracked`) as `i64` LE.

use core::fmt;

use crate::network::{BufferInfo, Network, ParamInfo, WithBuffers};
use crate::scalar::Scalar;

/// The four bytes every file starts with.
pub const MAGIC: [u8; 4] = *b"SPW\0";
/// The format version this module writes and reads.
pub const VERSION: u16 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 24;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// The 64-bit FNV-1a hash of a layout: for each tensor in order, its name, a `0` byte,
/// its rank and each dimension as `u64` LE. A `const fn`, so a network's hash is a
/// compile-time constant ([`network_hash`]).
#[must_use]
pub const fn layout_hash(layout: &[ParamInfo]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < layout.len() {
        let info = &layout[i];
        h = fnv(h, info.name.as_bytes());
        h = fnv(h, &[0]);
        h = fnv(h, &(info.shape.len() as u64).to_le_bytes());
        let mut d = 0;
        while d < info.shape.len() {
            h = fnv(h, &(info.shape[d] as u64).to_le_bytes());
            d += 1;
        }
        i += 1;
    }
    h
}

/// The layout hash of network `N`, computed at compile time from `N::LAYOUT`.
#[inline]
#[must_use]
pub const fn network_hash<N: Network>() -> u64 {
    const { layout_hash(N::LAYOUT) }
}

/// The scalar type code of the header for `T` (`1` = `f32`, `2` = `f64`).
#[must_use]
pub fn scalar_code<T: Scalar>() -> u8 {
    match core::mem::size_of::<T>() {
        4 => 1,
        _ => 2,
    }
}

fn scalar_name(code: u8) -> &'static str {
    match code {
        1 => "f32",
        2 => "f64",
        _ => "unknown",
    }
}

/// The number of bytes [`write()`] produces for network `N`.
#[inline]
#[must_use]
pub fn encoded_len<N: Network>() -> usize {
    HEADER_LEN + N::PARAMS * core::mem::size_of::<N::Scalar>()
}

/// Why bytes could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BytesError {
    /// The output slice is shorter than [`encoded_len`].
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The input is shorter than the header.
    Truncated {
        /// Bytes given.
        got: usize,
    },
    /// The input does not start with [`MAGIC`].
    BadMagic,
    /// The header names a version this crate does not read.
    UnsupportedVersion(u16),
    /// The scalar type of the file differs from the network's.
    ScalarMismatch {
        /// The file's scalar type code.
        file: u8,
        /// The network's scalar type code.
        network: u8,
    },
    /// The parameter count of the file differs from the network's.
    CountMismatch {
        /// The file's parameter count.
        file: u64,
        /// The network's parameter count.
        network: u64,
    },
    /// The layout hash differs: the file was written by a network with other tensors.
    LayoutMismatch {
        /// The file's layout hash.
        file: u64,
        /// The network's layout hash.
        network: u64,
    },
    /// The input's length differs from the one its header implies.
    LengthMismatch {
        /// Bytes expected from the header.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

impl fmt::Display for BytesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { needed, got } => {
                write!(f, "output buffer holds {got} bytes, the network needs {needed}")
            }
            Self::Truncated { got } => write!(f, "{got} bytes are too few for the {HEADER_LEN}-byte header"),
            Self::BadMagic => write!(f, "not a stackprop weight blob (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "format version {v} is not supported (expected {VERSION})"),
            Self::ScalarMismatch { file, network } => write!(
                f,
                "the file holds {} parameters, the network computes in {}",
                scalar_name(file),
                scalar_name(network)
            ),
            Self::CountMismatch { file, network } => {
                write!(f, "the file holds {file} parameters, the network has {network}")
            }
            Self::LayoutMismatch { file, network } => write!(
                f,
                "the file was written for another layout (hash {file:#018x}, this network's is {network:#018x})"
            ),
            Self::LengthMismatch { expected, got } => {
                write!(f, "the header implies {expected} bytes, the input holds {got}")
            }
        }
    }
}

impl core::error::Error for BytesError {}

/// Writes the header and `net`'s parameters into the start of `out`; returns the number
/// of bytes written ([`encoded_len`]).
///
/// # Errors
/// [`BytesError::BufferTooSmall`] if `out` is shorter than [`encoded_len`]; nothing is
/// written then.
pub fn write<N: Network>(net: &N, out: &mut [u8]) -> Result<usize, BytesError> {
    let needed = encoded_len::<N>();
    if out.len() < needed {
        return Err(BytesError::BufferTooSmall { needed, got: out.len() });
    }
    let code = scalar_code::<N::Scalar>();
    out[0..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6] = code;
    out[7] = 0;
    out[8..16].copy_from_slice(&(N::PARAMS as u64).to_le_bytes());
    out[16..24].copy_from_slice(&network_hash::<N>().to_le_bytes());
    let body = &mut out[HEADER_LEN..needed];
    let params = net.params().as_ref();
    if code == 1 {
        for (chunk, p) in body.chunks_exact_mut(4).zip(params) {
            // Exact: the network computes in f32.
            chunk.copy_from_slice(&(p.to_f64() as f32).to_le_bytes());
        }
    } else {
        for (chunk, p) in body.chunks_exact_mut(8).zip(params) {
            chunk.copy_from_slice(&p.to_f64().to_le_bytes());
        }
    }
    Ok(needed)
}

/// Reads parameters written by [`write()`] into `net`.
///
/// The whole header is checked (magic, version, scalar type, count, layout hash, exact
/// length) before any parameter is written, so on `Err` the network is unchanged.
///
/// # Errors
/// A [`BytesError`] naming the first field that does not match this network.
pub fn read<N: Network>(net: &mut N, bytes: &[u8]) -> Result<(), BytesError> {
    let header: &[u8; HEADER_LEN] = match bytes.first_chunk() {
        Some(h) => h,
        None => return Err(BytesError::Truncated { got: bytes.len() }),
    };
    if header[0..4] != MAGIC {
        return Err(BytesError::BadMagic);
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != VERSION {
        return Err(BytesError::UnsupportedVersion(version));
    }
    let code = scalar_code::<N::Scalar>();
    if header[6] != code {
        return Err(BytesError::ScalarMismatch { file: header[6], network: code });
    }
    let count = u64::from_le_bytes(le8(&header[8..16]));
    if count != N::PARAMS as u64 {
        return Err(BytesError::CountMismatch { file: count, network: N::PARAMS as u64 });
    }
    let hash = u64::from_le_bytes(le8(&header[16..24]));
    if hash != network_hash::<N>() {
        return Err(BytesError::LayoutMismatch { file: hash, network: network_hash::<N>() });
    }
    let expected = encoded_len::<N>();
    if bytes.len() != expected {
        return Err(BytesError::LengthMismatch { expected, got: bytes.len() });
    }
    let body = &bytes[HEADER_LEN..];
    let params = net.params_mut().as_mut();
    if code == 1 {
        for (p, chunk) in params.iter_mut().zip(body.chunks_exact(4)) {
            *p = N::Scalar::from_f64(f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])));
        }
    } else {
        for (p, chunk) in params.iter_mut().zip(body.chunks_exact(8)) {
            *p = N::Scalar::from_f64(f64::from_le_bytes(le8(chunk)));
        }
    }
    Ok(())
}

fn le8(b: &[u8]) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&b[..8]);
    out
}

/// The layout hash of a network with buffers: [`layout_hash`] of its parameters, continued
/// over each buffer's name, a `0` byte, its rank and dimensions as `u64` LE, and `1` for
/// an integer buffer or `0` for a float one.
#[must_use]
pub const fn buffers_hash(params: &[ParamInfo], buffers: &[BufferInfo]) -> u64 {
    let mut h = layout_hash(params);
    let mut i = 0;
    while i < buffers.len() {
        let info = &buffers[i];
        h = fnv(h, info.name.as_bytes());
        h = fnv(h, &[0]);
        h = fnv(h, &(info.shape.len() as u64).to_le_bytes());
        let mut d = 0;
        while d < info.shape.len() {
            h = fnv(h, &(info.shape[d] as u64).to_le_bytes());
            d += 1;
        }
        h = fnv(h, &[info.integer as u8]);
        i += 1;
    }
    h
}

/// Scalars in the body of [`write_with_buffers`]: (floats, counters).
fn counts<N: WithBuffers>(net: &N) -> (usize, usize) {
    (net.param_slice().len() + net.buffer_slice().len(), net.counter_slice().len())
}

/// The number of bytes [`write_with_buffers`] produces for `net`.
#[must_use]
pub fn encoded_len_with_buffers<N: WithBuffers>(net: &N) -> usize {
    let (floats, counters) = counts(net);
    HEADER_LEN + floats * core::mem::size_of::<N::Scalar>() + counters * 8
}

/// Writes the header, `net`'s parameters and its buffers into the start of `out`;
/// returns the number of bytes written ([`encoded_len_with_buffers`]).
///
/// # Errors
/// [`BytesError::BufferTooSmall`] if `out` is too short; nothing is written then.
pub fn write_with_buffers<N: WithBuffers>(net: &N, out: &mut [u8]) -> Result<usize, BytesError> {
    let needed = encoded_len_with_buffers(net);
    if out.len() < needed {
        return Err(BytesError::BufferTooSmall { needed, got: out.len() });
    }
    let (floats, counters) = counts(net);
    let code = scalar_code::<N::Scalar>();
    out[0..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6] = code;
    out[7] = 0;
    out[8..16].copy_from_slice(&((floats + counters) as u64).to_le_bytes());
    out[16..24].copy_from_slice(&buffers_hash(N::PARAM_LAYOUT, N::BUFFERS).to_le_bytes());
    let size = core::mem::size_of::<N::Scalar>();
    let values = net.param_slice().iter().chain(net.buffer_slice());
    let (body, tail) = out[HEADER_LEN..needed].split_at_mut(floats * size);
    for (chunk, p) in body.chunks_exact_mut(size).zip(values) {
        if code == 1 {
            // Exact: the network computes in f32.
            chunk.copy_from_slice(&(p.to_f64() as f32).to_le_bytes());
        } else {
            chunk.copy_from_slice(&p.to_f64().to_le_bytes());
        }
    }
    for (chunk, c) in tail.chunks_exact_mut(8).zip(net.counter_slice()) {
        chunk.copy_from_slice(&c.to_le_bytes());
    }
    Ok(needed)
}

/// Reads parameters and buffers written by [`write_with_buffers`] into `net`; the whole
/// header and length are checked first, so on `Err` the network is unchanged.
///
/// # Errors
/// A [`BytesError`] naming the first field that does not match this network.
pub fn read_with_buffers<N: WithBuffers>(net: &mut N, bytes: &[u8]) -> Result<(), BytesError> {
    let header: &[u8; HEADER_LEN] = match bytes.first_chunk() {
        Some(h) => h,
        None => return Err(BytesError::Truncated { got: bytes.len() }),
    };
    if header[0..4] != MAGIC {
        return Err(BytesError::BadMagic);
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != VERSION {
        return Err(BytesError::UnsupportedVersion(version));
    }
    let code = scalar_code::<N::Scalar>();
    if header[6] != code {
        return Err(BytesError::ScalarMismatch { file: header[6], network: code });
    }
    let (floats, counters) = counts(net);
    let count = u64::from_le_bytes(le8(&header[8..16]));
    if count != (floats + counters) as u64 {
        return Err(BytesError::CountMismatch { file: count, network: (floats + counters) as u64 });
    }
    let hash = u64::from_le_bytes(le8(&header[16..24]));
    let ours = buffers_hash(N::PARAM_LAYOUT, N::BUFFERS);
    if hash != ours {
        return Err(BytesError::LayoutMismatch { file: hash, network: ours });
    }
    let expected = encoded_len_with_buffers(net);
    if bytes.len() != expected {
        return Err(BytesError::LengthMismatch { expected, got: bytes.len() });
    }
    let size = core::mem::size_of::<N::Scalar>();
    let (body, tail) = bytes[HEADER_LEN..].split_at(floats * size);
    let decode = |chunk: &[u8]| {
        if code == 1 {
            N::Scalar::from_f64(f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])))
        } else {
            N::Scalar::from_f64(f64::from_le_bytes(le8(chunk)))
        }
    };
    let (pbody, bbody) = body.split_at(core::mem::size_of_val(net.param_slice()));
    for (p, chunk) in net.param_slice_mut().iter_mut().zip(pbody.chunks_exact(size)) {
        *p = decode(chunk);
    }
    for (b, chunk) in net.buffer_slice_mut().iter_mut().zip(bbody.chunks_exact(size)) {
        *b = decode(chunk);
    }
    for (c, chunk) in net.counter_slice_mut().iter_mut().zip(tail.chunks_exact(8)) {
        *c = i64::from_le_bytes(le8(chunk));
    }
    Ok(())
}
