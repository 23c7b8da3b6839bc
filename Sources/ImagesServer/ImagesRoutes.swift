// The images endpoints (openai-openapi: createImage, createImageEdit, createImageVariation → ImagesResponse) and
// OpenAI's image streaming (openai-python `types/image_gen_partial_image_event.py`, `image_gen_completed_event.py`,
// `image_edit_*_event.py`: server-sent events `image_generation.partial_image` … `image_generation.completed`).
import Foundation
import Hummingbird
import ImageIO
import Logging
import NIOCore
import Pipeline

/// A value handed to a job thread; the job is its only user from then on.
struct Handoff<T>: @unchecked Sendable { let value: T }

extension ImagesService {
    /// `POST /v1/images/{generations,edits,variations}`.
    func images(_ operation: ImagesOperation, _ request: Request, _ context: APIContext) async throws -> Response {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let call = operation == .generation
            ? try CallDecoder.json(body)
            : try CallDecoder.multipart(operation, body, contentType: request.headers[.contentType])
        let prepared: PreparedImagesCall
        do {
            prepared = try engine.prepare(call, limits: configuration.limits, policy: configuration.policy)
        } catch let refusal as ContentPolicyViolation {
            var logger = context.logger
            logger[metadataKey: "rule"] = "\(refusal.rule)"
            if configuration.logPrompts { logger[metadataKey: "prompt"] = "\(call.prompt ?? "")" }
            logger.notice("prompt refused by the moderation policy")
            throw refusal
        }
        let control = RunControl()
        let job = ImagesJob(prepared, body: Data(buffer: body), contentType: request.headers[.contentType])
        if prepared.stream { return try await stream(job, control: control, context: context) }

        let created = Int(Date().timeIntervalSince1970)
        let backend = self.backend
        let files = try await context.whileConnected(onGone: { control.cancel() }) {
            try await backend.submit(job, control: control).images(partial: nil)
        }
        if control.isCancelled { throw PipelineError.cancelled }
        let base = baseURL(request)
        var data: [[String: Any]] = []
        for file in files {
            switch prepared.responseFormat {
            case .b64Json: data.append(["b64_json": file.png.base64EncodedString(), "seed": file.seed])
            case .url: data.append(["url": "\(base)/v1/images/files/\(try await backend.publish(file)).png", "seed": file.seed])
            }
        }
        var response = try Self.json(["created": created, "data": data])
        response.headers[AccessLogMiddleware.imageCountHeader] = "\(files.count)"
        return response
    }

    /// The same call as server-sent events: the partial images, then one `completed` event per image (an `error`
    /// event if the run fails after the stream started). A client that goes away cancels the job.
    func stream(_ job: ImagesJob, control: RunControl, context: APIContext) async throws -> Response {
        let prefix = job.operation == .edit ? "image_edit" : "image_generation"
        let size = "\(job.side)x\(job.side)"
        let stopWatching = await context.watchPeer { control.cancel() }   // also while waiting for a slot
        let submitted: any SubmittedJob
        do { submitted = try await backend.submit(job, control: control) } catch { stopWatching(); throw error }   // 429 / 503 before the stream
        let (events, sink) = AsyncStream<ByteBuffer>.makeStream()
        sink.onTermination = { _ in control.cancel() }            // the response body stopped being read
        let logger = context.logger
        Task {
            defer { stopWatching(); sink.finish() }
            do {
                let images = try await submitted.images { index, png in
                    sink.yield(Self.event("\(prefix).partial_image", Self.imageEvent("\(prefix).partial_image", png, size: size,
                                                                                    extra: ["partial_image_index": index])))
                }
                for image in images {
                    sink.yield(Self.event("\(prefix).completed", Self.imageEvent("\(prefix).completed", image.png, size: size, extra: [
                        "usage": ["input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                                  "input_tokens_details": ["image_tokens": 0, "text_tokens": 0]] as [String: Any],
                        "seed": image.seed,
                    ])))
                }
                logger.info("stream completed images=\(images.count)")
            } catch {
                let api = APIError.from(error, method: .post, path: "")
                if api.status.code >= 500 && !control.isCancelled { logger.error("stream failed", metadata: ["error": "\(error)"]) }
                if control.isCancelled { logger.info("stream cancelled: the client went away") }
                sink.yield(Self.event("error", api.object))
            }
        }
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers[AccessLogMiddleware.imageCountHeader] = "\(job.count)"
        return Response(status: .ok, headers: headers, body: ResponseBody(asyncSequence: events))
    }

    /// An image event's fields, as OpenAI's image streaming sends them.
    static func imageEvent(_ type: String, _ png: Data, size: String, extra: [String: Any]) -> [String: Any] {
        var fields: [String: Any] = ["type": type, "b64_json": png.base64EncodedString(), "created_at": Int(Date().timeIntervalSince1970),
                                     "size": size, "quality": "auto", "background": "opaque", "output_format": "png"]
        for (k, v) in extra { fields[k] = v }
        return fields
    }

    /// One server-sent event.
    static func event(_ name: String, _ fields: [String: Any]) -> ByteBuffer {
        let json = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A JSON response.
    static func json(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Where returned URLs point: `--public-url`, else the Host the client used.
    func baseURL(_ request: Request) -> String {
        if let url = configuration.publicURL { return url.hasSuffix("/") ? String(url.dropLast()) : url }
        let host = request.head.authority ?? "\(configuration.host):\(configuration.port)"
        return "http://\(host)"
    }
}
