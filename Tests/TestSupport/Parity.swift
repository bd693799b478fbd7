// The parity measure and seeded inputs live in Benchmarking, shared with `aligncl bench`.
@_exported import Benchmarking
