// Cross-component consistency of a weights file, checked when it is opened. Mirrors the shapes diffusers'
// UnCLIPPipeline relies on between its modules (pipeline_unclip.py: tokenizer → text_encoder → prior → text_proj →
// decoder → super_res), which PyTorch would only report as a shape error deep inside a forward pass.
import Foundation
import Models
import Tokenizer
import WeightIO

/// Each component's own tensors are checked against its own config when it is built (``WeightIO/WeightScope``).
/// What no single component can see is whether they fit each other: these checks run when the file is opened, so
/// an inconsistent file is refused with a message naming both sides instead of reading out of bounds in a forward
/// pass (the numeric targets are built without bounds checks).
enum WeightsConsistency {
    static func check(_ file: WeightFile, components: Set<String>, tokenizer: CLIPTokenizer,
                      decoder: UNetConfiguration, superRes: UNetConfiguration?) throws {
        let path = file.path
        func fail(_ message: String) -> PipelineError { .invalidWeights("weights file \(path): \(message)") }
        func config<T: Decodable>(_ type: T.Type, _ component: String) throws -> T? {
            guard components.contains(component), let json = file.metadata[component + ".config"] else { return nil }
            do { return try JSONDecoder().decode(type, from: Data(json.utf8)) } catch {
                throw fail("\(component).config is invalid: \(error)")
            }
        }
        let tokens = tokenizer.maxLength
        let largestID = max(tokenizer.vocab.values.max() ?? 0, tokenizer.specialTokens.values.max() ?? 0,
                            tokenizer.bosID, tokenizer.eosID, tokenizer.padID)
        guard tokens >= 3 else { throw fail("tokenizer model_max_length \(tokens) leaves no room for a prompt") }

        guard let text = try config(CLIPTextConfiguration.self, "text_encoder") else { throw fail("no text_encoder.config") }
        guard tokens <= text.maxPositionEmbeddings else {
            throw fail("tokenizer model_max_length \(tokens) exceeds text_encoder max_position_embeddings \(text.maxPositionEmbeddings)")
        }
        guard largestID < text.vocabSize else {
            throw fail("tokenizer ids go up to \(largestID), beyond text_encoder vocab_size \(text.vocabSize)")
        }
        guard text.eosTokenID == 2 || (0..<text.vocabSize).contains(text.eosTokenID) else {
            throw fail("text_encoder eos_token_id \(text.eosTokenID) is outside vocab_size \(text.vocabSize)")
        }
        let textDim = text.projectionDim

        if let prior = try config(PriorConfiguration.self, "prior") {
            let positions = prior.numEmbeddings + prior.additionalEmbeddings
            guard positions == tokens + 4 else {
                throw fail("prior num_embeddings + additional_embeddings = \(positions), but the prior's sequence is "
                    + "\(tokens) text tokens + 4 (tokenizer model_max_length \(tokens))")
            }
            guard prior.embeddingDim == text.hiddenSize, (prior.embeddingProjDim ?? prior.embeddingDim) == textDim else {
                throw fail("prior embedding_dim \(prior.embeddingDim) / embedding_proj_dim \(prior.embeddingProjDim ?? prior.embeddingDim) "
                    + "do not match text_encoder hidden_size \(text.hiddenSize) / projection_dim \(textDim)")
            }
            if let proj = try config(TextProjectionConfiguration.self, "text_proj"),
               (prior.clipEmbedDim ?? prior.embeddingDim) != proj.clipEmbeddingsDim {
                throw fail("prior clip_embed_dim \(prior.clipEmbedDim ?? prior.embeddingDim) does not match text_proj clip_embeddings_dim \(proj.clipEmbeddingsDim)")
            }
        }
        guard let proj = try config(TextProjectionConfiguration.self, "text_proj") else { throw fail("no text_proj.config") }
        guard proj.clipEmbeddingsDim == textDim, text.hiddenSize == textDim else {
            throw fail("text_proj clip_embeddings_dim \(proj.clipEmbeddingsDim) needs text_encoder projection_dim and hidden_size "
                + "equal to it (got \(textDim) and \(text.hiddenSize))")
        }
        guard decoder.crossAttentionDim == proj.crossAttentionDim else {
            throw fail("decoder cross_attention_dim \(decoder.crossAttentionDim.map(String.init) ?? "none") does not match "
                + "text_proj cross_attention_dim \(proj.crossAttentionDim)")
        }
        guard let first = decoder.blockOutChannels.first, proj.timeEmbedDim == 4 * first else {
            throw fail("text_proj time_embed_dim \(proj.timeEmbedDim) does not match the decoder's time embedding "
                + "(4 × block_out_channels[0] = \(4 * (decoder.blockOutChannels.first ?? 0)))")
        }
        guard decoder.inChannels == 3, [3, 6].contains(decoder.outChannels) else {
            throw fail("decoder in_channels \(decoder.inChannels) / out_channels \(decoder.outChannels): expected 3 / 3 or 6 (RGB, with learned variance)")
        }
        if let image = try config(CLIPVisionConfiguration.self, "image_encoder"), image.projectionDim != proj.clipEmbeddingsDim {
            throw fail("image_encoder projection_dim \(image.projectionDim) does not match text_proj clip_embeddings_dim \(proj.clipEmbeddingsDim)")
        }
        if let sr = superRes {
            guard sr.inChannels == 6, [3, 6].contains(sr.outChannels) else {
                throw fail("super_res_first in_channels \(sr.inChannels) / out_channels \(sr.outChannels): expected 6 (noisy + upscaled RGB) / 3 or 6")
            }
            // Karlo's super_res_last config has no sample_size: the first net's size is the stage's.
            if let last = try config(UNetConfiguration.self, "super_res_last"),
               last.inChannels != sr.inChannels || last.outChannels != sr.outChannels {
                throw fail("super_res_last (in_channels \(last.inChannels), out_channels \(last.outChannels)) does not match "
                    + "super_res_first (\(sr.inChannels), \(sr.outChannels))")
            }
        }
    }
}
