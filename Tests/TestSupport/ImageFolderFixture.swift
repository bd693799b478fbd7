import Foundation

/// A dataset folder in the imagefolder layout for tests: 16×16 PNGs of a noisy background with a
/// large block in the class colour, string labels, and the same text for every sample — so only
/// the image decides the class.
public enum ImageFolderFixture {
    public static let classes: [(name: String, rgb: (UInt8, UInt8, UInt8))] = [("blue", (40, 60, 230)), ("green", (40, 210, 60)), ("red", (230, 40, 40))]

    /// Writes `root/{train,validation,test}` with `perClass` samples per class in train and a
    /// third of that in the others; returns `root`.
    @discardableResult
    public static func write(to root: URL, perClass: Int = 12, seed: UInt64 = 1) throws -> URL {
        var state = seed
        func random() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for (split, count) in [("train", perClass), ("validation", max(perClass / 3, 1)), ("test", max(perClass / 3, 1))] {
            let folder = root.appendingPathComponent(split)
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("images"), withIntermediateDirectories: true)
            var lines: [String] = []
            for index in 0..<count {
                for (name, rgb) in classes {
                    var pixels = [UInt8](repeating: 0, count: 16 * 16 * 3)
                    let (x0, y0) = (Int(random() % 6), Int(random() % 6))
                    for y in 0..<16 {
                        for x in 0..<16 {
                            let inside = (x0..<(x0 + 10)).contains(x) && (y0..<(y0 + 10)).contains(y)
                            let base = (y * 16 + x) * 3
                            (pixels[base], pixels[base + 1], pixels[base + 2]) = inside ? rgb : (random() / 4, random() / 4, random() / 4)
                        }
                    }
                    let fileName = "images/\(name)-\(index).png"
                    try PNGWriter.encode(width: 16, height: 16, rgb: pixels).write(to: folder.appendingPathComponent(fileName))
                    lines.append(#"{"file_name": "\#(fileName)", "text": "a photo of a block", "label": "\#(name)"}"#)
                }
            }
            try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)
        }
        return root
    }
}
