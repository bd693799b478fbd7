import Foundation

/// What the compute layer says once per process: a route it took that was not asked for (an
/// op run another way because the device cannot run the requested one). Printed on stderr as
/// `aligncl: …` unless a handler is set.
public enum Notice {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var said: Set<String> = []
    nonisolated(unsafe) private static var handler: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("aligncl: \(message)\n".utf8))
    }

    /// Says `message`, unless it was said before.
    public static func once(_ message: String) {
        let (isNew, handler) = lock.withLock { (said.insert(message).inserted, self.handler) }
        if isNew { handler(message) }
    }

    /// Where notices go from now on (tests collect them).
    public static func setHandler(_ newHandler: @escaping @Sendable (String) -> Void) {
        lock.withLock { handler = newHandler }
    }
}
