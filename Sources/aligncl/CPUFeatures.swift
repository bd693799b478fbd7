import Foundation

/// A build for AVX2 (see Package.swift) on a CPU without it would die of SIGILL somewhere in
/// the first op; this says so up front instead. Linux reads the kernel's flag list.
func requireBuildCPUFeatures() throws {
    #if ALIGNCL_AVX2 && os(Linux)
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
    let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
    let missing = ["avx2", "fma"].filter { !flags.contains($0) }
    if !missing.isEmpty {
        throw CLIError("this aligncl was built for x86-64 CPUs with AVX2 and FMA, and this CPU lacks \(missing.joined(separator: ", ")); "
                       + "rebuild it with ALIGNCL_PORTABLE_BUILD=1 swift build -c release (slower CPU path, any x86-64)")
    }
    #endif
}
