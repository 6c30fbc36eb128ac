//! The CPU backend's scratch-buffer pool: the passes borrow buffers and give them back, so a
//! solver loop allocates nothing after its first iterations.

use super::CpuBackend;
use crate::real::Real;

impl<T: Real> CpuBackend<T> {
    /// The pool's best-fitting buffer for `len` entries (a new one when none fits), as its last
    /// user left it.
    fn pooled(&self, len: usize) -> Vec<T> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        // Best fit, so a small request never takes the buffer a large one will need.
        let at = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match at {
            Some(i) => pool.swap_remove(i),
            None => Vec::with_capacity(len),
        }
    }

    /// A zeroed scratch buffer of `len` entries from the pool (allocated only when none fits).
    pub(super) fn take(&self, len: usize) -> Vec<T> {
        let mut buf = self.pooled(len);
        buf.clear();
        buf.resize(len, T::zero());
        buf
    }

    /// A scratch buffer of `len` entries holding whatever its last user left (finite values),
    /// for buffers every entry of which is written before it is read, such as GEMM outputs
    /// with beta 0, where zeroing would be a wasted pass.
    pub(super) fn scratch(&self, len: usize) -> Vec<T> {
        let mut buf = self.pooled(len);
        buf.resize(len, T::zero());
        buf
    }

    /// Returns a scratch buffer to the pool.
    pub(super) fn give(&self, buf: Vec<T>) {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
    }

    /// An empty index buffer from the index pool (its capacity kept from earlier use).
    pub(super) fn take_indices(&self) -> Vec<usize> {
        let mut buf = self
            .index_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        buf.clear();
        buf
    }

    /// Returns an index buffer to the pool.
    pub(super) fn give_indices(&self, buf: Vec<usize>) {
        self.index_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
    }
}
