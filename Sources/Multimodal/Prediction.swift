/// What a trained model says about one (image, text) pair, by recipe.
public struct Prediction: Codable, Sendable {
    /// Class probabilities, by class name (itc-itm, vlcdoc).
    public var probabilities: [String: Double]?
    public var predictedClass: String?
    /// Probability that image and text match (itc-itm's ITM head).
    public var matchProbability: Double?
    /// Cosine similarity of the image and text embeddings (clip, itc-itm, local-mi).
    public var similarity: Double?
    /// One BIO tag per word of the text (ita).
    public var words: [String]?
    public var tags: [String]?
}
