//! What multipart uploads need enumerated, kept in the cluster (Elliptics
//! cannot list keys): per bucket, the list of open uploads (key `uploads`
//! in namespace `B/s3-mpu`), and per upload, its part list (`ID/parts`).
//! Both are JSON documents updated by compare-and-swap
//! ([`crate::storage::cas::update`]), so concurrent part uploads and
//! creations through any number of proxies never lose an entry. They serve
//! ListMultipartUploads, ListParts, AbortMultipartUpload (which parts to
//! remove) and the cleanup of abandoned uploads ([`super::cleanup`]).
//!
//! Cost: CreateMultipartUpload, Complete and Abort each rewrite the
//! bucket's upload list (about 120 bytes per open upload); every part
//! rewrites its upload's part list (about 150 bytes per part so far: a
//! 10,000-part upload writes about 7.5 GB of list in total, 0.15 % of a
//! 5 TiB object; a 128-part 1 GiB upload about 1.2 MB).

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use actix_web::HttpResponse;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::mpu_checksum::UploadChecksum;
use super::upload::{self, now_secs, UploadState};
use crate::bucket::BucketMeta;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::meta::ObjectMeta;
use crate::s3::sign::checksum::ObjectChecksum;
use crate::s3::{xml, S3Req};
use crate::state::AppState;
use crate::storage::cas::{self, Change, Retry};
use crate::storage::{Context, StorageError};

/// Key of a bucket's upload list in its `B/s3-mpu` namespace.
const UPLOADS_KEY: &str = "uploads";
/// Most bytes one upload-list entry takes: a key of
/// [`crate::s3::target::MAX_KEY_BYTES`] every byte of which JSON escapes
/// (2 bytes), the id, the times, the initiator and the checksum.
const MAX_ENTRY_BYTES: u64 = 3 << 10;
/// Largest upload list: the most open uploads a config may allow
/// (`proxy.s3-max-uploads-per-bucket`), each at its largest. The count is
/// what limits a bucket; this bound only keeps a damaged list from being read.
const MAX_UPLOAD_LIST: u64 = crate::config::MAX_S3_MAX_UPLOADS * MAX_ENTRY_BYTES;
/// Largest part list (10,000 parts with checksums fit).
const MAX_PART_LIST: u64 = 4 << 20;
/// Most entries one listing answers, as S3.
const MAX_LISTED: usize = 1000;

/// An open upload, as the bucket's upload list holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadEntry {
    /// Object key.
    pub key: String,
    /// Creation time, seconds since the epoch.
    pub initiated: u64,
    /// Who created it.
    pub initiator: String,
    /// The checksum algorithm and type it was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<UploadChecksum>,
}

/// A part, as its upload's part list holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Bytes.
    pub size: u64,
    /// Quoted MD5.
    pub etag: String,
    /// Upload time, seconds since the epoch.
    pub modified: u64,
    /// The checksum ListParts names: the one UploadPart answered (the
    /// upload's algorithm, or the one the part declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
}

fn parts_key(id: &str) -> String {
    format!("{id}/parts")
}

fn json_err(key: &str, e: serde_json::Error) -> StorageError {
    StorageError::new(-libc::EILSEQ, format!("{key}: {e}"))
}

/// Read-modify-write of the JSON document `key` by compare-and-swap; `f`
/// answers whether it changed the document (nothing is written if not).
async fn update<T>(
    app: &AppState,
    ctx: &Context,
    key: &str,
    limit: u64,
    mut f: impl FnMut(&mut T) -> bool + Send + 'static,
) -> Result<(), S3Error>
where
    T: Serialize + DeserializeOwned + Default,
{
    let (storage, ctx, key) = (app.storage.clone(), ctx.clone(), key.to_string());
    crate::core::blocking(move || {
        cas::update(
            storage.as_ref(),
            &ctx,
            &key,
            limit,
            Retry::default(),
            |old| {
                let mut doc: T = match old {
                    Some(b) => serde_json::from_slice(b).map_err(|e| json_err(&key, e))?,
                    None => T::default(),
                };
                if !f(&mut doc) {
                    return Ok(Change::Keep(()));
                }
                let bytes = serde_json::to_vec(&doc).map_err(|e| json_err(&key, e))?;
                Ok(Change::Write(bytes, ()))
            },
        )
    })
    .await??;
    Ok(())
}

/// Reads the JSON document `key` kept by [`update`]; the default when absent.
async fn read<T>(app: &AppState, ctx: &Context, key: &str, limit: u64) -> Result<T, S3Error>
where
    T: DeserializeOwned + Default + Send + 'static,
{
    let (storage, ctx, key) = (app.storage.clone(), ctx.clone(), key.to_string());
    crate::core::blocking(
        move || match cas::read(storage.as_ref(), &ctx, &key, limit)? {
            None => Ok(T::default()),
            Some(s) => serde_json::from_slice(&s.payload).map_err(|e| json_err(&key, e)),
        },
    )
    .await?
    .map_err(S3Error::from)
}

/// A bucket's open uploads by id.
pub type Uploads = BTreeMap<String, UploadEntry>;
type Parts = BTreeMap<u32, PartEntry>;

/// Adds upload `id` to the bucket's upload list, which holds at most
/// `max` uploads (`proxy.s3-max-uploads-per-bucket`): past it,
/// QuotaExceeded naming the key.
pub async fn add_upload(
    app: &AppState,
    uctx: &Context,
    id: &str,
    state: &UploadState,
    max: u64,
) -> Result<(), S3Error> {
    let (id, entry) = (
        id.to_string(),
        UploadEntry {
            key: state.key.clone(),
            initiated: state.initiated,
            initiator: state.initiator.clone(),
            checksum: state.checksum,
        },
    );
    let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = full.clone();
    update(
        app,
        uctx,
        UPLOADS_KEY,
        MAX_UPLOAD_LIST,
        move |l: &mut Uploads| {
            let at_limit = l.len() as u64 >= max && !l.contains_key(&id);
            seen.store(at_limit, std::sync::atomic::Ordering::Relaxed);
            if at_limit {
                return false;
            }
            l.insert(id.clone(), entry.clone());
            true
        },
    )
    .await?;
    if full.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(S3Error::new(
            S3ErrorCode::QuotaExceeded,
            format!(
                "bucket {} has {max} multipart uploads open, the most proxy.s3-max-uploads-per-bucket \
                 allows: complete or abort some (ListMultipartUploads lists them; \
                 proxy.s3-multipart-max-age removes abandoned ones)",
                bucket_of(uctx)
            ),
        ));
    }
    Ok(())
}

/// The bucket an uploads namespace (`B/s3-mpu`) belongs to.
fn bucket_of(uctx: &Context) -> &str {
    uctx.namespace
        .strip_suffix("/s3-mpu")
        .unwrap_or(&uctx.namespace)
}

/// Removes upload `id` from the bucket's upload list, and its part list.
pub async fn remove_upload(app: &AppState, uctx: &Context, id: &str) -> Result<(), S3Error> {
    crate::s3::cluster_doc::remove(&app.objects, uctx, &parts_key(id)).await?;
    let id = id.to_string();
    update(
        app,
        uctx,
        UPLOADS_KEY,
        MAX_UPLOAD_LIST,
        move |l: &mut Uploads| l.remove(&id).is_some(),
    )
    .await
}

/// Records part `n` of upload `id` (replacing an earlier upload of it),
/// listed with `checksum`.
pub async fn add_part(
    app: &AppState,
    uctx: &Context,
    id: &str,
    n: u32,
    info: &ObjectMeta,
    checksum: Option<&ObjectChecksum>,
) -> Result<(), S3Error> {
    let entry = PartEntry {
        size: info.size,
        etag: info.etag.clone(),
        modified: now_secs(),
        checksum: checksum.cloned(),
    };
    update(
        app,
        uctx,
        &parts_key(id),
        MAX_PART_LIST,
        move |l: &mut Parts| {
            l.insert(n, entry.clone());
            true
        },
    )
    .await
}

/// The part numbers upload `id` has recorded.
pub async fn part_numbers(app: &AppState, uctx: &Context, id: &str) -> Result<Vec<u32>, S3Error> {
    let parts: Parts = read(app, uctx, &parts_key(id), MAX_PART_LIST).await?;
    Ok(parts.into_keys().collect())
}

/// A numeric query parameter with a default, capped at [`MAX_LISTED`].
fn max_param(req: &S3Req, name: &str) -> Result<usize, S3Error> {
    match req.param(name) {
        None => Ok(MAX_LISTED),
        Some(v) => v.parse::<usize>().map(|n| n.min(MAX_LISTED)).map_err(|_| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                format!("{name} {v:?} is not a non-negative integer"),
            )
        }),
    }
}

fn owner(id: &str) -> String {
    let id = xml::escape(id);
    format!("<ID>{id}</ID><DisplayName>{id}</DisplayName>")
}

/// `<ChecksumAlgorithm>` and `<ChecksumType>` of an upload created with a checksum.
fn checksum_elements(c: Option<UploadChecksum>) -> String {
    c.map(|c| {
        format!(
            "<ChecksumAlgorithm>{}</ChecksumAlgorithm><ChecksumType>{}</ChecksumType>",
            c.algorithm.name(),
            c.kind.name()
        )
    })
    .unwrap_or_default()
}

fn time(secs: u64) -> String {
    xml::iso8601(UNIX_EPOCH + Duration::from_secs(secs))
}

/// ListParts: `GET /B/K?uploadId=ID` (`part-number-marker`, `max-parts`).
pub async fn list_parts(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    let upload::OpenUpload { id, uctx, state } =
        upload::open_upload(req, bucket, key, false).await?;
    let marker: u32 = match req.param("part-number-marker") {
        None | Some("") => 0,
        Some(v) => v.parse().map_err(|_| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                format!("part-number-marker {v:?} is not a number"),
            )
        })?,
    };
    let max = max_param(req, "max-parts")?;
    let parts: Parts = read(&req.state, &uctx, &parts_key(&id), MAX_PART_LIST).await?;
    let mut after = parts.range(marker.saturating_add(1)..);
    let page: Vec<(&u32, &PartEntry)> = after.by_ref().take(max).collect();
    let truncated = after.next().is_some();
    let mut out = format!(
        "{}<ListPartsResult xmlns=\"{}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId><Initiator>{}</Initiator><Owner>{}</Owner><StorageClass>STANDARD</StorageClass><PartNumberMarker>{marker}</PartNumberMarker>",
        xml::DECL,
        xml::NS,
        xml::escape(&bucket.name),
        xml::escape(key),
        owner(&state.initiator),
        owner(&state.initiator),
    );
    if let Some((n, _)) = page.last() {
        out.push_str(&format!("<NextPartNumberMarker>{n}</NextPartNumberMarker>"));
    }
    out.push_str(&checksum_elements(state.checksum));
    out.push_str(&format!(
        "<MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>"
    ));
    for (n, p) in page {
        out.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size>{}</Part>",
            time(p.modified),
            xml::escape(&p.etag),
            p.size,
            p.checksum
                .as_ref()
                .map(|c| crate::s3::sign::checksum::checksum_elements(c, false))
                .unwrap_or_default()
        ));
    }
    out.push_str("</ListPartsResult>");
    Ok(HttpResponse::Ok().content_type("application/xml").body(out))
}

/// One row of a ListMultipartUploads answer.
#[derive(Debug, PartialEq, Eq)]
enum Row<'a> {
    Upload(&'a str, &'a UploadEntry),
    Prefix(String),
}

/// The uploads (or common prefixes) after the markers, sorted by key then
/// creation, at most `max`; and whether more follow.
fn page<'a>(
    uploads: &'a Uploads,
    prefix: &str,
    delimiter: &str,
    key_marker: &str,
    id_marker: &str,
    max: usize,
) -> (Vec<Row<'a>>, bool) {
    let mut sorted: Vec<(&'a str, &'a UploadEntry)> = uploads
        .iter()
        .filter(|(_, u)| u.key.starts_with(prefix))
        .map(|(id, u)| (id.as_str(), u))
        .collect();
    sorted.sort_by(|a, b| (&a.1.key, a.1.initiated, a.0).cmp(&(&b.1.key, b.1.initiated, b.0)));
    // With an upload-id-marker, uploads of the marker key after that upload
    // follow; without one, only keys after the marker.
    let id_pos = (!id_marker.is_empty())
        .then(|| {
            sorted
                .iter()
                .position(|(id, u)| u.key == key_marker && *id == id_marker)
        })
        .flatten();
    let mut rows: Vec<Row<'a>> = Vec::new();
    let mut truncated = false;
    for (i, (id, u)) in sorted.iter().enumerate() {
        let after = match id_pos {
            Some(p) => i > p,
            None => u.key.as_str() > key_marker,
        };
        if !after {
            continue;
        }
        let row = match (!delimiter.is_empty())
            .then(|| u.key[prefix.len()..].find(delimiter))
            .flatten()
        {
            Some(at) => {
                let cp = u.key[..prefix.len() + at + delimiter.len()].to_string();
                if key_marker.starts_with(&cp) && id_pos.is_none() && cp.as_str() <= key_marker {
                    continue;
                }
                if matches!(rows.last(), Some(Row::Prefix(p)) if *p == cp) {
                    continue;
                }
                Row::Prefix(cp)
            }
            None => Row::Upload(id, u),
        };
        if rows.len() == max {
            truncated = true;
            break;
        }
        rows.push(row);
    }
    (rows, truncated)
}

/// ListMultipartUploads: `GET /B?uploads` (`prefix`, `delimiter`,
/// `key-marker`, `upload-id-marker`, `max-uploads`, `encoding-type=url`).
pub async fn list_uploads(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    let uctx = upload::uploads_ctx(&req.storage_ctx(bucket, false));
    let uploads: Uploads = read(&req.state, &uctx, UPLOADS_KEY, MAX_UPLOAD_LIST).await?;
    let prefix = req.param("prefix").unwrap_or_default();
    let delimiter = req.param("delimiter").unwrap_or_default();
    let key_marker = req.param("key-marker").unwrap_or_default();
    let id_marker = req.param("upload-id-marker").unwrap_or_default();
    let max = max_param(req, "max-uploads")?;
    let url = req.param("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            xml::escape(&crate::encoding::query_escape(s))
        } else {
            xml::escape(s)
        }
    };
    let (rows, truncated) = page(&uploads, prefix, delimiter, key_marker, id_marker, max);
    let mut out = format!(
        "{}<ListMultipartUploadsResult xmlns=\"{}\"><Bucket>{}</Bucket><KeyMarker>{}</KeyMarker><UploadIdMarker>{}</UploadIdMarker>",
        xml::DECL,
        xml::NS,
        xml::escape(&bucket.name),
        enc(key_marker),
        xml::escape(id_marker),
    );
    if truncated {
        let (k, id) = match rows.last() {
            Some(Row::Upload(id, u)) => (u.key.clone(), id.to_string()),
            Some(Row::Prefix(p)) => (p.clone(), String::new()),
            None => (String::new(), String::new()),
        };
        out.push_str(&format!(
            "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker>",
            enc(&k),
            xml::escape(&id)
        ));
    }
    out.push_str(&format!("<Prefix>{}</Prefix>", enc(prefix)));
    if !delimiter.is_empty() {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", enc(delimiter)));
    }
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    out.push_str(&format!(
        "<MaxUploads>{max}</MaxUploads><IsTruncated>{truncated}</IsTruncated>"
    ));
    for row in &rows {
        match row {
            Row::Upload(id, u) => out.push_str(&format!(
                "<Upload><Key>{}</Key><UploadId>{id}</UploadId><Initiator>{}</Initiator><Owner>{}</Owner><StorageClass>STANDARD</StorageClass><Initiated>{}</Initiated>{}</Upload>",
                enc(&u.key),
                owner(&u.initiator),
                owner(&u.initiator),
                time(u.initiated),
                checksum_elements(u.checksum)
            )),
            Row::Prefix(p) => out.push_str(&format!(
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                enc(p)
            )),
        }
    }
    out.push_str("</ListMultipartUploadsResult>");
    Ok(HttpResponse::Ok().content_type("application/xml").body(out))
}

/// The bucket's upload list (empty when it has none).
pub async fn uploads(app: &AppState, uctx: &Context) -> Result<Uploads, S3Error> {
    read(app, uctx, UPLOADS_KEY, MAX_UPLOAD_LIST).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploads(list: &[(&str, &str, u64)]) -> Uploads {
        list.iter()
            .map(|(id, key, t)| {
                (
                    id.to_string(),
                    UploadEntry {
                        key: key.to_string(),
                        initiated: *t,
                        initiator: "u".into(),
                        checksum: None,
                    },
                )
            })
            .collect()
    }

    fn ids(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Row::Upload(id, _) => id.to_string(),
                Row::Prefix(p) => format!("prefix:{p}"),
            })
            .collect()
    }

    #[test]
    fn upload_pages() {
        let u = uploads(&[
            ("i1", "b", 5),
            ("i2", "a", 9),
            ("i3", "a", 1),
            ("i4", "d/x", 1),
            ("i5", "d/y", 1),
            ("i6", "c", 1),
        ]);
        let (rows, more) = page(&u, "", "", "", "", 1000);
        assert_eq!(ids(&rows), ["i3", "i2", "i1", "i6", "i4", "i5"]);
        assert!(!more);
        let (rows, more) = page(&u, "", "", "", "", 2);
        assert_eq!(ids(&rows), ["i3", "i2"]);
        assert!(more);
        // The next page starts after the last upload of the previous one.
        let (rows, _) = page(&u, "", "", "a", "i3", 2);
        assert_eq!(ids(&rows), ["i2", "i1"]);
        let (rows, _) = page(&u, "", "", "a", "", 1000);
        assert_eq!(ids(&rows), ["i1", "i6", "i4", "i5"]);
        let (rows, _) = page(&u, "", "/", "", "", 1000);
        assert_eq!(ids(&rows), ["i3", "i2", "i1", "i6", "prefix:d/"]);
        let (rows, _) = page(&u, "d/", "/", "", "", 1000);
        assert_eq!(ids(&rows), ["i4", "i5"]);
        let (rows, _) = page(&u, "", "/", "d/", "", 1000);
        assert!(rows.is_empty());
    }
}
