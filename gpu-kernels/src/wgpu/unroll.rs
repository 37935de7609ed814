//! Full unrolling of the WGSL loops with literal bounds, applied by the host to every module
//! before it is compiled.
//!
//! WGSL has no unroll attribute, and naga translates `a.l[k]` with a loop counter `k` into a
//! dynamically indexed array, which a driver may keep in local (off-chip) memory: then every
//! limb of every field element is a memory access. Unrolled, each index is a constant, the
//! arrays are plain registers, and the field code is the straight-line code the CUDA kernels
//! get from `#pragma unroll`.
//!
//! A loop is unrolled when its header reads `for (var NAME = A; NAME < B; NAME++) {` with
//! integer literals `A` and `B` (suffix `u`, `i` or none) and its body has no `break` or
//! `continue`. Each iteration becomes a block `{ ... }` with `NAME` replaced by the literal of
//! the counter's type, so `let` declarations of different iterations do not collide. Any other
//! loop is left as written.

/// `source` with every loop of the form above unrolled, inner loops included.
pub(super) fn unroll(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = find_for(rest) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match Loop::parse(tail) {
            Some(lp) => {
                out.push_str(&lp.expand());
                rest = &tail[lp.len..];
            }
            None => {
                out.push_str("for");
                rest = &tail[3..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The byte offset of the next `for` keyword outside comments.
fn find_for(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    // Bytes, not chars: comments hold non-ASCII text, and `i` may sit inside a character.
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            i += bytes[i..].iter().position(|&b| b == b'\n').unwrap_or(bytes.len() - i);
        } else if bytes[i..].starts_with(b"for") && !is_word(bytes.get(i + 3)) && (i == 0 || !is_word(bytes.get(i - 1))) {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

fn is_word(b: Option<&u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A loop with literal bounds: `for (var name = start; name < end; name++) { body }`.
struct Loop<'a> {
    name: &'a str,
    start: u64,
    end: u64,
    /// The literal suffix of the counter's type: `u` or `i` (WGSL's default for `var x = 0`).
    suffix: &'static str,
    body: &'a str,
    /// Bytes from `for` to the closing brace, inclusive.
    len: usize,
}

impl<'a> Loop<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let open = s.find('{')?;
        let header = s[..open].strip_prefix("for")?.trim().strip_prefix('(')?.strip_suffix(')')?;
        let [init, cond, step]: [&str; 3] = header.split(';').map(str::trim).collect::<Vec<_>>().try_into().ok()?;
        let (name, start) = init.strip_prefix("var ")?.split_once('=')?;
        let (cond_name, end) = cond.split_once('<')?;
        let name = name.trim();
        let (start, suffix) = literal(start.trim())?;
        let (end, end_suffix) = literal(end.trim())?;
        if cond_name.trim() != name || step.replace(' ', "") != format!("{name}++") || (end_suffix != suffix && end_suffix != "i") {
            return None;
        }
        let close = open + matching_brace(&s[open..])?;
        let body = &s[open + 1..close];
        if has_word(body, "break") || has_word(body, "continue") || assigns(body, name) {
            return None;
        }
        Some(Self { name, start, end, suffix, body, len: close + 1 })
    }

    fn expand(&self) -> String {
        let body = unroll(self.body);
        (self.start..self.end)
            .map(|v| format!("{{{}}}", replace_word(&body, self.name, &format!("{v}{}", self.suffix))))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// An integer literal and the suffix of its type (`u`, or `i` for `i` and no suffix).
fn literal(s: &str) -> Option<(u64, &'static str)> {
    let (digits, suffix) = match s.strip_suffix('u') {
        Some(d) => (d, "u"),
        None => (s.strip_suffix('i').unwrap_or(s), "i"),
    };
    Some((digits.parse().ok()?, suffix))
}

/// The offset of the brace closing the one `s` starts with.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_comment = false;
    for (i, c) in s.char_indices() {
        match c {
            '\n' => in_comment = false,
            '/' if s[i..].starts_with("//") => in_comment = true,
            '{' if !in_comment => depth += 1,
            '}' if !in_comment => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The identifier tokens of `s`, with their byte offsets; a token after `.` is a member name,
/// not a variable, and is skipped.
fn words(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if is_word(Some(&bytes[i])) {
                let start = i;
                while is_word(bytes.get(i)) {
                    i += 1;
                }
                let member = start > 0 && bytes[start - 1] == b'.';
                // Numeric literals (`8u`, `0x1f`) are not identifiers.
                if !member && !bytes[start].is_ascii_digit() {
                    return Some((start, &s[start..i]));
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

fn has_word(s: &str, word: &str) -> bool {
    words(s).any(|(_, w)| w == word)
}

/// Whether `s` assigns to `name` (`name = `, `name += `, `name++`, ...), which unrolling would break.
fn assigns(s: &str, name: &str) -> bool {
    const UPDATES: [&str; 12] = ["++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="];
    words(s).filter(|(_, w)| *w == name).any(|(at, w)| {
        let after = s[at + w.len()..].trim_start();
        (after.starts_with('=') && !after.starts_with("==")) || UPDATES.iter().any(|op| after.starts_with(op))
    })
}

fn replace_word(s: &str, name: &str, by: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (at, w) in words(s) {
        if w == name {
            out.push_str(&s[last..at]);
            out.push_str(by);
            last = at + w.len();
        }
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::unroll;

    #[test]
    fn unrolls_literal_loops_with_the_counter_type() {
        let src = "for (var k = 0u; k < 3u; k++) { r.l[k] = b[w + k]; }";
        assert_eq!(unroll(src), "{ r.l[0u] = b[w + 0u]; } { r.l[1u] = b[w + 1u]; } { r.l[2u] = b[w + 2u]; }");
        assert_eq!(unroll("for (var j = 1; j < 3; j++) { t[j - 1] = x.j; }"), "{ t[1i - 1] = x.j; } { t[2i - 1] = x.j; }");
    }

    #[test]
    fn unrolls_nested_loops_and_keeps_the_rest() {
        let src = "a;\nfor (var i = 0u; i < 2u; i++) {\n  for (var j = 0u; j < 2u; j++) { s += m[i][j]; }\n}\nb;";
        let out = unroll(src);
        for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            assert!(out.contains(&format!("s += m[{i}u][{j}u];")), "{out}");
        }
        assert!(out.starts_with("a;\n") && out.ends_with("\nb;") && !out.contains("for"), "{out}");
    }

    #[test]
    fn leaves_other_loops_alone() {
        for src in [
            "for (var k = 0u; k < n; k++) { x += k; }",
            "for (var k = 0u; k < 4u; k++) { if (x[k] == 0u) { break; } }",
            "for (var k = 0u; k < 4u; k++) { k += 1u; }",
            "for (var i = 7; i >= 0; i--) { x += i; }",
            "// for (var k = 0u; k < 2u; k++) { x += k; }",
            "let σ = 1u; for (var k = 0u; k < n; k++) { x += σ; }",
        ] {
            assert_eq!(unroll(src), src);
        }
    }
}
