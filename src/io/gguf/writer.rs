//! A tiny GGUF writer for tests: metadata as raw typed payloads, tensors as raw bytes.

/// Builds GGUF bytes.
pub(crate) struct Writer {
    pub version: u32,
    pub alignment: u64,
    kv: Vec<u8>,
    n_kv: u64,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// Payload of an array value: element type, count, elements.
pub(crate) fn array(elem_ty: u32, n: u64, elems: &[u8]) -> Vec<u8> {
    let mut v = elem_ty.to_le_bytes().to_vec();
    v.extend(n.to_le_bytes());
    v.extend(elems);
    v
}

/// Payload of a string array.
pub(crate) fn str_array(items: &[&str]) -> Vec<u8> {
    let mut elems = Vec::new();
    for s in items {
        string(&mut elems, s);
    }
    array(8, items.len() as u64, &elems)
}

impl Writer {
    pub fn new() -> Self {
        Writer { version: 3, alignment: 32, kv: Vec::new(), n_kv: 0, tensors: Vec::new() }
    }

    /// Adds a key with a value of GGUF type `ty` whose encoded payload is `payload`.
    pub fn kv(&mut self, key: &str, ty: u32, payload: &[u8]) -> &mut Self {
        string(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        self.kv.extend(payload);
        self.n_kv += 1;
        self
    }

    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.kv(key, 4, &v.to_le_bytes())
    }

    pub fn kv_f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.kv(key, 6, &v.to_le_bytes())
    }

    pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        let mut p = Vec::new();
        string(&mut p, v);
        self.kv(key, 8, &p)
    }

    /// Adds a tensor: `dims` innermost first (GGUF order), `ty` a GGML type id.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, data: Vec<u8>) -> &mut Self {
        self.tensors.push((name.to_string(), dims.to_vec(), ty, data));
        self
    }

    pub fn finish(&self) -> Vec<u8> {
        let a = self.alignment as usize;
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        let mut offset = 0usize;
        for (name, dims, ty, data) in &self.tensors {
            string(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(ty.to_le_bytes());
            out.extend((offset as u64).to_le_bytes());
            offset = (offset + data.len()).next_multiple_of(a);
        }
        out.resize(out.len().next_multiple_of(a), 0);
        for (_, _, _, data) in &self.tensors {
            out.extend(data);
            out.resize(out.len().next_multiple_of(a), 0);
        }
        // No padding after the last tensor: truncating the file by one byte must be detected.
        let last = self.tensors.last().map_or(0, |t| t.3.len());
        out.truncate(out.len() - (last.next_multiple_of(a) - last));
        out
    }
}
