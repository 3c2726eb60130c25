//! The stack each entry point of a network needs, from the arrays the generated code and
//! the runtime's provided methods declare: shown in the derivation and as `STACK_*`
//! constants.
//!
//! Counted: every array a pass declares (a layer's pre-activation and output in forward,
//! its delta and the gradient passed below in backward), the trace and gradient buffers
//! the provided methods put on the stack, and the tiles of the mini-batch path
//! ([`crate::batch::stack_bytes`]). Not counted: registers the compiler spills and
//! copies it makes (small next to the arrays for a looped network), and the caller's own
//! values (the network, the optimizer and its state, wherever the caller keeps them).

use crate::model::{Network, ScalarTy, size};

/// Bytes of stack, per entry point.
#[derive(Clone, Copy, Debug)]
pub struct StackUse {
    /// `forward`, `forward_trace`.
    pub forward: usize,
    /// `backward`, `backward_sgd`, `input_backward`.
    pub backward: usize,
    /// One parameter-sized array, `[T; PARAMS]`: the network, a gradient, a slot of
    /// optimizer state.
    pub params: usize,
    /// `train_step` with plain SGD (fused, no gradient buffer), `train_step_with`,
    /// `try_train_step_with`, `gradient`, `loss`, `input_gradient`.
    pub step_with: usize,
    /// `train_step` with an optimizer that has state: a gradient on the stack.
    pub step: usize,
    /// `try_train_step`: a gradient and a backup of the parameters on the stack.
    pub try_step: usize,
    /// `train_batch`, `batch_gradient` (the gradient buffer is the caller's).
    pub batch: usize,
}

pub fn scalar_bytes(s: ScalarTy) -> usize {
    match s {
        ScalarTy::F32 => 4,
        ScalarTy::F64 => 8,
    }
}

pub fn stack_use(net: &Network) -> StackUse {
    let s = scalar_bytes(net.scalar);
    let mut forward = net.output_size();
    let mut backward = net.input_size();
    for layer in &net.layers {
        if layer.kind.aliases_input() {
            continue;
        }
        let w = size(&layer.output);
        forward = forward.saturating_add(if layer.kind.activation().is_some() { 2 * w } else { w });
        backward = backward
            .saturating_add(w)
            .saturating_add(size(&layer.input))
            .saturating_add(layer.kind.backward_scratch(&layer.input, &layer.output));
    }
    let (forward, backward) = (forward.saturating_mul(s), backward.saturating_mul(s));
    let trace = net.trace_len.saturating_mul(s);
    let params = net.params.saturating_mul(s);
    let pass = forward.max(backward);
    let step_with = trace.saturating_add(pass);
    let batch = match crate::batch::tile_size(net) {
        Some(tile) => crate::batch::stack_bytes(net, tile).saturating_add(pass),
        None => step_with,
    };
    StackUse {
        forward,
        backward,
        params,
        step_with,
        step: step_with.saturating_add(params),
        try_step: step_with.saturating_add(params.saturating_mul(2)),
        batch,
    }
}

/// Bytes as `76 B`, `12 KiB` or `1.5 MiB`.
pub fn human(bytes: usize) -> String {
    if bytes < 1 << 10 {
        format!("{bytes} B")
    } else if bytes < 1 << 20 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

/// The lines of the derivation's "Stack" block.
pub fn doc_lines(net: &Network) -> Vec<String> {
    let u = stack_use(net);
    let network = if net.boxed { "the network's parameters (in their `Box`)" } else { "the network itself" };
    vec![
        "Stack (bytes of arrays each call declares; the network, optimizer state and buffers you pass are yours)"
            .to_owned(),
        format!("  forward, forward_trace: {} (`STACK_FORWARD`)", human(u.forward)),
        format!("  backward, backward_sgd: {} (`STACK_BACKWARD`)", human(u.backward)),
        format!(
            "  train_step with plain SGD, train_step_with, try_train_step_with, gradient: {} (`STACK_TRAIN_STEP_WITH`)",
            human(u.step_with)
        ),
        format!(
            "  train_step with a stateful optimizer (gradient on the stack): {} (`STACK_TRAIN_STEP`)",
            human(u.step)
        ),
        format!("  try_train_step: {} (`STACK_TRY_TRAIN_STEP`)", human(u.try_step)),
        format!("  train_batch, batch_gradient: {} (`STACK_BATCH`)", human(u.batch)),
        format!(
            "  {network}, a gradient, each slot of optimizer state (Adam: 2, SGD with momentum: 1): {} each (`PARAMS_BYTES`)",
            human(u.params)
        ),
    ]
}
