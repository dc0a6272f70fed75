//! Loading the 2-D float tensors of a model file for the analysis verbs (`ecq analyze`, `ecq eval`).

use std::path::Path;

use ecq::io::FloatTensor;

/// The 2-D float tensors of a safetensors or GGUF file whose names pass `name_ok` and whose
/// dimensions are all at least `min_dim`, in file order, at most `max`.
pub fn load(
    path: &Path,
    name_ok: impl Fn(&str) -> bool,
    max: Option<usize>,
    min_dim: usize,
) -> ecq::Result<Vec<FloatTensor>> {
    let keep = |name: &str, shape: &[usize]| shape.len() == 2 && shape.iter().all(|&d| d >= min_dim) && name_ok(name);
    let limit = max.unwrap_or(usize::MAX);
    let mut head = [0u8; 4];
    let is_gguf = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|_| &head == b"GGUF")
        .map_err(|e| ecq::Error::io(path, e))?;
    if is_gguf {
        let g = ecq::io::Gguf::open(path)?;
        let names: Vec<String> =
            g.tensors().iter().filter(|t| keep(&t.name, &t.shape())).map(|t| t.name.clone()).take(limit).collect();
        names.iter().map(|n| g.tensor_f32(n)).collect()
    } else {
        let all = ecq::io::safetensors::load_floats(path)?;
        Ok(all.into_iter().filter(|t| keep(&t.name, &t.shape)).take(limit).collect())
    }
}
