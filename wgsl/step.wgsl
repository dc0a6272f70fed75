// step.wgsl: the per-forward-pass uniform of the transformer kernels (included, never compiled alone).
//
// Written once per forward pass with queue.write_buffer; every other parameter of a kernel is
// fixed when its bind group is made.

struct Step {
    pos0: u32,      // position of the first token of this pass
    n_tokens: u32,  // tokens in this pass (1 for decode, up to 8 for a prefill chunk)
    _pad0: u32,
    _pad1: u32,
}
