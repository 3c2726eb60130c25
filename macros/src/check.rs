//! Every rule a spec must satisfy beyond what each name means on its own. Each check
//! reports at the tokens that break the rule, and all checks run, so every mistake of a
//! spec shows at once.
//!
//! Entry point: [`check`].

use crate::ctxt::Ctxt;
use crate::model::{Network, size};
use crate::parse::Spec;

/// Generated items a layer's accessor would collide with (the fallback stubs every one).
pub const RESERVED: &[&str] = &[
    "zeroed",
    "from_params",
    "into_params",
    "seeded",
    "init_with",
    "params",
    "params_mut",
    "forward",
    "forward_trace",
    "trace_loss",
    "backward",
    "backward_sgd",
    "loss",
    "mean_loss",
    "gradient",
    "input_gradient",
    "train_step",
    "train_batch",
    "batch_gradient",
    "input_backward",
    "sgd_step",
    "train_step_with",
    "INPUT",
    "OUTPUT",
    "PARAMS",
    "TRACE",
    "DERIVATION",
    "LAYOUT",
    "LAYERS",
    "TRAINED",
    "STACK_FORWARD",
    "STACK_BACKWARD",
    "STACK_TRAIN_STEP_WITH",
    "STACK_TRAIN_STEP",
    "STACK_TRY_TRAIN_STEP",
    "STACK_BATCH",
    "PARAMS_BYTES",
    "try_train_step",
    "try_train_step_with",
    "input_jacobian",
    "param_jacobian",
    "hessian_vector_product",
    "buffers",
    "buffers_mut",
    "counters",
    "counters_mut",
    "reset_running_stats",
    "batch_loss",
    "batch_backward",
    "BUFFER_SCALARS",
    "COUNTERS",
    "BATCH_ROW",
    "BUFFER_INIT",
    "BUFFER_LAYOUT",
    "forward_trace_at",
    "advance_dropout",
    "set_dropout_seed",
    "dropout_state",
    "try_train_batch",
    "new_state",
    "step",
    "forward_trace_from",
    "end_state",
    "train_window",
    "STATE",
];

/// The most parameters a network may have: its arrays live on the stack or inline in
/// the struct, and a few hundred megabytes is past what either can hold.
const MAX_PARAMS: usize = 1 << 26;

/// The checks of the layer names, which need no model.
pub fn check_names(cx: &mut Ctxt, spec: &Spec) {
    check_unique_names(cx, spec);
    check_reserved_names(cx, spec);
}

/// Runs every check of the model.
pub fn check(cx: &mut Ctxt, net: &Network) {
    check_last_layer(cx, net);
    check_single_softmax(cx, net);
    check_loss_fits_output(cx, net);
    check_size(cx, net);
    check_batch_level_weights(cx, net);
    check_batch_level_recurrent(cx, net);
}

/// Batch-level training (batch normalization) has no backpropagation through time: a
/// network with both is refused at the batch-level layer.
fn check_batch_level_recurrent(cx: &mut Ctxt, net: &Network) {
    let batch = net.layers.iter().find(|l| l.kind.batch_level());
    let recurrent = net.layers.iter().find(|l| l.kind.step_state().is_some());
    if let (Some(b), Some(r)) = (batch, recurrent) {
        cx.error(
            &b.name,
            format!(
                "`{}` layer `{}` cannot be combined with recurrent layer `{}`: mini-batch training \
                 with batch statistics does not run backpropagation through time; use `LayerNorm` instead",
                b.kind.name(),
                b.name,
                r.name
            ),
        );
    }
}

/// Compiled-in weights (`weights = "file"`) hold parameters only: a network with running
/// statistics would start from a file's weights and default statistics, which is not
/// the trained network.
fn check_batch_level_weights(cx: &mut Ctxt, net: &Network) {
    if let (Some(w), Some(layer)) = (&net.weights, net.layers.iter().find(|l| l.kind.batch_level())) {
        cx.error(
            w,
            format!(
                "option `weights` cannot compile in a network with `{}` layer `{}`: its running statistics \
                 are not compiled in; load the file at run time with `weights::buffers::load_with_buffers`",
                layer.kind.name(),
                layer.name
            ),
        );
    }
}

/// Layer names are unique: each names a parameter tensor (`hidden.weight`) and an
/// accessor (`net.hidden()`).
fn check_unique_names(cx: &mut Ctxt, spec: &Spec) {
    for (i, layer) in spec.layers.iter().enumerate() {
        if let Some(first) = spec.layers[..i].iter().find(|l| l.name == layer.name) {
            cx.error(&layer.name, format!("layer `{}` is declared twice", layer.name));
            cx.error(&first.name, format!("layer `{}` first declared here", first.name));
        }
    }
}

/// A layer name must not collide with a generated method (`net.forward()`), nor its
/// `_mut` accessor with another layer.
fn check_reserved_names(cx: &mut Ctxt, spec: &Spec) {
    for layer in &spec.layers {
        let name = layer.name.to_string();
        if RESERVED.contains(&name.as_str()) {
            let what = if name.chars().any(|c| c.is_ascii_lowercase()) { "method" } else { "constant" };
            cx.error(&layer.name, format!("layer name `{name}` is taken by a generated {what}; choose another name"));
        }
        if let Some(base) = name.strip_suffix("_mut")
            && spec.layers.iter().any(|l| l.name == base)
        {
            cx.error(
                &layer.name,
                format!("layer name `{name}` collides with the accessor `{base}_mut()` of layer `{base}`"),
            );
        }
    }
}

/// The loss reads the last layer's activation, so the network must end in one.
fn check_last_layer(cx: &mut Ctxt, net: &Network) {
    if let Some(last) = net.layers.last()
        && last.kind.activation().is_none()
    {
        cx.error_at(
            last.span,
            format!(
                "the last layer `{}` is `{}`; a network ends in a layer with an activation, such as `Dense<{}, Identity>`",
                last.name,
                last.kind.name(),
                size(&last.output).min(10)
            ),
        );
    }
}

/// A softmax over one value is always 1 and passes no gradient: such a layer (and
/// `cross_entropy`, which needs one at the output) would train nothing. A softmax at
/// every step of a sequence normalizes each step's values, so it is the width of one
/// step that must exceed 1.
fn check_single_softmax(cx: &mut Ctxt, net: &Network) {
    for layer in &net.layers {
        let softmax =
            layer.kind.activation().is_some_and(|a| a.builtin == Some(crate::layers::activation::Builtin::Softmax));
        let width = size(&layer.output) / layer.softmax_groups();
        if softmax && width == 1 && !layer.output.is_empty() {
            let hint = if net.layers.last().is_some_and(|l| l.name == layer.name) {
                "; for two classes use one `Sigmoid` output with `binary_cross_entropy`, or two `Softmax` outputs"
            } else {
                ""
            };
            cx.error_at(
                layer.span,
                format!(
                    "layer `{}` applies `Softmax` to a single output{}, which is always 1 and passes no gradient{hint}",
                    layer.name,
                    if layer.softmax_groups() > 1 { " at every step" } else { "" }
                ),
            );
            if hint.is_empty() {
                continue;
            }
            if net.loss.name() == "cross_entropy" {
                let per_step = if layer.softmax_groups() > 1 { " at every step" } else { "" };
                cx.error_at(
                    net.loss_span,
                    format!("loss `cross_entropy` over a single output{per_step} is always 0 and trains nothing"),
                );
            }
        }
    }
}

/// `cross_entropy` is fused with a softmax output and `binary_cross_entropy` with a
/// sigmoid output: their stable forms and their delta `y − t` hold only there.
fn check_loss_fits_output(cx: &mut Ctxt, net: &Network) {
    let Some((needed, needed_name)) = net.loss.required_output() else { return };
    let Some(last) = net.layers.last() else { return };
    let Some(act) = last.kind.activation() else { return };
    if act.builtin != Some(needed) {
        cx.error_at(
            net.loss_span,
            format!(
                "loss `{}` needs a `{needed_name}` output, but the last layer `{}` uses `{}`",
                net.loss.name(),
                last.name,
                act.name
            ),
        );
        cx.error_at(
            last.span,
            format!("the last layer `{}` would need `{needed_name}` for loss `{}`", last.name, net.loss.name()),
        );
    }
}

/// The whole network must fit in memory as stack arrays.
fn check_size(cx: &mut Ctxt, net: &Network) {
    if net.params > MAX_PARAMS || net.trace_len > MAX_PARAMS || net.input_size() > MAX_PARAMS {
        cx.error(
            &net.ident,
            format!("network `{}` has {} parameters; at most {MAX_PARAMS} are supported", net.ident, net.params),
        );
    }
}
