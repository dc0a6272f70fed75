//! Every shader variant ecq can build is validated by naga and translated to the languages of
//! the backends there is no machine for here: MSL (Metal), HLSL (DX12) and SPIR-V (Vulkan).

use ecq::gpu::KernelPath;
use ecq::gpu::pipeline::{PipelineKey, strip_subgroups_enable, validate_wgsl, variant_source};
use ecq::gpu::shader::SOURCES;
use ecq::kernels::add::AddKey;
use ecq::kernels::argmax::ArgmaxKey;
use ecq::kernels::attention::AttentionKey;
use ecq::kernels::copy::{CopyKey, CopyKind};
use ecq::kernels::dequant::DequantKey;
use ecq::kernels::embed::EmbedKey;
use ecq::kernels::gemv::GemvKey;
use ecq::kernels::gemv_fused::FusedKey;
use ecq::kernels::rans_decode::RansDecodeKey;
use ecq::kernels::rmsnorm::RmsNormKey;
use ecq::kernels::rope::RopeKey;
use ecq::kernels::swiglu::SwiGluKey;
use ecq::quant::AffineSpec;
use ecq::weights::WeightFormat;

fn all_paths() -> Vec<KernelPath> {
    (0..8u8).map(|b| KernelPath { f16: b & 1 != 0, subgroups: b & 2 != 0, dot8: b & 4 != 0 }).collect()
}

fn affine_specs() -> Vec<AffineSpec> {
    [2, 3, 4, 8].into_iter().flat_map(|b| [32, 64, 128].map(|g| AffineSpec::new(b, g).unwrap())).collect()
}

/// Validates `key`'s WGSL and translates it (overrides applied) to MSL, HLSL and SPIR-V.
fn translate<K: PipelineKey>(key: &K) -> Result<(), String> {
    let label = key.label();
    let browser = variant_source(key, true).map_err(|e| e.to_string())?;
    assert!(!browser.contains('#'), "{label}: preprocessor directive left in output");
    let src = strip_subgroups_enable(&browser);
    let module = validate_wgsl(&label, &src).map_err(|e| e.to_string())?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| format!("{label}: {e:?}"))?;
    let constants: naga::back::PipelineConstants =
        key.constants().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let ep = (naga::ShaderStage::Compute, key.entry_point().to_string());
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, Some((ep.0, &ep.1)), &constants)
            .map_err(|e| format!("{label}: overrides: {e}"))?;

    let msl_opts = naga::back::msl::Options { lang_version: (2, 4), ..Default::default() };
    let msl_pipe = naga::back::msl::PipelineOptions { entry_point: Some(ep.clone()), ..Default::default() };
    naga::back::msl::write_string(&module, &info, &msl_opts, &msl_pipe).map_err(|e| format!("{label}: MSL: {e}"))?;

    let hlsl_opts =
        naga::back::hlsl::Options { shader_model: naga::back::hlsl::ShaderModel::V6_2, ..Default::default() };
    let hlsl_pipe = naga::back::hlsl::PipelineOptions { entry_point: Some(ep.clone()) };
    let mut hlsl = String::new();
    naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_opts, &hlsl_pipe)
        .write(&module, &info, None)
        .map_err(|e| format!("{label}: HLSL: {e}"))?;

    let spv_opts = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
    let spv_pipe = naga::back::spv::PipelineOptions { shader_stage: ep.0, entry_point: ep.1.clone() };
    naga::back::spv::write_vec(&module, &info, &spv_opts, Some(&spv_pipe))
        .map_err(|e| format!("{label}: SPIR-V: {e}"))?;
    Ok(())
}

fn check_all<K: PipelineKey>(keys: impl IntoIterator<Item = K>) -> usize {
    let mut n = 0;
    let errors: Vec<String> = keys
        .into_iter()
        .filter_map(|k| {
            n += 1;
            translate(&k).err()
        })
        .collect();
    assert!(errors.is_empty(), "{} of {n} variants failed:\n{}", errors.len(), errors.join("\n"));
    n
}

#[test]
fn gemv_variants_translate_to_every_backend() {
    let mut formats: Vec<WeightFormat> = affine_specs().into_iter().map(WeightFormat::Affine).collect();
    formats.extend([WeightFormat::F16, WeightFormat::F32]);
    let mut keys = vec![];
    for format in formats {
        for batch in 1..=8 {
            for path in all_paths() {
                let dot8_format = matches!(format, WeightFormat::Affine(s) if s.bits == 4 || s.bits == 8);
                if path.f16 && format != WeightFormat::F16 || path.dot8 && (!dot8_format || path.f16) {
                    continue;
                }
                for (wg_size, rows_per_wg, chunks_per_thread, groups_per_wg) in
                    [(256, 4, 1, 1), (96, 2, 2, 3), (64, 1, 3, 2)]
                {
                    if rows_per_wg * batch > 16 {
                        continue;
                    }
                    let x_stationary = ecq::kernels::gemv::x_fits_registers(format, path, chunks_per_thread, batch);
                    keys.push(GemvKey {
                        format,
                        batch,
                        rows_per_wg,
                        groups_per_wg,
                        chunks_per_thread,
                        x_stationary,
                        path,
                        wg_size,
                        sg_min: 8,
                    });
                }
            }
        }
    }
    assert!(check_all(keys) > 500);
}

#[test]
fn dequant_and_copy_variants_translate_to_every_backend() {
    let dq = affine_specs()
        .into_iter()
        .flat_map(|spec| [false, true].map(|out_f16| DequantKey { spec, out_f16, wg_size: 64 }));
    check_all(dq);
    check_all([CopyKind::Copy, CopyKind::Read].map(|kind| CopyKey { kind, wg_size: 256 }));
}

#[test]
fn rans_decode_variants_translate_to_every_backend() {
    let mut keys = vec![];
    for subgroups in [false, true] {
        for table_shared in [false, true] {
            for fast_bits in [0, 2, 4, 8] {
                keys.push(RansDecodeKey { subgroups, wide_subgroups: subgroups, table_shared, fast_bits, groups: 4 });
            }
        }
    }
    keys.push(RansDecodeKey { subgroups: true, wide_subgroups: false, table_shared: true, fast_bits: 4, groups: 8 });
    assert_eq!(check_all(keys), 17);
}

#[test]
fn transformer_kernel_variants_translate_to_every_backend() {
    check_all([64, 128, 256].map(|wg_size| RmsNormKey { wg_size }));
    check_all([64, 256].map(|wg_size| ArgmaxKey { wg_size }));
    check_all([64, 256].map(|wg_size| RopeKey { wg_size }));
    check_all([64, 256].map(|wg_size| SwiGluKey { wg_size }));
    check_all([64, 256].map(|wg_size| AddKey { wg_size }));
    let attention = [(20, 64), (32, 64), (64, 64), (64, 128), (64, 256), (128, 128), (256, 256)]
        .map(|(head_dim, wg_size)| AttentionKey { head_dim, wg_size });
    check_all(attention);
    let mut formats: Vec<WeightFormat> = affine_specs().into_iter().map(WeightFormat::Affine).collect();
    formats.extend([WeightFormat::F16, WeightFormat::F32]);
    check_all(formats.into_iter().map(|format| EmbedKey { format, wg_size: 64 }));
}

#[test]
fn every_registered_file_is_used() {
    // Each file is either a root of some variant above or included by one.
    for (name, text) in SOURCES {
        let roots = ["rmsnorm", "rope", "attention", "swiglu", "add", "embed", "argmax", "sparse_add"];
        let used_as_root = ["gemv.wgsl", "gemv_fused.wgsl", "dequant.wgsl", "copy.wgsl", "rans_decode.wgsl"]
            .contains(name)
            || roots.iter().any(|r| *name == format!("{r}.wgsl"));
        let included = SOURCES.iter().any(|(_, t)| t.contains(&format!("#include \"{name}\"")));
        assert!(used_as_root || included, "{name} is registered but never compiled");
        assert!(text.lines().next().is_some_and(|l| l.starts_with("// ")), "{name}: first line should say what it is");
    }
}

#[test]
fn fused_variants_translate_to_every_backend() {
    let mut keys = vec![];
    for bits in [2, 4, 8] {
        let format = WeightFormat::Affine(AffineSpec::new(bits, 64).unwrap());
        for path in all_paths() {
            if path.f16 || path.dot8 && bits == 2 {
                continue;
            }
            for (batch, ballot, table_shared) in [(1, true, true), (3, false, false), (8, false, true)] {
                let gemv = GemvKey {
                    format,
                    batch,
                    rows_per_wg: (16 / batch).max(1),
                    groups_per_wg: 1,
                    chunks_per_thread: 1,
                    x_stationary: true,
                    path,
                    wg_size: 128,
                    sg_min: 32,
                };
                let ballot = ballot && path.subgroups;
                keys.push(FusedKey {
                    gemv,
                    ballot,
                    wide_subgroups: false,
                    table_shared,
                    stage_blocks: 2,
                    stage_words: 512,
                });
            }
        }
    }
    assert!(check_all(keys) > 20);
}

#[test]
fn sparse_add_variants_translate_to_every_backend() {
    check_all([64, 256].map(|wg_size| ecq::kernels::sparse_add::SparseAddKey { wg_size }));
}
