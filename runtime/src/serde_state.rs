//! serde support (feature `serde`): scalar arrays of any length, networks, optimizer
//! state and training checkpoints.
//!
//! serde's own impls stop at arrays of 32 elements; [`serialize`] and [`deserialize`]
//! take any [`State`] (`[T; N]` of any `N`, or `Vec<T>`) as a sequence of its scalars,
//! `f32` as `f32` and `f64` as `f64`, so every value round-trips bit for bit through a
//! format that keeps floats exactly (serde_json does with its feature `float_roundtrip`;
//! without it, some values parse one ulp off). Optimizers use them
//! for their state fields; every generated network serializes as the sequence of its
//! flat parameters (in `LAYOUT` order); [`Checkpoint`] bundles a network, its
//! optimizer and the step count.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::optim::State;
use crate::scalar::Scalar;

fn is_f32<T: Scalar>() -> bool {
    core::mem::size_of::<T>() == 4
}

/// Serializes the scalars of `state` as a sequence.
///
/// # Errors
/// The serializer's.
pub fn serialize<St: State, Ser: Serializer>(state: &St, ser: Ser) -> Result<Ser::Ok, Ser::Error> {
    let v = state.as_ref();
    if is_f32::<St::Elem>() {
        // Exact: the elements are f32.
        ser.collect_seq(v.iter().map(|x| x.to_f64() as f32))
    } else {
        ser.collect_seq(v.iter().map(|x| x.to_f64()))
    }
}

struct StateVisitor<St>(PhantomData<St>);

impl<'de, St: State> Visitor<'de> for StateVisitor<St> {
    type Value = St;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of {}", St::Elem::NAME)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<St, A::Error> {
        let mut state = St::zeroed();
        // A fixed-size state starts at its size; a growable one starts empty and grows.
        let fixed = state.as_ref().len();
        let mut n = 0;
        loop {
            let next = if is_f32::<St::Elem>() {
                seq.next_element::<f32>()?.map(f64::from)
            } else {
                seq.next_element::<f64>()?
            };
            let Some(x) = next else { break };
            if fixed == 0 {
                state.fit(n + 1);
            } else if n >= fixed {
                return Err(de::Error::invalid_length(n + 1, &self));
            }
            state.as_mut()[n] = St::Elem::from_f64(x);
            n += 1;
        }
        if fixed != 0 && n != fixed {
            return Err(de::Error::invalid_length(n, &self));
        }
        Ok(state)
    }
}

/// Deserializes a sequence of scalars into a state: exactly `N` for `[T; N]`, any number
/// for a `Vec<T>`.
///
/// # Errors
/// The deserializer's, or an invalid length for a fixed-size state.
pub fn deserialize<'de, St: State, D: Deserializer<'de>>(d: D) -> Result<St, D::Error> {
    d.deserialize_seq(StateVisitor(PhantomData))
}

/// A training checkpoint: the network's parameters, the optimizer with its state and
/// hyper-parameters, and the number of steps taken. Resuming from it continues training
/// bit for bit as if it had never stopped (for deterministic data order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint<N, O> {
    /// The network.
    pub network: N,
    /// The optimizer, state included.
    pub optimizer: O,
    /// Steps taken so far.
    pub step: u64,
}

/// `Serialize`/`Deserialize` for a generated network, as the sequence of its flat
/// parameters. Emitted by `#[network]`; expands to nothing without the feature `serde`.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_serde {
    ($name:ident) => {
        impl $crate::serde::Serialize for $name {
            fn serialize<__S: $crate::serde::Serializer>(
                &self,
                __s: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error> {
                $crate::serde_state::serialize(<Self as $crate::network::Network>::params(self), __s)
            }
        }
        impl<'de> $crate::serde::Deserialize<'de> for $name {
            fn deserialize<__D: $crate::serde::Deserializer<'de>>(
                __d: __D,
            ) -> ::core::result::Result<Self, __D::Error> {
                $crate::serde_state::deserialize(__d).map(<Self as $crate::network::Network>::from_params)
            }
        }
    };
}
