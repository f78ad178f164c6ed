//! Conditional requests (RFC 9110 §13): `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since` and `If-Range`, evaluated in the
//! order of §13.2.2 against an object's strong ETag and Last-Modified.

use std::time::SystemTime;

/// The validators of the selected representation.
#[derive(Debug, Clone)]
pub struct Validators {
    /// The strong entity tag, with its quotes: `"abc"`.
    pub etag: String,
    /// Last modification time (compared at one-second resolution).
    pub last_modified: SystemTime,
}

impl Validators {
    /// A 200 reply carrying them (`ETag`, `Last-Modified`) and
    /// `Accept-Ranges: bytes`, as a GET or HEAD of an object starts.
    pub fn reply(&self) -> actix_web::HttpResponseBuilder {
        use actix_web::http::header::{ACCEPT_RANGES, ETAG, LAST_MODIFIED};
        let mut resp = actix_web::HttpResponse::Ok();
        resp.insert_header((ETAG, self.etag.clone()))
            .insert_header((LAST_MODIFIED, httpdate::fmt_http_date(self.last_modified)))
            .insert_header((ACCEPT_RANGES, "bytes"));
        resp
    }

    /// How a GET or HEAD with the preconditions in `headers` starts:
    /// `Ok(None)` serves it, `Ok(Some(reply))` is the 304 carrying the
    /// validators, `Err` the 412 message naming the header that failed.
    pub fn precheck(
        &self,
        headers: &actix_web::http::header::HeaderMap,
    ) -> Result<Option<actix_web::HttpResponse>, String> {
        match evaluate(&Preconditions::from_headers(headers), self, true) {
            Outcome::Proceed => Ok(None),
            Outcome::NotModified => Ok(Some(
                self.reply()
                    .status(actix_web::http::StatusCode::NOT_MODIFIED)
                    .finish(),
            )),
            Outcome::Failed(h) => Err(format!(
                "{h} does not hold for the object (ETag {}, Last-Modified {})",
                self.etag,
                httpdate::fmt_http_date(self.last_modified)
            )),
        }
    }
}

/// The precondition headers of a request, as received.
#[derive(Debug, Clone, Default)]
pub struct Preconditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a str>,
}

impl<'a> Preconditions<'a> {
    /// The four precondition headers of a request (values that are not
    /// text count as absent).
    pub fn from_headers(h: &'a actix_web::http::header::HeaderMap) -> Self {
        use actix_web::http::header::{
            IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE,
        };
        let get = |name| h.get(name).and_then(|v| v.to_str().ok());
        Preconditions {
            if_match: get(IF_MATCH),
            if_none_match: get(IF_NONE_MATCH),
            if_modified_since: get(IF_MODIFIED_SINCE),
            if_unmodified_since: get(IF_UNMODIFIED_SINCE),
        }
    }
}

/// What the preconditions decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Serve the request normally.
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed, naming the header that failed.
    Failed(&'static str),
}

/// HTTP dates have one-second resolution.
fn whole_seconds(t: SystemTime) -> SystemTime {
    crate::time::from_unix_secs(crate::time::unix_secs(t))
}

/// The entity tags of an `If-Match`/`If-None-Match` list: `(weak, opaque)`;
/// `None` when the list is `*` or malformed. Tags may contain commas, so
/// this walks quoted strings rather than splitting.
fn etag_list(value: &str) -> Option<Vec<(bool, &str)>> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(out);
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        out.push((weak, &body[..end]));
        rest = &body[end + 1..];
        if !(rest.is_empty() || rest.starts_with([',', ' ', '\t'])) {
            return None;
        }
    }
}

/// The opaque part of our own (always strong) tag.
fn opaque(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// §13.1.1: `If-Match` is true for `*` or a strong match of any listed tag.
fn if_match(value: &str, v: &Validators) -> bool {
    if value.trim() == "*" {
        return true;
    }
    let ours = opaque(&v.etag);
    etag_list(value).is_some_and(|tags| tags.iter().any(|(weak, t)| !weak && *t == ours))
}

/// §13.1.2: `If-None-Match` is false for `*` or a weak match of any listed tag.
fn if_none_match(value: &str, v: &Validators) -> bool {
    if value.trim() == "*" {
        return false;
    }
    let ours = opaque(&v.etag);
    match etag_list(value) {
        Some(tags) => !tags.iter().any(|(_, t)| *t == ours),
        // A malformed list matches nothing.
        None => true,
    }
}

/// Evaluates the preconditions in the order of RFC 9110 §13.2.2.
/// `get_or_head` selects 304 (GET/HEAD) over 412 for a failed `If-None-Match`.
pub fn evaluate(p: &Preconditions, v: &Validators, get_or_head: bool) -> Outcome {
    let lm = whole_seconds(v.last_modified);
    // Step 1: If-Match; step 2: If-Unmodified-Since only without If-Match.
    if let Some(im) = p.if_match {
        if !if_match(im, v) {
            return Outcome::Failed("If-Match");
        }
    } else if let Some(ius) = p.if_unmodified_since {
        // An invalid date is ignored (§13.1.4).
        if let Ok(date) = httpdate::parse_http_date(ius.trim()) {
            if lm > date {
                return Outcome::Failed("If-Unmodified-Since");
            }
        }
    }
    // Step 3: If-None-Match; step 4: If-Modified-Since only without it.
    if let Some(inm) = p.if_none_match {
        if !if_none_match(inm, v) {
            return if get_or_head {
                Outcome::NotModified
            } else {
                Outcome::Failed("If-None-Match")
            };
        }
    } else if let Some(ims) = p.if_modified_since {
        if get_or_head {
            if let Ok(date) = httpdate::parse_http_date(ims.trim()) {
                if lm <= date {
                    return Outcome::NotModified;
                }
            }
        }
    }
    Outcome::Proceed
}

/// §13.1.5: whether `If-Range` lets the Range header apply. An entity tag
/// must match strongly (a weak tag never does); a date must equal
/// Last-Modified exactly; anything else fails, so the full body is sent.
pub fn if_range(value: &str, v: &Validators) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match etag_list(value).as_deref() {
            Some([(false, t)]) => *t == opaque(&v.etag),
            _ => false,
        };
    }
    httpdate::parse_http_date(value).is_ok_and(|d| d == whole_seconds(v.last_modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn v() -> Validators {
        Validators {
            etag: "\"abc\"".into(),
            last_modified: UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
        }
    }

    const LM: &str = "Tue, 14 Nov 2023 22:13:20 GMT"; // 1_700_000_000
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    /// RFC 9110 §13.2.2 evaluation order and §13.1.1–§13.1.4 semantics.
    #[test]
    fn rfc9110_13_2_2_evaluation() {
        use Outcome::*;
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            bool,
            Outcome,
        );
        // (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, GET?, outcome)
        let cases: &[Case] = &[
            (None, None, None, None, true, Proceed),
            // §13.1.1 If-Match: strong comparison
            (Some("\"abc\""), None, None, None, true, Proceed),
            (Some("\"x\", \"abc\""), None, None, None, true, Proceed),
            (Some("*"), None, None, None, true, Proceed),
            (
                Some("W/\"abc\""),
                None,
                None,
                None,
                true,
                Failed("If-Match"),
            ),
            (Some("\"x\""), None, None, None, true, Failed("If-Match")),
            (Some("garbage"), None, None, None, true, Failed("If-Match")),
            // §13.1.4 If-Unmodified-Since
            (None, None, None, Some(LM), true, Proceed),
            (None, None, None, Some(AFTER), true, Proceed),
            (
                None,
                None,
                None,
                Some(BEFORE),
                true,
                Failed("If-Unmodified-Since"),
            ),
            (None, None, None, Some("not a date"), true, Proceed),
            // step 2 is skipped when If-Match is present and true
            (Some("\"abc\""), None, None, Some(BEFORE), true, Proceed),
            // §13.1.2 If-None-Match: weak comparison; 304 for GET, 412 otherwise
            (None, Some("\"abc\""), None, None, true, NotModified),
            (None, Some("W/\"abc\""), None, None, true, NotModified),
            (None, Some("*"), None, None, true, NotModified),
            (None, Some("\"x\", \"y\""), None, None, true, Proceed),
            (
                None,
                Some("\"abc\""),
                None,
                None,
                false,
                Failed("If-None-Match"),
            ),
            // §13.1.3 If-Modified-Since: only GET/HEAD, ignored with If-None-Match
            (None, None, Some(LM), None, true, NotModified),
            (None, None, Some(AFTER), None, true, NotModified),
            (None, None, Some(BEFORE), None, true, Proceed),
            (None, None, Some("yesterday"), None, true, Proceed),
            (None, None, Some(LM), None, false, Proceed),
            (None, Some("\"x\""), Some(LM), None, true, Proceed),
            // step 1 wins over step 3: 412 before 304
            (
                Some("\"x\""),
                Some("\"abc\""),
                None,
                None,
                true,
                Failed("If-Match"),
            ),
            (
                None,
                Some("\"abc\""),
                None,
                Some(BEFORE),
                true,
                Failed("If-Unmodified-Since"),
            ),
        ];
        for (i, (im, inm, ims, ius, get, want)) in cases.iter().enumerate() {
            let p = Preconditions {
                if_match: *im,
                if_none_match: *inm,
                if_modified_since: *ims,
                if_unmodified_since: *ius,
            };
            assert_eq!(&evaluate(&p, &v(), *get), want, "case {i}: {p:?}");
        }
    }

    /// RFC 9110 §13.1.5 If-Range.
    #[test]
    fn rfc9110_13_1_5_if_range() {
        let cases = [
            ("\"abc\"", true),
            ("\"abd\"", false),
            ("W/\"abc\"", false),
            (LM, true),
            (AFTER, false),
            (BEFORE, false),
            ("garbage", false),
            ("", false),
        ];
        for (value, want) in cases {
            assert_eq!(if_range(value, &v()), want, "{value:?}");
        }
    }

    #[test]
    fn etag_lists() {
        assert_eq!(
            etag_list("\"a,b\", W/\"c\""),
            Some(vec![(false, "a,b"), (true, "c")])
        );
        assert_eq!(etag_list("\"a\"x"), None);
        assert_eq!(etag_list("a"), None);
    }
}
