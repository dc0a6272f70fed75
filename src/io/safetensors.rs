//! Float tensors from safetensors files (F32, F16, BF16).

use std::path::Path;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use super::FloatTensor;
use crate::{Error, Result};

/// Reads a whole file into memory, mapping I/O errors to [`Error::Io`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Parses safetensors bytes; `path` only names the source in errors.
pub fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::invalid_file(path, format!("not a safetensors file: {e}")))
}

/// Converts one safetensors view to f32. Errors for dtypes other than F32/F16/BF16.
pub fn to_float(name: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<FloatTensor> {
    let raw = view.data();
    let data: Vec<f32> = match view.dtype() {
        Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => raw.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => raw.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(Error::tensor(name, format!("dtype {other:?} is not a float type (F32, F16, BF16)"))),
    };
    Ok(FloatTensor { name: name.to_string(), shape: view.shape().to_vec(), data })
}

/// Loads every float tensor of a safetensors file, sorted by name. Non-float tensors are skipped
/// (with a log message), so integer buffers such as position ids do not stop a load.
pub fn load_floats(path: &Path) -> Result<Vec<FloatTensor>> {
    let bytes = read_file(path)?;
    load_floats_from_bytes(&bytes, path)
}

/// As [`load_floats`], from bytes already in memory.
pub fn load_floats_from_bytes(bytes: &[u8], path: &Path) -> Result<Vec<FloatTensor>> {
    let st = parse(bytes, path)?;
    let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let view = st.tensor(&name).map_err(|e| Error::invalid_file(path, format!("tensor `{name}`: {e}")))?;
        match view.dtype() {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => out.push(to_float(&name, &view)?),
            d => log::info!("{}: skipping `{name}` ({d:?} is not a float dtype)", path.display()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    #[test]
    fn reads_all_float_dtypes() {
        let f32s: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16s: Vec<u8> = [f16::from_f32(0.5), f16::from_f32(3.0)].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bf16s: Vec<u8> = [bf16::from_f32(-1.0), bf16::from_f32(4.0)].iter().flat_map(|v| v.to_le_bytes()).collect();
        let views = vec![
            ("a", TensorView::new(Dtype::F32, vec![1, 2], &f32s).unwrap()),
            ("b", TensorView::new(Dtype::F16, vec![2], &f16s).unwrap()),
            ("c", TensorView::new(Dtype::BF16, vec![2, 1], &bf16s).unwrap()),
        ];
        let bytes = safetensors::serialize(views, None).unwrap();
        let t = load_floats_from_bytes(&bytes, Path::new("mem")).unwrap();
        assert_eq!(t[0].data, vec![1.5, -2.0]);
        assert_eq!(t[1].data, vec![0.5, 3.0]);
        assert_eq!(t[2].data, vec![-1.0, 4.0]);
        assert_eq!(t[2].shape, vec![2, 1]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(load_floats_from_bytes(b"not safetensors at all", Path::new("x")).is_err());
    }
}
