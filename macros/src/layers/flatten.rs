//! `Flatten`: views a multi-dimensional input as a vector, so a dense layer can follow.
//!
//! Forward `y = x` (row-major order), backward `∂L/∂x = ∂L/∂y`: arrays are flat in
//! memory already, so it emits no code; the model only changes the shape.

use crate::ctxt::Ctxt;
use crate::parse::TermArg;

/// Resolves `Flatten` (it takes no arguments).
pub fn resolve(cx: &mut Ctxt, args: &[TermArg]) -> Option<()> {
    if let Some(a) = args.first() {
        cx.error_at(a.value.span(), "`Flatten` takes no arguments");
        return None;
    }
    Some(())
}
