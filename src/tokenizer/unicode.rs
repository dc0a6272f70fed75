//! The character classes pre-tokenizers split on: letters (`\p{L}`), numbers (`\p{N}`) and
//! white space (`\s`, the Unicode `White_Space` property).
//!
//! The tables come from `regex-syntax` (the `regex` crate's own Unicode data), limited to the
//! characters assigned by Unicode [`UNICODE_VERSION`]: llama.cpp's tables (`unicode-data.cpp`)
//! were generated from that version, and a character assigned later (a new letter of Unicode 16,
//! say) is "unassigned" there, which its splitters treat like punctuation. Matching its version
//! keeps the pieces identical to llama.cpp's for every input.

use std::sync::OnceLock;

use regex_syntax::hir::{Class as HirClass, HirKind};

/// The Unicode version of llama.cpp's character tables, as a `regex-syntax` age value.
pub const UNICODE_VERSION: &str = "V15_1";

/// The class of one character, as the pre-tokenizers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `\p{L}`: Lu, Ll, Lt, Lm, Lo.
    Letter,
    /// `\p{N}`: Nd, Nl, No.
    Number,
    /// `\s`: the 25 `White_Space` characters (tab to carriage return, space, NEL, NBSP, ...).
    Space,
    /// Everything else: punctuation, symbols, marks, controls, unassigned characters.
    Other,
}

/// Sorted, disjoint ranges `(first, last, class)` of the non-ASCII letters and numbers.
struct Table {
    ranges: Vec<(u32, u32, Class)>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut ranges = Vec::new();
        for (category, class) in [("L", Class::Letter), ("N", Class::Number)] {
            let pattern = format!(r"[\p{{{category}}}&&\p{{age={UNICODE_VERSION}}}]");
            let hir = regex_syntax::ParserBuilder::new()
                .build()
                .parse(&pattern)
                .expect("a general category and an age are known properties");
            let HirKind::Class(HirClass::Unicode(set)) = hir.kind() else {
                unreachable!("a bracketed class parses to a Unicode class")
            };
            ranges.extend(set.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()), class)));
        }
        // Letters and numbers are disjoint categories, so sorting by start keeps ranges disjoint.
        ranges.sort_unstable_by_key(|r| r.0);
        Table { ranges }
    })
}

/// The class of `c`.
#[inline]
pub fn class(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Letter,
            '0'..='9' => Class::Number,
            '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' => Class::Space,
            _ => Class::Other,
        };
    }
    if c.is_whitespace() {
        return Class::Space;
    }
    let cp = u32::from(c);
    let ranges = &table().ranges;
    // The last range starting at or before `cp`.
    let i = ranges.partition_point(|r| r.0 <= cp);
    match i.checked_sub(1).map(|i| ranges[i]) {
        Some((_, last, class)) if cp <= last => class,
        _ => Class::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_general_category() {
        for c in ['a', 'Z', 'é', 'ß', 'Ж', 'λ', '中', 'ア', '한', 'ع', 'א', 'ǅ', 'ʰ'] {
            assert_eq!(class(c), Class::Letter, "{c:?}");
        }
        for c in ['0', '٣', '१', '５', '²', '½', 'Ⅻ', '①'] {
            assert_eq!(class(c), Class::Number, "{c:?}");
        }
        for c in [' ', '\t', '\n', '\r', '\x0b', '\x0c', '\u{85}', '\u{a0}', '\u{2009}', '\u{3000}', '\u{2028}'] {
            assert_eq!(class(c), Class::Space, "{c:?}");
        }
        // Punctuation, symbols, combining marks, format and control characters, emoji,
        // private use and unassigned code points.
        for c in ['.', '\'', '$', '\x00', '\x1f', '\u{301}', '\u{200b}', '\u{feff}', '🦀', '€', '\u{e000}', '\u{378}']
        {
            assert_eq!(class(c), Class::Other, "{c:?}");
        }
    }

    #[test]
    fn characters_newer_than_the_table_version_are_other() {
        // U+1C89 CYRILLIC CAPITAL LETTER TJE was added in Unicode 16.0; U+2EBF0 (a CJK
        // ideograph of extension I) in 15.1.
        assert_eq!(class('\u{1c89}'), Class::Other);
        assert_eq!(class('\u{2ebf0}'), Class::Letter);
    }
}
