//! Errors of the rANS codec.

/// Everything that can be wrong with a frequency table, an encoding request or an encoded stream.
///
/// Decoding never panics and never reads out of bounds: malformed input ends in one of these,
/// naming the block (and lane, step or word offset) where the problem showed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RansError {
    /// Probability precision outside `MIN_PROB_BITS..=MAX_PROB_BITS`.
    #[error("probability precision of {0} bits is outside 10..=12")]
    ProbBits(u32),
    /// A table with no symbols.
    #[error("frequency table has no symbols")]
    EmptyAlphabet,
    /// A table with more than 256 symbols.
    #[error("alphabet of {0} symbols exceeds 256")]
    TooManySymbols(usize),
    /// A histogram with no occurrences: there is nothing to build a table from.
    #[error("histogram is empty (all counts are zero)")]
    ZeroSum,
    /// Frequencies that do not sum to `2^prob_bits`.
    #[error("frequencies sum to {sum}, expected {expected}")]
    FreqSum {
        /// The actual sum.
        sum: u64,
        /// `2^prob_bits`.
        expected: u64,
    },
    /// A symbol to encode whose frequency is zero (or that lies outside the alphabet).
    #[error("symbol {symbol} at index {index} has zero frequency in the table")]
    SymbolNotInTable {
        /// Position of the symbol in the input.
        index: usize,
        /// The symbol.
        symbol: u8,
    },
    /// A block length of zero.
    #[error("block length must be at least 1")]
    ZeroBlockLen,
    /// A symbol count or block length that does not fit the format's `u32` fields.
    #[error("{0} exceeds the format limit of 2^32 - 1 symbols")]
    TooLarge(usize),
    /// An array whose length does not match the stream's shape.
    #[error("{what}: length {actual}, expected {expected}")]
    Length {
        /// Which array.
        what: &'static str,
        /// Length implied by the stream's shape.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// Word offsets that decrease or point past the word stream.
    #[error("block {block}: word offset {offset} is below the previous one or past the {num_words} words")]
    Offset {
        /// Block whose end offset is wrong.
        block: usize,
        /// The offending offset (in 16-bit words).
        offset: u32,
        /// Number of words in the stream.
        num_words: u32,
    },
    /// A stored state outside `[2^16, 2^32)`.
    #[error("block {block} lane {lane}: initial state {state:#x} is below 2^16")]
    InitialState {
        /// Block index.
        block: usize,
        /// Lane index.
        lane: usize,
        /// The stored state.
        state: u32,
    },
    /// A block whose decoder reads past the end of the block's word range.
    #[error("block {block}: step {step} lane {lane} reads word {offset}, past the block's end")]
    WordsExhausted {
        /// Block index.
        block: usize,
        /// Decode step (symbol index within the block divided by 32).
        step: usize,
        /// Lane that needed the word.
        lane: usize,
        /// Global word offset of the missing word.
        offset: u32,
    },
    /// A block whose decoder did not end in the encoder's initial state.
    #[error("block {block} lane {lane}: final state {state:#x} is not the initial 0x10000")]
    FinalState {
        /// Block index.
        block: usize,
        /// Lane index.
        lane: usize,
        /// The state the decoder ended in.
        state: u32,
    },
    /// A block whose decoder did not consume all of the block's words.
    #[error("block {block}: decoding used {used} of {count} words")]
    LeftoverWords {
        /// Block index.
        block: usize,
        /// Words consumed.
        used: u32,
        /// Words stored for the block.
        count: u32,
    },
    /// A block index past the last block.
    #[error("block {block} out of range ({n_blocks} blocks)")]
    BlockIndex {
        /// Requested block.
        block: usize,
        /// Number of blocks.
        n_blocks: usize,
    },
    /// Serialized bytes that are not a valid stream (bad magic, version, truncation, checksum).
    #[error("serialized stream, byte {offset}: {msg}")]
    Format {
        /// Byte offset where the problem was found.
        offset: usize,
        /// What was wrong.
        msg: &'static str,
    },
}
