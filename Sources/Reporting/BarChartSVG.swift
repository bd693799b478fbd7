import Foundation

/// One labelled group of bars, e.g. one benchmark case with a bar per backend.
public struct BarGroup: Sendable {
    public var label: String
    /// Series name → value. A series missing here gets no bar; a NaN or infinite value gets an
    /// "n/a" row instead, so a failed measurement stays visible rather than silently vanishing.
    public var values: [String: Double]

    public init(label: String, values: [String: Double]) {
        self.label = label
        self.values = values
    }
}

/// Groups sharing one x axis: values in different units must not share a scale.
public struct BarPanel: Sendable {
    public var title: String
    public var unit: String
    public var groups: [BarGroup]

    public init(title: String, unit: String, groups: [BarGroup]) {
        self.title = title
        self.unit = unit
        self.groups = groups
    }
}

/// Grouped horizontal bar charts as a standalone SVG 1.1 document. Horizontal because benchmark
/// case names are long: on the left they read normally instead of being rotated or cut short.
public enum BarChartSVG {
    /// Layout sizes in pixels.
    private enum Layout {
        static let barHeight = 14.0, barGap = 2.0, groupPadding = 6.0
        static let labelFontSize = 12.0, valueFontSize = 11.0, maximumLabelCharacters = 48
        static let titleBand = 40.0, emptyTitleBand = 8.0, legendRow = 22.0
        static let panelHeading = 30.0, axisBand = 44.0, panelGap = 12.0, emptyPlotHeight = 40.0
        static let side = 12.0, minimumWidth = 360, maximumSize = 100_000
    }

    /// The SVG text of `panels` stacked vertically under `title` and one legend. Colours follow the
    /// order of `series`, so a backend keeps its colour in every panel; names that appear in the
    /// data but not in `series` are appended (sorted) rather than dropped.
    public static func render(title: String, series: [String], panels: [BarPanel], width: Int = 900) -> String {
        let width = Double(min(max(width, Layout.minimumWidth), Layout.maximumSize))
        var order: [String] = []
        for name in series where !order.contains(name) { order.append(name) }
        let dataNames = Set(panels.flatMap { $0.groups.flatMap { $0.values.keys } })
        order += dataNames.subtracting(order).sorted()
        let panels = panels.isEmpty ? [BarPanel(title: "", unit: "", groups: [])] : panels

        // Room for the widest value label past the longest bar: on the right, and on the left too
        // if any bar is negative (its label sits left of its end), so labels never overlap.
        let values = panels.flatMap { $0.groups.flatMap { $0.values.values } }
        let valueWidth = LinePlotSVG.textWidth(characters: values.map { valueLabel($0).count }.max() ?? 0,
                                               fontSize: Layout.valueFontSize) + 6
        let negativeRoom = values.contains { $0.isFinite && $0 < 0 } ? valueWidth : 0
        // Left margin from the longest (already clipped) group label, but never squeezing the bars
        // below 40 % of the chart: on a narrow chart, shorter labels beat unreadable bars.
        let longest = panels.flatMap { $0.groups.map { clipped($0.label).count } }.max() ?? 0
        let labelRoom = width * 0.6 - 2 * Layout.side - 10 - valueWidth - negativeRoom
        let labelWidth = max(0, min(LinePlotSVG.textWidth(characters: longest, fontSize: Layout.labelFontSize), labelRoom))
        let frame = (left: Layout.side + labelWidth + 10 + negativeRoom, right: width - Layout.side - valueWidth)

        let legend = legendLayout(order, width: width)
        let titleBand = title.isEmpty ? Layout.emptyTitleBand : Layout.titleBand
        let top = titleBand + legend.height
        let heights = panels.map { panelHeight($0, order: order) }
        let height = top + heights.reduce(0, +)

        var svg = SVGWriter(width: width, height: height)
        if !title.isEmpty {
            svg.text(LinePlotSVG.fitted(title, width: width - 20, fontSize: 18), x: width / 2, y: 27,
                     attributes: "font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#222222\"")
        }
        for (index, entry) in legend.entries.enumerated() {
            let y = titleBand + Layout.legendRow * Double(entry.row)
            svg.line("<rect x=\"\(LinePlotSVG.format(entry.x))\" y=\"\(LinePlotSVG.format(y + 2))\" width=\"12\" height=\"12\" " +
                     "fill=\"\(colour(index))\"/>")
            svg.text(entry.name, x: entry.x + 17, y: y + 12.5, attributes: "font-size=\"12\" fill=\"#222222\"")
        }
        var panelTop = top
        for (panel, panelHeight) in zip(panels, heights) {
            drawPanel(panel, order: order, top: panelTop, left: frame.left, right: frame.right, labelWidth: labelWidth, into: &svg)
            panelTop += panelHeight
        }
        svg.line("</svg>")
        return svg.document
    }

    // MARK: - Layout

    private static func colour(_ seriesIndex: Int) -> String {
        LinePlotSVG.palette[seriesIndex % LinePlotSVG.palette.count]
    }

    /// Group labels on one line, and cut at a fixed length: past ~48 characters the tail of a case
    /// name rarely matters and would squeeze the bars.
    static func clipped(_ label: String) -> String {
        let flat = LinePlotSVG.singleLine(label)
        guard flat.count > Layout.maximumLabelCharacters else { return flat }
        return String(flat.prefix(Layout.maximumLabelCharacters - 1)) + "…"
    }

    /// The series a group shows, in legend order: one row each, so missing series take no space.
    private static func rows(_ group: BarGroup, order: [String]) -> [(index: Int, value: Double)] {
        order.enumerated().compactMap { index, name in group.values[name].map { (index, $0) } }
    }

    private static func groupHeight(rowCount: Int) -> Double {
        // A group with no values still gets one row, so its label is shown with "no data".
        let rows = Double(max(1, rowCount))
        return rows * Layout.barHeight + (rows - 1) * Layout.barGap + 2 * Layout.groupPadding
    }

    private static func panelHeight(_ panel: BarPanel, order: [String]) -> Double {
        let plot = panel.groups.isEmpty ? Layout.emptyPlotHeight
            : panel.groups.map { groupHeight(rowCount: rows($0, order: order).count) }.reduce(0, +)
        return Layout.panelHeading + plot + Layout.axisBand + Layout.panelGap
    }

    /// Legend entries left to right, wrapping to a new row when the chart width runs out.
    private static func legendLayout(_ names: [String], width: Double) -> (entries: [(name: String, x: Double, row: Int)], height: Double) {
        var entries: [(name: String, x: Double, row: Int)] = []
        var x = Layout.side, row = 0
        for name in names {
            let text = LinePlotSVG.fitted(name, width: width / 2, fontSize: 12)
            let entryWidth = 17 + LinePlotSVG.textWidth(characters: text.count, fontSize: 12) + 18
            if x + entryWidth > width - Layout.side && x > Layout.side { (x, row) = (Layout.side, row + 1) }
            entries.append((text, x, row))
            x += entryWidth
        }
        return (entries, names.isEmpty ? 0 : Layout.legendRow * Double(row + 1) + 6)
    }

    /// A linear axis from 0 covering all finite values (negative ones too, should any appear), with
    /// as many nice ticks as fit without their labels touching.
    private static func xScale(_ panel: BarPanel, plotWidth: Double) -> AxisScale {
        let finite = panel.groups.flatMap { $0.values.values }.filter(\.isFinite)
        let low = min(0, finite.min() ?? 0), high = max(0, finite.max() ?? 0)
        // All zero (or nothing measurable): 0...1 rather than AxisScale's padding around 0, which would go negative.
        let range = low == high ? 0...1 : low...high
        var target = max(2, Int(plotWidth / 90))
        while true {
            let scale = AxisScale.linear(range, targetTicks: target)
            let widest = LinePlotSVG.textWidth(characters: scale.ticks.map { $0.label.count }.max() ?? 1, fontSize: 11)
            if plotWidth / Double(max(1, scale.ticks.count - 1)) >= widest + 12 || target <= 2 { return scale }
            target -= 1
        }
    }

    // MARK: - Drawing

    private static func drawPanel(_ panel: BarPanel, order: [String], top: Double, left: Double, right: Double,
                                  labelWidth: Double, into svg: inout SVGWriter) {
        let format = LinePlotSVG.format
        let plotTop = top + Layout.panelHeading
        if !panel.title.isEmpty {
            svg.text(LinePlotSVG.fitted(panel.title, width: right - Layout.side, fontSize: 14), x: Layout.side, y: top + 20,
                     attributes: "font-size=\"14\" font-weight=\"bold\" fill=\"#222222\"")
        }
        guard !panel.groups.isEmpty else {
            let bottom = plotTop + Layout.emptyPlotHeight
            svg.line("<rect x=\"\(format(left))\" y=\"\(format(plotTop))\" width=\"\(format(right - left))\" " +
                     "height=\"\(format(Layout.emptyPlotHeight))\" fill=\"none\" stroke=\"#888888\"/>")
            svg.text("no data", x: (left + right) / 2, y: (plotTop + bottom) / 2 + 5,
                     attributes: "font-size=\"14\" text-anchor=\"middle\" fill=\"#888888\"")
            return
        }
        let plotWidth = right - left
        let scale = xScale(panel, plotWidth: plotWidth)
        let xOf = { (value: Double) in left + scale.fraction(value) * plotWidth }
        let groupRows = panel.groups.map { rows($0, order: order) }
        let bottom = plotTop + groupRows.map { groupHeight(rowCount: $0.count) }.reduce(0, +)

        // Alternate group shading first, so grid lines and bars draw over it.
        var groupTop = plotTop
        for (index, rows) in groupRows.enumerated() {
            let height = groupHeight(rowCount: rows.count)
            if index % 2 == 1 {
                svg.line("<rect x=\"\(format(Layout.side))\" y=\"\(format(groupTop))\" width=\"\(format(right - Layout.side))\" " +
                         "height=\"\(format(height))\" fill=\"#f4f6f8\"/>")
            }
            groupTop += height
        }
        for tick in scale.ticks {
            let x = xOf(tick.value)
            svg.line("<line x1=\"\(format(x))\" y1=\"\(format(plotTop))\" x2=\"\(format(x))\" y2=\"\(format(bottom + 5))\" " +
                     "stroke=\"#e0e0e0\" stroke-width=\"1\"/>")
            svg.text(tick.label, x: x, y: bottom + 18, attributes: "font-size=\"11\" text-anchor=\"middle\" fill=\"#444444\"")
        }
        if !panel.unit.isEmpty {
            svg.text(LinePlotSVG.fitted(panel.unit, width: plotWidth, fontSize: 12), x: left + plotWidth / 2, y: bottom + 36,
                     attributes: "font-size=\"12\" text-anchor=\"middle\" fill=\"#444444\"")
        }

        let zero = xOf(0)
        groupTop = plotTop
        for (group, rows) in zip(panel.groups, groupRows) {
            let height = groupHeight(rowCount: rows.count)
            let label = LinePlotSVG.fitted(clipped(group.label), width: labelWidth, fontSize: Layout.labelFontSize)
            svg.text(label, x: Layout.side + labelWidth, y: groupTop + height / 2 + 4,
                     attributes: "font-size=\"12\" text-anchor=\"end\" fill=\"#222222\"")
            if rows.isEmpty {
                svg.text("no data", x: zero + 4, y: groupTop + height / 2 + 4,
                         attributes: "font-size=\"11\" font-style=\"italic\" fill=\"#888888\"")
            }
            for (rowIndex, row) in rows.enumerated() {
                let y = groupTop + Layout.groupPadding + Double(rowIndex) * (Layout.barHeight + Layout.barGap)
                let textY = y + Layout.barHeight / 2 + 4
                guard row.value.isFinite else {
                    svg.text("n/a", x: zero + 4, y: textY, attributes: "font-size=\"11\" font-style=\"italic\" fill=\"#888888\"")
                    continue
                }
                let end = xOf(row.value)
                svg.line("<rect x=\"\(format(min(zero, end)))\" y=\"\(format(y))\" width=\"\(format(abs(end - zero)))\" " +
                         "height=\"\(format(Layout.barHeight))\" fill=\"\(colour(row.index))\"/>")
                // Outside the bar's end, so the number reads on white whatever the bar's length.
                let anchor = row.value < 0 ? "end" : "start"
                svg.text(valueLabel(row.value), x: row.value < 0 ? min(zero, end) - 4 : max(zero, end) + 4, y: textY,
                         attributes: "font-size=\"11\" text-anchor=\"\(anchor)\" fill=\"#333333\"")
            }
            groupTop += height
        }
        // The zero line last, over the bars' starts, as the common baseline.
        svg.line("<line x1=\"\(format(zero))\" y1=\"\(format(plotTop))\" x2=\"\(format(zero))\" y2=\"\(format(bottom))\" " +
                 "stroke=\"#666666\" stroke-width=\"1\"/>")
    }

    /// Three significant digits in fixed notation ("1230", "45.6", "0.0123"): benchmark timings
    /// are not more precise than that, and exponents are hard to compare at a glance. Only very
    /// large or small magnitudes fall back to exponent form.
    static func valueLabel(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        let magnitude = abs(value)
        if magnitude == 0 { return "0" }
        if magnitude >= 1e6 || magnitude < 1e-3 { return String(format: "%.3g", value) }
        let scale = pow(10, log10(magnitude).rounded(.down) - 2)
        let rounded = (value / scale).rounded() * scale
        // Decimals from the rounded value: 999.7 becomes 1000, which needs none.
        let decimals = max(0, 2 - Int(log10(abs(rounded)).rounded(.down)))
        return String(format: "%.\(decimals)f", rounded)
    }
}
