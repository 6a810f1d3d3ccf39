-- LiteLLM's "LiteLLM_SpendLogs" table as LiteLLM's own migrations create it (PostgreSQL), for
-- tests/test_sync_litellm.py and bench/live_files.py. Run with search_path set to the schema
-- a test owns. Statements are copied verbatim from (repository BerriAI/litellm):
--
--   litellm-proxy-extras/litellm_proxy_extras/migrations/20250326162113_baseline/migration.sql
--     (commit 01f0e6ce9908542429e9ad8d675a04d042e02678): CREATE TABLE and its two indexes
--   .../migrations/20250425182129_add_session_id/migration.sql: proxy_server_request, session_id
--   .../migrations/20250508072103_add_status_to_spendlogs/migration.sql
--     (commit 1aedde15f21e9420c86db5cedafc62bc23e38a75): status
--   .../migrations/20250510142544_add_session_id_index_spend_logs/migration.sql: session_id index
--   .../migrations/(mcp_namespaced_tool_name migration): mcp_namespaced_tool_name
--   .../migrations/20251122125322_add_organization_id_to_spend_logs/migration.sql: organization_id
--   .../migrations/20251210205007_add_daily_agent_spend_table/migration.sql: agent_id
--   .../migrations/20260224201417_spend_logs_request_duration/migration.sql: request_duration_ms
--   .../migrations/20260228100000_add_spend_logs_composite_index/migration.sql: ("startTime", request_id)
--
-- The result has the columns of `model LiteLLM_SpendLogs` in litellm/proxy/schema.prisma
-- (commit 0010143f7d5014454d81a0fa76e42c4110a00893), with its @@index([startTime, request_id]).

-- CreateTable
CREATE TABLE "LiteLLM_SpendLogs" (
    "request_id" TEXT NOT NULL,
    "call_type" TEXT NOT NULL,
    "api_key" TEXT NOT NULL DEFAULT '',
    "spend" DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    "total_tokens" INTEGER NOT NULL DEFAULT 0,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL,
    "endTime" TIMESTAMP(3) NOT NULL,
    "completionStartTime" TIMESTAMP(3),
    "model" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT DEFAULT '',
    "model_group" TEXT DEFAULT '',
    "custom_llm_provider" TEXT DEFAULT '',
    "api_base" TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    "metadata" JSONB DEFAULT '{}',
    "cache_hit" TEXT DEFAULT '',
    "cache_key" TEXT DEFAULT '',
    "request_tags" JSONB DEFAULT '[]',
    "team_id" TEXT,
    "end_user" TEXT,
    "requester_ip_address" TEXT,
    "messages" JSONB DEFAULT '{}',
    "response" JSONB DEFAULT '{}',

    CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY ("request_id")
);

-- CreateIndex
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs"("startTime");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs"("end_user");

-- AlterTable
ALTER TABLE "LiteLLM_SpendLogs" ADD COLUMN IF NOT EXISTS "proxy_server_request" JSONB DEFAULT '{}',
ADD COLUMN IF NOT EXISTS "session_id" TEXT;

-- AlterTable
ALTER TABLE "LiteLLM_SpendLogs" ADD COLUMN     "status" TEXT;

-- CreateIndex
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_session_id_idx" ON "LiteLLM_SpendLogs"("session_id");

-- AlterTable
ALTER TABLE "LiteLLM_SpendLogs" ADD COLUMN     "mcp_namespaced_tool_name" TEXT;

-- AlterTable
ALTER TABLE "LiteLLM_SpendLogs" ADD COLUMN IF NOT EXISTS "organization_id" TEXT;

-- AlterTable
ALTER TABLE "LiteLLM_SpendLogs" ADD COLUMN     "agent_id" TEXT;

-- AlterTable
ALTER TABLE "LiteLLM_SpendLogs" ADD COLUMN IF NOT EXISTS "request_duration_ms" INTEGER;

-- CreateIndex
CREATE INDEX IF NOT EXISTS "LiteLLM_SpendLogs_startTime_request_id_idx" ON "LiteLLM_SpendLogs"("startTime", "request_id");
