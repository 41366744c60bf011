-- pgTAP contract of the chimera schema at head. Run: pg_prove -d DB tests/pgtap/schema.sql
-- (tests/reliability/test_pgtap.py does, on the external PostgreSQL 15 with postgresql-15-pgtap).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(146);

SELECT has_table('campaigns');
SELECT col_is_pk('campaigns', 'id');
SELECT col_type_is('campaigns', 'id', 'uuid');
SELECT col_not_null('campaigns', 'id');
SELECT col_default_is('campaigns', 'id', 'gen_random_uuid()');
SELECT col_type_is('campaigns', 'name', 'text');
SELECT col_not_null('campaigns', 'name');
SELECT col_hasnt_default('campaigns', 'name');
SELECT col_type_is('campaigns', 'goal_description', 'text');
SELECT col_not_null('campaigns', 'goal_description');
SELECT col_hasnt_default('campaigns', 'goal_description');
SELECT col_type_is('campaigns', 'status', 'text');
SELECT col_not_null('campaigns', 'status');
SELECT col_default_is('campaigns', 'status', 'draft');
SELECT col_type_is('campaigns', 'created_at', 'timestamp with time zone');
SELECT col_not_null('campaigns', 'created_at');
SELECT col_default_is('campaigns', 'created_at', 'now()');
SELECT col_type_is('campaigns', 'updated_at', 'timestamp with time zone');
SELECT col_not_null('campaigns', 'updated_at');
SELECT col_default_is('campaigns', 'updated_at', 'now()');
SELECT col_type_is('campaigns', 'version', 'bigint');
SELECT col_not_null('campaigns', 'version');
SELECT col_default_is('campaigns', 'version', '1');
SELECT has_table('agents');
SELECT col_is_pk('agents', 'id');
SELECT col_type_is('agents', 'id', 'uuid');
SELECT col_not_null('agents', 'id');
SELECT col_default_is('agents', 'id', 'gen_random_uuid()');
SELECT col_type_is('agents', 'soul_md_path', 'text');
SELECT col_not_null('agents', 'soul_md_path');
SELECT col_hasnt_default('agents', 'soul_md_path');
SELECT col_type_is('agents', 'character_reference_id', 'text');
SELECT col_not_null('agents', 'character_reference_id');
SELECT col_hasnt_default('agents', 'character_reference_id');
SELECT col_type_is('agents', 'campaign_id', 'uuid');
SELECT col_not_null('agents', 'campaign_id');
SELECT col_hasnt_default('agents', 'campaign_id');
SELECT col_type_is('agents', 'created_at', 'timestamp with time zone');
SELECT col_not_null('agents', 'created_at');
SELECT col_default_is('agents', 'created_at', 'now()');
SELECT has_table('tasks');
SELECT col_is_pk('tasks', 'id');
SELECT col_type_is('tasks', 'id', 'uuid');
SELECT col_not_null('tasks', 'id');
SELECT col_default_is('tasks', 'id', 'gen_random_uuid()');
SELECT col_type_is('tasks', 'campaign_id', 'uuid');
SELECT col_not_null('tasks', 'campaign_id');
SELECT col_hasnt_default('tasks', 'campaign_id');
SELECT col_type_is('tasks', 'task_type', 'text');
SELECT col_not_null('tasks', 'task_type');
SELECT col_hasnt_default('tasks', 'task_type');
SELECT col_type_is('tasks', 'priority', 'text');
SELECT col_not_null('tasks', 'priority');
SELECT col_hasnt_default('tasks', 'priority');
SELECT col_type_is('tasks', 'status', 'text');
SELECT col_not_null('tasks', 'status');
SELECT col_default_is('tasks', 'status', 'pending');
SELECT col_type_is('tasks', 'context', 'jsonb');
SELECT col_not_null('tasks', 'context');
SELECT col_hasnt_default('tasks', 'context');
SELECT col_type_is('tasks', 'created_at', 'timestamp with time zone');
SELECT col_not_null('tasks', 'created_at');
SELECT col_default_is('tasks', 'created_at', 'now()');
SELECT col_type_is('tasks', 'version', 'bigint');
SELECT col_not_null('tasks', 'version');
SELECT col_default_is('tasks', 'version', '1');
SELECT col_type_is('tasks', 'assigned_worker_id', 'text');
SELECT col_is_null('tasks', 'assigned_worker_id');
SELECT col_hasnt_default('tasks', 'assigned_worker_id');
SELECT col_type_is('tasks', 'heartbeat_at', 'timestamp with time zone');
SELECT col_is_null('tasks', 'heartbeat_at');
SELECT col_hasnt_default('tasks', 'heartbeat_at');
SELECT trigger_is('tasks', 'tasks_bump_version', 'chimera_bump_task_version');
SELECT has_function('chimera_analyse_new_tables', ARRAY[]::name[]);
SELECT is_definer('chimera_analyse_new_tables', ARRAY[]::name[]);
SELECT function_privs_are('chimera_analyse_new_tables', ARRAY[]::name[], 'chimera_service', ARRAY['EXECUTE']);
SELECT function_privs_are('chimera_analyse_new_tables', ARRAY[]::name[], 'chimera_readonly', ARRAY[]::text[]);
SELECT has_table('video_assets');
SELECT col_is_pk('video_assets', 'id');
SELECT col_type_is('video_assets', 'id', 'uuid');
SELECT col_not_null('video_assets', 'id');
SELECT col_default_is('video_assets', 'id', 'gen_random_uuid()');
SELECT col_type_is('video_assets', 'agent_id', 'uuid');
SELECT col_not_null('video_assets', 'agent_id');
SELECT col_hasnt_default('video_assets', 'agent_id');
SELECT col_type_is('video_assets', 'task_id', 'uuid');
SELECT col_not_null('video_assets', 'task_id');
SELECT col_hasnt_default('video_assets', 'task_id');
SELECT col_type_is('video_assets', 'platform', 'text');
SELECT col_not_null('video_assets', 'platform');
SELECT col_hasnt_default('video_assets', 'platform');
SELECT col_type_is('video_assets', 'tier', 'text');
SELECT col_not_null('video_assets', 'tier');
SELECT col_hasnt_default('video_assets', 'tier');
SELECT col_type_is('video_assets', 'character_reference_id', 'text');
SELECT col_not_null('video_assets', 'character_reference_id');
SELECT col_hasnt_default('video_assets', 'character_reference_id');
SELECT col_type_is('video_assets', 'status', 'text');
SELECT col_not_null('video_assets', 'status');
SELECT col_default_is('video_assets', 'status', 'draft');
SELECT col_type_is('video_assets', 'metadata', 'jsonb');
SELECT col_not_null('video_assets', 'metadata');
SELECT col_default_is('video_assets', 'metadata', '{}');
SELECT col_type_is('video_assets', 'created_at', 'timestamp with time zone');
SELECT col_not_null('video_assets', 'created_at');
SELECT col_default_is('video_assets', 'created_at', 'now()');
SELECT col_type_is('video_assets', 'campaign_id', 'uuid');
SELECT col_not_null('video_assets', 'campaign_id');
SELECT col_hasnt_default('video_assets', 'campaign_id');
SELECT col_type_is('video_assets', 'version', 'bigint');
SELECT col_not_null('video_assets', 'version');
SELECT col_default_is('video_assets', 'version', '1');
SELECT fk_ok('agents', 'campaign_id', 'campaigns', 'id');
SELECT fk_ok('tasks', 'campaign_id', 'campaigns', 'id');
SELECT fk_ok('task_status_history', 'task_id', 'tasks', 'id');
SELECT fk_ok('asset_status_history', 'asset_id', 'video_assets', 'id');
SELECT fk_ok('video_assets', ARRAY['agent_id', 'campaign_id'], 'agents', ARRAY['id', 'campaign_id']);
SELECT fk_ok('video_assets', ARRAY['task_id', 'campaign_id'], 'tasks', ARRAY['id', 'campaign_id']);
SELECT is(
    (SELECT array_agg(DISTINCT confdeltype) FROM pg_constraint
     WHERE contype = 'f' AND connamespace = 'public'::regnamespace),
    ARRAY['a']::"char"[],
    'every foreign key is ON DELETE NO ACTION (nothing cascades)'
);
SELECT has_index('agents', 'agents_campaign_id_idx');
SELECT has_index('tasks', 'tasks_campaign_id_idx');
SELECT has_index('video_assets', 'video_assets_agent_id_idx');
SELECT has_index('video_assets', 'video_assets_task_id_idx');
SELECT has_index('video_assets', 'video_assets_campaign_id_idx');
SELECT has_index('task_status_history', 'task_status_history_task_id_idx');
SELECT has_index('asset_status_history', 'asset_status_history_asset_id_idx');
SELECT is(
    (SELECT count(*)::int FROM pg_constraint con
     WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = con.conrelid
                       AND i.indkey[0] = con.conkey[1])),
    0,
    'every foreign key column leads an index'
);
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'campaigns_status_check' AND contype = 'c' AND conrelid = 'campaigns'::regclass), 'check campaigns_status_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'campaigns_name_check' AND contype = 'c' AND conrelid = 'campaigns'::regclass), 'check campaigns_name_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'agents_soul_md_path_check' AND contype = 'c' AND conrelid = 'agents'::regclass), 'check agents_soul_md_path_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'agents_character_reference_id_check' AND contype = 'c' AND conrelid = 'agents'::regclass), 'check agents_character_reference_id_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tasks_task_type_check' AND contype = 'c' AND conrelid = 'tasks'::regclass), 'check tasks_task_type_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tasks_priority_check' AND contype = 'c' AND conrelid = 'tasks'::regclass), 'check tasks_priority_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tasks_status_check' AND contype = 'c' AND conrelid = 'tasks'::regclass), 'check tasks_status_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tasks_context_check' AND contype = 'c' AND conrelid = 'tasks'::regclass), 'check tasks_context_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'video_assets_tier_check' AND contype = 'c' AND conrelid = 'video_assets'::regclass), 'check video_assets_tier_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'video_assets_status_check' AND contype = 'c' AND conrelid = 'video_assets'::regclass), 'check video_assets_status_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'video_assets_platform_check' AND contype = 'c' AND conrelid = 'video_assets'::regclass), 'check video_assets_platform_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'video_assets_character_reference_id_check' AND contype = 'c' AND conrelid = 'video_assets'::regclass), 'check video_assets_character_reference_id_check exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'video_assets_metadata_check' AND contype = 'c' AND conrelid = 'video_assets'::regclass), 'check video_assets_metadata_check exists');
SELECT has_trigger('campaigns', 'campaigns_touch');
SELECT has_trigger('tasks', 'tasks_bump_version');
SELECT has_trigger('video_assets', 'video_assets_bump_version');
SELECT has_trigger('video_assets', 'video_assets_fill_campaign');
SELECT throws_ok($$INSERT INTO agents (soul_md_path, character_reference_id, campaign_id) VALUES ('p', 'r', gen_random_uuid())$$, '23503', NULL, 'orphan agent rejected with foreign_key_violation');
SELECT throws_ok($$INSERT INTO campaigns (name, goal_description, status) VALUES ('n', 'g', 'running')$$, '23514', NULL, 'unknown campaign status rejected with check_violation');

SELECT * FROM finish();
ROLLBACK;
