import Foundation

/// Accumulates an SVG document line by line, escaping all text content.
struct SVGWriter {
    private(set) var document = ""

    /// A standalone SVG 1.1 document of `width` × `height` on a white background (close it
    /// with `</svg>`).
    init(width: Double, height: Double) {
        line("""
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif">
            """)
        line("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#ffffff\"/>")
    }

    mutating func line(_ markup: String) {
        document += markup
        document += "\n"
    }

    /// A `<text>` element whose content is escaped here, so callers pass plain user strings.
    mutating func text(_ content: String, x: Double, y: Double, attributes: String) {
        line("<text x=\"\(LinePlotSVG.format(x))\" y=\"\(LinePlotSVG.format(y))\" \(attributes)>" +
             "\(LinePlotSVG.xmlEscaped(content))</text>")
    }
}

extension LinePlotSVG {
    /// Average advance of a sans-serif character as a fraction of the font size: deliberately a
    /// little generous, since overestimating only wastes a few pixels while underestimating overlaps text.
    static let characterWidthPerFontSize = 0.6

    /// Estimated rendered width of `characters` characters (no font metrics are available here).
    static func textWidth(characters: Int, fontSize: Double) -> Double {
        Double(characters) * fontSize * characterWidthPerFontSize
    }

    /// `text` on one line, cut with an ellipsis to fit `width` pixels.
    static func fitted(_ text: String, width: Double, fontSize: Double) -> String {
        let flat = singleLine(text)
        let fitting = Int(width / (fontSize * characterWidthPerFontSize))
        guard flat.count > fitting else { return flat }
        return String(flat.prefix(max(0, fitting - 1))) + "…"
    }

    /// SVG text does not wrap at newlines; they would only be collapsed unpredictably.
    static func singleLine(_ text: String) -> String {
        String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    /// Text safe inside an element or a quoted attribute: the five special characters become
    /// entities, and control characters (which XML 1.0 forbids even as references) are dropped.
    static func xmlEscaped(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                let allowed = scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF
                if allowed { escaped.unicodeScalars.append(scalar) }
            }
        }
        return escaped
    }

    /// A coordinate with one decimal: a tenth of a pixel is below what renderers show, and shorter
    /// numbers keep long training curves small.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 10).rounded() / 10
        return String(format: "%.1f", rounded == 0 ? 0 : rounded)
    }
}
