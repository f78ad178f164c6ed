//! Keeping the process's memory close to what it uses: glibc keeps freed
//! memory in per-thread arenas and raises its mmap threshold after large
//! frees, so a burst of large requests would leave its peak resident for good
//! (bench/bulk-delete-rss.sh measures it). Other C libraries: no-ops.

/// Allocations this large or larger get their own mapping, returned to the
/// system when freed (a fixed threshold also stops glibc from raising it).
/// Above the 1 MiB buffers of uploads, downloads and copies, which stay in
/// the arenas and are reused.
const MMAP_THRESHOLD: i32 = 4 << 20;

/// Sets the allocator up at start, before any thread is spawned.
pub fn configure_allocator() {
    crate::sys::set_mmap_threshold(MMAP_THRESHOLD);
}

/// Returns free memory of every arena to the system (after a request that
/// allocated much and freed it). Blocking: it walks the arenas.
pub fn release_free_memory() {
    crate::sys::malloc_trim();
}
