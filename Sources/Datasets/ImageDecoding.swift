import CSTBImage
import Foundation

/// Why image bytes could not be turned into pixels. Image files come from users, so every case
/// is thrown, never trapped, and says what the file is and what was wrong with it.
public enum ImageDecodingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Zero bytes: an empty file.
    case empty
    /// More bytes than the decoder's `int` lengths can address (2 GiB).
    case dataTooLarge(bytes: Int)
    /// Not PNG, JPEG or BMP. `detected` names the format when the magic bytes say (GIF, WebP…).
    case unsupportedFormat(detected: String?)
    /// A PNG, JPEG or BMP signature whose header could not be read.
    case corruptHeader(format: String, reason: String)
    /// The header declares dimensions past what the decoder itself can hold (over 2^24 pixels
    /// a side or about 1 GiB of pixels), so it does not report them; usually a corrupt header.
    case headerTooLarge(format: String)
    /// The header's dimensions exceed the caller's bounds; nothing was decoded.
    case tooLarge(width: Int, height: Int, maxSide: Int, maxPixels: Int)
    /// The header was fine but the pixel data was not.
    case corruptData(format: String, reason: String)

    public var description: String {
        switch self {
        case .empty:
            "the file is empty"
        case .dataTooLarge(let bytes):
            "the file has \(bytes) bytes, more than the decoder can read (\(Int32.max))"
        case .unsupportedFormat(let detected?):
            "unsupported image format \(detected): only PNG, JPEG and BMP are supported"
        case .unsupportedFormat(nil):
            "not a PNG, JPEG or BMP image"
        case .corruptHeader(let format, let reason):
            "corrupt \(format) header (\(reason))"
        case .headerTooLarge(let format):
            "\(format) header declares an image too large to decode"
        case .tooLarge(let width, let height, let maxSide, let maxPixels):
            "image is \(width)×\(height) pixels, above the limit of \(maxSide) pixels a side and \(maxPixels) pixels in all"
        case .corruptData(let format, let reason):
            "corrupt \(format) data (\(reason))"
        }
    }
}

/// PNG, JPEG and BMP decoding (through stb_image) and the resize to a model's input.
public enum ImageDecoder {
    /// Decodes PNG, JPEG or BMP bytes to 8-bit RGB: row-major, 3 bytes a pixel. Grey images are
    /// expanded, alpha is dropped (as `PIL.Image.convert("RGB")` does), 16-bit PNGs are reduced
    /// to 8 bits, and JPEG EXIF orientation is ignored (pixels come out as stored).
    ///
    /// Only the header is read before the size check, so an image above `maxSide` on either
    /// side or `maxPixels` in all is rejected without allocating its pixels.
    public static func decodeRGB(_ data: Data, maxPixels: Int = 16_777_216, maxSide: Int = 16384) throws
        -> (width: Int, height: Int, pixels: [UInt8])
    {
        guard !data.isEmpty else { throw ImageDecodingError.empty }
        guard data.count <= Int(Int32.max) else { throw ImageDecodingError.dataTooLarge(bytes: data.count) }
        let format = knownFormat(data)
        return try data.withUnsafeBytes { raw in
            guard let bytes = raw.bindMemory(to: UInt8.self).baseAddress else { throw ImageDecodingError.empty }
            let length = Int32(raw.count)
            var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
            guard aligncl_image_info(bytes, length, &width, &height, &channels) == 1 else {
                // stb tries every decoder it has; without one of our signatures the bytes are
                // some other format, with one they are a damaged file of that format.
                guard let format else { throw ImageDecodingError.unsupportedFormat(detected: otherFormat(data)) }
                let reason = failureReason()
                // stb's own size guard fires before it reports the dimensions, which are far
                // past any sensible bound anyway.
                if reason == "too large" { throw ImageDecodingError.headerTooLarge(format: format) }
                throw ImageDecodingError.corruptHeader(format: format, reason: reason)
            }
            let (w, h) = (Int(width), Int(height))
            guard w > 0, h > 0 else {
                throw ImageDecodingError.corruptHeader(format: format ?? "image", reason: "\(w)×\(h) pixels")
            }
            guard w <= maxSide, h <= maxSide, w * h <= maxPixels else {
                throw ImageDecodingError.tooLarge(width: w, height: h, maxSide: maxSide, maxPixels: maxPixels)
            }
            var decodedWidth: Int32 = 0, decodedHeight: Int32 = 0
            guard let pixels = aligncl_image_decode_rgb(bytes, length, &decodedWidth, &decodedHeight) else {
                var reason = failureReason()
                // The shim caps each allocation at what a w×h image needs; hitting the cap means
                // the data inflates past its dimensions, not that the machine is out of memory.
                if reason == "outofmem" { reason = "needs more memory than a \(w)×\(h) image can; a decompression bomb?" }
                throw ImageDecodingError.corruptData(format: format ?? "image", reason: reason)
            }
            defer { aligncl_image_free(pixels) }
            // The bound was checked on the header's numbers; the decode reads the same header,
            // but the copy below must never trust a size it did not check.
            guard decodedWidth == width, decodedHeight == height else {
                throw ImageDecodingError.corruptData(
                    format: format ?? "image",
                    reason: "header says \(w)×\(h), decoder produced \(decodedWidth)×\(decodedHeight)")
            }
            return (w, h, Array(UnsafeBufferPointer(start: pixels, count: w * h * 3)))
        }
    }

    /// Resizes RGB pixels (as `decodeRGB` returns them) to `size`×`size`, stretching (aspect
    /// ratio is not kept, nothing is cropped), and returns channel-major floats in [−1, 1]:
    /// `(v / 255 − 0.5) / 0.5`, the layout and range of `Sample.image`.
    ///
    /// The filter is PIL's `Image.resize(…, BILINEAR)`: a triangle filter whose width grows
    /// with the shrink factor, so shrinking averages over every source pixel (no aliasing)
    /// and enlarging is plain bilinear interpolation with pixel centres at +0.5.
    ///
    /// - Precondition: `width`, `height` and `size` are positive and `rgb` has
    ///   `width * height * 3` bytes. These come from code (`decodeRGB` output and a validated
    ///   size), never straight from a file.
    public static func resizedCHW(_ rgb: [UInt8], width: Int, height: Int, to size: Int) -> [Float] {
        precondition(width > 0 && height > 0 && size > 0, "resizedCHW needs positive sizes, got \(width)×\(height) → \(size)")
        precondition(rgb.count == width * height * 3, "resizedCHW: \(rgb.count) bytes is not \(width)×\(height)×3")
        let columns = FilterTaps(input: width, output: size)
        let rows = FilterTaps(input: height, output: size)

        // Horizontal pass over every source row: [height][size][3], still 0…255.
        var horizontal = [Float](repeating: 0, count: height * size * 3)
        rgb.withUnsafeBufferPointer { source in
            horizontal.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let sourceRow = y * width * 3, targetRow = y * size * 3
                    for x in 0..<size {
                        var (r, g, b): (Float, Float, Float) = (0, 0, 0)
                        let first = columns.first[x]
                        for k in 0..<columns.count[x] {
                            let weight = columns.weights[x * columns.stride + k]
                            let p = sourceRow + (first + k) * 3
                            r += weight * Float(source[p])
                            g += weight * Float(source[p + 1])
                            b += weight * Float(source[p + 2])
                        }
                        let t = targetRow + x * 3
                        (target[t], target[t + 1], target[t + 2]) = (r, g, b)
                    }
                }
            }
        }

        // Vertical pass straight into channel-major output, normalised as Shapes does.
        let plane = size * size
        var output = [Float](repeating: 0, count: 3 * plane)
        horizontal.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for y in 0..<size {
                    let first = rows.first[y]
                    for x in 0..<size {
                        var (r, g, b): (Float, Float, Float) = (0, 0, 0)
                        for k in 0..<rows.count[y] {
                            let weight = rows.weights[y * rows.stride + k]
                            let p = ((first + k) * size + x) * 3
                            r += weight * source[p]
                            g += weight * source[p + 1]
                            b += weight * source[p + 2]
                        }
                        let offset = y * size + x
                        target[offset] = normalised(r)
                        target[plane + offset] = normalised(g)
                        target[2 * plane + offset] = normalised(b)
                    }
                }
            }
        }
        return output
    }

    /// 0…255 to [−1, 1]. Weights sum to 1 only up to rounding, so clamp to keep the promise.
    @inline(__always)
    private static func normalised(_ value: Float) -> Float {
        min(1, max(-1, (value / 255 - 0.5) / 0.5))
    }

    /// The format our decoders claim, by signature; nil for anything else.
    private static func knownFormat(_ data: Data) -> String? {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "PNG" }
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return "JPEG" }
        if data.starts(with: [0x42, 0x4D]) { return "BMP" }
        return nil
    }

    /// Names common formats we do not decode, so the error can say "WebP" instead of just "no".
    private static func otherFormat(_ data: Data) -> String? {
        let bytes = [UInt8](data.prefix(12))
        func has(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && Array(bytes[offset..<offset + prefix.count]) == prefix
        }
        if has(Array("GIF8".utf8)) { return "GIF" }
        if has(Array("RIFF".utf8)), has(Array("WEBP".utf8), at: 8) { return "WebP" }
        if has([0x49, 0x49, 0x2A, 0x00]) || has([0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if has(Array("ftyp".utf8), at: 4) { return "HEIF/AVIF" }
        if has([0xFF, 0x0A]) || has([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return "JPEG XL" }
        if has(Array("8BPS".utf8)) { return "PSD" }
        return nil
    }

    private static func failureReason() -> String {
        aligncl_image_failure().map { String(cString: $0) } ?? "unknown reason"
    }
}

/// The source pixels and weights that make each output pixel along one axis: PIL's
/// `precompute_coeffs` for the bilinear (triangle) filter, in Double so the taps of a large
/// shrink still sum to 1.
private struct FilterTaps {
    /// First source index of output i; `count[i]` taps follow it.
    var first: [Int], count: [Int]
    /// `weights[i * stride + k]` is the weight of source `first[i] + k`.
    var weights: [Float]
    var stride: Int

    init(input: Int, output: Int) {
        let scale = Double(input) / Double(output)
        // Shrinking by s widens the filter by s, so every source pixel is averaged in.
        let filterScale = max(scale, 1)
        let support = filterScale
        stride = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: output)
        count = [Int](repeating: 0, count: output)
        weights = [Float](repeating: 0, count: output * stride)
        for i in 0..<output {
            let centre = (Double(i) + 0.5) * scale
            let low = max(0, Int(centre - support + 0.5))
            let high = min(input, Int(centre + support + 0.5))
            var taps: [Double] = []
            for x in low..<max(low, high) {
                let distance = abs((Double(x) - centre + 0.5) / filterScale)
                taps.append(max(0, 1 - distance))
            }
            let total = taps.reduce(0, +)
            if total <= 0 || taps.count > stride {
                // Unreachable for the triangle filter (the nearest pixel always has weight);
                // nearest-pixel sampling keeps the output defined anyway.
                first[i] = min(input - 1, Int(centre))
                count[i] = 1
                weights[i * stride] = 1
                continue
            }
            first[i] = low
            count[i] = taps.count
            for (k, tap) in taps.enumerated() { weights[i * stride + k] = Float(tap / total) }
        }
    }
}
