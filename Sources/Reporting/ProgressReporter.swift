import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress of a training run, written to stderr (or any `FileHandle`).
///
/// On a terminal it keeps one status line redrawn in place (a bar, the step, the smoothed loss,
/// the throughput and an ETA); elsewhere (CI logs, pipes) it prints a plain line now and then,
/// because carriage returns and escape codes turn a log file into noise.
///
/// Not thread-safe: call it from the training loop's thread.
public final class ProgressReporter {
    /// Weight of the newest loss in the displayed moving average: about the last 20 steps count,
    /// enough to see the trend through batch-to-batch noise without lagging a phase change much.
    private static let lossSmoothing = 0.1
    /// Seconds between terminal redraws: ~10 per second is smooth to the eye, and a fast loop
    /// would otherwise spend more time writing to the terminal than training.
    private static let redrawInterval: TimeInterval = 0.1
    private static let clearToEndOfLine = "\u{1B}[K"

    private let totalSteps: Int
    private let interactive: Bool
    private let plainInterval: TimeInterval
    private let output: FileHandle
    private let clock: () -> TimeInterval

    private let startTime: TimeInterval
    private var updateCount = 0
    private var latestStep = 0
    private var latestLoss = Double.nan
    private var smoothedLoss: Double?
    /// Steps whose loss was NaN or infinite: shown next to a finite loss so a transient NaN
    /// stays visible after the run recovers (or after throttling skipped the step that had it).
    private var nonFiniteLossCount = 0
    private var totalSamples = 0
    /// When the first step ended and how many samples it had: the rate is measured from there
    /// once a second step exists, so kernel builds and warm-up do not drag it down for the whole run.
    private var firstStepEnd: TimeInterval = 0
    private var firstStepSamples = 0

    private var lastDrawTime: TimeInterval?
    /// Whether the latest state has been written (a throttled update leaves it pending for `finish`).
    private var latestStateShown = true
    /// Whether the in-place bar is currently on the terminal line, so `log`/`finish` know to clear it or end it.
    private var barOnScreen = false
    /// The widest status text drawn so far: the bar is sized against it so it does not jump in
    /// length every time a number gains or loses a digit.
    private var reservedStatusWidth = 0

    /// - Parameters:
    ///   - totalSteps: steps the run will take; 0 or less means unknown (no bar, no ETA).
    ///   - interactive: redraw one line in place; `nil` asks whether `output` is a terminal.
    ///   - plainInterval: seconds between plain (non-terminal) lines.
    ///   - clock: a monotonic clock in seconds, injectable for tests.
    public init(totalSteps: Int, interactive: Bool? = nil, plainInterval: TimeInterval = 10,
                output: FileHandle = .standardError,
                clock: @escaping () -> TimeInterval = { ProcessInfo.processInfo.systemUptime }) {
        self.totalSteps = totalSteps
        self.interactive = interactive ?? ProgressReporter.isTerminal(output.fileDescriptor)
        self.plainInterval = plainInterval.isFinite ? max(0, plainInterval) : 10
        self.output = output
        self.clock = clock
        self.startTime = clock()
    }

    /// Records one finished optimizer step; call after every step.
    /// `step` is the step number shown (it may start above 1 when a run resumes).
    public func update(step: Int, loss: Double, samplesPerStep: Int) {
        let now = clock()
        updateCount += 1
        latestStep = step
        latestLoss = loss
        totalSamples += max(0, samplesPerStep)
        if updateCount == 1 {
            firstStepEnd = now
            firstStepSamples = totalSamples
        }
        // Non-finite losses stay out of the average: one NaN would poison it for the rest of the
        // run, and the display shows the raw value while it is non-finite anyway.
        if loss.isFinite {
            if let previous = smoothedLoss, previous.isFinite {
                smoothedLoss = previous + ProgressReporter.lossSmoothing * (loss - previous)
            } else {
                smoothedLoss = loss
            }
        }
        if !loss.isFinite { nonFiniteLossCount += 1 }
        latestStateShown = false

        // The first non-finite loss is shown at once, not whenever the throttle next allows.
        let isLast = totalSteps > 0 && step >= totalSteps
        let firstNonFinite = !loss.isFinite && nonFiniteLossCount == 1
        if interactive {
            let due = lastDrawTime.map { now - $0 >= ProgressReporter.redrawInterval } ?? true
            if due || isLast || firstNonFinite { drawBar(now: now) }
        } else {
            let due = lastDrawTime.map { now - $0 >= plainInterval } ?? true
            if due || isLast || firstNonFinite { printPlainLine(now: now) }
        }
    }

    /// Prints a message line (an evaluation result, a checkpoint note) without garbling the bar:
    /// the bar is cleared, the message written, and the bar redrawn below it.
    public func log(_ line: String) {
        if interactive && barOnScreen {
            write("\r" + ProgressReporter.clearToEndOfLine + line + "\n")
            barOnScreen = false
            drawBar(now: clock())
        } else {
            write(line + "\n")
        }
    }

    /// Ends the progress display: shows the final state if a throttled update left it unshown and,
    /// on a terminal, ends the bar's line so later output starts on a fresh one. Safe to call twice.
    public func finish() {
        let now = clock()
        if interactive {
            if updateCount > 0 && !latestStateShown { drawBar(now: now) }
            if barOnScreen {
                write("\n")
                barOnScreen = false
            }
        } else if updateCount > 0 && !latestStateShown {
            printPlainLine(now: now)
        }
    }

    /// "45s", "1m12s", "2h03m"; "--" when the duration is not a finite number.
    public static func formatDuration(_ seconds: Double) -> String {
        // The bound keeps the Int conversion from trapping on absurd ETAs (a rate near zero).
        guard seconds.isFinite, seconds < 1e15 else { return "--" }
        let total = Int(max(0, seconds).rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m" + twoDigits(total % 60) + "s" }
        let minutes = total / 60
        return "\(minutes / 60)h" + twoDigits(minutes % 60) + "m"
    }

    // MARK: - Measurements

    /// Samples and steps per second, or nil until a second step has ended: the first includes
    /// kernel builds and data loading, and a rate from it alone reads like "ETA 5h49m".
    private func rates(now: TimeInterval) -> (samples: Double, steps: Double)? {
        let (samples, steps, elapsed) = (totalSamples - firstStepSamples, updateCount - 1, now - firstStepEnd)
        guard updateCount > 1, elapsed > 0, steps > 0 else { return nil }
        return (Double(samples) / elapsed, Double(steps) / elapsed)
    }

    private func secondsRemaining(now: TimeInterval) -> Double? {
        guard totalSteps > 0, let rate = rates(now: now), rate.steps > 0 else { return nil }
        return Double(max(0, totalSteps - latestStep)) / rate.steps
    }

    private var isDone: Bool { totalSteps > 0 && latestStep >= totalSteps }

    /// The loss to show: the moving average, but the raw value whenever that is NaN or infinite,
    /// because a diverged run must never look healthy on screen.
    private var displayedLoss: Double {
        if !latestLoss.isFinite { return latestLoss }
        return smoothedLoss ?? latestLoss
    }

    private func lossField(decimals: Int) -> String {
        var field = "loss " + ProgressReporter.formatLoss(displayedLoss, decimals: decimals)
        if nonFiniteLossCount > 0 && latestLoss.isFinite { field += " (\(nonFiniteLossCount) non-finite)" }
        return field
    }

    // MARK: - Plain lines

    private func printPlainLine(now: TimeInterval) {
        var fields = [stepField(), lossField(decimals: 4)]
        if let rate = rates(now: now) {
            fields.append(String(format: "%.1f samples/s", rate.samples))
        }
        fields.append(timeField(now: now))
        write(fields.joined(separator: "  ") + "\n")
        lastDrawTime = now
        latestStateShown = true
    }

    // MARK: - Terminal bar

    private func drawBar(now: TimeInterval) {
        var fields = [stepField(), lossField(decimals: 3)]
        if let rate = rates(now: now) {
            let format = rate.samples >= 100 ? "%.0f samples/s" : "%.1f samples/s"
            fields.append(String(format: format, rate.samples))
        }
        fields.append(timeField(now: now))
        let status = fields.joined(separator: "  ")

        // One column stays free: writing into the last column makes some terminals wrap, and a
        // wrapped line can no longer be overwritten with "\r".
        let usable = ProgressReporter.terminalWidth(output.fileDescriptor) - 1
        var line = status
        reservedStatusWidth = max(reservedStatusWidth, status.count)
        if totalSteps > 0 {
            let percent = String(format: "%3d%% ", Int(fraction * 100))
            let barCells = min(60, usable - reservedStatusWidth - percent.count - 3)
            if barCells >= 10 { line = percent + ProgressReporter.bar(fraction: fraction, cells: barCells) + " " + status }
        }
        if line.count > usable { line = String(line.prefix(max(0, usable))) }

        write("\r" + line + ProgressReporter.clearToEndOfLine)
        barOnScreen = true
        lastDrawTime = now
        latestStateShown = true
    }

    private var fraction: Double {
        guard totalSteps > 0 else { return 0 }
        return min(1, max(0, Double(latestStep) / Double(totalSteps)))
    }

    private static func bar(fraction: Double, cells: Int) -> String {
        let filled = min(cells, Int((fraction * Double(cells)).rounded(.down)))
        // ASCII so the bar looks the same in every terminal font and encoding.
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: cells - filled) + "]"
    }

    // MARK: - Fields

    private func stepField() -> String {
        totalSteps > 0 ? "step \(latestStep)/\(totalSteps)" : "step \(latestStep)"
    }

    /// The ETA while running; the total time once the last step is done (an ETA of 0s says nothing).
    private func timeField(now: TimeInterval) -> String {
        if isDone { return "done in " + formatDuration(now - startTime) }
        return "ETA " + (secondsRemaining(now: now).map(formatDuration) ?? "--")
    }

    private func formatDuration(_ seconds: Double) -> String { ProgressReporter.formatDuration(seconds) }

    /// Fixed decimals for ordinary magnitudes; scientific notation where fixed would print
    /// "0.000" for a tiny loss or an unreadably long number for a huge one.
    static func formatLoss(_ value: Double, decimals: Int) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        let magnitude = abs(value)
        if magnitude != 0 && (magnitude < 0.01 || magnitude >= 1e6) {
            return String(format: "%.\(decimals)e", value)
        }
        return String(format: "%.\(decimals)f", value)
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    // MARK: - Output and terminal queries

    private func write(_ text: String) {
        // A closed stderr (or a full disk) must not take the training run down with it.
        try? output.write(contentsOf: Data(text.utf8))
    }

    private static func isTerminal(_ descriptor: Int32) -> Bool {
        // TERM=dumb (Emacs shells, some CI runners) is a terminal that ignores escape codes.
        guard isatty(descriptor) == 1 else { return false }
        return ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Columns of the terminal behind `descriptor`, asked on every redraw so a resized window
    /// is followed; $COLUMNS and then 80 when the terminal does not say.
    private static func terminalWidth(_ descriptor: Int32) -> Int {
        var size = winsize()
        let status = withUnsafeMutablePointer(to: &size) { ioctl(descriptor, UInt(TIOCGWINSZ), $0) }
        if status == 0 && size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 {
            return columns
        }
        return 80
    }
}
