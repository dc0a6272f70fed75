//! The 8-state trellis of trellis-coded quantization (TCQ) and the walk that turns stored
//! symbols back into grid codes. Normative for every decoder (the GPU's `trellis_expand.wgsl`
//! follows [`decode_row`] step for step).
//!
//! Grid codes `j` (reconstruction `step * j`) are split into four subsets by `j mod 4`
//! (`D0..D3`, with `j & 3` on two's complement). A row starts in state 0; in state `s` only
//! codes with `j & 1 == s & 1` are allowed (the union `D0 ∪ D2` or `D1 ∪ D3`), and the code
//! taken moves the trellis to
//! ```text
//! b    = ((j & 3) >> 1) ^ parity(s & 6)
//! next = ((s << 1) | b) & 7
//! ```
//! The stored symbol says which allowed code was taken, counting outwards from zero:
//! `symbol(j) = |j| - [j > 0]` (`0, 2, -2, 4, -4, ...` in an even state and `1, -1, 3, -3, ...`
//! in an odd one are symbols `0, 1, 2, 3, 4, ...`), so both unions share one frequency table.
//! The inverse, given the state: `j = -symbol` when `symbol & 1 == s & 1`, else `symbol + 1`.
//!
//! The encoder (a Viterbi search in `quantize.rs`) picks the path; a decoder only walks it. The
//! trellis is the shift-register code with union parity `s & 1` and subset bit `parity(s & 6)`,
//! found best of its family by search: on uniform data its granular gain over a uniform
//! quantizer of the same rate is 1.06 dB (the 4-state trellis of Marcellin and Fischer: 0.98 dB).

/// States of the trellis.
pub const STATES: usize = 8;

/// Largest magnitude of a grid code (the runtime stores `j + 128` in a byte).
pub const MAX_CODE: i32 = 127;

/// Largest symbol a valid row can hold (`j = -127` in an odd state).
pub const MAX_SYMBOL: u8 = 127;

#[inline]
fn parity(x: u8) -> u8 {
    (x.count_ones() & 1) as u8
}

/// Whether grid code `j` may be taken in `state` (its parity matches the state's union).
#[inline]
pub fn allowed(state: u8, j: i32) -> bool {
    (j & 1) as u8 == state & 1
}

/// The subset `j mod 4` of the branch that leaves `state` with branch bit `b`.
#[inline]
pub fn subset(state: u8, b: u8) -> u8 {
    ((parity(state & 6) ^ b) << 1) | (state & 1)
}

/// The state after taking the allowed code `j` in `state`.
#[inline]
pub fn next_state(state: u8, j: i32) -> u8 {
    let b = (((j & 3) >> 1) as u8) ^ parity(state & 6);
    ((state << 1) | b) & 7
}

/// The stored symbol of grid code `j` (`|j| - [j > 0]`).
#[inline]
pub fn symbol(j: i32) -> u8 {
    (j.unsigned_abs() - u32::from(j > 0)) as u8
}

/// The grid code that `symbol` stands for in `state`.
#[inline]
pub fn code(symbol: u8, state: u8) -> i32 {
    let s = i32::from(symbol);
    if (symbol & 1) == (state & 1) { -s } else { s + 1 }
}

/// Walks one row: `symbols` (one row of the stream) to grid codes. Fails with the first column
/// whose code would leave `[-127, 127]` (only a corrupted stream has one).
pub fn decode_row(symbols: &[u8], codes: &mut [i8]) -> Result<(), usize> {
    let mut state = 0u8;
    for (c, (&s, out)) in symbols.iter().zip(codes.iter_mut()).enumerate() {
        let j = code(s, state);
        if j.abs() > MAX_CODE {
            return Err(c);
        }
        *out = j as i8;
        state = next_state(state, j);
    }
    Ok(())
}

/// The symbols of a row of grid codes, checking that the codes follow the trellis (each
/// allowed in the state the previous ones lead to). Fails with the first column that does not.
pub fn encode_row(codes: &[i8], symbols: &mut [u8]) -> Result<(), usize> {
    let mut state = 0u8;
    for (c, (&j, out)) in codes.iter().zip(symbols.iter_mut()).enumerate() {
        let j = i32::from(j);
        if !allowed(state, j) || j.abs() > MAX_CODE {
            return Err(c);
        }
        *out = symbol(j);
        state = next_state(state, j);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_and_codes_are_inverse_in_every_state() {
        for state in 0..STATES as u8 {
            for j in -MAX_CODE..=MAX_CODE {
                if allowed(state, j) {
                    assert_eq!(code(symbol(j), state), j, "state {state} j {j}");
                    assert!(symbol(j) <= MAX_SYMBOL);
                }
            }
            // Every symbol names an allowed code.
            for s in 0..=MAX_SYMBOL {
                assert!(allowed(state, code(s, state)));
            }
        }
    }

    #[test]
    fn each_state_has_two_branches_to_distinct_states_over_its_union() {
        for state in 0..STATES as u8 {
            let subsets = [subset(state, 0), subset(state, 1)];
            assert_ne!(subsets[0], subsets[1]);
            assert!(subsets.iter().all(|&k| k & 1 == state & 1), "branches stay in the union");
            let next: Vec<u8> = subsets.iter().map(|&k| next_state(state, i32::from(k))).collect();
            assert_ne!(next[0], next[1]);
            // A code's subset, not its value, decides the branch.
            for k in subsets {
                assert_eq!(next_state(state, i32::from(k)), next_state(state, i32::from(k) - 8));
            }
        }
    }

    #[test]
    fn rows_round_trip_and_invalid_paths_are_rejected() {
        // A valid path: follow the trellis with arbitrary allowed codes.
        let mut state = 0u8;
        let mut codes = Vec::new();
        for i in 0..200i32 {
            let mut j = (i * 37 % 41) - 20;
            if !allowed(state, j) {
                j += 1;
            }
            codes.push(j as i8);
            state = next_state(state, j);
        }
        let mut symbols = vec![0u8; codes.len()];
        encode_row(&codes, &mut symbols).unwrap();
        let mut back = vec![0i8; codes.len()];
        decode_row(&symbols, &mut back).unwrap();
        assert_eq!(back, codes);
        // An odd code in the starting state breaks the path at column 0.
        assert_eq!(encode_row(&[1], &mut [0]), Err(0));
        // Symbol 127 in an even state would be code 128.
        assert_eq!(decode_row(&[127], &mut [0]), Err(0));
    }
}
