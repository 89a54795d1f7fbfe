//! Pre-parse limits on raw JSON bytes.
//!
//! `serde_json` builds the whole value tree before anyone can look at it, so a
//! hostile body (a million nested arrays, one huge string) costs memory and
//! stack first. [`check`] runs a single linear scan over the bytes and refuses
//! such input up front. It does not otherwise validate JSON: whatever passes
//! here still goes through `serde_json`.

/// Bounds applied by [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest allowed nesting of objects and arrays (`[[1]]` has depth 2).
    pub max_depth: usize,
    /// Longest allowed string (keys included), in raw bytes between the quotes.
    pub max_string_bytes: usize,
    /// Most elements allowed in a single array.
    pub max_array_len: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        // Far above anything in real FHIR (official examples nest < 20 deep)
        // while keeping serde_json's recursion and allocations bounded.
        JsonLimits { max_depth: 64, max_string_bytes: 4 * 1024 * 1024, max_array_len: 100_000 }
    }
}

/// Which limit the input exceeds. Carries only the limit, never input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Objects/arrays nest deeper than allowed.
    #[error("JSON nesting is deeper than {max} levels")]
    TooDeep {
        /// The configured maximum depth.
        max: usize,
    },
    /// A string (or key) is longer than allowed.
    #[error("a JSON string is longer than {max} bytes")]
    StringTooLong {
        /// The configured maximum string length in bytes.
        max: usize,
    },
    /// An array has more elements than allowed.
    #[error("a JSON array has more than {max} elements")]
    ArrayTooLong {
        /// The configured maximum array length.
        max: usize,
    },
}

impl LimitError {
    /// True for size limits (HTTP 413); false for nesting (HTTP 400).
    pub fn is_size(&self) -> bool {
        matches!(self, LimitError::StringTooLong { .. } | LimitError::ArrayTooLong { .. })
    }
}

/// An open container during the scan.
#[derive(Clone, Copy)]
enum Frame {
    Object,
    /// Elements seen so far in this array (commas + 1 once non-empty).
    Array(usize),
}

/// Checks `bytes` against `limits` in one pass: O(n) time, O(max_depth) memory.
/// Never panics, whatever the input.
pub fn check(bytes: &[u8], limits: &JsonLimits) -> Result<(), LimitError> {
    // The stack never exceeds max_depth + 1 frames: pushing past it errors.
    let mut stack: Vec<Frame> = Vec::with_capacity(limits.max_depth.min(64).saturating_add(1));
    let mut in_string = false;
    let mut escaped = false;
    let mut string_len: usize = 0;

    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                continue;
            }
            // Raw bytes, escapes included: an upper bound on the decoded length.
            string_len = string_len.saturating_add(1);
            if string_len > limits.max_string_bytes {
                return Err(LimitError::StringTooLong { max: limits.max_string_bytes });
            }
            continue;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        // Any other byte inside an empty array is the start of its first element.
        if let Some(Frame::Array(n)) = stack.last_mut() {
            if b == b']' {
                stack.pop();
                continue;
            }
            if *n == 0 {
                *n = 1;
            }
            if b == b',' {
                *n = n.saturating_add(1);
            }
            if *n > limits.max_array_len {
                return Err(LimitError::ArrayTooLong { max: limits.max_array_len });
            }
        }
        match b {
            b'"' => {
                in_string = true;
                string_len = 0;
            }
            b'{' | b'[' => {
                if stack.len() >= limits.max_depth {
                    return Err(LimitError::TooDeep { max: limits.max_depth });
                }
                stack.push(if b == b'{' { Frame::Object } else { Frame::Array(0) });
            }
            // Mismatched or stray closers are serde_json's to reject.
            b'}' | b']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max_depth: usize, max_string_bytes: usize, max_array_len: usize) -> JsonLimits {
        JsonLimits { max_depth, max_string_bytes, max_array_len }
    }

    #[test]
    fn defaults() {
        let l = JsonLimits::default();
        assert_eq!((l.max_depth, l.max_string_bytes, l.max_array_len), (64, 4 * 1024 * 1024, 100_000));
    }

    #[test]
    fn depth() {
        let l = limits(3, 100, 100);
        assert_eq!(check(br#"{"a":[{"b":1}]}"#, &l), Ok(()));
        assert_eq!(check(br#"{"a":[{"b":[]}]}"#, &l), Err(LimitError::TooDeep { max: 3 }));
        // Brackets inside strings do not count.
        assert_eq!(check(br#"{"a":"[[[[[[{{{{"}"#, &l), Ok(()));
        // Closing brings the depth back down.
        assert_eq!(check(b"[[[]]] [[[]]] [[[]]]", &l), Ok(()));
        assert_eq!(check(b"[", &limits(0, 1, 1)), Err(LimitError::TooDeep { max: 0 }));
    }

    #[test]
    fn strings() {
        let l = limits(8, 5, 100);
        assert_eq!(check(br#"{"abcde":"12345"}"#, &l), Ok(()));
        assert_eq!(check(br#"{"abcdef":1}"#, &l), Err(LimitError::StringTooLong { max: 5 }));
        assert_eq!(check(br#"["123456"]"#, &l), Err(LimitError::StringTooLong { max: 5 }));
        // An escaped quote does not end the string; escapes count as raw bytes.
        assert_eq!(check(br#"["\"\"\""]"#, &l), Err(LimitError::StringTooLong { max: 5 }));
        assert_eq!(check(br#"["a\\", "b"]"#, &l), Ok(()));
        // Multi-byte UTF-8 counts in bytes.
        assert_eq!(check("[\"ééé\"]".as_bytes(), &l), Err(LimitError::StringTooLong { max: 5 }));
    }

    #[test]
    fn arrays() {
        let l = limits(8, 100, 3);
        assert_eq!(check(b"[]", &l), Ok(()));
        assert_eq!(check(b"[ ]", &l), Ok(()));
        assert_eq!(check(b"[1,2,3]", &l), Ok(()));
        assert_eq!(check(b"[1,2,3,4]", &l), Err(LimitError::ArrayTooLong { max: 3 }));
        // Commas in nested containers and strings belong to those, not the outer array.
        assert_eq!(check(br#"[[1,2,3],{"a":1,"b":2,"c":3,"d":4},",,,,"]"#, &l), Ok(()));
        assert_eq!(check(b"[[1,2,3,4]]", &l), Err(LimitError::ArrayTooLong { max: 3 }));
        assert_eq!(check(b"[1]", &limits(8, 100, 0)), Err(LimitError::ArrayTooLong { max: 0 }));
        assert_eq!(check(b"[]", &limits(8, 100, 0)), Ok(()));
    }

    #[test]
    fn size_classification() {
        assert!(!LimitError::TooDeep { max: 1 }.is_size());
        assert!(LimitError::StringTooLong { max: 1 }.is_size());
        assert!(LimitError::ArrayTooLong { max: 1 }.is_size());
    }

    #[test]
    fn garbage_is_left_to_serde() {
        let l = JsonLimits::default();
        for junk in [&b"]]]]}}}"[..], b"\"unterminated", b"\\", b"", b"\xff\xfe", b"[,,]", b"{\"a\"]"] {
            assert_eq!(check(junk, &l), Ok(()));
        }
    }

    /// The deepest nesting, longest raw string and longest array of a value.
    fn measure(v: &serde_json::Value, depth: usize, acc: &mut (usize, usize, usize)) {
        let raw_len = |s: &str| serde_json::to_string(s).map(|q| q.len() - 2).unwrap();
        match v {
            serde_json::Value::String(s) => acc.1 = acc.1.max(raw_len(s)),
            serde_json::Value::Array(a) => {
                acc.0 = acc.0.max(depth + 1);
                acc.2 = acc.2.max(a.len());
                a.iter().for_each(|x| measure(x, depth + 1, acc));
            }
            serde_json::Value::Object(o) => {
                acc.0 = acc.0.max(depth + 1);
                for (k, x) in o {
                    acc.1 = acc.1.max(raw_len(k));
                    measure(x, depth + 1, acc);
                }
            }
            _ => {}
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(serde_json::Value::from),
            "[a-z\"\\\\\\[\\]{},é\n]{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(8, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("[a-z\"\\[,]{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                        d in 0usize..8, s in 0usize..8, a in 0usize..8) {
            let _ = check(&bytes, &limits(d, s, a));
            let _ = check(&bytes, &JsonLimits::default());
        }

        #[test]
        fn depth_error_iff_deeper_than_max(depth in 0usize..100, max in 0usize..100, filler in "[0-9, ]{0,4}") {
            let text = format!("{}{}{}", "[".repeat(depth), filler, "]".repeat(depth));
            let got = check(text.as_bytes(), &limits(max, 1 << 20, 1 << 20));
            prop_assert_eq!(got.is_err(), depth > max);
            if depth > max {
                prop_assert_eq!(got, Err(LimitError::TooDeep { max }));
            }
        }

        #[test]
        fn agrees_with_serde(v in json_value(), compact in any::<bool>(),
                             d in 0usize..10, s in 0usize..14, a in 0usize..7) {
            let text = if compact { serde_json::to_string(&v) } else { serde_json::to_string_pretty(&v) }.unwrap();
            let mut m = (0, 0, 0);
            measure(&v, 0, &mut m);
            let l = limits(d, s, a);
            let got = check(text.as_bytes(), &l);
            // Which error comes first depends on byte order; whether one comes does not.
            let over = m.0 > d || m.1 > s || m.2 > a;
            prop_assert_eq!(got.is_err(), over, "measured {:?} for {}", m, text);
            prop_assert_eq!(check(text.as_bytes(), &limits(m.0, m.1, m.2)), Ok(()));
        }
    }
}
