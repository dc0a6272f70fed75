//! Lossless import of GGUF Q4_0, Q4_1 and Q8_0 matrices into [`QuantizedMatrix`], and the undoing
//! of llama.cpp's Q/K row permutation.
//!
//! The *codes are kept*, only re-packed from ggml's block layout into ours (MLX packing, group 32):
//!
//! | GGUF | ggml dequant | ecq spec | code | scale | bias |
//! |---|---|---|---|---|---|
//! | Q4_1 | `d*q + m` | q4g32 | `q` | `d` | `m` |
//! | Q4_0 | `d*(q-8)` | q4g32 | `q` | `d` | `-8d` |
//! | Q8_0 | `d*q`, `q` int8 | q8g32 | `q+128` | `d` | `-128d` |
//!
//! **Exactness.** Q4_1 copies both f16 values, so the dequantized weights are bit-identical to
//! ggml's. For Q4_0 and Q8_0 the bias is `d` times a power of two, which is exact in f16 (only the
//! exponent changes, also for subnormal `d`) unless it overflows: `|d| > 8188` (Q4_0) or
//! `|d| > 511.75` (Q8_0), or `d` is not finite. Such blocks are rejected with an error naming
//! the row and block instead of being rounded. Otherwise `d*q' + (-2^k d)` is computed exactly in
//! f32 (`d` has 11 significant bits, `q'` at most 8, so every product and the difference fit in
//! 24 bits), hence it equals ggml's `d*(q-2^k)` as an f32 *value*; only the sign of an exact zero
//! can differ (`x + (-x)` is `+0`, while ggml's `0 * d` is `-0` for negative `d`).
//!
//! In-row groups follow the input dimension in both formats (a GGUF row of `ne0` weights is a
//! sequence of blocks), so the HF-order matrix `[out, in]` maps block `g` of row `r` to group `g`
//! of row `r`.

use half::f16;
use rayon::prelude::*;

use super::dequant::{GgmlType, byte_size};
use super::{FloatTensor, Gguf};
use crate::quant::{AffineSpec, QuantizedMatrix};
use crate::{Error, Result};

impl Gguf {
    /// Imports a 2-D Q4_0, Q4_1 or Q8_0 tensor losslessly (see the [module docs](self)); the
    /// result is `[out, in]` = `[ne1, ne0]`.
    pub fn quantized_matrix(&self, name: &str) -> Result<QuantizedMatrix> {
        let t = self.tensor_info(name)?;
        let [cols, rows] = t.dims[..] else {
            return Err(Error::tensor(name, format!("expected a 2-D tensor, dims are {:?}", t.dims)));
        };
        import_quantized(name, t.ty, self.tensor_data(name)?, rows as usize, cols as usize)
    }
}

/// Imports `rows x cols` weights of a Q4_0, Q4_1 or Q8_0 tensor (ggml block data, rows of `cols`
/// weights in file order) into a [`QuantizedMatrix`] with the identical codes.
pub fn import_quantized(name: &str, ty: GgmlType, data: &[u8], rows: usize, cols: usize) -> Result<QuantizedMatrix> {
    let (bits, bias_mult) = match ty {
        GgmlType::Q4_1 => (4, None),
        GgmlType::Q4_0 => (4, Some(8.0f32)),
        GgmlType::Q8_0 => (8, Some(128.0f32)),
        _ => return Err(Error::tensor(name, format!("lossless import needs Q4_0, Q4_1 or Q8_0, tensor is {ty}"))),
    };
    let spec = AffineSpec::new(bits, 32)?;
    if rows == 0 || cols == 0 || cols % 32 != 0 {
        return Err(Error::tensor(name, format!("{rows}x{cols} is not a non-empty matrix of whole 32-weight blocks")));
    }
    let n = rows.checked_mul(cols).ok_or_else(|| Error::tensor(name, "size overflows"))?;
    let want = byte_size(ty, n as u64).unwrap_or(u64::MAX);
    if data.len() as u64 != want {
        return Err(Error::tensor(
            name,
            format!("{} bytes of {ty} data, expected {want} for {rows}x{cols}", data.len()),
        ));
    }
    let (_, ts) = ty.block_geometry().expect("Q4_0/Q4_1/Q8_0 have a geometry");
    let groups = cols / 32;
    let words = groups * 32 * bits as usize / 32;
    let mut codes = vec![0u32; rows * words];
    let mut scales = vec![f16::ZERO; rows * groups];
    let mut biases = vec![f16::ZERO; rows * groups];
    codes
        .par_chunks_mut(words)
        .zip(scales.par_chunks_mut(groups).zip(biases.par_chunks_mut(groups)))
        .zip(data.par_chunks(groups * ts))
        .enumerate()
        .try_for_each(|(r, ((row_codes, (row_s, row_b)), row_data))| {
            for (g, blk) in row_data.chunks_exact(ts).enumerate() {
                let d = f16::from_le_bytes([blk[0], blk[1]]);
                row_s[g] = d;
                row_b[g] = match bias_mult {
                    None => f16::from_le_bytes([blk[2], blk[3]]),
                    Some(k) => exact_bias(d, k).ok_or_else(|| {
                        Error::tensor(
                            name,
                            format!("row {r} block {g}: scale d = {d} gives a bias -{k}d that is not exact in f16 (|d| <= {})", 65504.0 / k),
                        )
                    })?,
                };
                let out = &mut row_codes[g * bits as usize..(g + 1) * bits as usize];
                match ty {
                    GgmlType::Q4_1 => nibbles_to_words(&blk[4..20], out),
                    GgmlType::Q4_0 => nibbles_to_words(&blk[2..18], out),
                    _ => {
                        for (w, q) in out.iter_mut().zip(blk[2..34].chunks_exact(4)) {
                            // int8 q -> unsigned q + 128 is a flip of the sign bit.
                            *w = u32::from_le_bytes([q[0], q[1], q[2], q[3]]) ^ 0x8080_8080;
                        }
                    }
                }
            }
            Ok::<(), Error>(())
        })?;
    Ok(QuantizedMatrix { spec, rows, cols, codes, scales, biases })
}

/// `-k * d` in f16 when that is exact (k a power of two), else `None`.
fn exact_bias(d: f16, k: f32) -> Option<f16> {
    let want = -k * d.to_f32();
    let b = f16::from_f32(want);
    (want.is_finite() && b.to_f32() == want).then_some(b)
}

/// ggml nibble order (byte `i`: low nibble = weight `i`, high nibble = weight `i + 16`) to MLX
/// words (weight `j` in bits `4j..4j+4` of the block's 128-bit stream).
fn nibbles_to_words(qs: &[u8], out: &mut [u32]) {
    for k in 0..2 {
        let bytes = &qs[8 * k..8 * k + 8];
        let (mut lo, mut hi) = (0u32, 0u32);
        for (i, &b) in bytes.iter().enumerate() {
            lo |= u32::from(b & 0xF) << (4 * i);
            hi |= u32::from(b >> 4) << (4 * i);
        }
        out[k] = lo;
        out[2 + k] = hi;
    }
}

/// Row map that undoes llama.cpp's Q/K permutation: HF row `r` is GGUF row `map[r]`.
///
/// llama.cpp's HF→GGUF converter permutes the output rows of `q_proj` and `k_proj` for models it
/// converts as architecture `llama` (Llama 1-3, Mistral, SmolLM2, ...): within each head of
/// `head_dim` rows, HF row `j*head_dim/2 + i` becomes GGUF row `2i + j` (`j` in 0..2), because
/// llama.cpp's Llama RoPE rotates adjacent pairs `(2i, 2i+1)` while HF's `rotate_half` rotates
/// `(i, i + head_dim/2)`.
///
/// **When to use it:** on `blk.N.attn_q.weight` with `n_head = {arch}.attention.head_count` and
/// on `blk.N.attn_k.weight` with `n_head = {arch}.attention.head_count_kv`, when the weights will
/// be used with HF-style (`rotate_half`, NeoX) RoPE or compared with an HF checkpoint. Do *not*
/// use it when the RoPE rotates adjacent pairs like llama.cpp's for `llama`, nor for
/// architectures whose converter does not permute (qwen2, phi3, gemma, ...: NeoX RoPE on
/// unpermuted weights). Row permutation moves whole rows, so it applies equally to float
/// ([`llama_unpermute_tensor`]) and imported quantized ([`llama_unpermute_quantized`]) weights.
pub fn llama_unpermute_rows(rows: usize, n_head: usize) -> Result<Vec<usize>> {
    if n_head == 0 || rows % n_head != 0 || (rows / n_head) % 2 != 0 {
        return Err(Error::InvalidArgument(format!("{rows} rows cannot be split into {n_head} heads of even size")));
    }
    let hd = rows / n_head;
    let half = hd / 2;
    let mut map = vec![0; rows];
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                map[h * hd + j * half + i] = h * hd + 2 * i + j;
            }
        }
    }
    Ok(map)
}

/// Undoes the Llama Q/K row permutation of a 2-D `[out, in]` tensor (or a 1-D bias); see
/// [`llama_unpermute_rows`].
pub fn llama_unpermute_tensor(t: &FloatTensor, n_head: usize) -> Result<FloatTensor> {
    let (rows, cols) = match t.shape[..] {
        [r] => (r, 1),
        [r, c] => (r, c),
        _ => return Err(Error::tensor(&t.name, format!("expected 1-D or 2-D, shape is {:?}", t.shape))),
    };
    let map = llama_unpermute_rows(rows, n_head).map_err(|e| Error::tensor(&t.name, e.to_string()))?;
    let mut data = Vec::with_capacity(t.data.len());
    for &src in &map {
        data.extend_from_slice(&t.data[src * cols..(src + 1) * cols]);
    }
    Ok(FloatTensor { name: t.name.clone(), shape: t.shape.clone(), data })
}

/// Undoes the Llama Q/K row permutation of an imported matrix (rows move with their scales and
/// biases); see [`llama_unpermute_rows`].
pub fn llama_unpermute_quantized(m: &QuantizedMatrix, n_head: usize) -> Result<QuantizedMatrix> {
    let map = llama_unpermute_rows(m.rows, n_head)?;
    let (w, g) = (m.words_per_row(), m.groups_per_row());
    let mut out = QuantizedMatrix {
        codes: Vec::with_capacity(m.codes.len()),
        scales: Vec::with_capacity(m.scales.len()),
        biases: Vec::with_capacity(m.biases.len()),
        ..*m
    };
    for &src in &map {
        out.codes.extend_from_slice(&m.codes[src * w..(src + 1) * w]);
        out.scales.extend_from_slice(&m.scales[src * g..(src + 1) * g]);
        out.biases.extend_from_slice(&m.biases[src * g..(src + 1) * g]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::dequant::{dequantize, tests::random_blocks};
    use super::*;
    use crate::quant::pack;

    #[test]
    fn import_matches_ggml_dequant_for_all_three_types() {
        let (rows, cols) = (7, 96);
        for ty in [GgmlType::Q4_1, GgmlType::Q4_0, GgmlType::Q8_0] {
            let data = random_blocks(ty, rows * cols / 32, 9 + u64::from(ty.id()));
            let m = import_quantized("t", ty, &data, rows, cols).unwrap();
            m.validate("t").unwrap();
            let ours = m.dequantize();
            let reference = dequantize("t", ty, &data, rows * cols).unwrap();
            for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
                if ty == GgmlType::Q4_1 {
                    assert_eq!(a.to_bits(), b.to_bits(), "{ty} [{i}]");
                } else {
                    // Equal as values; an exact zero may differ in sign (module docs).
                    assert_eq!(a, b, "{ty} [{i}]");
                }
            }
        }
    }

    #[test]
    fn codes_are_identical() {
        // Q4_1 block with d = 1, m = 0 and codes 0..15, 15..0: the unpacked codes are the weights.
        let mut b = vec![0x00, 0x3C, 0, 0];
        b.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let m = import_quantized("t", GgmlType::Q4_1, &b, 1, 32).unwrap();
        let want: Vec<u8> = (0..16).chain((0..16).rev()).collect();
        assert_eq!(m.unpack_row(0), want);
        assert_eq!(m.codes, pack::pack(&want, 4));
        // Q8_0: int8 -1 -> 127, 0 -> 128, -128 -> 0.
        let mut b = vec![0x00, 0x3C];
        b.extend([0xFFu8, 0, 0x80, 0x7F].iter().cycle().take(32));
        let m = import_quantized("t", GgmlType::Q8_0, &b, 1, 32).unwrap();
        assert_eq!(&m.unpack_row(0)[..4], &[127, 128, 0, 255]);
        assert_eq!(m.biases[0].to_f32(), -128.0);
    }

    #[test]
    fn overflowing_bias_is_an_error() {
        // Q8_0 with d = 512: -128 * 512 = -65536 is beyond f16.
        let mut b = f16::from_f32(512.0).to_le_bytes().to_vec();
        b.extend([1u8; 32]);
        let e = import_quantized("blk.3.x", GgmlType::Q8_0, &b, 1, 32).unwrap_err().to_string();
        assert!(e.contains("blk.3.x") && e.contains("row 0 block 0"), "{e}");
        // The largest allowed d is fine, also for Q4_0.
        b[..2].copy_from_slice(&f16::from_f32(511.75).to_le_bytes());
        assert!(import_quantized("t", GgmlType::Q8_0, &b, 1, 32).is_ok());
        let mut b = f16::from_f32(8188.0).to_le_bytes().to_vec();
        b.extend([0x5Au8; 16]);
        assert!(import_quantized("t", GgmlType::Q4_0, &b, 1, 32).is_ok());
        b[..2].copy_from_slice(&f16::from_f32(8192.0).to_le_bytes());
        assert!(import_quantized("t", GgmlType::Q4_0, &b, 1, 32).is_err());
        // Subnormal d: the bias stays exact.
        b[..2].copy_from_slice(&f16::from_bits(0x0003).to_le_bytes());
        let m = import_quantized("t", GgmlType::Q4_0, &b, 1, 32).unwrap();
        assert_eq!(m.biases[0].to_f32(), -8.0 * f16::from_bits(3).to_f32());
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(import_quantized("t", GgmlType::Q4_K, &[0; 144], 1, 256).is_err());
        assert!(import_quantized("t", GgmlType::Q4_1, &[0; 19], 1, 32).is_err());
        assert!(import_quantized("t", GgmlType::Q4_1, &[0; 20], 2, 16).is_err());
        assert!(import_quantized("t", GgmlType::Q4_1, &[], 0, 32).is_err());
    }

    /// llama.cpp's `LlamaModel.permute` (convert_hf_to_gguf.py), HF -> GGUF:
    /// `w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)`.
    fn llama_permute(rows: &[Vec<f32>], n_head: usize) -> Vec<Vec<f32>> {
        let half = rows.len() / n_head / 2;
        let mut out = Vec::new();
        for h in 0..n_head {
            for i in 0..half {
                for j in 0..2 {
                    out.push(rows[h * 2 * half + j * half + i].clone());
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_the_converter_permutation() {
        let (rows, cols, n_head) = (24, 3, 3);
        let hf: Vec<Vec<f32>> = (0..rows).map(|r| (0..cols).map(|c| (r * 10 + c) as f32).collect()).collect();
        let gguf = llama_permute(&hf, n_head);
        let t = FloatTensor { name: "q".into(), shape: vec![rows, cols], data: gguf.concat() };
        assert_eq!(llama_unpermute_tensor(&t, n_head).unwrap().data, hf.concat());

        // Quantized rows move with their scales.
        let w: Vec<f32> = (0..rows * 64).map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5).collect();
        let q = crate::quant::quantize("q", &w, rows, 64, AffineSpec::new(4, 32).unwrap()).unwrap();
        let u = llama_unpermute_quantized(&q, n_head).unwrap();
        let map = llama_unpermute_rows(rows, n_head).unwrap();
        let (dq, du) = (q.dequantize(), u.dequantize());
        for (r, &src) in map.iter().enumerate() {
            assert_eq!(&du[r * 64..(r + 1) * 64], &dq[src * 64..(src + 1) * 64]);
        }
        assert!(llama_unpermute_rows(24, 5).is_err());
        assert!(llama_unpermute_rows(9, 3).is_err());
    }
}
