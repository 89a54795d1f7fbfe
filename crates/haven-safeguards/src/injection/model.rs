//! The embedded linear model: logistic regression over hashed features,
//! weights quantised to one signed byte each.
//!
//! File format (`data/injection-model.bin`, written by
//! `scripts/train-safety-model.py`): the magic `HVSG`, a version byte (1), the
//! feature bits, two zero bytes, the bias and the weight scale as
//! little-endian `f32`, then `2^bits` weights as `i8` (weight = byte × scale).

use std::sync::LazyLock;

use super::features::FEATURE_BITS;

static MODEL_BYTES: &[u8] = include_bytes!("../../data/injection-model.bin");

static EMBEDDED: LazyLock<Result<LinearModel<'static>, ModelError>> = LazyLock::new(|| LinearModel::parse(MODEL_BYTES));

const HEADER: usize = 16;

/// A model file that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Wrong magic or version.
    #[error("not a Haven safety model (magic or version)")]
    Format,
    /// Trained for another feature size than this build computes.
    #[error("the model has {0} feature bits; this build computes {FEATURE_BITS}")]
    FeatureBits(u8),
    /// Shorter or longer than its header says.
    #[error("the model file is {0} bytes, not the size its header gives")]
    Length(usize),
}

/// A parsed model borrowing its weights from the file bytes.
#[derive(Clone, Copy)]
pub struct LinearModel<'a> {
    bias: f32,
    scale: f32,
    weights: &'a [u8],
}

impl std::fmt::Debug for LinearModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearModel").field("bias", &self.bias).field("weights", &self.weights.len()).finish()
    }
}

impl<'a> LinearModel<'a> {
    /// Parses a model file.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ModelError> {
        if bytes.len() < HEADER || &bytes[..4] != b"HVSG" || bytes[4] != 1 {
            return Err(ModelError::Format);
        }
        if u32::from(bytes[5]) != FEATURE_BITS {
            return Err(ModelError::FeatureBits(bytes[5]));
        }
        if bytes.len() != HEADER + (1usize << FEATURE_BITS) {
            return Err(ModelError::Length(bytes.len()));
        }
        let f32_at = |i: usize| f32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Ok(LinearModel { bias: f32_at(8), scale: f32_at(12), weights: &bytes[HEADER..] })
    }

    /// The log-odds of `features` (from [`super::features::featurize`]).
    pub fn logit(&self, features: &[(u32, f32)]) -> f32 {
        let mut sum = 0.0f32;
        for &(bucket, value) in features {
            if let Some(&w) = self.weights.get(bucket as usize) {
                sum += f32::from(w as i8) * value;
            }
        }
        self.bias + sum * self.scale
    }

    /// The probability that `features` come from an attack.
    pub fn probability(&self, features: &[(u32, f32)]) -> f32 {
        1.0 / (1.0 + (-self.logit(features)).exp())
    }
}

/// The model embedded in this build, or why it cannot be used.
pub fn embedded() -> Result<&'static LinearModel<'static>, ModelError> {
    EMBEDDED.as_ref().map_err(|e| *e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_parses() {
        let m = embedded().unwrap();
        assert_eq!(m.weights.len(), 1 << FEATURE_BITS);
    }

    #[test]
    fn bad_files_are_refused() {
        assert_eq!(LinearModel::parse(b"nope").unwrap_err(), ModelError::Format);
        let mut bytes = MODEL_BYTES[..HEADER].to_vec();
        assert_eq!(LinearModel::parse(&bytes).unwrap_err(), ModelError::Length(HEADER));
        bytes[5] = 3;
        assert_eq!(LinearModel::parse(&bytes).unwrap_err(), ModelError::FeatureBits(3));
    }
}
