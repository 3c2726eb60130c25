//! `weights = "path/model.safetensors"`: a network's trained weights read at compile
//! time.
//!
//! Entry point: [`read`]. The path is relative to the crate's manifest directory
//! (`CARGO_MANIFEST_DIR`). The file is parsed with the runtime's safetensors reader and
//! matched strictly against the model's tensors (every tensor present, same shape, a float
//! dtype, nothing else); every mismatch is a compile error at the path, naming the tensor
//! and both shapes. The generated code `include_bytes!`s the file, so Cargo rebuilds the
//! crate when the file changes.

use std::path::PathBuf;

use stackprop_runtime::weights::safetensors as st;
use syn::LitStr;

use crate::ctxt::Ctxt;
use crate::model::{Network, ScalarTy};

/// The weights a file gave, in layout order, and where the file is.
pub struct Weights {
    /// The parameters as the network's scalar type, widened to `f64` exactly.
    pub values: Vec<f64>,
    /// The absolute path, for `include_bytes!`.
    pub path: String,
}

/// Reads and checks the weights file; `None` (with errors in `cx`) if it does not fit.
pub fn read(cx: &mut Ctxt, net: &Network, lit: &LitStr) -> Option<Weights> {
    let rel = lit.value();
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        cx.error(lit, "`weights` needs `CARGO_MANIFEST_DIR` to find the file (build with cargo)");
        return None;
    };
    let path = PathBuf::from(dir).join(&rel);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            cx.error(
                lit,
                format!(
                    "cannot read weights file `{rel}` (paths are relative to the crate's manifest directory; looked at `{}`): {e}",
                    path.display()
                ),
            );
            return None;
        }
    };
    let file = match st::parse(&bytes) {
        Ok(f) => f,
        Err(e) => {
            cx.error(lit, format!("weights file `{rel}`: {e}"));
            return None;
        }
    };
    // Checked first, filled after: the parameter vector is allocated only once every
    // tensor matched, so its size is bounded by the file's (validated) data.
    let mut ok = true;
    let mut expected = Vec::new();
    let mut matched = Vec::new();
    for layer in &net.layers {
        let mut off = layer.offset;
        for tensor in &layer.tensors {
            let name = format!("{}.{}", layer.name, tensor.suffix);
            let range = off..off.saturating_add(tensor.len());
            off = range.end;
            expected.push(name.clone());
            let Some(t) = file.tensor(&name) else {
                cx.error(lit, format!("weights file `{rel}` lacks tensor `{name}` (shape {:?})", tensor.shape));
                ok = false;
                continue;
            };
            if t.shape != tensor.shape {
                cx.error(
                    lit,
                    format!(
                        "tensor `{name}` has shape {:?} in weights file `{rel}`, but the network expects {:?}",
                        t.shape, tensor.shape
                    ),
                );
                ok = false;
                continue;
            }
            if !t.dtype.is_loadable() {
                cx.error(
                    lit,
                    format!(
                        "tensor `{name}` in weights file `{rel}` has dtype {}, expected F16, BF16, F32 or F64",
                        t.dtype
                    ),
                );
                ok = false;
                continue;
            }
            matched.push((range, t));
        }
    }
    for (name, _) in &file.tensors {
        if !expected.contains(name) {
            cx.error(lit, format!("weights file `{rel}` has tensor `{name}`, which the network does not have"));
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let mut values = vec![0.0; net.params];
    for (range, t) in matched {
        let Some(dst) = values.get_mut(range) else { continue };
        for (v, chunk) in dst.iter_mut().zip(t.data.chunks_exact(t.dtype.size())) {
            let x = t.dtype.decode(chunk).unwrap_or(0.0);
            // Rounded once to the network's scalar type.
            *v = match net.scalar {
                ScalarTy::F32 => f64::from(x as f32),
                ScalarTy::F64 => x,
            };
        }
    }
    Some(Weights { values, path: path.display().to_string() })
}
