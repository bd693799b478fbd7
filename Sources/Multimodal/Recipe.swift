import Compute
import Foundation
import NeuralNetworks

/// A training recipe, by name: one per method of docs/methods.md. Each recipe is one
/// `RecipeModel` type in Recipes/, whose file also defines its `Recipe` constant; `registered`
/// lists them. Adding a recipe is that file and its line in `registered`.
public struct Recipe: RawRepresentable, Hashable, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// Every recipe, in the order `--help` lists them.
    public static let registered: [Recipe] = [.clip, .itcItm, .vlcdoc, .ita, .localMI]

    public let rawValue: String
    /// The type of this recipe's model.
    public let modelType: any RecipeModel.Type

    /// A recipe's constant, for its file in Recipes/.
    public init(name: String, model: any RecipeModel.Type) {
        (rawValue, modelType) = (name, model)
    }

    /// The registered recipe of this name; nil for any other name.
    public init?(rawValue: String) {
        guard let recipe = Self.registered.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = recipe
    }

    public static var allCases: [Recipe] { registered }
    public var description: String { rawValue }

    public static func == (lhs: Recipe, rhs: Recipe) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let recipe = Recipe(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown recipe '\(name)', expected one of \(Self.registered.map(\.rawValue).joined(separator: ", "))"))
        }
        self = recipe
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var classifies: Bool { modelType.classifies }
    public var hasRetrieval: Bool { modelType.retrieves }
    public var hasImageTower: Bool { modelType.hasImageTower }

    /// A new model of this recipe, initialised from `seed` and the parameter names.
    public func makeModel(config: ModelConfig, options: RecipeOptions, seed: UInt64, backend: any Backend) throws -> any RecipeModel {
        try config.validate()
        try options.validate()
        return try modelType.init(config: config, options: options, initializer: Initializer(seed: seed, backend: backend))
    }
}

public enum ITMNegatives: String, CaseIterable, Codable, Sendable {
    /// Each text replaced with probability 0.5 by another text of the batch (the paper's code).
    case random
    /// ALBEF/BLIP: a negative text per image and a negative image per text, drawn from the
    /// softmax of the ITC similarities with the diagonal excluded.
    case hard
}

public enum MIEstimator: String, CaseIterable, Codable, Sendable {
    case infonce, dv, jsd

    var descriptorEstimator: MutualInformationDescriptor.Estimator {
        switch self {
        case .infonce: .infoNCE
        case .dv: .donskerVaradhan
        case .jsd: .jensenShannon
        }
    }
}

/// The objective's knobs (each also an `aligncl train` flag).
public struct RecipeOptions: Codable, Sendable, Equatable {
    public var betaITC: Float = 0.5
    public var betaITM: Float = 0.1
    public var itmNegatives: ITMNegatives = .random
    /// VLCDoC alignment temperature τ (1 reproduces the public code).
    public var alignmentTemperature: Float = 0.1
    /// ITA cross-view KL temperature T and weight r.
    public var cvaTemperature: Float = 2
    public var cvaRate: Float = 0.5
    public var estimator: MIEstimator = .infonce
    /// Local MI on the pooled image (the global variant) instead of per location.
    public var globalMI = false

    public init() {}

    public func validate() throws {
        func fail(_ message: String) -> TrainingError { .invalidOption(message) }
        guard betaITC >= 0, betaITM >= 0, betaITC + betaITM <= 1 else {
            throw fail("--beta-itc and --beta-itm must be ≥ 0 with a sum ≤ 1, got \(betaITC) and \(betaITM)")
        }
        guard alignmentTemperature > 0, alignmentTemperature.isFinite else { throw fail("--temperature must be > 0, got \(alignmentTemperature)") }
        guard cvaTemperature > 0, cvaTemperature.isFinite else { throw fail("--cva-temperature must be > 0, got \(cvaTemperature)") }
        guard (0...1).contains(cvaRate) else { throw fail("--cva-rate must be in [0, 1], got \(cvaRate)") }
    }
}
