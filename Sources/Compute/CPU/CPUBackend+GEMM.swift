import COpenBLAS

extension CPUBackend {
    public func gemm(_ descriptor: GEMMDescriptor, a: Buffer, b: Buffer, c: Buffer) throws {
        let (m, n, k) = (descriptor.m, descriptor.n, descriptor.k)
        // Leading dimensions of the stored (row-major) matrices.
        let lda = descriptor.transposeA ? m : k
        let ldb = descriptor.transposeB ? k : n
        for batch in 0..<descriptor.batch {
            cblas_sgemm(CblasRowMajor,
                        descriptor.transposeA ? CblasTrans : CblasNoTrans,
                        descriptor.transposeB ? CblasTrans : CblasNoTrans,
                        blasint(m), blasint(n), blasint(k), 1,
                        a.hostPointer + batch * m * k, blasint(lda),
                        b.hostPointer + batch * k * n, blasint(ldb), 0,
                        c.hostPointer + batch * m * n, blasint(n))
        }
    }
}
