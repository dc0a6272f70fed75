//! Choosing an adapter, creating (or adopting) a device, and reading back results.

use std::sync::{Arc, Mutex};

use super::Capabilities;
use crate::{Error, Result};

/// How to pick and configure the device. [`ContextOptions::from_env`] reads the overrides below.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Only adapters whose name contains this (case-insensitive). Env: `ECQ_ADAPTER`.
    pub adapter_filter: Option<String>,
    /// Do not enable `shader-f16`, forcing the f32 paths. Env: `ECQ_NO_F16=1`.
    pub disable_f16: bool,
    /// Do not enable subgroups, forcing workgroup-memory reductions. Env: `ECQ_NO_SUBGROUPS=1`.
    pub disable_subgroups: bool,
    /// Do not use packed integer dot products. Env: `ECQ_NO_DOT8=1`.
    pub disable_dot8: bool,
    /// Keep every runtime check wgpu can add to shaders, including loop bounding and guarded
    /// integer division (by default ecq keeps only bounds checks; see [`GpuContext::runtime_checks`]).
    /// Env: `ECQ_SHADER_CHECKS=all`.
    pub all_shader_checks: bool,
    /// Cap the storage binding size (bytes) below the device limit, to exercise tensor splitting.
    /// Env: `ECQ_MAX_BINDING`.
    pub max_storage_binding: Option<u64>,
}

impl ContextOptions {
    /// Options from the environment (`ECQ_ADAPTER`, `ECQ_NO_F16`, `ECQ_NO_SUBGROUPS`,
    /// `ECQ_NO_DOT8`, `ECQ_MAX_BINDING`). The backend is chosen by wgpu's own `WGPU_BACKEND`.
    pub fn from_env() -> Self {
        let flag = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0");
        ContextOptions {
            adapter_filter: std::env::var("ECQ_ADAPTER").ok().filter(|s| !s.is_empty()),
            disable_f16: flag("ECQ_NO_F16"),
            disable_subgroups: flag("ECQ_NO_SUBGROUPS"),
            disable_dot8: flag("ECQ_NO_DOT8"),
            all_shader_checks: std::env::var("ECQ_SHADER_CHECKS").is_ok_and(|v| v == "all"),
            max_storage_binding: std::env::var("ECQ_MAX_BINDING").ok().and_then(|v| v.parse().ok()),
        }
    }
}

/// A device, its queue and its capabilities. Cheap to clone (wgpu handles are reference counted).
#[derive(Clone, Debug)]
pub struct GpuContext {
    /// The device kernels are created on.
    pub device: wgpu::Device,
    /// The queue work is submitted to.
    pub queue: wgpu::Queue,
    /// What the device can do (after the options' overrides).
    pub caps: Capabilities,
    all_shader_checks: bool,
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Creates an instance, picks an adapter and requests a device with every feature and limit
    /// the kernels can use.
    ///
    /// Adapter choice: `opts.adapter_filter` if set, otherwise discrete > integrated > virtual >
    /// CPU. Backends follow `WGPU_BACKEND` (e.g. `vulkan`, `gl`, `metal`, `dx12`).
    pub async fn new(opts: &ContextOptions) -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pick_adapter(&instance, opts).await?;
        let offered = adapter.features();
        let mut wanted = wgpu::Features::TIMESTAMP_QUERY;
        if !opts.disable_f16 {
            wanted |= wgpu::Features::SHADER_F16;
        }
        if !opts.disable_subgroups {
            wanted |= wgpu::Features::SUBGROUP;
        }
        let desc = wgpu::DeviceDescriptor {
            label: Some("ecq"),
            required_features: offered & wanted,
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) = adapter.request_device(&desc).await.map_err(|e| Error::RequestDevice(e.to_string()))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("wgpu: {e}");
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let mut ctx = Self::from_device(device, queue);
        ctx.errors = errors;
        ctx.apply(opts);
        Ok(ctx)
    }

    /// [`GpuContext::new`] with [`ContextOptions::from_env`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking_from_env() -> Result<Self> {
        pollster::block_on(Self::new(&ContextOptions::from_env()))
    }

    /// Adopts a device the application already owns. Capabilities are read from the features
    /// and limits the device was created with; ecq installs no error handler on it.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Self {
        let caps = Capabilities::of_device(&device);
        GpuContext { device, queue, caps, all_shader_checks: false, errors: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Applies the overrides of `opts` that make sense on an existing device (disabling f16 or
    /// subgroups, capping the binding size).
    pub fn apply(&mut self, opts: &ContextOptions) {
        if opts.disable_f16 {
            self.caps.f16 = false;
        }
        if opts.disable_subgroups {
            self.caps.subgroups = false;
            self.caps.subgroup_min_size = 0;
            self.caps.subgroup_max_size = 0;
        }
        self.all_shader_checks = opts.all_shader_checks;
        if opts.disable_dot8 {
            self.caps.dot8 = false;
        }
        if let Some(b) = opts.max_storage_binding {
            self.caps.max_storage_binding = self.caps.max_storage_binding.min(b.max(256));
        }
    }

    /// The runtime checks wgpu compiles into ecq's shaders. Bounds checks always stay: no
    /// shader can touch memory outside its bindings. Loop bounding and guarded integer division
    /// are dropped by default because ecq's shaders do not need them: every loop is counted
    /// with a bound from uniforms or constants and a step of at least 1, and every divisor is a
    /// constant or a shape that the host checks is non-zero before dispatch. Both guards sit in
    /// the innermost loops of the GEMV and the rANS decoder.
    pub fn runtime_checks(&self) -> wgpu::ShaderRuntimeChecks {
        let mut checks = wgpu::ShaderRuntimeChecks::checked();
        if !self.all_shader_checks {
            checks.force_loop_bounding = false;
            checks.int_div_checks = false;
        }
        checks
    }

    /// Errors wgpu reported outside any error scope since the last call (only for devices
    /// created by [`GpuContext::new`]).
    pub fn take_errors(&self) -> Vec<String> {
        self.errors.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }

    /// Fails with the first uncaptured wgpu error, if any occurred.
    pub fn check_errors(&self) -> Result<()> {
        match self.take_errors().into_iter().next() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// Waits until all submitted work has finished (native; a no-op on the web).
    pub fn wait_idle(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ()).map_err(|e| Error::Gpu(e.to_string()))
    }

    /// Copies `size` bytes of `src` (which needs `COPY_SRC`) back to the host.
    pub async fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ecq readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.wait_idle()?;
        rx.await
            .map_err(|_| Error::Gpu("readback was cancelled".into()))?
            .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
        let bytes = staging.get_mapped_range(..).map_err(|e| Error::Gpu(format!("readback: {e:?}")))?.to_vec();
        staging.unmap();
        self.check_errors()?;
        Ok(bytes)
    }

    /// Reads a whole buffer of plain values back to the host.
    pub async fn read_vec<T: bytemuck::Pod>(&self, src: &wgpu::Buffer) -> Result<Vec<T>> {
        let bytes = self.read_bytes(src, 0, src.size()).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Blocking [`GpuContext::read_vec`] (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_vec_blocking<T: bytemuck::Pod>(&self, src: &wgpu::Buffer) -> Result<Vec<T>> {
        pollster::block_on(self.read_vec(src))
    }

    /// Creates a storage buffer initialized with `data` (usable as a copy source for readback).
    pub fn storage_buffer(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        // Zero-sized bindings are invalid; pad empty data to one word.
        let padded;
        let contents = if data.len() % 4 != 0 || data.is_empty() {
            padded = {
                let mut v = data.to_vec();
                v.resize(data.len().div_ceil(4).max(1) * 4, 0);
                v
            };
            &padded[..]
        } else {
            data
        };
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// Creates an uninitialized storage buffer of `size` bytes (rounded up to 4).
    pub fn storage_buffer_empty(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.div_ceil(4).max(1) * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

async fn pick_adapter(instance: &wgpu::Instance, opts: &ContextOptions) -> Result<wgpu::Adapter> {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = opts;
        instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(format!("WebGPU: {e}")))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        let names: Vec<String> =
            adapters.iter().map(|a| format!("{} ({})", a.get_info().name, a.get_info().backend.to_str())).collect();
        let rank = |t: wgpu::DeviceType| match t {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 3,
            wgpu::DeviceType::Other => 4,
        };
        let filter = opts.adapter_filter.as_deref().map(str::to_lowercase);
        adapters
            .into_iter()
            .filter(|a| filter.as_deref().is_none_or(|f| a.get_info().name.to_lowercase().contains(f)))
            .min_by_key(|a| rank(a.get_info().device_type))
            .ok_or_else(|| {
                let seen = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                let why = match &opts.adapter_filter {
                    Some(f) => format!("none matches ECQ_ADAPTER={f:?}; adapters seen: {seen}"),
                    None => format!("adapters seen: {seen}"),
                };
                Error::NoAdapter(why)
            })
    }
}
