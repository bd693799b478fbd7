import Datasets
import Foundation
import Testing

/// `CLIPImagePreprocessor` against Hugging Face's (PIL-backed) `CLIPImageProcessor`: the committed
/// fixture's `pixel_values`, PIL's resize on small images (bytes taken from Pillow 13), and every
/// kind of bad config naming its file and field.
@Suite struct CLIPImagePreprocessingTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/hf/clip-tiny").standardizedFileURL

    /// Each fixture image, in sorted file-name order as the fixture script wrote them, equals
    /// transformers' `pixel_values` exactly: the resize, crop and float32 arithmetic all match.
    @Test func fixtureImagesEqualTransformersPixelValues() throws {
        let processor = try CLIPImagePreprocessor(folder: Self.fixture)
        let images = try FileManager.default.contentsOfDirectory(atPath: Self.fixture.appendingPathComponent("images").path)
            .filter { $0.hasSuffix(".png") }.sorted()
        let (shape, expected) = try Self.readFloat32NPY(Self.fixture.appendingPathComponent("pixel_values.npy"))
        try #require(shape == [images.count, 3, processor.outputHeight, processor.outputWidth], "npy shape \(shape), \(images.count) images")
        let size = 3 * processor.outputHeight * processor.outputWidth
        for (index, name) in images.enumerated() {
            let values = try processor.pixelValues(imageFile: Self.fixture.appendingPathComponent("images/\(name)"))
            let reference = expected[(index * size)..<((index + 1) * size)]
            let worst = zip(values, reference).map { abs($0 - $1) }.max() ?? .infinity
            #expect(values.count == size && worst == 0, "\(name): max |Δ| \(worst)")
        }
    }

    /// Writes a config with the CLIP defaults and `changes` (a JSON object; null removes a field).
    func config(_ changes: String = "{}") throws -> URL {
        var fields: [String: Any] = [
            "image_processor_type": "CLIPImageProcessor", "do_resize": true, "size": ["shortest_edge": 30], "resample": 3,
            "do_center_crop": true, "crop_size": ["height": 30, "width": 30], "do_rescale": true, "rescale_factor": 1.0 / 255,
            "do_normalize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": true,
        ]
        let overrides = try #require(try JSONSerialization.jsonObject(with: Data(changes.utf8)) as? [String: Any])
        for (key, value) in overrides { fields[key] = value is NSNull ? nil : value }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-clip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("preprocessor_config.json")
        try JSONSerialization.data(withJSONObject: fields).write(to: file)
        return file
    }

    /// A config that only resizes to exactly `width`×`height`, so the output is PIL's bytes.
    func resizeOnly(width: Int, height: Int, resample: Int) throws -> CLIPImagePreprocessor {
        try CLIPImagePreprocessor(contentsOf: config("""
            {"size": {"height": \(height), "width": \(width)}, "crop_size": {"height": \(height), "width": \(width)},
             "resample": \(resample), "do_rescale": false, "do_normalize": false}
            """))
    }

    /// A deterministic test card: bytes that change in every direction and channel.
    static func card(width: Int, height: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { bytes.append(UInt8((x * 37 + y * 91 + c * 53 + x * y * 7) % 256)) }
            }
        }
        return bytes
    }

    /// `Image.fromarray(card).resize((toWidth, toHeight), resample)` in Pillow 13.0, channel-major.
    struct PillowCase: Sendable, CustomTestStringConvertible {
        let width: Int, height: Int, toWidth: Int, toHeight: Int, resample: Int
        let bytes: [UInt8]
        var testDescription: String { "\(width)×\(height) → \(toWidth)×\(toHeight), filter \(resample)" }
    }

    /// The second case runs PIL's vertical pass first (the height shrinks, the width grows), the
    /// others horizontal first; the rounding after each pass makes the two orders differ.
    static let pillowCases: [PillowCase] = [
        PillowCase(width: 7, height: 5, toWidth: 4, toHeight: 3, resample: 3, bytes: [56, 127, 113, 151, 150, 117, 130, 146, 99, 159, 143, 161, 113, 143, 140, 125, 137, 126, 135, 127, 147, 133, 144, 128, 163, 139, 167, 110, 113, 135, 143, 123, 136, 127, 134, 117]),
        PillowCase(width: 6, height: 40, toWidth: 10, toHeight: 8, resample: 3, bytes: [89, 102, 123, 123, 123, 129, 135, 138, 127, 120, 125, 125, 128, 142, 145, 128, 137, 154, 125, 103, 156, 151, 141, 129, 125, 135, 121, 98, 96, 97, 113, 113, 113, 112, 122, 148, 145, 123, 98, 84, 123, 129, 137, 136, 129, 117, 131, 147, 100, 67, 150, 139, 123, 130, 137, 137, 121, 100, 102, 105, 100, 104, 109, 102, 111, 147, 161, 162, 180, 191, 129, 130, 130, 124, 115, 103, 115, 143, 168, 182, 150, 138, 123, 133, 142, 142, 129, 117, 153, 178, 128, 121, 112, 128, 135, 121, 111, 112, 143, 164, 115, 127, 140, 117, 104, 115, 138, 161, 156, 149, 154, 138, 115, 116, 122, 127, 119, 108, 128, 142, 109, 110, 115, 127, 134, 133, 120, 105, 120, 132, 120, 121, 125, 143, 145, 117, 128, 154, 134, 117, 144, 146, 146, 128, 116, 122, 114, 101, 106, 111, 91, 109, 133, 119, 117, 145, 156, 151, 115, 92, 120, 129, 142, 139, 130, 117, 142, 175, 123, 85, 152, 133, 108, 134, 149, 130, 126, 125, 100, 83, 122, 122, 122, 118, 119, 132, 122, 99, 78, 67, 112, 116, 122, 121, 123, 132, 148, 162, 142, 127, 147, 148, 149, 143, 134, 122, 114, 118, 164, 194, 104, 111, 124, 128, 130, 131, 111, 92, 143, 179, 115, 120, 125, 110, 110, 138, 151, 155, 161, 164, 143, 138, 130, 132, 128, 113, 107, 111, 136, 152]),
        PillowCase(width: 5, height: 4, toWidth: 9, toHeight: 7, resample: 2, bytes: [0, 12, 33, 53, 74, 95, 115, 136, 148, 33, 46, 68, 89, 112, 134, 145, 117, 99, 85, 99, 123, 148, 172, 195, 193, 86, 21, 137, 153, 179, 149, 104, 130, 142, 98, 71, 170, 187, 216, 139, 35, 64, 93, 121, 138, 76, 94, 125, 116, 95, 126, 157, 188, 206, 17, 36, 69, 101, 133, 165, 197, 230, 249, 53, 65, 86, 106, 127, 148, 168, 189, 201, 86, 99, 121, 142, 165, 136, 117, 139, 152, 138, 152, 176, 201, 225, 116, 35, 59, 74, 190, 163, 118, 131, 157, 112, 82, 108, 124, 223, 161, 58, 60, 88, 117, 144, 162, 173, 129, 117, 97, 118, 148, 179, 192, 131, 95, 70, 89, 122, 154, 186, 218, 222, 112, 46, 106, 118, 139, 159, 180, 201, 221, 242, 254, 139, 152, 174, 155, 126, 148, 170, 192, 205, 191, 205, 229, 148, 40, 64, 88, 112, 127, 115, 131, 157, 127, 82, 108, 135, 161, 177, 38, 56, 84, 113, 141, 160, 181, 209, 226, 90, 109, 140, 171, 201, 141, 98, 130, 148, 123, 142, 175, 207, 239, 129, 47, 80, 99]),
    ]

    @Test(arguments: pillowCases)
    func resizeEqualsPillowByteForByte(_ item: PillowCase) throws {
        let processor = try resizeOnly(width: item.toWidth, height: item.toHeight, resample: item.resample)
        let values = try processor.pixelValues(rgb: Self.card(width: item.width, height: item.height), width: item.width, height: item.height)
        #expect(values == item.bytes.map(Float.init))
    }

    /// transformers floors `(size − crop) / 2` and pads with zeros where the crop is larger.
    @Test func centerCropOffsetsAndPaddingFollowTransformers() throws {
        let padded = try CLIPImagePreprocessor(contentsOf: config(#"{"do_resize": false, "crop_size": {"height": 4, "width": 5}, "do_rescale": false, "do_normalize": false}"#))
        let small = (1...18).map(UInt8.init) // 3 wide, 2 tall, RGB
        let red = Array(try padded.pixelValues(rgb: small, width: 3, height: 2).prefix(20))
        #expect(red == [0, 0, 0, 0, 0, 0, 1, 4, 7, 0, 0, 10, 13, 16, 0, 0, 0, 0, 0, 0])
        let cropped = try CLIPImagePreprocessor(contentsOf: config(#"{"do_resize": false, "crop_size": 2, "do_rescale": false, "do_normalize": false}"#))
        let wide = (1...45).map(UInt8.init) // 5 wide, 3 tall
        #expect(Array(try cropped.pixelValues(rgb: wide, width: 5, height: 3).prefix(4)) == [4, 7, 19, 22])
    }

    @Test func shortestEdgeKeepsAspectWithTransformersTruncation() {
        #expect(CLIPImagePreprocessor.resizedSize(.shortestEdge(224), height: 480, width: 640) == (224, 298))
        #expect(CLIPImagePreprocessor.resizedSize(.shortestEdge(224), height: 1000, width: 333) == (672, 224))
        #expect(CLIPImagePreprocessor.resizedSize(.shortestEdge(30), height: 30, width: 30) == (30, 30))
    }

    @Test func normalisationUsesFloat32LikeNumPy() throws {
        let processor = try CLIPImagePreprocessor(contentsOf: config(#"{"do_resize": false, "crop_size": 1}"#))
        let values = try processor.pixelValues(rgb: [0, 128, 255], width: 1, height: 1)
        // NumPy: the rescale multiplies in float64 and rounds; mean, std and the rest are float32.
        let mean: [Float] = [0.48145466, 0.4578275, 0.40821073], std: [Float] = [0.26862954, 0.26130258, 0.27577711]
        let bytes: [Double] = [0, 128, 255]
        let expected: [Float] = (0..<3).map { c in (Float(bytes[c] * (1.0 / 255)) - mean[c]) / std[c] }
        #expect(values == expected)
        #expect(processor.outputHeight == 1 && processor.outputWidth == 1)
    }

    @Test func unknownFieldsAndBareSizesAreAccepted() throws {
        let processor = try CLIPImagePreprocessor(contentsOf: config(#"{"size": 24, "crop_size": 20, "feature_extractor_type": "x", "use_square_size": false}"#))
        #expect(processor.size == .shortestEdge(24) && processor.outputHeight == 20 && processor.outputWidth == 20)
    }

    /// Each bad config is a typed error whose message names the file and the field.
    @Test(arguments: [
        (#"{"crop_size": null}"#, "crop_size"),
        (#"{"image_std": null}"#, "image_std"),
        (#"{"do_resize": 1}"#, "do_resize"),
        (#"{"size": "224"}"#, "size"),
        (#"{"size": {"shortest_edge": 30, "longest_edge": 60}}"#, "size"),
        (#"{"size": {"shortest_edge": 0}}"#, "size.shortest_edge"),
        (#"{"crop_size": {"height": 30}}"#, "crop_size"),
        (#"{"image_mean": [0.5, 0.5]}"#, "image_mean"),
        (#"{"image_std": [0.5, 0, 0.5]}"#, "image_std"),
        (#"{"rescale_factor": "1/255"}"#, "rescale_factor"),
        (#"{"resample": 1}"#, "resample"),
        (#"{"resample": 2.5}"#, "resample"),
        (#"{"do_center_crop": false}"#, "do_center_crop"),
    ])
    func badConfigIsATypedErrorNamingFileAndField(changes: String, field: String) throws {
        let file = try config(changes)
        do {
            _ = try CLIPImagePreprocessor(contentsOf: file)
            Issue.record("accepted \(changes)")
        } catch let error as CLIPPreprocessingError {
            #expect("\(error)".contains(file.path) && "\(error)".contains(field), "\(error)")
        }
    }

    @Test func badInputsAreTypedErrors() throws {
        let notJSON = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-clip-\(UUID().uuidString).json")
        try Data("{\"size\": ".utf8).write(to: notJSON)
        let configError = #expect(throws: CLIPPreprocessingError.self) { try CLIPImagePreprocessor(contentsOf: notJSON) }
        if case .unreadableConfig(let file, _)? = configError { #expect(file == notJSON.path) } else { Issue.record("\(String(describing: configError))") }
        let processor = try CLIPImagePreprocessor(contentsOf: config())
        #expect(throws: CLIPPreprocessingError.badPixelBuffer(width: 2, height: 2, count: 11)) {
            try processor.pixelValues(rgb: [UInt8](repeating: 0, count: 11), width: 2, height: 2)
        }
        let imageError = #expect(throws: CLIPPreprocessingError.self) { try processor.pixelValues(imageFile: notJSON) }
        #expect("\(imageError.map(String.init(describing:)) ?? "")".hasPrefix(notJSON.path + ": "), "the message names the file")
    }

    /// The few lines of the `.npy` format the fixture needs: version 1–3, little-endian float32, C order.
    static func readFloat32NPY(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        try #require(bytes.count > 10 && bytes.starts(with: [0x93] + Array("NUMPY".utf8)), "\(url.path) is not .npy")
        let (headerLength, start) = bytes[6] == 1
            ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        try #require(header.contains("'<f4'") && header.contains("'fortran_order': False"), "header \(header)")
        let shapeText = try #require(header.split(separator: "(").last?.split(separator: ")").first)
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let payload = bytes[(start + headerLength)...]
        try #require(payload.count == shape.reduce(1, *) * 4, "payload \(payload.count) bytes for shape \(shape)")
        let values = stride(from: payload.startIndex, to: payload.endIndex, by: 4).map { i in
            Float(bitPattern: UInt32(payload[i]) | UInt32(payload[i + 1]) << 8 | UInt32(payload[i + 2]) << 16 | UInt32(payload[i + 3]) << 24)
        }
        return (shape, values)
    }
}
