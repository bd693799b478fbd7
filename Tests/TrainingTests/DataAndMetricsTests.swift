import Datasets
import Foundation
import Testing
import Training

/// The built-in data's guarantees and the evaluation metrics on hand-made cases.
@Suite struct DataAndMetricsTests {
    @Test func shapesIsDeterministicAndTestLayoutsAreUnique() throws {
        let dataset = try ShapesDataset(seed: 3, counts: [.train: 200, .validation: 100, .test: 300])
        let again = try ShapesDataset(seed: 3, counts: [.train: 10, .validation: 100, .test: 300])
        #expect(try dataset.sample(.test, 7) == again.sample(.test, 7), "a test sample does not depend on the train split's size")
        #expect(try dataset.sample(.train, 0) != ShapesDataset(seed: 4).sample(.train, 0))
        let test = dataset.samples(.test)
        #expect(Set(test.map(\.text)).count == test.count, "test captions unique")
        for sample in test + dataset.samples(.train) {
            #expect(sample.tags.count == Tokenizer.words(sample.text).count)
            #expect(!ShapesDataset.classNames.contains { Tokenizer.words(sample.text).contains($0) }, "the caption never names a colour")
            #expect(sample.image.count == 3 * 32 * 32 && sample.image.allSatisfy { (-1...1).contains($0) })
        }
        #expect(Set(test.map(\.label)).count == ShapesDataset.classNames.count)
        #expect(throws: DatasetError.self) { try ShapesDataset(seed: 1, imageSize: 4) }
        #expect(throws: DatasetError.self) { try dataset.sample(.test, 300) }
    }

    @Test func tokenizerRoundTripsAndAlignsWords() throws {
        let tokenizer = try Tokenizer(buildingFrom: ["a circle at the top", "a square , left"])
        let copy = try Tokenizer(jsonData: tokenizer.jsonData())
        #expect(copy == tokenizer)
        let encoded = tokenizer.encode("a zebra at the top", maxLength: 8, pair: "red circle")
        #expect(encoded.ids.count == 8 && encoded.ids[0] == Tokenizer.classID)
        #expect(encoded.ids[2] == Tokenizer.unknownID)
        #expect(encoded.wordIndex.prefix(6) == [-1, 0, 1, 2, 3, 4])
        #expect(encoded.mask == [1, 1, 1, 1, 1, 1, 1, 1], "sentence, [SEP] and the pair fill the 8 positions")
        #expect(throws: DatasetError.self) { try Tokenizer(jsonData: Data("{\"version\":1,\"tokens\":[\"a\"]}".utf8)) }
    }

    @Test func metricsOnHandMadeCases() {
        #expect(Metrics.accuracy(predictions: [0, 1, 1, 2], labels: [0, 1, 2, 2]) == 0.75)
        #expect(abs(Metrics.macroF1(predictions: [0, 0, 1, 1], labels: [0, 1, 1, 1], classCount: 2) - (2.0 / 3 + 0.8) / 2) < 1e-12)
        // Query 0 finds its candidate first, query 1 second, query 2 third.
        let similarity: [Float] = [0.9, 0.1, 0.0,
                                   0.8, 0.5, 0.1,
                                   0.7, 0.6, 0.2]
        let recall = Metrics.recallAtK(similarity: similarity, count: 3, ks: [1, 2, 3])
        #expect(recall[1] == 1.0 / 3 && recall[2] == 2.0 / 3 && recall[3] == 1)
        let gold = [["B-LOC", "I-LOC", "O", "B-WARM"]]
        #expect(Metrics.spanF1(predicted: gold, gold: gold).f1 == 1)
        let wrongBoundary = Metrics.spanF1(predicted: [["B-LOC", "O", "O", "B-WARM"]], gold: gold)
        #expect(wrongBoundary.precision == 0.5 && wrongBoundary.recall == 0.5)
    }
}
