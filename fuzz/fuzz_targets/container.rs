//! Arbitrary bytes through the `.ecq` reader, the CPU decoder and the size statistics: any
//! outcome but a panic, a hang or an out-of-bounds access is fine.

#![no_main]

use ecq::container::{Coding, Container, Tensor};
use ecq::weights::Matrix;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = Container::from_bytes(data) else { return };
    for t in c.tensors() {
        let Ok(m) = t.decode_cpu() else { continue };
        // What decodes matches its checksum, so storing it again gives the same checksum.
        let again = match m {
            Matrix::Affine(q) => Tensor::affine(t.name(), q, Coding::Packed),
            Matrix::F16 { data, .. } => Tensor::f16(t.name(), t.shape().to_vec(), data),
            Matrix::F32 { data, .. } => Tensor::f32(t.name(), t.shape().to_vec(), data),
        };
        assert_eq!(again.expect("a decoded tensor can be stored again").checksum(), t.checksum(), "`{}`", t.name());
    }
    let _ = c.stats();
    // Whatever was read writes back to a file that reads back the same.
    let back = Container::from_bytes(&c.to_bytes()).expect("a written file reads back");
    assert_eq!(back.tensors().len(), c.tensors().len());
});
