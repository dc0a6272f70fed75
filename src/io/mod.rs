//! Reading weights: float tensors from safetensors, GGUF files ([`gguf`], including lossless
//! import of GGUF 4/8-bit codes) and the built-in real-weights fixture ([`fixture`]).

pub mod fixture;
pub mod gguf;
pub mod safetensors;

pub use fixture::{DEMO_FIXTURE, load_demo_fixture};
pub use gguf::Gguf;

/// A float tensor held in memory as f32, whatever its stored dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatTensor {
    /// Tensor name as in the file.
    pub name: String,
    /// Shape, outermost first (a linear layer is `[out, in]`).
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl FloatTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// (rows, cols) of a 2-D tensor, or an error naming the tensor.
    pub fn matrix_shape(&self) -> crate::Result<(usize, usize)> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => Err(crate::Error::tensor(&self.name, format!("expected a 2-D matrix, shape is {:?}", self.shape))),
        }
    }
}
