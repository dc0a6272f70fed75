//! Typed pipeline keys and the per-kernel pipeline cache.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::GpuContext;
use super::shader::{self, Defines};
use crate::{Error, Result};

/// Names one compiled variant of a kernel. Everything that changes the compiled code is in the key,
/// so the key alone builds the pipeline (and its label) and keys the cache.
pub trait PipelineKey: Clone + Eq + Hash + Debug + Send + Sync + 'static {
    /// The WGSL file, e.g. `gemv.wgsl`.
    fn shader(&self) -> &'static str;
    /// Text-level variant (flags and integer defines for the preprocessor).
    fn defines(&self) -> Defines;
    /// Values of the shader's `override` constants.
    fn constants(&self) -> Vec<(&'static str, f64)>;
    /// A human-readable label such as `gemv q4g64 b1 f16+sg wg256`.
    fn label(&self) -> String;
    /// Entry point (default `main`).
    fn entry_point(&self) -> &'static str {
        "main"
    }
}

/// Preprocesses and validates a variant's WGSL with naga, returning the source text for the
/// WebGPU standard (`browser` true) or for wgpu's native backends.
pub fn variant_source<K: PipelineKey>(key: &K, browser: bool) -> Result<String> {
    let src = shader::preprocess(key.shader(), &key.defines())?;
    let native = strip_subgroups_enable(&src);
    validate_wgsl(&key.label(), &native)?;
    Ok(if browser { src } else { native })
}

/// WebGPU requires `enable subgroups;` before subgroup builtins; naga (wgpu's native front end)
/// does not accept the directive yet and enables them through the device feature instead.
pub fn strip_subgroups_enable(src: &str) -> String {
    src.lines().filter(|l| l.trim() != "enable subgroups;").flat_map(|l| [l, "\n"]).collect()
}

/// Parses and validates WGSL with naga (all capabilities allowed: the device check is wgpu's).
pub fn validate_wgsl(label: &str, src: &str) -> Result<naga::Module> {
    let module = naga::front::wgsl::parse_str(src)
        .map_err(|e| Error::Gpu(format!("{label}: WGSL parse error: {}", e.emit_to_string(src))))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| Error::Gpu(format!("{label}: WGSL validation error: {}", e.emit_to_string(src))))?;
    Ok(module)
}

/// Compiled pipelines of one kernel family, created on first use.
#[derive(Debug)]
pub struct PipelineCache<K: PipelineKey> {
    layout: wgpu::PipelineLayout,
    pipelines: Mutex<HashMap<K, Arc<wgpu::ComputePipeline>>>,
}

impl<K: PipelineKey> PipelineCache<K> {
    /// A cache whose pipelines all use `layout`, so bind groups work across variants.
    pub fn new(layout: wgpu::PipelineLayout) -> Self {
        PipelineCache { layout, pipelines: Mutex::new(HashMap::new()) }
    }

    /// Returns the pipeline for `key`, compiling it on first use.
    pub fn get(&self, ctx: &GpuContext, key: &K) -> Result<Arc<wgpu::ComputePipeline>> {
        if let Some(p) = self.pipelines.lock().map_err(poisoned)?.get(key) {
            return Ok(p.clone());
        }
        let src = variant_source(key, ctx.caps.backend == "webgpu")?;
        let label = key.label();
        let desc = wgpu::ShaderModuleDescriptor { label: Some(&label), source: wgpu::ShaderSource::Wgsl(src.into()) };
        // SAFETY: the relaxed checks (loop bounding, division guards) are only dropped for ecq's
        // own shaders, whose loops are counted and whose divisors are non-zero constants or
        // host-checked shapes; bounds checks stay on (GpuContext::runtime_checks).
        let module = unsafe { ctx.device.create_shader_module_trusted(desc, ctx.runtime_checks()) };
        let constants = key.constants();
        let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&self.layout),
            module: &module,
            entry_point: Some(key.entry_point()),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        ctx.check_errors()?;
        let p = Arc::new(pipeline);
        self.pipelines.lock().map_err(poisoned)?.insert(key.clone(), p.clone());
        Ok(p)
    }

    /// Number of pipelines compiled so far.
    pub fn len(&self) -> usize {
        self.pipelines.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when nothing has been compiled yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Gpu("pipeline cache lock poisoned by a panic in another thread".into())
}

/// Storage-buffer bind group layout entries for `count` bindings starting at 0; `read_only[i]`
/// says whether binding i is read-only. A uniform, when `uniform_first`, takes binding 0.
pub fn layout_entries(uniform_first: bool, read_only: &[bool]) -> Vec<wgpu::BindGroupLayoutEntry> {
    let mut v = Vec::new();
    let mut binding = 0;
    if uniform_first {
        v.push(wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
        binding += 1;
    }
    for &ro in read_only {
        v.push(wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: ro },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
        binding += 1;
    }
    v
}

/// Creates a bind group layout and a pipeline layout with it as group 0.
pub fn single_group_layout(
    ctx: &GpuContext,
    label: &str,
    entries: &[wgpu::BindGroupLayoutEntry],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let bgl = ctx.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries });
    let pl = ctx.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&bgl)],
        immediate_size: 0,
    });
    (bgl, pl)
}
