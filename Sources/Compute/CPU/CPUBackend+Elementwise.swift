import Foundation

/// Elementwise ops, column sums and embeddings on the CPU path.
extension CPUBackend {
    /// Runs `body` over `0..<count` in chunks of at least 16k elements per thread.
    private func elementwise(_ count: Int, _ body: (Range<Int>) -> Void) {
        parallelFor(count, minimumChunk: 16_384, body)
    }

    public func add(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("add", [a, b], into: y, count: count)
        let (x1, x2, out) = (a.hostPointer, b.hostPointer, y.hostPointer)
        elementwise(count) { for i in $0 { out[i] = x1[i] + x2[i] } }
    }

    public func multiply(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("multiply", [a, b], into: y, count: count)
        let (x1, x2, out) = (a.hostPointer, b.hostPointer, y.hostPointer)
        elementwise(count) { for i in $0 { out[i] = x1[i] * x2[i] } }
    }

    public func scale(_ x: Buffer, by alpha: Float, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("scale", [x], into: y, count: count)
        let (input, out) = (x.hostPointer, y.hostPointer)
        elementwise(count) { for i in $0 { out[i] = alpha * input[i] } }
    }

    public func scale(_ x: Buffer, byScalarIn alpha: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("scale", [x], into: y, count: count)
        try BufferCounts.require("scale", (alpha, 1, "the scale"))
        try scale(x, by: alpha.hostPointer[0], into: y, count: count)
    }

    public func map(_ function: ScalarFunction, _ x: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("map", [x], into: y, count: count)
        let (input, out) = (x.hostPointer, y.hostPointer)
        elementwise(count) { range in for i in range { out[i] = function(input[i]) } }
    }

    public func accumulate(_ source: Buffer, into destination: Buffer, count: Int) throws {
        try BufferCounts.elementwise("accumulate", [source], into: destination, count: count)
        let (input, out) = (source.hostPointer, destination.hostPointer)
        elementwise(count) { for i in $0 { out[i] += input[i] } }
    }

    public func swapAxes12(_ x: Buffer, into y: Buffer, shape: (Int, Int, Int, Int)) throws {
        try BufferCounts.swapAxes12(x, into: y, shape: shape)
        let (a, b, c, d) = shape
        let (input, out) = (x.hostPointer, y.hostPointer)
        parallelFor(a * b * c, minimumChunk: max(1, 4096 / d)) { rows in
            for row in rows {
                let (k, j, i) = (row % c, (row / c) % b, row / (b * c))
                (out + ((i * c + k) * b + j) * d).update(from: input + row * d, count: d)
            }
        }
    }

    public func copyBlocks(_ source: Buffer, to destination: Buffer, _ layout: BlockCopy) throws {
        try BufferCounts.copyBlocks(source, to: destination, layout)
        let (input, out) = (source.hostPointer, destination.hostPointer)
        parallelFor(layout.blocks, minimumChunk: max(1, 16_384 / max(layout.blockLength, 1))) { blocks in
            for i in blocks {
                (out + layout.destinationOffset + i * layout.destinationStride)
                    .update(from: input + layout.sourceOffset + i * layout.sourceStride, count: layout.blockLength)
            }
        }
    }

    public func fill(_ buffer: Buffer, with value: Float, count: Int) throws {
        try BufferCounts.fill(buffer, with: value, count: count)
        buffer.hostPointer.update(repeating: value, count: count)
    }

    public func biasAdd(_ x: Buffer, bias: Buffer, into y: Buffer, rows: Int, columns: Int) throws {
        try BufferCounts.biasAdd(x, bias: bias, into: y, rows: rows, columns: columns)
        let (input, b, out) = (x.hostPointer, bias.hostPointer, y.hostPointer)
        parallelFor(rows, minimumChunk: max(1, 16_384 / columns)) { range in
            let vectorEnd = columns / 16 * 16
            for r in range {
                let (row, result) = (input + r * columns, out + r * columns)
                for c in stride(from: 0, to: vectorEnd, by: 16) { result.store(row.lanes(at: c) + b.lanes(at: c), at: c) }
                for c in vectorEnd..<columns { result[c] = row[c] + b[c] }
            }
        }
    }

    public func columnSums(_ x: Buffer, rows: Int, columns: Int, into out: Buffer) throws {
        try BufferCounts.columnSums(x, rows: rows, columns: columns, into: out)
        let input = x.hostPointer
        // One chunk of rows per thread, at least 16k elements each (a small sum stays on one thread).
        let chunks = max(1, min(threadCount, rows, rows * columns / 16_384))
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: chunks * columns)
        partials.update(repeating: 0, count: chunks * columns)
        defer { partials.deallocate() }
        concurrently(chunks) { chunk in
            let partial = partials + chunk * columns
            let range = (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks)
            if columns == 1 {
                // One column is a contiguous sum (a tensor's total, gradient norms): 16 lanes,
                // not one serial chain of adds.
                partial[0] = vectorSum(input + range.lowerBound, count: range.count)
                return
            }
            // 16 columns at a time (the compiler does not vectorise the scalar loop: the two
            // pointers may alias); each column still sums its rows in order.
            let vectorEnd = columns / 16 * 16
            for r in range {
                let row = input + r * columns
                for c in stride(from: 0, to: vectorEnd, by: 16) { partial.store(partial.lanes(at: c) + row.lanes(at: c), at: c) }
                for c in vectorEnd..<columns { partial[c] += row[c] }
            }
        }
        let result = out.hostPointer
        for c in 0..<columns {
            var sum: Float = 0
            for chunk in 0..<chunks { sum += partials[chunk * columns + c] }
            result[c] = sum
        }
    }

    public func embeddingForward(table: Buffer, ids: Buffer, out: Buffer, count: Int, dimension: Int) throws {
        try BufferCounts.embeddingForward(table: table, ids: ids, out: out, count: count, dimension: dimension)
        let (rows, tokens, result) = (table.hostPointer, ids.int32Pointer, out.hostPointer)
        parallelFor(count, minimumChunk: max(1, 4096 / dimension)) { range in
            for n in range { (result + n * dimension).update(from: rows + Int(tokens[n]) * dimension, count: dimension) }
        }
    }

    public func embeddingBackward(gradOut: Buffer, ids tokens: [Int32], gradTable: Buffer, dimension: Int, vocabulary: Int) throws {
        try BufferCounts.embeddingBackward(gradOut: gradOut, ids: tokens, gradTable: gradTable, dimension: dimension, vocabulary: vocabulary)
        let (gradients, table, count) = (gradOut.hostPointer, gradTable.hostPointer, tokens.count)
        table.update(repeating: 0, count: vocabulary * dimension)
        // Threads own column slices of the whole table and walk the ids in order: no two
        // threads touch one entry, and the summation order is fixed.
        parallelFor(dimension, minimumChunk: 16) { columns in
            for n in 0..<count {
                let (source, destination) = (gradients + n * dimension, table + Int(tokens[n]) * dimension)
                for c in columns { destination[c] += source[c] }
            }
        }
    }
}
