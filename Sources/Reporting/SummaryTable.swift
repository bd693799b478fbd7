/// Plain-text tables for terminal and log summaries (a run's final metrics, a benchmark list).
public enum TextTable {
    /// Two spaces between columns: enough to separate them without wasting a narrow terminal.
    private static let columnGap = "  "

    /// The table as lines joined by "\n", with no trailing newline (so `print` adds exactly one).
    ///
    /// Every column is as wide as its widest cell, a line of "-" under the header, and the columns
    /// in `alignRight` (numbers, so their digits line up) right-aligned. Rows shorter than the
    /// header get empty cells; cells beyond the header still get a column. Line breaks and tabs
    /// inside a cell become spaces so one row stays one line. Widths count characters, so
    /// double-width (CJK) text will not align.
    public static func render(headers: [String], rows: [[String]], alignRight: Set<Int> = []) -> String {
        let header = headers.map(singleLine)
        let body = rows.map { $0.map(singleLine) }
        let columnCount = max(header.count, body.map(\.count).max() ?? 0)
        guard columnCount > 0 else { return "" }

        var widths = [Int](repeating: 0, count: columnCount)
        for row in [header] + body {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }

        func line(_ cells: [String]) -> String {
            let padded = (0..<columnCount).map { column -> String in
                let cell = column < cells.count ? cells[column] : ""
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return alignRight.contains(column) ? padding + cell : cell + padding
            }
            // Padding after the last column would only leave invisible trailing spaces in logs.
            return trimmingTrailingSpaces(padded.joined(separator: columnGap))
        }

        var lines: [String] = []
        if !header.isEmpty {
            lines.append(line(header))
            lines.append(trimmingTrailingSpaces(widths.map { String(repeating: "-", count: $0) }.joined(separator: columnGap)))
        }
        lines += body.map(line)
        return lines.joined(separator: "\n")
    }

    private static func singleLine(_ cell: String) -> String {
        String(cell.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    private static func trimmingTrailingSpaces(_ text: String) -> String {
        var trimmed = Substring(text)
        while trimmed.last == " " { trimmed.removeLast() }
        return String(trimmed)
    }
}
