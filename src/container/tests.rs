//! Round trips of every kind, the file layout, conversion from GGUF and safetensors, and the
//! errors a reader gives for malformed files.

use std::path::Path;

use half::f16;
use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::io::gguf::dequant::tests::random_blocks;
use crate::io::gguf::writer::Writer;
use crate::quant::{AffineSpec, QuantizedMatrix, affine::SUPPORTED_BITS, affine::SUPPORTED_GROUP_SIZES, quantize};
use crate::rng::Rng;
use crate::weights::{Matrix, WeightFormat};

fn quantized(rows: usize, cols: usize, bits: u32, gs: u32, seed: u64) -> QuantizedMatrix {
    let w = Rng::new(seed).weights(rows * cols, 0.05);
    quantize("t", &w, rows, cols, AffineSpec::new(bits, gs).unwrap()).unwrap()
}

/// Writes, reads back, checks equality and returns the bytes.
fn round_trip(tensors: Vec<Tensor>) -> (Container, Vec<u8>) {
    let c = Container::new(tensors).unwrap();
    let bytes = c.to_bytes();
    assert_eq!(bytes.len(), c.file_len());
    let back = Container::from_bytes(&bytes).unwrap();
    assert_eq!(back, c);
    (back, bytes)
}

#[test]
fn every_affine_format_and_odd_shape_round_trips_bit_exactly() {
    for bits in SUPPORTED_BITS {
        for gs in SUPPORTED_GROUP_SIZES {
            for (rows, cols) in [(67, 200), (1, 32), (3, 1), (2, 130)] {
                let m = quantized(rows, cols, bits, gs, u64::from(bits * gs) + rows as u64);
                let tensors = [Coding::Rans, Coding::Packed, Coding::Auto]
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| Tensor::affine(&format!("w{i}"), m.clone(), c).unwrap())
                    .collect::<Vec<_>>();
                assert_eq!(tensors[0].kind(), Kind::AffineRans);
                assert_eq!(tensors[1].kind(), Kind::Affine);
                assert_eq!(tensors[0].checksum(), tensors[1].checksum(), "checksum is independent of coding");
                let (c, _) = round_trip(tensors);
                for t in c.tensors() {
                    assert_eq!(
                        t.decode_cpu().unwrap(),
                        Matrix::Affine(m.clone()),
                        "q{bits}g{gs} {rows}x{cols} {}",
                        t.kind()
                    );
                    let codes = t.codes_cpu().unwrap().unwrap();
                    assert_eq!(codes.len(), rows * cols);
                    t.check_codes(&codes, "test").unwrap();
                }
            }
        }
    }
}

#[test]
fn raw_tensors_of_any_rank_round_trip() {
    let mut rng = Rng::new(5);
    let norm = rng.weights(576, 1.0);
    let cube: Vec<f16> = rng.weights(2 * 3 * 5, 1.0).into_iter().map(f16::from_f32).collect();
    let tensors = vec![
        Tensor::f32("norm", vec![576], norm.clone()).unwrap(),
        Tensor::f16("cube", vec![2, 3, 5], cube.clone()).unwrap(),
        Tensor::f32("scalar", vec![], vec![-0.0]).unwrap(),
        Tensor::f16("empty", vec![0, 7], vec![]).unwrap(),
    ];
    let (c, _) = round_trip(tensors);
    assert_eq!(c.tensors()[0].decode_cpu().unwrap(), Matrix::F32 { rows: 1, cols: 576, data: norm });
    assert_eq!(c.tensors()[1].decode_cpu().unwrap(), Matrix::F16 { rows: 6, cols: 5, data: cube });
    let Matrix::F32 { rows: 1, cols: 1, data } = c.tensors()[2].decode_cpu().unwrap() else { panic!("scalar") };
    assert_eq!(data[0].to_bits(), (-0.0f32).to_bits());
    assert_eq!(c.tensors()[3].decode_cpu().unwrap(), Matrix::F16 { rows: 0, cols: 7, data: vec![] });
    assert!(c.tensors()[0].codes_cpu().unwrap().is_none());
    assert!(Tensor::f32("bad", vec![2, 3], vec![0.0; 5]).is_err());
}

#[test]
fn auto_coding_uses_rans_only_when_it_pays() {
    // Trained-like weights at per-row scale: peaked codes, rANS pays.
    let m = quantized(64, 512, 4, 128, 1);
    assert_eq!(Tensor::affine("t", m, Coding::Auto).unwrap().kind(), Kind::AffineRans);
    // Uniformly random 8-bit codes: nothing to gain, stays packed.
    let mut rng = Rng::new(2);
    let spec = AffineSpec::new(8, 64).unwrap();
    let m = QuantizedMatrix {
        spec,
        rows: 16,
        cols: 256,
        codes: (0..16 * 64).map(|_| rng.next_u64() as u32).collect(),
        scales: vec![f16::ONE; 64],
        biases: vec![f16::ZERO; 64],
    };
    assert_eq!(Tensor::affine("t", m, Coding::Auto).unwrap().kind(), Kind::Affine);
}

#[test]
fn non_zero_padding_and_bad_arrays_are_rejected_on_write() {
    let mut m = quantized(2, 40, 4, 32, 3);
    m.codes[7] |= 0x8000_0000; // Row 0 holds 40 codes in 8 words: bits past code 39 are padding.
    let e = Tensor::affine("pad", m, Coding::Packed).unwrap_err().to_string();
    assert!(e.contains("pad") && e.contains("padding"), "{e}");
    let mut m = quantized(2, 40, 4, 32, 3);
    m.scales.pop();
    assert!(Tensor::affine("t", m, Coding::Auto).is_err());
    let t = Tensor::f32("x", vec![1], vec![1.0]).unwrap();
    assert!(Container::new(vec![t.clone(), t]).is_err());
}

/// The JSON header and data section of a file.
fn split(bytes: &[u8]) -> (serde_json::Map<String, Value>, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), bytes[8 + n..].to_vec())
}

fn join(header: &serde_json::Map<String, Value>, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

fn sample() -> Vec<Tensor> {
    vec![
        Tensor::affine("blk.0.w", quantized(67, 200, 4, 64, 9), Coding::Rans).unwrap(),
        Tensor::affine("blk.0.v", quantized(5, 96, 3, 32, 10), Coding::Packed).unwrap(),
        Tensor::f32("blk.0.norm", vec![200], Rng::new(11).weights(200, 1.0)).unwrap(),
        Tensor::f16("emb", vec![3, 4], (0..12).map(|i| f16::from_f32(i as f32)).collect()).unwrap(),
    ]
}

#[test]
fn files_are_safetensors_with_aligned_arrays_and_exact_sizes() {
    let (c, bytes) = round_trip(sample());
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "blk.0.norm.data",
            "blk.0.v.biases",
            "blk.0.v.codes",
            "blk.0.v.scales",
            "blk.0.w.biases",
            "blk.0.w.offsets",
            "blk.0.w.scales",
            "blk.0.w.states",
            "blk.0.w.words",
            "emb.data"
        ]
    );
    for (name, view) in st.tensors() {
        let offset = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
        assert_eq!(offset % (view.dtype().bitsize() / 8), 0, "{name} at {offset}");
    }
    let (header, _) = split(&bytes);
    let meta = header["__metadata__"].as_object().unwrap();
    assert_eq!(meta["ecq.version"], "1");
    assert_eq!(meta["ecq.tensors"], r#"["blk.0.w","blk.0.v","blk.0.norm","emb"]"#);
    let entry: Value = serde_json::from_str(meta["ecq.tensor.blk.0.w"].as_str().unwrap()).unwrap();
    assert_eq!(entry["kind"], "affine-rans");
    assert_eq!(entry["shape"], serde_json::json!([67, 200]));
    assert_eq!(entry["checksum"], format!("{:016x}", c.tensors()[0].checksum()));
    // Stored sizes account for every byte but a small fixed overhead.
    let sizes = c.stored_sizes();
    let sum: usize = sizes.iter().map(StoredSize::total).sum();
    let fixed = bytes.len() - sum;
    assert!(fixed < 100, "fixed overhead {fixed}");
    let empty = Container::new(vec![]).unwrap().to_bytes();
    // The empty file's header, plus the list's quotes and commas, plus at most 7 bytes of padding.
    assert!(fixed >= empty.len() && fixed <= empty.len() + 4 * 5 + 7, "{fixed} vs {}", empty.len());
    let s = sizes[0];
    let enc = c.tensors()[0].rans().unwrap();
    assert_eq!((s.codes, s.states, s.offsets), (enc.sizes().words, enc.sizes().states, enc.sizes().offsets));
    assert_eq!(s.scales, 2 * 2 * 67 * 4);
    assert_eq!(sizes[2].codes, 800);
}

#[test]
fn same_tensors_give_the_same_bytes() {
    assert_eq!(Container::new(sample()).unwrap().to_bytes(), Container::new(sample()).unwrap().to_bytes());
}

type HeaderEdit = dyn FnOnce(&mut serde_json::Map<String, Value>, &mut Vec<u8>);

/// Applies `edit` to the header of a valid file and returns the reader's error message.
fn header_error(edit: impl FnOnce(&mut serde_json::Map<String, Value>, &mut Vec<u8>)) -> ContainerError {
    let bytes = Container::new(sample()).unwrap().to_bytes();
    let (mut header, mut data) = split(&bytes);
    edit(&mut header, &mut data);
    match Container::from_bytes(&join(&header, &data)) {
        Ok(_) => panic!("the edited file was accepted"),
        Err(e) => e,
    }
}

fn set_meta(h: &mut serde_json::Map<String, Value>, key: &str, value: Option<&str>) {
    let meta = h["__metadata__"].as_object_mut().unwrap();
    match value {
        Some(v) => meta.insert(key.into(), v.into()),
        None => meta.remove(key),
    };
}

fn edit_entry(h: &mut serde_json::Map<String, Value>, name: &str, f: impl FnOnce(&mut Value)) {
    let key = format!("ecq.tensor.{name}");
    let mut e: Value = serde_json::from_str(h["__metadata__"][&key].as_str().unwrap()).unwrap();
    f(&mut e);
    set_meta(h, &key, Some(&e.to_string()));
}

#[test]
fn malformed_headers_give_typed_errors_naming_the_tensor_and_part() {
    let e = header_error(|h, _| set_meta(h, "ecq.version", Some("2")));
    assert_eq!(e, ContainerError::Version("2".into()));
    let e = header_error(|h, _| set_meta(h, "ecq.version", None));
    assert!(matches!(e, ContainerError::File(ref m) if m.contains("not an ecq container")), "{e}");
    let e = header_error(|h, _| set_meta(h, "ecq.tensor.ghost", Some("{}")));
    assert!(e.to_string().contains("ecq.tensor.ghost"), "{e}");
    let e = header_error(|h, _| set_meta(h, "ecq.tensors", Some(r#"["emb","emb"]"#)));
    assert!(e.to_string().contains("twice"), "{e}");
    // Other metadata is allowed.
    let bytes = Container::new(sample()).unwrap().to_bytes();
    let (mut h, d) = split(&bytes);
    set_meta(&mut h, "source", Some("test"));
    assert!(Container::from_bytes(&join(&h, &d)).is_ok());

    let cases: Vec<(&str, Part, Box<HeaderEdit>)> = vec![
        ("blk.0.w", Part::Metadata, Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["bits"] = 5.into()))),
        ("blk.0.w", Part::Metadata, Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["block_rows"] = 0.into()))),
        ("blk.0.w", Part::Metadata, Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["bits"] = 2.into()))),
        ("blk.0.w", Part::Metadata, Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["extra"] = 1.into()))),
        // Biases that are stored are not symmetric ones.
        ("blk.0.w", Part::Biases, Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["symmetric"] = true.into()))),
        (
            "blk.0.w",
            Part::Metadata,
            Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["shape"] = serde_json::json!([67]))),
        ),
        ("blk.0.w", Part::States, Box::new(|h, _| h["blk.0.w.states"]["dtype"] = "F32".into())),
        ("blk.0.w", Part::Scales, Box::new(|h, _| h["blk.0.w.scales"]["shape"] = serde_json::json!([4, 67]))),
        ("blk.0.w", Part::Words, Box::new(|h, _| edit_entry(h, "blk.0.w", |e| e["num_words"] = 1_000_000.into()))),
        (
            "blk.0.w",
            Part::Offsets,
            Box::new(|h, _| {
                h.remove("blk.0.w.offsets");
            }),
        ),
        (
            "blk.0.v",
            Part::Data,
            Box::new(|h, _| {
                let v = h.remove("blk.0.v.codes").unwrap();
                h.insert("blk.0.v.data".into(), v);
            }),
        ),
        ("emb", Part::Metadata, Box::new(|h, _| set_meta(h, "ecq.tensor.emb", None))),
        ("emb", Part::Metadata, Box::new(|h, _| set_meta(h, "ecq.tensor.emb", Some("{not json")))),
        ("emb", Part::Metadata, Box::new(|h, _| edit_entry(h, "emb", |e| e["checksum"] = "xyz".into()))),
    ];
    for (tensor, part, edit) in cases {
        let e = header_error(edit);
        let ContainerError::Tensor { tensor: t, part: p, .. } = &e else { panic!("{tensor} {part}: {e}") };
        assert_eq!((t.as_str(), *p), (tensor, part), "{e}");
        assert!(e.to_string().contains(tensor), "{e}");
    }
    // A frequency table that does not sum to 2^prob_bits is a rANS error naming the tensor.
    let e = header_error(|h, _| edit_entry(h, "blk.0.w", |e| e["prob_bits"] = 11.into()));
    assert!(matches!(&e, ContainerError::Rans { tensor, .. } if tensor == "blk.0.w"), "{e}");
    // Data that does not tile the data section.
    let e = header_error(|_, d| d.push(0));
    assert!(matches!(&e, ContainerError::File(m) if m.contains("after the last array")), "{e}");
    let e = header_error(|h, _| h.remove("emb.data").map(|_| ()).unwrap());
    assert!(e.to_string().contains("emb"), "{e}");
    let e = header_error(|h, _| {
        h.insert("stray".into(), serde_json::json!({"dtype": "U32", "shape": [0], "data_offsets": [0, 0]}));
    });
    assert!(e.to_string().contains("stray"), "{e}");
}

#[test]
fn garbage_and_truncated_headers_are_file_errors() {
    assert!(matches!(Container::from_bytes(b""), Err(ContainerError::File(_))));
    assert!(matches!(Container::from_bytes(&[0xff; 8]), Err(ContainerError::File(_))));
    let bytes = Container::new(sample()).unwrap().to_bytes();
    for cut in [0, 7, 8, 20, 100] {
        assert!(matches!(Container::from_bytes(&bytes[..cut]), Err(ContainerError::File(_))), "cut at {cut}");
    }
    // A plain safetensors file is not a container.
    let plain = crate::io::DEMO_FIXTURE;
    assert!(matches!(Container::from_bytes(plain), Err(ContainerError::File(m)) if m.contains("ecq")));
}

#[test]
fn corrupted_data_is_caught_by_the_stream_checks_or_the_checksum() {
    let c = Container::new(sample()).unwrap();
    let bytes = c.to_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (array, tensor) in [
        ("blk.0.w.words", "blk.0.w"),
        ("blk.0.w.scales", "blk.0.w"),
        ("blk.0.v.biases", "blk.0.v"),
        ("emb.data", "emb"),
    ] {
        let view = st.tensor(array).unwrap();
        let at = view.data().as_ptr() as usize - bytes.as_ptr() as usize + view.data().len() / 2;
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let back = Container::from_bytes(&bad).unwrap();
        let e = back.get(tensor).unwrap().decode_cpu().unwrap_err().to_string();
        assert!(e.contains(tensor), "{array}: {e}");
    }
}

#[test]
fn gguf_q4_0_q4_1_q8_0_import_losslessly_and_the_rest_is_requantized_or_kept() {
    let (rows, cols) = (6, 96);
    let mut w = Writer::new();
    w.kv_str("general.architecture", "llama");
    for (name, ty) in [("q41", 3u32), ("q40", 2), ("q80", 8)] {
        let ggml = crate::io::gguf::GgmlType::from_id(ty);
        w.tensor(name, &[cols as u64, rows as u64], ty, random_blocks(ggml, rows * cols / 32, u64::from(ty)));
    }
    let norm: Vec<f32> = Rng::new(4).weights(cols, 1.0);
    w.tensor("norm", &[cols as u64], 0, norm.iter().flat_map(|v| v.to_le_bytes()).collect());
    let f16w: Vec<f32> = Rng::new(5).weights(rows * 128, 0.05);
    w.tensor("f16w", &[128, rows as u64], 1, f16w.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect());
    let g = crate::io::Gguf::from_bytes(w.finish(), "mem.gguf").unwrap();

    let done = std::sync::Mutex::new(Vec::new());
    let conv = convert::from_gguf(&g, convert::Options::default(), &|p| {
        if let convert::Progress::Done { name, .. } = p {
            done.lock().unwrap().push(name.to_string());
        }
    })
    .unwrap();
    assert_eq!(done.into_inner().unwrap().len(), 5);
    let (c, bytes) = round_trip(conv.container.into_tensors());
    let names: Vec<&str> = c.tensors().iter().map(Tensor::name).collect();
    assert_eq!(names, ["q41", "q40", "q80", "norm", "f16w"]);
    // Q4_0 and Q8_0 biases are -8d and -128d: implied by the scales, not stored.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let stored: Vec<bool> = ["q41", "q40", "q80"].iter().map(|n| st.tensor(&format!("{n}.biases")).is_ok()).collect();
    assert_eq!(stored, [true, false, false]);
    let (header, _) = split(&bytes);
    assert!(header["__metadata__"]["ecq.tensor.q80"].as_str().unwrap().contains(r#""symmetric":true"#));
    let sizes = c.stored_sizes();
    assert_eq!((sizes[0].scales, sizes[1].scales), (2 * 2 * rows * cols / 32, 2 * rows * cols / 32));
    for name in ["q41", "q40", "q80"] {
        let t = c.get(name).unwrap();
        assert_eq!(t.decode_cpu().unwrap(), Matrix::Affine(g.quantized_matrix(name).unwrap()), "{name}");
    }
    assert_eq!(c.get("q80").unwrap().format(), WeightFormat::Affine(AffineSpec { bits: 8, group_size: 32 }));
    assert_eq!(c.get("norm").unwrap().decode_cpu().unwrap(), Matrix::F32 { rows: 1, cols, data: norm });
    let f = c.get("f16w").unwrap();
    assert_eq!(f.format(), WeightFormat::Affine(AffineSpec { bits: 4, group_size: 64 }));
    let want = quantize("f16w", &g.tensor_f32("f16w").unwrap().data, rows, 128, AffineSpec::new(4, 64).unwrap());
    assert_eq!(f.decode_cpu().unwrap(), Matrix::Affine(want.unwrap()));
}

#[test]
fn safetensors_fixture_converts_to_coded_q4g64() {
    let conv =
        convert::from_safetensors(crate::io::DEMO_FIXTURE, Path::new("fixture"), convert::Options::default(), &|_| {})
            .unwrap();
    let floats = crate::io::load_demo_fixture().unwrap();
    assert_eq!(conv.container.tensors().len(), floats.len());
    for f in floats {
        let t = conv.container.get(&f.name).unwrap();
        assert_eq!(t.kind(), Kind::AffineRans, "{}", f.name);
        let (rows, cols) = f.matrix_shape().unwrap();
        let want = quantize(&f.name, &f.data, rows, cols, AffineSpec::new(4, 64).unwrap()).unwrap();
        assert_eq!(t.decode_cpu().unwrap(), Matrix::Affine(want));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_affine_matrices_round_trip(
        rows in 1usize..40,
        cols in 1usize..300,
        bits_i in 0usize..4,
        gs_i in 0usize..3,
        rans in any::<bool>(),
        std in 0.001f32..1.0,
        seed in any::<u64>(),
    ) {
        let (bits, gs) = (SUPPORTED_BITS[bits_i], SUPPORTED_GROUP_SIZES[gs_i]);
        let w = Rng::new(seed).weights(rows * cols, std);
        let m = quantize("p", &w, rows, cols, AffineSpec::new(bits, gs).unwrap()).unwrap();
        let coding = if rans { Coding::Rans } else { Coding::Packed };
        let (c, _) = round_trip(vec![Tensor::affine("p", m.clone(), coding).unwrap()]);
        prop_assert_eq!(c.tensors()[0].decode_cpu().unwrap(), Matrix::Affine(m));
    }

    #[test]
    fn random_raw_tensors_round_trip(shape in proptest::collection::vec(0usize..6, 0..4), seed in any::<u64>()) {
        let n: usize = shape.iter().product();
        // Finite values, so that the containers compare equal.
        let data = Rng::new(seed).signed(n);
        let h: Vec<f16> = data.iter().map(|&v| f16::from_f32(v)).collect();
        let (c, _) = round_trip(vec![
            Tensor::f32("a", shape.clone(), data).unwrap(),
            Tensor::f16("b", shape, h).unwrap(),
        ]);
        for t in c.tensors() {
            t.decode_cpu().unwrap();
        }
    }
}

#[test]
fn symmetric_biases_are_implied_only_when_exact() {
    let mut rng = Rng::new(12);
    for bits in SUPPORTED_BITS {
        let spec = AffineSpec::new(bits, 32).unwrap();
        let k = -((1u32 << (bits - 1)) as f32);
        // Scales of every magnitude f16 has, subnormals and zeros of both signs included.
        let mut scales: Vec<f16> = (0..64).map(|_| f16::from_bits(rng.next_u64() as u16 & 0x3fff)).collect();
        scales[0] = f16::ZERO;
        scales[1] = f16::NEG_ZERO;
        let biases: Vec<f16> = scales.iter().map(|s| f16::from_f32(k * s.to_f32())).collect();
        let codes: Vec<u8> = (0..64 * 32).map(|_| rng.below(1 << bits) as u8).collect();
        let rows: Vec<u32> = codes.chunks(32).flat_map(|r| crate::quant::pack::pack(r, bits)).collect::<Vec<_>>();
        let m = QuantizedMatrix { spec, rows: 64, cols: 32, codes: rows, scales, biases };
        for coding in [Coding::Rans, Coding::Packed] {
            let (c, bytes) = round_trip(vec![Tensor::affine("s", m.clone(), coding).unwrap()]);
            assert!(safetensors::SafeTensors::deserialize(&bytes).unwrap().tensor("s.biases").is_err());
            assert_eq!(c.tensors()[0].decode_cpu().unwrap(), Matrix::Affine(m.clone()));
        }
        // One bias off by one ulp: all biases are stored.
        let mut off = m.clone();
        off.biases[5] = f16::from_bits(off.biases[5].to_bits() ^ 1);
        let (c, bytes) = round_trip(vec![Tensor::affine("s", off.clone(), Coding::Packed).unwrap()]);
        assert!(safetensors::SafeTensors::deserialize(&bytes).unwrap().tensor("s.biases").is_ok());
        assert_eq!(c.tensors()[0].decode_cpu().unwrap(), Matrix::Affine(off));
    }
}
