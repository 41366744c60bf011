"""The Chimera ERD: campaigns, agents, tasks, video_assets.

Revision ID: 0001_schema
Revises:
Create Date: 2026-11-26

Idempotent by construction (see chimera_store.migration_ddl) so that it also adopts compatible
tables created outside the migrations. Deletion rule: every foreign key is ON DELETE NO ACTION (refuses with foreign_key_violation
on every server version; PostgreSQL 18 reports RESTRICT as restrict_violation instead).
"""

from alembic import op

from chimera_store import migration_ddl as ddl
from chimera_store.migration_ddl import Col

revision = "0001_schema"
down_revision = None
branch_labels = None
depends_on = None

CAMPAIGN_STATUSES = ("draft", "active", "paused", "completed", "archived")
TASK_TYPES = ("generate_content", "reply_comment", "execute_transaction")
PRIORITIES = ("high", "medium", "low")
TASK_STATUSES = ("pending", "in_progress", "review", "complete")
TIERS = ("tier1", "tier2")
ASSET_STATUSES = ("draft", "judge_pending", "approved", "published", "rejected")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"CHECK ({column} IN ({listed}))"


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_touch_campaign() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- updated_at and version are kept by the database, whatever the client sends.
            NEW.updated_at := now();
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_bump_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_asset_campaign() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- Orphans are reported precisely here (single-column key in the DETAIL); the
            -- composite foreign keys below still enforce them, race-free, and also catch an
            -- agent or task of another campaign (two-column key in the DETAIL).
            IF NEW.agent_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = NEW.agent_id) THEN
                RAISE EXCEPTION 'insert or update on table "video_assets" violates foreign key constraint "video_assets_agent_same_campaign_fkey"'
                    USING ERRCODE = 'foreign_key_violation',
                          DETAIL = format('Key (agent_id)=(%s) is not present in table "agents".', NEW.agent_id),
                          TABLE = 'video_assets',
                          CONSTRAINT = 'video_assets_agent_same_campaign_fkey';
            END IF;
            -- Denormalised campaign_id: filled from the producing task so that a plain INSERT
            -- naming only ERD attributes works.
            IF NEW.campaign_id IS NULL AND NEW.task_id IS NOT NULL THEN
                SELECT t.campaign_id INTO NEW.campaign_id FROM tasks t WHERE t.id = NEW.task_id;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'insert or update on table "video_assets" violates foreign key constraint "video_assets_task_same_campaign_fkey"'
                        USING ERRCODE = 'foreign_key_violation',
                              DETAIL = format('Key (task_id)=(%s) is not present in table "tasks".', NEW.task_id),
                              TABLE = 'video_assets',
                              CONSTRAINT = 'video_assets_task_same_campaign_fkey';
                END IF;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )

    ddl.create_table(
        "campaigns",
        [
            Col("id", "uuid", default="gen_random_uuid()"),
            Col("name", "text"),
            Col("goal_description", "text"),
            Col("status", "text", default="'draft'"),
            Col("created_at", "timestamptz", default="now()"),
            Col("updated_at", "timestamptz", default="now()"),
            Col("version", "bigint", default="1"),
        ],
    )
    ddl.add_constraint("campaigns", "campaigns_pkey", "PRIMARY KEY (id)")
    ddl.add_constraint("campaigns", "campaigns_status_check", _one_of("status", CAMPAIGN_STATUSES))
    ddl.add_constraint("campaigns", "campaigns_name_check", "CHECK (btrim(name) <> '')")

    ddl.create_table(
        "agents",
        [
            Col("id", "uuid", default="gen_random_uuid()"),
            Col("soul_md_path", "text"),
            Col("character_reference_id", "text"),
            Col("campaign_id", "uuid"),
            Col("created_at", "timestamptz", default="now()"),
        ],
    )
    ddl.add_constraint("agents", "agents_pkey", "PRIMARY KEY (id)")
    # (id, campaign_id) is the target of video_assets' same-campaign foreign key.
    ddl.add_constraint("agents", "agents_id_campaign_key", "UNIQUE (id, campaign_id)")
    ddl.add_constraint(
        "agents",
        "agents_campaign_id_fkey",
        "FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE NO ACTION",
    )
    ddl.add_constraint("agents", "agents_soul_md_path_check", "CHECK (btrim(soul_md_path) <> '')")
    ddl.add_constraint(
        "agents",
        "agents_character_reference_id_check",
        "CHECK (btrim(character_reference_id) <> '')",
    )
    ddl.create_index("agents_campaign_id_idx", "agents", "(campaign_id, created_at DESC, id DESC)")

    ddl.create_table(
        "tasks",
        [
            Col("id", "uuid", default="gen_random_uuid()"),
            Col("campaign_id", "uuid"),
            Col("task_type", "text"),
            Col("priority", "text"),
            Col("status", "text", default="'pending'"),
            Col("context", "jsonb"),
            Col("created_at", "timestamptz", default="now()"),
            Col("version", "bigint", default="1"),
        ],
    )
    ddl.add_constraint("tasks", "tasks_pkey", "PRIMARY KEY (id)")
    ddl.add_constraint("tasks", "tasks_id_campaign_key", "UNIQUE (id, campaign_id)")
    ddl.add_constraint(
        "tasks",
        "tasks_campaign_id_fkey",
        "FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE NO ACTION",
    )
    ddl.add_constraint("tasks", "tasks_task_type_check", _one_of("task_type", TASK_TYPES))
    ddl.add_constraint("tasks", "tasks_priority_check", _one_of("priority", PRIORITIES))
    ddl.add_constraint("tasks", "tasks_status_check", _one_of("status", TASK_STATUSES))
    ddl.add_constraint(
        "tasks",
        "tasks_context_check",
        # `?` first: jsonb_typeof of a missing key is NULL, which a CHECK would let through.
        "CHECK (jsonb_typeof(context) = 'object' AND context ? 'goal_description' "
        "AND jsonb_typeof(context -> 'goal_description') = 'string')",
    )
    ddl.create_index("tasks_campaign_id_idx", "tasks", "(campaign_id, created_at DESC, id DESC)")

    ddl.create_table(
        "video_assets",
        [
            Col("id", "uuid", default="gen_random_uuid()"),
            Col("agent_id", "uuid"),
            Col("task_id", "uuid"),
            Col("platform", "text"),
            Col("tier", "text"),
            Col("character_reference_id", "text"),
            Col("status", "text", default="'draft'"),
            Col("metadata", "jsonb", default="'{}'::jsonb"),
            Col("created_at", "timestamptz", default="now()"),
            Col(
                "campaign_id",
                "uuid",
                backfill="UPDATE video_assets va SET campaign_id = t.campaign_id "
                "FROM tasks t WHERE t.id = va.task_id AND va.campaign_id IS NULL",
            ),
            Col("version", "bigint", default="1"),
        ],
    )
    ddl.add_constraint("video_assets", "video_assets_pkey", "PRIMARY KEY (id)")
    # Only composite keys: (agent_id, campaign_id) and (task_id, campaign_id) imply that the agent,
    # the task and the campaign exist (agents and tasks reference campaigns), so single-column keys
    # would repeat the same checks; each costs a row lock on the parent per inserted asset, and
    # dropping the three redundant ones made bulk ingest about 30% faster (docs/performance.md).
    # The same-campaign rule: the asset's agent and its task must both be in its campaign.
    ddl.add_constraint(
        "video_assets",
        "video_assets_agent_same_campaign_fkey",
        "FOREIGN KEY (agent_id, campaign_id) REFERENCES agents (id, campaign_id) "
        "ON DELETE NO ACTION",
    )
    ddl.add_constraint(
        "video_assets",
        "video_assets_task_same_campaign_fkey",
        "FOREIGN KEY (task_id, campaign_id) REFERENCES tasks (id, campaign_id) ON DELETE NO ACTION",
    )
    # Adopted tables from a create-if-not-exists script usually carry the single-column keys
    # (PostgreSQL's default names); the composite keys above cover them, so they go.
    for redundant in ("agent_id", "task_id", "campaign_id"):
        ddl.drop_adopted_constraint("video_assets", f"video_assets_{redundant}_fkey")
    ddl.add_constraint("video_assets", "video_assets_tier_check", _one_of("tier", TIERS))
    ddl.add_constraint(
        "video_assets", "video_assets_status_check", _one_of("status", ASSET_STATUSES)
    )
    ddl.add_constraint(
        "video_assets", "video_assets_platform_check", "CHECK (platform ~ '^[a-z0-9_]{1,32}$')"
    )
    ddl.add_constraint(
        "video_assets",
        "video_assets_character_reference_id_check",
        "CHECK (btrim(character_reference_id) <> '')",
    )
    ddl.add_constraint(
        "video_assets",
        "video_assets_metadata_check",
        "CHECK (jsonb_typeof(metadata) = 'object')",
    )
    ddl.create_index(
        "video_assets_campaign_id_idx", "video_assets", "(campaign_id, created_at DESC, id DESC)"
    )
    ddl.create_index(
        "video_assets_agent_id_idx", "video_assets", "(agent_id, created_at DESC, id DESC)"
    )
    ddl.create_index(
        "video_assets_task_id_idx", "video_assets", "(task_id, created_at DESC, id DESC)"
    )
    ddl.create_index(
        "video_assets_metadata_idx", "video_assets", "USING gin (metadata jsonb_path_ops)"
    )

    ddl.create_trigger(
        "campaigns_touch",
        "campaigns",
        "BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION chimera_touch_campaign()",
    )
    ddl.create_trigger(
        "tasks_bump_version",
        "tasks",
        "BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION chimera_bump_version()",
    )
    ddl.create_trigger(
        "video_assets_bump_version",
        "video_assets",
        "BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION chimera_bump_version()",
    )
    ddl.create_trigger(
        "video_assets_fill_campaign",
        "video_assets",
        "BEFORE INSERT OR UPDATE OF agent_id, task_id ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION chimera_asset_campaign()",
    )


def downgrade() -> None:
    ddl.refuse_data_loss(
        [("video_assets", None), ("tasks", None), ("agents", None), ("campaigns", None)]
    )
    op.execute("DROP TABLE IF EXISTS video_assets")
    op.execute("DROP TABLE IF EXISTS tasks")
    op.execute("DROP TABLE IF EXISTS agents")
    op.execute("DROP TABLE IF EXISTS campaigns")
    op.execute("DROP FUNCTION IF EXISTS chimera_asset_campaign()")
    op.execute("DROP FUNCTION IF EXISTS chimera_bump_version()")
    op.execute("DROP FUNCTION IF EXISTS chimera_touch_campaign()")
