//! The `Range` request header (RFC 9110 §14): parsing, resolving against an
//! object's size, and the guards against abusive range sets.
//!
//! Several ranges are answered as Backrunner answered them (Go's
//! `http.ServeContent`, which Backrunner's own test suite checks): one part
//! per satisfiable range in the client's order, overlapping ranges not
//! merged; a set asking for more bytes than the object has is ignored.
//!
//! Hand-written rather than `http-range-header`: that crate rejects a whole
//! range set when any one range is out of bounds or two ranges overlap,
//! whereas RFC 9110 §14.1.2 makes a set satisfiable when *any* range is, and
//! Backrunner's clients send overlapping ranges.

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

/// What a `Range` header value asks of an object of `size` bytes.
///
/// As Go's `http.ServeContent`: ranges starting past the end are dropped
/// (none left: unsatisfiable); the others are served in the client's order,
/// overlaps included; when their total length exceeds the object's size the
/// header is ignored (Go's guard against amplification). More than
/// `MAX_RANGES` ranges are ignored too. Unlike Go, a malformed header is
/// ignored (RFC 9110 §14.2) rather than answered 416, and `-0` is
/// unsatisfiable rather than an empty part.
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
    let asked: u128 = spans.iter().map(|s| u128::from(s.len())).sum();
    if asked > u128::from(size) {
        return Ranges::Full;
    }
    Ranges::Partial(spans)
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
            // as Go's http.ServeContent: overlapping and adjacent ranges are
            // not merged, each is a part, in the client's order
            ("bytes=0-4,3-6", 10, p(vec![sp(0, 5), sp(3, 7)])),
            (
                "bytes=0-1,2-3,8-9",
                10,
                p(vec![sp(0, 2), sp(2, 4), sp(8, 10)]),
            ),
            (
                "bytes=5-,0-0,-3",
                10,
                p(vec![sp(5, 10), sp(0, 1), sp(7, 10)]),
            ),
            ("bytes=2-3,2-3", 10, p(vec![sp(2, 4), sp(2, 4)])),
            // total length up to the size is served...
            ("bytes=0-4,5-9", 10, p(vec![sp(0, 5), sp(5, 10)])),
            ("bytes=0-4,0-4", 10, p(vec![sp(0, 5), sp(0, 5)])),
            // ...beyond it the header is ignored: 200 with the whole object
            ("bytes=0-4,3-8", 10, Ranges::Full),
            ("bytes=0-,0-", 10, Ranges::Full),
            ("bytes=-6,-6", 10, Ranges::Full),
            // ranges starting past the end are dropped before the sum
            ("bytes=0-8,50-60,-1", 10, p(vec![sp(0, 9), sp(9, 10)])),
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

    /// Backrunner's test suite (btest `test_big_bucket_upload`) sends this
    /// set on an object of 27489280 bytes and checks the 6 parts in order.
    #[test]
    fn backrunner_btest_case() {
        let size = 27_489_280;
        let value =
            "bytes=201683-4192549,1404900-5542034,1628093-6318847,1047491-4215519,-1024,24740452-";
        assert_eq!(
            resolve(value, size),
            Ranges::Partial(vec![
                sp(201_683, 4_192_550),
                sp(1_404_900, 5_542_035),
                sp(1_628_093, 6_318_848),
                sp(1_047_491, 4_215_520),
                sp(size - 1024, size),
                sp(24_740_452, size),
            ])
        );
    }

    /// Lengths near u64::MAX do not overflow the total-length guard.
    #[test]
    fn huge_sums_do_not_overflow() {
        let size = u64::MAX - 1;
        let value = format!("bytes=0-,0-,{}-", size - 1);
        assert_eq!(resolve(&value, size), Ranges::Full);
    }

    #[test]
    fn content_range_text() {
        assert_eq!(sp(0, 10).content_range(10), "bytes 0-9/10");
        assert_eq!(sp(9, 10).content_range(10), "bytes 9-9/10");
    }
}
