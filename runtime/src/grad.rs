//! Gradient tools.
