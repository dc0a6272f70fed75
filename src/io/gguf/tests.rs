use half::{bf16, f16};

use super::dequant::tests::{SplitMix, random_blocks};
use super::writer::{Writer, array, str_array};
use super::*;

/// Types the reader decodes, with a (rows, cols) that is a whole number of blocks per row.
const DECODED: [(GgmlType, usize, usize); 13] = [
    (GgmlType::F32, 3, 5),
    (GgmlType::F16, 3, 5),
    (GgmlType::BF16, 3, 5),
    (GgmlType::Q4_0, 3, 64),
    (GgmlType::Q4_1, 3, 64),
    (GgmlType::Q5_0, 3, 64),
    (GgmlType::Q5_1, 3, 64),
    (GgmlType::Q8_0, 3, 64),
    (GgmlType::Q2_K, 2, 256),
    (GgmlType::Q3_K, 2, 256),
    (GgmlType::Q4_K, 2, 256),
    (GgmlType::Q5_K, 2, 256),
    (GgmlType::Q6_K, 2, 256),
];

fn float_bytes(ty: GgmlType, vals: &[f32]) -> Vec<u8> {
    vals.iter()
        .flat_map(|&v| match ty {
            GgmlType::F32 => v.to_le_bytes().to_vec(),
            GgmlType::F16 => f16::from_f32(v).to_le_bytes().to_vec(),
            GgmlType::BF16 => bf16::from_f32(v).to_le_bytes().to_vec(),
            _ => unreachable!(),
        })
        .collect()
}

fn tensor_bytes(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
            float_bytes(ty, &(0..rows * cols).map(|i| i as f32 * 0.25 - 1.0).collect::<Vec<_>>())
        }
        _ => random_blocks(ty, rows * cols / ty.block_geometry().unwrap().0, u64::from(ty.id())),
    }
}

/// A file with a bit of every metadata type and one tensor of every decoded type.
fn sample_file(version: u32, alignment: Option<u64>) -> Vec<u8> {
    let mut w = Writer::new();
    w.version = version;
    if let Some(a) = alignment {
        w.alignment = a;
        w.kv_u32("general.alignment", a as u32);
    }
    w.kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 2)
        .kv_f32("llama.rope.freq_base", 10000.0)
        .kv("u8", 0, &[200])
        .kv("i8", 1, &[0xFF])
        .kv("u16", 2, &513u16.to_le_bytes())
        .kv("i16", 3, &(-2i16).to_le_bytes())
        .kv("i32", 5, &(-7i32).to_le_bytes())
        .kv("bool", 7, &[1])
        .kv("u64", 10, &(1u64 << 40).to_le_bytes())
        .kv("i64", 11, &(-3i64).to_le_bytes())
        .kv("f64", 12, &0.5f64.to_le_bytes())
        .kv("tokens", 9, &str_array(&["<s>", "Ġthe", "é"]))
        .kv("scores", 9, &array(6, 2, &[1.5f32.to_le_bytes(), (-2f32).to_le_bytes()].concat()))
        .kv("types", 9, &array(5, 3, &[1i32, 3, -1].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()))
        .kv("u8s", 9, &array(0, 2, &[1, 2]))
        .kv("nested", 9, &array(9, 2, &[array(4, 1, &9u32.to_le_bytes()), array(8, 0, &[])].concat()));
    for (ty, rows, cols) in DECODED {
        w.tensor(&format!("t.{ty}"), &[cols as u64, rows as u64], ty.id(), tensor_bytes(ty, rows, cols));
    }
    w.tensor("bias", &[4], 0, float_bytes(GgmlType::F32, &[1.0, 2.0, 3.0, 4.0]));
    w.finish()
}

#[test]
fn metadata_of_every_type() {
    let g = Gguf::from_bytes(sample_file(3, None), "mem").unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.alignment(), 32);
    assert_eq!(g.meta().architecture().unwrap(), "llama");
    assert_eq!(g.meta().get_u32("llama.block_count").unwrap(), 2);
    assert_eq!(g.meta().get_f32("llama.rope.freq_base").unwrap(), 10000.0);
    assert_eq!(g.meta().get("u8"), Some(&Value::U8(200)));
    assert_eq!(g.meta().get_i32("i8").unwrap(), -1);
    assert_eq!(g.meta().get_u32("u16").unwrap(), 513);
    assert_eq!(g.meta().get_i32("i16").unwrap(), -2);
    assert_eq!(g.meta().get_i32("i32").unwrap(), -7);
    assert!(g.meta().get_bool("bool").unwrap());
    assert_eq!(g.meta().get_u64("u64").unwrap(), 1 << 40);
    assert_eq!(g.meta().get("i64"), Some(&Value::I64(-3)));
    assert_eq!(g.meta().get_f32("f64").unwrap(), 0.5);
    assert_eq!(g.meta().get_str_array("tokens").unwrap(), ["<s>", "Ġthe", "é"]);
    assert_eq!(g.meta().get_f32_array("scores").unwrap(), [1.5, -2.0]);
    assert_eq!(g.meta().get_i32_array("types").unwrap(), [1, 3, -1]);
    assert_eq!(g.meta().get_u32_array("u8s").unwrap(), [1, 2]);
    assert_eq!(g.meta().get_array("nested").unwrap(), &Array::Array(vec![Array::U32(vec![9]), Array::String(vec![])]));
    assert_eq!(g.meta().entries().count(), 17);

    // Errors name the key and the types involved.
    let e = g.meta().get_u32("missing").unwrap_err().to_string();
    assert!(e.contains("`missing` is missing"), "{e}");
    let e = g.meta().get_str("llama.block_count").unwrap_err().to_string();
    assert!(e.contains("is u32, expected string"), "{e}");
    assert!(g.meta().get_u32("i32").unwrap_err().to_string().contains("does not fit u32"));
    assert!(g.meta().get_u32("u64").is_err());
    assert!(g.meta().get_u32_array("types").is_err());
    assert!(g.meta().get_f32_array("tokens").unwrap_err().to_string().contains("array<string>"));
}

#[test]
fn every_tensor_type_decodes_in_hf_shape() {
    for (version, alignment) in [(3, None), (2, None), (3, Some(64)), (3, Some(1))] {
        let g = Gguf::from_bytes(sample_file(version, alignment), "mem").unwrap();
        assert_eq!(g.version(), version);
        assert_eq!(g.alignment(), alignment.unwrap_or(32));
        assert_eq!(g.data_offset() % g.alignment() as usize, 0);
        assert_eq!(g.tensors().len(), DECODED.len() + 1);
        for (ty, rows, cols) in DECODED {
            let name = format!("t.{ty}");
            let info = g.tensor_info(&name).unwrap();
            assert_eq!(
                (info.ty, info.dims.clone(), info.shape()),
                (ty, vec![cols as u64, rows as u64], vec![rows, cols])
            );
            let raw = tensor_bytes(ty, rows, cols);
            assert_eq!(g.tensor_data(&name).unwrap(), &raw[..]);
            let t = g.tensor_f32(&name).unwrap();
            assert_eq!(t.shape, vec![rows, cols]);
            let want = dequantize(&name, ty, &raw, rows * cols).unwrap();
            assert_eq!(t.data, want, "{ty}");
            if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
                assert_eq!(t.data[5], 0.25, "{ty}"); // exact in all three
            }
            if matches!(ty, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0) {
                let q = g.quantized_matrix(&name).unwrap();
                assert_eq!((q.rows, q.cols), (rows, cols));
                assert_eq!(q.dequantize(), t.data, "{ty}");
            } else {
                assert!(g.quantized_matrix(&name).is_err());
            }
        }
        let b = g.tensor_f32("bias").unwrap();
        assert_eq!((b.shape.clone(), b.data), (vec![4], vec![1.0, 2.0, 3.0, 4.0]));
        assert!(g.tensor_f32("nope").unwrap_err().to_string().contains("`nope`"));
    }
}

#[test]
fn unknown_tensor_types_are_listed_but_not_read() {
    let mut w = Writer::new();
    w.tensor("iq", &[256, 1], GgmlType::IQ2_XXS.id(), vec![0; 66]);
    w.tensor("future", &[8], 77, vec![0; 8]);
    let g = Gguf::from_bytes(w.finish(), "mem").unwrap();
    assert_eq!(g.tensor_info("future").unwrap().ty, GgmlType::Unknown(77));
    assert_eq!(g.tensor_data("iq").unwrap().len(), 66);
    assert!(g.tensor_f32("iq").unwrap_err().to_string().contains("cannot dequantize IQ2_XXS"));
    assert!(g.tensor_data("future").is_err());
}

fn parse(bytes: Vec<u8>) -> Result<Gguf> {
    Gguf::from_bytes(bytes, "mem")
}

/// Exercises everything a caller might do with a parsed file.
fn use_everything(g: &Gguf) {
    for (k, v) in g.meta().entries() {
        let _ = (
            g.meta().get_str(k),
            g.meta().get_u32(k),
            g.meta().get_f32(k),
            g.meta().get_str_array(k),
            g.meta().get_i32_array(k),
            v.type_name(),
        );
    }
    for t in g.tensors() {
        let _ = (g.tensor_f32(&t.name), g.quantized_matrix(&t.name), t.shape());
    }
}

#[test]
fn every_truncation_is_an_error() {
    let full = sample_file(3, None);
    use_everything(&parse(full.clone()).unwrap());
    for len in 0..full.len() {
        let e = parse(full[..len].to_vec()).err().unwrap_or_else(|| panic!("prefix of {len} bytes parsed"));
        assert!(matches!(e, Error::InvalidFile { .. }), "{len}: {e}");
    }
}

#[test]
fn random_mutations_never_panic() {
    let full = sample_file(3, None);
    let mut rng = SplitMix(1);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let mut b = full.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let i = (rng.next_u64() % b.len() as u64) as usize;
            // Half the flips hit the header, where the counts and lengths live.
            let i = if rng.next_u64() % 2 == 0 { i % 600.min(b.len()) } else { i };
            match rng.next_u64() % 3 {
                0 => b[i] ^= 1 << (rng.next_u64() % 8),
                1 => b[i] = 0xFF,
                _ => b[i] = rng.next_u64() as u8,
            }
        }
        match parse(b) {
            Ok(g) => {
                use_everything(&g);
                ok += 1;
            }
            Err(_) => err += 1,
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

/// Header with `n_tensors` and `n_kv`, then `rest`.
fn header(version: u32, n_tensors: u64, n_kv: u64, rest: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b.extend(rest);
    b
}

fn kv_bytes(key: &str, ty: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = (key.len() as u64).to_le_bytes().to_vec();
    b.extend(key.as_bytes());
    b.extend(ty.to_le_bytes());
    b.extend(payload);
    b
}

fn err_of(bytes: Vec<u8>) -> String {
    parse(bytes).expect_err("must be rejected").to_string()
}

#[test]
fn hostile_headers_are_rejected_without_allocating() {
    assert!(err_of(b"GGML\x03\0\0\0".to_vec()).contains("bad magic"));
    assert!(err_of(header(1, 0, 0, &[])).contains("version 1"));
    assert!(err_of(header(3u32.swap_bytes(), 0, 0, &[])).contains("big-endian"));
    assert!(err_of(header(9, 0, 0, &[])).contains("unknown GGUF version 9"));
    assert!(err_of(header(3, 0, u64::MAX, &[])).contains("metadata entries cannot fit"));
    assert!(err_of(header(3, 1 << 60, 0, &[])).contains("tensor infos cannot fit"));
    // Huge string, array and nested-array counts.
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 8, &u64::MAX.to_le_bytes()))).contains("string of"));
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 9, &array(8, 1 << 61, &[])))).contains("strings cannot fit"));
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 9, &array(6, u64::MAX, &[])))).contains("cannot fit"));
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 9, &array(9, 1 << 40, &[])))).contains("nested arrays cannot fit"));
    let mut deep = array(4, 0, &[]);
    for _ in 0..6 {
        deep = array(9, 1, &deep);
    }
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 9, &deep))).contains("nested deeper"));
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 13, &[0; 8]))).contains("unknown value type 13"));
    assert!(err_of(header(3, 0, 1, &kv_bytes("k", 8, &[2, 0, 0, 0, 0, 0, 0, 0, 0xC3, 0x28]))).contains("not UTF-8"));
    let two = [kv_bytes("k", 4, &[0; 4]), kv_bytes("k", 4, &[0; 4])].concat();
    assert!(err_of(header(3, 0, 2, &two)).contains("duplicate metadata key `k`"));
    for bad_alignment in [0u32, 3, 1 << 30] {
        let e = err_of(header(3, 0, 1, &kv_bytes("general.alignment", 4, &bad_alignment.to_le_bytes())));
        assert!(e.contains("general.alignment"), "{e}");
    }

    // Tensor infos: too many dims, overflowing dims, partial blocks, misaligned or out-of-file data.
    let info = |name: &str, dims: &[u64], ty: u32, offset: u64| {
        let mut b = (name.len() as u64).to_le_bytes().to_vec();
        b.extend(name.as_bytes());
        b.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| b.extend(d.to_le_bytes()));
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
        b
    };
    let with_data = |infos: Vec<u8>, n: u64, data: usize| {
        let mut b = header(3, n, 0, &infos);
        b.resize(b.len().next_multiple_of(32) + data, 0);
        b
    };
    assert!(err_of(with_data(info("w", &[1; 5], 0, 0), 1, 4)).contains("5 dims"));
    assert!(err_of(with_data(info("w", &[1 << 32, 1 << 32, 1 << 32], 0, 0), 1, 4)).contains("overflow"));
    assert!(err_of(with_data(info("w", &[0, u64::MAX], 0, 0), 1, 4)).contains("out of range"));
    let e = err_of(with_data(info("w", &[1 << 40, 1 << 20], 0, 0), 1, 4));
    assert!(e.contains("tensor `w`") && e.contains("cannot fit"), "{e}");
    assert!(err_of(with_data(info("w", &[48, 2], 2, 0), 1, 64)).contains("whole blocks of 32"));
    assert!(err_of(with_data(info("w", &[4], 0, 4), 1, 64)).contains("not a multiple of the alignment"));
    let e = err_of(with_data(info("w", &[4], 0, 32), 1, 40));
    assert!(e.contains("tensor `w`") && e.contains("past the end"), "{e}");
    assert!(
        err_of(with_data([info("w", &[4], 0, 0), info("w", &[4], 0, 0)].concat(), 2, 16))
            .contains("duplicate tensor `w`")
    );
    assert!(parse(with_data(info("w", &[4], 0, 0), 1, 16)).is_ok());
    // A zero-element tensor and a file with no tensors at all are fine.
    assert!(parse(with_data(info("e", &[0, 5], 0, 0), 1, 0)).is_ok());
    assert!(parse(header(2, 0, 0, &[])).is_ok());
}

/// Cached real file from `tools/fetch-weights.sh smollm2`, if present.
fn smollm2_path() -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("ECQ_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/ecq")))?;
    let p = cache.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    p.exists().then_some(p)
}

#[test]
fn real_smollm2_file() {
    let Some(path) = smollm2_path() else {
        eprintln!("SKIPPED real_smollm2_file: no cached SmolLM2 GGUF (run tools/fetch-weights.sh smollm2)");
        return;
    };
    let g = Gguf::open(&path).unwrap();
    assert_eq!(g.meta().architecture().unwrap(), "llama");
    assert_eq!(g.meta().get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(g.meta().get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(g.meta().get_u32("llama.feed_forward_length").unwrap(), 1536);
    assert_eq!(g.meta().get_u32("llama.attention.head_count").unwrap(), 9);
    assert_eq!(g.meta().get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(g.meta().get_u32("llama.context_length").unwrap(), 8192);
    assert_eq!(g.meta().get_u32("llama.rope.dimension_count").unwrap(), 64);
    assert_eq!(g.meta().get_f32("llama.rope.freq_base").unwrap(), 100_000.0);
    assert_eq!(g.meta().get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(), 1e-5);
    assert_eq!(g.meta().get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(g.meta().get_str("tokenizer.ggml.pre").unwrap(), "smollm");
    assert_eq!(
        (
            g.meta().get_u32("tokenizer.ggml.bos_token_id").unwrap(),
            g.meta().get_u32("tokenizer.ggml.eos_token_id").unwrap()
        ),
        (1, 2)
    );
    assert!(g.meta().get_str("tokenizer.chat_template").unwrap().contains("<|im_start|>"));
    assert_eq!(g.meta().get_i32_array("tokenizer.ggml.token_type").unwrap().len(), 49152);
    assert_eq!(
        &g.meta().get_str_array("tokenizer.ggml.tokens").unwrap()[..3],
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    );
    assert_eq!(g.meta().get_str_array("tokenizer.ggml.merges").unwrap()[0], "Ġ t");
    assert_eq!(g.meta().get_str_array("tokenizer.ggml.tokens").unwrap().len(), 49152);
    assert!(!g.meta().get_str_array("tokenizer.ggml.merges").unwrap().is_empty());
    assert_eq!(g.tensors().len(), 30 * 9 + 2, "9 per layer + token_embd + output_norm (tied output)");

    let q = g.tensor_info("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.ty, q.dims.clone(), q.shape()), (GgmlType::Q4_1, vec![576, 576], vec![576, 576]));
    assert_eq!(g.tensor_info("blk.0.attn_k.weight").unwrap().shape(), vec![192, 576]);
    assert_eq!(g.tensor_info("blk.0.ffn_down.weight").unwrap().shape(), vec![576, 1536]);
    let e = g.tensor_info("token_embd.weight").unwrap();
    assert_eq!((e.ty, e.shape()), (GgmlType::Q8_0, vec![49152, 576]));

    // Shannon entropy of all Q4_1 codes (every linear layer).
    let mut hist = [0u64; 16];
    for t in g.tensors().iter().filter(|t| t.ty == GgmlType::Q4_1) {
        for blk in g.tensor_data(&t.name).unwrap().chunks_exact(20) {
            for &b in &blk[4..] {
                hist[usize::from(b & 0xF)] += 1;
                hist[usize::from(b >> 4)] += 1;
            }
        }
    }
    let n: u64 = hist.iter().sum();
    let h: f64 = hist.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n as f64) * (c as f64 / n as f64).log2()).sum();
    eprintln!("SmolLM2 Q4_1: {n} codes, entropy {h:.4} bits");
    assert!((h - 3.855).abs() < 0.005, "entropy {h}");

    // Dequantization bit-identical to gguf-py 0.19 (FNV-1a of the f32 bits, see tools/gguf-xcheck.py).
    let fnv = |y: &[f32]| {
        y.iter()
            .flat_map(|v| v.to_le_bytes())
            .fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3))
    };
    assert_eq!(fnv(&g.tensor_f32("blk.0.attn_q.weight").unwrap().data), 0x6aaf_dca3_db38_d64c);
    assert_eq!(fnv(&g.tensor_f32("blk.5.attn_norm.weight").unwrap().data), 0x6ee5_41ad_48c0_ebac);
    let emb = g.tensor_f32("token_embd.weight").unwrap();
    assert_eq!(&emb.data[..3], &[-0.106_544_495, 0.032_978_058, 0.048_198_7]);
    let sum: f64 = emb.data.iter().map(|&v| f64::from(v)).sum();
    assert!((sum - -15_353.044_494_152_07).abs() < 1e-6, "{sum}");

    // Lossless import, bit-exact against the GGUF dequantization, and the Q8_0 embedding.
    for name in ["blk.0.attn_q.weight", "blk.29.ffn_down.weight"] {
        let f = g.tensor_f32(name).unwrap();
        let m = g.quantized_matrix(name).unwrap();
        assert_eq!([m.rows, m.cols], [f.shape[0], f.shape[1]]);
        assert!(m.dequantize().iter().zip(&f.data).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}");
    }
    assert_eq!(g.quantized_matrix("token_embd.weight").unwrap().dequantize(), emb.data);
}
