import Compute
import Foundation
import Testing
import TestSupport

/// What every backend promises at its boundary: descriptors that cannot be made wrong, typed
/// errors for what a device cannot do or cannot hold, and ops it cannot run said beforehand.
@Suite struct BackendContractTests {
    /// Public initialisers validate: a bad size or scalar is an `invalidArgument` naming it.
    @Test func descriptorsRefuseWhatCannotWork() {
        func message(_ make: () throws -> Void) -> String? {
            do { try make(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ = try GEMMDescriptor(m: -1, n: 2, k: 3) } == "[gemm] M must be at least 0, got -1")
        #expect(message { _ = try GEMMDescriptor(m: 1 << 16, n: 1 << 16, k: 1) }?.contains("c has 4294967296 elements") == true)
        #expect(message { _ = try SoftmaxDescriptor(rows: 2, columns: 3, scale: .nan) } == "[softmax] scale must be finite, got nan")
        #expect(message { _ = try AttentionDescriptor(batch: 1, heads: 0, queryLength: 2, keyLength: 2, headDimension: 4, valueDimension: 4) }
                == "[attention] H must be at least 1, got 0")
        #expect(message { _ = try AdamWDescriptor(count: 4, learningRate: 1e-3, beta2: 1, step: 1) } == "[adamw] beta2 must be in [0, 1), got 1.0")
        #expect(message { _ = try AdamWDescriptor(count: 4, learningRate: 1e-3, step: 0) } == "[adamw] step must be at least 1, got 0")
        #expect(message { _ = try InfoNCEDescriptor(rows: 3, columns: 4, dimension: 2, scale: 1) }?.contains("diagonal targets need N = M") == true)
        #expect(message { _ = try MutualInformationDescriptor(groups: 1, size: 1, estimator: .jensenShannon) }?.contains("needs N ≥ 2") == true)
        #expect(message { _ = try KLDivergenceDescriptor(rows: 2, classes: 3, temperature: 0) } == "[kl-divergence] the temperature must be positive, got 0.0")
        #expect(message { _ = try GEMMDescriptor(m: 2, n: 3, k: 4) } == nil)
    }

    /// Every descriptor counts its work for the benchmarks.
    @Test func descriptorsCountTheirWork() throws {
        let descriptors: [any OpDescriptor] = [
            try GEMMDescriptor(m: 2, n: 3, k: 4), try SoftmaxDescriptor(rows: 2, columns: 3),
            try AttentionDescriptor(batch: 1, heads: 2, queryLength: 3, keyLength: 5, headDimension: 4, valueDimension: 4),
            try LayerNormDescriptor(rows: 2, columns: 3), try GELUDescriptor(count: 6), try AdamWDescriptor(count: 6, learningRate: 1e-3, step: 1),
            try CrossEntropyDescriptor(rows: 2, classes: 3), try KLDivergenceDescriptor(rows: 2, classes: 3, temperature: 2),
            try InfoNCEDescriptor(rows: 3, columns: 3, dimension: 4, scale: 10), try MutualInformationDescriptor(groups: 2, size: 3, estimator: .infoNCE),
        ]
        #expect(Set(descriptors.map { type(of: $0).op }).count == descriptors.count)
        for descriptor in descriptors {
            #expect(descriptor.flops > 0 && descriptor.bytes > 0, "\(type(of: descriptor).op)")
        }
        #expect(try GEMMDescriptor(m: 2, n: 3, k: 4).flops == 48)
    }

    /// An allocation the host or device cannot give is `outOfMemory`, not a crash or an
    /// `invalidArgument`.
    @Test func allocationBeyondTheHostIsOutOfMemory() {
        #expect {
            _ = try CPUBackend().makeBuffer(count: 1 << 58)
        } throws: { error in
            guard case BackendError.outOfMemory(let op, let message) = error else { return false }
            return op == "allocate" && message.contains("\(1 << 60) bytes")
        }
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func allocationBeyondTheDeviceIsOutOfMemory() throws {
        let backend = try TestBackends.freshOpenCL(.cpu)
        #expect {
            _ = try backend.makeBuffer(count: 1 << 58)
        } throws: { error in
            guard case BackendError.outOfMemory(_, let message) = error else { return false }
            return message.contains("\(1 << 60) bytes")
        }
    }

    /// Head widths past the OpenCL kernels' are said by `supports` and, when run anyway, are
    /// `unsupported` (the CPU path takes any width).
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func attentionPastTheKernelsHeadWidthIsUnsupported(variant: OpenCLTuning.Variant) throws {
        let backend = try TestBackends.openCL(variant)
        let wide = try AttentionDescriptor(batch: 1, heads: 1, queryLength: 2, keyLength: 2, headDimension: 300, valueDimension: 300)
        #expect(!backend.supports(wide) && TestBackends.cpu.supports(wide))
        #expect(backend.supports(try AttentionDescriptor(batch: 1, heads: 1, queryLength: 2, keyLength: 2, headDimension: 256, valueDimension: 256)))
        let q = HostArray(shape: [1, 1, 2, 300], values: [Float](repeating: 0.1, count: 600))
        #expect {
            _ = try Operations(backend: backend).attention(q: q, k: q, v: q)
        } throws: { error in
            guard case BackendError.unsupported(let op, let message) = error else { return false }
            return op == "attention" && message.contains("up to 256, got D = 300")
        }
    }

    /// A buffer shorter than the op's sizes is refused at the boundary, naming it, on every backend.
    @Test func shortBuffersAreRefusedByTheCPUPath() throws { try checkShortBuffers(TestBackends.cpu) }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func shortBuffersAreRefusedByOpenCL() throws { try checkShortBuffers(TestBackends.openCL(.cpu)) }

    func checkShortBuffers(_ backend: any Backend) throws {
        func message(_ run: () throws -> Void) -> String? {
            do { try run(); return nil } catch { return "\(error)" }
        }
        let (small, large) = (try backend.makeBuffer(count: 5), try backend.makeBuffer(count: 64))
        #expect(message { try backend.gemm(try GEMMDescriptor(m: 2, n: 3, k: 4), a: small, b: large, c: large) }
                == "[gemm] a must hold 8 elements, got a buffer of 5")
        #expect(message { try backend.add(large, small, into: large, count: 6) } == "[add] input 2 must hold 6 elements, got a buffer of 5")
        #expect(message { try backend.softmaxForward(try SoftmaxDescriptor(rows: 2, columns: 3), x: large, mask: nil, y: small) }
                == "[softmax] y must hold 6 elements, got a buffer of 5")
        #expect(message { try [Float](repeating: 1, count: 6).withUnsafeBufferPointer { try backend.upload($0, to: small) } }
                == "[upload] the destination must hold 6 elements, got a buffer of 5")
        #expect(message { try backend.fill(large, with: 0, count: -1) } == "[fill] the buffer needs a count of 0 or more, got -1")
        #expect(message { _ = try backend.read(small, count: 6) } == "[download] the source must hold 6 elements, got a buffer of 5")
        #expect(message { try backend.gemm(try GEMMDescriptor(m: 2, n: 3, k: 4), a: large, b: large, c: large) } == nil)
    }
}
