//! The `Range` request header (RFC 9110 §14): parsing, resolving against an
//! object's size, coalescing and capping.
//!
//! Hand-written rather than `http-range-header`: that crate rejects a whole
//! range set when any one range is out of bounds or two ranges overlap,
//! whereas RFC 9110 §14.1.2 makes a set satisfiable when *any* range is, and
//! §14.2 lets the server coalesce overlapping ranges instead of failing.

/// One `range-spec` of a `Range: bytes=...` header (RFC 9110 §14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last` or `first-` (open end).
    Int {
        /// First byte position.
        first: u64,
        /// Last byte position (inclusive), `None` for "to the end".
        last: Option<u64>,
    },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// A byte span `[start, end)` of an object; never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Span {
    /// Bytes in the span.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the span holds no bytes (never true for resolved spans).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The `Content-Range` value of this span of an object of `size` bytes.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end - 1)
    }
}

/// What a `Range` header asks of an object of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range header: answer 200 with the whole body.
    Full,
    /// Answer 206 with these spans (one part, or `multipart/byteranges`).
    Partial(Vec<Span>),
    /// No range is satisfiable: answer 416 with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

/// More range-specs than this in one header are treated as abuse and the
/// header is ignored (RFC 9110 §14.2 allows ignoring "many small ranges").
pub const MAX_RANGES: usize = 100;

/// Parses a `Range` value; `None` when it is not a valid `bytes` ranges
/// specifier (RFC 9110 §14.1.1), in which case the header is ignored.
pub fn parse(value: &str) -> Option<Vec<RangeSpec>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // `1#range-spec`: a comma list where empty elements are allowed (§5.6.1).
    for item in set.split(',') {
        let item = item.trim_matches([' ', '\t']);
        if item.is_empty() {
            continue;
        }
        let (first, last) = item.split_once('-')?;
        let spec = if first.is_empty() {
            RangeSpec::Suffix(digits(last)?)
        } else {
            let first = digits(first)?;
            let last = if last.is_empty() {
                None
            } else {
                Some(digits(last)?)
            };
            // §14.1.1: an int-range with last-pos < first-pos is invalid.
            if last.is_some_and(|l| l < first) {
                return None;
            }
            RangeSpec::Int { first, last }
        };
        specs.push(spec);
    }
    if specs.is_empty() {
        return None;
    }
    Some(specs)
}

/// `1*DIGIT` only: no sign, no spaces, no hex; too large a number is invalid.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Resolves a spec against `size` (RFC 9110 §14.1.2); `None` if unsatisfiable.
pub fn span(spec: RangeSpec, size: u64) -> Option<Span> {
    match spec {
        RangeSpec::Int { first, last } if first < size => Some(Span {
            start: first,
            end: last.map_or(size, |l| l.saturating_add(1).min(size)),
        }),
        RangeSpec::Int { .. } => None,
        RangeSpec::Suffix(n) if n > 0 && size > 0 => Some(Span {
            start: size - n.min(size),
            end: size,
        }),
        RangeSpec::Suffix(_) => None,
    }
}

/// Merges spans that overlap or touch (RFC 9110 §14.2 allows coalescing
/// regardless of order). Spans that neither overlap nor touch keep the
/// client's order; once any pair must merge, the result is sorted.
pub fn coalesce(spans: Vec<Span>) -> Vec<Span> {
    let mut sorted = spans.clone();
    sorted.sort_by_key(|s| s.start);
    let needs_merge = sorted.windows(2).any(|w| w[1].start <= w[0].end);
    if !needs_merge {
        return spans;
    }
    let mut out: Vec<Span> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// What a `Range` header value asks of an object of `size` bytes.
pub fn resolve(value: &str, size: u64) -> Ranges {
    let Some(specs) = parse(value) else {
        return Ranges::Full;
    };
    if specs.len() > MAX_RANGES {
        return Ranges::Full;
    }
    let spans: Vec<Span> = specs.into_iter().filter_map(|s| span(s, size)).collect();
    if spans.is_empty() {
        return Ranges::Unsatisfiable;
    }
    Ranges::Partial(coalesce(spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(start: u64, end: u64) -> Span {
        Span { start, end }
    }

    /// RFC 9110 §14.1.1: syntax of `ranges-specifier`.
    #[test]
    fn rfc9110_14_1_1_parse() {
        use RangeSpec::*;
        let cases: &[(&str, Option<Vec<RangeSpec>>)] = &[
            (
                "bytes=0-499",
                Some(vec![Int {
                    first: 0,
                    last: Some(499),
                }]),
            ),
            (
                "bytes=500-",
                Some(vec![Int {
                    first: 500,
                    last: None,
                }]),
            ),
            ("bytes=-500", Some(vec![Suffix(500)])),
            (
                "BYTES=1-2",
                Some(vec![Int {
                    first: 1,
                    last: Some(2),
                }]),
            ),
            (
                "bytes=0-0, -1",
                Some(vec![
                    Int {
                        first: 0,
                        last: Some(0),
                    },
                    Suffix(1),
                ]),
            ),
            (
                "bytes= 1-2 ,, 4-5,",
                Some(vec![
                    Int {
                        first: 1,
                        last: Some(2),
                    },
                    Int {
                        first: 4,
                        last: Some(5),
                    },
                ]),
            ),
            ("bytes=5-4", None),
            ("bytes=", None),
            ("bytes=,", None),
            ("bytes=-", None),
            ("bytes=a-b", None),
            ("bytes=+1-2", None),
            ("bytes=1-2-3", None),
            ("bytes=0x10-", None),
            ("bytes=99999999999999999999-", None),
            ("items=0-1", None),
            ("bytes 0-1", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(&parse(value), want, "{value:?}");
        }
    }

    /// RFC 9110 §14.1.2 and §14.2: resolving against the size; 416 only when
    /// no range is satisfiable; invalid headers are ignored.
    #[test]
    fn rfc9110_14_1_2_resolve() {
        let p = |v: Vec<Span>| Ranges::Partial(v);
        let cases: &[(&str, u64, Ranges)] = &[
            ("bytes=0-499", 10_000, p(vec![sp(0, 500)])),
            ("bytes=500-999", 10_000, p(vec![sp(500, 1000)])),
            ("bytes=-500", 10_000, p(vec![sp(9500, 10_000)])),
            ("bytes=9500-", 10_000, p(vec![sp(9500, 10_000)])),
            ("bytes=0-", 10, p(vec![sp(0, 10)])),
            // last-pos past the end is clamped
            ("bytes=5-100", 10, p(vec![sp(5, 10)])),
            // suffix longer than the object: the whole object
            ("bytes=-100", 10, p(vec![sp(0, 10)])),
            // first-pos at or past the end: unsatisfiable (SeaweedFS's bug)
            ("bytes=10-", 10, Ranges::Unsatisfiable),
            ("bytes=10-20", 10, Ranges::Unsatisfiable),
            ("bytes=-0", 10, Ranges::Unsatisfiable),
            // an empty object satisfies nothing
            ("bytes=0-", 0, Ranges::Unsatisfiable),
            ("bytes=-5", 0, Ranges::Unsatisfiable),
            // one satisfiable range suffices; the others are dropped
            ("bytes=20-30,2-3", 10, p(vec![sp(2, 4)])),
            // multiple ranges keep the client's order
            ("bytes=6-7,0-1", 10, p(vec![sp(6, 8), sp(0, 2)])),
            // overlapping or adjacent ranges are coalesced (§14.2)
            ("bytes=0-4,3-8", 10, p(vec![sp(0, 9)])),
            ("bytes=0-1,2-3,8-9", 10, p(vec![sp(0, 4), sp(8, 10)])),
            ("bytes=5-,0-0,-3", 10, p(vec![sp(0, 1), sp(5, 10)])),
            // invalid syntax: ignored, full body
            ("bytes=5-4", 10, Ranges::Full),
            ("chunks=0-1", 10, Ranges::Full),
            ("garbage", 10, Ranges::Full),
        ];
        for (value, size, want) in cases {
            assert_eq!(&resolve(value, *size), want, "{value:?} of {size}");
        }
    }

    /// RFC 9110 §14.2: too many ranges are ignored rather than served.
    #[test]
    fn rfc9110_14_2_cap() {
        let many: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 3, i * 3))
            .collect();
        assert_eq!(
            resolve(&format!("bytes={}", many.join(",")), 1 << 20),
            Ranges::Full
        );
        let ok: Vec<String> = (0..MAX_RANGES)
            .map(|i| format!("{}-{}", i * 3, i * 3))
            .collect();
        match resolve(&format!("bytes={}", ok.join(",")), 1 << 20) {
            Ranges::Partial(v) => assert_eq!(v.len(), MAX_RANGES),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_range_text() {
        assert_eq!(sp(0, 10).content_range(10), "bytes 0-9/10");
        assert_eq!(sp(9, 10).content_range(10), "bytes 9-9/10");
    }
}
