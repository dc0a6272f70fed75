//! What the device can do, queried once and consulted by every kernel.

use serde::Serialize;

/// Capabilities of a device, as enabled (not merely offered by the adapter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Graphics backend (`vulkan`, `metal`, `dx12`, `gl`, `webgpu`).
    pub backend: String,
    /// Adapter name as reported by the driver.
    pub adapter_name: String,
    /// Driver name and version, where reported.
    pub driver: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub device_type: String,
    /// `shader-f16` is enabled: kernels may use f16 arithmetic and f16 storage.
    pub f16: bool,
    /// Subgroup operations are enabled (reductions, ballots, shuffles).
    pub subgroups: bool,
    /// Smallest subgroup size the adapter may use (meaningful when `subgroups`).
    pub subgroup_min_size: u32,
    /// Largest subgroup size the adapter may use (meaningful when `subgroups`).
    pub subgroup_max_size: u32,
    /// WGSL's packed 4x8 integer dot product (`dot4I8Packed`) maps to a hardware instruction
    /// (Vulkan 1.3 / DX12 SM 6.4 / WebGPU's `packed_4x8_integer_dot_product`; naga emulates it
    /// on Metal and GL, where the f32 path is as fast).
    pub dot8: bool,
    /// Timestamp queries at compute pass boundaries are enabled.
    pub timestamps: bool,
    /// Largest storage buffer binding in bytes; larger tensors are split.
    pub max_storage_binding: u64,
    /// Largest buffer in bytes.
    pub max_buffer_size: u64,
    /// Workgroup (shared) memory per workgroup in bytes.
    pub workgroup_storage: u32,
    /// Invocations per workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
}

impl Capabilities {
    /// Reads the capabilities of an existing device.
    pub fn of_device(device: &wgpu::Device) -> Self {
        let info = device.adapter_info();
        let features = device.features();
        let limits = device.limits();
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        Capabilities {
            backend: info.backend.to_str().to_string(),
            adapter_name: info.name.clone(),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            device_type: device_type_name(info.device_type).to_string(),
            f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups,
            subgroup_min_size: if subgroups { info.subgroup_min_size } else { 0 },
            subgroup_max_size: if subgroups { info.subgroup_max_size } else { 0 },
            dot8: matches!(info.backend, wgpu::Backend::Vulkan | wgpu::Backend::Dx12),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            max_storage_binding: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        }
    }

    /// Which arithmetic/reduction path kernels take on this device.
    pub fn path(&self) -> KernelPath {
        KernelPath { f16: self.f16, subgroups: self.subgroups && self.subgroup_min_size >= 4, dot8: self.dot8 }
    }

    /// One line per capability, for `ecq info`.
    pub fn describe(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mib = |b: u64| format!("{} MiB", b >> 20);
        let sg = if self.subgroups {
            format!("yes (size {}..{})", self.subgroup_min_size, self.subgroup_max_size)
        } else {
            "no".to_string()
        };
        format!(
            "adapter           {}\nbackend           {}\ndevice type       {}\ndriver            {}\n\
             shader-f16        {}\nsubgroups         {}\nint8 dot product  {}\ntimestamp queries {}\n\
             max storage bind  {}\nmax buffer        {}\nworkgroup storage {} KiB\n\
             invocations/wg    {}\nworkgroups/dim    {}",
            self.adapter_name,
            self.backend,
            self.device_type,
            if self.driver.is_empty() { "-" } else { &self.driver },
            yes(self.f16),
            sg,
            yes(self.dot8),
            yes(self.timestamps),
            mib(self.max_storage_binding),
            mib(self.max_buffer_size),
            self.workgroup_storage / 1024,
            self.max_invocations_per_workgroup,
            self.max_workgroups_per_dimension,
        )
    }
}

/// The capability switches that select a kernel's text-level variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KernelPath {
    /// Use f16 arithmetic where it pays.
    pub f16: bool,
    /// Use subgroup reductions instead of workgroup memory.
    pub subgroups: bool,
    /// Use packed 4x8 integer dot products (inputs quantized to int8 per 32; lossy but bounded).
    pub dot8: bool,
}

impl KernelPath {
    /// The path that needs neither f16, subgroups nor integer dot products.
    pub const FALLBACK: KernelPath = KernelPath { f16: false, subgroups: false, dot8: false };

    /// Every path a device with these capabilities can run (the fallback first).
    pub fn all_supported(caps: &Capabilities) -> Vec<KernelPath> {
        let best = caps.path();
        let mut v = Vec::new();
        for bits in 0..8u8 {
            let p = KernelPath { f16: bits & 1 != 0, subgroups: bits & 2 != 0, dot8: bits & 4 != 0 };
            if (!p.f16 || best.f16) && (!p.subgroups || best.subgroups) && (!p.dot8 || best.dot8) {
                v.push(p);
            }
        }
        v
    }

    /// `f32`, `f16`, with `+sg` for subgroups and `+dot8` for integer dot products.
    pub fn name(&self) -> String {
        let mut s = String::from(if self.f16 { "f16" } else { "f32" });
        if self.subgroups {
            s.push_str("+sg");
        }
        if self.dot8 {
            s.push_str("+dot8");
        }
        s
    }
}

fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}
