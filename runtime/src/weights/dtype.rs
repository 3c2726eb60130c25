//! The element types of weight files, as safetensors names them, and their conversion
//! to `f64`.
//!
//! Entry points: [`Dtype`], [`Dtype::parse`], [`Dtype::decode`]. Every float type
//! widens to `f64` exactly (`f16`, `bf16` and `f32` are subsets of `f64`), so the only
//! rounding on load is the final one to the network's scalar type.

use core::fmt;

/// An element type of a safetensors file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `BOOL`, one byte.
    Bool,
    /// `U8`.
    U8,
    /// `I8`.
    I8,
    /// `F8_E4M3`.
    F8E4M3,
    /// `F8_E5M2`.
    F8E5M2,
    /// `I16`.
    I16,
    /// `U16`.
    U16,
    /// `F16`: IEEE 754 half precision.
    F16,
    /// `BF16`: bfloat16, the upper half of an `f32`.
    BF16,
    /// `I32`.
    I32,
    /// `U32`.
    U32,
    /// `F32`.
    F32,
    /// `I64`.
    I64,
    /// `U64`.
    U64,
    /// `F64`.
    F64,
}

impl Dtype {
    const ALL: [Self; 15] = [
        Self::Bool,
        Self::U8,
        Self::I8,
        Self::F8E4M3,
        Self::F8E5M2,
        Self::I16,
        Self::U16,
        Self::F16,
        Self::BF16,
        Self::I32,
        Self::U32,
        Self::F32,
        Self::I64,
        Self::U64,
        Self::F64,
    ];

    /// The name safetensors writes (`"F32"`, `"BF16"`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bool => "BOOL",
            Self::U8 => "U8",
            Self::I8 => "I8",
            Self::F8E4M3 => "F8_E4M3",
            Self::F8E5M2 => "F8_E5M2",
            Self::I16 => "I16",
            Self::U16 => "U16",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::I32 => "I32",
            Self::U32 => "U32",
            Self::F32 => "F32",
            Self::I64 => "I64",
            Self::U64 => "U64",
            Self::F64 => "F64",
        }
    }

    /// The type a safetensors name stands for, if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bytes per element.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Self::Bool | Self::U8 | Self::I8 | Self::F8E4M3 | Self::F8E5M2 => 1,
            Self::I16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    /// `true` for the types a network's weights load from: `F16`, `BF16`, `F32`, `F64`.
    #[must_use]
    pub const fn is_loadable(self) -> bool {
        matches!(self, Self::F16 | Self::BF16 | Self::F32 | Self::F64)
    }

    /// One element of this type, read from the first [`size`](Self::size) bytes of
    /// `bytes` (little endian), widened to `f64` exactly; `None` for a type that is not
    /// [loadable](Self::is_loadable) or too few bytes.
    #[must_use]
    pub fn decode(self, bytes: &[u8]) -> Option<f64> {
        Some(match self {
            Self::F16 => f16_to_f64(u16::from_le_bytes(*bytes.first_chunk()?)),
            Self::BF16 => f64::from(f32::from_bits(u32::from(u16::from_le_bytes(*bytes.first_chunk()?)) << 16)),
            Self::F32 => f64::from(f32::from_le_bytes(*bytes.first_chunk()?)),
            Self::F64 => f64::from_le_bytes(*bytes.first_chunk()?),
            _ => return None,
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// IEEE 754 binary16 → `f64`, exactly (subnormals, infinities and NaN included).
#[must_use]
pub fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let mant = f64::from(h & 0x3ff);
    // 2^-24 is the value of the least significant bit of a subnormal half.
    const TWO_POW_M24: f64 = 1.0 / 16_777_216.0;
    match exp {
        0 => sign * mant * TWO_POW_M24,
        0x1f if mant == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        e => {
            // (1024 + mant) · 2^(e − 25), with the power built from its bits.
            let scale = f64::from_bits(((i64::from(e) - 25 + 1023) as u64) << 52);
            sign * (1024.0 + mant) * scale
        }
    }
}
