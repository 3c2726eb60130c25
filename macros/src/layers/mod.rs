//! Layer kinds. One file per kind, its forward and backward emission side by side;
//! adding a kind means a new file and one arm in each `match` below.
//!
//! Entry point: [`resolve`] (a spec term → a [`LayerKind`]).

pub mod activation;
pub mod dense;
pub mod flatten;

use syn::Ident;

use crate::ctxt::Ctxt;
use crate::model::{Customs, Shape, Unroll};
use crate::parse::Term;
use activation::Activation;

/// A layer's kind with its resolved options.
#[derive(Clone, Debug)]
pub enum LayerKind {
    Dense(dense::Dense),
    Flatten,
}

/// Every layer kind a spec may name.
pub const NAMES: &str = "`Dense<width, Activation>` or `Flatten`";

impl LayerKind {
    /// The name of the kind as written in specs.
    pub fn kind_name(&self) -> &'static str {
        match self {
            LayerKind::Dense(_) => "Dense",
            LayerKind::Flatten => "Flatten",
        }
    }

    /// The output shape for an input shape.
    pub fn output_shape(&self, input: &[usize]) -> Shape {
        match self {
            LayerKind::Dense(d) => vec![d.width],
            LayerKind::Flatten => vec![crate::model::size(input)],
        }
    }

    /// Parameters the layer owns (weights and biases).
    pub fn param_count(&self, input: &[usize]) -> usize {
        match self {
            LayerKind::Dense(d) => d.param_count(crate::model::size(input)),
            LayerKind::Flatten => 0,
        }
    }

    /// Multiply-adds per sample (decides unrolling).
    pub fn weight_count(&self, input: &[usize]) -> usize {
        match self {
            LayerKind::Dense(d) => crate::model::size(input).saturating_mul(d.width),
            LayerKind::Flatten => 0,
        }
    }

    /// The layer's own `unroll = ...`, if given.
    pub fn unroll(&self) -> Option<Unroll> {
        match self {
            LayerKind::Dense(d) => d.unroll,
            LayerKind::Flatten => None,
        }
    }

    /// The layer's activation, if it has one.
    pub fn activation(&self) -> Option<&Activation> {
        match self {
            LayerKind::Dense(d) => Some(&d.act),
            LayerKind::Flatten => None,
        }
    }
}

/// Resolves a field's spec (`Dense<8, Relu>`) into a layer kind.
pub fn resolve(cx: &mut Ctxt, layer: &Ident, spec: &Term, customs: &Customs) -> Option<LayerKind> {
    let Term::Call { name, args, .. } = spec else {
        cx.error_at(spec.span(), format!("expected a layer such as {NAMES}, found {}", spec.describe()));
        return None;
    };
    match name.to_string().as_str() {
        "Dense" => dense::resolve(cx, layer, name, args, customs).map(LayerKind::Dense),
        "Flatten" => flatten::resolve(cx, args).map(|()| LayerKind::Flatten),
        other => {
            let hint = if crate::layers::activation::NAMES.contains(&format!("`{other}`")) {
                format!("; an activation goes inside a layer, as in `Dense<8, {other}>`")
            } else {
                String::new()
            };
            cx.error(name, format!("unknown layer `{other}`; expected {NAMES}{hint}"));
            None
        }
    }
}
