import Foundation

/// One line on a chart: a name for the legend and its (x, y) points in drawing order.
/// Non-finite points (and, on a log axis, non-positive y) break the line instead of being drawn.
public struct PlotSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }
}

/// One chart panel with its own axes. Panels with the same `xLabel` share one x range, so a
/// validation panel's points line up under the training loss at the same step.
public struct PlotPanel: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    public var logY: Bool = false

    public init(title: String, xLabel: String, yLabel: String, series: [PlotSeries], logY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logY = logY
    }
}

/// Renders line charts of a training run as a standalone SVG 1.1 document, with no dependencies,
/// so a run directory can hold a picture that any browser opens.
public enum LinePlotSVG {
    /// Colours in series order (the Tableau 10 palette): distinct from each other, and readable
    /// on white and by most colour-blind viewers for the first few entries.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    /// Series up to this many points get a marker at each point: sparse evaluations are easier
    /// to read as dots, while dense training curves would turn into a smear of circles.
    static let markerLimit = 30

    /// Layout sizes in pixels.
    private enum Layout {
        static let titleBand = 44.0
        static let emptyTitleBand = 10.0
        static let panelTitleBaseline = 20.0
        static let plotTopOffset = 34.0
        static let plotBottomMargin = 50.0
        static let yLabelBand = 26.0
        static let tickLength = 5.0
        static let legendLineHeight = 18.0
        static let legendSwatch = 22.0
        static let rightPadding = 16.0
        static let minimumWidth = 320
        static let minimumPanelHeight = 160
        static let maximumSize = 100_000
    }

    /// The SVG text of `panels` stacked vertically under `title`. Sizes below a readable minimum
    /// are raised to it rather than producing overlapping text.
    public static func render(title: String, panels: [PlotPanel], width: Int = 900, panelHeight: Int = 320) -> String {
        // Clamped on both sides: the upper bound keeps later Int conversions of the canvas size from trapping.
        let width = Double(min(max(width, Layout.minimumWidth), Layout.maximumSize))
        let panelHeight = Double(min(max(panelHeight, Layout.minimumPanelHeight), Layout.maximumSize))
        let titleBand = title.isEmpty ? Layout.emptyTitleBand : Layout.titleBand
        // With no panels at all, one empty "no data" panel still tells the reader what happened.
        let panels = panels.isEmpty ? [PlotPanel(title: "", xLabel: "", yLabel: "", series: [])] : panels
        let height = titleBand + panelHeight * Double(panels.count)

        let data = panels.map(PanelData.init)
        let plotHeight = panelHeight - Layout.plotTopOffset - Layout.plotBottomMargin
        // Fewer y ticks while labels would sit closer than a line of text apart (small charts).
        let yScales = data.map { panelData -> AxisScale? in
            var target = max(3, Int(plotHeight / 45))
            while true {
                guard let scale = panelData.yScale(targetTicks: target) else { return nil }
                let spacing = plotHeight / Double(max(1, scale.ticks.count - 1))
                if spacing >= 16 || target <= 2 { return scale }
                target -= 1
            }
        }

        // Left margin from the widest y tick label, shared by all panels so their plot areas align.
        let widestYLabel = yScales.compactMap { $0 }.flatMap { $0.ticks.map { $0.label.count } }.max() ?? 1
        let plotLeft = Layout.yLabelBand + textWidth(characters: widestYLabel, fontSize: 11) + 12
        let legendWidth = self.legendWidth(panels: panels, chartWidth: width)
        let plotRight = width - Layout.rightPadding - legendWidth
        let plotWidth = plotRight - plotLeft
        let xScales = sharedXScales(data: data, panels: panels, plotWidth: plotWidth)

        var svg = SVGWriter(width: width, height: height)
        if !title.isEmpty {
            svg.text(fitted(title, width: width - 20, fontSize: 18), x: width / 2, y: 28,
                     attributes: "font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#222222\"")
        }
        for (index, panel) in panels.enumerated() {
            let top = titleBand + panelHeight * Double(index)
            let frame = PlotFrame(left: plotLeft, right: plotRight, top: top + Layout.plotTopOffset,
                                  bottom: top + panelHeight - Layout.plotBottomMargin, legendWidth: legendWidth)
            drawPanel(panel, data: data[index], xScale: xScales[index], yScale: yScales[index],
                      frame: frame, panelTop: top, into: &svg)
        }
        svg.line("</svg>")
        return svg.document
    }

    // MARK: - Panels

    /// Where a panel's plot area sits on the canvas.
    private struct PlotFrame {
        var left, right, top, bottom: Double
        /// Width of the legend band right of the plot area.
        var legendWidth: Double
        var width: Double { right - left }
        var height: Double { bottom - top }
    }

    /// A panel's drawable points (non-finite ones, and non-positive y on a log axis, become nil
    /// so they break lines) and the range they span.
    private struct PanelData {
        var series: [[(x: Double, y: Double)?]]
        var xRange: ClosedRange<Double>?
        var yRange: ClosedRange<Double>?
        let logY: Bool

        init(panel: PlotPanel) {
            logY = panel.logY
            var xs: [Double] = [], ys: [Double] = []
            series = panel.series.map { series in
                series.points.map { point in
                    let drawable = point.x.isFinite && point.y.isFinite && (!panel.logY || point.y > 0)
                    guard drawable else { return nil }
                    xs.append(point.x)
                    ys.append(point.y)
                    return point
                }
            }
            if let low = xs.min(), let high = xs.max() { xRange = low...high }
            if let low = ys.min(), let high = ys.max() { yRange = low...high }
        }

        var hasData: Bool { xRange != nil }

        func yScale(targetTicks: Int) -> AxisScale? {
            guard let range = yRange else { return nil }
            return logY ? AxisScale.logarithmic(range) : AxisScale.linear(range, targetTicks: targetTicks)
        }
    }

    /// One x scale per panel, the same for panels with equal x labels, with as many ticks as fit
    /// without their labels touching.
    private static func sharedXScales(data: [PanelData], panels: [PlotPanel], plotWidth: Double) -> [AxisScale?] {
        var rangeByLabel: [String: ClosedRange<Double>] = [:]
        for (panel, panelData) in zip(panels, data) {
            guard let range = panelData.xRange else { continue }
            let merged = rangeByLabel[panel.xLabel].map { min($0.lowerBound, range.lowerBound)...max($0.upperBound, range.upperBound) }
            rangeByLabel[panel.xLabel] = merged ?? range
        }
        return panels.map { panel in
            guard let range = rangeByLabel[panel.xLabel] else { return nil }
            var target = max(3, Int(plotWidth / 80))
            while true {
                let scale = AxisScale.linear(range, targetTicks: target)
                let widest = textWidth(characters: scale.ticks.map { $0.label.count }.max() ?? 1, fontSize: 11)
                let spacing = plotWidth / Double(max(1, scale.ticks.count - 1))
                if spacing >= widest + 12 || target <= 2 { return scale }
                target -= 1
            }
        }
    }

    private static func drawPanel(_ panel: PlotPanel, data: PanelData, xScale: AxisScale?, yScale: AxisScale?,
                                  frame: PlotFrame, panelTop: Double, into svg: inout SVGWriter) {
        if !panel.title.isEmpty {
            svg.text(fitted(panel.title, width: frame.width, fontSize: 14), x: frame.left, y: panelTop + Layout.panelTitleBaseline,
                     attributes: "font-size=\"14\" font-weight=\"bold\" fill=\"#222222\"")
        }
        let axisAttributes = "font-size=\"12\" text-anchor=\"middle\" fill=\"#444444\""
        if !panel.xLabel.isEmpty {
            svg.text(fitted(panel.xLabel, width: frame.width, fontSize: 12), x: frame.left + frame.width / 2,
                     y: frame.bottom + 38, attributes: axisAttributes)
        }
        if !panel.yLabel.isEmpty {
            let centre = frame.top + frame.height / 2
            svg.text(fitted(panel.yLabel, width: frame.height, fontSize: 12), x: 0, y: 0,
                     attributes: axisAttributes + " transform=\"translate(\(format(16)),\(format(centre))) rotate(-90)\"")
        }

        guard data.hasData, let xScale, let yScale else {
            svg.line(frameRect(frame))
            svg.text("no data", x: frame.left + frame.width / 2, y: frame.top + frame.height / 2 + 5,
                     attributes: "font-size=\"14\" text-anchor=\"middle\" fill=\"#888888\"")
            return
        }
        let toScreen = { (point: (x: Double, y: Double)) -> (Double, Double) in
            (frame.left + xScale.fraction(point.x) * frame.width, frame.bottom - yScale.fraction(point.y) * frame.height)
        }
        drawGridAndTicks(xScale: xScale, yScale: yScale, frame: frame, into: &svg)
        svg.line(frameRect(frame))
        for (index, points) in data.series.enumerated() {
            let colour = palette[index % palette.count]
            drawSeries(points, colour: colour, markers: points.count <= markerLimit,
                       maximumPoints: Int(frame.width) * 4, toScreen: toScreen, into: &svg)
        }
        if frame.legendWidth > 0 { drawLegend(panel.series.map(\.name), frame: frame, into: &svg) }
    }

    private static func frameRect(_ frame: PlotFrame) -> String {
        "<rect x=\"\(format(frame.left))\" y=\"\(format(frame.top))\" width=\"\(format(frame.width))\" " +
            "height=\"\(format(frame.height))\" fill=\"none\" stroke=\"#888888\" stroke-width=\"1\"/>"
    }

    private static func drawGridAndTicks(xScale: AxisScale, yScale: AxisScale, frame: PlotFrame, into svg: inout SVGWriter) {
        let labelAttributes = "font-size=\"11\" fill=\"#444444\""
        for tick in xScale.ticks {
            let x = frame.left + xScale.fraction(tick.value) * frame.width
            svg.line(gridLine(x1: x, y1: frame.top, x2: x, y2: frame.bottom))
            svg.line(tickLine(x1: x, y1: frame.bottom, x2: x, y2: frame.bottom + Layout.tickLength))
            svg.text(tick.label, x: x, y: frame.bottom + 18, attributes: labelAttributes + " text-anchor=\"middle\"")
        }
        for tick in yScale.ticks {
            let y = frame.bottom - yScale.fraction(tick.value) * frame.height
            svg.line(gridLine(x1: frame.left, y1: y, x2: frame.right, y2: y))
            svg.line(tickLine(x1: frame.left - Layout.tickLength, y1: y, x2: frame.left, y2: y))
            svg.text(tick.label, x: frame.left - 8, y: y + 4, attributes: labelAttributes + " text-anchor=\"end\"")
        }
    }

    private static func gridLine(x1: Double, y1: Double, x2: Double, y2: Double) -> String {
        "<line x1=\"\(format(x1))\" y1=\"\(format(y1))\" x2=\"\(format(x2))\" y2=\"\(format(y2))\" stroke=\"#e4e4e4\" stroke-width=\"1\"/>"
    }

    private static func tickLine(x1: Double, y1: Double, x2: Double, y2: Double) -> String {
        "<line x1=\"\(format(x1))\" y1=\"\(format(y1))\" x2=\"\(format(x2))\" y2=\"\(format(y2))\" stroke=\"#888888\" stroke-width=\"1\"/>"
    }

    // MARK: - Series

    /// Draws one series as polylines split at missing points. A point with no neighbour on
    /// either side gets a marker even in a dense series, since a line of one point is invisible.
    private static func drawSeries(_ points: [(x: Double, y: Double)?], colour: String, markers: Bool, maximumPoints: Int,
                                   toScreen: ((x: Double, y: Double)) -> (Double, Double), into svg: inout SVGWriter) {
        var runs: [[(Double, Double)]] = [[]]
        for point in points {
            if let point {
                runs[runs.count - 1].append(toScreen(point))
            } else if !runs[runs.count - 1].isEmpty {
                runs.append([])
            }
        }
        for run in runs where run.count > 1 {
            let drawn = run.count > maximumPoints ? decimated(run) : run
            let coordinates = drawn.map { "\(format($0.0)),\(format($0.1))" }.joined(separator: " ")
            svg.line("<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" stroke-linejoin=\"round\" " +
                     "stroke-linecap=\"round\" points=\"\(coordinates)\"/>")
        }
        for run in runs where markers || run.count == 1 {
            for (x, y) in run {
                svg.line("<circle cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"3\" fill=\"\(colour)\" stroke=\"#ffffff\" stroke-width=\"0.8\"/>")
            }
        }
    }

    /// Thins a screen-space line to the first, lowest, highest and last point of each pixel
    /// column: the drawing looks the same (spikes included, so a loss spike is never smoothed
    /// away) while a 100 000-step run stays a file of a few hundred kilobytes.
    static func decimated(_ run: [(Double, Double)]) -> [(Double, Double)] {
        var result: [(Double, Double)] = []
        var start = 0
        while start < run.count {
            let column = run[start].0.rounded(.down)
            var end = start + 1
            while end < run.count && run[end].0.rounded(.down) == column { end += 1 }
            var lowest = start, highest = start
            for index in start..<end {
                if run[index].1 < run[lowest].1 { lowest = index }
                if run[index].1 > run[highest].1 { highest = index }
            }
            // Kept in their original order so the line still runs the way the data did.
            for index in Set([start, lowest, highest, end - 1]).sorted() { result.append(run[index]) }
            start = end
        }
        return result
    }

    // MARK: - Legend

    private static let legendFontSize = 12.0
    private static let legendMaximumFraction = 0.3

    /// Width reserved right of the plots for the legend (the longest name, up to 30 % of the chart).
    private static func legendWidth(panels: [PlotPanel], chartWidth: Double) -> Double {
        let longest = panels.flatMap { $0.series.map { singleLine($0.name).count } }.max() ?? 0
        guard longest > 0 else { return 0 }
        let wanted = Layout.legendSwatch + 14 + textWidth(characters: longest, fontSize: legendFontSize)
        return min(wanted, chartWidth * legendMaximumFraction)
    }

    private static func drawLegend(_ names: [String], frame: PlotFrame, into svg: inout SVGWriter) {
        let left = frame.right + 12
        let nameWidth = max(0, frame.legendWidth - Layout.legendSwatch - 14)
        let fitting = max(1, Int(frame.height / Layout.legendLineHeight))
        for (index, name) in names.enumerated() {
            let y = frame.top + 10 + Layout.legendLineHeight * Double(index)
            if index == fitting - 1 && names.count > fitting {
                // More series than rows: say how many are missing rather than overflow the panel.
                svg.text("+\(names.count - index) more", x: left, y: y + 4,
                         attributes: "font-size=\"\(format(legendFontSize))\" fill=\"#444444\"")
                return
            }
            let colour = palette[index % palette.count]
            svg.line("<line x1=\"\(format(left))\" y1=\"\(format(y))\" x2=\"\(format(left + Layout.legendSwatch))\" " +
                     "y2=\"\(format(y))\" stroke=\"\(colour)\" stroke-width=\"2.5\"/>")
            svg.text(fitted(name, width: nameWidth, fontSize: legendFontSize), x: left + Layout.legendSwatch + 6, y: y + 4,
                     attributes: "font-size=\"\(format(legendFontSize))\" fill=\"#222222\"")
        }
    }
}
