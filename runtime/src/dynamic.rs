//! The dynamic reference network.
