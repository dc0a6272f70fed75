//! [`LayerStack`]: a sequence of GEMVs over coded layers under one strategy — one input vector
//! per layer, one output per layer. What `ecq bench strategies` and the tests drive.

use std::path::Path;

use super::layer::Layer;
use super::scheduler::{SchedOptions, Scheduler, io};
use super::strategy::Strategy;
use crate::container::{Container, Kind};
use crate::gpu::GpuContext;
use crate::{Error, Result};

/// Timestamp writes around one recorded token: the beginning of its first pass and the end of
/// its last.
#[derive(Clone, Copy)]
pub struct TokenTimestamps<'a> {
    /// The query set.
    pub query_set: &'a wgpu::QuerySet,
    /// Index written at the beginning of the first pass.
    pub begin: u32,
    /// Index written at the end of the last pass.
    pub end: u32,
}

/// A stack of layers on the GPU with an input and an output buffer per layer.
#[derive(Debug)]
pub struct LayerStack {
    sched: Scheduler,
    shapes: Vec<(usize, usize)>,
    x: Vec<wgpu::Buffer>,
    y: Vec<wgpu::Buffer>,
}

impl LayerStack {
    /// Loads every 2-D affine tensor (`affine-rans` or `affine`) of an `.ecq` file, in file order.
    pub fn open(ctx: &GpuContext, path: impl AsRef<Path>, strategy: Strategy) -> Result<Self> {
        let c = Container::open(path.as_ref())?;
        let layers: Vec<Layer> = c
            .tensors()
            .iter()
            .filter(|t| matches!(t.kind(), Kind::AffineRans | Kind::Affine) && t.shape().len() == 2)
            .map(Layer::from_tensor)
            .collect::<Result<_>>()?;
        if layers.is_empty() {
            return Err(Error::InvalidFile { path: path.as_ref().into(), msg: "no affine matrices".into() });
        }
        Self::new(ctx, layers, strategy, SchedOptions::default())
    }

    /// A stack of in-memory layers.
    pub fn new(ctx: &GpuContext, layers: Vec<Layer>, strategy: Strategy, opts: SchedOptions) -> Result<Self> {
        let shapes: Vec<(usize, usize)> = layers.iter().map(|l| (l.rows(), l.cols())).collect();
        let sched = Scheduler::new(ctx, layers, strategy, opts)?;
        let x = shapes.iter().map(|&(_, c)| ctx.storage_buffer_empty("stack x", (c.div_ceil(4) * 16) as u64)).collect();
        let y = shapes.iter().map(|&(r, _)| ctx.storage_buffer_empty("stack y", r as u64 * 4)).collect();
        Ok(LayerStack { sched, shapes, x, y })
    }

    /// `(rows, cols)` of each layer.
    pub fn shapes(&self) -> &[(usize, usize)] {
        &self.shapes
    }

    /// The scheduler (strategy, explanation, statistics).
    pub fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// The scheduler, mutable (to reset statistics).
    pub fn scheduler_mut(&mut self) -> &mut Scheduler {
        &mut self.sched
    }

    /// GPU bytes the strategy holds for the weights (input and output vectors not counted).
    pub fn gpu_bytes(&self) -> u64 {
        self.sched.gpu_bytes()
    }

    fn ctx(&self) -> GpuContext {
        self.sched.ctx().clone()
    }

    /// Writes one input per layer and poisons the outputs.
    pub fn set_inputs(&self, inputs: &[Vec<f32>]) -> Result<()> {
        if inputs.len() != self.shapes.len() {
            return Err(Error::InvalidArgument(format!("{} inputs for {} layers", inputs.len(), self.shapes.len())));
        }
        let ctx = self.ctx();
        for (i, (x, &(rows, cols))) in inputs.iter().zip(&self.shapes).enumerate() {
            if x.len() != cols {
                return Err(Error::InvalidArgument(format!("input {i}: {} values for {cols} columns", x.len())));
            }
            let mut padded = x.clone();
            padded.resize(cols.div_ceil(4) * 4, 0.0);
            ctx.queue.write_buffer(&self.x[i], 0, bytemuck::cast_slice(&padded));
            ctx.queue.write_buffer(&self.y[i], 0, bytemuck::cast_slice(&vec![f32::NAN; rows]));
        }
        Ok(())
    }

    /// Records one token (one GEMV per layer, on the current inputs) into `encoder`. `async`
    /// records each layer as two passes, the decode of the next layer and then this layer's
    /// GEMV; the other strategies record one pass. `prefetch-cpu` decodes and queues the
    /// uploads of every layer first (see [`LayerStack::run`] for its pipelined form).
    pub fn record_token(&mut self, encoder: &mut wgpu::CommandEncoder, ts: Option<TokenTimestamps<'_>>) -> Result<()> {
        let n = self.shapes.len();
        let writes = |first: bool, last: bool| {
            ts.filter(|_| first || last).map(|t| wgpu::ComputePassTimestampWrites {
                query_set: t.query_set,
                beginning_of_pass_write_index: first.then_some(t.begin),
                end_of_pass_write_index: last.then_some(t.end),
            })
        };
        self.sched.prepare()?;
        if self.sched.strategy() == Strategy::Async {
            for i in 0..n {
                let (rows, cols) = self.shapes[i];
                let slot = {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("ecq async decode"),
                        timestamp_writes: writes(i == 0, false),
                    });
                    self.sched.async_prepare(&mut pass, i)?
                };
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("ecq async gemv"),
                    timestamp_writes: writes(false, i + 1 == n),
                });
                let io = io(1, &self.x[i], cols.div_ceil(4) as u32 * 4, &self.y[i], rows as u32);
                self.sched.async_gemv(&mut pass, i, slot, &io)?;
            }
        } else {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ecq token"),
                timestamp_writes: writes(true, true),
            });
            self.record_layers(&mut pass)?;
        }
        Ok(())
    }

    /// Records every layer into one pass (what a model's forward pass does through
    /// [`crate::model::gpu::WeightSource`]).
    pub fn record_layers(&mut self, pass: &mut wgpu::ComputePass<'_>) -> Result<()> {
        for i in 0..self.shapes.len() {
            let (rows, cols) = self.shapes[i];
            let io = io(1, &self.x[i], cols.div_ceil(4) as u32 * 4, &self.y[i], rows as u32);
            self.sched.encode_layer(pass, i, &io)?;
        }
        Ok(())
    }

    /// `prefetch-cpu` driven layer by layer: a CPU thread decodes layers in order (rayon inside
    /// each layer) at most `ring - 1` ahead; each layer's codes are uploaded into the next ring
    /// slot with `queue.write_buffer` and its GEMV submitted right after. GPU memory: the ring.
    pub fn run_pipelined(&mut self) -> Result<()> {
        let n = self.shapes.len();
        let ring = self.sched.ring_len();
        self.sched.ensure_ring(ring);
        let ctx = self.ctx();
        let hosts: Vec<_> = (0..n).map(|i| if self.sched.is_staged(i) { self.sched.host(i) } else { None }).collect();
        std::thread::scope(|sc| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(usize, Vec<u32>)>>(ring - 1);
            sc.spawn(move || {
                for (i, h) in hosts.into_iter().enumerate() {
                    if let Some((name, t)) = h {
                        if tx.send(t.decode_packed_cpu(&name).map(|w| (i, w))).is_err() {
                            break;
                        }
                    }
                }
            });
            let mut k = 0;
            for i in 0..n {
                if self.sched.is_staged(i) {
                    let (j, words) =
                        rx.recv().map_err(|_| Error::Gpu("prefetch-cpu: the decode thread stopped".into()))??;
                    debug_assert_eq!(i, j);
                    self.sched.upload(k % ring, i, &words);
                    k += 1;
                }
                let (rows, cols) = self.shapes[i];
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    let io = io(1, &self.x[i], cols.div_ceil(4) as u32 * 4, &self.y[i], rows as u32);
                    self.sched.encode_layer(&mut pass, i, &io)?;
                }
                ctx.queue.submit([enc.finish()]);
            }
            Ok(())
        })
    }

    /// Runs one GEMV per layer on `inputs` (one vector of `cols` values per layer) and returns
    /// the outputs; checks the decoders' status and the device's error scope.
    pub fn run(&mut self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.set_inputs(inputs)?;
        let ctx = self.ctx();
        if self.sched.strategy() == Strategy::PrefetchCpu {
            self.run_pipelined()?;
        } else {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            self.record_token(&mut enc, None)?;
            ctx.queue.submit([enc.finish()]);
        }
        self.outputs()
    }

    /// Reads the outputs of the last run (after checking status and errors).
    pub fn outputs(&self) -> Result<Vec<Vec<f32>>> {
        let ctx = self.ctx();
        pollster::block_on(self.sched.check())?;
        ctx.check_errors()?;
        self.y.iter().map(|y| ctx.read_vec_blocking::<f32>(y)).collect()
    }
}
