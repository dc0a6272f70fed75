//! Bit packing of quantization codes.
//!
//! One rule for every bit width: the codes of a row form a little-endian bitstream of u32 words,
//! code `j` occupying bits `j*bits .. (j+1)*bits`. For 2, 4 and 8 bits this is exactly MLX's
//! packing (`32/bits` codes per word, the first code in the lowest bits). For 3 bits it is MLX's
//! byte-stream packing seen as u32 words: 32 codes fill exactly 3 words, and since group sizes are
//! multiples of 32, every group starts on a word boundary. A 3-bit code may straddle two words.

/// Number of u32 words holding `n` codes of `bits` bits (rounded up).
pub fn words_for(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(32)
}

/// Packs `codes` (each `< 2^bits`) into `out`, which must hold [`words_for`]`(codes.len(), bits)` words.
/// Bits beyond the last code are zero.
pub fn pack_into(codes: &[u8], bits: u32, out: &mut [u32]) {
    debug_assert!(out.len() >= words_for(codes.len(), bits));
    out.iter_mut().for_each(|w| *w = 0);
    let mask = (1u32 << bits) - 1;
    for (j, &c) in codes.iter().enumerate() {
        debug_assert!(u32::from(c) <= mask);
        let bit = j * bits as usize;
        let (w, s) = (bit / 32, (bit % 32) as u32);
        let c = u32::from(c) & mask;
        out[w] |= c << s;
        if s + bits > 32 {
            out[w + 1] |= c >> (32 - s);
        }
    }
}

/// Packs codes into a new vector of words.
pub fn pack(codes: &[u8], bits: u32) -> Vec<u32> {
    let mut out = vec![0u32; words_for(codes.len(), bits)];
    pack_into(codes, bits, &mut out);
    out
}

/// Reads code `j` from a packed row.
#[inline]
pub fn get(words: &[u32], bits: u32, j: usize) -> u8 {
    let bit = j * bits as usize;
    let (w, s) = (bit / 32, (bit % 32) as u32);
    let mut v = words[w] >> s;
    if s + bits > 32 {
        v |= words[w + 1] << (32 - s);
    }
    (v & ((1u32 << bits) - 1)) as u8
}

/// Unpacks `n` codes from a packed row.
pub fn unpack(words: &[u32], bits: u32, n: usize) -> Vec<u8> {
    (0..n).map(|j| get(words, bits, j)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlx_layout_for_4_bits() {
        // MLX: first code in the lowest nibble.
        let w = pack(&[1, 2, 3, 4, 5, 6, 7, 8], 4);
        assert_eq!(w, vec![0x8765_4321]);
    }

    #[test]
    fn three_bits_fill_three_words_per_32_codes() {
        let codes: Vec<u8> = (0..64).map(|i| (i * 5 % 8) as u8).collect();
        let w = pack(&codes, 3);
        assert_eq!(w.len(), 6);
        assert_eq!(unpack(&w, 3, 64), codes);
        // Same bytes as a little-endian bitstream of 3-bit codes (MLX's 3-bit packing).
        let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
        for (j, &c) in codes.iter().enumerate() {
            let bit = 3 * j;
            let v = (u16::from(bytes[bit / 8]) | u16::from(*bytes.get(bit / 8 + 1).unwrap_or(&0)) << 8) >> (bit % 8);
            assert_eq!((v & 7) as u8, c);
        }
    }

    #[test]
    fn round_trip_all_widths() {
        for bits in [2u32, 3, 4, 8] {
            let codes: Vec<u8> = (0..301).map(|i| ((i * 37 + 11) % (1 << bits)) as u8).collect();
            assert_eq!(unpack(&pack(&codes, bits), bits, codes.len()), codes);
        }
    }
}
