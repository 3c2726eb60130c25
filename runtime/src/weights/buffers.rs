//! Saving and loading networks with buffers (batch normalization's running statistics)
//! in safetensors, as PyTorch's `state_dict` holds them: the parameters and float
//! buffers as floats under their names (`norm.weight`, `norm.running_mean`), and
//! `num_batches_tracked` as a scalar `I64`.
//!
//! Entry points: [`save_with_buffers`] and [`load_with_buffers`]. As every loader here,
//! a load checks the whole file before it writes anything, so an error leaves the
//! network exactly as it was.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::dtype::Dtype;
use super::safetensors::{LoadError, LoadOptions, Problem, SaveDtype, SaveOptions, parse, serialize};
use crate::network::{BufferInfo, ParamInfo, WithBuffers};
use crate::scalar::Scalar;

fn float_bytes<T: Scalar>(values: &[T], dtype: Dtype) -> Vec<u8> {
    let mut data = Vec::with_capacity(values.len() * dtype.size());
    for v in values {
        match dtype {
            Dtype::F32 => data.extend_from_slice(&(v.to_f64() as f32).to_le_bytes()),
            _ => data.extend_from_slice(&v.to_f64().to_le_bytes()),
        }
    }
    data
}

/// A network's parameters and buffers as a safetensors file: the parameters in layout
/// order, then the buffers; floats in `options.dtype`, `num_batches_tracked` as `I64`.
#[must_use]
pub fn save_with_buffers<N: WithBuffers>(net: &N, options: &SaveOptions) -> Vec<u8> {
    let dtype = match options.dtype {
        SaveDtype::Native if core::mem::size_of::<N::Scalar>() == 4 => Dtype::F32,
        SaveDtype::Native | SaveDtype::F64 => Dtype::F64,
        SaveDtype::F32 => Dtype::F32,
    };
    let mut entries: Vec<(String, Dtype, &'static [usize], Vec<u8>)> = Vec::new();
    for info in N::PARAM_LAYOUT {
        let data = float_bytes(&net.param_slice()[info.range()], dtype);
        entries.push((format!("{}{}", options.prefix, info.name), dtype, info.shape, data));
    }
    for info in N::BUFFERS {
        let (dt, data) = if info.integer {
            (Dtype::I64, net.counter_slice()[info.range()].iter().flat_map(|c| c.to_le_bytes()).collect())
        } else {
            (dtype, float_bytes(&net.buffer_slice()[info.range()], dtype))
        };
        entries.push((format!("{}{}", options.prefix, info.name), dt, info.shape, data));
    }
    let tensors: Vec<(&str, Dtype, &[usize], &[u8])> =
        entries.iter().map(|(n, d, s, b)| (n.as_str(), *d, *s, b.as_slice())).collect();
    let metadata: Vec<(&str, &str)> = options.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serialize(&tensors, &metadata)
}

/// Where one of the network's tensors goes.
#[derive(Clone, Copy)]
enum Slot {
    Param(ParamInfo),
    Buffer(BufferInfo),
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Slot::Param(p) => p.name,
            Slot::Buffer(b) => b.name,
        }
    }

    fn shape(self) -> &'static [usize] {
        match self {
            Slot::Param(p) => p.shape,
            Slot::Buffer(b) => b.shape,
        }
    }

    fn integer(self) -> bool {
        matches!(self, Slot::Buffer(b) if b.integer)
    }
}

/// Loads a network's parameters and buffers from a safetensors file's bytes (exact
/// names after `options.prefix`; `num_batches_tracked` as `I64`, or as any float dtype
/// holding an integer, the buffers and parameters as any float dtype).
///
/// # Errors
/// [`LoadError::Format`] for a malformed file, [`LoadError::Mismatch`] listing every
/// problem (missing and unexpected tensors as `options` allow, shapes, dtypes); the
/// network is unchanged in both cases. `options.naming` is not used: names are exact.
pub fn load_with_buffers<N: WithBuffers>(net: &mut N, bytes: &[u8], options: &LoadOptions) -> Result<(), LoadError> {
    let file = parse(bytes)?;
    let slots: Vec<Slot> =
        N::PARAM_LAYOUT.iter().map(|p| Slot::Param(*p)).chain(N::BUFFERS.iter().map(|b| Slot::Buffer(*b))).collect();
    let mut problems = Vec::new();
    let mut found = alloc::vec![None; slots.len()];
    for (name, t) in &file.tensors {
        let target = name.strip_prefix(options.prefix.as_str());
        match target.and_then(|n| slots.iter().position(|s| s.name() == n)) {
            Some(i) => {
                let slot = slots[i];
                if t.shape != slot.shape() {
                    problems.push(Problem::Shape {
                        file_name: name.clone(),
                        name: slot.name(),
                        file: t.shape.clone(),
                        network: slot.shape(),
                    });
                }
                let ok =
                    if slot.integer() { t.dtype == Dtype::I64 || t.dtype.is_loadable() } else { t.dtype.is_loadable() };
                if !ok {
                    problems.push(Problem::Dtype { file_name: name.clone(), dtype: t.dtype });
                }
                found[i] = Some(name.clone());
            }
            None if options.allow_unexpected => {}
            None => problems.push(Problem::Unexpected { name: name.clone() }),
        }
    }
    if !options.allow_missing {
        for (slot, f) in slots.iter().zip(&found) {
            if f.is_none() {
                problems.push(Problem::Missing { name: slot.name(), shape: slot.shape() });
            }
        }
    }
    if !problems.is_empty() {
        return Err(LoadError::Mismatch(problems));
    }
    // Every check passed: nothing below can fail, so the network is never half-written.
    for (slot, f) in slots.iter().zip(&found) {
        let Some(t) = f.as_deref().and_then(|n| file.tensor(n)) else { continue };
        let size = t.dtype.size();
        match slot {
            Slot::Param(p) => {
                for (v, chunk) in net.param_slice_mut()[p.range()].iter_mut().zip(t.data.chunks_exact(size)) {
                    if let Some(x) = t.dtype.decode(chunk) {
                        *v = N::Scalar::from_f64(x);
                    }
                }
            }
            Slot::Buffer(b) if b.integer => {
                for (v, chunk) in net.counter_slice_mut()[b.range()].iter_mut().zip(t.data.chunks_exact(size)) {
                    if t.dtype == Dtype::I64 {
                        let mut raw = [0u8; 8];
                        raw.copy_from_slice(chunk);
                        *v = i64::from_le_bytes(raw);
                    } else if let Some(x) = t.dtype.decode(chunk) {
                        *v = x as i64;
                    }
                }
            }
            Slot::Buffer(b) => {
                for (v, chunk) in net.buffer_slice_mut()[b.range()].iter_mut().zip(t.data.chunks_exact(size)) {
                    if let Some(x) = t.dtype.decode(chunk) {
                        *v = N::Scalar::from_f64(x);
                    }
                }
            }
        }
    }
    Ok(())
}
