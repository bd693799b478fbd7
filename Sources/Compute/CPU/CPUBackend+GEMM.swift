import COpenBLAS

extension CPUBackend {
    /// Rows of C are split across the worker threads, each slab a single-threaded OpenBLAS call.
    /// OpenBLAS's own thread count is process-wide and other ops set it to 1 while they run, so
    /// leaving the split to OpenBLAS would change the summation order from run to run; with a
    /// fixed split every run gives the same bits (same seed, same loss curve).
    public func gemm(_ descriptor: GEMMDescriptor, a: Buffer, b: Buffer, c: Buffer) throws {
        try BufferCounts.gemm(descriptor, a: a, b: b, c: c)
        let (m, n, k) = (descriptor.m, descriptor.n, descriptor.k)
        // Leading dimensions of the stored (row-major) matrices.
        let lda = descriptor.transposeA ? m : k
        let ldb = descriptor.transposeB ? k : n
        let (left, right, out) = (a.hostPointer, b.hostPointer, c.hostPointer)
        // Slabs of at least 32 rows and ~64k multiply-adds, so small products stay on one thread.
        let minimumRows = max(32, 65_536 / max(n * k, 1))
        withSingleThreadedBLAS {
            for batch in 0..<descriptor.batch {
                let (aBatch, bBatch, cBatch) = (left + batch * m * k, right + batch * k * n, out + batch * m * n)
                parallelFor(m, minimumChunk: minimumRows) { rows in
                    // Row i of op(A) starts at A[i, 0], or at column i of the stored [K, M] when transposed.
                    let aSlab = descriptor.transposeA ? aBatch + rows.lowerBound : aBatch + rows.lowerBound * k
                    cblas_sgemm(CblasRowMajor,
                                descriptor.transposeA ? CblasTrans : CblasNoTrans,
                                descriptor.transposeB ? CblasTrans : CblasNoTrans,
                                blasint(rows.count), blasint(n), blasint(k), 1,
                                aSlab, blasint(lda), bBatch, blasint(ldb), 0,
                                cBatch + rows.lowerBound * n, blasint(n))
                }
            }
        }
    }
}
