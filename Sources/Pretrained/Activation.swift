import Compute

/// `hidden_act` of a config, as the GELU form the kernels compute. Only the GELU family is
/// supported: every architecture AlignCL loads uses one of them.
func activation(_ config: JSONObject, key: String = "hidden_act", default fallback: String) throws -> GELUDescriptor.Approximation {
    let name = try config.string(key, default: fallback)
    switch name {
    case "gelu", "gelu_python": return .none
    case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .tanh
    case "quick_gelu": return .sigmoid
    default:
        throw PretrainedError.invalidConfig(path: config.path, key: key, expected: "one of gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu", found: name)
    }
}
