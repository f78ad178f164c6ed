//! The envelope of an object kept by compare-and-swap updates (see the
//! parent module): magic, generation, CRC32C of the payload, payload.

use crate::storage::StorageError;

const MAGIC: &[u8; 8] = b"BRcas001";
const ENVELOPE: usize = 20;
/// The errno of a read that saw a record being rewritten (retried).
pub(super) const TORN: i32 = -libc::EAGAIN;

/// The stored bytes of `payload` at `generation`.
pub fn envelope(generation: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits stored bytes into generation and payload.
pub fn open_envelope<'a>(key: &str, data: &'a [u8]) -> Result<(u64, &'a [u8]), StorageError> {
    if data.len() < ENVELOPE || &data[..8] != MAGIC {
        return Err(StorageError::new(
            libc::EILSEQ,
            format!("{key}: not an object kept by compare-and-swap updates"),
        ));
    }
    let mut gen = [0u8; 8];
    gen.copy_from_slice(&data[8..16]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&data[16..20]);
    let payload = &data[ENVELOPE..];
    if crc32c::crc32c(payload) != u32::from_le_bytes(crc) {
        return Err(StorageError::new(
            TORN,
            format!("{key}: read while being rewritten (its checksum does not hold)"),
        ));
    }
    Ok((u64::from_le_bytes(gen), payload))
}
