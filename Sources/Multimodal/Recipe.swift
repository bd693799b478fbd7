import Compute
import Foundation
import NeuralNetworks

/// The training recipes: one per method of docs/methods.md.
public enum Recipe: String, CaseIterable, Codable, Sendable {
    /// Image–text contrastive only (CLIP).
    case clip
    /// A fused classifier trained with task CE + β_itc·ITC + β_itm·ITM (the default).
    case itcItm = "itc-itm"
    /// VLCDoC: cross-modal fusion blocks, intra/inter-modality alignment, classifier.
    case vlcdoc
    /// ITA: visual context as text, token tagging, cross-view KL.
    case ita
    /// Local mutual-information maximisation between image locations and the text.
    case localMI = "local-mi"

    /// Each recipe's model (Recipes/): a new recipe is a file there and a line here.
    public var modelType: any RecipeModel.Type {
        switch self {
        case .clip: ClipModel.self
        case .itcItm: ITCITMModel.self
        case .vlcdoc: VLCDoCModel.self
        case .ita: ITAModel.self
        case .localMI: LocalMIModel.self
        }
    }

    public var classifies: Bool { modelType.classifies }
    public var hasRetrieval: Bool { modelType.retrieves }

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
    public var betaITC: Float = 0.1
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
