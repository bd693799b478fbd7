import Foundation

/// Why a `preprocessor_config.json` or an image could not be used. Config files and images come
/// from users, so every case is thrown and names the file (and the field) at fault.
public enum CLIPPreprocessingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The config file could not be read or is not a JSON object.
    case unreadableConfig(file: String, reason: String)
    /// A field the enabled steps need is absent.
    case missingField(file: String, field: String)
    /// A field is present but of the wrong type or out of range.
    case invalidField(file: String, field: String, reason: String)
    /// `resample` names a PIL filter other than BILINEAR (2) or BICUBIC (3).
    case unsupportedResample(file: String, value: Int)
    /// The settings give an output whose size depends on the image, which no batch can hold.
    case variableOutputSize(file: String)
    /// The image file could not be read or decoded.
    case unreadableImage(file: String, reason: String)
    /// `rgb` does not hold `width * height * 3` bytes, or a side is not positive.
    case badPixelBuffer(width: Int, height: Int, count: Int)

    public var description: String {
        switch self {
        case .unreadableConfig(let file, let reason): "\(file): \(reason)"
        case .missingField(let file, let field): "\(file): missing field \"\(field)\""
        case .invalidField(let file, let field, let reason): "\(file): field \"\(field)\" \(reason)"
        case .unsupportedResample(let file, let value):
            "\(file): field \"resample\" is \(value); only 2 (BILINEAR) and 3 (BICUBIC) are supported"
        case .variableOutputSize(let file):
            "\(file): without do_center_crop (or with do_resize false) the output size depends on each image; set do_center_crop"
        case .unreadableImage(let file, let reason): "\(file): \(reason)"
        case .badPixelBuffer(let width, let height, let count):
            "\(count) bytes is not a \(width)×\(height) RGB image (\(width)×\(height)×3)"
        }
    }
}

/// Hugging Face's `CLIPImageProcessor` (its PIL backend, `CLIPImageProcessorPil` in
/// transformers 5) in Swift: resize the short side with PIL's resampling, center-crop, rescale,
/// normalise, channel-major. Every step reproduces the integer and float32 arithmetic of PIL and
/// NumPy, so the output equals transformers' `pixel_values` bit for bit on decoded RGB pixels.
public struct CLIPImagePreprocessor: Sendable {
    /// How the resize picks its output: the short side becomes N (aspect kept), or a fixed size.
    public enum Size: Sendable, Equatable { case shortestEdge(Int), exact(height: Int, width: Int) }
    /// PIL's filters that CLIP configs use, by their `Image.Resampling` numbers.
    public enum Resample: Int, Sendable { case bilinear = 2, bicubic = 3 }

    public let size: Size?
    public let resample: Resample
    public let cropSize: (height: Int, width: Int)?
    public let rescaleFactor: Double?
    public let mean: [Float]?, std: [Float]?
    /// The `[3, outputHeight, outputWidth]` shape of every result.
    public let outputHeight: Int, outputWidth: Int

    /// Reads `preprocessor_config.json` in a model folder.
    public init(folder: URL) throws {
        try self.init(contentsOf: folder.appendingPathComponent("preprocessor_config.json"))
    }

    /// Reads a `preprocessor_config.json`. Unknown fields are ignored (configs carry many).
    /// Absent `do_*` flags and `resample` take CLIPImageProcessor's class defaults, as
    /// transformers does; the numbers an enabled step needs (size, crop_size, rescale_factor,
    /// image_mean, image_std) must be present: falling back to CLIP's 224 for a model trained at
    /// another size would silently give wrong inputs.
    public init(contentsOf configURL: URL) throws {
        let file = configURL.path
        let object: [String: JSON]
        do {
            let data = try Data(contentsOf: configURL)
            guard case .object(let dictionary) = try JSONDecoder().decode(JSON.self, from: data) else {
                throw CLIPPreprocessingError.unreadableConfig(file: file, reason: "expected a JSON object")
            }
            object = dictionary
        } catch let error as CLIPPreprocessingError {
            throw error
        } catch is DecodingError {
            throw CLIPPreprocessingError.unreadableConfig(file: file, reason: "not valid JSON")
        } catch {
            throw CLIPPreprocessingError.unreadableConfig(file: file, reason: error.localizedDescription)
        }
        let config = Fields(file: file, object: object)

        size = try config.bool("do_resize", default: true) ? try config.size("size") : nil
        let filter = try config.int("resample", default: Resample.bicubic.rawValue)
        // Without a resize the filter is never used, and transformers does not look at it.
        guard let resample = Resample(rawValue: filter) ?? (size == nil ? .bicubic : nil) else {
            throw CLIPPreprocessingError.unsupportedResample(file: file, value: filter)
        }
        self.resample = resample
        cropSize = try config.bool("do_center_crop", default: true) ? try config.cropSize("crop_size") : nil
        rescaleFactor = try config.bool("do_rescale", default: true) ? try config.double("rescale_factor") : nil
        if try config.bool("do_normalize", default: true) {
            mean = try config.channels("image_mean")
            std = try config.channels("image_std")
            if std!.contains(0) { throw CLIPPreprocessingError.invalidField(file: file, field: "image_std", reason: "has a zero") }
        } else {
            (mean, std) = (nil, nil)
        }
        // Only checked for type: the decoder always gives RGB, which is what `true` asks for;
        // `false` changes nothing for RGB input (grey or alpha input would keep its channels).
        _ = try config.bool("do_convert_rgb", default: true)

        if let cropSize {
            (outputHeight, outputWidth) = cropSize
        } else if case .exact(let height, let width) = size {
            (outputHeight, outputWidth) = (height, width)
        } else {
            throw CLIPPreprocessingError.variableOutputSize(file: file)
        }
    }

    /// Decodes a PNG, JPEG or BMP file and preprocesses it: `[3, outputHeight, outputWidth]`.
    /// Where the decoder's pixels differ from PIL's, so does the result: alpha is dropped, where
    /// transformers composites it onto white; JPEG goes through stb_image rather than libjpeg
    /// (about one step in 255 here and there); 16-bit grey keeps the high byte, where PIL clips.
    public func pixelValues(imageFile: URL) throws -> [Float] {
        let decoded: (width: Int, height: Int, pixels: [UInt8])
        do {
            decoded = try ImageDecoder.decodeRGB(try Data(contentsOf: imageFile))
        } catch let error as ImageDecodingError {
            throw CLIPPreprocessingError.unreadableImage(file: imageFile.path, reason: error.description)
        } catch {
            throw CLIPPreprocessingError.unreadableImage(file: imageFile.path, reason: error.localizedDescription)
        }
        return try pixelValues(rgb: decoded.pixels, width: decoded.width, height: decoded.height)
    }

    /// An image already at the output size, channel-major in [−1, 1] (`Sample.image`, as
    /// `shapes` renders it), as this preprocessor's rescale and normalisation would give its
    /// pixels: each value is the byte `(x + 1) / 2 · 255` before those steps.
    public func normalized(signedImage image: [Float]) -> [Float] {
        let plane = image.count / 3
        return image.enumerated().map { index, x in
            var value = (x + 1) / 2 * 255
            if let rescaleFactor { value *= Float(rescaleFactor) }
            if let mean, let std { value = (value - mean[index / plane]) / std[index / plane] }
            return value
        }
    }

    /// Preprocesses row-major RGB bytes (as `ImageDecoder.decodeRGB` gives them) into
    /// channel-major float32 `[3, outputHeight, outputWidth]`.
    public func pixelValues(rgb: [UInt8], width: Int, height: Int) throws -> [Float] {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw CLIPPreprocessingError.badPixelBuffer(width: width, height: height, count: rgb.count)
        }
        let (newHeight, newWidth) = size.map { Self.resizedSize($0, height: height, width: width) } ?? (height, width)
        // Crop window origin; transformers floors `(size - crop) // 2` in Python, so a crop
        // bigger than the image starts at a negative offset and the outside reads as zero
        // (its pad-then-crop comes to exactly this).
        let top = cropSize.map { Self.floorHalf(newHeight - $0.height) } ?? 0
        let left = cropSize.map { Self.floorHalf(newWidth - $0.width) } ?? 0
        let rows = max(0, top)..<min(newHeight, top + outputHeight)
        let columns = max(0, left)..<min(newWidth, left + outputWidth)
        // Only the pixels the crop keeps are resized: each depends on its own taps alone, so they
        // come out as in the full image, and a needle-thin input cannot blow up the memory.
        let window: (pixels: [UInt8], width: Int, x: Int, y: Int) = size == nil ? (rgb, width, 0, 0)
            : (Self.resample(rgb, width: width, height: height, toWidth: newWidth, toHeight: newHeight, filter: resample,
                             columns: columns, rows: rows), columns.count, columns.lowerBound, rows.lowerBound)
        let plane = outputHeight * outputWidth
        // Padding is zero bytes, which rescale and normalise like any other.
        var output = (0..<3).flatMap { [Float](repeating: value(0, channel: $0), count: plane) }
        for y in 0..<outputHeight where rows.contains(y + top) {
            let sourceRow = (y + top - window.y) * window.width
            for x in 0..<outputWidth where columns.contains(x + left) {
                let source = (sourceRow + x + left - window.x) * 3
                for channel in 0..<3 {
                    output[channel * plane + y * outputWidth + x] = value(window.pixels[source + channel], channel: channel)
                }
            }
        }
        return output
    }

    /// One byte through rescale and normalise, in NumPy's precision: the rescale multiplies in
    /// float64 and rounds to float32; the normalise subtracts and divides in float32.
    @inline(__always)
    private func value(_ byte: UInt8, channel: Int) -> Float {
        var v = rescaleFactor.map { Float(Double(byte) * $0) } ?? Float(byte)
        if let mean, let std { v = (v - mean[channel]) / std[channel] }
        return v
    }

    private static func floorHalf(_ value: Int) -> Int { value >= 0 ? value / 2 : -((-value + 1) / 2) }

    /// transformers' `get_resize_output_image_size(…, default_to_square=False)` as (height,
    /// width): the long side is `int(N * long / short)`, truncated. Both operands are exact in
    /// Double and IEEE division rounds once, as Python's int true division does.
    public static func resizedSize(_ size: Size, height: Int, width: Int) -> (height: Int, width: Int) {
        switch size {
        case .exact(let h, let w): return (h, w)
        case .shortestEdge(let n):
            let (short, long) = width <= height ? (width, height) : (height, width)
            let newLong = Int(Double(n * long) / Double(short))
            return width <= height ? (newLong, n) : (n, newLong)
        }
    }

    // MARK: PIL's resample (libImaging/Resample.c, 8 bits a channel)

    /// PIL `Image.resize((toWidth, toHeight), filter)` on an RGB image, output `columns` ×
    /// `rows` of it: two separable passes, each rounded and clipped to uint8, so their order
    /// changes the result. Pillow 13 runs the vertical pass first when the height shrinks by more
    /// than twice as many pixels as the width (`ImagingResampleInner`; older Pillow always went
    /// horizontal first). PIL skips a pass whose size does not change; here it runs, but its
    /// taps are then exactly one source pixel at weight 1, which changes nothing.
    static func resample(_ rgb: [UInt8], width: Int, height: Int, toWidth: Int, toHeight: Int, filter: Resample,
                         columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        guard !columns.isEmpty, !rows.isEmpty else { return [] }
        let horizontal = Taps(input: width, output: toWidth, filter: filter, keeping: columns)
        let vertical = Taps(input: height, output: toHeight, filter: filter, keeping: rows)
        if toWidth != width, height - toHeight > 0, height - toHeight > 2 * (width - toWidth) {
            let shorter = verticalPass(rgb, rowBytes: width * 3, firstRow: 0, rows: vertical)
            return horizontalPass(shorter, width: width, firstRow: 0, rowCount: rows.count, columns: horizontal)
        }
        // The source rows the kept output rows read (tap windows only move down).
        let firstRow = vertical.first[0], endRow = vertical.first[rows.count - 1] + vertical.count[rows.count - 1]
        let narrower = horizontalPass(rgb, width: width, firstRow: firstRow, rowCount: endRow - firstRow, columns: horizontal)
        return verticalPass(narrower, rowBytes: columns.count * 3, firstRow: firstRow, rows: vertical)
    }

    /// Filters rows `firstRow ..< firstRow + rowCount` along x.
    private static func horizontalPass(_ pixels: [UInt8], width: Int, firstRow: Int, rowCount: Int, columns: Taps) -> [UInt8] {
        let toWidth = columns.first.count
        var out = [UInt8](repeating: 0, count: rowCount * toWidth * 3)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for row in 0..<rowCount {
                    let sourceRow = (firstRow + row) * width * 3, targetRow = row * toWidth * 3
                    for x in 0..<toWidth {
                        let first = sourceRow + columns.first[x] * 3, base = x * columns.stride
                        var (r, g, b) = (Taps.half, Taps.half, Taps.half)
                        for k in 0..<columns.count[x] {
                            let weight = columns.weights[base + k], p = first + k * 3
                            r &+= Int32(source[p]) &* weight
                            g &+= Int32(source[p + 1]) &* weight
                            b &+= Int32(source[p + 2]) &* weight
                        }
                        let t = targetRow + x * 3
                        (target[t], target[t + 1], target[t + 2]) = (Taps.clip8(r), Taps.clip8(g), Taps.clip8(b))
                    }
                }
            }
        }
        return out
    }

    /// Filters along y, `pixels` starting at source row `firstRow`; channels are independent, so
    /// a row is just `rowBytes` bytes.
    private static func verticalPass(_ pixels: [UInt8], rowBytes: Int, firstRow: Int, rows: Taps) -> [UInt8] {
        let toHeight = rows.first.count
        var out = [UInt8](repeating: 0, count: toHeight * rowBytes)
        var sums = [Int32](repeating: 0, count: rowBytes)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for y in 0..<toHeight {
                    // Row by row over the taps keeps the reads sequential; the integer sums are
                    // exact, so the order of accumulation cannot change them.
                    for i in 0..<rowBytes { sums[i] = Taps.half }
                    for k in 0..<rows.count[y] {
                        let weight = rows.weights[y * rows.stride + k], sourceRow = (rows.first[y] - firstRow + k) * rowBytes
                        for i in 0..<rowBytes { sums[i] &+= Int32(source[sourceRow + i]) &* weight }
                    }
                    for i in 0..<rowBytes { target[y * rowBytes + i] = Taps.clip8(sums[i]) }
                }
            }
        }
        return out
    }
}

/// PIL's `precompute_coeffs` and `normalize_coeffs_8bpc` for one axis: the source range and the
/// fixed-point weights of each output pixel. The double arithmetic is written in PIL's order
/// (multiply by the inverse scale, divide by the sum) so the rounded integers come out the same.
private struct Taps {
    /// 8 bits of result, 2 for overflow of negative lobes and sums above 1: 22 fractional bits.
    static let precisionBits: Int32 = 32 - 8 - 2
    /// The rounding term every sum starts from.
    static let half: Int32 = 1 << (precisionBits - 1)

    var first: [Int], count: [Int], weights: [Int32]
    var stride: Int

    /// Taps of the outputs in `kept` only, indexed from 0.
    init(input: Int, output: Int, filter: CLIPImagePreprocessor.Resample, keeping kept: Range<Int>) {
        // PIL's box is float32 (0, 0, w, h); the difference of whole numbers is exact.
        let scale = Double(Float(input)) / Double(output)
        // Shrinking by s stretches the kernel by s, so every source pixel counts (antialiasing).
        let filterScale = max(scale, 1)
        let support = (filter == .bicubic ? 2.0 : 1.0) * filterScale
        stride = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: kept.count)
        count = [Int](repeating: 0, count: kept.count)
        weights = [Int32](repeating: 0, count: kept.count * stride)
        let inverseScale = 1.0 / filterScale
        var taps = [Double](repeating: 0, count: stride)
        for (i, index) in kept.enumerated() {
            let centre = (Double(index) + 0.5) * scale
            // C's (int) truncates toward zero; clamping makes negatives 0 either way.
            let low = max(0, Int(centre - support + 0.5))
            let high = min(input, Int(centre + support + 0.5))
            let n = high - low
            var total = 0.0
            for k in 0..<n {
                let w = Self.kernel((Double(k + low) - centre + 0.5) * inverseScale, filter)
                taps[k] = w
                total += w
            }
            for k in 0..<n {
                let w = total != 0 ? taps[k] / total : taps[k]
                let scaled = w * Double(1 << Self.precisionBits)
                weights[i * stride + k] = Int32(w < 0 ? -0.5 + scaled : 0.5 + scaled)
            }
            (first[i], count[i]) = (low, n)
        }
    }

    /// PIL's `bicubic_filter` (Keys, a = −0.5) and `bilinear_filter`, term for term.
    static func kernel(_ value: Double, _ filter: CLIPImagePreprocessor.Resample) -> Double {
        let x = abs(value)
        switch filter {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }

    /// PIL's `clip8`: drop the fraction (an arithmetic shift, so floor) and clamp to a byte.
    @inline(__always)
    static func clip8(_ sum: Int32) -> UInt8 { UInt8(clamping: sum >> precisionBits) }
}

/// Just enough JSON to tell `true` from `1` and `224` from `"224"`.
private enum JSON: Decodable, Equatable {
    case bool(Bool), number(Double), string(String), array([JSON]), object([String: JSON]), null

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSON].self)) }
    }
}

/// Typed reads of config fields, each failure naming the file and field.
private struct Fields {
    let file: String, object: [String: JSON]

    func fail(_ field: String, _ reason: String) -> CLIPPreprocessingError {
        .invalidField(file: file, field: field, reason: reason)
    }

    /// transformers treats null as absent.
    func optional(_ field: String) -> JSON? { object[field] == .null ? nil : object[field] }

    func value(_ field: String) throws -> JSON {
        guard let value = optional(field) else { throw CLIPPreprocessingError.missingField(file: file, field: field) }
        return value
    }

    func bool(_ field: String, default fallback: Bool) throws -> Bool {
        guard let value = optional(field) else { return fallback }
        guard case .bool(let flag) = value else { throw fail(field, "must be true or false") }
        return flag
    }

    func double(_ field: String) throws -> Double {
        guard case .number(let number) = try value(field), number.isFinite, number > 0 else { throw fail(field, "must be a positive number") }
        return number
    }

    func int(_ field: String, default fallback: Int) throws -> Int {
        try optional(field).map { try integer($0, field) } ?? fallback
    }

    func integer(_ json: JSON, _ field: String) throws -> Int {
        guard case .number(let number) = json, number == number.rounded(), abs(number) < 1e9 else {
            throw fail(field, "must be a whole number")
        }
        return Int(number)
    }

    func positive(_ json: JSON?, _ field: String) throws -> Int {
        guard let json else { throw fail(field, "lacks a size") }
        let n = try integer(json, field)
        guard n > 0, n <= 16384 else { throw fail(field, "must be between 1 and 16384, got \(n)") }
        return n
    }

    /// `{"shortest_edge": N}`, `{"height": H, "width": W}`, or a bare N (which CLIP, whose
    /// `default_to_square` is false, reads as the shortest edge). Like transformers, the key set
    /// must be exactly one of these; `longest_edge` variants are not CLIP's and are refused.
    func size(_ field: String) throws -> CLIPImagePreprocessor.Size {
        switch try value(field) {
        case .number: return .shortestEdge(try positive(object[field], field))
        case .object(let keys) where Set(keys.keys) == ["shortest_edge"]:
            return .shortestEdge(try positive(keys["shortest_edge"], field + ".shortest_edge"))
        case .object(let keys) where Set(keys.keys) == ["height", "width"]:
            return .exact(height: try positive(keys["height"], field + ".height"), width: try positive(keys["width"], field + ".width"))
        default: throw fail(field, "must be {\"shortest_edge\": N}, {\"height\": H, \"width\": W} or a number")
        }
    }

    /// `{"height": H, "width": W}` or a bare N (a square, as transformers reads crop_size).
    func cropSize(_ field: String) throws -> (height: Int, width: Int) {
        switch try value(field) {
        case .number: let n = try positive(object[field], field); return (n, n)
        case .object(let keys) where Set(keys.keys) == ["height", "width"]:
            return (try positive(keys["height"], field + ".height"), try positive(keys["width"], field + ".width"))
        default: throw fail(field, "must be {\"height\": H, \"width\": W} or a number")
        }
    }

    /// Three per-channel numbers, or one for all three (transformers accepts both). Rounded to
    /// float32 from the parsed double, as `np.array(mean, dtype=float32)` rounds Python floats.
    func channels(_ field: String) throws -> [Float] {
        switch try value(field) {
        case .number(let number) where number.isFinite: return [Float](repeating: Float(number), count: 3)
        case .array(let items) where items.count == 3:
            return try items.map {
                guard case .number(let number) = $0, number.isFinite else { throw fail(field, "must hold 3 numbers") }
                return Float(number)
            }
        default: throw fail(field, "must be 3 numbers (one a channel) or one number")
        }
    }
}

