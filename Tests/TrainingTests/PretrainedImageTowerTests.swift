import Autograd
import Compute
import Datasets
import Foundation
import Multimodal
import NeuralNetworks
import NumPyFiles
import Pretrained
import Testing
import TestSupport
import Training

/// A CLIP vision tower as a recipe's image tower (`--image-model`), on the committed tiny CLIP
/// (scripts/make-hf-fixtures.py): batches give it the patches CLIP's own unfold gives, `shapes`
/// images get its normalisation, and every recipe with an image tower takes it.
@Suite struct PretrainedImageTowerTests {
    static let clip = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf/clip-tiny")

    @Test func batchPatchesAreCLIPsUnfold() throws {
        let folder = try ImageModelFolder(Self.clip)
        let array = try NPY.read(Self.clip.appendingPathComponent("pixel_values.npy"))
        let pixels = array.floatValues(), count = array.shape[0], plane = 3 * 30 * 30
        let samples = (0..<count).map { Sample(image: Array(pixels[($0 * plane)..<(($0 + 1) * plane)]), text: "a", label: 0, tags: ["O"], imageText: "") }
        let split = EncodedSplit(samples: samples, ids: samples.map { _ in [1] }, masks: samples.map { _ in [1] }, crossIds: samples.map { _ in [1] },
                                 crossMasks: samples.map { _ in [1] }, tagTargets: samples.map { _ in [-100] })
        let batch = try Batch(split, indices: Array(0..<count), patchSize: folder.config.patchSize, imageSize: folder.config.imageSize, on: TestBackends.cpu)
        let vision = try CLIPVisionModel(folder.config, initializer: Initializer(seed: 1, backend: TestBackends.cpu))
        #expect(try batch.patches.values() == vision.unfold(pixels, batch: count))
    }

    /// `shapes` renders at the tower's size in [−1, 1]; mapped through the preprocessor's
    /// rescale and mean/std, it is what the preprocessor gives those bytes as an image file.
    @Test func signedImagesGetThePreprocessorsNormalisation() throws {
        let preprocessor = try ImageModelFolder(Self.clip).preprocessor
        var random = SeededValues(seed: 4)
        let bytes = random.array(30 * 30 * 3).map { UInt8(min(255, max(0, Int(($0 + 1) * 127.5)))) }
        let signed = (0..<(3 * 30 * 30)).map { index in Float(bytes[(index % 900) * 3 + index / 900]) / 127.5 - 1 }
        let expected = try preprocessor.pixelValues(rgb: bytes, width: 30, height: 30)
        #expect(normwiseError(preprocessor.normalized(signedImage: signed), expected) <= 1e-6)
    }

    @Test(arguments: Recipe.allCases) func everyRecipeWithAnImageTowerTakesIt(recipe: Recipe) throws {
        var config = ModelConfig()
        let folder = try ImageModelFolder(Self.clip)
        (config.imageSize, config.patchSize) = (folder.config.imageSize, folder.config.patchSize)
        config.pretrainedImage = PretrainedImageConfig(modelConfig: try folder.model.configText(), trainable: true)
        let model = try recipe.makeModel(config: config, options: RecipeOptions(), seed: 1, backend: TestBackends.cpu)
        #expect((model.imageTower != nil) == recipe.hasImageTower)
        if let tower = model.imageTower {
            let encoder = try #require(tower as? PretrainedImageEncoder)
            #expect(encoder.pretrainedParameters.count == encoder.tower.parameters.count && !encoder.pretrainedParameters.isEmpty)
            #expect(model.namedParameters.contains { $0.name == "image.model.vision_model.post_layernorm.weight" })
        }
    }

    @Test func imageSizesMustBeTheModels() throws {
        var config = ModelConfig()
        config.pretrainedImage = PretrainedImageConfig(modelConfig: try ImageModelFolder(Self.clip).model.configText(), trainable: true)
        #expect(throws: BackendError.self) { try config.validate() }
        (config.imageSize, config.patchSize) = (30, 6)
        try config.validate()
        #expect(config.sizeDependentOps.count == 2)
    }
}
