//! The WGSL sources and the small preprocessor that composes their variants.
//!
//! Every kernel family is one file under `wgsl/`. Text-level variants are selected with
//! directives on lines of their own:
//!
//! - `#include "file.wgsl"`: splices another registered file in (each file at most once).
//! - `#if NAME`, `#if !NAME`, `#elif NAME`, `#else`, `#endif`: keep or drop lines by boolean flags;
//!   `#if NAME == 4` and `#if NAME != 4` compare an integer define.
//! - `#for I in 0..N` ... `#endfor`: repeats the lines with the whole word `I` replaced by `0u`,
//!   `1u`, ... (`N` an integer or integer define). Loops over private arrays must be unrolled this
//!   way: drivers do not reliably unroll naga's loops, and a dynamically indexed private array
//!   lands in slow local memory.
//!
//! Integer defines (bits, batch size) become `const NAME: u32 = N;` declarations placed after
//! the `enable` directives, which are hoisted to the top. Numeric tunables that do not change the
//! text (workgroup sizes) are WGSL `override` constants instead, set at pipeline creation.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Every WGSL file of ecq, by name.
pub const SOURCES: &[(&str, &str)] = &[
    ("common.wgsl", include_str!("../../wgsl/common.wgsl")),
    ("dequant.wgsl", include_str!("../../wgsl/dequant.wgsl")),
    ("gemv.wgsl", include_str!("../../wgsl/gemv.wgsl")),
    ("gemv_rows.wgsl", include_str!("../../wgsl/gemv_rows.wgsl")),
    ("gemv_fused.wgsl", include_str!("../../wgsl/gemv_fused.wgsl")),
    ("copy.wgsl", include_str!("../../wgsl/copy.wgsl")),
    ("rans_core.wgsl", include_str!("../../wgsl/rans_core.wgsl")),
    ("rans_decode.wgsl", include_str!("../../wgsl/rans_decode.wgsl")),
    ("step.wgsl", include_str!("../../wgsl/step.wgsl")),
    ("rmsnorm.wgsl", include_str!("../../wgsl/rmsnorm.wgsl")),
    ("rope.wgsl", include_str!("../../wgsl/rope.wgsl")),
    ("attention.wgsl", include_str!("../../wgsl/attention.wgsl")),
    ("swiglu.wgsl", include_str!("../../wgsl/swiglu.wgsl")),
    ("add.wgsl", include_str!("../../wgsl/add.wgsl")),
    ("sparse_add.wgsl", include_str!("../../wgsl/sparse_add.wgsl")),
    ("embed.wgsl", include_str!("../../wgsl/embed.wgsl")),
    ("argmax.wgsl", include_str!("../../wgsl/argmax.wgsl")),
];

/// Looks up a registered WGSL file.
pub fn source(name: &str) -> Result<&'static str> {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::InvalidArgument(format!("no WGSL file named `{name}`")))
}

/// A define: a boolean flag for `#if`, or an integer that also becomes a `const`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Define {
    /// Used by `#if NAME` / `#if !NAME`.
    Flag(bool),
    /// Emitted as `const NAME: u32 = N;` and usable in `#if NAME == N`.
    U32(u32),
}

/// The defines of one variant, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defines(BTreeMap<&'static str, Define>);

impl Defines {
    /// No defines.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a boolean flag.
    pub fn flag(mut self, name: &'static str, on: bool) -> Self {
        self.0.insert(name, Define::Flag(on));
        self
    }

    /// Adds an integer define.
    pub fn int(mut self, name: &'static str, v: u32) -> Self {
        self.0.insert(name, Define::U32(v));
        self
    }

    fn eval(&self, cond: &str, file: &str, line: usize) -> Result<bool> {
        let err = |m: String| Error::InvalidArgument(format!("{file}:{line}: {m}"));
        let cond = cond.trim();
        for (op, eq) in [("!=", false), ("==", true)] {
            if let Some((name, value)) = cond.split_once(op) {
                let (name, value) = (name.trim(), value.trim());
                let want: u32 = value.parse().map_err(|_| err(format!("`{value}` is not an integer")))?;
                return match self.0.get(name) {
                    Some(Define::U32(v)) => Ok((*v == want) == eq),
                    _ => Err(err(format!("`{name}` is not an integer define"))),
                };
            }
        }
        let (neg, name) = match cond.strip_prefix('!') {
            Some(n) => (true, n.trim()),
            None => (false, cond),
        };
        match self.0.get(name) {
            Some(Define::Flag(b)) => Ok(*b != neg),
            Some(Define::U32(_)) => Err(err(format!("`{name}` is an integer; compare it with =="))),
            None => Err(err(format!("`{name}` is not defined for this variant"))),
        }
    }
}

/// Preprocesses the registered file `root` with `defines` into one WGSL module.
pub fn preprocess(root: &str, defines: &Defines) -> Result<String> {
    preprocess_with(root, defines, &source)
}

/// [`preprocess`] over any set of files, looked up by `text_of` (used by tests).
pub fn preprocess_with(
    root: &str,
    defines: &Defines,
    text_of: &dyn Fn(&str) -> Result<&'static str>,
) -> Result<String> {
    let mut body = String::new();
    let mut included = Vec::new();
    expand(root, defines, text_of, &mut included, &mut body)?;
    let mut out = String::new();
    let mut rest = String::new();
    for line in body.lines() {
        let t = line.trim_start();
        if t.starts_with("enable ") || t.starts_with("requires ") {
            out.push_str(t);
            out.push('\n');
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    for (name, d) in &defines.0 {
        if let Define::U32(v) = d {
            out.push_str(&format!("const {name}: u32 = {v}u;\n"));
        }
    }
    out.push_str(&rest);
    Ok(out)
}

fn expand(
    file: &str,
    defines: &Defines,
    text_of: &dyn Fn(&str) -> Result<&'static str>,
    included: &mut Vec<String>,
    out: &mut String,
) -> Result<()> {
    if included.iter().any(|f| f == file) {
        return Ok(());
    }
    included.push(file.to_string());
    let text = text_of(file)?;
    let lines: Vec<(usize, String)> = text.lines().enumerate().map(|(i, l)| (i + 1, l.to_string())).collect();
    let mut cx = Cx { file, defines, text_of, included };
    cx.lines(&lines, out)
}

struct Cx<'a, 'b> {
    file: &'a str,
    defines: &'a Defines,
    text_of: &'a dyn Fn(&str) -> Result<&'static str>,
    included: &'b mut Vec<String>,
}

impl Cx<'_, '_> {
    fn lines(&mut self, lines: &[(usize, String)], out: &mut String) -> Result<()> {
        let file = self.file;
        // Stack of (this branch active, some branch of this #if already taken, parent active).
        let mut stack: Vec<(bool, bool, bool)> = Vec::new();
        let active = |s: &Vec<(bool, bool, bool)>| s.last().is_none_or(|t| t.0);
        let mut i = 0;
        while i < lines.len() {
            let (n, line) = (lines[i].0, &lines[i].1);
            let t = line.trim();
            let err = |m: &str| Error::InvalidArgument(format!("{file}:{n}: {m}"));
            if let Some(c) = t.strip_prefix("#if ") {
                let parent = active(&stack);
                let v = parent && self.defines.eval(c, file, n)?;
                stack.push((v, v, parent));
            } else if let Some(c) = t.strip_prefix("#elif ") {
                let (_, taken, parent) = stack.pop().ok_or_else(|| err("#elif without #if"))?;
                let v = parent && !taken && self.defines.eval(c, file, n)?;
                stack.push((v, taken || v, parent));
            } else if t == "#else" {
                let (_, taken, parent) = stack.pop().ok_or_else(|| err("#else without #if"))?;
                stack.push((parent && !taken, true, parent));
            } else if t == "#endif" {
                stack.pop().ok_or_else(|| err("#endif without #if"))?;
            } else if let Some(spec) = t.strip_prefix("#for ") {
                let end = matching_endfor(lines, i).ok_or_else(|| err("#for without #endfor"))?;
                if active(&stack) {
                    let (var, range) = self.for_range(spec).map_err(|m| err(&m))?;
                    for k in range {
                        let body: Vec<(usize, String)> =
                            lines[i + 1..end].iter().map(|(n, l)| (*n, substitute(l, &var, k))).collect();
                        self.lines(&body, out)?;
                    }
                }
                i = end;
            } else if t == "#endfor" {
                return Err(err("#endfor without #for"));
            } else if let Some(inc) = t.strip_prefix("#include ") {
                if active(&stack) {
                    let name = inc.trim().trim_matches('"');
                    expand(name, self.defines, self.text_of, self.included, out)?;
                }
            } else if t.starts_with('#') {
                return Err(err(&format!("unknown directive `{t}`")));
            } else if active(&stack) {
                out.push_str(line);
                out.push('\n');
            }
            i += 1;
        }
        if !stack.is_empty() {
            return Err(Error::InvalidArgument(format!("{file}: unterminated #if")));
        }
        Ok(())
    }

    /// Parses `NAME in A..B` where A and B are integers or integer defines.
    fn for_range(&self, spec: &str) -> std::result::Result<(String, std::ops::Range<u32>), String> {
        let (var, range) = spec.split_once(" in ").ok_or("expected `#for NAME in A..B`")?;
        let (a, b) = range.split_once("..").ok_or("expected a range A..B")?;
        let value = |s: &str| -> std::result::Result<u32, String> {
            let s = s.trim();
            s.parse().or_else(|_| match self.defines.0.get(s) {
                Some(Define::U32(v)) => Ok(*v),
                _ => Err(format!("`{s}` is neither an integer nor an integer define")),
            })
        };
        let var = var.trim();
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            return Err(format!("loop variable `{var}` must be UPPER_CASE"));
        }
        Ok((var.to_string(), value(a)?..value(b)?))
    }
}

/// Index of the `#endfor` closing the `#for` at `start`.
fn matching_endfor(lines: &[(usize, String)], start: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, (_, l)) in lines.iter().enumerate().skip(start) {
        let t = l.trim();
        if t.starts_with("#for ") {
            depth += 1;
        } else if t == "#endfor" {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Replaces whole-word occurrences of `var` in `line` by the literal `ku`.
fn substitute(line: &str, var: &str, k: u32) -> String {
    let mut out = String::with_capacity(line.len());
    let bytes = line.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < line.len() {
        if line[i..].starts_with(var)
            && (i == 0 || !word(bytes[i - 1]))
            && bytes.get(i + var.len()).is_none_or(|&c| !word(c))
        {
            out.push_str(&format!("{k}u"));
            i += var.len();
        } else {
            let ch = line[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &'static str, d: &Defines) -> Result<String> {
        let files = move |name: &str| match name {
            "t.wgsl" => Ok(text),
            "inc.wgsl" => Ok("fn helper() {}\n"),
            _ => Err(Error::InvalidArgument(name.into())),
        };
        // Drop the generated `const` header so tests see only the directive logic.
        preprocess_with("t.wgsl", d, &files)
            .map(|s| s.lines().filter(|l| !l.starts_with("const ")).flat_map(|l| [l, "\n"]).collect())
    }

    #[test]
    fn conditionals_select_lines() {
        let text =
            "a\n#if F16\nb\n#elif BITS == 4\nc\n#else\nd\n#endif\n#if !F16\ne\n#endif\n#if BITS != 4\nf\n#endif\n";
        let d = Defines::new().flag("F16", false).int("BITS", 4);
        assert_eq!(run(text, &d).unwrap(), "a\nc\ne\n");
        let d = Defines::new().flag("F16", true).int("BITS", 4);
        assert_eq!(run(text, &d).unwrap(), "a\nb\n");
        let d = Defines::new().flag("F16", false).int("BITS", 8);
        assert_eq!(run(text, &d).unwrap(), "a\nd\ne\nf\n");
    }

    #[test]
    fn undefined_names_are_errors() {
        assert!(run("#if NOPE\n#endif\n", &Defines::new()).is_err());
        assert!(run("#if BITS\n#endif\n", &Defines::new().int("BITS", 2)).is_err());
        assert!(run("#if X\n", &Defines::new().flag("X", true)).is_err());
        assert!(run("#endif\n", &Defines::new()).is_err());
        assert!(run("#pragma once\n", &Defines::new()).is_err());
    }

    #[test]
    fn for_loops_unroll_with_literal_indices() {
        let d = Defines::new().int("N", 2).flag("F", true);
        let s = run("#for I in 0..N\n#for J in 1..3\na[I][J] = AI + I_J;\n#endfor\n#endfor\n", &d).unwrap();
        assert_eq!(s, "a[0u][1u] = AI + I_J;\na[0u][2u] = AI + I_J;\na[1u][1u] = AI + I_J;\na[1u][2u] = AI + I_J;\n");
        let s = run("#if !F\n#for I in 0..UNDEFINED\nx\n#endfor\n#endif\ny\n", &d).unwrap();
        assert_eq!(s, "y\n");
        assert!(run("#for I in 0..2\nx\n", &d).is_err());
        assert!(run("#endfor\n", &d).is_err());
        assert!(run("#for i in 0..2\n#endfor\n", &d).is_err());
    }

    #[test]
    fn includes_are_spliced_once() {
        let s = run("#include \"inc.wgsl\"\n#include \"inc.wgsl\"\nx\n", &Defines::new()).unwrap();
        assert_eq!(s, "fn helper() {}\nx\n");
    }

    #[test]
    fn real_files_expand_with_hoisted_enables_and_consts() {
        use crate::gpu::{KernelPath, PipelineKey};
        let key = crate::kernels::gemv::GemvKey {
            format: crate::weights::WeightFormat::F16,
            batch: 2,
            rows_per_wg: 4,
            groups_per_wg: 2,
            chunks_per_thread: 1,
            x_stationary: true,
            path: KernelPath { f16: true, subgroups: false, dot8: false },
            wg_size: 64,
            sg_min: 1,
        };
        let s = preprocess("gemv.wgsl", &key.defines()).unwrap();
        assert!(s.starts_with("enable f16;"), "{}", &s[..80]);
        assert!(s.contains("const BATCH: u32 = 2u;"));
        assert!(!s.contains("#if"));
        assert!(preprocess("missing.wgsl", &key.defines()).is_err());
    }
}
