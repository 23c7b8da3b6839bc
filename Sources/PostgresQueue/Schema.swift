// The queue's tables, created and upgraded by numbered migrations on first use (each in one transaction, serialised
// across nodes by a PostgreSQL advisory lock), as migration tools (Flyway, fluent's migrations) keep a version table.
// Documented in README.md ("Running on several machines").
import Foundation
import Logging
import PostgresNIO

enum Schema {
    /// Migrations in order; version i+1 is `migrations[i]`. Never edit a shipped one: append.
    static let migrations: [(description: String, sql: [String])] = [
        ("jobs, pictures and streaming previews", [
            """
            CREATE TABLE unclip_jobs (
                id uuid PRIMARY KEY,
                model text NOT NULL,
                operation text NOT NULL,
                image_count integer NOT NULL,
                body bytea NOT NULL,
                content_type text,
                state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
                cancel_requested boolean NOT NULL DEFAULT false,
                attempts integer NOT NULL DEFAULT 0,
                max_attempts integer NOT NULL,
                worker text,
                lease_expires_at timestamptz,
                created_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                error_status integer,
                error_message text
            )
            """,
            "CREATE INDEX unclip_jobs_queued ON unclip_jobs (created_at) WHERE state = 'queued'",
            "CREATE INDEX unclip_jobs_leases ON unclip_jobs (lease_expires_at) WHERE state = 'running'",
            "CREATE INDEX unclip_jobs_finished ON unclip_jobs (finished_at) WHERE finished_at IS NOT NULL",
            """
            CREATE TABLE unclip_images (
                id text PRIMARY KEY,
                job_id uuid NOT NULL REFERENCES unclip_jobs (id) ON DELETE CASCADE,
                position integer NOT NULL,
                seed bigint NOT NULL,
                png bytea NOT NULL,
                expires_at timestamptz NOT NULL,
                UNIQUE (job_id, position)
            )
            """,
            """
            CREATE TABLE unclip_previews (
                job_id uuid NOT NULL REFERENCES unclip_jobs (id) ON DELETE CASCADE,
                position integer NOT NULL,
                png bytea NOT NULL,
                PRIMARY KEY (job_id, position)
            )
            """,
        ]),
    ]

    /// Brings the database to the latest version; a database newer than this program is refused.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            // One node migrates at a time; the others wait here, then find nothing to do.
            try await connection.query("SELECT pg_advisory_xact_lock(7158299117)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS unclip_schema_migrations (
                    version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var current = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM unclip_schema_migrations",
                                                               logger: logger).decode(Int.self) { current = version }
            guard current <= migrations.count else {
                throw QueueError.schema("the database is at version \(current); this unclip-run knows up to \(migrations.count): upgrade it")
            }
            for version in (current + 1)..<(migrations.count + 1) where version > current {
                let m = migrations[version - 1]
                for statement in m.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query("INSERT INTO unclip_schema_migrations (version, description) VALUES (\(version), \(m.description))",
                                           logger: logger)
                logger.notice("job queue schema migrated to version \(version): \(m.description)")
            }
        }
    }
}
