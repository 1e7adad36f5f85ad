//! Output buffers. Large zeroed buffers come fresh from the OS (calloc maps them and touches
//! nothing); on Linux they are marked for transparent huge pages before the first write,
//! as numpy does for its arrays, so filling a few hundred MB costs hundreds of page faults
//! instead of tens of thousands.

/// Buffers at least this large (in bytes) ask for huge pages.
const HUGE_MIN_BYTES: usize = 4 << 20;

/// `n` zeroed elements, backed by huge pages where the OS allows.
pub fn zeroed<T: Copy>(n: usize, zero: T) -> Vec<T> {
    let v = vec![zero; n];
    advise_huge(&v);
    v
}

/// An empty vector with room for `n` elements, backed by huge pages where the OS allows.
/// Only the pages actually written become resident, so reserving the worst case is cheap.
pub fn with_capacity<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    advise_range(v.as_ptr() as usize, v.capacity() * std::mem::size_of::<T>());
    v
}

fn advise_huge<T>(v: &[T]) {
    advise_range(v.as_ptr() as usize, std::mem::size_of_val(v));
}

#[cfg(target_os = "linux")]
fn advise_range(start: usize, bytes: usize) {
    if bytes < HUGE_MIN_BYTES {
        return;
    }
    const PAGE: usize = 4096;
    let aligned = start.next_multiple_of(PAGE);
    let end = (start + bytes) / PAGE * PAGE;
    if end > aligned {
        // SAFETY: the range lies inside `v`'s allocation; MADV_HUGEPAGE is only a hint and
        // never changes the contents. Failure (THP disabled) is harmless and ignored.
        unsafe {
            libc::madvise(aligned as *mut libc::c_void, end - aligned, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_range(_start: usize, _bytes: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_is_zero() {
        for n in [0, 1, 1000, 3 << 20] {
            let v = super::zeroed(n, 0u64);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0));
        }
    }
}
